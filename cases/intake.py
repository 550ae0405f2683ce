"""Helpers for the live-call intake form: duplicates and the knowledge base."""

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils.translation import gettext_lazy as _

from departments.models import Grid
from departments.roles import Role
from departments.selectors import staff_profile

from . import clock
from .models import OPEN_STATES, Category, KnowledgeArticle, Ticket, TicketState
from .selectors.scope import ticket_list
from .text import char_ngrams, similarity

DUPLICATE_SIMILARITY = 0.35
DUPLICATE_CANDIDATES = 200

#: Why a ticket is shown as a possible duplicate; one label per reason, read by the
#: form's warning and the live panel alike.
DUPLICATE_REASONS = {
    "phone": _("同一来电号码"),
    "content": _("同社区相似诉求"),
    "compound": _("同一小区同类诉求"),
    "grid": _("同一网格同类诉求"),
}
_REASON_SCORE = {"compound": 0.9, "grid": 0.5}


@dataclass(frozen=True)
class Duplicate:
    ticket: Ticket
    reason: str
    score: float

    @property
    def reason_label(self) -> str:
        return str(DUPLICATE_REASONS[self.reason])


def intake_patrol_grids(user):
    """The grids whose patrol reports (巡查上报) ``user`` files instead of the call
    form: a grid worker's own grids; None for everyone else."""
    profile = staff_profile(user)
    if user.is_superuser or profile is None or profile.role != Role.GRID_WORKER:
        return None
    return Grid.objects.filter(worker=user, is_active=True).select_related("community")


def duplicate_window_days() -> int:
    return settings.INTAKE_DUPLICATE_WINDOW_DAYS


# Where a compound or building's name ends: 幸福小区, 东关大街1号院, 3号楼, 5栋...
_COMPOUND_END = re.compile(r"^(.*?(?:小区|号院|大院|院|号楼|栋|幢|公寓|花园|家园|大厦|苑))")
# A leading province / city / district / county the caller may or may not say.
_ADMIN_PREFIX = re.compile(r"^(?:.{1,7}?[省市])?(?:.{1,7}?[区县])?")
_NOT_PLACE = re.compile(r"[\s,，。;；:：()（）\-－—]+")


def place_key(address: str) -> str:
    """The compound or building an address is in, normalised for comparing
    ("城东区东关大街1号院3号楼" → "东关大街1号院"); "" when the address names none."""
    cleaned = _NOT_PLACE.sub("", address or "")
    match = _COMPOUND_END.match(cleaned)
    if not match:
        return ""
    key = match.group(1)
    stripped = _ADMIN_PREFIX.sub("", key, count=1)
    # Keep the prefix when stripping it would leave only the marker ("城东区大院").
    return stripped if len(stripped) >= 4 else key


def same_place(a: str, b: str) -> bool:
    """Two place keys name the same compound: equal, or one is the other with a
    longer lead-in ("东关社区东关大街1号院" / "东关大街1号院")."""
    if not a or not b:
        return False
    return a == b or a.endswith(b) or b.endswith(a)


def _category_family(category: Category):
    """The category's family for place duplicates: its second-level ancestor's
    subtree (室温不达标 and 暖气漏水 are both 供暖), or its own subtree at the top."""
    lineage = category.lineage_ids
    prefix = "/" + "/".join(str(pk) for pk in lineage[:2]) + "/"
    return Category.objects.filter(path__startswith=prefix).values("pk")


def intake_duplicates(
    *,
    user,
    phone: str = "",
    content: str = "",
    territory=None,
    category=None,
    address: str = "",
    exclude_pk=None,
    now=None,
):
    """Possible duplicates of a new demand within the window
    (``INTAKE_DUPLICATE_WINDOW_DAYS``): the same phone number; similar content in
    the same community; or an open ticket of the same category family at the same
    place — the same compound/building, or the same grid — whatever the words.
    Scoped to what ``user`` may see; merged and invalid tickets are left out."""
    since = (now or clock.now()) - timedelta(days=duplicate_window_days())
    base = (
        ticket_list(user=user)
        .filter(received_at__gte=since)
        .exclude(state__in=[TicketState.MERGED, TicketState.INVALID])
    )
    if exclude_pk:
        base = base.exclude(pk=exclude_pk)
    grid = getattr(territory, "grid", None)
    community = getattr(territory, "community", None)
    found: dict[int, Duplicate] = {}
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if len(digits) >= 7:
        for ticket in base.filter(citizen_phone=phone.strip()).select_related("category")[:20]:
            found[ticket.pk] = Duplicate(ticket, "phone", 1.0)
    if community is not None and content:
        candidates = base.filter(community=community).select_related("category").order_by("-received_at")
        for ticket in candidates[:DUPLICATE_CANDIDATES]:
            score = similarity(content, ticket.content)
            if score >= DUPLICATE_SIMILARITY and ticket.pk not in found:
                found[ticket.pk] = Duplicate(ticket, "content", score)
    if category is not None and (grid is not None or community is not None):
        key = place_key(address)
        # Served by the (community, category, received_at) and (grid, category,
        # received_at) indexes.
        place = (Q(grid=grid) if grid is not None else Q()) | (Q(community=community) if community else Q())
        candidates = (
            base.filter(place, state__in=OPEN_STATES, category_id__in=_category_family(category))
            .select_related("category")
            .order_by("-received_at")
        )
        for ticket in candidates[:DUPLICATE_CANDIDATES]:
            if ticket.pk in found:
                continue
            if same_place(key, place_key(ticket.address)):
                reason = "compound"
            elif grid is not None and ticket.grid_id == grid.pk:
                reason = "grid"
            else:
                continue
            found[ticket.pk] = Duplicate(ticket, reason, _REASON_SCORE[reason])
    ranked = sorted(
        found.values(),
        key=lambda d: (d.ticket.state not in OPEN_STATES, -d.score, -d.ticket.received_at.timestamp()),
    )
    return ranked[:10]


