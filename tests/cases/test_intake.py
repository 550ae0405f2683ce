"""Intake that helps: duplicates by place, knowledge search by relevance, a knowledge
answer that closes in one step, and the grid worker's patrol report."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import workflow
from cases.attachments import pending_names, pending_prune, pending_store, pending_token_new
from cases.intake import intake_duplicates, knowledge_search, place_key, same_place
from cases.models import Attachment, Channel, KnowledgeArticle, Nature, Ticket, TicketState
from departments.selectors import territory_resolve
from tests.cases.factories import CategoryFactory
from tests.conftest import drive, local, new_ticket

S = TicketState
INTAKE = "/admin/cases/ticket/add/"
LOOKUP = "/admin/cases/ticket/intake/lookup/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


def login(client, user):
    client.force_login(user)
    return client


# -- the place of an address ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("城东区东关大街1号院3号楼", "东关大街1号院"),
        ("东关大街1号院5单元", "东关大街1号院"),
        ("西宁市城西区幸福小区5栋2单元", "幸福小区"),
        ("建设路12号楼", "建设路12号楼"),
        ("八一中路路口", ""),
        ("", ""),
    ],
)
def test_an_address_is_reduced_to_its_compound_or_building(address, key):
    assert place_key(address) == key


def test_a_compound_named_with_a_longer_lead_in_is_the_same_place():
    assert same_place(place_key("东关社区东关大街1号院"), place_key("城东区东关大街1号院3号楼"))
    assert not same_place(place_key("东关大街2号院"), place_key("东关大街1号院"))
    assert not same_place("", "")


# -- duplicates by place ----------------------------------------------------------------------


def six_cold_flats(city, clock):
    """Six open 暖气不热 tickets from one compound over two days, in the callers' words."""
    words = [
        "家里暖气片冰凉，老人受不了",
        "供暖不达标，屋里只有12度",
        "暖气片上热下凉，请热力公司来看看",
        "室内温度太低，孩子感冒了",
        "暖气一直不热，物业不管",
        "整栋楼暖气都是温的",
    ]
    tickets = []
    for i, content in enumerate(words):
        clock.shift(timedelta(hours=8))
        ticket = new_ticket(
            city,
            content=content,
            citizen_phone=f"1390000{i:04d}",
            address=f"城东区东关大街1号院{i + 1}号楼",
        )
        tickets.append(drive(city, ticket, S.DISPATCHED) if i % 2 else ticket)
    return tickets


def test_open_tickets_of_one_compound_are_shown_for_a_callers_own_words(client, city, clock):
    flats = six_cold_flats(city, clock)
    login(client, city.operator)
    data = client.get(
        LOOKUP,
        {
            "content": "我家屋里冷得像冰窖，已经两天了",
            "address": "东关大街1号院7号楼",
            "phone": "13612345678",
            "category": city.cold_room.pk,
        },
    ).json()
    shown = {d["id"]: d["reason"] for d in data["duplicates"]}
    assert set(shown) == {t.pk for t in flats}
    assert set(shown.values()) == {"同一小区同类诉求"}


def test_the_intake_form_offers_the_place_duplicates_and_merges_into_the_chosen_one(client, city, clock):
    flats = six_cold_flats(city, clock)
    login(client, city.operator)
    form = {
        "citizen_phone": "13612345678",
        "channel": Channel.HOTLINE,
        "category": city.heating.pk,  # a caller's wider choice still finds the family
        "content": "我家屋里冷得像冰窖，已经两天了",
        "address": "东关大街1号院7号楼",
        "_action": "create",
    }
    page = client.post(INTAKE, form).content.decode()
    assert 'id="duplicate-warning"' in page and "同一小区同类诉求" in page
    assert all(t.number in page for t in flats)
    assert Ticket.objects.count() == 6

    response = client.post(INTAKE, {**form, "_action": f"merge:{flats[2].pk}"})
    assert response.status_code == 302
    merged = Ticket.objects.exclude(pk__in=[t.pk for t in flats]).get()
    assert merged.state == S.MERGED and merged.merged_into == flats[2]


