"""The verbs: one function per transition (DESIGN §4). Nothing else writes ``Ticket.state``.

One function per verb. Each one:

1. opens a transaction and locks the ticket row (``select_for_update``);
2. checks the actor's role, the actor's unit scope and the current state against
   ``TRANSITIONS`` — in that order, so a user of another unit learns nothing
   about a ticket's state;
3. validates its input;
4. changes the ticket with ``update_fields`` (simple-history records a version);
5. writes exactly one ``TicketEvent`` on the ticket, its ``data`` built by the
   kind's builder in ``events``;
6. announces the change once the transaction commits, by calling
   ``cases.notifications.on_transition.event_announce`` (the one door from the
   workflow to messages and follow-up work).

Each is marked with the kind it writes (``@performs``): ``registry.VERBS[kind].function``.

Refusals are the exceptions of ``rules``.
"""

from datetime import datetime, time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from departments.models import Department, Grid
from departments.roles import Role
from departments.selectors import Territory, person_name, staff_profile, territory_resolve

from .. import clock, reference
from ..attachments import attachments_store, attachments_validate, stored_files_guard
from ..deadlines.calendar import calendar_for, get_calendar
from ..deadlines.policy import clock_times, deadline_limits
from ..models import (
    OPEN_STATES,
    PROACTIVE_CHANNELS,
    Attachment,
    Category,
    CoHandling,
    DispatchHop,
    InvalidKind,
    Nature,
    ReasonCode,
    ReplyResult,
    Ticket,
    TicketApplication,
    TicketEvent,
    TimeUnit,
    Urge,
    Urgency,
)
from ..notifications import on_transition  # the module: it reads the registry, so may still be loading
from ..numbering import ticket_number_next, urge_number_next, urge_numbers_next
from ..public import public_by_default, public_summary_scrub
from ..selectors.scope import staff_centre, user_unit_ids
from . import chain
from .catalogue import catalogue_check
from .events import (
    application_data,
    approved_data,
    arbitration_requested_data,
    arbitration_ruled_data,
    centre_returned_data,
    centre_signed_data,
    chain_back_data,
    cohandler_data,
    cohandlers_added_data,
    contacted_data,
    created_data,
    dispatched_data,
    escalated_data,
    extension_approved_data,
    extension_requested_data,
    head_signed_data,
    invalidated_data,
    master_closed_data,
    merged_data,
    objection_rejected_data,
    objection_requested_data,
    objection_upheld_data,
    publicity_changed_data,
    reopened_data,
    replied_data,
    return_approved_data,
    return_requested_data,
    rework_data,
    signed_data,
    subdispatched_data,
    transferred_data,
    urge_acknowledged_data,
    urged_data,
)
from .registry import performs
from .rules import (
    ERR_CATEGORY_INACTIVE,
    ERR_CENTRE_SIGNED_ALREADY,
    ERR_COHANDLER_EXISTS,
    ERR_COHANDLER_IS_LEAD,
    ERR_COHANDLER_OUT_OF_RULES,
    ERR_CONTACT_FIRST,
    ERR_EXTENSION_CAP,
    ERR_EXTENSION_DAYS,
    ERR_EXTENSION_LATE,
    ERR_EXTENSION_NO_CLOCK,
    ERR_FIRST_RECEIVER,
    ERR_GRID_NO_WORKER,
    ERR_HAND_BACK_UNSIGNED,
    ERR_INVALID_KIND,
    ERR_MERGE_HAS_CHILDREN,
    ERR_MERGE_MASTER_MERGED,
    ERR_MERGE_MASTER_STATE,
    ERR_MERGE_SELF,
    ERR_NO_CHAIN,
    ERR_NO_PENDING_APPLICATION,
    ERR_NOT_AT_CENTRE,
    ERR_NOT_COHANDLER,
    ERR_NOT_DISPATCHED,
    ERR_NOT_MULTI_UNIT,
    ERR_NOT_SUBCENTRE,
    ERR_PENDING_APPLICATION,
    ERR_PHONE,
    ERR_PUBLICITY_SAME,
    ERR_REASON_CODE,
    ERR_REPLY_BY_LEAD,
    ERR_REPLY_REASON,
    ERR_REPLY_RESULT,
    ERR_REQUIRED_TEXT,
    ERR_SAME_CENTRE,
    ERR_SAME_DEPARTMENT,
    ERR_SUBDISPATCH_GRID,
    ERR_SUBDISPATCH_ONE_TARGET,
    ERR_SUBDISPATCH_TARGET,
    ERR_SUBDISPATCH_UNSIGNED,
    ERR_TAKE_BACK_SELF,
    PHONE,
    TRANSITIONS,
    Kind,
    S,
    WorkflowError,
    _actor_role,
    _authorize,
    _check_unit,
    _require_text,
    awaits_centre_sign,
    check_centre_target,
    cohandler_allowed,
    first_receiver_bound,
    ticket_is_down_the_chain,
)

# -- plumbing ----------------------------------------------------------------------


#: What the verbs need besides the row, read with it in the one locking statement:
#: the current dispatch (:func:`_current_dispatch_id`) and whether there is
#: anything to cancel, close or end (so a verb skips the statement when not).
_LOCK_ANNOTATIONS = {
    "locked_dispatch_id": Subquery(
        TicketEvent.objects.filter(ticket=OuterRef("pk"), kind=Kind.DISPATCHED)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    ),
    "locked_has_pending": Exists(
        TicketApplication.objects.filter(ticket=OuterRef("pk"), status=TicketApplication.Status.PENDING)
    ),
    "locked_has_merged": Exists(Ticket.objects.filter(merged_into=OuterRef("pk"), state=S.MERGED)),
    "locked_has_cohandlings": Exists(CoHandling.objects.filter(ticket=OuterRef("pk"))),
    "locked_has_open_hops": Exists(DispatchHop.objects.filter(ticket=OuterRef("pk"), ended_at__isnull=True)),
}


def _lock(ticket: Ticket) -> Ticket:
    """The ticket, locked for this transaction, with what the verbs need about its
    rows (``_LOCK_ANNOTATIONS``) and its category and units from the reference
    data. Callers read the clock after it: an action that waited for another must
    not be stamped before it."""
    sql, params = _lock_sql(ticket.pk)
    found = list(Ticket.objects.raw(sql, params))
    if not found:
        raise Ticket.DoesNotExist
    t = found[0]
    _prime_reference(t)
    return t


#: A ticket id no row has, marking the id's place among the lock query's parameters.
_LOCK_PK_MARK = -(2**62) + 12345
_lock_sql_compiled: dict[str, tuple[str, list, int]] = {}


def _lock_sql(pk: int) -> tuple[str, list]:
    """The locking read of :func:`_lock` for ticket ``pk``, compiled by the ORM once
    per database (compiling its subqueries cost more CPU than running it)."""
    compiled = _lock_sql_compiled.get(connection.vendor)
    if compiled is None:
        queryset = Ticket.objects.select_for_update(of=("self",)).annotate(**_LOCK_ANNOTATIONS).filter(pk=_LOCK_PK_MARK)
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        params = list(params)
        compiled = _lock_sql_compiled[connection.vendor] = (sql, params, params.index(_LOCK_PK_MARK))
    sql, params, index = compiled
    params = params.copy()
    params[index] = pk
    return sql, params


def _prime_reference(t: Ticket) -> None:
    """Set the ticket's category and units from the cached reference data, so
    reading them costs no statement (one not in the cache is read as before)."""
    units = reference.units()
    for field, cached in (
        ("category", reference.categories().get(t.category_id)),
        ("lead_department", units.get(t.lead_department_id)),
        ("assignee_department", units.get(t.assignee_department_id)),
    ):
        if cached is not None:
            Ticket._meta.get_field(field).set_cached_value(t, cached)


def _locked(t: Ticket, name: str) -> bool:
    """A flag of ``_LOCK_ANNOTATIONS`` (True when the row was read without it:
    then the verb looks)."""
    return getattr(t, name, True)


def _actor_department_id(actor):
    profile = staff_profile(actor)
    return profile.department_id if profile else None


def _record(
    ticket: Ticket,
    *,
    actor,
    kind: str,
    from_state,
    fields: list[str],
    now,
    note: str = "",
    data: dict | None = None,
    facts: dict | None = None,
) -> TicketEvent:
    """Save the changed fields (a history version) and write the one timeline event,
    with its facts (``unit``, ``dispatch``, ``due_at``, ``on_time``: see
    :func:`_facts`) and the resolve round it belongs to."""
    assert ticket.state in TRANSITIONS[kind].targets, (kind, ticket.state)
    ticket.refresh_deadline_summary()
    ticket._history_user = actor
    ticket._change_reason = kind
    ticket._history_date = now
    ticket.save(update_fields=[*fields, "state", "next_due_at", "next_warn_at", "updated_at"])
    event = TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor,
        actor_department_id=_actor_department_id(actor),
        created_at=now,
        from_state=from_state or "",
        to_state=ticket.state,
        note=note,
        data=data or {},
        round=ticket.reopen_count + 1,
        **(facts or {}),
    )
    _announce(ticket, event)
    return event


def _current_dispatch(ticket: Ticket) -> TicketEvent | None:
    """The dispatch the ticket is in (its last ``dispatched`` event): the unit of
    account of 签收及时率, 响应率, 退单率 and 延期率."""
    return ticket.events.filter(kind=Kind.DISPATCHED).order_by("-created_at", "-pk").first()


