"""Working-day arithmetic (DESIGN §5) on the real chinese-calendar data."""

import io
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from cases.deadlines import calendar as deadlines
from cases.deadlines import policy
from cases.deadlines.calendar import DaySource, WorkCalendar, calendar_gaps, get_calendar, parse_segments
from cases.deadlines.policy import deadline_limits
from cases.models import DeadlinePolicy, Holiday, Nature, TimeUnit, Urgency
from tests.conftest import local

DATA = Path(__file__).parent / "data"
SEGMENTS = parse_segments(["08:30-12:00", "14:00-18:00"])
DAY = 450  # working minutes in a day: 3.5 h + 4 h


@pytest.fixture
def cal():
    return WorkCalendar(SEGMENTS, {})


@pytest.fixture
def library_without_2027(monkeypatch):
    """Make the library behave like chinese-calendar 1.11 (no data from 2027 on),
    whatever version is installed, so the fallback is tested honestly."""
    real = chinese_calendar.is_workday

    def is_workday(day):
        if day.year >= 2027:
            raise NotImplementedError(f"no available data for year {day.year}")
        return real(day)

    monkeypatch.setattr(deadlines.chinese_calendar, "is_workday", is_workday)
    monkeypatch.setattr(deadlines, "_missing_years", set())


def test_segments_are_parsed_and_validated():
    assert parse_segments(["14:00-18:00", "08:30-12:00"])[0][0].hour == 8
    with pytest.raises(ValueError):
        parse_segments(["12:00-08:00"])
    with pytest.raises(ValueError):
        parse_segments(["08:00-12:00", "11:00-13:00"])


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        # inside a segment
        (local(2026, 11, 23, 9, 0), 60, local(2026, 11, 23, 10, 0)),
        # lands exactly on a segment end: stays at 12:00, does not jump to 14:00
        (local(2026, 11, 23, 10, 0), 120, local(2026, 11, 23, 12, 0)),
        # crosses the lunch break
        (local(2026, 11, 23, 11, 0), 120, local(2026, 11, 23, 15, 0)),
        # starts in the lunch break: counting begins at 14:00
        (local(2026, 11, 23, 12, 30), 120, local(2026, 11, 23, 16, 0)),
        # starts before the day begins
        (local(2026, 11, 23, 7, 0), 120, local(2026, 11, 23, 10, 30)),
        # starts after the day ends: next working morning
        (local(2026, 11, 23, 19, 0), 30, local(2026, 11, 24, 9, 0)),
        # Friday evening → Monday
        (local(2026, 11, 27, 17, 30), 120, local(2026, 11, 30, 10, 0)),
        # Saturday start counts from Monday 08:30
        (local(2026, 11, 28, 10, 0), 60, local(2026, 11, 30, 9, 30)),
    ],
)
def test_add_working_minutes_respects_hours_and_weekends(cal, start, minutes, expected):
    assert cal.add_working_minutes(start, minutes) == expected


def test_five_working_days_is_the_same_time_a_week_later(cal):
    assert cal.add_limit(local(2026, 11, 23, 10, 0), 5, TimeUnit.WORKING_DAY) == local(2026, 11, 30, 10, 0)


def test_one_working_day_over_the_weekend(cal):
    assert cal.add_limit(local(2026, 11, 27, 17, 0), 1, TimeUnit.WORKING_DAY) == local(2026, 11, 30, 17, 0)


def test_spring_festival_is_skipped_and_the_make_up_saturday_counts(cal):
    # Fri 13 Feb 2026 10:00: 6 h left that day, Sat 14 Feb is a make-up working
    # day (7.5 h), 15–23 Feb are the holiday, so the rest falls on Tue 24 Feb.
    assert not cal.is_working_day(date(2026, 2, 16))
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.add_limit(local(2026, 2, 13, 10, 0), 2, TimeUnit.WORKING_DAY) == local(2026, 2, 24, 10, 0)


def test_make_up_saturday_after_the_festival(cal):
    assert cal.add_limit(local(2026, 2, 27, 10, 0), 1, TimeUnit.WORKING_DAY) == local(2026, 2, 28, 10, 0)


def test_national_day_week(cal):
    # 1–7 Oct 2026 are holidays; a Wednesday 30 Sep dispatch with 2 days runs into 9 Oct.
    due = cal.add_limit(local(2026, 9, 30, 10, 0), 2, TimeUnit.WORKING_DAY)
    assert due.date() > date(2026, 10, 7)
    assert cal.working_minutes_between(local(2026, 9, 30, 10, 0), due) == 2 * DAY


def test_wall_clock_units_ignore_the_calendar(cal):
    start = local(2026, 11, 28, 23, 0)  # Saturday night
    assert cal.add_limit(start, 20, TimeUnit.MINUTE) == start + timedelta(minutes=20)
    assert cal.add_limit(start, 24, TimeUnit.HOUR) == start + timedelta(hours=24)


