"""The benchmark behind ``manage.py bench``: each operation the product runs at
scale, timed over several runs (median, p95), with its query and row counts, next
to the same answer computed by the plainest raw SQL we can write.

Run it on a database filled by ``manage.py generate_load``. Writes (the scan, the
callback batch) run inside a transaction that is rolled back, so every run sees
the same data."""

import resource
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from .models import Ticket, TicketEvent, TicketState

S = TicketState


class _Rollback(Exception):
    pass


@dataclass
class Row:
    name: str
    target: str
    times: list = field(default_factory=list)
    queries: int = 0
    rows: int = 0
    raw_times: list = field(default_factory=list)
    note: str = ""

    @staticmethod
    def _ms(values, q):
        if not values:
            return None
        ordered = sorted(values)
        if q == 50:
            return statistics.median(ordered) * 1000
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    def cells(self):
        med, p95, raw = self._ms(self.times, 50), self._ms(self.times, 95), self._ms(self.raw_times, 50)
        ratio = f"{med / raw:.1f}×" if med and raw else "—"
        return [
            self.name,
            f"{med:.0f}" if med is not None else "—",
            f"{p95:.0f}" if p95 is not None else "—",
            str(self.queries),
            f"{self.rows:,}",
            f"{raw:.0f}" if raw is not None else "—",
            ratio,
            self.target,
            self.note,
        ]


def _timed(fn, runs):
    times, result, queries = [], None, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        queries = len(ctx.captured_queries)
    return times, result, queries


def _raw(sql, params=()):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else cursor.rowcount

    return run


def _in_rollback(fn):
    """Run ``fn`` in a transaction that is rolled back afterwards."""
    box = {}

    def run():
        try:
            with transaction.atomic():
                box["result"] = fn()
                raise _Rollback
        except _Rollback:
            pass
        return box["result"]

    return run


def _page(client, url):
    def get():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return get


def _listed(response) -> int:
    return response.content.count(b'class="field-number_link"')


def _client(username):
    client = Client(HTTP_HOST="localhost")  # a host the default ALLOWED_HOSTS accepts
    client.force_login(get_user_model().objects.get(username=username))
    return client


OPEN_SQL = "tk.state IN ('received', 'dispatched', 'handling', 'reviewing')"
LIST_SQL = """
SELECT tk.id, tk.number, tk.received_at, tk.content, tk.state, tk.next_due_at, tk.next_warn_at, tk.priority,
       c.name, d.name
FROM cases_ticket tk
JOIN cases_category c ON c.id = tk.category_id
LEFT JOIN departments_department d ON d.id = tk.lead_department_id
{where}
ORDER BY tk.priority, tk.next_due_at NULLS LAST, tk.received_at DESC
LIMIT 50
"""


def run(*, runs: int = 5, only: set | None = None, out=print) -> list[Row]:
    rows: list[Row] = []

    def want(name):
        return only is None or name in only

    def measure(row: Row, fn, raw=None, *, count_rows=None):
        row.times, result, row.queries = _timed(fn, runs)
        if count_rows is not None:
            row.rows = count_rows(result)
        if raw is not None:
            row.raw_times, _r, _q = _timed(raw, runs)
        rows.append(row)
        out("  " + " | ".join(row.cells()))
        return result

    dispatcher = _client("dispatcher")
    if want("changelist"):
        measure(
            Row("admin changelist, dispatcher, default page", "≤ 200 ms, ≤ 15 queries"),
            _page(dispatcher, "/admin/cases/ticket/"),
            _raw(LIST_SQL.format(where=f"WHERE {OPEN_SQL}")),
            count_rows=_listed,
        )
    if want("filtered"):
        url = "/admin/cases/ticket/?state=handling&urgency=normal&channel=hotline&q=1234"
        measure(
            Row("  same, 3 filters + phone last four", "≤ 250 ms"),
            _page(dispatcher, url),
            _raw(
                LIST_SQL.format(
                    where="WHERE tk.state = 'handling' AND tk.urgency = 'normal' AND tk.channel = 'hotline' "
                    "AND tk.citizen_phone_last4 = '1234'"
                )
            ),
            count_rows=_listed,
        )
    if want("street"):
        from departments.selectors import department_subtree_ids, staff_profile

        user = get_user_model().objects.get(username="handler_street")
        ids = department_subtree_ids(staff_profile(user).department)
        marks = ",".join(str(i) for i in ids)
        measure(
            Row("street handler's scoped changelist", "≤ 150 ms"),
            _page(_client("handler_street"), "/admin/cases/ticket/"),
            _raw(
                LIST_SQL.format(
                    where=f"WHERE {OPEN_SQL} AND (tk.lead_department_id IN ({marks}) "
                    f"OR tk.assignee_department_id IN ({marks}) "
                    f"OR tk.id IN (SELECT h.ticket_id FROM cases_cohandling h "
                    f"WHERE h.department_id IN ({marks}) AND h.status <> 'cancelled'))"
                )
            ),
            count_rows=_listed,
        )
    if want("change"):
        ticket = _longest_story()
        measure(
            Row("ticket change view, 50-event timeline", "≤ 150 ms"),
            _page(dispatcher, f"/admin/cases/ticket/{ticket.pk}/change/"),
            _raw(
                "SELECT tk.*, (SELECT json_agg(e ORDER BY e.created_at DESC) FROM cases_ticketevent e "
                "WHERE e.ticket_id = tk.id) FROM cases_ticket tk WHERE tk.id = %s",
                [ticket.pk],
            ),
            count_rows=lambda r: TicketEvent.objects.filter(ticket=ticket).count(),
        )
    if want("scan"):
        from .scan import deadline_scan

        full = Row("deadline scan, full pass", "≤ 5 s, ≤ 2× raw SQL")
        result = measure(
            full,
            _in_rollback(deadline_scan),
            _in_rollback(_raw_scan),
            count_rows=lambda r: sum(r.reminders.values()),
        )
        full.queries = result.queries
        full.note = f"{result.notifications:,} notifications, {result.urges:,} urge notices"
        with transaction.atomic():
            deadline_scan()  # the levels are now recorded …
            again = Row("deadline scan, nothing new", "≤ 0.5 s")
            result = measure(again, deadline_scan, count_rows=lambda r: sum(r.reminders.values()))
            again.queries = result.queries
            transaction.set_rollback(True)
    if want("batch"):
        batch_row = Row("callback batch, 60,000 closed in a day", "≤ 20 s")
        rerun_row = Row("  rerun, nothing new", "≤ 2 s, 0 new rows")
        _callback_batch(batch_row, rerun_row, runs, out, rows)
    if want("report"):
        from reports.metrics import Period
        from reports.reporting import report_data

        today = timezone.localdate()
        month = Period.month(today.replace(day=1) - timedelta(days=1))
        start, end = month.bounds
        measure(
            Row("monthly report, all units", "≤ 1 s, ≤ 1.5× raw SQL"),
            lambda: report_data("monthly", month),
            _raw(
                "SELECT lead_department_id, count(*), count(*) FILTER (WHERE closed_at IS NOT NULL), "
                "count(*) FILTER (WHERE closed_at <= resolve_due_at) FROM cases_ticket "
                "WHERE first_dispatched_at >= %s AND first_dispatched_at < %s GROUP BY lead_department_id",
                [start, end],
            ),
            count_rows=lambda r: len(r["units"]),
        )
    if want("dashboard"):
        leader = _client("leader")
        measure(
            Row("dashboard, all charts (30 days)", "≤ 1 s"),
            _page(leader, "/admin/dashboard/data/?period=30"),
            count_rows=lambda r: len(r.content),
        )
        rows[-1].note = "rows = bytes of JSON"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out(f"  peak memory of this process (scan, batch, report, dashboard in one worker-like process): {rss:.0f} MB RSS")
    return rows


