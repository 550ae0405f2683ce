"""Every transition of DESIGN §4: the allowed path, and the refusals for a wrong
state, a wrong role and another unit."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from cases import workflow
from cases.attachments import ERR_ATTACHMENT_CONTENT
from cases.models import (
    Attachment,
    Channel,
    CoHandling,
    InvalidKind,
    Nature,
    ReplyResult,
    Ticket,
    TicketApplication,
    TicketEvent,
    TicketState,
    Urgency,
)
from cases.workflow import WorkflowError, WorkflowPermissionError
from tests.cases.invariants import assert_consistent
from tests.conftest import drive, local, new_ticket

Kind = TicketEvent.Kind
S = TicketState
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# Monday 23 Nov 2026, 09:00 in Xining: an ordinary working morning.
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def png(name="photo.png"):
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def refused(exc_info, message):
    """The refusal carries the module's message constant (before formatting)."""
    return str(exc_info.value.message) == str(message)


# -- create ------------------------------------------------------------------------


def test_operator_registers_a_call(city, clock):
    ticket = new_ticket(city)

    assert re.fullmatch(r"20261123-\d{5}", ticket.number)
    assert ticket.state == S.RECEIVED
    assert ticket.nature == Nature.COMPLAINT  # from the category
    assert ticket.urgency == Urgency.NORMAL
    assert (ticket.grid, ticket.community, ticket.street, ticket.district) == (
        city.grid,
        city.community,
        city.street,
        city.district,
    )
    assert ticket.citizen_phone_last4 == "1234"
    assert ticket.received_at == MONDAY_9
    [event] = ticket.events.all()
    assert (event.kind, event.actor, event.actor_department) == (Kind.CREATED, city.operator, city.centre)
    assert ticket.history.get().history_user == city.operator
    assert_consistent(ticket)


def test_numbers_count_up_within_a_day_and_restart_the_next(city, clock):
    first, second = new_ticket(city), new_ticket(city)
    assert int(second.number[-5:]) == int(first.number[-5:]) + 1
    clock.shift(timedelta(days=1))
    assert new_ticket(city).number == "20261124-00001"


def test_grid_worker_reports_a_proactive_ticket(city, clock):
    ticket = new_ticket(city, actor=city.gridworker, channel=Channel.GRID, grid=city.grid, address="")
    assert ticket.is_proactive
    assert ticket.community == city.community


def test_anonymous_caller_keeps_no_name(city, clock):
    ticket = new_ticket(city, is_anonymous=True)
    assert ticket.citizen_name == ""


@pytest.mark.parametrize("user", ["handler", "callback", "leader"])
def test_units_and_read_only_roles_cannot_register(city, user):
    with pytest.raises(WorkflowPermissionError) as exc:
        new_ticket(city, actor=getattr(city, user))
    assert exc.value.code == "role"


def test_a_user_without_profile_is_refused(city):
    stranger = get_user_model().objects.create_user("stranger", password="x")
    with pytest.raises(WorkflowPermissionError) as exc:
        new_ticket(city, actor=stranger)
    assert refused(exc, workflow.ERR_NO_PROFILE)


def test_empty_content_is_refused_and_nothing_is_written(city):
    with pytest.raises(WorkflowError) as exc:
        new_ticket(city, content="   ")
    assert exc.value.code == "required"
    assert not Ticket.objects.exists()


def test_inactive_category_is_refused(city):
    city.noise.is_active = False
    city.noise.save()
    with pytest.raises(WorkflowError) as exc:
        new_ticket(city, category=city.noise)
    assert refused(exc, workflow.ERR_CATEGORY_INACTIVE)


def test_evidence_photo_is_stored_with_the_ticket(city, clock):
    ticket = new_ticket(city, attachments=[png()])
    [attachment] = ticket.attachments.all()
    assert attachment.kind == Attachment.Kind.EVIDENCE
    assert attachment.event.kind == Kind.CREATED
    assert attachment.file.read().startswith(b"\x89PNG")