def test_working_minutes_between_is_the_inverse_of_adding(cal):
    start = local(2026, 2, 12, 15, 20)
    for minutes in (1, 59, 450, 451, 2000, 4500):
        end = cal.add_working_minutes(start, minutes)
        assert cal.working_minutes_between(start, end) == pytest.approx(minutes)
        assert cal.working_minutes_between(end, start) == pytest.approx(-minutes)


def test_warning_at_three_quarters_or_one_day_left(cal):
    start = local(2026, 11, 23, 10, 0)
    # 5 working days: 75 % (3.75 days) comes before "1 day left" (4 days).
    due5 = cal.add_limit(start, 5, TimeUnit.WORKING_DAY)
    assert cal.warn_time(start, due5, TimeUnit.WORKING_DAY) == cal.add_working_minutes(start, 3.75 * DAY)
    # 2 working days: "1 day left" (after 1 day) comes before 75 % (1.5 days).
    due2 = cal.add_limit(start, 2, TimeUnit.WORKING_DAY)
    assert cal.warn_time(start, due2, TimeUnit.WORKING_DAY) == local(2026, 11, 24, 10, 0)
    # Short clocks warn at 75 % only.
    due_sign = cal.add_limit(start, 2, TimeUnit.WORKING_HOUR)
    assert cal.warn_time(start, due_sign, TimeUnit.WORKING_HOUR) == local(2026, 11, 23, 11, 30)
    # Wall-clock clocks: 75 % of the wall time.
    due_urgent = cal.add_limit(start, 24, TimeUnit.HOUR)
    assert cal.warn_time(start, due_urgent, TimeUnit.HOUR) == start + timedelta(hours=18)


# -- the holiday table and the year the library does not know ----------------------


def test_holiday_table_overrides_the_library(db):
    # 2026-11-23 is an ordinary Monday; the table turns it into a holiday and the
    # Saturday after into a working day.
    Holiday.objects.create(date=date(2026, 11, 23), name="临时休假")
    Holiday.objects.create(date=date(2026, 11, 28), name="调休上班", is_working_day=True)
    cal = get_calendar()
    assert cal.day_info(date(2026, 11, 23)).source == DaySource.TABLE
    assert not cal.is_working_day(date(2026, 11, 23))
    assert cal.is_working_day(date(2026, 11, 28))


def test_saving_a_holiday_refreshes_the_calendar(db):
    assert get_calendar().is_working_day(date(2026, 11, 24))
    Holiday.objects.create(date=date(2026, 11, 24), name="临时休假")
    assert not get_calendar().is_working_day(date(2026, 11, 24))


def test_unknown_year_falls_back_to_statutory_holidays_and_weekends_and_is_flagged(db, library_without_2027):
    cal = get_calendar()
    # 元旦 (Fri 1 Jan) and 春节 除夕–初三 (Fri 5 – Mon 8 Feb 2027) are fixed by law.
    assert cal.day_info(date(2027, 1, 1)) == deadlines.DayInfo(False, DaySource.STATUTORY_FALLBACK)
    for day in (5, 6, 7, 8):
        assert not cal.is_working_day(date(2027, 2, day))
    # The library's guessed "observed" days are not assumed: only the notice sets 调休.
    assert cal.is_working_day(date(2027, 2, 9))
    assert cal.is_working_day(date(2027, 1, 4))
    assert not cal.is_working_day(date(2027, 1, 2))  # Saturday
    assert 2027 in deadlines._missing_years
    # Thu 31 Dec 2026 10:00 + 1 working day: Fri 1 Jan is 元旦, the weekend follows.
    assert cal.add_limit(local(2026, 12, 31, 10, 0), 1, TimeUnit.WORKING_DAY) == local(2027, 1, 4, 10, 0)
    assert calendar_gaps(today=date(2026, 11, 23)) == [2027]
    assert calendar_gaps(today=date(2026, 9, 1)) == []  # 2027 is not needed yet
    with translation.override("zh-hans"):
        assumed = dict(deadlines.assumed_holidays(2027))
    assert assumed[date(2027, 1, 1)] == "元旦" and date(2027, 2, 8) in assumed
    with translation.override("en"):  # the banner names them in the reader's language
        assert dict(deadlines.assumed_holidays(2027))[date(2027, 1, 1)] == "New Year's Day"


def test_unknown_year_uses_the_holiday_table_once_entered(db, library_without_2027):
    # The 2027 notice makes Sat 20 Feb a working day; the table wins over the fallback.
    Holiday.objects.create(date=date(2027, 2, 20), name="春节补班", is_working_day=True)
    cal = get_calendar()
    assert cal.is_working_day(date(2027, 2, 20))
    assert cal.day_info(date(2027, 2, 20)).source == DaySource.TABLE
    assert not cal.is_working_day(date(2027, 2, 8))  # the statutory days still hold
    assert calendar_gaps(today=date(2026, 11, 23)) == []


