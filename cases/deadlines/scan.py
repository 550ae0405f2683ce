"""The deadline scan: no ticket goes overdue silently (DESIGN §5).

Every few minutes, for each clock (sign, contact, resolve) and each level
(yellow, red, escalated), one anti-join query finds the tickets that have crossed
the level and have no reminder for it yet. Reminders are inserted in bulk under a
unique constraint on (ticket, clock, due time, level); only the rows this scan
actually inserted (its ``scan_id``) get notifications. So a second scan, two
scans at once, or a scan restarted after its worker was killed, never remind
twice — and never miss, because whatever a dead scan did not commit is still
"crossed and not reminded" for the next one.

Most passes are incremental: a ``ScanMark`` remembers how far the last pass got,
and a pass only asks for thresholds crossed since then (less
``HOTLINE_SCAN_OVERLAP_MINUTES``, for a transaction that committed after the last
pass read) — a range read on the partial index of each running clock, however
many tickets are overdue. A full pass (every threshold of every running clock)
runs on the first scan, when the clock did not move forward since the last one,
and every ``HOTLINE_SCAN_FULL_EVERY_MINUTES``: it catches a clock set in the past
by an import or a bulk edit, which no window would see.

The ladder: yellow → the handler; red → handler and unit heads; still red after
``HOTLINE_ESCALATE_AFTER_WORKING_DAYS`` working days → the supervisors, with a
written urge notice (催办通知书) to the unit."""

import functools
import logging
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef, Q, Value
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from departments.roles import Role

from .. import clock
from ..batching import atomic_or_one_by_one
from ..models import CLOCK_RULES, Clock, Notification, Reminder, ScanMark, Ticket, TicketApplication, TicketState
from ..models.notifications import RULING_CLOCK
from ..notifications.inbox import is_urgent, notifications_create, staff_by_unit, staff_with_role
from ..privacy import mask_phones_in_text
from ..workflow import system_urges_issue
from .calendar import get_calendar

S = TicketState
L = Reminder.Level
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClockSpec:
    name: str
    running: Q
    due: str
    warn: str


#: The ticket's own clock rules (``cases.models.CLOCK_RULES``): the scan, the ticket
#: page and the lists agree on when a clock runs.
CLOCKS = [ClockSpec(rule.name, rule.running_q(), rule.due_field, rule.warn_field) for rule in CLOCK_RULES]


@dataclass
class ScanResult:
    scanned_at: datetime
    reminders: Counter = field(default_factory=Counter)
    notifications: int = 0
    urges: int = 0
    seconds: float = 0.0
    queries: int = 0
    full: bool = True
    since: datetime | None = None
    failed: list = field(default_factory=list)  # tickets skipped after an error

    @property
    def total(self) -> int:
        return sum(self.reminders.values())

    def summary(self) -> dict:
        return {
            "scanned_at": self.scanned_at.isoformat(),
            "reminders": {f"{c}:{L(level).name.lower()}": n for (c, level), n in sorted(self.reminders.items())},
            "notifications": self.notifications,
            "urges": self.urges,
            "full": self.full,
            "failed": self.failed,
            "since": self.since.isoformat() if self.since else None,
            "seconds": round(self.seconds, 3),
            "queries": self.queries,
        }


MARK = "deadline"


def level_conditions(
    spec: ClockSpec,
    now: datetime,
    escalate_before: datetime,
    since: datetime | None = None,
    escalate_since: datetime | None = None,
) -> dict[int, Q]:
    """Each level's "crossed by ``now``"; with ``since`` (and its escalation
    cutoff ``escalate_since``), only crossed after it."""
    crossed = {
        L.YELLOW: Q(**{f"{spec.warn}__lte": now, f"{spec.due}__gt": now}),
        L.RED: Q(**{f"{spec.due}__lte": now}),
        L.ESCALATED: Q(**{f"{spec.due}__lte": escalate_before}),
    }
    if since is not None:
        crossed[L.YELLOW] &= Q(**{f"{spec.warn}__gt": since})
        crossed[L.RED] &= Q(**{f"{spec.due}__gt": since})
        crossed[L.ESCALATED] &= Q(**{f"{spec.due}__gt": escalate_since})
    return crossed


def escalation_cutoff(moment: datetime) -> datetime:
    """A deadline at or before this is still red ``HOTLINE_ESCALATE_AFTER_WORKING_DAYS``
    working days later at ``moment``: time to escalate."""
    cal = get_calendar()
    return cal.subtract_working_minutes(moment, settings.HOTLINE_ESCALATE_AFTER_WORKING_DAYS * cal.day_minutes)


