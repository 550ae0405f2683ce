"""A synthetic city at scale, for benchmarks: millions of tickets with the shapes a
real 12345 centre has (categories, territories, channels, urgencies, states,
reworks, returns, extensions, callbacks and their outcomes), written with COPY on
PostgreSQL (executemany elsewhere) — not through the per-ticket workflow, which
is what the demo data is for.

What is simplified, on purpose: deadlines are counted in calendar time (the
working-day calendar is exercised by the tests, not needed for volume); tickets
get timeline events and callbacks but no field-history rows; co-handling and
applications are left out."""

import math
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from departments.models import Department, Grid

from ..deadlines.scan import CLOCKS, escalation_cutoff, level_conditions
from ..models import Callback, Channel, Reminder, Ticket, TicketEvent, TicketNumberSequence, TicketState
from . import demo
from . import demo_data as D

S = TicketState
K = TicketEvent.Kind
CHUNK = 20_000
SHANGHAI_OFFSET = timedelta(hours=8)

CHANNELS = [(c, w) for c, w in demo.CHANNEL_WEIGHTS]
URGENCIES = [("normal", 90), ("urgent", 8), ("critical", 2)]
NATURES = [("complaint", 38), ("help", 30), ("consult", 18), ("suggestion", 6), ("report", 6), ("praise", 2)]
OPEN_STATES = [(S.RECEIVED, 5), (S.DISPATCHED, 15), (S.HANDLING, 65), (S.REVIEWING, 15)]
RESOLVE_DAYS = {"normal": 5, "urgent": 2, "critical": 1}
# Hours of the day calls come in (local time), weighted like a hotline's day.
HOURS = [(h, w) for h, w in enumerate([1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 11, 8, 9, 12, 12, 11, 9, 7, 6, 5, 4, 2, 1])]


def _weighted(rng, pairs, k):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights, k=k)


def _flag(value: bool | None) -> int | None:
    """A nullable boolean as COPY and SQLite both read it."""
    return None if value is None else int(value)


def _ts(moment: datetime | None) -> str | None:
    """Naive UTC text, which both PostgreSQL (session in UTC) and Django's SQLite
    backend read as the same instant. (All times here are naive UTC: isoformat is
    the fast path.)"""
    return None if moment is None else moment.isoformat(" ", "seconds")


@dataclass
class Places:
    """Where demands come from: grids with their community, street and district."""

    rows: list  # (grid_id, community_id, street_id, district_id, address prefix)
    weights: list


def _places(rng) -> Places:
    rows, weights = [], []
    for g in Grid.objects.select_related("community__parent__parent").filter(is_active=True):
        community = g.community
        street = community.parent
        district = street.parent if street is not None else None
        prefix = f"{district.name if district else ''}{demo._base_name(community.name)}"
        rows.append((g.pk, community.pk, street.pk if street else None, district.pk if district else None, prefix))
        weights.append(rng.uniform(0.3, 3.0))  # some places are much busier than others
    return Places(rows, weights)


def _leads(categories, units_by_code):
    """Category code → how its lead is chosen (a unit id, "street" or "community")."""
    leads = {}
    for code in categories:
        rule = D.DUTIES.get(code) or D.DUTIES.get(code[:4]) or D.DUTIES.get(code[:2]) or "street"
        leads[code] = rule if rule in ("street", "community") else units_by_code[rule].pk
    return leads


