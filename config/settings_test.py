"""Settings for the test run (pytest's DJANGO_SETTINGS_MODULE): the product's settings
with what only tests want. Processes the tests start (gunicorn, Celery workers) are
given ``config.settings`` explicitly: they run as in production."""

import os

# Tests sign sessions and tokens in-process only: a fixed key, unless one is given.
os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-test-key-never-use-in-production")

from .settings import *  # noqa: F403

# Tasks run inline, where the test can see their effects.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)  # noqa: F405
# Failed logins in one test must not lock the fixture users out of the next.
AXES_ENABLED = env_bool("HOTLINE_LOGIN_LOCKOUT", False)  # noqa: F405
# Hashing a dozen fixture passwords with PBKDF2 would dominate the test run.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
