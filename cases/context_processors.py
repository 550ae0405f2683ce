from django.utils.translation import gettext as _

from config.health import down_components

from .deadlines.calendar import calendar_gaps
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
    return {
        "calendar_warning": _(
            "%(years)s 年的法定节假日和调休安排尚未录入：系统暂按“周一至周五上班”计算时限。"
            "请在“节假日与调休”中录入国务院公布的安排。"
        )
        % {"years": years}
    }


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
