"""Keyword search of a ticket's content and address, through an index made for it.

``keyword_filter(queryset, term)`` is the one home of "the tickets whose content or
address contains ``term``" (case-insensitive, as ``icontains``): the list's search
box, the API's ``q`` and the ledger exports reach it through ``ticket_search``.
The answer is always exactly ``icontains``'s; the index only narrows the rows
``icontains`` has to look at:

- PostgreSQL: a GIN index on ``cases_bigrams(content, address)`` — the distinct
  two-character pieces of ``upper(content || '\\n' || address)``. A term of two or
  more characters asks ``cases_bigrams(…) @> cases_term_bigrams(term)`` (which the
  index answers) and then ``icontains`` (which removes the rows that have every
  bigram but not the term in one piece). Why bigrams and not ``pg_trgm``: see migration 0026.
- SQLite: an FTS5 ``trigram`` table ``cases_ticket_fts`` over the same two columns,
  kept by triggers. A term of three or more characters asks ``MATCH`` first; a
  two-character term has no trigram, so it is ``icontains`` alone (a table scan, fine
  at the scale SQLite serves).

A term of one character has no bigram either: ``icontains`` alone, on both.

The SQL that makes the index (function, index, FTS table, triggers) lives here and
nowhere else; migration 0026 runs it, and ``ensure_keyword_index`` (after every
``migrate``) puts back the SQLite triggers that a table rebuild drops.
"""

from django.db import connection, connections
from django.db.models import BooleanField, F, Func, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import GreaterThan

# -- PostgreSQL ----------------------------------------------------------------------

PG_FUNCTION = "cases_bigrams"
PG_TERM_FUNCTION = "cases_term_bigrams"
PG_INDEX = "ticket_keyword_bigrams"
SCHEMA = "@schema@"  # replaced by the quoted current schema when the functions are made

PG_CREATE = [
    # The one cut into bigrams, for a term and for a row alike. upper(): the same
    # folding as icontains (UPPER(col) LIKE UPPER(term)), done by the database for
    # both sides, so a row icontains finds always has every bigram of the term.
    # IMMUTABLE, so that it can be indexed (and folded to a constant in a query);
    # no DISTINCT: GIN drops a row's duplicate keys itself.
    f"""
    CREATE OR REPLACE FUNCTION {PG_TERM_FUNCTION}(term text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(substr(s, i, 2)), '{{}}')
        FROM (SELECT upper(term) AS s) AS t, generate_series(1, length(s) - 1) AS i
    $$
    """,
    # A row: its content and address, a line break between them (a bigram across
    # the two has a line break in it, which no search term has). The call names its
    # schema (SCHEMA, filled in at creation): pg_restore rebuilds the index with an
    # empty search_path, where an unqualified cases_term_bigrams is not found.
    f"""
    CREATE OR REPLACE FUNCTION {PG_FUNCTION}(content text, address text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT {SCHEMA}.{PG_TERM_FUNCTION}(content || E'\\n' || address)
    $$
    """,
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON cases_ticket USING gin ({PG_FUNCTION}(content, address))",
]
PG_DROP = [
    f"DROP INDEX IF EXISTS {PG_INDEX}",
    f"DROP FUNCTION IF EXISTS {PG_FUNCTION}(text, text)",
    f"DROP FUNCTION IF EXISTS {PG_TERM_FUNCTION}(text)",
]

# -- SQLite ----------------------------------------------------------------------------

