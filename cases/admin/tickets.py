"""The ticket workbench: a scoped work list, the ticket page with its timeline and
action buttons, the action forms, and the live-call intake form."""

import csv
import dataclasses
import mimetypes
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from config.replicas import replica_rows
from departments.models import Department, Grid
from departments.selectors import Territory, person_name, staff_profile, territory_resolve
from reports.admin import start_ledger_export

from .. import clock, workflow
from ..archive import archive_boundary, archived_rows, ticket_archived
from ..attachments import (
    pending_discard,
    pending_file,
    pending_names,
    pending_open,
    pending_store,
    pending_token_new,
    pending_token_ok,
)
from ..incidents import INCIDENT_LINKS, incident_link, incidents_matching
from ..intake import duplicate_window_days, intake_duplicates, intake_patrol_grids, knowledge_search
from ..labels import choice_label
from ..ledger import ledger_header, ledger_rows
from ..models import (
    Attachment,
    Category,
    Clock,
    Colour,
    Incident,
    Nature,
    Ticket,
    TicketEvent,
    TicketState,
    Urgency,
    deadline_colour,
)
from ..partitions import HISTORY
from ..privacy import (
    citizen_reveal,
    citizen_view,
    mask_name,
    mask_phone,
    revealed_for,
    showing_citizen,
    shown,
    shown_name,
    shown_phone,
)
from ..public import public_summary_scrub
from ..selectors.queues import queue_get
from ..selectors.scope import incident_scope, ticket_scope
from ..selectors.tickets import WORKLIST_ORDERING, list_ordering, search_term, ticket_search, ticket_timeline
from ..workflow.chain import chain_is_open, ticket_chain
from ..workflow.registry import VERBS
from . import filters
from .decisions import decision_context, review_context
from .forms import ACTION_FORMS, IntakeForm, pk_or_none
from .queue_flow import carried_filters, list_url, next_in_list, with_filters
from .suggestions import dispatch_suggestion, intake_suggestion_payload
from .timeline import timeline_rows

Kind = TicketEvent.Kind
#: The verbs of 签收: a lead unit's sign and a co-handling unit's; neither needs a note.
SIGN_KINDS = (Kind.SIGNED, Kind.COHANDLER_SIGNED)

COLOUR_STYLE = {Colour.GREEN: "#2e7d32", Colour.YELLOW: "#e0a000", Colour.RED: "#c62828"}
URGENCY_STYLE = {Urgency.CRITICAL: "#c62828", Urgency.URGENT: "#e65100", Urgency.NORMAL: "#607d8b"}


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows (``SELECT COUNT(*) FROM (… LIMIT CAP+1)``), so a
    list over millions of tickets never runs a full ``COUNT(*)``."""

    CAP = 10_000
    #: A keyword search counts fewer: each row it counts is fetched and rechecked
    #: (the bigram index gives candidates, not answers) — 10,001 of them for a common
    #: word cost ~100 ms, 1,001 cost ~10 ms. The list says when the count is capped.
    KEYWORD_CAP = 1_000

    @cached_property
    def count(self):
        # Without the ordering and annotations: the database stops after CAP+1 rows
        # of whatever index serves the filter, instead of sorting every match first.
        rows = self.object_list
        if hasattr(rows, "query"):
            rows = rows.order_by().values("pk")
        n = rows[: self.CAP + 1].count()
        self.capped = n > self.CAP
        return min(n, self.CAP)


def duration_text(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 60:
        return gettext("%(n)d分钟") % {"n": minutes}
    if minutes < 60 * 24:
        return gettext("%(h)d小时%(m)d分") % {"h": minutes // 60, "m": minutes % 60}
    return gettext("%(d)d天%(h)d小时") % {"d": minutes // 1440, "h": (minutes % 1440) // 60}


def humanize_delta(delta: timedelta) -> str:
    text = duration_text(delta)
    return (gettext("剩%(t)s") if delta.total_seconds() >= 0 else gettext("超%(t)s")) % {"t": text}


#: Django's own text for a row's checkbox (its catalogue translates it; not ours to collect).
_DJANGO_ROW_LABEL = "Select this object for an action - {}"

ON_TIME_BADGE = {True: (Colour.GREEN, _("按时签收")), False: (Colour.RED, _("超时签收"))}


def _chain_rows(ticket, now) -> list[dict]:
    """The ticket's sub-dispatch chain for its page (lead → … → holder): who, when
    sent and signed, and the sign's colour (on time or late; a pending hop's
    running sign clock). Empty while the lead unit holds the ticket itself."""
    hops = ticket_chain(ticket)
    if not hops:
        return []
    rows = [{"holder": ticket.lead_department, "sent_at": ticket.dispatched_at, "signed_at": ticket.signed_at}]
    for hop in hops:
        if hop.signed_at is not None:
            colour, label = ON_TIME_BADGE[bool(hop.on_time)]
            badge = format_html('<span style="color:{};font-weight:600">● {}</span>', COLOUR_STYLE[colour], label)
        else:
            badge = deadline_badge(deadline_colour(hop.sign_due_at, hop.sign_warn_at, now), hop.sign_due_at, now)
        holder = f"{hop.to_department.name} · {person_name(hop.to_worker)}" if hop.to_worker_id else hop.to_department
        rows.append(
            {
                "holder": holder,
                "sent_at": hop.sent_at,
                "signed_at": hop.signed_at,
                "due": hop.sign_due_at,
                "badge": badge,
            }
        )
    return rows


def deadline_badge(colour: str, due, now=None, clock_name: str = "") -> str:
    """A running clock's colour and time left; ``clock_name`` says which clock it is."""
    if not colour or due is None:
        return "—"
    now = now or clock.now()
    return format_html(
        '<span class="deadline deadline-{}" style="color:{};font-weight:600" title="{}">{}● {}</span>',
        colour,
        COLOUR_STYLE[colour],
        timezone.localtime(due).strftime("%Y-%m-%d %H:%M"),
        format_html('<span class="clock-name">{}</span> ', Clock(clock_name).label) if clock_name else "",
        humanize_delta(due - now),
    )


