from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from departments.models import Department, Grid

from .. import reference
from ..attachments import MAX_FILES_PER_ACTION
from ..models import (
    Callback,
    Category,
    Channel,
    InvalidKind,
    Nature,
    ReasonCode,
    ReplyResult,
    Ticket,
    TicketEvent,
    Urgency,
)
from ..privacy import citizen_hidden_from, mask_name, mask_phone
from ..selectors.scope import ticket_scope
from ..selectors.tickets import ticket_timeline
from ..workflow import VERBS, allowed_actions
from .auth import request_key


def _user(context):
    request = context.get("request")
    return request.user if request is not None else None


class RefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CategoryRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField(source="full_name")


class TicketSerializer(serializers.ModelSerializer):
    category = CategoryRefSerializer(read_only=True)
    lead_department = RefSerializer(read_only=True, allow_null=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    colour = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "number",
            "channel",
            "nature",
            "urgency",
            "category",
            "state",
            "state_label",
            "colour",
            "is_proactive",
            "external_id",
            "received_at",
            "lead_department",
            "resolve_due_at",
            "closed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["", "green", "yellow", "red"]))
    def get_colour(self, obj) -> str:
        return obj.colour()


class EventSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="get_kind_display")
    note = serializers.SerializerMethodField()

    class Meta:
        model = TicketEvent
        fields = ["kind", "label", "created_at", "from_state", "to_state", "note"]

    def get_note(self, obj) -> str:
        # Internal remarks are for staff; a channel's key sees the steps only.
        return "" if self.context.get("steps_only") else obj.note


class TicketDetailSerializer(TicketSerializer):
    content = serializers.CharField(read_only=True)
    citizen = serializers.SerializerMethodField()
    place = serializers.SerializerMethodField()
    reply = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "content", "citizen", "place", "reply", "timeline", "actions"]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {"name": {"type": "string"}, "phone": {"type": "string"}, "hidden": {"type": "boolean"}},
        }
    )
    def get_citizen(self, obj):
        request = self.context.get("request")
        if request is not None and request_key(request) is None and citizen_hidden_from(request.user, obj):
            return {"name": "", "phone": "", "hidden": True}
        return {"name": mask_name(obj.citizen_name), "phone": mask_phone(obj.citizen_phone), "hidden": False}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_place(self, obj):
        def ref(d):
            return {"id": d.pk, "name": d.name} if d is not None else None

        return {
            "address": obj.address,
            "district": ref(obj.district),
            "street": ref(obj.street),
            "community": ref(obj.community),
            "grid": obj.grid.code if obj.grid_id else None,
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "result": {"type": "string"},
                "text": {"type": "string"},
                "replied_at": {"type": "string", "format": "date-time", "nullable": True},
            },
        }
    )
    def get_reply(self, obj):
        if not obj.reply_result:
            return None
        return {"result": obj.reply_result, "text": obj.reply_text, "replied_at": obj.replied_at}

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, obj):
        events = self.context.get("timeline") or ticket_timeline(obj)
        request = self.context.get("request")
        context = {**self.context, "steps_only": request is not None and request_key(request) is not None}
        return EventSerializer(events, many=True, context=context).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, obj):
        request = self.context.get("request")
        if request is None or request_key(request) is not None:
            return []
        return [VERBS[k].slug for k in allowed_actions(obj, request.user) if VERBS[k].slug]


class ReferenceCodeField(serializers.SlugRelatedField):
    """An active category or grid by its code, from the cached reference data
    (``cases.reference``) instead of a query per request."""

    def __init__(self, *, lookup, model, **kwargs):
        self.lookup = lookup
        super().__init__(slug_field="code", queryset=model.objects.filter(is_active=True), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        found = self.lookup(data)
        if found is None or not found.is_active:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return found


class TicketCreateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text=_("仅工作人员可指定；接口密钥使用其自身渠道。")
    )
    category = ReferenceCodeField(lookup=reference.category_by_code, model=Category, help_text=_("诉求分类编码"))
    content = serializers.CharField(max_length=5000, trim_whitespace=True)
    nature = serializers.ChoiceField(choices=Nature.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    citizen_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    citizen_phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    is_anonymous = serializers.BooleanField(required=False, default=False)
    is_confidential = serializers.BooleanField(required=False, default=False)
    address = serializers.CharField(max_length=255, required=False, allow_blank=True)
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-90, max_value=90, required=False)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-180, max_value=180, required=False)
    grid = ReferenceCodeField(lookup=reference.grid_by_code, model=Grid, required=False, help_text=_("网格编码"))
    external_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=MAX_FILES_PER_ACTION, write_only=True
    )

    incident = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text=_("关联的突发事件编号（仅工作人员）。")
    )
    incident_link = serializers.ChoiceField(
        choices=[("answer", _("以公告直接答复")), ("attach", _("并入事件主工单"))],
        required=False,
        help_text=_("与 incident 一起使用：answer 以公告直接答复办结，attach 并入事件主工单。"),
    )

    def validate(self, attrs):
        if (attrs.get("latitude") is None) != (attrs.get("longitude") is None):
            raise serializers.ValidationError({"longitude": _("经度和纬度需要同时提供。")})
        if (attrs.get("incident") is None) != (attrs.get("incident_link") is None):
            raise serializers.ValidationError({"incident_link": _("incident 和 incident_link 需要同时提供。")})
        return attrs


