"""The short forms behind the workbench's action buttons, and the intake form.

Each action form validates its own fields and then calls exactly one workflow
function in ``perform``; refusals from the workflow come back as form errors."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from config.admin_input import SafeAutocompleteSelect
from departments.models import Department, Grid, StaffProfile
from departments.roles import Role
from departments.selectors import Territory, duty_suggest, person_name

from .. import workflow
from ..callbacks import callback_overrule
from ..labels import choice_label
from ..models import (
    Attachment,
    Callback,
    Category,
    Channel,
    InvalidKind,
    KnowledgeArticle,
    Nature,
    ReasonCode,
    ReplyResult,
    Ticket,
    TicketEvent,
    Urge,
    Urgency,
)
from ..public import PUBLIC_SUMMARY_MAX, category_is_never_public, public_summary_scrub
from ..selectors.scope import staff_centre, subcentres, ticket_list

Kind = TicketEvent.Kind
ERR_MASTER_NOT_FOUND = _("找不到编号为“%(number)s”的工单，或您无权查看。")
ESCALATION_NO_CHANGE = _("办结时限未缩短：原时限已过或早于新时限，提级督办只会缩短、不会延长时限。")


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


def handling_units(user=None):
    """Units work may be sent to; for a sub-centre's staff, those of its subtree."""
    units = (
        Department.objects.filter(is_active=True)
        .exclude(kind__in=[Department.Kind.CENTRE, Department.Kind.CITY])
        .only("pk", "name", "kind", "depth", "path")
    )
    centre = staff_centre(user) if user is not None else None
    if centre is not None and not centre.citywide:
        units = units.filter(pk__in=centre.unit_ids)
    return units


def grouped_unit_choices(suggested=(), user=None, catalogue=None):
    """Units grouped by kind, the duty list's suggestions first; with ``catalogue``
    (the unit kinds of the category's 派单目录) the other kinds' groups say so."""
    groups = []
    if suggested:
        groups.append((_("职责清单建议"), [(str(d.pk), d.name) for d in suggested]))
    by_kind = {}
    for unit in handling_units(user):
        by_kind.setdefault(unit.kind, []).append((str(unit.pk), ("　" * max(unit.depth - 2, 0)) + unit.name))
    for kind in [
        Department.Kind.STREET,
        Department.Kind.COMMUNITY,
        Department.Kind.DISTRICT,
        Department.Kind.BUREAU,
        Department.Kind.COMPANY,
    ]:
        if by_kind.get(kind):
            label = Department.Kind(kind).label
            if catalogue is not None and kind not in catalogue:
                label = _("%(kind)s（派单目录外）") % {"kind": label}
            groups.append((label, by_kind[kind]))
    return groups


def catalogue_reason_field():
    return _note(_("目录外派单理由"), rows=2)


def catalogue_help(category) -> str:
    """The 派单目录 of ``category`` as the dispatch forms explain it."""
    kinds = workflow.catalogue_kinds(category)
    if kinds is None:
        return _("本分类未设派单目录，可派给各类承办单位。")
    return _("本分类派单目录：%(kinds)s。派给目录以外类型的单位时必须填写理由，并计入目录外派单。") % {
        "kinds": workflow.catalogue_labels(kinds)
    }


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

    def notices(self, result) -> list[str]:
        """Warnings to show with the success message (what the action did not do)."""
        return []