def test_a_fake_image_is_refused_before_anything_is_written(city):
    fake = SimpleUploadedFile("photo.jpg", b"MZ\x90\x00 not a jpeg", content_type="image/jpeg")
    with pytest.raises(ValidationError) as exc:
        new_ticket(city, attachments=[fake])
    assert exc.value.code == "attachment_content"
    assert exc.value.message == ERR_ATTACHMENT_CONTENT
    assert not Ticket.objects.exists()


def test_a_failing_transaction_leaves_no_stored_file(city, monkeypatch, settings):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(TicketEvent.objects, "create", broken)
    with pytest.raises(RuntimeError):
        new_ticket(city, attachments=[png()])
    assert not Ticket.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


# -- answer directly ---------------------------------------------------------------


def test_operator_answers_directly(city, clock):
    ticket = new_ticket(city, category=city.consult)
    ticket = workflow.ticket_answer(ticket=ticket, actor=city.operator, text="按政策，可在社区服务中心办理。")
    assert ticket.state == S.CLOSED
    assert ticket.closed_at == MONDAY_9
    assert ticket.reply_result == ReplyResult.EXPLAINED
    assert_consistent(ticket)


def test_answer_needs_the_received_state_and_a_centre_role(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_answer(ticket=ticket, actor=city.operator, text="…")
    assert exc.value.code == "state"
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_answer(ticket=new_ticket(city), actor=city.handler, text="…")


# -- dispatch ----------------------------------------------------------------------


def test_dispatch_starts_the_sign_and_resolve_clocks(city, clock):
    ticket = workflow.ticket_dispatch(
        ticket=new_ticket(city), actor=city.dispatcher, department=city.street, cohandlers=[city.utility]
    )
    assert ticket.state == S.DISPATCHED
    assert ticket.lead_department == ticket.assignee_department == city.street
    assert ticket.sign_due_at == local(2026, 11, 23, 11, 0)  # 2 working hours
    assert ticket.resolve_due_at == local(2026, 11, 30, 9, 0)  # 5 working days
    assert ticket.next_due_at == ticket.sign_due_at
    assert ticket.colour() == "green"
    assert list(ticket.cohandlers.all()) == [city.utility]
    assert ticket.units_passed == 1
    assert_consistent(ticket)


def test_urgent_ticket_gets_wall_clock_limits(city, clock):
    clock.move_to(local(2026, 11, 28, 22, 0))  # Saturday night
    ticket = drive(city, new_ticket(city, urgency=Urgency.URGENT), S.DISPATCHED)
    assert ticket.sign_due_at == local(2026, 11, 28, 22, 20)
    assert ticket.resolve_due_at == local(2026, 11, 29, 22, 0)


def test_only_the_dispatcher_dispatches(city):
    for user in (city.operator, city.handler, city.supervisor):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_dispatch(ticket=new_ticket(city), actor=user, department=city.street)


def test_dispatch_refuses_the_centre_and_inactive_units(city):
    ticket = new_ticket(city)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.centre)
    assert exc.value.code == "department_kind"
    city.bureau.is_active = False
    city.bureau.save()
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.bureau)
    assert exc.value.code == "inactive"
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street, cohandlers=[city.street])
    assert exc.value.code == "cohandler_is_lead"


def test_redispatch_before_signing_moves_the_ticket_and_counts_units(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street)
    assert exc.value.code == "same_department"
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street2)
    assert ticket.lead_department == city.street2
    assert ticket.units_passed == 2 and not ticket.is_problem
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.bureau)
    assert ticket.units_passed == 3 and ticket.is_problem
    assert_consistent(ticket)


def test_a_signed_ticket_cannot_be_dispatched_again(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street2)
    assert exc.value.code == "state"


# -- sign, contact, progress ---------------------------------------------------------


