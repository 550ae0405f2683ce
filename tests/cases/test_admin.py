"""The admin workbench: scope, the work list, the ticket page and its actions,
intake, queues, exports."""

import re

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import workflow
from cases.models import Attachment, KnowledgeArticle, ReasonCode, Ticket, TicketEvent, TicketState, Urgency
from tests.conftest import drive, local, new_ticket

Kind = TicketEvent.Kind
S = TicketState
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


def change_url(ticket):
    return reverse("admin:cases_ticket_change", args=[ticket.pk])


def action_url(ticket, kind):
    return reverse("admin:cases_ticket_action", args=[ticket.pk, kind])


def login(client, user):
    client.force_login(user)
    return client


def listed_numbers(response):
    """Ticket numbers in the result rows (not in the search box or elsewhere)."""
    return set(re.findall(r'/change/(?:\?[^"]*)?">(\d{8}-\d{5})</a>', response.content.decode()))


CHANGELIST = "/admin/cases/ticket/"


# -- scope -------------------------------------------------------------------------------


@pytest.fixture
def street_ticket(city, clock):
    return drive(city, new_ticket(city, attachments=[SimpleUploadedFile("p.png", PNG)]), S.HANDLING)


@pytest.mark.parametrize(
    "path",
    [
        "{change}change/",
        "{change}history/",
        "{change}act/replied/",
        "{change}act/signed/",
        "{attachment}",
    ],
)
def test_another_unit_gets_not_found_everywhere(client, city, street_ticket, path):
    attachment = street_ticket.attachments.get()
    url = path.format(
        change=change_url(street_ticket).removesuffix("change/"),
        attachment=reverse("admin:cases_ticket_attachment", args=[street_ticket.pk, attachment.pk]),
    )
    login(client, city.handler2)
    assert client.get(url).status_code == 404
    assert client.post(url, {"note": "x"}).status_code == 404
    login(client, city.handler)
    assert client.get(url).status_code in (200, 302)


def test_history_versions_of_another_units_ticket_are_not_found(client, city, street_ticket):
    version = street_ticket.history.first()
    url = reverse("admin:cases_ticket_simple_history", args=[street_ticket.pk, version.history_id])
    login(client, city.handler2)
    assert client.get(url).status_code == 404
    login(client, city.handler)
    assert client.get(url).status_code == 200


def test_changelist_shows_only_the_units_tickets(client, city, street_ticket, clock):
    other = drive(city, new_ticket(city, address="八一中路2号"), S.DISPATCHED, lead=city.street2)
    login(client, city.handler)
    assert listed_numbers(client.get(CHANGELIST)) == {street_ticket.number}
    login(client, city.handler2)
    assert listed_numbers(client.get(CHANGELIST)) == {other.number}
    # searching for the other unit's ticket finds nothing either
    assert listed_numbers(client.get(CHANGELIST, {"q": street_ticket.number})) == set()


