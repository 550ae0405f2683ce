"""The bench and its CI gate: the gate's rules on synthetic rows (no database),
and the command itself on a tiny generated city, its columns and its --check."""

import json
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from cases.tooling.bench import HEADER, LOCATE_GRIDS, Statements, _locate_world
from cases.tooling.bench_gate import calibration_db_samples, calibration_samples, gate, operations, summary


def _run(backend="postgresql", tickets=20_000, **rows):
    return {
        "backend": backend,
        "tickets": tickets,
        "rows": {key: {"statements": s, "cpu_median_ms": cpu} for key, (s, cpu) in rows.items()},
    }


BASE = _run(change=(12, 40.0), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 0.2)})


def test_the_same_or_better_passes():
    assert gate(BASE, BASE) == []
    better = _run(change=(11, 30.0), **{"transition.sign": (5, 8.0), "scan.quiet": (3, 0.1)})
    assert gate(BASE, better) == []  # fewer statements; CPU exactly twice is not "more than doubles"


def test_one_more_statement_fails_naming_the_row():
    worse = _run(change=(13, 40.0), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 0.2)})
    assert gate(BASE, worse) == ["change: statements went up from 12 to 13"]


def test_cpu_more_than_doubled_fails():
    worse = _run(change=(12, 80.1), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 0.2)})
    (failure,) = gate(BASE, worse)
    assert failure.startswith("change: CPU median 80.1 ms is more than 2× the baseline's 40.0 ms")


def test_the_limit_follows_a_slower_machine_and_never_tightens():
    base = {**BASE, "calibration_ms": 20.0}
    doubled = _run(change=(12, 100.0), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 0.2)})
    # the same work on a machine that ran the calibration 1.5× slower: limit 120 ms
    assert gate(base, {**doubled, "calibration_ms": 30.0}) == []
    # on the baseline's speed, 100 ms is past twice 40
    (failure,) = gate(base, {**doubled, "calibration_ms": 20.0})
    assert failure.startswith("change: CPU median 100.0 ms is more than 2× the baseline's 40.0 ms (limit 80.0 ms)")
    # a faster machine does not tighten it, and a regression past the scaled limit fails with the reason
    assert gate(base, {**BASE, "calibration_ms": 10.0}) == []
    regressed = _run(change=(12, 130.0), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 0.2)})
    (failure,) = gate(base, {**regressed, "calibration_ms": 30.0})
    assert failure.endswith("(limit 120.0 ms; this machine ran the calibrations 1.50× slower)")
    # without a calibration on either side the limit is the plain one
    assert gate(BASE, {**doubled, "calibration_ms": 30.0})


def test_the_limit_follows_the_slower_of_the_two_calibrations():
    base = {**BASE, "calibration_ms": 20.0, "calibration_db_ms": 10.0}
    doubled = _run(change=(12, 100.0), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 0.2)})
    # Python at the baseline's speed, the driver's round trips 1.5× slower: limit 120 ms
    assert gate(base, {**doubled, "calibration_ms": 20.0, "calibration_db_ms": 15.0}) == []
    # both at the baseline's speed: 100 ms is past twice 40
    (failure,) = gate(base, {**doubled, "calibration_ms": 20.0, "calibration_db_ms": 10.0})
    assert "(limit 80.0 ms)" in failure
    # a baseline without the database calibration: the Python one alone
    (failure,) = gate({**BASE, "calibration_ms": 20.0}, {**doubled, "calibration_ms": 20.0, "calibration_db_ms": 99.0})
    assert "(limit 80.0 ms)" in failure


@pytest.mark.django_db
def test_the_calibrations_are_cpu_figures_kept_as_their_medians():
    samples = calibration_samples(rounds=3)
    assert len(samples) == 3 and all(ms > 0 for ms in samples)
    db_samples = calibration_db_samples(rounds=2)
    assert len(db_samples) == 2 and all(ms > 0 for ms in db_samples)
    kept = summary([], tickets=1, backend="sqlite", calibration=[3.0, 1.0, 2.0], calibration_db=[5.0, 4.0, 9.0])
    assert (kept["calibration_ms"], kept["calibration_db_ms"]) == (2.0, 5.0)


def test_tiny_rows_count_from_the_floor():
    # 0.2 ms → 9.9 ms is fifty times, but under twice the 5 ms floor: no flapping.
    noisy = _run(change=(12, 40.0), **{"transition.sign": (6, 9.9), "scan.quiet": (3, 9.9)})
    assert gate(BASE, noisy) == []
    slow = _run(change=(12, 40.0), **{"transition.sign": (6, 4.0), "scan.quiet": (3, 10.1)})
    assert [f.split(":")[0] for f in gate(BASE, slow)] == ["scan.quiet"]


def test_a_data_dependent_row_has_a_small_statement_margin_and_no_more():
    base = {
        **BASE,
        "rows": {**BASE["rows"], "report": {"statements": 43, "cpu_median_ms": 200.0, "data_dependent": True}},
    }
    within = {**base, "rows": {**base["rows"], "report": {"statements": 47, "cpu_median_ms": 200.0}}}
    assert gate(base, within) == []  # 43 + 10 % (4)
    past = {**base, "rows": {**base["rows"], "report": {"statements": 48, "cpu_median_ms": 200.0}}}
    assert gate(base, past) == ["report: statements went up from 43 to 48 (allowed 47: data-dependent)"]
    small = {
        **BASE,
        "rows": {**BASE["rows"], "scan.quiet": {"statements": 3, "cpu_median_ms": 0.2, "data_dependent": True}},
    }
    assert (
        gate(small, {**small, "rows": {**small["rows"], "scan.quiet": {"statements": 5, "cpu_median_ms": 0.2}}}) == []
    )
    assert gate(small, {**small, "rows": {**small["rows"], "scan.quiet": {"statements": 6, "cpu_median_ms": 0.2}}})


