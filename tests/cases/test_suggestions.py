"""智能派单: category and lead unit learned from the centre's own closed tickets,
ranked within the duty list, with the nearest past tickets behind them."""

from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
import time_machine
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import suggestions
from cases.models import Channel, SuggestionModel, TicketState
from cases.suggestions import (
    MODEL_DISAGREES,
    NO_MODEL,
    TOO_FEW_CLASSES,
    SuggestionsUnavailable,
    TrainingRow,
    evaluate,
    suggest,
    suggestion_train,
    time_split,
    training_rows,
)
from departments.models import DutyAssignment, TerritorialLevel
from tests.conftest import drive, local, new_ticket

SUGGEST = "/admin/cases/ticket/intake/suggest/"
HEATING = [
    "暖气片冰凉，室温只有十二度",
    "家里暖气不热，老人受不了",
    "供暖温度不达标，屋里很冷",
    "暖气上热下凉，室温太低",
    "整栋楼暖气都是温的，室温不够",
    "暖气管道不热，孩子感冒了",
    "暖气一直不热，请热力公司来看看",
    "室温不达标，暖气片不热",
]
NOISE = [
    "工地夜间施工噪声扰民，睡不着觉",
    "晚上十一点还在施工，噪音很大",
    "夜里工地打桩声音太吵",
    "建筑工地凌晨施工噪声扰民",
    "夜间施工机器轰鸣，噪声严重",
    "工地半夜还在作业，太吵了",
    "噪声扰民，工地夜间违规施工",
    "施工噪音影响休息，夜里不停工",
]


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.SUGGEST_DIR = tmp_path / "suggest"
    settings.SUGGEST_MIN_ROWS = 10
    suggestions._loaded.key = ()
    yield settings.SUGGEST_DIR
    suggestions._loaded.key = ()


def close(city, clock, content, *, category, lead, **extra):
    clock.shift(timedelta(hours=1))
    ticket = new_ticket(city, content=content, category=category, **extra)
    return drive(city, ticket, TicketState.CLOSED, lead=lead)


@pytest.fixture
def history(city, clock, model_dir):
    """Sixteen closed tickets: heating complaints the street closed, noise
    complaints the housing bureau closed (one of them with a phone number)."""
    for i, text in enumerate(HEATING):
        close(city, clock, text, category=city.cold_room, lead=city.street)
        if i == 0:
            close(city, clock, NOISE[0] + "，电话13912345678", category=city.noise, lead=city.bureau)
    for text in NOISE[1:]:
        close(city, clock, text, category=city.noise, lead=city.bureau)
    return city


# -- training and prediction ----------------------------------------------------------------


def test_a_model_trained_on_closed_tickets_puts_the_right_category_and_unit_first(history):
    c = history
    row = suggestion_train()

    assert row.rows == 16
    assert (row.categories, row.units) == (2, 2)
    assert (c_dir := row.file_name) and (suggestions.Path(suggestions.settings.SUGGEST_DIR) / c_dir).exists()
    heating = suggest(user=c.dispatcher, content="暖气片不热，室温太低", address="城东区东关大街1号院")
    noise = suggest(user=c.dispatcher, content="工地夜里施工噪声太大", address="城东区东关大街1号院")
    assert heating.categories[0].item == c.cold_room
    assert heating.units[0].item == c.street
    assert noise.categories[0].item == c.noise
    assert noise.units[0].item == c.bureau
    assert 0.5 < heating.categories[0].confidence <= 1
    assert heating.categories[0].percent == round(heating.categories[0].confidence * 100)


def test_only_closed_tickets_with_a_unit_train_and_the_label_is_the_unit_that_closed(history):
    c = history
    open_ticket = new_ticket(c, content="暖气不热", category=c.cold_room)
    returned = new_ticket(c, content="夜间施工噪声", category=c.noise)
    returned = drive(c, returned, TicketState.DISPATCHED, lead=c.street2)

    rows = training_rows()

    assert {r.pk for r in rows}.isdisjoint({open_ticket.pk, returned.pk})
    assert {(r.category_id, r.unit_id) for r in rows} == {(c.cold_room.pk, c.street.pk), (c.noise.pk, c.bureau.pk)}
    assert [r.received_at for r in rows] == sorted(r.received_at for r in rows)
    assert len(training_rows(max_rows=5)) == 5


def test_nearest_past_tickets_explain_the_suggestion_masked_and_within_scope(history):
    c = history
    suggestion_train()

    seen = suggest(user=c.dispatcher, content="工地夜间施工噪声扰民")
    unseen = suggest(user=c.handler2, content="工地夜间施工噪声扰民")

    assert seen.neighbours
    assert all(n.ticket.category == c.noise and n.ticket.lead_department == c.bureau for n in seen.neighbours)
    assert not any("13912345678" in n.summary for n in seen.neighbours)
    assert unseen.neighbours == []  # another street's handler sees none of these tickets


# -- rules first -------------------------------------------------------------------------------


