"""The short forms behind the workbench's action buttons, and the intake form.

Each action form validates its own fields and then calls exactly one workflow
function in ``perform``; refusals from the workflow come back as form errors."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect, FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.db import models
from django.utils.translation import gettext_lazy as _

from departments.models import Department, Grid, StaffProfile
from departments.roles import Role
from departments.selectors import Territory, duty_suggest, person_name

from .. import workflow
from ..callbacks import callback_overrule
from ..models import (
    Attachment,
    Callback,
    Category,
    Channel,
    InvalidKind,
    Nature,
    ReplyResult,
    Ticket,
    TicketEvent,
    Urge,
    Urgency,
)
from ..selectors.scope import ticket_list

Kind = TicketEvent.Kind
ERR_MASTER_NOT_FOUND = _("找不到编号为“%(number)s”的工单，或您无权查看。")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,application/pdf"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def handling_units():
    return (
        Department.objects.filter(is_active=True)
        .exclude(kind__in=[Department.Kind.CENTRE, Department.Kind.CITY])
        .only("pk", "name", "kind", "depth", "path")
    )


def grouped_unit_choices(suggested=()):
    """Units grouped by kind, the duty list's suggestions first."""
    groups = []
    if suggested:
        groups.append((_("职责清单建议"), [(str(d.pk), d.name) for d in suggested]))
    by_kind = {}
    for unit in handling_units():
        by_kind.setdefault(unit.kind, []).append((str(unit.pk), ("　" * max(unit.depth - 2, 0)) + unit.name))
    for kind in [
        Department.Kind.STREET,
        Department.Kind.COMMUNITY,
        Department.Kind.DISTRICT,
        Department.Kind.BUREAU,
        Department.Kind.COMPANY,
    ]:
        if by_kind.get(kind):
            groups.append((Department.Kind(kind).label, by_kind[kind]))
    return groups


