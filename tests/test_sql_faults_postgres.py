"""Complete or fail: the sql source against PostgreSQL when its backend is terminated, its statements time
out, or its role may not use some schemas. Each run goes through ``airflow-ingest run``."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy
from support.faults import Killer, Run, killing, run_cli

from airflow_provider_ingest.records import Table
from airflow_provider_ingest.sources.sql import connection
from airflow_provider_ingest.sources.sql.catalog import Catalog, Found
from airflow_provider_ingest.sources.sql.connection import APPLICATION_NAME, SqlUnavailableError
from airflow_provider_ingest.sources.sql.postgres import PostgresCatalog

pytestmark = pytest.mark.postgres

SCHEMAS = 40
TABLES = 100
RECORDS = 1 + 1 + 1 + SCHEMAS + SCHEMAS * TABLES
"""The service, the database, the ``public`` schema, the schemas and their tables."""
BATCH = 400
"""Relations per catalog query: the catalog is read in 10 batches."""

CATALOG_SQL = f"""
DO $$ BEGIN
  FOR s IN 1..{SCHEMAS} LOOP
    EXECUTE format('CREATE SCHEMA s%s', lpad(s::text, 2, '0'));
    FOR t IN 1..{TABLES} LOOP
      EXECUTE format('CREATE TABLE s%s.t%s (id integer, n integer)', lpad(s::text, 2, '0'), lpad(t::text, 3, '0'));
    END LOOP;
    COMMIT;
  END LOOP;
END $$
"""
"""A transaction per schema: 4,000 tables in one would exhaust the server's lock table."""

BACKENDS = """
SELECT pid FROM pg_stat_activity WHERE datname = %(database)s AND application_name = %(application)s
"""


@pytest.fixture(scope="module")
def catalog(postgres_url: str) -> Iterator[sqlalchemy.URL]:
    """URL of a fresh database of 40 schemas of 100 tables each; dropped afterwards."""
    name = f"ingest_faults_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sqlalchemy.make_url(postgres_url).set(database=name)
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(CATALOG_SQL.replace("%", "%%"))
        yield url
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(scope="module")
def admin(catalog: sqlalchemy.URL) -> Iterator[sqlalchemy.Engine]:
    """Superuser connections to the catalog database, to kill the source's backends from."""
    engine = sqlalchemy.create_engine(catalog, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def settings(url: sqlalchemy.URL, **more: object) -> dict:
    return {
        "url": url.render_as_string(hide_password=False),
        "service_name": "pg",
        "batch_size": BATCH,
        "retry": {"attempts": 3, "backoff": 0.05},
        **more,
    }


@pytest.fixture(scope="module")
def undisturbed(catalog: sqlalchemy.URL, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A run nobody interferes with: the reference."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        run = run_cli(tmp_path_factory.mktemp("undisturbed"), settings(catalog), monkeypatch)
    assert run.code == 0, run.printed
    run.assert_accounted(RECORDS)
    assert run.source.failure_count == 0 and run.source.warning_count == 0
    return run


def terminate(admin: sqlalchemy.Engine, database: str, *, settled: bool = False) -> int:
    """Terminate every backend of the source (found by its application_name) and wait until each is gone (one may go
    by itself meanwhile: the source cancels its second connection's query once the first one is lost). ``settled``:
    first wait until one is left (between batches, the last batch's second connection, closed, may not have exited
    yet on the server: terminated, it would be counted)."""
    with admin.connect() as connection:
        deadline = time.monotonic() + 5
        while settled and time.monotonic() < deadline:
            found = connection.exec_driver_sql(BACKENDS, {"database": database, "application": APPLICATION_NAME})
            if len(found.all()) <= 1:
                break
            time.sleep(0.01)
        pids = [
            row[0]
            for row in connection.exec_driver_sql(BACKENDS, {"database": database, "application": APPLICATION_NAME})
        ]
        for pid in pids:
            connection.exec_driver_sql("SELECT pg_terminate_backend(%(pid)s, 5000)", {"pid": pid})
        left = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%(pids)s)"
        assert connection.exec_driver_sql(left, {"pids": pids}).scalar() == 0
    return len(pids)


def test_the_source_names_itself_to_the_server(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, tmp_path: Path
) -> None:
    from support.sql import extract

    seen: list[int] = []
    original = PostgresCatalog.schemas

    def schemas(catalog_reader: PostgresCatalog) -> list:
        with admin.connect() as connection:
            rows = connection.exec_driver_sql(BACKENDS, {"database": catalog.database, "application": APPLICATION_NAME})
            seen.extend(row[0] for row in rows)
        return original(catalog_reader)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(PostgresCatalog, "schemas", schemas)
        extract(settings(catalog, schema_filter={"include": ["s01"]}), tmp_path)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("query", "idle", "timeout"),
    [("", "60", "30"), ("?keepalives_idle=7", "7", "30"), ("?connect_timeout=5", "60", "5")],
)
def test_the_source_s_connections_send_tcp_keepalives_and_time_out_unless_the_url_says_otherwise(
    catalog: sqlalchemy.URL, tmp_path: Path, query: str, idle: str, timeout: str
) -> None:
    """A server that vanished mid-query (a host down, a dropped NAT entry) would leave the run waiting for ever:
    libpq's keepalives find it and the connection counts as lost (retried, then the run fails); one that never
    answers a new connection fails it after the connect timeout."""
    from support.sql import extract

    seen: list[dict] = []
    original = PostgresCatalog.schemas

    def schemas(catalog_reader: PostgresCatalog) -> list:
        seen.append(catalog_reader.connection.connection.dbapi_connection.get_dsn_parameters())
        return original(catalog_reader)

    url = sqlalchemy.make_url(catalog.render_as_string(hide_password=False) + query)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(PostgresCatalog, "schemas", schemas)
        extract(settings(url, schema_filter={"include": ["s01"]}), tmp_path)
    assert [
        (dsn["keepalives"], dsn["keepalives_idle"], dsn["keepalives_interval"], dsn["keepalives_count"]) for dsn in seen
    ] == [("1", idle, "10", "6")]
    assert [dsn["connect_timeout"] for dsn in seen] == [timeout]


