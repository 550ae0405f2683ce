"""The payloads of ``TicketEvent.data``: one builder per event kind that carries
data (kinds without one store ``{}``). The verbs call these instead of writing
dicts inline, so the shape of each kind is written down once.

Readers: the ticket page's timeline (``data.department.name`` of any event),
``cases.public.public_event_text`` (``department`` of ``dispatched`` and
``return_approved``), ``cases.notifications.on_transition`` (``cohandlers`` of
``cohandlers_added``). Old rows keep their keys: add keys, never rename them.

A unit is stored as ``{"id": …, "name": …}`` (the name as it was then), a time
as an ISO 8601 string.
"""

from datetime import datetime

from departments.models import Department
from departments.selectors import person_name

from ..models import TicketEvent, Urge


def unit_ref(department: Department | None) -> dict | None:
    """``{"id", "name"}`` of a unit, or ``None``."""
    return {"id": department.pk, "name": department.name} if department else None


#: The kinds that move the ticket along the sub-dispatch chain.
CHAIN_KINDS = (TicketEvent.Kind.SUBDISPATCHED, TicketEvent.Kind.TAKEN_BACK, TicketEvent.Kind.HANDED_BACK)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def created_data(*, channel: str) -> dict:
    """``created``: ``{"channel"}`` — the channel it came in by."""
    return {"channel": channel}


def dispatched_data(
    *,
    department,
    previous,
    cohandlers,
    sign_due_at: datetime,
    resolve_due_at: datetime,
    became_problem: bool,
    off_catalogue: bool = False,
    catalogue_reason: str = "",
) -> dict:
    """``dispatched``: ``{"department", "previous", "cohandlers", "sign_due_at",
    "resolve_due_at", "became_problem", "off_catalogue", "catalogue_reason"}`` — the
    lead unit, the lead unit before (or ``None``), the co-handlers brought in by this
    dispatch (a list of units), the new deadlines, whether this dispatch made it a
    问题工单, and whether the lead unit's kind lay outside the category's 派单目录
    with the reason given (``""`` within it; both absent on older rows)."""
    return {
        "department": unit_ref(department),
        "previous": unit_ref(previous),
        "cohandlers": [unit_ref(d) for d in cohandlers],
        "sign_due_at": _when(sign_due_at),
        "resolve_due_at": _when(resolve_due_at),
        "became_problem": became_problem,
        "off_catalogue": off_catalogue,
        "catalogue_reason": catalogue_reason,
    }


def person_ref(user) -> dict | None:
    """``{"id", "name"}`` of a person (the name as it was then), or ``None``."""
    return {"id": user.pk, "name": person_name(user)} if user else None


def subdispatched_data(
    *,
    department,
    previous,
    sign_due_at: datetime | None = None,
    worker=None,
    grid=None,
    hop=None,
    off_catalogue: bool = False,
    catalogue_reason: str = "",
) -> dict:
    """``subdispatched``: ``{"department", "previous"}`` — the unit it now lies
    with, and the one it came from; on a hop down also ``{"sign_due_at"}``, the
    receiver's sign deadline (rows from before take-back had its own kind lack it).
    A hop to a grid worker adds ``{"worker", "grid"}`` (``department`` stays the
    community); ``{"hop"}`` is the ``DispatchHop`` id (absent on old rows); a hop
    outside the category's 派单目录 adds ``{"off_catalogue": true, "catalogue_reason"}``."""
    data = {"department": unit_ref(department), "previous": unit_ref(previous)}
    if sign_due_at is not None:
        data["sign_due_at"] = _when(sign_due_at)
    if worker is not None:
        data["worker"] = person_ref(worker)
        data["grid"] = {"id": grid.pk, "name": grid.name} if grid else None
    if hop is not None:
        data["hop"] = hop.pk
    if off_catalogue:
        data["off_catalogue"] = True
        data["catalogue_reason"] = catalogue_reason
    return data


def chain_back_data(*, department, previous, worker=None, hops=()) -> dict:
    """``taken_back`` and ``handed_back``: ``{"department", "previous", "worker",
    "hops"}`` — the unit that holds the ticket again, the unit (and grid worker,
    or ``None``) that held it, and the ids of the hops this closed."""
    return {
        "department": unit_ref(department),
        "previous": unit_ref(previous),
        "worker": person_ref(worker),
        "hops": list(hops),
    }


def signed_data(
    *, department, on_time: bool | None = None, contact_due_at: datetime | None = None, hop=None, worker=None
) -> dict:
    """``signed``: ``{"department"}``, and on the lead unit's first sign also
    ``{"on_time", "contact_due_at"}`` (signed within the sign deadline; the
    contact deadline it started). The sign of a hop down the chain adds
    ``{"hop": {"id", "on_time"}}`` (the hop's own fact) and, by a grid worker,
    ``{"worker"}``."""
    data = {"department": unit_ref(department)}
    if contact_due_at is not None:
        data["on_time"] = on_time
        data["contact_due_at"] = _when(contact_due_at)
    if hop is not None:
        data["hop"] = {"id": hop.pk, "on_time": hop.on_time}
    if worker is not None:
        data["worker"] = person_ref(worker)
    return data


