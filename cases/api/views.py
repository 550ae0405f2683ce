from datetime import date, timedelta

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, pagination, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from config.replicas import replica_method
from departments.models import Department
from departments.selectors import department_subtree_ids
from reports.axes import AXES, ERR_AXIS, PERIOD_KINDS, axis_table, period_parse
from reports.metrics import Period, counters_live

from .. import callbacks as callback_services
from .. import clock, workflow
from ..alerts import alert_ingest
from ..archive import ArchivedPeriod
from ..incidents import incident_link
from ..models import ApiKey, Callback, Category, Channel, Incident, Ticket
from ..notifications.inbox import MOVED_OUT_TEXT
from ..selectors.scope import (
    callback_dial_scope,
    has_callback_queue,
    incident_scope,
    stats_home_unit,
    stats_unit_ids,
    ticket_scope,
)
from ..workflow import VERBS, WorkflowPermissionError
from . import serializers as s
from .auth import request_key
from .filters import CallbackFilter, TicketFilter


def exception_handler(exc, context):
    """Workflow and model errors become 400/403 with their Chinese message."""
    if isinstance(exc, WorkflowPermissionError):
        exc = exceptions.PermissionDenied(detail=str(exc.message), code=exc.code or "permission_denied")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(detail=exc.message_dict)
        else:
            exc = exceptions.ValidationError(detail={"detail": exc.messages}, code=getattr(exc, "code", None))
    return drf_exception_handler(exc, context)


class NewestFirst(pagination.CursorPagination):
    """Cursor pages: no COUNT(*), no OFFSET — as fast on page 10,000 as on page 1."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        if len(values) > 1 or not values[0].isdigit() or not 1 <= int(values[0]) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [_("每页条数应为 1 到 %(max)d 的整数。") % {"max": self.max_page_size}]}
            )
        return int(values[0])

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters


class ReplicaListMixin:
    """List reads may go to a read replica (config/replicas.py); one record, and
    everything after the caller's own write, is read on the primary."""

    @replica_method
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


def api_tickets(request):
    """The tickets a request may see: a key its own, a person their scope."""
    key = request_key(request)
    queryset = Ticket.objects.all()
    if key is not None:
        return queryset.filter(created_by=key.user)
    return ticket_scope(queryset, request.user)


CHANNEL_KEYS = (ApiKey.Purpose.CHANNEL,)
READ_KEYS = (ApiKey.Purpose.CHANNEL, ApiKey.Purpose.SENSOR)


