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
  that floor, so that rows of a fraction of a millisecond do not flap.

Wall time is not gated: on a shared machine it measures the neighbours. Pure
functions, so the rules are tested without a database (tests/load/test_bench.py).
"""

import json
from pathlib import Path

#: A CPU median more than this many times the baseline's fails.
CPU_FACTOR = 2.0
#: Baselines below this (ms) count as this, so tiny rows do not flap.
CPU_FLOOR_MS = 1.0
#: The statement margin of a data-dependent row: this share of its baseline, at least 2.
DATA_SLACK = 0.10


def statement_limit(base: dict) -> int:
    """The most statements a run may have against a baseline row."""
    if not base.get("data_dependent"):
        return base["statements"]
    return base["statements"] + max(2, round(DATA_SLACK * base["statements"]))


def summary(rows, *, tickets: int, backend: str) -> dict:
    """The baseline form of a run: ``rows`` are bench ``Row``s (or anything with
    ``key``, ``queries``, ``cpu_median_ms`` and ``gated``); rows without a CPU
    figure, or whose work depends on the clock (``gated`` false), are left out."""
    return {
        "tickets": tickets,
        "backend": backend,
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
    for key, base in baseline.get("rows", {}).items():
        now = rows.get(key)
        if now is None:
            failures.append(f"{key}: in the baseline but not in this run")
            continue
        if now["statements"] > statement_limit(base):
            margin = f" (allowed {statement_limit(base)}: data-dependent)" if base.get("data_dependent") else ""
            failures.append(f"{key}: statements went up from {base['statements']} to {now['statements']}{margin}")
        limit = CPU_FACTOR * max(base["cpu_median_ms"], CPU_FLOOR_MS)
        if now["cpu_median_ms"] > limit:
            failures.append(
                f"{key}: CPU median {now['cpu_median_ms']:.1f} ms is more than {CPU_FACTOR:g}× "
                f"the baseline's {base['cpu_median_ms']:.1f} ms (limit {limit:.1f} ms)"
            )
    return failures


def operations(baseline: dict) -> set[str]:
    """The bench operations whose rows the baseline holds (a key's part before the dot)."""
    return {key.split(".", 1)[0] for key in baseline.get("rows", {})}


def load(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(path, baseline: dict) -> None:
    Path(path).write_text(json.dumps(baseline, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
