"""Property: whatever sequence of actions anyone attempts, in whatever order and at
whatever time, a ticket never reaches an inconsistent state and its timeline
always explains where it is."""

from datetime import timedelta

import time_machine
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cases import workflow
from cases.models import InvalidKind, ReplyResult, Ticket
from cases.workflow import WorkflowError, WorkflowPermissionError
from tests.cases.invariants import assert_consistent
from tests.conftest import local, new_ticket

ACTORS = [
    "utility_handler",
    "operator",
    "dispatcher",
    "supervisor",
    "callback",
    "leader",
    "handler",
    "head",
    "handler2",
    "community_handler",
    "bureau_handler",
    "bureau2_handler",
    "gridworker",
]
# "auto" picks the actor a real office would send for the action (most steps use
# it, so sequences get deep into the lifecycle); the named actors probe refusals.
NATURAL_ROLE = {
    "answer": "operator",
    "dispatch": "dispatcher",
    "dispatch_with_cohandler": "dispatcher",
    "approve": "dispatcher",
    "rework": "dispatcher",
    "return_approve": "dispatcher",
    "return_reject": "dispatcher",
    "objection_uphold": "dispatcher",
    "objection_reject": "dispatcher",
    "arbitration_rule": "dispatcher",
    "extension_approve": "dispatcher",
    "extension_reject": "dispatcher",
    "merge_other_into_this": "dispatcher",
    "merge_this_into_other": "operator",
    "invalidate": "operator",
    "reopen": "callback",
    "require_signoff": "supervisor",
    "escalate": "supervisor",
    "urge": "supervisor",
    "overrule": "supervisor",
    "head_sign": "head",
    "head_return": "head",
    "cohandler_sign": "bureau_handler",
    "cohandler_reply": "bureau_handler",
}
HANDLER_OF = {
    "street": "handler",
    "street2": "handler2",
    "community": "community_handler",
    "bureau": "bureau_handler",
    "bureau2": "bureau2_handler",
    "utility": "utility_handler",
}


def _natural_actor(c, action, ticket_pk):
    if action in NATURAL_ROLE:
        return getattr(c, NATURAL_ROLE[action])
    ticket = Ticket.objects.select_related("lead_department", "assignee_department").get(pk=ticket_pk)
    unit = (
        ticket.lead_department
        if action in ("subdispatch", "return_request", "objection_request", "arbitration_request", "extension_request")
        else (ticket.assignee_department)
    )
    for name, handler in HANDLER_OF.items():
        if unit is not None and getattr(c, name).pk == unit.pk:
            return getattr(c, handler)
    return c.dispatcher


UNITS = ["street", "street2", "community", "community2", "bureau", "bureau2", "utility", "centre"]