class UnitChoiceField(forms.TypedChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("coerce", int)
        super().__init__(*args, **kwargs)

    def clean(self, value):
        pk = super().clean(value)
        if pk in (None, ""):
            return None
        return Department.objects.get(pk=pk)


class ActionForm(forms.Form):
    """Base: ``kind`` names the transition; ``perform`` calls it."""

    kind: str = ""
    has_files = False
    submit_label = ""

    def __init__(self, *args, ticket: Ticket, user, **kwargs):
        self.ticket = ticket
        self.user = user
        super().__init__(*args, **kwargs)

    def perform(self):
        raise NotImplementedError


NOTE_LABEL = _("说明")


def _note(label=NOTE_LABEL, required=False, rows=3):
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": rows}))


class AnswerForm(ActionForm):
    kind = Kind.ANSWERED
    result = forms.ChoiceField(
        label=_("办理结果"),
        choices=[(ReplyResult.EXPLAINED, ReplyResult.EXPLAINED.label), (ReplyResult.SOLVED, ReplyResult.SOLVED.label)],
        widget=forms.RadioSelect,
        initial=ReplyResult.EXPLAINED,
    )
    text = _note(_("答复内容"), required=True, rows=5)

    def perform(self):
        return workflow.ticket_answer(
            ticket=self.ticket, actor=self.user, text=self.cleaned_data["text"], result=self.cleaned_data["result"]
        )


class DispatchForm(ActionForm):
    kind = Kind.DISPATCHED
    department = UnitChoiceField(label=_("主办单位"))
    cohandlers = forms.TypedMultipleChoiceField(
        label=_("协办单位"), required=False, coerce=int, widget=FilteredSelectMultiple(_("协办单位"), False)
    )
    note = _note(_("派单意见"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        territory = Territory(
            grid=self.ticket.grid,
            community=self.ticket.community,
            street=self.ticket.street,
            district=self.ticket.district,
        )
        self.suggestions = [
            d
            for d in duty_suggest(category=self.ticket.category, territory=territory)
            if d.pk != self.ticket.lead_department_id
        ]
        self.fields["department"].choices = [("", "---------"), *grouped_unit_choices(self.suggestions)]
        if self.suggestions:
            self.fields["department"].initial = str(self.suggestions[0].pk)
        self.fields["cohandlers"].choices = [(d.pk, d.name) for d in handling_units()]

    def perform(self):
        cohandlers = list(Department.objects.filter(pk__in=self.cleaned_data["cohandlers"]))
        return workflow.ticket_dispatch(
            ticket=self.ticket,
            actor=self.user,
            department=self.cleaned_data["department"],
            cohandlers=cohandlers,
            note=self.cleaned_data["note"],
        )


class SubdispatchForm(ActionForm):
    kind = Kind.SUBDISPATCHED
    department = UnitChoiceField(label=_("下派至"))
    note = _note(_("下派意见"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lead = self.ticket.lead_department
        units = lead.descendants().filter(is_active=True).exclude(pk=self.ticket.assignee_department_id)
        self.fields["department"].choices = [
            ("", "---------"),
            *[
                (str(u.pk), (_("收回本单位办理：%s") % u.name) if u.pk == lead.pk else u.name)
                for u in units.order_by("path")
            ],
        ]

    def perform(self):
        return workflow.ticket_subdispatch(
            ticket=self.ticket,
            actor=self.user,
            department=self.cleaned_data["department"],
            note=self.cleaned_data["note"],
        )


class SignForm(ActionForm):
    kind = Kind.SIGNED
    submit_label = _("签收")
    note = _note()

    def perform(self):
        return workflow.ticket_sign(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class ContactForm(ActionForm):
    kind = Kind.CONTACTED
    note = _note(_("联系情况"), required=True)

    def perform(self):
        return workflow.ticket_contact(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class ProgressForm(ActionForm):
    kind = Kind.PROGRESS
    has_files = True
    note = _note(_("办理进展"), required=True)
    photos = MultipleFileField(label=_("现场照片（处置前）"))

    def perform(self):
        return workflow.ticket_progress(
            ticket=self.ticket,
            actor=self.user,
            note=self.cleaned_data["note"],
            attachments=self.cleaned_data["photos"],
            kind=Attachment.Kind.BEFORE,
        )


class ReplyForm(ActionForm):
    kind = Kind.REPLIED
    has_files = True
    result = forms.ChoiceField(label=_("办理结果"), choices=ReplyResult.choices, widget=forms.RadioSelect)
    text = _note(_("办理情况"), required=True, rows=5)
    reason = _note(_("无法解决原因"))
    photos = MultipleFileField(label=_("处置后照片"))

    def perform(self):
        return workflow.ticket_reply(
            ticket=self.ticket,
            actor=self.user,
            result=self.cleaned_data["result"],
            text=self.cleaned_data["text"],
            reason=self.cleaned_data["reason"],
            attachments=self.cleaned_data["photos"],
        )


class ApproveForm(ActionForm):
    kind = Kind.APPROVED
    submit_label = _("审核通过并办结")
    note = _note(_("审核意见"))

    def perform(self):
        return workflow.ticket_approve(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class ReworkForm(ActionForm):
    kind = Kind.REWORK
    submit_label = _("退回重办")
    reason = _note(_("退回理由"), required=True)

    def perform(self):
        return workflow.ticket_rework(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class ReturnRequestForm(ActionForm):
    kind = Kind.RETURN_REQUESTED
    reason = _note(_("退单理由"), required=True)

    def perform(self):
        return workflow.ticket_return_request(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class ReturnApproveForm(ActionForm):
    kind = Kind.RETURN_APPROVED
    note = _note(_("审批意见"))

    def perform(self):
        return workflow.ticket_return_approve(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class ReturnRejectForm(ActionForm):
    kind = Kind.RETURN_REJECTED
    reason = _note(_("驳回理由"), required=True)

    def perform(self):
        return workflow.ticket_return_reject(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class ExtensionRequestForm(ActionForm):
    kind = Kind.EXTENSION_REQUESTED
    working_days = forms.IntegerField(label=_("延期工作日"), min_value=1, max_value=30)
    reason = _note(_("延期理由"), required=True)

    def perform(self):
        return workflow.ticket_extension_request(
            ticket=self.ticket,
            actor=self.user,
            working_days=self.cleaned_data["working_days"],
            reason=self.cleaned_data["reason"],
        )


class ExtensionApproveForm(ActionForm):
    kind = Kind.EXTENSION_APPROVED
    working_days = forms.IntegerField(
        label=_("批准延期工作日"), min_value=1, required=False, help_text=_("留空表示按申请天数批准。")
    )
    note = _note(_("审批意见"))

    def perform(self):
        return workflow.ticket_extension_approve(
            ticket=self.ticket,
            actor=self.user,
            working_days=self.cleaned_data["working_days"],
            note=self.cleaned_data["note"],
        )


class ExtensionRejectForm(ActionForm):
    kind = Kind.EXTENSION_REJECTED
    reason = _note(_("驳回理由"), required=True)

    def perform(self):
        return workflow.ticket_extension_reject(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class CohandlersAddForm(ActionForm):
    kind = Kind.COHANDLERS_ADDED
    departments = forms.TypedMultipleChoiceField(
        label=_("协办单位"), coerce=int, widget=FilteredSelectMultiple(_("协办单位"), False)
    )
    note = _note(_("协办事项"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        taken = set(self.ticket.cohandlings.values_list("department_id", flat=True)) | {self.ticket.lead_department_id}
        self.fields["departments"].choices = [(d.pk, d.name) for d in handling_units() if d.pk not in taken]

    def perform(self):
        return workflow.ticket_cohandlers_add(
            ticket=self.ticket,
            actor=self.user,
            departments=list(Department.objects.filter(pk__in=self.cleaned_data["departments"])),
            note=self.cleaned_data["note"],
        )


class CohandlerSignForm(ActionForm):
    kind = Kind.COHANDLER_SIGNED
    submit_label = _("协办签收")

    def perform(self):
        return workflow.ticket_cohandler_sign(ticket=self.ticket, actor=self.user)


class CohandlerReplyForm(ActionForm):
    kind = Kind.COHANDLER_REPLIED
    has_files = True
    text = _note(_("协办意见"), required=True, rows=5)
    photos = MultipleFileField(label=_("照片"))

    def perform(self):
        return workflow.ticket_cohandler_reply(
            ticket=self.ticket, actor=self.user, text=self.cleaned_data["text"], attachments=self.cleaned_data["photos"]
        )


class MergeForm(ActionForm):
    kind = Kind.MERGED
    master = forms.CharField(label=_("并入主单编号"), max_length=20, help_text=_("如 20261123-00042。"))
    note = _note()

    def clean_master(self):
        number = self.cleaned_data["master"].strip()
        master = ticket_list(user=self.user).filter(number=number).first()
        if master is None:
            raise forms.ValidationError(ERR_MASTER_NOT_FOUND, params={"number": number})
        return master

    def perform(self):
        return workflow.ticket_merge(
            ticket=self.ticket, actor=self.user, master=self.cleaned_data["master"], note=self.cleaned_data["note"]
        )


class InvalidateForm(ActionForm):
    kind = Kind.INVALIDATED
    invalid_kind = forms.ChoiceField(label=_("无效类型"), choices=InvalidKind.choices, widget=forms.RadioSelect)
    reason = _note(_("无效原因"), required=True)

    def perform(self):
        return workflow.ticket_invalidate(
            ticket=self.ticket,
            actor=self.user,
            kind=self.cleaned_data["invalid_kind"],
            reason=self.cleaned_data["reason"],
        )


class ReopenForm(ActionForm):
    kind = Kind.REOPENED
    reason = _note(_("重办原因"), required=True)

    def perform(self):
        return workflow.ticket_reopen(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class HeadSignForm(ActionForm):
    kind = Kind.HEAD_SIGNED
    submit_label = _("签批并提交中心")
    note = _note(_("签批意见"))

    def perform(self):
        return workflow.ticket_head_sign(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class HeadReturnForm(ActionForm):
    kind = Kind.HEAD_RETURNED
    reason = _note(_("退回理由"), required=True)

    def perform(self):
        return workflow.ticket_head_return(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class RequireSignoffForm(ActionForm):
    kind = Kind.SIGNOFF_REQUIRED
    reason = _note(_("说明"))

    def perform(self):
        return workflow.ticket_require_signoff(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


def _leaders():
    return [
        (p.user_id, f"{person_name(p.user)}（{p.department.name}）")
        for p in StaffProfile.objects.filter(role=Role.LEADER, user__is_active=True).select_related(
            "user", "department"
        )
    ]


class LeaderChoiceField(forms.TypedChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("coerce", int)
        super().__init__(*args, **kwargs)

    def clean(self, value):
        pk = super().clean(value)
        return get_user_model().objects.get(pk=pk)


class EscalateForm(ActionForm):
    kind = Kind.ESCALATED
    leader = LeaderChoiceField(label=_("交办领导"))
    working_days = forms.IntegerField(
        label=_("办结时限（工作日）"),
        min_value=1,
        max_value=10,
        required=False,
        help_text=_("从现在起算；只会缩短，不会延长原时限。留空按系统设置。"),
    )
    require_signoff = forms.BooleanField(label=_("需一把手签批"), required=False, initial=True)
    reason = _note(_("提级督办理由"), required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["leader"].choices = [("", "---------"), *_leaders()]

    def perform(self):
        d = self.cleaned_data
        return workflow.ticket_escalate(
            ticket=self.ticket,
            actor=self.user,
            leader=d["leader"],
            reason=d["reason"],
            working_days=d["working_days"],
            require_signoff=d["require_signoff"],
        )


class UrgeForm(ActionForm):
    kind = Kind.URGED
    urge_kind = forms.ChoiceField(label=_("催办方式"), choices=(), widget=forms.RadioSelect)
    content = _note(_("催办内容"), required=True, rows=4)
    respond_by = forms.DateTimeField(
        label=_("要求回复时间"),
        required=False,
        help_text=_("留空为 1 个工作日内。格式：2026-11-24 17:00"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["urge_kind"].choices = Urge.Kind.choices

    def perform(self):
        d = self.cleaned_data
        return workflow.ticket_urge(
            ticket=self.ticket, actor=self.user, kind=d["urge_kind"], content=d["content"], respond_by=d["respond_by"]
        )


class UrgeAcknowledgeForm(ActionForm):
    kind = Kind.URGE_ACKNOWLEDGED
    urge = forms.TypedChoiceField(label=_("催办"), coerce=int)
    reply = _note(_("办理情况与下一步措施"), required=True, rows=4)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_urges = {u.pk: u for u in self.ticket.urges.filter(acknowledged_at__isnull=True)}
        self.fields["urge"].choices = [
            (u.pk, f"{u.number or u.get_kind_display()} · {u.content[:40]}") for u in self.open_urges.values()
        ]

    def perform(self):
        return workflow.ticket_urge_acknowledge(
            ticket=self.ticket,
            actor=self.user,
            urge=self.open_urges[self.cleaned_data["urge"]],
            reply=self.cleaned_data["reply"],
        )


class OverruleForm(ActionForm):
    kind = Kind.REOPEN_OVERRULED
    submit_label = _("复核认定，不予重办")
    reason = _note(_("复核意见"), required=True, rows=4)

    def perform(self):
        callback = (
            Callback.objects.filter(reopened=True, overruled_at__isnull=True)
            .filter(models.Q(ticket=self.ticket) | models.Q(ticket__merged_into=self.ticket))
            .order_by("-completed_at")
            .first()
        )
        if callback is not None:
            callback_overrule(callback=callback, actor=self.user, reason=self.cleaned_data["reason"])
            return self.ticket
        return workflow.ticket_overrule_reopen(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


#: The admin's one mapping from a verb to its form (the label, order and colour
#: of its button are the registry's: ``cases.workflow.registry.VERBS``).
ACTION_FORMS = {
    form.kind: form
    for form in [
        AnswerForm,
        DispatchForm,
        SubdispatchForm,
        SignForm,
        ContactForm,
        ProgressForm,
        ReplyForm,
        ApproveForm,
        ReworkForm,
        ReturnRequestForm,
        ReturnApproveForm,
        ReturnRejectForm,
        ExtensionRequestForm,
        ExtensionApproveForm,
        ExtensionRejectForm,
        CohandlersAddForm,
        CohandlerSignForm,
        CohandlerReplyForm,
        MergeForm,
        InvalidateForm,
        ReopenForm,
        HeadSignForm,
        HeadReturnForm,
        RequireSignoffForm,
        EscalateForm,
        UrgeForm,
        UrgeAcknowledgeForm,
        OverruleForm,
    ]
}


# -- intake ------------------------------------------------------------------------


class IntakeForm(forms.Form):
    """What an operator fills in while the citizen talks."""

    citizen_phone = forms.CharField(label=_("来电号码"), max_length=32, required=False)
    citizen_name = forms.CharField(label=_("诉求人姓名"), max_length=50, required=False)
    is_anonymous = forms.BooleanField(label=_("匿名"), required=False)
    is_confidential = forms.BooleanField(label=_("保密（举报）"), required=False)
    channel = forms.ChoiceField(label=_("渠道"), choices=Channel.choices, initial=Channel.HOTLINE)
    category = forms.ModelChoiceField(label=_("诉求分类"), queryset=Category.objects.filter(is_active=True))
    nature = forms.ChoiceField(label=_("诉求性质"), choices=[("", _("按分类默认")), *Nature.choices], required=False)
    urgency = forms.ChoiceField(label=_("紧急程度"), choices=[("", _("按分类默认")), *Urgency.choices], required=False)
    content = forms.CharField(label=_("诉求内容"), widget=forms.Textarea(attrs={"rows": 6}))
    address = forms.CharField(
        label=_("诉求地址"), max_length=255, required=False, widget=forms.TextInput(attrs={"class": "vTextField"})
    )
    grid = forms.ModelChoiceField(
        label=_("网格"),
        queryset=Grid.objects.filter(is_active=True).select_related("community"),
        required=False,
        help_text=_("留空则按地址自动识别属地。"),
    )
    attachments = MultipleFileField(label=_("诉求材料"))
    answer_text = forms.CharField(label=_("直接答复内容"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    confirm_new = forms.BooleanField(label=_("确认不是重复诉求，仍然新建"), required=False)

    def __init__(self, *args, admin_site=None, **kwargs):
        super().__init__(*args, **kwargs)
        site = admin_site or admin.site
        category = self.fields["category"]
        category.widget = AutocompleteSelect(Ticket._meta.get_field("category"), site)
        category.widget.choices = category.choices

    def clean(self):
        data = super().clean()
        if not data.get("is_anonymous") and not (data.get("citizen_phone") or "").strip():
            if data.get("channel") == Channel.HOTLINE:
                self.add_error("citizen_phone", _("热线来电请记录来电号码；不愿留号码请勾选“匿名”。"))
        return data
