"""The sql source's view lineage (``include_view_lineage``): SQLite, PostgreSQL and MariaDB views to lineage records."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.catalogs import postgres_database
from support.sql import extract

from airflow_provider_ingest.records import CATALOG_KINDS, Lineage, Table, fqn

Edges = dict[str, list[str]]
"""A lineage record's column edges: the view column FQN and its source column FQNs."""


def lineage(records: list) -> dict[tuple[str, str], Edges]:
    """The lineage records by (from_table, to_table), each with its column edges; each pair appears once."""
    found = {}
    for record in records:
        if isinstance(record, Lineage):
            assert (record.from_table, record.to_table) not in found
            assert record.source == "view"
            found[(record.from_table, record.to_table)] = {e.to_column: e.from_columns for e in record.columns}
    return found


def catalog_then_lineage(records: list) -> None:
    """Every catalog record comes before the first lineage record."""
    kinds = [record.kind for record in records]
    first = kinds.index("lineage")
    assert set(kinds[:first]) <= set(CATALOG_KINDS) and set(kinds[first:]) == {"lineage"}


def definitions(records: list) -> dict[str, str]:
    return {record.fqn: record.view_definition for record in records if isinstance(record, Table)}


# -- SQLite ------------------------------------------------------------------------------------------

SHOP = "sample_shop.shop.main"


def test_the_sample_shops_views_give_their_lineage_after_the_catalog(tmp_path: Path) -> None:
    records, source = extract({"sample": "shop", "include_view_lineage": True}, tmp_path)
    summary, revenue = f"{SHOP}.customer_order_summary", f"{SHOP}.daily_revenue"
    assert lineage(records) == {
        (f"{SHOP}.customers", summary): {
            f"{summary}.customer_id": [f"{SHOP}.customers.customer_id"],
            f"{summary}.email": [f"{SHOP}.customers.email"],
        },
        (f"{SHOP}.orders", summary): {
            f"{summary}.order_count": [f"{SHOP}.orders.order_id"],
            f"{summary}.total_spent": [f"{SHOP}.orders.total_amount"],
        },
        (f"{SHOP}.payments", revenue): {
            f"{revenue}.day": [f"{SHOP}.payments.paid_at"],
            f"{revenue}.revenue": [f"{SHOP}.payments.amount"],
        },
    }
    catalog_then_lineage(records)
    views = definitions(records)
    assert all(record.sql == views[record.to_table] for record in records if isinstance(record, Lineage))
    assert source.report.counters == {"lineage_records": 3}
    assert source.report.warning_count == 0


def test_without_the_setting_there_is_no_lineage_and_the_catalog_is_the_same(tmp_path: Path) -> None:
    plain, source = extract({"sample": "shop"}, tmp_path)
    with_lineage, _ = extract({"sample": "shop", "include_view_lineage": True}, tmp_path)
    assert [record.kind for record in plain if record.kind == "lineage"] == []
    assert "lineage_records" not in source.report.counters
    assert plain == [record for record in with_lineage if record.kind != "lineage"]


def sqlite_file(tmp_path: Path, *statements: str) -> str:
    path = tmp_path / f"db_{uuid.uuid4().hex[:6]}.sqlite"
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()
    return f"sqlite:///{path}"


def test_sqlite_names_are_matched_without_case_and_named_as_the_catalog_spells_them(tmp_path: Path) -> None:
    url = sqlite_file(
        tmp_path,
        'CREATE TABLE "Customers" ("CustomerID" INTEGER, Name TEXT, "Odd.Col" TEXT)',
        "CREATE TABLE Orders (OrderID INTEGER, CustomerId INTEGER)",
        "CREATE VIEW Spend AS SELECT c.customerid, NAME, count(o.orderid) AS n FROM customers c"
        " JOIN orders o ON o.CUSTOMERID = c.customerid GROUP BY 1, 2",
        'CREATE VIEW "Every.Thing" AS SELECT * FROM CUSTOMERS',
    )
    records, source = extract({"url": url, "service_name": "lite", "database_name": "db"}, tmp_path)
    assert lineage(records) == {}
    records, source = extract(
        {"url": url, "service_name": "lite", "database_name": "db", "include_view_lineage": True}, tmp_path
    )
    customers, orders, spend, every = (
        "lite.db.main.Customers",
        "lite.db.main.Orders",
        "lite.db.main.Spend",
        ('lite.db.main."Every.Thing"'),
    )
    assert lineage(records) == {
        (customers, spend): {
            f"{spend}.CustomerID": [f"{customers}.CustomerID"],  # SQLite names the view's columns after the table's
            f"{spend}.Name": [f"{customers}.Name"],
        },
        (orders, spend): {f"{spend}.n": [f"{orders}.OrderID"]},
        (customers, every): {
            f"{every}.CustomerID": [f"{customers}.CustomerID"],
            f"{every}.Name": [f"{customers}.Name"],
            f'{every}."Odd.Col"': [f'{customers}."Odd.Col"'],
        },
    }
    assert source.report.counters == {"lineage_records": 3}


