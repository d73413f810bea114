"""Benchmark: the ``sql`` source into a ``file`` sink against the floor of two raw catalog queries.

Creates a synthetic catalog in PostgreSQL (20 schemas x 100 tables x 20 columns, plus 10 views per
schema: 2,200 relations, about 42,000 columns), then times, in one run:

* the floor: two catalog queries through psycopg2 (relations; columns with types, comments and
  primary keys), written as JSON lines, one per relation;
* the source: ``sql`` source -> ``file`` sink through the serial runner.

Both run in one process, alternately, best of ``--repeat`` each; then the two files are compared (the
source's must hold every relation and column of the floor's, with the same types, comments and
primary keys) and the source's peak traced memory is shown for two batch sizes.

Usage: ``python bench/sql_source.py [--url URL] [--repeat 3] [--keep] [--view-lineage]``.
Target: ratio <= 1.15 (issue 17's goal).
``--view-lineage`` also times the source with ``include_view_lineage`` and traces its peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import psycopg2
import sqlalchemy

SCHEMAS, TABLES, COLUMNS, VIEWS, VIEW_COLUMNS = 20, 100, 20, 10, 10
DATABASE = "ingest_bench_sql_source"
RATIO_TARGET = 1.15
COLUMN_TYPES = ("varchar(64)", "numeric(12,2)", "timestamp with time zone", "integer", "text", "boolean", "date")

FLOOR_RELATIONS = """
SELECT n.nspname, c.relname, c.relkind, d.description
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname
"""
FLOOR_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), d.description,
       coalesce(a.attnum = ANY(pk.conkey), false)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname, a.attnum
"""


def catalog_ddl(schemas: int = SCHEMAS, tables: int = TABLES, columns: int = COLUMNS, views: int = VIEWS) -> str:
    """DDL of the synthetic catalog: ``schemas`` x (``tables`` tables of ``columns`` columns, ``views`` views)."""
    statements = []
    view_columns = ", ".join(["id"] + [f"c{c:02d}" for c in range(1, VIEW_COLUMNS)])
    for s in range(schemas):
        schema = f"s{s:02d}"
        statements.append(f"CREATE SCHEMA {schema}; COMMENT ON SCHEMA {schema} IS 'Synthetic schema {s}';")
        for t in range(tables):
            table_columns = ["id bigint PRIMARY KEY"] + [
                f"c{c:02d} {COLUMN_TYPES[(t + c) % len(COLUMN_TYPES)]}" for c in range(1, columns)
            ]
            table = f"{schema}.t{t:03d}"
            statements.append(f"CREATE TABLE {table} ({', '.join(table_columns)});")
            statements.append(f"COMMENT ON TABLE {table} IS 'Synthetic table {t} of schema {s}';")
            statements += [
                f"COMMENT ON COLUMN {table}.c{c:02d} IS 'Column {c} of table {t}';" for c in range(1, columns, 4)
            ]
        for v in range(views):
            statements.append(
                f"CREATE VIEW {schema}.v{v:02d} AS SELECT {view_columns} FROM {schema}.t{v:03d} WHERE id > {v};"
            )
    return "\n".join(statements)


def ensure_database(server_url: sqlalchemy.URL) -> sqlalchemy.URL:
    """Create the benchmark database unless a complete one is there already."""
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    url = server_url.set(database=DATABASE)
    with admin.connect() as connection:
        exists = connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).first()
    if exists:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            count = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname ~ '^s[0-9]+$' AND c.relkind IN ('r', 'v') AND a.attnum > 0"
            ).scalar_one()
        engine.dispose()
        if count == SCHEMAS * (TABLES * COLUMNS + VIEWS * VIEW_COLUMNS):
            admin.dispose()
            return url
        drop_database(server_url)
    started = time.perf_counter()
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(catalog_ddl())
    engine.dispose()
    print(f"created the catalog in {time.perf_counter() - started:.1f}s")
    return url


def drop_database(server_url: sqlalchemy.URL, name: str = DATABASE) -> None:
    """Drop the benchmark database ``name`` (this bench's own by default) if it exists."""
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def floor(url: sqlalchemy.URL, out: Path) -> tuple[float, int, int]:
    """Two raw catalog queries through the driver, written as JSON lines, one per relation."""
    started = time.perf_counter()
    connection = psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, dbname=url.database
    )
    try:
        cursor = connection.cursor()
        cursor.execute(FLOOR_RELATIONS)
        relations = {
            (schema, name): {"schema": schema, "name": name, "kind": kind, "comment": comment, "columns": []}
            for schema, name, kind, comment in cursor.fetchall()
        }
        cursor.execute(FLOOR_COLUMNS)
        count = 0
        for schema, table, name, data_type, comment, primary in cursor.fetchall():
            relation = relations.get((schema, table))
            if relation is not None:
                relation["columns"].append({"name": name, "type": data_type, "comment": comment, "pk": primary})
                count += 1
    finally:
        connection.close()
    with open(out, "w") as handle:
        for relation in relations.values():
            handle.write(json.dumps(relation) + "\n")
    return time.perf_counter() - started, len(relations), count


