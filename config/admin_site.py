from django.contrib import admin
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class HotlineAdminSite(admin.AdminSite):
    """The admin with the staff's work queues on its front page."""

    site_header = _("接诉即办 · 12345 工单系统")
    site_title = _("接诉即办")
    index_title = _("工作台")
    index_template = "admin/hotline_index.html"
    site_url = None  # no public site behind the "view site" link

    def index(self, request, extra_context=None):
        from cases.queues import queue_counts

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
        context = {"work_queues": queues, **(extra_context or {})}
        if request.user.has_perm("cases.add_ticket"):
            context["intake_url"] = reverse("admin:cases_ticket_add", current_app=self.name)
        return super().index(request, context)
