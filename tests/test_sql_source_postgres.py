"""The sql source against this machine's PostgreSQL: a throwaway database with every catalog feature."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.catalogs import PG_TYPES_SQL, postgres_database
from support.sql import as_model, extract, migrating
from support.sql import column as col

from airflow_provider_ingest.errors import ServiceError
from airflow_provider_ingest.records import (
    ConstraintType,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Table,
    TableConstraint,
    TableType,
)
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.sources.sql.postgres import PostgresCatalog
from airflow_provider_ingest.workflow.loader import load_workflow

pytestmark = pytest.mark.postgres

FIXTURE_SQL = """
COMMENT ON DATABASE {database} IS 'Throwaway test database';
CREATE SCHEMA sales;
COMMENT ON SCHEMA sales IS 'Sales data';
CREATE TYPE sales.order_status AS ENUM ('new', 'paid');
CREATE TABLE sales.customers (
    id serial PRIMARY KEY,
    email varchar(255) NOT NULL UNIQUE,
    name text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sales.customers IS 'People who buy';
COMMENT ON COLUMN sales.customers.email IS 'Contact email';
CREATE TABLE sales.orders (
    id bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES sales.customers (id),
    amount numeric(10,2),
    status sales.order_status DEFAULT 'new',
    tags text[]
);
CREATE VIEW sales.big_orders AS SELECT id, amount FROM sales.orders WHERE amount > 100;
COMMENT ON VIEW sales.big_orders IS 'Orders over 100';
CREATE MATERIALIZED VIEW sales.order_totals AS
    SELECT customer_id, sum(amount) AS total FROM sales.orders GROUP BY customer_id;
CREATE TABLE sales.events (id integer NOT NULL, happened_on date NOT NULL, payload jsonb,
    PRIMARY KEY (id, happened_on)) PARTITION BY RANGE (happened_on);
CREATE TABLE sales.events_2024 PARTITION OF sales.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE sales.events_2025 PARTITION OF sales.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE sales.empty ();
CREATE TABLE sales.gone (a integer);
CREATE VIEW sales.broken_view AS SELECT a FROM sales.gone;
DELETE FROM pg_depend WHERE classid = 'pg_rewrite'::regclass AND refobjid = 'sales.gone'::regclass;
DROP TABLE sales.gone;
CREATE SCHEMA crm;
CREATE TABLE crm.accounts (
    account_no char(8) PRIMARY KEY,
    region varchar(10) NOT NULL,
    customer_id integer REFERENCES sales.customers (id),
    UNIQUE (region, customer_id)
);
CREATE SCHEMA "Ünïcode.schema";
CREATE TABLE "Ünïcode.schema"."Tàble.1" ("çol.1" integer PRIMARY KEY, "naïve" text);
COMMENT ON COLUMN "Ünïcode.schema"."Tàble.1"."naïve" IS 'Ünïcode comment';
CREATE SCHEMA skipped;
CREATE TABLE skipped.t (a integer);
INSERT INTO sales.customers (email, name) VALUES ('a@example.com', 'Ann'), ('b@example.com', NULL),
    ('c@example.com', 'Cy');
INSERT INTO sales.orders VALUES (1, 1, 150.00, 'paid', '{x,y}'), (2, 3, 20.50, 'new', NULL);
INSERT INTO sales.events VALUES (1, '2024-05-01', '{"a": 1}'), (2, '2025-05-01', NULL);
REFRESH MATERIALIZED VIEW sales.order_totals;
ANALYZE;
"""


@pytest.fixture(scope="module")
def pg_database(postgres_url: str) -> Iterator[str]:
    """URL of a fresh database with the fixture catalog; dropped afterwards."""
    import sqlalchemy

    name = f"ingest_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sqlalchemy.make_url(postgres_url).set(database=name)
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(FIXTURE_SQL.replace("{database}", name))
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextlib.contextmanager
def a_role(database_url: str, options: str, grants: str) -> Iterator[str]:
    """The URL of a new role (``CREATE ROLE <name> <options>``, then ``grants`` with ``{role}`` its name) on the
    database; the role is dropped afterwards."""
    import sqlalchemy

    role = f"ingest_role_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} {options}; {grants.format(role=role)}")
    try:
        yield sqlalchemy.make_url(database_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}; DROP ROLE {role}")
        engine.dispose()


def pk(*columns: str, name: str) -> TableConstraint:
    return TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, name=name, columns=list(columns))


def expected_records(database: str, *, row_counts: bool) -> list:
    """Every record the fixture database yields, in order."""
    service = "pg"

    def table(schema: str, name: str, **fields) -> Table:
        if not row_counts:
            fields.pop("row_count", None)
        return Table(service=service, database=database, database_schema=schema, name=name, **fields)

    def schema(name: str, **fields) -> DatabaseSchema:
        return DatabaseSchema(service=service, database=database, name=name, **fields)

    customers_fqn = f"{service}.{database}.sales.customers"
    return [
        DatabaseService(name=service, service_type="Postgres"),
        Database(service=service, name=database, description="Throwaway test database"),
        schema("crm"),
        table(
            "crm",
            "accounts",
            columns=[
                col("account_no", DataType.CHAR, "character(8)", 1, data_length=8, nullable=False),
                col("region", DataType.VARCHAR, "character varying(10)", 2, data_length=10, nullable=False),
                col("customer_id", DataType.INT, "integer", 3),
            ],
            constraints=[
                pk("account_no", name="accounts_pkey"),
                TableConstraint(
                    constraint_type=ConstraintType.UNIQUE,
                    name="accounts_region_customer_id_key",
                    columns=["region", "customer_id"],
                ),
                TableConstraint(
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    name="accounts_customer_id_fkey",
                    columns=["customer_id"],
                    referred_table=customers_fqn,
                    referred_columns=["id"],
                ),
            ],
            row_count=0,
        ),
        schema("public", description="standard public schema"),
        schema("sales", description="Sales data"),
        table(
            "sales",
            "big_orders",
            description="Orders over 100",
            table_type=TableType.VIEW,
            columns=[
                col("id", DataType.BIGINT, "bigint", 1),
                col("amount", DataType.NUMERIC, "numeric(10,2)", 2, precision=10, scale=2),
            ],
            view_definition="SELECT id,\n    amount\n   FROM sales.orders\n  WHERE (amount > (100)::numeric);",
        ),
        table(
            "sales",
            "customers",
            description="People who buy",
            columns=[
                col(
                    "id",
                    DataType.INT,
                    "integer",
                    1,
                    nullable=False,
                    default="nextval('sales.customers_id_seq'::regclass)",
                ),
                col(
                    "email",
                    DataType.VARCHAR,
                    "character varying(255)",
                    2,
                    data_length=255,
                    nullable=False,
                    description="Contact email",
                ),
                col("name", DataType.TEXT, "text", 3),
                col("created_at", DataType.TIMESTAMPZ, "timestamp with time zone", 4, nullable=False, default="now()"),
            ],
            constraints=[
                pk("id", name="customers_pkey"),
                TableConstraint(constraint_type=ConstraintType.UNIQUE, name="customers_email_key", columns=["email"]),
            ],
            row_count=3,
        ),
        table("sales", "empty", columns=[], row_count=0),
        table(
            "sales",
            "events",
            table_type=TableType.PARTITIONED,
            columns=[
                col("id", DataType.INT, "integer", 1, nullable=False),
                col("happened_on", DataType.DATE, "date", 2, nullable=False),
                col("payload", DataType.JSON, "jsonb", 3),
            ],
            constraints=[pk("id", "happened_on", name="events_pkey")],
            row_count=2,
        ),
        table(
            "sales",
            "order_totals",
            table_type=TableType.MATERIALIZED_VIEW,
            columns=[col("customer_id", DataType.INT, "integer", 1), col("total", DataType.NUMERIC, "numeric", 2)],
            view_definition=(
                "SELECT customer_id,\n    sum(amount) AS total\n   FROM sales.orders\n  GROUP BY customer_id;"
            ),
            row_count=2,
        ),
        table(
            "sales",
            "orders",
            columns=[
                col("id", DataType.BIGINT, "bigint", 1, nullable=False),
                col("customer_id", DataType.INT, "integer", 2, nullable=False),
                col("amount", DataType.NUMERIC, "numeric(10,2)", 3, precision=10, scale=2),
                col("status", DataType.ENUM, "sales.order_status", 4, default="'new'::sales.order_status"),
                col("tags", DataType.ARRAY, "text[]", 5, array_data_type=DataType.TEXT),
            ],
            constraints=[
                pk("id", name="orders_pkey"),
                TableConstraint(
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    name="orders_customer_id_fkey",
                    columns=["customer_id"],
                    referred_table=customers_fqn,
                    referred_columns=["id"],
                ),
            ],
            row_count=2,
        ),
        schema("skipped"),
        table("skipped", "t", columns=[col("a", DataType.INT, "integer", 1)], row_count=0),
        schema("Ünïcode.schema"),
        table(
            "Ünïcode.schema",
            "Tàble.1",
            columns=[
                col("çol.1", DataType.INT, "integer", 1, nullable=False),
                col("naïve", DataType.TEXT, "text", 2, description="Ünïcode comment"),
            ],
            constraints=[pk("çol.1", name="Tàble.1_pkey")],
            row_count=0,
        ),
    ]


def unqualified(records: list) -> list:
    """PostgreSQL before 16 qualifies column names in view definitions (``orders.id``): drop that."""
    return [
        record.model_copy(update={"view_definition": re.sub(r"\borders\.", "", record.view_definition)})
        if getattr(record, "view_definition", None)
        else record
        for record in records
    ]


def test_every_record_is_exact(pg_database: str, tmp_path: Path) -> None:
    database = pg_database.rsplit("/", 1)[1]
    records, source = extract({"url": pg_database, "service_name": "pg", "include_row_counts": True}, tmp_path)
    assert unqualified(records) == expected_records(database, row_counts=True)
    assert [(f.fqn, f.error.split(":")[0]) for f in source.report.failures] == [
        (f"pg.{database}.sales.broken_view", "cannot read 'broken_view'")
    ]
    assert "pg_get_viewdef failed: InternalError_: could not open relation with OID" in source.report.failures[0].error
    assert records[-1].fqn == f'pg.{database}."Ünïcode.schema"."Tàble.1"'


def test_row_counts_are_left_out_unless_asked_and_batches_change_nothing(pg_database: str, tmp_path: Path) -> None:
    database = pg_database.rsplit("/", 1)[1]
    records, _ = extract({"url": pg_database, "service_name": "pg"}, tmp_path)
    assert unqualified(records) == expected_records(database, row_counts=False)
    records, _ = extract({"url": pg_database, "service_name": "pg", "batch_size": 1}, tmp_path)
    assert unqualified(records) == expected_records(database, row_counts=False)


@pytest.fixture
def reads_aside(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each read of the relations and keys over the second connection, in the exported snapshot, ran (False:
    the server refused the connection or the import)."""
    reads: list[bool] = []
    original = PostgresCatalog._relations_aside

    def spy(self: PostgresCatalog, *args: object) -> object:
        read = original(self, *args)
        reads.append(read is not None)
        return read

    monkeypatch.setattr(PostgresCatalog, "_relations_aside", spy)
    return reads


def test_a_role_allowed_one_connection_reads_the_catalog_over_it(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads_aside: list[bool]
) -> None:
    """The relations and keys are read over a second connection beside the columns; where the server refuses it,
    over the one connection, with the same records and the same broken view failed; asked once, not for each batch."""
    database = pg_database.rsplit("/", 1)[1]
    batches: list[list[str]] = []
    read = PostgresCatalog.read

    def counted(self: PostgresCatalog, schemas: list[str], keep: Callable[[str, str], bool]) -> object:
        batches.append(schemas)
        return read(self, schemas, keep)

    monkeypatch.setattr(PostgresCatalog, "read", counted)
    with a_role(pg_database, "LOGIN CONNECTION LIMIT 1", "GRANT pg_read_all_data TO {role}") as url:
        config = {"url": url, "service_name": "pg", "include_row_counts": True, "batch_size": 1}
        records, source = extract(config, tmp_path)
    assert len(batches) > 3
    assert reads_aside == [False]
    assert unqualified(records) == expected_records(database, row_counts=True)
    assert [(f.fqn, f.error.split(":")[0]) for f in source.report.failures] == [
        (f"pg.{database}.sales.broken_view", "cannot read 'broken_view'")
    ]


def test_a_second_connection_slow_to_start_is_not_waited_for(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads_aside: list[bool]
) -> None:
    """A second connection that has not imported the snapshot by the time the columns are read, and a while after (a
    pooler with no server connection to spare gives it none until the session's transaction ends), is not waited
    for: the session's connection reads the rest itself, and the second one, late, finds the snapshot gone."""
    import threading

    from airflow_provider_ingest.sources.sql import postgres

    connect, started = postgres.connect, threading.Event()

    def late(*args: object) -> object:
        started.wait()  # until the session's connection gave up waiting
        return connect(*args)

    handed_over = postgres._handed_over

    def giving_up(*args: object) -> bool:
        try:
            return handed_over(*args)
        finally:
            started.set()

    monkeypatch.setattr(postgres, "connect", late)
    monkeypatch.setattr(postgres, "_HANDOVER_WAIT", 0.05)
    monkeypatch.setattr(postgres, "_handed_over", giving_up)
    database = pg_database.rsplit("/", 1)[1]
    records, source = extract({"url": pg_database, "service_name": "pg", "include_row_counts": True}, tmp_path)
    assert reads_aside == [False]
    assert unqualified(records) == expected_records(database, row_counts=True)
    assert [(f.fqn, f.error.split(":")[0]) for f in source.report.failures] == [
        (f"pg.{database}.sales.broken_view", "cannot read 'broken_view'")
    ]


@pytest.mark.parametrize(
    "export",
    ["SELECT pg_export_snapshot_unknown()", "SELECT '00000003-0000001B-1'"],
    ids=["export-refused", "import-refused"],
)
def test_a_server_refusing_the_snapshot_is_read_over_one_connection(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export: str, reads_aside: list[bool]
) -> None:
    """Where the server exports no snapshot, or the second connection cannot import it, everything is read over the
    session's connection, in its one snapshot: the same records and the same broken view failed."""
    from airflow_provider_ingest.sources.sql import postgres

    database = pg_database.rsplit("/", 1)[1]
    monkeypatch.setattr(postgres, "EXPORT_SNAPSHOT", export)
    records, source = extract({"url": pg_database, "service_name": "pg", "include_row_counts": True}, tmp_path)
    assert reads_aside == ([] if "unknown" in export else [False])
    assert unqualified(records) == expected_records(database, row_counts=True)
    assert [(f.fqn, f.error.split(":")[0]) for f in source.report.failures] == [
        (f"pg.{database}.sales.broken_view", "cannot read 'broken_view'")
    ]
    assert source.report.warnings == []


def test_excluded_schemas_are_not_read(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[list[str]] = []
    original = PostgresCatalog.read

    def spy(self: PostgresCatalog, schemas: list[str], keep: Callable[[str], bool]) -> dict:
        read.append(schemas)
        return original(self, schemas, keep)

    monkeypatch.setattr(PostgresCatalog, "read", spy)
    config = {
        "url": pg_database,
        "service_name": "pg",
        "schema_filter": {
            "include": ["sales", "crm", "skipped", "ünïcode\\.SCHEMA"],
            "exclude": ["skip.*"],
            "ignore_case": True,
        },
        "table_filter": {"exclude": ["e.*", ".*_view"]},
    }
    records, source = extract(config, tmp_path)
    assert read == [["crm", "sales", "Ünïcode.schema"]]
    assert [r.fqn.split(".", 2)[2] for r in records if r.kind == "table"] == [
        "crm.accounts",
        "sales.big_orders",
        "sales.customers",
        "sales.order_totals",
        "sales.orders",
        '"Ünïcode.schema"."Tàble.1"',
    ]
    assert source.report.failure_count == 0
    # schemas: public, skipped and the three system ones; tables: empty, events, broken_view
    assert source.report.filtered == 5 + 3


def test_system_schemas_only_on_request(pg_database: str, tmp_path: Path) -> None:
    config = {"url": pg_database, "service_name": "pg", "table_filter": {"include": ["pg_class", "tables"]}}
    records, _ = extract(config, tmp_path)
    assert [r.name for r in records if r.kind == "table"] == []
    records, _ = extract({**config, "include_system_schemas": True}, tmp_path)
    assert [(r.database_schema, r.name) for r in records if r.kind == "table"] == [
        ("information_schema", "tables"),
        ("pg_catalog", "pg_class"),
    ]


def test_sample_rows(pg_database: str, tmp_path: Path) -> None:
    import sqlalchemy

    config = {"url": pg_database, "service_name": "pg", "sample_rows": 2, "schema_filter": {"include": ["sales"]}}
    engine = sqlalchemy.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE VIEW sales.zero_division AS SELECT 1 / (id - id) AS x FROM sales.orders")
    try:
        records, source = extract(config, tmp_path)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP VIEW sales.zero_division")
        engine.dispose()
    tables = {r.name: r for r in records if r.kind == "table"}
    assert [c.samples for c in tables["orders"].columns] == [
        ["1", "2"],
        ["1", "3"],
        ["150.00", "20.50"],
        ["paid", "new"],
        ["['x', 'y']"],
    ]
    assert [c.samples for c in tables["customers"].columns][:3] == [
        ["1", "2"],
        ["a@example.com", "b@example.com"],
        ["Ann"],
    ]
    assert [c.samples for c in tables["events"].columns] == [["1", "2"], ["2024-05-01", "2025-05-01"], ["{'a': 1}"]]
    database = pg_database.rsplit("/", 1)[1]
    assert tables["zero_division"].columns[0].samples == []
    assert source.report.warnings == [
        f"cannot sample pg.{database}.sales.zero_division (view): DivisionByZero: division by zero"
    ]


def test_all_databases_with_a_filter(pg_database: str, tmp_path: Path) -> None:
    database = pg_database.rsplit("/", 1)[1]
    server = pg_database.rsplit("/", 1)[0] + "/postgres"
    config = {
        "url": server,
        "service_name": "pg",
        "all_databases": True,
        "database_filter": {"include": [database]},
        "schema_filter": {"include": ["crm"]},
    }
    records, source = extract(config, tmp_path)
    assert [r.fqn for r in records] == ["pg", f"pg.{database}", f"pg.{database}.crm", f"pg.{database}.crm.accounts"]
    assert records[1].description == "Throwaway test database"
    assert source.report.filtered >= 1


def test_a_database_dropped_after_the_listing_is_a_warning_not_a_failure(
    pg_database: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``all_databases``, a database dropped between the listing and its reading (a CI database on a shared
    server) is gone, not misconfigured: a warning naming it, and the other databases read; it has no record."""
    import sqlalchemy

    from airflow_provider_ingest.sources.sql.source import SqlSource

    database = pg_database.rsplit("/", 1)[1]
    server = pg_database.rsplit("/", 1)[0] + "/postgres"
    listing = SqlSource._databases

    def dropping_one(self: SqlSource, connection: sqlalchemy.Connection) -> list:
        listed = listing(self, connection)
        admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as admin_connection:
            admin_connection.exec_driver_sql(f"DROP DATABASE {gone} WITH (FORCE)")
        admin.dispose()
        return listed

    with postgres_database(postgres_url, "CREATE SCHEMA crm; CREATE TABLE crm.leads (id int)") as gone_url:
        gone = gone_url.rsplit("/", 1)[1]
        monkeypatch.setattr(SqlSource, "_databases", dropping_one)
        config = {
            "url": server,
            "service_name": "pg",
            "all_databases": True,
            "database_filter": {"include": [database, gone]},
            "schema_filter": {"include": ["crm"]},
        }
        records, source = extract(config, tmp_path)
    assert sorted(r.fqn for r in records) == sorted(
        ["pg", f"pg.{database}", f"pg.{database}.crm", f"pg.{database}.crm.accounts"]
    )
    assert source.report.failure_count == 0
    assert source.report.warnings == [
        f"database pg.{gone} was listed but is gone: dropped since the listing; nothing of it is in this run"
    ]


def test_conn_id_and_passwords_never_shown(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = pg_database.rsplit("/", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_INGEST_PG_TEST", pg_database.replace("postgresql+psycopg2", "postgresql"))
    records, _ = extract({"conn_id": "ingest_pg_test", "schema_filter": {"include": ["crm"]}}, tmp_path)
    assert [r.fqn for r in records] == [
        "ingest_pg_test",
        f"ingest_pg_test.{database}",
        f"ingest_pg_test.{database}.crm",
        f"ingest_pg_test.{database}.crm.accounts",
    ]
    monkeypatch.setenv("SECRET_PW", "Sup3rSecretPass")
    workflow = tmp_path / "secret.yaml"
    workflow.write_text(
        "source:\n  type: sql\n  config:\n"
        "    url: postgresql+psycopg2://someone:${SECRET_PW}@127.0.0.1:1/nowhere\n    service_name: pg\n"
        f"sink:\n  type: file\n  config:\n    path: out.jsonl\nworkflow:\n  staging_root: {tmp_path}\n"
    )
    result = run_workflow(load_workflow(workflow))
    assert result.error is not None
    assert "cannot connect to postgresql+psycopg2://someone:***@127.0.0.1:1/nowhere" in result.error
    assert "Sup3rSecretPass" not in result.error + repr(result.reports)


def test_a_restricted_role_gets_the_catalog_and_a_warning_per_unreadable_table(
    pg_database: str, tmp_path: Path
) -> None:
    database = pg_database.rsplit("/", 1)[1]
    with a_role(pg_database, "LOGIN", "GRANT USAGE ON SCHEMA crm TO {role}") as url:
        config = {"url": url, "service_name": "pg", "sample_rows": 1, "schema_filter": {"include": ["crm"]}}
        records, source = extract(config, tmp_path)
    assert [r.fqn for r in records] == ["pg", f"pg.{database}", f"pg.{database}.crm", f"pg.{database}.crm.accounts"]
    assert [len(c.samples) for c in records[-1].columns] == [0, 0, 0]
    assert source.report.failure_count == 0
    assert source.report.warnings == [
        f"cannot sample pg.{database}.crm.accounts (table): the role has no SELECT privilege on it"
    ]


def test_array_elements_unbounded_lengths_and_foreign_tables(postgres_url: str, tmp_path: Path) -> None:
    with postgres_database(postgres_url, PG_TYPES_SQL) as url:
        records, source = extract({"url": url, "service_name": "pg", "schema_filter": {"include": ["kinds"]}}, tmp_path)
    tables = {record.name: record for record in records if record.kind == "table"}
    assert source.report.failure_count == 0 and sorted(tables) == ["everything", 'quo"ted', "remote_orders"]
    assert tables["everything"].columns == [
        col("id", DataType.INT, "integer", 1, nullable=False),
        col("labels", DataType.ARRAY, "text[]", 2, array_data_type=DataType.TEXT),
        col("scores", DataType.ARRAY, "integer[]", 3, array_data_type=DataType.INT),
        col("codes", DataType.ARRAY, "character varying(20)[]", 4, array_data_type=DataType.VARCHAR),
        col("grid", DataType.ARRAY, "integer[]", 5, array_data_type=DataType.INT),
        col("moods", DataType.ARRAY, "kinds.mood[]", 6, array_data_type=DataType.ENUM),
        col("free_text", DataType.VARCHAR, "character varying", 7),
        col("letter", DataType.CHAR, "character(1)", 8, data_length=1),
        col("padded", DataType.CHAR, "bpchar", 9),
        col("bits", DataType.BIT, "bit varying", 10),
        col("flags", DataType.BIT, "bit(3)", 11, data_length=3),
        col("price", DataType.MONEY, "money", 12),
        col("amount", DataType.NUMERIC, "numeric(12,2)", 13, precision=12, scale=2),
    ]
    assert tables["remote_orders"].table_type is TableType.FOREIGN
    assert [c.data_type for c in tables["remote_orders"].columns] == [DataType.INT, DataType.VARCHAR]


DOMAINS_SQL = """
CREATE SCHEMA kinds;
CREATE DOMAIN kinds.short_text AS varchar(10) CHECK (VALUE <> '');
CREATE DOMAIN kinds.shorter_text AS kinds.short_text;
CREATE DOMAIN kinds.cents AS numeric(12, 2);
CREATE TYPE kinds.pair AS (x integer, y text);
CREATE TYPE kinds.mood AS ENUM ('sad', 'happy');
CREATE DOMAIN kinds.feeling AS kinds.mood;
CREATE DOMAIN kinds.required_code AS varchar(10) NOT NULL;
CREATE DOMAIN kinds.still_required AS kinds.required_code;
CREATE TABLE kinds.typed (
    code kinds.short_text,
    nested kinds.shorter_text,
    codes kinds.short_text[],
    price kinds.cents,
    pairs kinds.pair[],
    rounded numeric(5, -2),
    tiny numeric(3, 5),
    feeling kinds.feeling,
    feelings kinds.feeling[],
    required kinds.required_code,
    nested_required kinds.still_required
);
"""
"""Domains (over a sized type, over another domain, as array elements, over an enum, NOT NULL at any depth), a
composite type and PostgreSQL 15's scales (negative, or greater than the precision)."""


def test_domains_are_read_as_their_base_type_and_scales_as_declared(postgres_url: str, tmp_path: Path) -> None:
    with postgres_database(postgres_url, DOMAINS_SQL) as url:
        records, source = extract({"url": url, "service_name": "pg", "schema_filter": {"include": ["kinds"]}}, tmp_path)
    [table] = [record for record in records if record.kind == "table"]
    assert source.report.failure_count == 0
    assert table.columns == [
        col("code", DataType.VARCHAR, "kinds.short_text", 1, data_length=10),
        col("nested", DataType.VARCHAR, "kinds.shorter_text", 2, data_length=10),
        col("codes", DataType.ARRAY, "kinds.short_text[]", 3, array_data_type=DataType.VARCHAR),
        col("price", DataType.NUMERIC, "kinds.cents", 4, precision=12, scale=2),
        col("pairs", DataType.ARRAY, "kinds.pair[]", 5, array_data_type=DataType.UNKNOWN),
        col("rounded", DataType.NUMERIC, "numeric(5,-2)", 6, precision=5, scale=-2),
        col("tiny", DataType.NUMERIC, "numeric(3,5)", 7, precision=3, scale=5),
        col("feeling", DataType.ENUM, "kinds.feeling", 8),
        col("feelings", DataType.ARRAY, "kinds.feeling[]", 9, array_data_type=DataType.ENUM),
        col("required", DataType.VARCHAR, "kinds.required_code", 10, data_length=10, nullable=False),
        col("nested_required", DataType.VARCHAR, "kinds.still_required", 11, data_length=10, nullable=False),
    ]


def test_a_foreign_table_staged_as_external_before_foreign_existed_still_loads() -> None:
    from airflow_provider_ingest.records import parse_record

    line = '{"kind":"table","service":"pg","database":"d","database_schema":"s","name":"t","table_type":"external"}'
    assert parse_record(line).table_type is TableType.EXTERNAL


MIGRATED_SQL = """
CREATE SCHEMA kinds;
CREATE TYPE kinds.mood AS ENUM ('sad', 'happy');
CREATE DOMAIN kinds.code AS varchar(10) NOT NULL;
CREATE TABLE kinds.moods (feeling kinds.mood, feelings kinds.mood[], code kinds.code);
"""
RECREATE_TYPES = """
BEGIN;
ALTER TABLE kinds.moods ALTER COLUMN feeling TYPE text, ALTER COLUMN feelings TYPE text[],
    ALTER COLUMN code TYPE text;
DROP TYPE kinds.mood; DROP DOMAIN kinds.code;
CREATE TYPE kinds.mood AS ENUM ('sad', 'happy');
CREATE DOMAIN kinds.code AS varchar(10) NOT NULL;
ALTER TABLE kinds.moods ALTER COLUMN feeling TYPE kinds.mood USING feeling::kinds.mood,
    ALTER COLUMN feelings TYPE kinds.mood[] USING feelings::kinds.mood[], ALTER COLUMN code TYPE kinds.code;
COMMIT;
"""
"""A migration that recreates an enum and a NOT NULL domain and the columns of them, in one transaction: every state
a reader can see has the columns of the types."""


def test_columns_of_types_a_migration_recreates_keep_their_types(postgres_url: str) -> None:
    """The columns and their types are read in one snapshot: read apart, a type recreated between the two reads made
    its columns UNKNOWN and a NOT NULL domain's column nullable; and again where ``format_type`` found a type dropped
    since (``???``: an array of enums was UNKNOWN)."""
    import sqlalchemy

    from airflow_provider_ingest.sources.sql.catalog import Pending, Scope

    with postgres_database(postgres_url, MIGRATED_SQL) as url, migrating(url, RECREATE_TYPES) as migrations:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        seen, refused = [], []
        try:
            with engine.connect() as connection:
                for _ in range(60):
                    try:
                        found = PostgresCatalog(connection, Scope("pg", "db")).read(["kinds"], lambda *names: True)
                    except ServiceError as error:  # the types kept changing: the schema fails, it is never wrong
                        refused.append(str(error))
                        continue
                    [item] = found["kinds"]
                    assert isinstance(item, Pending)
                    seen.append(
                        [(c.name, c.data_type, c.array_data_type, c.nullable) for c in as_model(item.build()).columns]
                    )
        finally:
            engine.dispose()
    assert migrations[0] >= 10, migrations  # the reads ran while the types were recreated
    expected = [
        ("feeling", DataType.ENUM, None, True),
        ("feelings", DataType.ARRAY, DataType.ENUM, True),
        ("code", DataType.VARCHAR, None, False),
    ]
    assert [columns for columns in seen if columns != expected] == []
    assert len(seen) > len(refused), refused
    assert set(refused) <= {"the catalog changed while it was read, 3 times (a migration?)"}


RECREATED_SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigint PRIMARY KEY, code text UNIQUE, parent bigint REFERENCES shop.orders (id));
CREATE VIEW shop.open_orders AS SELECT id, code FROM shop.orders;
"""
RECREATE_TABLE = """
BEGIN;
DROP VIEW shop.open_orders; DROP TABLE shop.orders;
CREATE TABLE shop.orders (id bigint PRIMARY KEY, code text UNIQUE, parent bigint REFERENCES shop.orders (id));
CREATE VIEW shop.open_orders AS SELECT id, code FROM shop.orders;
COMMIT;
"""
"""A migration that recreates a table with its keys and a view of it, in one transaction: every state a reader can
see has both, with the same columns and keys."""


def test_a_table_a_migration_recreates_is_read_whole(postgres_url: str, reads_aside: list[bool]) -> None:
    """A batch's relations, columns and keys are read in one snapshot, though over two connections: read apart, a
    table recreated between the reads was published with no columns (its new oid had none), or failed on a key naming
    a column number its columns did not have."""
    import sqlalchemy

    from airflow_provider_ingest.sources.sql.catalog import Pending, Scope

    def shape(table: Table) -> tuple:
        keys = [(c.constraint_type.value, tuple(c.columns), c.referred_columns) for c in table.constraints]
        return table.name, [c.name for c in table.columns], keys

    expected = [
        ("open_orders", ["id", "code"], []),
        (
            "orders",
            ["id", "code", "parent"],
            [("primary_key", ("id",), []), ("unique", ("code",), []), ("foreign_key", ("parent",), ["id"])],
        ),
    ]
    with (
        postgres_database(postgres_url, RECREATED_SQL) as url,
        migrating(url, RECREATE_TABLE, pause=0.02) as migrations,  # a pause, in which a read may see no change
    ):
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        seen, failed, refused = [], [], []
        try:
            with engine.connect() as connection:
                for _ in range(60):
                    try:
                        found = PostgresCatalog(connection, Scope("pg", "db")).read(["shop"], lambda *names: True)
                    except ServiceError as error:  # it kept changing: the schema fails, it is never wrong
                        refused.append(str(error))
                        continue
                    shapes = []
                    for item in found["shop"]:
                        try:
                            assert isinstance(item, Pending), item.error
                            shapes.append(shape(as_model(item.build())))
                        except Exception as error:
                            failed.append(f"{item.name}: {error!r}")
                    seen.append(shapes)
        finally:
            engine.dispose()
    assert migrations[0] >= 10, migrations  # the reads ran while the table was recreated
    assert len(reads_aside) >= 60 and all(reads_aside)  # over two connections, in one snapshot
    assert failed == []
    assert [shapes for shapes in seen if len(shapes) == 2 and shapes != expected] == []
    assert all(len(shapes) == 2 for shapes in seen)
    assert len(seen) > len(refused), refused
    assert set(refused) <= {"the catalog changed while it was read, 3 times (a migration?)"}


LOCKED_VIEW_SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigint PRIMARY KEY);
CREATE VIEW shop.open_orders AS SELECT id FROM shop.orders;
"""


def test_a_view_locked_a_while_fails_no_read_where_the_server_ends_idle_transactions(postgres_url: str) -> None:
    """The session's connection waits, idle in its transaction, while the second one reads the relations: a server,
    role or URL ending transactions idle for a while (``idle_in_transaction_session_timeout``) ended the session's
    whenever a view the second connection read was locked for longer (a ``REFRESH MATERIALIZED VIEW``, a migration),
    and every retry again; read over one connection, nothing is idle and the view is read once its lock is gone."""
    import threading
    import time

    import sqlalchemy

    from airflow_provider_ingest.sources.sql.catalog import Pending, Scope

    with postgres_database(postgres_url, LOCKED_VIEW_SQL) as plain_url:
        url = sqlalchemy.make_url(plain_url).update_query_dict(
            {"options": "-c idle_in_transaction_session_timeout=500"}
        )
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        admin = sqlalchemy.create_engine(plain_url, isolation_level="AUTOCOMMIT")
        lock = admin.connect()
        lock.exec_driver_sql("BEGIN; LOCK TABLE shop.open_orders IN ACCESS EXCLUSIVE MODE")
        try:
            with engine.connect() as connection:
                pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()

                def release() -> None:
                    """Once the session's connection is gone, or the view's definition waited 4 times the timeout."""
                    state = (
                        "SELECT count(*) FILTER (WHERE pid = %s),"
                        " count(*) FILTER (WHERE wait_event_type = 'Lock' AND now() - state_change > interval '2 s')"
                        " FROM pg_stat_activity WHERE datname = current_database()"
                    )
                    try:
                        with admin.connect() as watching:
                            for _ in range(3000):
                                session, waited = watching.exec_driver_sql(state, (pid,)).one()
                                if not session or waited:
                                    return
                                time.sleep(0.01)
                    finally:
                        lock.exec_driver_sql("ROLLBACK")

                releasing = threading.Thread(target=release)
                releasing.start()
                try:
                    found = PostgresCatalog(connection, Scope("pg", "db")).read(["shop"], lambda *names: True)
                finally:
                    releasing.join()
        finally:
            lock.close()
            engine.dispose()
            admin.dispose()
    assert [(item.name, isinstance(item, Pending)) for item in found["shop"]] == [
        ("open_orders", True),
        ("orders", True),
    ]
    assert as_model(found["shop"][0].build()).view_definition is not None


def test_tables_the_filter_leaves_out_count_once_where_the_batch_is_read_again(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch read again because the catalog changed under its snapshot (:meth:`PostgresCatalog._changed`) calls the
    table filter again for each relation: what it left out is counted once all the same."""
    changes = iter([True])
    monkeypatch.setattr(PostgresCatalog, "_changed", lambda *args: next(changes, False))
    config = {
        "url": pg_database,
        "service_name": "pg",
        "schema_filter": {"include": ["sales"]},
        "table_filter": {"exclude": ["e.*", ".*_view"]},
    }
    _, source = extract(config, tmp_path)
    assert source.report.failure_count == 0
    # schemas: crm, public, skipped, "Ünïcode.schema" and the three system ones; tables: empty, events, broken_view
    assert source.report.filtered == 7 + 3


@contextlib.contextmanager
def a_pooler(postgres_url: str, pool_size: int) -> Iterator[int]:
    """The port of a PgBouncer in transaction mode in front of the server, with ``pool_size`` server connections for
    each database and user (clients wait for one for at most 3 s); skipped where PgBouncer is not installed."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile
    import time

    import sqlalchemy

    binary = shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/local/bin/pgbouncer") if os.path.exists(path)), None
    )
    if binary is None:
        pytest.skip("opt-in: PgBouncer is not installed (Debian: apt-get install pgbouncer)")
    server = sqlalchemy.make_url(postgres_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp()
    os.chmod(folder, 0o755)  # PgBouncer will not run as root: it runs as postgres and reads these
    Path(folder, "users.txt").write_text(f'"{server.username}" ""\n')
    Path(folder, "pgbouncer.ini").write_text(
        f"[databases]\n* = host={server.host} port={server.port or 5432}\n[pgbouncer]\nlisten_addr = 127.0.0.1\n"
        f"listen_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {folder}/users.txt\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_db_connections = {pool_size}\n"
        "query_wait_timeout = 3\nignore_startup_parameters = extra_float_digits,options\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        os.chmod(Path(folder, name), 0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen([binary, *user, f"{folder}/pgbouncer.ini"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.01)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_pooler_with_one_server_connection_reads_the_catalog(postgres_url: str, tmp_path: Path) -> None:
    """Behind a pooler in transaction mode (PgBouncer, RDS Proxy...) the second connection gets a server connection
    only once the session's transaction, which holds the pool's only one while it waits for the second, ends: they
    waited for each other until the pooler dropped the second (``query_wait_timeout``, 2 minutes by default), on
    every retry, and the step failed; over one connection the catalog is read at once."""
    import sqlalchemy

    with postgres_database(postgres_url, LOCKED_VIEW_SQL) as url, a_pooler(postgres_url, pool_size=1) as port:
        pooled = sqlalchemy.make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        records, source = extract(
            {"url": pooled, "service_name": "pg", "retry": {"attempts": 2, "backoff": 0}}, tmp_path
        )
    assert [record.name for record in records if record.kind == "table"] == ["open_orders", "orders"]
    assert source.report.warnings == []


def test_a_failed_column_read_is_not_held_up_by_the_second_connection_waiting_for_a_lock(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's connection failing while the second one waits for a locked view (a lost connection, a
    statement timeout, the task killed) raised only once the second one's ``lock_timeout`` ended its wait (60 s):
    leaving the thread pool waits for it, and each retry again. The failure is raised at once; the second connection
    is cancelled, or left to end on its own."""
    import threading
    import time

    import sqlalchemy

    from airflow_provider_ingest.sources.sql import catalog
    from airflow_provider_ingest.sources.sql.catalog import Scope

    monkeypatch.setattr(catalog, "LOCK_TIMEOUT", 3)
    outcomes: list[str] = []
    ended = threading.Event()
    original = PostgresCatalog._relations_aside

    def spy(self: PostgresCatalog, *args: object) -> object:
        try:
            read = original(self, *args)
            outcomes.append("read" if read is not None else "none")
            return read
        except BaseException as error:
            outcomes.append(getattr(getattr(error, "orig", None), "pgcode", None) or type(error).__name__)
            raise
        finally:
            ended.set()

    monkeypatch.setattr(PostgresCatalog, "_relations_aside", spy)
    with postgres_database(postgres_url, LOCKED_VIEW_SQL) as url:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        lock = admin.connect()
        lock.exec_driver_sql("BEGIN; LOCK TABLE shop.open_orders IN ACCESS EXCLUSIVE MODE")

        def failing_columns(self: PostgresCatalog, schemas: list[str]) -> object:
            """Fails once the second connection waits for the view's lock."""
            with admin.connect() as watching:
                for _ in range(2000):
                    waiting = watching.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    ).scalar_one()
                    if waiting:
                        break
                    time.sleep(0.01)
            raise RuntimeError("the columns' query failed")

        monkeypatch.setattr(PostgresCatalog, "_columns", failing_columns)
        try:
            with engine.connect() as connection, pytest.raises(RuntimeError, match="columns' query failed"):
                PostgresCatalog(connection, Scope("pg", "db")).read(["shop"], lambda *names: True)
        finally:
            lock.exec_driver_sql("ROLLBACK")
            lock.close()
            ended.wait(30)
            engine.dispose()
            admin.dispose()
    # "55P03": the failure waited for the second connection's lock_timeout
    assert outcomes and outcomes[0] != "55P03", outcomes


def test_a_second_connection_lost_once_leaves_later_batches_read_over_two(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads_aside: list[bool]
) -> None:
    """A second connection lost before it imported the snapshot (a server restart, a dropped TCP connection) is no
    refusal: that batch is read over the session's connection, but it was remembered as one (``_ALONE``), and every
    later batch on that connection was read alone, the failure nowhere reported."""
    from airflow_provider_ingest.sources.sql import postgres

    connect, lost = postgres.connect, []

    def lost_once(*args: object) -> object:
        connection = connect(*args)
        if not lost:
            lost.append(True)
            with contextlib.suppress(Exception):
                connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        return connection

    monkeypatch.setattr(postgres, "connect", lost_once)
    database = pg_database.rsplit("/", 1)[1]
    config = {"url": pg_database, "service_name": "pg", "include_row_counts": True, "batch_size": 1}
    records, _ = extract(config, tmp_path)
    assert unqualified(records) == expected_records(database, row_counts=True)
    assert lost and reads_aside and all(reads_aside)  # the lost one raised: the spy has the later batches' reads


def test_a_pooler_with_one_server_connection_reads_the_catalog_where_the_server_ends_idle_transactions(
    postgres_url: str, tmp_path: Path
) -> None:
    """Behind a pooler in transaction mode with one server connection, the session's connection waits for the hand-over
    (at most 3 s) idle in its transaction: a server ending transactions idle for less
    (``idle_in_transaction_session_timeout``, here 1 s, set on the database since PgBouncer drops ``options``) ended it
    before it read the rest itself, on every retry, and the step failed (connection lost). The wait must stay under
    the server's timeout."""
    import sqlalchemy

    with postgres_database(postgres_url, LOCKED_VIEW_SQL) as url, a_pooler(postgres_url, pool_size=1) as port:
        admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                name = sqlalchemy.make_url(url).database
                connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET idle_in_transaction_session_timeout = 1000')
        finally:
            admin.dispose()
        pooled = sqlalchemy.make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        records, source = extract(
            {"url": pooled, "service_name": "pg", "retry": {"attempts": 2, "backoff": 0}}, tmp_path
        )
    assert [record.name for record in records if record.kind == "table"] == ["open_orders", "orders"]
    assert source.report.warnings == []
