"""``mysql_query_log`` against a private MariaDB server with ``performance_schema=ON``.

The module starts its own server (tests/support/servers.py), runs real queries in two databases, and reads
the statement digests back through the run lifecycle: digest text, database, calls, mean duration; the
database filter; the watermark; and the errors when performance_schema is OFF (the machine's server, or
a second private one), when the digest consumer is disabled, and when the role may not read the digests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy
from conftest import MYSQL_URL
from support.querylog import SourceRun, run_source
from support.servers import PrivateMariaDB, private_mariadb

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.usage.querylog.common import QueryLogSetupError
from airflow_provider_ingest.usage.querylog.mysql import MysqlQueryLogSource

SETUP = [
    "CREATE DATABASE shop",
    "CREATE DATABASE crm",
    "CREATE TABLE shop.customers (id integer PRIMARY KEY, name varchar(50))",
    "CREATE TABLE shop.orders (id integer PRIMARY KEY, customer_id integer, amount decimal(10, 2))",
    "CREATE TABLE shop.big_orders (id integer, name varchar(50), amount decimal(10, 2))",
    "CREATE TABLE crm.contacts (id integer PRIMARY KEY, email varchar(100))",
    "INSERT INTO shop.customers VALUES (1, 'Ada'), (2, 'Grace')",
    "INSERT INTO shop.orders VALUES (10, 1, 5), (11, 1, 50), (12, 2, 500)",
    "CREATE USER 'ingest'@'%'",
    "GRANT SELECT ON performance_schema.* TO 'ingest'@'%'",
    "CREATE USER 'plain'@'%'",
    "GRANT SELECT ON shop.* TO 'plain'@'%'",
]
JOIN = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > {amount}"
INSERT_SELECT = (
    "INSERT INTO big_orders SELECT o.id, c.name, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id"
    " WHERE o.amount >= {amount}"
)
CONTACT = "SELECT email FROM contacts WHERE id = {id}"


def plain(text: str) -> str:
    """A digest text without MariaDB's backticks, spaced dots and commas, and case, to compare with the query."""
    text = re.sub(r"\s*\.\s*", ".", text.replace("`", ""))
    return re.sub(r"\s*,\s*", ", ", text).strip().lower()


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateMariaDB]:
    with private_mariadb(["--performance-schema=ON"]) as found:
        engine = sqlalchemy.create_engine(found.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for statement in SETUP:
                connection.execute(sqlalchemy.text(statement))
        engine.dispose()
        yield found


def run_in(server: PrivateMariaDB, database: str, *statements: str) -> None:
    engine = sqlalchemy.create_engine(server.url(database=database), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(sqlalchemy.text(statement))
    engine.dispose()


def config(server: PrivateMariaDB, **settings: object) -> dict[str, object]:
    return {"url": server.url("ingest"), "service_name": "maria", **settings}


@pytest.fixture(scope="module")
def first_run(server: PrivateMariaDB, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SourceRun]:
    run_in(server, "shop", JOIN.format(amount=10), JOIN.format(amount=100), JOIN.format(amount=1000))
    run_in(server, "shop", INSERT_SELECT.format(amount=100), INSERT_SELECT.format(amount=400), "SET @x = 1")
    run_in(server, "crm", CONTACT.format(id=1), "SELECT email FROM contacts WHERE id IN (1, 2, 3)")
    run_in(server, "crm", "INSERT INTO contacts VALUES (8, 'a@example.com'), (9, 'b@example.com')")
    folder = tmp_path_factory.mktemp("digests")
    return folder, run_source("mysql_query_log", config(server, since="state.json"), folder, "day-1")


def on(run: SourceRun, database: str) -> dict[str, object]:
    """The run's queries on a MySQL database, by their text without backticks."""
    found = {}
    for query in run.queries:
        if query.database_schema == database:
            assert plain(query.text) not in found
            found[plain(query.text)] = query
    return found


def test_each_digest_comes_with_its_database_and_calls(first_run: tuple[Path, SourceRun]) -> None:
    _folder, run = first_run
    assert run.result.success, run.result.error
    shop = on(run, "shop")
    join = shop[plain(JOIN.format(amount="?"))]
    assert (join.service, join.dialect, join.database, join.user, join.calls) == (
        "maria",
        "mariadb",
        "default",
        None,
        3,
    )
    assert join.duration_ms is not None and join.duration_ms > 0
    assert shop[plain(INSERT_SELECT.format(amount="?"))].calls == 2
    crm = on(run, "crm")
    assert crm[plain(CONTACT.format(id="?"))].calls == 1
    assert plain("SELECT email FROM contacts WHERE id IN (?)") in crm  # the digest's "(...)": read as a parameter
    assert plain("INSERT INTO contacts VALUES (?)") in crm  # its "(...) /* , ... */" too
    for query in run.queries:
        assert query.start_time is not None and query.start_time <= datetime.now(timezone.utc)


def test_utility_and_monitoring_statements_are_left_out_and_counted(first_run: tuple[Path, SourceRun]) -> None:
    _folder, run = first_run
    assert not [query for query in run.queries if query.text.split()[0].upper() in ("SET", "SHOW", "COMMIT")]
    assert not [query for query in run.queries if "performance_schema" in query.text.lower()]
    assert run.counters["utility_statements"] >= 1  # SET @x, and the driver's own SET/SELECT @@... at connect
    assert run.counters["own_statements"] >= 1  # the source's check of setup_consumers


def test_the_watermark_gives_the_next_run_only_the_new_calls(
    server: PrivateMariaDB, first_run: tuple[Path, SourceRun]
) -> None:
    folder, _first = first_run
    state = json.loads((folder / "state.json").read_text())
    run_in(server, "shop", JOIN.format(amount=7), JOIN.format(amount=70))
    run_in(server, "shop", "SELECT name FROM customers WHERE id = 2")

    second = run_source("mysql_query_log", config(server, since="state.json"), folder, "day-2")

    assert second.result.success, second.result.error
    shop = on(second, "shop")
    assert shop[plain(JOIN.format(amount="?"))].calls == 2
    assert shop[plain("SELECT name FROM customers WHERE id = ?")].calls == 1
    assert plain(INSERT_SELECT.format(amount="?")) not in shop and not on(second, "crm")
    taken = datetime.fromisoformat(state["latest"]["taken_at"])
    assert shop[plain(JOIN.format(amount="?"))].start_time == taken  # its new calls came after the first run
    assert second.counters["unchanged"] >= 2

    truncated = run_source("mysql_query_log", config(server, since="state.json"), folder, "day-3")
    assert not on(truncated, "shop")  # nothing new in shop
    run_in(server, "", "TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
    run_in(server, "shop", JOIN.format(amount=1))
    after_reset = run_source("mysql_query_log", config(server, since="state.json"), folder, "day-4")
    assert on(after_reset, "shop")[plain(JOIN.format(amount="?"))].calls == 1  # counted from the reset, not lost


def test_the_database_filter_matches_the_mysql_database(
    server: PrivateMariaDB, first_run: tuple[Path, SourceRun], tmp_path: Path
) -> None:
    run_in(server, "crm", CONTACT.format(id=2))
    run_in(server, "shop", JOIN.format(amount=2))
    run = run_source("mysql_query_log", config(server, database_filter={"include": ["crm"]}), tmp_path)
    assert run.queries and {query.database_schema for query in run.queries} == {"crm"}
    assert run.counters["filtered_database"] >= 1  # the query on shop


def test_a_value_naming_performance_schema_does_not_hide_a_statement(server: PrivateMariaDB, tmp_path: Path) -> None:
    """MySQL's sample texts keep their literals (MariaDB's digests hold none): the filter reads the masked text."""
    source = make(config(server), tmp_path)
    source.dialect = "mysql"
    try:
        kept = source.masked("SELECT name FROM customers WHERE note = 'performance_schema'")
        monitoring = source.masked("SELECT * FROM performance_schema.threads WHERE name = 'x'")
        assert source.kept(kept, None, "shop") and not source.kept(monitoring, None, None)
    finally:
        source.close()


def test_sample_text_falls_back_to_the_digest_on_mariadb(
    server: PrivateMariaDB, first_run: tuple[Path, SourceRun], tmp_path: Path
) -> None:
    run = run_source("mysql_query_log", config(server, query_text="sample"), tmp_path)
    assert run.result.success and run.queries
    [warning] = run.report.warnings
    assert warning.startswith("query_text: sample: 10.") and "-MariaDB" in warning
    assert warning.endswith(" keeps no QUERY_SAMPLE_TEXT; reading the digests' text")


def test_a_user_filter_is_refused_digests_have_no_user(server: PrivateMariaDB, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="user_filter cannot apply: performance_schema statement digests"):
        make(config(server, user_filter={"include": ["alice"]}), tmp_path)


def test_a_role_that_may_not_read_the_digests_is_told_what_to_grant(server: PrivateMariaDB, tmp_path: Path) -> None:
    source = make(config(server, url=server.url("plain")), tmp_path)
    with pytest.raises(QueryLogSetupError) as error:
        source.prepare()
    source.close()
    assert "GRANT SELECT ON performance_schema.* TO 'plain'@'%';" in str(error.value)


def test_a_disabled_digest_consumer_is_named(server: PrivateMariaDB, tmp_path: Path) -> None:
    consumers = "UPDATE performance_schema.setup_consumers SET ENABLED = '{}' WHERE NAME = 'statements_digest'"
    run_in(server, "", consumers.format("NO"))
    try:
        source = make(config(server), tmp_path)
        with pytest.raises(QueryLogSetupError) as error:
            source.prepare()
        source.close()
    finally:
        run_in(server, "", consumers.format("YES"))
    message = str(error.value)
    assert "consumer is disabled ('statements_digest')" in message
    assert "SET ENABLED = 'YES' WHERE NAME IN ('statements_digest')" in message
    assert "performance_schema_consumer_statements_digest=ON" in message


def test_performance_schema_off_is_named(tmp_path: Path) -> None:
    """On the machine's server when its performance_schema is OFF (the usual set-up), else on a private one."""
    url = machine_server_without_performance_schema()
    if url is None:
        with private_mariadb(["--performance-schema=OFF"]) as off:
            error = setup_error({"url": off.url(), "service_name": "off"}, tmp_path)
    else:
        error = setup_error({"url": url, "service_name": "off"}, tmp_path)
    assert "performance_schema is OFF on the server" in error
    assert "set performance_schema=ON in the [mysqld] section of the server's configuration and restart it" in error


def machine_server_without_performance_schema() -> str | None:
    try:
        engine = sqlalchemy.create_engine(MYSQL_URL)
        with engine.connect() as connection:
            enabled = connection.exec_driver_sql("SELECT @@performance_schema").scalar()
        engine.dispose()
    except sqlalchemy.exc.SQLAlchemyError:
        return None
    return None if enabled else MYSQL_URL


def setup_error(settings: dict[str, object], folder: Path) -> str:
    source = make(settings, folder)
    try:
        with pytest.raises(QueryLogSetupError) as error:
            source.prepare()
    finally:
        source.close()
    return str(error.value)


def make(settings: dict[str, object], folder: Path) -> MysqlQueryLogSource:
    context = RunContext(workflow_name="querylog", run_id="run", staging_root=str(folder), base_dir=folder)
    source = MysqlQueryLogSource.create(settings, context)
    assert isinstance(source, MysqlQueryLogSource)
    return source