class Copier:
    """Writes one chunk at a time, all of it in one transaction together with the
    run's progress (so a killed load resumes at a chunk boundary, with nothing half
    written). On PostgreSQL the chunk is COPYed from a thread of its own (with its own
    connection), so the server loads one chunk while Python builds the next; chunks
    commit in order. Elsewhere, plain executemany inline."""

    def __init__(self):
        self.threaded = connection.vendor == "postgresql"
        self.pool = ThreadPoolExecutor(max_workers=1) if self.threaded else None
        self.pending = []

    def commit(self, payloads, after):
        """Write ``payloads`` ([(table, columns, rows)], parents first) and run
        ``after()`` in the same transaction."""
        if not self.threaded:
            with transaction.atomic():
                for table, columns, rows in payloads:
                    marks = ", ".join(["%s"] * len(columns))
                    with connection.cursor() as cursor:
                        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
                after()
            return
        while len(self.pending) >= 2:  # bound the memory held by chunks in flight
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self._copy, payloads, after))

    @staticmethod
    def _copy(payloads, after):
        if not getattr(connection, "_hotline_fast_load", False):
            _fast_load(True)
            connection._hotline_fast_load = True
        with transaction.atomic(), connection.cursor() as cursor:
            for table, columns, rows in payloads:
                text = "".join("\t".join(r"\N" if v is None else str(v) for v in row) + "\n" for row in rows)
                with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(text)
            after()

    def close(self):
        if not self.threaded:
            return
        try:
            for future in self.pending:
                future.result()
        finally:
            self.pending = []

            def done():
                _fast_load(False)
                connection.close()

            self.pool.submit(done).result()
            self.pool.shutdown()


TICKET_COLUMNS = [
    "id", "number", "channel", "nature", "urgency", "priority", "category_id", "content", "is_proactive",
    "is_public", "external_id", "citizen_name", "citizen_phone", "citizen_phone_last4", "is_anonymous",
    "is_confidential",
    "address", "grid_id", "community_id", "street_id", "district_id", "lead_department_id",
    "assignee_department_id", "handler_id", "state", "sign_due_at", "sign_warn_at", "contact_due_at",
    "contact_warn_at", "resolve_due_at", "resolve_warn_at", "next_warn_at", "next_due_at", "received_at",
    "first_dispatched_at", "dispatched_at", "signed_at", "first_contact_at", "replied_at", "closed_at",
    "reply_result", "reply_text", "reply_reason", "invalid_kind", "invalid_reason", "rework_count",
    "return_count", "extension_count", "extension_days", "reopen_count", "units_passed", "is_problem",
    "head_signoff_required", "signoff_pending", "callback_exempt", "created_by_id", "updated_at",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "ticket_id", "kind", "actor_id", "actor_department_id", "created_at", "from_state", "to_state", "note",
    "data", "unit_id", "dispatch_id", "due_at", "on_time", "round",
]  # fmt: skip
CALLBACK_COLUMNS = [
    "id", "ticket_id", "closed_at", "batch_date", "due_at", "agent_id", "status", "impossible_reason", "via",
    "attempts", "next_attempt_on", "last_attempt_at", "contacted", "solved", "satisfaction", "score_attitude",
    "score_efficiency", "comment", "unit_at_fault", "completed_at", "completed_by_id", "reopened",
    "overrule_reason", "created_at", "unit_id",
]  # fmt: skip


def _fast_load(on: bool) -> None:
    """On PostgreSQL, skip the per-row foreign-key triggers while loading rows we
    made consistent ourselves (needs a superuser; otherwise the load is slower)."""
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET session_replication_role = {'replica' if on else 'origin'}")
    except Exception:
        pass


def _next_id(model) -> int:
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def _reset_sequences(models):
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )


RUNS_TABLE = "hotline_load_run"


@dataclass
class Run:
    """A load's plan and how far it got, kept in the database it loads (a tooling
    table, outside the product's schema) so that a killed run resumes where the
    last whole chunk ended, with the same random draws and the same clock."""

    pk: int
    tickets: int
    years: float
    open_share: float
    seed: int
    anchor: datetime  # "now" for the whole run, naive UTC
    chunks_done: int
    next_ticket_id: int
    next_event_id: int
    next_callback_id: int
    finished: bool

    @property
    def done(self) -> int:
        return min(self.tickets, self.chunks_done * CHUNK)


def _runs_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (id integer PRIMARY KEY, tickets integer NOT NULL, "
            "years double precision NOT NULL, open_share double precision NOT NULL, seed bigint NOT NULL, "
            "anchor varchar(32) NOT NULL, chunks_done integer NOT NULL, next_ticket_id bigint NOT NULL, "
            "next_event_id bigint NOT NULL, next_callback_id bigint NOT NULL, finished integer NOT NULL)"
        )


