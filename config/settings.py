"""Settings for the 12345 hotline case-management system.

Everything that differs between a laptop and production comes from environment
variables (documented in the README). The defaults run the whole product on one
machine with nothing to install: SQLite and an embedded task broker under ``var/``.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HOTLINE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# --- Core -------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

# Management commands that serve requests or keep signed state need the real key;
# the others (check, makemigrations, migrate, …) sign nothing that outlives them.
SERVING_COMMANDS = {"runserver", "up", "runserver_plus", "gunicorn"}
MANAGE_COMMAND = os.environ.get("HOTLINE_MANAGE_COMMAND", "")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-never-use-in-production"
    elif MANAGE_COMMAND and MANAGE_COMMAND not in SERVING_COMMANDS:
        SECRET_KEY = secrets.token_urlsafe(50)  # this process only
    else:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set (or DJANGO_DEBUG=1 for local development).")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] + (["*"] if DEBUG else []))
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "config.apps.HotlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "import_export",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "departments",
    "cases",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RefuseNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChineseByDefaultMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After a write, the user's reads stay on the primary for a while (config/replicas.py).
    "config.middleware.ReplicaPinMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cases.context_processors.calendar_warnings",
                "cases.context_processors.service_warnings",
                "cases.context_processors.inbox",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database ---------------------------------------------------------------------
# DATABASE_URL (postgres://user:pass@host:port/name) selects PostgreSQL; otherwise a
# SQLite file under var/. SQLite runs in WAL mode with IMMEDIATE transactions so the
# web process and the Celery worker can write side by side without "database is
# locked" surprises in the middle of a transaction.

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
            },
            # A file, not memory, so that tests with several threads or processes
            # (parallel intake, a real Celery worker) share one database.
            "TEST": {"NAME": str(VAR_DIR / "test-db.sqlite3")},
        }
    }

# Read replicas (config/replicas.py): DATABASE_REPLICA_URL, one or more PostgreSQL
# streaming replicas of DATABASE_URL's server, comma-separated (aliases "replica",
# "replica2", …). Read-only doors (dashboard, reports, hotspots, exports, the public
# board, Open311 and API list reads, the wall) read from a fit replica; everything else,
# and a user's reads for DATABASE_REPLICA_STICKY_SECONDS after they wrote, from the
# primary. A replica lagging more than DATABASE_REPLICA_MAX_LAG_SECONDS, or unreachable,
# is left out until the next check (every DATABASE_REPLICA_CHECK_SECONDS per process).
DATABASE_REPLICA_ALIASES = []
for _n, _url in enumerate(env_list("DATABASE_REPLICA_URL", [])):
    if not DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL (the replicas' primary).")
    _alias = "replica" if _n == 0 else f"replica{_n + 1}"
    DATABASES[_alias] = dj_database_url.parse(
        _url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    # A replica that does not answer must not hold a request up for long.
    DATABASES[_alias].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_REPLICA_CONNECT_TIMEOUT", 2)
    )
    # Tests: the replica reads the primary's test database (it is never created or
    # flushed through this alias; a real replica receives it by streaming).
    DATABASES[_alias]["TEST"] = {"MIRROR": "default"}
    DATABASE_REPLICA_ALIASES.append(_alias)
#: The replicas routing may use (config/settings_test.py empties it; tests opt in).
DATABASE_REPLICAS = list(DATABASE_REPLICA_ALIASES)
DATABASE_ROUTERS = ["config.replicas.ReplicaRouter"]
DATABASE_REPLICA_STICKY_SECONDS = env_int("DATABASE_REPLICA_STICKY_SECONDS", 10)
DATABASE_REPLICA_MAX_LAG_SECONDS = float(os.environ.get("DATABASE_REPLICA_MAX_LAG_SECONDS") or 10)
DATABASE_REPLICA_CHECK_SECONDS = float(os.environ.get("DATABASE_REPLICA_CHECK_SECONDS") or 5)

# --- Auth -------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# django-axes first: it refuses a locked-out username/address before any password
# is checked, and records every attempt (AccessAttempt / AccessLog in the admin).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("HOTLINE_LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = env_int("HOTLINE_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("HOTLINE_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one guesser cannot lock a colleague out everywhere
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # lockouts are logged as warnings; no banner at every start
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("HOTLINE_PROXY_COUNT", 0)  # trusted reverse proxies in front of the web
# Two-factor login (django-otp, TOTP apps such as FreeOTP or Microsoft Authenticator):
# each person may turn it on under 两步验证; HOTLINE_2FA_REQUIRED=1 makes it compulsory.
HOTLINE_2FA_REQUIRED = env_bool("HOTLINE_2FA_REQUIRED", False)
OTP_TOTP_ISSUER = "12345接诉即办"

# --- Transport, cookies, sessions, CSP ---------------------------------------------
# Production values live in .env.production.example (check --deploy is clean with
# it); the defaults suit the local, plain-HTTP `make run`.

BEHIND_TLS_PROXY = env_bool("DJANGO_BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# A staff session lasts one shift and ends with the browser.
SESSION_COOKIE_AGE = env_int("HOTLINE_SESSION_HOURS", 10) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Content-Security-Policy (django-csp): everything from this site, no inline
# scripts (the one we own carries a nonce), no framing. Inline style attributes
# stay allowed: the admin's own templates use them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],  # Redoc's search
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Internationalisation ---------------------------------------------------------
# The staff interface speaks Chinese; English is available through the language
# switcher. Labels are written in Chinese in the
# code and translated to English in config/locale/en.

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
# Follow the browser's Accept-Language (otherwise only the switcher's cookie counts).
HONOUR_BROWSER_LANGUAGE = env_bool("HOTLINE_HONOUR_BROWSER_LANGUAGE", False)
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Front-end libraries come from the npm registry at install time (`make install`
# runs `npm ci`) and are served from our own static files: no CDN at run time.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [("vendor/echarts", NODE_MODULES / "echarts" / "dist")]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
# Whole requests (forms with several photos) are limited by the web server and here.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Reference-data import/export: importing needs the "change" permission, one
# transaction per file.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
FILE_UPLOAD_PERMISSIONS = 0o640

# --- Logging ----------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Working-day calendar and deadlines (DESIGN §5) -------------------------------
# Working hours are local (Asia/Shanghai) wall-clock segments of a working day.
# HOTLINE_WORKING_HOURS="08:30-12:00,14:00-18:00" overrides them.

WORKING_HOURS = env_list("HOTLINE_WORKING_HOURS", ["08:30-12:00", "14:00-18:00"])
# A clock turns yellow once this share of its allotted time is used ...
DEADLINE_WARNING_RATIO = float(os.environ.get("HOTLINE_WARNING_RATIO", "0.75"))
# ... or, for clocks longer than one working day, when less than this many
# working days are left.
DEADLINE_WARNING_WORKING_DAYS_LEFT = float(os.environ.get("HOTLINE_WARNING_DAYS_LEFT", "1"))
# Extension requests at or after this local time on the day the resolve clock
# falls due count as late (Xining rule), as do requests after the deadline.
EXTENSION_REQUEST_CUTOFF = os.environ.get("HOTLINE_EXTENSION_CUTOFF", "17:00")
# Total working days of extension one ticket may be granted.
EXTENSION_MAX_WORKING_DAYS = env_int("HOTLINE_EXTENSION_MAX_DAYS", 10)
# Deadline of a ticket reopened after an unsatisfied callback (重办).
REOPEN_WORKING_DAYS = env_int("HOTLINE_REOPEN_DAYS", 3)
# 提级督办: the resolve deadline shrinks to at most this many working days.
HOTLINE_ESCALATION_WORKING_DAYS = env_int("HOTLINE_ESCALATION_DAYS", 2)
# 派单异议: the centre rules on a unit's objection to a dispatch within this many
# working days (the ruling clock of the 派单异议待裁定 queue).
DISPATCH_OBJECTION_RULING_WORKING_DAYS = env_int("HOTLINE_OBJECTION_RULING_DAYS", 1)
# 首接负责制: the lead unit of a multi-unit ticket (one with co-handlers) may not ask
# to return it or object to it; it coordinates, adds co-handlers or asks the centre
# to arbitrate. HOTLINE_FIRST_RECEIVER_DUTY=0 turns the rule off.
FIRST_RECEIVER_DUTY = env_bool("HOTLINE_FIRST_RECEIVER_DUTY", True)
# Reworks, or distinct lead units, from which a ticket counts as a problem ticket.
PROBLEM_REWORK_THRESHOLD = env_int("HOTLINE_PROBLEM_REWORKS", 3)
PROBLEM_UNITS_THRESHOLD = env_int("HOTLINE_PROBLEM_UNITS", 3)
# How often a process compares its in-memory copy of the reference data (units,
# grids, categories, policies, calendars, holidays) with the change stamp
# (cases.reference). HOTLINE_HOLIDAY_CACHE_SECONDS is the variable's former name.
REFERENCE_RECHECK_SECONDS = env_int("HOTLINE_REFERENCE_RECHECK_SECONDS", env_int("HOTLINE_HOLIDAY_CACHE_SECONDS", 10))
# Boundary import (departments.boundary_files): two sibling grids, or two units
# under one parent, may overlap by at most this share of the smaller one's area
# (drawing slack along a shared street); more is refused, reported by row.
# HOTLINE_BOUNDARY_OVERLAP_PERCENT in percent.
BOUNDARY_OVERLAP_TOLERANCE = float(os.environ.get("HOTLINE_BOUNDARY_OVERLAP_PERCENT") or 1) / 100
# 受理登记: how far back the intake form looks for possible duplicates (same phone,
# similar words, or the same category at the same compound or grid).
INTAKE_DUPLICATE_WINDOW_DAYS = env_int("HOTLINE_DUPLICATE_WINDOW_DAYS", 7)
# Photos of an intake form that failed to save are kept this long for the retry.
INTAKE_PENDING_UPLOAD_HOURS = env_int("HOTLINE_PENDING_UPLOAD_HOURS", 24)
# 智能派单 (cases/suggestions.py): the model trained on closed tickets. Training reads
# at most the newest SUGGEST_TRAIN_MAX_ROWS of them (bounded time and memory at any
# size), needs at least SUGGEST_MIN_ROWS, keeps SUGGEST_MAX_FEATURES character
# n-grams and the newest SUGGEST_NEIGHBOUR_ROWS tickets for "similar past tickets".
SUGGEST_DIR = Path(os.environ.get("HOTLINE_SUGGEST_DIR", VAR_DIR / "suggest"))
SUGGEST_TRAIN_MAX_ROWS = env_int("HOTLINE_SUGGEST_TRAIN_MAX_ROWS", 200_000)
SUGGEST_MIN_ROWS = env_int("HOTLINE_SUGGEST_MIN_ROWS", 50)
SUGGEST_MAX_FEATURES = env_int("HOTLINE_SUGGEST_MAX_FEATURES", 30_000)
SUGGEST_NEIGHBOUR_ROWS = env_int("HOTLINE_SUGGEST_NEIGHBOUR_ROWS", 20_000)
# Warn administrators this many days before a year the calendar has no data for.
CALENDAR_LOOKAHEAD_DAYS = env_int("HOTLINE_CALENDAR_LOOKAHEAD_DAYS", 60)


# --- Celery ---------------------------------------------------------------------
# REDIS_URL selects Redis as broker and result backend (production). Without it the
# broker is kombu's filesystem transport under var/broker: messages are files,
# a worker claims one by renaming it (atomic on one filesystem), so a laptop runs
# the web process, workers and beat with nothing to install.

REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = VAR_DIR / "broker"
# Redis hands an unacknowledged message (acks_late) to another worker after this long:
# every queue's hard time limit stays below it (see the queues below).
HOTLINE_BROKER_VISIBILITY_TIMEOUT = env_int("HOTLINE_BROKER_VISIBILITY_TIMEOUT", 3600)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": HOTLINE_BROKER_VISIBILITY_TIMEOUT}
else:
    for sub in ("queue", "processed", "control", "results"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost//"  # a host named: kombu warns on every connection without one
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        # Claimed messages are renamed into this folder (same filesystem, so the
        # claim is atomic); a periodic task prunes it.
        "store_processed": True,
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
    }
    CELERY_RESULT_BACKEND = f"file://{BROKER_DIR / 'results'}"

CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# --- Celery queues: routing and time limits, in this one place ---------------------
# Each task of the project is routed by name (tests/test_celery_queues.py fails on a
# task missing here); beat's entries go through the same routes. A worker consumes
# the queues given with -Q: `make run` runs one worker on all of them, production
# one worker (or more) per queue (README, "Production: Redis, workers per queue").
#   scan      deadline scan and reminders, objection rulings, re-timing: never behind a report
#   notify    sending deliveries (e-mail, SMS, chat): a burst does not delay the scan
#   callbacks the nightly 回访 batch (60,000 tickets on a megacity's night)
#   reports   reports, rollups, exports, spike and cluster sweeps, retraining: heavy reads
#   default   the light rest (per-ticket cluster check at intake, pruning)
# No priorities: the filesystem transport has none, and Redis only emulates them
# with one list per priority step, polled in order; separate queues with their own
# workers isolate the urgent work instead.
HOTLINE_QUEUES = ("scan", "notify", "callbacks", "reports", "default")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "cases.deadlines.tasks.scan_deadlines": {"queue": "scan"},
    "cases.deadlines.tasks.retime_deadlines": {"queue": "scan"},
    "cases.notifications.tasks.deliver_many": {"queue": "notify"},
    "cases.notifications.tasks.deliver_due": {"queue": "notify"},
    "cases.callback_tasks.run_callback_batch": {"queue": "callbacks"},
    "reports.tasks.build_report": {"queue": "reports"},
    "reports.tasks.rebuild_rollups": {"queue": "reports"},
    "reports.tasks.export_ledger": {"queue": "reports"},
    "reports.tasks.resume_exports": {"queue": "reports"},
    "reports.tasks.detect_spikes": {"queue": "reports"},
    "cases.tasks.detect_clusters": {"queue": "reports"},
    "cases.tasks.retrain_suggestions": {"queue": "reports"},
    "cases.tasks.link_theme_tickets": {"queue": "reports"},
    "cases.tasks.detect_clusters_for": {"queue": "default"},
    "cases.tasks.prune_broker_files": {"queue": "default"},
    "cases.tasks.prune_pending_uploads": {"queue": "default"},
    "cases.tasks.ensure_partitions": {"queue": "default"},
}
# (soft, hard) time limits per queue, in seconds; env CELERY_<QUEUE>_SOFT_TIME_LIMIT /
# CELERY_<QUEUE>_TIME_LIMIT. The scan is incremental and the re-timing resumable
# (a killed run continues from its watermark), so the scan queue's limit is short;
# a task that outlives Redis's visibility timeout would be delivered a second time,
# so the longest hard limit stays below it.
_QUEUE_LIMIT_DEFAULTS = {
    "scan": (9 * 60, 10 * 60),
    "notify": (4 * 60, 5 * 60),
    "callbacks": (25 * 60, 30 * 60),
    "reports": (50 * 60, 55 * 60),
    "default": (CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT),
}
HOTLINE_QUEUE_TIME_LIMITS = {
    queue: (
        env_int(f"CELERY_{queue.upper()}_SOFT_TIME_LIMIT", soft),
        env_int(f"CELERY_{queue.upper()}_TIME_LIMIT", hard),
    )
    for queue, (soft, hard) in _QUEUE_LIMIT_DEFAULTS.items()
}
# Celery reads time limits per task: each routed task gets its queue's.
CELERY_TASK_ANNOTATIONS = {
    name: dict(zip(("soft_time_limit", "time_limit"), HOTLINE_QUEUE_TIME_LIMITS[route["queue"]], strict=True))
    for name, route in CELERY_TASK_ROUTES.items()
}
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Unit tests run tasks inline (config/settings_test.py); the real-worker tests start real processes.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# The beat schedule lives here, in one place, versioned and reviewed with the code
# (rather than django-celery-beat's database rows, which drift per installation).
# Run exactly one beat process.
HOTLINE_SCAN_INTERVAL_SECONDS = env_int("HOTLINE_SCAN_INTERVAL_SECONDS", 300)
# PostgreSQL: how many local months ahead the timeline's and the history's monthly
# partitions are created (cases.partitions; the DEFAULT partition catches the rest).
HOTLINE_PARTITION_MONTHS_AHEAD = env_int("HOTLINE_PARTITION_MONTHS_AHEAD", 3)
# archive_history waits this long after writing the archive's boundary, before the
# first row moves: every process re-reads it within the reference recheck interval.
HOTLINE_ARCHIVE_WAIT_SECONDS = env_int("HOTLINE_ARCHIVE_WAIT_SECONDS", REFERENCE_RECHECK_SECONDS)
# A year is archived only once none of its tickets had a step for this many days.
HOTLINE_ARCHIVE_QUIET_DAYS = env_int("HOTLINE_ARCHIVE_QUIET_DAYS", 30)
CELERY_BEAT_SCHEDULE = {
    "scan-deadlines": {"task": "cases.deadlines.tasks.scan_deadlines", "schedule": HOTLINE_SCAN_INTERVAL_SECONDS},
    # 回访: yesterday's closures, at 00:30 Asia/Shanghai (HOTLINE_CALLBACK_BATCH_AT="HH:MM").
    "callback-batch": {
        "task": "cases.callback_tasks.run_callback_batch",
        "schedule": crontab(
            hour=int(os.environ.get("HOTLINE_CALLBACK_BATCH_AT", "00:30").split(":")[0]),
            minute=int(os.environ.get("HOTLINE_CALLBACK_BATCH_AT", "00:30").split(":")[1]),
        ),
    },
    "detect-clusters": {"task": "cases.tasks.detect_clusters", "schedule": 15 * 60},
    # Re-timing runs a dead worker left unfinished (a change queues its own run at once).
    "resume-retiming": {"task": "cases.deadlines.tasks.retime_deadlines", "schedule": 10 * 60},
    # Reports: 日小结 08:00 daily, 周通报 Monday 08:10, 月评比 1st 08:20, 年考核 1 January 08:30.
    "report-daily": {"task": "reports.tasks.build_report", "schedule": crontab(hour=8, minute=0), "args": ["daily"]},
    "report-weekly": {
        "task": "reports.tasks.build_report",
        "schedule": crontab(hour=8, minute=10, day_of_week=1),
        "args": ["weekly"],
    },
    "report-monthly": {
        "task": "reports.tasks.build_report",
        "schedule": crontab(hour=8, minute=20, day_of_month=1),
        "args": ["monthly"],
    },
    "report-yearly": {
        "task": "reports.tasks.build_report",
        "schedule": crontab(hour=8, minute=30, day_of_month=1, month_of_year=1),
        "args": ["yearly"],
    },
    "rebuild-rollups": {"task": "reports.tasks.rebuild_rollups", "schedule": crontab(hour=1, minute=30)},
    "rebuild-rollups-today": {"task": "reports.tasks.rebuild_rollups", "schedule": 30 * 60, "args": [1]},
    "resume-exports": {"task": "reports.tasks.resume_exports", "schedule": 5 * 60},
    "detect-spikes": {"task": "reports.tasks.detect_spikes", "schedule": 60 * 60},
    "deliver-due": {
        "task": "cases.notifications.tasks.deliver_due",
        "schedule": env_int("HOTLINE_DELIVER_INTERVAL_SECONDS", 60),
    },
    "prune-broker-files": {"task": "cases.tasks.prune_broker_files", "schedule": crontab(hour=3, minute=17)},
    "prune-pending-uploads": {"task": "cases.tasks.prune_pending_uploads", "schedule": crontab(hour=3, minute=27)},
    # Partitioned history (cases.partitions): next months' partitions, daily (idempotent).
    "ensure-partitions": {"task": "cases.tasks.ensure_partitions", "schedule": crontab(hour=3, minute=37)},
    # 智能派单: retrain the suggestion model on the day's closures, nightly.
    "retrain-suggestions": {"task": "cases.tasks.retrain_suggestions", "schedule": crontab(hour=2, minute=40)},
}

# --- Callbacks and clusters (DESIGN §5–§6) ----------------------------------------

# A callback that reaches nobody this many times (on different days) is "unreachable".
HOTLINE_CALLBACK_MAX_ATTEMPTS = env_int("HOTLINE_CALLBACK_MAX_ATTEMPTS", 3)
# 一人多次: the same phone, same category, this many times within these days.
HOTLINE_REPEAT_CALLER_COUNT = env_int("HOTLINE_REPEAT_CALLER_COUNT", 3)
HOTLINE_REPEAT_CALLER_DAYS = env_int("HOTLINE_REPEAT_CALLER_DAYS", 30)
# 多人集中: this many tickets of one category (or of similar text) in one community
# within these days.
HOTLINE_MASS_COUNT = env_int("HOTLINE_MASS_COUNT", 5)
HOTLINE_MASS_DAYS = env_int("HOTLINE_MASS_DAYS", 3)
# 相似诉求 (cases/clustering.py): cosine of TF-IDF over character n-grams from which
# two demands count as the same (chosen on the tuning half of the labelled set:
# `manage.py bench --only cluster`), looked for among the tickets of the same
# territory — "community", "street", "district" or "city" — over these days, at most
# the newest CANDIDATES of them per new ticket (the work per ticket stays bounded).
HOTLINE_CLUSTER_SIMILARITY = float(os.environ.get("HOTLINE_CLUSTER_SIMILARITY", "0.15"))
HOTLINE_CLUSTER_SCOPE = os.environ.get("HOTLINE_CLUSTER_SCOPE", "street")
HOTLINE_CLUSTER_DAYS = env_int("HOTLINE_CLUSTER_DAYS", 14)
HOTLINE_CLUSTER_CANDIDATES = env_int("HOTLINE_CLUSTER_CANDIDATES", 2000)
# The periodic sweep re-checks the tickets received in these last hours (it runs every
# 15 minutes; the overlap catches what a failed per-ticket task missed).
HOTLINE_CLUSTER_SWEEP_HOURS = env_int("HOTLINE_CLUSTER_SWEEP_HOURS", 2)

# --- Metrics and reports (DESIGN §6) ------------------------------------------------

HOTLINE_METRICS = {
    # 响应率: "contact_clock" = contacted within the contact limit ÷ dispatched;
    # "callback" = callbacks saying the unit made contact ÷ valid callbacks (Beijing style).
    "response_variant": os.environ.get("HOTLINE_RESPONSE_VARIANT", "contact_clock"),
    # 解决率 counts "partly solved" with this weight (0 = not at all).
    "partly_solved_weight": float(os.environ.get("HOTLINE_PARTLY_SOLVED_WEIGHT", "0")),
    # 满意率 = (满意 + w × 基本满意) ÷ valid callbacks.
    "basically_satisfied_weight": float(os.environ.get("HOTLINE_BASICALLY_SATISFIED_WEIGHT", "0.9")),
    # 综合得分 weights.
    "composite_weights": {
        "response": float(os.environ.get("HOTLINE_WEIGHT_RESPONSE", "0.1")),
        "resolution": float(os.environ.get("HOTLINE_WEIGHT_RESOLUTION", "0.5")),
        "satisfaction": float(os.environ.get("HOTLINE_WEIGHT_SATISFACTION", "0.4")),
    },
    # Units with fewer tickets in a period are listed but not ranked: in the reports
    # and on the dashboard alike (env HOTLINE_RANKING_MIN_TICKETS).
    "ranking_min_tickets": env_int("HOTLINE_RANKING_MIN_TICKETS", 5),
    # Size of the red list and of the black list (红黑榜).
    "red_black_size": env_int("HOTLINE_RED_BLACK_SIZE", 5),
}
# Rollups older than this many days are final; newer ones are rebuilt nightly.
HOTLINE_ROLLUP_REBUILD_DAYS = env_int("HOTLINE_ROLLUP_REBUILD_DAYS", 40)
# The wall screen (大屏, /wall/): seconds between refreshes of its numbers (one JSON
# request, no page reload), and between its rotating panels.
HOTLINE_WALL_REFRESH_SECONDS = env_int("HOTLINE_WALL_REFRESH_SECONDS", 60)
HOTLINE_WALL_ROTATE_SECONDS = env_int("HOTLINE_WALL_ROTATE_SECONDS", 15)
# A running ledger export with no progress for this long lost its worker; resume_exports restarts it.
HOTLINE_EXPORT_STALE_MINUTES = env_int("HOTLINE_EXPORT_STALE_MINUTES", 10)
# 突增: a day's count at least this many times the trailing daily mean, and at least
# SPIKE_MIN tickets, over SPIKE_TRAILING_DAYS.
HOTLINE_SPIKE_FACTOR = float(os.environ.get("HOTLINE_SPIKE_FACTOR", "3"))
HOTLINE_SPIKE_MIN = env_int("HOTLINE_SPIKE_MIN", 3)
HOTLINE_SPIKE_TRAILING_DAYS = env_int("HOTLINE_SPIKE_TRAILING_DAYS", 28)
# 每月一题: a theme links (and compares with) the tickets of this many weeks before it
# starts; past tickets are linked in batches of HOTLINE_THEME_LINK_BATCH ids.
HOTLINE_THEME_LOOKBACK_WEEKS = env_int("HOTLINE_THEME_LOOKBACK_WEEKS", 12)
HOTLINE_THEME_LINK_BATCH = env_int("HOTLINE_THEME_LINK_BATCH", 2000)
# Leave a running theme's tickets out of the units' ranking (reports.metrics.ranking_counters).
# Off by default: a ranking is the record units are held to, and a theme is the
# centre's decision to work on a class, not a discharge of the units concerned; a
# city that agrees to spare the lead bureau while it fixes the class turns it on
# (HOTLINE_THEME_EXCLUDE_FROM_RANKING=1), and the rankings say so.
HOTLINE_THEME_EXCLUDE_FROM_RANKING = env_bool("HOTLINE_THEME_EXCLUDE_FROM_RANKING", False)

# --- Cache ------------------------------------------------------------------------
# Throttles and the public lookup's attempt counter live here: shared through Redis
# in production, per process on a laptop.

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache that treats "Redis down" as a miss (config/cache.py).
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": os.environ.get("CACHE_REDIS_URL", REDIS_URL),
            "KEY_PREFIX": "hotline",
        }
    }

# --- API, Open311 and public pages (DESIGN §7) --------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.api.auth.ApiKeyAuthentication",
        "cases.api.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cases.api.auth.IsStaffOrKey", "cases.api.auth.KeyPurpose"],
    "DEFAULT_THROTTLE_CLASSES": ["cases.api.auth.KeyRateThrottle", "cases.api.auth.StaffRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "cases.api.schema.HotlineAutoSchema",
    "EXCEPTION_HANDLER": "cases.api.views.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests per minute: per API key, per logged-in user, per address on the public
# status lookup (wrong guesses count; the page then asks to wait).
HOTLINE_API_RATES = {
    "key": os.environ.get("HOTLINE_API_RATE_KEY", "600/min"),
    "user": os.environ.get("HOTLINE_API_RATE_USER", "600/min"),
    "lookup": os.environ.get("HOTLINE_LOOKUP_RATE", "10/10min"),
    "open311": os.environ.get("HOTLINE_OPEN311_RATE", "300/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "接诉即办 API",
    "DESCRIPTION": "12345 hotline case management: tickets, workflow actions, callbacks, alerts, stats.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TicketStateEnum": "cases.models.choices.TicketState",
        "NatureEnum": "cases.models.choices.Nature",
        "UrgencyEnum": "cases.models.choices.Urgency",
    },
}
# Sensor alert kinds → category codes ("*" for any other kind).
HOTLINE_ALERT_CATEGORIES = {
    "water_meter_idle": os.environ.get("HOTLINE_ALERT_WATER_CATEGORY", "080101"),  # 独居老人关爱
    "gas_leak": os.environ.get("HOTLINE_ALERT_GAS_CATEGORY", "050202"),  # 燃气泄漏
    "*": os.environ.get("HOTLINE_ALERT_DEFAULT_CATEGORY", ""),
}
HOTLINE_OPEN311_JURISDICTION = os.environ.get("HOTLINE_OPEN311_JURISDICTION", "12345.local")
HOTLINE_OPEN311_CONTACT = os.environ.get("HOTLINE_OPEN311_CONTACT", "12345热线中心 open311@12345.local")
# GET requests: the spec's default window and page size (page/page_size extension).
HOTLINE_OPEN311_WINDOW_DAYS = env_int("HOTLINE_OPEN311_WINDOW_DAYS", 90)
HOTLINE_OPEN311_MAX_PAGE_SIZE = env_int("HOTLINE_OPEN311_MAX_PAGE_SIZE", 1000)

# --- Notifications ----------------------------------------------------------------

HOTLINE_SITE_URL = os.environ.get("HOTLINE_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Outside channels, each a class with send(delivery). SMS logs by default; chat
# robots: cases.notifications.backends.WeComRobotBackend (企业微信) or DingTalkRobotBackend (钉钉).
HOTLINE_NOTIFY_BACKENDS = {
    "email": os.environ.get("HOTLINE_EMAIL_BACKEND", "cases.notifications.backends.EmailBackend"),
    "sms": os.environ.get("HOTLINE_SMS_BACKEND", "cases.notifications.backends.LogSMSBackend"),
    "chat": os.environ.get("HOTLINE_CHAT_BACKEND", "cases.notifications.backends.WeComRobotBackend"),
}
HOTLINE_DINGTALK_SECRET = os.environ.get("HOTLINE_DINGTALK_SECRET", "")
# No SMS in these local hours unless the matter is urgent (they wait until the end).
HOTLINE_QUIET_HOURS = os.environ.get("HOTLINE_QUIET_HOURS", "22:00-07:00")
HOTLINE_DELIVERY_MAX_ATTEMPTS = env_int("HOTLINE_DELIVERY_MAX_ATTEMPTS", 5)
HOTLINE_DELIVERY_BACKOFF_SECONDS = [60, 300, 1800, 7200]
# A delivery claimed this long ago by a worker that never finished is handed back.
HOTLINE_DELIVERY_CLAIM_TIMEOUT_SECONDS = env_int("HOTLINE_DELIVERY_CLAIM_TIMEOUT_SECONDS", 600)
HOTLINE_SCAN_CHUNK_SIZE = env_int("HOTLINE_SCAN_CHUNK_SIZE", 500)
# A scan pass looks at the thresholds crossed since the last pass, reaching back
# this much further (a ticket whose transaction committed after the last pass read);
# every so often it checks every running clock instead (cases/deadlines/scan.py).
# A citizen's name and phone, once revealed with a reason, stay visible to that
# person on that ticket for this long (cases/privacy.py).
HOTLINE_REVEAL_MINUTES = env_int("HOTLINE_REVEAL_MINUTES", 30)
HOTLINE_SCAN_OVERLAP_MINUTES = env_int("HOTLINE_SCAN_OVERLAP_MINUTES", 10)
HOTLINE_SCAN_FULL_EVERY_MINUTES = env_int("HOTLINE_SCAN_FULL_EVERY_MINUTES", 60)
# A ticket still red this many working days after its deadline goes to the
# supervisors with a written urge notice.
HOTLINE_ESCALATE_AFTER_WORKING_DAYS = env_int("HOTLINE_ESCALATE_AFTER_WORKING_DAYS", 2)

EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "12345热线中心 <noreply@12345.local>")
EMAIL_TIMEOUT = 15
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))  # for the file-based backend
