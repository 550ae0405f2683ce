"""Learned dispatch suggestions (智能派单): category and lead unit suggested from
the demand's text, address and channel by a model trained on the centre's own
closed tickets.

- Training rows: closed tickets with a lead unit, newest first up to
  ``SUGGEST_TRAIN_MAX_ROWS``. The text is content + address + channel; the labels
  are the ticket's category and the lead unit that closed it (a dispatch that was
  returned never closed a ticket, so it never becomes a label).
- Features: TF-IDF over character 1–3-grams (``char_wb``; Chinese needs no word
  segmenter), at most ``SUGGEST_MAX_FEATURES`` of them. One linear classifier
  (SGD, logistic loss) for the category and one for the unit.
- Explanation: the nearest past tickets (cosine over the same features) among the
  newest ``SUGGEST_NEIGHBOUR_ROWS`` training rows, read through the user's scope.
- Rules first: the duty list (``departments.selectors.duty_suggest``) with the
  territory stays the rule. The model ranks the units the rule allows and flags a
  disagreement between its top unit and the duty list's; the dispatcher confirms.

The model is saved atomically under ``SUGGEST_DIR`` with a ``SuggestionModel`` row;
each process loads the newest once (cached by that row). Nothing here touches the
network. Without a model (too few closed tickets), there are no suggestions."""

import os
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import normalize

from departments.models import Department
from departments.selectors import Territory, duty_suggest, territory_resolve

from .models import Category, SuggestionModel, Ticket, TicketState
from .public import anonymise
from .selectors.scope import ticket_list
from .text import char_ngram_vectorizer

#: Shown when the model's top unit is not the duty list's unit.
MODEL_DISAGREES = _("模型建议与职责清单不一致")
#: Shown (and returned by the retrain task) when there is too little history.
TOO_FEW_ROWS = _("已办结工单不足 %(minimum)s 件（现有 %(rows)s 件），暂不训练派单建议模型。")
TOO_FEW_CLASSES = _("已办结工单的分类或主办单位少于两种，暂不训练派单建议模型。")
NO_MODEL = _("尚未训练派单建议模型（已办结工单不足或训练未运行）。")

TOP = 3
NEIGHBOURS = 5
#: Past tickets less similar than this explain nothing.
NEIGHBOUR_MIN_SIMILARITY = 0.15
#: The share of the newest rows held out to measure accuracy (a time split).
HELD_OUT_SHARE = 0.2
#: "Similar past tickets" are similar demands first, then nearby: the address's
#: n-grams count this much against the content's.
NEIGHBOUR_ADDRESS_WEIGHT = 0.4
TEXT_MAX = 2000


class SuggestionsUnavailable(Exception):
    """Training was refused (too little history); the message says why."""


# -- training rows --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRow:
    pk: int
    text: str
    category_id: int
    unit_id: int
    received_at: object
    returned: bool
    content: str = ""
    address: str = ""


def suggestion_text(*, content: str, address: str = "", channel: str = "") -> str:
    """What the model reads: the demand, where, and by which channel."""
    return f"{(content or '')[:TEXT_MAX]} {(address or '')[:255]} #{channel or ''}"


def training_rows(*, max_rows: int | None = None, until=None) -> list[TrainingRow]:
    """Closed tickets with a lead unit, oldest first, at most the newest
    ``max_rows`` (default ``SUGGEST_TRAIN_MAX_ROWS``); ``until`` keeps only those
    received before it. Rows without text, category or unit are left out."""
    limit = max_rows or settings.SUGGEST_TRAIN_MAX_ROWS
    closed = Ticket.objects.filter(
        state=TicketState.CLOSED, lead_department__isnull=False, category__isnull=False
    ).exclude(content="")
    if until is not None:
        closed = closed.filter(received_at__lt=until)
    values = closed.order_by("-received_at", "-pk").values_list(
        "pk", "content", "address", "channel", "category_id", "lead_department_id", "received_at", "return_count"
    )[:limit]
    rows = [
        TrainingRow(
            pk,
            suggestion_text(content=content, address=address, channel=channel),
            category_id,
            unit_id,
            received_at,
            bool(returns),
            (content or "")[:TEXT_MAX],
            (address or "")[:255],
        )
        for pk, content, address, channel, category_id, unit_id, received_at, returns in values.iterator(
            chunk_size=5000
        )
        if (content or "").strip()
    ]
    rows.reverse()
    return rows


# -- the model ------------------------------------------------------------------------


