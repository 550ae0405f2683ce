"""Daily rollups: the counters of reports.metrics per day and lead unit."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases import clock

from .metrics import COUNTER_NAMES, Period, counters_live
from .models import DailyUnitStat


def rollup_build(day: date) -> int:
    """Recompute one day's rows (all units) from the live data; returns the row count."""
    per_unit = counters_live(Period.day(day), group_by="department")
    now = timezone.now()
    rows = [
        DailyUnitStat(day=day, department_id=unit, built_at=now, **{n: getattr(c, n) for n in COUNTER_NAMES})
        for unit, c in per_unit.items()
        if any(getattr(c, n) for n in COUNTER_NAMES)
    ]
    with transaction.atomic():
        DailyUnitStat.objects.filter(day=day).delete()
        DailyUnitStat.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def rollups_rebuild(*, days: int | None = None, today: date | None = None) -> int:
    """Rebuild the recent days, whose counters can still move (a ticket due last
    week closes today, a callback completes); older days are final."""
    days = days or settings.HOTLINE_ROLLUP_REBUILD_DAYS
    today = today or clock.local_day()
    return sum(rollup_build(today - timedelta(days=offset)) for offset in range(days, -1, -1))