def _reason_code_field(kind):
    return forms.ModelChoiceField(
        label=_("原因分类"),
        queryset=ReasonCode.objects.filter(kind=kind, is_active=True),
        widget=forms.RadioSelect,
        empty_label=None,
        help_text=_("按原因分类统计各单位；具体情况写在下方。"),
    )


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
    catalogue_reason = catalogue_reason_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.catalogue = workflow.catalogue_kinds(self.ticket.category)
        self.fields["catalogue_reason"].help_text = catalogue_help(self.ticket.category)
        territory = Territory(
            grid=self.ticket.grid,
            community=self.ticket.community,
            street=self.ticket.street,
            district=self.ticket.district,
        )
        centre = staff_centre(self.user)
        self.suggestions = [
            d
            for d in duty_suggest(category=self.ticket.category, territory=territory)
            if d.pk != self.ticket.lead_department_id and (centre is None or centre.covers(d.pk))
        ]
        self.fields["department"].choices = [
            ("", "---------"),
            *grouped_unit_choices(self.suggestions, self.user, self.catalogue),
        ]
        if self.suggestions:
            self.fields["department"].initial = str(self.suggestions[0].pk)
        self.fields["cohandlers"].choices = [(d.pk, d.name) for d in handling_units(self.user)]

    def perform(self):
        cohandlers = list(Department.objects.filter(pk__in=self.cleaned_data["cohandlers"]))
        return workflow.ticket_dispatch(
            ticket=self.ticket,
            actor=self.user,
            department=self.cleaned_data["department"],
            cohandlers=cohandlers,
            note=self.cleaned_data["note"],
            catalogue_reason=self.cleaned_data["catalogue_reason"],
        )


class SubdispatchForm(ActionForm):
    """下派 one level down: a child unit of the holder or, from a community, one of
    its grids (to the grid's worker)."""

    kind = Kind.SUBDISPATCHED
    department = UnitChoiceField(label=_("下派至"), required=False)
    grid = forms.TypedChoiceField(label=_("或下派至网格员"), required=False, coerce=int, empty_value=None)
    note = _note(_("下派意见"))
    catalogue_reason = catalogue_reason_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["catalogue_reason"].help_text = catalogue_help(self.ticket.category)
        holder = self.ticket.assignee_department
        units = Department.objects.filter(parent=holder, is_active=True) if holder else Department.objects.none()
        self.fields["department"].choices = [("", "---------"), *[(str(u.pk), u.name) for u in units.order_by("path")]]
        grids = (
            Grid.objects.filter(community=holder, is_active=True, worker__isnull=False).select_related("worker")
            if holder
            else Grid.objects.none()
        )
        self.fields["grid"].choices = [
            ("", "---------"),
            *[(str(g.pk), f"{g.name}（{person_name(g.worker)}）") for g in grids],
        ]

    def clean(self):
        data = super().clean()
        if not self.errors and (data.get("department") is None) == (data.get("grid") is None):
            raise forms.ValidationError(workflow.ERR_SUBDISPATCH_ONE_TARGET)
        return data

    def perform(self):
        grid = Grid.objects.get(pk=self.cleaned_data["grid"]) if self.cleaned_data["grid"] else None
        return workflow.ticket_subdispatch(
            ticket=self.ticket,
            actor=self.user,
            department=self.cleaned_data["department"],
            grid=grid,
            note=self.cleaned_data["note"],
            catalogue_reason=self.cleaned_data["catalogue_reason"],
        )


