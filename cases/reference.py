"""Reference data, cached in each process: units, grids, categories, deadline
policies, working calendars and holidays, and the territory keyword index. It
changes monthly and is read by every write (validation, territory resolution,
deadlines), so a process loads each piece once and keeps it until it changes.

A change anywhere — a save or delete of one of those models (``cases.signals``),
or a bulk change that sends no signals (an import, the demo) calling
:func:`reference_changed` — bumps the one-row ``ReferenceStamp``. The process
that made the change drops its copy at once (and again when the transaction
commits); every other process compares the stamp with the value its copy was
loaded under at its next check: at the start of a request or a Celery task, at
most every ``REFERENCE_RECHECK_SECONDS``, and on the first use of reference data
after that. So a holiday added in the admin moves the deadlines that every
worker computes from then on, within that interval."""

import logging
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from departments.models import Department, Grid

from .models import Category, DeadlinePolicy, ReferenceStamp

logger = logging.getLogger(__name__)

_STAMP_PK = 1
_lock = threading.RLock()
#: ``stamp``: the counter this process's copy was loaded under (None: not read
#: yet); ``checked_at``: when it was last compared; ``due``: a request or task
#: started after the interval, so the next use compares again; ``generation``:
#: bumped by every local drop, so a load that raced with one is not kept.
_state: dict[str, Any] = {"stamp": None, "checked_at": 0.0, "due": False, "generation": 0}
_values: dict[str, Any] = {}


def _stamp_read() -> int:
    return ReferenceStamp.objects.filter(pk=_STAMP_PK).values_list("value", flat=True).first() or 0


def reference(name: str, loader: Callable[[], Any]) -> Any:
    """The cached value ``name`` (loaded by ``loader()`` on its first use after a
    change). Callers must not mutate what they get: it is shared."""
    if _state["due"] or _state["stamp"] is None:
        reference_check()
    try:
        return _values[name]
    except KeyError:
        pass
    with _lock:
        generation = _state["generation"]
        value = loader()
        if _state["generation"] == generation:
            _values[name] = value
        return value


def reference_check() -> None:
    """Compare the stamp with the one this copy was loaded under; drop the copy if
    another process changed the data since. The stamp is read before anything
    is loaded, so a change made during a load is seen at the next check."""
    stamp = _stamp_read()
    with _lock:
        if stamp != _state["stamp"]:
            _values.clear()
            _state["generation"] += 1
        _state.update(stamp=stamp, checked_at=monotonic(), due=False)


def reference_check_due(**kwargs) -> None:
    """At the start of a request or a task: compare again at the next use if the
    last comparison is older than ``REFERENCE_RECHECK_SECONDS`` (no query here:
    a request that uses no reference data pays nothing)."""
    if monotonic() - _state["checked_at"] >= settings.REFERENCE_RECHECK_SECONDS:
        _state["due"] = True


def reference_changed() -> None:
    """Reference data changed: bump the stamp (every other process reloads at its
    next check) and drop this process's copy, now and once the transaction
    commits (a copy loaded inside it may hold rows that roll back)."""
    if not ReferenceStamp.objects.filter(pk=_STAMP_PK).update(value=F("value") + 1):
        ReferenceStamp.objects.get_or_create(pk=_STAMP_PK, defaults={"value": 1})
    reference_forget()
    transaction.on_commit(reference_forget)


def reference_forget() -> None:
    """Drop this process's copy (the next use reads the stamp and reloads)."""
    with _lock:
        _values.clear()
        _state.update(stamp=None, checked_at=0.0, due=False, generation=_state["generation"] + 1)


# -- the pieces --------------------------------------------------------------------


def categories() -> dict[int, Any]:
    """Category id → ``Category`` (every category, active or not), each with its
    parent set (``full_name`` and the inherited defaults cost no statement)."""
    return reference("categories", _categories_load)


def _categories_load() -> dict[int, Any]:
    by_pk = {c.pk: c for c in Category.objects.all()}
    parent = Category._meta.get_field("parent")
    for category in by_pk.values():
        if category.parent_id in by_pk:
            parent.set_cached_value(category, by_pk[category.parent_id])
    return by_pk


def category_by_code(code: str):
    """The category with this code, or None."""
    by_code = reference("categories_by_code", lambda: {c.code: c for c in categories().values()})
    return by_code.get(code)


def units() -> dict[int, Any]:
    """Unit id → ``Department`` (every unit, active or not; the boundary deferred:
    polygons are read through ``departments.geo``)."""
    return reference("units", lambda: {d.pk: d for d in Department.objects.defer("boundary")})


def grids() -> dict[int, Any]:
    """Grid id → ``Grid`` (every grid, active or not; the boundary deferred:
    polygons are read through ``departments.geo``)."""
    return reference("grids", lambda: {g.pk: g for g in Grid.objects.defer("boundary")})


def grid_by_code(code: str):
    """The grid with this code, or None."""
    by_code = reference("grids_by_code", lambda: {g.code: g for g in grids().values()})
    return by_code.get(code)


def policy_rows() -> list:
    """The active deadline policy rows."""
    return reference("policy_rows", lambda: list(DeadlinePolicy.objects.filter(is_active=True)))