@dataclass
class Trained:
    """What is saved: the features, the two classifiers, and the neighbour index."""

    vectorizer: TfidfVectorizer
    category: SGDClassifier
    unit: SGDClassifier
    neighbour_matrix: object  # scipy CSR, rows L2-normalised
    neighbour_ids: np.ndarray
    trained_rows: int = 0


def _fit(rows: list[TrainingRow]) -> Trained:
    if len(rows) < settings.SUGGEST_MIN_ROWS:
        raise SuggestionsUnavailable(TOO_FEW_ROWS % {"minimum": settings.SUGGEST_MIN_ROWS, "rows": len(rows)})
    categories = np.array([r.category_id for r in rows])
    units = np.array([r.unit_id for r in rows])
    if len(set(categories.tolist())) < 2 or len(set(units.tolist())) < 2:
        raise SuggestionsUnavailable(TOO_FEW_CLASSES)
    vectorizer = char_ngram_vectorizer(max_features=settings.SUGGEST_MAX_FEATURES, min_df=2 if len(rows) >= 1000 else 1)
    matrix = vectorizer.fit_transform([r.text for r in rows])
    category = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=15, tol=1e-3, random_state=0)
    unit = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=15, tol=1e-3, random_state=0)
    with warnings.catch_warnings():
        # max_iter is capped on purpose (training time); whether the result is good
        # enough is what the held-out accuracy says, not a convergence warning on
        # the console of `make run`.
        warnings.simplefilter("ignore", ConvergenceWarning)
        category.fit(matrix, categories)
        unit.fit(matrix, units)
    for clf in (category, unit):
        # Half the memory and file size, the same ranking.
        clf.coef_ = clf.coef_.astype(np.float32)
    keep = settings.SUGGEST_NEIGHBOUR_ROWS
    recent = rows[-keep:]
    return Trained(
        vectorizer=vectorizer,
        category=category,
        unit=unit,
        neighbour_matrix=_neighbour_vectors(vectorizer, [r.content for r in recent], [r.address for r in recent]),
        neighbour_ids=np.array([r.pk for r in recent], dtype=np.int64),
        trained_rows=len(rows),
    )


def _neighbour_vectors(vectorizer, contents: list[str], addresses: list[str]):
    """What "similar" means for the past tickets shown: the demand's words, and
    less so its place (rows L2-normalised, so a product is a cosine)."""
    matrix = vectorizer.transform(contents) + NEIGHBOUR_ADDRESS_WEIGHT * vectorizer.transform(addresses)
    return normalize(matrix.tocsr())


