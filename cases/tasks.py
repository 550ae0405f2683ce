"""Celery tasks of the cases app: thin wrappers that take ids, re-read, and call a
service. All are idempotent, so ``acks_late`` (re-delivery after a crash) is safe.

Convention (both apps): a service imports ``something_task`` at module level; a task
imports its service inside the body. The workflow's on-commit announce queues
``detect_clusters_for`` from here, so no task body in this module may reach back into
the workflow: the cluster tasks import detection only (``cases.clusters``, not
``cases.cluster_actions``). The tasks whose services act through the workflow live in
``cases.deadlines.tasks`` and ``cases.callback_tasks``; delivery in
``cases.notifications.tasks``."""

import time
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .models import Ticket


@shared_task(acks_late=True, ignore_result=True)
def detect_clusters():
    from .clusters import clusters_sweep  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return clusters_sweep()


@shared_task(acks_late=True, ignore_result=True)
def detect_clusters_for(ticket_id: int):
    """Check one new ticket against the cluster rules (idempotent: members are unique)."""
    from .clusters import clusters_detect_for  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    # What the rules compare, not the whole row (the related rows only as keys).
    ticket = (
        Ticket.objects.select_related("category", "community", "street")
        .only(
            "citizen_phone",
            "is_anonymous",
            "received_at",
            "content",
            "category__id",
            "community__id",
            "street__id",
            "district",
        )
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is not None:
        clusters_detect_for(ticket)
        link_themes_for(ticket_id)


def link_themes_for(ticket_id: int) -> list[int]:
    """每月一题: link a new ticket to the running themes whose rule matches it (run
    with cluster detection, the same after-intake pass)."""
    from .themes import themes_link_ticket  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return themes_link_ticket(ticket_id)


@shared_task(acks_late=True, ignore_result=True)
def link_theme_tickets(theme_id: int):
    """每月一题: link every past ticket a theme's rule matches (in batches; idempotent)."""
    from .themes import theme_relink  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return theme_relink(theme_id)


@shared_task(ignore_result=True)
def prune_broker_files(max_age_hours: int = 24):
    """The embedded filesystem broker keeps claimed messages; drop old ones."""
    folder = Path(settings.BROKER_DIR) / "processed"
    if settings.REDIS_URL or not folder.exists():
        return 0
    cutoff = time.time() - max_age_hours * 3600
    removed = 0
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


@shared_task(ignore_result=True)
def prune_pending_uploads():
    """Photos kept for an intake form that was never saved: drop them after a day."""
    from .attachments import pending_prune  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return pending_prune(max_age_hours=settings.INTAKE_PENDING_UPLOAD_HOURS)


@shared_task(ignore_result=True)
def ensure_partitions():
    """PostgreSQL: the timeline's and the history's monthly partitions for the
    months ahead (idempotent; a no-op on SQLite). Returns the partitions created."""
    from .partitions import partitions_ensure  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return partitions_ensure()


@shared_task(ignore_result=True)
def retrain_suggestions():
    """智能派单: retrain the suggestion model on the centre's closed tickets (nightly).
    Too little history is no error: the model in use stays and the reason is returned."""
    from .suggestions import SuggestionsUnavailable, suggestion_train  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    try:
        row = suggestion_train()
    except SuggestionsUnavailable as refused:
        return str(refused)
    return f"{row.file_name}: {row.rows} rows"