def _current_dispatch_id(ticket: Ticket) -> int | None:
    """The id of :func:`_current_dispatch`, as read by :func:`_lock`."""
    if hasattr(ticket, "locked_dispatch_id"):
        return ticket.locked_dispatch_id
    dispatch = _current_dispatch(ticket)
    return dispatch.pk if dispatch else None


def _facts(*, unit_id, dispatch=None, dispatch_id=None, due_at=None, on_time=None) -> dict:
    """The fact columns of an event (DESIGN §6 "Facts and attribution"): the unit
    the fact is charged to, the dispatch it belongs to (the event or its id), the
    deadline it was measured against and whether it was met — fixed now, never
    rewritten."""
    return {
        "unit_id": unit_id,
        "dispatch_id": dispatch.pk if dispatch is not None else dispatch_id,
        "due_at": due_at,
        "on_time": on_time,
    }


def _close_facts(ticket: Ticket, now) -> dict:
    """A close ends a resolve round: charged to the lead unit, measured against
    the round's final deadline."""
    due = ticket.resolve_due_at
    return _facts(
        unit_id=ticket.lead_department_id,
        dispatch_id=_current_dispatch_id(ticket),
        due_at=due,
        on_time=due is None or now <= due,
    )


def _announce(ticket: Ticket, event: TicketEvent) -> None:
    """Once the transaction commits (never for work that is rolled back), tell
    ``on_transition`` what happened: it notifies the units and queues follow-up
    work, and never raises."""
    ticket_id, event_id, kind = ticket.pk, event.pk, event.kind
    transaction.on_commit(lambda: on_transition.event_announce(ticket_id=ticket_id, event_id=event_id, kind=kind))


def _cancel_pending_applications(ticket: Ticket, actor, now) -> None:
    if not _locked(ticket, "locked_has_pending"):
        return
    ticket.applications.filter(status=TicketApplication.Status.PENDING).update(
        status=TicketApplication.Status.CANCELLED, decided_at=now, decided_by=actor
    )


def _clear_clocks(ticket: Ticket) -> list[str]:
    fields = [
        "sign_due_at",
        "sign_warn_at",
        "contact_due_at",
        "contact_warn_at",
        "resolve_due_at",
        "resolve_warn_at",
    ]
    for name in fields:
        setattr(ticket, name, None)
    return fields


def _back_to_centre(t: Ticket, now) -> list[str]:
    """The ticket leaves its units for the centre's 待派单 (an approved return, an
    upheld objection, an arbitration that takes it back): no lead, no holder, no
    open chain, no clocks. Returns the fields to save."""
    t.state = S.RECEIVED
    t.lead_department = t.assignee_department = None
    t.signed_at = t.first_contact_at = t.handler = None
    chain.chain_leave(t, now=now)
    return [
        *_clear_clocks(t),
        "lead_department",
        "assignee_department",
        "assignee_worker",
        "signed_at",
        "first_contact_at",
        "handler",
    ]


def _mark_problem(ticket: Ticket) -> bool:
    """问题工单: too many reworks or too many units passing it on."""
    problem = (
        ticket.rework_count >= settings.PROBLEM_REWORK_THRESHOLD
        or ticket.units_passed >= settings.PROBLEM_UNITS_THRESHOLD
    )
    newly = problem and not ticket.is_problem
    ticket.is_problem = ticket.is_problem or problem
    return newly


def _now():
    return clock.now()


# -- intake ------------------------------------------------------------------------


@performs(Kind.CREATED)
def ticket_create(
    *,
    actor,
    channel: str,
    category: Category,
    content: str,
    nature: str = "",
    urgency: str = "",
    citizen_name: str = "",
    citizen_phone: str = "",
    is_anonymous: bool = False,
    is_confidential: bool = False,
    address: str = "",
    latitude=None,
    longitude=None,
    grid: Grid | None = None,
    community: Department | None = None,
    is_proactive: bool | None = None,
    external_id: str = "",
    attachments=(),
    note: str = "",
) -> Ticket:
    """Register a new demand (受理). Nature and urgency default from the category;
    the place is resolved onto grid / community / street / district."""
    _authorize(Kind.CREATED, None, actor)
    content = _require_text(content, _("诉求内容"))
    category = reference.categories().get(category.pk, category)  # its parents cached: no statement
    if not category.is_active:
        raise WorkflowError(ERR_CATEGORY_INACTIVE, code="category_inactive", params={"name": category.name})
    default_nature, default_urgency = category.resolved_defaults()
    nature = nature or default_nature
    urgency = urgency or default_urgency
    if nature not in Nature.values or urgency not in Urgency.values:
        raise WorkflowError(_("诉求性质或紧急程度无效。"), code="invalid_choice")
    citizen_phone = citizen_phone.strip()
    if citizen_phone and not PHONE.fullmatch(citizen_phone):
        # Keyed by the field, so a form or the API shows it next to the number.
        raise WorkflowError({"citizen_phone": WorkflowError(ERR_PHONE, code="phone")})
    if is_anonymous:
        citizen_name = ""
    validated = attachments_validate(attachments)
    is_proactive = channel in PROACTIVE_CHANNELS if is_proactive is None else is_proactive
    territory: Territory = territory_resolve(
        grid=grid, community=community, address=address, latitude=latitude, longitude=longitude
    )
    now = _now()
    number = ticket_number_next(clock.local_day(now))
    # A sub-centre's own intake belongs to it, signed from the start.
    centre = staff_centre(actor)
    centre = centre.unit if centre is not None else None
    with stored_files_guard() as stored, transaction.atomic():
        ticket = Ticket(
            number=number,
            channel=channel,
            nature=nature,
            urgency=urgency,
            category=category,
            content=content,
            is_proactive=is_proactive,
            is_public=public_by_default(channel=channel, is_proactive=is_proactive),
            external_id=external_id,
            citizen_name=citizen_name.strip(),
            citizen_phone=citizen_phone.strip(),
            is_anonymous=is_anonymous,
            is_confidential=is_confidential,
            address=address.strip(),
            latitude=latitude,
            longitude=longitude,
            grid=territory.grid,
            community=territory.community,
            street=territory.street,
            district=territory.district,
            state=S.RECEIVED,
            received_at=now,
            created_by=actor,
            centre=centre,
            centre_signed_at=now if centre is not None else None,
        )
        ticket._history_user = actor
        ticket._change_reason = Kind.CREATED
        ticket._history_date = now
        ticket.save()
        event = TicketEvent.objects.create(
            ticket=ticket,
            kind=Kind.CREATED,
            actor=actor,
            actor_department_id=_actor_department_id(actor),
            created_at=now,
            from_state="",
            to_state=S.RECEIVED,
            note=note,
            data=created_data(channel=channel),
            round=1,
        )
        attachments_store(
            ticket=ticket,
            event=event,
            validated=validated,
            actor=actor,
            kind=Attachment.Kind.EVIDENCE,
            stored=stored,
        )
        _announce(ticket, event)
    ticket.created_event = event  # its timeline so far, for a caller that shows it (the API)
    return ticket


@performs(Kind.ANSWERED)
def ticket_answer(*, ticket: Ticket, actor, text: str, result: str = ReplyResult.EXPLAINED) -> Ticket:
    """直接办结: the operator answers on the call (knowledge base) and closes."""
    text = _require_text(text, _("答复内容"))
    if result not in (ReplyResult.SOLVED, ReplyResult.EXPLAINED):
        raise WorkflowError(ERR_REPLY_RESULT, code="result")
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.ANSWERED, t, actor)
        from_state = t.state
        t.state = S.CLOSED
        t.reply_result, t.reply_text, t.replied_at, t.closed_at = result, text, now, now
        t.callback_exempt = False
        _record(
            t,
            actor=actor,
            kind=Kind.ANSWERED,
            from_state=from_state,
            now=now,
            note=text,
            fields=["reply_result", "reply_text", "replied_at", "closed_at", "callback_exempt"],
            facts=_close_facts(t, now),
        )
        _close_merged(t, actor, now)
    return t


# -- dispatch ----------------------------------------------------------------------


@performs(Kind.DISPATCHED)
def ticket_dispatch(
    *, ticket: Ticket, actor, department: Department, cohandlers=(), note: str = "", catalogue_reason: str = ""
) -> Ticket:
    """派单: the centre sends the ticket to a lead unit (and co-handlers). Starts the
    sign and resolve clocks. From ``dispatched`` (not yet signed) it re-dispatches.
    A lead unit whose kind the category's 派单目录 excludes needs ``catalogue_reason``;
    the event records ``off_catalogue`` and the reason (``catalogue.catalogue_check``)."""
    _check_unit(department)
    cohandlers = list(dict.fromkeys(cohandlers))
    for unit in cohandlers:
        _check_unit(unit)
        if unit.pk == department.pk:
            raise WorkflowError(ERR_COHANDLER_IS_LEAD, code="cohandler_is_lead")
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.DISPATCHED, t, actor)
        for unit in (department, *cohandlers):
            check_centre_target(actor, unit)
        taken_back = awaits_centre_sign(t)
        if t.lead_department_id == department.pk:
            raise WorkflowError(ERR_SAME_DEPARTMENT, code="same_department", params={"name": department.name})
        off_catalogue, catalogue_reason = catalogue_check(t.category, department, catalogue_reason)
        from_state = t.state
        previous = t.lead_department
        _cancel_pending_applications(t, actor, now)
        limits = deadline_limits(category=t.category, urgency=t.urgency, nature=t.nature, department=department)
        cal = calendar_for(department.pk)
        sign = clock_times(now, limits.sign, cal)
        resolve = clock_times(now, limits.resolve, cal)
        t.state = S.DISPATCHED
        t.lead_department = t.assignee_department = department
        t.dispatched_at = now
        t.first_dispatched_at = t.first_dispatched_at or now
        t.signed_at = t.first_contact_at = t.handler = t.subdispatched_at = None
        chain.chain_leave(t, now=now)
        fields = _clear_clocks(t)
        t.sign_due_at, t.sign_warn_at = sign.due_at, sign.warn_at
        t.resolve_due_at, t.resolve_warn_at = resolve.due_at, resolve.warn_at
        t.units_passed += 1
        newly_problem = _mark_problem(t)
        if taken_back:  # the city dispatches a transfer the sub-centre never signed: taken back
            t.centre = t.centre_sign_due_at = None
            fields += ["centre", "centre_sign_due_at"]
        _withdraw_cohandlers(t, [unit.pk for unit in cohandlers], now)
        added = _add_cohandlers(t, cohandlers, actor, now)
        _record(
            t,
            actor=actor,
            kind=Kind.DISPATCHED,
            from_state=from_state,
            now=now,
            note=note,
            fields=[
                *fields,
                "lead_department",
                "assignee_department",
                "assignee_worker",
                "dispatched_at",
                "first_dispatched_at",
                "signed_at",
                "subdispatched_at",
                "first_contact_at",
                "units_passed",
                "is_problem",
            ],
            data=dispatched_data(
                department=department,
                previous=previous,
                cohandlers=added,
                sign_due_at=sign.due_at,
                resolve_due_at=resolve.due_at,
                became_problem=newly_problem,
                off_catalogue=off_catalogue,
                catalogue_reason=catalogue_reason,
            ),
            facts={**_facts(unit_id=department.pk, due_at=sign.due_at), "off_catalogue": off_catalogue},
        )
    return t


