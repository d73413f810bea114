"""Complete or fail: the sql source against MariaDB/MySQL when its connection is killed (``KILL CONNECTION``),
its statements time out, or its user may not see some databases. Each run goes through ``airflow-ingest run``."""

from __future__ import annotations

import re
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import sqlalchemy
from hypothesis import assume, given
from hypothesis import strategies as st
from support.faults import Killer, Run, killing, run_cli

from airflow_provider_ingest.sources.sql.catalog import Catalog
from airflow_provider_ingest.sources.sql.mysql import MysqlCatalog
from airflow_provider_ingest.sources.sql.source import literal

pytestmark = pytest.mark.mysql

DATABASES = 12
TABLES = 25
RECORDS = 1 + 1 + DATABASES + DATABASES * TABLES
"""The service, the database record, a schema per MySQL database, and the tables."""
BATCH = 2 * TABLES
"""Two MySQL databases per batch of catalog queries: the catalog is read in 6 batches."""


@pytest.fixture(scope="module")
def prefix(mysql_url: str) -> Iterator[str]:
    """A unique prefix of 12 databases of 25 tables each (MEMORY tables: made fast); dropped afterwards."""
    prefix = f"ingest_faults_{uuid.uuid4().hex[:8]}_"
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for database in range(1, DATABASES + 1):
                name = f"{prefix}{database:02}"
                connection.exec_driver_sql(f"CREATE DATABASE `{name}`")
                for table in range(1, TABLES + 1):
                    connection.exec_driver_sql(
                        f"CREATE TABLE `{name}`.t{table:02} (id int PRIMARY KEY, label varchar(20)) ENGINE=MEMORY"
                    )
        yield prefix
    finally:
        with engine.connect() as connection:
            for database in range(1, DATABASES + 1):
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{prefix}{database:02}`")
        engine.dispose()


@pytest.fixture(scope="module")
def admin(mysql_url: str) -> Iterator[sqlalchemy.Engine]:
    """A second connection, to kill the source's from."""
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def settings(url: str, prefix: str, **more: object) -> dict:
    return {
        "url": url,
        "service_name": "maria",
        "schema_filter": {"include": [f"{prefix}.*"]},
        "batch_size": BATCH,
        "retry": {"attempts": 3, "backoff": 0.05},
        **more,
    }


@pytest.fixture(scope="module")
def undisturbed(mysql_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A run nobody interferes with: the reference."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        run = run_cli(tmp_path_factory.mktemp("undisturbed"), settings(mysql_url, prefix), monkeypatch)
    assert run.code == 0, run.printed
    run.assert_accounted(RECORDS)
    assert run.source.failure_count == 0 and run.source.warning_count == 0
    return run


def kill_connection(admin: sqlalchemy.Engine, catalog: Catalog) -> int:
    """``KILL CONNECTION`` the connection the catalog reads over (its ``CONNECTION_ID()``); wait until it is gone."""
    connection_id = catalog.connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
    gone = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = %(id)s"
    with admin.connect() as connection:
        connection.exec_driver_sql("KILL CONNECTION %(id)s", {"id": connection_id})
        deadline = time.monotonic() + 5
        while connection.exec_driver_sql(gone, {"id": connection_id}).scalar() and time.monotonic() < deadline:
            time.sleep(0.01)
    return 1


def test_a_killed_connection_is_replaced_and_the_run_is_complete(
    mysql_url: str,
    prefix: str,
    admin: sqlalchemy.Engine,
    undisturbed: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killer = Killer(lambda catalog: kill_connection(admin, catalog), at=3)
    with killing(monkeypatch, MysqlCatalog, killer):
        run = run_cli(tmp_path, settings(mysql_url, prefix), monkeypatch)
    assert killer.killed == [1]
    assert run.code == 0, run.printed
    assert "run succeeded" in run.printed
    run.assert_accounted(RECORDS)
    assert run.records == undisturbed.records
    assert run.source.failure_count == 0
    [warning] = run.source.warnings
    assert warning.startswith(f"reading schemas '{prefix}05', '{prefix}06' of database 'default': connection lost (")
    assert "trying again on a new connection" in warning


def test_connections_killed_again_and_again_fail_the_run(
    mysql_url: str, prefix: str, admin: sqlalchemy.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killer = Killer(lambda catalog: kill_connection(admin, catalog), at=3, every=True)
    with killing(monkeypatch, MysqlCatalog, killer):
        run = run_cli(tmp_path, settings(mysql_url, prefix), monkeypatch)
    assert killer.killed == [1, 1, 1]  # the first try and two retries, each on a new connection
    assert f"run failed: SqlUnavailableError: reading schemas '{prefix}05', '{prefix}06' of database" in run.printed
    assert "connection lost (3 attempts, each on a new connection)" in run.printed
    unread = run.assert_failed_and_accounted(RECORDS)
    assert {letter.fqn for letter in unread} == {f"maria.default.{prefix}{n:02}" for n in range(5, DATABASES + 1)}
    assert run.source.warning_count == 2


@pytest.fixture
def user(mysql_url: str, admin: sqlalchemy.Engine) -> Iterator[str]:
    """A user without a password, with no privileges yet; dropped afterwards."""
    name = f"ingest_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE USER '{name}'@'%%'")
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP USER '{name}'@'%%'")


def test_a_statement_timeout_fails_the_run(
    mysql_url: str, prefix: str, admin: sqlalchemy.Engine, user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f"GRANT SELECT ON *.* TO '{user}'@'%%' WITH MAX_STATEMENT_TIME 0.000001")
    url = sqlalchemy.make_url(mysql_url).set(username=user).render_as_string(hide_password=False)
    run = run_cli(tmp_path, settings(url, prefix, batch_size=5000), monkeypatch)
    assert run.code == 1, run.printed
    assert "run succeeded" not in run.printed
    assert "run failed: SqlUnavailableError" in run.printed
    assert "statement timeout (3 attempts, each on a new connection)" in run.printed
    assert "max_statement_time exceeded" in run.printed
    assert run.records is None


def test_databases_the_user_may_not_use_are_named_in_warnings_and_the_rest_is_complete(
    mysql_url: str,
    prefix: str,
    admin: sqlalchemy.Engine,
    user: str,
    undisturbed: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MySQL lists only the databases a user has a privilege on: those the filter names are warned about."""
    with admin.connect() as connection:
        for database in range(1, 7):
            connection.exec_driver_sql(f"GRANT SELECT ON `{prefix}{database:02}`.* TO '{user}'@'%%'")
    url = sqlalchemy.make_url(mysql_url).set(username=user).render_as_string(hide_password=False)
    names = [f"{prefix}{database:02}" for database in range(1, DATABASES + 1)]
    run = run_cli(tmp_path, settings(url, prefix, schema_filter={"include": names}), monkeypatch)
    assert run.code == 0, run.printed
    assert "run succeeded" in run.printed
    assert run.source.warnings == [
        f"schema maria.default.{name} is not listed by the server: it does not exist, or the role has no"
        " privilege on it (MySQL lists only the databases a role may use)"
        for name in names[6:]
    ]
    run.assert_accounted(1 + 1 + 6 + 6 * TABLES)
    assert undisturbed.records is not None
    hidden = set(names[6:])
    assert run.records == [
        record
        for record in undisturbed.records
        if getattr(record, "database_schema", getattr(record, "name", None)) not in hidden
    ]


@hypothesis.settings(deadline=None)
@given(st.text(min_size=1))
def test_an_escaped_name_is_a_literal_pattern_for_that_name(name: str) -> None:
    assert literal(re.escape(name)) == name


@hypothesis.settings(deadline=None)
@given(st.text(alphabet="ab_.*+?|()[]{}^$\\d10", min_size=1, max_size=8))
def test_a_literal_pattern_matches_exactly_its_name(pattern: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set": a valid pattern still
            compiled = re.compile(pattern)
    except re.error:
        assume(False)
    name = literal(pattern)
    if name is not None:
        assert compiled.fullmatch(name) is not None
        assert all(compiled.fullmatch(other) is None for other in (name + "a", name[:-1], "a" + name))


def test_databases_listed_to_a_user_without_privileges_on_them_are_named_in_warnings(
    mysql_url: str,
    prefix: str,
    admin: sqlalchemy.Engine,
    user: str,
    undisturbed: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With SHOW DATABASES, a user sees every database, but not the tables of those it has no privilege on."""
    with admin.connect() as connection:
        connection.exec_driver_sql(f"GRANT SHOW DATABASES ON *.* TO '{user}'@'%%'")
        for database in range(1, 7):
            connection.exec_driver_sql(f"GRANT SELECT ON `{prefix}{database:02}`.* TO '{user}'@'%%'")
    url = sqlalchemy.make_url(mysql_url).set(username=user).render_as_string(hide_password=False)
    run = run_cli(tmp_path, settings(url, prefix), monkeypatch)
    assert run.code == 0, run.printed
    assert run.source.warnings == [
        f"schema maria.default.{prefix}{database:02} skipped: the role has no SELECT privilege on it"
        " (grant it, or leave the schema out with schema_filter)"
        for database in range(7, DATABASES + 1)
    ]
    run.assert_accounted(1 + 1 + 6 + 6 * TABLES)
    assert undisturbed.records is not None
    hidden = {f"{prefix}{database:02}" for database in range(7, DATABASES + 1)}
    assert run.records == [
        record
        for record in undisturbed.records
        if getattr(record, "database_schema", getattr(record, "name", None)) not in hidden
    ]


def test_a_server_that_accepts_and_never_answers_fails_the_run_instead_of_hanging(tmp_path: Path) -> None:
    """PyMySQL waits for a greeting for ever by default: the source gives MySQL connections a read timeout."""
    import socket

    from sqlalchemy.engine import make_url
    from support.sql import extract

    from airflow_provider_ingest.sources.sql.connection import MYSQL_READ_TIMEOUT, SqlConnectionError, connect_args

    assert connect_args(make_url("mysql+pymysql://u@h/d"))["read_timeout"] == MYSQL_READ_TIMEOUT
    assert "read_timeout" not in connect_args(make_url("mysql+pymysql://u@h/d?read_timeout=5"))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"mysql+pymysql://root@127.0.0.1:{silent.getsockname()[1]}/shop?read_timeout=1"
        started = time.monotonic()
        with pytest.raises(SqlConnectionError):
            extract({"url": url, "service_name": "silent", "retry": {"attempts": 1}}, tmp_path)
    assert time.monotonic() - started < 60
