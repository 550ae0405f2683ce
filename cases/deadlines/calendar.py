"""Working-day calendar and deadline policy (DESIGN §5).

Which days are working days, in order of authority:

1. the admin's holiday table (``Holiday``), which always wins;
2. the ``chinese-calendar`` library, for the years it knows (it has the
   State Council's announced make-up days, 调休);
3. for a year neither knows: the statutory holidays fixed by the 全国年节及纪念日
   放假办法 (元旦, 春节 除夕 to 初三, 清明, 劳动节, 端午, 中秋, 国庆), computed
   from the lunar calendar by the ``holidays`` package, plus weekends — flagged to
   administrators (``calendar_gaps``, ``assumed_holidays``) because that year's
   调休 swaps are only announced late and have not been entered yet.

Working time is the configured working-hour segments of each working day, in
Asia/Shanghai local time — per unit: a unit runs its clocks on its own working
calendar (``WorkingCalendar``: office hours, custom segments, or 24×7 where
working time is wall time and holidays do not apply), else its nearest
ancestor's, else the process-wide office hours (:func:`calendar_for`). Limits
in working hours or working days count only working time; limits in minutes or
hours count wall-clock time (urgent tickets do not wait for Monday).
"""

import functools
import itertools
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language

from departments.models import Department

from .. import clock
from ..models import Holiday, TimeUnit, WorkingCalendar
from ..reference import reference

logger = logging.getLogger(__name__)

# Safety net for the day-by-day walk: no deadline is ten years away.
MAX_DAYS_SCANNED = 3660


class DaySource:
    TABLE = "table"
    LIBRARY = "library"
    STATUTORY_FALLBACK = "statutory"


@dataclass(frozen=True)
class DayInfo:
    is_working: bool
    source: str


def parse_segments(spec: list[str]) -> list[tuple[time, time]]:
    """``["08:30-12:00", "14:00-18:00"]`` → sorted, non-overlapping (start, end) pairs."""
    segments = []
    for item in spec:
        start, end = (part.strip() for part in item.split("-"))
        s, e = time.fromisoformat(start), time.fromisoformat(end)
        if e <= s:
            raise ValueError(f"working-hour segment {item!r} ends before it starts")
        segments.append((s, e))
    segments.sort()
    for (_s1, e1), (s2, _e2) in itertools.pairwise(segments):
        if s2 < e1:
            raise ValueError("working-hour segments overlap")
    return segments


