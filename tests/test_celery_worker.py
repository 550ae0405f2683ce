"""Real Celery processes against the real broker: the embedded filesystem broker
on SQLite (stage 1), Redis and PostgreSQL in CI's second stage.

Beat schedules the deadline scan every second; a worker picks it up; reminders
arrive. The worker is then killed (SIGKILL) in the middle of the batch and two
new workers take over: in the end every overdue ticket has exactly one reminder,
every reminder its two notifications, and every e-mail went out."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from cases.models import Delivery, Notification, Reminder, Ticket, TicketState

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

OVERDUE = 3000


def _database_env() -> dict:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return {"DATABASE_URL": f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"}
    return {"DATABASE_URL": "", "SQLITE_PATH": str(s["NAME"])}


def _broker_env(tmp_path) -> dict:
    redis_url = os.environ.get("REDIS_URL", "")
    if os.environ.get("CI") == "true" and os.environ.get("DATABASE_URL") and not redis_url:
        pytest.fail("CI stage 2 runs the workers against Redis: REDIS_URL is not set")
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        return {"REDIS_URL": redis_url}
    return {"REDIS_URL": ""}


@pytest.fixture
def celery_env(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "HOTLINE_VAR_DIR": str(tmp_path / "var"),
        "HOTLINE_SCAN_INTERVAL_SECONDS": "1",
        "HOTLINE_DELIVER_INTERVAL_SECONDS": "1",
        "HOTLINE_SCAN_CHUNK_SIZE": "50",
        "HOTLINE_DELIVERY_CLAIM_TIMEOUT_SECONDS": "5",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "PYTHONUNBUFFERED": "1",
        **_database_env(),
        **_broker_env(tmp_path),
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


class Processes:
    def __init__(self, env, tmp_path):
        self.env, self.tmp_path, self.running = env, tmp_path, []

    def start(self, name, *args):
        log = open(self.tmp_path / f"{name}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((name, process, log))
        return process

    def kill(self, process, sig=signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=15)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:  # a warm shutdown that takes too long
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def stop_all(self):
        for _name, process, log in self.running:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
            log.close()

    def logs(self):
        return "\n".join(
            f"--- {name} ---\n{(self.tmp_path / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name, _p, _l in self.running
        )


@pytest.fixture
def processes(celery_env, tmp_path):
    procs = Processes(celery_env, tmp_path)
    yield procs
    procs.stop_all()


def wait_for(condition, timeout, processes, what):
    """Poll the database until ``condition()`` holds (waiting for an event, not
    sleeping for a duration)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}\n{processes.logs()}")


def overdue_tickets(city, n):
    """Tickets in hand whose resolve deadline passed an hour ago (a state the
    workflow reaches; written in bulk because there are thousands)."""
    now = timezone.now()
    due = now - timedelta(hours=1)
    day = timezone.localdate().strftime("%Y%m%d")
    Ticket.objects.bulk_create(
        [
            Ticket(
                number=f"{day}-9{i:04d}",
                channel="hotline",
                nature="complaint",
                urgency="normal",
                category=city.cold_room,
                content=f"第{i}号超期诉求",
                citizen_phone="13800001234",
                state=TicketState.HANDLING,
                lead_department=city.street,
                assignee_department=city.street,
                handler=city.handler,
                received_at=due - timedelta(days=6),
                dispatched_at=due - timedelta(days=6),
                signed_at=due - timedelta(days=6),
                first_contact_at=due - timedelta(days=6),
                resolve_due_at=due,
                resolve_warn_at=due - timedelta(days=1),
                next_due_at=due,
                next_warn_at=due - timedelta(days=1),
                units_passed=1,
            )
            for i in range(n)
        ],
        batch_size=500,
    )


def test_a_killed_worker_loses_and_duplicates_nothing(city, processes, tmp_path):
    city.handler.email = "handler@street.gov.cn"
    city.handler.save()
    overdue_tickets(city, OVERDUE)

    processes.start("beat", "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule"))
    first = processes.start("worker1", "worker", "--loglevel", "INFO", "--concurrency", "1", "--hostname", "w1@%h")

    # Reminders arrive …
    wait_for(lambda: Reminder.objects.exists(), 120, processes, "the first reminders")
    # … and the worker dies in the middle of the batch.
    processes.kill(first)
    at_kill = Reminder.objects.count()
    assert 0 < at_kill < OVERDUE, f"the batch was not interrupted ({at_kill} of {OVERDUE})"

    # Two fresh workers pick up the rest; scans overlap, as beat keeps scheduling.
    processes.start("worker2", "worker", "--loglevel", "INFO", "--concurrency", "2", "--hostname", "w2@%h")
    processes.start("worker3", "worker", "--loglevel", "INFO", "--concurrency", "2", "--hostname", "w3@%h")
    wait_for(lambda: Reminder.objects.count() == OVERDUE, 240, processes, "all reminders")
    wait_for(
        lambda: Notification.objects.filter(reminder__isnull=False).count() == 2 * OVERDUE,
        120,
        processes,
        "all notifications",
    )
    wait_for(
        lambda: (
            not Delivery.objects.exclude(status=Delivery.Status.SENT).exists() and Delivery.objects.count() == OVERDUE
        ),
        240,
        processes,
        "all e-mails sent",
    )

    # Exactly one reminder per ticket, two notifications (handler, unit head) each.
    assert set(Reminder.objects.values_list("level", flat=True)) == {Reminder.Level.RED}
    per_ticket = Reminder.objects.values("ticket").annotate(n=Count("pk")).filter(n__gt=1)
    assert not per_ticket.exists()
    per_reminder = Reminder.objects.annotate(n=Count("notifications")).exclude(n=2)
    assert not per_reminder.exists()
    assert Delivery.objects.filter(status=Delivery.Status.FAILED).count() == 0
    sent_files = list(Path(tmp_path / "mail").glob("*.log"))
    assert sent_files, "no e-mail reached the mail backend"
