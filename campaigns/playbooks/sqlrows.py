"""Rows from Python as one SQL source, for set-based statements on PostgreSQL and on the SQLite demo.

PostgreSQL gets one array parameter per column (`unnest(%s::int[], %s::text[], …)`), so 10,000 rows are one
statement with a handful of parameters; SQLite gets one JSON parameter read with `json_each`.
"""

import datetime as dt
import json
from collections.abc import Sequence

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def db_time(value: dt.datetime | None):
    """A datetime parameter as the backend stores it (SQLite keeps UTC text)."""
    if value is None or is_postgres():
        return value
    return connection.ops.adapt_datetimefield_value(value)


def rows_source(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence]) -> tuple[str, list]:
    """`SELECT … AS (name1, name2 …)` of these rows. `columns` are (name, PostgreSQL type) pairs."""
    names = [name for name, _type in columns]
    if is_postgres():
        arrays = [[row[index] for row in rows] for index in range(len(columns))]
        unnest = ", ".join(f"%s::{pg_type}[]" for _name, pg_type in columns)
        return f"SELECT * FROM unnest({unnest}) AS r({', '.join(names)})", arrays
    payload = [[_json_value(value) for value in row] for row in rows]
    picks = ", ".join(f"json_extract(value, '$[{index}]') AS {name}" for index, name in enumerate(names))
    return f"SELECT {picks} FROM json_each(%s)", [json.dumps(payload)]


def _json_value(value):
    if isinstance(value, dt.datetime):
        return db_time(value)
    return value