#: The ticket page's panels: the reverse relation and its order (each model's own
#: ``Meta.ordering`` where the page showed that, the callbacks newest first).
_PANELS = {
    "applications": ("-requested_at",),
    "cohandlings": (),
    "attachments": (),
    "merged_tickets": (),
    "callbacks": ("-closed_at",),
    "urges": (),
}


def _exists_rows(name):
    relation = Ticket._meta.get_field(name)
    return Exists(relation.related_model.objects.filter(**{relation.field.name: OuterRef("pk")}))


#: ``has_<panel>``: whether the panel has rows, read with the ticket.
_PANEL_FLAGS = {f"has_{name}": _exists_rows(name) for name in _PANELS}

#: The foreign keys to units and to people that the ticket page shows, per model.
_TICKET_UNITS = ("community", "street", "district", "lead_department", "assignee_department", "centre")
_TICKET_PEOPLE = ("handler", "created_by", "escalated_to", "assignee_worker")
_PANEL_UNITS = {"applications": ("department",), "cohandlings": ("department",), "urges": ("department",)}
_PANEL_PEOPLE = {
    "applications": ("requested_by", "decided_by"),
    "cohandlings": ("signed_by", "replied_by"),
    "urges": ("issued_by", "acknowledged_by"),
    "callbacks": ("agent",),
    "attachments": ("uploaded_by",),
}


def _units_and_people(ticket, events, panels) -> None:
    """Every unit and person the page shows — the ticket's, its grid's community,
    the timeline's actors, the panels' — in two queries (``in_bulk``), set on the
    objects as if each had been read through its foreign key."""
    wanted = [(ticket, _TICKET_UNITS, _TICKET_PEOPLE)]
    if ticket.grid_id:
        wanted.append((ticket.grid, ("community",), ()))
    wanted += [(event, ("actor_department",), ("actor",)) for event in events]
    for name, rows in panels.items():
        wanted += [(row, _PANEL_UNITS.get(name, ()), _PANEL_PEOPLE.get(name, ())) for row in rows]
    unit_ids, person_ids = set(), set()
    for obj, units, people in wanted:
        unit_ids.update(getattr(obj, f"{name}_id") for name in units)
        person_ids.update(getattr(obj, f"{name}_id") for name in people)
    unit_ids.discard(None)
    person_ids.discard(None)
    found_units = Department.objects.in_bulk(unit_ids) if unit_ids else {}
    found_people = get_user_model().objects.in_bulk(person_ids) if person_ids else {}
    for obj, units, people in wanted:
        for names, found in ((units, found_units), (people, found_people)):
            for name in names:
                obj._meta.get_field(name).set_cached_value(obj, found.get(getattr(obj, f"{name}_id")))