def test_attachment_is_served_to_the_unit(client, city, street_ticket):
    attachment = street_ticket.attachments.get()
    login(client, city.handler)
    response = client.get(reverse("admin:cases_ticket_attachment", args=[street_ticket.pk, attachment.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_export_is_scoped_and_masks_phones(client, city, street_ticket, clock):
    other = drive(city, new_ticket(city, address="八一中路2号"), S.DISPATCHED, lead=city.street2)
    login(client, city.handler)
    response = client.post(
        CHANGELIST + "?state=all",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [street_ticket.pk, other.pk]},
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert street_ticket.number in body and other.number not in body
    assert "138****1234" in body and "13800001234" not in body


# -- the work list ---------------------------------------------------------------------------


def test_default_list_is_open_tickets_most_urgent_first(client, city, clock):
    normal = drive(city, new_ticket(city), S.DISPATCHED)
    urgent = drive(city, new_ticket(city, urgency=Urgency.URGENT), S.DISPATCHED)
    closed = drive(city, new_ticket(city), S.CLOSED)
    login(client, city.dispatcher)
    page = client.get(CHANGELIST).content.decode()
    assert page.index(urgent.number) < page.index(normal.number)
    assert closed.number not in page
    assert closed.number in client.get(CHANGELIST, {"state": "all"}).content.decode()


def test_list_query_count_does_not_grow_with_the_page(client, city, clock):
    login(client, city.dispatcher)
    for _ in range(3):
        drive(city, new_ticket(city), S.DISPATCHED)
    client.get(CHANGELIST)  # warm caches (calendar, content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(CHANGELIST).status_code == 200
    for _ in range(12):
        drive(city, new_ticket(city, urgency=Urgency.URGENT), S.HANDLING)
    with CaptureQueriesContext(connection) as many:
        response = client.get(CHANGELIST)
    assert len(listed_numbers(response)) == 15
    assert len(many.captured_queries) == len(few.captured_queries) <= 15
    counts = [q["sql"] for q in many.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_handler_list_query_count(client, city, clock, django_assert_max_num_queries):
    for _ in range(5):
        drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    client.get(CHANGELIST)
    # (one more than the centre's list: the unit's co-handled ticket ids, fetched so
    # that the scope's three conditions are each index-served — see ticket_scope)
    with django_assert_max_num_queries(16):
        assert client.get(CHANGELIST).status_code == 200


def test_search_by_number_phone_last_four_address_and_content(client, city, clock):
    a = new_ticket(city, citizen_phone="13912345678", address="城东区清真巷8号", content="楼道灯坏了一个月")
    b = new_ticket(city)
    login(client, city.operator)
    for term, expected in [
        (a.number, {a.number}),
        ("5678", {a.number}),
        ("13912345678", {a.number}),
        ("清真巷8号", {a.number}),
        ("楼道灯", {a.number}),
        ("1234", {b.number}),
    ]:
        assert listed_numbers(client.get(CHANGELIST, {"q": term})) == expected, term


@pytest.mark.parametrize(
    "params",
    [
        {"queue": "to_dispatch"},
        {"state": "handling"},
        {"state": "all", "urgency": "urgent"},
        {"nature": "complaint"},
        {"channel": "hotline"},
        {"colour": "red"},
        {"overdue": "open"},
        {"overdue": "closed", "state": "all"},
        {"overdue": "due_today"},
        {"trouble": "reworked"},
        {"mine": "registered"},
        {"received_from": "2026-11-01", "received_to": "2026-11-30"},
        {"received_from": "not-a-date"},
    ],
)
def test_every_filter_answers(client, city, clock, params):
    drive(city, new_ticket(city), S.HANDLING)
    login(client, city.dispatcher)
    response = client.get(CHANGELIST, params)
    assert response.status_code in (200, 302)  # a bad date redirects with ?e=1


def test_tree_filters_include_the_subtree(client, city, clock):
    heating = drive(city, new_ticket(city), S.DISPATCHED)
    noise = drive(city, new_ticket(city, category=city.noise, address="八一中路1号"), S.DISPATCHED, lead=city.street2)
    login(client, city.dispatcher)
    assert listed_numbers(client.get(CHANGELIST, {"category": city.construction.pk})) == {heating.number}
    assert listed_numbers(client.get(CHANGELIST, {"unit": city.district.pk})) == {heating.number, noise.number}
    assert listed_numbers(client.get(CHANGELIST, {"unit": city.street2.pk})) == {noise.number}
    assert listed_numbers(client.get(CHANGELIST, {"territory": city.community.pk})) == {heating.number}


def test_colour_filter_and_badges(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    clock.move_to(local(2026, 11, 23, 11, 30))  # the 2-hour sign limit has passed
    login(client, city.dispatcher)
    response = client.get(CHANGELIST, {"colour": "red"})
    assert listed_numbers(response) == {ticket.number}
    assert "deadline-red" in response.content.decode()
    assert listed_numbers(client.get(CHANGELIST, {"colour": "green"})) == set()


# -- the ticket page and its actions --------------------------------------------------------------


def test_ticket_page_shows_timeline_newest_first_and_the_right_buttons(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    login(client, city.handler)
    page = client.get(change_url(ticket)).content.decode()
    assert page.index("派单</strong>") < page.index("受理登记</strong>")
    assert action_url(ticket, Kind.SIGNED) in page
    assert action_url(ticket, Kind.APPROVED) not in page
    login(client, city.dispatcher)
    page = client.get(change_url(ticket)).content.decode()
    assert action_url(ticket, Kind.SIGNED) not in page
    assert action_url(ticket, Kind.DISPATCHED) in page
    assert 'name="_save"' not in page  # fields are read-only: no save button


def test_ticket_page_query_count_does_not_grow_with_the_timeline(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    client.get(change_url(ticket))
    with CaptureQueriesContext(connection) as short:
        client.get(change_url(ticket))
    for n in range(10):
        workflow.ticket_progress(ticket=ticket, actor=city.handler, note=f"进展{n}")
    with CaptureQueriesContext(connection) as long:
        client.get(change_url(ticket))
    assert len(long.captured_queries) == len(short.captured_queries)


def test_dispatch_form_is_prefilled_from_the_duty_list(client, city, clock):
    from departments.models import DutyAssignment

    DutyAssignment.objects.create(category=city.heating, department=city.utility)
    ticket = new_ticket(city)
    login(client, city.dispatcher)
    page = client.get(action_url(ticket, Kind.DISPATCHED)).content.decode()
    assert "职责清单建议" in page
    assert f'<option value="{city.utility.pk}" selected>' in page
    response = client.post(
        action_url(ticket, Kind.DISPATCHED), {"department": city.utility.pk, "cohandlers": [city.bureau.pk]}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == S.DISPATCHED and ticket.lead_department == city.utility
    assert list(ticket.cohandlers.all()) == [city.bureau]


def test_the_main_path_through_the_buttons(client, city, clock):
    ticket = new_ticket(city)
    login(client, city.dispatcher)
    assert client.post(action_url(ticket, Kind.DISPATCHED), {"department": city.street.pk}).status_code == 302
    login(client, city.handler)
    assert client.post(action_url(ticket, Kind.SIGNED), {}).status_code == 302
    assert client.post(action_url(ticket, Kind.CONTACTED), {"note": "已电话联系"}).status_code == 302
    photo = SimpleUploadedFile("after.png", PNG, content_type="image/png")
    response = client.post(action_url(ticket, Kind.REPLIED), {"result": "solved", "text": "已修复", "photos": [photo]})
    assert response.status_code == 302
    login(client, city.dispatcher)
    assert client.post(action_url(ticket, Kind.APPROVED), {}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == S.CLOSED
    assert ticket.attachments.get().kind == Attachment.Kind.AFTER


def test_workflow_refusals_are_shown_in_the_form(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    login(client, city.handler)
    client.post(action_url(ticket, Kind.SIGNED), {})
    # reply before contacting the citizen: the form says why, nothing changes
    response = client.post(action_url(ticket, Kind.REPLIED), {"result": "solved", "text": "已处理"})
    assert response.status_code == 200
    assert str(workflow.ERR_CONTACT_FIRST) in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == S.HANDLING


def test_bad_input_gets_field_errors_not_a_500(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    fake = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
    response = client.post(action_url(ticket, Kind.REPLIED), {"result": "maybe", "text": "", "photos": [fake]})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    response = client.post(action_url(ticket, Kind.EXTENSION_REQUESTED), {"working_days": "abc", "reason": ""})
    assert response.status_code == 200
    fake = SimpleUploadedFile("y.jpg", b"not an image either", content_type="image/jpeg")
    response = client.post(action_url(ticket, Kind.REPLIED), {"result": "solved", "text": "ok", "photos": [fake]})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert "内容与扩展名不符" in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_double_submitted_action_happens_once(client, city, clock):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    login(client, city.handler)
    first = client.post(action_url(ticket, Kind.SIGNED), {})
    second = client.post(action_url(ticket, Kind.SIGNED), {}, follow=True)
    assert first.status_code == 302
    assert "现在不可用" in second.content.decode()
    assert ticket.events.filter(kind=Kind.SIGNED).count() == 1


def test_unknown_action_is_not_found(client, city, clock):
    ticket = new_ticket(city)
    login(client, city.dispatcher)
    assert client.get(action_url(ticket, "launch_rockets")).status_code == 404


@pytest.mark.parametrize(
    ("state", "user", "kind", "data"),
    [
        (S.RECEIVED, "operator", Kind.ANSWERED, {"result": "explained", "text": "已解释"}),
        (S.RECEIVED, "operator", Kind.INVALIDATED, {"invalid_kind": "harassment", "reason": "骚扰"}),
        (S.REVIEWING, "dispatcher", Kind.REWORK, {"reason_code": ("rework", "off_topic"), "reason": "答非所问"}),
        (S.HANDLING, "handler", Kind.PROGRESS, {"note": "处理中"}),
        (S.HANDLING, "handler", Kind.SUBDISPATCHED, {"department": "community"}),
        (S.HANDLING, "handler", Kind.RETURN_REQUESTED, {"reason_code": ("return", "duplicate"), "reason": "非"}),
        (S.HANDLING, "handler", Kind.EXTENSION_REQUESTED, {"working_days": 2, "reason": "需协调"}),
        (S.HANDLING, "handler", Kind.COHANDLERS_ADDED, {"departments": ["bureau"]}),
        (S.CLOSED, "callback", Kind.REOPENED, {"reason": "回访不满意"}),
    ],
)
def test_each_action_form_works(client, city, clock, state, user, kind, data):
    ticket = drive(city, new_ticket(city), state)
    data = {
        key: ([getattr(city, v).pk for v in value] if isinstance(value, list) else getattr(city, value).pk)
        if key in ("department", "departments")
        else ReasonCode.objects.get(kind=value[0], code=value[1]).pk
        if key == "reason_code"
        else value
        for key, value in data.items()
    }
    login(client, getattr(city, user))
    assert client.get(action_url(ticket, kind)).status_code == 200
    response = client.post(action_url(ticket, kind), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ticket.events.filter(kind=kind).exists()


def test_merge_and_application_rulings_through_the_admin(client, city, clock):
    master = drive(city, new_ticket(city), S.HANDLING)
    duplicate = new_ticket(city)
    login(client, city.dispatcher)
    response = client.post(action_url(duplicate, Kind.MERGED), {"master": "20991231-99999"})
    assert response.status_code == 200 and "找不到" in response.content.decode()
    assert client.post(action_url(duplicate, Kind.MERGED), {"master": master.number}).status_code == 302
    workflow.ticket_extension_request(ticket=master, actor=city.handler, working_days=2, reason="需协调")
    assert client.post(action_url(master, Kind.EXTENSION_APPROVED), {"working_days": 1}).status_code == 302
    workflow.ticket_return_request(ticket=master, actor=city.handler, reason="非本单位")
    assert client.post(action_url(master, Kind.RETURN_REJECTED), {"reason": "属地负责"}).status_code == 302
    master.refresh_from_db()
    assert master.extension_days == 1 and master.state == S.HANDLING


def test_cohandler_buttons(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_cohandlers_add(ticket=ticket, actor=city.handler, departments=[city.bureau])
    login(client, city.bureau_handler)
    assert client.post(action_url(ticket, Kind.COHANDLER_SIGNED), {}).status_code == 302
    assert client.post(action_url(ticket, Kind.COHANDLER_REPLIED), {"text": "已配合"}).status_code == 302
    assert ticket.cohandlings.get().status == "replied"


def test_a_return_approved_leaves_the_unit_on_its_list(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="非本单位")
    login(client, city.dispatcher)
    response = client.post(action_url(ticket, Kind.RETURN_APPROVED), {})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == S.RECEIVED


# -- intake ----------------------------------------------------------------------------------


INTAKE = "/admin/cases/ticket/add/"


def intake_data(city, **overrides):
    data = {
        "citizen_phone": "13800001234",
        "citizen_name": "王女士",
        "channel": "hotline",
        "category": city.cold_room.pk,
        "content": "东关大街1号院暖气不热，室温14度",
        "address": "城东区东关大街1号院3号楼",
        "_action": "create",
    }
    data.update(overrides)
    return data


def test_operator_registers_a_call_through_the_intake_form(client, city, clock):
    login(client, city.operator)
    assert client.get(INTAKE).status_code == 200
    response = client.post(INTAKE, intake_data(city))
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == change_url(ticket)
    assert ticket.grid == city.grid and ticket.created_by == city.operator


def test_intake_refuses_a_malformed_phone_like_the_api_does(client, city, clock):
    login(client, city.operator)
    response = client.post(INTAKE, intake_data(city, citizen_phone="call me"))
    assert response.status_code == 200 and "电话号码格式不正确。" in response.content.decode()
    assert not Ticket.objects.exists()


def test_intake_requires_a_phone_for_hotline_calls_unless_anonymous(client, city, clock):
    login(client, city.operator)
    response = client.post(INTAKE, intake_data(city, citizen_phone=""))
    assert response.status_code == 200 and "匿名" in response.content.decode()
    assert not Ticket.objects.exists()
    assert client.post(INTAKE, intake_data(city, citizen_phone="", is_anonymous="on")).status_code == 302


def test_intake_warns_about_a_duplicate_and_merges_in_one_click(client, city, clock):
    master = drive(city, new_ticket(city), S.HANDLING)
    login(client, city.operator)
    response = client.post(INTAKE, intake_data(city))
    page = response.content.decode()
    assert response.status_code == 200 and 'id="duplicate-warning"' in page and master.number in page
    assert Ticket.objects.count() == 1
    response = client.post(INTAKE, intake_data(city, _action=f"merge:{master.pk}"))
    assert response.status_code == 302
    duplicate = Ticket.objects.exclude(pk=master.pk).get()
    assert duplicate.state == S.MERGED and duplicate.merged_into == master
    # or confirm that it is a new demand after all
    response = client.post(INTAKE, intake_data(city, confirm_new="on"))
    assert response.status_code == 302 and Ticket.objects.count() == 3


def test_intake_answers_directly_from_the_knowledge_base(client, city, clock):
    KnowledgeArticle.objects.create(question="供暖时间", answer="每年10月15日至次年4月15日", category=city.heating)
    login(client, city.operator)
    lookup = client.get(
        reverse("admin:cases_ticket_intake_lookup"),
        {"content": "请问供暖时间是什么时候", "address": "东关大街1号院", "category": city.cold_room.pk},
    ).json()
    assert lookup["territory"]["grid"]["id"] == city.grid.pk
    assert lookup["knowledge"][0]["answer"].startswith("每年10月15日")
    response = client.post(
        INTAKE,
        intake_data(
            city,
            category=city.consult.pk,
            content="请问供暖时间",
            _action="answer",
            answer_text=lookup["knowledge"][0]["answer"],
            citizen_phone="13700000000",
        ),
    )
    assert response.status_code == 302
    assert Ticket.objects.get().state == S.CLOSED


def test_intake_lookup_finds_duplicates_within_scope_only(client, city, clock):
    drive(city, new_ticket(city), S.HANDLING)
    login(client, city.operator)
    data = client.get(reverse("admin:cases_ticket_intake_lookup"), {"phone": "13800001234"}).json()
    assert len(data["duplicates"]) == 1
    login(client, city.handler2)
    assert client.get(reverse("admin:cases_ticket_intake_lookup"), {"phone": "13800001234"}).status_code == 403


def test_units_cannot_open_the_intake_form(client, city):
    login(client, city.handler)
    assert client.get(INTAKE).status_code == 403


# -- queues ----------------------------------------------------------------------------------


def test_queues_on_the_index_count_each_roles_work(client, city, clock):
    new_ticket(city)  # to dispatch
    drive(city, new_ticket(city), S.DISPATCHED)  # the street must sign
    drive(city, new_ticket(city), S.REVIEWING)  # the centre must review
    in_hand = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_extension_request(ticket=in_hand, actor=city.handler, working_days=1, reason="需协调")

    def counts(user):
        login(client, user)
        page = client.get("/admin/").content.decode()
        return dict(re.findall(r'data-queue="(\w+)">(\d+)<', page))

    assert counts(city.dispatcher) == {
        "to_dispatch": "1",
        "to_review": "1",
        "return_requests": "0",
        "extension_requests": "1",
        "objection_requests": "0",
        "objections_overdue": "0",
        "arbitration_requests": "0",
        "all_overdue": "0",
    }
    quiet = {"due_soon": "0", "overdue": "0", "rework": "0", "urges_open": "0"}
    assert counts(city.handler) == {"to_sign": "1", "in_hand": "1", **quiet}
    assert counts(city.handler2) == {"to_sign": "0", "in_hand": "0", **quiet}
    assert counts(city.operator)["my_intake_today"] == "4"
    clock.move_to(local(2026, 11, 23, 11, 30))
    assert counts(city.handler)["overdue"] == "1"  # the unsigned one ran out of sign time


def test_queue_links_filter_the_list(client, city, clock):
    to_sign = drive(city, new_ticket(city), S.DISPATCHED)
    drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    assert listed_numbers(client.get(CHANGELIST, {"queue": "to_sign"})) == {to_sign.number}


def test_index_query_count(client, city, clock, django_assert_max_num_queries):
    for _ in range(5):
        drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    client.get("/admin/")
    with django_assert_max_num_queries(10):
        client.get("/admin/")
