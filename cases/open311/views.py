"""GeoReport v2 endpoints. Requests are public data: no citizen name, phone or
house number ever leaves, and confidential reports (举报) are not listed."""

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from config.replicas import replica_view
from departments.models import Grid

from .. import clock, workflow
from ..api_keys import api_key_check
from ..archive import ArchivedPeriod, archive_guard
from ..models import ApiKey, Category, ServiceAttribute, ServiceRequestToken, Ticket, TicketEvent
from ..public import (
    anonymise,
    never_public_categories,
    public_event_text,
    public_notes,
    public_place,
    public_status,
    public_tickets,
    public_unit,
    ticket_is_public,
)
from ..ratelimit import over_limit
from ..workflow import PUBLIC_KINDS, WorkflowError, WorkflowPermissionError
from .render import error, respond

SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_DESCRIPTION = 4000
MAX_PAGE = 1_000_000  # beyond it the offset overflows the database's integer
# The spec's error for a number the workflow's phone rule (ticket_create) refuses.
ERR_PHONE = "phone is not a telephone number"
CLOSED_STATES = ("closed", "merged", "invalid")


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def _parse_when(raw: str, name: str):
    """w3 datetime with a zone (or a bare date, read in local time)."""
    value = parse_datetime(raw)
    if value is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        value = parse_datetime(raw + "T00:00:00")
    if value is None:
        raise ValueError(f"{name} must be a w3 date-time such as 2026-11-01T00:00:00+08:00")
    try:
        return clock.as_utc(value if timezone.is_aware(value) else timezone.make_aware(value))
    except ValueError as exc:
        raise ValueError(f"{name} is out of range") from exc


def endpoint(methods=("GET",), *, listing=True):
    """``listing``: a GET that lists (services, requests, updates) may read on a
    replica (config/replicas.py); one request or token, just created by the caller,
    is read on the primary."""

    def wrap(view):
        read = replica_view(view) if listing else view

        @csrf_exempt
        def inner(request, fmt, **kwargs):
            if request.method not in methods:
                response = error(fmt, 405, f"method {request.method} not allowed here")
                response["Allow"] = ", ".join(methods)
                return response
            if over_limit("open311", request):
                return error(fmt, 429, "too many requests; try again in a minute")
            jurisdiction = (request.POST if request.method == "POST" else request.GET).get("jurisdiction_id")
            if jurisdiction and jurisdiction != settings.HOTLINE_OPEN311_JURISDICTION:
                return error(fmt, 404, f"jurisdiction_id {jurisdiction} not found")
            return (read if request.method == "GET" else view)(request, fmt, **kwargs)

        return inner

    return wrap


# -- discovery and services ---------------------------------------------------------------


