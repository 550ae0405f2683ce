"""``python manage.py up``: everything a newcomer needs in one command.

[1/3] migrates (a progress bar over the migrations), [2/3] loads the demo city
(a progress bar over the tickets, then each follow-up step named as it starts),
[3/3] runs the web server, a Celery worker and Celery beat side by side (embedded
broker unless REDIS_URL is set), their logs in ``var/log/{web,worker,beat}.log``.
The URL and the logins are printed last, once the web server answers. Ctrl-C (or
SIGTERM) asks each of the three to stop as it would on its own (a warm shutdown
for the worker), and only kills what is still running after the grace period.
The console speaks English when the shell's locale is English, Chinese otherwise
(``cases.tooling.console``)."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.management.commands import migrate
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext_lazy as _
from tqdm import tqdm

from cases.tooling import demo
from cases.tooling.console import console_text

#: How long the web server may take to answer before the summary is printed anyway.
WEB_WAIT_SECONDS = 120
#: How long the three may take to stop after Ctrl-C before they are killed.
STOP_GRACE_SECONDS = 20


class _Migrate(migrate.Command):
    """Django's migrate, reporting each applied migration to ``bar``."""

    def __init__(self, bar, **kwargs):
        super().__init__(**kwargs)
        self.bar = bar

    def migration_progress_callback(self, action, migration=None, fake=False):
        if action == "apply_start":
            self.bar.set_postfix_str(f"{migration.app_label}.{migration.name}", refresh=False)
        elif action == "apply_success":
            self.bar.update(1)