def test_sign_stops_the_sign_clock_and_starts_the_contact_clock(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    clock.shift(timedelta(minutes=30))
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    assert ticket.state == S.HANDLING
    assert ticket.signed_at == local(2026, 11, 23, 9, 30)
    assert ticket.contact_due_at == local(2026, 11, 24, 9, 30)  # 1 working day
    assert ticket.next_due_at == ticket.contact_due_at
    assert ticket.events.last().data["on_time"] is True
    assert_consistent(ticket)


def test_unit_head_may_sign_too(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    assert workflow.ticket_sign(ticket=ticket, actor=city.head).state == S.HANDLING


@pytest.mark.parametrize("user", ["handler2", "community_handler", "bureau_handler"])
def test_another_unit_cannot_sign(city, clock, user):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowPermissionError) as exc:
        workflow.ticket_sign(ticket=ticket, actor=getattr(city, user))
    assert refused(exc, workflow.ERR_SCOPE)


def test_centre_roles_do_not_sign_and_nobody_signs_twice(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_sign(ticket=ticket, actor=city.dispatcher)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_sign(ticket=ticket, actor=city.handler)
    assert exc.value.code == "state"


def test_first_contact_is_recorded_once(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    with pytest.raises(WorkflowError):
        workflow.ticket_contact(ticket=ticket, actor=city.handler, note="")
    clock.shift(timedelta(hours=1))
    ticket = workflow.ticket_contact(ticket=ticket, actor=city.handler, note="电话联系，约定明早上门。")
    first = ticket.first_contact_at
    assert first == local(2026, 11, 23, 10, 0)
    assert ticket.next_due_at == ticket.resolve_due_at
    clock.shift(timedelta(hours=1))
    ticket = workflow.ticket_contact(ticket=ticket, actor=city.handler, note="再次联系，告知进展。")
    assert ticket.first_contact_at == first
    assert_consistent(ticket)


def test_contact_before_signing_is_refused(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_contact(ticket=ticket, actor=city.handler, note="…")
    assert exc.value.code == "state"


def test_progress_note_with_a_before_photo(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    ticket = workflow.ticket_progress(
        ticket=ticket, actor=city.handler, note="现场查看，管道堵塞。", attachments=[png()]
    )
    event = ticket.events.last()
    assert event.kind == Kind.PROGRESS
    assert [a.kind for a in event.attachments.all()] == [Attachment.Kind.BEFORE]
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_progress(ticket=ticket, actor=city.handler2, note="…")


# -- sub-dispatch --------------------------------------------------------------------


def test_street_subdispatches_to_its_community_and_takes_it_back(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    resolve_due = ticket.resolve_due_at
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    assert (ticket.state, ticket.assignee_department) == (S.DISPATCHED, city.community)
    assert ticket.resolve_due_at == resolve_due  # the street stays accountable
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.community_handler)
    assert ticket.state == S.HANDLING
    ticket = workflow.ticket_progress(ticket=ticket, actor=city.community_handler, note="社区已上门。")
    ticket = workflow.ticket_take_back(ticket=ticket, actor=city.handler)
    assert (ticket.state, ticket.assignee_department) == (S.HANDLING, city.street)
    assert ticket.events.last().kind == Kind.TAKEN_BACK
    assert_consistent(ticket)


def test_subdispatch_limits(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    assert refused(exc, workflow.ERR_SUBDISPATCH_UNSIGNED)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community2)
    assert refused(exc, workflow.ERR_SUBDISPATCH_TARGET)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    # Once passed down, the street no longer holds it: it may take it back, not pass it on.
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community_b)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.community_handler)
    # The community holds it now, and passes it down only, never up or sideways.
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_subdispatch(ticket=ticket, actor=city.community_handler, department=city.street)
    assert refused(exc, workflow.ERR_SUBDISPATCH_TARGET)


# -- reply and review --------------------------------------------------------------


def test_reply_needs_contact_first(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_reply(ticket=ticket, actor=city.handler, result=ReplyResult.SOLVED, text="已处理")
    assert refused(exc, workflow.ERR_CONTACT_FIRST)


def test_reply_without_a_reachable_citizen_needs_no_contact(city, clock):
    ticket = drive(city, new_ticket(city, is_anonymous=True, citizen_phone=""), S.DISPATCHED)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    ticket = workflow.ticket_reply(ticket=ticket, actor=city.handler, result=ReplyResult.SOLVED, text="已处理")
    assert ticket.state == S.REVIEWING


def test_reply_with_after_photos_goes_to_review(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_reply(ticket=ticket, actor=city.handler, result=ReplyResult.UNSOLVABLE, text="…")
    assert refused(exc, workflow.ERR_REPLY_REASON)
    with pytest.raises(WorkflowError):
        workflow.ticket_reply(ticket=ticket, actor=city.handler, result="maybe", text="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_reply(ticket=ticket, actor=city.handler2, result=ReplyResult.SOLVED, text="…")
    ticket = workflow.ticket_reply(
        ticket=ticket, actor=city.handler, result=ReplyResult.SOLVED, text="已修复。", attachments=[png("after.png")]
    )
    assert ticket.state == S.REVIEWING
    assert [a.kind for a in ticket.attachments.all()] == [Attachment.Kind.AFTER]
    assert_consistent(ticket)


def test_dispatcher_approves_and_closes(city, clock):
    ticket = drive(city, new_ticket(city), S.REVIEWING)
    for user in (city.handler, city.operator, city.supervisor):
        with pytest.raises(WorkflowPermissionError):
            workflow.ticket_approve(ticket=ticket, actor=user)
    clock.shift(timedelta(hours=2))
    ticket = workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)
    assert ticket.state == S.CLOSED
    assert ticket.closed_at == local(2026, 11, 23, 11, 0)
    assert ticket.next_due_at is None
    assert ticket.events.last().data == {"on_time": True}
    with pytest.raises(WorkflowError):
        workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)
    assert_consistent(ticket)


def test_rework_sends_the_reply_back_and_three_make_a_problem_ticket(city, clock):
    ticket = drive(city, new_ticket(city), S.REVIEWING)
    with pytest.raises(WorkflowError):
        workflow.ticket_rework(ticket=ticket, actor=city.dispatcher, reason=" ")
    for n in (1, 2, 3):
        ticket = workflow.ticket_rework(ticket=ticket, actor=city.dispatcher, reason="答非所问，未说明处理结果。")
        assert (ticket.state, ticket.rework_count) == (S.HANDLING, n)
        assert ticket.is_problem == (n >= 3)
        ticket = workflow.ticket_reply(
            ticket=ticket, actor=city.handler, result=ReplyResult.SOLVED, text=f"第{n}次反馈"
        )
    assert_consistent(ticket)


def test_rework_only_from_review(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_rework(ticket=ticket, actor=city.dispatcher, reason="…")
    assert exc.value.code == "state"


# -- return (退单) ------------------------------------------------------------------


def test_return_request_approved_goes_back_for_redispatch(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    application = workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="供热管网属热力公司维护。")
    assert application.status == TicketApplication.Status.PENDING
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="再次申请")
    assert exc.value.code == "pending"
    ticket = workflow.ticket_return_approve(ticket=ticket, actor=city.dispatcher)
    assert ticket.state == S.RECEIVED
    assert ticket.lead_department is None and ticket.next_due_at is None
    assert ticket.return_count == 1
    application.refresh_from_db()
    assert application.status == TicketApplication.Status.APPROVED
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.utility)
    assert ticket.units_passed == 2
    assert_consistent(ticket)


def test_return_rejected_stays_with_the_unit(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="不属于本街道。")
    with pytest.raises(WorkflowError):
        workflow.ticket_return_reject(ticket=ticket, actor=city.dispatcher, reason="")
    ticket = workflow.ticket_return_reject(ticket=ticket, actor=city.dispatcher, reason="属地管理，请街道牵头。")
    assert (ticket.state, ticket.lead_department, ticket.return_count) == (S.DISPATCHED, city.street, 0)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_return_approve(ticket=ticket, actor=city.dispatcher)
    assert exc.value.code == "no_pending"
    assert_consistent(ticket)


def test_return_is_for_the_lead_unit_and_ruled_by_the_dispatcher(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_return_request(ticket=ticket, actor=city.community_handler, reason="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_return_request(ticket=ticket, actor=city.handler2, reason="…")
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_return_approve(ticket=ticket, actor=city.handler)
    reviewing = drive(city, new_ticket(city), S.REVIEWING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_return_request(ticket=reviewing, actor=city.handler, reason="…")
    assert exc.value.code == "state"


# -- extension (延期) ---------------------------------------------------------------


def test_extension_approved_moves_the_deadline(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    assert ticket.resolve_due_at == local(2026, 11, 30, 9, 0)
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=3, reason="需协调产权单位。")
    ticket = workflow.ticket_extension_approve(ticket=ticket, actor=city.dispatcher, working_days=2)
    assert ticket.resolve_due_at == local(2026, 12, 2, 9, 0)
    assert (ticket.extension_count, ticket.extension_days) == (1, 2)
    assert ticket.applications.get().granted_days == 2
    assert_consistent(ticket)


def test_extension_must_be_asked_before_17_on_the_last_day(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    # Due Monday 30 Nov 09:00 → the cut-off is 30 Nov 17:00, but the deadline
    # itself comes first; move to the afternoon before instead.
    clock.move_to(local(2026, 11, 27, 17, 30))  # Friday before: still fine
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=1, reason="材料未齐。")
    workflow.ticket_extension_reject(ticket=ticket, actor=city.dispatcher, reason="可按期办结。")
    clock.move_to(local(2026, 11, 30, 9, 0))  # at the deadline: late
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=1, reason="…")
    assert exc.value.code == "late"


def test_extension_cutoff_on_the_due_day(city, clock):
    # Dispatched Monday 10:00 with a 1-working-day resolve limit → due Tuesday 10:00;
    # put the due time at 18:00 to see the 17:00 cut-off.
    clock.move_to(local(2026, 11, 23, 10, 0))
    ticket = drive(city, new_ticket(city), S.HANDLING)
    Ticket.objects.filter(pk=ticket.pk).update(resolve_due_at=local(2026, 11, 24, 18, 0))
    clock.move_to(local(2026, 11, 24, 16, 59))
    assert not workflow.extension_is_late(Ticket.objects.get(pk=ticket.pk), local(2026, 11, 24, 16, 59))
    assert workflow.extension_is_late(Ticket.objects.get(pk=ticket.pk), local(2026, 11, 24, 17, 0))
    clock.move_to(local(2026, 11, 24, 17, 0))
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=1, reason="…")
    assert exc.value.code == "late"


def test_extension_days_are_capped(city, clock, settings):
    settings.EXTENSION_MAX_WORKING_DAYS = 5
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=6, reason="…")
    assert exc.value.code == "days"
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=4, reason="…")
    workflow.ticket_extension_approve(ticket=ticket, actor=city.dispatcher)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=2, reason="…")
    assert exc.value.code == "cap"


def test_extension_roles_and_scope(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_extension_request(ticket=ticket, actor=city.handler2, working_days=1, reason="…")
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=1, reason="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_extension_approve(ticket=ticket, actor=city.handler)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_extension_approve(ticket=ticket, actor=city.dispatcher, working_days=5)
    assert exc.value.code == "days"


# -- co-handling ---------------------------------------------------------------------


def test_cohandler_signs_and_replies_to_the_lead(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    ticket = workflow.ticket_cohandlers_add(ticket=ticket, actor=city.handler, departments=[city.bureau])
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_cohandlers_add(ticket=ticket, actor=city.handler, departments=[city.bureau])
    assert exc.value.code == "exists"
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_cohandler_sign(ticket=ticket, actor=city.bureau2_handler)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_cohandlers_add(ticket=ticket, actor=city.handler2, departments=[city.bureau2])
    ticket = workflow.ticket_cohandler_sign(ticket=ticket, actor=city.bureau_handler)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_cohandler_reply(ticket=ticket, actor=city.bureau_handler, text="")
    ticket = workflow.ticket_cohandler_reply(ticket=ticket, actor=city.bureau_handler, text="已督促物业维修。")
    row = CoHandling.objects.get(ticket=ticket, department=city.bureau)
    assert row.status == CoHandling.Status.REPLIED and row.reply_text == "已督促物业维修。"
    # The co-handler cannot reply to the centre in the lead's place.
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_reply(ticket=ticket, actor=city.bureau_handler, result=ReplyResult.SOLVED, text="…")
    assert ticket.state == S.HANDLING
    assert_consistent(ticket)


def test_lead_unit_cannot_be_its_own_cohandler(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_cohandlers_add(ticket=ticket, actor=city.dispatcher, departments=[city.street])
    assert exc.value.code == "cohandler_is_lead"


# -- merge -----------------------------------------------------------------------------


def test_duplicate_merges_and_takes_the_masters_result(city, clock):
    master = drive(city, new_ticket(city), S.HANDLING)
    duplicate = new_ticket(city, citizen_phone="13900005678", citizen_name="李先生")
    duplicate = workflow.ticket_merge(ticket=duplicate, actor=city.dispatcher, master=master)
    assert (duplicate.state, duplicate.merged_into) == (S.MERGED, master)
    master = drive(city, master, S.CLOSED)
    duplicate.refresh_from_db()
    assert duplicate.state == S.MERGED
    assert duplicate.closed_at == master.closed_at
    assert duplicate.reply_text == master.reply_text
    assert duplicate.events.last().kind == Kind.MASTER_CLOSED
    assert_consistent(duplicate)
    assert_consistent(master)


def test_merge_refusals(city, clock):
    master = new_ticket(city)
    duplicate = new_ticket(city)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_merge(ticket=master, actor=city.dispatcher, master=master)
    assert exc.value.code == "self"
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_merge(ticket=duplicate, actor=city.handler, master=master)
    closed = drive(city, new_ticket(city), S.CLOSED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_merge(ticket=duplicate, actor=city.dispatcher, master=closed)
    assert exc.value.code == "master_state"
    workflow.ticket_merge(ticket=duplicate, actor=city.operator, master=master)
    third = new_ticket(city)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_merge(ticket=third, actor=city.dispatcher, master=duplicate)
    assert exc.value.code == "master_merged"
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_merge(ticket=master, actor=city.dispatcher, master=third)
    assert exc.value.code == "has_children"
    handling = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_merge(ticket=handling, actor=city.dispatcher, master=master)
    assert exc.value.code == "state"


# -- invalid and reopen ---------------------------------------------------------------


def test_invalid_ticket_needs_kind_and_reason(city, clock):
    ticket = new_ticket(city)
    with pytest.raises(WorkflowError):
        workflow.ticket_invalidate(ticket=ticket, actor=city.operator, kind="bogus", reason="…")
    with pytest.raises(WorkflowError):
        workflow.ticket_invalidate(ticket=ticket, actor=city.operator, kind=InvalidKind.HARASSMENT, reason="")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_invalidate(ticket=ticket, actor=city.handler, kind=InvalidKind.HARASSMENT, reason="…")
    ticket = workflow.ticket_invalidate(
        ticket=ticket, actor=city.operator, kind=InvalidKind.HARASSMENT, reason="来电辱骂话务员。"
    )
    assert ticket.state == S.INVALID
    assert Ticket.objects.filter(pk=ticket.pk).exists()  # kept, not deleted
    dispatched = drive(city, new_ticket(city), S.DISPATCHED)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_invalidate(ticket=dispatched, actor=city.dispatcher, kind=InvalidKind.EMPTY, reason="…")
    assert exc.value.code == "state"
    assert_consistent(ticket)


def test_reopen_returns_to_the_lead_unit_with_three_working_days(city, clock):
    ticket = drive(city, new_ticket(city), S.CLOSED)
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_reopen(ticket=ticket, actor=city.handler, reason="…")
    clock.move_to(local(2026, 11, 25, 15, 0))  # Wednesday
    ticket = workflow.ticket_reopen(ticket=ticket, actor=city.callback, reason="回访不满意：暖气仍不热。")
    assert (ticket.state, ticket.assignee_department, ticket.reopen_count) == (S.HANDLING, city.street, 1)
    assert ticket.resolve_due_at == local(2026, 11, 30, 15, 0)
    handling = drive(city, new_ticket(city), S.HANDLING)
    with pytest.raises(WorkflowError) as exc:
        workflow.ticket_reopen(ticket=handling, actor=city.supervisor, reason="…")
    assert exc.value.code == "state"
    assert_consistent(ticket)


def test_reopening_a_ticket_the_centre_answered_goes_back_to_dispatch(city, clock):
    ticket = workflow.ticket_answer(ticket=new_ticket(city), actor=city.operator, text="已答复。")
    ticket = workflow.ticket_reopen(ticket=ticket, actor=city.supervisor, reason="答复有误。")
    assert ticket.state == S.RECEIVED
    assert_consistent(ticket)


# -- cross-cutting -----------------------------------------------------------------------


def test_every_transition_leaves_a_history_version_by_its_actor(city, clock):
    ticket = drive(city, new_ticket(city), S.CLOSED)
    versions = list(ticket.history.order_by("history_id").values_list("history_change_reason", "history_user"))
    assert versions == [
        (Kind.CREATED, city.operator.pk),
        (Kind.DISPATCHED, city.dispatcher.pk),
        (Kind.SIGNED, city.handler.pk),
        (Kind.CONTACTED, city.handler.pk),
        (Kind.REPLIED, city.handler.pk),
        (Kind.APPROVED, city.dispatcher.pk),
    ]


def test_allowed_actions_follow_the_table(city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    assert set(workflow.allowed_actions(ticket, city.handler)) == {
        Kind.SIGNED,
        Kind.RETURN_REQUESTED,
        Kind.OBJECTION_REQUESTED,
        Kind.EXTENSION_REQUESTED,
        Kind.COHANDLERS_ADDED,
    }
    assert workflow.allowed_actions(ticket, city.handler2) == []
    assert set(workflow.allowed_actions(ticket, city.dispatcher)) == {
        Kind.DISPATCHED,
        Kind.COHANDLERS_ADDED,
        Kind.MERGED,
        Kind.SIGNOFF_REQUIRED,
        Kind.PUBLICITY_CHANGED,
    }
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="…")
    assert {Kind.RETURN_APPROVED, Kind.RETURN_REJECTED} <= set(workflow.allowed_actions(ticket, city.dispatcher))
    # One request to take the ticket back at a time: no objection beside a return.
    assert not {Kind.RETURN_REQUESTED, Kind.OBJECTION_REQUESTED} & set(workflow.allowed_actions(ticket, city.handler))


def test_allowed_actions_for_a_dispatch_objection(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_objection_request(ticket=ticket, actor=city.handler, reason="属职能部门职责")
    centre = set(workflow.allowed_actions(ticket, city.dispatcher))
    assert {Kind.OBJECTION_UPHELD, Kind.OBJECTION_REJECTED} <= centre
    assert not {Kind.RETURN_APPROVED, Kind.RETURN_REJECTED} & centre
    unit = set(workflow.allowed_actions(ticket, city.handler))
    assert not {Kind.RETURN_REQUESTED, Kind.OBJECTION_REQUESTED, Kind.OBJECTION_UPHELD} & unit
    assert workflow.allowed_actions(ticket, city.handler2) == []
    for user in (city.operator, city.supervisor, city.callback, city.leader):
        assert not {Kind.OBJECTION_UPHELD, Kind.OBJECTION_REJECTED} & set(workflow.allowed_actions(ticket, user))


def test_allowed_actions_on_a_received_ticket(city, clock):
    ticket = new_ticket(city)
    received = {Kind.DISPATCHED, Kind.ANSWERED, Kind.MERGED, Kind.INVALIDATED, Kind.PUBLICITY_CHANGED}
    # no unit runs a sub-centre: nothing to transfer to (tests/cases/test_subcentres.py has the rest)
    assert set(workflow.allowed_actions(ticket, city.dispatcher)) == received
    assert set(workflow.allowed_actions(ticket, city.operator)) == {Kind.ANSWERED, Kind.MERGED, Kind.INVALIDATED}
    assert set(workflow.allowed_actions(ticket, city.supervisor)) == {Kind.MERGED, Kind.PUBLICITY_CHANGED}
    assert workflow.allowed_actions(ticket, city.handler) == []
    city.district.is_subcentre = True
    city.district.save(update_fields=["is_subcentre"])
    assert set(workflow.allowed_actions(ticket, city.dispatcher)) == {*received, Kind.TRANSFERRED}


def test_a_superuser_may_do_anything_the_table_allows(city, clock):
    admin = get_user_model().objects.create_superuser("root", password="x")
    ticket = workflow.ticket_create(actor=admin, channel=Channel.WEB, category=city.noise, content="夜间施工噪声扰民")
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=admin, department=city.bureau2)
    ticket = workflow.ticket_sign(ticket=ticket, actor=admin)
    assert ticket.state == S.HANDLING