# -- workflow actions -------------------------------------------------------------------
#
# An action endpoint passes its serializer's validated data to the verb's function
# as keyword arguments (``cases.api.views``): the field names are the verb's.


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RequiredNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class CodedReasonSerializer(ReasonSerializer):
    """A reason with an optional ``ReasonCode`` id (the verb checks its kind)."""

    reason_code = serializers.PrimaryKeyRelatedField(queryset=ReasonCode.objects.all(), required=False)


#: 派单目录: the reason for handing a category to a unit outside its catalogue
#: (``cases.workflow.catalogue``); the verb refuses such a dispatch without one.
CATALOGUE_REASON_HELP = _("承办单位类型不在该分类派单目录内时必填：目录外派单理由。")


class DispatchSerializer(NoteSerializer):
    department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.filter(is_active=True))
    cohandlers = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.filter(is_active=True), many=True, required=False
    )
    catalogue_reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text=CATALOGUE_REASON_HELP
    )


class SubdispatchSerializer(NoteSerializer):
    """One of: a child unit of the holder (``department``), or a grid of the holding
    community (``grid``, by its code: to the grid's worker)."""

    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.filter(is_active=True), required=False, default=None
    )
    grid = serializers.SlugRelatedField(
        slug_field="code", queryset=Grid.objects.filter(is_active=True), required=False, default=None
    )
    catalogue_reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text=CATALOGUE_REASON_HELP
    )


class ArbitrationRuleSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000)
    redispatch = serializers.BooleanField(required=False, default=False)


class ReplySerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=ReplyResult.choices)
    text = serializers.CharField(max_length=5000)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    # 公开答复摘要: scrubbed by the workflow; empty, the public pages show the result only.
    public_summary = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AnswerSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000)
    result = serializers.ChoiceField(choices=ReplyResult.choices, required=False, default=ReplyResult.EXPLAINED)


class ExtensionRequestSerializer(ReasonSerializer):
    working_days = serializers.IntegerField(min_value=1, max_value=60)


class ExtensionApproveSerializer(NoteSerializer):
    working_days = serializers.IntegerField(min_value=1, max_value=60, required=False)


class MergeSerializer(NoteSerializer):
    master = serializers.SlugRelatedField(slug_field="number", queryset=Ticket.objects.all())

    def validate_master(self, master):
        # A ticket outside the caller's scope answers like one that does not exist.
        if not ticket_scope(Ticket.objects.filter(pk=master.pk), _user(self.context)).exists():
            raise serializers.ValidationError(_("主工单不存在。"))
        return master


class InvalidateSerializer(ReasonSerializer):
    kind = serializers.ChoiceField(choices=InvalidKind.choices)


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000)


class TransferSerializer(NoteSerializer):
    centre = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.filter(is_active=True), help_text=_("分中心（设有分中心的单位）编号")
    )


#: The API's one mapping from a verb to its input; the endpoint's path is the
#: verb's ``slug`` and its summary the verb's label (``cases.workflow.registry``).
ACTION_SERIALIZERS = {
    TicketEvent.Kind.DISPATCHED: DispatchSerializer,
    TicketEvent.Kind.SUBDISPATCHED: SubdispatchSerializer,
    TicketEvent.Kind.TAKEN_BACK: NoteSerializer,
    TicketEvent.Kind.HANDED_BACK: RequiredNoteSerializer,
    TicketEvent.Kind.SIGNED: NoteSerializer,
    TicketEvent.Kind.CONTACTED: RequiredNoteSerializer,
    TicketEvent.Kind.PROGRESS: RequiredNoteSerializer,
    TicketEvent.Kind.REPLIED: ReplySerializer,
    TicketEvent.Kind.APPROVED: NoteSerializer,
    TicketEvent.Kind.REWORK: CodedReasonSerializer,
    TicketEvent.Kind.ANSWERED: AnswerSerializer,
    TicketEvent.Kind.RETURN_REQUESTED: CodedReasonSerializer,
    TicketEvent.Kind.RETURN_APPROVED: NoteSerializer,
    TicketEvent.Kind.RETURN_REJECTED: ReasonSerializer,
    TicketEvent.Kind.OBJECTION_REQUESTED: CodedReasonSerializer,
    TicketEvent.Kind.OBJECTION_UPHELD: NoteSerializer,
    TicketEvent.Kind.OBJECTION_REJECTED: ReasonSerializer,
    TicketEvent.Kind.ARBITRATION_REQUESTED: ReasonSerializer,
    TicketEvent.Kind.ARBITRATION_RULED: ArbitrationRuleSerializer,
    TicketEvent.Kind.EXTENSION_REQUESTED: ExtensionRequestSerializer,
    TicketEvent.Kind.EXTENSION_APPROVED: ExtensionApproveSerializer,
    TicketEvent.Kind.EXTENSION_REJECTED: ReasonSerializer,
    TicketEvent.Kind.COHANDLER_SIGNED: NoteSerializer,
    TicketEvent.Kind.COHANDLER_REPLIED: TextSerializer,
    TicketEvent.Kind.MERGED: MergeSerializer,
    TicketEvent.Kind.INVALIDATED: InvalidateSerializer,
    TicketEvent.Kind.TRANSFERRED: TransferSerializer,
    TicketEvent.Kind.CENTRE_SIGNED: NoteSerializer,
    TicketEvent.Kind.CENTRE_RETURNED: ReasonSerializer,
}