def contacted_data(*, first: bool, on_time: bool | None = None) -> dict:
    """``contacted``: ``{"first"}``, and on the first contact also ``{"on_time"}``
    (within the contact deadline)."""
    data = {"first": first}
    if first:
        data["on_time"] = on_time
    return data


def replied_data(*, result: str, reason: str, department, public_summary: str = "") -> dict:
    """``replied`` and ``reply_drafted``: ``{"result", "reason", "department",
    "public_summary"}`` — the ``ReplyResult``, why it could not be solved (or ``""``),
    the replying unit, the 公开答复摘要 it approved (scrubbed; ``""``: none)."""
    return {"result": result, "reason": reason, "department": unit_ref(department), "public_summary": public_summary}


def approved_data(*, on_time: bool) -> dict:
    """``approved``: ``{"on_time"}`` — closed within the resolve deadline."""
    return {"on_time": on_time}


def master_closed_data(*, master) -> dict:
    """``master_closed``: ``{"master"}`` — the number of the master ticket."""
    return {"master": master.number}


def reason_ref(reason_code) -> dict | None:
    """``{"id", "code", "label"}`` of a ``ReasonCode`` (the label as it was then), or ``None``."""
    return {"id": reason_code.pk, "code": reason_code.code, "label": reason_code.label} if reason_code else None


def rework_data(*, rework_count: int, became_problem: bool, reason_code=None) -> dict:
    """``rework``: ``{"rework_count", "became_problem", "reason_code"}`` — reworks
    so far, whether this one made it a 问题工单, and the coded reason (or ``None``;
    absent on rows written before codes)."""
    return {"rework_count": rework_count, "became_problem": became_problem, "reason_code": reason_ref(reason_code)}


def application_data(*, application) -> dict:
    """``return_rejected``, ``extension_rejected``:
    ``{"application"}`` — the id of the ``TicketApplication``."""
    return {"application": application.pk}


def return_requested_data(*, application, reason_code=None) -> dict:
    """``return_requested``: ``{"application", "reason_code"}`` — the id of the
    ``TicketApplication`` and the coded reason (or ``None``; absent on old rows)."""
    return {"application": application.pk, "reason_code": reason_ref(reason_code)}


def return_approved_data(*, application, department) -> dict:
    """``return_approved``: ``{"application", "department"}`` — the application,
    and the unit that returned the ticket."""
    return {"application": application.pk, "department": unit_ref(department)}


def objection_requested_data(*, application, dispatch, reason_code=None) -> dict:
    """``objection_requested``: ``{"application", "dispatch", "reason_code", "due_at"}``
    — the ``TicketApplication`` (kind objection), the id of the ``dispatched`` event
    objected to, the coded reason (or ``None``) and the centre's ruling deadline."""
    return {
        "application": application.pk,
        "dispatch": dispatch.pk if dispatch else None,
        "reason_code": reason_ref(reason_code),
        "due_at": _when(application.due_at),
    }


def objection_upheld_data(*, application, department, on_time: bool) -> dict:
    """``objection_upheld``: ``{"application", "department", "on_time"}`` — the
    objection, the unit that objected (the ticket goes back to the centre; the
    dispatch is charged, not this unit) and whether the centre ruled in time."""
    return {"application": application.pk, "department": unit_ref(department), "on_time": on_time}


def objection_rejected_data(*, application, on_time: bool) -> dict:
    """``objection_rejected``: ``{"application", "on_time"}`` — the objection, and
    whether the centre ruled within the deadline. The reason is the event's note."""
    return {"application": application.pk, "on_time": on_time}


def arbitration_requested_data(*, application) -> dict:
    """``arbitration_requested``: ``{"application"}`` — the ``TicketApplication``
    (kind arbitration) the centre rules on."""
    return {"application": application.pk}


def arbitration_ruled_data(*, application, redispatch: bool, department) -> dict:
    """``arbitration_ruled``: ``{"application", "redispatch", "department"}`` — the
    request, whether the centre took the ticket back to dispatch it to another lead
    (``False``: the lead unit keeps it) and the lead unit that asked."""
    return {"application": application.pk, "redispatch": redispatch, "department": unit_ref(department)}


def extension_requested_data(*, application, working_days: int) -> dict:
    """``extension_requested``: ``{"application", "working_days"}`` (asked for)."""
    return {"application": application.pk, "working_days": working_days}


def extension_approved_data(
    *, application, working_days: int, previous_due_at: datetime, resolve_due_at: datetime
) -> dict:
    """``extension_approved``: ``{"application", "working_days", "previous_due_at",
    "resolve_due_at"}`` — the days granted, the resolve deadline before and after."""
    return {
        "application": application.pk,
        "working_days": working_days,
        "previous_due_at": _when(previous_due_at),
        "resolve_due_at": _when(resolve_due_at),
    }


