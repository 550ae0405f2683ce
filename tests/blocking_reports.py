"""The project's Celery app for one real-worker test (tests/test_celery_queues_workers.py):
``celery -A tests.blocking_reports worker`` runs the real tasks, except that a report's
data step first waits for a file the test creates (``HOTLINE_TEST_REPORT_RELEASE``),
after touching ``HOTLINE_TEST_REPORT_STARTED``. So the test holds a report running for
exactly as long as it wants, without sleeping for a duration."""

import os
import time
from pathlib import Path

from celery.signals import worker_process_init

from config.celery import app

__all__ = ["app"]

#: A report still held after this long gives up (a test that died left it waiting).
HOLD_TIMEOUT_SECONDS = 300


@worker_process_init.connect
def _hold_reports(**_kwargs):
    """In each pool process: wrap ``report_data`` so a report waits for the release file."""
    from reports import reporting

    real = reporting.report_data
    started = Path(os.environ["HOTLINE_TEST_REPORT_STARTED"])
    release = Path(os.environ["HOTLINE_TEST_REPORT_RELEASE"])

    def held(*args, **kwargs):
        started.touch()
        deadline = time.monotonic() + HOLD_TIMEOUT_SECONDS
        while not release.exists():  # waiting for the test's file, not for a duration
            if time.monotonic() > deadline:
                raise TimeoutError(f"{release} never appeared")
            time.sleep(0.02)
        return real(*args, **kwargs)

    reporting.report_data = held