def _window_start(now: datetime, full: bool | None) -> datetime | None:
    """Where an incremental pass starts looking, or None for a full pass."""
    if full:
        return None
    mark = ScanMark.objects.filter(name=MARK).first()
    if mark is None or now <= mark.scanned_until:
        return None  # never scanned, or the clock went back: look at everything
    if full is None and now - mark.full_scan_at >= timedelta(minutes=settings.HOTLINE_SCAN_FULL_EVERY_MINUTES):
        return None
    return mark.scanned_until - timedelta(minutes=settings.HOTLINE_SCAN_OVERLAP_MINUTES)


def _advance_mark(now: datetime, full: bool) -> None:
    """Record the pass in one statement; never moves the mark back (a slower
    parallel pass may finish last)."""
    table = connection.ops.quote_name(ScanMark._meta.db_table)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    full_at = f"{greatest}({table}.full_scan_at, excluded.full_scan_at)" if full else f"{table}.full_scan_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, scanned_until, full_scan_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (name) DO UPDATE SET "
            f"scanned_until = {greatest}({table}.scanned_until, excluded.scanned_until), full_scan_at = {full_at}",
            [MARK, *[connection.ops.adapt_datetimefield_value(now)] * 2],
        )


def deadline_scan(
    *, now: datetime | None = None, chunk_size: int | None = None, full: bool | None = None
) -> ScanResult:
    """Find newly crossed warning levels and remind; safe to run any number of
    times, concurrently, and after a crash. ``full``: True checks every running
    clock, False only the window since the last pass, None (beat) decides."""
    started = time.perf_counter()
    chunk_size = chunk_size or settings.HOTLINE_SCAN_CHUNK_SIZE
    now = now or clock.now()
    result = ScanResult(scanned_at=now)
    scan_id = uuid.uuid4()

    def count_queries(execute, sql, params, many, context):
        result.queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_queries), translation.override(settings.LANGUAGE_CODE):
        # (stored texts are written in the site's language)
        result.since = _window_start(now, full)
        result.full = result.since is None
        _scan_levels(now, escalation_cutoff(now), result.since, scan_id, chunk_size, result)
        # Only a pass that finished moves the mark: a killed one is redone.
        _advance_mark(now, result.full)
    result.seconds = time.perf_counter() - started
    return result


def _scan_levels(now, escalate_before, since, scan_id, chunk_size, result) -> None:
    moments = {"now": now, "escalate_before": escalate_before}
    if since is not None:
        moments |= {"since": since, "escalate_since": escalation_cutoff(since)}
    sql, slots = _candidates_sql(connection.vendor, since is not None)
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(moments[slot.name]) if isinstance(slot, _Moment) else slot for slot in slots]
    to_datetime = getattr(connection.ops, "convert_datetimefield_value", None)  # SQLite hands back text
    found = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for pk, due, clock_name, level in cursor.fetchall():
            due = to_datetime(due, None, connection) if to_datetime else due
            found[(clock_name, level)].append((pk, due))
    for spec in CLOCKS:
        for level in L.values:
            candidates = sorted(found.get((spec.name, level), []))
            for start in range(0, len(candidates), chunk_size):
                _remind_isolated(candidates[start : start + chunk_size], spec, level, scan_id, now, result)


def _remind_isolated(chunk, spec, level, scan_id, now, result) -> None:
    """A chunk in one transaction, or ticket by ticket if that fails: one bad
    ticket is logged and skipped, the others are reminded. The skipped one comes
    back at the next full pass."""

    def remind(items):
        done = ScanResult(scanned_at=now)  # counted only once committed
        _remind(items, spec, level, scan_id, now, done)
        return done

    def skip(item):
        logger.exception("deadline scan: ticket %s (%s, level %s) skipped", item[0], spec.name, level)
        result.failed.append(item[0])

    for done in atomic_or_one_by_one(chunk, remind, on_failure=skip):
        result.reminders.update(done.reminders)
        result.notifications += done.notifications
        result.urges += done.urges


@dataclass(frozen=True)
class _Moment:
    name: str


#: Stand-in moments, far from any real one, marking where each pass's own go.
_STAND_INS = {
    name: datetime(1901, 1, day, tzinfo=UTC)
    for day, name in enumerate(["now", "escalate_before", "since", "escalate_since"], start=1)
}


