"""The Celery application as configured."""

import subprocess
import sys

from django.conf import settings

from config.celery import app


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
    assert settings.CELERY_BEAT_SCHEDULE["scan-deadlines"]["schedule"] == settings.HOTLINE_SCAN_INTERVAL_SECONDS


def test_json_only_and_time_limits():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit < app.conf.task_time_limit
    for name in [
        "cases.deadlines.tasks.scan_deadlines",
        "cases.notifications.tasks.deliver_many",
        "cases.notifications.tasks.deliver_due",
    ]:
        assert app.tasks[name].acks_late, name


def _broker_in_subprocess(extra_env):
    code = (
        "import django; django.setup(); from config.celery import app; "
        "print(app.conf.broker_url); print(app.conf.result_backend)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1", "PATH": "/usr/bin:/bin", **extra_env}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_redis_url_selects_redis_and_the_default_is_the_embedded_broker(tmp_path):
    broker, backend = _broker_in_subprocess({"REDIS_URL": "redis://cache:6379/2"})
    assert broker == backend == "redis://cache:6379/2"
    broker, backend = _broker_in_subprocess({"HOTLINE_VAR_DIR": str(tmp_path)})
    assert broker == "filesystem://localhost//"
    assert backend == f"file://{tmp_path}/broker/results"
    assert (tmp_path / "broker" / "queue").is_dir()


def test_prune_broker_files_drops_old_claimed_messages(tmp_path, settings):
    import os
    import time

    from cases.tasks import prune_broker_files

    settings.BROKER_DIR = tmp_path
    settings.REDIS_URL = ""
    processed = tmp_path / "processed"
    processed.mkdir()
    old, new = processed / "old.msg", processed / "new.msg"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    assert prune_broker_files() == 1
    assert not old.exists() and new.exists()
