"""Read replicas (``DATABASE_REPLICA_URL``): the one place that says which reads may
go to a PostgreSQL streaming replica, and whether a replica is fit to take them.

Opt-in: every read goes to the primary ("default") unless the code runs inside a
read-only door marked with :func:`replica_reads` (a context manager) or
:func:`replica_view` (a view decorator that also renders the page inside the door and
retries it on the primary if the replica fails mid-way). The router
(:class:`ReplicaRouter`, ``DATABASE_ROUTERS``) consults that mark, a context variable.
Even inside a door the primary answers:

* every write (``db_for_write``), and every read inside a transaction on the primary
  (``transaction.atomic``, hence every ``select_for_update`` and every workflow verb);
* sign-in, session, permission and two-factor rows (:data:`PRIMARY_APPS`): the login
  a moment ago must be seen;
* requests of a user who wrote in the last ``DATABASE_REPLICA_STICKY_SECONDS``
  (:func:`pin_primary`, set by ``config.middleware.ReplicaPinMiddleware``): they read
  their own writes;
* when no replica is fit: unreachable, or lagging more than
  ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (:func:`replica_states`, measured at most every
  ``DATABASE_REPLICA_CHECK_SECONDS`` per process; a change of state is logged once).

Lag (:func:`replica_lag`): a replica that has replayed all the WAL the primary had
written when asked is 0 s behind, however long ago the primary's last commit was (an
idle primary is not a lagging replica). Behind that position, the oldest commit it
misses is younger than both its last replayed commit and the last moment this process
saw it caught up: the lag is the smaller of those two ages.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError, InterfaceError, OperationalError

logger = logging.getLogger("hotline.replicas")

#: Apps whose rows are always read on the primary: who is signed in, with which
#: permissions and second factor (a replica a few seconds behind would sign the
#: user out after a login or a password change).
PRIMARY_APPS = frozenset({"auth", "sessions", "contenttypes", "admin", "axes", "otp_totp", "otp_static", "django_otp"})

PIN_COOKIE = "hl_primary"
_PIN_SALT = "hotline.replicas.pin"

_door: ContextVar[bool] = ContextVar("hotline_replica_door", default=False)
#: Replica aliases the router handed out in the current door (a fresh list per door).
_used: ContextVar[list | None] = ContextVar("hotline_replica_used", default=None)


def replica_aliases() -> list[str]:
    """The replica aliases routing may use (``settings.DATABASE_REPLICAS``)."""
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


# -- the door ----------------------------------------------------------------------------


@contextmanager
def replica_reads(request=None):
    """Reads inside this block may go to a replica (if one is fit and the request's
    user has not just written). Yields the list of replica aliases the block's reads
    went to."""
    used: list[str] = []
    if request is not None and pinned(request):
        yield used
        return
    token, used_token = _door.set(True), _used.set(used)
    try:
        yield used
    finally:
        _used.reset(used_token)
        _door.reset(token)


def in_replica_door() -> bool:
    return _door.get()


def replica_view(view: Callable) -> Callable:
    """A read-only view (its first argument the request) whose reads may go to a
    replica. A template response is rendered inside the door (its lazy querysets are
    read there too). If a replica fails during the view, it is marked down and the view
    runs again on the primary: the reader sees the page, not an error."""

    @wraps(view)
    def inner(request, *args, **kwargs):
        return read_on_replica(request, lambda: view(request, *args, **kwargs))

    return inner


def replica_method(method: Callable) -> Callable:
    """:func:`replica_view` for a class-based view's handler (``self, request, …``)."""

    @wraps(method)
    def inner(self, request, *args, **kwargs):
        # A REST framework response is rendered later, from data already read.
        return read_on_replica(request, lambda: method(self, request, *args, **kwargs), render=False)

    return inner


def read_on_replica(request, call: Callable, *, render: bool = True):
    """Run ``call`` (a read-only view's work) in a replica door; on a replica failure,
    mark it down and run it again on the primary."""
    if not replica_aliases():
        return call()
    used: list[str] = []
    try:
        with replica_reads(request) as used:
            response = call()
            if render and callable(getattr(response, "render", None)) and not getattr(response, "is_rendered", True):
                response.render()
            return response
    except (OperationalError, InterfaceError) as error:
        broken = [alias for alias in used if _connection_broken(alias)]
        if not broken:
            raise
        for alias in broken:
            mark_down(alias, error)
        logger.warning("%s: a replica failed mid-request; read again on the primary", request.path)
    return call()


