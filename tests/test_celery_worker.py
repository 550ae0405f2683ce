"""Real Celery processes against the real broker: the embedded filesystem broker
on SQLite (stage 1), Redis and PostgreSQL in CI's second stage.

Beat schedules the deadline scan every second; a worker picks it up; reminders
arrive. The worker is then killed (SIGKILL) in the middle of the batch and two
new workers take over: in the end every overdue ticket has exactly one reminder,
every reminder its two notifications, and every e-mail went out."""

from pathlib import Path

import pytest
from django.db.models import Count

from cases.models import Delivery, Notification, Reminder
from tests.processes import overdue_tickets, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

OVERDUE = 3000


def test_a_killed_worker_loses_and_duplicates_nothing(city, processes, tmp_path):
    city.handler.email = "handler@street.gov.cn"
    city.handler.save()
    overdue_tickets(city, OVERDUE)

    processes.beat()
    first = processes.worker("w1")

    # Reminders arrive …
    wait_for(lambda: Reminder.objects.exists(), 120, processes, "the first reminders")
    # … and the worker dies in the middle of the batch.
    processes.kill(first)
    at_kill = Reminder.objects.count()
    assert 0 < at_kill < OVERDUE, f"the batch was not interrupted ({at_kill} of {OVERDUE})"

    # Two fresh workers pick up the rest; scans overlap, as beat keeps scheduling.
    processes.worker("w2", concurrency=2)
    processes.worker("w3", concurrency=2)
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
