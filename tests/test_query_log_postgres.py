"""``postgres_query_log`` against a private PostgreSQL cluster that preloads ``pg_stat_statements``.

The machine's server does not preload the library, so the module starts its own cluster (tests/support/
servers.py), runs real queries in a ``shop`` database as two roles, and reads them back through the run
lifecycle (as an Airflow task does): text as ``pg_stat_statements`` normalizes it, role, database, calls;
the filters; the watermark; and the errors for a missing extension, library and privilege.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy
from support.querylog import run_source
from support.servers import PrivatePostgres, private_postgres

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.records import Lineage, TableUsage
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.usage.querylog.common import QueryLogSetupError
from airflow_provider_ingest.usage.querylog.postgres import PostgresQueryLogSource
from airflow_provider_ingest.workflow.loader import load_workflow

PRELOAD = {"shared_preload_libraries": "'pg_stat_statements'"}
SHOP = """
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers (id), amount numeric);
CREATE TABLE big_orders (id integer, name text, amount numeric);
INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');
INSERT INTO orders VALUES (10, 1, 5), (11, 1, 50), (12, 2, 500);
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO alice, bob;
"""
JOIN = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > {amount}"
JOIN_TEXT = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > $1"
INSERT_SELECT = (
    "INSERT INTO big_orders SELECT o.id, c.name, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id"
    " WHERE o.amount >= {amount}"
)
INSERT_SELECT_TEXT = INSERT_SELECT.format(amount="$1")
COUNT_TEXT = "SELECT count(*) FROM customers"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    """A private cluster: pg_stat_statements in database shop; roles alice and bob (queries), reader (member
    of pg_read_all_stats, not a superuser) and nosy (without it)."""
    with private_postgres(PRELOAD) as server:
        admin = sqlalchemy.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for role in ("alice", "bob", "reader", "nosy"):
                connection.execute(sqlalchemy.text(f"CREATE ROLE {role} LOGIN"))
            connection.execute(sqlalchemy.text("GRANT pg_read_all_stats TO reader"))
            connection.execute(sqlalchemy.text("CREATE DATABASE shop"))
        admin.dispose()
        shop = sqlalchemy.create_engine(server.url(database="shop"), isolation_level="AUTOCOMMIT")
        with shop.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE EXTENSION pg_stat_statements"))
            connection.execute(sqlalchemy.text(SHOP))
        shop.dispose()
        yield server


def run_as(server: PrivatePostgres, role: str, *statements: str) -> None:
    """Run statements in database shop as ``role``, each in its own transaction."""
    engine = sqlalchemy.create_engine(server.url(role, "shop"), use_native_hstore=False)
    with engine.connect() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
            connection.commit()
    engine.dispose()


def config(server: PrivatePostgres, **settings: object) -> dict[str, object]:
    return {"url": server.url("reader", "shop"), "service_name": "pg_shop", **settings}


@pytest.fixture(scope="module")
def first_run(cluster: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The queries of the two roles, then a first run with a watermark (state file ``state.json``)."""
    run_as(
        cluster,
        "alice",
        JOIN.format(amount=10),
        JOIN.format(amount=100),
        JOIN.format(amount=1000),
        "SET work_mem = '8MB'",
        "BEGIN",
        COUNT_TEXT,
        "COMMIT",
    )
    run_as(cluster, "bob", INSERT_SELECT.format(amount=100), INSERT_SELECT.format(amount=400), JOIN.format(amount=1))
    folder = tmp_path_factory.mktemp("pgss")
    return folder, run_source("postgres_query_log", config(cluster, since="state.json"), folder, "day-1")


def test_each_query_comes_with_its_role_database_and_calls(first_run: tuple[Path, object]) -> None:
    _folder, run = first_run
    assert run.result.success, run.result.error
    found = run.by_text("shop")
    join = found[("alice", JOIN_TEXT)]
    assert (join.service, join.dialect, join.database, join.calls) == ("pg_shop", "postgresql", "shop", 3)
    assert join.database_schema is None  # pg_stat_statements does not record the search_path
    assert found[("bob", INSERT_SELECT_TEXT)].calls == 2
    assert found[("bob", JOIN_TEXT)].calls == 1
    assert found[("alice", COUNT_TEXT)].calls == 1
    for query in run.queries:
        assert query.start_time is not None and query.start_time <= datetime.now(timezone.utc)
        assert query.duration_ms is not None and query.duration_ms >= 0
        assert query.fqn.startswith("pg_shop.")