def replica_rows(rows, request=None):
    """A generator (a streamed export) whose reads may go to a replica, the door held
    open while it is consumed (unless ``request``'s user had just written when the
    stream was made: the request's own pin, set once its response is ready, does not
    count)."""
    primary = request is not None and pinned(request)

    def stream():
        if primary:
            yield from rows
            return
        with replica_reads():
            yield from rows

    return stream()


def _connection_broken(alias: str) -> bool:
    """Is the replica's connection gone (never opened, or failing a ``SELECT 1``)?"""
    conn = connections[alias]
    if conn.connection is None:
        return True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        return False
    except DatabaseError:
        return True


# -- read-your-writes ----------------------------------------------------------------------


def _pin_key(user_id) -> str:
    return f"replica-pin:{user_id}"


def pin_primary(request, response) -> None:
    """The request wrote: its user's reads stay on the primary for the sticky window
    (a signed cookie for the browser, a cache key for the user, which API clients
    without cookies also carry)."""
    seconds = settings.DATABASE_REPLICA_STICKY_SECONDS
    if seconds <= 0:
        return
    response.set_signed_cookie(PIN_COOKIE, "1", salt=_PIN_SALT, max_age=seconds, httponly=True, samesite="Lax")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        cache.set(_pin_key(user.pk), 1, seconds)


def pinned(request) -> bool:
    """Did this request's user write within the sticky window?"""
    seconds = settings.DATABASE_REPLICA_STICKY_SECONDS
    if seconds <= 0:
        return False
    if request.get_signed_cookie(PIN_COOKIE, default=None, salt=_PIN_SALT, max_age=seconds):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and cache.get(_pin_key(user.pk)))


# -- the router ----------------------------------------------------------------------------