def test_a_missing_row_fails_and_a_new_one_does_not():
    fewer = _run(change=(12, 40.0), **{"scan.quiet": (3, 0.2), "search.rare": (16, 30.0)})
    assert gate(BASE, fewer) == ["transition.sign: in the baseline but not in this run"]


def test_another_database_or_size_fails():
    failures = gate(BASE, {**BASE, "backend": "sqlite", "tickets": 600})
    assert failures == [
        "backend: the baseline was recorded with 'postgresql', this run has 'sqlite'",
        "tickets: the baseline was recorded with 20000, this run has 600",
    ]


def test_summary_keeps_gated_rows_with_a_cpu_figure_and_operations_come_from_keys():
    rows = [
        SimpleNamespace(key="transition.sign", queries=6, cpu_median_ms=4.04449, gated=True),
        SimpleNamespace(key="memory", queries=0, cpu_median_ms=None, gated=True),
        SimpleNamespace(key="scan.beat", queries=23, cpu_median_ms=30.0, gated=False),
        SimpleNamespace(key="report", queries=43, cpu_median_ms=200.0, gated=True, data_dependent=True),
    ]
    result = summary(rows, tickets=5, backend="sqlite")
    assert result == {
        "tickets": 5,
        "backend": "sqlite",
        "rows": {
            "transition.sign": {"statements": 6, "cpu_median_ms": 4.044},
            "report": {"statements": 43, "cpu_median_ms": 200.0, "data_dependent": True},
        },
    }
    assert operations(BASE) == {"change", "transition", "scan"}


def test_check_needs_a_readable_baseline_and_a_warm_run(tmp_path):
    with pytest.raises(CommandError, match="cannot read the baseline"):
        call_command("bench", check=str(tmp_path / "missing.json"))
    with pytest.raises(CommandError, match="--runs 2 or more"):
        call_command("bench", runs=1, check=str(tmp_path / "missing.json"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_command_prints_cpu_and_statements_and_gates(tmp_path, capsys):
    call_command("generate_load", tickets=200, years=0.1, open_share=0.5, no_progress=True)
    capsys.readouterr()
    baseline = tmp_path / "baseline.json"
    call_command("bench", runs=2, only=["transition", "search"], write_baseline=str(baseline))
    out = capsys.readouterr().out
    assert "  " + " | ".join(HEADER) in out
    assert {"wall median ms", "CPU median ms", "CPU p95 ms", "statements"} <= set(HEADER)
    keys = ["transition.dispatch", "transition.sign", "transition.contact", "transition.reply"]
    keys += ["transition.approve", "search.common", "search.rare"]
    lines = {line.split(" | ")[0].strip(): line.split(" | ") for line in out.splitlines() if " | " in line}
    for key in keys:
        cells = lines[key]
        assert len(cells) == len(HEADER)
        assert float(cells[HEADER.index("CPU median ms")]) > 0
        assert int(cells[HEADER.index("statements")]) > 0
    recorded = json.loads(baseline.read_text())
    assert recorded["tickets"] == 200 and recorded["backend"] == connection.vendor
    assert sorted(recorded["rows"]) == sorted(keys)

    # --check runs the baseline's operations: generous CPU passes, one statement fewer fails
    for row in recorded["rows"].values():
        row["cpu_median_ms"] = 1e6
    baseline.write_text(json.dumps(recorded))
    call_command("bench", runs=2, check=str(baseline))
    assert "bench gate passed" in capsys.readouterr().out
    recorded["rows"]["search.rare"]["statements"] -= 1
    baseline.write_text(json.dumps(recorded))
    with pytest.raises(CommandError, match="bench gate failed"):
        call_command("bench", runs=2, check=str(baseline))
    assert "search.rare: statements went up" in capsys.readouterr().err


@pytest.mark.django_db
def test_the_locate_row_finds_each_point_in_its_lattice_cell(capsys):
    """The row's index answers what arithmetic on the lattice answers, and its
    row count is the points inside the city, recounted here."""
    index, points = _locate_world()
    side = int(LOCATE_GRIDS**0.5)
    west, south, east, north = 101.6582, 36.5371, 101.8982, 36.6971
    inside = 0
    for lng, lat in points:
        if not (west <= lng <= east and south <= lat <= north):
            assert index.locate(lng, lat) is None
            continue
        inside += 1
        i = min(int((lng - west) / ((east - west) / side)), side - 1)
        j = min(int((lat - south) / ((north - south) / side)), side - 1)
        assert index.locate(lng, lat) == i * side + j + 1
    call_command("bench", runs=2, only=["locate"])  # no tickets needed: the index is built in memory
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("locate |"))
    cells = [c.strip() for c in line.split("|")]
    assert cells[6] == "0"  # statements
    assert int(cells[7].replace(",", "")) == inside


@pytest.mark.django_db
def test_statements_are_counted_exactly_past_djangos_query_log():
    """A row's statements stay exact after a long row: Django's query log keeps the
    last 9,000 and, once full, a capture by its length counts 0."""
    with Statements() as long_row, connection.cursor() as cursor:
        for _ in range(9_050):
            cursor.execute("SELECT 1")
    with Statements() as next_row, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")
    assert len(long_row.captured_queries) == 9_050
    assert [q["sql"] for q in next_row.captured_queries] == ["SELECT 1", "SELECT 2"]