def _call(name, c, tickets, actor, unit, n):
    t, other = tickets
    unit = getattr(c, unit)
    calls = {
        "answer": lambda: workflow.ticket_answer(ticket=t, actor=actor, text="已答复"),
        "dispatch": lambda: workflow.ticket_dispatch(ticket=t, actor=actor, department=unit),
        "dispatch_with_cohandler": lambda: workflow.ticket_dispatch(
            ticket=t, actor=actor, department=c.street, cohandlers=[c.bureau]
        ),
        "subdispatch": lambda: workflow.ticket_subdispatch(ticket=t, actor=actor, department=unit),
        "sign": lambda: workflow.ticket_sign(ticket=t, actor=actor),
        "contact": lambda: workflow.ticket_contact(ticket=t, actor=actor, note="已电话联系"),
        "progress": lambda: workflow.ticket_progress(ticket=t, actor=actor, note="处理中"),
        "reply": lambda: workflow.ticket_reply(
            ticket=t, actor=actor, result=list(ReplyResult)[n % 3], text="已处理", reason="客观条件不具备" if n else ""
        ),
        "approve": lambda: workflow.ticket_approve(ticket=t, actor=actor),
        "rework": lambda: workflow.ticket_rework(ticket=t, actor=actor, reason="答非所问"),
        "return_request": lambda: workflow.ticket_return_request(ticket=t, actor=actor, reason="非本单位职责"),
        "return_approve": lambda: workflow.ticket_return_approve(ticket=t, actor=actor),
        "return_reject": lambda: workflow.ticket_return_reject(ticket=t, actor=actor, reason="属地负责"),
        "objection_request": lambda: workflow.ticket_objection_request(ticket=t, actor=actor, reason="属职能部门职责"),
        "objection_uphold": lambda: workflow.ticket_objection_uphold(ticket=t, actor=actor),
        "objection_reject": lambda: workflow.ticket_objection_reject(ticket=t, actor=actor, reason="属地负责"),
        "arbitration_request": lambda: workflow.ticket_arbitration_request(ticket=t, actor=actor, reason="协办不配合"),
        "arbitration_rule": lambda: workflow.ticket_arbitration_rule(
            ticket=t, actor=actor, note="裁定", redispatch=n % 2 == 1
        ),
        "extension_request": lambda: workflow.ticket_extension_request(
            ticket=t, actor=actor, working_days=n + 1, reason="需协调"
        ),
        "extension_approve": lambda: workflow.ticket_extension_approve(ticket=t, actor=actor),
        "extension_reject": lambda: workflow.ticket_extension_reject(ticket=t, actor=actor, reason="可按期办结"),
        "cohandlers_add": lambda: workflow.ticket_cohandlers_add(ticket=t, actor=actor, departments=[unit]),
        "cohandler_sign": lambda: workflow.ticket_cohandler_sign(ticket=t, actor=actor),
        "cohandler_reply": lambda: workflow.ticket_cohandler_reply(ticket=t, actor=actor, text="协办意见"),
        "merge_other_into_this": lambda: workflow.ticket_merge(ticket=other, actor=actor, master=t),
        "merge_this_into_other": lambda: workflow.ticket_merge(ticket=t, actor=actor, master=other),
        "invalidate": lambda: workflow.ticket_invalidate(
            ticket=t, actor=actor, kind=InvalidKind.HARASSMENT, reason="骚扰"
        ),
        "reopen": lambda: workflow.ticket_reopen(ticket=t, actor=actor, reason="回访不满意"),
        "require_signoff": lambda: workflow.ticket_require_signoff(ticket=t, actor=actor, reason="一把手签批"),
        "head_sign": lambda: workflow.ticket_head_sign(ticket=t, actor=actor),
        "head_return": lambda: workflow.ticket_head_return(ticket=t, actor=actor, reason="补充材料"),
        "escalate": lambda: workflow.ticket_escalate(ticket=t, actor=actor, leader=c.leader, reason="双交办"),
        "urge": lambda: workflow.ticket_urge(ticket=t, actor=actor, kind=["phone", "written"][n % 2], content="催办"),
        "urge_ack": lambda: (
            workflow.ticket_urge_acknowledge(ticket=t, actor=actor, urge=t.urges.order_by("pk").last(), reply="已办")
            if t.urges.exists()
            else None
        ),
        "overrule": lambda: workflow.ticket_overrule_reopen(ticket=t, actor=actor, reason="不合理诉求"),
    }
    return calls[name]()


ACTIONS = [
    "answer",
    "dispatch",
    "dispatch_with_cohandler",
    "subdispatch",
    "sign",
    "contact",
    "progress",
    "reply",
    "approve",
    "rework",
    "return_request",
    "return_approve",
    "return_reject",
    "objection_request",
    "objection_uphold",
    "objection_reject",
    "arbitration_request",
    "arbitration_rule",
    "extension_request",
    "extension_approve",
    "extension_reject",
    "cohandlers_add",
    "cohandler_sign",
    "cohandler_reply",
    "merge_other_into_this",
    "merge_this_into_other",
    "invalidate",
    "reopen",
    "require_signoff",
    "head_sign",
    "head_return",
    "escalate",
    "urge",
    "urge_ack",
    "overrule",
    "wait",
]

steps = st.lists(
    st.tuples(
        # The main path twice as often as the side paths.
        st.sampled_from([*ACTIONS, "dispatch", "sign", "contact", "reply", "approve"]),
        st.sampled_from(["auto"] * len(ACTORS) * 2 + ACTORS),
        st.sampled_from(UNITS),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_random_action_sequences_keep_tickets_consistent(city, steps):
    with time_machine.travel(local(2026, 12, 24, 9, 0), tick=False) as clock, transaction.atomic():
        tickets = (new_ticket(city), new_ticket(city, citizen_phone="13900005678"))
        for action, actor_name, unit, n in steps:
            if action == "wait":
                # Sometimes hours, sometimes days: deadlines pass, extensions get late,
                # the calendar crosses into 2027.
                clock.shift(timedelta(hours=(n + 1) ** 3))
                continue
            if actor_name == "auto":
                actor = _natural_actor(city, action, tickets[0].pk)
            else:
                actor = getattr(city, actor_name)
            try:
                _call(action, city, tickets, actor, unit, n)
            except (WorkflowError, WorkflowPermissionError):
                pass
            for ticket in tickets:
                assert_consistent(ticket)
        for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
            event(f"reached {ticket.state}")
        transaction.set_rollback(True)