def test_a_server_that_accepts_the_connection_and_never_answers_fails_the_step_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq waits for ever for a server that accepted the connection to answer (a hung server, a proxy with
    nothing behind it): the connect timeout (30 seconds, 1 here) ends the wait, and the step fails as the server
    cannot be reached (Airflow retries the task as configured)."""
    from support.sql import extract

    monkeypatch.setattr(connection, "POSTGRES_CONNECT_TIMEOUT", 1)
    failed: list[BaseException] = []

    def run(port: int) -> None:
        try:
            extract({"url": f"postgresql+psycopg2://postgres@127.0.0.1:{port}/db", "service_name": "svc"}, tmp_path)
        except Exception as error:
            failed.append(error)

    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts into the backlog; nothing answers
        worker = threading.Thread(target=run, args=(silent.getsockname()[1],), daemon=True)
        worker.start()
        worker.join(20)
        assert not worker.is_alive(), "the source still waits for a server that never answers"
    [error] = failed
    assert isinstance(error, SqlUnavailableError) and "timeout expired" in str(error)


def test_a_backend_terminated_between_batches_is_replaced_and_the_run_is_complete(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, undisturbed: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killer = Killer(lambda _: terminate(admin, catalog.database, settled=True), at=4)
    with killing(monkeypatch, PostgresCatalog, killer):
        run = run_cli(tmp_path, settings(catalog), monkeypatch)
    assert killer.killed == [1]
    assert run.code == 0, run.printed
    assert "run succeeded" in run.printed
    run.assert_accounted(RECORDS)
    assert run.records == undisturbed.records
    assert run.source.failure_count == 0
    [warning] = run.source.warnings
    assert warning.startswith("reading schemas 's13', 's14', 's15', 's16' of database")
    assert "connection lost" in warning and "trying again on a new connection" in warning


def test_a_backend_terminated_during_a_catalog_query_is_replaced_and_the_run_is_complete(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, undisturbed: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3rd read finds pg_description locked, so its query waits; it is terminated while it waits."""
    killed: list[int] = []

    def kill_while_waiting(_: Catalog) -> int:
        lock = admin.connect()
        lock.exec_driver_sql("BEGIN; LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE")

        def kill() -> None:
            try:
                killed.append(terminate_when_waiting(admin, catalog.database))
            finally:
                lock.exec_driver_sql("ROLLBACK")
                lock.close()

        threading.Thread(target=kill, daemon=True).start()
        return 0

    with killing(monkeypatch, PostgresCatalog, Killer(kill_while_waiting, at=3)):
        run = run_cli(tmp_path, settings(catalog), monkeypatch)
    assert killed and killed[0] >= 1
    assert run.code == 0, run.printed
    run.assert_accounted(RECORDS)
    assert run.records == undisturbed.records
    [warning] = run.source.warnings
    assert "connection lost (OperationalError: " in warning and "trying again on a new connection" in warning


