"""The little SQL the engine writes by hand, for PostgreSQL (production, tests, benchmarks) and SQLite (the demo).

Set-based work over id lists goes through a temporary table: COPY fills it on PostgreSQL (a million ids in well
under a second) and ANALYZE tells the planner how big it is; SQLite gets plain INSERTs. Datetimes are passed as
the backend stores them (`dt`).
"""

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

_counter = itertools.count()


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def dt(value):
    """A datetime as a raw-SQL parameter (SQLite stores naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def skip_locked() -> str:
    """`FOR UPDATE SKIP LOCKED` where the backend has it; SQLite serialises writers anyway."""
    return " FOR UPDATE SKIP LOCKED" if is_postgres() else ""


@contextmanager
def temp_table(cursor, columns: str, rows: Iterable[tuple]) -> Iterator[str]:
    """A temporary table with these columns ("k bigint, customer_id integer"), filled with `rows`; dropped after.

    Must run inside a transaction (on PostgreSQL it is also dropped at commit)."""
    name = f"delivery_tmp_{next(_counter)}"
    names = [part.split()[0] for part in columns.split(",")]
    if is_postgres():
        cursor.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY {name} ({', '.join(names)}) FROM STDIN") as copy:
            copy.write("".join("\t".join(_text(value) for value in row) + "\n" for row in rows))
        cursor.execute(f"ANALYZE {name}")
    else:
        cursor.execute(f"CREATE TEMP TABLE {name} ({columns})")
        cursor.executemany(f"INSERT INTO {name} VALUES ({', '.join(['%s'] * len(names))})", list(rows))
    yield name
    # Not in a `finally`: after an error the transaction is rolled back, which takes the table with it.
    cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _text(value) -> str:
    return "\\N" if value is None else str(value)