class Command(BaseCommand):
    help = "Migrate, seed the demo data and run web + Celery worker + beat (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOTLINE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("HOTLINE_PORT", "8000")))
        parser.add_argument("--no-seed", action="store_true", help="skip the demo data")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")

    def handle(self, *args, **options):
        try:
            self.step(1, console_text(_("数据库迁移")))
            self.migrate()
            if not options["no_seed"]:
                self.step(2, console_text(_("演示数据")))
                self.seed()
        except KeyboardInterrupt:
            # Ctrl-C before web, worker and beat were started: no traceback. What
            # was committed stays; an interrupted replay is not resumed (the next
            # start finds demo tickets and skips it).
            self.stdout.write("\n" + console_text(_("已停止。")))
            sys.exit(130)
        log_dir = settings.VAR_DIR / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.step(3, console_text(_("启动 web、Celery worker 和 beat（日志在 %(dir)s）"), dir=log_dir))
        processes = self.start(options, log_dir)

        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            url = self.local_url(options)
            answered = self.wait_for_web(url, processes, lambda: stopping)
            if answered:
                self.summary(url)
            while not stopping:
                exited = [name for name, process in processes.items() if process.poll() is not None]
                if exited:
                    name = exited[0]
                    code = processes[name].returncode
                    self.stderr.write(
                        console_text(
                            _("%(name)s 已退出（代码 %(code)s），正在停止其他进程；见 %(log)s"),
                            name=name,
                            code=code,
                            log=log_dir / f"{name}.log",
                        )
                    )
                    exit_code = code or 1
                    break
                time.sleep(0.5)
        finally:
            self.shutdown(processes)
        if exit_code:
            sys.exit(exit_code)

    def step(self, number, title):
        self.stdout.write(self.style.MIGRATE_HEADING(f"[{number}/3] {title}"))

    def bar(self, **kwargs):
        # tqdm on stdout, after everything written so far: one stream, in order.
        self.stdout.flush()
        return tqdm(file=sys.stdout, mininterval=0.5, dynamic_ncols=True, **kwargs)

    def migrate(self):
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            self.stdout.write("  " + console_text(_("数据库已是最新，无需迁移。")))
            call_command("migrate", interactive=False, verbosity=0)  # post-migrate signals all the same
            return
        with self.bar(total=len(plan), desc="  " + console_text(_("迁移")), unit="") as bar:
            call_command(_Migrate(bar), interactive=False, verbosity=0)

    def seed(self):
        started = time.process_time()

        def progress(items):
            return self.bar(iterable=items, desc="  " + console_text(_("回放工单")), unit="")

        def out(message):
            self.stdout.write("  " + console_text(message))

        summary = demo.seed(tickets=demo.demo_tickets(), progress=progress, out=out)
        if summary["skipped"]:
            self.stdout.write("  " + console_text(_("演示数据已存在，跳过回放。")))
        else:
            self.stdout.write(
                "  "
                + console_text(
                    _("已回放 %(count)s 件工单，用时 %(seconds).0f CPU 秒。"),
                    count=summary["created"],
                    seconds=time.process_time() - started,
                )
            )

    def start(self, options, log_dir):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        processes = {}
        for name, command in self.commands(options, log_dir).items():
            # Each child in its own session: the terminal's Ctrl-C reaches this
            # process alone, which then asks each child to stop in its own way.
            # Whatever a child still prints (startup lines, a crash) goes to its log.
            with open(log_dir / f"{name}.log", "ab") as log:
                processes[name] = subprocess.Popen(
                    command,
                    env=env,
                    cwd=settings.BASE_DIR,
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        return processes

    @staticmethod
    def commands(options, log_dir) -> dict[str, list[str]]:
        """The command line of web, worker and beat."""
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        address = f"{options['host']}:{options['port']}"
        celery = [python, "-m", "celery", "-A", "config", "--quiet"]
        return {
            "web": [python, manage, "runserver", address, "--noreload"],
            "worker": [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--logfile",
                str(log_dir / "worker.log"),
                "--concurrency",
                str(options["concurrency"]),
                # One worker consumes every queue here; production runs one per queue.
                "--queues",
                ",".join(settings.HOTLINE_QUEUES),
                "--hostname",
                "worker1@%h",
            ],
            "beat": [
                *celery,
                "beat",
                "--loglevel",
                "INFO",
                "--logfile",
                str(log_dir / "beat.log"),
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }

    @staticmethod
    def local_url(options) -> str:
        host = "127.0.0.1" if options["host"] in ("0.0.0.0", "::") else options["host"]
        return f"http://{host}:{options['port']}/admin/"

    @staticmethod
    def wait_for_web(url, processes, stopping) -> bool:
        """Until the web server answers (any HTTP status), it exits, or Ctrl-C."""
        deadline = time.monotonic() + WEB_WAIT_SECONDS
        while time.monotonic() < deadline and not stopping():
            if processes["web"].poll() is not None:
                return False
            try:
                urllib.request.urlopen(url + "login/", timeout=2).close()
                return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                time.sleep(0.3)
        return not stopping()

    def summary(self, url):
        broker = "Redis" if settings.REDIS_URL else console_text(_("内置（%(dir)s）"), dir=settings.BROKER_DIR)
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(console_text(_("接诉即办已启动：%(url)s"), url=url)))
        self.stdout.write("  " + console_text(_("数据库：%(db)s　消息队列：%(broker)s"), db=database, broker=broker))
        self.stdout.write(
            "  "
            + console_text(
                _("演示账号（密码 %(password)s）：%(logins)s"),
                password=demo.DEMO_PASSWORD,
                logins=", ".join(demo.demo_logins()),
            )
        )
        self.stdout.write("  " + console_text(_("按 Ctrl-C 停止 web、worker 和 beat。")))

    def shutdown(self, processes):
        self.stdout.write(console_text(_("正在停止 …")))
        # SIGTERM to each main process only: the worker then stops its own pool
        # (a warm shutdown); a signal to the whole group would kill the pool
        # processes under it and make it log their deaths as errors.
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in processes.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.stderr.write(console_text(_("%(name)s 未能按时停止，强制结束。"), name=name))
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.stdout.write(console_text(_("已停止。")))