def unfinished_run() -> Run | None:
    """The load this database was left in the middle of, if any."""
    _runs_table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, tickets, years, open_share, seed, anchor, chunks_done, next_ticket_id, next_event_id, "
            f"next_callback_id, finished FROM {RUNS_TABLE} WHERE finished = 0 ORDER BY id DESC LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    values[5] = datetime.fromisoformat(values[5])
    values[10] = bool(values[10])
    return Run(*values)


def _start_run(*, tickets, years, open_share, seed, anchor) -> Run:
    run = Run(0, tickets, years, open_share, seed, anchor, 0, _next_id(Ticket), _next_id(TicketEvent),
              _next_id(Callback), False)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {RUNS_TABLE}")
        run.pk = cursor.fetchone()[0]
        cursor.execute(
            f"INSERT INTO {RUNS_TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [run.pk, tickets, years, open_share, seed, anchor.isoformat(" "), 0, run.next_ticket_id,
             run.next_event_id, run.next_callback_id, 0],
        )  # fmt: skip
    return run


DEFER_INDEXES_FROM = 200_000
DEFERRED_TABLE = "hotline_load_deferred_index"
BULK_TABLES = ("cases_ticket", "cases_ticketevent", "cases_callback")


class DeferredIndexes:
    """The secondary indexes of the loaded tables (not primary keys or unique
    constraints, which keep the load honest), dropped for a bulk load and built
    again after it; their definitions live in a tooling table meanwhile."""

    def __init__(self, run_pk):
        self.run_pk = run_pk
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {DEFERRED_TABLE} (run_id integer NOT NULL, name varchar(128) NOT NULL, "
                "definition text NOT NULL, PRIMARY KEY (run_id, name))"
            )

    def pending(self) -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT name, definition FROM {DEFERRED_TABLE} WHERE run_id = %s ORDER BY name", [self.run_pk]
            )
            return cursor.fetchall()

    def drop(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
                "AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname AND c.connamespace = to_regnamespace(i.schemaname))",
                [list(BULK_TABLES)],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(
                    f"INSERT INTO {DEFERRED_TABLE} (run_id, name, definition) VALUES (%s, %s, %s) "
                    "ON CONFLICT (run_id, name) DO NOTHING",
                    [self.run_pk, name, definition],
                )
            for name, _definition in self.pending():
                cursor.execute(f'DROP INDEX IF EXISTS "{name}"')

    def rebuild(self, out=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
            for name, definition in self.pending():
                started = time.monotonic()
                with transaction.atomic():
                    cursor.execute(
                        "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s", [name]
                    )
                    if cursor.fetchone() is None:
                        # A partitioned table's index reads "ON ONLY parent": built that
                        # way it would cover no partition (and stay invalid); "ON" builds
                        # it on every partition, the legacy one with the loaded rows too.
                        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
                    cursor.execute(f"DELETE FROM {DEFERRED_TABLE} WHERE run_id = %s AND name = %s", [self.run_pk, name])
                if out is not None:
                    out(f"index {name} built in {time.monotonic() - started:.0f} s")
            cursor.execute("RESET maintenance_work_mem")


class LoadMismatch(Exception):
    """A different load was left unfinished in this database."""


def generate(
    *,
    tickets: int,
    years: float = 2.0,
    open_share: float = 0.1,
    seed: int = 20261123,
    progress=None,
    defer_indexes: bool | None = None,
    out=None,
):
    """Write ``tickets`` tickets received over the last ``years``; about
    ``open_share`` of them still open. Returns counts and seconds.

    The load goes in chunks of ``CHUNK`` tickets, each written in one transaction
    with the run's progress; each chunk draws from its own random stream (seed and
    chunk number), so a load killed part-way and started again with the same
    arguments resumes after the last whole chunk and ends with the same rows as one
    that ran through. ``progress(done, total)`` is called after each chunk is queued.

    ``defer_indexes`` (default: on PostgreSQL, for a load of ``DEFER_INDEXES_FROM``
    tickets or more) drops the three tables' secondary indexes for the load and
    builds them again at its end — the standard bulk-load practice: one sorted build
    instead of millions of random inserts (the keyword index evaluates a function per
    row). Their definitions are kept in the database first, so a load stopped without
    its indexes gets them back when it is resumed."""
    started = time.monotonic()
    _runs_table()
    run = unfinished_run()
    if run is not None and (run.tickets, run.years, run.open_share, run.seed) != (tickets, years, open_share, seed):
        raise LoadMismatch(
            f"an unfinished load of {run.tickets:,} tickets (years {run.years}, open share {run.open_share}, "
            f"seed {run.seed}) stopped at {run.done:,} in this database: run it again with the same "
            "arguments to resume it, or load into a fresh database"
        )
    load = _Load(tickets=tickets, years=years, open_share=open_share, seed=seed, run=run)
    resumed_at = load.run.done
    if defer_indexes is None:
        defer_indexes = tickets >= DEFER_INDEXES_FROM
    deferred = DeferredIndexes(load.run.pk) if connection.vendor == "postgresql" else None
    if deferred is not None and (defer_indexes or deferred.pending()):
        deferred.drop()
    load.write(progress)
    if deferred is not None and deferred.pending():
        deferred.rebuild(out=out)
    with connection.cursor() as cursor:  # the rows and their indexes are all there
        cursor.execute(f"UPDATE {RUNS_TABLE} SET finished = 1 WHERE id = %s", [load.run.pk])
    _reset_sequences([Ticket, TicketEvent, Callback])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Ticket, TicketEvent, Callback):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    return {
        "tickets": load.written["tickets"],
        "events": load.written["events"],
        "callbacks": load.written["callbacks"],
        "resumed_at": resumed_at,
        "open": Ticket.objects.filter(state__in=[S.RECEIVED, S.DISPATCHED, S.HANDLING, S.REVIEWING]).count(),
        "seconds": round(time.monotonic() - started, 1),
    }


class _Load:
    """One load: the city and its reference data (drawn from the seed), then the
    tickets chunk by chunk."""

    def __init__(self, *, tickets, years, open_share, seed, run):
        self.tickets, self.open_share, self.seed = tickets, open_share, seed
        rng = random.Random(seed)
        with transaction.atomic():
            city = demo.build_city(rng)
            categories = demo.build_categories()
            demo.build_duties(city, categories)
            users = demo.build_users(city)
        self.leaves = [c for code, c in categories.items() if code in D.DEMANDS]
        self.leads = _leads({c.code: c for c in self.leaves}, city.units_by_code)
        self.places = _places(rng)
        self.handler_ids = {unit_id: u.pk for unit_id, u in users["handlers"].items()}
        self.dispatcher, self.operator = users["dispatcher"].pk, users["operator"].pk
        self.agents = [u.pk for name, u in users.items() if name.startswith("callback")]
        self.centre_id = city.centre.pk
        self.texts = {c.pk: [t.replace("{place}", "") for t in D.DEMANDS[c.code]] for c in self.leaves}
        self.category_weights = [rng.uniform(0.2, 4.0) for _ in self.leaves]
        if run is None:
            anchor = timezone.now().astimezone(UTC).replace(tzinfo=None, microsecond=0)
            run = _start_run(tickets=tickets, years=years, open_share=open_share, seed=seed, anchor=anchor)
        self.run = run
        self.now = run.anchor
        self.span = timedelta(days=365 * years)
        self.start = self.now - self.span
        self.open_from = int(tickets * (1 - open_share * 0.95))  # the newest tickets are mostly still open
        self.sequences = dict(TicketNumberSequence.objects.values_list("day", "last_value"))
        self.ticket_id, self.event_id, self.callback_id = run.next_ticket_id, run.next_event_id, run.next_callback_id
        self.written = {"tickets": 0, "events": 0, "callbacks": 0}

    def write(self, progress=None):
        copier = Copier()
        chunks = math.ceil(self.tickets / CHUNK)
        try:
            for chunk in range(self.run.chunks_done, chunks):
                self._chunk(chunk, copier)
                if progress is not None:
                    progress(min(self.tickets, (chunk + 1) * CHUNK), self.tickets)
        finally:
            copier.close()

    def _chunk(self, chunk, copier):
        lo, hi = chunk * CHUNK, min(self.tickets, (chunk + 1) * CHUNK)
        n = hi - lo
        rng = random.Random(f"{self.seed}:{chunk}")
        # Received times: this chunk's slice of the span, a hotline's hours of the day, sorted.
        offsets = sorted((lo + rng.random() * n) / self.tickets for _ in range(n))
        hours = _weighted(rng, HOURS, n)
        channels = _weighted(rng, CHANNELS, n)
        urgencies = _weighted(rng, URGENCIES, n)
        natures = _weighted(rng, NATURES, n)
        chosen_categories = rng.choices(self.leaves, self.category_weights, k=n)
        chosen_places = rng.choices(self.places.rows, self.places.weights, k=n)
        self.rows = {"tickets": [], "events": [], "callbacks": []}
        self.touched = set()
        for k in range(n):
            self.ticket(
                lo + k, rng, offsets[k], hours[k], channels[k], urgencies[k], natures[k],
                chosen_categories[k], chosen_places[k],
            )  # fmt: skip
        rows = self.rows
        for key in rows:
            self.written[key] += len(rows[key])
        days = [(day, self.sequences[day]) for day in sorted(self.touched)]
        progress_row = (chunk + 1, self.ticket_id, self.event_id, self.callback_id, self.run.pk)
        payloads = [
            (Ticket._meta.db_table, TICKET_COLUMNS, rows["tickets"]),
            (TicketEvent._meta.db_table, EVENT_COLUMNS, rows["events"]),
            (Callback._meta.db_table, CALLBACK_COLUMNS, rows["callbacks"]),
        ]

        def after():
            """In the chunk's transaction: the day sequences it advanced, and the run's progress."""
            TicketNumberSequence.objects.bulk_create(
                [TicketNumberSequence(day=day, last_value=last) for day, last in days],
                update_conflicts=True,
                unique_fields=["day"],
                update_fields=["last_value"],
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {RUNS_TABLE} SET chunks_done = %s, next_ticket_id = %s, next_event_id = %s, "
                    "next_callback_id = %s WHERE id = %s",
                    progress_row,
                )

        copier.commit(payloads, after)

    def ticket(self, i, rng, day_offset, hour, channel, urgency, nature, category, place):
        start, span, now, tickets, open_share = self.start, self.span, self.now, self.tickets, self.open_share
        open_from, sequences, leads, texts = self.open_from, self.sequences, self.leads, self.texts
        handler_ids, dispatcher, operator, agents = self.handler_ids, self.dispatcher, self.operator, self.agents
        centre_id = self.centre_id
        t_writer, e_writer, c_writer = self.rows["tickets"], self.rows["events"], self.rows["callbacks"]
        ticket_id, event_id, callback_id = self.ticket_id, self.event_id, self.callback_id
        empty = "{}"
        day = start + span * day_offset
        local = day + SHANGHAI_OFFSET
        received = (local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))) - SHANGHAI_OFFSET
        if received > now:
            received = now - timedelta(minutes=rng.randrange(1, 600))
        local_day = (received + SHANGHAI_OFFSET).date()
        seq = sequences.get(local_day, 0) + 1
        sequences[local_day] = seq
        self.touched.add(local_day)
        number = f"{local_day:%Y%m%d}-{seq:05d}"
        grid_id, community_id, street_id, district_id, prefix = place
        rule = leads[category.code]
        lead = street_id if rule == "street" else community_id if rule == "community" else rule
        phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        is_open = (i >= open_from and rng.random() < 0.95) or rng.random() < open_share * 0.2 * (i / tickets)
        state = _weighted(rng, OPEN_STATES, 1)[0] if is_open else S.CLOSED
        if not is_open:
            roll = rng.random()
            state = S.INVALID if roll < 0.01 else S.MERGED if roll < 0.02 else S.CLOSED

        resolve_days = RESOLVE_DAYS[urgency]
        late = rng.random() < 0.08
        dispatched = received + timedelta(minutes=rng.uniform(5, 240)) if state != S.RECEIVED else None
        if state in (S.INVALID,) or (state == S.MERGED and rng.random() < 0.5):
            dispatched = None
        sign_due = dispatched + timedelta(hours=2) if dispatched else None
        signed = dispatched + timedelta(minutes=rng.uniform(5, 150 if not late else 300)) if dispatched else None
        if state == S.DISPATCHED:
            signed = None
        contact_due = signed + timedelta(hours=24) if signed else None
        contacted = signed + timedelta(hours=rng.uniform(0.5, 20 if not late else 40)) if signed else None
        resolve_due = dispatched + timedelta(days=resolve_days) if dispatched else None
        replied = closed = None
        reworks = (rng.random() < 0.05) * rng.randint(1, 3)
        returns = (rng.random() < 0.03) * 1
        extensions = (rng.random() < 0.04) * 1
        if extensions and resolve_due:
            resolve_due += timedelta(days=rng.randint(2, 5))
        if state in (S.REVIEWING, S.CLOSED) and contacted:
            replied = contacted + timedelta(days=rng.uniform(0.2, resolve_days * (0.8 if not late else 1.6)))
            if state == S.CLOSED:
                closed = replied + timedelta(hours=rng.uniform(0.5, 20))
        if state in (S.INVALID, S.MERGED) or (state == S.CLOSED and not dispatched):
            closed = received + timedelta(minutes=rng.uniform(3, 120))
        # What has not happened yet is still ahead: the ticket stays open before it.
        for moment, before in (
            (signed, S.DISPATCHED),
            (contacted, S.HANDLING),
            (replied, S.HANDLING),
            (closed, S.REVIEWING),
        ):
            if moment is not None and moment > now:
                state = before
                break
        if state == S.DISPATCHED:
            signed = contacted = replied = closed = None
        elif state == S.HANDLING:
            replied = closed = None
            if contacted and contacted > now:
                contacted = None
        elif state == S.REVIEWING:
            closed = None
        if state == S.REVIEWING and replied is None:
            state = S.HANDLING
        if state == S.HANDLING and signed is None:
            state = S.DISPATCHED
        if state == S.DISPATCHED and dispatched is None:
            state = S.RECEIVED
        if state == S.RECEIVED:
            dispatched = sign_due = resolve_due = signed = contacted = replied = closed = None
        open_now = state in (S.RECEIVED, S.DISPATCHED, S.HANDLING, S.REVIEWING)
        clocks = []
        if state == S.DISPATCHED and sign_due:
            clocks.append(sign_due)
        if state in (S.DISPATCHED, S.HANDLING) and signed and not contacted and contact_due:
            clocks.append(contact_due)
        if open_now and state != S.RECEIVED and resolve_due:
            clocks.append(resolve_due)
        next_due = min(clocks) if clocks else None
        next_warn = next_due - (next_due - received) * 0.25 if next_due else None
        reply_result = ""
        reply_text = ""
        if replied:
            reply_result = rng.choices(["solved", "explained", "unsolvable"], [78, 18, 4])[0]
            reply_text = "已到现场核实处理，问题已解决。" if reply_result == "solved" else "已向诉求人解释相关政策。"
        assignee = lead if dispatched else None
        handler = handler_ids.get(lead) if signed else None
        content = f"{prefix}{rng.randrange(1, 30)}号院：{rng.choice(texts[category.pk])}"
        is_problem = reworks >= 3
        t_writer.append(
            (
                ticket_id, number, channel, nature, urgency, {"critical": 0, "urgent": 1}.get(urgency, 2),
                category.pk, content, int(channel in (Channel.GRID, Channel.SENSOR, Channel.MEDIA)),
                int(channel not in (Channel.GRID, Channel.SENSOR, Channel.MEDIA)),  # public_by_default
                "", rng.choice(demo.SURNAMES) + rng.choice("先生女士"), phone, phone[-4:], 0,
                int(nature == "report" and rng.random() < 0.5), f"{prefix}{rng.randrange(1, 30)}号院",
                grid_id, community_id, street_id, district_id, lead if dispatched else None, assignee, handler,
                state, _ts(sign_due),
                _ts(sign_due - timedelta(minutes=30) if sign_due else None), _ts(contact_due),
                _ts(contact_due - timedelta(hours=6) if contact_due else None), _ts(resolve_due),
                _ts(resolve_due - timedelta(days=1) if resolve_due else None), _ts(next_warn), _ts(next_due),
                _ts(received), _ts(dispatched), _ts(dispatched), _ts(signed), _ts(contacted), _ts(replied),
                _ts(closed), reply_result, reply_text, "", "other" if state == S.INVALID else "",
                "无效诉求" if state == S.INVALID else "", reworks, returns, extensions, extensions * 3, 0,
                1 + returns, int(is_problem), 0, 0, int(state != S.CLOSED), operator,
                _ts(closed or replied or received),
            )
        )  # fmt: skip
        # The timeline, with the facts the workflow fixes on its events (cases.workflow.verbs:
        # unit charged, the dispatch, the deadline measured against, on time).
        dispatch_event = event_id + 1 if dispatched else None
        lead_unit = lead if dispatched else None

        def met(moment, due):
            return _flag(None if moment is None else (due is None or moment <= due))

        no_facts = (None, None, None, None)
        steps = [(K.CREATED, operator, centre_id, received, "", S.RECEIVED, no_facts)]
        if dispatched:
            steps.append(
                (
                    K.DISPATCHED,
                    dispatcher,
                    centre_id,
                    dispatched,
                    S.RECEIVED,
                    S.DISPATCHED,
                    (lead, None, sign_due, None),
                )
            )
        if signed:
            facts = (lead, dispatch_event, sign_due, met(signed, sign_due))
            steps.append((K.SIGNED, handler, lead, signed, S.DISPATCHED, S.HANDLING, facts))
        if contacted:
            facts = (lead, dispatch_event, contact_due, met(contacted, contact_due))
            steps.append((K.CONTACTED, handler, lead, contacted, S.HANDLING, S.HANDLING, facts))
        if replied:
            steps.append((K.REPLIED, handler, lead, replied, S.HANDLING, S.REVIEWING, no_facts))
        close_facts = (lead_unit, dispatch_event, resolve_due, met(closed, resolve_due))
        if closed and state == S.CLOSED and replied:
            steps.append((K.APPROVED, dispatcher, centre_id, closed, S.REVIEWING, S.CLOSED, close_facts))
        elif closed and state == S.CLOSED:
            steps.append((K.ANSWERED, operator, centre_id, closed, S.RECEIVED, S.CLOSED, close_facts))
        elif closed and state == S.INVALID:
            steps.append((K.INVALIDATED, dispatcher, centre_id, closed, S.RECEIVED, S.INVALID, no_facts))
        elif closed and state == S.MERGED:
            source = S.DISPATCHED if dispatched else S.RECEIVED
            steps.append((K.MERGED, dispatcher, centre_id, closed, source, S.MERGED, no_facts))
        for kind, actor, dept, at, src, dst, (unit, dispatch, due, on_time) in steps:
            e_writer.append(
                (
                    event_id,
                    ticket_id,
                    kind,
                    actor,
                    dept,
                    _ts(at),
                    src,
                    dst,
                    "",
                    empty,
                    unit,
                    dispatch,
                    _ts(due),
                    on_time,
                    1,
                )
            )
            event_id += 1
        # The callback, for closures of the days before today.
        if state == S.CLOSED and closed is not None and closed < now - timedelta(days=1):
            batch_day = (closed + SHANGHAI_OFFSET).date()
            roll = rng.random()
            status = "done" if roll < 0.86 else "unreachable" if roll < 0.95 else "impossible"
            solved = satisfaction = ""
            score_a = score_e = completed = contacted_flag = at_fault = None
            if status == "done":
                solved = rng.choices(["solved", "partly", "unsolved"], [86, 9, 5])[0]
                satisfaction = rng.choices(["satisfied", "basically", "unsatisfied"], [82, 13, 5])[0]
                score_a, score_e = rng.randint(3, 5), rng.randint(2, 5)
                contacted_flag = int(rng.random() < 0.96)
                at_fault = int(rng.random() < 0.7) if satisfaction == "unsatisfied" or solved == "unsolved" else None
            completed = closed + timedelta(hours=rng.uniform(10, 30))
            agent = agents[callback_id % len(agents)]
            c_writer.append(
                (
                    callback_id, ticket_id, _ts(closed), batch_day.isoformat(), _ts(closed + timedelta(days=1)),
                    agent, status, "未留联系电话" if status == "impossible" else "", "agent",
                    1 if status == "done" else 3, (batch_day + timedelta(days=1)).isoformat(), _ts(completed),
                    contacted_flag, solved, satisfaction, score_a, score_e, "", at_fault, _ts(completed), agent, 0,
                    "", _ts(closed + timedelta(hours=1)), lead_unit,
                )
            )  # fmt: skip
            callback_id += 1
        self.ticket_id, self.event_id, self.callback_id = ticket_id + 1, event_id, callback_id