def test_utility_statements_and_its_own_are_left_out_and_counted(
    cluster: PrivatePostgres, first_run: tuple[Path, object], tmp_path: Path
) -> None:
    _folder, run = first_run
    texts = {query.text for query in run.queries}
    assert not {text for text in texts if text.split()[0].upper() in ("SET", "BEGIN", "COMMIT", "SHOW")}
    assert run.counters["utility_statements"] >= 3  # SET, BEGIN, COMMIT at least
    again = run_source("postgres_query_log", config(cluster), tmp_path)
    assert again.counters["own_statements"] >= 3  # the first run's statements, now in the view
    assert not [text for text in (query.text for query in again.queries) if "airflow-provider-ingest" in text]
    assert again.report.filtered == sum(
        again.counters.get(name, 0)
        for name in ("own_statements", "utility_statements", "filtered_user", "filtered_database")
    )


def test_the_watermark_gives_the_next_run_only_the_new_calls(
    cluster: PrivatePostgres, first_run: tuple[Path, object]
) -> None:
    folder, _first = first_run
    state = json.loads((folder / "state.json").read_text())
    assert state["latest"]["run_id"] == "day-1" and state["previous"] is None
    run_as(cluster, "alice", JOIN.format(amount=7), JOIN.format(amount=70))
    run_as(cluster, "bob", "SELECT name FROM customers WHERE id = 2")

    second = run_source("postgres_query_log", config(cluster, since="state.json"), folder, "day-2")

    assert second.result.success, second.result.error
    found = second.by_text("shop")
    assert found[("alice", JOIN_TEXT)].calls == 2
    assert found[("bob", "SELECT name FROM customers WHERE id = $1")].calls == 1
    assert ("bob", INSERT_SELECT_TEXT) not in found and ("alice", COUNT_TEXT) not in found  # no new calls
    taken = datetime.fromisoformat(state["latest"]["taken_at"])
    assert {query.start_time for query in second.queries} == {taken}  # the calls came after the first run
    assert second.counters["unchanged"] >= 3

    # the same run again (an Airflow retry): the same calls again, and more if more were made since
    run_as(cluster, "alice", JOIN.format(amount=8))
    retried = run_source("postgres_query_log", config(cluster, since="state.json"), folder, "day-2")
    assert retried.by_text("shop")[("alice", JOIN_TEXT)].calls == 3
    assert retried.by_text("shop")[("bob", "SELECT name FROM customers WHERE id = $1")].calls == 1
    state = json.loads((folder / "state.json").read_text())
    assert (state["latest"]["run_id"], state["previous"]["run_id"]) == ("day-2", "day-1")