FTS_TABLE = "cases_ticket_fts"
FTS_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON cases_ticket BEGIN
            INSERT INTO {FTS_TABLE}(rowid, content, address) VALUES (new.id, new.content, new.address);
        END""",
    f"{FTS_TABLE}_delete": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON cases_ticket BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, content, address)
                VALUES ('delete', old.id, old.content, old.address);
        END""",
    f"{FTS_TABLE}_update": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF content, address ON cases_ticket
        WHEN old.content IS NOT new.content OR old.address IS NOT new.address BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, content, address)
                VALUES ('delete', old.id, old.content, old.address);
            INSERT INTO {FTS_TABLE}(rowid, content, address) VALUES (new.id, new.content, new.address);
        END""",
}
FTS_CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "content, address, content='cases_ticket', content_rowid='id', tokenize='trigram')"
)
FTS_REBUILD = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"
FTS_DROP = [*(f"DROP TRIGGER IF EXISTS {name}" for name in FTS_TRIGGERS), f"DROP TABLE IF EXISTS {FTS_TABLE}"]


def create_keyword_index(schema_editor) -> None:
    """Make the index for the database behind ``schema_editor`` (migration 0026)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT quote_ident(current_schema())")
            (schema,) = cursor.fetchone()
        for sql in PG_CREATE:
            schema_editor.execute(sql.replace(SCHEMA, schema))
    elif vendor == "sqlite":
        schema_editor.execute(FTS_CREATE)
        schema_editor.execute(FTS_REBUILD)
        for sql in FTS_TRIGGERS.values():
            schema_editor.execute(sql)


def drop_keyword_index(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for sql in PG_DROP if vendor == "postgresql" else FTS_DROP if vendor == "sqlite" else []:
        schema_editor.execute(sql)


def missing_fts_triggers(using=connection) -> list[str]:
    """The SQLite triggers that should keep ``cases_ticket_fts`` and are not there
    (a migration that rebuilds ``cases_ticket`` drops them); [] when the table
    itself is not there (before migration 0026) or on PostgreSQL."""
    if using.vendor != "sqlite":
        return []
    with using.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {(kind, name) for kind, name in cursor.fetchall()}
    if ("table", FTS_TABLE) not in present:
        return []
    return [name for name in FTS_TRIGGERS if ("trigger", name) not in present]


def ensure_keyword_index(using=connection) -> list[str]:
    """Put back missing SQLite triggers and, since rows may have changed without
    them, rebuild the FTS table from ``cases_ticket``. Returns the triggers it made."""
    missing = missing_fts_triggers(using)
    if missing:
        with using.cursor() as cursor:
            for name in missing:
                cursor.execute(FTS_TRIGGERS[name])
            cursor.execute(FTS_REBUILD)
    return missing


# -- the query ---------------------------------------------------------------------------


class _HasBigrams(Func):
    """``cases_bigrams(content, address) @> cases_term_bigrams(term)``: the expression
    the GIN index is on, and the term's bigrams (a constant once planned)."""

    function = PG_FUNCTION
    output_field = BooleanField()

    def __init__(self, term: str):
        super().__init__(F("content"), F("address"))
        self.term = term

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = super().as_sql(compiler, connection, **extra_context)
        return f"{sql} @> {PG_TERM_FUNCTION}(%s)", (*params, self.term)


def _contains_pg(term: str) -> Q:
    """icontains, in a form the planner can live with beside the index condition:
    ``strpos(upper(col), upper(term)) > 0`` is what ``UPPER(col) LIKE UPPER('%term%')``
    says, but its selectivity is guessed at a third (LIKE's at 0.5 %, which,
    multiplied with the index condition's well-estimated one — the two are the same
    fact — made the planner expect one row for thousands, and pick nested loops).
    Cheaper than ``cases_bigrams`` per row, it is evaluated first where the planner
    walks the list's order index and filters (a common term, ``LIMIT 50``)."""
    needle = Upper(Value(term))
    return Q(GreaterThan(StrIndex(Upper("content"), needle), 0)) | Q(GreaterThan(StrIndex(Upper("address"), needle), 0))


#: The index is asked about the term's first characters only: any row that contains
#: the term contains them, the recheck has the whole term, and a pasted page of text
#: does not become a query of thousands of index keys.
INDEX_PREFIX = 32


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def keyword_filter(queryset, term: str):
    """The tickets of ``queryset`` whose content or address contains ``term``."""
    contains = Q(address__icontains=term) | Q(content__icontains=term)
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql" and len(term) >= 2:
        return queryset.filter(_contains_pg(term), _HasBigrams(term[:INDEX_PREFIX]))
    if vendor == "sqlite" and len(term) >= 3:
        hits = RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [_fts_phrase(term[:INDEX_PREFIX])])
        return queryset.filter(Q(pk__in=hits), contains)
    return queryset.filter(contains)