def _add_cohandlers(t: Ticket, departments, actor, now) -> list[Department]:
    """Add co-handling units; a unit whose earlier co-handling was withdrawn is
    brought back in."""
    if not departments:
        return []
    rows = {row.department_id: row for row in t.cohandlings.all()}
    added = []
    for unit in departments:
        if unit.pk == t.lead_department_id:
            raise WorkflowError(ERR_COHANDLER_IS_LEAD, code="cohandler_is_lead")
        row = rows.get(unit.pk)
        if row is None:
            rows[unit.pk] = CoHandling.objects.create(ticket=t, department=unit, added_by=actor, added_at=now)
        elif row.status == CoHandling.Status.CANCELLED:
            row.status, row.added_by, row.added_at = CoHandling.Status.PENDING, actor, now
            row.signed_at = row.signed_by = row.replied_at = row.replied_by = None
            row.reply_text = ""
            row.save()
        else:
            continue
        added.append(unit)
    return added


def _withdraw_cohandlers(t: Ticket, keep_ids, now) -> None:
    """A new dispatch brings its own co-handlers: earlier ones not chosen again (and
    the new lead unit itself) stop co-handling."""
    if not _locked(t, "locked_has_cohandlings"):
        return
    active = t.cohandlings.exclude(status=CoHandling.Status.CANCELLED)
    stale = active.exclude(department_id__in=keep_ids).exclude(status=CoHandling.Status.REPLIED)
    stale.update(status=CoHandling.Status.CANCELLED)
    active.filter(department_id=t.lead_department_id).update(status=CoHandling.Status.CANCELLED)


@performs(Kind.SUBDISPATCHED)
def ticket_subdispatch(
    *,
    ticket: Ticket,
    actor,
    department: Department | None = None,
    grid: Grid | None = None,
    note: str = "",
    catalogue_reason: str = "",
) -> Ticket:
    """下派: the unit holding the ticket (the lead unit, or a unit it was passed down
    to) passes it one level down the tree — to a child unit, or, from a community,
    to the worker of one of its grids (网格员). The holder must have signed; the
    receiver must sign before it may pass it further. Each hop is recorded
    (``DispatchHop``) with its own sign clock (the ticket's policy, the receiver's
    calendar), which the receiver's sign stops. The lead unit stays accountable:
    the resolve clock and the reply to the centre stay with it. A hop to a unit
    whose kind the category's 派单目录 excludes (a bureau-only category sent down
    to a community) needs ``catalogue_reason``, like a dispatch."""
    if (department is None) == (grid is None):
        raise WorkflowError(ERR_SUBDISPATCH_ONE_TARGET, code="target")
    if department is not None:
        _check_unit(department)
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.SUBDISPATCHED, t, actor)
        if t.state != S.HANDLING:
            raise WorkflowError(ERR_SUBDISPATCH_UNSIGNED, code="unsigned")
        holder = t.assignee_department
        worker = None
        if grid is not None:
            if grid.community_id != holder.pk or not grid.is_active:
                raise WorkflowError(ERR_SUBDISPATCH_GRID, code="target")
            if grid.worker_id is None:
                raise WorkflowError(ERR_GRID_NO_WORKER, code="no_worker", params={"name": grid.name})
            worker, receiver = grid.worker, holder
        else:
            if department.parent_id != holder.pk:
                raise WorkflowError(ERR_SUBDISPATCH_TARGET, code="target")
            receiver = department
        off_catalogue = False
        if department is not None:
            off_catalogue, catalogue_reason = catalogue_check(t.category, department, catalogue_reason)
        from_state = t.state
        limits = deadline_limits(category=t.category, urgency=t.urgency, nature=t.nature, department=receiver)
        sign = clock_times(now, limits.sign, calendar_for(receiver.pk))
        hop = chain.hop_open(
            ticket=t,
            actor=actor,
            dispatch_id=_current_dispatch_id(t),
            to_department=receiver,
            to_worker=worker,
            grid=grid,
            sign=sign,
            now=now,
        )
        t.state = S.DISPATCHED
        t.assignee_department, t.assignee_worker = receiver, worker
        t.subdispatched_at = now
        t.sign_due_at, t.sign_warn_at = sign.due_at, sign.warn_at
        _record(
            t,
            actor=actor,
            kind=Kind.SUBDISPATCHED,
            from_state=from_state,
            now=now,
            note=note,
            fields=["assignee_department", "assignee_worker", "subdispatched_at", "sign_due_at", "sign_warn_at"],
            data=subdispatched_data(
                department=receiver,
                previous=holder,
                sign_due_at=sign.due_at,
                worker=worker,
                grid=grid,
                hop=hop,
                off_catalogue=off_catalogue,
                catalogue_reason=catalogue_reason if off_catalogue else "",
            ),
            facts={"off_catalogue": off_catalogue},
        )
    return t


