"""Real processes for the tests that need them: Celery workers and beat, gunicorn,
each with its own log, started against the test database and the test broker
(the embedded filesystem broker on SQLite; Redis and PostgreSQL in CI stage 2)."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from cases.models import Ticket, TicketState
from tests.servers import free_port, gunicorn_command, wait_until_serving


def database_env() -> dict:
    """The environment that points a child process at the test database."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return {"DATABASE_URL": f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"}
    return {"DATABASE_URL": "", "SQLITE_PATH": str(s["NAME"])}


def broker_env() -> dict:
    """Redis when REDIS_URL is set (emptied first), else the embedded broker."""
    redis_url = os.environ.get("REDIS_URL", "")
    if os.environ.get("CI") == "true" and os.environ.get("DATABASE_URL") and not redis_url:
        pytest.fail("CI stage 2 runs the workers against Redis: REDIS_URL is not set")
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    return {"REDIS_URL": redis_url}


def process_env(tmp_path) -> dict:
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
        **database_env(),
        **broker_env(),
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


class Processes:
    """Child processes in their own sessions; each logs to ``<name>.log``."""

    def __init__(self, env, tmp_path):
        self.env, self.tmp_path, self.running = env, tmp_path, []

    def start(self, name, *argv):
        """``argv`` run as ``python -m …``."""
        return self.spawn(name, [sys.executable, "-m", *argv])

    def spawn(self, name, command):
        log = open(self.tmp_path / f"{name}.log", "wb")
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((name, process, log))
        return process

    def celery(self, name, *args):
        return self.start(name, "celery", "-A", "config", *args)

    def worker(self, name, concurrency=1, queues=settings.HOTLINE_QUEUES, app="config"):
        """A worker consuming ``queues`` (all of them unless told), as ``make run``'s."""
        return self.start(
            name,
            "celery",
            "-A",
            app,
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--queues",
            ",".join(queues),
            "--hostname",
            f"{name}@%h",
        )

    def beat(self):
        return self.celery("beat", "beat", "--loglevel", "INFO", "--schedule", str(self.tmp_path / "beat-schedule"))

    def gunicorn(self, name, workers=2) -> int:
        """gunicorn on a free loopback port with ``workers`` processes; returns the
        port once it answers."""
        port = free_port()
        process = self.spawn(name, gunicorn_command(port, workers))
        try:
            wait_until_serving(process, port)
        except RuntimeError as error:
            pytest.fail(f"{error}\n{self.logs()}")
        return port

    def children(self, name) -> list[int]:
        """Process ids of the children of ``name`` (gunicorn's web workers)."""
        pid = next(process.pid for n, process, _log in self.running if n == name)
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]

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

    def log(self, name) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def logs(self):
        return "\n".join(
            f"--- {name} ---\n{(self.tmp_path / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name, _p, _l in self.running
        )


def wait_for(condition, timeout, processes, what):
    """Poll until ``condition()`` holds (waiting for an event, not sleeping for a
    duration)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}\n{processes.logs()}")


def bulk_tickets(city, n, *, prefix, content, handled_from, **fields):
    """``n`` tickets of the street office, received, dispatched, signed and
    contacted at ``handled_from``, with ``fields`` on top (written in bulk: states
    the workflow reaches, in the thousands)."""
    day = timezone.localdate().strftime("%Y%m%d")
    return Ticket.objects.bulk_create(
        [
            Ticket(
                number=f"{day}-{prefix}{i:04d}",
                channel="hotline",
                nature="complaint",
                urgency="normal",
                category=city.cold_room,
                content=content.format(i=i),
                citizen_phone=f"138{i:08d}",
                lead_department=city.street,
                assignee_department=city.street,
                received_at=handled_from,
                dispatched_at=handled_from,
                signed_at=handled_from,
                first_contact_at=handled_from,
                units_passed=1,
                **fields,
            )
            for i in range(n)
        ],
        batch_size=500,
    )


def overdue_tickets(city, n, *, prefix="9", ago=timedelta(hours=1)):
    """Tickets in hand whose resolve deadline passed ``ago``."""
    due = timezone.now() - ago
    return bulk_tickets(
        city,
        n,
        prefix=prefix,
        content="第{i}号超期诉求",
        handled_from=due - timedelta(days=6),
        state=TicketState.HANDLING,
        handler=city.handler,
        resolve_due_at=due,
        resolve_warn_at=due - timedelta(days=1),
        next_due_at=due,
        next_warn_at=due - timedelta(days=1),
    )
