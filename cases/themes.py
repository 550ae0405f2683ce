"""每月一题: which tickets a theme's rule matches, and linking them.

The rule is categories × territory × keywords: a ticket matches when its category
lies under one of the theme's categories, it is located in one of the theme's
territories (its district, street or community is one of them), and its content or
address contains one of the keywords — each part only where the theme names
something for it (a rule that names nothing is refused: it would take in every
ticket). A theme looks at the tickets received from ``HOTLINE_THEME_LOOKBACK_WEEKS``
weeks before it starts (its "before") to its end.

Two doors, one meaning:

- ``rule_tickets``: every matching ticket, as a query — the keyword part through
  ``cases.selectors.search.keyword_filter`` (the list's search box) — for linking the
  past tickets when a theme is created or its rule changes (``theme_relink``, a
  Celery task queued by ``cases.theme_actions``, in batches);
- ``rule_matches``: the same question for one ticket in memory, for each new ticket
  (``themes_link_ticket``, run by the task that looks for clusters after intake).

``keyword_filter`` is ``icontains``: case-insensitive for ASCII letters on every
database (SQLite's LIKE folds ASCII only), which is what ``rule_matches`` folds;
tests/cases/test_themes.py checks the two agree over random rules and tickets."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from . import clock
from .models import Theme, ThemeTicket, Ticket
from .selectors.search import keyword_filter

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    return (text or "").translate(_ASCII_FOLD)


@dataclass(frozen=True)
class Rule:
    category_paths: tuple[str, ...]
    territory_ids: frozenset[int]
    keywords: tuple[str, ...]
    #: received on or after ``since``, and before ``until`` when the theme has ended
    since: datetime
    until: datetime | None

    @property
    def empty(self) -> bool:
        return not (self.category_paths or self.territory_ids or self.keywords)


def keywords_parse(text: str) -> tuple[str, ...]:
    """One keyword a line, blank lines and surrounding spaces dropped, each once."""
    return tuple(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


def theme_window(started_on: date, ended_on: date | None) -> tuple[datetime, datetime | None]:
    """The receipt times a theme looks at: from the lookback before its start to its end."""
    first = started_on - timedelta(weeks=settings.HOTLINE_THEME_LOOKBACK_WEEKS)
    since = clock.day_start(first)
    until = clock.day_bounds(ended_on)[1] if ended_on else None
    return since, until


def rule_check(*, categories, territories, keywords: str, started_on, ended_on) -> None:
    """Refuse a rule that names nothing and a period that ends before it starts."""
    errors = {}
    if not categories and not territories and not keywords_parse(keywords):
        errors["keywords"] = _("匹配规则不能为空：请至少指定诉求分类、属地范围或关键词之一。")
    if started_on and ended_on and ended_on < started_on:
        errors["ended_on"] = _("结束日期不能早于开始日期。")
    if errors:
        raise ValidationError(errors)


def theme_rule(theme: Theme) -> Rule:
    since, until = theme_window(theme.started_on, theme.ended_on)
    return Rule(
        category_paths=tuple(sorted(theme.categories.values_list("path", flat=True))),
        territory_ids=frozenset(theme.territories.values_list("pk", flat=True)),
        keywords=keywords_parse(theme.keywords),
        since=since,
        until=until,
    )


def rule_tickets(rule: Rule, queryset=None):
    """Every ticket of ``queryset`` (default: all) that ``rule`` matches."""
    if rule.empty:
        raise ValueError("an empty rule matches every ticket")
    tickets = queryset if queryset is not None else Ticket.objects.all()
    tickets = tickets.filter(received_at__gte=rule.since)
    if rule.until is not None:
        tickets = tickets.filter(received_at__lt=rule.until)
    if rule.category_paths:
        tickets = tickets.filter(reduce(or_, (Q(category__path__startswith=p) for p in rule.category_paths)))
    if rule.territory_ids:
        ids = list(rule.territory_ids)
        tickets = tickets.filter(Q(district_id__in=ids) | Q(street_id__in=ids) | Q(community_id__in=ids))
    if rule.keywords:
        tickets = reduce(or_, (keyword_filter(tickets, word) for word in rule.keywords))
    return tickets


def rule_matches(rule: Rule, ticket: Ticket, *, category_path: str | None = None) -> bool:
    """Whether ``rule`` matches ``ticket`` (in memory; ``category_path`` spares a read)."""
    if rule.empty:
        return False
    if ticket.received_at < rule.since or (rule.until is not None and ticket.received_at >= rule.until):
        return False
    if rule.category_paths:
        path = category_path if category_path is not None else ticket.category.path
        if not any(path.startswith(p) for p in rule.category_paths):
            return False
    if rule.territory_ids and not ({ticket.district_id, ticket.street_id, ticket.community_id} & rule.territory_ids):
        return False
    if rule.keywords:
        content, address = _fold(ticket.content), _fold(ticket.address)
        if not any(_fold(word) in content or _fold(word) in address for word in rule.keywords):
            return False
    return True


# -- linking ------------------------------------------------------------------------------


def theme_relink(theme_id: int, *, batch: int | None = None) -> int:
    """Make the theme's links exactly the tickets its rule matches: drop the links
    the rule no longer matches, add the missing ones in batches of ``batch`` ticket
    ids (each its own transaction). Returns the number of links."""
    batch = batch or settings.HOTLINE_THEME_LINK_BATCH
    theme = Theme.objects.filter(pk=theme_id).first()
    if theme is None:
        return 0
    rule = theme_rule(theme)
    if rule.empty:
        ThemeTicket.objects.filter(theme=theme).delete()
        return 0
    matched = rule_tickets(rule)
    ThemeTicket.objects.filter(theme=theme).exclude(ticket__in=matched.values("pk")).delete()
    last = 0
    while True:
        ids = list(matched.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        ThemeTicket.objects.bulk_create(
            [ThemeTicket(theme_id=theme.pk, ticket_id=pk) for pk in ids], ignore_conflicts=True, batch_size=batch
        )
        last = ids[-1]
    Theme.objects.filter(pk=theme.pk).update(linked_at=timezone.now())
    return ThemeTicket.objects.filter(theme=theme).count()


def themes_link_ticket(ticket_id: int) -> list[int]:
    """Link a new ticket to every running theme whose rule matches it; returns the
    themes' ids. Running: in progress, and the ticket received before its end."""
    ticket = (
        Ticket.objects.select_related("category")
        .only(
            "received_at",
            "content",
            "address",
            "district_id",
            "street_id",
            "community_id",
            "category__path",
        )
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        return []
    themes = Theme.objects.filter(state=Theme.State.ACTIVE).prefetch_related("categories", "territories")
    matched = []
    for theme in themes:
        since, until = theme_window(theme.started_on, theme.ended_on)
        rule = Rule(
            category_paths=tuple(c.path for c in theme.categories.all()),
            territory_ids=frozenset(d.pk for d in theme.territories.all()),
            keywords=keywords_parse(theme.keywords),
            since=since,
            until=until,
        )
        if rule_matches(rule, ticket, category_path=ticket.category.path):
            matched.append(theme.pk)
    ThemeTicket.objects.bulk_create(
        [ThemeTicket(theme_id=pk, ticket_id=ticket.pk) for pk in matched], ignore_conflicts=True
    )
    return matched


# -- creation from a hotspot or a cluster ------------------------------------------------------


def theme_prefill(*, origin: str, title: str, category=None, place=None, cluster=None) -> str:
    """The query string that opens the theme form with its rule filled in from a
    hotspot (a category in a community) or a cluster (its category and place)."""
    params = {"origin": origin, "title": title[:120], "started_on": clock.local_day().isoformat()}
    if category is not None:
        params["categories"] = str(category.pk)
    if place is not None:
        params["territories"] = str(place.pk)
    if cluster is not None:
        params["origin_cluster"] = str(cluster.pk)
    elif origin == Theme.Origin.HOTSPOT:
        params["origin_community"] = str(place.pk)
        params["origin_category"] = str(category.pk)
    return urlencode(params)