def test_the_duty_list_stays_the_rule_and_a_disagreeing_model_is_flagged(history):
    c = history
    DutyAssignment.objects.create(category=c.noise, department=c.bureau2)
    DutyAssignment.objects.create(category=c.heating, territorial_level=TerritorialLevel.STREET)
    suggestion_train()
    where = {"address": "城东区东关大街1号院3号楼"}

    noise = suggest(user=c.dispatcher, content="夜里工地施工噪声", **where)
    heating = suggest(user=c.dispatcher, content="暖气不热室温低", **where)

    assert noise.rule_unit == c.bureau2
    assert noise.units[0].item == c.bureau
    assert noise.disagrees and noise.disagreement == str(MODEL_DISAGREES)
    assert not noise.units[0].allowed
    assert noise.categories[0].rule_unit == c.bureau2
    assert heating.rule_unit == c.street  # the street the address is in
    assert not heating.disagrees
    assert heating.units[0].allowed


def test_the_model_ranks_the_units_the_duty_list_allows(history):
    c = history
    # The duty list allows the environment bureau first, then the street (territory).
    DutyAssignment.objects.create(category=c.noise, department=c.bureau2)
    suggestion_train()

    noise = suggest(user=c.dispatcher, content="夜里工地施工噪声", address="城东区东关大街1号院3号楼")
    heating_words = suggest(
        user=c.dispatcher, content="暖气不热室温低", address="城东区东关大街1号院3号楼", category=c.noise
    )

    assert {u.item for u in noise.allowed} == {c.bureau2, c.street}
    assert all(u.allowed for u in noise.allowed)
    confidences = [u.confidence for u in noise.allowed]
    assert confidences == sorted(confidences, reverse=True)
    # Heating words: the street (which closed them) ranks first among what the rule allows.
    assert heating_words.allowed[0].item == c.street
    assert heating_words.rule_unit == c.bureau2  # the chosen category's rule, not the model's category


# -- no model, too little data --------------------------------------------------------------


def test_without_a_model_there_are_no_suggestions(city, model_dir):
    assert suggest(user=city.dispatcher, content="暖气不热") is None


def test_too_few_closed_tickets_train_nothing_and_say_why(city, clock, model_dir):
    c = city
    for text in HEATING[:3]:
        close(c, clock, text, category=c.cold_room, lead=c.street)

    with pytest.raises(SuggestionsUnavailable, match="不足 10 件"):
        suggestion_train()
    assert not SuggestionModel.objects.exists()


def test_one_category_alone_trains_nothing(city, clock, model_dir, settings):
    c = city
    settings.SUGGEST_MIN_ROWS = 3
    for text in HEATING[:4]:
        close(c, clock, text, category=c.cold_room, lead=c.street)

    with pytest.raises(SuggestionsUnavailable) as refused:
        suggestion_train()
    assert str(refused.value) == str(TOO_FEW_CLASSES)


def test_a_missing_model_file_means_no_suggestions_not_an_error(history):
    row = suggestion_train()
    (history_dir := suggestions.Path(suggestions.settings.SUGGEST_DIR) / row.file_name).unlink()
    suggestions._loaded.key = ()

    assert not history_dir.exists()
    assert suggest(user=history.dispatcher, content="暖气不热") is None


def test_empty_text_gets_no_suggestion(history):
    suggestion_train()
    assert suggest(user=history.dispatcher, content="   ") is None


# -- the task and the command ---------------------------------------------------------------


def test_the_nightly_task_retrains_and_keeps_two_files(history):
    from cases.tasks import retrain_suggestions

    for _ in range(3):
        retrain_suggestions.delay()

    assert SuggestionModel.objects.count() == 3
    files = sorted(p.name for p in suggestions.Path(suggestions.settings.SUGGEST_DIR).glob("suggest-*.joblib"))
    newest_two = sorted(SuggestionModel.objects.values_list("file_name", flat=True)[:2])
    assert files == newest_two
    assert not list(suggestions.Path(suggestions.settings.SUGGEST_DIR).glob(".*.part"))


def test_the_task_copes_with_too_little_history(city, model_dir):
    from cases.tasks import retrain_suggestions

    result = retrain_suggestions.apply().get()

    assert "不足" in result
    assert not SuggestionModel.objects.exists()


def test_the_command_trains_and_reports_accuracy(history, capsys):
    call_command("train_suggestions")

    out = capsys.readouterr().out
    assert "16 closed tickets" in out and "category top-1" in out
    row = SuggestionModel.objects.get()
    assert row.held_out_rows == 3  # the newest 20% (of 16, rounded down)
    assert row.category_top1 is not None


# -- the numbers equal the record ----------------------------------------------------------


