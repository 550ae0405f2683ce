"""An index for keyword search of a ticket's content and address (issue 20: any
two or more Chinese characters, hits or none, within 300 ms at 1,000,000 tickets).

PostgreSQL: a GIN index on ``cases_bigrams(content, address)``, an IMMUTABLE SQL
function giving the row's character bigrams (of ``upper(content || '\\n' ||
address)``). Not ``pg_trgm`` (the extension is available in Debian's package):
its GIN ``gin_trgm_ops`` index answers ``LIKE '%…%'`` from the trigrams of the
pattern, and a two-character term such as 暖气 has none — the index would be read
whole and every row rechecked, no better than the table scan it replaces. Nor the
built-in full-text search: its parsers do not segment Chinese. Bigrams serve every
term of two or more characters, need no extension (nor superuser rights) and no
dictionary.

SQLite: an FTS5 table with the ``trigram`` tokenizer over the same columns
(external content: ``cases_ticket``), kept by insert/update/delete triggers; a
two-character term falls back to ``LIKE`` there.

The SQL is ``cases.selectors.search``'s (the query beside it). A later SQLite
migration that rebuilds ``cases_ticket`` drops the triggers: ``ensure_keyword_index``
puts them back after every ``migrate`` (and a test checks they are there).
"""

from django.db import migrations

from cases.selectors.search import create_keyword_index, drop_keyword_index


def forwards(apps, schema_editor):
    create_keyword_index(schema_editor)


def backwards(apps, schema_editor):
    drop_keyword_index(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0025_event_kinds"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
