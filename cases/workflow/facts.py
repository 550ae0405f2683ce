"""The facts of existing timelines, repaired: replay each ticket's events in order
and fill the fact columns of ``TicketEvent`` (``unit``, ``dispatch``, ``due_at``,
``on_time``, ``round``) and ``Callback.unit`` exactly as the verbs write them
today. For events written before the verbs recorded facts (and rows the load
generator wrote in bulk). Idempotent: a second run changes nothing."""

import bisect
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction

from ..deadlines.policy import clock_times
from ..models import Callback, Ticket, TicketEvent, TimeUnit

K = TicketEvent.Kind
CLOSE_KINDS = {K.APPROVED, K.ANSWERED, K.REOPEN_OVERRULED}
FACT_FIELDS = ["unit_id", "dispatch_id", "due_at", "on_time", "round", "off_catalogue"]


def _when(value) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _unit_id(data: dict, key: str = "department"):
    ref = data.get(key)
    return ref.get("id") if isinstance(ref, dict) else None


@dataclass
class _Replay:
    """A ticket's clocks as its timeline says they were, event by event."""

    lead: int | None = None
    dispatch: int | None = None
    signed: bool = False
    contacted: bool = False
    sign_due: datetime | None = None
    contact_due: datetime | None = None
    resolve_due: datetime | None = None
    round: int = 1
    centre_due: datetime | None = None  # the sub-centre's sign deadline (转分中心)
    leads: list = field(default_factory=list)  # (time, lead unit) after each change

    def facts(self, event: TicketEvent) -> dict:
        data, at = event.data or {}, event.created_at
        facts = {"unit_id": None, "dispatch_id": None, "due_at": None, "on_time": None, "off_catalogue": False}
        kind = event.kind
        if kind in (K.DISPATCHED, K.SUBDISPATCHED):  # 派单目录: the flag the verb put in the payload
            facts["off_catalogue"] = bool(data.get("off_catalogue"))
        if kind == K.DISPATCHED:
            self.lead, self.dispatch = _unit_id(data), event.pk
            self.signed = self.contacted = False
            self.sign_due, self.contact_due = _when(data.get("sign_due_at")), None
            self.resolve_due = _when(data.get("resolve_due_at"))
            facts.update(unit_id=self.lead, due_at=self.sign_due)
        elif kind == K.SIGNED and not self.signed and self.dispatch:
            self.signed = True
            self.contact_due = _when(data.get("contact_due_at"))
            on_time = self.sign_due is None or at <= self.sign_due
            facts.update(unit_id=self.lead, dispatch_id=self.dispatch, due_at=self.sign_due, on_time=on_time)
        elif kind == K.CONTACTED and not self.contacted:
            self.contacted = True
            due = self.contact_due
            on_time = due is None or at <= due
            facts.update(unit_id=self.lead, dispatch_id=self.dispatch, due_at=due, on_time=on_time)
        elif kind in (K.REWORK, K.RETURN_REQUESTED, K.OBJECTION_REQUESTED):  # the lead unit of the moment
            facts.update(unit_id=self.lead, dispatch_id=self.dispatch)
        elif kind in (K.RETURN_APPROVED, K.OBJECTION_UPHELD):
            # An upheld objection is charged to the dispatch only: no unit.
            unit = (_unit_id(data) or self.lead) if kind == K.RETURN_APPROVED else None
            facts.update(unit_id=unit, dispatch_id=self.dispatch)
            self.lead, self.resolve_due = None, None
            self.signed = self.contacted = False
        elif kind == K.ARBITRATION_RULED and data.get("redispatch"):  # charged to nobody
            self.lead, self.resolve_due = None, None
            self.signed = self.contacted = False
        elif kind == K.EXTENSION_APPROVED:
            self.resolve_due = _when(data.get("resolve_due_at")) or self.resolve_due
            facts.update(unit_id=self.lead, dispatch_id=self.dispatch, due_at=self.resolve_due)
        elif kind == K.ESCALATED:
            self.resolve_due = _when(data.get("resolve_due_at")) or self.resolve_due
        elif kind in CLOSE_KINDS:
            due = self.resolve_due
            on_time = due is None or at <= due
            facts.update(unit_id=self.lead, dispatch_id=self.dispatch, due_at=due, on_time=on_time)
        elif kind == K.REOPENED:
            self.round = int(data.get("reopen_count") or self.round) + 1
            if "resolve_due_at" in data:
                self.resolve_due = _when(data["resolve_due_at"])
            else:  # written before the payload carried it: the verb's rule
                days = (settings.REOPEN_WORKING_DAYS, TimeUnit.WORKING_DAY)
                self.resolve_due = clock_times(at, days).due_at if self.lead else None
            facts.update(unit_id=self.lead, due_at=self.resolve_due)
        elif kind == K.MERGED:
            self.resolve_due = None
        elif kind == K.COHANDLER_REPLIED:
            facts.update(unit_id=_unit_id(data))
        elif kind == K.TRANSFERRED:
            self.centre_due = _when(data.get("sign_due_at"))
            facts.update(unit_id=_unit_id(data), due_at=self.centre_due)
        elif kind == K.CENTRE_SIGNED:
            due = self.centre_due
            facts.update(unit_id=_unit_id(data), due_at=due, on_time=due is None or at <= due)
        elif kind == K.CENTRE_RETURNED:
            facts.update(unit_id=_unit_id(data))
        facts["round"] = self.round
        self.leads.append((at, self.lead))
        return facts

    def lead_at(self, moment) -> int | None:
        index = bisect.bisect_right([at for at, _lead in self.leads], moment)
        return self.leads[index - 1][1] if index else None