def source(url: sqlalchemy.URL, folder: Path, batch_size: int = 5000, lineage: bool = False) -> tuple[float, int]:
    """The sql source into a file sink, through the serial runner; ``lineage``: with ``include_view_lineage``."""
    from airflow_provider_ingest.run import run_workflow
    from airflow_provider_ingest.workflow.loader import load_workflow

    workflow = folder / "bench.yaml"
    settings = {
        "url": url.render_as_string(hide_password=False),
        "service_name": "bench",
        "batch_size": batch_size,
        "include_view_lineage": lineage,
    }
    workflow.write_text(
        json.dumps(
            {
                "source": {"type": "sql", "config": settings},
                "sink": {"type": "file", "config": {"path": "source.jsonl"}},
                "workflow": {"staging_root": str(folder / "staging")},
            }
        )
    )
    started = time.perf_counter()
    result = run_workflow(load_workflow(workflow))
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"the source run failed: {result.error or result.below_threshold}")
    return elapsed, result.reports[0].records


def same_content(floor_file: Path, source_file: Path) -> None:
    """Stop unless the source's table records hold exactly the floor's relations and columns."""
    from airflow_provider_ingest.records import ConstraintType, Table
    from airflow_provider_ingest.staging import read_records

    kinds = {"r": "table", "v": "view", "m": "materialized_view", "p": "partitioned", "f": "external"}
    expected = {}
    for line in floor_file.read_text().splitlines():
        relation = json.loads(line)
        columns = [(c["name"], c["type"], c["comment"], c["pk"]) for c in relation["columns"]]
        expected[(relation["schema"], relation["name"])] = (kinds[relation["kind"]], relation["comment"], columns)
    found = {}
    for record in read_records(str(source_file)):
        if isinstance(record, Table):
            keys = [c for c in record.constraints if c.constraint_type is ConstraintType.PRIMARY_KEY]
            primary = set(keys[0].columns) if keys else set()
            columns = [(c.name, c.data_type_display, c.description, c.name in primary) for c in record.columns]
            found[(record.database_schema, record.name)] = (record.table_type.value, record.description, columns)
    if found != expected:
        missing, extra = len(expected.keys() - found.keys()), len(found.keys() - expected.keys())
        differ = sum(found[key] != expected[key] for key in expected.keys() & found.keys())
        raise SystemExit(f"the outputs differ: {missing} relations missing, {extra} extra, {differ} different")


def peak_memory(url: sqlalchemy.URL, folder: Path, batch_size: int, lineage: bool = False) -> int:
    """Peak memory traced during one source run, in bytes."""
    tracemalloc.start()
    try:
        source(url, folder, batch_size, lineage)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def add_url_argument(parser: argparse.ArgumentParser) -> None:
    """``--url``: the PostgreSQL server a bench uses (``INGEST_BENCH_POSTGRES_URL``, else this machine's)."""
    parser.add_argument(
        "--url",
        default=os.environ.get("INGEST_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"),
        help="SQLAlchemy URL of the PostgreSQL server (any database on it)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_url_argument(parser)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best time counts")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database for the next run")
    parser.add_argument(
        "--view-lineage", action="store_true", help="also time and trace the source with include_view_lineage"
    )
    args = parser.parse_args()
    server = sqlalchemy.make_url(args.url)
    url = ensure_database(server)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sql-") as temp:
            folder = Path(temp)
            floors, sources = [], []
            for _ in range(args.repeat):
                floor_time, relations, columns = floor(url, folder / "floor.jsonl")
                floors.append(floor_time)
                source_time, records = source(url, folder)
                sources.append(source_time)
            same_content(folder / "floor.jsonl", folder / "source.jsonl")
            peaks = {size: peak_memory(url, folder, size) for size in (5000, 200)}
            if args.view_lineage:
                lineage_times = [source(url, folder, lineage=True)[0] for _ in range(args.repeat)]
                lineage_records = source(url, folder, lineage=True)[1] - records
                lineage_peaks = {size: peak_memory(url, folder, size, lineage=True) for size in (5000, 200)}
    finally:
        if not args.keep:
            drop_database(server)
    best_floor, best_source = min(floors), min(sources)
    print(f"catalog: {relations:,} relations, {columns:,} columns; source records: {records:,}")
    print(f"floor  (2 raw catalog queries -> JSON lines): {best_floor:.3f}s  (runs: {_times(floors)})")
    print(f"source (sql source -> file sink):             {best_source:.3f}s  (runs: {_times(sources)})")
    ratio = best_source / best_floor
    print(f"ratio: {ratio:.2f}x (target <= {RATIO_TARGET:g}x) {'OK' if ratio <= RATIO_TARGET else 'OVER TARGET'}")
    print("outputs: the same relations, columns, types, comments and primary keys")
    memory = ", ".join(f"{peak / 2**20:.1f} MiB with batch_size {size}" for size, peak in peaks.items())
    print(f"source peak traced memory: {memory}")
    if args.view_lineage:
        best = min(lineage_times)
        print(
            f"with include_view_lineage: {best:.3f}s ({best / best_source:.2f}x the source without;"
            f" runs: {_times(lineage_times)}), {lineage_records:,} lineage records"
        )
        memory = ", ".join(f"{peak / 2**20:.1f} MiB with batch_size {size}" for size, peak in lineage_peaks.items())
        print(f"with include_view_lineage, peak traced memory: {memory}")


def _times(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


if __name__ == "__main__":
    main()
