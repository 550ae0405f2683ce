"""``python manage.py up``: everything a newcomer needs in one command.

Migrates, loads the demo city, then runs the web server, a Celery worker and
Celery beat side by side (embedded broker unless REDIS_URL is set). Ctrl-C stops
all three."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cases.tooling import demo


class Command(BaseCommand):
    help = "Migrate, seed the demo data and run web + Celery worker + beat (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOTLINE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("HOTLINE_PORT", "8000")))
        parser.add_argument("--no-seed", action="store_true", help="skip the demo data")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")

    def handle(self, *args, **options):
        self.stdout.write(self.style.MIGRATE_HEADING("1/3 数据库迁移 (migrate)"))
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_seed"]:
            self.stdout.write(self.style.MIGRATE_HEADING("2/3 演示数据 (seed_demo)"))
            call_command("seed_demo", stdout=self.stdout)
        self.stdout.write(self.style.MIGRATE_HEADING("3/3 启动 web + Celery worker + beat"))

        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        address = f"{options['host']}:{options['port']}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        commands = {
            "web": [python, manage, "runserver", address, "--noreload"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["concurrency"]),
                "--hostname",
                "worker1@%h",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        processes = {}
        for name, command in commands.items():
            # Each child in its own process group, so Ctrl-C here stops them cleanly.
            processes[name] = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)

        broker = "Redis" if settings.REDIS_URL else f"filesystem ({settings.BROKER_DIR})"
        url = f"http://{'127.0.0.1' if options['host'] in ('0.0.0.0', '::') else options['host']}:{options['port']}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"接诉即办 is running: {url}/admin/"))
        self.stdout.write(
            f"  database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}   broker: {broker}"
        )
        self.stdout.write(f"  logins (password {demo.DEMO_PASSWORD}): " + ", ".join(demo.demo_logins()))
        self.stdout.write("  Ctrl-C stops web, worker and beat.")

        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others.")
                        exit_code = process.returncode or 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            self._shutdown(processes)
        if exit_code:
            sys.exit(exit_code)

    def _shutdown(self, processes):
        self.stdout.write("Stopping …")
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.stdout.write("Stopped.")