def reminders_so_far(*, hours: int = 24) -> int:
    """The reminders the deadline scan would already have sent for levels crossed
    more than ``hours`` ago (as if beat had been running all along), so that a
    scan now meets one day's worth of new crossings, not two years'."""
    cutoff = timezone.now() - timedelta(hours=hours)
    escalate_before = escalation_cutoff(cutoff)
    scan_id, made = uuid.uuid4(), 0
    for spec in CLOCKS:
        for level, crossed in level_conditions(spec, cutoff, escalate_before).items():
            if level == 1:
                crossed = Q(**{f"{spec.warn}__lte": cutoff})  # warned at some point, whatever came after
            rows = (
                Ticket.objects.filter(spec.running, crossed)
                .values_list("pk", spec.due, "assignee_department_id", "lead_department_id")
                .iterator(chunk_size=20_000)
            )
            batch = []
            for pk, due, assignee, lead in rows:
                batch.append(
                    Reminder(
                        ticket_id=pk, clock=spec.name, level=level, due_at=due,
                        department_id=assignee or lead, created_at=cutoff, scan_id=scan_id,
                    )
                )  # fmt: skip
                if len(batch) >= 20_000:
                    made += len(Reminder.objects.bulk_create(batch, ignore_conflicts=True))
                    batch = []
            made += len(Reminder.objects.bulk_create(batch, ignore_conflicts=True))
    return made


def long_story(*, events: int = 50) -> Ticket:
    """One open ticket with a long timeline (progress notes), for the change view."""
    ticket = Ticket.objects.filter(state=S.HANDLING).order_by("-pk").first()
    have = ticket.events.count()
    last = ticket.events.order_by("-created_at").values_list("created_at", flat=True).first()
    unit = Department.objects.get(pk=ticket.lead_department_id)
    rows = [
        TicketEvent(
            ticket=ticket,
            kind=K.PROGRESS,
            actor_id=ticket.handler_id,
            actor_department=unit,
            created_at=last + timedelta(minutes=i + 1),
            from_state=S.HANDLING,
            to_state=S.HANDLING,
            note=f"第{i + 1}次进展：已协调相关单位现场处理。",
        )
        for i in range(max(0, events - have))
    ]
    TicketEvent.objects.bulk_create(rows)
    return ticket