def test_a_password_the_server_keeps_verbatim_is_masked(cluster: PrivatePostgres, tmp_path: Path) -> None:
    secret = "pg-s3cr3t-Pa55"
    admin = sqlalchemy.create_engine(cluster.url(database="shop"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER ROLE nosy PASSWORD '{secret}'")  # a utility statement: kept as written
    admin.dispose()

    run = run_source("postgres_query_log", config(cluster), tmp_path)

    assert run.result.success, run.result.error
    assert "ALTER ROLE nosy PASSWORD ?" in {query.text for query in run.queries}
    written = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert secret.encode() not in written


def test_an_airflow_connection_names_the_server_and_the_service(
    cluster: PrivatePostgres, first_run: tuple[Path, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_USAGE_PG", cluster.url("reader", "shop").replace("postgresql+psycopg2", "postgres")
    )
    run = run_source("postgres_query_log", {"conn_id": "usage_pg"}, tmp_path)
    assert run.result.success, run.result.error
    assert run.by_text("shop")[("alice", JOIN_TEXT)].service == "usage_pg"


def test_filters_by_user_and_database(cluster: PrivatePostgres, first_run: tuple[Path, object], tmp_path: Path) -> None:
    only_bob = run_source("postgres_query_log", config(cluster, user_filter={"include": ["bob"]}), tmp_path)
    assert only_bob.queries and {query.user for query in only_bob.queries} == {"bob"}
    assert only_bob.counters["filtered_user"] > 0

    not_shop = run_source("postgres_query_log", config(cluster, database_filter={"exclude": ["shop"]}), tmp_path)
    assert "shop" not in {query.database for query in not_shop.queries}
    assert not_shop.counters["filtered_database"] >= 4  # alice's and bob's queries at least


def test_a_role_without_pg_read_all_stats_is_told_what_to_grant(cluster: PrivatePostgres, tmp_path: Path) -> None:
    source = make(config(cluster, url=cluster.url("nosy", "shop")), tmp_path)
    with pytest.raises(QueryLogSetupError) as error:
        source.prepare()
    source.close()
    message = str(error.value)
    assert "role 'nosy' lacks pg_read_all_stats" in message
    assert "GRANT pg_read_all_stats TO nosy;" in message
    assert "<insufficient privilege>" in message
    assert not error.value.retryable


def test_a_database_without_the_extension_is_named(cluster: PrivatePostgres, tmp_path: Path) -> None:
    run = run_source("postgres_query_log", config(cluster, url=cluster.url("reader", "postgres")), tmp_path)
    assert not run.result.success and not run.result.retryable
    assert "pg_stat_statements is not created in database 'postgres'" in (run.result.error or "")
    assert "CREATE EXTENSION pg_stat_statements" in (run.result.error or "")


def test_a_server_that_does_not_preload_the_library_is_told_how(tmp_path: Path) -> None:
    with private_postgres() as plain:
        engine = sqlalchemy.create_engine(plain.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE EXTENSION pg_stat_statements"))
        engine.dispose()
        source = make({"url": plain.url(), "service_name": "plain"}, tmp_path)
        with pytest.raises(QueryLogSetupError) as error:
            source.prepare()
        source.close()
    message = str(error.value)
    assert "pg_stat_statements is created in database 'postgres' but the server does not load it" in message
    assert "add 'pg_stat_statements' to shared_preload_libraries in postgresql.conf and restart" in message


def test_the_usage_workflow_counts_the_calls_per_table(tmp_path: Path) -> None:
    """A fresh cluster's log through query_parser and table_usage: each table counts the calls that read it."""
    with private_postgres(PRELOAD) as server:
        admin = sqlalchemy.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN"))
            connection.execute(sqlalchemy.text("CREATE DATABASE shop"))
        admin.dispose()
        shop = sqlalchemy.create_engine(server.url(database="shop"), isolation_level="AUTOCOMMIT")
        with shop.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE EXTENSION pg_stat_statements"))
            connection.execute(sqlalchemy.text(SHOP))
            connection.execute(sqlalchemy.text("SELECT pg_stat_statements_reset()"))  # only the queries below
        shop.dispose()
        run_as(server, "alice", *(JOIN.format(amount=amount) for amount in (1, 10, 100)), COUNT_TEXT)
        run_as(server, "bob", INSERT_SELECT.format(amount=100), INSERT_SELECT.format(amount=200))
        workflow = {
            "source": {
                "type": "postgres_query_log",
                "config": {"url": server.url(database="shop"), "service_name": "pg_shop", "since": "state.json"},
            },
            "processors": [{"type": "query_parser", "config": {"default_schema": "public"}}],
            "stage": {"type": "table_usage"},
            "bulk_sink": {"type": "file", "config": {"path": "published.jsonl"}},
            "workflow": {"staging_root": "staging"},
        }
        (tmp_path / "usage.yaml").write_text(json.dumps(workflow))

        result = run_workflow(load_workflow(tmp_path / "usage.yaml"))

    assert result.success, result.error
    published = list(read_records(str(tmp_path / "published.jsonl")))
    usage = {record.table: record for record in published if isinstance(record, TableUsage)}
    table = "pg_shop.shop.public."
    assert usage[table + "orders"].count == 5 and usage[table + "orders"].users == ["alice", "bob"]
    assert usage[table + "customers"].count == 6  # the join's 3 calls, the count's 1, the insert's 2
    assert usage[table + "big_orders"].count == 2 and usage[table + "big_orders"].users == ["bob"]
    edges = {(record.from_table, record.to_table) for record in published if isinstance(record, Lineage)}
    assert edges == {(table + "orders", table + "big_orders"), (table + "customers", table + "big_orders")}
    assert (tmp_path / "state.json").exists()


def test_test_connection_checks_that_the_log_can_be_read(cluster: PrivatePostgres, tmp_path: Path) -> None:
    from airflow_provider_ingest.run.connections import check_connections
    from airflow_provider_ingest.workflow.spec import ComponentSpec

    specs = [
        ("source", ComponentSpec(type="postgres_query_log", config=config(cluster))),
        ("source", ComponentSpec(type="postgres_query_log", config=config(cluster, url=cluster.url("nosy", "shop")))),
    ]
    readable, hidden, staging = check_connections(specs, str(tmp_path / "staging"), tmp_path)
    assert readable.ok and readable.detail.startswith("postgresql 1")
    assert not hidden.ok and "QueryLogSetupError: role 'nosy' lacks pg_read_all_stats" in hidden.detail
    assert staging.ok


def test_a_time_window_is_refused_with_the_reason(cluster: PrivatePostgres, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"start/end cannot apply: pg_stat_statements keeps counters.*since"):
        make(config(cluster, start="2024-01-01"), tmp_path)


def make(settings: dict[str, object], folder: Path) -> PostgresQueryLogSource:
    context = RunContext(workflow_name="querylog", run_id="run", staging_root=str(folder), base_dir=folder)
    source = PostgresQueryLogSource.create(settings, context)
    assert isinstance(source, PostgresQueryLogSource)
    return source
