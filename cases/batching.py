"""One bad row must not stop a batch (DESIGN §9: tasks are safe to retry)."""

from django.db import transaction


def atomic_or_one_by_one(items: list, run, *, on_failure) -> list:
    """``run(items)`` in one transaction; if it raises, each item alone in its own,
    so that a bad item is skipped and the others are done. ``on_failure(item)`` is
    called while the item's exception is being handled (``logger.exception`` sees
    it). Returns what the committed runs returned."""
    try:
        with transaction.atomic():
            return [run(items)]
    except Exception:
        if len(items) == 1:
            on_failure(items[0])
            return []
    return [done for item in items for done in atomic_or_one_by_one([item], run, on_failure=on_failure)]
