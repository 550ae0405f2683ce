"""回访: the daily callback batch, the agents' results, and what results set off.

Every ticket closed on a day gets exactly one callback the next day (the unique
(ticket, closed_at) makes a re-run a no-op), spread over the callback agents on
duty, least loaded first. Tickets with no way to reach the citizen are recorded
as "no callback possible". An unsolved or unsatisfied result, by the unit's
fault, reopens the ticket (重办) and puts it on the supervision list; a supervisor
may overrule it with a reason."""

import heapq
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from time import perf_counter

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from departments.models import StaffProfile
from departments.roles import Role
from departments.selectors import staff_profile

from . import clock, workflow
from .api_keys import service_account_key
from .batching import atomic_or_one_by_one
from .deadlines.calendar import get_calendar
from .models import Callback, CallbackAttempt, CallbackDuty, Ticket, TicketState, TimeUnit
from .selectors.scope import callback_scope, has_callback_queue, is_citywide
from .workflow import WorkflowError, WorkflowPermissionError

S = TicketState
ERR_CALLBACK_DONE = _("该回访已完成，不能再次记录。")
ERR_CALLBACK_NOT_YOURS = _("该回访分配给了其他回访员。")
ERR_CALLBACK_FIELDS = _("接通后请填写“是否解决”和“满意度”。")
ERR_SCORE = _("评分须为 1 至 5 分。")
ERR_OVERRULE = _("只有“未解决”或“不满意”的回访可以复核。")
ERR_ALREADY_OVERRULED = _("该回访已复核认定。")


logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    day: date
    created: int = 0
    impossible: int = 0
    existing: int = 0
    failed: list = field(default_factory=list)  # tickets skipped after an error (logged)
    per_agent: dict = field(default_factory=dict)
    seconds: float = 0.0
    queries: int = 0

    def summary(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "created": self.created,
            "impossible": self.impossible,
            "already_there": self.existing,
            "failed": self.failed,
            "per_agent": self.per_agent,
            "seconds": round(self.seconds, 3),
            "queries": self.queries,
        }


def agents_on_duty(day: date) -> list:
    """The day's roster, or every active callback agent when there is none."""
    rostered = list(
        CallbackDuty.objects.filter(date=day, agent__is_active=True).select_related("agent").order_by("agent_id")
    )
    if rostered:
        return [d.agent for d in rostered]

    return [
        p.user
        for p in StaffProfile.objects.filter(role=Role.CALLBACK, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    ]


def agents_centres(agents) -> dict:
    """``{agent id: the sub-centre unit id it works for}``; agents of the hotline
    centre are left out (their centre is ``None``). One query."""
    return dict(
        StaffProfile.objects.filter(user__in=agents, department__is_subcentre=True).values_list(
            "user_id", "department_id"
        )
    )


def callback_batch(*, day: date, now: datetime | None = None, chunk_size: int = 2000) -> BatchResult:
    """Create the callbacks for the tickets closed on ``day`` (local time)."""
    started = perf_counter()
    now = now or clock.now()
    result = BatchResult(day=day)

    def count_queries(execute, sql, params, many, context):
        result.queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_queries):
        _batch(day, now, chunk_size, result)
    result.seconds = perf_counter() - started
    return result


def _batch(day, now, chunk_size, result):
    start, end = clock.day_bounds(day)
    closed = Ticket.objects.filter(
        state__in=[S.CLOSED, S.MERGED], closed_at__gte=start, closed_at__lt=end, callback_exempt=False
    )
    existing = Callback.objects.filter(ticket_id=OuterRef("pk"), closed_at=OuterRef("closed_at"))
    result.existing = closed.filter(Exists(existing)).count()
    todo = list(
        closed.filter(~Exists(existing))
        .order_by("closed_at", "pk")
        .values_list("pk", "closed_at", "citizen_phone", "is_anonymous", "centre_id")
    )
    if not todo:
        return
    call_day = day + timedelta(days=1)
    agents = agents_on_duty(call_day)
    load = dict(
        Callback.objects.filter(agent__in=agents, status=Callback.Status.PENDING)
        .values_list("agent")
        .annotate(n=Count("pk"))
        .values_list("agent", "n")
    )
    # One pile per centre: a sub-centre's tickets go to its own agents when it has
    # any on duty, everything else to the hotline centre's (``None``).
    centre_of = agents_centres(agents)
    heaps: dict = {}
    for a in agents:
        heaps.setdefault(centre_of.get(a.pk), []).append((load.get(a.pk, 0), a.pk))
    for pile in heaps.values():
        heapq.heapify(pile)
    cal = get_calendar()
    for i in range(0, len(todo), chunk_size):
        rows = []
        for pk, closed_at, phone, anonymous, centre_id in todo[i : i + chunk_size]:
            heap = heaps.get(centre_id) or heaps.get(None)
            reachable = bool((phone or "").strip()) and not anonymous
            try:
                due_at = cal.add_limit(closed_at, 1, TimeUnit.WORKING_DAY)
            except Exception:  # one bad row is logged and skipped; tomorrow's rerun retries it
                logger.exception("callback batch %s: ticket %s skipped", day, pk)
                result.failed.append(pk)
                continue
            callback = Callback(
                ticket_id=pk,
                closed_at=closed_at,
                batch_date=day,
                due_at=due_at,
                created_at=now,
                next_attempt_on=call_day,
            )
            if not reachable:
                callback.status = Callback.Status.IMPOSSIBLE
                callback.impossible_reason = str(_("匿名诉求") if anonymous else _("未留联系电话"))
                result.impossible += 1
            elif heap:
                n, agent_id = heapq.heappop(heap)
                callback.agent_id = agent_id
                heapq.heappush(heap, (n + 1, agent_id))
                result.per_agent[agent_id] = result.per_agent.get(agent_id, 0) + 1
            rows.append(callback)
        result.created += _insert(rows, day, result)