class _Fixed:
    """A stand-in classifier whose probabilities are given."""

    def __init__(self, classes, proba):
        self.classes_ = np.array(classes)
        self.proba = np.array(proba)

    def predict_proba(self, matrix):
        return self.proba[matrix]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=25),
    k=st.integers(min_value=2, max_value=6),
)
def test_accuracy_is_the_share_of_rows_whose_label_is_among_the_top(data, n, k):
    classes = list(range(100, 100 + k))
    floats = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
    proba = data.draw(st.lists(st.lists(floats, min_size=k, max_size=k, unique=True), min_size=n, max_size=n))
    units = data.draw(st.lists(st.lists(floats, min_size=k, max_size=k, unique=True), min_size=n, max_size=n))
    labels = data.draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    unit_labels = data.draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    returned = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    rows = [TrainingRow(i, "", labels[i], unit_labels[i], None, returned[i]) for i in range(n)]
    trained = SimpleNamespace(
        vectorizer=SimpleNamespace(transform=lambda texts: np.arange(len(texts))),
        category=_Fixed(classes, proba),
        unit=_Fixed(classes, units),
    )

    got = evaluate(trained, rows)

    def best(scores, m):
        return [classes[j] for j in sorted(range(k), key=lambda j: -scores[j])[:m]]

    cat1 = sum(labels[i] in best(proba[i], 1) for i in range(n))
    cat3 = sum(labels[i] in best(proba[i], 3) for i in range(n))
    unit1 = [unit_labels[i] in best(units[i], 1) for i in range(n)]
    unit3 = sum(unit_labels[i] in best(units[i], 3) for i in range(n))
    assert got.rows == n
    assert got.category_top1 == pytest.approx(cat1 / n)
    assert got.category_top3 == pytest.approx(cat3 / n)
    assert got.unit_top1 == pytest.approx(sum(unit1) / n)
    assert got.unit_top3 == pytest.approx(unit3 / n)
    assert got.returned == sum(returned)
    assert got.returned_avoided == sum(1 for i in range(n) if returned[i] and unit1[i])


def test_the_time_split_holds_out_the_newest_fifth():
    rows = [TrainingRow(i, "", 1, 1, i, False) for i in range(10)]
    head, tail = time_split(rows)
    assert [r.pk for r in head] == list(range(8))
    assert [r.pk for r in tail] == [8, 9]


# -- the doors ---------------------------------------------------------------------------------


def test_the_intake_form_asks_for_suggestions_as_json(history, client):
    c = history
    suggestion_train()
    client.force_login(c.operator)

    data = client.get(
        SUGGEST, {"content": "工地夜里施工噪声", "address": "城东区东关大街1号院", "channel": Channel.HOTLINE}
    ).json()

    assert data["available"]
    assert data["categories"][0]["id"] == c.noise.pk
    assert 0 < data["categories"][0]["percent"] <= 100
    assert data["units"][0]["id"] == c.bureau.pk
    assert data["neighbours"] and data["neighbours"][0]["url"].startswith("/admin/cases/ticket/")
    assert "13912345678" not in str(data)


def test_the_suggest_endpoint_without_a_model_says_so(city, client, model_dir):
    client.force_login(city.operator)
    data = client.get(SUGGEST, {"content": "暖气不热"}).json()
    assert data == {"available": False, "message": str(NO_MODEL)}


def test_the_suggest_endpoint_is_for_staff_who_take_demands(history, client):
    suggestion_train()
    client.force_login(history.handler)
    assert client.get(SUGGEST, {"content": "暖气不热"}).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"content": "长" * 10_000, "address": "址" * 5_000},
        {"content": "暖气不热", "grid": "abc", "channel": "no-such-channel"},
        {"content": "暖气不热", "grid": "9" * 30},
        {},
    ],
)
def test_the_suggest_endpoint_refuses_nothing_with_a_500(history, client, params):
    suggestion_train()
    client.force_login(history.dispatcher)
    response = client.get(SUGGEST, params)
    assert response.status_code == 200
    assert "available" in response.json()


def test_the_dispatch_form_shows_the_suggestion_and_the_disagreement(history, client):
    c = history
    DutyAssignment.objects.create(category=c.noise, department=c.bureau2)
    suggestion_train()
    ticket = new_ticket(c, content="夜里工地施工噪声，吵得睡不着", category=c.noise)
    client.force_login(c.dispatcher)

    page = client.get(f"/admin/cases/ticket/{ticket.pk}/act/dispatched/").content.decode()

    assert "智能派单建议" in page
    assert str(MODEL_DISAGREES) in page
    assert f'data-unit="{c.bureau.pk}"' in page
    assert "cases/suggest.js" in page
    assert "13912345678" not in page


def test_the_intake_form_carries_the_suggest_url(history, client):
    client.force_login(history.operator)
    page = client.get("/admin/cases/ticket/add/").content.decode()
    assert f'data-suggest-url="{SUGGEST}"' in page
    assert 'id="suggest-panel"' in page


# -- the benchmark ---------------------------------------------------------------------------


def test_the_bench_stage_prints_the_accuracy_table(history):
    from cases.tooling.bench_suggest import suggest_bench

    lines = []
    result = suggest_bench(out=lines.append)

    text = "\n".join(lines)
    for label in ("category top-1", "category top-3", "unit top-1", "unit top-3", "train CPU", "reproduce"):
        assert label in text
    assert "bench --only suggest" in text
    assert result["accuracy"].rows == 3
    assert result["duty_top1"] is not None


def test_bench_only_suggest_runs_on_any_database(history, capsys):
    call_command("bench", "--only", "suggest", "--runs", "1")
    assert "suggestion accuracy" in capsys.readouterr().out
