"""`python -m bench <name> --customers N`: run one benchmark against DATABASE_URL (PostgreSQL only).

Environment variables that are unset get development values, as in tests/settings.py, so that the
benchmark runs with nothing but a PostgreSQL server. The database is never the test database: by default
it is `workbench_bench` on 127.0.0.1, created when missing and migrated before every run.
"""

import argparse
import importlib
import os
import sys
from urllib.parse import urlparse

BENCHMARKS = {
    "foundation": "bench.foundation",
    "imports": "bench.imports",
    "tagging": "bench.tagging",
    "engine": "bench.engine",
    "chaos": "bench.chaos",
    "supervision": "bench.supervision",
}
# Benchmarks that need a database of their own (the chaos run empties it first).
DATABASE_DEFAULTS = {
    "chaos": "postgres://postgres@127.0.0.1:5432/workbench_chaos",
    "supervision": "postgres://postgres@127.0.0.1:5432/workbench_supervision",
}

BENCH_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/workbench_bench",
    "SECRET_KEY": "bench-secret-key-not-for-production",
    "FIELD_ENCRYPTION_KEYS": "YmVuY2gta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU=",
    "PII_INDEX_KEY": "bench-pii-index-key",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "SECURE_COOKIES": "0",
    "STATIC_MANIFEST": "0",
    "DJANGO_SETTINGS_MODULE": "workbench.settings",
}


def ensure_database(url: str) -> None:
    """CREATE DATABASE when the one DATABASE_URL names does not exist yet."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    maintenance = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--customers", type=int, default=1_000_000, help="size of the demo bank (default 1000000)")
    args = parser.parse_args(argv)
    if args.name in DATABASE_DEFAULTS:
        os.environ.setdefault("DATABASE_URL", DATABASE_DEFAULTS[args.name])
    for name, value in BENCH_ENV.items():
        os.environ.setdefault(name, value)
    url = os.environ["DATABASE_URL"].strip()
    if urlparse(url).scheme not in ("postgres", "postgresql"):
        print(
            "The benchmarks measure PostgreSQL, the system of record; DATABASE_URL must be a postgres:// URL "
            f"(it is {url!r}, which would mean SQLite).",
            file=sys.stderr,
        )
        return 2
    ensure_database(url)

    import django

    django.setup()
    from django.conf import settings

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append("testserver")  # the test client's host name
    importlib.import_module(BENCHMARKS[args.name]).run(customers=args.customers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