class TicketViewSet(
    ReplicaListMixin, mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Tickets within the caller's scope; ``POST`` registers a new demand."""

    lookup_field = "number"
    lookup_value_regex = r"\d{8}-\d{3,6}"
    filterset_class = TicketFilter
    pagination_class = NewestFirst
    key_purposes = {"list": READ_KEYS, "retrieve": READ_KEYS, "create": CHANNEL_KEYS}

    def get_queryset(self):
        queryset = api_tickets(self.request).select_related("category__parent__parent", "lead_department")
        if self.action != "list":  # one ticket, shown whole: its places in the same query
            queryset = queryset.select_related("community", "street", "district", "grid")
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return s.TicketCreateSerializer
        if self.action == "retrieve":
            return s.TicketDetailSerializer
        return s.TicketSerializer

    @extend_schema(request=s.TicketCreateSerializer, responses={201: s.TicketDetailSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.TicketCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        key = request_key(request)
        if key is not None:
            data["channel"] = key.channel
        else:
            data.setdefault("channel", Channel.HOTLINE)
        incident_pk, how = data.pop("incident", None), data.pop("incident_link", None)
        if incident_pk is not None:
            # A declared incident (停水、停电…): the call is recorded and linked in one step.
            if key is not None:
                raise exceptions.PermissionDenied(_("办理操作只能由工作人员执行。"))
            incident = incident_scope(Incident.objects.all(), request.user).filter(pk=incident_pk).first()
            if incident is None:
                raise exceptions.ValidationError({"incident": [_("要关联的事件不存在或不在您的查看范围内。")]})
            with transaction.atomic():
                ticket = workflow.ticket_create(actor=request.user, **data)
                ticket = incident_link(how=f"incident_{how}", incident=incident, ticket=ticket, actor=request.user)
            ticket = self.get_queryset().filter(pk=ticket.pk).first() or ticket
            return Response(
                s.TicketDetailSerializer(ticket, context=self.get_serializer_context()).data,
                status=status.HTTP_201_CREATED,
            )
        # The response is built from the saved ticket: its category and places are
        # the cached reference rows, its timeline the one event it was created with.
        ticket = workflow.ticket_create(actor=request.user, **data)
        context = {**self.get_serializer_context(), "timeline": [ticket.created_event]}
        return Response(s.TicketDetailSerializer(ticket, context=context).data, status=status.HTTP_201_CREATED)


def _action(verb, serializer_class):
    """The action endpoint of a verb: validate, call the verb's function with the
    validated data as keyword arguments, return the ticket as it now stands."""

    def endpoint(self, request, number=None):
        if request_key(request) is not None:
            raise exceptions.PermissionDenied(_("办理操作只能由工作人员执行。"))
        ticket = self.get_object()
        serializer = serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        verb.function(ticket=ticket, actor=request.user, **serializer.validated_data)
        after = self.get_queryset().filter(pk=ticket.pk).first()
        if after is None:  # the action took it out of the caller's scope (退回市中心)
            return Response({"number": ticket.number, "detail": str(MOVED_OUT_TEXT)})
        return Response(s.TicketDetailSerializer(after, context=self.get_serializer_context()).data)

    # (prefixed: an action named "dispatch" must not replace APIView.dispatch)
    endpoint.__name__ = "act_" + verb.slug.replace("-", "_")
    endpoint = action(detail=True, methods=["post"], url_path=verb.slug, url_name=verb.slug)(endpoint)
    return extend_schema(request=serializer_class, responses={200: s.TicketDetailSerializer}, summary=verb.label)(
        endpoint
    )


for _verb in VERBS.values():
    if _verb.slug:
        setattr(TicketViewSet, "act_" + _verb.slug.replace("-", "_"), _action(_verb, s.ACTION_SERIALIZERS[_verb.kind]))


class CategoryViewSet(ReplicaListMixin, viewsets.ReadOnlyModelViewSet):
    """The active category tree (codes are also Open311 service codes)."""

    serializer_class = s.CategorySerializer
    lookup_field = "code"
    key_purposes = {"list": "*", "retrieve": "*"}
    queryset = Category.objects.filter(is_active=True).select_related("parent").order_by("path")
    pagination_class = None


class DepartmentViewSet(ReplicaListMixin, viewsets.ReadOnlyModelViewSet):
    """Active units (for dispatch pickers and routing tables)."""

    serializer_class = s.DepartmentSerializer
    key_purposes = {"list": "*", "retrieve": "*"}
    queryset = Department.objects.filter(is_active=True).order_by("path")
    pagination_class = None


class CallbackViewSet(ReplicaListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Callbacks waiting to be made. An IVR/SMS system works the day's whole list;
    a callback agent their own queue."""

    serializer_class = s.CallbackSerializer
    filterset_class = CallbackFilter
    pagination_class = NewestFirst
    key_purposes = {
        "list": (ApiKey.Purpose.CALLBACK,),
        "retrieve": (ApiKey.Purpose.CALLBACK,),
        "result": (ApiKey.Purpose.CALLBACK,),
        "unreachable": (ApiKey.Purpose.CALLBACK,),
    }

    def get_queryset(self):
        request = self.request
        queryset = Callback.objects.select_related("ticket", "ticket__category")
        today = clock.local_day()
        if request_key(request) is not None:
            if self.action != "list":
                return queryset  # a result posted twice gets "already done", not "not found"
            return queryset.filter(status=Callback.Status.PENDING, next_attempt_on__lte=today)
        queryset = callback_dial_scope(queryset, request.user)
        if self.action == "list" and has_callback_queue(request.user):
            return queryset.filter(status=Callback.Status.PENDING)  # an agent's list: what is left to dial
        return queryset

    @extend_schema(request=s.CallbackResultSerializer, responses={200: s.CallbackSerializer})
    @action(detail=True, methods=["post"])
    def result(self, request, pk=None):
        callback = self.get_object()
        callback_services.callback_authorize(callback, request.user)  # who may, before what was sent
        serializer = s.CallbackResultSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        d = serializer.validated_data
        via = d.get("via") or (Callback.Via.IVR if request_key(request) else Callback.Via.AGENT)
        callback = callback_services.callback_record(
            callback=callback,
            actor=request.user,
            contacted=d["contacted"],
            solved=d["solved"],
            satisfaction=d["satisfaction"],
            scores=d.get("scores") or {},
            comment=d["comment"],
            unit_at_fault=d["unit_at_fault"],
            via=via,
        )
        callback = self.get_queryset().model.objects.select_related("ticket", "ticket__category").get(pk=callback.pk)
        return Response(s.CallbackSerializer(callback).data)

    @extend_schema(request=s.NoteSerializer, responses={200: s.CallbackSerializer})
    @action(detail=True, methods=["post"])
    def unreachable(self, request, pk=None):
        callback = self.get_object()
        callback_services.callback_authorize(callback, request.user)
        serializer = s.NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        callback = callback_services.callback_unreachable(
            callback=callback, actor=request.user, note=serializer.validated_data["note"]
        )
        callback = Callback.objects.select_related("ticket", "ticket__category").get(pk=callback.pk)
        return Response(s.CallbackSerializer(callback).data)


class AlertView(APIView):
    """A sensor or platform alert opens a proactive ticket (未诉先办), routed to the
    community of the grid, address or coordinates. Posting the same alert again
    returns the ticket it opened (200 instead of 201)."""

    key_purposes = {"POST": (ApiKey.Purpose.SENSOR,)}

    @extend_schema(request=s.AlertSerializer, responses={201: s.AlertResultSerializer, 200: s.AlertResultSerializer})
    def post(self, request):
        key = request_key(request)
        if key is None:
            raise exceptions.PermissionDenied(_("告警只能通过物联感知接口密钥推送。"))
        serializer = s.AlertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        d = serializer.validated_data
        result = alert_ingest(
            key=key,
            device_id=d["device_id"],
            alert_id=d["alert_id"],
            kind=d["kind"],
            message=d["message"],
            reading=d["reading"],
            occurred_at=d.get("occurred_at"),
            grid_code=d["grid"],
            address=d["address"],
            latitude=d.get("latitude"),
            longitude=d.get("longitude"),
        )
        t = result.ticket
        body = {
            "ticket": t.number,
            "state": t.state,
            "created": result.created,
            "routed_to": {"id": t.lead_department_id, "name": t.lead_department.name} if t.lead_department_id else None,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


ERR_EMPTY = _("参数不能为空。")
ERR_PERIOD_OR_RANGE = _("请只给出 period（及 date）或 start/end 之一。")
ERR_DATE_WITHOUT_PERIOD = _("date 须与 period 一起使用。")


class StatsView(APIView):
    """The rates of DESIGN §6 for a period (at most a year) and, optionally, a unit
    with everything below it. Unit staff see their own subtree only. With
    ``axis``, also one row per unit, territory, category or channel — the rows of
    the admin's 统计分析 page (``reports.axes``)."""

    key_purposes = {"GET": "*"}

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="first day (default: 30 days ago)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="last day (default: today)"),
            OpenApiParameter(
                "period",
                OpenApiTypes.STR,
                enum=list(PERIOD_KINDS),
                description="the day, week, month or year holding `date` (instead of start/end)",
            ),
            OpenApiParameter("date", OpenApiTypes.DATE, description="a day of the period (default: today)"),
            OpenApiParameter("department", OpenApiTypes.INT, description="unit id (default: the whole city)"),
            OpenApiParameter(
                "axis",
                OpenApiTypes.STR,
                enum=list(AXES),
                description="one row per unit (department), unit with its subtree (subtree), district, street, "
                "community, grid, category (each with its subcategories) or channel",
            ),
        ],
        responses={200: s.StatsSerializer},
    )
    @replica_method
    def get(self, request):
        today = clock.local_day()
        params = request.query_params
        for name in ("start", "end", "department", "period", "date", "axis"):
            if name in params and not params[name]:
                raise exceptions.ValidationError({name: [ERR_EMPTY]})
        axis = params.get("axis")
        if axis is not None and axis not in AXES:
            raise exceptions.ValidationError({"axis": [str(ERR_AXIS) % {"axes": ", ".join(AXES)}]})
        if "period" in params:
            if "start" in params or "end" in params:
                raise exceptions.ValidationError({"period": [ERR_PERIOD_OR_RANGE]})
            if params["period"] not in PERIOD_KINDS:
                raise exceptions.ValidationError({"period": [_("统计期间应为 day、week、month 或 year。")]})
            try:
                period = period_parse(params["period"], day=params.get("date", ""), today=today)
            except ValueError as exc:
                raise exceptions.ValidationError({"date": [str(exc)]}) from None
            start, end = period.start, period.end
        else:
            if "date" in params:
                raise exceptions.ValidationError({"date": [ERR_DATE_WITHOUT_PERIOD]})
            try:
                end = date.fromisoformat(params.get("end") or today.isoformat())
                start = date.fromisoformat(params.get("start") or (end - timedelta(days=29)).isoformat())
            except ValueError:
                raise exceptions.ValidationError({"start": [_("日期格式应为 YYYY-MM-DD。")]}) from None
            if start > end or (end - start).days > 366:
                raise exceptions.ValidationError({"start": [_("统计期间须在一年以内，且开始不晚于结束。")]})
        department = None
        raw = params.get("department")
        if raw:
            if not raw.isdigit():
                raise exceptions.ValidationError({"department": [_("单位编号应为数字。")]})
            department = Department.objects.filter(pk=int(raw)).first()
            if department is None:
                raise Http404
        if request_key(request) is None:
            unit_ids = stats_unit_ids(request.user)
            if unit_ids is not None:
                department = department or stats_home_unit(request.user)
                if department is None or department.pk not in unit_ids:
                    raise Http404
        tickets, callbacks = Ticket.objects.all(), Callback.objects.all()
        if department is not None:
            tickets = tickets.filter(lead_department__path__startswith=department.path)
            callbacks = callbacks.filter(ticket__lead_department__path__startswith=department.path)
        try:
            counters = counters_live(Period(start, end), tickets=tickets, callbacks=callbacks)[None]
        except ArchivedPeriod as refused:  # the period reaches into archived years (cases.archive)
            raise exceptions.ValidationError({"start": [str(refused)]}) from None
        body = {
            "start": start,
            "end": end,
            "department": {"id": department.pk, "name": department.name} if department else None,
            "counters": counters.as_dict(),
            "rates": counters.rates(),
            "axis": axis,
        }
        if axis is not None:
            units = department_subtree_ids(department) if department is not None else None
            table = axis_table(Period(start, end), axis=axis, units=units)
            body["rows"] = [
                {
                    "key": None if row.key is None else str(row.key),
                    "name": row.name,
                    "level": row.level,
                    "counters": row.counters.as_dict(),
                    "rates": row.rates,
                    "supervision": row.supervision.as_dict() if row.supervision is not None else None,
                }
                for row in sorted(table.rows, key=lambda r: r.order)
            ]
        return Response(body)


def not_found(request, *args, **kwargs):
    """Anything else under /api/v1/: a JSON 404, like every other API answer."""
    return JsonResponse({"detail": _("未找到。")}, status=404)