def terminate_when_waiting(admin: sqlalchemy.Engine, database: str) -> int:
    """Once a backend of the source waits for a lock (a catalog query is running), terminate all of them."""
    waiting = BACKENDS + " AND wait_event_type = 'Lock' AND state = 'active'"
    deadline = time.monotonic() + 10
    with admin.connect() as connection:
        while time.monotonic() < deadline:
            params = {"database": database, "application": APPLICATION_NAME}
            if connection.exec_driver_sql(waiting, params).first() is not None:
                return terminate(admin, database)
            time.sleep(0.01)
    raise AssertionError("the source never ran a catalog query")


def test_backends_terminated_again_and_again_fail_the_run(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killer = Killer(lambda _: terminate(admin, catalog.database, settled=True), at=4, every=True)
    with killing(monkeypatch, PostgresCatalog, killer):
        run = run_cli(tmp_path, settings(catalog), monkeypatch)
    assert killer.killed == [1, 1, 1]  # the first try and two retries, each on a new backend
    stopped = "run failed: SqlUnavailableError: reading schemas 's13', 's14', 's15', 's16' of database"
    assert stopped in run.printed
    assert "connection lost (3 attempts, each on a new connection)" in run.printed
    unread = run.assert_failed_and_accounted(RECORDS)
    assert {letter.fqn for letter in unread} == {f"pg.{catalog.database}.s{n}" for n in range(13, 41)}
    assert len(unread) == 28 * (1 + TABLES)
    assert unread[0].error.startswith("cannot read schema 's13' nor its 100 relations: the step stopped: reading")
    assert run.source.warning_count == 2


@pytest.fixture
def role(catalog: sqlalchemy.URL, admin: sqlalchemy.Engine) -> Iterator[str]:
    """A login role, dropped afterwards."""
    name = f"ingest_faults_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {name}; DROP ROLE {name}")


def grant_usage(admin: sqlalchemy.Engine, role: str, schemas: range) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {', '.join(f's{n:02}' for n in schemas)} TO {role}")