# -- knowledge search (BM25 over character n-grams) -----------------------------------

BM25_K1 = 1.2
BM25_B = 0.75
#: A single character says little in Chinese; a bigram is the unit of meaning.
UNIGRAM_WEIGHT = 0.3
#: Question words every question shares ("怎么办", "如何", "什么"): in a small
#: knowledge base their IDF is not yet low, so they are damped explicitly.
FUNCTION_NGRAMS = frozenset(
    {"怎么", "么办", "怎样", "如何", "什么", "么时", "时候", "哪些", "哪里", "需要", "请问", "是否", "可以", "多少"}
)
FUNCTION_WEIGHT = 0.1
#: Score factor for an article of the chosen category's family (ancestors or descendants).
CATEGORY_BOOST = 1.5
#: Hits below this share of the best hit's score are left out.
RELATIVE_CUTOFF = 0.25


@dataclass
class _Doc:
    article: KnowledgeArticle
    length: int


@dataclass
class _KnowledgeIndex:
    key: tuple = ()
    docs: list[_Doc] = field(default_factory=list)
    #: term → [(position in docs, term frequency)]: a query reads only its terms' lists.
    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    avgdl: float = 1.0


_knowledge = _KnowledgeIndex()
_knowledge_lock = threading.Lock()


def _article_terms(article: KnowledgeArticle) -> list[str]:
    # The question and keywords say what an article is about; count them twice.
    about = f"{article.question} {article.keywords}"
    return [*char_ngrams(about), *char_ngrams(about), *char_ngrams(article.answer)]


def _knowledge_index() -> _KnowledgeIndex:
    """The BM25 index of the current articles, rebuilt when an article is added,
    changed, deactivated or deleted (or the day turns), in any process: the key is
    one aggregate query."""
    current = KnowledgeArticle.objects.current()
    stats = current.aggregate(n=Count("pk"), changed=Max("updated_at"), top=Max("pk"))
    key = (clock.local_day(), stats["n"], stats["changed"], stats["top"])
    with _knowledge_lock:
        if _knowledge.key == key:
            return _knowledge
        docs = []
        postings: dict[str, list[tuple[int, int]]] = {}
        for article in current.select_related("category__parent__parent"):
            terms = _article_terms(article)
            for term, tf in Counter(terms).items():
                postings.setdefault(term, []).append((len(docs), tf))
            docs.append(_Doc(article, len(terms)))
        _knowledge.docs = docs
        _knowledge.postings = postings
        _knowledge.avgdl = (sum(d.length for d in docs) / len(docs)) if docs else 1.0
        _knowledge.key = key
        return _knowledge


def _term_weight(term: str) -> float:
    if term in FUNCTION_NGRAMS:
        return FUNCTION_WEIGHT
    return UNIGRAM_WEIGHT if len(term) == 1 else 1.0


def _in_family(article: KnowledgeArticle, category) -> bool:
    if category is None or article.category_id is None:
        return False
    return article.category.is_descendant_of(category) or category.is_descendant_of(article.category)


def knowledge_search(query: str, *, category=None, limit: int = 5):
    """Current knowledge-base answers for the query, best first: Okapi BM25 over
    character unigrams and bigrams, articles of the chosen category's family
    boosted. Without a query, the family's articles."""
    index = _knowledge_index()
    if not (query or "").strip():
        family = [d.article for d in index.docs if _in_family(d.article, category)]
        return sorted(family, key=lambda a: a.question)[:limit]
    n = len(index.docs)
    scores: dict[int, float] = {}
    topical: set[int] = set()
    for term in set(char_ngrams(query)):
        posting = index.postings.get(term, ())
        if not posting:
            continue
        idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
        weight = _term_weight(term) * idf
        for position, tf in posting:
            length = index.docs[position].length
            norm = tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * length / index.avgdl))
            scores[position] = scores.get(position, 0.0) + weight * norm
        if len(term) == 2 and term not in FUNCTION_NGRAMS:
            topical.update(position for position, _tf in posting)
    # An article sharing only single characters or question words is no answer.
    scored = []
    for position in topical:
        article = index.docs[position].article
        boost = CATEGORY_BOOST if _in_family(article, category) else 1.0
        scored.append((scores[position] * boost, article))
    if not scored:
        return []
    scored.sort(key=lambda pair: (-pair[0], pair[1].question))
    best = scored[0][0]
    return [article for score, article in scored if score >= best * RELATIVE_CUTOFF][:limit]