def _ranked(clf: SGDClassifier, matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the classes best first and their probabilities."""
    proba = clf.predict_proba(matrix)
    order = np.argsort(-proba, axis=1)
    return clf.classes_[order], np.take_along_axis(proba, order, axis=1)


@dataclass
class Accuracy:
    rows: int = 0
    category_top1: float | None = None
    category_top3: float | None = None
    unit_top1: float | None = None
    unit_top3: float | None = None
    #: Held-out tickets that were returned (退单) before the unit that closed them got them.
    returned: int = 0
    #: … of which the model's top unit is the unit that finally closed it.
    returned_avoided: int = 0
    seconds_per_suggestion: float = 0.0

    @property
    def avoided_share(self) -> float | None:
        return self.returned_avoided / self.returned if self.returned else None


def evaluate(trained: Trained, rows: list[TrainingRow]) -> Accuracy:
    """Top-1 / top-3 accuracy of ``trained`` on ``rows`` (tickets it has not seen),
    and how many returned tickets its top unit would have sent right first time."""
    if not rows:
        return Accuracy()
    started = time.process_time()
    matrix = trained.vectorizer.transform([r.text for r in rows])
    cat_classes, _p = _ranked(trained.category, matrix)
    unit_classes, _q = _ranked(trained.unit, matrix)
    cpu = time.process_time() - started
    cats = np.array([r.category_id for r in rows])
    units = np.array([r.unit_id for r in rows])
    returned = np.array([r.returned for r in rows])
    unit_hit1 = unit_classes[:, 0] == units
    n = len(rows)
    return Accuracy(
        rows=n,
        category_top1=float((cat_classes[:, 0] == cats).mean()),
        category_top3=float((cat_classes[:, :TOP] == cats[:, None]).any(axis=1).mean()),
        unit_top1=float(unit_hit1.mean()),
        unit_top3=float((unit_classes[:, :TOP] == units[:, None]).any(axis=1).mean()),
        returned=int(returned.sum()),
        returned_avoided=int((unit_hit1 & returned).sum()),
        seconds_per_suggestion=cpu / n,
    )


def time_split(rows: list[TrainingRow], held_out: float = HELD_OUT_SHARE):
    """Rows (oldest first) split in time: the newest ``held_out`` share is the test."""
    cut = len(rows) - int(len(rows) * held_out)
    return rows[:cut], rows[cut:]


def suggestion_train(*, max_rows: int | None = None) -> SuggestionModel:
    """Train on the centre's closed tickets and make the result the model in use.

    Accuracy is measured on a time split first (the newest 20% held out), then the
    model is refitted on every row. Raises ``SuggestionsUnavailable`` with the
    reason when there is too little history; the model in use stays."""
    started = time.process_time()
    rows = training_rows(max_rows=max_rows)
    head, tail = time_split(rows)
    accuracy = Accuracy()
    if len(head) >= settings.SUGGEST_MIN_ROWS and tail:
        try:
            accuracy = evaluate(_fit(head), tail)
        except SuggestionsUnavailable:
            accuracy = Accuracy()
    trained = _fit(rows)
    folder = Path(settings.SUGGEST_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"suggest-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.joblib"
    partial = folder / f".{name}.part"
    joblib.dump(trained, partial, compress=3)
    os.replace(partial, folder / name)  # a reader sees the whole file or none
    row = SuggestionModel.objects.create(
        file_name=name,
        rows=len(rows),
        held_out_rows=accuracy.rows,
        categories=len(trained.category.classes_),
        units=len(trained.unit.classes_),
        category_top1=accuracy.category_top1,
        category_top3=accuracy.category_top3,
        unit_top1=accuracy.unit_top1,
        unit_top3=accuracy.unit_top3,
        train_seconds=round(time.process_time() - started, 2),
    )
    _prune(folder, keep={name, *SuggestionModel.objects.values_list("file_name", flat=True)[:2]})
    return row


def suggestion_model_describe(row: SuggestionModel) -> str:
    """One line about a trained model, for the commands' output."""

    def pct(value):
        return "—" if value is None else f"{value:.1%}"

    return (
        f"Suggestion model {row.file_name}: {row.rows:,} closed tickets, {row.categories} categories, "
        f"{row.units} units, {row.train_seconds:.1f} s CPU; held out {row.held_out_rows:,}: "
        f"category top-1 {pct(row.category_top1)} top-3 {pct(row.category_top3)}, "
        f"unit top-1 {pct(row.unit_top1)} top-3 {pct(row.unit_top3)}"
    )


def _prune(folder: Path, keep: set[str]) -> None:
    for path in folder.glob("suggest-*.joblib"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


# -- loading, once per process --------------------------------------------------------


@dataclass
class _Loaded:
    key: tuple = ()
    row: SuggestionModel | None = None
    trained: Trained | None = None


_loaded = _Loaded()
_load_lock = threading.Lock()


def suggestion_model() -> tuple[SuggestionModel | None, Trained | None]:
    """The model in use (newest row whose file is there), loaded once per process."""
    row = SuggestionModel.objects.first()
    if row is None:
        return None, None
    key = (row.pk, row.file_name)
    with _load_lock:
        if _loaded.key != key:
            path = Path(settings.SUGGEST_DIR) / row.file_name
            try:
                trained = joblib.load(path)
            except (OSError, EOFError, ValueError, AttributeError, ImportError):
                return row, None  # the file is gone or unreadable: no suggestions, no error page
            _loaded.key, _loaded.row, _loaded.trained = key, row, trained
        return _loaded.row, _loaded.trained


# -- suggesting -----------------------------------------------------------------------


@dataclass
class Scored:
    item: object
    confidence: float

    @property
    def percent(self) -> int:
        return round(self.confidence * 100)


@dataclass
class CategoryChoice(Scored):
    #: The duty list's lead unit for this category at this place (the rule).
    rule_unit: Department | None = None


@dataclass
class UnitChoice(Scored):
    #: The duty list allows this unit for the category (it is one of its candidates).
    allowed: bool = False


@dataclass
class Neighbour:
    ticket: Ticket
    similarity: float

    @property
    def summary(self) -> str:
        return anonymise(self.ticket.content, self.ticket)[:60]


@dataclass
class Suggestion:
    model: SuggestionModel
    categories: list[CategoryChoice] = field(default_factory=list)
    #: The model's top units, whatever the rule says.
    units: list[UnitChoice] = field(default_factory=list)
    #: The duty list's first unit for the category (chosen, else the model's top one).
    rule_unit: Department | None = None
    #: The units the duty list allows, ranked by the model (the rule's order breaks ties).
    allowed: list[UnitChoice] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)

    @property
    def disagrees(self) -> bool:
        """The model's top unit is not the duty list's unit."""
        return bool(self.units and self.rule_unit is not None and self.units[0].item.pk != self.rule_unit.pk)

    @property
    def disagreement(self) -> str:
        return str(MODEL_DISAGREES) if self.disagrees else ""


def suggest(
    *,
    user,
    content: str,
    address: str = "",
    channel: str = "",
    territory: Territory | None = None,
    category: Category | None = None,
    exclude_pk: int | None = None,
) -> Suggestion | None:
    """Suggestions for a demand, or None without a model or without text.

    ``category`` is the one already chosen (the dispatch form): the rule's units
    are its duty-list units; otherwise the model's top category's. ``territory``
    defaults to the address's. The nearest past tickets are those ``user`` may see."""
    if not (content or "").strip():
        return None
    row, trained = suggestion_model()
    if trained is None:
        return None
    if territory is None:
        territory = territory_resolve(address=address) if address else Territory()
    vector = trained.vectorizer.transform([suggestion_text(content=content, address=address, channel=channel)])
    suggestion = Suggestion(model=row)

    cat_proba = trained.category.predict_proba(vector)[0]
    cat_order = np.argsort(-cat_proba)[: TOP * 2]
    live_categories = Category.objects.filter(
        pk__in=[int(trained.category.classes_[i]) for i in cat_order], is_active=True
    ).in_bulk()
    for i in cat_order:
        found = live_categories.get(int(trained.category.classes_[i]))
        if found is not None and len(suggestion.categories) < TOP:
            suggestion.categories.append(CategoryChoice(found, float(cat_proba[i])))
    for choice in suggestion.categories:
        rules = duty_suggest(category=choice.item, territory=territory)
        choice.rule_unit = rules[0] if rules else None

    rule_category = category or (suggestion.categories[0].item if suggestion.categories else None)
    rule_units = duty_suggest(category=rule_category, territory=territory) if rule_category is not None else []
    suggestion.rule_unit = rule_units[0] if rule_units else None

    unit_proba = trained.unit.predict_proba(vector)[0]
    unit_of = {int(c): float(p) for c, p in zip(trained.unit.classes_, unit_proba, strict=True)}
    unit_order = np.argsort(-unit_proba)[: TOP * 2]
    live_units = Department.objects.filter(
        pk__in=[int(trained.unit.classes_[i]) for i in unit_order], is_active=True
    ).in_bulk()
    allowed_ids = {d.pk for d in rule_units}
    for i in unit_order:
        found = live_units.get(int(trained.unit.classes_[i]))
        if found is not None and len(suggestion.units) < TOP:
            suggestion.units.append(UnitChoice(found, float(unit_proba[i]), allowed=found.pk in allowed_ids))
    suggestion.allowed = sorted(
        (UnitChoice(d, unit_of.get(d.pk, 0.0), allowed=True) for d in rule_units),
        key=lambda c: -c.confidence,
    )
    near = _neighbour_vectors(trained.vectorizer, [(content or "")[:TEXT_MAX]], [(address or "")[:255]])
    suggestion.neighbours = _neighbours(trained, near, user=user, exclude_pk=exclude_pk)
    return suggestion


def _neighbours(trained: Trained, vector, *, user, exclude_pk=None) -> list[Neighbour]:
    """The most similar past tickets the user may see, most similar first."""
    if trained.neighbour_matrix.shape[0] == 0:
        return []
    # A sparse matrix times a dense vector: a tenth of the time of sparse × sparse.
    similarity = trained.neighbour_matrix @ vector.toarray().ravel()
    order = np.argsort(-similarity)[: NEIGHBOURS * 4]
    wanted = {
        int(trained.neighbour_ids[i]): float(similarity[i])
        for i in order
        if similarity[i] >= NEIGHBOUR_MIN_SIMILARITY and int(trained.neighbour_ids[i]) != exclude_pk
    }
    if not wanted:
        return []
    visible = ticket_list(user=user).filter(pk__in=list(wanted)).select_related("category", "lead_department")
    found = [Neighbour(t, wanted[t.pk]) for t in visible]
    found.sort(key=lambda n: (-n.similarity, -n.ticket.pk))
    return found[:NEIGHBOURS]