@performs(Kind.TAKEN_BACK)
def ticket_take_back(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """收回: a unit above the holder on the chain (the lead unit, or a unit between)
    pulls the ticket back to itself; the hops below it end. It had signed before
    passing the ticket on, so it handles it at once (no sign clock)."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.TAKEN_BACK, t, actor)
        hops = chain.hops_open(t)
        if not hops:
            raise WorkflowError(ERR_NO_CHAIN, code="no_chain")
        target_id = t.lead_department_id if actor.is_superuser else _actor_department_id(actor)
        index = next((i for i, hop in enumerate(hops) if hop.from_department_id == target_id), None)
        if index is None:
            raise WorkflowError(ERR_TAKE_BACK_SELF, code="no_chain")
        return _chain_back(t, actor, now, hops[index:], kind=Kind.TAKEN_BACK, end=chain.End.TAKEN_BACK, note=note)


@performs(Kind.HANDED_BACK)
def ticket_hand_back(*, ticket: Ticket, actor, note: str) -> Ticket:
    """交回上级: the holder down the chain (a unit below the lead, or the grid worker)
    gives the ticket back to the unit that sent it, with what it did (e.g. the
    grid worker reports the on-site work done). The lead unit replies to the centre."""
    note = _require_text(note, _("交回说明"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.HANDED_BACK, t, actor)
        hops = chain.hops_open(t)
        if not hops:
            raise WorkflowError(ERR_NO_CHAIN, code="no_chain")
        if t.state != S.HANDLING:
            raise WorkflowError(ERR_HAND_BACK_UNSIGNED, code="unsigned")
        return _chain_back(t, actor, now, hops[-1:], kind=Kind.HANDED_BACK, end=chain.End.HANDED_BACK, note=note)


def _chain_back(t: Ticket, actor, now, hops, *, kind, end, note) -> Ticket:
    """Back up the chain to where ``hops[0]`` started; the hops end."""
    previous, previous_worker = t.assignee_department, t.assignee_worker
    from_state = t.state
    ended = chain.hops_end(hops, end=end, now=now)
    t.assignee_department = hops[0].from_department
    t.assignee_worker = None
    t.state = S.HANDLING
    _record(
        t,
        actor=actor,
        kind=kind,
        from_state=from_state,
        now=now,
        note=note,
        fields=["assignee_department", "assignee_worker"],
        data=chain_back_data(department=t.assignee_department, previous=previous, worker=previous_worker, hops=ended),
    )
    return t


# -- handling ----------------------------------------------------------------------


@performs(Kind.SIGNED)
def ticket_sign(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """签收: the assigned unit acknowledges the ticket. The lead unit's first sign
    stops the sign clock and starts the contact clock."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.SIGNED, t, actor)
        from_state = t.state
        fields = []
        on_time = contact_due_at = None
        facts = None
        t.handler = actor
        fields.append("handler")
        if t.signed_at is None:
            # The lead unit's first sign of this dispatch: 签收及时率's fact.
            facts = _facts(
                unit_id=t.lead_department_id,
                dispatch_id=_current_dispatch_id(t),
                due_at=t.sign_due_at,
                on_time=t.sign_due_at is None or now <= t.sign_due_at,
            )
            lead = t.lead_department
            limits = deadline_limits(category=t.category, urgency=t.urgency, nature=t.nature, department=lead)
            contact = clock_times(now, limits.contact, calendar_for(t.lead_department_id))
            t.signed_at = now
            t.contact_due_at, t.contact_warn_at = contact.due_at, contact.warn_at
            fields += ["signed_at", "contact_due_at", "contact_warn_at"]
            on_time, contact_due_at = t.sign_due_at is None or now <= t.sign_due_at, contact.due_at
        hop = None
        if ticket_is_down_the_chain(t):
            # A hop's sign: the hop's own fact, on its row (not the lead's 签收及时率).
            hop = chain.hop_sign(ticket=t, actor=actor, now=now)
        t.state = S.HANDLING
        data = signed_data(
            department=t.assignee_department,
            on_time=on_time,
            contact_due_at=contact_due_at,
            hop=hop,
            worker=t.assignee_worker,
        )
        _record(
            t,
            actor=actor,
            kind=Kind.SIGNED,
            from_state=from_state,
            now=now,
            note=note,
            fields=fields,
            data=data,
            facts=facts,
        )
    return t


@performs(Kind.CONTACTED)
def ticket_contact(*, ticket: Ticket, actor, note: str) -> Ticket:
    """响应: record that the handler reached the citizen (how, and what was agreed)."""
    note = _require_text(note, _("联系情况"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.CONTACTED, t, actor)
        fields = []
        facts = None
        first = t.first_contact_at is None
        if first:
            # The first contact of this dispatch: 响应率's fact, measured against the
            # contact deadline its first sign started (a reopen clears the ticket's
            # column, not the deadline the dispatch was given).
            dispatch_id = _current_dispatch_id(t)
            due = t.contact_due_at or _contact_due(dispatch_id)
            facts = _facts(
                unit_id=t.lead_department_id, dispatch_id=dispatch_id, due_at=due, on_time=due is None or now <= due
            )
            t.first_contact_at = now
            fields.append("first_contact_at")
        data = contacted_data(first=first, on_time=facts["on_time"] if facts else None)
        _record(
            t,
            actor=actor,
            kind=Kind.CONTACTED,
            from_state=t.state,
            now=now,
            note=note,
            fields=fields,
            data=data,
            facts=facts,
        )
    return t


def _contact_due(dispatch_id: int | None):
    """The contact deadline the first sign of the dispatch ``dispatch_id`` started."""
    if dispatch_id is None:
        return None
    signed = (
        TicketEvent.objects.filter(dispatch_id=dispatch_id, kind=Kind.SIGNED, on_time__isnull=False)
        .only("data")
        .first()
    )
    value = signed.data.get("contact_due_at") if signed else None
    return datetime.fromisoformat(value) if value else None


@performs(Kind.PROGRESS)
def ticket_progress(*, ticket: Ticket, actor, note: str, attachments=(), kind=Attachment.Kind.BEFORE) -> Ticket:
    """办理进展: a note (and photos) on the way to the reply."""
    note = _require_text(note, _("办理进展"))
    validated = attachments_validate(attachments)
    with stored_files_guard() as stored, transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.PROGRESS, t, actor)
        event = _record(t, actor=actor, kind=Kind.PROGRESS, from_state=t.state, now=now, note=note, fields=[])
        attachments_store(ticket=t, event=event, validated=validated, actor=actor, kind=kind, stored=stored)
    return t


@performs(Kind.REPLIED)
def ticket_reply(
    *, ticket: Ticket, actor, result: str, text: str, reason: str = "", public_summary: str = "", attachments=()
) -> Ticket:
    """办理反馈: the unit reports what was done; the centre reviews it next. The
    citizen must have been contacted first, unless they left no way to reach them.
    ``public_summary`` is the 公开答复摘要 the unit approves for public pages; it is
    scrubbed of personal data here, and left empty the pages show only the result."""
    if result not in ReplyResult.values:
        raise WorkflowError(ERR_REPLY_RESULT, code="result")
    text = _require_text(text, _("办理情况"))
    reason = (reason or "").strip()
    if result == ReplyResult.UNSOLVABLE and not reason:
        raise WorkflowError(ERR_REPLY_REASON, code="reason")
    validated = attachments_validate(attachments)
    with stored_files_guard() as stored, transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.REPLIED, t, actor)
        _require_lead_holds(t)
        reachable = bool(t.citizen_phone) and not t.is_anonymous
        if reachable and t.first_contact_at is None:
            raise WorkflowError(ERR_CONTACT_FIRST, code="contact_first")
        from_state = t.state
        # 一把手签批: a handler's reply waits for the unit head; the head's goes on.
        needs_head = t.head_signoff_required and not (actor.is_superuser or _actor_role(actor) == Role.UNIT_HEAD)
        kind = Kind.REPLY_DRAFTED if needs_head else Kind.REPLIED
        if needs_head:
            t.signoff_pending = True
        else:
            t.state = S.REVIEWING
            t.signoff_pending = False
            t.replied_at = now
        t.reply_result, t.reply_text, t.reply_reason = result, text, reason
        t.public_summary = public_summary_scrub(public_summary, t)
        event = _record(
            t,
            actor=actor,
            kind=kind,
            from_state=from_state,
            now=now,
            note=text,
            fields=["reply_result", "reply_text", "reply_reason", "public_summary", "replied_at", "signoff_pending"],
            data=replied_data(
                result=result, reason=reason, department=t.assignee_department, public_summary=t.public_summary
            ),
        )
        attachments_store(
            ticket=t, event=event, validated=validated, actor=actor, kind=Attachment.Kind.AFTER, stored=stored
        )
    return t


def _require_lead_holds(t: Ticket) -> None:
    """The lead unit replies to the centre (DESIGN §4): a unit down the chain hands
    the ticket back up with its result first."""
    if ticket_is_down_the_chain(t):
        holder = t.assignee_worker or t.assignee_department
        name = person_name(holder) if t.assignee_worker_id else holder.name
        raise WorkflowError(ERR_REPLY_BY_LEAD, code="down_the_chain", params={"name": name})


# -- review ------------------------------------------------------------------------