class WorkCalendar:
    """Working-day arithmetic over a fixed set of holiday-table overrides."""

    def __init__(self, segments: list[tuple[time, time]], overrides: dict[date, bool], tz=None):
        self.segments = segments
        self.overrides = overrides
        self.tz = tz or ZoneInfo(settings.TIME_ZONE)
        self.day_minutes = sum(
            (datetime.combine(date.min, e) - datetime.combine(date.min, s)).total_seconds() / 60 for s, e in segments
        )
        self._cache: dict[date, DayInfo] = {}
        self.override_years = {d.year for d in overrides}

    # -- days ---------------------------------------------------------------------

    def day_info(self, day: date) -> DayInfo:
        info = self._cache.get(day)
        if info is None:
            info = self._cache[day] = self._day_info(day)
        return info

    def _day_info(self, day: date) -> DayInfo:
        if day in self.overrides:
            return DayInfo(self.overrides[day], DaySource.TABLE)
        try:
            return DayInfo(bool(chinese_calendar.is_workday(day)), DaySource.LIBRARY)
        except NotImplementedError:
            # The library has no data for this year (e.g. 2027 in chinese-calendar
            # 1.11). Never crash: the statutory days are fixed by law years ahead,
            # only the make-up swaps are not; let administrators know.
            _note_missing_year(day.year)
            is_holiday = day in statutory_holidays(day.year)
            return DayInfo(day.weekday() < 5 and not is_holiday, DaySource.STATUTORY_FALLBACK)

    def is_working_day(self, day: date) -> bool:
        return self.day_info(day).is_working

    def year_is_covered(self, year: int) -> bool:
        """True when the library or the holiday table has the year's schedule."""
        if year in self.override_years:
            return True
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
            return True
        except NotImplementedError:
            return False

    # -- working time -------------------------------------------------------------

    def _local(self, moment: datetime) -> datetime:
        return timezone.localtime(moment, self.tz)

    def _segments_of(self, day: date):
        for s, e in self.segments:
            yield (
                datetime.combine(day, s, tzinfo=self.tz),
                datetime.combine(day, e, tzinfo=self.tz),
            )

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of working time after ``start``.

        A start outside working hours begins counting at the next working moment;
        a deadline that lands on the end of a segment stays there (18:00 today,
        not 08:30 tomorrow)."""
        if minutes <= 0:
            return start
        cursor = self._local(start)
        remaining = timedelta(minutes=minutes)
        day = cursor.date()
        for _ in range(MAX_DAYS_SCANNED):
            if self.is_working_day(day):
                for seg_start, seg_end in self._segments_of(day):
                    begin = max(cursor, seg_start)
                    if begin >= seg_end:
                        continue
                    available = seg_end - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time.min, tzinfo=self.tz)
        raise ValueError("no working time found within ten years")

    def subtract_working_minutes(self, end: datetime, minutes: float) -> datetime:
        """The latest moment from which ``minutes`` of working time reach ``end``:
        the inverse of ``add_working_minutes``."""
        if minutes <= 0:
            return end
        cursor = self._local(end)
        remaining = timedelta(minutes=minutes)
        day = cursor.date()
        for _ in range(MAX_DAYS_SCANNED):
            if self.is_working_day(day):
                for seg_start, seg_end in reversed(list(self._segments_of(day))):
                    finish = min(cursor, seg_end)
                    if finish <= seg_start:
                        continue
                    available = finish - seg_start
                    if remaining <= available:
                        return finish - remaining
                    remaining -= available
            day -= timedelta(days=1)
            cursor = datetime.combine(day, time.max, tzinfo=self.tz)
        raise ValueError("no working time found within ten years")

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        """Working minutes from ``start`` to ``end`` (negative if ``end`` is earlier)."""
        if end < start:
            return -self.working_minutes_between(end, start)
        a, b = self._local(start), self._local(end)
        total = timedelta()
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                for seg_start, seg_end in self._segments_of(day):
                    lo, hi = max(a, seg_start), min(b, seg_end)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60

    # -- limits -------------------------------------------------------------------

    def add_limit(self, start: datetime, amount: int, unit: str) -> datetime:
        if unit == TimeUnit.MINUTE:
            return start + timedelta(minutes=amount)
        if unit == TimeUnit.HOUR:
            return start + timedelta(hours=amount)
        if unit == TimeUnit.WORKING_HOUR:
            return self.add_working_minutes(start, amount * 60)
        if unit == TimeUnit.WORKING_DAY:
            return self.add_working_minutes(start, amount * self.day_minutes)
        raise ValueError(f"unknown time unit {unit!r}")

    def warn_time(self, start: datetime, due: datetime, unit: str) -> datetime:
        """When a clock from ``start`` to ``due`` turns yellow: at the warning ratio
        of its allotted time, or — for clocks longer than the "days left"
        threshold — when less than that many working days remain, whichever is
        earlier."""
        ratio = settings.DEADLINE_WARNING_RATIO
        if unit in (TimeUnit.MINUTE, TimeUnit.HOUR):
            return start + (due - start) * ratio
        allotted = self.working_minutes_between(start, due)
        warn_after = allotted * ratio
        threshold = settings.DEADLINE_WARNING_WORKING_DAYS_LEFT * self.day_minutes
        if allotted > threshold:
            warn_after = min(warn_after, allotted - threshold)
        return self.add_working_minutes(start, warn_after)

    def working_day_cutoff(self, day: date, cutoff: time) -> datetime:
        return datetime.combine(day, cutoff, tzinfo=self.tz)


class WallCalendar(WorkCalendar):
    """24×7: every day is a working day and working time is wall-clock time (a
    working day is 24 hours); holidays do not apply."""

    def __init__(self, tz=None):
        super().__init__([(time.min, time.max)], {}, tz)
        self.day_minutes = 24 * 60

    def _day_info(self, day: date) -> DayInfo:
        return DayInfo(True, DaySource.TABLE)

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        return start + timedelta(minutes=minutes) if minutes > 0 else start

    def subtract_working_minutes(self, end: datetime, minutes: float) -> datetime:
        return end - timedelta(minutes=minutes) if minutes > 0 else end

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        return (end - start).total_seconds() / 60


# -- the statutory fallback ------------------------------------------------------


@functools.cache
def statutory_holidays(year: int, language: str = "zh_CN") -> dict[date, str]:
    """The statutory rest days of ``year`` (date → name, Chinese unless
    ``language`` is "en_US"), without any make-up swap: ``observed=False`` drops
    the library's guessed 调休 days, which only the State Council's yearly notice
    decides."""
    return dict(holidays.China(years=year, observed=False, language=language).items())


# -- the process-wide calendar -----------------------------------------------------

_missing_years: set[int] = set()


def _note_missing_year(year: int) -> None:
    if year not in _missing_years:
        _missing_years.add(year)
        logger.warning(
            "chinese-calendar has no data for %s; using the holiday table, else statutory holidays and weekends",
            year,
        )


def get_calendar() -> WorkCalendar:
    """The process-wide calendar: office hours and the holiday table (cached with
    the reference data, ``cases.reference``)."""
    return reference("calendar", _calendar_load)


def _calendar_load() -> WorkCalendar:
    overrides = dict(Holiday.objects.values_list("date", "is_working_day"))
    return WorkCalendar(parse_segments(settings.WORKING_HOURS), overrides)


# -- calendars per unit --------------------------------------------------------------


def build_calendar(row: WorkingCalendar, base: WorkCalendar) -> WorkCalendar:
    """The arithmetic of one working-calendar row; ``base``: the process-wide
    calendar (office hours share it, custom segments share its holiday table)."""
    if row.kind == WorkingCalendar.Kind.ALWAYS:
        return WallCalendar()
    if row.kind == WorkingCalendar.Kind.CUSTOM and row.segments:
        return WorkCalendar(parse_segments(row.segments), base.overrides)
    return base


def effective_calendar_ids(units) -> dict[int, int]:
    """``units``: (id, path, own calendar id) of every unit → unit id → the
    calendar it inherits: its own, else the nearest ancestor's that has one."""
    own = {pk: cal_id for pk, _path, cal_id in units if cal_id}
    result = {}
    for pk, path, _cal_id in units:
        for node in reversed([int(part) for part in path.strip("/").split("/") if part] or [pk]):
            if node in own:
                result[pk] = own[node]
                break
    return result