def _in_transaction(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Inside ``transaction.atomic`` on the primary (not counting the atomic block a
    test case wraps each test in)."""
    conn = connections[alias]
    return conn.in_atomic_block and any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)


class ReplicaRouter:
    """Sends reads inside a replica door to a fit replica; everything else to the
    primary (see the module's docstring)."""

    def db_for_read(self, model, **hints):
        if not _door.get():
            return None
        if model._meta.app_label in PRIMARY_APPS or _in_transaction():
            return DEFAULT_DB_ALIAS
        alias = replica_for_reads()
        if alias is None:
            return DEFAULT_DB_ALIAS
        used = _used.get()
        if used is not None and alias not in used:
            used.append(alias)
        return alias

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        same = {DEFAULT_DB_ALIAS, *replica_aliases_configured()}
        if obj1._state.db in same and obj2._state.db in same:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db in replica_aliases_configured():
            return False
        return None


def replica_aliases_configured() -> list[str]:
    """Every replica alias in DATABASES, used for routing or not."""
    return list(getattr(settings, "DATABASE_REPLICA_ALIASES", ()))


# -- lag and fitness ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaState:
    alias: str
    name: str  # host:port/database, never the password
    reachable: bool
    lag_seconds: float | None
    lag_bytes: int | None
    in_use: bool
    error: str = ""

    @property
    def verdict(self) -> str:
        if not self.reachable:
            return "down"
        return "ok" if self.in_use else "lagging"


def replica_lag(
    *, primary_lsn: int, replay_lsn: int | None, replay_age: float | None, caught_up_age: float | None
) -> float | None:
    """Seconds the replica is behind (see the module's docstring), from the primary's
    current WAL position, the replica's replayed position (bytes), the age of the
    replica's last replayed commit and how long ago it was last seen caught up.
    None: not known (the replica has replayed nothing yet and was never caught up)."""
    if replay_lsn is not None and replay_lsn >= primary_lsn:
        return 0.0
    bounds = [age for age in (replay_age, caught_up_age) if age is not None]
    return max(0.0, min(bounds)) if bounds else None


#: An unreachable replica is probed this many check intervals apart.
DOWN_RECHECK_FACTOR = 6

_lock = threading.Lock()
_checked: dict[str, tuple[float, ReplicaState]] = {}
_caught_up_at: dict[str, float] = {}
_verdicts: dict[str, str] = {}


def _name(alias: str) -> str:
    conf = connections[alias].settings_dict
    host = conf.get("HOST") or "localhost"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"{host}{port}/{conf.get('NAME')}"


def _probe(alias: str) -> ReplicaState:
    """Measure one replica now (two small queries: the primary's WAL position, then
    the replica's)."""
    name = _name(alias)
    try:
        replica = connections[alias]
        if replica.vendor != "postgresql":  # a test mirror on SQLite: the same file
            with replica.cursor() as cursor:
                cursor.execute("SELECT 1")
            return _judge(alias, name, lag=0.0, lag_bytes=0)
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
            primary_in_recovery, primary_lsn = cursor.fetchone()
        with replica.cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0'),"
                " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
            )
            in_recovery, replay_lsn, replay_age = cursor.fetchone()
    except DatabaseError as error:
        try:
            connections[alias].close()
        except DatabaseError:
            pass
        return ReplicaState(alias, name, False, None, None, False, str(error).strip()[:300])
    now = time.monotonic()
    if not in_recovery or primary_in_recovery:  # not a standby (a test mirror of the primary)
        return _judge(alias, name, lag=0.0, lag_bytes=0)
    primary_lsn, replay_lsn = int(primary_lsn), None if replay_lsn is None else int(replay_lsn)
    caught_up = _caught_up_at.get(alias)
    lag = replica_lag(
        primary_lsn=primary_lsn,
        replay_lsn=replay_lsn,
        replay_age=None if replay_age is None else float(replay_age),
        caught_up_age=None if caught_up is None else now - caught_up,
    )
    if lag == 0.0:
        _caught_up_at[alias] = now
    lag_bytes = None if replay_lsn is None else max(0, primary_lsn - replay_lsn)
    return _judge(alias, name, lag=lag, lag_bytes=lag_bytes)


def _judge(alias, name, *, lag, lag_bytes) -> ReplicaState:
    fit = lag is not None and lag <= settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    return ReplicaState(alias, name, True, lag, lag_bytes, fit)


def _record(state: ReplicaState) -> ReplicaState:
    """Keep the state; log a change of verdict once (not per request)."""
    _checked[state.alias] = (time.monotonic(), state)
    before = _verdicts.get(state.alias, "ok")
    if state.verdict != before:
        if state.verdict == "ok":
            logger.warning("replica %s (%s) back in use, lag %.1f s", state.alias, state.name, state.lag_seconds or 0)
        elif state.verdict == "lagging":
            logger.warning(
                "replica %s (%s) lags %s s (more than %s s): reads go to the primary",
                state.alias,
                state.name,
                "unknown" if state.lag_seconds is None else f"{state.lag_seconds:.1f}",
                settings.DATABASE_REPLICA_MAX_LAG_SECONDS,
            )
        else:
            logger.error(
                "replica %s (%s) unreachable, reads go to the primary: %s", state.alias, state.name, state.error
            )
    _verdicts[state.alias] = state.verdict
    return state


def replica_state(alias: str, *, refresh: bool = False) -> ReplicaState:
    """One replica's state, measured at most every ``DATABASE_REPLICA_CHECK_SECONDS``
    in this process (``refresh``: now); an unreachable one every
    :data:`DOWN_RECHECK_FACTOR` times that (a host that does not answer costs the
    request that probes it a connect timeout)."""
    with _lock:
        seen = _checked.get(alias)
        if not refresh and seen is not None:
            interval = settings.DATABASE_REPLICA_CHECK_SECONDS
            if seen[1].verdict == "down":
                interval *= DOWN_RECHECK_FACTOR
            if time.monotonic() - seen[0] < interval:
                return seen[1]
        return _record(_probe(alias))


def replica_states(*, refresh: bool = False) -> list[ReplicaState]:
    """Every configured replica's state (administrators see these on the admin index)."""
    return [replica_state(alias, refresh=refresh) for alias in replica_aliases()]


def replica_for_reads() -> str | None:
    """A replica fit for reads now (one at random among the fit), or None."""
    fit = [state.alias for state in replica_states() if state.in_use]
    return random.choice(fit) if fit else None


def mark_down(alias: str, error: Exception | str) -> None:
    """A door found the replica failing: reads go to the primary until the next check
    finds it back."""
    try:
        connections[alias].close()
    except DatabaseError:
        pass
    with _lock:
        _record(ReplicaState(alias, _name(alias), False, None, None, False, str(error).strip()[:300]))


def forget() -> None:
    """Start afresh (each test does)."""
    with _lock:
        _checked.clear()
        _caught_up_at.clear()
        _verdicts.clear()