def _longest_story():
    from django.db.models import Count

    return (
        Ticket.objects.filter(state=S.HANDLING, events__kind=TicketEvent.Kind.PROGRESS)
        .annotate(n=Count("events"))
        .order_by("-n")
        .first()
    )


def _raw_scan():
    """The scan's work in three statements: insert the reminders every running clock
    has newly earned (red only, the bulk of it), and count them."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_reminder (ticket_id, clock, level, due_at, department_id, created_at, scan_id)
            SELECT tk.id, 'resolve', 2, tk.resolve_due_at, COALESCE(tk.assignee_department_id, tk.lead_department_id),
                   %s, gen_random_uuid()
            FROM cases_ticket tk
            WHERE tk.state IN ('dispatched', 'handling', 'reviewing') AND tk.resolve_due_at <= %s
            ON CONFLICT DO NOTHING
            """,
            [now, now],
        )
        return cursor.rowcount


def _callback_batch(batch_row, rerun_row, runs, out, rows):
    """Close 60,000 tickets on one past day (inside a rolled-back transaction),
    then time the nightly batch for that day and its rerun."""
    from .callbacks import callback_batch
    from .models import Callback

    day = timezone.localdate() - timedelta(days=400)
    start = timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time()))

    def prepare():
        ids = list(Ticket.objects.filter(state=S.CLOSED).order_by("pk").values_list("pk", flat=True)[:60_000])
        Callback.objects.filter(ticket_id__in=ids).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_ticket SET closed_at = %s + (id %% 86000) * interval '1 second', callback_exempt = false "
                "WHERE id = ANY(%s)",
                [start, ids],
            )
        return len(ids)

    times, rerun_times, raw_times, queries, rerun_queries, made = [], [], [], 0, 0, 0
    for _ in range(runs):
        try:
            with transaction.atomic():
                prepare()
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    result = callback_batch(day=day)
                    times.append(time.perf_counter() - t0)
                queries, made = len(ctx.captured_queries), result.created
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    again = callback_batch(day=day)
                    rerun_times.append(time.perf_counter() - t0)
                rerun_queries = len(ctx.captured_queries)
                assert again.created == 0
                raise _Rollback
        except _Rollback:
            pass
        try:
            with transaction.atomic():
                prepare()
                t0 = time.perf_counter()
                with connection.cursor() as cursor:
                    cursor.execute(
                        """
                        INSERT INTO cases_callback (ticket_id, closed_at, batch_date, status, impossible_reason, via,
                            attempts, next_attempt_on, solved, satisfaction, comment, reopened, overrule_reason,
                            created_at)
                        SELECT tk.id, tk.closed_at, %s, 'pending', '', 'agent', 0, %s, '', '', '', false, '', now()
                        FROM cases_ticket tk
                        WHERE tk.state IN ('closed', 'merged') AND tk.closed_at >= %s AND tk.closed_at < %s
                          AND NOT tk.callback_exempt
                        ON CONFLICT DO NOTHING
                        """,
                        [day, day + timedelta(days=1), start, start + timedelta(days=1)],
                    )
                raw_times.append(time.perf_counter() - t0)
                raise _Rollback
        except _Rollback:
            pass
    batch_row.times, batch_row.queries, batch_row.rows, batch_row.raw_times = times, queries, made, raw_times
    rerun_row.times, rerun_row.queries, rerun_row.rows = rerun_times, rerun_queries, 0
    for row in (batch_row, rerun_row):
        rows.append(row)
        out("  " + " | ".join(row.cells()))


HEADER = ["operation", "median ms", "p95 ms", "queries", "rows", "raw SQL ms", "ratio", "target", "note"]
