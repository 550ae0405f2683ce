"""One-step import of the State Council's holiday schedule from an ICS calendar.

The yearly notice is published as text; public calendar feeds (and the office's own
calendar exports) carry it as all-day VEVENTs: "春节" over 除夕–初三 and "春节补班"
(or "上班") on the make-up Saturdays. Only that simple subset is read — DTSTART /
DTEND with ``VALUE=DATE`` (DTEND exclusive, as RFC 5545 says) and SUMMARY — so no
calendar library is needed. An event whose summary says 班 is a make-up working day,
any other is a rest day."""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction

from ..models import Holiday

ERROR_NO_EVENTS = "the file holds no all-day VEVENT"
ERROR_BAD_DATE = "VEVENT {summary!r}: cannot read the date {value!r}"
ERROR_TOO_LONG = "VEVENT {summary!r} spans more than 31 days; not a holiday schedule"

#: A summary that marks a make-up working day: 补班, 上班, 调休上班.
WORKING_MARK = re.compile(r"班")
MAX_EVENT_DAYS = 31
NAME_MAX = Holiday._meta.get_field("name").max_length


@dataclass(frozen=True)
class ScheduleDay:
    day: date
    name: str
    is_working_day: bool


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _unfold(text: str) -> list[str]:
    """RFC 5545 §3.1: a line starting with a space or tab continues the previous one."""
    lines: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def _parse_date(value: str, summary: str) -> date:
    try:
        return datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError as exc:
        raise ValueError(ERROR_BAD_DATE.format(summary=summary, value=value)) from exc


def _unescape(value: str) -> str:
    return value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def schedule_parse_ics(text: str) -> list[ScheduleDay]:
    """Every day the ICS file's all-day events cover, in date order (a later event
    for the same day wins)."""
    days: dict[date, ScheduleDay] = {}
    event: dict[str, str] | None = None
    for line in _unfold(text):
        name_params, _, value = line.partition(":")
        name = name_params.split(";", 1)[0].upper()
        if name == "BEGIN" and value.upper() == "VEVENT":
            event = {}
        elif name == "END" and value.upper() == "VEVENT" and event is not None:
            if "DTSTART" in event:
                summary = _unescape(event.get("SUMMARY", "")).strip()
                first = _parse_date(event["DTSTART"], summary)
                end = _parse_date(event["DTEND"], summary) if "DTEND" in event else first + timedelta(days=1)
                if (end - first).days > MAX_EVENT_DAYS:
                    raise ValueError(ERROR_TOO_LONG.format(summary=summary))
                working = bool(WORKING_MARK.search(summary))
                day = first
                while day < max(end, first + timedelta(days=1)):
                    days[day] = ScheduleDay(day, summary[:NAME_MAX], working)
                    day += timedelta(days=1)
            event = None
        elif event is not None and name in ("DTSTART", "DTEND", "SUMMARY"):
            event[name] = value
    if not days:
        raise ValueError(ERROR_NO_EVENTS)
    return [days[d] for d in sorted(days)]


@transaction.atomic
def holidays_import_ics(*, text: str) -> ImportResult:
    """Upsert the schedule into the holiday table, all or nothing. Each saved row
    fires the Holiday signals (cache refresh, re-timing of open tickets — the
    re-timing queues once per transaction)."""
    schedule = schedule_parse_ics(text)
    existing = {h.date: h for h in Holiday.objects.filter(date__in=[d.day for d in schedule])}
    created = updated = unchanged = 0
    for item in schedule:
        row = existing.get(item.day)
        if row is None:
            Holiday.objects.create(date=item.day, name=item.name, is_working_day=item.is_working_day)
            created += 1
        elif (row.name, row.is_working_day) != (item.name, item.is_working_day):
            row.name, row.is_working_day = item.name, item.is_working_day
            row.save(update_fields=["name", "is_working_day"])
            updated += 1
        else:
            unchanged += 1
    return ImportResult(created, updated, unchanged)
