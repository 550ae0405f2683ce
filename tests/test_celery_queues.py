"""Every task on its own queue (issue 22): routing by name, beat through the same
routes, time limits per queue, and ``make run``'s one worker on all queues.
The expected queue of each task is written out here, apart from the settings."""

from pathlib import Path

import pytest
from django.conf import settings

from cases.management.commands.up import Command as Up
from config.celery import app

#: What the product promises: the urgent work never shares a queue with a report.
EXPECTED = {
    "cases.deadlines.tasks.scan_deadlines": "scan",
    "cases.deadlines.tasks.retime_deadlines": "scan",
    "cases.notifications.tasks.deliver_many": "notify",
    "cases.notifications.tasks.deliver_due": "notify",
    "cases.callback_tasks.run_callback_batch": "callbacks",
    "reports.tasks.build_report": "reports",
    "reports.tasks.rebuild_rollups": "reports",
    "reports.tasks.export_ledger": "reports",
    "reports.tasks.resume_exports": "reports",
    "reports.tasks.detect_spikes": "reports",
    "cases.tasks.detect_clusters": "reports",
    "cases.tasks.retrain_suggestions": "reports",
    "cases.tasks.link_theme_tickets": "reports",
    "cases.tasks.detect_clusters_for": "default",
    "cases.tasks.prune_broker_files": "default",
    "cases.tasks.prune_pending_uploads": "default",
    "cases.tasks.ensure_partitions": "default",
}


def our_tasks() -> set[str]:
    """The registered tasks of the project (Celery's own ``celery.*`` left out)."""
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def queue_of(name, options=None) -> str:
    return app.amqp.router.route(dict(options or {}), name, (), {})["queue"].name


def test_every_task_of_ours_is_routed_explicitly():
    tasks = our_tasks()
    assert len(tasks) >= len(EXPECTED)
    unrouted = tasks - set(settings.CELERY_TASK_ROUTES)
    assert not unrouted, f"add these to CELERY_TASK_ROUTES (config/settings.py): {sorted(unrouted)}"
    stale = set(settings.CELERY_TASK_ROUTES) - tasks
    assert not stale, f"routes for tasks that do not exist: {sorted(stale)}"
    assert tasks == set(EXPECTED), "a task was added or moved: update EXPECTED and the README's queue table"


@pytest.mark.parametrize(("name", "queue"), sorted(EXPECTED.items()))
def test_each_task_goes_to_its_queue(name, queue):
    assert queue_of(name) == queue


def test_an_unknown_task_goes_to_the_default_queue_not_celery():
    assert queue_of("something.new") == "default"


def test_beat_entries_go_through_the_same_routes():
    assert settings.CELERY_BEAT_SCHEDULE
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        options = entry.get("options", {})
        assert "queue" not in options, f"{key}: the queue comes from CELERY_TASK_ROUTES, not the beat entry"
        assert entry["task"] in EXPECTED, key
        assert queue_of(entry["task"], options) == EXPECTED[entry["task"]], key


def test_each_queue_is_consumed_and_has_tasks():
    assert set(settings.HOTLINE_QUEUES) == set(EXPECTED.values())
    assert settings.CELERY_TASK_DEFAULT_QUEUE in settings.HOTLINE_QUEUES


def test_time_limits_are_the_queue_s():
    our_tasks()
    limits = settings.HOTLINE_QUEUE_TIME_LIMITS
    for name, queue in EXPECTED.items():
        task = app.tasks[name]
        assert (task.soft_time_limit, task.time_limit) == limits[queue], name
    for queue, (soft, hard) in limits.items():
        assert 0 < soft < hard, queue
        # Redis would hand a task still running past its visibility timeout to a second worker.
        assert hard < settings.HOTLINE_BROKER_VISIBILITY_TIMEOUT, queue
    assert limits["scan"][1] < limits["reports"][1]
    assert limits["notify"][1] < limits["reports"][1]


def test_make_run_starts_one_worker_on_every_queue(tmp_path):
    commands = Up.commands({"host": "127.0.0.1", "port": 8000, "concurrency": 2}, Path(tmp_path))
    worker = commands["worker"]
    queues = worker[worker.index("--queues") + 1]
    assert queues.split(",") == ["scan", "notify", "callbacks", "reports", "default"]
    assert sum("worker" == part for part in worker) == 1