def test_a_definition_the_parser_cannot_read_is_a_warning_without_its_text(tmp_path: Path) -> None:
    url = sqlite_file(
        tmp_path,
        "CREATE TABLE t (a TEXT, b TEXT)",
        "CREATE VIEW readable AS SELECT a FROM t",
        "CREATE VIEW odd AS SELECT a FROM t WHERE a <> 'hunter2-secret' AND a LIKE b ESCAPE b",
    )
    config = {"url": url, "service_name": "lite", "database_name": "db"}
    plain, _ = extract(config, tmp_path)
    records, source = extract({**config, "include_view_lineage": True}, tmp_path)
    assert [record for record in records if record.kind != "lineage"] == plain  # the catalog is unaffected
    assert list(lineage(records)) == [("lite.db.main.t", "lite.db.main.readable")]
    assert source.report.warning_count == 1
    (warning,) = source.report.warnings
    assert warning.startswith("no lineage for view lite.db.main.odd: its definition cannot be parsed: not valid sqlite")
    assert "hunter2" not in warning
    assert source.report.counters == {"lineage_records": 1, "views_without_lineage": 1}
    assert source.report.failure_count == 0


_NAME = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=_NAME,
    columns=st.lists(_NAME, min_size=1, max_size=5, unique_by=str.lower),
    alias=_NAME,
)
def test_any_names_map_to_the_catalogs_fqns(tmp_path: Path, table: str, columns: list[str], alias: str) -> None:
    """A table and columns of any name (dots, quotes, case, unicode), read by ``SELECT *`` and by a renamed
    column: the lineage names them exactly as their catalog records."""
    assume(not table.lower().startswith("sqlite_"))  # names SQLite keeps for itself

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    view, renamed = f"all {table}", f"one {table}"
    url = sqlite_file(
        tmp_path,
        f"CREATE TABLE {quoted(table)} ({', '.join(map(quoted, columns))})",
        f"CREATE VIEW {quoted(view)} AS SELECT * FROM {quoted(table)}",
        f"CREATE VIEW {quoted(renamed)} AS SELECT t.{quoted(columns[0])} AS {quoted(alias)} FROM {quoted(table)} t",
    )
    records, source = extract(
        {"url": url, "service_name": "s", "database_name": "d", "include_view_lineage": True}, tmp_path
    )
    tables = {record.name: record for record in records if isinstance(record, Table)}
    source_fqn, view_fqn, renamed_fqn = tables[table].fqn, tables[view].fqn, tables[renamed].fqn

    def column(table_fqn: str, name: str) -> str:
        return table_fqn + "." + fqn.quote(name)

    assert lineage(records) == {
        (source_fqn, view_fqn): {
            column(view_fqn, out.name): [column(source_fqn, name)]
            for out, name in zip(tables[view].columns, columns, strict=True)
        },
        (source_fqn, renamed_fqn): {
            column(renamed_fqn, tables[renamed].columns[0].name): [column(source_fqn, columns[0])]
        },
    }
    assert source.report.warning_count == 0


# -- PostgreSQL --------------------------------------------------------------------------------------

