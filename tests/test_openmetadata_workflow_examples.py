"""OpenMetadata's documented workflow files (docs/examples/openmetadata/), run as they are with only the host,
the credentials and the database edited, against this machine's databases and the test OpenMetadata server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from om_server import TOKEN, serve

from airflow_provider_ingest.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "openmetadata"

WARNED = {
    "markDeletedTables": "tables dropped from the database stay",
    "markDeletedStoredProcedures": "stored procedures are not read, so none is marked deleted",
    "includeTags": "no tags are read from the database",
    "includeStoredProcedures": "stored procedures are not read",
}
"""The defaults the examples write that OpenMetadata acts on and this project does not."""


def edited(name: str, folder: Path, edits: dict[str, str]) -> Path:
    """A copy of an example with each ``old`` line fragment replaced once by ``new``, as a user edits it."""
    text = (EXAMPLES / name).read_text()
    for old, new in edits.items():
        assert text.count(old) == 1, f"{old!r} in {name}"
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text)
    return path


def run(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["run", "--quiet", "--run-id", "example", str(path)])
    output = capsys.readouterr()
    assert code == 0, output.out + output.err
    assert TOKEN not in output.out + output.err
    return output.out


def warned(output: str, *names: str) -> None:
    """Each setting named warns once, saying what this project does instead, and the outcome counts them."""
    lines = output.splitlines()
    for name in names:
        [line] = [line for line in lines if f"sourceConfig.config.{name}:" in line]
        assert "source:sql warning:" in line and WARNED[name] in line, line
    assert lines[-1] == f"run succeeded with {len(names)} warnings (see above)"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The secrets the examples reference (the local servers take no password) and a home for staged files."""
    for variable in ("POSTGRES_PASSWORD", "MYSQL_PASSWORD", "MARIADB_PASSWORD"):
        monkeypatch.setenv(variable, "")
    monkeypatch.setenv("OM_JWT_TOKEN", TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path


@pytest.mark.postgres
def test_postgres_example(environment: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlalchemy

    url = sqlalchemy.make_url(postgres_url)
    database = f"om_example_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
    engine = sqlalchemy.create_engine(url.set(database=database), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE customers (id integer PRIMARY KEY, name varchar(40));"
                "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers (id));"
                "CREATE TABLE orders_backup (id integer);"
                "CREATE VIEW big_customers AS SELECT id FROM customers WHERE id > 10;"
                "CREATE SCHEMA analytics; CREATE TABLE analytics.daily (day date, total numeric(12,2));"
            )
        edits = {
            "hostPort: localhost:5432": f"hostPort: {url.host}:{url.port or 5432}",
            "username: openmetadata_user": f"username: {url.username or 'postgres'}",
            "database: warehouse": f"database: {database}",
        }
        with serve() as server:
            edits["hostPort: http://localhost:8585/api"] = f"hostPort: {server.url}/api"
            output = run(edited("postgres.yaml", environment, edits), capsys)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.dispose()
    prefix = f"local_postgres.{database}"
    assert server.fqns("table") == {
        f"{prefix}.public.customers",
        f"{prefix}.public.orders",
        f"{prefix}.public.big_customers",
        f"{prefix}.analytics.daily",
    }
    warned(output, "markDeletedTables", "markDeletedStoredProcedures", "includeTags", "includeStoredProcedures")


@pytest.fixture
def mariadb_schema(mysql_url: str) -> Iterator[tuple[str, str]]:
    """A throwaway MariaDB database (OpenMetadata's schema) with tables and a view; the server's host:port."""
    import sqlalchemy

    url = sqlalchemy.make_url(mysql_url)
    schema = f"om_example_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE `{schema}`")
        connection.exec_driver_sql(f"CREATE TABLE `{schema}`.products (id int PRIMARY KEY, name varchar(40))")
        connection.exec_driver_sql(f"CREATE TABLE `{schema}`.tmp_import (id int)")
        connection.exec_driver_sql(f"CREATE VIEW `{schema}`.named AS SELECT name FROM `{schema}`.products")
    try:
        yield schema, f"{url.host}:{url.port or 3306}"
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{schema}`")
        engine.dispose()


@pytest.mark.mysql
@pytest.mark.parametrize(
    ("example", "service", "tables", "settings"),
    [
        (
            "mysql.yaml",
            "local_mysql",
            {"products", "named"},
            ("markDeletedTables", "markDeletedStoredProcedures", "includeTags", "includeStoredProcedures"),
        ),
        (
            "mariadb.yaml",
            "local_mariadb",
            {"products", "named", "tmp_import"},
            ("markDeletedTables", "includeTags", "includeStoredProcedures"),
        ),
    ],
)
def test_mysql_and_mariadb_examples(
    environment: Path,
    mariadb_schema: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    example: str,
    service: str,
    tables: set[str],
    settings: tuple[str, ...],
) -> None:
    schema, host = mariadb_schema
    edits = {
        "hostPort: localhost:3306": f"hostPort: {host}",
        "username: openmetadata_user": "username: root",
        "databaseSchema: shop": f"databaseSchema: {schema}",
    }
    with serve() as server:
        edits["hostPort: http://localhost:8585/api"] = f"hostPort: {server.url}/api"
        output = run(edited(example, environment, edits), capsys)
    assert server.fqns("table") == {f"{service}.default.{schema}.{table}" for table in tables}
    warned(output, *settings)


def test_sqlite_example(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = environment / "data" / "shop.db"
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:
        connection.executescript(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id));"
            "CREATE VIEW named AS SELECT name FROM customers;"
            "INSERT INTO customers (name) VALUES ('Ann');"
        )
    edits = {"databaseMode: /var/lib/data/shop.db": f"databaseMode: {database}"}
    with serve() as server:
        edits["hostPort: http://localhost:8585/api"] = f"hostPort: {server.url}/api"
        output = run(edited("sqlite.yaml", environment, edits), capsys)
    assert server.fqns("table") == {f"local_sqlite.shop.main.{name}" for name in ("customers", "orders", "named")}
    warned(output, "markDeletedTables", "includeTags")
