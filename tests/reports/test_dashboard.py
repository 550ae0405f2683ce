"""The dashboard's charts tell the record: the score ranking within each kind of
unit equals a recomputation from the raw timeline and callbacks, and today's
partial day is flagged by the clock's one rule."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from cases import clock
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, TicketState
from departments.models import Department
from reports.metrics import COUNTER_NAMES, Counters, Period, rates
from reports.rollups import rollups_rebuild
from tests.conftest import drive, local, new_ticket
from tests.reports.test_rates_property import recompute

S = TicketState

#: How each unit's citizens answer the callback: the scores come apart by unit.
ANSWERS = {
    "street": ("solved", "satisfied"),
    "street2": ("partly", "basically"),
    "bureau": ("solved", "basically"),
}


@pytest.fixture
def scored(city, settings):
    """Five closed tickets each for two streets and a bureau in October 2026, with
    callbacks that score the three units differently."""
    settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 3}
    units = {"street": city.street, "street2": city.street2, "bureau": city.bureau}
    for day in range(5, 20, 3):
        with time_machine.travel(local(2026, 10, day, 9, 0), tick=False):
            for key, unit in units.items():
                drive(city, new_ticket(city, content=f"{key} 暖气不热"), S.CLOSED, lead=unit)
        callback_batch(day=date(2026, 10, day))
        with time_machine.travel(local(2026, 10, day + 1, 10, 0), tick=False):
            for cb in Callback.objects.filter(status="pending").select_related("ticket__lead_department"):
                key = next(k for k, u in units.items() if u.pk == cb.ticket.lead_department_id)
                solved, satisfaction = ANSWERS[key]
                callback_record(
                    callback=cb, actor=city.callback, contacted=True, solved=solved, satisfaction=satisfaction
                )
    return city


def _dashboard(client, user, params, when):
    with time_machine.travel(when, tick=False):
        rollups_rebuild(days=60)
        client.force_login(user)
        return client.get(reverse("admin:dashboard_data"), params).json()


def test_the_ranking_is_per_kind_of_unit_and_equals_the_record(client, scored, settings):
    data = _dashboard(
        client, scored.leader, {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}, local(2026, 11, 2, 9, 0)
    )
    # recomputed from the raw timeline and callbacks, without the metrics module's counters
    start, end = Period(date(2026, 10, 1), date(2026, 10, 31)).bounds
    threshold = settings.HOTLINE_METRICS["ranking_min_tickets"]
    kinds = dict(Department.objects.values_list("pk", "kind"))
    names = dict(Department.objects.values_list("pk", "name"))
    expected: dict = {}
    for pk, row in recompute(start, end).items():
        counters = Counters(**{name: row.get(name, 0) for name in COUNTER_NAMES})
        score = rates(counters)["composite"]
        if pk is None or counters.dispatched < threshold or score is None:
            continue
        expected.setdefault(kinds[pk], []).append((-score, names[pk]))
    for kind, rows in expected.items():
        expected[kind] = [
            {"rank": position, "name": name, "value": round(-negative * 100, 1)}
            for position, (negative, name) in enumerate(sorted(rows), start=1)
        ]
    assert {panel["kind"]: panel["units"] for panel in data["rankings"]} == expected
    # streets with streets, the bureau on its own: never one mixed list
    assert [panel["kind"] for panel in data["rankings"]] == ["street", "bureau"]
    assert [panel["label"] for panel in data["rankings"]] == ["街道乡镇", "职能部门"]
    streets = data["rankings"][0]["units"]
    assert [u["name"] for u in streets] == ["东关大街街道", "八一路街道"]  # satisfied and solved scores higher
    assert streets[0]["value"] > streets[1]["value"]
    assert data["rankings"][1]["units"][0]["rank"] == 1


def test_the_ranking_leaves_out_units_under_the_threshold(client, scored, settings):
    settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 6}
    data = _dashboard(client, scored.leader, {"period": "90"}, local(2026, 11, 2, 9, 0))
    assert data["rankings"] == [] and data["ranking_min_tickets"] == 6


def test_the_chart_text_follows_the_language(client, scored):
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    data = _dashboard(client, scored.leader, {"period": "30"}, local(2026, 10, 31, 14, 5))
    assert [panel["label"] for panel in data["rankings"]] == ["Street/township", "Bureau"]
    assert [i["name"] for i in data["callbacks"]["solved"]] == ["Solved", "Partly solved", "Not solved"]
    assert data["as_of"] == "Today until 14:05"


# -- today is partial ------------------------------------------------------------------------


def test_a_day_is_complete_at_local_midnight():
    # 00:30 in Xining is still the previous evening in UTC: the local day decides
    assert clock.day_complete(date(2026, 10, 31), local(2026, 11, 1, 0, 30))
    assert not clock.day_complete(date(2026, 11, 1), local(2026, 11, 1, 0, 30))
    assert not clock.day_complete(date(2026, 10, 31), local(2026, 10, 31, 23, 59))
    assert not clock.day_complete(date(2026, 11, 2), local(2026, 11, 1, 12, 0))  # a future day is not over either


def test_the_trends_flag_today_as_partial(client, scored):
    with time_machine.travel(local(2026, 10, 19, 14, 5), tick=False):
        drive(scored, new_ticket(scored), S.HANDLING)  # received today, not yet answered
    data = _dashboard(client, scored.leader, {"period": "7"}, local(2026, 10, 19, 14, 5))
    assert data["volume"]["labels"][-1] == "2026-10-19"
    assert data["volume"]["complete"] == [True] * 6 + [False]
    assert data["rates"]["complete"] == [True] * 6 + [False]
    assert data["volume"]["values"][-1] == 1  # today's ticket is counted, the day only flagged
    assert data["as_of"] == "今日截至14:05"


def test_the_weekly_trend_flags_the_current_week(client, scored):
    data = _dashboard(client, scored.leader, {"period": "90"}, local(2026, 10, 19, 14, 5))
    assert data["period"]["weekly"] is True
    assert data["rates"]["complete"][:-1] == [True] * (len(data["rates"]["labels"]) - 1)
    assert data["rates"]["complete"][-1] is False
    assert data["rates"]["labels"][-1] == "2026-10-19"  # a Monday: this week has begun today
    assert data["as_of"] == "本周截至14:05"


def test_a_past_period_has_no_partial_day(client, scored):
    params = {"period": "custom", "from": "2026-10-01", "to": "2026-10-18"}
    data = _dashboard(client, scored.leader, params, local(2026, 10, 19, 0, 1))
    assert all(data["volume"]["complete"]) and all(data["rates"]["complete"])
