"""The README's backup procedure, run for real: dump the database, restore the dump
into a new one, and find every ticket with its whole timeline and history.

PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore`` (what production runs).
SQLite (the local setup): ``VACUUM INTO`` a copy, the online-backup equivalent."""

import os
import shutil
import sqlite3
import subprocess

import psycopg
import pytest
from django.db import connection

from cases.models import Ticket, TicketState
from tests.conftest import drive, new_ticket

S = TicketState

SUMMARY = """
SELECT t.number, t.state,
       (SELECT count(*) FROM cases_ticketevent e WHERE e.ticket_id = t.id),
       (SELECT count(*) FROM cases_historicalticket h WHERE h.id = t.id)
FROM cases_ticket t ORDER BY t.number
"""


def pg_args(settings_dict) -> tuple[list[str], dict]:
    args = ["-h", settings_dict["HOST"] or "localhost", "-p", str(settings_dict["PORT"] or 5432)]
    if settings_dict["USER"]:
        args += ["-U", settings_dict["USER"]]
    env = {**os.environ, "PGPASSWORD": settings_dict["PASSWORD"] or ""}
    return args, env


def run(command, env=None):
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"


def restore_postgres(tmp_path) -> list[tuple]:
    for tool in ("pg_dump", "pg_restore", "createdb", "dropdb"):
        assert shutil.which(tool), f"{tool} is not installed (Debian: postgresql-client)"
    settings_dict = connection.settings_dict
    args, env = pg_args(settings_dict)
    dump = tmp_path / "hotline.dump"
    run(["pg_dump", *args, "--format=custom", "--file", str(dump), settings_dict["NAME"]], env)
    copy = f"{settings_dict['NAME']}_restored"
    run(["dropdb", *args, "--if-exists", copy], env)
    run(["createdb", *args, copy], env)
    try:
        run(["pg_restore", *args, "--no-owner", "--exit-on-error", "--dbname", copy, str(dump)], env)
        with psycopg.connect(
            host=args[1], port=args[3], user=settings_dict["USER"] or None, password=env["PGPASSWORD"], dbname=copy
        ) as restored:
            return [tuple(row) for row in restored.execute(SUMMARY).fetchall()]
    finally:
        run(["dropdb", *args, "--if-exists", copy], env)


def restore_sqlite(tmp_path) -> list[tuple]:
    copy = tmp_path / "hotline-backup.sqlite3"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(copy)])
    restored = sqlite3.connect(copy)
    try:
        return [tuple(row) for row in restored.execute(SUMMARY).fetchall()]
    finally:
        restored.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_restored_backup_has_every_ticket_and_its_timeline(city, tmp_path):
    for state in [S.RECEIVED, S.DISPATCHED, S.HANDLING, S.REVIEWING, S.CLOSED]:
        drive(city, new_ticket(city), state)
    with connection.cursor() as cursor:
        cursor.execute(SUMMARY)
        expected = [tuple(row) for row in cursor.fetchall()]
    assert len(expected) == Ticket.objects.count() == 5
    assert sum(events for _n, _s, events, _h in expected) > 5  # whole timelines, not just the intake
    if connection.vendor == "postgresql":
        restored = restore_postgres(tmp_path)
    else:
        restored = restore_sqlite(tmp_path)
    assert restored == expected
