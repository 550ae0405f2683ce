"""Queue isolation with real workers (issue 22): the embedded filesystem broker on
SQLite, Redis (and PostgreSQL) in CI's second stage (``tests.processes``).

A reports worker is held inside a report (it waits for a file this test creates);
meanwhile a ticket's resolve deadline passes and the scan, sent by name like beat
sends it, runs on the scan worker: the reminder is made and its e-mail delivered
while the report is still running. Only then is the report released, and it
completes. Were the scan routed to the reports queue, or consumed by the held
worker, the reminder would wait and the test would time out."""

import subprocess
import sys

import pytest
from django.conf import settings

from cases.models import Delivery, Reminder
from reports.models import Report
from tests.processes import overdue_tickets, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def send(processes, task, *args):
    """Queue ``task`` by name from a separate process, as beat would: the routes in
    settings pick the queue."""
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "call", task, "--args", f"{list(args)!r}".replace("'", '"')],
        env=processes.env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_long_report_does_not_delay_a_due_reminder(city, processes, tmp_path):
    city.handler.email = "handler@street.gov.cn"
    city.handler.save()
    started, release = tmp_path / "report-started", tmp_path / "report-release"
    processes.env.update(HOTLINE_TEST_REPORT_STARTED=str(started), HOTLINE_TEST_REPORT_RELEASE=str(release))

    processes.worker("reports", queues=["reports"], app="tests.blocking_reports")
    processes.worker("urgent", queues=["scan", "notify"])

    # The reports worker (one process) is busy with a report that does not end by itself.
    send(processes, "reports.tasks.build_report", "daily")
    wait_for(started.exists, 120, processes, "the report to start")

    # A deadline passes; the scan is queued behind nothing.
    overdue_tickets(city, 1)
    send(processes, "cases.deadlines.tasks.scan_deadlines")
    wait_for(lambda: Reminder.objects.exists(), 120, processes, "the reminder")
    wait_for(
        lambda: Delivery.objects.filter(channel=Delivery.Channel.EMAIL, status=Delivery.Status.SENT).exists(),
        120,
        processes,
        "the reminder's e-mail",
    )
    # … while the report is still running: not issued, still held.
    assert not Report.objects.exists()
    assert not release.exists()
    # Each worker ran only its own queues' tasks (its log names each task it received).
    assert "Task cases.deadlines.tasks.scan_deadlines[" in processes.log("urgent")
    assert "Task reports.tasks.build_report[" not in processes.log("urgent")
    assert "Task reports.tasks.build_report[" in processes.log("reports")
    assert "Task cases." not in processes.log("reports")

    release.touch()
    wait_for(lambda: Report.objects.filter(kind="daily").exists(), 120, processes, "the report once released")
    assert Reminder.objects.count() == 1
