from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from cases.callbacks import callbacks_due
from cases.intake import intake_patrol_grids
from cases.selectors.queues import queue_counts
from cases.selectors.scope import (
    dispatch_accuracy_unit_ids,
    has_callback_queue,
    is_display,
    reports_visible,
    stats_unit_ids,
    wall_centre,
)
from reports import views

from . import two_factor
from .replicas import replica_states

#: What the admin index says of a read replica (config/replicas.py), by verdict.
REPLICA_VERDICTS = {
    "ok": _("使用中：只读查询由此副本承担"),
    "lagging": _("延迟过大：读取暂改走主库"),
    "down": _("无法连接：读取暂改走主库"),
}


class HotlineAdminSite(admin.AdminSite):
    """The admin with the staff's work queues on its front page."""

    site_header = _("接诉即办 · 12345 工单系统")
    site_title = _("接诉即办")
    index_title = _("工作台")
    index_template = "admin/hotline_index.html"
    site_url = None  # no public site behind the "view site" link
    login_form = two_factor.LoginForm
    login_template = "admin/hotline_login.html"

    def has_permission(self, request):
        # A wall-screen display account is staff (it signs in here) but sees the
        # wall only: every admin page turns it away.
        return super().has_permission(request) and two_factor.session_passes(request) and not is_display(request.user)

    def login(self, request, extra_context=None):
        """A display account already signed in goes to its wall screen."""
        if request.method == "GET" and is_display(request.user):
            return redirect("wall")
        return super().login(request, extra_context)

    def admin_view(self, view, cacheable=False):
        """Where two-factor login is required, staff without it are sent to turn
        it on before anything else."""
        protected = super().admin_view(view, cacheable)
        if getattr(view, "two_factor_enrolment", False):
            return protected

        @wraps(view)
        def inner(request, *args, **kwargs):
            user = request.user
            enrolled = not (user.is_active and user.is_staff) or two_factor.has_second_factor(user)
            if settings.HOTLINE_2FA_REQUIRED and not enrolled:
                messages.warning(request, _("本系统要求启用两步验证：请先用手机验证器完成绑定。"))
                return redirect(reverse("admin:two_factor", current_app=self.name))
            return protected(request, *args, **kwargs)

        return inner

    def get_urls(self):
        wrap = self.admin_view

        def enrol(request):
            return two_factor.two_factor_view(request, self)

        enrol.two_factor_enrolment = True
        return [
            path("two-factor/", wrap(enrol), name="two_factor"),
            path("dashboard/", wrap(lambda r: views.dashboard_view(r, self)), name="dashboard"),
            path("dashboard/data/", wrap(views.dashboard_data_view), name="dashboard_data"),
            path("map/data/", wrap(views.map_data_view), name="map_data"),
            path("map/geo/", wrap(views.map_geo_view), name="map_geo"),
            path("statistics/", wrap(lambda r: views.statistics_view(r, self)), name="statistics"),
            path("dispatch-accuracy/", wrap(lambda r: views.dispatch_accuracy_view(r, self)), name="dispatch_accuracy"),
            path(
                "hotspot/<int:community_id>/<int:category_id>/",
                wrap(lambda r, **kw: views.hotspot_view(r, self, **kw)),
                name="hotspot",
            ),
            path("themes/monthly/", wrap(lambda r: views.theme_monthly_view(r, self)), name="theme_monthly"),
            path("themes/<int:pk>/", wrap(lambda r, **kw: views.theme_view(r, self, **kw)), name="theme"),
            path("exports/<int:pk>/download/", wrap(views.export_download_view), name="export_download"),
            path("exports/<int:pk>/status/", wrap(views.export_status_view), name="export_status"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        changelist = reverse("admin:cases_ticket_changelist", current_app=self.name)
        queues = [
            {
                "key": queue.key,
                "label": queue.label,
                "count": count,
                "tone": queue.tone if count else "",
                "url": f"{changelist}?queue={queue.key}",
            }
            for queue, count in queue_counts(request.user)
        ]
        queues += self._callback_queue(request, changelist)
        context = {"work_queues": queues, **(extra_context or {})}
        if request.user.has_perm("cases.add_ticket"):
            context["intake_url"] = reverse("admin:cases_ticket_add", current_app=self.name)
            context["intake_is_patrol"] = intake_patrol_grids(request.user) is not None
        if reports_visible(request.user):
            context["dashboard_url"] = reverse("admin:dashboard", current_app=self.name)
        if wall_centre(request.user) is not None:
            context["wall_url"] = reverse("wall")
        if stats_unit_ids(request.user) != []:
            context["statistics_url"] = reverse("admin:statistics", current_app=self.name)
        if dispatch_accuracy_unit_ids(request.user) != []:
            context["accuracy_url"] = reverse("admin:dispatch_accuracy", current_app=self.name)
        if request.user.is_superuser:
            context["replicas"] = [
                {"state": state, "label": REPLICA_VERDICTS[state.verdict]} for state in replica_states()
            ]
        return super().index(request, context)

    def _callback_queue(self, request, changelist):
        """Callback agents' day: the callbacks due today (own and unassigned)."""
        if not has_callback_queue(request.user):
            return []
        count = callbacks_due(request.user)[:10001].count()
        return [
            {
                "key": "callbacks_today",
                "label": _("今日待回访"),
                "count": count,
                "tone": "warning" if count else "",
                "url": reverse("admin:cases_callback_changelist", current_app=self.name) + "?queue=today",
            }
        ]


class ReadOnlyAdminMixin:
    """For rows written elsewhere — by the workflow, a nightly batch, a scan, an
    export or an audit record: the admin shows them and never adds, edits or
    deletes them (DESIGN §8: nothing is deleted)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
