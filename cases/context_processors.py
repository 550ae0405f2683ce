from django.utils.translation import gettext as _

from config.health import down_components

from .deadlines.calendar import assumed_holidays, calendar_gaps
from .notifications.inbox import unread_count


def calendar_warnings(request):
    """Years the working-day calendar has no schedule for, shown to the staff who
    maintain the holiday table (a banner in the admin)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("cases.change_holiday"):
        return {}

    gaps = calendar_gaps()
    if not gaps:
        return {}
    years = "、".join(str(year) for year in gaps)
    assumed = "；".join(f"{year}: {_holiday_runs(assumed_holidays(year))}" for year in gaps)
    return {
        "calendar_warning": _(
            "%(years)s 年的调休安排尚未录入：系统暂按法定节假日（%(assumed)s）和周末计算时限，"
            "调休上班日未计入。请在“节假日与调休”中录入或导入国务院公布的安排。"
        )
        % {"years": years, "assumed": assumed}
    }


def _holiday_runs(days) -> str:
    """``[(1 Jan, 元旦), (5 Feb, 春节), (6 Feb, 春节)…]`` → ``元旦 01-01、春节 02-05–02-08…``:
    consecutive days of one festival as one range, so the banner stays one line."""
    runs: list[list] = []
    for day, name in days:
        if runs and runs[-1][0] == name and (day - runs[-1][2]).days == 1:
            runs[-1][2] = day
        else:
            runs.append([name, day, day])
    return "、".join(
        f"{name} {first:%m-%d}" + (f"–{last:%m-%d}" if last != first else "") for name, first, last in runs
    )


def inbox(request):
    """The unread badge in the admin header (one indexed count)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {}

    return {"inbox_unread": unread_count(user)}


def service_warnings(request):
    """Shared services this process found down in the last minutes: a banner for
    administrators (the others keep working and need not worry)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_superuser:
        return {}

    down = down_components()
    if not down:
        return {}
    return {
        "service_warning": _(
            "%(services)s 暂时无法连接：网页照常可用，限流计数暂停；排队的任务会在恢复后继续处理。请检查该服务。"
        )
        % {"services": "、".join(down)}
    }