def test_ics_schedule_is_imported_in_one_step(db, library_without_2027):
    call_command("import_holidays_ics", str(DATA / "holidays_2027.ics"), stdout=io.StringIO())
    rows = {h.date: h for h in Holiday.objects.all()}
    assert len(rows) == 3 + 8 + 1  # 元旦 1–3 Jan, 春节 5–12 Feb (folded DTEND line), one make-up day
    assert rows[date(2027, 2, 12)].name == "春节" and not rows[date(2027, 2, 12)].is_working_day
    assert rows[date(2027, 2, 20)].is_working_day
    assert date(2027, 1, 4) not in rows  # DTEND is exclusive
    cal = get_calendar()
    assert not cal.is_working_day(date(2027, 2, 10)) and cal.is_working_day(date(2027, 2, 20))
    # A second import changes nothing.
    out = io.StringIO()
    call_command("import_holidays_ics", str(DATA / "holidays_2027.ics"), stdout=out)
    assert "0 created, 0 updated, 12 unchanged" in out.getvalue()


def test_ics_without_events_is_refused(tmp_path, db):
    path = tmp_path / "empty.ics"
    path.write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no all-day VEVENT"):
        call_command("import_holidays_ics", str(path))
    assert not Holiday.objects.exists()


def test_the_installed_library_never_crashes_across_the_year_boundary(db):
    # Whatever chinese-calendar knows, a deadline into 2027 and beyond is computed.
    cal = get_calendar()
    due = cal.add_limit(local(2026, 12, 30, 16, 0), 15, TimeUnit.WORKING_DAY)
    assert due.year == 2027
    assert cal.add_limit(local(2030, 6, 3, 9, 0), 1, TimeUnit.WORKING_DAY).year == 2030


# -- policy ------------------------------------------------------------------------


def test_default_policy_rows_come_from_the_migration(city):
    normal = deadline_limits(category=city.cold_room, urgency=Urgency.NORMAL, nature=Nature.COMPLAINT)
    assert normal.sign == (2, TimeUnit.WORKING_HOUR)
    assert normal.contact == (1, TimeUnit.WORKING_DAY)
    assert normal.resolve == (5, TimeUnit.WORKING_DAY)
    consult = deadline_limits(category=city.consult, urgency=Urgency.NORMAL, nature=Nature.CONSULT)
    assert consult.resolve == (2, TimeUnit.WORKING_DAY)
    assert consult.sign == (2, TimeUnit.WORKING_HOUR)  # inherited from the base row
    urgent = deadline_limits(category=city.cold_room, urgency=Urgency.URGENT, nature=Nature.COMPLAINT)
    assert urgent.sign == (20, TimeUnit.MINUTE)
    assert urgent.resolve == (24, TimeUnit.HOUR)


def test_category_override_applies_to_its_subtree_but_urgency_comes_first(city):
    DeadlinePolicy.objects.create(
        name="供暖类复杂诉求", category=city.heating, resolve_limit=15, resolve_unit=TimeUnit.WORKING_DAY
    )
    normal = deadline_limits(category=city.cold_room, urgency=Urgency.NORMAL, nature=Nature.COMPLAINT)
    assert normal.resolve == (15, TimeUnit.WORKING_DAY)
    assert normal.sign == (2, TimeUnit.WORKING_HOUR)
    urgent = deadline_limits(category=city.cold_room, urgency=Urgency.URGENT, nature=Nature.COMPLAINT)
    assert urgent.resolve == (24, TimeUnit.HOUR)
    other = deadline_limits(category=city.noise, urgency=Urgency.NORMAL, nature=Nature.COMPLAINT)
    assert other.resolve == (5, TimeUnit.WORKING_DAY)


def test_inactive_policies_are_ignored_and_built_in_defaults_remain(city):
    DeadlinePolicy.objects.update(is_active=False)
    limits = deadline_limits(category=city.noise, urgency=Urgency.URGENT, nature=Nature.HELP)
    assert limits == policy.Limits(**policy.DEFAULT_LIMITS)


@pytest.mark.parametrize("minutes", [1, 30, 210, 450, 451, 900, 2250, 4500])
@pytest.mark.parametrize(
    "end",
    [local(2026, 11, 30, 10, 0), local(2026, 2, 24, 9, 0), local(2026, 11, 28, 12, 0), local(2026, 11, 23, 14, 0)],
)
def test_subtracting_working_time_inverts_adding(cal, end, minutes):
    start = cal.subtract_working_minutes(end, minutes)
    assert cal.working_minutes_between(start, end) == pytest.approx(minutes)
    # and it is the latest such moment: adding the time back does not pass `end`
    assert cal.add_working_minutes(start, minutes) <= end
