"""Starting gunicorn on loopback for the multi-process tests and the benchmark. No
test-framework imports: ``manage.py bench`` uses it too."""

import os
import secrets
import socket
import subprocess
import sys
import time


def gunicorn_start(workers: int, extra_env: dict | None = None):
    """gunicorn on a free loopback port, production settings, started and ready:
    ``(process, port)``."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",  # not the test run's settings_test
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        **(extra_env or {}),
    }
    server = subprocess.Popen(gunicorn_command(port, workers), env=env)
    try:
        wait_until_serving(server, port)
    except RuntimeError:
        server.terminate()
        raise
    return server, port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
    ]


def wait_until_serving(server, port, timeout=60):
    """Until the server on ``port`` answers HTTP; RuntimeError if it exits first
    or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"GET /admin/login/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                if conn.recv(64).startswith(b"HTTP/1.1 "):
                    return
        except OSError:
            time.sleep(0.2)  # still starting
    raise RuntimeError(f"gunicorn did not answer within {timeout} s")
