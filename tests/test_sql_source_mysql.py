"""The sql source against this machine's MariaDB/MySQL: throwaway databases (schemas) with every feature."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sql import as_model, extract
from support.sql import column as col

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

pytestmark = pytest.mark.mysql

FIXTURE_SQL = """
CREATE DATABASE `{p}shop`;
CREATE DATABASE `{p}crm`;
CREATE DATABASE `{p}ünï.code`;
CREATE TABLE `{p}shop`.customers (
    id int unsigned AUTO_INCREMENT PRIMARY KEY,
    email varchar(255) NOT NULL UNIQUE COMMENT 'Contact email',
    active tinyint(1) NOT NULL DEFAULT 1,
    tier enum('new','vip') DEFAULT 'new',
    created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB COMMENT='People who buy';
CREATE TABLE `{p}shop`.orders (
    id bigint PRIMARY KEY,
    customer_id int unsigned NOT NULL,
    amount decimal(10,2),
    note text,
    CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES `{p}shop`.customers (id)
) ENGINE=InnoDB;
CREATE VIEW `{p}shop`.big_orders AS SELECT id, amount FROM `{p}shop`.orders WHERE amount > 100;
CREATE TABLE `{p}shop`.gone (a int);
CREATE VIEW `{p}shop`.broken_view AS SELECT a FROM `{p}shop`.gone;
DROP TABLE `{p}shop`.gone;
CREATE TABLE `{p}crm`.accounts (
    account_no char(8) PRIMARY KEY,
    region varchar(10) NOT NULL,
    customer_id int unsigned,
    CONSTRAINT accounts_region UNIQUE (region, customer_id),
    CONSTRAINT accounts_customer FOREIGN KEY (customer_id) REFERENCES `{p}shop`.customers (id)
) ENGINE=InnoDB;
CREATE TABLE `{p}ünï.code`.`Tàble.1` (`çol.1` int PRIMARY KEY, `naïve` text COMMENT 'Ünïcode comment');
INSERT INTO `{p}shop`.customers (email, active, tier) VALUES ('a@example.com', 1, 'vip'), ('b@example.com', 0, NULL),
    ('c@example.com', 1, 'new');
INSERT INTO `{p}shop`.orders VALUES (1, 1, 150.00, 'first'), (2, 3, 20.50, NULL);
ANALYZE TABLE `{p}shop`.customers, `{p}shop`.orders, `{p}crm`.accounts;
"""


@pytest.fixture(scope="module")
def mysql_prefix(mysql_url: str) -> Iterator[str]:
    """A unique prefix; the fixture databases ``<prefix>shop``, ``<prefix>crm`` and ``<prefix>ünï.code``."""
    import sqlalchemy

    prefix = f"ingest_{uuid.uuid4().hex[:8]}_"
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in FIXTURE_SQL.replace("{p}", prefix).split(";\n"):
                if statement.strip():
                    connection.exec_driver_sql(statement.replace("%", "%%"))
        yield prefix
    finally:
        with engine.connect() as connection:
            for suffix in ("crm", "ünï.code", "shop"):
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{prefix}{suffix}`")
        engine.dispose()


def config(mysql_url: str, prefix: str, **settings) -> dict:
    return {"url": mysql_url, "service_name": "maria", "schema_filter": {"include": [f"{prefix}.*"]}, **settings}


def expected_records(prefix: str, *, row_counts: bool) -> list:
    """Every record the fixture databases yield, in order."""

    def table(schema: str, name: str, **fields) -> Table:
        if not row_counts:
            fields.pop("row_count", None)
        return Table(service="maria", database="default", database_schema=prefix + schema, name=name, **fields)

    customers = f"maria.default.{prefix}shop.customers"
    return [
        DatabaseService(name="maria", service_type="Mysql"),
        Database(service="maria", name="default"),
        DatabaseSchema(service="maria", database="default", name=f"{prefix}crm"),
        table(
            "crm",
            "accounts",
            columns=[
                col("account_no", DataType.CHAR, "char(8)", 1, data_length=8, nullable=False),
                col("region", DataType.VARCHAR, "varchar(10)", 2, data_length=10, nullable=False),
                col("customer_id", DataType.INT, "int(10) unsigned", 3),
            ],
            constraints=[
                TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, name="PRIMARY", columns=["account_no"]),
                TableConstraint(
                    constraint_type=ConstraintType.UNIQUE, name="accounts_region", columns=["region", "customer_id"]
                ),
                TableConstraint(
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    name="accounts_customer",
                    columns=["customer_id"],
                    referred_table=customers,
                    referred_columns=["id"],
                ),
            ],
            row_count=0,
        ),
        DatabaseSchema(service="maria", database="default", name=f"{prefix}shop"),
        table(
            "shop",
            "big_orders",
            table_type=TableType.VIEW,
            columns=[
                col("id", DataType.BIGINT, "bigint(20)", 1, nullable=False),
                col("amount", DataType.DECIMAL, "decimal(10,2)", 2, precision=10, scale=2),
            ],
            view_definition=(
                f"select `{prefix}shop`.`orders`.`id` AS `id`,`{prefix}shop`.`orders`.`amount` AS `amount` "
                f"from `{prefix}shop`.`orders` where `{prefix}shop`.`orders`.`amount` > 100"
            ),
        ),
        table(
            "shop",
            "customers",
            description="People who buy",
            columns=[
                col("id", DataType.INT, "int(10) unsigned", 1, nullable=False),
                col(
                    "email",
                    DataType.VARCHAR,
                    "varchar(255)",
                    2,
                    data_length=255,
                    nullable=False,
                    description="Contact email",
                ),
                col("active", DataType.BOOLEAN, "tinyint(1)", 3, nullable=False, default="1"),
                col("tier", DataType.ENUM, "enum('new','vip')", 4, default="'new'"),
                col("created_at", DataType.DATETIME, "datetime", 5, nullable=False, default="current_timestamp()"),
            ],
            constraints=[
                TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, name="PRIMARY", columns=["id"]),
                TableConstraint(constraint_type=ConstraintType.UNIQUE, name="email", columns=["email"]),
            ],
            row_count=3,
        ),
        table(
            "shop",
            "orders",
            columns=[
                col("id", DataType.BIGINT, "bigint(20)", 1, nullable=False),
                col("customer_id", DataType.INT, "int(10) unsigned", 2, nullable=False),
                col("amount", DataType.DECIMAL, "decimal(10,2)", 3, precision=10, scale=2),
                col("note", DataType.TEXT, "text", 4),
            ],
            constraints=[
                TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, name="PRIMARY", columns=["id"]),
                TableConstraint(
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    name="orders_customer",
                    columns=["customer_id"],
                    referred_table=customers,
                    referred_columns=["id"],
                ),
            ],
            row_count=2,
        ),
        DatabaseSchema(service="maria", database="default", name=f"{prefix}ünï.code"),
        table(
            "ünï.code",
            "Tàble.1",
            columns=[
                col("çol.1", DataType.INT, "int(11)", 1, nullable=False),
                col("naïve", DataType.TEXT, "text", 2, description="Ünïcode comment"),
            ],
            constraints=[
                TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, name="PRIMARY", columns=["çol.1"])
            ],
            row_count=0,
        ),
    ]


def test_every_record_is_exact(mysql_url: str, mysql_prefix: str, tmp_path: Path) -> None:
    records, source = extract(config(mysql_url, mysql_prefix, include_row_counts=True), tmp_path)
    assert records == expected_records(mysql_prefix, row_counts=True)
    assert [failure.fqn for failure in source.report.failures] == [f"maria.default.{mysql_prefix}shop.broken_view"]
    assert "its columns cannot be read: View " in source.report.failures[0].error
    assert records[-1].fqn == f'maria.default."{mysql_prefix}ünï.code"."Tàble.1"'


def test_without_row_counts(mysql_url: str, mysql_prefix: str, tmp_path: Path) -> None:
    records, _ = extract(config(mysql_url, mysql_prefix), tmp_path)
    assert records == expected_records(mysql_prefix, row_counts=False)


def test_filters(mysql_url: str, mysql_prefix: str, tmp_path: Path) -> None:
    settings = config(
        mysql_url,
        mysql_prefix,
        database_name="shopdb",
        table_filter={"include": ["CUSTOMERS", "ORDERS", "tàble\\.1"], "ignore_case": True},
    )
    settings["schema_filter"]["exclude"] = [f"{mysql_prefix}crm"]
    records, source = extract(settings, tmp_path)
    assert [r.fqn for r in records if r.kind == "table"] == [
        f"maria.shopdb.{mysql_prefix}shop.customers",
        f"maria.shopdb.{mysql_prefix}shop.orders",
        f'maria.shopdb."{mysql_prefix}ünï.code"."Tàble.1"',
    ]
    assert source.report.failure_count == 0
    records, _ = extract({**settings, "database_filter": {"exclude": ["shopdb"]}}, tmp_path)
    assert [r.kind for r in records] == ["database_service"]


def test_sample_rows(mysql_url: str, mysql_prefix: str, tmp_path: Path) -> None:
    settings = config(mysql_url, mysql_prefix, sample_rows=5, table_filter={"include": ["customers", "big_orders"]})
    records, source = extract(settings, tmp_path)
    tables = {r.name: r for r in records if r.kind == "table"}
    assert [c.samples for c in tables["customers"].columns][:4] == [
        ["1", "2", "3"],
        ["a@example.com", "b@example.com", "c@example.com"],
        ["1", "0"],
        ["vip", "new"],
    ]
    assert [c.samples for c in tables["big_orders"].columns] == [["1"], ["150.00"]]
    assert source.report.warning_count == 0


def test_conn_id(mysql_url: str, mysql_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_INGEST_MYSQL_TEST", mysql_url.replace("mysql+pymysql", "mysql"))
    settings = config(mysql_url, mysql_prefix, conn_id="ingest_mysql_test", table_filter={"include": ["orders"]})
    del settings["url"], settings["service_name"]
    records, _ = extract(settings, tmp_path)
    assert [r.fqn for r in records if r.kind == "table"] == [f"ingest_mysql_test.default.{mysql_prefix}shop.orders"]


@pytest.fixture
def odd_databases(mysql_url: str) -> Iterator[str]:
    """A unique prefix; databases ``<prefix>keys`` (a unique key and a foreign key of one name), and two empty
    ones whose names hold ``%s`` and ``:x`` (the driver's and SQLAlchemy's parameter syntax)."""
    import sqlalchemy

    prefix = f"ingest_{uuid.uuid4().hex[:8]}_"
    names = [f"{prefix}keys", f"{prefix}pct%s:x", f"{prefix}skipped%s"]
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    statements = [f"CREATE DATABASE `{name}`" for name in names] + [
        f"CREATE TABLE `{prefix}keys`.base (id int PRIMARY KEY)",
        f"CREATE TABLE `{prefix}keys`.pair (a int, UNIQUE KEY k (a),"
        f" CONSTRAINT k FOREIGN KEY (a) REFERENCES `{prefix}keys`.base (id))",
    ]
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement.replace("%", "%%"))
        yield prefix
    finally:
        with engine.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`".replace("%", "%%"))
        engine.dispose()


def test_a_unique_key_and_a_foreign_key_of_one_name_are_two_constraints(
    mysql_url: str, odd_databases: str, tmp_path: Path
) -> None:
    settings = config(mysql_url, odd_databases, table_filter={"include": ["pair"]})
    settings["schema_filter"] = {"include": [f"{odd_databases}keys"]}
    records, source = extract(settings, tmp_path)
    assert source.report.failure_count == 0
    (pair,) = [record for record in records if record.kind == "table"]
    assert pair.constraints == [
        TableConstraint(constraint_type=ConstraintType.UNIQUE, name="k", columns=["a"]),
        TableConstraint(
            constraint_type=ConstraintType.FOREIGN_KEY,
            name="k",
            columns=["a"],
            referred_table=f"maria.default.{odd_databases}keys.base",
            referred_columns=["id"],
        ),
    ]


def test_empty_databases_named_with_parameter_syntax_are_read_and_only_those_kept_are_probed(
    mysql_url: str, odd_databases: str, tmp_path: Path
) -> None:
    """An empty database is probed with ``USE``: its name quoted whole (it failed every run on the server, even
    when the filters left it out, because the driver read its ``%s``)."""
    settings = config(mysql_url, odd_databases)
    settings["schema_filter"]["exclude"] = [f"{odd_databases}skipped.*"]
    records, source = extract(settings, tmp_path)
    assert [record.name for record in records if record.kind == "database_schema"] == [
        f"{odd_databases}keys",
        f"{odd_databases}pct%s:x",
    ]
    assert source.report.failure_count == 0 and source.report.warning_count == 0


def test_databases_whose_names_differ_only_by_case_count_their_own_relations(mysql_url: str, tmp_path: Path) -> None:
    import sqlalchemy

    from airflow_provider_ingest.api import RunContext
    from airflow_provider_ingest.sources.sql.source import SqlSource

    prefix = f"ingest_{uuid.uuid4().hex[:8]}_"
    names = [f"{prefix}m", f"{prefix}M"]
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for size, name in zip((1, 2), names, strict=True):
                connection.exec_driver_sql(f"CREATE DATABASE `{name}`")
                for number in range(size):
                    connection.exec_driver_sql(f"CREATE TABLE `{name}`.t{number} (id int)")
        context = RunContext(workflow_name="test", run_id="units", staging_root=str(tmp_path), base_dir=tmp_path)
        source = SqlSource.create(config(mysql_url, prefix), context)
        source.prepare()
        try:
            units = {unit.name: unit.relations for unit in source.partition_units("schema")}
        finally:
            source.close()
    finally:
        with engine.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        engine.dispose()
    assert units == {names[0]: 1, names[1]: 2}


def recreated_table(schema: str) -> list[str]:
    """A migration that recreates a table in another shape, then in the first again: each statement commits alone
    (MySQL's DDL), so a reader sees the table in either shape, or none, between any two of its queries."""
    table = f"`{schema}`.orders"
    return [
        f"DROP TABLE {table}",
        f"CREATE TABLE {table} (order_no bigint PRIMARY KEY, label varchar(10) UNIQUE)",
        f"DROP TABLE {table}",
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, code varchar(10) UNIQUE)",
    ]


def test_a_table_a_migration_recreates_is_read_whole_or_refused(mysql_url: str) -> None:
    """A batch's relations, columns and keys are separate queries, not one snapshot (information_schema is not
    transactional): a table recreated between them was published with no columns, or with keys naming columns it
    did not have. A read whose tables lack columns or hold such keys is read again; one that changes every time
    fails the schema, never publishes it wrong."""
    import sqlalchemy
    from support.sql import migrating

    from airflow_provider_ingest.errors import ServiceError
    from airflow_provider_ingest.sources.sql.catalog import Pending, Scope
    from airflow_provider_ingest.sources.sql.mysql import MysqlCatalog

    schema = f"ingest_{uuid.uuid4().hex[:8]}_m"
    shapes = [
        ("orders", ["id", "code"], [("primary_key", ["id"]), ("unique", ["code"])]),
        ("orders", ["order_no", "label"], [("primary_key", ["order_no"]), ("unique", ["label"])]),
    ]
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    seen, wrong, refused = [], [], []
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{schema}`")
            connection.exec_driver_sql(recreated_table(schema)[-1])
            with migrating(mysql_url, recreated_table(schema), pause=0.005) as migrations:
                for _ in range(150):
                    try:
                        found = MysqlCatalog(connection, Scope("maria", "default")).read([schema], lambda *n: True)
                    except ServiceError as error:  # it kept changing: the schema fails, it is never wrong
                        refused.append(str(error))
                        continue
                    for item in found.get(schema, []):
                        assert isinstance(item, Pending), item
                        table = as_model(item.build())
                        keys = [(key.constraint_type.value, key.columns) for key in table.constraints]
                        shape = (table.name, [column.name for column in table.columns], keys)
                        (seen if shape in shapes else wrong).append(shape)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{schema}`")
        engine.dispose()
    assert migrations[0] >= 20, migrations  # the reads ran while the table was recreated

    assert wrong == []
    assert len(seen) > len(refused), refused
    assert set(refused) <= {"the catalog changed while it was read, 3 times (a migration?)"}


def test_a_batch_is_read_once_while_the_server_runs_no_ddl(
    mysql_url: str, mysql_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a batch again (until two reads agree) is only for a read while DDL ran: a quiet server's is read once."""
    import sqlalchemy

    from airflow_provider_ingest.sources.sql.catalog import Scope
    from airflow_provider_ingest.sources.sql.mysql import MysqlCatalog

    reads = []
    read = MysqlCatalog._read
    monkeypatch.setattr(MysqlCatalog, "_read", lambda self, *args: reads.append(1) or read(self, *args))
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            found = MysqlCatalog(connection, Scope("maria", "default")).read([f"{mysql_prefix}shop"], lambda *n: True)
    finally:
        engine.dispose()
    names = sorted(item.name for item in found[f"{mysql_prefix}shop"])
    assert names == ["big_orders", "broken_view", "customers", "orders"]
    assert reads == [1]


def test_ddl_elsewhere_and_rows_written_meanwhile_fail_no_read(mysql_url: str) -> None:
    """While the server runs DDL on other tables (temporary tables, another database's migration), each batch is read
    until two reads agree; rows written meanwhile move InnoDB's row estimate, which two reads need not agree on."""
    import sqlalchemy
    from support.sql import migrating

    from airflow_provider_ingest.sources.sql.catalog import Pending, Scope
    from airflow_provider_ingest.sources.sql.mysql import MysqlCatalog

    schema = f"ingest_{uuid.uuid4().hex[:8]}_w"
    churn = [
        f"CREATE TABLE `{schema}`.scratch (a int)",
        f"DROP TABLE `{schema}`.scratch",
        f"INSERT INTO `{schema}`.orders (code) VALUES ('x'), ('y'), ('z')",
    ]
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{schema}`")
            connection.exec_driver_sql(f"CREATE TABLE `{schema}`.orders (id int AUTO_INCREMENT PRIMARY KEY, code text)")
            with migrating(mysql_url, churn, pause=0.002) as runs:
                tables, reader = [], MysqlCatalog(connection, Scope("maria", "default"))
                while len(tables) < 30 or runs[0] < 10:  # 30 reads at least, while the churn ran 10 times at least
                    assert len(tables) < 3000, runs
                    found = reader.read([schema], lambda s, n: n == "orders")
                    [item] = found[schema]
                    assert isinstance(item, Pending)
                    tables.append(as_model(item.build()))
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{schema}`")
        engine.dispose()
    assert {tuple(column.name for column in table.columns) for table in tables} == {("id", "code")}


def test_a_blocked_swap_that_lands_during_a_read_is_not_published_without_columns(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gh-ost's / pt-online-schema-change's cut-over: ``RENAME TABLE t TO t_old, t_new TO t`` waits for a lock and
    lands later. The server counts a statement (Com_rename_table) when it starts, not when it takes effect: a read
    that begins while the swap waits and during which it lands sees the same DDL counts before and after, and must
    still not publish a table with no columns (t_new, listed by RELATIONS, gone when COLUMNS ran)."""
    import threading
    import time

    import sqlalchemy

    from airflow_provider_ingest.sources.sql import mysql as mysql_module
    from airflow_provider_ingest.sources.sql.catalog import Pending, Scope
    from airflow_provider_ingest.sources.sql.mysql import MysqlCatalog

    schema = f"ingest_rv_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    swapper = None
    try:
        with engine.connect() as connection, engine.connect() as holder:
            connection.exec_driver_sql(f"CREATE DATABASE `{schema}`")
            connection.exec_driver_sql(f"CREATE TABLE `{schema}`.t (id int PRIMARY KEY, a int)")
            connection.exec_driver_sql(f"CREATE TABLE `{schema}`.t_new (id int PRIMARY KEY, b int)")
            holder.exec_driver_sql(f"LOCK TABLES `{schema}`.t WRITE")

            def swap() -> None:
                with engine.connect() as other:
                    other.exec_driver_sql(
                        f"RENAME TABLE `{schema}`.t TO `{schema}`.t_old, `{schema}`.t_new TO `{schema}`.t"
                    )

            swapper = threading.Thread(target=swap)
            swapper.start()
            time.sleep(0.5)  # the swap waits for the lock: counted already
            rows = MysqlCatalog.rows

            def rows_then_land(self, sql, **kwargs):  # the swap lands right after the batch's RELATIONS query
                result = rows(self, sql, **kwargs)
                if sql is mysql_module.RELATIONS and swapper.is_alive():
                    holder.exec_driver_sql("UNLOCK TABLES")
                    swapper.join()
                return result

            monkeypatch.setattr(MysqlCatalog, "rows", rows_then_land)
            found = MysqlCatalog(connection, Scope("maria", "default")).read([schema], lambda *n: True)
            tables = {
                item.name: [c.name for c in as_model(item.build()).columns]
                for item in found[schema]
                if isinstance(item, Pending)
            }
    finally:
        if swapper is not None:
            swapper.join()
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{schema}`")
        engine.dispose()
    assert all(tables.values()), tables  # no table published with no columns
