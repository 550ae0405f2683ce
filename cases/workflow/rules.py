"""The rules of the workflow (DESIGN §4): which role may start which transition
from which state on which tickets (``TRANSITIONS``), the extra conditions an action
button needs (``PRECONDITIONS``), and the refusals.

Refusals raise ``WorkflowPermissionError`` (a ``PermissionDenied``: the actor may
not do this to this ticket) or ``WorkflowError`` (a ``ValidationError``: wrong
state or bad input). The admin shows both in the form; the API answers 403 / 400.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from departments.models import Department
from departments.roles import Role
from departments.selectors import staff_profile

from ..models import (
    CLOCKED_STATES,
    CoHandling,
    Ticket,
    TicketApplication,
    TicketEvent,
    TicketState,
)
from ..selectors.scope import staff_centre, subcentres, user_unit_ids
from .registry import VERBS

Kind = TicketEvent.Kind
S = TicketState

# -- messages (tests import these) -------------------------------------------------

ERR_STATE = _("工单当前状态为“%(state)s”，不能执行“%(action)s”。")
ERR_ROLE = _("您的角色不能执行“%(action)s”。")
ERR_SCOPE = _("该工单不在您单位的办理范围内。")
ERR_NO_PROFILE = _("您的账号尚未关联单位和角色，请联系管理员。")
ERR_REQUIRED_TEXT = _("请填写%(field)s。")
ERR_DEPARTMENT_INACTIVE = _("单位“%(name)s”已停用。")
ERR_DEPARTMENT_KIND = _("“%(name)s”不是承办单位，不能派单。")
ERR_SAME_DEPARTMENT = _("工单已由“%(name)s”承办。")
ERR_COHANDLER_IS_LEAD = _("主办单位不能同时作为协办单位。")
ERR_COHANDLER_EXISTS = _("“%(name)s”已是协办单位。")
ERR_SUBDISPATCH_TARGET = _("只能下派给本单位的下级单位。")
ERR_SUBDISPATCH_UNSIGNED = _("请先签收，再下派。")
ERR_CONTACT_FIRST = _("请先联系诉求人并记录，再反馈办理结果。")
ERR_REPLY_REASON = _("办理结果为“无法解决”时，请说明原因。")
ERR_PENDING_APPLICATION = _("已有待审批的%(kind)s。")
ERR_NO_PENDING_APPLICATION = _("没有待审批的%(kind)s。")
ERR_EXTENSION_LATE = _("已超过延期申请时限：须在办结时限之前、且不晚于到期当日 %(cutoff)s 提出。")
ERR_EXTENSION_DAYS = _("延期天数须为 1 至 %(max)s 个工作日。")
ERR_EXTENSION_CAP = _("累计延期不能超过 %(limit)s 个工作日（已延期 %(used)s 个工作日）。")
ERR_EXTENSION_NO_CLOCK = _("工单没有办结时限，无需延期。")
ERR_MERGE_SELF = _("不能将工单并入自身。")
ERR_MERGE_MASTER_STATE = _("主单“%(number)s”已结束（%(state)s），不能并入。")
ERR_MERGE_MASTER_MERGED = _("主单“%(number)s”本身已并入其他工单。")
ERR_MERGE_HAS_CHILDREN = _("该工单已有并入的工单，不能再并入其他工单。")
ERR_NOT_COHANDLER = _("您的单位不是该工单的协办单位，或已签收/反馈。")
ERR_CATEGORY_INACTIVE = _("诉求分类“%(name)s”已停用。")
ERR_INVALID_KIND = _("请选择无效类型。")
ERR_REPLY_RESULT = _("请选择办理结果。")
ERR_PHONE = _("电话号码格式不正确。")
ERR_PUBLICITY_SAME = _("工单已是“%(setting)s”。")
ERR_REASON_CODE = _("原因“%(label)s”已停用或不适用于此操作。")
ERR_CENTRE_TARGET = _("“%(name)s”不在本分中心辖区内，不能派单。")
ERR_CENTRE_UNSIGNED = _("工单已转至分中心，请先签收。")
ERR_NOT_SUBCENTRE = _("“%(name)s”未设分中心。")
ERR_SAME_CENTRE = _("工单已在“%(name)s”。")
ERR_CENTRE_SIGNED_ALREADY = _("工单不在分中心待签收。")
ERR_NOT_AT_CENTRE = _("工单不在分中心。")

#: A citizen's telephone number as any door takes it: digits, spaces, dashes, an optional "+".
PHONE = re.compile(r"\+?[\d\- ]{5,20}")

# -- the transition table ----------------------------------------------------------


class Scope:
    """Which tickets an actor of a given role may act on."""

    ANY = "any"  # anyone of the role (creating a ticket)
    # The centre's roles (``staff_centre``): the hotline centre's staff act on any
    # ticket; a sub-centre's on the tickets it owns (``Ticket.centre``), once it
    # has signed them (分中心签收).
    CENTRE = "centre"
    CITY = "city"  # the hotline centre's staff only (transfer to a sub-centre)
    SUBCENTRE = "subcentre"  # the staff of the sub-centre owning the ticket only (its sign, its return)
    LEAD = "lead"  # the lead unit lies in the actor's unit subtree
    ASSIGNEE = "assignee"  # the current handling unit lies in the actor's subtree
    COHANDLER = "cohandler"  # a co-handling unit lies in the actor's subtree


UNIT_ACTORS = {Role.HANDLER: Scope.ASSIGNEE, Role.UNIT_HEAD: Scope.ASSIGNEE}
LEAD_ACTORS = {Role.HANDLER: Scope.LEAD, Role.UNIT_HEAD: Scope.LEAD}
COHANDLER_ACTORS = {Role.HANDLER: Scope.COHANDLER, Role.UNIT_HEAD: Scope.COHANDLER}
DISPATCHER = {Role.DISPATCHER: Scope.CENTRE}


@dataclass(frozen=True)
class Rule:
    sources: frozenset  # states the transition starts from (None = a new ticket)
    targets: frozenset  # states it may end in
    roles: dict  # role → scope


def _rule(sources, targets, roles) -> Rule:
    return Rule(frozenset(sources), frozenset(targets), dict(roles))


TRANSITIONS: dict[str, Rule] = {
    Kind.CREATED: _rule(
        {None},
        {S.RECEIVED},
        {
            Role.OPERATOR: Scope.ANY,
            Role.DISPATCHER: Scope.ANY,
            Role.GRID_WORKER: Scope.ANY,
            Role.SUPERVISOR: Scope.ANY,
        },
    ),
    Kind.ANSWERED: _rule({S.RECEIVED}, {S.CLOSED}, {Role.OPERATOR: Scope.CENTRE, **DISPATCHER}),
    Kind.DISPATCHED: _rule({S.RECEIVED, S.DISPATCHED}, {S.DISPATCHED}, DISPATCHER),
    Kind.SUBDISPATCHED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, LEAD_ACTORS),
    Kind.SIGNED: _rule({S.DISPATCHED}, {S.HANDLING}, UNIT_ACTORS),
    Kind.CONTACTED: _rule({S.HANDLING}, {S.HANDLING}, UNIT_ACTORS),
    Kind.PROGRESS: _rule({S.HANDLING}, {S.HANDLING}, UNIT_ACTORS),
    Kind.REPLIED: _rule({S.HANDLING}, {S.REVIEWING}, UNIT_ACTORS),
    Kind.APPROVED: _rule({S.REVIEWING}, {S.CLOSED}, DISPATCHER),
    Kind.REWORK: _rule({S.REVIEWING}, {S.HANDLING}, DISPATCHER),
    Kind.RETURN_REQUESTED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, LEAD_ACTORS),
    Kind.RETURN_APPROVED: _rule({S.DISPATCHED, S.HANDLING}, {S.RECEIVED}, DISPATCHER),
    Kind.RETURN_REJECTED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, DISPATCHER),
    Kind.EXTENSION_REQUESTED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, LEAD_ACTORS),
    Kind.EXTENSION_APPROVED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING}, {S.DISPATCHED, S.HANDLING, S.REVIEWING}, DISPATCHER
    ),
    Kind.EXTENSION_REJECTED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING}, {S.DISPATCHED, S.HANDLING, S.REVIEWING}, DISPATCHER
    ),
    Kind.COHANDLERS_ADDED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, {**DISPATCHER, **LEAD_ACTORS}),
    Kind.COHANDLER_SIGNED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING}, {S.DISPATCHED, S.HANDLING, S.REVIEWING}, COHANDLER_ACTORS
    ),
    Kind.COHANDLER_REPLIED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING}, {S.DISPATCHED, S.HANDLING, S.REVIEWING}, COHANDLER_ACTORS
    ),
    # Supervisors merge too: the duplicates of a cluster (双交办) from its page.
    Kind.MERGED: _rule(
        {S.RECEIVED, S.DISPATCHED},
        {S.MERGED},
        {Role.OPERATOR: Scope.CENTRE, Role.SUPERVISOR: Scope.CENTRE, **DISPATCHER},
    ),
    # Not an action of its own: the master's approval or direct answer writes it
    # on every ticket merged into the master.
    Kind.MASTER_CLOSED: _rule({S.MERGED}, {S.MERGED}, {}),
    Kind.INVALIDATED: _rule({S.RECEIVED}, {S.INVALID}, {Role.OPERATOR: Scope.CENTRE, **DISPATCHER}),
    Kind.REOPENED: _rule(
        {S.CLOSED},
        {S.HANDLING, S.RECEIVED},
        {Role.CALLBACK: Scope.CENTRE, Role.SUPERVISOR: Scope.CENTRE, **DISPATCHER},
    ),
    # 一把手签批: with the flag set, a handler's reply waits for the unit head.
    Kind.REPLY_DRAFTED: _rule({S.HANDLING}, {S.HANDLING}, UNIT_ACTORS),
    Kind.HEAD_SIGNED: _rule({S.HANDLING}, {S.REVIEWING}, {Role.UNIT_HEAD: Scope.LEAD}),
    Kind.HEAD_RETURNED: _rule({S.HANDLING}, {S.HANDLING}, {Role.UNIT_HEAD: Scope.LEAD}),
    Kind.SIGNOFF_REQUIRED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING},
        {S.DISPATCHED, S.HANDLING, S.REVIEWING},
        {Role.SUPERVISOR: Scope.CENTRE, **DISPATCHER},
    ),
    # 督办: urges (also issued by the deadline scan itself), escalation to a leader.
    Kind.URGED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING},
        {S.DISPATCHED, S.HANDLING, S.REVIEWING},
        {Role.SUPERVISOR: Scope.CENTRE},
    ),
    Kind.URGE_ACKNOWLEDGED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING, S.CLOSED},
        {S.DISPATCHED, S.HANDLING, S.REVIEWING, S.CLOSED},
        LEAD_ACTORS,
    ),
    Kind.ESCALATED: _rule(
        {S.DISPATCHED, S.HANDLING, S.REVIEWING},
        {S.DISPATCHED, S.HANDLING, S.REVIEWING},
        {Role.SUPERVISOR: Scope.CENTRE},
    ),
    # A supervisor rules a callback complaint unfounded: the reopened ticket closes.
    Kind.REOPEN_OVERRULED: _rule({S.HANDLING}, {S.CLOSED}, {Role.SUPERVISOR: Scope.CENTRE}),
    # Re-timing after a calendar or policy change: the system only, on running clocks.
    Kind.DEADLINES_RETIMED: _rule(set(CLOCKED_STATES), set(CLOCKED_STATES), {}),
    # Public or private (cases.public): the centre may decide in any state, the state stays.
    Kind.PUBLICITY_CHANGED: _rule(set(S), set(S), {Role.SUPERVISOR: Scope.CENTRE, **DISPATCHER}),
    # Sub-centres (分中心 / 分平台).
    Kind.TRANSFERRED: _rule({S.RECEIVED}, {S.RECEIVED}, {Role.DISPATCHER: Scope.CITY}),
    Kind.CENTRE_SIGNED: _rule({S.RECEIVED}, {S.RECEIVED}, {Role.DISPATCHER: Scope.SUBCENTRE}),
    Kind.CENTRE_RETURNED: _rule({S.RECEIVED}, {S.RECEIVED}, {Role.DISPATCHER: Scope.SUBCENTRE}),
}

#: Transitions the system itself may make (``actor=None``): the deadline scan urges,
#: the re-timing after a calendar or policy change.
SYSTEM_KINDS = frozenset({Kind.URGED, Kind.DEADLINES_RETIMED})


class WorkflowError(ValidationError):
    """The transition is not possible now, or its input is wrong."""

    def __init__(self, message, *, code=None, params=None):
        super().__init__(message, code=code, params=params)

    def __str__(self):
        return " ".join(self.messages)


class WorkflowPermissionError(PermissionDenied):
    """The actor may not perform this transition on this ticket."""

    def __init__(self, message, *, code=None):
        super().__init__(str(message))
        self.message = message
        self.code = code


# -- checks ------------------------------------------------------------------------


def _actor_role(actor) -> str | None:
    profile = staff_profile(actor)
    return profile.role if profile else None


def _in_subtree(actor, department_id) -> bool:
    unit_ids = user_unit_ids(actor)
    return department_id is not None and (unit_ids is None or department_id in unit_ids)


def awaits_centre_sign(ticket: Ticket) -> bool:
    """Transferred to a sub-centre that has not signed it yet."""
    return ticket.state == S.RECEIVED and ticket.centre_id is not None and ticket.centre_signed_at is None


def _scope_holds(scope: str, ticket: Ticket, actor) -> bool:
    if scope == Scope.ANY:
        return True
    if scope in (Scope.CENTRE, Scope.CITY, Scope.SUBCENTRE):
        centre = staff_centre(actor)
        if centre is None:
            return False
        if scope == Scope.CITY:
            return centre.citywide
        if scope == Scope.SUBCENTRE:
            return not centre.citywide and centre.owns(ticket)
        return centre.owns(ticket)
    if scope == Scope.LEAD:
        return _in_subtree(actor, ticket.lead_department_id)
    if scope == Scope.ASSIGNEE:
        return _in_subtree(actor, ticket.assignee_department_id)
    if scope == Scope.COHANDLER:
        unit_ids = user_unit_ids(actor)
        rows = getattr(ticket, "_cohandling_rows", None)  # set by allowed_actions
        if rows is not None:
            active = (CoHandling.Status.PENDING, CoHandling.Status.SIGNED)
            return unit_ids is None or any(s in active and d in unit_ids for d, s in rows)
        pending = ticket.cohandlings.filter(status__in=[CoHandling.Status.PENDING, CoHandling.Status.SIGNED])
        return unit_ids is None or pending.filter(department_id__in=unit_ids).exists()
    return False


def _authorize(kind: str, ticket: Ticket | None, actor) -> None:
    rule = TRANSITIONS[kind]
    label = Kind(kind).label
    if actor is None:
        if kind not in SYSTEM_KINDS:
            raise WorkflowPermissionError(ERR_NO_PROFILE, code="no_profile")
    elif not actor.is_superuser:
        role = _actor_role(actor)
        if role is None:
            raise WorkflowPermissionError(ERR_NO_PROFILE, code="no_profile")
        if role not in rule.roles:
            raise WorkflowPermissionError(ERR_ROLE % {"action": label}, code="role")
        if ticket is not None and not _scope_holds(rule.roles[role], ticket, actor):
            raise WorkflowPermissionError(ERR_SCOPE, code="scope")
        if (
            ticket is not None
            and rule.roles[role] == Scope.CENTRE
            and not staff_centre(actor).citywide
            and awaits_centre_sign(ticket)
        ):
            raise WorkflowError(ERR_CENTRE_UNSIGNED, code="centre_unsigned")
    state = ticket.state if ticket is not None else None
    if state not in rule.sources:
        raise WorkflowError(ERR_STATE, code="state", params={"state": S(state).label if state else "", "action": label})


def _has_application(kind):
    def check(ticket, actor):
        pending = getattr(ticket, "_pending_application_kinds", None)  # set by allowed_actions
        if pending is not None:
            return kind in pending
        return ticket.applications.filter(kind=kind, status=TicketApplication.Status.PENDING).exists()

    return check


def _has_cohandling(status):
    def check(ticket, actor):
        unit_ids = user_unit_ids(actor)
        rows = getattr(ticket, "_cohandling_rows", None)  # set by allowed_actions
        if rows is not None:
            return any(s == status and (unit_ids is None or d in unit_ids) for d, s in rows)
        rows = ticket.cohandlings.filter(status=status)
        return (rows if unit_ids is None else rows.filter(department_id__in=unit_ids)).exists()

    return check


#: Conditions beyond state, role and scope that decide whether an action button
#: makes sense at all (the transitions check them again, with a message).
PRECONDITIONS = {
    Kind.SUBDISPATCHED: lambda t, actor: t.signed_at is not None,
    Kind.RETURN_REQUESTED: lambda t, actor: not _has_application(TicketApplication.Kind.RETURN)(t, actor),
    Kind.RETURN_APPROVED: _has_application(TicketApplication.Kind.RETURN),
    Kind.RETURN_REJECTED: _has_application(TicketApplication.Kind.RETURN),
    Kind.EXTENSION_REQUESTED: lambda t, actor: (
        t.resolve_due_at is not None and not _has_application(TicketApplication.Kind.EXTENSION)(t, actor)
    ),
    Kind.EXTENSION_APPROVED: _has_application(TicketApplication.Kind.EXTENSION),
    Kind.EXTENSION_REJECTED: _has_application(TicketApplication.Kind.EXTENSION),
    Kind.HEAD_SIGNED: lambda t, actor: t.signoff_pending,
    Kind.HEAD_RETURNED: lambda t, actor: t.signoff_pending,
    Kind.SIGNOFF_REQUIRED: lambda t, actor: not t.head_signoff_required,
    Kind.URGE_ACKNOWLEDGED: lambda t, actor: t.urges.filter(acknowledged_at__isnull=True).exists(),
    Kind.REOPEN_OVERRULED: lambda t, actor: t.reopen_count > 0,
    Kind.COHANDLER_SIGNED: _has_cohandling(CoHandling.Status.PENDING),
    Kind.COHANDLER_REPLIED: _has_cohandling(CoHandling.Status.SIGNED),
    Kind.TRANSFERRED: lambda t, actor: subcentres().exclude(pk=t.centre_id).exists(),
    Kind.CENTRE_SIGNED: lambda t, actor: awaits_centre_sign(t),
}


def allowed_actions(ticket: Ticket, actor) -> list[str]:
    """The transitions ``actor`` may start on ``ticket`` now (for action buttons).
    Refusals that depend on the input (a late extension, a missing reason) are
    left to the transition itself."""
    kinds = []
    # Read the pending applications and co-handlings once for all the checks below.
    ticket._pending_application_kinds = set(
        ticket.applications.filter(status=TicketApplication.Status.PENDING).values_list("kind", flat=True)
    )
    ticket._cohandling_rows = list(ticket.cohandlings.values_list("department_id", "status"))
    try:
        for kind in TRANSITIONS:
            if not VERBS[kind].actionable:
                continue
            try:
                _authorize(kind, ticket, actor)
            except (WorkflowError, WorkflowPermissionError):
                continue
            check = PRECONDITIONS.get(kind)
            if check is None or check(ticket, actor):
                kinds.append(kind)
    finally:
        del ticket._pending_application_kinds, ticket._cohandling_rows
    return kinds


def _require_text(value: str, field) -> str:
    value = (value or "").strip()
    if not value:
        raise WorkflowError(ERR_REQUIRED_TEXT, code="required", params={"field": field})
    return value


def check_centre_target(actor, department: Department) -> None:
    """A sub-centre sends work only to units of its own subtree (the hotline centre
    anywhere)."""
    centre = staff_centre(actor)
    if centre is not None and not centre.covers(department.pk):
        raise WorkflowError(ERR_CENTRE_TARGET, code="centre_target", params={"name": department.name})


def _check_unit(department: Department) -> None:
    if not department.is_active:
        raise WorkflowError(ERR_DEPARTMENT_INACTIVE, code="inactive", params={"name": department.name})
    if department.kind in (Department.Kind.CENTRE, Department.Kind.CITY):
        raise WorkflowError(ERR_DEPARTMENT_KIND, code="department_kind", params={"name": department.name})
