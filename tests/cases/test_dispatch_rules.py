"""The dispatch rules of 国办函〔2025〕66号 and 北京接诉即办条例: the 派单目录 (a
category's kinds of receiving unit; off-catalogue needs a reason and is flagged),
派单异议 (a unit's objection the centre rules on within a deadline; upheld, it is
charged to the dispatch, not the unit) and 首接负责制 (a multi-unit ticket's lead
unit may not push it away). Allowed and forbidden paths for every verb and role."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from cases import workflow
from cases.models import ReasonCode, TicketApplication, TicketEvent, TicketState
from cases.workflow import WorkflowError, WorkflowPermissionError
from cases.workflow.catalogue import ERR_OFF_CATALOGUE
from departments.models import Department
from reports.metrics import Period, counters_live
from tests.cases.invariants import assert_consistent
from tests.conftest import drive, local, new_ticket

Kind = TicketEvent.Kind
S = TicketState
B = Department.Kind
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def bureau_only(city):
    """环境保护 (and 噪声 below it, by inheritance) belongs to functional bureaus."""
    city.environment.receiver_kinds = [B.BUREAU]
    city.environment.save()
    city.noise.refresh_from_db()
    return city


def catalogue_error(exc_info) -> str:
    [error] = exc_info.value.error_dict["catalogue_reason"]
    return error.message


# -- 派单目录 -----------------------------------------------------------------------------


def test_the_catalogue_is_inherited_and_empty_means_any_kind(bureau_only):
    c = bureau_only
    assert workflow.catalogue_kinds(c.noise) == {B.BUREAU}  # from 环境保护
    assert workflow.catalogue_kinds(c.cold_room) is None  # 城乡建设 has none: any kind
    c.noise.receiver_kinds = [B.STREET, B.BUREAU]
    c.noise.save()
    assert workflow.catalogue_kinds(c.noise) == {B.STREET, B.BUREAU}  # its own wins
    assert workflow.catalogue_allows(c.noise, c.street)
    assert not workflow.catalogue_allows(c.noise, c.community)
    assert workflow.catalogue_allows(c.cold_room, c.community)


def test_off_catalogue_dispatch_is_refused_without_a_reason(bureau_only, clock):
    c = bureau_only
    ticket = new_ticket(c, category=c.noise, content="工地夜间施工噪声")
    for reason in ("", "   "):
        with pytest.raises(WorkflowError) as refused:
            workflow.ticket_dispatch(ticket=ticket, actor=c.dispatcher, department=c.street, catalogue_reason=reason)
        assert catalogue_error(refused) == ERR_OFF_CATALOGUE
        assert "职能部门" in str(refused.value) and "东关大街街道" in str(refused.value)
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED and ticket.lead_department is None  # nothing half-written
    assert not ticket.events.filter(kind=Kind.DISPATCHED).exists()


def test_off_catalogue_dispatch_with_a_reason_is_accepted_and_flagged(bureau_only, clock):
    c = bureau_only
    ticket = new_ticket(c, category=c.noise, content="工地夜间施工噪声")
    ticket = workflow.ticket_dispatch(
        ticket=ticket, actor=c.dispatcher, department=c.street, catalogue_reason="  需街道先行现场劝阻  "
    )
    assert ticket.state == S.DISPATCHED and ticket.lead_department == c.street
    event = ticket.events.get(kind=Kind.DISPATCHED)
    assert event.off_catalogue is True
    assert event.data["off_catalogue"] is True and event.data["catalogue_reason"] == "需街道先行现场劝阻"
    assert_consistent(ticket)


def test_within_the_catalogue_no_reason_is_needed_and_none_is_kept(bureau_only, clock):
    c = bureau_only
    ticket = new_ticket(c, category=c.noise, content="工地夜间施工噪声")
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=c.dispatcher, department=c.bureau2, catalogue_reason="多余")
    event = ticket.events.get(kind=Kind.DISPATCHED)
    assert (event.off_catalogue, event.data["off_catalogue"], event.data["catalogue_reason"]) == (False, False, "")


def test_the_catalogue_governs_the_lead_not_the_cohandlers(bureau_only, clock):
    c = bureau_only
    ticket = new_ticket(c, category=c.noise, content="工地夜间施工噪声")
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=c.dispatcher, department=c.bureau2, cohandlers=[c.street])
    assert not ticket.events.get(kind=Kind.DISPATCHED).off_catalogue


def test_subdispatch_down_to_a_kind_the_catalogue_excludes_needs_a_reason(city, clock):
    city.cold_room.receiver_kinds = [B.STREET, B.BUREAU]
    city.cold_room.save()
    ticket = drive(city, new_ticket(city), S.HANDLING)  # the street: within the catalogue
    with pytest.raises(WorkflowError) as refused:
        workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    assert catalogue_error(refused) == ERR_OFF_CATALOGUE
    ticket = workflow.ticket_subdispatch(
        ticket=ticket, actor=city.handler, department=city.community, catalogue_reason="涉及小区内部管理"
    )
    hop = ticket.events.get(kind=Kind.SUBDISPATCHED)
    assert hop.off_catalogue and hop.data["catalogue_reason"] == "涉及小区内部管理"
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.community_handler)
    # Taking it back to the lead needs no reason: the lead was judged at dispatch.
    ticket = workflow.ticket_take_back(ticket=ticket, actor=city.handler)
    assert ticket.assignee_department_id == city.street.pk
    assert not ticket.events.get(kind=Kind.TAKEN_BACK).off_catalogue


def test_off_catalogue_dispatches_are_listed_for_supervisors(client, bureau_only, clock):
    c = bureau_only
    off = workflow.ticket_dispatch(
        ticket=new_ticket(c, category=c.noise, content="噪声"),
        actor=c.dispatcher,
        department=c.street,
        catalogue_reason="先行劝阻",
    )
    within = workflow.ticket_dispatch(
        ticket=new_ticket(c, category=c.noise, content="噪声"), actor=c.dispatcher, department=c.bureau2
    )
    client.force_login(c.supervisor)
    page = client.get(reverse("admin:cases_ticket_changelist"), {"queue": "off_catalogue"}).content.decode()
    assert f">{off.number}<" in page and f">{within.number}<" not in page


def test_the_dispatch_form_shows_the_catalogue_and_asks_for_the_reason(client, bureau_only, clock):
    c = bureau_only
    ticket = new_ticket(c, category=c.noise, content="工地夜间施工噪声")
    client.force_login(c.dispatcher)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.DISPATCHED])
    page = client.get(url).content.decode()
    assert "本分类派单目录：职能部门" in page and "街道乡镇（派单目录外）" in page
    refused = client.post(url, {"department": c.street.pk})
    assert refused.status_code == 200 and "不在目录内" in refused.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED
    done = client.post(url, {"department": c.street.pk, "catalogue_reason": "需街道先行劝阻"})
    assert done.status_code == 302
    assert ticket.events.get(kind=Kind.DISPATCHED).off_catalogue


def test_the_api_takes_the_reason_too(client, bureau_only, clock):
    c = bureau_only
    ticket = new_ticket(c, category=c.noise, content="工地夜间施工噪声")
    client.force_login(c.dispatcher)
    url = reverse("api:ticket-dispatch", kwargs={"number": ticket.number})
    refused = client.post(url, {"department": c.street.pk}, content_type="application/json")
    assert refused.status_code == 400 and "不在目录内" in refused.content.decode()
    done = client.post(
        url, {"department": c.street.pk, "catalogue_reason": "先行劝阻"}, content_type="application/json"
    )
    assert done.status_code == 200, done.content
    assert ticket.events.get(kind=Kind.DISPATCHED).off_catalogue


def test_the_category_admin_edits_the_catalogue(client, city):
    client.force_login(_superuser())
    url = reverse("admin:cases_category_change", args=[city.environment.pk])
    form = {
        "name": "环境保护",
        "code": "02",
        "default_nature": "",
        "default_urgency": "",
        "description": "",
        "is_active": "on",
        "sort_order": "0",
        "receiver_kinds": [B.BUREAU, B.COMPANY],
        "deadline_policies-TOTAL_FORMS": "0",
        "deadline_policies-INITIAL_FORMS": "0",
        "service_attributes-TOTAL_FORMS": "0",
        "service_attributes-INITIAL_FORMS": "0",
    }
    page = client.get(url).content.decode()
    assert 'name="receiver_kinds"' in page
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    city.environment.refresh_from_db()
    assert set(city.environment.receiver_kinds) == {B.BUREAU, B.COMPANY}
    changelist = client.get(reverse("admin:cases_category_changelist")).content.decode()
    assert "职能部门、公共服务企业（沿用上级）" in changelist  # 噪声 inherits it


def _superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", password="x")


# -- 派单异议 -----------------------------------------------------------------------------


def test_a_unit_objects_and_the_centre_must_rule_within_a_working_day(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    code = ReasonCode.objects.get(kind=ReasonCode.Kind.OBJECTION, code="bureau_duty")
    application = workflow.ticket_objection_request(
        ticket=ticket, actor=city.handler, reason="供暖属热力公司职责", reason_code=code
    )
    assert application.kind == TicketApplication.Kind.OBJECTION
    assert application.department == city.street
    assert application.due_at == local(2026, 11, 24, 9, 0)  # one working day
    event = ticket.events.get(kind=Kind.OBJECTION_REQUESTED)
    assert event.reason_code == code and event.unit_id == city.street.pk
    assert event.dispatch == ticket.events.get(kind=Kind.DISPATCHED)
    assert event.data["due_at"] == application.due_at.isoformat()
    assert application.ruling_colour(MONDAY_9) == "green"
    assert application.ruling_colour(local(2026, 11, 24, 8, 0)) == "yellow"
    assert application.ruling_colour(local(2026, 11, 24, 9, 0)) == "red"


@pytest.mark.parametrize("who", ["handler2", "community_handler", "bureau_handler"])
def test_only_the_lead_unit_may_object(city, clock, who):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_objection_request(ticket=ticket, actor=getattr(city, who), reason="…")


@pytest.mark.parametrize("who", ["dispatcher", "operator", "supervisor", "callback", "leader", "gridworker"])
def test_centre_roles_and_others_may_not_object(city, clock, who):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_objection_request(ticket=ticket, actor=getattr(city, who), reason="…")


@pytest.mark.parametrize("state", [S.RECEIVED, S.REVIEWING, S.CLOSED])
def test_no_objection_outside_dispatched_and_handling(city, clock, state):
    ticket = new_ticket(city) if state == S.RECEIVED else drive(city, new_ticket(city), state)
    with pytest.raises((WorkflowError, WorkflowPermissionError)):
        workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="…")


def test_an_objection_needs_a_reason_and_a_fitting_code(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowError):
        workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason=" ")
    rework_code = ReasonCode.objects.filter(kind=ReasonCode.Kind.REWORK).first()
    with pytest.raises(WorkflowError):
        workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="…", reason_code=rework_code)
    assert not ticket.applications.exists()


def test_one_request_to_take_it_back_at_a_time(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="非本单位职责")
    with pytest.raises(WorkflowError) as refused:
        workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="…")
    assert refused.value.code == "pending"
    workflow.ticket_return_reject(ticket=ticket, actor=city.dispatcher, reason="属地负责")
    workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="…")
    with pytest.raises(WorkflowError):
        workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="…")
    with pytest.raises(WorkflowError):
        workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="again")


def test_an_upheld_objection_is_charged_to_the_dispatch_not_the_unit(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    dispatch = ticket.events.get(kind=Kind.DISPATCHED)
    workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="属职能部门职责")
    for who in ("handler", "operator", "supervisor", "callback", "leader"):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_objection_uphold(ticket=ticket, actor=getattr(city, who))
    clock.shift(timedelta(hours=2))
    ticket = workflow.ticket_objection_uphold(ticket=ticket, actor=city.dispatcher, note="改派住建局")
    assert ticket.state == S.RECEIVED
    assert (ticket.lead_department, ticket.assignee_department, ticket.signed_at) == (None, None, None)
    assert ticket.return_count == 0  # not a return of the unit
    event = ticket.events.get(kind=Kind.OBJECTION_UPHELD)
    assert (event.unit_id, event.dispatch) == (None, dispatch)
    assert event.data["department"]["id"] == city.street.pk and event.data["on_time"] is True
    assert ticket.applications.get().status == TicketApplication.Status.APPROVED
    assert_consistent(ticket)
    counters = counters_live(Period.day(MONDAY_9.date()), group_by="department")[city.street.pk]
    assert (counters.dispatched, counters.returned) == (1, 0)  # the unit's 退单率 does not count it
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.bureau)
    assert ticket.state == S.DISPATCHED


def test_a_rejected_objection_keeps_the_ticket_with_the_unit_and_says_why(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="属职能部门职责")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_objection_reject(ticket=ticket, actor=city.handler, reason="…")
    with pytest.raises(WorkflowError):
        workflow.ticket_objection_reject(ticket=ticket, actor=city.dispatcher, reason="")
    clock.shift(timedelta(days=2))  # after the ruling deadline
    ticket = workflow.ticket_objection_reject(ticket=ticket, actor=city.dispatcher, reason="属地街道牵头")
    assert ticket.state == S.HANDLING and ticket.lead_department == city.street
    event = ticket.events.get(kind=Kind.OBJECTION_REJECTED)
    assert event.note == "属地街道牵头" and event.data["on_time"] is False
    application = ticket.applications.get()
    assert (application.status, application.decision_note) == (TicketApplication.Status.REJECTED, "属地街道牵头")
    client.force_login(city.handler)
    page = client.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).content.decode()
    assert "属地街道牵头" in page
    with pytest.raises(WorkflowError):  # nothing pending any more
        workflow.ticket_objection_uphold(ticket=ticket, actor=city.dispatcher)


def test_the_centre_queue_shows_objections_and_the_late_ones(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="属职能部门职责")

    def counts():
        client.force_login(city.dispatcher)
        page = client.get("/admin/").content.decode()
        return page.count(f">{ticket.number}<"), _queue(page, "objection_requests"), _queue(page, "objections_overdue")

    assert counts()[1:] == ("1", "0")
    clock.move_to(local(2026, 11, 24, 9, 30))
    assert counts()[1:] == ("1", "1")
    page = client.get(reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.OBJECTION_UPHELD])).content.decode()
    assert 'id="objection-context"' in page and "colour-red" in page and "属职能部门职责" in page


def _queue(page, key):
    import re

    return re.search(rf'data-queue="{key}">(\d+)<', page).group(1)


def test_objections_through_the_admin_forms(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    code = ReasonCode.objects.get(kind=ReasonCode.Kind.OBJECTION, code="bureau_duty")
    client.force_login(city.handler)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.OBJECTION_REQUESTED])
    assert "属职能部门职责，不应下派基层" in client.get(url).content.decode()
    assert client.post(url, {"reason_code": code.pk, "reason": "应由住建局办理"}).status_code == 302
    client.force_login(city.dispatcher)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.OBJECTION_UPHELD])
    assert client.post(url, {"note": "同意"}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED


def test_objections_through_the_api(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    client.force_login(city.handler)
    url = reverse("api:ticket-objection-request", kwargs={"number": ticket.number})
    assert client.post(url, {"reason": "属职能部门职责"}, content_type="application/json").status_code == 200
    client.force_login(city.dispatcher)
    url = reverse("api:ticket-objection-reject", kwargs={"number": ticket.number})
    assert client.post(url, {}, content_type="application/json").status_code == 400
    assert client.post(url, {"reason": "属地负责"}, content_type="application/json").status_code == 200
    ticket.refresh_from_db()
    assert ticket.state == S.DISPATCHED


# -- 首接负责制 ---------------------------------------------------------------------------


def test_the_first_receiver_of_a_multi_unit_ticket_may_not_push_it_away(city, clock):
    ticket = workflow.ticket_dispatch(
        ticket=new_ticket(city), actor=city.dispatcher, department=city.street, cohandlers=[city.bureau]
    )
    assert workflow.first_receiver_bound(ticket)
    with pytest.raises(WorkflowError) as refused:
        workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="非本单位职责")
    assert refused.value.message == workflow.ERR_FIRST_RECEIVER
    with pytest.raises(WorkflowError) as refused:
        workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="…")
    assert refused.value.code == "first_receiver"
    assert not ticket.applications.exists()
    allowed = set(workflow.allowed_actions(ticket, city.handler))
    assert Kind.COHANDLERS_ADDED in allowed  # it coordinates: more co-handlers
    assert not {Kind.RETURN_REQUESTED, Kind.OBJECTION_REQUESTED} & allowed  # the buttons are hidden
    # The centre may still re-dispatch a ticket that has not been signed.
    assert Kind.DISPATCHED in workflow.allowed_actions(ticket, city.dispatcher)


def test_cohandlers_added_later_bind_the_lead_too(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    assert not workflow.first_receiver_bound(ticket)
    workflow.ticket_cohandlers_add(ticket=ticket, actor=city.handler, departments=[city.bureau])
    with pytest.raises(WorkflowError):
        workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="…")


def test_the_first_receiver_rule_can_be_turned_off(city, clock, settings):
    settings.FIRST_RECEIVER_DUTY = False
    ticket = workflow.ticket_dispatch(
        ticket=new_ticket(city), actor=city.dispatcher, department=city.street, cohandlers=[city.bureau]
    )
    assert Kind.RETURN_REQUESTED in workflow.allowed_actions(ticket, city.handler)
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="非本单位职责")


def test_a_single_unit_ticket_may_still_be_returned(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    assert Kind.RETURN_REQUESTED in workflow.allowed_actions(ticket, city.handler)
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="非本单位职责")


def test_the_deadline_scan_reminds_the_centre_of_a_late_ruling_once(city, clock):
    from cases.deadlines.tasks import scan_deadlines as deadline_scan
    from cases.models import Notification, Reminder

    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="属职能部门职责")
    deadline_scan()
    assert not Reminder.objects.filter(clock="ruling").exists()  # not due yet
    clock.move_to(local(2026, 11, 24, 9, 5))
    deadline_scan()
    [reminder] = Reminder.objects.filter(clock="ruling")
    assert (reminder.ticket, reminder.level, reminder.due_at) == (ticket, Reminder.Level.RED, local(2026, 11, 24, 9))
    [note] = Notification.objects.filter(reminder=reminder)
    assert note.recipient == city.dispatcher and "派单异议超时" in note.title
    deadline_scan()  # never twice
    assert Notification.objects.filter(reminder__clock="ruling").count() == 1
    workflow.ticket_objection_reject(ticket=ticket, actor=city.dispatcher, reason="属地负责")
    clock.move_to(local(2026, 11, 26, 9, 0))
    deadline_scan()
    assert Reminder.objects.filter(clock="ruling").count() == 1


# -- 申请中心协调 (首接负责制) ------------------------------------------------------------------


def _multi_unit(city):
    ticket = workflow.ticket_dispatch(
        ticket=new_ticket(city), actor=city.dispatcher, department=city.street, cohandlers=[city.bureau]
    )
    return workflow.ticket_sign(ticket=ticket, actor=city.handler)


def test_the_first_receiver_asks_the_centre_to_arbitrate_and_keeps_the_lead(city, clock):
    ticket = _multi_unit(city)
    assert Kind.ARBITRATION_REQUESTED in workflow.allowed_actions(ticket, city.handler)
    for who in ("bureau_handler", "handler2", "dispatcher", "supervisor"):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_arbitration_request(ticket=ticket, actor=getattr(city, who), reason="…")
    application = workflow.ticket_arbitration_request(ticket=ticket, actor=city.handler, reason="住建局不配合")
    assert application.kind == TicketApplication.Kind.ARBITRATION
    assert Kind.ARBITRATION_REQUESTED not in workflow.allowed_actions(ticket, city.handler)  # one at a time
    assert Kind.ARBITRATION_RULED in workflow.allowed_actions(ticket, city.dispatcher)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_arbitration_rule(ticket=ticket, actor=city.handler, note="…")
    with pytest.raises(WorkflowError):
        workflow.ticket_arbitration_rule(ticket=ticket, actor=city.dispatcher, note="")
    ticket = workflow.ticket_arbitration_rule(ticket=ticket, actor=city.dispatcher, note="由街道牵头，住建局配合")
    assert ticket.state == S.HANDLING and ticket.lead_department == city.street
    event = ticket.events.get(kind=Kind.ARBITRATION_RULED)
    assert event.data["redispatch"] is False and event.unit_id is None
    assert ticket.applications.get(kind=TicketApplication.Kind.ARBITRATION).status == TicketApplication.Status.REJECTED


def test_the_centre_may_take_it_back_to_dispatch_another_lead(city, clock):
    ticket = _multi_unit(city)
    workflow.ticket_arbitration_request(ticket=ticket, actor=city.handler, reason="应由住建局牵头")
    ticket = workflow.ticket_arbitration_rule(
        ticket=ticket, actor=city.dispatcher, note="改由住建局牵头", redispatch=True
    )
    assert ticket.state == S.RECEIVED and ticket.lead_department is None
    assert ticket.return_count == 0
    assert_consistent(ticket)
    ticket = workflow.ticket_dispatch(
        ticket=ticket, actor=city.dispatcher, department=city.bureau, cohandlers=[city.street]
    )
    assert ticket.lead_department == city.bureau


def test_a_single_unit_ticket_has_no_arbitration(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    assert Kind.ARBITRATION_REQUESTED not in workflow.allowed_actions(ticket, city.handler)
    with pytest.raises(WorkflowError) as refused:
        workflow.ticket_arbitration_request(ticket=ticket, actor=city.handler, reason="…")
    assert refused.value.code == "not_multi_unit"