# -- reference data ------------------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Category
        fields = ["code", "name", "full_name", "parent", "depth", "default_nature", "default_urgency"]


class DepartmentSerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Department
        fields = ["id", "name", "short_name", "kind", "code", "parent", "depth", "phone"]


# -- callbacks -----------------------------------------------------------------------------


class CallbackSerializer(serializers.ModelSerializer):
    ticket = serializers.CharField(source="ticket.number")
    category = serializers.CharField(source="ticket.category.full_name")
    citizen_name = serializers.SerializerMethodField()
    citizen_phone = serializers.CharField(source="ticket.citizen_phone", help_text=_("完整号码，供外呼使用"))
    reply_text = serializers.CharField(source="ticket.reply_text")

    class Meta:
        model = Callback
        fields = [
            "id",
            "ticket",
            "category",
            "citizen_name",
            "citizen_phone",
            "closed_at",
            "due_at",
            "status",
            "attempts",
            "reply_text",
        ]

    def get_citizen_name(self, obj) -> str:
        return mask_name(obj.ticket.citizen_name)


class Scores(serializers.Serializer):
    attitude = serializers.IntegerField(min_value=1, max_value=5, required=False)
    ability = serializers.IntegerField(min_value=1, max_value=5, required=False)
    convenience = serializers.IntegerField(min_value=1, max_value=5, required=False)
    efficiency = serializers.IntegerField(min_value=1, max_value=5, required=False)


class CallbackResultSerializer(serializers.Serializer):
    contacted = serializers.BooleanField(allow_null=True, help_text=_("承办单位是否联系过诉求人"))
    solved = serializers.ChoiceField(choices=Callback.Solved.choices)
    satisfaction = serializers.ChoiceField(choices=Callback.Satisfaction.choices)
    scores = Scores(required=False)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    unit_at_fault = serializers.BooleanField(required=False, allow_null=True, default=None)
    via = serializers.ChoiceField(choices=Callback.Via.choices, required=False)


# -- alerts and stats -----------------------------------------------------------------------


class AlertSerializer(serializers.Serializer):
    device_id = serializers.RegexField(r"^[\w.:-]{1,40}$", help_text=_("设备编号"))
    alert_id = serializers.RegexField(r"^[\w.:-]{1,20}$", help_text=_("告警编号，重复推送以此去重"))
    kind = serializers.RegexField(r"^[a-z_]{1,40}$", help_text=_("告警类型，如 water_meter_idle"))
    message = serializers.CharField(max_length=500)
    reading = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    occurred_at = serializers.DateTimeField(required=False)
    grid = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-90, max_value=90, required=False)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-180, max_value=180, required=False)

    def validate(self, attrs):
        if not (attrs.get("grid") or attrs.get("address") or attrs.get("latitude") is not None):
            raise serializers.ValidationError(_("请提供网格编码、地址或经纬度之一。"))
        if (attrs.get("latitude") is None) != (attrs.get("longitude") is None):
            raise serializers.ValidationError({"longitude": _("经度和纬度需要同时提供。")})
        return attrs


class AlertResultSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    state = serializers.CharField()
    created = serializers.BooleanField()
    routed_to = RefSerializer(allow_null=True)


class StatsRowSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text="unit, place, grid or category id, or channel code")
    name = serializers.CharField()
    level = serializers.IntegerField(allow_null=True, help_text="category depth (1 = top level)")
    counters = serializers.DictField(child=serializers.FloatField())
    rates = serializers.DictField(child=serializers.FloatField(allow_null=True))
    supervision = serializers.DictField(
        child=serializers.IntegerField(), allow_null=True, help_text="urges, interviews, escalations, sign-offs"
    )


class StatsSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    department = RefSerializer(allow_null=True)
    counters = serializers.DictField(child=serializers.FloatField())
    rates = serializers.DictField(child=serializers.FloatField(allow_null=True))
    axis = serializers.CharField(allow_null=True)
    rows = StatsRowSerializer(many=True, required=False, help_text="with `axis` only")
