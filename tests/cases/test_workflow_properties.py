"""Property: whatever sequence of actions anyone attempts, in whatever order and at
whatever time, a ticket never reaches an inconsistent state and its timeline
always explains where it is."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cases import workflow
from cases.models import DispatchHop, InvalidKind, ReplyResult, Ticket
from cases.selectors.scope import ticket_list
from cases.workflow import WorkflowError, WorkflowPermissionError
from departments.models import Department
from departments.roles import Role
from tests.cases.invariants import assert_consistent
from tests.conftest import add_subcentres, local, new_ticket
from tests.departments.factories import GridFactory, staff

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
    "district_handler",
    "community_b_handler",
    "gridworker2",
]
# "auto" picks the actor a real office would send for the action (most steps use
# it, so sequences get deep into the lifecycle); the named actors probe refusals.
NATURAL_ROLE = {
    "answer": "operator",
    "dispatch": "dispatcher",
    "dispatch_with_cohandler": "dispatcher",
    "dispatch_district": "dispatcher",
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
    "district": "district_handler",
    "community_b": "community_b_handler",
    "community2": "community2_handler",
    "street": "handler",
    "street2": "handler2",
    "community": "community_handler",
    "bureau": "bureau_handler",
    "bureau2": "bureau2_handler",
    "utility": "utility_handler",
}


def _handler_of(c, unit):
    for name, handler in HANDLER_OF.items():
        if unit is not None and getattr(c, name).pk == unit.pk:
            return getattr(c, handler)
    return None


def _natural_actor(c, action, ticket_pk, n):
    if action in NATURAL_ROLE:
        return getattr(c, NATURAL_ROLE[action])
    ticket = Ticket.objects.select_related("lead_department", "assignee_department", "assignee_worker").get(
        pk=ticket_pk
    )
    if action == "take_back":
        # Any unit on the chain above the holder: the lead or one in between.
        senders = list(
            DispatchHop.objects.filter(ticket=ticket, ended_at__isnull=True)
            .order_by("sent_at", "pk")
            .values_list("from_department", flat=True)
        )
        unit = Department.objects.get(pk=senders[n % len(senders)]) if senders else ticket.lead_department
        return _handler_of(c, unit) or c.dispatcher
    if ticket.assignee_worker is not None and action in ("sign", "contact", "progress", "hand_back"):
        return ticket.assignee_worker
    lead_actions = ("return_request", "objection_request", "arbitration_request", "extension_request")
    unit = ticket.lead_department if action in lead_actions else ticket.assignee_department
    for name, handler in HANDLER_OF.items():
        if unit is not None and getattr(c, name).pk == unit.pk:
            return getattr(c, handler)
    return c.dispatcher


UNITS = [
    "district",
    "street",
    "street2",
    "community",
    "community_b",
    "community2",
    "bureau",
    "bureau2",
    "utility",
    "centre",
]


def _down(c, t, actor, n):
    """下派 one level below the holder: the n-th child unit, or a grid of the community."""
    t = Ticket.objects.get(pk=t.pk)
    holder = t.assignee_department
    grids = list(holder.grids.order_by("pk")) if holder is not None else []
    children = list(Department.objects.filter(parent=holder).order_by("pk")) if holder is not None else []
    targets = [("department", u) for u in children] + [("grid", g) for g in grids]
    if not targets:
        return workflow.ticket_subdispatch(ticket=t, actor=actor, department=c.community)  # refused
    key, target = targets[n % len(targets)]
    return workflow.ticket_subdispatch(ticket=t, actor=actor, **{key: target})


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
        "dispatch_district": lambda: workflow.ticket_dispatch(ticket=t, actor=actor, department=c.district),
        "subdispatch_down": lambda: _down(c, t, actor, n),
        "subdispatch_grid": lambda: workflow.ticket_subdispatch(ticket=t, actor=actor, grid=[c.grid, c.grid2][n % 2]),
        "take_back": lambda: workflow.ticket_take_back(ticket=t, actor=actor),
        "hand_back": lambda: workflow.ticket_hand_back(ticket=t, actor=actor, note="已处置，交回"),
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
    "dispatch_district",
    "subdispatch_down",
    "subdispatch_grid",
    "take_back",
    "hand_back",
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
        # The main path twice as often as the side paths; the chain (下派, 签收, 收回,
        # 交回) as often again, so that sequences go several levels down and back.
        st.sampled_from(
            [*ACTIONS, "dispatch", "sign", "contact", "reply", "approve", "subdispatch_down", "sign", "hand_back"]
        ),
        st.sampled_from(["auto"] * len(ACTORS) * 2 + ACTORS),
        st.sampled_from(UNITS),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=30,
)


def _whole_tree(c):
    """Staff down the whole chain: the district's handler, the other communities'
    handlers, a second grid and its worker."""
    c.district_handler = staff(Role.HANDLER, c.district, "p_handler_district")
    c.community_b_handler = staff(Role.HANDLER, c.community_b, "p_handler_community_b")
    c.community2_handler = staff(Role.HANDLER, c.community2, "p_handler_community2")
    c.gridworker2 = staff(Role.GRID_WORKER, c.community_b, "p_gridworker2")
    c.grid2 = GridFactory(name="北小街一网格", code="P-BX-01", community=c.community_b, worker=c.gridworker2)


@pytest.fixture
def tree(city):
    """The city with staff down the whole chain, built once per test (not per example:
    each example runs in a transaction it rolls back, so every one meets the same tree)."""
    _whole_tree(city)
    return city


@pytest.fixture
def centres(city):
    """The city with its sub-centres and staff down the whole chain, built once per test."""
    _whole_tree(add_subcentres(city))
    return city


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_random_action_sequences_keep_tickets_consistent(tree, steps):
    city = tree
    with time_machine.travel(local(2026, 12, 24, 9, 0), tick=False) as clock, transaction.atomic():
        tickets = (new_ticket(city), new_ticket(city, citizen_phone="13900005678"))
        for action, actor_name, unit, n in steps:
            if action == "wait":
                # Sometimes hours, sometimes days: deadlines pass, extensions get late,
                # the calendar crosses into 2027.
                clock.shift(timedelta(hours=(n + 1) ** 3))
                continue
            if actor_name == "auto":
                actor = _natural_actor(city, action, tickets[0].pk, n)
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
            depth = DispatchHop.objects.filter(ticket=ticket).count()
            event(f"hops: {min(depth, 3)}{'+' if depth > 3 else ''}")
        transaction.set_rollback(True)


#: Down the chain most often (each hop needs its sign before the next), the ways back
#: and the actions around them less, a return (which ends the chain) seldom. A
#: re-dispatch is left to the test above: allowed while a hop waits for its sign,
#: it would cut most chains short here.
CHAIN_ACTIONS = [
    *["subdispatch_down"] * 5,
    *["sign"] * 5,
    "subdispatch_grid",
    "take_back",
    "take_back",
    "hand_back",
    "hand_back",
    "contact",
    "progress",
    "reply",
    "cohandlers_add",
    "return_request",
    "return_approve",
    "extension_request",
    "wait",
]

chain_steps = st.lists(
    st.tuples(
        st.sampled_from(CHAIN_ACTIONS),
        st.sampled_from(["auto"] * len(ACTORS) * 3 + ACTORS),
        st.sampled_from(UNITS),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=chain_steps)
def test_random_moves_along_the_chain_keep_it_a_chain(tree, steps):
    """From a ticket the district leads: random 下派 / 签收 / 收回 / 交回 and the
    actions around them, by the natural actor or anyone else. The holder stays
    inside the lead's subtree, at most one hop waits for a sign, and the open hops
    lead from the lead unit down to the holder (``assert_consistent``)."""
    city = tree
    with time_machine.travel(local(2026, 12, 24, 9, 0), tick=False) as clock, transaction.atomic():
        t = new_ticket(city)
        t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.district)
        t = workflow.ticket_sign(ticket=t, actor=city.district_handler)
        tickets = (t, new_ticket(city, citizen_phone="13900005678"))
        deepest = 0
        for action, actor_name, unit, n in steps:
            if action == "wait":
                clock.shift(timedelta(hours=(n + 1) ** 2))
                continue
            actor = _natural_actor(city, action, t.pk, n) if actor_name == "auto" else getattr(city, actor_name)
            try:
                _call(action, city, tickets, actor, unit, n)
            except (WorkflowError, WorkflowPermissionError):
                pass
            assert_consistent(t)
            open_hops = DispatchHop.objects.filter(ticket=t, ended_at__isnull=True)
            assert open_hops.filter(signed_at__isnull=True).count() <= 1
            deepest = max(deepest, open_hops.count())
        event(f"deepest chain: {deepest}")
        transaction.set_rollback(True)


# -- with sub-centres (分中心): transfers, and sub-centre staff acting ----------------------------

SUB_ACTORS = ["sub_dispatcher", "sub_supervisor", "sub_callback", "sub_operator", "west_dispatcher", "west_supervisor"]
SUB_ACTIONS = [*ACTIONS, "transfer", "transfer_west", "centre_sign", "centre_return"]
SUB_UNITS = [*UNITS, "street_w", "district"]
#: Who a real office sends: the owning sub-centre's people, else the city's.
SUB_NATURAL = {"transfer": "dispatcher", "transfer_west": "dispatcher"}


def _sub_natural_actor(c, action, ticket_pk, n):
    ticket = Ticket.objects.get(pk=ticket_pk)
    if action in SUB_NATURAL:
        return getattr(c, SUB_NATURAL[action])
    owner = {c.district.pk: "sub", c.district_w.pk: "west"}.get(ticket.centre_id)
    if owner and (action in ("centre_sign", "centre_return") or NATURAL_ROLE.get(action) == "dispatcher"):
        return getattr(c, f"{owner}_dispatcher")
    if owner == "sub" and NATURAL_ROLE.get(action) in ("supervisor", "callback", "operator"):
        return getattr(c, f"sub_{NATURAL_ROLE[action]}")
    if action == "sign" and ticket.assignee_department_id == c.street_w.pk:
        return c.handler_w
    return _natural_actor(c, action, ticket_pk, n)


def _sub_call(name, c, tickets, actor, unit, n):
    t = tickets[0]
    calls = {
        "transfer": lambda: workflow.ticket_transfer(ticket=t, actor=actor, centre=c.district),
        "transfer_west": lambda: workflow.ticket_transfer(ticket=t, actor=actor, centre=c.district_w),
        "centre_sign": lambda: workflow.ticket_centre_sign(ticket=t, actor=actor),
        "centre_return": lambda: workflow.ticket_centre_return(ticket=t, actor=actor, reason="不属本区"),
    }
    if name in calls:
        return calls[name]()
    return _call(name, c, tickets, actor, unit, n)


def _assert_centres_hold(c, tickets):
    """A sub-centre never dispatches outside its subtree; its staff never see outside it."""
    subtree = {
        c.district.pk: set(c.district.descendants().values_list("pk", flat=True)),
        c.district_w.pk: set(c.district_w.descendants().values_list("pk", flat=True)),
    }
    centre_of = {getattr(c, name).pk: unit.pk for name, unit in _sub_staff(c)}
    for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        for e in ticket.events.filter(kind=workflow.Kind.DISPATCHED, actor_id__in=list(centre_of)):
            sent = [e.data["department"]["id"], *[d["id"] for d in e.data["cohandlers"]]]
            assert set(sent) <= subtree[centre_of[e.actor_id]], (e.pk, sent)
    for name, unit in _sub_staff(c):
        for ticket in ticket_list(user=getattr(c, name)):
            held = {ticket.lead_department_id, ticket.assignee_department_id}
            held |= set(ticket.cohandlings.exclude(status="cancelled").values_list("department_id", flat=True))
            assert ticket.centre_id == unit.pk or held & subtree[unit.pk], (name, ticket.number)


def _sub_staff(c):
    return [(name, c.district if name.startswith("sub_") else c.district_w) for name in SUB_ACTORS]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([*SUB_ACTIONS, "transfer", "centre_sign", "dispatch", "sign", "contact", "reply"]),
            st.sampled_from(["auto"] * (len(ACTORS) + len(SUB_ACTORS)) * 2 + ACTORS + SUB_ACTORS),
            st.sampled_from(SUB_UNITS),
            st.integers(min_value=0, max_value=3),
        ),
        min_size=1,
        max_size=30,
    ),
    start=st.sampled_from(["city", "east", "east_signed", "east_intake", "west_signed"]),
)
def test_random_sequences_with_sub_centres_keep_them_in_their_subtree(centres, steps, start):
    c = centres
    with time_machine.travel(local(2026, 12, 24, 9, 0), tick=False) as clock, transaction.atomic():
        first = new_ticket(c, actor=c.sub_operator if start == "east_intake" else c.operator)
        if start in ("east", "east_signed", "west_signed"):
            centre = c.district_w if start == "west_signed" else c.district
            first = workflow.ticket_transfer(ticket=first, actor=c.dispatcher, centre=centre)
        if start in ("east_signed", "west_signed"):
            first = workflow.ticket_centre_sign(
                ticket=first, actor=c.west_dispatcher if start == "west_signed" else c.sub_dispatcher
            )
        tickets = (first, new_ticket(c, citizen_phone="13900005678"))
        for action, actor_name, unit, n in steps:
            if action == "wait":
                clock.shift(timedelta(hours=(n + 1) ** 3))
                continue
            actor = _sub_natural_actor(c, action, tickets[0].pk, n) if actor_name == "auto" else getattr(c, actor_name)
            try:
                _sub_call(action, c, tickets, actor, unit, n)
            except (WorkflowError, WorkflowPermissionError):
                pass
            for ticket in tickets:
                assert_consistent(ticket)
            _assert_centres_hold(c, tickets)
        ticket = Ticket.objects.get(pk=tickets[0].pk)
        event(f"reached {ticket.state} at {'a sub-centre' if ticket.centre_id else 'the city'}")
        transaction.set_rollback(True)