PG_SQL = """
CREATE SCHEMA lin;
CREATE TABLE public.regions (region_id int PRIMARY KEY, region_name text);
CREATE TABLE public.dup (x int);
CREATE TABLE lin.dup (x int);
CREATE TABLE lin.customers (customer_id int PRIMARY KEY, name text, region_id int);
CREATE TABLE lin.orders (order_id int PRIMARY KEY, customer_id int, amount numeric, "Note" text);
CREATE TABLE lin.refunds (refund_id int, order_id int, amount numeric);
CREATE TABLE lin.archive (order_id int, amount numeric);
CREATE SCHEMA "Odd.Schema";
CREATE TABLE "Odd.Schema"."Mixed Table" ("Col.1" int, plain int);
CREATE VIEW lin.customer_regions AS
    SELECT c.customer_id, name, region_name FROM lin.customers c JOIN regions USING (region_id);
CREATE VIEW lin.all_orders AS SELECT * FROM lin.orders;
CREATE VIEW lin.totals AS
    WITH t AS (SELECT customer_id, sum(amount) AS total FROM lin.orders GROUP BY customer_id)
    SELECT c.name, t.total FROM t JOIN lin.customers c ON c.customer_id = t.customer_id;
CREATE VIEW lin.money (id, value) AS
    SELECT order_id, amount FROM lin.orders UNION ALL SELECT order_id, -amount FROM lin.refunds
    UNION ALL SELECT order_id, amount FROM lin.archive;
CREATE MATERIALIZED VIEW lin.big AS SELECT o.order_id, o."Note" FROM lin.all_orders o WHERE amount > 10;
CREATE VIEW lin.series AS SELECT g AS n FROM generate_series(1, 3) g;
CREATE VIEW lin.public_dup AS SELECT x FROM dup;
CREATE VIEW lin.own_dup AS SELECT x FROM lin.dup;
CREATE VIEW "Odd.Schema"."V.1" AS SELECT "Col.1" AS "Out.1", plain + 1 AS p FROM "Odd.Schema"."Mixed Table";
CREATE VIEW lin.odd AS SELECT substring(name similar 'hunter2_' escape '#') AS s FROM lin.customers;
"""
"""Views over a join with a table found by the search path (``regions``), ``SELECT *``, a CTE, a UNION with a
table the run filters out, a materialized view over a view, a table function, a name in two schemas on and
off the search path, names needing quotes, and one ``pg_get_viewdef`` prints in syntax the parser does not read."""


@pytest.fixture(scope="module")
def pg_lineage(postgres_url: str) -> Iterator[str]:
    with postgres_database(postgres_url, PG_SQL) as url:
        yield url


@pytest.mark.postgres
def test_postgres_views_joins_ctes_unions_and_stars(pg_lineage: str, tmp_path: Path) -> None:
    config = {
        "url": pg_lineage,
        "service_name": "pg",
        "table_filter": {"exclude": ["archive"]},
        "include_view_lineage": True,
    }
    records, source = extract(config, tmp_path)
    database = pg_lineage.rsplit("/", 1)[1]
    lin, public, odd = f"pg.{database}.lin", f"pg.{database}.public", f'pg.{database}."Odd.Schema"'
    v1, mixed = f'{odd}."V.1"', f"{odd}.Mixed Table"
    assert lineage(records) == {
        (f"{lin}.orders", f"{lin}.all_orders"): {
            f"{lin}.all_orders.{name}": [f"{lin}.orders.{name}"]
            for name in ("Note", "amount", "customer_id", "order_id")
        },
        (f"{lin}.all_orders", f"{lin}.big"): {
            f"{lin}.big.Note": [f"{lin}.all_orders.Note"],
            f"{lin}.big.order_id": [f"{lin}.all_orders.order_id"],
        },
        (f"{lin}.customers", f"{lin}.customer_regions"): {
            f"{lin}.customer_regions.customer_id": [f"{lin}.customers.customer_id"],
            f"{lin}.customer_regions.name": [f"{lin}.customers.name"],
        },
        (f"{public}.regions", f"{lin}.customer_regions"): {
            f"{lin}.customer_regions.region_name": [f"{public}.regions.region_name"],
        },
        (f"{lin}.archive", f"{lin}.money"): {
            f"{lin}.money.id": [f"{lin}.archive.order_id"],
            f"{lin}.money.value": [f"{lin}.archive.amount"],
        },
        (f"{lin}.orders", f"{lin}.money"): {
            f"{lin}.money.id": [f"{lin}.orders.order_id"],
            f"{lin}.money.value": [f"{lin}.orders.amount"],
        },
        (f"{lin}.refunds", f"{lin}.money"): {
            f"{lin}.money.id": [f"{lin}.refunds.order_id"],
            f"{lin}.money.value": [f"{lin}.refunds.amount"],
        },
        (f"{lin}.dup", f"{lin}.own_dup"): {f"{lin}.own_dup.x": [f"{lin}.dup.x"]},
        (f"{public}.dup", f"{lin}.public_dup"): {f"{lin}.public_dup.x": [f"{public}.dup.x"]},
        (f"{lin}.customers", f"{lin}.totals"): {f"{lin}.totals.name": [f"{lin}.customers.name"]},
        (f"{lin}.orders", f"{lin}.totals"): {f"{lin}.totals.total": [f"{lin}.orders.amount"]},
        (mixed, v1): {f'{v1}."Out.1"': [f'{mixed}."Col.1"'], f"{v1}.p": [f"{mixed}.plain"]},
    }
    assert f"{lin}.archive" not in definitions(records)  # filtered out, still a valid upstream
    catalog_then_lineage(records)
    assert source.report.counters == {"lineage_records": 12, "views_without_lineage": 1}
    (warning,) = source.report.warnings
    assert warning.startswith(f"no lineage for view {lin}.odd: its definition cannot be parsed: not valid postgres")
    assert "hunter2" not in warning
    assert f"{lin}.odd" in definitions(records) and f"{lin}.series" in definitions(records)
    plain, _ = extract({**config, "include_view_lineage": False}, tmp_path)
    assert plain == [record for record in records if record.kind != "lineage"]


