"""Re-timing open tickets after the calendar or a deadline policy changed (DESIGN §5).

A change (a holiday or make-up day, a deadline policy — saved in the admin, by an
Excel or ICS import, or by the API) asks for a run (:func:`retime_request`, from
``cases.signals`` on commit); the Celery task ``cases.deadlines.tasks.retime_deadlines``
walks the open tickets in id order, chunk by chunk, and has the workflow recompute
each running clock from the moment it started (``cases.workflow.tickets_retime``).
The run's row is the watermark: each chunk commits with it, so a worker that dies
resumes after the last finished chunk, and re-timing is idempotent anyway. The
handlers of each unit get one inbox message per chunk, not one per ticket."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from departments.roles import Role

from .. import clock
from ..models import CLOCK_RULES, CLOCKED_STATES, Notification, RetimeRun, Ticket
from ..notifications.inbox import notifications_create, staff_by_unit
from ..reference import reference_check
from ..workflow import RetimeChange, tickets_retime
from .scan import scan_request_full

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
#: Ticket numbers listed in one batch message; the rest are counted.
MESSAGE_NUMBERS = 10


@dataclass
class RetimeResult:
    tickets: int = 0  # open tickets looked at
    changes: list[RetimeChange] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.changes)


def retime_request(*, reason: str, day=None) -> RetimeRun | None:
    """Ask for a re-timing; returns the new run to queue, or None when a run not
    yet started takes this change too (it reads the calendar when it starts)."""
    with transaction.atomic():
        pending = RetimeRun.objects.select_for_update().filter(started_at__isnull=True).order_by("pk").first()
        if pending is not None:
            # Widen its scope: a second day, or a policy change, needs every clock.
            if pending.day is not None and (day is None or day != pending.day):
                pending.day = min(pending.day, day) if day is not None else None
                pending.save(update_fields=["day"])
            return None
        return RetimeRun.objects.create(reason=reason, day=day)


def _candidates(day) -> Q:
    """The tickets a change can affect: running clocks; for a changed day, only
    those still due on or after it (a clock due before it cannot move)."""
    q = Q(state__in=list(CLOCKED_STATES))
    if day is not None:
        since = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        due = Q()
        for rule in CLOCK_RULES:
            due |= Q(**{f"{rule.due_field}__gte": since})
        q &= due
    return q


def _chunks(day, after: int, chunk_size: int):
    while True:
        ids = list(
            Ticket.objects.filter(_candidates(day), pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk_size]
        )
        if not ids:
            return
        yield ids
        after = ids[-1]


def retime_run(*, run_id: int, chunk_size: int = CHUNK_SIZE, now: datetime | None = None) -> RetimeResult:
    """Carry out (or resume) a run. Safe to call twice, or on a finished run."""
    result = RetimeResult()
    started = RetimeRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=clock.now())
    run = RetimeRun.objects.filter(pk=run_id, finished_at__isnull=True).first()
    if run is None:
        return result
    if not started:
        logger.info("re-timing run %s resumes after ticket %s", run.pk, run.last_ticket_id)
    # Another process saved the change: this worker's copy may be stale.
    reference_check()
    earlier = False
    for ids in _chunks(run.day, run.last_ticket_id, chunk_size):
        moment = now or clock.now()
        with transaction.atomic():
            changes = tickets_retime(ticket_ids=ids, reason=run.reason, now=moment)
            # Never back: a second worker resuming the same run may be behind this one.
            RetimeRun.objects.filter(pk=run.pk, last_ticket_id__lt=ids[-1]).update(
                last_ticket_id=ids[-1], changed=F("changed") + len(changes)
            )
            _tell_units(changes, reason=run.reason, now=moment)
        result.tickets += len(ids)
        result.changes += changes
        earlier = earlier or any(new < old for c in changes for old, new in c.clocks.values())
    if earlier:
        scan_request_full()
    RetimeRun.objects.filter(pk=run.pk).update(finished_at=clock.now())
    return result


def retime_preview(*, day=None, chunk_size: int = CHUNK_SIZE) -> RetimeResult:
    """What a run would change now, changing nothing (``retime_deadlines --dry-run``)."""
    reference_check()
    result = RetimeResult()
    for ids in _chunks(day, 0, chunk_size):
        result.tickets += len(ids)
        result.changes += tickets_retime(ticket_ids=ids, reason=RetimeRun.Reason.HOLIDAY, now=clock.now(), dry_run=True)
    return result


def retime_unfinished() -> list[int]:
    """Runs a dead worker left behind (for the command and the periodic sweep)."""
    return list(RetimeRun.objects.filter(finished_at__isnull=True).order_by("pk").values_list("pk", flat=True))


def _tell_units(changes: list[RetimeChange], *, reason: str, now) -> None:
    """One inbox message per handler per chunk: N tickets of your unit were re-timed."""
    by_unit = defaultdict(list)
    for change in changes:
        if change.department_id is not None:
            by_unit[change.department_id].append(change)
    if not by_unit:
        return
    staff = staff_by_unit(by_unit, [Role.HANDLER])
    label = RetimeRun.Reason(reason).label
    items = []
    for unit_id, unit_changes in by_unit.items():
        numbers = "、".join(c.number for c in unit_changes[:MESSAGE_NUMBERS])
        more = len(unit_changes) - MESSAGE_NUMBERS
        body = numbers + (_("等 %(n)s 件") % {"n": len(unit_changes)} if more > 0 else "")
        title = _("【时限调整】%(reason)s：本单位 %(n)s 件工单的时限已重新计算") % {
            "reason": label,
            "n": len(unit_changes),
        }
        for user in staff.get((unit_id, Role.HANDLER), []):
            items.append({"recipient": user, "kind": Notification.Kind.EVENT, "title": title, "body": body})
    notifications_create(items, now=now)