class TakeBackForm(ActionForm):
    kind = Kind.TAKEN_BACK
    note = _note(_("收回理由"))

    def perform(self):
        return workflow.ticket_take_back(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class HandBackForm(ActionForm):
    kind = Kind.HANDED_BACK
    note = _note(_("交回说明"), required=True)

    def perform(self):
        return workflow.ticket_hand_back(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


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
    public_summary = forms.CharField(
        label=_("公开答复摘要"),
        required=False,
        max_length=PUBLIC_SUMMARY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "问题墙和办理进度查询只显示这段摘要，不显示办理情况原文。系统已按办理情况去除姓名、电话、"
            "证件号和门牌号，请核对修改；留空则只公开办理结果。"
        ),
    )
    photos = MultipleFileField(label=_("处置后照片"))

    class Media:
        js = ["cases/public_summary.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Suggested from the reply (scrubbed as it will be stored); a rework's
        # second reply starts from the summary approved the first time.
        field = self.fields["public_summary"]
        field.initial = public_summary_scrub(self.ticket.public_summary or self.ticket.reply_text, self.ticket)
        field.widget.attrs["data-scrub-url"] = reverse("admin:cases_ticket_public_summary", args=[self.ticket.pk])

    def perform(self):
        return workflow.ticket_reply(
            ticket=self.ticket,
            actor=self.user,
            result=self.cleaned_data["result"],
            text=self.cleaned_data["text"],
            reason=self.cleaned_data["reason"],
            public_summary=self.cleaned_data["public_summary"],
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
    reason_code = _reason_code_field(ReasonCode.Kind.REWORK)
    reason = _note(_("退回理由"), required=True)

    def perform(self):
        return workflow.ticket_rework(
            ticket=self.ticket,
            actor=self.user,
            reason=self.cleaned_data["reason"],
            reason_code=self.cleaned_data["reason_code"],
        )


class ReturnRequestForm(ActionForm):
    kind = Kind.RETURN_REQUESTED
    reason_code = _reason_code_field(ReasonCode.Kind.RETURN)
    reason = _note(_("退单理由"), required=True)

    def perform(self):
        return workflow.ticket_return_request(
            ticket=self.ticket,
            actor=self.user,
            reason=self.cleaned_data["reason"],
            reason_code=self.cleaned_data["reason_code"],
        )


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


class ObjectionRequestForm(ActionForm):
    kind = Kind.OBJECTION_REQUESTED
    reason_code = _reason_code_field(ReasonCode.Kind.OBJECTION)
    reason = _note(_("异议理由"), required=True)

    def perform(self):
        return workflow.ticket_objection_request(
            ticket=self.ticket,
            actor=self.user,
            reason=self.cleaned_data["reason"],
            reason_code=self.cleaned_data["reason_code"],
        )


class ObjectionUpholdForm(ActionForm):
    kind = Kind.OBJECTION_UPHELD
    note = _note(_("裁定意见"))

    def perform(self):
        return workflow.ticket_objection_uphold(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class ObjectionRejectForm(ActionForm):
    kind = Kind.OBJECTION_REJECTED
    reason = _note(_("不成立理由"), required=True)

    def perform(self):
        return workflow.ticket_objection_reject(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


class ArbitrationRequestForm(ActionForm):
    kind = Kind.ARBITRATION_REQUESTED
    reason = _note(_("协调事由"), required=True)

    def perform(self):
        return workflow.ticket_arbitration_request(
            ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"]
        )


class ArbitrationRuleForm(ActionForm):
    kind = Kind.ARBITRATION_RULED
    redispatch = forms.TypedChoiceField(
        label=_("裁定"),
        choices=[("0", _("维持主办单位")), ("1", _("收回重新派单"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
        initial="0",
    )
    note = _note(_("裁定意见"), required=True)

    def perform(self):
        return workflow.ticket_arbitration_rule(
            ticket=self.ticket,
            actor=self.user,
            note=self.cleaned_data["note"],
            redispatch=self.cleaned_data["redispatch"],
        )


class ExtensionRequestForm(ActionForm):
    kind = Kind.EXTENSION_REQUESTED
    has_files = True
    working_days = forms.IntegerField(label=_("延期工作日"), min_value=1, max_value=30)
    reason = _note(_("延期理由"), required=True)
    documents = MultipleFileField(label=_("证明材料"))

    def perform(self):
        return workflow.ticket_extension_request(
            ticket=self.ticket,
            actor=self.user,
            working_days=self.cleaned_data["working_days"],
            reason=self.cleaned_data["reason"],
            attachments=self.cleaned_data["documents"],
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
        self.fields["departments"].choices = [(d.pk, d.name) for d in handling_units(self.user) if d.pk not in taken]

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


class PublicitySetForm(ActionForm):
    kind = Kind.PUBLICITY_CHANGED
    public = forms.TypedChoiceField(
        label=_("公开范围"),
        choices=[("1", _("公开")), ("0", _("不公开"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
    )
    reason = _note(_("理由"), required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["public"]
        field.initial = "0" if self.ticket.is_public else "1"
        notes = [_("当前：公开。") if self.ticket.is_public else _("当前：不公开。")]
        if self.ticket.is_confidential:
            notes.append(_("保密举报件在任何公开页面都不显示。"))
        if category_is_never_public(self.ticket.category):
            notes.append(
                _("分类“%(category)s”设为不公开，本工单在任何公开页面都不显示。")
                % {"category": self.ticket.category.full_name}
            )
        field.help_text = " ".join(str(n) for n in notes)

    def perform(self):
        return workflow.ticket_publicity_set(
            ticket=self.ticket, actor=self.user, public=self.cleaned_data["public"], reason=self.cleaned_data["reason"]
        )


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

    def notices(self, result):
        data = result.events.filter(kind=Kind.ESCALATED).order_by("-created_at", "-pk").values_list("data", flat=True)
        data = data.first() or {}
        if data.get("previous_due_at") and data.get("previous_due_at") == data.get("resolve_due_at"):
            return [str(ESCALATION_NO_CHANGE)]
        return []


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
            (u.pk, f"{u.number or choice_label(u, 'kind')} · {u.content[:40]}") for u in self.open_urges.values()
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
class TransferForm(ActionForm):
    kind = Kind.TRANSFERRED
    centre = UnitChoiceField(label=_("转至分中心"))
    note = _note(_("转办意见"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["centre"].choices = [
            ("", "---------"),
            *[(str(u.pk), u.name) for u in subcentres().exclude(pk=self.ticket.centre_id)],
        ]

    def perform(self):
        return workflow.ticket_transfer(
            ticket=self.ticket, actor=self.user, centre=self.cleaned_data["centre"], note=self.cleaned_data["note"]
        )


class CentreSignForm(ActionForm):
    kind = Kind.CENTRE_SIGNED
    submit_label = _("签收")
    note = _note()

    def perform(self):
        return workflow.ticket_centre_sign(ticket=self.ticket, actor=self.user, note=self.cleaned_data["note"])


class CentreReturnForm(ActionForm):
    kind = Kind.CENTRE_RETURNED
    reason = _note(_("退回理由"), required=True)

    def perform(self):
        return workflow.ticket_centre_return(ticket=self.ticket, actor=self.user, reason=self.cleaned_data["reason"])


ACTION_FORMS = {
    form.kind: form
    for form in [
        AnswerForm,
        DispatchForm,
        SubdispatchForm,
        TakeBackForm,
        HandBackForm,
        SignForm,
        ContactForm,
        ProgressForm,
        ReplyForm,
        ApproveForm,
        ReworkForm,
        ReturnRequestForm,
        ReturnApproveForm,
        ReturnRejectForm,
        ObjectionRequestForm,
        ObjectionUpholdForm,
        ObjectionRejectForm,
        ArbitrationRequestForm,
        ArbitrationRuleForm,
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
        PublicitySetForm,
        TransferForm,
        CentreSignForm,
        CentreReturnForm,
    ]
}


# -- intake ------------------------------------------------------------------------


ERR_INTAKE_CATEGORY = _("请选择诉求分类。")
ERR_KNOWLEDGE_GONE = _("所选知识库口径已停用或不存在，请重新选择。")
ERR_PATROL_NO_GRID = _("您还没有负责的网格，请联系管理员在“网格”中指定网格员。")
#: The fields a grid worker's patrol report (巡查上报) does without.
PATROL_OMITS = (
    "citizen_phone",
    "citizen_name",
    "is_anonymous",
    "is_confidential",
    "channel",
    "nature",
    "urgency",
    "answer_text",
    "knowledge",
    "confirm_new",
)


class IntakeForm(forms.Form):
    """What an operator fills in while the citizen talks; with ``patrol_grids``,
    the grid worker's patrol report: their grid, channel 网格员上报, no caller."""

    citizen_phone = forms.CharField(label=_("来电号码"), max_length=32, required=False)
    citizen_name = forms.CharField(label=_("诉求人姓名"), max_length=50, required=False)
    is_anonymous = forms.BooleanField(label=_("匿名"), required=False)
    is_confidential = forms.BooleanField(label=_("保密（举报）"), required=False)
    channel = forms.ChoiceField(label=_("渠道"), choices=Channel.choices, initial=Channel.HOTLINE)
    # Required unless a knowledge-base answer supplies it (see clean).
    category = forms.ModelChoiceField(
        label=_("诉求分类"), queryset=Category.objects.filter(is_active=True), required=False
    )
    nature = forms.ChoiceField(label=_("诉求性质"), choices=[("", _("按分类默认")), *Nature.choices], required=False)
    urgency = forms.ChoiceField(label=_("紧急程度"), choices=[("", _("按分类默认")), *Urgency.choices], required=False)
    content = forms.CharField(label=_("诉求内容"), widget=forms.Textarea(attrs={"rows": 6}), required=False)
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
    upload_token = forms.CharField(required=False, widget=forms.HiddenInput)
    answer_text = forms.CharField(label=_("直接答复内容"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    # The knowledge-base article picked in the panel (a hidden field the script fills).
    knowledge = forms.CharField(required=False, widget=forms.HiddenInput)
    confirm_new = forms.BooleanField(label=_("确认不是重复诉求，仍然新建"), required=False)

    def __init__(self, *args, admin_site=None, action="create", patrol_grids=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.action = action
        self.patrol = patrol_grids is not None
        site = admin_site or admin.site
        category = self.fields["category"]
        category.widget = SafeAutocompleteSelect(Ticket._meta.get_field("category"), site)
        category.widget.choices = category.choices
        if self.patrol:
            for name in PATROL_OMITS:
                del self.fields[name]
            grid = self.fields["grid"]
            grid.queryset = patrol_grids
            grid.required = True
            grid.empty_label = None
            grid.help_text = ""
            grid.error_messages = {**grid.error_messages, "required": ERR_PATROL_NO_GRID}
            grid.initial = next(iter(patrol_grids), None)
            self.fields["attachments"].label = _("现场照片")
            self.fields["content"].label = _("发现的问题")

    def clean(self):
        data = super().clean()
        article = None
        if self.action == "answer" and data.get("knowledge"):
            article = KnowledgeArticle.objects.current().filter(pk=pk_or_none(data["knowledge"])).first()
            if article is None:
                self.add_error(None, ERR_KNOWLEDGE_GONE)
        if article is not None:
            # A knowledge answer supplies what the caller asked and how it is answered.
            if data.get("category") is None:
                data["category"] = article.category
            data["nature"] = data.get("nature") or Nature.CONSULT
            data["content"] = data.get("content") or article.question
            data["answer_text"] = data.get("answer_text") or article.answer
        if data.get("category") is None and "category" not in self.errors:
            self.add_error("category", ERR_INTAKE_CATEGORY)
        if not (data.get("content") or "").strip() and "content" not in self.errors:
            self.add_error("content", forms.Field.default_error_messages["required"])
        if self.patrol:
            data.update(channel=Channel.GRID, nature="", urgency="", citizen_name="", citizen_phone="")
            data.update(is_anonymous=False, is_confidential=False, answer_text="", confirm_new=True)
        elif not data.get("is_anonymous") and not (data.get("citizen_phone") or "").strip():
            if data.get("channel") == Channel.HOTLINE:
                self.add_error("citizen_phone", _("热线来电请记录来电号码；不愿留号码请勾选“匿名”。"))
        return data


def pk_or_none(value):
    """A primary key from a request or a hidden field, or None (a database key is below 2**63)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None