@endpoint()
def discovery(request, fmt):
    base = request.build_absolute_uri(reverse("open311:discovery", args=["json"]).rsplit("/", 1)[0] + "/")
    return respond(
        fmt,
        {
            "changeset": _iso(_services_changed()),
            "contact": settings.HOTLINE_OPEN311_CONTACT,
            "key_service": "API keys are issued by the hotline centre (管理后台 › 接口密钥).",
            "endpoints": [
                {
                    "specification": SPEC,
                    "url": base,
                    "changeset": _iso(_services_changed()),
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
        root="discovery",
    )


def _services_changed():
    latest = Category.history.order_by("-history_date").values_list("history_date", flat=True).first()
    return latest or timezone.now()


def _services():
    """Leaf categories: the services a request can be filed under. A never-public
    category is none: GeoReport requests are public by design."""
    categories = list(
        Category.objects.filter(is_active=True)
        .exclude(pk__in=never_public_categories().values("pk"))
        .select_related("parent")
        .order_by("path")
    )
    parents = {c.parent_id for c in categories if c.parent_id}
    return [c for c in categories if c.pk not in parents]


def _attributes(category: Category) -> list[ServiceAttribute]:
    return list(ServiceAttribute.objects.filter(category_id__in=category.lineage_ids).order_by("order", "pk"))


@endpoint()
def services(request, fmt):
    services = _services()
    with_attributes = set(ServiceAttribute.objects.values_list("category_id", flat=True).distinct())
    roots = {c.pk: c for c in Category.objects.filter(parent__isnull=True)}
    rows = []
    for c in services:
        lineage = c.lineage_ids
        rows.append(
            {
                "service_code": c.code,
                "service_name": c.name,
                "description": c.description or c.full_name,
                "metadata": any(pk in with_attributes for pk in lineage),
                "type": "realtime",
                "keywords": "",
                "group": roots[lineage[0]].name if lineage and lineage[0] in roots else "",
            }
        )
    return respond(fmt, rows, root="services", item="service")


def _service(code: str) -> Category | None:
    return next((c for c in _services() if c.code == code), None)


@endpoint()
def service_definition(request, fmt, code):
    category = _service(code)
    if category is None:
        return error(fmt, 404, f"service_code {code} not found")
    attributes = [
        {
            "variable": True,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.datatype_description,
            "order": a.order,
            "description": a.description,
            "values": [{"key": v.get("key", ""), "name": v.get("name", "")} for v in a.values or []],
        }
        for a in _attributes(category)
    ]
    return respond(fmt, {"service_code": category.code, "attributes": attributes}, root="service_definition")


# -- requests -----------------------------------------------------------------------------------


def _request_row(t: Ticket) -> dict:
    return {
        "service_request_id": t.number,
        "status": public_status(t),
        "status_notes": public_notes(t),
        "service_name": t.category.name,
        "service_code": t.category.code,
        "description": "" if t.state == "invalid" else anonymise(t.content, t),
        "agency_responsible": public_unit(t),
        "service_notice": "",
        "requested_datetime": _iso(t.received_at),
        "updated_datetime": _iso(t.updated_at),
        "expected_datetime": _iso(t.resolve_due_at),
        "address": public_place(t),
        "address_id": "",
        "zipcode": "",
        # To about a hundred metres: where, not whose door.
        "lat": float(round(t.latitude, 3)) if t.latitude is not None else None,
        "long": float(round(t.longitude, 3)) if t.longitude is not None else None,
        "media_url": "",
    }


def _public_requests(include_invalid=False):
    return public_tickets(include_invalid=include_invalid).select_related(
        "category", "lead_department", "district", "street", "community", "merged_into"
    )


@endpoint(methods=("GET", "POST"))
def requests(request, fmt):
    if request.method == "POST":
        return _create(request, fmt)
    params = request.GET
    queryset = _public_requests()
    ids = [i for i in params.get("service_request_id", "").split(",") if i]
    if ids:
        # The spec: with service_request_id given, the other filters are ignored.
        rows = _public_requests(include_invalid=True).filter(number__in=ids[:100]).order_by("-received_at")
        return respond(fmt, [_request_row(t) for t in rows], root="service_requests", item="request")
    try:
        end = _parse_when(params["end_date"], "end_date") if params.get("end_date") else None
        start = _parse_when(params["start_date"], "start_date") if params.get("start_date") else None
    except ValueError as exc:
        return error(fmt, 400, str(exc))
    # The spec's default is the last 90 days; a start alone runs to now, an end
    # alone reaches 90 days back. Pages hold at most 1000 requests either way.
    window = timedelta(days=settings.HOTLINE_OPEN311_WINDOW_DAYS)
    end = end or timezone.now()
    start = start or end - window
    if start > end:
        return error(fmt, 400, "start_date must not be after end_date")
    queryset = queryset.filter(received_at__gte=start, received_at__lte=end)
    codes = [c for c in params.get("service_code", "").split(",") if c]
    if codes:
        queryset = queryset.filter(category__code__in=codes)
    statuses = {s for s in params.get("status", "").split(",") if s}
    if statuses - {"open", "closed"}:
        return error(fmt, 400, "status must be open, closed or both (comma-separated)")
    if statuses == {"open"}:
        queryset = queryset.exclude(state__in=CLOSED_STATES)
    elif statuses == {"closed"}:
        queryset = queryset.filter(state__in=CLOSED_STATES)
    try:
        page = int(params.get("page") or 1)
        size = int(params.get("page_size") or settings.HOTLINE_OPEN311_MAX_PAGE_SIZE)
    except ValueError:
        return error(fmt, 400, "page and page_size must be whole numbers")
    if not 1 <= page <= MAX_PAGE or not 1 <= size <= settings.HOTLINE_OPEN311_MAX_PAGE_SIZE:
        return error(
            fmt, 400, f"page must be 1 to {MAX_PAGE} and page_size 1 to {settings.HOTLINE_OPEN311_MAX_PAGE_SIZE}"
        )
    rows = queryset.order_by("-received_at", "-pk")[(page - 1) * size : page * size]
    return respond(fmt, [_request_row(t) for t in rows], root="service_requests", item="request")


@endpoint(listing=False)
def request_detail(request, fmt, request_id):
    ticket = _public_requests(include_invalid=True).filter(number=request_id).first()
    if ticket is None:
        return error(fmt, 404, f"service_request_id {request_id} not found")
    return respond(fmt, [_request_row(ticket)], root="service_requests", item="request")


@endpoint(listing=False)
def token(request, fmt, token):
    row = ServiceRequestToken.objects.filter(token=token).select_related("ticket").first() if _uuid(token) else None
    if row is None or not ticket_is_public(row.ticket):
        return error(fmt, 404, f"token {token} not found")
    return respond(
        fmt,
        [{"service_request_id": row.ticket.number, "token": str(row.token)}],
        root="service_requests",
        item="request",
    )


def _uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value or ""))


@endpoint()
def updates(request, fmt):
    """servicerequestupdates extension: what happened to public requests, in order."""
    params = request.GET
    try:
        end = _parse_when(params["end_date"], "end_date") if params.get("end_date") else timezone.now()
        start = _parse_when(params["start_date"], "start_date") if params.get("start_date") else end - timedelta(days=1)
    except ValueError as exc:
        return error(fmt, 400, str(exc))
    if start > end or end - start > timedelta(days=settings.HOTLINE_OPEN311_WINDOW_DAYS):
        return error(
            fmt, 400, f"start_date must be before end_date, at most {settings.HOTLINE_OPEN311_WINDOW_DAYS} days"
        )
    try:
        archive_guard(start)  # the events of archived years are not live (cases.archive)
    except ArchivedPeriod as refused:
        return error(fmt, 400, str(refused))
    events = (
        TicketEvent.objects.filter(created_at__gte=start, created_at__lte=end, kind__in=PUBLIC_KINDS)
        .filter(ticket__in=public_tickets().values("pk"))
        .select_related("ticket", "ticket__category")
        .order_by("created_at", "pk")[: settings.HOTLINE_OPEN311_MAX_PAGE_SIZE]
    )
    rows = [
        {
            "update_id": str(e.pk),
            "service_request_id": e.ticket.number,
            "status": "closed" if e.to_state in CLOSED_STATES else "open",
            "updated_datetime": _iso(e.created_at),
            "description": public_event_text(e),
            "media_url": "",
        }
        for e in events
    ]
    return respond(fmt, rows, root="service_request_updates", item="request_update")


# -- POST requests ----------------------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, status, description):
        super().__init__(description)
        self.status = status


def _attribute_values(post, category) -> list[tuple[ServiceAttribute, str]]:
    """Check ``attribute[code]`` values against the service definition."""
    definitions = {a.code: a for a in _attributes(category)}
    given = {}
    for name in post:
        m = re.fullmatch(r"attribute\[([^\]]+)\](\[\])?", name)
        if m:
            if m.group(1) not in definitions:
                raise BadRequest(400, f"attribute[{m.group(1)}] is not defined for service {category.code}")
            given[m.group(1)] = [v.strip() for v in post.getlist(name) if v.strip()]
    chosen = []
    for code, a in definitions.items():
        values = given.get(code, [])
        if not values:
            if a.required:
                raise BadRequest(400, f"attribute[{code}] is required: {a.description}")
            continue
        keys = {str(v.get("key")): v.get("name", "") for v in a.values or []}
        if a.datatype == ServiceAttribute.Datatype.NUMBER:
            try:
                Decimal(values[0])
            except InvalidOperation:
                raise BadRequest(400, f"attribute[{code}] must be a number") from None
            shown = values[0]
        elif a.datatype == ServiceAttribute.Datatype.DATETIME:
            try:
                _parse_when(values[0], f"attribute[{code}]")
            except ValueError as exc:
                raise BadRequest(400, str(exc)) from None
            shown = values[0]
        elif a.datatype in (ServiceAttribute.Datatype.SINGLE, ServiceAttribute.Datatype.MULTI):
            if a.datatype == ServiceAttribute.Datatype.SINGLE and len(values) > 1:
                raise BadRequest(400, f"attribute[{code}] takes one value")
            unknown = [v for v in values if v not in keys]
            if unknown:
                raise BadRequest(400, f"attribute[{code}]: {unknown[0]} is not one of {', '.join(keys)}")
            shown = "、".join(keys[v] or v for v in values)
        else:
            shown = values[0][:500]
        chosen.append((a, shown))
    return chosen


def _create(request, fmt):
    post = request.POST
    key = api_key_check(post.get("api_key", ""))
    if key is None:
        return error(fmt, 403, "api_key is missing, invalid or revoked")
    if key.purpose != ApiKey.Purpose.CHANNEL:
        return error(fmt, 403, "this api_key may not create service requests")
    try:
        return _create_checked(fmt, key, post)
    except BadRequest as exc:
        return error(fmt, exc.status, str(exc))


def _create_checked(fmt, key, post):
    code = post.get("service_code", "").strip()
    if not code:
        raise BadRequest(400, "service_code is required")
    category = _service(code)
    if category is None:
        raise BadRequest(404, f"service_code {code} not found")
    lat, lng = post.get("lat", "").strip(), post.get("long", "").strip()
    address, address_id = post.get("address_string", "").strip(), post.get("address_id", "").strip()
    if not ((lat and lng) or address or address_id):
        raise BadRequest(400, "a location is required: lat and long, address_string or address_id")
    latitude = longitude = None
    if lat or lng:
        try:
            latitude, longitude = Decimal(lat), Decimal(lng)
            if not (latitude.is_finite() and longitude.is_finite()):  # NaN cannot even be compared
                raise InvalidOperation
        except InvalidOperation:
            raise BadRequest(400, "lat and long must be decimal degrees (WGS84)") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise BadRequest(400, "lat must lie in -90..90 and long in -180..180")
        latitude, longitude = round(latitude, 6), round(longitude, 6)
    grid = None
    if address_id:
        grid = Grid.objects.filter(code=address_id, is_active=True).first()
        if grid is None:
            raise BadRequest(400, f"address_id {address_id} is not a known grid code")
    if len(address) > 255:
        raise BadRequest(400, "address_string is longer than 255 characters")
    description = post.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(400, f"description is longer than {MAX_DESCRIPTION} characters")
    chosen = _attribute_values(post, category)
    phone = post.get("phone", "").strip()  # checked by ticket_create, the one phone rule
    email = post.get("email", "").strip()
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise BadRequest(400, "email is not an e-mail address")
    name = (post.get("last_name", "").strip() + post.get("first_name", "").strip())[:50]
    lines = [description or category.full_name]
    lines += [f"{a.description}：{shown}" for a, shown in chosen]
    account_id = post.get("account_id", "").strip()[:64]
    try:
        with transaction.atomic():
            ticket = workflow.ticket_create(
                actor=key.user,
                channel=key.channel,
                category=category,
                content="\n".join(lines),
                citizen_name=name,
                citizen_phone=phone,
                address=address,
                latitude=latitude,
                longitude=longitude,
                grid=grid,
                external_id=(post.get("device_id", "").strip() or account_id)[:64],
                note="Open311",
            )
            issued = ServiceRequestToken.objects.create(ticket=ticket)
    except (WorkflowError, ValidationError) as exc:
        if "citizen_phone" in getattr(exc, "error_dict", {}):
            raise BadRequest(400, ERR_PHONE) from None
        raise BadRequest(400, " ".join(getattr(exc, "messages", [str(exc)]))) from None
    except WorkflowPermissionError as exc:
        raise BadRequest(403, str(exc.message)) from None
    notice = _("已受理，将尽快派至承办单位办理。")
    return respond(
        fmt,
        [
            {
                "service_request_id": ticket.number,
                "token": str(issued.token),
                "service_notice": notice,
                "account_id": account_id or None,
            }
        ],
        root="service_requests",
        item="request",
    )


def not_found(request, fmt="xml", **kwargs):
    return error(fmt if fmt in ("json", "xml") else "xml", 404, "no such Open311 resource; see discovery.xml")
