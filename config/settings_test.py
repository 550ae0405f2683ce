"""Settings for the test run (pytest's DJANGO_SETTINGS_MODULE): the product's settings
with what only tests want. Processes the tests start (gunicorn, Celery workers) are
given ``config.settings`` explicitly: they run as in production."""

import os
from urllib.parse import urlsplit, urlunsplit

# Tests sign sessions and tokens in-process only: a fixed key, unless one is given.
os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-test-key-never-use-in-production")


def _one_machine_per_xdist_worker() -> None:
    """Under pytest-xdist (``make test`` runs ``pytest -n auto``) each worker gets
    its own var dir (SQLite test database, broker folders, mail) and its own Redis
    database (cache, Celery broker and results of the workers its tests start), so
    that one worker's ``flushdb`` or ``cache.clear()`` never empties another's.
    PostgreSQL test databases are suffixed per worker by pytest-django itself.
    Children the tests start inherit these variables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", …; unset outside xdist
    if not worker.startswith("gw") or os.environ.get("HOTLINE_XDIST_WORKER") == worker:
        return
    os.environ["HOTLINE_XDIST_WORKER"] = worker  # set once, even if settings are read again
    index = int(worker[2:])
    base = os.environ.get("HOTLINE_VAR_DIR") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "var")
    os.environ["HOTLINE_VAR_DIR"] = os.path.join(base, f"xdist-{worker}")
    for name in ("REDIS_URL", "CACHE_REDIS_URL"):
        if url := os.environ.get(name):
            parts = urlsplit(url)
            database = parts.path.strip("/")
            number = (int(database) if database.isdigit() else 0) + 1 + index  # the given one: the serial pass's
            if number > 15:
                raise RuntimeError(f"{name}: Redis has databases 0-15; xdist worker {worker} would need {number}")
            os.environ[name] = urlunsplit(parts._replace(path=f"/{number}"))


_one_machine_per_xdist_worker()

from .settings import *  # noqa: E402, F403

# Tasks run inline, where the test can see their effects.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)  # noqa: F405
# Failed logins in one test must not lock the fixture users out of the next.
AXES_ENABLED = env_bool("HOTLINE_LOGIN_LOCKOUT", False)  # noqa: F405
# Hashing a dozen fixture passwords with PBKDF2 would dominate the test run.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# archive_history's wait for every process to see the new boundary: one process here.
HOTLINE_ARCHIVE_WAIT_SECONDS = 0
# Replica aliases (DATABASE_REPLICA_URL) read the primary's test database; routing
# to them is off unless a test turns it on (tests/test_replicas*.py): a test's own
# uncommitted rows never reach a real replica.
DATABASE_REPLICAS = []
