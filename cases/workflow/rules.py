"""The rules of the workflow (DESIGN §4): which role may start which transition
from which state on which tickets (``TRANSITIONS``), the extra conditions an action
button needs (``PRECONDITIONS``), and the refusals.

Refusals raise ``WorkflowPermissionError`` (a ``PermissionDenied``: the actor may
not do this to this ticket) or ``WorkflowError`` (a ``ValidationError``: wrong
state or bad input). The admin shows both in the form; the API answers 403 / 400.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from departments.models import Department
from departments.roles import Role
from departments.selectors import staff_profile

from ..models import (
    CLOCKED_STATES,
    CoHandling,
    DispatchHop,
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
ERR_SUBDISPATCH_GRID = _("只能下派给本社区网格的网格员。")
ERR_GRID_NO_WORKER = _("网格“%(name)s”没有网格员。")
ERR_SUBDISPATCH_ONE_TARGET = _("请选择一个下级单位或一个网格。")
ERR_NO_CHAIN = _("工单没有下派给下级，无可收回或交回。")
ERR_TAKE_BACK_SELF = _("工单已在本单位办理，无需收回。")
ERR_HAND_BACK_UNSIGNED = _("请先签收，再交回上级。")
ERR_REPLY_BY_LEAD = _("工单已下派至“%(name)s”，请待其交回或收回后，由主办单位反馈。")
ERR_COHANDLER_OUT_OF_RULES = _("“%(name)s”不在本单位可召集的范围内：可召集职能部门、公共服务企业和本单位的下级单位。")
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
ERR_FIRST_RECEIVER = _(
    "首接负责制：本工单有协办单位，主办单位须牵头协调办理，不能申请退单或提出派单异议；可增加协办单位，或申请中心协调。"
)
ERR_NOT_MULTI_UNIT = _("只有有协办单位的工单（首接负责制）才需申请中心协调；单一单位工单可申请退单。")
ERR_NOT_DISPATCHED = _("该工单不是由热线中心派给本单位的，不能提出派单异议。")
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
    #: The holder itself: while the ticket is down the chain (cases.workflow.chain),
    #: the actor's own unit is the unit holding it (not one above); while the lead
    #: holds it, the lead lies in the actor's subtree (as ASSIGNEE).
    HOLDER = "holder"
    WORKER = "worker"  # a grid worker the ticket was passed down to (Ticket.assignee_worker)
    CHAIN = "chain"  # the actor's unit passed the ticket down the open chain (take-back)
    LEAD_OR_HOLDER = "lead_or_holder"  # LEAD or HOLDER (吹哨: the lead or the holder)


UNIT_ACTORS = {Role.HANDLER: Scope.ASSIGNEE, Role.UNIT_HEAD: Scope.ASSIGNEE}
LEAD_ACTORS = {Role.HANDLER: Scope.LEAD, Role.UNIT_HEAD: Scope.LEAD}
COHANDLER_ACTORS = {Role.HANDLER: Scope.COHANDLER, Role.UNIT_HEAD: Scope.COHANDLER}
HOLDER_ACTORS = {Role.HANDLER: Scope.HOLDER, Role.UNIT_HEAD: Scope.HOLDER}
CHAIN_ACTORS = {Role.HANDLER: Scope.CHAIN, Role.UNIT_HEAD: Scope.CHAIN}
GRID_WORKER = {Role.GRID_WORKER: Scope.WORKER}
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
    # 下派 down the chain (区 → 街道 → 社区 → 网格员): by the holder, once it has signed.
    Kind.SUBDISPATCHED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED}, HOLDER_ACTORS),
    # 收回: a unit above the holder on the open chain pulls the ticket back to itself.
    Kind.TAKEN_BACK: _rule({S.DISPATCHED, S.HANDLING}, {S.HANDLING}, CHAIN_ACTORS),
    # 交回上级: the holder (not the lead) gives it back to the unit that sent it.
    Kind.HANDED_BACK: _rule({S.DISPATCHED, S.HANDLING}, {S.HANDLING}, {**HOLDER_ACTORS, **GRID_WORKER}),
    Kind.SIGNED: _rule({S.DISPATCHED}, {S.HANDLING}, {**HOLDER_ACTORS, **GRID_WORKER}),
    Kind.CONTACTED: _rule({S.HANDLING}, {S.HANDLING}, {**UNIT_ACTORS, **GRID_WORKER}),
    Kind.PROGRESS: _rule({S.HANDLING}, {S.HANDLING}, {**UNIT_ACTORS, **GRID_WORKER}),
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
    # 吹哨报到: the centre, the lead unit, or the unit holding the ticket down the chain
    # (whom a unit may summon: ``cohandler_allowed``).
    Kind.COHANDLERS_ADDED: _rule(
        {S.DISPATCHED, S.HANDLING},
        {S.DISPATCHED, S.HANDLING},
        {**DISPATCHER, Role.HANDLER: Scope.LEAD_OR_HOLDER, Role.UNIT_HEAD: Scope.LEAD_OR_HOLDER},
    ),
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
    # 派单异议: the lead unit objects to the dispatch itself; the centre rules. Upheld,
    # the ticket goes back for re-dispatch like an approved return (see ticket_objection_request).
    Kind.OBJECTION_REQUESTED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, LEAD_ACTORS),
    Kind.OBJECTION_UPHELD: _rule({S.DISPATCHED, S.HANDLING}, {S.RECEIVED}, DISPATCHER),
    Kind.OBJECTION_REJECTED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, DISPATCHER),
    # 首接负责制: the lead unit of a multi-unit ticket asks the centre to arbitrate; the
    # centre keeps the lead, or takes the ticket back to dispatch it to another lead.
    Kind.ARBITRATION_REQUESTED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING}, LEAD_ACTORS),
    Kind.ARBITRATION_RULED: _rule({S.DISPATCHED, S.HANDLING}, {S.DISPATCHED, S.HANDLING, S.RECEIVED}, DISPATCHER),
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


def ticket_is_down_the_chain(ticket: Ticket) -> bool:
    """The lead unit has passed the ticket down (it has open hops): a unit below
    the lead, or a grid worker, holds it."""
    return ticket.assignee_worker_id is not None or ticket.assignee_department_id != ticket.lead_department_id


def _holds(actor, ticket: Ticket) -> bool:
    if ticket.assignee_worker_id is not None:
        return False  # a grid worker holds it
    if ticket_is_down_the_chain(ticket):
        profile = staff_profile(actor)
        return profile is not None and profile.department_id == ticket.assignee_department_id
    return _in_subtree(actor, ticket.assignee_department_id)


def chain_senders(ticket: Ticket) -> set[int]:
    """The units that passed the ticket down its open chain (the lead first)."""
    if getattr(ticket, "has_chain", None) is False:  # read with the ticket (chain.chain_is_open)
        return set()
    return set(
        DispatchHop.objects.filter(ticket_id=ticket.pk, ended_at__isnull=True).values_list(
            "from_department_id", flat=True
        )
    )


def awaits_centre_sign(ticket: Ticket) -> bool:
    """Transferred to a sub-centre that has not signed it yet."""
    return ticket.state == S.RECEIVED and ticket.centre_id is not None and ticket.centre_signed_at is None


def _scope_holds(scope: str, ticket: Ticket, actor) -> bool:
    if scope == Scope.ANY:
        return True
    if scope == Scope.HOLDER:
        return _holds(actor, ticket)
    if scope == Scope.WORKER:
        return ticket.assignee_worker_id is not None and ticket.assignee_worker_id == actor.pk
    if scope == Scope.CHAIN:
        profile = staff_profile(actor)
        return profile is not None and profile.department_id in chain_senders(ticket)
    if scope == Scope.LEAD_OR_HOLDER:
        return _in_subtree(actor, ticket.lead_department_id) or _holds(actor, ticket)
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


def first_receiver_bound(ticket: Ticket) -> bool:
    """首接负责制 (DESIGN §4) applies: the setting is on and the ticket is a multi-unit
    ticket — it has co-handlers (any co-handling not withdrawn). The first receiving
    unit is then the lead unit the centre's dispatch named (``lead_department``; a
    sub-dispatch down its own tree does not change it): it coordinates the ticket
    and may neither ask to return it nor object to the dispatch. It may add
    co-handlers and ask the centre to arbitrate (申请中心协调): the centre keeps the
    lead, or takes the ticket back to dispatch it to another lead."""
    if not settings.FIRST_RECEIVER_DUTY:
        return False
    rows = getattr(ticket, "_cohandling_rows", None)  # set by allowed_actions
    if rows is not None:
        return any(status != CoHandling.Status.CANCELLED for _unit, status in rows)
    return ticket.cohandlings.exclude(status=CoHandling.Status.CANCELLED).exists()


def _may_push_away(kind):
    """A return or an objection: none of either pending, and no first-receiver duty."""

    def check(ticket, actor):
        pending = _has_application(TicketApplication.Kind.RETURN)(ticket, actor) or _has_application(
            TicketApplication.Kind.OBJECTION
        )(ticket, actor)
        return not pending and not first_receiver_bound(ticket)

    return check


#: Conditions beyond state, role and scope that decide whether an action button
#: makes sense at all (the transitions check them again, with a message).
PRECONDITIONS = {
    Kind.SUBDISPATCHED: lambda t, actor: t.state == S.HANDLING,
    Kind.HANDED_BACK: lambda t, actor: t.state == S.HANDLING and ticket_is_down_the_chain(t),
    Kind.REPLIED: lambda t, actor: not ticket_is_down_the_chain(t),
    Kind.RETURN_REQUESTED: _may_push_away(TicketApplication.Kind.RETURN),
    Kind.OBJECTION_REQUESTED: _may_push_away(TicketApplication.Kind.OBJECTION),
    Kind.ARBITRATION_REQUESTED: lambda t, actor: (
        first_receiver_bound(t) and not _has_application(TicketApplication.Kind.ARBITRATION)(t, actor)
    ),
    Kind.ARBITRATION_RULED: _has_application(TicketApplication.Kind.ARBITRATION),
    Kind.OBJECTION_UPHELD: _has_application(TicketApplication.Kind.OBJECTION),
    Kind.OBJECTION_REJECTED: _has_application(TicketApplication.Kind.OBJECTION),
    Kind.RETURN_APPROVED: _has_application(TicketApplication.Kind.RETURN),
    Kind.RETURN_REJECTED: _has_application(TicketApplication.Kind.RETURN),
    Kind.EXTENSION_REQUESTED: lambda t, actor: (
        t.resolve_due_at is not None and not _has_application(TicketApplication.Kind.EXTENSION)(t, actor)
    ),
    Kind.EXTENSION_APPROVED: _has_application(TicketApplication.Kind.EXTENSION),
    Kind.EXTENSION_REJECTED: _has_application(TicketApplication.Kind.EXTENSION),
    Kind.HEAD_SIGNED: lambda t, actor: t.signoff_pending and not ticket_is_down_the_chain(t),
    Kind.HEAD_RETURNED: lambda t, actor: t.signoff_pending,
    Kind.SIGNOFF_REQUIRED: lambda t, actor: not t.head_signoff_required,
    Kind.URGE_ACKNOWLEDGED: lambda t, actor: (
        # has_urges: read with the ticket by the ticket page (no urge at all: none open)
        getattr(t, "has_urges", True) and t.urges.filter(acknowledged_at__isnull=True).exists()
    ),
    Kind.REOPEN_OVERRULED: lambda t, actor: t.reopen_count > 0,
    Kind.COHANDLER_SIGNED: _has_cohandling(CoHandling.Status.PENDING),
    Kind.COHANDLER_REPLIED: _has_cohandling(CoHandling.Status.SIGNED),
    Kind.TRANSFERRED: lambda t, actor: subcentres().exclude(pk=t.centre_id).exists(),
    Kind.CENTRE_SIGNED: lambda t, actor: awaits_centre_sign(t),
}


def allowed_actions(ticket: Ticket, actor, *, applications=None, cohandlings=None) -> list[str]:
    """The transitions ``actor`` may start on ``ticket`` now (for action buttons).
    Refusals that depend on the input (a late extension, a missing reason) are
    left to the transition itself. ``applications`` and ``cohandlings``: the
    ticket's rows when the caller has read them already (the ticket page)."""
    kinds = []
    # Read the pending applications and co-handlings once for all the checks below.
    if applications is None:
        pending = ticket.applications.filter(status=TicketApplication.Status.PENDING).values_list("kind", flat=True)
    else:
        pending = [a.kind for a in applications if a.status == TicketApplication.Status.PENDING]
    ticket._pending_application_kinds = set(pending)
    if cohandlings is None:
        ticket._cohandling_rows = list(ticket.cohandlings.values_list("department_id", "status"))
    else:
        ticket._cohandling_rows = [(row.department_id, row.status) for row in cohandlings]
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


def cohandler_allowed(actor, ticket: Ticket, unit: Department) -> bool:
    """吹哨报到 "within the rules": whom ``actor`` may bring in as a co-handler.
    The centre (citywide roles, superusers) may add any handling unit. The lead
    unit, or the unit holding the ticket down the chain, may summon bureaus and
    public-service companies (部门报到) and units inside its own subtree — not a
    sibling street or another district's units, which go through the centre."""
    unit_ids = user_unit_ids(actor)
    if unit_ids is None:
        return True
    return unit.kind in (Department.Kind.BUREAU, Department.Kind.COMPANY) or unit.pk in unit_ids
