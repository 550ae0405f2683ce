"""The product as production runs it, on loopback: two gunicorn web processes, two
Celery workers and beat against PostgreSQL and Redis (CI stage 2).

- Tickets created through both web processes at once get distinct numbers.
- Beat scans every second while two workers (and extra scans sent on purpose)
  overlap: every overdue ticket gets one reminder, each person one notification,
  and every e-mail leaves once.
- The 回访 batch sent four times at once makes one callback per closed ticket.
- PostgreSQL restarted under them: web processes and workers reconnect by
  themselves; no request fails once the server is back."""

import http.client
import json
import os
import pwd
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.db import DatabaseError, connection, connections
from django.db.models import Count
from django.utils import timezone

from cases.api_keys import api_key_issue
from cases.models import ApiKey, Callback, Channel, Delivery, Notification, Reminder, Ticket, TicketState
from tests.processes import bulk_tickets, overdue_tickets, wait_for

pytestmark = [
    pytest.mark.postgres,
    # Restarts the PostgreSQL server every other test of the run is using.
    pytest.mark.serial,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    # send_task goes to the real broker even though this process runs tasks eagerly.
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

OVERDUE = 400
CLOSED = 300
API_TICKETS = 60
BATCH_DONE = re.compile(r"cases\.callback_tasks\.run_callback_batch\[[^\]]+\] succeeded")


class Api:
    """A channel's HTTP client for the API served on ``port``."""

    def __init__(self, port):
        self.port = port
        _key, self.raw = api_key_issue(name="app", purpose=ApiKey.Purpose.CHANNEL, channel=Channel.APP)

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"Authorization": f"Api-Key {self.raw}", "Host": "localhost"}
            data = None
            if body is not None:
                data = json.dumps(body, ensure_ascii=False).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def create(self, i):
        status, content = self.request(
            "POST",
            "/api/v1/tickets/",
            {
                "category": "010101",
                "content": f"东关大街1号院{i}号楼暖气不热，室温14度。",
                "citizen_name": "李先生",
                "citizen_phone": f"139{i:08d}",
                "address": "城东区东关大街1号院",
            },
        )
        assert status == 201, content[:500]
        return json.loads(content)["number"]

    def read(self, number):
        status, content = self.request("GET", f"/api/v1/tickets/{number}/")
        assert status == 200, content[:500]
        return json.loads(content)["number"]


@pytest.fixture
def web(processes):
    processes.env["HOTLINE_API_RATE_KEY"] = "100000/min"  # measuring duplicates, not the throttle
    return Api(processes.gunicorn("web", workers=2))


def at_once(call, args, callers=12):
    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(call, args))


def sent_messages(tmp_path) -> int:
    """E-mails the workers handed to the (file-based) mail backend."""
    return sum(f.read_text().count("\nMessage-ID: ") for f in Path(tmp_path / "mail").glob("*.log"))


def closed_yesterday(city, n):
    closed_at = timezone.now() - timedelta(days=1)
    return bulk_tickets(
        city,
        n,
        prefix="8",
        content="第{i}号已办结诉求",
        handled_from=closed_at - timedelta(days=3),
        state=TicketState.CLOSED,
        replied_at=closed_at - timedelta(hours=2),
        closed_at=closed_at,
    )