def facts_repair(*, ticket_ids=None, chunk_size: int = 500) -> dict:
    """Fill the fact columns from the timelines; returns ``{"events": n,
    "callbacks": n}`` changed. ``ticket_ids`` limits it to some tickets."""
    tickets = Ticket.objects.order_by("pk")
    if ticket_ids is not None:
        tickets = tickets.filter(pk__in=ticket_ids)
    ids = list(tickets.values_list("pk", flat=True))
    changed = {"events": 0, "callbacks": 0}
    for offset in range(0, len(ids), chunk_size):
        chunk = ids[offset : offset + chunk_size]
        with transaction.atomic():
            replays: dict[int, _Replay] = {}
            dirty = []
            for event in TicketEvent.objects.filter(ticket_id__in=chunk).order_by("ticket_id", "created_at", "pk"):
                facts = replays.setdefault(event.ticket_id, _Replay()).facts(event)
                if any(getattr(event, name) != value for name, value in facts.items()):
                    for name, value in facts.items():
                        setattr(event, name, value)
                    dirty.append(event)
            TicketEvent.objects.bulk_update(dirty, FACT_FIELDS, batch_size=1000)
            changed["events"] += len(dirty)
            changed["callbacks"] += _repair_callbacks(chunk, replays)
    return changed


def _repair_callbacks(chunk, replays) -> int:
    masters = dict(Ticket.objects.filter(pk__in=chunk, merged_into__isnull=False).values_list("pk", "merged_into_id"))
    missing = set(masters.values()) - set(replays)
    for event in TicketEvent.objects.filter(ticket_id__in=missing).order_by("ticket_id", "created_at", "pk"):
        replays.setdefault(event.ticket_id, _Replay()).facts(event)
    dirty = []
    for cb in Callback.objects.filter(ticket_id__in=chunk, status=Callback.Status.DONE, completed_at__isnull=False):
        replay = replays.get(masters.get(cb.ticket_id, cb.ticket_id))
        unit = replay.lead_at(cb.completed_at) if replay else None
        if cb.unit_id != unit:
            cb.unit_id = unit
            dirty.append(cb)
    Callback.objects.bulk_update(dirty, ["unit"], batch_size=1000)
    return len(dirty)
