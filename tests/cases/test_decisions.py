"""Decisions with their context: each ruling form shows what it rules on, computed
by the same functions the verbs use; coded reasons are recorded on the event; the
escalation form says when it changes nothing; the callback's fault box is a choice."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cases import workflow
from cases.models import (
    Callback,
    PersonalDataAccess,
    ReasonCode,
    ReplyResult,
    ReplyTemplate,
    TicketApplication,
    TicketEvent,
    TicketState,
)
from cases.workflow import ERR_REASON_CODE, WorkflowError
from tests.api.conftest import staff_client
from tests.conftest import drive, local, new_ticket

S = TicketState
K = TicketEvent.Kind
MONDAY_9 = local(2026, 11, 23, 9, 0)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def act_url(ticket, kind):
    return reverse("admin:cases_ticket_action", args=[ticket.pk, kind])


def stamp(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def code(kind, slug):
    return ReasonCode.objects.get(kind=kind, code=slug)


# -- extension ---------------------------------------------------------------------------


def test_the_extension_ruling_shows_the_request_and_the_deadline_it_will_set(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_extension_request(
        ticket=ticket, actor=city.handler, working_days=3, reason="需协调产权单位更换主管道。"
    )
    client.force_login(city.dispatcher)

    page = client.get(act_url(ticket, K.EXTENSION_APPROVED)).content.decode()

    assert "需协调产权单位更换主管道。" in page and "3 个工作日" in page
    assert "上限 10 个工作日，已用 0 个，尚余 10 个" in page
    shown_after = workflow.extension_due_after(ticket, 3)
    assert stamp(ticket.resolve_due_at) in page and stamp(shown_after) in page
    client.post(act_url(ticket, K.EXTENSION_APPROVED), {"working_days": "", "note": ""})
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == shown_after  # the page said what the verb did


def test_the_extension_reject_form_shows_the_same_request_and_its_documents(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    client.force_login(city.handler)
    notice = SimpleUploadedFile("停水通知.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", content_type="application/pdf")
    response = client.post(
        act_url(ticket, K.EXTENSION_REQUESTED), {"working_days": "2", "reason": "等待配件。", "documents": [notice]}
    )
    assert response.status_code == 302
    client.force_login(city.dispatcher)
    page = client.get(act_url(ticket, K.EXTENSION_REJECTED)).content.decode()
    assert 'id="extension-context"' in page and "等待配件。" in page and "2 个工作日" in page
    document = ticket.events.get(kind=K.EXTENSION_REQUESTED).attachments.get()
    assert document.original_name == "停水通知.pdf"
    assert reverse("admin:cases_ticket_attachment", args=[ticket.pk, document.pk]) in page


def test_the_extension_request_form_shows_the_cap_and_the_cutoff_before_submit(client, city, clock, settings):
    settings.EXTENSION_REQUEST_CUTOFF = "16:30"
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=4, reason="材料未齐。")
    ticket = workflow.ticket_extension_approve(ticket=ticket, actor=city.dispatcher)
    client.force_login(city.handler)

    page = client.get(act_url(ticket, K.EXTENSION_REQUESTED)).content.decode()

    assert "上限 10 个工作日，已用 4 个，尚余 6 个" in page
    assert "到期当日 16:30 提出" in page  # the rule as the verb reads it
    assert stamp(workflow.extension_request_deadline(ticket)) in page
    assert stamp(workflow.extension_due_after(ticket, 6)).split(" ")[0][5:] in page  # the preview row
    assert "已过申请截止时间" not in page


def test_the_extension_request_form_says_when_it_is_too_late(client, city, clock, settings):
    settings.EXTENSION_REQUEST_CUTOFF = "08:00"  # before the 09:00 deadline on its day
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_due_at - timedelta(hours=2))  # 07:00 on the due day
    client.force_login(city.handler)
    page = client.get(act_url(ticket, K.EXTENSION_REQUESTED)).content.decode()
    assert 'id="extension-request-context"' in page and "已过申请截止时间" not in page
    clock.move_to(ticket.resolve_due_at - timedelta(minutes=30))  # 08:30: past the cut-off
    page = client.get(act_url(ticket, K.EXTENSION_REQUESTED)).content.decode()
    assert "已过申请截止时间" in page
    response = client.post(act_url(ticket, K.EXTENSION_REQUESTED), {"working_days": "1", "reason": "来不及。"})
    assert "已超过延期申请时限" in response.content.decode()  # the verb agrees with the page


# -- return --------------------------------------------------------------------------------


def test_a_return_carries_its_code_and_the_ruling_shows_it(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    wrong_address = code(ReasonCode.Kind.RETURN, "wrong_address")
    client.force_login(city.handler)
    response = client.post(
        act_url(ticket, K.RETURN_REQUESTED), {"reason_code": str(wrong_address.pk), "reason": "地址在八一路。"}
    )
    assert response.status_code == 302
    event = ticket.events.get(kind=K.RETURN_REQUESTED)
    assert event.reason_code == wrong_address and event.unit == city.street
    assert event.data["reason_code"]["label"] == "地址错误"

    client.force_login(city.dispatcher)
    for kind in (K.RETURN_APPROVED, K.RETURN_REJECTED):
        page = client.get(act_url(ticket, kind)).content.decode()
        assert "地址错误" in page and "地址在八一路。" in page and city.street.name in page


def test_the_return_form_needs_a_code(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    client.force_login(city.handler)
    response = client.post(act_url(ticket, K.RETURN_REQUESTED), {"reason": "不归我们管。"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    response = client.post(act_url(ticket, K.RETURN_REQUESTED), {"reason_code": "x'; --", "reason": "不归我们管。"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not ticket.applications.exists()


# -- review and rework -------------------------------------------------------------------


def test_the_review_shows_the_reply_its_photos_and_every_cohandler(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    ticket = workflow.ticket_cohandlers_add(
        ticket=ticket, actor=city.dispatcher, departments=[city.bureau, city.utility]
    )
    ticket = drive(city, ticket, S.HANDLING)
    workflow.ticket_cohandler_sign(ticket=ticket, actor=city.bureau_handler)
    workflow.ticket_cohandler_reply(ticket=ticket, actor=city.bureau_handler, text="已核查管网压力正常。")
    ticket = workflow.ticket_reply(
        ticket=ticket,
        actor=city.handler,
        result=ReplyResult.SOLVED,
        text="已排气，室温20度。",
        attachments=[SimpleUploadedFile("after.png", PNG, content_type="image/png")],
    )
    photo = ticket.attachments.get(original_name="after.png")
    photo_url = reverse("admin:cases_ticket_attachment", args=[ticket.pk, photo.pk])
    client.force_login(city.dispatcher)

    for url in (
        act_url(ticket, K.APPROVED),
        act_url(ticket, K.REWORK),
        reverse("admin:cases_ticket_change", args=[ticket.pk]),
    ):
        page = client.get(url).content.decode()
        assert 'id="review-context"' in page, url
        assert "已排气，室温20度。" in page
        assert f'<img class="evidence-thumb" src="{photo_url}"' in page
        assert "已核查管网压力正常。" in page and "已反馈" in page  # the bureau replied
        assert city.utility.name in page and "待签收" in page  # the utility has not signed
    assert client.get(photo_url).status_code == 200


def test_a_rework_records_its_code_and_is_charged_to_the_lead_unit(client, city, clock):
    ticket = drive(city, new_ticket(city), S.REVIEWING)
    evasive = code(ReasonCode.Kind.REWORK, "evasive")
    client.force_login(city.dispatcher)
    page = client.get(act_url(ticket, K.REWORK)).content.decode()
    assert "避重就轻" in page and "答非所问" in page and "checked" not in page.split('id="id_reason_code"')[1][:600]

    response = client.post(act_url(ticket, K.REWORK), {"reason_code": str(evasive.pk), "reason": "未说明排气结果。"})

    assert response.status_code == 302
    event = ticket.events.get(kind=K.REWORK)
    assert (event.reason_code, event.unit, event.note) == (evasive, city.street, "未说明排气结果。")
    assert event.data["reason_code"] == {"id": evasive.pk, "code": "evasive", "label": "避重就轻"}


def test_a_retired_or_foreign_code_is_refused_by_the_verb(city, clock):
    ticket = drive(city, new_ticket(city), S.REVIEWING)
    retired = code(ReasonCode.Kind.REWORK, "other")
    retired.is_active = False
    retired.save()
    for bad in (retired, code(ReasonCode.Kind.RETURN, "duplicate")):
        with pytest.raises(WorkflowError) as exc:
            workflow.ticket_rework(ticket=ticket, actor=city.dispatcher, reason="…", reason_code=bad)
        assert str(exc.value.message) == str(ERR_REASON_CODE)
    ticket.refresh_from_db()
    assert ticket.state == S.REVIEWING and ticket.rework_count == 0


def test_a_label_renamed_later_does_not_rewrite_the_event(city, clock):
    ticket = drive(city, new_ticket(city), S.REVIEWING)
    evasive = code(ReasonCode.Kind.REWORK, "evasive")
    workflow.ticket_rework(ticket=ticket, actor=city.dispatcher, reason="…", reason_code=evasive)
    evasive.label = "避重就轻（改名）"
    evasive.save()
    assert ticket.events.get(kind=K.REWORK).data["reason_code"]["label"] == "避重就轻"


# -- contact -------------------------------------------------------------------------------


def test_the_contact_form_shows_the_number_masked_and_reveals_through_the_audited_view(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.handler)
    client.force_login(city.handler)
    url = act_url(ticket, K.CONTACTED)

    page = client.get(url).content.decode()
    assert "138****1234" in page and "13800001234" not in page
    assert reverse("admin:cases_ticket_reveal", args=[ticket.pk]) in page

    response = client.post(
        reverse("admin:cases_ticket_reveal", args=[ticket.pk]), {"reason": "上门前确认地址", "next": url}
    )
    assert response.status_code == 302 and response["Location"] == url
    assert "13800001234" in client.get(url).content.decode()
    assert PersonalDataAccess.objects.filter(user=city.handler, ticket=ticket).count() == 1


def test_the_reveal_does_not_send_anyone_off_the_ticket(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    client.force_login(city.handler)
    for elsewhere in ("https://evil.example/", "/admin/cases/ticket/999999/change/", "//evil.example/x"):
        response = client.post(
            reverse("admin:cases_ticket_reveal", args=[ticket.pk]), {"reason": "核实", "next": elsewhere}
        )
        assert response["Location"] == reverse("admin:cases_ticket_change", args=[ticket.pk])


# -- escalation -----------------------------------------------------------------------------


def test_escalating_a_long_overdue_ticket_warns_before_and_after(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_due_at + timedelta(days=21))
    due = ticket.resolve_due_at
    client.force_login(city.supervisor)

    page = client.get(act_url(ticket, K.ESCALATED)).content.decode()
    assert 'id="escalation-warning"' in page and "不会改变办结时限" in page and "已超期" in page

    response = client.post(
        act_url(ticket, K.ESCALATED),
        {"leader": str(city.leader.pk), "working_days": "2", "require_signoff": "on", "reason": "超期三周。"},
        follow=True,
    )
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == due and ticket.escalated_to == city.leader
    assert "办结时限未缩短" in response.content.decode()


def test_escalating_a_ticket_with_time_left_shortens_it_without_a_warning(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)  # due in five working days
    client.force_login(city.supervisor)
    page = client.get(act_url(ticket, K.ESCALATED)).content.decode()
    new_due, shortens = workflow.escalation_due(ticket, MONDAY_9)
    assert shortens and stamp(new_due) in page and 'id="escalation-warning"' not in page
    response = client.post(
        act_url(ticket, K.ESCALATED),
        {"leader": str(city.leader.pk), "working_days": "", "reason": "群众反映强烈。"},
        follow=True,
    )
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == new_due and "办结时限未缩短" not in response.content.decode()


# -- reply templates -------------------------------------------------------------------------


def test_reply_templates_match_the_category_its_ancestors_and_the_result(city):
    heating = ReplyTemplate.objects.create(title="供暖排气", text="已排气。", category=city.heating, result="solved")
    noise = ReplyTemplate.objects.create(title="噪声", text="已劝离。", category=city.noise)
    ReplyTemplate.objects.create(title="停用", text="…", category=city.heating, is_active=False)

    for_cold_room = list(ReplyTemplate.objects.matching(category=city.cold_room))
    assert heating in for_cold_room and noise not in for_cold_room
    assert for_cold_room[0] == heating  # the most specific first, then the general ones
    assert {t.title for t in for_cold_room} >= {"已现场处置", "已解释说明", "暂无法解决"}
    explained = ReplyTemplate.objects.matching(category=city.cold_room, result="explained")
    assert heating not in explained and explained.filter(title="已解释说明").exists()


def test_the_reply_form_offers_the_templates(client, city, clock):
    ReplyTemplate.objects.create(title="供暖排气", text="已排气，室温恢复。", category=city.heating, result="solved")
    ticket = drive(city, new_ticket(city), S.HANDLING)
    client.force_login(city.handler)
    page = client.get(act_url(ticket, K.REPLIED)).content.decode()
    assert 'id="reply-templates"' in page and 'data-text="已排气，室温恢复。"' in page
    assert "cases/decisions.js" in page


# -- callback ---------------------------------------------------------------------------------


@pytest.fixture
def callback(city):
    with time_machine.travel(MONDAY_9, tick=False):
        ticket = drive(city, new_ticket(city), S.CLOSED)
    return Callback.objects.create(ticket=ticket, closed_at=ticket.closed_at, batch_date=ticket.closed_at.date())


def test_the_fault_box_is_not_preticked_and_must_be_chosen_when_unsatisfied(client, city, callback):
    client.force_login(city.callback)
    url = reverse("admin:cases_callback_record", args=[callback.pk])
    page = client.get(url).content.decode()
    fault = page.split('name="r-unit_at_fault"')
    assert len(fault) == 3 and all("checked" not in part[:80] for part in fault[1:])

    answer = {"_action": "record", "r-contacted": "1", "r-solved": "unsolved", "r-satisfaction": "unsatisfied"}
    response = client.post(url, answer)
    assert response.status_code == 200 and "请选择是否属承办单位原因" in response.content.decode()
    callback.refresh_from_db()
    assert callback.status == Callback.Status.PENDING

    client.post(url, {**answer, "r-unit_at_fault": "0"})
    callback.refresh_from_db()
    callback.ticket.refresh_from_db()
    assert callback.status == Callback.Status.DONE and callback.unit_at_fault is False
    assert not callback.reopened and callback.ticket.state == S.CLOSED


def test_a_satisfied_citizen_needs_no_fault_choice(client, city, callback):
    client.force_login(city.callback)
    url = reverse("admin:cases_callback_record", args=[callback.pk])
    client.post(url, {"_action": "record", "r-contacted": "1", "r-solved": "solved", "r-satisfaction": "satisfied"})
    callback.refresh_from_db()
    assert callback.status == Callback.Status.DONE and callback.unit_at_fault is None


def test_pending_applications_are_untouched_by_looking(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=2, reason="…")
    client.force_login(city.dispatcher)
    client.get(act_url(ticket, K.EXTENSION_APPROVED))
    assert ticket.applications.get().status == TicketApplication.Status.PENDING


def test_the_api_takes_the_code_too(city, clock):
    reviewing = drive(city, new_ticket(city), S.REVIEWING)
    api = staff_client(city.dispatcher)
    url = f"/api/v1/tickets/{reviewing.number}/rework/"
    wrong_kind = code(ReasonCode.Kind.RETURN, "duplicate")
    assert api.post(url, {"reason": "…", "reason_code": wrong_kind.pk}, format="json").status_code == 400
    assert api.post(url, {"reason": "…", "reason_code": "abc"}, format="json").status_code == 400
    off_topic = code(ReasonCode.Kind.REWORK, "off_topic")
    assert api.post(url, {"reason": "答非所问。", "reason_code": off_topic.pk}, format="json").status_code == 200
    assert reviewing.events.get(kind=K.REWORK).reason_code == off_topic