def test_two_web_processes_two_workers_and_beat_do_nothing_twice(city, processes, web, tmp_path):
    city.handler.email = "handler@street.gov.cn"
    city.handler.save()
    processes.beat()
    processes.worker("w1", concurrency=2)
    processes.worker("w2", concurrency=2)

    # Two web processes take requests at once: every number distinct, every ticket there.
    assert len(processes.children("web")) == 2
    numbers = at_once(web.create, range(API_TICKETS))
    assert len(set(numbers)) == API_TICKETS
    assert Ticket.objects.filter(number__in=numbers).count() == API_TICKETS

    # Deadlines: beat's scan every second, two workers, and four more scans sent on top.
    overdue_tickets(city, OVERDUE)
    for _ in range(4):
        current_app.send_task("cases.deadlines.tasks.scan_deadlines")
    wait_for(lambda: Reminder.objects.count() == OVERDUE, 180, processes, "a reminder for every overdue ticket")
    wait_for(
        lambda: Delivery.objects.count() == OVERDUE and not Delivery.objects.exclude(status=Delivery.Status.SENT),
        180,
        processes,
        "every e-mail sent",
    )
    assert not Reminder.objects.values("ticket", "clock").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert not Reminder.objects.annotate(n=Count("notifications")).exclude(n=2).exists()
    assert not Notification.objects.values("reminder", "recipient").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert sent_messages(tmp_path) == OVERDUE

    # 回访: the batch for yesterday sent four times at once to the two workers.
    closed_yesterday(city, CLOSED)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    for _ in range(4):
        current_app.send_task("cases.callback_tasks.run_callback_batch", args=[yesterday])
    wait_for(
        lambda: sum(len(BATCH_DONE.findall(processes.log(w))) for w in ("w1", "w2")) == 4,
        120,
        processes,
        "four callback batches finished",
    )
    assert Callback.objects.count() == CLOSED
    assert not Callback.objects.values("ticket").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert "Traceback" not in processes.log("w1") + processes.log("w2"), processes.logs()


def postgres_restarter():
    """``pg_ctl restart`` for the server the tests use, found through the server
    itself (its data directory and binaries). Outside CI a server this process
    cannot restart skips the test; in CI it is a failure."""

    def unavailable(why):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to restart PostgreSQL: {why}")
        pytest.skip(f"cannot restart PostgreSQL here: {why}")

    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            data_dir = cursor.fetchone()[0]
            cursor.execute("SELECT setting FROM pg_config WHERE name = 'BINDIR'")
            bin_dir = cursor.fetchone()[0]
    except DatabaseError as error:
        unavailable(f"not a superuser ({error})")
    if not os.path.isdir(data_dir):
        unavailable(f"the server's data directory {data_dir} is not on this machine")
    owner = os.stat(data_dir).st_uid
    command = [f"{bin_dir}/pg_ctl", "-D", data_dir, "-l", f"{data_dir}/restart.log", "-m", "fast", "-w", "restart"]
    if os.getuid() == 0 and owner != 0:
        command = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--", *command]
    elif os.getuid() != owner:
        unavailable(f"{data_dir} belongs to another user")

    def restart():
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        connections.close_all()  # this process's own connection went with the server

    return restart


def server_connections() -> set[int]:
    """Server process ids of the connections open now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'")
        return {pid for (pid,) in cursor.fetchall()}


def test_web_and_workers_reconnect_after_postgres_restarts(city, processes, web, tmp_path):
    restart = postgres_restarter()
    city.handler.email = "handler@street.gov.cn"
    city.handler.save()
    processes.beat()
    processes.worker("w1", concurrency=2)

    # Before: both web processes and the worker hold open connections.
    numbers = at_once(web.create, range(20), callers=8)
    at_once(web.read, numbers, callers=8)
    overdue_tickets(city, 1, prefix="1")
    wait_for(lambda: Delivery.objects.filter(status=Delivery.Status.SENT).count() == 1, 60, processes, "a reminder")
    before = server_connections()

    restart()

    # After: the old connections are gone; every request answers, none is a 500.
    assert not before & server_connections()
    numbers += at_once(web.create, range(20, 40), callers=8)
    assert at_once(web.read, numbers, callers=8) == numbers
    # The worker reconnects too: a ticket overdue since a minute ago (inside the
    # incremental scan's window) gets its reminder and e-mail.
    overdue_tickets(city, 1, prefix="2", ago=timedelta(minutes=1))
    wait_for(
        lambda: Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2, 60, processes, "a reminder after"
    )
    assert Reminder.objects.count() == 2
    assert sent_messages(tmp_path) == 2