@functools.cache
def _candidates_sql(vendor: str, incremental: bool) -> tuple[str, list]:
    """Every clock and level in one statement (a UNION ALL of nine anti-joins), so
    a pass with nothing new is one round trip. The ORM builds it once per process
    (and database vendor) with stand-in moments; each pass binds its own (a
    prepared statement, in effect: building the nine querysets costs more than
    running them)."""
    m = _STAND_INS
    parts = []
    for spec in CLOCKS:
        conditions = level_conditions(
            spec, m["now"], m["escalate_before"], *((m["since"], m["escalate_since"]) if incremental else ())
        )
        for level, crossed in conditions.items():
            reminded = Reminder.objects.filter(
                ticket_id=OuterRef("pk"), clock=spec.name, level=level, due_at=OuterRef(spec.due)
            )
            parts.append(
                Ticket.objects.filter(spec.running, crossed)
                .filter(~Exists(reminded))
                .annotate(scan_clock=Value(spec.name), scan_level=Value(level))
                .values_list("pk", spec.due, "scan_clock", "scan_level")
                .order_by()
            )
    sql, params = parts[0].union(*parts[1:], all=True).query.sql_with_params()
    stand_ins = {connection.ops.adapt_datetimefield_value(value): _Moment(name) for name, value in m.items()}
    return sql, [stand_ins.get(p, p) if isinstance(p, datetime | str) else p for p in params]


#: What a reminder's texts and recipients read of a ticket (a row is ~60 columns).
REMIND_FIELDS = [
    "number",
    "content",
    "urgency",
    "state",
    "handler_id",
    "lead_department_id",
    "assignee_department_id",
    "assignee_worker_id",
    "category__name",
    "assignee_department__name",
]


def _remind(chunk, spec: ClockSpec, level: int, scan_id, now, result: ScanResult) -> None:
    tickets = {
        t.pk: t
        for t in Ticket.objects.filter(pk__in=[pk for pk, _due in chunk])
        .select_related("category", "assignee_department")
        .only(*REMIND_FIELDS)
    }
    Reminder.objects.bulk_create(
        [
            Reminder(
                ticket_id=pk,
                clock=spec.name,
                level=level,
                due_at=due,
                department_id=tickets[pk].assignee_department_id or tickets[pk].lead_department_id,
                created_at=now,
                scan_id=scan_id,
            )
            for pk, due in chunk
            if pk in tickets
        ],
        ignore_conflicts=True,
    )
    # Only the rows this scan inserted: another scan's rows are its to announce.
    mine = list(Reminder.objects.filter(scan_id=scan_id, clock=spec.name, level=level, ticket_id__in=tickets))
    if not mine:
        return
    result.reminders[(spec.name, level)] += len(mine)
    units = {t.assignee_department_id for t in tickets.values()} | {t.lead_department_id for t in tickets.values()}
    staff = staff_by_unit(units - {None}, [Role.HANDLER, Role.UNIT_HEAD])
    # A ticket passed down to a grid worker: the worker is its handler (the hop's sign clock).
    workers = get_user_model().objects.in_bulk({t.assignee_worker_id for t in tickets.values()} - {None})
    supervisors = staff_with_role(Role.SUPERVISOR) if level == L.ESCALATED else []
    urges = {}
    if level == L.ESCALATED:
        # The written urge notices (催办通知书) of the whole chunk, through the workflow, in bulk.

        issued = system_urges_issue(
            items=[(tickets[r.ticket_id], r, _urge_content(tickets[r.ticket_id], r)) for r in mine], now=now
        )
        urges = {urge.reminder_id: urge for urge in issued}
        result.urges += len(issued)
    items = []
    for reminder in mine:
        ticket = tickets[reminder.ticket_id]
        recipients = _recipients(ticket, level, staff, supervisors, workers)
        title, body = _texts(ticket, spec, level, reminder)
        if reminder.pk in urges:
            number = urges[reminder.pk].number
            body += "\n" + _("已发出催办通知书 %(number)s，请在 1 个工作日内签收并反馈。") % {"number": number}
        for user in recipients:
            items.append(
                {
                    "recipient": user,
                    "ticket": ticket,
                    "reminder": reminder,
                    "kind": Notification.Kind.URGE if level == L.ESCALATED else Notification.Kind.REMINDER,
                    "title": title,
                    "body": body,
                    "urgent": is_urgent(ticket) or level == L.ESCALATED,
                }
            )
    result.notifications += len(notifications_create(items, now=now))


def rulings_scan(*, now: datetime | None = None, chunk_size: int | None = None) -> ScanResult:
    """派单异议: an objection the centre has not ruled on by its deadline reminds the
    dispatchers, once (a red ``Reminder`` of clock ``ruling`` keyed by the deadline,
    under the same unique constraint as the ticket clocks, so a second or parallel
    pass is a no-op). The scan task runs it after :func:`deadline_scan`; one query
    finds the late ones whatever the number of tickets."""
    now = now or clock.now()
    result = ScanResult(scanned_at=now)
    with translation.override(settings.LANGUAGE_CODE):
        _remind_rulings(now, uuid.uuid4(), chunk_size or settings.HOTLINE_SCAN_CHUNK_SIZE, result)
    return result


