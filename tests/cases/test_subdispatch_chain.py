"""Sub-dispatch down the whole chain (DESIGN §4: 区 → 街道 → 社区 → 网格员): each hop
recorded and signed by its receiver on its own sign clock, taken back by a unit
above, handed back by the holder; the lead unit stays accountable and replies;
any holder may blow the whistle (吹哨) within the rules."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from cases import workflow
from cases.deadlines.calendar import get_calendar
from cases.deadlines.policy import clock_times, deadline_limits
from cases.deadlines.scan import deadline_scan
from cases.models import DispatchHop, Notification, Reminder, ReplyResult, Ticket, TicketEvent, TicketState
from cases.selectors.queues import queue_counts
from cases.selectors.scope import ticket_list
from cases.workflow import WorkflowError, WorkflowPermissionError
from cases.workflow.chain import ticket_chain
from cases.workflow.events import event_detail
from departments.roles import Role
from tests.cases.invariants import assert_consistent
from tests.conftest import local, new_ticket
from tests.departments.factories import GridFactory, staff

S = TicketState
Kind = TicketEvent.Kind
End = DispatchHop.End
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def tree(city):
    """The city, with a district handler and head, a second community's handler and
    a second grid (in another community) with its own worker."""
    city.district_handler = staff(Role.HANDLER, city.district, "handler_district", last_name="冯", first_name="军")
    city.district_head = staff(Role.UNIT_HEAD, city.district, "head_district", last_name="陈", first_name="伟")
    city.community_b_handler = staff(
        Role.HANDLER, city.community_b, "handler_community_b", last_name="杜", first_name="梅"
    )
    city.gridworker2 = staff(Role.GRID_WORKER, city.community_b, "gridworker2", last_name="邓", first_name="超")
    city.grid2 = GridFactory(name="北小街一网格", code="G-BX-01", community=city.community_b, worker=city.gridworker2)
    return city


def refused(exc_info, message):
    return str(exc_info.value.message) == str(message)


def at_district(c):
    """A ticket dispatched to the district (the lead), signed and contacted there."""
    ticket = workflow.ticket_dispatch(ticket=new_ticket(c), actor=c.dispatcher, department=c.district)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.district_handler)
    return workflow.ticket_contact(ticket=ticket, actor=c.district_handler, note="已电话联系。")


def down_to_worker(c, clock=None):
    """区 → 街道 → 社区 → 网格员, each hop signed by its receiver."""
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.handler, department=c.community)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.community_handler)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.community_handler, grid=c.grid)
    return ticket


def chain_of(ticket):
    return [(h.from_department_id, h.to_department_id, h.to_worker_id) for h in ticket_chain(ticket)]


# -- the whole chain ------------------------------------------------------------------


def test_district_to_street_to_community_to_grid_worker_and_back_up(tree, clock):
    c = tree
    ticket = at_district(c)
    resolve = ticket.resolve_due_at
    ticket = down_to_worker(c)
    assert (ticket.state, ticket.assignee_department, ticket.assignee_worker) == (
        S.DISPATCHED,
        c.community,
        c.gridworker,
    )
    assert ticket.lead_department == c.district and ticket.resolve_due_at == resolve  # the lead stays accountable
    assert chain_of(ticket) == [
        (c.district.pk, c.street.pk, None),
        (c.street.pk, c.community.pk, None),
        (c.community.pk, c.community.pk, c.gridworker.pk),
    ]
    # The grid worker signs, contacts, records the work and hands it back up.
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.gridworker)
    ticket = workflow.ticket_contact(ticket=ticket, actor=c.gridworker, note="上门查看。")
    ticket = workflow.ticket_progress(ticket=ticket, actor=c.gridworker, note="已协调物业排气。")
    ticket = workflow.ticket_hand_back(ticket=ticket, actor=c.gridworker, note="现场已处置，室温恢复。")
    assert (ticket.state, ticket.assignee_department, ticket.assignee_worker) == (S.HANDLING, c.community, None)
    ticket = workflow.ticket_hand_back(ticket=ticket, actor=c.community_handler, note="社区已办结。")
    ticket = workflow.ticket_hand_back(ticket=ticket, actor=c.handler, note="街道已核实。")
    assert (ticket.assignee_department, chain_of(ticket)) == (c.district, [])
    # The lead replies to the centre.
    ticket = workflow.ticket_reply(ticket=ticket, actor=c.district_handler, result=ReplyResult.SOLVED, text="已解决")
    assert ticket.state == S.REVIEWING
    hops = list(DispatchHop.objects.filter(ticket=ticket).order_by("sent_at", "pk"))
    assert [h.end for h in hops] == [End.HANDED_BACK] * 3
    assert all(h.signed_at and h.on_time for h in hops)
    kinds = [e.kind for e in ticket.events.order_by("created_at", "pk")]
    assert kinds.count(Kind.SUBDISPATCHED) == 3 and kinds.count(Kind.HANDED_BACK) == 3
    assert_consistent(ticket)


def test_the_timeline_names_each_hop(tree, clock):
    c = tree
    ticket = down_to_worker(c)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.gridworker)
    ticket = workflow.ticket_take_back(ticket=ticket, actor=c.handler)
    details = [event_detail(e) for e in ticket.events.filter(kind__in=[Kind.SUBDISPATCHED, Kind.TAKEN_BACK])]
    assert details == [
        "城东区 → 东关大街街道",
        "东关大街街道 → 东关社区",
        "东关社区 → 韩秀兰",
        "韩秀兰 → 东关大街街道",
    ]


# -- who may do what along the chain ---------------------------------------------------------


def test_each_hop_is_signed_by_its_receiver_before_it_goes_further(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    # The unit above does not sign for the receiver; a sibling street cannot either.
    for actor in (c.district_handler, c.district_head, c.handler2, c.community_handler):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_sign(ticket=ticket, actor=actor)
    # Unsigned, the hop cannot be passed further.
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=c.handler, department=c.community)
    assert refused(exc, workflow.ERR_SUBDISPATCH_UNSIGNED)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.handler, department=c.community)
    assert ticket.assignee_department == c.community
    assert_consistent(ticket)


@pytest.mark.parametrize("actor", ["handler2", "community_b_handler", "bureau_handler", "gridworker", "dispatcher"])
def test_only_the_holder_passes_it_down(tree, clock, actor):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_subdispatch(ticket=ticket, actor=getattr(c, actor), department=c.community)
    # Neither may the district, which passed it on: it takes it back instead.
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street2)


def test_targets_are_one_level_down(tree, clock):
    c = tree
    ticket = at_district(c)
    for target in (c.community, c.bureau, c.district):  # skips a level, a bureau, itself
        with pytest.raises(WorkflowError) as exc:
            workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=target)
        assert exc.value.code in ("target", "department_kind")
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, grid=c.grid)
    assert refused(exc, workflow.ERR_SUBDISPATCH_GRID)  # a grid only from its own community
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler)
    assert refused(exc, workflow.ERR_SUBDISPATCH_ONE_TARGET)


def test_a_community_passes_to_its_own_grids_worker_only(tree, clock):
    c = tree
    ticket = down_to_worker(c)
    ticket = workflow.ticket_take_back(ticket=ticket, actor=c.community_handler)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=c.community_handler, grid=c.grid2)
    assert refused(exc, workflow.ERR_SUBDISPATCH_GRID)
    empty = GridFactory(name="空网格", code="G-DG-09", community=c.community, worker=None)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=c.community_handler, grid=empty)
    assert refused(exc, workflow.ERR_GRID_NO_WORKER)


def test_a_grid_worker_acts_on_the_hop_addressed_to_them_only(tree, clock):
    c = tree
    ticket = down_to_worker(c)
    # Another grid's worker, the community above and the unit heads do not sign for them.
    for actor in (c.gridworker2, c.community_handler, c.handler):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_sign(ticket=ticket, actor=actor)
    assert set(workflow.allowed_actions(ticket, c.gridworker)) == {Kind.SIGNED}
    assert workflow.allowed_actions(ticket, c.gridworker2) == []
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.gridworker)
    assert set(workflow.allowed_actions(ticket, c.gridworker)) == {Kind.CONTACTED, Kind.PROGRESS, Kind.HANDED_BACK}
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_hand_back(ticket=ticket, actor=c.gridworker2, note="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_reply(ticket=ticket, actor=c.gridworker, result=ReplyResult.SOLVED, text="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_subdispatch(ticket=ticket, actor=c.gridworker, grid=c.grid)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_hand_back(ticket=ticket, actor=c.gridworker, note="  ")
    assert exc.value.code == "required"


def test_hand_back_needs_a_sign_and_a_hop(tree, clock):
    c = tree
    ticket = at_district(c)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_hand_back(ticket=ticket, actor=c.district_handler, note="…")
    assert refused(exc, workflow.ERR_NO_CHAIN)  # the lead has no one to hand it to
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_hand_back(ticket=ticket, actor=c.handler, note="…")
    assert refused(exc, workflow.ERR_HAND_BACK_UNSIGNED)


def test_a_middle_unit_takes_back_and_the_hops_below_it_end(tree, clock):
    c = tree
    ticket = down_to_worker(c)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.gridworker)
    # Not on the chain above the holder: refused.
    for actor in (c.handler2, c.community_b_handler, c.bureau_handler, c.gridworker, c.dispatcher):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_take_back(ticket=ticket, actor=actor)
    ticket = workflow.ticket_take_back(ticket=ticket, actor=c.handler, note="街道直接办理。")
    assert (ticket.state, ticket.assignee_department, ticket.assignee_worker) == (S.HANDLING, c.street, None)
    assert chain_of(ticket) == [(c.district.pk, c.street.pk, None)]
    ended = DispatchHop.objects.filter(ticket=ticket, ended_at__isnull=False)
    assert sorted(ended.values_list("end", flat=True)) == [End.TAKEN_BACK, End.TAKEN_BACK]
    # The community is off the chain now: it can no longer take back or hand back.
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_take_back(ticket=ticket, actor=c.community_handler)
    ticket = workflow.ticket_take_back(ticket=ticket, actor=c.district_head)
    assert (ticket.assignee_department, chain_of(ticket)) == (c.district, [])
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_take_back(ticket=ticket, actor=c.district_handler)  # nothing left below
    assert_consistent(ticket)


def test_an_unsigned_hop_may_be_taken_back(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street2)
    ticket = workflow.ticket_take_back(ticket=ticket, actor=c.district_handler, note="派错街道。")
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    hops = list(DispatchHop.objects.filter(ticket=ticket).order_by("pk"))
    assert [(h.to_department_id, h.end, h.signed_at) for h in hops] == [
        (c.street2.pk, End.TAKEN_BACK, None),
        (c.street.pk, "", None),
    ]
    assert_consistent(ticket)


def test_only_the_lead_replies(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    assert Kind.REPLIED not in workflow.allowed_actions(ticket, c.handler)
    for actor in (c.handler, c.district_handler):
        with pytest.raises(WorkflowError) as exc:
            workflow.ticket_reply(ticket=ticket, actor=actor, result=ReplyResult.SOLVED, text="已处理")
        assert exc.value.code == "down_the_chain"
    ticket = workflow.ticket_hand_back(ticket=ticket, actor=c.handler, note="已处理完毕。")
    assert Kind.REPLIED in workflow.allowed_actions(ticket, c.district_handler)


def test_leaving_the_lead_ends_the_chain(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    # The hop is unsigned (state 待签收): the centre may still re-dispatch.
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=c.dispatcher, department=c.bureau)
    assert (ticket.assignee_department, ticket.assignee_worker) == (c.bureau, None)
    assert list(DispatchHop.objects.filter(ticket=ticket).values_list("end", flat=True)) == [End.LEFT]
    other = down_to_worker(c)
    workflow.ticket_return_request(ticket=other, actor=c.district_handler, reason="非本区职责")
    other = workflow.ticket_return_approve(ticket=other, actor=c.dispatcher)
    assert other.assignee_worker is None and not ticket_chain(other)
    assert set(DispatchHop.objects.filter(ticket=other).values_list("end", flat=True)) == {End.LEFT}
    assert_consistent(ticket)
    assert_consistent(other)


# -- facts and clocks per hop ------------------------------------------------------------------


def test_each_hop_has_its_own_sign_clock_and_fact(tree, clock):
    c = tree
    ticket = at_district(c)
    lead_sign = ticket.events.get(kind=Kind.SIGNED)
    clock.move_to(local(2026, 11, 23, 10, 0))
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    limits = deadline_limits(category=ticket.category, urgency=ticket.urgency, nature=ticket.nature)
    due = clock_times(local(2026, 11, 23, 10, 0), limits.sign, get_calendar()).due_at
    hop = DispatchHop.objects.get(ticket=ticket)
    assert hop.sign_due_at == ticket.sign_due_at == due == local(2026, 11, 23, 12, 0)
    assert ticket.next_due_at == due
    clock.move_to(local(2026, 11, 23, 14, 30))  # late: past 12:00
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    hop.refresh_from_db()
    assert (hop.signed_at, hop.signed_by, hop.on_time) == (local(2026, 11, 23, 14, 30), c.handler, False)
    event = ticket.events.filter(kind=Kind.SIGNED).last()
    assert event.data["hop"] == {"id": hop.pk, "on_time": False}
    # The hop's sign is the hop's fact, not a second lead sign (签收及时率 stays the lead's).
    assert (event.unit_id, event.on_time, event.dispatch_id) == (None, None, None)
    lead_sign.refresh_from_db()
    assert (lead_sign.unit_id, lead_sign.on_time) == (c.district.pk, True)
    # The next hop starts its own clock; the fact above is not rewritten by what follows.
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.handler, department=c.community)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.community_handler)
    ticket = workflow.ticket_take_back(ticket=ticket, actor=c.district_handler)
    hop.refresh_from_db()
    assert (hop.on_time, hop.end) == (False, End.TAKEN_BACK)
    assert_consistent(ticket)


def test_a_late_hop_reminds_the_grid_worker(tree, clock):
    c = tree
    ticket = down_to_worker(c)
    clock.move_to(ticket.sign_due_at + timedelta(minutes=1))
    assert Ticket.objects.filter(pk=ticket.pk).overdue_any_clock().count() == 1
    deadline_scan()
    reminder = Reminder.objects.get(clock="sign")
    people = {n.recipient.username for n in reminder.notifications.all()}
    assert "gridworker" in people
    assert not people & {"handler_community", "handler_street", "handler_district", "gridworker2"}


def test_the_grid_worker_is_told_of_a_hop_to_them_and_of_a_take_back(tree, clock, django_capture_on_commit_callbacks):
    c = tree
    with django_capture_on_commit_callbacks(execute=True):
        ticket = down_to_worker(c)
    told = Notification.objects.filter(ticket=ticket).values_list("recipient__username", flat=True)
    assert list(told.filter(title__contains="下派", recipient__username__startswith="grid")) == ["gridworker"]
    clock.shift(timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        workflow.ticket_take_back(ticket=ticket, actor=c.handler)
    assert list(told.filter(title__contains="收回")) == ["gridworker"]


# -- seeing and queues ------------------------------------------------------------------------------


def test_the_grid_worker_sees_a_ticket_passed_to_them_outside_their_grid(tree, clock):
    c = tree
    ticket = workflow.ticket_dispatch(
        ticket=new_ticket(c, address="无法定位的地址"), actor=c.dispatcher, department=c.community_b
    )
    assert not ticket_list(user=c.gridworker2).filter(pk=ticket.pk).exists()
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.community_b_handler)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.community_b_handler, grid=c.grid2)
    assert ticket_list(user=c.gridworker2).filter(pk=ticket.pk).exists()
    counts = {q.key: n for q, n in queue_counts(c.gridworker2)}
    assert (counts["worker_to_sign"], counts["worker_in_hand"]) == (1, 0)
    assert {q.key: n for q, n in queue_counts(c.community_b_handler)}["to_sign"] == 0  # the worker signs
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.gridworker2)
    counts = {q.key: n for q, n in queue_counts(c.gridworker2)}
    assert (counts["worker_to_sign"], counts["worker_in_hand"]) == (0, 1)
    assert not ticket_list(user=c.gridworker).filter(pk=ticket.pk).exists()


def test_units_above_see_the_ticket_below_and_the_holder_has_it_to_sign(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    for user in (c.district_handler, c.handler):
        assert ticket_list(user=user).filter(pk=ticket.pk).exists()
    assert not ticket_list(user=c.handler2).filter(pk=ticket.pk).exists()
    assert {q.key: n for q, n in queue_counts(c.handler)}["to_sign"] == 1
    assert {q.key: n for q, n in queue_counts(c.district_handler)}["to_sign"] == 0


# -- 吹哨报到 ---------------------------------------------------------------------------------------


def test_the_holder_blows_the_whistle_within_the_rules(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    # The street holds it: it summons a bureau (部门报到) and a unit of its own.
    ticket = workflow.ticket_cohandlers_add(ticket=ticket, actor=c.handler, departments=[c.bureau, c.community_b])
    assert set(ticket.cohandlings.values_list("department_id", flat=True)) == {c.bureau.pk, c.community_b.pk}
    # Not a sibling street: that goes through the centre (or the district above).
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_cohandlers_add(ticket=ticket, actor=c.handler, departments=[c.street2])
    assert refused(exc, workflow.ERR_COHANDLER_OUT_OF_RULES)
    ticket = workflow.ticket_cohandlers_add(ticket=ticket, actor=c.district_handler, departments=[c.street2])
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.handler, department=c.community)
    # Passed on and not the lead: the street no longer whistles; the community signs first, then may.
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_cohandlers_add(ticket=ticket, actor=c.handler, departments=[c.utility])
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.community_handler)
    ticket = workflow.ticket_cohandlers_add(ticket=ticket, actor=c.community_handler, departments=[c.utility])
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_cohandlers_add(ticket=ticket, actor=c.gridworker, departments=[c.bureau2])
    assert_consistent(ticket)


def test_the_centre_adds_any_unit(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_cohandlers_add(ticket=ticket, actor=c.dispatcher, departments=[c.street2, c.community2])
    assert ticket.cohandlings.count() == 2


# -- the doors -------------------------------------------------------------------------------


def test_the_api_takes_back_and_hands_back(tree, clock, client):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    client.force_login(c.handler)
    url = f"/api/v1/tickets/{ticket.number}/"
    response = client.post(url + "subdispatch/", {"department": c.community.pk}, content_type="application/json")
    assert response.status_code == 200, response.content
    client.force_login(c.community_handler)
    response = client.post(url + "sign/", {}, content_type="application/json")
    assert response.status_code == 200, response.content
    response = client.post(url + "subdispatch/", {"grid": c.grid.code}, content_type="application/json")
    assert response.status_code == 200, response.content
    client.force_login(c.gridworker)
    assert client.post(url + "hand-back/", {}, content_type="application/json").status_code == 400  # note required
    assert client.post(url + "sign/", {}, content_type="application/json").status_code == 200
    response = client.post(url + "hand-back/", {"note": "已处置"}, content_type="application/json")
    assert response.status_code == 200, response.content
    client.force_login(c.handler2)
    assert client.post(url + "take-back/", {}, content_type="application/json").status_code == 404
    client.force_login(c.district_handler)
    assert client.post(url + "take-back/", {"note": "收回"}, content_type="application/json").status_code == 200
    ticket.refresh_from_db()
    assert (ticket.assignee_department, ticket.assignee_worker) == (c.district, None)
    assert_consistent(ticket)


def test_the_ticket_page_shows_the_chain_and_its_forms_work(tree, clock, client):
    c = tree
    ticket = at_district(c)
    client.force_login(c.district_handler)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.SUBDISPATCHED])
    page = client.get(url).content.decode()
    assert c.street.name in page and c.community.name not in page  # one level down only
    response = client.post(url, {"department": c.street.pk, "note": "请街道办理"})
    assert response.status_code == 302
    workflow.ticket_sign(ticket=ticket, actor=c.handler)
    workflow.ticket_subdispatch(ticket=ticket, actor=c.handler, department=c.community)
    workflow.ticket_sign(ticket=ticket, actor=c.community_handler)
    client.force_login(c.community_handler)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.SUBDISPATCHED])
    assert client.post(url, {"note": "…"}).status_code == 200  # neither a unit nor a grid: the form says so
    response = client.post(url, {"grid": c.grid.pk})
    assert response.status_code == 302
    client.force_login(c.district_handler)
    page = client.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).content.decode()
    assert 'id="chain"' in page
    for name in ("城东区", "东关大街街道", "东关社区 · 韩秀兰"):
        assert name in page
    assert "action-taken_back" in page  # the district may take it back
    client.force_login(c.gridworker)
    workflow.ticket_sign(ticket=ticket, actor=c.gridworker)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.HANDED_BACK])
    assert client.post(url, {"note": ""}).status_code == 200  # a note is required
    assert client.post(url, {"note": "已处置"}).status_code == 302
    client.force_login(c.handler)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.TAKEN_BACK])
    assert client.post(url, {"note": "街道收回"}).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.assignee_department, ticket.assignee_worker) == (c.street, None)
    assert_consistent(ticket)


def test_a_reopen_overruled_while_passed_down_ends_the_chain(tree, clock):
    c = tree
    ticket = at_district(c)
    ticket = workflow.ticket_reply(ticket=ticket, actor=c.district_handler, result=ReplyResult.SOLVED, text="已解决")
    ticket = workflow.ticket_approve(ticket=ticket, actor=c.dispatcher)
    ticket = workflow.ticket_reopen(ticket=ticket, actor=c.callback, reason="回访不满意")
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=c.district_handler, department=c.street)
    ticket = workflow.ticket_sign(ticket=ticket, actor=c.handler)
    ticket = workflow.ticket_overrule_reopen(ticket=ticket, actor=c.supervisor, reason="不合理诉求")
    assert ticket.state == S.CLOSED and not ticket_chain(ticket)
    assert DispatchHop.objects.get(ticket=ticket).end == End.LEFT
    assert_consistent(ticket)