def test_a_tiny_statement_timeout_fails_the_run(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 ms trips on the first queries a connection makes (SQLAlchemy's own, or the catalog's): exit 1 either way."""
    grant_usage(admin, role, range(1, SCHEMAS + 1))
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER ROLE {role} IN DATABASE {catalog.database} SET statement_timeout = '1ms'")
    run = run_cli(tmp_path, settings(catalog.set(username=role), batch_size=5000), monkeypatch)
    assert run.code == 1, run.printed
    assert "run succeeded" not in run.printed
    assert "run failed: SqlUnavailableError" in run.printed
    assert "QueryCanceled: canceling statement due to statement timeout" in run.printed
    assert run.records is None
    assert run.source.records < RECORDS


def test_a_catalog_query_that_times_out_is_retried_then_fails_the_run(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_description is locked, so the catalog queries wait past the role's statement_timeout, each time."""
    grant_usage(admin, role, range(1, SCHEMAS + 1))
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER ROLE {role} IN DATABASE {catalog.database} SET statement_timeout = '200ms'")
    with admin.connect() as lock:
        lock.exec_driver_sql("BEGIN; LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE")
        try:
            run = run_cli(tmp_path, settings(catalog.set(username=role)), monkeypatch)
        finally:
            lock.exec_driver_sql("ROLLBACK")
    assert run.code == 1, run.printed
    assert "run succeeded" not in run.printed
    assert (
        f"run failed: SqlUnavailableError: listing the schemas of database {catalog.database!r} failed:"
        " statement timeout (3 attempts, each on a new connection):"
        " QueryCanceled: canceling statement due to statement timeout"
    ) in run.printed
    assert [warning.split(": ", 1)[1].split(" (")[0] for warning in run.source.warnings] == ["statement timeout"] * 2
    assert run.records is None
    assert run.source.records == 1  # the service: a database's record follows the listing of its schemas


def test_schemas_without_usage_are_named_in_warnings_and_the_rest_is_complete(
    catalog: sqlalchemy.URL,
    admin: sqlalchemy.Engine,
    role: str,
    undisturbed: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grant_usage(admin, role, range(1, 31))
    run = run_cli(tmp_path, settings(catalog.set(username=role)), monkeypatch)
    assert run.code == 0, run.printed
    assert "run succeeded" in run.printed
    assert run.source.warnings == [
        f"schema pg.{catalog.database}.s{n} skipped: the role has no USAGE privilege on it"
        " (grant it, or leave the schema out with schema_filter)"
        for n in range(31, 41)
    ]
    readable = 1 + 1 + 1 + 30 + 30 * TABLES
    run.assert_accounted(readable)
    assert undisturbed.records is not None
    unreadable = {f"s{n}" for n in range(31, 41)}
    assert run.records == [
        record
        for record in undisturbed.records
        if getattr(record, "database_schema", getattr(record, "name", None)) not in unreadable
    ]
    assert run.source.failure_count == 0


def test_a_schema_that_cannot_be_read_counts_as_itself_and_each_of_its_relations(
    catalog: sqlalchemy.URL, undisturbed: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real database error (not a lost connection) on every read of s05: its batch is read schema by schema,
    and s05 fails as 101 records, so a 99 % threshold trips (one failure against 4,000 records would not), and
    that run writes no output; at 90 % the rest is written."""

    original = PostgresCatalog.read

    def read(catalog_reader: PostgresCatalog, schemas: list[str], keep: Callable[[str], bool]) -> Found:
        if "s05" in schemas:
            catalog_reader.connection.exec_driver_sql("SELECT 1 / 0")
        return original(catalog_reader, schemas, keep)

    with monkeypatch.context() as patched:
        patched.setattr(PostgresCatalog, "read", read)
        run = run_cli(tmp_path, settings(catalog), monkeypatch, success_threshold=99)
        passed = run_cli(tmp_path / "at_90", settings(catalog), monkeypatch, success_threshold=90)
    assert run.code == 1, run.printed
    assert "run failed: success rate below 99% in source:sql" in run.printed
    assert run.records is None, "a run below its threshold writes no output file"
    assert run.source.records + run.source.failure_count == RECORDS
    assert run.source.failure_count == len(run.dead_letters) == 1 + TABLES
    assert passed.code == 0, passed.printed
    passed.assert_accounted(RECORDS)
    assert {(letter.fqn, letter.error) for letter in run.dead_letters} == {
        (
            f"pg.{catalog.database}.s05",
            "cannot read schema 's05' nor its 100 relations: DivisionByZero: division by zero",
        )
    }
    assert undisturbed.records is not None
    assert passed.records == [
        record
        for record in undisturbed.records
        if getattr(record, "database_schema", getattr(record, "name", None)) != "s05"
    ]


def test_a_database_the_role_may_not_connect_to_is_named_in_a_warning(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f"REVOKE CONNECT ON DATABASE {catalog.database} FROM PUBLIC")
    try:
        server = catalog.set(username=role, database="postgres")
        config = settings(server, all_databases=True, database_filter={"include": [catalog.database, "postgres"]})
        run = run_cli(tmp_path, {**config, "schema_filter": {"include": ["s01"]}}, monkeypatch)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"GRANT CONNECT ON DATABASE {catalog.database} TO PUBLIC")
    assert run.code == 0, run.printed
    assert run.source.warnings == [
        f"database pg.{catalog.database} skipped: the role has no CONNECT privilege on it"
        " (grant it, or leave the database out with database_filter)",
        "schema pg.postgres.s01 is not listed by the server: it does not exist",
        f"0 tables matched; check the filters: database_filter include ['{catalog.database}', 'postgres'];"
        " schema_filter include ['s01']",
    ]
    assert run.records is not None
    assert [record.fqn for record in run.records] == ["pg", "pg.postgres"]
    run.assert_accounted(2)


def test_a_backend_terminated_while_sampling_is_replaced_and_every_sample_is_taken(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_ingest.sources.sql import sampling

    with admin.connect() as connection:
        connection.exec_driver_sql("INSERT INTO s01.t001 VALUES (1, 10), (2, 20)")
        connection.exec_driver_sql("INSERT INTO s02.t100 VALUES (3, 30)")
    sampled: dict[str, list[list[str]]] = {}
    killed: list[int] = []
    sample_table = sampling.sample_table

    def terminate_at_the_50th(connection: sqlalchemy.Connection, table: Table, rows: int) -> None:
        if len(sampled) == 49 and not killed:
            killed.append(terminate(admin, catalog.database))
        sample_table(connection, table, rows)
        sampled[table.fqn] = [column.samples for column in table.columns]

    monkeypatch.setattr(sampling, "sample_table", terminate_at_the_50th)
    try:
        config = settings(catalog, sample_rows=5, schema_filter={"include": ["s01", "s02"]})
        run = run_cli(tmp_path, config, monkeypatch)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql("TRUNCATE s01.t001, s02.t100")
    assert killed == [1]
    assert run.code == 0, run.printed
    run.assert_accounted(1 + 1 + 2 + 2 * TABLES)
    assert len(sampled) == 2 * TABLES
    [warning] = run.source.warnings
    assert warning.startswith(f"sampling pg.{catalog.database}.s01.t050: connection lost (")
    assert sampled[f"pg.{catalog.database}.s01.t001"] == [["1", "2"], ["10", "20"]]
    assert sampled[f"pg.{catalog.database}.s01.t050"] == [[], []]
    assert sampled[f"pg.{catalog.database}.s02.t100"] == [["3"], ["30"]]


def test_backends_terminated_at_every_sample_fail_the_run(
    catalog: sqlalchemy.URL, admin: sqlalchemy.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_ingest.sources.sql import sampling

    sampled: list[str] = []
    sample_table = sampling.sample_table

    def terminate_from_the_50th(connection: sqlalchemy.Connection, table: Table, rows: int) -> None:
        if len(sampled) == 49:
            terminate(admin, catalog.database)
        sample_table(connection, table, rows)
        sampled.append(table.fqn)

    monkeypatch.setattr(sampling, "sample_table", terminate_from_the_50th)
    config = settings(catalog, sample_rows=5, schema_filter={"include": ["s01", "s02"]})
    run = run_cli(tmp_path, config, monkeypatch)
    assert "run failed: SqlUnavailableError: sampling pg." in run.printed
    unread = run.assert_failed_and_accounted(1 + 1 + 2 + 2 * TABLES)
    assert run.source.records == 1 + 1 + 1 + 49  # up to s01.t049
    database = f"pg.{catalog.database}"
    assert [letter.fqn for letter in unread] == [
        *(f"{database}.s01.t{n:03}" for n in range(50, TABLES + 1)),
        *[f"{database}.s02"] * (1 + TABLES),
    ]
