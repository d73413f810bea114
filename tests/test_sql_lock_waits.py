"""A table or view locked by someone else (a migration, ``LOCK TABLE``, ``REFRESH MATERIALIZED VIEW``) bounds the
source's wait: its sample is left out with a warning, and a view definition that cannot be read is tried again and
then fails the step, naming the lock; a wait the server, role or URL sets is kept. PostgreSQL and MariaDB for real."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from support.catalogs import postgres_database
from support.sql import extract

from airflow_provider_ingest.sources.sql import catalog
from airflow_provider_ingest.sources.sql.connection import SqlUnavailableError
from airflow_provider_ingest.sources.sql.mysql import MysqlCatalog
from airflow_provider_ingest.sources.sql.postgres import PostgresCatalog

WAIT = 1
"""Seconds each lock wait lasts in these tests (60 by default)."""


@pytest.fixture(autouse=True)
def short_lock_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "LOCK_TIMEOUT", WAIT)


@contextlib.contextmanager
def locked(url: sqlalchemy.URL | str, statement: str) -> Iterator[None]:
    """``statement`` (a lock) held in an open transaction of another connection while inside."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
            yield
            connection.rollback()
    finally:
        engine.dispose()


def settings(url: sqlalchemy.URL | str, **more: object) -> dict:
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return {"url": text, "service_name": "db", **more}


@pytest.mark.postgres
def test_postgres_a_locked_table_loses_its_sample_not_the_run(postgres_url: str, tmp_path: Path) -> None:
    ddl = "CREATE TABLE locked (a text); INSERT INTO locked VALUES ('x'); CREATE TABLE free (b text);"
    ddl += " INSERT INTO free VALUES ('y');"
    with postgres_database(postgres_url, ddl) as url, locked(url, "LOCK TABLE locked IN ACCESS EXCLUSIVE MODE"):
        started = time.monotonic()
        records, source = extract(settings(url, sample_rows=5), tmp_path)
        elapsed = time.monotonic() - started
    tables = {record.name: record for record in records if record.kind == "table"}
    assert elapsed < 20 * WAIT, elapsed
    assert tables["free"].columns[0].samples == ["y"]
    assert tables["locked"].columns[0].samples == []
    assert source.report.failure_count == 0
    [warning] = source.report.warnings
    assert "cannot sample db." in warning and ".public.locked" in warning and "lock timeout" in warning, warning


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("ddl", "lock"),
    [
        ("CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
        ("CREATE MATERIALIZED VIEW m AS SELECT 1 AS a", "REFRESH MATERIALIZED VIEW m"),
    ],
    ids=["view-over-a-locked-table", "materialized-view-refreshing"],
)
def test_postgres_a_view_definition_behind_a_lock_is_tried_again_then_fails_the_step(
    postgres_url: str, tmp_path: Path, ddl: str, lock: str
) -> None:
    """pg_get_viewdef locks the view and every relation it reads: the catalog read waited for as long as the lock
    was held."""
    retry = {"attempts": 2, "backoff": 0}
    with postgres_database(postgres_url, ddl) as url, locked(url, lock):
        started = time.monotonic()
        with pytest.raises(SqlUnavailableError) as raised:
            extract(settings(url, retry=retry), tmp_path)
        elapsed = time.monotonic() - started
    assert elapsed < 20 * WAIT, elapsed
    assert "lock wait timeout" in str(raised.value) and "2 attempts" in str(raised.value), raised.value


@pytest.mark.postgres
def test_postgres_a_lock_timeout_of_the_url_or_role_is_kept_and_ours_lasts_one_transaction(postgres_url: str) -> None:
    def shown(url: sqlalchemy.URL) -> tuple[str, str]:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                with PostgresCatalog.lock_waits_bounded(connection):
                    inside = connection.exec_driver_sql("SHOW lock_timeout").scalar_one()
                return inside, connection.exec_driver_sql("SHOW lock_timeout").scalar_one()
        finally:
            engine.dispose()

    url = sqlalchemy.make_url(postgres_url)
    assert shown(url) == (f"{WAIT}s", "0")
    assert shown(url.update_query_dict({"options": "-c lock_timeout=2h"})) == ("2h", "2h")


@contextlib.contextmanager
def mysql_database(server_url: str, statements: list[str]) -> Iterator[sqlalchemy.URL]:
    name = f"ingest_locks_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{name}`")
            for statement in statements:
                connection.exec_driver_sql(statement.format(db=name))
        yield sqlalchemy.make_url(server_url).set(database=name)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        engine.dispose()


@pytest.mark.mysql
def test_mysql_a_locked_table_loses_its_sample_not_the_run(mysql_url: str, tmp_path: Path) -> None:
    statements = [
        "CREATE TABLE `{db}`.locked (a varchar(5))",
        "INSERT INTO `{db}`.locked VALUES ('x')",
        "CREATE TABLE `{db}`.free (b varchar(5))",
        "INSERT INTO `{db}`.free VALUES ('y')",
    ]
    with mysql_database(mysql_url, statements) as url:
        name = url.database
        with locked(url, f"LOCK TABLES `{name}`.locked WRITE"):
            started = time.monotonic()
            records, source = extract(settings(url, database_name="d", sample_rows=5), tmp_path)
            elapsed = time.monotonic() - started
    tables = {record.name: record for record in records if record.kind == "table"}
    assert elapsed < 20 * WAIT, elapsed
    assert tables["free"].columns[0].samples == ["y"]
    assert tables["locked"].columns[0].samples == []
    [warning] = source.report.warnings
    assert f"cannot sample db.d.{name}.locked" in warning and "Lock wait timeout" in warning, warning


@pytest.mark.mysql
def test_mysql_a_lock_wait_of_the_session_is_kept(mysql_url: str) -> None:
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            with MysqlCatalog.lock_waits_bounded(connection):
                assert connection.exec_driver_sql("SELECT @@SESSION.lock_wait_timeout").scalar_one() == WAIT
            connection.exec_driver_sql("SET SESSION lock_wait_timeout = 300")
            with MysqlCatalog.lock_waits_bounded(connection):
                assert connection.exec_driver_sql("SELECT @@SESSION.lock_wait_timeout").scalar_one() == 300
    finally:
        engine.dispose()
