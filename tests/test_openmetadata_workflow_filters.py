"""OpenMetadata's filter rules, translated, against this machine's PostgreSQL and MariaDB.

OpenMetadata keeps a name when no exclude pattern ``re.match``-es it (from its start, ignoring case) and, if
there are includes, one include pattern does; ``databaseFilterPattern`` applies only with PostgreSQL's
``ingestAllDatabases: true``; views are filtered by ``tableFilterPattern``; ``useFqnForFiltering`` matches
``service.database.schema.table``. Each rule is run here on real catalogs of several databases and schemas.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.sql import extract

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.records import Table
from airflow_provider_ingest.sources.sql.postgres import PostgresCatalog
from airflow_provider_ingest.sources.sql.source import SqlSource
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, load_workflow

CATALOG_SQL = """
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id integer PRIMARY KEY);
CREATE TABLE sales.order_items (id integer, order_id integer REFERENCES sales.orders (id));
CREATE TABLE sales."Orders_Bak" (id integer);
CREATE VIEW sales.v_orders AS SELECT id FROM sales.orders;
CREATE SCHEMA "Sales_Archive";
CREATE TABLE "Sales_Archive".orders_2020 (id integer);
CREATE SCHEMA crm;
CREATE TABLE crm.accounts (id integer);
CREATE VIEW crm.v_accounts AS SELECT id FROM crm.accounts;
"""
"""The same catalog in each test database: a schema whose name starts like another's, mixed case, views."""