def test_place_duplicates_keep_to_the_family_the_window_the_open_and_the_grid(client, city, clock):
    other_family = new_ticket(city, category=city.noise, content="楼下广场舞太吵", address="东关大街1号院1号楼")
    closed = drive(city, new_ticket(city, content="暖气不热", address="东关大街1号院2号楼"), S.CLOSED)
    other_compound_same_grid = new_ticket(
        city, content="暖气漏水", citizen_phone="13500000001", address="东关大街3号院", grid=city.grid
    )
    other_community = new_ticket(
        city, content="暖气不热", citizen_phone="13500000002", address="八一中路9号院", community=city.community2
    )
    clock.shift(timedelta(days=8))
    fresh = new_ticket(city, content="屋里冷", citizen_phone="13500000003", address="东关大街1号院4号楼")
    clock.shift(timedelta(hours=1))
    territory = territory_resolve(address="东关大街1号院7号楼")
    found = intake_duplicates(
        user=city.operator,
        content="家里好冷",
        territory=territory,
        category=city.cold_room,
        address="东关大街1号院7号楼",
    )
    assert [(d.ticket, d.reason) for d in found] == [(fresh, "compound")]

    clock.shift(timedelta(days=-8))  # back inside the window of the first four
    found = {
        d.ticket.pk: d.reason
        for d in intake_duplicates(
            user=city.operator,
            content="家里好冷",
            territory=territory,
            category=city.cold_room,
            address="东关大街1号院7号楼",
        )
    }
    assert found[other_compound_same_grid.pk] == "grid"
    assert other_family.pk not in found and closed.pk not in found and other_community.pk not in found


def test_place_duplicates_are_scoped_to_what_the_user_may_see(city, clock):
    mine = new_ticket(city, actor=city.gridworker, channel=Channel.GRID, content="暖气不热", grid=city.grid)
    not_mine = new_ticket(city, content="暖气不热", address="东关大街1号院", community=city.community_b)
    territory = territory_resolve(address="东关大街1号院7号楼")
    found = intake_duplicates(
        user=city.gridworker, territory=territory, category=city.cold_room, address="东关大街1号院7号楼"
    )
    assert [d.ticket for d in found] == [mine]
    assert not_mine.pk not in {d.ticket.pk for d in found}


def test_place_duplicates_take_a_fixed_number_of_queries(city, clock, django_assert_max_num_queries):
    six_cold_flats(city, clock)
    territory = territory_resolve(address="东关大街1号院7号楼")
    with django_assert_max_num_queries(4):
        found = intake_duplicates(
            user=city.operator,
            phone="13900000001",
            content="屋里冷",
            territory=territory,
            category=city.cold_room,
            address="东关大街1号院7号楼",
        )
        [d.ticket.category.name for d in found]
    assert len(found) == 6


# -- knowledge search ---------------------------------------------------------------------------


CORPUS = [
    ("燃气泄漏怎么办？", "立即关闭燃气阀门，开窗通风，不要开关电器，到室外拨打抢修电话。", "燃气 泄漏 煤气"),
    ("暖气片不热是什么原因？", "多为管道内有空气，可打开排气阀放气；仍不热请联系热力公司。", "暖气 不热 排气"),
    ("停水怎么办？", "计划停水会提前公告；突发停水由供水集团抢修。", "停水 供水"),
    ("丢了身份证怎么办？", "到户籍所在地派出所挂失补办，可先在网上预约。", "身份证 补办"),
    ("西宁市供暖期是什么时候？", "每年10月15日至次年4月15日，室温不低于18℃。", "供暖 时间"),
    ("孩子入学怎么办理？", "各区教育局每年5月公布学区划分。", "入学 学区"),
]


def corpus(city):
    categories = [city.environment, city.heating, city.consult, city.consult, city.heating, city.consult]
    return [
        KnowledgeArticle.objects.create(question=q, answer=a, keywords=k, category=c)
        for (q, a, k), c in zip(CORPUS, categories, strict=True)
    ]