def calendar_for(department_id: int | None) -> WorkCalendar:
    """The calendar a unit's clocks run on (see the module docstring), cached with
    the reference data."""
    base = get_calendar()
    if department_id is None:
        return base
    of_unit, calendars = reference("unit_calendars", lambda: _unit_calendars_load(base))
    cal_id = of_unit.get(department_id)
    return calendars.get(cal_id, base) if cal_id else base


def _unit_calendars_load(base: WorkCalendar):
    """(unit id → the id of the working calendar it runs on (own or inherited;
    absent: none, the process-wide one), calendar id → its ``WorkCalendar``)."""
    of_unit = effective_calendar_ids(Department.objects.values_list("pk", "path", "calendar_id"))
    rows = WorkingCalendar.objects.filter(pk__in=set(of_unit.values()))
    return of_unit, {row.pk: build_calendar(row, base) for row in rows}


def calendar_gaps(today: date | None = None) -> list[int]:
    """Years needed soon (this year and, within the look-ahead, the next) for which
    neither the library nor the holiday table has a schedule."""
    today = today or clock.local_day()
    horizon = today + timedelta(days=settings.CALENDAR_LOOKAHEAD_DAYS)
    cal = get_calendar()
    return [year for year in range(today.year, horizon.year + 1) if not cal.year_is_covered(year)]


def assumed_holidays(year: int) -> list[tuple[date, str]]:
    """The rest days the fallback assumes for an uncovered ``year`` (shown in the
    admin banner so a maintainer sees what the deadlines are computed on), named
    in the reader's language."""
    language = "zh_CN" if (get_language() or "zh").startswith("zh") else "en_US"
    return sorted(statutory_holidays(year, language).items())