def _remind_rulings(now, scan_id, chunk_size, result) -> None:
    reminded = Reminder.objects.filter(
        ticket_id=OuterRef("ticket_id"), clock=RULING_CLOCK, due_at=OuterRef("due_at"), level=L.RED
    )
    late = list(
        TicketApplication.objects.filter(
            kind=TicketApplication.Kind.OBJECTION,
            status=TicketApplication.Status.PENDING,
            due_at__lte=now,
        )
        .exclude(Exists(reminded))
        .select_related("ticket__category", "department")
        .order_by("due_at", "pk")[:chunk_size]
    )
    if not late:
        return
    Reminder.objects.bulk_create(
        [
            Reminder(
                ticket_id=a.ticket_id,
                clock=RULING_CLOCK,
                level=L.RED,
                due_at=a.due_at,
                department_id=a.department_id,
                created_at=now,
                scan_id=scan_id,
            )
            for a in late
        ],
        ignore_conflicts=True,
    )
    mine = {r.ticket_id: r for r in Reminder.objects.filter(scan_id=scan_id, clock=RULING_CLOCK)}
    if not mine:
        return
    result.reminders[(RULING_CLOCK, L.RED)] += len(mine)
    dispatchers = staff_with_role(Role.DISPATCHER)
    items = []
    for application in late:
        reminder = mine.get(application.ticket_id)
        if reminder is None:
            continue
        ticket = application.ticket
        title = _("【派单异议超时】工单 %(number)s 的派单异议已超过裁定时限（%(due)s），请尽快裁定") % {
            "number": ticket.number,
            "due": timezone.localtime(application.due_at).strftime("%m-%d %H:%M"),
        }
        text = f"{ticket.category.name} · {application.department.name}\n{application.reason[:120]}"
        body = mask_phones_in_text(text)  # texts leave the system
        items += [
            {"recipient": user, "ticket": ticket, "reminder": reminder, "title": title, "body": body}
            for user in dispatchers
        ]
    result.notifications += len(notifications_create(items, now=now))


def _recipients(ticket, level, staff, supervisors, workers=None) -> list:
    unit = ticket.assignee_department_id or ticket.lead_department_id
    handlers = staff.get((unit, Role.HANDLER), [])
    if ticket.handler_id and any(u.pk == ticket.handler_id for u in handlers):
        handlers = [u for u in handlers if u.pk == ticket.handler_id]
    worker = (workers or {}).get(ticket.assignee_worker_id) if ticket.assignee_worker_id else None
    if worker is not None and worker.is_active:
        handlers = [worker]  # the grid worker the ticket was passed down to
    people = list(handlers)
    if level >= L.RED:
        for dept in {unit, ticket.lead_department_id} - {None}:
            people += staff.get((dept, Role.UNIT_HEAD), [])
    if level == L.ESCALATED:
        people += supervisors
    unique = {}
    for user in people:
        unique.setdefault(user.pk, user)
    return list(unique.values())


def _texts(ticket, spec, level, reminder) -> tuple[str, str]:
    clock_label = Clock(spec.name).label
    due = timezone.localtime(reminder.due_at).strftime("%m-%d %H:%M")
    if level == L.YELLOW:
        title = _("【预警】工单 %(number)s %(clock)s时限将至（%(due)s）")
    elif level == L.RED:
        title = _("【超期】工单 %(number)s 已超过%(clock)s时限（%(due)s）")
    else:
        title = _("【升级督办】工单 %(number)s %(clock)s超期已逾 %(days)s 个工作日")
    title = title % {
        "number": ticket.number,
        "clock": clock_label,
        "due": due,
        "days": settings.HOTLINE_ESCALATE_AFTER_WORKING_DAYS,
    }
    unit = ticket.assignee_department.name if ticket.assignee_department_id else ""
    body = mask_phones_in_text(f"{ticket.category.name} · {unit}\n{ticket.content[:120]}")  # texts leave the system
    return title, body


def _urge_content(ticket, reminder) -> str:
    return _("工单 %(number)s（%(category)s）%(clock)s已超期，请立即办理并在 1 个工作日内反馈。") % {
        "number": ticket.number,
        "category": ticket.category.name,
        "clock": reminder.get_clock_display(),
    }


def scan_request_full() -> None:
    """Make the next pass a full one: a re-timing moved some clock earlier, maybe
    past a threshold before the incremental window, which only a full pass sees."""
    ScanMark.objects.filter(name=MARK).update(full_scan_at=datetime(2000, 1, 1, tzinfo=UTC))
