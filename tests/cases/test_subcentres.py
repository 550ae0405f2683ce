"""Sub-centres (分中心 / 分平台, DESIGN §2): the city transfers a received ticket to
a sub-centre, which signs it, dispatches it within its subtree, reviews, rules,
supervises and calls back; its staff act on what it owns and see its subtree.

The fixture: 城东区 runs a sub-centre over both streets of the ``city`` fixture;
城西区 runs another over 西关街道 (``tests.conftest.add_subcentres``)."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from cases import workflow
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Notification, Ticket, TicketApplication, TicketEvent, TicketState, Urge
from cases.selectors.queues import queue_counts, queues_for
from cases.selectors.scope import (
    callback_dial_scope,
    callback_scope,
    centre_covers,
    is_centre_staff,
    is_citywide,
    staff_centre,
    stats_unit_ids,
    ticket_list,
    user_unit_ids,
)
from cases.workflow import WorkflowError, WorkflowPermissionError
from cases.workflow.facts import facts_repair
from departments.models import StaffProfile
from departments.roles import Role
from tests.api.conftest import staff_client
from tests.conftest import add_subcentres, drive, local, new_ticket
from tests.departments.factories import UserFactory

S = TicketState
Kind = TicketEvent.Kind
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def c(city):
    return add_subcentres(city)


def transferred(c, **kwargs):
    """A received ticket the city transferred to 城东区."""
    return workflow.ticket_transfer(ticket=new_ticket(c, **kwargs), actor=c.dispatcher, centre=c.district)


def signed(c, **kwargs):
    return workflow.ticket_centre_sign(ticket=transferred(c, **kwargs), actor=c.sub_dispatcher)


def codes(exc_info):
    return exc_info.value.code


# -- who works for which centre -------------------------------------------------------------


def test_staff_centre_answers_for_every_kind_of_person(c):
    root = UserFactory(is_superuser=True)
    assert staff_centre(root).citywide and staff_centre(c.dispatcher).citywide and staff_centre(c.leader).citywide
    east = staff_centre(c.sub_dispatcher)
    assert east.unit == c.district
    expected = {c.district.pk, c.street.pk, c.street2.pk, c.community.pk, c.community_b.pk, c.community2.pk}
    assert set(east.unit_ids) == expected
    assert staff_centre(c.west_dispatcher).unit_ids == [c.district_w.pk, c.street_w.pk]
    for unit_person in (c.handler, c.head, c.gridworker, c.bureau_handler):
        assert staff_centre(unit_person) is None and not is_centre_staff(unit_person)
    for person in (c.sub_operator, c.sub_dispatcher, c.sub_supervisor, c.sub_callback, c.sub_leader):
        assert is_centre_staff(person) and not is_citywide(person)
        assert set(user_unit_ids(person)) == expected
        assert set(stats_unit_ids(person)) == expected
    assert centre_covers(c.sub_dispatcher, c.community) and not centre_covers(c.sub_dispatcher, c.bureau)
    assert centre_covers(c.dispatcher, c.street_w) and not centre_covers(c.handler, c.street)


def test_a_centre_role_needs_the_centre_or_a_sub_centre(c):
    user = UserFactory()
    for unit, role in [(c.street, Role.DISPATCHER), (c.bureau, Role.SUPERVISOR), (c.city, Role.CALLBACK)]:
        with pytest.raises(ValidationError) as exc:
            StaffProfile(user=user, department=unit, role=role).full_clean()
        assert "department" in exc.value.message_dict
    for unit, role in [(c.centre, Role.OPERATOR), (c.district, Role.DISPATCHER), (c.city, Role.LEADER)]:
        StaffProfile(user=user, department=unit, role=role).full_clean()  # no error
    StaffProfile(user=user, department=c.street, role=Role.HANDLER).full_clean()


def test_only_districts_and_streets_run_sub_centres(c):
    c.bureau.is_subcentre = True
    with pytest.raises(ValidationError) as exc:
        c.bureau.full_clean()
    assert "is_subcentre" in exc.value.message_dict
    c.street.is_subcentre = True
    c.street.full_clean()


# -- 转分中心 -----------------------------------------------------------------------------------


def test_the_city_transfers_a_received_ticket_with_a_sign_clock(c, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = transferred(c)
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED and ticket.centre == c.district and ticket.centre_signed_at is None
    assert ticket.centre_sign_due_at == MONDAY_9 + timedelta(hours=2)  # normal urgency: 2 working hours
    event = ticket.events.get(kind=Kind.TRANSFERRED)
    assert (event.unit_id, event.due_at, event.on_time) == (c.district.pk, ticket.centre_sign_due_at, None)
    assert event.data["department"] == {"id": c.district.pk, "name": "城东区"}
    # the sub-centre's dispatchers hear of it, nobody else
    assert set(Notification.objects.filter(ticket=ticket).values_list("recipient", flat=True)) == {c.sub_dispatcher.pk}


def test_who_may_transfer_where(c, clock):
    ticket = new_ticket(c)
    for actor in (c.sub_dispatcher, c.west_dispatcher):  # sub-centres do not pass work on
        with pytest.raises(WorkflowPermissionError) as exc:
            workflow.ticket_transfer(ticket=ticket, actor=actor, centre=c.district)
        assert codes(exc) == "scope"
    for actor in (c.operator, c.supervisor, c.handler):
        with pytest.raises(WorkflowPermissionError) as exc:
            workflow.ticket_transfer(ticket=ticket, actor=actor, centre=c.district)
        assert codes(exc) == "role"
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_transfer(ticket=ticket, actor=c.dispatcher, centre=c.street)  # runs no sub-centre
    assert codes(exc) == "not_subcentre"
    ticket = workflow.ticket_transfer(ticket=ticket, actor=c.dispatcher, centre=c.district)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_transfer(ticket=ticket, actor=c.dispatcher, centre=c.district)
    assert codes(exc) == "same_centre"
    moved = workflow.ticket_transfer(ticket=ticket, actor=c.dispatcher, centre=c.district_w)  # to another one
    assert moved.centre == c.district_w
    dispatched = drive(c, new_ticket(c), S.DISPATCHED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_transfer(ticket=dispatched, actor=c.dispatcher, centre=c.district)
    assert codes(exc) == "state"
    assert Ticket.objects.filter(centre__isnull=False).count() == 1


# -- 分中心签收 ---------------------------------------------------------------------------------


def test_the_sub_centre_signs_in_time_or_late_and_the_fact_says_so(c, clock):
    ticket = transferred(c)
    clock.shift(timedelta(hours=1))
    ticket = workflow.ticket_centre_sign(ticket=ticket, actor=c.sub_dispatcher)
    event = ticket.events.get(kind=Kind.CENTRE_SIGNED)
    assert (event.unit_id, event.due_at, event.on_time) == (c.district.pk, MONDAY_9 + timedelta(hours=2), True)
    late = transferred(c)
    clock.shift(timedelta(days=1))
    late = workflow.ticket_centre_sign(ticket=late, actor=c.sub_dispatcher)
    assert late.events.get(kind=Kind.CENTRE_SIGNED).on_time is False
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_centre_sign(ticket=late, actor=c.sub_dispatcher)
    assert codes(exc) == "centre_signed"


def test_only_the_owning_sub_centres_dispatcher_signs(c, clock):
    ticket = transferred(c)
    for actor in (c.west_dispatcher, c.dispatcher):
        with pytest.raises(WorkflowPermissionError) as exc:
            workflow.ticket_centre_sign(ticket=ticket, actor=actor)
        assert codes(exc) == "scope"
    for actor in (c.sub_supervisor, c.sub_operator, c.sub_callback, c.handler):
        with pytest.raises(WorkflowPermissionError) as exc:
            workflow.ticket_centre_sign(ticket=ticket, actor=actor)
        assert codes(exc) == "role"
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_centre_sign(ticket=new_ticket(c), actor=c.sub_dispatcher)  # the city's own ticket


def test_before_signing_the_sub_centre_does_nothing_else(c, clock):
    ticket = transferred(c)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=c.sub_dispatcher, department=c.street)
    assert codes(exc) == "centre_unsigned"
    assert set(workflow.allowed_actions(ticket, c.sub_dispatcher)) == {Kind.CENTRE_SIGNED, Kind.CENTRE_RETURNED}
    assert workflow.allowed_actions(ticket, c.west_dispatcher) == []


# -- after signing: the sub-centre works the ticket in its subtree ---------------------------------


def test_allowed_actions_of_a_received_ticket_per_centre(c, clock):
    city_ticket = new_ticket(c)
    common = {Kind.DISPATCHED, Kind.ANSWERED, Kind.MERGED, Kind.INVALIDATED, Kind.PUBLICITY_CHANGED}
    assert set(workflow.allowed_actions(city_ticket, c.dispatcher)) == {*common, Kind.TRANSFERRED}
    assert workflow.allowed_actions(city_ticket, c.sub_dispatcher) == []
    ticket = signed(c)
    assert set(workflow.allowed_actions(ticket, c.sub_dispatcher)) == {*common, Kind.CENTRE_RETURNED}
    assert set(workflow.allowed_actions(ticket, c.sub_operator)) == {Kind.ANSWERED, Kind.MERGED, Kind.INVALIDATED}
    assert workflow.allowed_actions(ticket, c.west_dispatcher) == []
    # the city keeps acting on everything (but signing and returning are the sub-centre's)
    assert set(workflow.allowed_actions(ticket, c.dispatcher)) == {*common, Kind.TRANSFERRED}


def test_a_sub_centre_dispatches_within_its_subtree_only(c, clock):
    ticket = signed(c)
    for outside in (c.bureau, c.street_w, c.utility):
        with pytest.raises(WorkflowError) as exc:
            workflow.ticket_dispatch(ticket=ticket, actor=c.sub_dispatcher, department=outside)
        assert codes(exc) == "centre_target"
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=c.sub_dispatcher, department=c.street, cohandlers=[c.bureau])
    assert codes(exc) == "centre_target"
    ticket = workflow.ticket_dispatch(
        ticket=ticket, actor=c.sub_dispatcher, department=c.street, cohandlers=[c.community2]
    )
    assert ticket.state == S.DISPATCHED and ticket.lead_department == c.street and ticket.centre == c.district
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_cohandlers_add(ticket=ticket, actor=c.sub_dispatcher, departments=[c.bureau2])
    assert codes(exc) == "centre_target"
    # the lead unit may still blow the whistle for a bureau (吹哨报到 is not the sub-centre's dispatch)
    workflow.ticket_cohandlers_add(ticket=ticket, actor=c.handler, departments=[c.bureau2])
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_dispatch(ticket=ticket, actor=c.west_dispatcher, department=c.street2)


def test_the_sub_centre_reviews_rules_and_reopens_its_tickets(c, clock):
    ticket = workflow.ticket_dispatch(ticket=signed(c), actor=c.sub_dispatcher, department=c.street)
    workflow.ticket_sign(ticket=ticket, actor=c.handler)
    workflow.ticket_contact(ticket=ticket, actor=c.handler, note="已电话联系")
    workflow.ticket_extension_request(ticket=ticket, actor=c.handler, reason="需协调热力公司", working_days=2)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_extension_approve(ticket=ticket, actor=c.west_dispatcher)
    workflow.ticket_extension_approve(ticket=ticket, actor=c.sub_dispatcher)
    workflow.ticket_reply(ticket=ticket, actor=c.handler, result="solved", text="已修复")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_rework(ticket=ticket, actor=c.west_dispatcher, reason="答非所问")
    ticket = workflow.ticket_rework(ticket=ticket, actor=c.sub_dispatcher, reason="答非所问")
    workflow.ticket_reply(ticket=ticket, actor=c.handler, result="solved", text="已修复，室温20度")
    ticket = workflow.ticket_approve(ticket=ticket, actor=c.sub_dispatcher)
    assert ticket.state == S.CLOSED
    ticket = workflow.ticket_reopen(ticket=ticket, actor=c.sub_callback, reason="回访不满意")
    assert ticket.state == S.HANDLING
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_overrule_reopen(ticket=ticket, actor=c.west_supervisor, reason="诉求不合理")
    ticket = workflow.ticket_overrule_reopen(ticket=ticket, actor=c.sub_supervisor, reason="诉求不合理")
    assert ticket.state == S.CLOSED


def test_a_return_approved_by_the_sub_centre_comes_back_to_it(c, clock):
    ticket = workflow.ticket_dispatch(ticket=signed(c), actor=c.sub_dispatcher, department=c.street)
    workflow.ticket_return_request(ticket=ticket, actor=c.handler, reason="不属于本街道")
    assert {Kind.RETURN_APPROVED, Kind.RETURN_REJECTED} <= set(workflow.allowed_actions(ticket, c.sub_dispatcher))
    ticket = workflow.ticket_return_approve(ticket=ticket, actor=c.sub_dispatcher)
    assert ticket.state == S.RECEIVED and ticket.centre == c.district and ticket.centre_signed_at is not None
    assert ticket.applications.get().status == TicketApplication.Status.APPROVED
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=c.sub_dispatcher, department=c.street2)
    assert ticket.lead_department == c.street2


def test_the_sub_centres_supervisors_chase_its_own_tickets(c, clock):
    owned = workflow.ticket_dispatch(ticket=signed(c), actor=c.sub_dispatcher, department=c.street)
    city_owned = drive(c, new_ticket(c), S.DISPATCHED)  # led by a street of the subtree, owned by the city
    workflow.ticket_urge(ticket=owned, actor=c.sub_supervisor, kind=Urge.Kind.PHONE, content="请尽快签收")
    assert Urge.objects.filter(ticket=owned).count() == 1
    for actor in (c.west_supervisor,):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_urge(ticket=owned, actor=actor, kind=Urge.Kind.PHONE, content="请尽快签收")
    with pytest.raises(WorkflowPermissionError):  # it sees the city's ticket, but the city supervises it
        workflow.ticket_urge(ticket=city_owned, actor=c.sub_supervisor, kind=Urge.Kind.PHONE, content="请尽快")
    workflow.ticket_escalate(ticket=owned, actor=c.sub_supervisor, leader=c.sub_leader, reason="多次来电")
    assert Kind.URGED in workflow.allowed_actions(owned, c.supervisor)  # the city supervises everything


# -- 退回市中心 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_first", [False, True])
def test_the_sub_centre_sends_a_ticket_back_to_the_city(c, clock, sign_first, django_capture_on_commit_callbacks):
    ticket = signed(c) if sign_first else transferred(c)
    for actor in (c.west_dispatcher, c.dispatcher):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_centre_return(ticket=ticket, actor=actor, reason="不属本区")
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_centre_return(ticket=ticket, actor=c.sub_dispatcher, reason="  ")
    assert codes(exc) == "required"
    with django_capture_on_commit_callbacks(execute=True):
        ticket = workflow.ticket_centre_return(ticket=ticket, actor=c.sub_dispatcher, reason="不属本区")
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED and ticket.centre is None
    assert ticket.centre_signed_at is None and ticket.centre_sign_due_at is None
    event = ticket.events.get(kind=Kind.CENTRE_RETURNED)
    assert event.unit_id == c.district.pk and event.data["signed"] is sign_first and event.note == "不属本区"
    assert ticket in ticket_list(user=c.dispatcher).filter(state=S.RECEIVED, centre__isnull=True)
    assert not ticket_list(user=c.sub_dispatcher).filter(pk=ticket.pk).exists()  # no unit of its subtree holds it
    assert Notification.objects.filter(ticket=ticket, recipient=c.dispatcher).exists()


def test_a_dispatched_ticket_is_not_sent_back(c, clock):
    ticket = workflow.ticket_dispatch(ticket=signed(c), actor=c.sub_dispatcher, department=c.street)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_centre_return(ticket=ticket, actor=c.sub_dispatcher, reason="不属本区")
    assert codes(exc) == "state"


def test_the_city_dispatching_an_unsigned_transfer_takes_it_back(c, clock):
    ticket = workflow.ticket_dispatch(ticket=transferred(c), actor=c.dispatcher, department=c.bureau)
    assert ticket.centre is None and ticket.lead_department == c.bureau


# -- a sub-centre's own intake -------------------------------------------------------------------


def test_a_sub_centres_operator_takes_tickets_for_it(c, clock):
    ticket = new_ticket(c, actor=c.sub_operator)
    assert ticket.centre == c.district and ticket.centre_signed_at == MONDAY_9
    assert Kind.DISPATCHED in workflow.allowed_actions(ticket, c.sub_dispatcher)
    assert Kind.CENTRE_SIGNED not in workflow.allowed_actions(ticket, c.sub_dispatcher)
    assert new_ticket(c).centre is None  # the city's operator: the city's


# -- what the sub-centre's staff see ------------------------------------------------------------


def test_sub_centre_staff_see_exactly_their_subtree(c, clock):
    tickets = {
        "street": drive(c, new_ticket(c), S.HANDLING),  # the city's, led inside 城东区
        "community": workflow.ticket_subdispatch(
            ticket=drive(c, new_ticket(c), S.HANDLING), actor=c.handler, department=c.community
        ),
        "bureau": drive(c, new_ticket(c, address=""), S.DISPATCHED, lead=c.bureau),
        "cohandled": workflow.ticket_dispatch(
            ticket=new_ticket(c, address=""), actor=c.dispatcher, department=c.bureau, cohandlers=[c.street2]
        ),
        "received": new_ticket(c, address=""),
        "transferred": transferred(c, address=""),
        "west": workflow.ticket_dispatch(ticket=new_ticket(c, address=""), actor=c.dispatcher, department=c.street_w),
    }

    def sees(user):
        pks = set(ticket_list(user=user).values_list("pk", flat=True))
        return {label for label, t in tickets.items() if t.pk in pks}

    east = {"street", "community", "cohandled", "transferred"}
    for person in (c.sub_operator, c.sub_dispatcher, c.sub_supervisor, c.sub_callback, c.sub_leader):
        assert sees(person) == east
    assert sees(c.west_dispatcher) == sees(c.west_supervisor) == {"west"}
    assert sees(c.dispatcher) == set(tickets)


def test_work_queues_of_a_sub_centres_dispatcher(c, clock):
    transferred(c)
    own_intake = new_ticket(c, actor=c.sub_operator)
    new_ticket(c)  # the city's
    assert [q.key for q in queues_for(c.sub_dispatcher)][:2] == ["to_centre_sign", "to_dispatch"]
    assert "to_centre_sign" not in [q.key for q in queues_for(c.dispatcher)]
    east = dict((q.key, n) for q, n in queue_counts(c.sub_dispatcher))
    assert (east["to_centre_sign"], east["to_dispatch"]) == (1, 1)
    city_counts = dict((q.key, n) for q, n in queue_counts(c.dispatcher))
    assert city_counts["to_dispatch"] == 1  # the transferred and the sub-centre's own are not the city's to dispatch
    assert own_intake.centre_id == c.district.pk


# -- callbacks -----------------------------------------------------------------------------------


def _closed_by_sub_centre(c):
    ticket = workflow.ticket_dispatch(ticket=signed(c), actor=c.sub_dispatcher, department=c.street)
    ticket = drive(c, ticket, S.REVIEWING)
    return workflow.ticket_approve(ticket=ticket, actor=c.sub_dispatcher)


def test_the_batch_deals_a_sub_centres_callbacks_to_its_own_agents(c, clock):
    own = _closed_by_sub_centre(c)
    city_ticket = drive(c, new_ticket(c), S.CLOSED)
    west = workflow.ticket_transfer(ticket=new_ticket(c, address=""), actor=c.dispatcher, centre=c.district_w)
    west = workflow.ticket_centre_sign(ticket=west, actor=c.west_dispatcher)
    west = workflow.ticket_dispatch(ticket=west, actor=c.west_dispatcher, department=c.street_w)
    workflow.ticket_sign(ticket=west, actor=c.handler_w)
    workflow.ticket_contact(ticket=west, actor=c.handler_w, note="已联系")
    workflow.ticket_reply(ticket=west, actor=c.handler_w, result="solved", text="已处理")
    workflow.ticket_approve(ticket=west, actor=c.west_dispatcher)
    result = callback_batch(day=MONDAY_9.date())
    assert result.created == 3
    agent = dict(Callback.objects.values_list("ticket_id", "agent_id"))
    assert agent == {own.pk: c.sub_callback.pk, city_ticket.pk: c.callback.pk, west.pk: c.west_callback.pk}


def test_a_sub_centre_without_agents_leaves_its_callbacks_to_the_city(c, clock):
    StaffProfile.objects.filter(user=c.sub_callback).update(role=Role.SUPERVISOR)
    own = _closed_by_sub_centre(c)
    callback_batch(day=MONDAY_9.date())
    assert Callback.objects.get(ticket=own).agent == c.callback


def test_a_sub_centres_agent_dials_and_records_its_own_callbacks_only(c, clock):
    own = _closed_by_sub_centre(c)
    city_ticket = drive(c, new_ticket(c), S.CLOSED)
    mine = Callback.objects.create(ticket=own, closed_at=own.closed_at, batch_date=MONDAY_9.date())
    theirs = Callback.objects.create(ticket=city_ticket, closed_at=city_ticket.closed_at, batch_date=MONDAY_9.date())
    assert list(callback_scope(Callback.objects.all(), c.sub_callback)) == [mine]
    assert list(callback_dial_scope(Callback.objects.all(), c.sub_callback)) == [mine]
    assert set(callback_scope(Callback.objects.all(), c.callback)) == {mine, theirs}
    assert list(callback_scope(Callback.objects.all(), c.west_callback)) == []
    outcome = {"contacted": True, "solved": Callback.Solved.SOLVED, "satisfaction": Callback.Satisfaction.SATISFIED}
    with pytest.raises(WorkflowPermissionError):
        callback_record(callback=theirs, actor=c.sub_callback, **outcome)
    with pytest.raises(WorkflowPermissionError):
        callback_record(callback=mine, actor=c.west_supervisor, **outcome)
    callback_record(callback=mine, actor=c.sub_callback, **outcome)
    assert Callback.objects.get(pk=mine.pk).status == Callback.Status.DONE


# -- facts ---------------------------------------------------------------------------------------


def test_the_replay_writes_the_sub_centre_facts_the_verbs_wrote(c, clock):
    signed(c)
    clock.shift(timedelta(days=1))
    late = transferred(c)
    clock.shift(timedelta(days=1))
    workflow.ticket_centre_sign(ticket=late, actor=c.sub_dispatcher)
    workflow.ticket_centre_return(ticket=transferred(c), actor=c.sub_dispatcher, reason="不属本区")
    kinds = [Kind.TRANSFERRED, Kind.CENTRE_SIGNED, Kind.CENTRE_RETURNED]
    fields = ["pk", "unit_id", "dispatch_id", "due_at", "on_time", "round"]
    written = list(TicketEvent.objects.filter(kind__in=kinds).order_by("pk").values_list(*fields))
    assert {row[4] for row in written if row[0]} >= {True, False}
    TicketEvent.objects.filter(kind__in=kinds).update(unit=None, due_at=None, on_time=None, round=None)
    assert facts_repair()["events"] == len(written)
    assert list(TicketEvent.objects.filter(kind__in=kinds).order_by("pk").values_list(*fields)) == written


# -- the admin ------------------------------------------------------------------------------------


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _action(ticket, kind):
    return reverse("admin:cases_ticket_action", args=[ticket.pk, kind])


def test_the_admin_transfers_signs_and_dispatches_within_the_subtree(c, clock):
    ticket = new_ticket(c)
    city = _login(c.dispatcher)
    form = city.get(_action(ticket, Kind.TRANSFERRED)).content.decode()
    assert f'<option value="{c.district.pk}">城东区</option>' in form and "西关街道" not in form
    assert city.post(_action(ticket, Kind.TRANSFERRED), {"centre": c.district.pk}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.centre == c.district
    page = city.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).content.decode()
    assert "城东区（待签收）" in page
    east = _login(c.sub_dispatcher)
    assert east.post(_action(ticket, Kind.CENTRE_SIGNED), {"note": ""}).status_code == 302
    form = east.get(_action(ticket, Kind.DISPATCHED)).content.decode()
    assert "东关大街街道" in form and "住房和城乡建设局" not in form and "西关街道" not in form
    east.post(_action(ticket, Kind.DISPATCHED), {"department": c.bureau.pk})  # refused: outside 城东区
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED
    assert east.post(_action(ticket, Kind.DISPATCHED), {"department": c.street.pk}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == S.DISPATCHED and ticket.lead_department == c.street
    # the city's list, cut by the owning centre
    listed = city.get(reverse("admin:cases_ticket_changelist"), {"centre": c.district.pk, "state": "all"})
    assert [t.pk for t in listed.context["cl"].result_list] == [ticket.pk]
    listed = city.get(reverse("admin:cases_ticket_changelist"), {"centre": "city", "state": "all"})
    assert ticket.pk not in [t.pk for t in listed.context["cl"].result_list]


def test_returning_the_citys_own_ticket_is_refused_even_for_a_superuser(c, clock):
    root = UserFactory(is_superuser=True)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_centre_return(ticket=new_ticket(c), actor=root, reason="不属本区")
    assert codes(exc) == "not_at_centre"


def test_the_api_answers_a_return_that_takes_the_ticket_out_of_sight(c, clock):
    ticket = transferred(c)
    url = f"/api/v1/tickets/{ticket.number}/centre-return/"
    response = staff_client(c.sub_dispatcher).post(url, {"reason": "不属本区"}, format="json")
    assert response.status_code == 200 and response.json()["number"] == ticket.number
    ticket.refresh_from_db()
    assert ticket.centre is None
    again = staff_client(c.sub_dispatcher).post(url, {"reason": "不属本区"}, format="json")
    assert again.status_code == 404  # no longer the sub-centre's to see