@pytest.mark.postgres
def test_postgres_every_database_has_its_lineage_after_its_own_catalog(postgres_url: str, tmp_path: Path) -> None:
    sql = "CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t;"
    with postgres_database(postgres_url, sql) as first, postgres_database(postgres_url, sql) as second:
        names = [url.rsplit("/", 1)[1] for url in (first, second)]
        config = {
            "url": first,
            "service_name": "pg",
            "all_databases": True,
            "database_filter": {"include": names},
            "include_view_lineage": True,
        }
        records, source = extract(config, tmp_path)
    assert sorted(record.name for record in records if record.kind == "database") == sorted(names)
    current, in_lineage = None, False
    for record in records:  # each database: its catalog records, then its lineage
        if record.kind == "database":
            current, in_lineage = record.name, False
        elif record.kind == "lineage":
            assert fqn.split(record.to_table)[1] == current
            in_lineage = True
        else:
            assert not in_lineage
    assert lineage(records) == {
        (f"pg.{name}.public.t", f"pg.{name}.public.v"): {f"pg.{name}.public.v.a": [f"pg.{name}.public.t.a"]}
        for name in names
    }
    assert source.report.counters == {"lineage_records": 2}


# -- MariaDB / MySQL ---------------------------------------------------------------------------------

MYSQL_SQL = """
CREATE DATABASE `{p}shop`;
CREATE DATABASE `{p}other`;
CREATE TABLE `{p}shop`.customers (Id int PRIMARY KEY, Name varchar(50), account_no char(8));
CREATE TABLE `{p}shop`.orders (id int PRIMARY KEY, customer_id int, amount decimal(10,2), note text);
CREATE TABLE `{p}other`.accounts (account_no char(8), region varchar(10));
CREATE TABLE `{p}other`.archive (id int, amount decimal(10,2));
CREATE VIEW `{p}shop`.customer_regions AS
    SELECT c.id, name, region FROM `{p}shop`.customers c JOIN `{p}other`.accounts a ON a.account_no = c.account_no;
CREATE VIEW `{p}shop`.all_orders AS SELECT * FROM `{p}shop`.orders;
CREATE VIEW `{p}shop`.money AS
    SELECT id, amount FROM `{p}shop`.orders UNION ALL SELECT id, amount FROM `{p}other`.archive;
CREATE VIEW `{p}shop`.totals AS
    WITH t AS (SELECT customer_id, sum(amount) AS total FROM `{p}shop`.orders GROUP BY customer_id)
    SELECT c.Name AS customer, t.total FROM t JOIN `{p}shop`.customers c ON c.Id = t.customer_id;
CREATE VIEW `{p}shop`.searched AS
    SELECT id FROM `{p}shop`.orders WHERE MATCH (note) AGAINST ('hunter2' IN BOOLEAN MODE);
"""
"""Views over a join with a table of a database the run does not read, ``SELECT *``, a UNION, a CTE, column
names in another case than the table's, and a full-text search the parser does not read."""