@pytest.fixture(scope="module")
def pg(postgres_url: str) -> Iterator[dict[str, str]]:
    """Two throwaway databases ``<prefix>_a`` and ``<prefix>_b`` holding :data:`CATALOG_SQL`; the connection."""
    import sqlalchemy

    prefix = f"omf_{uuid.uuid4().hex[:8]}"
    url = sqlalchemy.make_url(postgres_url)
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    names = [f"{prefix}_a", f"{prefix}_b"]
    try:
        for name in names:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
            engine = sqlalchemy.create_engine(url.set(database=name), isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.exec_driver_sql(CATALOG_SQL)
            engine.dispose()
        yield {"prefix": prefix, "host": f"{url.host}:{url.port or 5432}", "user": url.username or "postgres"}
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def postgres_workflow(pg: dict[str, str], database: str, source_config: dict[str, Any], **connection: Any) -> dict:
    return {
        "source": {
            "type": "postgres",
            "serviceName": "pg",
            "serviceConnection": {
                "config": {
                    "type": "Postgres",
                    "username": pg["user"],
                    "hostPort": pg["host"],
                    "database": f"{pg['prefix']}_{database}",
                    **connection,
                }
            },
            "sourceConfig": {"config": {"type": "DatabaseMetadata", **source_config}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "openMetadataServerConfig": {
                "hostPort": "http://localhost:8585/api",
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": "${OM_JWT_TOKEN}"},
            }
        },
    }


def loaded(tmp_path: Path, workflow: dict) -> LoadedWorkflow:
    path = tmp_path / "om.yaml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return load_workflow(path)


def read(tmp_path: Path, workflow: dict) -> tuple[set[str], SqlSource, LoadedWorkflow]:
    """The FQNs (without the service) of the tables the translated source reads, the source, the workflow."""
    translated = loaded(tmp_path, workflow)
    records, source = extract(translated.spec.source.config, tmp_path)
    tables = {record.fqn.removeprefix("pg.") for record in records if isinstance(record, Table)}
    return tables, source, translated


def fqns(prefix: str, database: str, *tables: str) -> set[str]:
    return {f"{prefix}_{database}.{table}" for table in tables}


EVERY_TABLE = (
    "sales.orders",
    "sales.order_items",
    "sales.Orders_Bak",
    "sales.v_orders",
    "Sales_Archive.orders_2020",
    "crm.accounts",
    "crm.v_accounts",
)

pytestmark = pytest.mark.postgres


def test_without_filters_the_configured_database_alone_is_read(pg: dict[str, str], tmp_path: Path) -> None:
    tables, source, _ = read(tmp_path, postgres_workflow(pg, "a", {}))
    assert tables == fqns(pg["prefix"], "a", *EVERY_TABLE)
    assert source.report.warnings == []


def test_schema_patterns_match_the_start_of_a_name_ignoring_case(pg: dict[str, str], tmp_path: Path) -> None:
    tables, _, _ = read(tmp_path, postgres_workflow(pg, "a", {"schemaFilterPattern": {"includes": ["SALES"]}}))
    assert tables == fqns(pg["prefix"], "a", *(name for name in EVERY_TABLE if not name.startswith("crm.")))


def test_an_exclude_wins_over_an_include(pg: dict[str, str], tmp_path: Path) -> None:
    patterns = {"includes": ["sales", "crm"], "excludes": ["sales_", "^crm$"]}
    tables, _, _ = read(tmp_path, postgres_workflow(pg, "a", {"schemaFilterPattern": patterns}))
    assert tables == fqns(pg["prefix"], "a", "sales.orders", "sales.order_items", "sales.Orders_Bak", "sales.v_orders")


def test_views_are_filtered_by_the_table_filter(pg: dict[str, str], tmp_path: Path) -> None:
    patterns = {"includes": ["order", "v_"], "excludes": ["v_acc", ".*_bak$"]}
    tables, _, _ = read(tmp_path, postgres_workflow(pg, "a", {"tableFilterPattern": patterns}))
    kept = ("sales.orders", "sales.order_items", "sales.v_orders", "Sales_Archive.orders_2020")
    assert tables == fqns(pg["prefix"], "a", *kept)


def test_database_filter_is_ignored_without_ingest_all_databases(pg: dict[str, str], tmp_path: Path) -> None:
    workflow = postgres_workflow(pg, "a", {"databaseFilterPattern": {"includes": ["no_such_database"]}})
    tables, _, translated = read(tmp_path, workflow)
    assert tables == fqns(pg["prefix"], "a", *EVERY_TABLE)
    [warning] = translated.warnings
    assert warning.field == "source.sourceConfig.config.databaseFilterPattern"
    assert "only with ingestAllDatabases: true" in warning.message


def test_database_filter_applies_with_ingest_all_databases(pg: dict[str, str], tmp_path: Path) -> None:
    source_config = {
        "databaseFilterPattern": {"includes": [pg["prefix"].upper()], "excludes": [f"{pg['prefix']}_a"]},
        "tableFilterPattern": {"includes": ["^accounts$"]},
    }
    workflow = postgres_workflow(pg, "a", source_config, ingestAllDatabases=True)
    tables, _, _ = read(tmp_path, workflow)
    assert tables == fqns(pg["prefix"], "b", "crm.accounts")


def test_use_fqn_for_filtering_matches_service_database_schema_table(pg: dict[str, str], tmp_path: Path) -> None:
    prefix = pg["prefix"]
    source_config = {
        "useFqnForFiltering": True,
        "databaseFilterPattern": {"includes": [rf"pg\.{prefix}_"]},
        "schemaFilterPattern": {"includes": [rf"pg\.{prefix}_b\.sales$", r"pg\.[^.]+\.crm"]},
        "tableFilterPattern": {"excludes": [r".*\.v_", rf"pg\.{prefix}_b\.crm\."]},
    }
    tables, _, _ = read(tmp_path, postgres_workflow(pg, "a", source_config, ingestAllDatabases=True))
    assert tables == fqns(prefix, "a", "crm.accounts") | fqns(
        prefix, "b", "sales.orders", "sales.order_items", "sales.Orders_Bak"
    )


def test_filtering_by_fqn_reads_each_database_in_one_catalog_read(
    pg: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table filter sees each table's schema, so filtering by FQN reads a batch of schemas at once (as without
    it), not schema by schema."""
    reads: list[list[str]] = []
    catalog_read = PostgresCatalog.read

    def counted(catalog: PostgresCatalog, schemas: list[str], keep: Any) -> Any:
        reads.append(schemas)
        return catalog_read(catalog, schemas, keep)

    monkeypatch.setattr(PostgresCatalog, "read", counted)
    source_config = {"useFqnForFiltering": True, "tableFilterPattern": {"excludes": [r"pg\.[^.]+\.crm\.v_"]}}
    tables, source, _ = read(tmp_path, postgres_workflow(pg, "a", source_config))
    assert tables == fqns(pg["prefix"], "a", *(name for name in EVERY_TABLE if name != "crm.v_accounts"))
    assert reads == [["Sales_Archive", "crm", "public", "sales"]]
    _, unfiltered, _ = read(tmp_path, postgres_workflow(pg, "a", {"useFqnForFiltering": True}))
    assert source.report.filtered == unfiltered.report.filtered + 1  # the view, counted once


def test_no_table_matched_is_a_warning_naming_the_filters(pg: dict[str, str], tmp_path: Path) -> None:
    tables, source, _ = read(tmp_path, postgres_workflow(pg, "a", {"tableFilterPattern": {"includes": ["nothing"]}}))
    assert tables == set()
    assert source.report.warnings == [
        "0 tables matched; check the filters: table_filter include ['(?:nothing)(?s:.*)'] ignoring case"
    ]


def test_the_run_of_an_unmatched_filter_ends_with_the_warning(
    pg: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """This project's own sql source too: a run that reads no table while filters are set says so."""
    path = tmp_path / "native.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": {
                    "type": "sql",
                    "config": {
                        "service_name": "pg",
                        "url": f"postgresql+psycopg2://{pg['user']}@{pg['host']}/{pg['prefix']}_a",
                        "schema_filter": {"include": ["Sales"]},
                        "table_filter": {"exclude": ["orders"]},
                    },
                },
                "sink": {"type": "file", "config": {"path": "out.jsonl"}},
                "workflow": {"staging_root": "staging"},
            }
        )
    )
    assert main(["run", "--quiet", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "  source:sql warning: 0 tables matched; check the filters: schema_filter include ['Sales'];"
        " table_filter exclude ['orders']"
    ) in lines
    assert f"  source:sql warning: schema pg.{pg['prefix']}_a.Sales is not listed by the server" in "\n".join(lines)
    assert lines[-1] == "run succeeded with 2 warnings (see above)"


@pytest.fixture(scope="module")
def mariadb(mysql_url: str) -> Iterator[dict[str, str]]:
    """Two throwaway MariaDB databases (OpenMetadata's schemas) ``<prefix>_shop`` and ``<prefix>_Shop_old``."""
    import sqlalchemy

    prefix = f"omf_{uuid.uuid4().hex[:8]}"
    url = sqlalchemy.make_url(mysql_url)
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    schemas = [f"{prefix}_shop", f"{prefix}_Shop_old"]
    try:
        with engine.connect() as connection:
            for schema in schemas:
                connection.exec_driver_sql(f"CREATE DATABASE `{schema}`")
                connection.exec_driver_sql(f"CREATE TABLE `{schema}`.orders (id int PRIMARY KEY)")
                connection.exec_driver_sql(f"CREATE TABLE `{schema}`.tmp_orders (id int)")
                connection.exec_driver_sql(f"CREATE VIEW `{schema}`.v_orders AS SELECT id FROM `{schema}`.orders")
        yield {"prefix": prefix, "host": f"{url.host}:{url.port or 3306}", "user": url.username or "root"}
    finally:
        with engine.connect() as connection:
            for schema in schemas:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{schema}`")
        engine.dispose()


def mariadb_workflow(mariadb: dict[str, str], source_config: dict[str, Any], **connection: Any) -> dict:
    workflow = postgres_workflow({"prefix": "", "host": mariadb["host"], "user": mariadb["user"]}, "", source_config)
    workflow["source"]["type"] = "mariadb"
    workflow["source"]["serviceConnection"]["config"] = {
        "type": "MariaDB",
        "username": mariadb["user"],
        "hostPort": mariadb["host"],
        **connection,
    }
    return workflow


@pytest.mark.mysql
def test_mariadb_schemas_are_its_databases_filtered_as_openmetadata_does(
    mariadb: dict[str, str], tmp_path: Path
) -> None:
    prefix = mariadb["prefix"]
    source_config = {
        "schemaFilterPattern": {"includes": [f"{prefix}_SHOP"]},
        "tableFilterPattern": {"excludes": ["tmp_"]},
        "databaseFilterPattern": {"includes": ["ignored"]},
    }
    tables, _, translated = read(tmp_path, mariadb_workflow(mariadb, source_config))
    assert tables == {
        f"default.{prefix}_shop.orders",
        f"default.{prefix}_shop.v_orders",
        f"default.{prefix}_Shop_old.orders",
        f"default.{prefix}_Shop_old.v_orders",
    }
    assert "reads one database, named by databaseName" in translated.warnings[0].message


@pytest.mark.mysql
def test_mariadb_database_schema_reads_that_schema_alone(mariadb: dict[str, str], tmp_path: Path) -> None:
    prefix = mariadb["prefix"]
    workflow = mariadb_workflow(
        mariadb, {"tableFilterPattern": {"includes": ["ORDERS"]}}, databaseSchema=f"{prefix}_shop", databaseName="shop"
    )
    tables, _, _ = read(tmp_path, workflow)
    assert tables == {f"shop.{prefix}_shop.orders"}
