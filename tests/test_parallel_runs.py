"""`make test` spreads the suite over pytest-xdist workers: each worker must get a
machine of its own (config/settings_test.py) — its own var dir (SQLite test database,
broker folders) and its own Redis database (a worker's ``flushdb`` or
``cache.clear()`` must not empty another's queue) — and tests marked ``serial`` are
never run beside others."""

import json
import os
import subprocess
import sys

from django.conf import settings

SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([str(s.VAR_DIR), s.REDIS_URL, s.CACHES['default'].get('LOCATION', ''), "
    "s.DATABASES['default']['TEST']['NAME']]))"
)


def _test_settings(**env) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "HOTLINE_XDIST", "REDIS_URL"))}
    clean.pop("CACHE_REDIS_URL", None)
    clean.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings_test", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_xdist_worker_gets_its_own_var_dir_and_redis_database(tmp_path):
    base = str(tmp_path / "var")
    redis = "redis://127.0.0.1:56379/0"
    alone = _test_settings(HOTLINE_VAR_DIR=base, REDIS_URL=redis)
    gw0 = _test_settings(HOTLINE_VAR_DIR=base, REDIS_URL=redis, PYTEST_XDIST_WORKER="gw0")
    gw1 = _test_settings(HOTLINE_VAR_DIR=base, REDIS_URL=f"{redis.removesuffix('/0')}", PYTEST_XDIST_WORKER="gw1")
    assert alone == [base, redis, redis, f"{base}/test-db.sqlite3"]
    assert gw0 == [f"{base}/xdist-gw0", "redis://127.0.0.1:56379/1", "redis://127.0.0.1:56379/1", gw0[3]]
    assert gw1[:3] == [f"{base}/xdist-gw1", "redis://127.0.0.1:56379/2", "redis://127.0.0.1:56379/2"]
    assert len({alone[3], gw0[3], gw1[3]}) == 3  # three SQLite test databases


def test_serial_tests_are_left_out_of_a_parallel_run(pytestconfig):
    """The restart of PostgreSQL must never run beside another test."""
    from tests.test_multiprocess import pytestmark

    assert any(mark.name == "serial" for mark in pytestmark)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--co",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "tests/test_multiprocess.py",
        ],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "test_multiprocess.py::" not in done.stdout, done.stdout
    assert "deselected" in done.stdout, done.stdout + done.stderr
