"""The CI gate on ``manage.py bench``: a run against a committed baseline.

A baseline is JSON: the tickets and the database it was recorded on, and per row
key its statements per operation and its CPU median (ms). A run fails the gate
when, for any baseline row:

- the row is missing from the run;
- its statements per operation went up (fewer is fine: record a new baseline). A row
  recorded as ``data_dependent`` (the deadline scan, re-timing, the monthly report:
  their statement counts follow what a day of generated load holds, and the load is
  generated relative to today) may rise by ``DATA_SLACK`` (10 %, at least 2)
  statements; a per-row or per-ticket regression multiplies far past that;
- its CPU median more than doubled, counting a baseline under ``CPU_FLOOR_MS`` as
  that floor, so that rows of a fraction of a millisecond do not flap. The limit
  follows the machine: each run also times a fixed pure-Python workload
  (``calibration_ms``, before and after the rows); when this run's took longer
  than the baseline's, the limit grows by that ratio (never shrinks). A second
  calibration (``calibration_db_ms``) times a fixed series of database round trips
  and a fetch of generated rows, the driver's side of every row; the larger of the
  two ratios is used. A shared machine's CPU time per operation moves with its
  neighbours and its clock speed (1.5–2× between hours on the same VM), and the
  driver's share does not move with pure Python's; a regression moves one row,
  not the calibrations.

Wall time is not gated: on a shared machine it measures the neighbours. Pure
functions, so the rules are tested without a database (tests/load/test_bench.py).
"""

import json
import statistics
import time
from pathlib import Path

#: A CPU median more than this many times the baseline's fails.
CPU_FACTOR = 2.0
#: Baselines below this (ms) count as this, so tiny rows do not flap. A row of a
#: few milliseconds is mostly the driver's round trip, which moves with the
#: neighbours more than the calibration's pure Python does: the 50-event timeline
#: read took 1.4 ms CPU one hour and 3.6 ms the next at the same calibration.
CPU_FLOOR_MS = 5.0
#: The statement margin of a data-dependent row: this share of its baseline, at least 2.
DATA_SLACK = 0.10


def _workload() -> int:
    """Dicts, strings and calls: what a page or a verb spends its Python on."""
    total = 0
    for i in range(40_000):
        row = {"id": i, "number": f"2026{i:08d}", "state": "handling", "unit": i % 97}
        total += len(row["number"]) + len(str(row["unit"])) + (row["state"] == "closed")
    return total


#: The database calibration: round trips, and one fetch of this many generated rows.
DB_ROUND_TRIPS = 100
DB_ROWS = 5_000
#: Both backends' SQL: a recursive count, each row with a text made from it.
_DB_ROWS_SQL = (
    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < %s) SELECT g, 'row ' || g FROM s"
)


def _db_workload() -> int:
    """What a row of the bench spends in the driver: round trips, rows decoded."""
    from django.db import connection  # noqa: PLC0415 - the gate's rules import no Django

    total = 0
    with connection.cursor() as cursor:
        for i in range(DB_ROUND_TRIPS):
            cursor.execute("SELECT %s", [i])
            total += cursor.fetchone()[0]
        cursor.execute(_DB_ROWS_SQL, [DB_ROWS])
        total += sum(g for g, _text in cursor.fetchall())
    return total


def _samples(workload, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        workload()
        samples.append((time.process_time() - started) * 1000)
    return samples


def calibration_samples(rounds: int = 5) -> list[float]:
    """CPU milliseconds of ``rounds`` runs of the fixed Python workload."""
    return _samples(_workload, rounds)


def calibration_db_samples(rounds: int = 5) -> list[float]:
    """CPU milliseconds of ``rounds`` runs of the fixed database workload."""
    _db_workload()  # the connection opened and the statement's plan warm
    return _samples(_db_workload, rounds)


def slowdown(baseline: dict, current: dict) -> float:
    """How much slower this run's machine ran the calibrations than the baseline's:
    the larger ratio of the two (1.0 when a side lacks them, or this one was faster)."""
    ratios = [1.0]
    for key in ("calibration_ms", "calibration_db_ms"):
        before, now = baseline.get(key), current.get(key)
        if before and now:
            ratios.append(now / before)
    return max(ratios)


def statement_limit(base: dict) -> int:
    """The most statements a run may have against a baseline row."""
    if not base.get("data_dependent"):
        return base["statements"]
    return base["statements"] + max(2, round(DATA_SLACK * base["statements"]))


def summary(
    rows,
    *,
    tickets: int,
    backend: str,
    calibration: list[float] | None = None,
    calibration_db: list[float] | None = None,
) -> dict:
    """The baseline form of a run: ``rows`` are bench ``Row``s (or anything with
    ``key``, ``queries``, ``cpu_median_ms`` and ``gated``); rows without a CPU
    figure, or whose work depends on the clock (``gated`` false), are left out.
    ``calibration``, ``calibration_db``: the run's ``calibration_samples`` and
    ``calibration_db_samples`` (their medians are kept)."""
    return {
        "tickets": tickets,
        "backend": backend,
        **({"calibration_ms": round(statistics.median(calibration), 3)} if calibration else {}),
        **({"calibration_db_ms": round(statistics.median(calibration_db), 3)} if calibration_db else {}),
        "rows": {
            row.key: {
                "statements": row.queries,
                "cpu_median_ms": round(row.cpu_median_ms, 3),
                **({"data_dependent": True} if getattr(row, "data_dependent", False) else {}),
            }
            for row in rows
            if row.cpu_median_ms is not None and row.gated
        },
    }


def gate(baseline: dict, current: dict) -> list[str]:
    """One message per failure of ``current`` against ``baseline`` (both in the
    ``summary`` form); an empty list passes."""
    failures = []
    for name in ("backend", "tickets"):
        if baseline.get(name) != current.get(name):
            failures.append(
                f"{name}: the baseline was recorded with {baseline.get(name)!r}, this run has {current.get(name)!r}"
            )
    rows = current.get("rows", {})
    slower = slowdown(baseline, current)
    for key, base in baseline.get("rows", {}).items():
        now = rows.get(key)
        if now is None:
            failures.append(f"{key}: in the baseline but not in this run")
            continue
        if now["statements"] > statement_limit(base):
            margin = f" (allowed {statement_limit(base)}: data-dependent)" if base.get("data_dependent") else ""
            failures.append(f"{key}: statements went up from {base['statements']} to {now['statements']}{margin}")
        limit = CPU_FACTOR * max(base["cpu_median_ms"], CPU_FLOOR_MS) * slower
        if now["cpu_median_ms"] > limit:
            machine = f"; this machine ran the calibrations {slower:.2f}× slower" if slower > 1 else ""
            failures.append(
                f"{key}: CPU median {now['cpu_median_ms']:.1f} ms is more than {CPU_FACTOR:g}× "
                f"the baseline's {base['cpu_median_ms']:.1f} ms (limit {limit:.1f} ms{machine})"
            )
    return failures


def operations(baseline: dict) -> set[str]:
    """The bench operations whose rows the baseline holds (a key's part before the dot)."""
    return {key.split(".", 1)[0] for key in baseline.get("rows", {})}


def load(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(path, baseline: dict) -> None:
    Path(path).write_text(json.dumps(baseline, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