@performs(Kind.APPROVED)
def ticket_approve(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """审核通过: the centre accepts the reply and closes the ticket; tickets merged
    into it take its result."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.APPROVED, t, actor)
        from_state = t.state
        _cancel_pending_applications(t, actor, now)
        t.state = S.CLOSED
        t.closed_at = now
        t.callback_exempt = False
        facts = _close_facts(t, now)
        _record(
            t,
            actor=actor,
            kind=Kind.APPROVED,
            from_state=from_state,
            now=now,
            note=note,
            fields=["closed_at", "callback_exempt"],
            data=approved_data(on_time=facts["on_time"]),
            facts=facts,
        )
        _close_merged(t, actor, now)
    return t


def _close_merged(master: Ticket, actor, now) -> None:
    if not _locked(master, "locked_has_merged"):
        return
    for child in Ticket.objects.select_for_update().filter(merged_into=master, state=S.MERGED):
        child.reply_result, child.reply_text = master.reply_result, master.reply_text
        child.public_summary = master.public_summary
        child.replied_at, child.closed_at = master.replied_at, now
        _record(
            child,
            actor=actor,
            kind=Kind.MASTER_CLOSED,
            from_state=S.MERGED,
            now=now,
            note=master.reply_text,
            fields=["reply_result", "reply_text", "public_summary", "replied_at", "closed_at"],
            data=master_closed_data(master=master),
        )


@performs(Kind.REWORK)
def ticket_rework(*, ticket: Ticket, actor, reason: str, reason_code: ReasonCode | None = None) -> Ticket:
    """退回重办: the centre rejects the reply (避重就轻、推诿、答非所问), optionally with
    a coded reason (a ``ReasonCode`` of kind rework) that the reports count per unit."""
    reason = _require_text(reason, _("退回理由"))
    _check_reason_code(reason_code, ReasonCode.Kind.REWORK)
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.REWORK, t, actor)
        from_state = t.state
        t.state = S.HANDLING
        t.rework_count += 1
        newly_problem = _mark_problem(t)
        _record(
            t,
            actor=actor,
            kind=Kind.REWORK,
            from_state=from_state,
            now=now,
            note=reason,
            fields=["rework_count", "is_problem"],
            data=rework_data(rework_count=t.rework_count, became_problem=newly_problem, reason_code=reason_code),
            # The unit whose reply was sent back: what the rework-reason breakdown counts.
            facts={
                **_facts(unit_id=t.lead_department_id, dispatch_id=_current_dispatch_id(t)),
                "reason_code": reason_code,
            },
        )
    return t


def _check_reason_code(reason_code: ReasonCode | None, kind: str) -> None:
    if reason_code is not None and (reason_code.kind != kind or not reason_code.is_active):
        raise WorkflowError(ERR_REASON_CODE, code="reason_code", params={"label": reason_code.label})


# -- return (退单) ------------------------------------------------------------------


@performs(Kind.RETURN_REQUESTED)
def ticket_return_request(
    *, ticket: Ticket, actor, reason: str, reason_code: ReasonCode | None = None
) -> TicketApplication:
    """申请退单: the lead unit says "not ours" (optionally with a coded reason, a
    ``ReasonCode`` of kind return). The clock keeps running until the centre rules."""
    reason = _require_text(reason, _("退单理由"))
    _check_reason_code(reason_code, ReasonCode.Kind.RETURN)
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.RETURN_REQUESTED, t, actor)
        _check_push_away(t)
        application = _open_application(t, TicketApplication.Kind.RETURN, actor, now, reason=reason)
        _record(
            t,
            actor=actor,
            kind=Kind.RETURN_REQUESTED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=[],
            data=return_requested_data(application=application, reason_code=reason_code),
            # The unit that asked: what the return-reason breakdown counts.
            facts={
                **_facts(unit_id=t.lead_department_id, dispatch_id=_current_dispatch_id(t)),
                "reason_code": reason_code,
            },
        )
    return application


@performs(Kind.RETURN_APPROVED)
def ticket_return_approve(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """同意退单: the ticket goes back to the centre for re-dispatch. Counted against
    the dispatch (派单准确率), not the unit."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.RETURN_APPROVED, t, actor)
        application = _pending_application(t, TicketApplication.Kind.RETURN)
        from_state = t.state
        returned_by = t.lead_department
        dispatch = _current_dispatch(t)
        _decide(application, TicketApplication.Status.APPROVED, actor, now, note)
        _cancel_pending_applications(t, actor, now)
        fields = _back_to_centre(t, now)
        t.return_count += 1
        _record(
            t,
            actor=actor,
            kind=Kind.RETURN_APPROVED,
            from_state=from_state,
            now=now,
            note=note or application.reason,
            fields=[*fields, "return_count"],
            data=return_approved_data(application=application, department=returned_by),
            facts=_facts(unit_id=returned_by.pk if returned_by else None, dispatch=dispatch),
        )
    return t


@performs(Kind.RETURN_REJECTED)
def ticket_return_reject(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """驳回退单: the ticket stays with the unit."""
    return _application_reject(ticket, actor, reason, kind=Kind.RETURN_REJECTED, applied=TicketApplication.Kind.RETURN)


def _check_push_away(t: Ticket) -> None:
    """A return and an objection both ask the centre to take the ticket back: not
    while either is pending, and not under 首接负责制 (``rules.first_receiver_bound``)."""
    if first_receiver_bound(t):
        raise WorkflowError(ERR_FIRST_RECEIVER, code="first_receiver")
    pending = t.applications.filter(
        kind__in=[TicketApplication.Kind.RETURN, TicketApplication.Kind.OBJECTION],
        status=TicketApplication.Status.PENDING,
    ).first()
    if pending is not None:
        raise WorkflowError(ERR_PENDING_APPLICATION, code="pending", params={"kind": pending.get_kind_display()})


# -- dispatch objection (派单异议) ------------------------------------------------------
#
# A return (退单) says "not ours": it counts against the unit (退单率) and against
# the dispatch (派单准确率). An objection (派单异议) says "this should not have been
# sent to a unit like us" — typically bureau work pushed down to a street or a
# community against the 派单目录. Upheld, the ticket goes back to 待派单 like an
# approved return, but only the dispatch is charged: the event's ``unit`` fact is
# empty, so no rate of the unit counts it. Rejected, the ticket stays with the unit
# and the reason is shown to it. The centre rules within
# ``DISPATCH_OBJECTION_RULING_WORKING_DAYS`` (the application's ``due_at``).


def objection_ruling_due(now) -> datetime:
    """The deadline for the centre's ruling on an objection filed at ``now`` (the
    centre's calendar)."""
    return get_calendar().add_limit(now, settings.DISPATCH_OBJECTION_RULING_WORKING_DAYS, TimeUnit.WORKING_DAY)


@performs(Kind.OBJECTION_REQUESTED)
def ticket_objection_request(
    *, ticket: Ticket, actor, reason: str, reason_code: ReasonCode | None = None
) -> TicketApplication:
    """派单异议: the lead unit objects to the dispatch it received (e.g. 属职能部门职责，
    不应下派基层), optionally with a coded reason (a ``ReasonCode`` of kind objection).
    The clocks keep running; the centre must rule by the application's ``due_at``."""
    reason = _require_text(reason, _("异议理由"))
    _check_reason_code(reason_code, ReasonCode.Kind.OBJECTION)
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.OBJECTION_REQUESTED, t, actor)
        _check_push_away(t)
        dispatch = _current_dispatch(t)
        if dispatch is None:
            raise WorkflowError(ERR_NOT_DISPATCHED, code="not_dispatched")
        application = _open_application(
            t, TicketApplication.Kind.OBJECTION, actor, now, reason=reason, due_at=objection_ruling_due(now)
        )
        _record(
            t,
            actor=actor,
            kind=Kind.OBJECTION_REQUESTED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=[],
            data=objection_requested_data(application=application, dispatch=dispatch, reason_code=reason_code),
            facts={**_facts(unit_id=t.lead_department_id, dispatch=dispatch), "reason_code": reason_code},
        )
    return application


@performs(Kind.OBJECTION_UPHELD)
def ticket_objection_uphold(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """异议成立: the ticket goes back to the centre for re-dispatch. Charged to the
    dispatch (派单准确率), not to the unit: the event names no ``unit``."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.OBJECTION_UPHELD, t, actor)
        application = _pending_application(t, TicketApplication.Kind.OBJECTION)
        from_state = t.state
        objected_by = t.lead_department
        dispatch = _current_dispatch(t)
        _decide(application, TicketApplication.Status.APPROVED, actor, now, note)
        _cancel_pending_applications(t, actor, now)
        fields = _back_to_centre(t, now)
        _record(
            t,
            actor=actor,
            kind=Kind.OBJECTION_UPHELD,
            from_state=from_state,
            now=now,
            note=note or application.reason,
            fields=fields,
            data=objection_upheld_data(
                application=application, department=objected_by, on_time=_ruled_in_time(application, now)
            ),
            facts=_facts(unit_id=None, dispatch=dispatch),
        )
    return t


@performs(Kind.OBJECTION_REJECTED)
def ticket_objection_reject(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """异议不成立: the ticket stays with the unit, which is told why."""
    reason = _require_text(reason, _("驳回理由"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.OBJECTION_REJECTED, t, actor)
        application = _pending_application(t, TicketApplication.Kind.OBJECTION)
        _decide(application, TicketApplication.Status.REJECTED, actor, now, reason)
        _record(
            t,
            actor=actor,
            kind=Kind.OBJECTION_REJECTED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=[],
            data=objection_rejected_data(application=application, on_time=_ruled_in_time(application, now)),
        )
    return t


# -- arbitration (首接负责制: 申请中心协调) ------------------------------------------------
#
# The first receiving unit of a multi-unit ticket may not push it away; when the
# co-handlers will not move it asks the centre to arbitrate. The centre keeps the
# lead (the ticket stays; the ruling is the note) or takes the ticket back to 待派单
# to dispatch it to another lead — with co-handlers of its choosing — through the
# ordinary dispatch. A coordination ruling is not a wrong dispatch: it is charged to
# nobody (no ``unit``; 派单准确率 counts returns and upheld objections only).


@performs(Kind.ARBITRATION_REQUESTED)
def ticket_arbitration_request(*, ticket: Ticket, actor, reason: str) -> TicketApplication:
    """申请中心协调: the lead unit of a multi-unit ticket (``first_receiver_bound``)
    asks the centre to rule on who leads it. The clocks keep running."""
    reason = _require_text(reason, _("协调事由"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.ARBITRATION_REQUESTED, t, actor)
        if not first_receiver_bound(t):
            raise WorkflowError(ERR_NOT_MULTI_UNIT, code="not_multi_unit")
        application = _open_application(
            t, TicketApplication.Kind.ARBITRATION, actor, now, reason=reason, due_at=objection_ruling_due(now)
        )
        _record(
            t,
            actor=actor,
            kind=Kind.ARBITRATION_REQUESTED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=[],
            data=arbitration_requested_data(application=application),
        )
    return application


@performs(Kind.ARBITRATION_RULED)
def ticket_arbitration_rule(*, ticket: Ticket, actor, note: str, redispatch: bool = False) -> Ticket:
    """协调裁定: the centre keeps the lead unit (``redispatch=False``: the ticket stays,
    the lead is told ``note``), or takes the ticket back to 待派单 to dispatch it to
    another lead (``redispatch=True``). Charged to nobody."""
    note = _require_text(note, _("裁定意见"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.ARBITRATION_RULED, t, actor)
        application = _pending_application(t, TicketApplication.Kind.ARBITRATION)
        from_state = t.state
        lead = t.lead_department
        status = TicketApplication.Status.APPROVED if redispatch else TicketApplication.Status.REJECTED
        _decide(application, status, actor, now, note)
        fields = []
        if redispatch:
            _cancel_pending_applications(t, actor, now)
            fields = _back_to_centre(t, now)
        _record(
            t,
            actor=actor,
            kind=Kind.ARBITRATION_RULED,
            from_state=from_state,
            now=now,
            note=note,
            fields=fields,
            data=arbitration_ruled_data(application=application, redispatch=bool(redispatch), department=lead),
        )
    return t


def _ruled_in_time(application: TicketApplication, now) -> bool:
    return application.due_at is None or now <= application.due_at


# -- extension (延期) ---------------------------------------------------------------


def extension_request_deadline(ticket: Ticket) -> datetime | None:
    """The last moment an extension may be asked for: the cut-off time (17:00 by
    default) on the local day the resolve deadline falls on, or the deadline itself
    if that comes first; ``None`` without a resolve deadline."""
    due = ticket.resolve_due_at
    if due is None:
        return None
    cal = calendar_for(ticket.lead_department_id)
    due_day = timezone.localtime(due, cal.tz).date()
    cutoff = cal.working_day_cutoff(due_day, time.fromisoformat(settings.EXTENSION_REQUEST_CUTOFF))
    return min(due, cutoff)


def extension_is_late(ticket: Ticket, now) -> bool:
    """Late: at or after the resolve deadline, or at or after the cut-off time
    (17:00 by default) on the local day the deadline falls on."""
    deadline = extension_request_deadline(ticket)
    return deadline is None or now >= deadline


def extension_due_after(ticket: Ticket, working_days: int) -> datetime | None:
    """The resolve deadline once ``working_days`` are granted (the unit's calendar)."""
    if ticket.resolve_due_at is None:
        return None
    return calendar_for(ticket.lead_department_id).add_limit(ticket.resolve_due_at, working_days, TimeUnit.WORKING_DAY)


@performs(Kind.EXTENSION_REQUESTED)
def ticket_extension_request(
    *, ticket: Ticket, actor, working_days: int, reason: str, attachments=()
) -> TicketApplication:
    """申请延期: must come before the deadline; the total is capped. Supporting
    documents (attachments) go on the request's event, where the ruling shows them."""
    reason = _require_text(reason, _("延期理由"))
    cap = settings.EXTENSION_MAX_WORKING_DAYS
    if not isinstance(working_days, int) or not 1 <= working_days <= cap:
        raise WorkflowError(ERR_EXTENSION_DAYS, code="days", params={"max": cap})
    validated = attachments_validate(attachments)
    with stored_files_guard() as stored, transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.EXTENSION_REQUESTED, t, actor)
        if t.resolve_due_at is None:
            raise WorkflowError(ERR_EXTENSION_NO_CLOCK, code="no_clock")
        if extension_is_late(t, now):
            raise WorkflowError(ERR_EXTENSION_LATE, code="late", params={"cutoff": settings.EXTENSION_REQUEST_CUTOFF})
        if t.extension_days + working_days > cap:
            raise WorkflowError(ERR_EXTENSION_CAP, code="cap", params={"limit": cap, "used": t.extension_days})
        application = _open_application(
            t, TicketApplication.Kind.EXTENSION, actor, now, reason=reason, working_days=working_days
        )
        event = _record(
            t,
            actor=actor,
            kind=Kind.EXTENSION_REQUESTED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=[],
            data=extension_requested_data(application=application, working_days=working_days),
        )
        attachments_store(
            ticket=t, event=event, validated=validated, actor=actor, kind=Attachment.Kind.OTHER, stored=stored
        )
    return application


@performs(Kind.EXTENSION_APPROVED)
def ticket_extension_approve(*, ticket: Ticket, actor, working_days: int | None = None, note: str = "") -> Ticket:
    """同意延期: moves the resolve deadline by the granted working days (at most
    what was asked)."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.EXTENSION_APPROVED, t, actor)
        application = _pending_application(t, TicketApplication.Kind.EXTENSION)
        days = application.working_days if working_days is None else working_days
        if not isinstance(days, int) or not 1 <= days <= application.working_days:
            raise WorkflowError(ERR_EXTENSION_DAYS, code="days", params={"max": application.working_days})
        cap = settings.EXTENSION_MAX_WORKING_DAYS
        if t.extension_days + days > cap:
            raise WorkflowError(ERR_EXTENSION_CAP, code="cap", params={"limit": cap, "used": t.extension_days})
        application.granted_days = days
        _decide(application, TicketApplication.Status.APPROVED, actor, now, note)
        cal = calendar_for(t.lead_department_id)
        previous_due = t.resolve_due_at
        t.resolve_due_at = extension_due_after(t, days)
        start = t.dispatched_at or now
        t.resolve_warn_at = cal.warn_time(start, t.resolve_due_at, TimeUnit.WORKING_DAY)
        t.extension_count += 1
        t.extension_days += days
        _record(
            t,
            actor=actor,
            kind=Kind.EXTENSION_APPROVED,
            from_state=t.state,
            now=now,
            note=note,
            fields=["resolve_due_at", "resolve_warn_at", "extension_count", "extension_days"],
            data=extension_approved_data(
                application=application,
                working_days=days,
                previous_due_at=previous_due,
                resolve_due_at=t.resolve_due_at,
            ),
            facts=_facts(
                unit_id=application.department_id or t.lead_department_id,
                dispatch_id=_current_dispatch_id(t),
                due_at=t.resolve_due_at,
            ),
        )
    return t


@performs(Kind.EXTENSION_REJECTED)
def ticket_extension_reject(*, ticket: Ticket, actor, reason: str) -> Ticket:
    return _application_reject(
        ticket, actor, reason, kind=Kind.EXTENSION_REJECTED, applied=TicketApplication.Kind.EXTENSION
    )


def _open_application(t: Ticket, kind, actor, now, **values) -> TicketApplication:
    if t.applications.filter(kind=kind, status=TicketApplication.Status.PENDING).exists():
        raise WorkflowError(
            ERR_PENDING_APPLICATION, code="pending", params={"kind": TicketApplication.Kind(kind).label}
        )
    return TicketApplication.objects.create(
        ticket=t, kind=kind, department=t.lead_department, requested_by=actor, requested_at=now, **values
    )


def _application_reject(ticket: Ticket, actor, reason: str, *, kind: str, applied: str) -> Ticket:
    """驳回 a pending return or extension request: the ticket stays as it is."""
    reason = _require_text(reason, _("驳回理由"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(kind, t, actor)
        application = _pending_application(t, applied)
        _decide(application, TicketApplication.Status.REJECTED, actor, now, reason)
        _record(
            t,
            actor=actor,
            kind=kind,
            from_state=t.state,
            now=now,
            note=reason,
            fields=[],
            data=application_data(application=application),
        )
    return t


def _pending_application(t: Ticket, kind) -> TicketApplication:
    application = t.applications.select_for_update().filter(kind=kind, status=TicketApplication.Status.PENDING).first()
    if application is None:
        raise WorkflowError(
            ERR_NO_PENDING_APPLICATION, code="no_pending", params={"kind": TicketApplication.Kind(kind).label}
        )
    return application


def _decide(application: TicketApplication, status, actor, now, note) -> None:
    application.status = status
    application.decided_by = actor
    application.decided_at = now
    application.decision_note = note or ""
    application.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "granted_days"])


# -- co-handling (吹哨报到) ----------------------------------------------------------


@performs(Kind.COHANDLERS_ADDED)
def ticket_cohandlers_add(*, ticket: Ticket, actor, departments, note: str = "") -> Ticket:
    """Bring co-handling units in (吹哨报到): the centre, or the lead unit or the unit
    holding the ticket down the chain "blowing the whistle" — whom a unit may
    summon is ``rules.cohandler_allowed``."""
    departments = list(dict.fromkeys(departments))
    if not departments:
        raise WorkflowError(ERR_REQUIRED_TEXT, code="required", params={"field": _("协办单位")})
    for unit in departments:
        _check_unit(unit)
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.COHANDLERS_ADDED, t, actor)
        for unit in departments:
            check_centre_target(actor, unit)  # a sub-centre's dispatcher: its subtree only
            if not cohandler_allowed(actor, t, unit):
                raise WorkflowError(ERR_COHANDLER_OUT_OF_RULES, code="out_of_rules", params={"name": unit.name})
        existing = set(
            t.cohandlings.exclude(status=CoHandling.Status.CANCELLED).values_list("department_id", flat=True)
        )
        for unit in departments:
            if unit.pk in existing:
                raise WorkflowError(ERR_COHANDLER_EXISTS, code="exists", params={"name": unit.name})
        added = _add_cohandlers(t, departments, actor, now)
        _record(
            t,
            actor=actor,
            kind=Kind.COHANDLERS_ADDED,
            from_state=t.state,
            now=now,
            note=note,
            fields=[],
            data=cohandlers_added_data(cohandlers=added),
        )
    return t


def _own_cohandling(t: Ticket, actor, status) -> CoHandling:
    unit_ids = user_unit_ids(actor)
    rows = t.cohandlings.select_for_update().filter(status=status)
    if unit_ids is not None:
        rows = rows.filter(department_id__in=unit_ids)
    own = rows.order_by("added_at").first()
    if own is None:
        raise WorkflowError(ERR_NOT_COHANDLER, code="not_cohandler")
    return own


@performs(Kind.COHANDLER_SIGNED)
def ticket_cohandler_sign(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """协办签收: the co-handling unit takes up its part."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.COHANDLER_SIGNED, t, actor)
        row = _own_cohandling(t, actor, CoHandling.Status.PENDING)
        row.status, row.signed_at, row.signed_by = CoHandling.Status.SIGNED, now, actor
        row.save(update_fields=["status", "signed_at", "signed_by"])
        _record(
            t,
            actor=actor,
            kind=Kind.COHANDLER_SIGNED,
            from_state=t.state,
            now=now,
            note=note,
            fields=[],
            data=cohandler_data(department=row.department),
        )
    return t


@performs(Kind.COHANDLER_REPLIED)
def ticket_cohandler_reply(*, ticket: Ticket, actor, text: str, attachments=()) -> Ticket:
    """协办反馈: the co-handler reports to the lead unit (not to the centre)."""
    text = _require_text(text, _("协办意见"))
    validated = attachments_validate(attachments)
    with stored_files_guard() as stored, transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.COHANDLER_REPLIED, t, actor)
        row = _own_cohandling(t, actor, CoHandling.Status.SIGNED)
        row.status, row.replied_at, row.replied_by, row.reply_text = CoHandling.Status.REPLIED, now, actor, text
        row.save(update_fields=["status", "replied_at", "replied_by", "reply_text"])
        event = _record(
            t,
            actor=actor,
            kind=Kind.COHANDLER_REPLIED,
            from_state=t.state,
            now=now,
            note=text,
            fields=[],
            data=cohandler_data(department=row.department),
            facts=_facts(unit_id=row.department_id),
        )
        attachments_store(
            ticket=t, event=event, validated=validated, actor=actor, kind=Attachment.Kind.AFTER, stored=stored
        )
    return t


# -- merge, invalid, reopen --------------------------------------------------------


@performs(Kind.MERGED)
def ticket_merge(*, ticket: Ticket, actor, master: Ticket, note: str = "") -> Ticket:
    """并单: a duplicate joins a master ticket; it will take the master's result and
    its citizen still gets a callback."""
    if ticket.pk == master.pk:
        raise WorkflowError(ERR_MERGE_SELF, code="self")
    with transaction.atomic():
        # Lock both rows in primary-key order so two opposite merges cannot deadlock.
        locked = {
            row.pk: row
            for row in Ticket.objects.select_for_update().filter(pk__in=[ticket.pk, master.pk]).order_by("pk")
        }
        t, m = locked[ticket.pk], locked[master.pk]
        now = _now()  # after the locks: a merge that waited is stamped when it happened
        _authorize(Kind.MERGED, t, actor)
        if m.merged_into_id is not None:
            raise WorkflowError(ERR_MERGE_MASTER_MERGED, code="master_merged", params={"number": m.number})
        if m.state not in OPEN_STATES:
            raise WorkflowError(
                ERR_MERGE_MASTER_STATE,
                code="master_state",
                params={"number": m.number, "state": m.get_state_display()},
            )
        if t.merged_tickets.exists():
            raise WorkflowError(ERR_MERGE_HAS_CHILDREN, code="has_children")
        from_state = t.state
        _cancel_pending_applications(t, actor, now)
        t.state = S.MERGED
        t.merged_into = m
        chain.chain_leave(t, now=now)
        fields = _clear_clocks(t)
        _record(
            t,
            actor=actor,
            kind=Kind.MERGED,
            from_state=from_state,
            now=now,
            note=note,
            fields=[*fields, "merged_into", "assignee_worker"],
            data=merged_data(master=m),
        )
    return t


@performs(Kind.INVALIDATED)
def ticket_invalidate(*, ticket: Ticket, actor, kind: str, reason: str) -> Ticket:
    """无效工单 (骚扰、空号、重复恶意): kept and audited, excluded from the rates."""
    if kind not in InvalidKind.values:
        raise WorkflowError(ERR_INVALID_KIND, code="invalid_kind")
    reason = _require_text(reason, _("无效原因"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.INVALIDATED, t, actor)
        from_state = t.state
        _cancel_pending_applications(t, actor, now)
        t.state = S.INVALID
        t.invalid_kind, t.invalid_reason = kind, reason
        _record(
            t,
            actor=actor,
            kind=Kind.INVALIDATED,
            from_state=from_state,
            now=now,
            note=reason,
            fields=["invalid_kind", "invalid_reason"],
            data=invalidated_data(invalid_kind=kind),
        )
    return t


@performs(Kind.REOPENED)
def ticket_reopen(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """重办: back to the lead unit with a fresh short deadline (3 working days by
    default) after an unsolved or unsatisfied callback; a ticket the centre
    answered itself goes back to the centre for dispatch."""
    reason = _require_text(reason, _("重办原因"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.REOPENED, t, actor)
        from_state = t.state
        fields = _clear_clocks(t)
        t.reopen_count += 1
        t.reopened_at = now
        if t.lead_department_id:
            t.state = S.HANDLING
            t.assignee_department = t.lead_department
            resolve = clock_times(
                now, (settings.REOPEN_WORKING_DAYS, TimeUnit.WORKING_DAY), calendar_for(t.lead_department_id)
            )
            t.resolve_due_at, t.resolve_warn_at = resolve.due_at, resolve.warn_at
        else:
            t.state = S.RECEIVED
        _record(
            t,
            actor=actor,
            kind=Kind.REOPENED,
            from_state=from_state,
            now=now,
            note=reason,
            fields=[*fields, "reopen_count", "reopened_at", "assignee_department"],
            data=reopened_data(reopen_count=t.reopen_count, resolve_due_at=t.resolve_due_at),
            # A new resolve round: its deadline; the earlier rounds' facts stay.
            facts=_facts(unit_id=t.lead_department_id, due_at=t.resolve_due_at),
        )
    return t


# -- supervision (督办) ---------------------------------------------------------------

ERR_NO_SIGNOFF_PENDING = _("没有待签批的办理反馈。")
ERR_NOT_LEADER = _("“%(name)s”不是领导账号，不能提级交办。")
ERR_URGE_NOT_OPEN = _("该催办不属于本工单，或已签收。")
ERR_NOT_REOPENED = _("该工单不是回访后重办的工单。")
ERR_URGE_KIND = _("请选择催办方式。")


@performs(Kind.HEAD_SIGNED)
def ticket_head_sign(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """负责人签批: the unit head approves the drafted reply; it goes to review."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.HEAD_SIGNED, t, actor)
        _require_lead_holds(t)
        if not t.signoff_pending:
            raise WorkflowError(ERR_NO_SIGNOFF_PENDING, code="no_signoff_pending")
        from_state = t.state
        t.state = S.REVIEWING
        t.signoff_pending = False
        t.replied_at = now
        _record(
            t,
            actor=actor,
            kind=Kind.HEAD_SIGNED,
            from_state=from_state,
            now=now,
            note=note,
            fields=["signoff_pending", "replied_at"],
            data=head_signed_data(result=t.reply_result),
        )
    return t


@performs(Kind.HEAD_RETURNED)
def ticket_head_return(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """签批退回: the unit head sends the draft back to the handler."""
    reason = _require_text(reason, _("退回理由"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.HEAD_RETURNED, t, actor)
        if not t.signoff_pending:
            raise WorkflowError(ERR_NO_SIGNOFF_PENDING, code="no_signoff_pending")
        t.signoff_pending = False
        _record(
            t,
            actor=actor,
            kind=Kind.HEAD_RETURNED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=["signoff_pending"],
        )
    return t


@performs(Kind.SIGNOFF_REQUIRED)
def ticket_require_signoff(*, ticket: Ticket, actor, reason: str = "") -> Ticket:
    """一把手签批: from now on the unit's reply needs its head's approval."""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.SIGNOFF_REQUIRED, t, actor)
        t.head_signoff_required = True
        _record(
            t,
            actor=actor,
            kind=Kind.SIGNOFF_REQUIRED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=["head_signoff_required"],
        )
    return t


def escalation_due(ticket: Ticket, now, working_days: int | None = None) -> tuple[datetime, bool]:
    """(the resolve deadline ``working_days`` from ``now`` would set, whether it
    is earlier than the current one): escalation only ever shortens the limit, so a
    ticket already past its deadline keeps it."""
    days = working_days or settings.HOTLINE_ESCALATION_WORKING_DAYS
    shortened = calendar_for(ticket.lead_department_id).add_limit(now, days, TimeUnit.WORKING_DAY)
    return shortened, ticket.resolve_due_at is None or shortened < ticket.resolve_due_at


@performs(Kind.ESCALATED)
def ticket_escalate(
    *, ticket: Ticket, actor, leader, reason: str, working_days: int | None = None, require_signoff: bool = True
) -> Ticket:
    """提级督办 / 双交办: a leader takes charge, the resolve deadline is shortened
    (never extended), and the unit head must sign the reply."""
    reason = _require_text(reason, _("提级督办理由"))
    profile = staff_profile(leader)
    if profile is None or profile.role != Role.LEADER:
        raise WorkflowError(ERR_NOT_LEADER, code="not_leader", params={"name": str(leader)})
    days = working_days or settings.HOTLINE_ESCALATION_WORKING_DAYS
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.ESCALATED, t, actor)
        cal = calendar_for(t.lead_department_id)
        shortened, shortens = escalation_due(t, now, days)
        previous_due = t.resolve_due_at
        if shortens:
            t.resolve_due_at = shortened
            t.resolve_warn_at = cal.warn_time(now, shortened, TimeUnit.WORKING_DAY)
        t.escalated_to, t.escalated_at = leader, now
        t.head_signoff_required = t.head_signoff_required or require_signoff
        _record(
            t,
            actor=actor,
            kind=Kind.ESCALATED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=["resolve_due_at", "resolve_warn_at", "escalated_to", "escalated_at", "head_signoff_required"],
            data=escalated_data(leader=leader, resolve_due_at=t.resolve_due_at, previous_due_at=previous_due),
        )
    return t


@performs(Kind.URGED)
def ticket_urge(*, ticket: Ticket, actor, kind: str, content: str, respond_by=None, reminder=None):
    """催办: phone, written notice (numbered), on-site or interview; the lead unit
    must acknowledge. ``actor=None`` is the deadline scan."""
    if kind not in Urge.Kind.values:
        raise WorkflowError(ERR_URGE_KIND, code="urge_kind")
    content = _require_text(content, _("催办内容"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.URGED, t, actor)
        department = t.lead_department or t.assignee_department
        urge = Urge.objects.create(
            ticket=t,
            department=department,
            kind=kind,
            number=urge_number_next(timezone.localtime(now).year) if kind == Urge.Kind.WRITTEN else "",
            content=content,
            reminder=reminder,
            issued_by=actor,
            issued_at=now,
            respond_by=respond_by or get_calendar().add_limit(now, 1, TimeUnit.WORKING_DAY),
        )
        _record(
            t,
            actor=actor,
            kind=Kind.URGED,
            from_state=t.state,
            now=now,
            note=content,
            fields=[],
            data=urged_data(urge=urge, department=department),
        )
    return urge


def system_urges_issue(*, items, now) -> list:
    """The deadline scan's written urge notices for a chunk of escalations: for
    each ticket the same rows :func:`ticket_urge` writes — the numbered notice, the
    timeline event, a history version — but a few statements for the whole chunk.
    ``items`` are ``(ticket, reminder, content)``. No unit notification here: the
    scan's reminder already carries the notice."""
    if not items:
        return []
    rule = TRANSITIONS[Kind.URGED]
    with transaction.atomic():
        locked = {
            t.pk: t
            for t in Ticket.objects.select_for_update()
            .filter(pk__in=[t.pk for t, _r, _c in items])
            .only("state", "lead_department_id", "assignee_department_id", "reopen_count")
        }
        todo = [(locked[t.pk], r, c) for t, r, c in items if t.pk in locked and locked[t.pk].state in rule.sources]
        if not todo:
            return []
        numbers = urge_numbers_next(timezone.localtime(now).year, len(todo))
        respond_by = get_calendar().add_limit(now, 1, TimeUnit.WORKING_DAY)
        urges = Urge.objects.bulk_create(
            [
                Urge(
                    ticket=t,
                    department_id=t.lead_department_id or t.assignee_department_id,
                    kind=Urge.Kind.WRITTEN,
                    number=number,
                    content=content,
                    reminder=reminder,
                    issued_by=None,
                    issued_at=now,
                    respond_by=respond_by,
                )
                for (t, reminder, content), number in zip(todo, numbers, strict=True)
            ]
        )
        units = Department.objects.in_bulk({u.department_id for u in urges} - {None})
        TicketEvent.objects.bulk_create(
            [
                TicketEvent(
                    ticket=t,
                    kind=Kind.URGED,
                    actor=None,
                    created_at=now,
                    from_state=t.state,
                    to_state=t.state,
                    note=content,
                    data=urged_data(urge=urge, department=units.get(urge.department_id)),
                    round=t.reopen_count + 1,
                )
                for (t, _reminder, content), urge in zip(todo, urges, strict=True)
            ]
        )
        pks = [t.pk for t, _r, _c in todo]
        Ticket.objects.filter(pk__in=pks).update(updated_at=now)
        _history_copy(pks, reason=Kind.URGED, now=now)
    return urges


def _history_copy(pks: list[int], *, reason: str, now) -> None:
    """A history version of each ticket, by the system, copied row for row inside
    the database (what simple-history's bulk_history_create does field by field
    in Python — four times slower for the scan's thousand urges)."""
    history = Ticket.history.model
    quote = connection.ops.quote_name
    columns = [f.column for f in history._meta.concrete_fields if not f.name.startswith("history_")]
    own = ", ".join(quote(c) for c in columns)
    marks = ", ".join(["%s"] * len(pks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} "
            f"({own}, history_date, history_change_reason, history_type, history_user_id) "
            f"SELECT {own}, %s, %s, '~', NULL FROM {quote(Ticket._meta.db_table)} WHERE id IN ({marks})",
            [connection.ops.adapt_datetimefield_value(now), reason, *pks],
        )


@performs(Kind.URGE_ACKNOWLEDGED)
def ticket_urge_acknowledge(*, ticket: Ticket, actor, urge, reply: str) -> Ticket:
    """催办签收: the urged unit acknowledges and says what it is doing."""
    reply = _require_text(reply, _("催办回复"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.URGE_ACKNOWLEDGED, t, actor)
        urge = t.urges.select_for_update().filter(pk=urge.pk, acknowledged_at__isnull=True).first()
        if urge is None:
            raise WorkflowError(ERR_URGE_NOT_OPEN, code="urge_not_open")
        urge.acknowledged_at, urge.acknowledged_by, urge.acknowledgement = now, actor, reply
        urge.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement"])
        _record(
            t,
            actor=actor,
            kind=Kind.URGE_ACKNOWLEDGED,
            from_state=t.state,
            now=now,
            note=reply,
            fields=[],
            data=urge_acknowledged_data(urge=urge),
        )
    return t


@performs(Kind.REOPEN_OVERRULED)
def ticket_overrule_reopen(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """复核不予重办: the supervisor finds the callback complaint unfounded (e.g. an
    unreasonable demand); the reopened ticket closes again without another callback."""
    reason = _require_text(reason, _("复核意见"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.REOPEN_OVERRULED, t, actor)
        if not t.reopen_count:
            raise WorkflowError(ERR_NOT_REOPENED, code="not_reopened")
        from_state = t.state
        _cancel_pending_applications(t, actor, now)
        t.state = S.CLOSED
        t.closed_at = now
        t.callback_exempt = True
        t.signoff_pending = False
        chain.chain_leave(t, now=now)  # a reopened ticket may have been passed down again
        _record(
            t,
            actor=actor,
            kind=Kind.REOPEN_OVERRULED,
            from_state=from_state,
            now=now,
            note=reason,
            fields=["closed_at", "callback_exempt", "signoff_pending", "assignee_worker"],
            facts=_close_facts(t, now),
        )
    return t


# -- public or private -------------------------------------------------------------------


@performs(Kind.PUBLICITY_CHANGED)
def ticket_publicity_set(*, ticket: Ticket, actor, public: bool, reason: str) -> Ticket:
    """设置公开范围: whether the ticket may appear on public pages (the board, the
    lookup's content, Open311). A never-public category or a confidential report
    stays off them whatever this says (``cases.public.public_tickets``)."""
    reason = _require_text(reason, _("理由"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.PUBLICITY_CHANGED, t, actor)
        if t.is_public == bool(public):
            setting = _("公开") if public else _("不公开")
            raise WorkflowError(ERR_PUBLICITY_SAME, code="publicity_same", params={"setting": setting})
        t.is_public = bool(public)
        _record(
            t,
            actor=actor,
            kind=Kind.PUBLICITY_CHANGED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=["is_public"],
            data=publicity_changed_data(public=t.is_public),
        )
    return t


# -- sub-centres (分中心 / 分平台) -------------------------------------------------------


@performs(Kind.TRANSFERRED)
def ticket_transfer(*, ticket: Ticket, actor, centre: Department, note: str = "") -> Ticket:
    """转分中心: the city's dispatcher hands a received ticket to a sub-centre, which
    must sign it (its sign clock: the ticket's sign-clock policy, the sub-centre's
    calendar) and then dispatches it within its subtree. A ticket already with
    one sub-centre may be moved to another."""
    if not (centre.is_subcentre and centre.is_active):
        raise WorkflowError(ERR_NOT_SUBCENTRE, code="not_subcentre", params={"name": centre.name})
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.TRANSFERRED, t, actor)
        if t.centre_id == centre.pk:
            raise WorkflowError(ERR_SAME_CENTRE, code="same_centre", params={"name": centre.name})
        previous = t.centre
        limits = deadline_limits(category=t.category, urgency=t.urgency, nature=t.nature, department=centre)
        sign = clock_times(now, limits.sign, calendar_for(centre.pk))
        t.centre, t.centre_signed_at, t.centre_sign_due_at = centre, None, sign.due_at
        _record(
            t,
            actor=actor,
            kind=Kind.TRANSFERRED,
            from_state=t.state,
            now=now,
            note=note,
            fields=["centre", "centre_signed_at", "centre_sign_due_at"],
            data=transferred_data(centre=centre, previous=previous, sign_due_at=sign.due_at),
            facts=_facts(unit_id=centre.pk, due_at=sign.due_at),
        )
    return t


@performs(Kind.CENTRE_SIGNED)
def ticket_centre_sign(*, ticket: Ticket, actor, note: str = "") -> Ticket:
    """分中心签收: the sub-centre's dispatcher takes the transferred ticket on. The
    sign is a fact charged to the sub-centre: signed within its sign deadline?"""
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.CENTRE_SIGNED, t, actor)
        if not awaits_centre_sign(t):
            raise WorkflowError(ERR_CENTRE_SIGNED_ALREADY, code="centre_signed")
        due = t.centre_sign_due_at
        on_time = due is None or now <= due
        t.centre_signed_at = now
        _record(
            t,
            actor=actor,
            kind=Kind.CENTRE_SIGNED,
            from_state=t.state,
            now=now,
            note=note,
            fields=["centre_signed_at"],
            data=centre_signed_data(centre=t.centre, on_time=on_time),
            facts=_facts(unit_id=t.centre_id, due_at=due, on_time=on_time),
        )
    return t


@performs(Kind.CENTRE_RETURNED)
def ticket_centre_return(*, ticket: Ticket, actor, reason: str) -> Ticket:
    """退回市中心: the sub-centre sends a received ticket back to the city, with a
    reason — before signing ("not ours"), or after (say an approved return left no
    unit of its subtree to take it). The ticket waits in the city's 待派单 again."""
    reason = _require_text(reason, _("退回理由"))
    with transaction.atomic():
        t = _lock(ticket)
        now = _now()
        _authorize(Kind.CENTRE_RETURNED, t, actor)
        if t.centre_id is None:  # (a superuser passes the scope check) the city's own ticket
            raise WorkflowError(ERR_NOT_AT_CENTRE, code="not_at_centre")
        centre, signed = t.centre, t.centre_signed_at is not None
        t.centre = t.centre_signed_at = t.centre_sign_due_at = None
        _record(
            t,
            actor=actor,
            kind=Kind.CENTRE_RETURNED,
            from_state=t.state,
            now=now,
            note=reason,
            fields=["centre", "centre_signed_at", "centre_sign_due_at"],
            data=centre_returned_data(centre=centre, signed=signed),
            facts=_facts(unit_id=centre.pk),
        )
    return t