def test_knowledge_search_ranks_by_relevance_not_by_shared_question_words(city):
    corpus(city)
    hits = knowledge_search("暖气不热怎么办")
    questions = [a.question for a in hits]
    assert questions[0] == "暖气片不热是什么原因？"
    assert "燃气泄漏怎么办？" not in questions or questions.index("燃气泄漏怎么办？") > 0


def test_knowledge_search_boosts_the_chosen_category_family(city):
    corpus(city)
    assert knowledge_search("供暖", category=city.heating)[0].question == "西宁市供暖期是什么时候？"
    # no words yet: the family's answers
    assert {a.question for a in knowledge_search("", category=city.cold_room)} == {
        "暖气片不热是什么原因？",
        "西宁市供暖期是什么时候？",
    }


def test_knowledge_search_sees_a_changed_article_at_once(city):
    articles = corpus(city)
    assert knowledge_search("公积金") == []
    articles[3].question, articles[3].keywords = "公积金怎么提取？", "公积金 提取"
    articles[3].save()
    assert knowledge_search("公积金")[0] == articles[3]
    articles[3].is_active = False
    articles[3].save()
    assert knowledge_search("公积金") == []


IRRELEVANT = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ鑫淼犇骉", min_size=1, max_size=80)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.tuples(IRRELEVANT, IRRELEVANT), min_size=1, max_size=6))
def test_adding_an_irrelevant_article_never_changes_the_top_hit_of_an_exact_question(city, extra):
    KnowledgeArticle.objects.all().delete()
    articles = corpus(city)
    before = {a.question: knowledge_search(a.question)[0] for a in articles}
    for question, answer in extra:
        KnowledgeArticle.objects.create(question=question[:200], answer=answer)
    for article in articles:
        top = knowledge_search(article.question)[0]
        assert top == before[article.question] == article


# -- a knowledge answer closes in one step -------------------------------------------------------


def test_a_knowledge_answer_fills_category_and_nature_and_closes_in_one_step(client, city, clock):
    article = KnowledgeArticle.objects.create(
        question="西宁市供暖期是什么时候？", answer="每年10月15日至次年4月15日。", category=city.heating
    )
    login(client, city.operator)
    lookup = client.get(LOOKUP, {"content": "供暖期从哪天开始"}).json()
    assert lookup["knowledge"][0]["category"]["id"] == city.heating.pk
    response = client.post(
        INTAKE,
        {"citizen_phone": "13700000000", "channel": "hotline", "_action": "answer", "knowledge": article.pk},
        follow=True,
    )
    ticket = Ticket.objects.get()
    assert ticket.state == S.CLOSED and ticket.category == city.heating and ticket.nature == Nature.CONSULT
    assert ticket.reply_text == article.answer and ticket.content == article.question
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"已办结：{ticket.number}。"]


def test_an_answer_without_category_or_a_live_article_is_refused_with_a_form_error(client, city, clock):
    article = KnowledgeArticle.objects.create(question="停水", answer="已转供水集团。", is_active=False)
    login(client, city.operator)
    base = {"citizen_phone": "13700000000", "channel": "hotline", "content": "停水了", "_action": "answer"}
    for knowledge in [article.pk, "x", "99999999999999999999999"]:
        response = client.post(INTAKE, {**base, "answer_text": "已转", "knowledge": knowledge})
        assert response.status_code == 200 and "所选知识库口径已停用或不存在" in response.content.decode()
    response = client.post(INTAKE, {**base, "answer_text": "已转"})
    assert response.status_code == 200 and "请选择诉求分类。" in response.content.decode()
    assert not Ticket.objects.exists()


# -- the grid worker's patrol report ----------------------------------------------------------------


