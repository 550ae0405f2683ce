"""Public visibility by rule (DESIGN §8, issue 18): every public output — the board,
the status lookup, Open311 in JSON and XML — rendered over tickets seeded with
personal data, never-public categories, sensor and proactive channels and a
confidential report. None of the personal strings and none of the hidden tickets
may come out, and a new public route cannot be added without being listed here."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import workflow
from cases.models import Channel, ServiceRequestToken, TicketEvent, TicketState
from cases.public import category_is_never_public, public_summary_scrub, public_tickets
from tests.cases.factories import CategoryFactory
from tests.conftest import drive, new_ticket
from tests.permission_matrix import all_routes

S = TicketState
BASE = "/open311/v2/"

NAME = "王秀英"
MOBILE = "13912345678"
LANDLINE = "0971-8123456"
ID_NUMBER = "630102195501011234"
DEVICE = "WM-0001"
ELDER = "独居老人"
#: What must never leave: each a fragment that survives no masking.
SECRETS = [
    "秀英",
    "1391234",
    "8123456",
    "195501011234",
    "3号楼",
    "2单元",
    "501室",
    DEVICE,
    ELDER,
    "钥匙放在门卫",  # in the unit's reply only, never in its public summary
]
PERSONAL = (
    f"{NAME}反映：东关大街1号院3号楼2单元501室家水表异常（设备 {DEVICE}），"
    f"电话 {MOBILE}，座机 {LANDLINE}，身份证 {ID_NUMBER}。"
)
#: The hidden tickets are also about a lone elder (the sensor alert of the issue).
VULNERABLE = f"{ELDER}24小时用水读数低于0.01立方米。" + PERSONAL

#: Routes outside the admin and the staff API that carry no ticket data at all.
DATA_FREE_ROUTES = {"set_language", "javascript-catalog", "favicon", "api-schema", "api-docs", "api-redoc"}
#: Routes outside the admin for signed-in accounts only: the wall screen (大屏),
#: counts without personal data (tests/reports/test_wall.py renders it for each role).
SIGNED_IN_ROUTES = {"wall", "wall_data", "wall_geo"}
#: Routes that carry ticket data: each is rendered below.
PUBLIC_DATA_ROUTES = {
    "public-board",
    "public-lookup",
    "open311:discovery",
    "open311:services",
    "open311:service",
    "open311:requests",
    "open311:request",
    "open311:token",
    "open311:updates",
    "<open311/v2/^.*?(?:\\.(?P<fmt>json|xml))?$>",
}


@pytest.fixture
def loose_limits(settings):
    settings.HOTLINE_API_RATES = {**settings.HOTLINE_API_RATES, "lookup": "1000/min", "open311": "1000/min"}


@pytest.fixture
def seeded(city, loose_limits):
    """One public ticket full of personal data, and one of each kind that is never public."""
    elderly = CategoryFactory(name="养老服务", code="0801", never_public=True)
    lonely = CategoryFactory(name="独居老人关爱", code="080101", parent=elderly)

    def closed_with_reply(ticket, *, summary):
        ticket = drive(city, ticket, S.HANDLING)
        ticket = workflow.ticket_reply(
            ticket=ticket,
            actor=city.handler,
            result="solved",
            text=f"已上门为{NAME}更换水表，{MOBILE} 已回访，钥匙放在门卫。",
            public_summary=summary,
        )
        return workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)

    personal = {"content": VULNERABLE, "citizen_name": NAME, "citizen_phone": MOBILE, "address": "东关大街1号院3号楼"}
    public = closed_with_reply(
        new_ticket(city, **{**personal, "content": PERSONAL}),
        # The handler kept personal data in the summary: the workflow scrubs it.
        summary=f"已为{NAME}更换水表（3号楼2单元501室，{MOBILE}，设备 {DEVICE}）。",
    )
    hidden = {
        "never_public": closed_with_reply(new_ticket(city, **personal, category=lonely), summary="已上门关爱。"),
        "sensor": drive(city, new_ticket(city, **personal, channel=Channel.SENSOR), S.HANDLING),
        "proactive": drive(city, new_ticket(city, **personal, channel=Channel.GRID), S.DISPATCHED),
        "confidential": drive(city, new_ticket(city, **personal, is_confidential=True, nature="report"), S.HANDLING),
        "void": workflow.ticket_invalidate(
            ticket=new_ticket(city, **personal, category=lonely), actor=city.operator, kind="other", reason="重复"
        ),
    }
    for ticket in (public, *hidden.values()):
        ServiceRequestToken.objects.create(ticket=ticket)
    return public, hidden


def _outputs(client, public, hidden) -> dict[str, str]:
    """Every public output over the seeded tickets, by a name for the failure message."""
    numbers = [public.number, *(t.number for t in hidden.values())]
    out = {}
    out["board"] = client.get("/").content.decode()
    out["board closed"] = client.get("/", {"state": "closed"}).content.decode()
    for ticket in (public, *hidden.values()):
        out[f"lookup {ticket.number}"] = client.post("/lookup/", {"number": ticket.number, "last4": "5678"}).content
        out[f"lookup {ticket.number}"] = out[f"lookup {ticket.number}"].decode()
    for fmt in ("json", "xml"):
        for path in ("discovery", "services", "services/080101", "requests", "servicerequestupdates"):
            out[f"{path}.{fmt}"] = client.get(f"{BASE}{path}.{fmt}").content.decode()
        out[f"requests.{fmt}?ids"] = client.get(
            f"{BASE}requests.{fmt}", {"service_request_id": ",".join(numbers)}
        ).content.decode()
        for number in numbers:
            out[f"requests/{number}.{fmt}"] = client.get(f"{BASE}requests/{number}.{fmt}").content.decode()
        for token in ServiceRequestToken.objects.all():
            out[f"tokens/{token.ticket.number}.{fmt}"] = client.get(f"{BASE}tokens/{token.token}.{fmt}").content
            out[f"tokens/{token.ticket.number}.{fmt}"] = out[f"tokens/{token.ticket.number}.{fmt}"].decode()
    return out


def test_every_public_route_is_rendered_here():
    """A new public route fails this until it is listed (and checked) above."""
    outside = {
        r.name for r in all_routes() if not r.route.startswith(("admin/", "api/v1/", "static/", "media/", "__debug__"))
    }
    assert outside == DATA_FREE_ROUTES | PUBLIC_DATA_ROUTES | SIGNED_IN_ROUTES


def test_no_personal_data_and_no_hidden_ticket_in_any_public_output(client, seeded):
    public, hidden = seeded
    outputs = _outputs(client, public, hidden)
    leaks = [(name, s) for name, body in outputs.items() for s in SECRETS if s in body]
    assert leaks == []
    # The public ticket is there, with the summary its unit approved (scrubbed), not the reply.
    assert public.number in outputs["board"] and public.number in outputs["requests.json"]
    assert "已为王**更换水表" in outputs["board"]
    assert "已为王**更换水表" in outputs[f"requests/{public.number}.json"]
    for name, ticket in hidden.items():
        for where in ("board", "board closed", "requests.json", "requests.xml", "servicerequestupdates.json"):
            assert ticket.number not in outputs[where], (name, where)
        for fmt in ("json", "xml"):
            assert ticket.number not in outputs[f"requests.{fmt}?ids"], (name, fmt)
            assert f"service_request_id {ticket.number} not found" in outputs[f"requests/{ticket.number}.{fmt}"]
            assert ticket.number not in outputs[f"tokens/{ticket.number}.{fmt}"], (name, fmt)


def test_a_hidden_ticket_is_404_like_an_unknown_one(client, seeded):
    _public, hidden = seeded
    for ticket in hidden.values():
        for fmt in ("json", "xml"):
            hidden_answer = client.get(f"{BASE}requests/{ticket.number}.{fmt}")
            unknown = client.get(f"{BASE}requests/20000101-00001.{fmt}")
            assert hidden_answer.status_code == unknown.status_code == 404
            assert hidden_answer.content.replace(ticket.number.encode(), b"X") == unknown.content.replace(
                b"20000101-00001", b"X"
            )
    errors = json.loads(client.get(f"{BASE}requests/{hidden['sensor'].number}.json").content)
    assert errors == [{"code": 404, "description": f"service_request_id {hidden['sensor'].number} not found"}]


def test_the_lookup_of_a_hidden_ticket_shows_its_state_only(client, seeded, city):
    public, hidden = seeded
    page = client.post("/lookup/", {"number": hidden["never_public"].number, "last4": "5678"}).content.decode()
    assert hidden["never_public"].number in page and "已办结" in page
    for shown in ("独居老人关爱", "东关社区", "东关大街街道", "更换水表", "办理过程"):
        assert shown not in page
    own = client.post("/lookup/", {"number": public.number, "last4": "5678"}).content.decode()
    assert "东关大街街道" in own and "已为王**更换水表" in own and "办理过程" in own


def test_marking_a_category_never_public_hides_its_subtree_at_once(client, city, loose_limits):
    noisy = drive(city, new_ticket(city, category=city.noise, content="夜间施工噪声"), S.HANDLING)
    assert noisy.number in client.get("/").content.decode()
    city.environment.never_public = True
    city.environment.save()
    assert category_is_never_public(city.noise) and not category_is_never_public(city.heating)
    assert noisy.number not in client.get("/").content.decode()
    assert client.get(f"{BASE}requests/{noisy.number}.json").status_code == 404
    # Nor is the category offered as a filter on the board.
    assert "环境保护" not in client.get("/").content.decode()


def test_sensor_and_proactive_tickets_start_private_and_the_centre_may_publish_them(city, loose_limits, client):
    sensor = drive(city, new_ticket(city, channel=Channel.SENSOR, content="水表读数异常"), S.DISPATCHED)
    grid = new_ticket(city, channel=Channel.GRID, actor=city.gridworker, content="井盖缺失")
    call = new_ticket(city)
    assert (sensor.is_public, grid.is_public, call.is_public) == (False, False, True)

    with pytest.raises(workflow.WorkflowPermissionError):
        workflow.ticket_publicity_set(ticket=sensor, actor=city.handler, public=True, reason="想公开")
    with pytest.raises(workflow.WorkflowError):
        workflow.ticket_publicity_set(ticket=sensor, actor=city.dispatcher, public=True, reason="  ")
    sensor = workflow.ticket_publicity_set(ticket=sensor, actor=city.dispatcher, public=True, reason="公共设施问题")

    assert sensor.is_public and sensor.state == S.DISPATCHED
    event = sensor.events.get(kind=TicketEvent.Kind.PUBLICITY_CHANGED)
    assert (event.actor, event.note, event.data) == (city.dispatcher, "公共设施问题", {"public": True})
    assert sensor.history.first().is_public is True  # audited in the history too
    assert sensor.number in client.get("/").content.decode()
    with pytest.raises(workflow.WorkflowError):
        workflow.ticket_publicity_set(ticket=sensor, actor=city.supervisor, public=True, reason="再次")


def test_without_an_approved_summary_the_public_sees_the_result_only(client, city):
    t = drive(city, new_ticket(city), S.HANDLING)
    t = workflow.ticket_reply(ticket=t, actor=city.handler, result="solved", text="已为王女士修好暖气阀门。")
    t = workflow.ticket_approve(ticket=t, actor=city.dispatcher)
    assert t.public_summary == ""
    board = client.get("/").content.decode()
    detail = json.loads(client.get(f"{BASE}requests/{t.number}.json").content)[0]
    assert "暖气阀门" not in board and "暖气阀门" not in json.dumps(detail, ensure_ascii=False)
    assert detail["status_notes"] == "已解决"
    updates = client.get(f"{BASE}servicerequestupdates.json").content.decode()
    assert "暖气阀门" not in updates and "审核通过" in updates


def test_the_summary_is_stored_scrubbed_and_recorded_on_the_event(city):
    t = drive(city, new_ticket(city, citizen_name=NAME), S.HANDLING)
    t = workflow.ticket_reply(
        ticket=t, actor=city.handler, result="solved", text="已处置。", public_summary=f"  {NAME} 3号楼 {MOBILE}  "
    )
    assert t.public_summary == "王** *号楼 139****5678"
    assert t.events.get(kind=TicketEvent.Kind.REPLIED).data["public_summary"] == t.public_summary


def test_the_reply_form_suggests_the_scrubbed_reply_and_posts_the_summary(client, city):
    t = drive(city, new_ticket(city, citizen_name=NAME), S.HANDLING)
    client.force_login(city.handler)
    form = client.get(f"/admin/cases/ticket/{t.pk}/act/replied/").content.decode()
    assert 'name="public_summary"' in form and "cases/public_summary.js" in form
    suggestion = client.post(f"/admin/cases/ticket/{t.pk}/public-summary/", {"text": f"{NAME}家3号楼，{MOBILE}"})
    assert suggestion.json() == {"summary": "王**家*号楼，139****5678"}
    response = client.post(
        f"/admin/cases/ticket/{t.pk}/act/replied/",
        {"result": "solved", "text": "已处置。", "public_summary": f"已为{NAME}处置完毕"},
    )
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.state == S.REVIEWING and t.public_summary == "已为王**处置完毕"
    client.force_login(city.handler2)  # another street's handler gets nothing
    assert client.post(f"/admin/cases/ticket/{t.pk}/public-summary/", {"text": "x"}).status_code == 404


def test_the_publicity_action_on_the_ticket_page(client, city):
    t = drive(city, new_ticket(city, channel=Channel.SENSOR), S.DISPATCHED)
    client.force_login(city.dispatcher)
    page = client.get(f"/admin/cases/ticket/{t.pk}/act/{TicketEvent.Kind.PUBLICITY_CHANGED}/").content.decode()
    assert "当前：不公开。" in page
    bad = client.post(f"/admin/cases/ticket/{t.pk}/act/{TicketEvent.Kind.PUBLICITY_CHANGED}/", {"public": "x"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    done = client.post(
        f"/admin/cases/ticket/{t.pk}/act/{TicketEvent.Kind.PUBLICITY_CHANGED}/", {"public": "1", "reason": "公共设施"}
    )
    assert done.status_code == 302
    t.refresh_from_db()
    assert t.is_public
    client.force_login(city.handler)
    assert TicketEvent.Kind.PUBLICITY_CHANGED not in workflow.allowed_actions(t, city.handler)


# -- the scrub, over generated text ---------------------------------------------------------

_WORDS = st.text(alphabet=st.sampled_from("东关大街社区反映家中暖气不热请尽快处理，。！"), min_size=1, max_size=12)
_MOBILES = st.from_regex(r"1[3-9]\d{9}", fullmatch=True)
_IDS = st.from_regex(r"6301\d{2}(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d)\d{3}[\dX]", fullmatch=True)
_HOUSES = st.from_regex(r"[1-9]\d{0,2}(号楼|栋|单元|室|号院)", fullmatch=True)
_DEVICES = st.from_regex(r"[A-Z]{2,4}-\d{3,6}", fullmatch=True)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.tuples(_WORDS, st.one_of(_MOBILES, _IDS, _HOUSES, _DEVICES)), min_size=1, max_size=4))
def test_a_summary_keeps_no_phone_id_house_or_device_number(parts):
    text = "".join(words + secret for words, secret in parts)
    out = public_summary_scrub(text)
    for _words, secret in parts:
        assert secret not in out, (secret, out)


def test_public_tickets_is_the_one_rule(seeded):
    public, hidden = seeded
    visible = set(public_tickets(include_invalid=True).values_list("number", flat=True))
    assert public.number in visible and not visible & {t.number for t in hidden.values()}