def _insert(rows, day, result) -> int:
    """The chunk in one statement, or row by row if the database refuses it: one
    bad row is logged and skipped, the rest still get their callback."""

    def skip(row):
        logger.exception("callback batch %s: ticket %s skipped", day, row.ticket_id)
        result.failed.append(row.ticket_id)

    def insert(items):
        return len(Callback.objects.bulk_create(items, ignore_conflicts=True, batch_size=1000))

    return sum(atomic_or_one_by_one(rows, insert, on_failure=skip))


def callback_may_record(actor) -> bool:
    """Whether ``actor``'s role records callback outcomes at all: the agents, and
    the centre's dispatchers and supervisors (``callback_authorize`` also checks
    whose callback it is)."""
    if actor.is_superuser:
        return True
    profile = staff_profile(actor)
    return profile is not None and profile.role in (Role.CALLBACK, Role.SUPERVISOR, Role.DISPATCHER)


def callback_may_overrule(actor) -> bool:
    """复核 is the supervisors' ruling."""
    if actor.is_superuser:
        return True
    profile = staff_profile(actor)
    return profile is not None and profile.role == Role.SUPERVISOR


def callback_authorize(callback, actor) -> None:
    """May ``actor`` record this callback's outcome? Raises WorkflowPermissionError.
    (The API asks before it reads the request body.)"""
    _authorize_agent(callback, actor)


def _authorize_agent(callback, actor):
    if not callback_may_record(actor):
        raise WorkflowPermissionError(workflow.ERR_ROLE % {"action": _("回访")}, code="role")
    if service_account_key(actor) is not None:
        return  # an IVR/SMS system works the whole day's list, whoever it was dealt to
    if not is_citywide(actor) and not callback_scope(Callback.objects.filter(pk=callback.pk), actor).exists():
        raise WorkflowPermissionError(workflow.ERR_SCOPE, code="scope")  # a sub-centre's: its own only
    if not has_callback_queue(actor):
        return  # dispatchers and supervisors record any callback (of their centre)
    if callback.agent_id not in (None, actor.pk):
        raise WorkflowPermissionError(ERR_CALLBACK_NOT_YOURS, code="not_yours")


def callback_unreachable(*, callback: Callback, actor, note: str = "") -> Callback:
    """A call that did not get through: retried on the next working day, and
    "unreachable" after ``HOTLINE_CALLBACK_MAX_ATTEMPTS`` attempts."""
    with transaction.atomic():
        cb = Callback.objects.select_for_update().get(pk=callback.pk)
        now = clock.now()  # after the lock, as the verbs do
        _authorize_agent(cb, actor)
        if cb.status != Callback.Status.PENDING:
            raise WorkflowError(ERR_CALLBACK_DONE, code="done")
        cb.attempts += 1
        cb.last_attempt_at = now
        CallbackAttempt.objects.create(callback=cb, at=now, agent=actor, note=note[:200])
        if cb.attempts >= settings.HOTLINE_CALLBACK_MAX_ATTEMPTS:
            cb.status = Callback.Status.UNREACHABLE
            cb.completed_at, cb.completed_by = now, actor
        else:
            cb.next_attempt_on = _next_working_day(clock.local_day(now))
        cb.agent = cb.agent or actor
        cb.save()
    return cb


def _next_working_day(day: date) -> date:
    cal = get_calendar()
    day += timedelta(days=1)
    while not cal.is_working_day(day):
        day += timedelta(days=1)
    return day


