"""Throwaway PostgreSQL databases for tests: one per use, dropped afterwards, and the catalogs they hold."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH_CATALOG = Path(__file__).resolve().parents[2] / "bench" / "sql_source.py"

PG_TYPES_SQL = """
CREATE SCHEMA kinds;
CREATE TYPE kinds.mood AS ENUM ('sad', 'happy');
CREATE TABLE kinds.everything (
    id integer PRIMARY KEY,
    labels text[],
    scores int4[],
    codes varchar(20)[],
    grid int[][],
    moods kinds.mood[],
    free_text varchar,
    letter char,
    padded bpchar,
    bits bit varying,
    flags bit(3),
    price money,
    amount numeric(12, 2)
);
CREATE FOREIGN DATA WRAPPER no_handler;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER no_handler;
CREATE FOREIGN TABLE kinds.remote_orders (id integer, note varchar) SERVER elsewhere;
CREATE TABLE kinds."quo""ted" (id integer);
"""
"""Types OpenMetadata needs more than a type name for: arrays (their element type), ``varchar``, ``bpchar`` and
``bit varying`` without a length, ``money`` and ``bit``; a foreign table (a wrapper without a handler needs no
extension); a table whose name holds a double quote."""


@contextmanager
def postgres_database(server_url: str, sql: str) -> Iterator[str]:
    """URL of a fresh database on the server at ``server_url`` holding ``sql``'s objects; dropped afterwards."""
    import sqlalchemy

    name = f"ingest_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sqlalchemy.make_url(server_url).set(database=name)
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(sql)
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def synthetic_catalog_sql(schemas: int, tables: int, views: int) -> str:
    """DDL of the bench's synthetic PostgreSQL catalog (``bench/sql_source.py``) at a size of the test's choosing:
    ``schemas`` x (``tables`` tables, ``views`` views), 10 columns a table."""
    spec = importlib.util.spec_from_file_location("bench_sql_source", BENCH_CATALOG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.catalog_ddl(schemas=schemas, tables=tables, columns=10, views=views)