class TicketAdmin(SimpleHistoryAdmin):
    """Tickets, scoped to what the user may see (``cases.selectors.ticket_scope``).
    Fields are read-only: every change goes through an action button and the
    workflow."""

    list_display = [
        "number_link",
        "received",
        "category_name",
        "short_content",
        "lead_department",
        "state_badge",
        "deadline",
        "urgency_badge",
    ]
    list_display_links = None
    list_filter = [
        filters.QueueFilter,
        filters.StateFilter,
        "urgency",
        "nature",
        "channel",
        filters.ColourFilter,
        filters.OverdueFilter,
        filters.ReworkFilter,
        filters.MineFilter,
        filters.ReceivedRangeFilter,
        filters.CategoryTreeFilter,
        filters.DepartmentTreeFilter,
        filters.TerritoryFilter,
        filters.GridFilter,
        filters.CentreFilter,
    ]
    search_fields = ["number"]  # the search box; the real search is get_search_results
    search_help_text = _("可按工单编号、来电号码（全号或后四位）、地址、诉求内容查询。")
    list_select_related = ["category__parent__parent", "lead_department"]
    list_per_page = 50
    list_max_show_all = 500
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["export_csv", "sign_selected"]
    change_form_template = "admin/cases/ticket/change_form.html"
    change_list_template = "admin/cases/ticket/change_list.html"
    object_history_template = "simple_history/object_history.html"
    fieldsets = [
        (
            _("诉求"),
            {"fields": ["number", "channel", "nature", "urgency", "category", "content", "is_proactive", "is_public"]},
        ),
        (_("诉求人"), {"fields": ["citizen_name_shown", "citizen_phone_shown", "is_anonymous", "is_confidential"]}),
        (_("属地"), {"fields": ["address", "grid", "community", "street", "district", "latitude", "longitude"]}),
        (
            _("办理"),
            {
                "fields": [
                    "state",
                    "centre_shown",
                    "lead_department",
                    "assignee_department",
                    "handler",
                    "reply_result",
                    "reply_text",
                    "reply_reason",
                    "public_summary",
                    "merged_into",
                    "invalid_kind",
                    "invalid_reason",
                ]
            },
        ),
        (
            _("时间节点"),
            {
                "fields": [
                    "received_at",
                    "created_by",
                    "dispatched_at",
                    "sign_due_at",
                    "signed_at",
                    "contact_due_at",
                    "first_contact_at",
                    "resolve_due_at",
                    "replied_at",
                    "closed_at",
                    "reopened_at",
                ]
            },
        ),
        (
            _("统计"),
            {
                "classes": ["collapse"],
                "fields": [
                    "units_passed",
                    "rework_count",
                    "return_count",
                    "extension_count",
                    "extension_days",
                    "reopen_count",
                    "is_problem",
                ],
            },
        ),
    ]

    # -- scope and permissions ---------------------------------------------------

    def get_queryset(self, request):
        qs = ticket_scope(super().get_queryset(request), request.user)
        return qs.with_colour(clock.now())

    def get_ordering(self, request):
        return list_ordering(request.GET, request.user)

    def get_readonly_fields(self, request, obj=None):
        return [name for _title, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request):
        rule = workflow.TRANSITIONS[Kind.CREATED]
        if request.user.is_superuser:
            return True

        profile = staff_profile(request.user)
        return profile is not None and profile.role in rule.roles and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return False  # the workflow's action buttons are the only way to change a ticket

    def has_delete_permission(self, request, obj=None):
        return False  # nothing is deleted (DESIGN §8)

    def has_sign_permission(self, request):
        """Whether the user's role may sign at all (the bulk 签收 action); each
        ticket is still checked by the verb."""
        profile = staff_profile(request.user)
        return profile is not None and any(profile.role in workflow.TRANSITIONS[k].roles for k in SIGN_KINDS)

    def _scoped_or_404(self, request, object_id) -> Ticket:
        try:
            pk = int(unquote(str(object_id)))
        except (TypeError, ValueError):
            raise Http404 from None
        ticket = ticket_scope(Ticket.objects.all(), request.user).filter(pk=pk).first()
        if ticket is None or not self.has_view_permission(request, ticket):
            raise Http404(gettext("工单不存在或不在您的查看范围内。"))
        return ticket

    # -- the list ------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        return ticket_search(queryset, search_term), False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        term = search_term(request.GET.get("q", ""))
        if term is not None and term.kind == "text":
            paginator.CAP = paginator.KEYWORD_CAP
        return paginator

    def changelist_view(self, request, extra_context=None):
        queue = queue_get(request.user, request.GET.get("queue"))
        if queue is not None:  # the page is the queue: "待签收", not "选择工单查看"
            extra_context = {"title": queue.label, **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def get_list_display(self, request):
        """The list's columns; the ticket links carry the list they are on (so that
        the ticket's actions can go on to the next one), 待派单 shows how long each
        ticket has waited and 待签收 signs from the row."""
        listing = request.GET.urlencode()
        columns = list(self.list_display)

        @admin.display(description=_("工单编号"), ordering="number")
        def number_link(obj):
            return self.number_link(obj, listing)

        columns[columns.index("number_link")] = number_link
        queue = request.GET.get("queue")
        if queue == "to_dispatch":  # not dispatched yet: no unit, no clock; how long it waits
            columns.insert(columns.index("received") + 1, "waiting")
            columns = [c for c in columns if c not in ("lead_department", "deadline")]
        if queue == "to_sign" and self.has_sign_permission(request):
            # the unit that signs is the user's own: the room goes to the button
            columns.remove("lead_department")

            @admin.display(description=_("操作"))
            def sign_button(obj):
                url = reverse("admin:cases_ticket_sign", args=[obj.pk])
                return format_html(
                    '<button type="submit" class="button sign-button" formaction="{}" formmethod="post">{}</button>',
                    f"{with_filters(url, listing)}&_back=list",
                    gettext("签收"),
                )

            columns.insert(1, sign_button)  # next to the number: in reach whatever the width
        return columns

    def action_checkbox(self, obj):
        """Django's row checkbox, the same HTML, without a widget render per row."""
        label = format_html(gettext(_DJANGO_ROW_LABEL), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            label,
        )

    @admin.display(description=_("工单编号"), ordering="number")
    def number_link(self, obj, listing=None):
        url = with_filters(reverse("admin:cases_ticket_change", args=[obj.pk]), listing)
        return format_html('<a href="{}">{}</a>', url, obj.number)

    @admin.display(description=_("受理时间"), ordering="received_at")
    def received(self, obj):
        """Short, on one line; the full date in the tooltip."""
        local = timezone.localtime(obj.received_at)
        return format_html('<span title="{}">{}</span>', f"{local:%Y-%m-%d %H:%M}", f"{local:%m-%d %H:%M}")

    @admin.display(description=_("诉求分类"), ordering="category__path")
    def category_name(self, obj):
        return format_html('<span title="{}">{}</span>', obj.category.full_name, obj.category.name)

    @admin.display(description=_("诉求内容"))
    def short_content(self, obj):
        text = obj.content.replace("\n", " ")
        return text[:36] + ("…" if len(text) > 36 else "")

    @admin.display(description=_("状态"), ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="state state-{}">{}</span>', obj.state, choice_label(obj, "state"))

    @admin.display(description=_("时限"), ordering="next_due_at")
    def deadline(self, obj):
        colour = obj.deadline_colour if hasattr(obj, "deadline_colour") else obj.colour()
        return deadline_badge(colour, obj.next_due_at, clock_name=obj.next_clock() or "")

    @admin.display(description=_("等待时长"), ordering="received_at")
    def waiting(self, obj):
        now = clock.now()
        waited = obj.waiting_for_dispatch(now)
        if waited is None:
            return "—"
        colour = obj.waiting_colour(now)
        return format_html(
            '<span class="waiting waiting-{}"{}>{}</span>',
            colour or "none",
            format_html(' style="color:{};font-weight:600"', COLOUR_STYLE[colour]) if colour else "",
            gettext("已等%(t)s") % {"t": duration_text(waited)},
        )

    @admin.display(description=_("紧急程度"), ordering="priority")
    def urgency_badge(self, obj):
        return format_html(
            '<span style="color:{};font-weight:{}">{}</span>',
            URGENCY_STYLE[obj.urgency],
            "600" if obj.urgency != Urgency.NORMAL else "400",
            choice_label(obj, "urgency"),
        )

    @admin.action(description=_("签收所选工单"), permissions=["sign"])
    def sign_selected(self, request, queryset):
        """签收 in bulk: each ticket through the same verb and check as its own
        button, each in its own transaction; one message with what was skipped."""
        signed, skipped = 0, []
        for ticket in ticket_scope(queryset, request.user).order_by(*WORKLIST_ORDERING):
            try:
                self._sign(request, ticket)
            except (ValidationError, PermissionDenied) as error:
                skipped.append(f"{ticket.number}（{_error_text(error)}）")
            else:
                signed += 1
        text = gettext("已签收 %(signed)d 件。") % {"signed": signed}
        if skipped:
            text += gettext("未签收 %(n)d 件：%(list)s") % {"n": len(skipped), "list": "；".join(skipped)}
        messages.add_message(request, messages.WARNING if skipped else messages.SUCCESS, text)

    def _sign(self, request, ticket):
        """Sign ``ticket`` as the user's unit: the lead unit's 签收 or the co-handler's,
        whichever the rules allow now, through its action form (no note)."""
        allowed = workflow.allowed_actions(ticket, request.user)
        kind = next((k for k in SIGN_KINDS if k in allowed), None)
        if kind is None:
            raise PermissionDenied(gettext("不是待本单位签收的工单，或您没有权限。"))
        form = ACTION_FORMS[kind]({}, ticket=ticket, user=request.user)
        if not form.is_valid():  # pragma: no cover - the sign forms have no required field
            raise ValidationError(form.errors.as_text())
        form.perform()
        return kind

    def sign_view(self, request, object_id):
        """签收 in one click from the ticket page or the 待签收 list (POST, CSRF-checked
        by the admin site); the 签收 form stays for signing with a note."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        ticket = self._scoped_or_404(request, object_id)
        listing = carried_filters(request)
        try:
            kind = self._sign(request, ticket)
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, f"{ticket.number}：{_error_text(error)}")
        else:
            messages.success(request, gettext("已完成：%(action)s。") % {"action": VERBS[kind].label})
        if request.GET.get("_back") == "list":
            return HttpResponseRedirect(list_url(reverse("admin:cases_ticket_changelist"), listing))
        return HttpResponseRedirect(with_filters(reverse("admin:cases_ticket_change", args=[ticket.pk]), listing))

    @admin.action(description=_("导出所选工单（CSV）"), permissions=["view"])
    def export_csv(self, request, queryset):
        """The ledger of the selected tickets, in the user's scope (``cases.ledger``:
        the same columns and masking as the Excel ledger)."""
        queryset = ticket_scope(queryset, request.user).order_by(*WORKLIST_ORDERING)

        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())

        body = replica_rows(ledger_rows(queryset, request.user), request)  # may read on a replica

        def rows():
            yield "\ufeff" + writer.writerow(ledger_header())
            for row in body:
                yield writer.writerow(row)

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        stamp = clock.local_stamp(clock.now(), "%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="tickets-{stamp}.csv"'
        return response

    def export_ledger_view(self, request):
        """台账: the list as filtered now, to Excel, in the background."""
        if request.method != "POST":
            raise Http404
        query = request.POST.get("query", "")[:2000]
        start_ledger_export(request, query)
        return HttpResponseRedirect(reverse("admin:cases_ticket_changelist") + (f"?{query}" if query else ""))

    # -- the ticket page -------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("intake/lookup/", wrap(self.intake_lookup_view), name=f"{prefix}_intake_lookup"),
            path("intake/suggest/", wrap(self.intake_suggest_view), name=f"{prefix}_intake_suggest"),
            path(
                "intake/pending/<str:token>/<path:name>",
                wrap(self.intake_pending_view),
                name=f"{prefix}_intake_pending",
            ),
            path("export-ledger/", wrap(self.export_ledger_view), name=f"{prefix}_export_ledger"),
            path("<path:object_id>/act/<str:kind>/", wrap(self.action_view), name=f"{prefix}_action"),
            path("<path:object_id>/sign/", wrap(self.sign_view), name=f"{prefix}_sign"),
            path("<path:object_id>/reveal/", wrap(self.reveal_view), name=f"{prefix}_reveal"),
            path("<path:object_id>/public-summary/", wrap(self.public_summary_view), name=f"{prefix}_public_summary"),
            path(
                "<path:object_id>/attachment/<int:attachment_id>/",
                wrap(self.attachment_view),
                name=f"{prefix}_attachment",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ticket = self._page_ticket(request, object_id)
        request.hotline_page_ticket = ticket  # get_object hands the admin this one read
        view = citizen_view(request.user, ticket)
        with showing_citizen(view):
            context = {
                **self._workbench_context(request, ticket),
                "citizen_view": view,
                "citizen_name": shown_name(ticket),
                "citizen_phone": shown_phone(ticket),
                **(extra_context or {}),
            }
            return _rendered(super().change_view(request, object_id, form_url, extra_context=context))

    def _page_ticket(self, request, object_id) -> Ticket:
        """The ticket page's one read of the ticket, in the user's scope: with its
        category, its grid, whether the user's reveal of the citizen is in force,
        and whether each panel (chain, applications, co-handlers …) has rows at
        all, so that an empty panel costs no query."""
        try:
            pk = int(unquote(str(object_id)))
        except (TypeError, ValueError):
            raise Http404 from None
        ticket = (
            self.get_queryset(request)
            .select_related("category__parent__parent", "grid")
            .annotate(citizen_revealed=revealed_for(request.user), has_chain=chain_is_open(), **_PANEL_FLAGS)
            .filter(pk=pk)
            .first()
        )
        if ticket is None or not self.has_view_permission(request, ticket):
            raise Http404(gettext("工单不存在或不在您的查看范围内。"))
        return ticket

    def history_view(self, request, object_id, extra_context=None):
        ticket = self._scoped_or_404(request, object_id)
        with showing_citizen(citizen_view(request.user, ticket)):
            return _rendered(super().history_view(request, object_id, extra_context))

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        ticket = self._scoped_or_404(request, object_id)
        with showing_citizen(citizen_view(request.user, ticket)):
            return _rendered(super().history_form_view(request, object_id, version_id, extra_context))

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        """The ticket's history rows, with its archived ones (``cases.archive``) for
        a ticket received before the archive's boundary, newest first."""
        records = super().get_history_queryset(request, history_manager, pk_name, object_id)
        if archive_boundary() is None:
            return records
        ticket = Ticket.objects.filter(pk=object_id).only("received_at").first()
        if ticket is None or not ticket_archived(ticket):
            return records
        rows = list(records) + archived_rows(HISTORY, history_manager.model, ticket.pk)
        rows.sort(key=lambda row: (row.history_date, row.history_id), reverse=True)
        return rows

    def get_historical_record_context_helper(self, request, historical_record):
        return _MaskedHistory(self.model, historical_record)

    def reveal_view(self, request, object_id):
        """显示联系方式: the citizen's name and phone in full, with a reason, recorded."""
        ticket = self._scoped_or_404(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            citizen_reveal(user=request.user, ticket=ticket, reason=request.POST.get("reason", ""))
        except PermissionDenied as error:
            messages.error(request, str(error))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.info(
                request,
                gettext("已显示诉求人联系方式（%(minutes)s 分钟内有效），本次查看已记录。")
                % {"minutes": settings.HOTLINE_REVEAL_MINUTES},
            )
        # Back to the page the reveal was asked from (the contact form), if it is this ticket's.
        back = request.POST.get("next", "")
        own = reverse("admin:cases_ticket_change", args=[ticket.pk]).removesuffix("change/")
        if back.startswith(own) and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return HttpResponseRedirect(back)
        return HttpResponseRedirect(reverse("admin:cases_ticket_change", args=[ticket.pk]))

    @admin.display(description=_("所属中心"))
    def centre_shown(self, obj):
        """The centre owning the ticket: the city's, or a sub-centre and whether it has signed."""
        if obj.centre_id is None:
            return _("市热线中心")
        if obj.centre_signed_at is None:
            return _("%(name)s（待签收）") % {"name": obj.centre.name}
        return obj.centre.name

    @admin.display(description=_("诉求人姓名"))
    def citizen_name_shown(self, obj):
        return shown_name(obj) or "—"

    @admin.display(description=_("联系电话"))
    def citizen_phone_shown(self, obj):
        return shown_phone(obj) or "—"

    def get_object(self, request, object_id, from_field=None):
        ticket = getattr(request, "hotline_page_ticket", None)
        if ticket is not None and from_field is None and str(ticket.pk) == str(object_id):
            return ticket  # the ticket page read it already (_page_ticket)
        queryset = self.get_queryset(request).select_related("category__parent__parent")
        field = Ticket._meta.pk if from_field is None else Ticket._meta.get_field(from_field)
        try:
            obj = queryset.get(**{field.name: field.to_python(object_id)})
        except (Ticket.DoesNotExist, ValidationError, ValueError):
            obj = None
        return obj

    def _workbench_context(self, request, ticket):
        now = clock.now()
        events = ticket_timeline(ticket, newest_first=True)
        panels = {
            name: list(getattr(ticket, name).order_by(*order) if order else getattr(ticket, name).all())
            if getattr(ticket, f"has_{name}")
            else []
            for name, order in _PANELS.items()
        }
        _units_and_people(ticket, events, panels)
        by_event = {}
        for attachment in panels["attachments"]:
            by_event.setdefault(attachment.event_id, []).append(attachment)
        for event in events:
            event.attachments_list = by_event.get(event.pk, ())
        allowed = set(
            workflow.allowed_actions(
                ticket, request.user, applications=panels["applications"], cohandlings=panels["cohandlings"]
            )
        )
        listing = carried_filters(request)
        buttons = [
            {
                "kind": verb.kind,
                "label": verb.label,
                "url": with_filters(reverse("admin:cases_ticket_action", args=[ticket.pk, verb.kind]), listing),
                "danger": verb.danger,
                # 签收 needs no note: one POST; the form stays for a note.
                "post_url": with_filters(reverse("admin:cases_ticket_sign", args=[ticket.pk]), listing)
                if verb.kind in SIGN_KINDS
                else "",
            }
            for verb in VERBS.values()  # the registry's order is the buttons' order
            if verb.kind in allowed
        ]
        clocks = []
        for name, label in Clock.choices:
            due = getattr(ticket, f"{name}_due_at")
            if due is None:
                continue
            running = name in ticket.running_clocks()
            warn = getattr(ticket, f"{name}_warn_at")
            colour = deadline_colour(due, warn, now) if running else ""
            clocks.append({"label": label, "due": due, "running": running, "badge": deadline_badge(colour, due, now)})
        return {
            "ticket": ticket,
            "queue_filters": listing,
            "action_buttons": buttons,
            "timeline": timeline_rows(ticket, events),
            "clocks": clocks,
            "chain": _chain_rows(ticket, now) if ticket.has_chain else [],
            **panels,
            "show_save": False,
            "review": review_context(ticket) if ticket.state == TicketState.REVIEWING else None,
        }

    def action_view(self, request, object_id, kind):
        ticket = self._scoped_or_404(request, object_id)
        form_class = ACTION_FORMS.get(kind)
        if form_class is None:
            raise Http404
        label = VERBS[kind].label
        listing = carried_filters(request)
        change_url = with_filters(reverse("admin:cases_ticket_change", args=[ticket.pk]), listing)
        if kind not in workflow.allowed_actions(ticket, request.user):
            messages.error(
                request,
                gettext("“%(action)s”现在不可用：工单状态已变化，或您没有权限。") % {"action": label},
            )
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            form = form_class(request.POST, request.FILES, ticket=ticket, user=request.user)
            if form.is_valid():
                try:
                    result = form.perform()
                except (ValidationError, PermissionDenied) as error:
                    form.add_error(None, _error_text(error))
                else:
                    messages.success(request, gettext("已完成：%(action)s。") % {"action": label})
                    for notice in form.notices(result):
                        messages.warning(request, notice)
                    if listing is not None and "_next" in request.POST:
                        return self._next_in_list(request, ticket, listing)
                    if (
                        isinstance(result, Ticket)
                        and not ticket_scope(Ticket.objects.filter(pk=result.pk), request.user).exists()
                    ):
                        # e.g. a return was approved: the unit no longer sees it
                        return HttpResponseRedirect(list_url(reverse("admin:cases_ticket_changelist"), listing))
                    return HttpResponseRedirect(change_url)
        else:
            form = form_class(ticket=ticket, user=request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{label} · {ticket.number}",
            "ticket": ticket,
            "form": form,
            "action_label": label,
            "change_url": change_url,
            "queue_filters": listing,
            "media": self.media + form.media,
            "suggestions": getattr(form, "suggestions", None),
            "learned": dispatch_suggestion(kind, ticket, request.user),
            **decision_context(kind, ticket, request.user, request.get_full_path()),
        }
        return TemplateResponse(request, "admin/cases/ticket/action.html", context)

    def public_summary_view(self, request, object_id):
        """The reply form's 公开答复摘要 suggestion: the reply as it would be stored."""
        ticket = self._scoped_or_404(request, object_id)
        text = (request.POST.get("text") or request.GET.get("text") or "")[:5000]
        return JsonResponse({"summary": public_summary_scrub(text, ticket)})

    def _next_in_list(self, request, done, listing):
        """提交并处理下一条: the next ticket of the list the action came from."""
        return next_in_list(
            self,
            request,
            done.pk,
            listing,
            item="admin:cases_ticket_change",
            empty_message=gettext("本队列已没有下一条待处理的工单。"),
        )

    def attachment_view(self, request, object_id, attachment_id):
        ticket = self._scoped_or_404(request, object_id)
        attachment = get_object_or_404(Attachment, pk=attachment_id, ticket=ticket)
        response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
        disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
        response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{_quote(attachment.original_name)}"
        return response

    # -- intake ----------------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        patrol_grids = intake_patrol_grids(request.user)
        action, merge_pk, incident_pk, another = "create", None, None, False
        data = None
        if request.method == "POST":
            data = request.POST.copy()
            if not pending_token_ok(data.get("upload_token")):
                data["upload_token"] = pending_token_new()
            action = data.get("_action", "create")
            if action.startswith("merge:"):
                action, merge_pk = "merge", pk_or_none(action.partition(":")[2])
            elif action.partition(":")[0] in INCIDENT_LINKS:
                action, _colon, raw = action.partition(":")
                incident_pk = pk_or_none(raw)
            another = action == "create_another"
            if another or patrol_grids is not None:
                action = "create"
        form = IntakeForm(
            data,
            request.FILES or None,
            admin_site=self.admin_site,
            action=action,
            patrol_grids=patrol_grids,
            initial={"upload_token": pending_token_new()},
        )
        duplicates, incidents = [], []
        if data is not None:
            token = data["upload_token"]
            if form.is_valid():
                cleaned = form.cleaned_data
                territory = territory_resolve(grid=cleaned["grid"], address=cleaned["address"])
                if action == "create" and not cleaned["confirm_new"]:
                    duplicates = intake_duplicates(
                        user=request.user,
                        phone=cleaned["citizen_phone"],
                        content=cleaned["content"],
                        territory=territory,
                        category=cleaned["category"],
                        address=cleaned["address"],
                    )
                    # A declared incident (停水、停电…) this call may belong to: link it in one click.
                    incidents = incidents_matching(user=request.user, category=cleaned["category"], territory=territory)
                if not duplicates and not incidents:
                    try:
                        ticket = self._intake(request, form, action, merge_pk, token, incident_pk)
                    except (ValidationError, PermissionDenied) as error:
                        form.add_error(None, _error_text(error))
                    else:
                        pending_discard(user=request.user, token=token)
                        done = (
                            gettext("已办结：%(number)s。")
                            if action in ("answer", "incident_answer")
                            else gettext("已受理：%(number)s。")
                        )
                        messages.success(request, done % {"number": ticket.number})
                        if another:
                            return HttpResponseRedirect(reverse("admin:cases_ticket_add"))
                        return HttpResponseRedirect(reverse("admin:cases_ticket_change", args=[ticket.pk]))
            # Not saved: keep the photos for the retry, so nobody chooses them again.
            if "attachments" not in form.errors:
                try:
                    pending_store(user=request.user, token=token, uploads=form.cleaned_data.get("attachments"))
                except ValidationError as error:
                    form.add_error("attachments", error)
        token = form["upload_token"].value()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("巡查上报") if form.patrol else gettext("受理登记"),
            "form": form,
            "patrol": form.patrol,
            "duplicates": duplicates,
            "incidents": incidents,
            "window_days": duplicate_window_days(),
            "pending_uploads": [
                (name.partition("/")[2], reverse("admin:cases_ticket_intake_pending", args=[token, name]))
                for name in pending_names(user=request.user, token=token)
            ],
            "media": self.media + form.media,
            "lookup_url": reverse("admin:cases_ticket_intake_lookup"),
            "suggest_url": reverse("admin:cases_ticket_intake_suggest"),
            "has_view_permission": True,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/cases/ticket/intake.html", context)

    def _intake(self, request, form, action, merge_pk=None, token="", incident_pk=None):
        """Create the ticket (with the photos kept from an earlier try) and, in the
        same transaction, merge or answer it."""
        data = form.cleaned_data
        kept = pending_open(user=request.user, token=token)
        try:
            with transaction.atomic():
                ticket = workflow.ticket_create(
                    actor=request.user,
                    channel=data["channel"],
                    category=data["category"],
                    content=data["content"],
                    nature=data["nature"],
                    urgency=data["urgency"],
                    citizen_name=data["citizen_name"],
                    citizen_phone=data["citizen_phone"],
                    is_anonymous=data["is_anonymous"],
                    is_confidential=data["is_confidential"],
                    address=data["address"],
                    grid=data["grid"],
                    attachments=[*kept, *data["attachments"]],
                )
                if action == "merge":
                    master = ticket_scope(Ticket.objects.all(), request.user).filter(pk=merge_pk).first()
                    if master is None:
                        raise ValidationError(gettext("要并入的工单不存在或不在您的查看范围内。"))
                    ticket = workflow.ticket_merge(ticket=ticket, actor=request.user, master=master)
                elif action == "answer":
                    ticket = workflow.ticket_answer(ticket=ticket, actor=request.user, text=data["answer_text"])
                elif action in INCIDENT_LINKS:
                    incident = incident_scope(Incident.objects.all(), request.user).filter(pk=incident_pk).first()
                    if incident is None:
                        raise ValidationError(gettext("要关联的事件不存在或不在您的查看范围内。"))
                    ticket = incident_link(how=action, incident=incident, ticket=ticket, actor=request.user)
        finally:
            for upload in kept:
                upload.close()
        return ticket

    def intake_pending_view(self, request, token, name):
        """A photo kept from an intake form that failed to save (its thumbnail)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        upload = pending_file(user=request.user, token=token, name=name)
        if upload is None:
            raise Http404
        content_type = mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
        response = FileResponse(upload, content_type=content_type)
        disposition = "inline" if content_type.startswith("image/") else "attachment"
        response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{_quote(upload.name)}"
        return response

    def intake_lookup_view(self, request):
        """JSON for the intake form: where the address is, possible duplicates,
        and knowledge-base answers."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        address = request.GET.get("address", "")[:255]
        content = request.GET.get("content", "")[:2000]
        phone = request.GET.get("phone", "")[:32]
        category = Category.objects.filter(pk=pk_or_none(request.GET.get("category")), is_active=True).first()
        grid = Grid.objects.filter(pk=pk_or_none(request.GET.get("grid")), is_active=True).first()
        territory = territory_resolve(grid=grid, address=address) if (grid or address) else Territory()
        duplicates = intake_duplicates(
            user=request.user, phone=phone, content=content, territory=territory, category=category, address=address
        )
        articles = knowledge_search(content, category=category)
        incidents = incidents_matching(user=request.user, category=category, territory=territory)

        def unit(d):
            return {"id": d.pk, "name": d.name} if d else None

        return JsonResponse(
            {
                "territory": {
                    "grid": {"id": territory.grid.pk, "name": territory.grid.name} if territory.grid else None,
                    "community": unit(territory.community),
                    "street": unit(territory.street),
                    "district": unit(territory.district),
                },
                "duplicates": [
                    {
                        "id": d.ticket.pk,
                        "number": d.ticket.number,
                        "received_at": timezone.localtime(d.ticket.received_at).strftime("%m-%d %H:%M"),
                        "state": choice_label(d.ticket, "state"),
                        "category": d.ticket.category.name,
                        "content": d.ticket.content[:80],
                        "reason": d.reason_label,
                        "url": reverse("admin:cases_ticket_change", args=[d.ticket.pk]),
                    }
                    for d in duplicates
                ],
                "incidents": [
                    {
                        "id": i.pk,
                        "kind": i.get_kind_display(),
                        "title": i.title,
                        "notice": i.notice,
                        "declared_by": i.declared_by.name,
                        "starts_at": timezone.localtime(i.starts_at).strftime("%m-%d %H:%M"),
                        "expected_end_at": (
                            timezone.localtime(i.expected_end_at).strftime("%m-%d %H:%M") if i.expected_end_at else ""
                        ),
                    }
                    for i in incidents
                ],
                "knowledge": [
                    {
                        "id": a.pk,
                        "question": a.question,
                        "answer": a.answer,
                        "source": a.source,
                        "category": {"id": a.category.pk, "name": a.category.full_name} if a.category else None,
                        "nature": Nature.CONSULT,
                    }
                    for a in articles
                ],
            },
            json_dumps_params={"ensure_ascii": False},
        )

    def intake_suggest_view(self, request):
        """JSON for the intake form: category and unit suggested by the model
        (智能派单), the duty list's unit, and the nearest past tickets."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return JsonResponse(intake_suggestion_payload(request), json_dumps_params={"ensure_ascii": False})


def _error_text(error) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(getattr(error, "message", "") or error)


def _quote(name):
    return quote(name)


def _rendered(response):
    """Render a template response now, while the citizen view it was built under holds."""
    if hasattr(response, "render"):
        response.render()
    return response


class _MaskedHistory(HistoricalRecordContextHelper):
    """The history list's "changes" column, with the citizen's name and phone as
    the page may show them."""

    def format_delta_change(self, change):
        masker = {"citizen_name": mask_name, "citizen_phone": mask_phone}.get(change.field)
        if masker is not None:
            change = dataclasses.replace(
                change, old=shown(str(change.old or ""), masker), new=shown(str(change.new or ""), masker)
            )
        return super().format_delta_change(change)