def test_a_grid_worker_gets_the_patrol_form_with_their_grid_and_channel(client, city, clock):
    login(client, city.gridworker)
    assert "巡查上报" in client.get("/admin/").content.decode()  # the index names their form
    page = client.get(INTAKE).content.decode()
    assert "巡查上报" in page and 'name="citizen_phone"' not in page and 'name="channel"' not in page
    assert f'<option value="{city.grid.pk}" selected>' in page
    response = client.post(
        INTAKE,
        {"grid": city.grid.pk, "category": city.noise.pk, "content": "工地夜间施工", "address": "东关大街5号"},
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert ticket.channel == Channel.GRID and ticket.grid == city.grid and ticket.created_by == city.gridworker
    # operators keep the call form
    login(client, city.operator)
    assert 'name="citizen_phone"' in client.get(INTAKE).content.decode()
    assert "巡查上报" not in client.get("/admin/").content.decode()


def test_a_grid_worker_cannot_report_for_someone_elses_grid(client, city, clock):
    other = type(city.grid).objects.create(name="北小街一网格", code="G-BX-01", community=city.community_b)
    login(client, city.gridworker)
    response = client.post(INTAKE, {"grid": other.pk, "category": city.noise.pk, "content": "噪声"})
    assert response.status_code == 200 and not Ticket.objects.exists()


def test_photos_are_kept_when_a_save_fails_and_attached_on_the_retry(client, city, clock):
    login(client, city.gridworker)
    photo = SimpleUploadedFile("scene.png", PNG, content_type="image/png")
    response = client.post(INTAKE, {"grid": city.grid.pk, "category": city.noise.pk, "attachments": [photo]})
    page = response.content.decode()
    assert response.status_code == 200 and not Ticket.objects.exists()
    token = response.context["form"]["upload_token"].value()
    assert f'value="{token}"' in page and 'class="pending-thumb"' in page
    thumb = response.context["pending_uploads"][0][1]
    assert client.get(thumb)["Content-Type"] == "image/png"
    login(client, city.operator)  # the token is no key to someone else's photos
    assert client.get(thumb).status_code == 404

    login(client, city.gridworker)
    response = client.post(
        INTAKE, {"grid": city.grid.pk, "category": city.noise.pk, "content": "占道经营", "upload_token": token}
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert list(Attachment.objects.filter(ticket=ticket).values_list("original_name", flat=True)) == ["scene.png"]
    assert pending_names(user=city.gridworker, token=token) == []


def test_a_bad_file_is_not_kept(client, city, clock):
    login(client, city.gridworker)
    fake = SimpleUploadedFile("scene.png", b"not an image", content_type="image/png")
    response = client.post(INTAKE, {"grid": city.grid.pk, "category": city.noise.pk, "attachments": [fake]})
    assert response.status_code == 200 and "内容与扩展名不符" in response.content.decode()
    assert response.context["pending_uploads"] == []


def test_stale_pending_photos_are_pruned(city):
    # The files' times are the file system's, so the test reads the real clock.
    token = pending_token_new()
    pending_store(user=city.gridworker, token=token, uploads=[SimpleUploadedFile("a.png", PNG)])
    assert pending_prune(max_age_hours=24, now=timezone.now() + timedelta(hours=1)) == 0
    assert pending_names(user=city.gridworker, token=token) == ["00/a.png"]
    assert pending_prune(max_age_hours=24, now=timezone.now() + timedelta(hours=25)) == 1
    assert pending_names(user=city.gridworker, token=token) == []


def test_a_sibling_category_at_the_same_compound_is_a_place_duplicate(city):
    # a deeper family member is found from its top-level choice too
    leak = CategoryFactory(name="暖气漏水", code="010102", parent=city.heating)
    workflow.ticket_create(
        actor=city.operator,
        channel=Channel.HOTLINE,
        category=leak,
        content="暖气漏水",
        citizen_phone="13900000000",
        address="东关大街1号院2号楼",
    )
    territory = territory_resolve(address="东关大街1号院7号楼")
    found = intake_duplicates(user=city.operator, territory=territory, category=city.cold_room, address="东关大街1号院")
    assert [d.reason for d in found] == ["compound"]


def test_the_lookup_resolves_a_chosen_grid_and_shrugs_off_nonsense(client, city, clock):
    login(client, city.gridworker)
    data = client.get(LOOKUP, {"grid": city.grid.pk}).json()
    assert data["territory"]["grid"]["id"] == city.grid.pk
    for junk in ["x", "-1", "99999999999999999999999", "1e9"]:
        response = client.get(LOOKUP, {"grid": junk, "category": junk, "content": junk})
        assert response.status_code == 200