def cohandlers_added_data(*, cohandlers) -> dict:
    """``cohandlers_added``: ``{"cohandlers"}`` — the units brought in (a list of
    units; the notification goes to them)."""
    return {"cohandlers": [unit_ref(d) for d in cohandlers]}


def cohandler_data(*, department) -> dict:
    """``cohandler_signed`` and ``cohandler_replied``: ``{"department"}`` — the
    co-handling unit."""
    return {"department": unit_ref(department)}


def merged_data(*, master) -> dict:
    """``merged``: ``{"master", "master_id"}`` — the master's number and id."""
    return {"master": master.number, "master_id": master.pk}


def invalidated_data(*, invalid_kind: str) -> dict:
    """``invalidated``: ``{"invalid_kind"}`` — the ``InvalidKind``."""
    return {"invalid_kind": invalid_kind}


def reopened_data(*, reopen_count: int, resolve_due_at: datetime | None = None) -> dict:
    """``reopened``: ``{"reopen_count", "resolve_due_at"}`` — reopens so far, this
    one included, and the new round's resolve deadline (``None``: back to the
    centre; absent on rows written before it was recorded)."""
    return {"reopen_count": reopen_count, "resolve_due_at": _when(resolve_due_at)}


def head_signed_data(*, result: str) -> dict:
    """``head_signed``: ``{"result"}`` — the ``ReplyResult`` of the signed reply."""
    return {"result": result}


def escalated_data(*, leader, resolve_due_at: datetime | None, previous_due_at: datetime | None) -> dict:
    """``escalated``: ``{"leader", "resolve_due_at", "previous_due_at"}`` — the
    leader (``{"id", "name"}``), the resolve deadline after and before (either
    may be ``None``)."""
    return {
        "leader": {"id": leader.pk, "name": person_name(leader)},
        "resolve_due_at": _when(resolve_due_at),
        "previous_due_at": _when(previous_due_at),
    }


def urged_data(*, urge, department) -> dict:
    """``urged``: ``{"urge", "urge_kind", "number", "department"}`` — the ``Urge``
    id, its kind, its notice number (``""`` unless written) and the urged unit."""
    return {"urge": urge.pk, "urge_kind": urge.kind, "number": urge.number, "department": unit_ref(department)}


def _name(ref) -> str:
    return str(ref.get("name") or "") if isinstance(ref, dict) else ""


def event_detail(event) -> str:
    """What the timeline line adds to an event's kind from its payload: an urge's
    kind and notice number; from → to of a hop down the chain, a take-back or a
    hand-back (``""`` for the kinds that need nothing)."""
    data = event.data or {}
    if event.kind in CHAIN_KINDS:
        down = event.kind == TicketEvent.Kind.SUBDISPATCHED
        source = _name(data.get("previous")) if down else (_name(data.get("worker")) or _name(data.get("previous")))
        target = (_name(data.get("worker")) or _name(data.get("department"))) if down else _name(data.get("department"))
        return f"{source} → {target}" if source and target else ""
    if event.kind not in (TicketEvent.Kind.URGED, TicketEvent.Kind.URGE_ACKNOWLEDGED):
        return ""
    kind = data.get("urge_kind")
    label = Urge.Kind(kind).label if kind in Urge.Kind.values else ""
    return " ".join(str(part) for part in (label, data.get("number") or "") if part)


def urge_acknowledged_data(*, urge) -> dict:
    """``urge_acknowledged``: ``{"urge", "number"}`` — the ``Urge`` id and number."""
    return {"urge": urge.pk, "number": urge.number}


def publicity_changed_data(*, public: bool) -> dict:
    """``publicity_changed``: ``{"public"}`` — whether the ticket may now be public."""
    return {"public": public}


def deadlines_retimed_data(*, reason: str, clocks: dict) -> dict:
    """``deadlines_retimed``: ``{"reason", "clocks"}`` — why (a ``RetimeRun.Reason``)
    and, per moved clock (``sign``/``contact``/``resolve``), ``{"from", "to"}``:
    its due time before and after."""
    return {
        "reason": reason,
        "clocks": {name: {"from": _when(old), "to": _when(new)} for name, (old, new) in clocks.items()},
    }


def transferred_data(*, centre, previous, sign_due_at: datetime | None) -> dict:
    """``transferred``: ``{"department", "previous", "sign_due_at"}`` — the
    sub-centre the city transferred the ticket to, the sub-centre it came from (or
    ``None``: the city), and the sub-centre's sign deadline."""
    return {"department": unit_ref(centre), "previous": unit_ref(previous), "sign_due_at": _when(sign_due_at)}


def centre_signed_data(*, centre, on_time: bool) -> dict:
    """``centre_signed``: ``{"department", "on_time"}`` — the sub-centre that
    signed, and whether within its sign deadline."""
    return {"department": unit_ref(centre), "on_time": on_time}


def centre_returned_data(*, centre, signed: bool) -> dict:
    """``centre_returned``: ``{"department", "signed"}`` — the sub-centre that sent
    the ticket back to the city, and whether it had signed it first."""
    return {"department": unit_ref(centre), "signed": signed}
