"""每月一题 themes: the rule (bulk link == per-ticket predicate), linking past and new
tickets, the theme page's before/since figures recomputed from the raw rows, the
ranking exclusion, the monthly report, scope and bad input."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Theme, ThemeTask, ThemeTicket, Ticket, TicketEvent, TicketState
from cases.themes import Rule, rule_matches, rule_tickets, theme_relink, theme_window, themes_link_ticket
from reports.metrics import Period, counters_live, ranking_counters, ranking_excluded_tickets, rates
from reports.reporting import report_data
from reports.themes import theme_figures, themes_month
from tests.conftest import drive, local, new_ticket

S = TicketState
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = date(2026, 11, 16)  # a Monday

# -- the rule: one meaning through two doors ----------------------------------------------------

ALPHABET = "暖气不热路灯号院aA%_ "
ROWS = 6


@pytest.fixture
def rows(city):
    return [new_ticket(city).pk for _ in range(ROWS)]


def _places(city):
    return [
        (city.district.pk, city.street.pk, city.community.pk),
        (city.district.pk, city.street.pk, city.community_b.pk),
        (city.district.pk, city.street2.pk, city.community2.pk),
        (city.district.pk, city.street.pk, None),
        (None, None, None),
    ]


ticket_rows = st.lists(
    st.tuples(
        st.text(alphabet=ALPHABET, max_size=10),  # content
        st.text(alphabet=ALPHABET, max_size=6),  # address
        st.integers(0, 5),  # category
        st.integers(0, 4),  # place
        st.integers(-120, 60),  # received, days from the start
    ),
    min_size=ROWS,
    max_size=ROWS,
)
rules = st.tuples(
    st.sets(st.integers(0, 5), max_size=2),  # categories
    st.sets(st.integers(0, 5), max_size=2),  # territories
    st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=3), max_size=2),  # keywords
    st.one_of(st.none(), st.integers(0, 40)),  # ends this many days after the start
)


def _categories(city):
    return [city.construction, city.heating, city.cold_room, city.environment, city.noise, city.consult]


def _territories(city):
    return [city.district, city.street, city.street2, city.community, city.community_b, city.community2]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=ticket_rows, rule=rules)
def test_the_bulk_link_takes_exactly_the_tickets_the_predicate_matches(city, rows, data, rule):
    categories, places = _categories(city), _places(city)
    for pk, (content, address, category, place, offset) in zip(rows, data, strict=True):
        district, street, community = places[place]
        Ticket.objects.filter(pk=pk).update(
            content=content,
            address=address,
            category=categories[category],
            district_id=district,
            street_id=street,
            community_id=community,
            received_at=datetime.combine(START, datetime.min.time(), SHANGHAI) + timedelta(days=offset, hours=9),
        )
    picked_categories, picked_territories, keywords, ends = rule
    keywords = [k.strip() for k in keywords if k.strip()]
    assume(picked_categories or picked_territories or keywords)
    since, until = theme_window(START, START + timedelta(days=ends) if ends is not None else None)
    r = Rule(
        category_paths=tuple(_categories(city)[i].path for i in picked_categories),
        territory_ids=frozenset(_territories(city)[i].pk for i in picked_territories),
        keywords=tuple(keywords),
        since=since,
        until=until,
    )
    bulk = set(rule_tickets(r).values_list("pk", flat=True))
    one_by_one = {t.pk for t in Ticket.objects.select_related("category") if rule_matches(r, t)}
    assert bulk == one_by_one


def test_an_empty_rule_matches_nothing_and_is_refused_in_bulk(city, rows):
    since, until = theme_window(START, None)
    empty = Rule((), frozenset(), (), since, until)
    assert not rule_matches(empty, Ticket.objects.first())
    with pytest.raises(ValueError):
        rule_tickets(empty)


# -- a theme with tickets before and since it started ------------------------------------------


def _closed_with_callback(city, at: datetime, satisfaction: str, **overrides):
    with time_machine.travel(at, tick=False):
        ticket = drive(city, new_ticket(city, **overrides), S.CLOSED)
    day = ticket.closed_at.astimezone(SHANGHAI).date()
    callback_batch(day=day)
    with time_machine.travel(ticket.closed_at + timedelta(hours=2), tick=False):
        callback_record(
            callback=Callback.objects.get(ticket=ticket),
            actor=city.callback,
            contacted=True,
            solved="solved" if satisfaction == "satisfied" else "unsolved",
            satisfaction=satisfaction,
            unit_at_fault=False,
        )
    return ticket


@pytest.fixture
def heating_theme(city):
    """暖气不热 in 东关大街街道: three tickets in the weeks before the theme (one
    unsatisfied), two since (both satisfied), one noise complaint and one in the
    other street that the rule leaves out."""
    before = [
        _closed_with_callback(city, local(2026, 10, 26, 9, 0), "satisfied"),
        _closed_with_callback(city, local(2026, 11, 2, 9, 0), "unsatisfied"),
        _closed_with_callback(city, local(2026, 11, 9, 9, 0), "basically"),
    ]
    since = [
        _closed_with_callback(city, local(2026, 11, 17, 9, 0), "satisfied"),
        _closed_with_callback(city, local(2026, 11, 24, 9, 0), "satisfied"),
    ]
    with time_machine.travel(local(2026, 11, 18, 9, 0), tick=False):
        other = [
            new_ticket(city, category=city.noise, content="广场舞噪声扰民"),
            drive(
                city,
                new_ticket(city, address="城东区八一中路2号", content="暖气不热"),
                S.HANDLING,
                lead=city.street2,
            ),
        ]
    theme = Theme.objects.create(
        title="老旧小区暖气不热", lead_department=city.utility, started_on=START, keywords="暖气"
    )
    theme.co_departments.set([city.street])
    theme.categories.set([city.heating])
    theme.territories.set([city.street])
    ThemeTask.objects.create(theme=theme, title="排查老旧管网", department=city.utility, deadline=date(2026, 11, 20))
    ThemeTask.objects.create(
        theme=theme,
        title="加装循环泵",
        department=city.utility,
        deadline=date(2026, 11, 25),
        done_at=local(2026, 11, 24, 15, 0),
    )
    ThemeTask.objects.create(theme=theme, title="入户测温", department=city.street, deadline=date(2026, 12, 20))
    theme_relink(theme.pk, batch=2)  # batches smaller than the set
    return theme, before, since, other


def test_relinking_links_exactly_the_matching_tickets(heating_theme):
    theme, before, since, other = heating_theme
    linked = set(ThemeTicket.objects.filter(theme=theme).values_list("ticket_id", flat=True))
    assert linked == {t.pk for t in before + since}
    assert not linked & {t.pk for t in other}
    # a narrower rule drops the links it no longer matches
    theme.keywords = "暖气\n不存在的词"
    theme.started_on = date(2026, 11, 10)
    theme.save()
    theme_relink(theme.pk)
    window_start = datetime.combine(date(2026, 11, 10) - timedelta(weeks=12), datetime.min.time(), SHANGHAI)
    assert all(t.received_at >= window_start for t in theme.tickets.all())
    assert theme.tickets.count() == 5
    Theme.objects.filter(pk=theme.pk).update(linked_at=None)


def _raw_week(theme, first: date, last: date) -> tuple[int, float | None, float | None]:
    """Received tickets and 满意率 / 解决率 of the linked tickets, straight from the rows."""
    start = datetime.combine(first, datetime.min.time(), SHANGHAI)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), SHANGHAI)
    linked = ThemeTicket.objects.filter(theme=theme).values_list("ticket_id", flat=True)
    received = sum(
        1 for t in Ticket.objects.filter(pk__in=linked) if start <= t.received_at < end and t.state != S.INVALID
    )
    answers = [
        cb
        for cb in Callback.objects.filter(ticket_id__in=linked).select_related("ticket")
        if cb.status == Callback.Status.DONE
        and cb.overruled_at is None
        and start <= cb.completed_at < end
        and cb.ticket.state != S.INVALID
    ]
    if not answers:
        return received, None, None
    weight = django_settings.HOTLINE_METRICS["basically_satisfied_weight"]
    satisfied = sum(1 for cb in answers if cb.satisfaction == "satisfied") + weight * sum(
        1 for cb in answers if cb.satisfaction == "basically"
    )
    solved = sum(1 for cb in answers if cb.solved == "solved")
    return received, satisfied / len(answers), solved / len(answers)


def test_the_before_and_since_figures_equal_a_raw_recount(heating_theme):
    theme, _before, _since, _other = heating_theme
    figures = theme_figures(theme, today=date(2026, 11, 30))
    b, s = figures["before"], figures["since"]
    assert (b["start"], b["end"]) == ("2026-08-24", "2026-11-15")
    assert (s["start"], s["end"]) == ("2026-11-16", "2026-11-30")
    received, satisfaction, resolution = _raw_week(theme, date(2026, 8, 24), date(2026, 11, 15))
    assert (b["received"], b["satisfaction"], b["resolution"]) == (received, pytest.approx(satisfaction), resolution)
    assert received == 3 and b["satisfaction"] < 1
    received, satisfaction, resolution = _raw_week(theme, START, date(2026, 11, 30))
    assert (s["received"], s["satisfaction"], s["resolution"]) == (2, 1.0, 1.0) == (received, satisfaction, resolution)
    assert b["weekly"] == pytest.approx(3 / 12, abs=0.05)
    for week in figures["weeks"]:
        first, last = date.fromisoformat(week["start"]), date.fromisoformat(week["end"])
        received, satisfaction, _resolution = _raw_week(theme, first, last)
        assert week["received"] == received
        assert week["satisfaction"] == (None if satisfaction is None else pytest.approx(satisfaction))
        assert week["since"] == (first >= START)
    assert len(figures["weeks"]) == 12 + 3  # whole weeks from the start day, the last one partial
    # 响应率 from the events themselves: contacted on time / dispatched (no returns here)
    dispatched = TicketEvent.objects.filter(ticket__in=theme.tickets.all(), kind="dispatched")
    since_start = datetime.combine(START, datetime.min.time(), SHANGHAI)
    made = [e for e in dispatched if e.created_at >= since_start]
    on_time = TicketEvent.objects.filter(dispatch__in=made, kind="contacted", on_time=True).count()
    assert s["response"] == pytest.approx(on_time / len(made))


def test_a_new_ticket_is_linked_as_it_comes_in(city, heating_theme, django_capture_on_commit_callbacks):
    theme, *_rest = heating_theme
    with time_machine.travel(local(2026, 11, 26, 9, 0), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            matching = new_ticket(city, content="家里暖气温度太低")
        with django_capture_on_commit_callbacks(execute=True):
            elsewhere = new_ticket(city, content="暖气不热", address="城东区八一中路2号")
    assert theme.tickets.filter(pk=matching.pk).exists()
    assert not theme.tickets.filter(pk=elsewhere.pk).exists()
    # an ended theme takes no more
    theme.state, theme.ended_on = Theme.State.CLOSED, date(2026, 11, 27)
    theme.save()
    with time_machine.travel(local(2026, 11, 28, 9, 0), tick=False):
        late = new_ticket(city)
    assert themes_link_ticket(late.pk) == []


# -- the ranking ---------------------------------------------------------------------------------


def test_the_ranking_without_theme_tickets_equals_a_raw_recomputation(heating_theme, settings):
    theme, _before, since, _other = heating_theme
    period = Period(date(2026, 10, 1), date(2026, 11, 30))
    per_unit = counters_live(period, group_by="department")
    settings.HOTLINE_THEME_EXCLUDE_FROM_RANKING = False
    assert ranking_counters(period, per_unit) is per_unit
    assert ranking_excluded_tickets() is None
    settings.HOTLINE_THEME_EXCLUDE_FROM_RANKING = True
    # raw: the linked tickets received on or after the start day (the theme has no end)
    since_start = datetime.combine(START, datetime.min.time(), SHANGHAI)
    excluded = [t.pk for t in theme.tickets.all() if t.received_at >= since_start]
    assert sorted(excluded) == sorted(t.pk for t in since)
    raw = counters_live(
        period,
        group_by="department",
        tickets=Ticket.objects.exclude(pk__in=excluded),
        callbacks=Callback.objects.exclude(ticket__in=excluded),
    )
    ranked = ranking_counters(period, per_unit)
    for unit in set(raw) | set(ranked):
        got, want = ranked.get(unit), raw.get(unit)
        if want is None:
            assert not any(value for value in got.as_dict().values()), unit
            continue
        for name, value in want.as_dict().items():
            assert getattr(got, name) == pytest.approx(value), (unit, name)
        assert rates(got)["composite"] == (
            None if rates(want)["composite"] is None else pytest.approx(rates(want)["composite"])
        )
    # the monthly ranking reads the same numbers
    with time_machine.travel(local(2026, 12, 1, 9, 0), tick=False):
        data = report_data("monthly", Period.month(date(2026, 11, 1)))
    assert data["ranking_excludes_themes"] is True
    street_row = next(r for r in data["units"] if r["id"] == theme.co_departments.get().pk)
    november = counters_live(
        Period.month(date(2026, 11, 1)),
        group_by="department",
        tickets=Ticket.objects.exclude(pk__in=excluded),
        callbacks=Callback.objects.exclude(ticket__in=excluded),
    )
    assert street_row["ranking_rates"]["satisfaction"] == pytest.approx(
        rates(november[street_row["id"]])["satisfaction"], abs=1e-4
    )


# -- the monthly report ----------------------------------------------------------------------------


def test_the_monthly_report_counts_volume_rates_and_tasks(heating_theme):
    theme, _before, _since, _other = heating_theme
    with time_machine.travel(local(2026, 12, 2, 9, 0), tick=False):
        rows = themes_month(Period.month(date(2026, 11, 1)), themes=Theme.objects.all())
    (row,) = rows
    received, satisfaction, resolution = _raw_week(theme, date(2026, 11, 1), date(2026, 11, 30))
    assert row["received"] == received == 4  # two before the start in November, two since
    assert row["satisfaction"] == pytest.approx(satisfaction)
    assert row["resolution"] == pytest.approx(resolution)
    # 排查老旧管网 overdue (20 Nov, not done), 加装循环泵 done, 入户测温 not yet due
    assert (row["tasks"], row["tasks_done"], row["tasks_overdue"]) == (3, 1, 1)
    with time_machine.travel(local(2026, 12, 2, 9, 0), tick=False):
        assert themes_month(Period.month(date(2026, 10, 1)), themes=Theme.objects.all()) == []


def test_the_monthly_report_page_and_its_excel(client, city, heating_theme):
    client.force_login(city.supervisor)
    page = client.get(reverse("admin:theme_monthly"), {"month": "2026-11"})
    assert page.status_code == 200 and "老旧小区暖气不热" in page.content.decode()
    xlsx = client.get(reverse("admin:theme_monthly"), {"month": "2026-11", "format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    bad = client.get(reverse("admin:theme_monthly"), {"month": "2026-13"})
    assert bad.status_code == 200 and "YYYY-MM" in bad.content.decode()


# -- the pages, scope and bad input ----------------------------------------------------------------


def test_the_theme_page_shows_figures_tasks_and_masked_tickets(client, city, heating_theme):
    theme, _before, since, _other = heating_theme
    Ticket.objects.filter(pk=since[0].pk).update(content="暖气不热，请回电13912345678")
    client.force_login(city.supervisor)
    page = client.get(reverse("admin:theme", args=[theme.pk])).content.decode()
    assert 'id="theme-before-since"' in page and 'id="theme-chart-data"' in page
    assert "task-overdue" in page and "task-done" in page
    assert since[0].number in page and "13912345678" not in page
    assert "vendor/echarts/echarts.min.js" in page


def test_who_sees_and_who_edits_themes(client, city, heating_theme):
    theme, *_rest = heating_theme
    page = reverse("admin:theme", args=[theme.pk])
    add = reverse("admin:cases_theme_add")
    for user, sees, edits in [
        (city.supervisor, True, True),
        (city.leader, True, True),
        (city.dispatcher, True, False),
        (city.operator, True, False),
        (city.utility_handler, True, False),  # the lead unit
        (city.handler, True, False),  # a co-unit
        (city.handler2, False, False),  # neither
        (city.bureau_handler, False, False),
        (city.gridworker, False, False),
    ]:
        client.force_login(user)
        assert (client.get(page).status_code == 200) == sees, user
        assert (client.get(add).status_code == 200) == edits, user
    # a co-unit sees the figures and tickets of its own scope only
    client.force_login(city.handler2)
    assert "老旧小区暖气不热" not in client.get(reverse("admin:cases_theme_changelist")).content.decode()


def _form(city, **overrides):
    data = {
        "title": "路灯不亮",
        "lead_department": city.bureau.pk,
        "started_on": "2026-11-16",
        "state": "active",
        "origin": "manual",
        "keywords": "路灯",
        "tasks-TOTAL_FORMS": "0",
        "tasks-INITIAL_FORMS": "0",
        "tasks-MIN_NUM_FORMS": "0",
        "tasks-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_bad_input_gets_clear_errors_and_writes_nothing(client, city):
    client.force_login(city.supervisor)
    add = reverse("admin:cases_theme_add")
    empty = client.post(add, _form(city, keywords="  \n "))
    assert empty.status_code == 200 and "匹配规则不能为空" in empty.content.decode()
    backwards = client.post(add, _form(city, ended_on="2026-11-01"))
    assert backwards.status_code == 200 and "结束日期不能早于开始日期" in backwards.content.decode()
    closed = client.post(add, _form(city, state="closed"))
    assert closed.status_code == 200 and "须填写结束日期" in closed.content.decode()
    hostile = client.post(add, _form(city, categories=["99999999999999999999"]))
    assert hostile.status_code == 200
    assert not Theme.objects.exists()


def test_a_theme_made_in_the_admin_links_its_past_tickets(client, city, django_capture_on_commit_callbacks):
    with time_machine.travel(local(2026, 11, 10, 9, 0), tick=False):
        lamp = new_ticket(city, category=city.construction, content="小区路灯不亮", address="城东区东关大街1号院")
        other = new_ticket(city, content="暖气不热")
    client.force_login(city.supervisor)
    with time_machine.travel(local(2026, 11, 16, 9, 0), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("admin:cases_theme_add"), _form(city, territories=[city.district.pk]))
    theme = Theme.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:theme", args=[theme.pk])
    assert list(theme.tickets.all()) == [lamp] and other not in theme.tickets.all()
    assert theme.linked_at is not None and theme.created_by == city.supervisor
    assert theme.history.count() == 1


def test_a_hotspot_and_a_cluster_open_the_form_with_the_rule_filled_in(client, city, settings):
    settings.HOTLINE_MASS_COUNT = 3
    from cases.clusters import clusters_detect_for
    from cases.models import Cluster

    for _ in range(3):
        clusters_detect_for(new_ticket(city))
    cluster = Cluster.objects.first()
    client.force_login(city.supervisor)
    hotspot = client.get(reverse("admin:hotspot", args=[city.community.pk, city.cold_room.pk])).content.decode()
    assert 'id="hotspot-to-theme"' in hotspot
    detail = client.get(reverse("admin:cases_cluster_detail", args=[cluster.pk])).content.decode()
    assert 'id="cluster-to-theme"' in detail
    query = f"?origin=cluster&origin_cluster={cluster.pk}&categories={city.cold_room.pk}"
    url = reverse("admin:cases_theme_add") + query
    form = client.get(url).context["adminform"].form
    assert form.initial["origin"] == "cluster" and form.initial["categories"] == [str(city.cold_room.pk)]
    # the dispatcher neither gets the button nor the form
    client.force_login(city.dispatcher)
    detail = client.get(reverse("admin:cases_cluster_detail", args=[cluster.pk])).content.decode()
    assert 'id="cluster-to-theme"' not in detail