def callback_record(
    *,
    callback: Callback,
    actor,
    contacted: bool | None,
    solved: str,
    satisfaction: str,
    scores: dict | None = None,
    comment: str = "",
    unit_at_fault: bool | None = None,
    via: str = Callback.Via.AGENT,
) -> Callback:
    """The citizen's answer. Unsolved or unsatisfied by the unit's fault reopens the
    ticket (its master's, for a merged one) for 3 working days."""
    if solved not in Callback.Solved.values or satisfaction not in Callback.Satisfaction.values:
        raise WorkflowError(ERR_CALLBACK_FIELDS, code="fields")
    scores = {k: v for k, v in (scores or {}).items() if v is not None}
    for name, value in scores.items():
        if name not in ("attitude", "ability", "convenience", "efficiency"):
            raise WorkflowError(ERR_SCORE, code="score")
        if not isinstance(value, int) or not 1 <= value <= 5:
            raise WorkflowError(ERR_SCORE, code="score")
    with transaction.atomic():
        cb = Callback.objects.select_for_update().select_related("ticket").get(pk=callback.pk)
        now = clock.now()  # after the lock, as the verbs do
        _authorize_agent(cb, actor)
        if cb.status not in (Callback.Status.PENDING, Callback.Status.UNREACHABLE):
            raise WorkflowError(ERR_CALLBACK_DONE, code="done")
        cb.status = Callback.Status.DONE
        cb.contacted, cb.solved, cb.satisfaction = contacted, solved, satisfaction
        for name, value in scores.items():
            setattr(cb, f"score_{name}", value)
        cb.comment = comment.strip()
        cb.via = via
        cb.completed_at, cb.completed_by = now, actor
        cb.agent = cb.agent or actor
        # Attribution: a merged duplicate's callback counts against its master's lead unit.
        cb.unit_id = _callback_unit_id(cb.ticket)
        cb.last_attempt_at = now
        cb.attempts += 1
        if cb.unsatisfactory:
            cb.unit_at_fault = True if unit_at_fault is None else unit_at_fault
        else:
            cb.unit_at_fault = None
        cb.save()
        if cb.unsatisfactory and cb.unit_at_fault:
            target = cb.ticket.merged_into if cb.ticket.state == S.MERGED and cb.ticket.merged_into_id else cb.ticket
            if target.state == S.CLOSED:
                reason = _("回访%(answer)s：%(comment)s") % {
                    "answer": f"{cb.get_solved_display()}、{cb.get_satisfaction_display()}",
                    "comment": cb.comment or _("诉求人反映问题仍未解决"),
                }
                workflow.ticket_reopen(ticket=target, actor=actor, reason=str(reason))
                cb.reopened = True
                cb.save(update_fields=["reopened"])
    return cb


def _callback_unit_id(ticket):
    if ticket.state == S.MERGED and ticket.merged_into_id:
        return Ticket.objects.filter(pk=ticket.merged_into_id).values_list("lead_department_id", flat=True).first()
    return ticket.lead_department_id


def callback_overrule(*, callback: Callback, actor, reason: str) -> Callback:
    """复核: a supervisor rules the complaint unfounded; it no longer counts against
    the unit, and a ticket reopened by it closes again."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError(workflow.ERR_REQUIRED_TEXT, code="required", params={"field": _("复核意见")})
    if not callback_may_overrule(actor):
        raise PermissionDenied(str(workflow.ERR_ROLE % {"action": _("复核")}))
    with transaction.atomic():
        cb = Callback.objects.select_for_update().select_related("ticket").get(pk=callback.pk)
        now = clock.now()  # after the lock, as the verbs do
        if not (cb.status == Callback.Status.DONE and cb.unsatisfactory):
            raise WorkflowError(ERR_OVERRULE, code="not_unsatisfactory")
        if cb.overruled_at:
            raise WorkflowError(ERR_ALREADY_OVERRULED, code="overruled")
        cb.overruled_at, cb.overruled_by, cb.overrule_reason = now, actor, reason
        cb.save(update_fields=["overruled_at", "overruled_by", "overrule_reason"])
        target = cb.ticket.merged_into if cb.ticket.state == S.MERGED and cb.ticket.merged_into_id else cb.ticket
        if cb.reopened and target.state == S.HANDLING:
            workflow.ticket_overrule_reopen(ticket=target, actor=actor, reason=reason)
    return cb


def callbacks_due(user, today: date | None = None):
    """The agent's queue for today: pending callbacks assigned to them (or to nobody)."""
    today = today or clock.local_day()
    return callback_scope(Callback.objects.all(), user).filter(
        status=Callback.Status.PENDING, next_attempt_on__lte=today
    )