@pytest.fixture(scope="module")
def mysql_lineage(mysql_url: str) -> Iterator[str]:
    import sqlalchemy

    prefix = f"ingest_{uuid.uuid4().hex[:8]}_"
    engine = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in MYSQL_SQL.replace("{p}", prefix).split(";\n"):
                if statement.strip():
                    connection.exec_driver_sql(statement)
        yield prefix
    finally:
        with engine.connect() as connection:
            for suffix in ("shop", "other"):
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{prefix}{suffix}`")
        engine.dispose()


@pytest.mark.mysql
def test_mariadb_views_across_databases(mysql_url: str, mysql_lineage: str, tmp_path: Path) -> None:
    config = {
        "url": mysql_url,
        "service_name": "maria",
        "schema_filter": {"include": [f"{mysql_lineage}shop"]},
        "include_view_lineage": True,
    }
    records, source = extract(config, tmp_path)
    shop, other = f"maria.default.{mysql_lineage}shop", f"maria.default.{mysql_lineage}other"
    assert lineage(records) == {
        (f"{shop}.orders", f"{shop}.all_orders"): {
            f"{shop}.all_orders.{name}": [f"{shop}.orders.{name}"] for name in ("amount", "customer_id", "id", "note")
        },
        (f"{other}.accounts", f"{shop}.customer_regions"): {
            f"{shop}.customer_regions.region": [f"{other}.accounts.region"]
        },
        (f"{shop}.customers", f"{shop}.customer_regions"): {
            f"{shop}.customer_regions.{view_column}": [f"{shop}.customers.{column}"]
            for view_column, column in (("id", "Id"), ("name", "Name"))
        },
        (f"{other}.archive", f"{shop}.money"): {
            f"{shop}.money.amount": [f"{other}.archive.amount"],
            f"{shop}.money.id": [f"{other}.archive.id"],
        },
        (f"{shop}.orders", f"{shop}.money"): {
            f"{shop}.money.amount": [f"{shop}.orders.amount"],
            f"{shop}.money.id": [f"{shop}.orders.id"],
        },
        (f"{shop}.customers", f"{shop}.totals"): {f"{shop}.totals.customer": [f"{shop}.customers.Name"]},
        (f"{shop}.orders", f"{shop}.totals"): {f"{shop}.totals.total": [f"{shop}.orders.amount"]},
    }
    catalog_then_lineage(records)
    assert source.report.counters == {"lineage_records": 7, "views_without_lineage": 1}
    (warning,) = source.report.warnings
    assert warning.startswith(f"no lineage for view {shop}.searched: its definition cannot be parsed: not valid mysql")
    assert "hunter2" not in warning
    assert f"{shop}.searched" in definitions(records)
    plain, _ = extract({**config, "include_view_lineage": False}, tmp_path)
    assert plain == [record for record in records if record.kind != "lineage"]


@pytest.mark.mysql
def test_mariadb_hides_definitions_from_a_user_without_show_view(
    mysql_url: str, mysql_lineage: str, tmp_path: Path
) -> None:
    import sqlalchemy

    user = f"ingest_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE USER '{user}'@'%%'")
        connection.exec_driver_sql(f"GRANT SELECT ON `{mysql_lineage}shop`.* TO '{user}'@'%%'")
    try:
        url = sqlalchemy.make_url(mysql_url).set(username=user).render_as_string(hide_password=False)
        config = {
            "url": url,
            "service_name": "maria",
            "schema_filter": {"include": [f"{mysql_lineage}shop"]},
            "include_view_lineage": True,
        }
        records, source = extract(config, tmp_path)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")
        admin.dispose()
    shop = f"maria.default.{mysql_lineage}shop"
    views = ["all_orders", "customer_regions", "money", "searched", "totals"]
    assert lineage(records) == {}
    assert [
        record.name for record in records if isinstance(record, Table) and record.table_type.value == "view"
    ] == views
    assert source.report.warnings == [
        f"no lineage for view {shop}.{view}: the catalog gives no definition of it"
        " (MySQL shows it only to its definer or a user with SHOW VIEW)"
        for view in views
    ]
    assert source.report.counters == {"lineage_records": 0, "views_without_lineage": 5}
