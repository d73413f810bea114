"""The query parser: tables, joins and column lineage of queries and view definitions, per dialect.

Expected results are written out as text: tables ``database.schema.name``, join pairs
``table.column = table.column`` (the lower one first), lineage ``target: [sources]``.
"""

from __future__ import annotations

import signal
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.catalogs import postgres_database
from support.sql import extract

from airflow_provider_ingest.errors import ConfigurationError, InputError
from airflow_provider_ingest.usage.parser import (
    ColumnName,
    ParsedQuery,
    QueryParseError,
    TableName,
    _executable,
    mask_literals,
    parse_query,
    sqlglot_dialect,
    view_lineage,
)

DEFAULTS = {
    "postgresql": ("db", "public"),
    "mysql": ("default", "shop"),
    "mariadb": ("default", "shop"),
    "sqlite": ("shop", "main"),
}
"""Default database and schema per dialect in the table below."""


def table_text(table: TableName) -> str:
    return f"{table.database}.{table.schema}.{table.name}"


def column_text(column: ColumnName) -> str:
    return f"{table_text(column.table)}.{column.column}"


def as_text(parsed: ParsedQuery) -> dict[str, Any]:
    return {
        "type": parsed.query_type,
        "sources": [table_text(table) for table in parsed.source_tables],
        "targets": [table_text(table) for table in parsed.target_tables],
        "joins": [f"{column_text(pair.left)} = {column_text(pair.right)}" for pair in parsed.joins],
        "lineage": {column_text(item.target): [column_text(s) for s in item.sources] for item in parsed.column_lineage},
    }


def case(
    dialect: str,
    sql: str,
    query_type: str,
    sources: list[str],
    targets: list[str] | None = None,
    joins: list[str] | None = None,
    lineage: dict[str, list[str]] | None = None,
) -> Any:
    expected = {
        "type": query_type,
        "sources": sources,
        "targets": targets or [],
        "joins": joins or [],
        "lineage": lineage or {},
    }
    return pytest.param(dialect, sql, expected, id=f"{dialect}: {' '.join(sql.split())[:70]}")


P, M = "postgresql", "mysql"
CUSTOMERS, ORDERS, PAYMENTS = "db.public.customers", "db.public.orders", "db.public.payments"
ITEMS, PRODUCTS = "db.public.order_items", "db.public.products"

QUERIES = [
    case(P, "SELECT customer_id, email FROM customers", "select", [CUSTOMERS]),
    case(
        P,
        "SELECT c.email, o.total_amount FROM shop.customers AS c JOIN shop.orders o ON o.customer_id = c.customer_id",
        "select",
        ["db.shop.customers", "db.shop.orders"],
        joins=["db.shop.customers.customer_id = db.shop.orders.customer_id"],
    ),
    case(P, "SELECT * FROM analytics.sales.orders", "select", ["analytics.sales.orders"]),
    case(
        P,
        'SELECT "Order"."Id" FROM "Sales"."Order" JOIN customers c ON c.customer_id = "Order"."CustomerId"',
        "select",
        ["db.Sales.Order", CUSTOMERS],
        joins=["db.Sales.Order.CustomerId = db.public.customers.customer_id"],
    ),
    case(P, "SELECT Customer_ID FROM Public.Customers", "select", [CUSTOMERS]),
    case(
        P,
        "WITH paid AS (SELECT * FROM orders WHERE status = 'paid') "
        "SELECT p.order_id, c.email FROM paid p JOIN customers c ON c.customer_id = p.customer_id",
        "select",
        [CUSTOMERS, ORDERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
    ),
    case(
        P,
        "WITH a AS (SELECT customer_id, total_amount AS amt FROM orders), "
        "b AS (SELECT customer_id, sum(amt) AS spent FROM a GROUP BY customer_id) "
        "SELECT c.email, b.spent FROM b JOIN customers c USING (customer_id)",
        "select",
        [CUSTOMERS, ORDERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
    ),
    case(
        P,
        "WITH orders AS (SELECT * FROM orders WHERE status = 'paid') SELECT count(*) FROM orders",
        "select",
        [ORDERS],
    ),
    case(
        P,
        "SELECT x.email FROM (SELECT y.email, y.customer_id FROM (SELECT email, customer_id FROM customers) y) x "
        "JOIN orders o ON o.customer_id = x.customer_id",
        "select",
        [CUSTOMERS, ORDERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
    ),
    case(
        P,
        "SELECT name FROM products p WHERE EXISTS (SELECT 1 FROM order_items i WHERE i.product_id = p.product_id)",
        "select",
        [ITEMS, PRODUCTS],
        joins=[f"{ITEMS}.product_id = {PRODUCTS}.product_id"],
    ),
    case(
        P,
        "SELECT c.email, (SELECT max(o.created_at) FROM orders o WHERE o.customer_id = c.customer_id) AS last_order "
        "FROM customers c",
        "select",
        [CUSTOMERS, ORDERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
    ),
    case(
        P,
        "SELECT email FROM customers UNION SELECT email FROM newsletter.subscribers",
        "select",
        ["db.newsletter.subscribers", CUSTOMERS],
    ),
    case(
        P,
        "SELECT u.id, t.name FROM (SELECT id FROM a UNION ALL SELECT id FROM b) u JOIN t ON t.id = u.id",
        "select",
        ["db.public.a", "db.public.b", "db.public.t"],
        joins=["db.public.a.id = db.public.t.id", "db.public.b.id = db.public.t.id"],
    ),
    case(
        P,
        "SELECT e.name, m.name AS manager FROM staff.employees e LEFT JOIN staff.employees m ON e.manager_id = m.id",
        "select",
        ["db.staff.employees"],
        joins=["db.staff.employees.id = db.staff.employees.manager_id"],
    ),
    case(
        P,
        "SELECT o.order_number, p.amount FROM orders o, payments p WHERE p.order_id = o.order_id AND p.amount > 100",
        "select",
        [ORDERS, PAYMENTS],
        joins=[f"{ORDERS}.order_id = {PAYMENTS}.order_id"],
    ),
    case(
        P,
        "INSERT INTO reporting.daily_revenue (day, revenue) "
        "SELECT date(paid_at), sum(amount) FROM payments GROUP BY date(paid_at)",
        "insert",
        [PAYMENTS],
        ["db.reporting.daily_revenue"],
        lineage={
            "db.reporting.daily_revenue.day": [f"{PAYMENTS}.paid_at"],
            "db.reporting.daily_revenue.revenue": [f"{PAYMENTS}.amount"],
        },
    ),
    case(
        P,
        "INSERT INTO order_facts (order_id, customer_email, gross) "
        "SELECT o.order_id, c.email, o.total_amount * (1 + t.rate) FROM orders o "
        "JOIN customers c ON c.customer_id = o.customer_id JOIN tax_rates t ON t.country_code = c.country_code",
        "insert",
        [CUSTOMERS, ORDERS, "db.public.tax_rates"],
        ["db.public.order_facts"],
        joins=[
            f"{CUSTOMERS}.country_code = db.public.tax_rates.country_code",
            f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id",
        ],
        lineage={
            "db.public.order_facts.customer_email": [f"{CUSTOMERS}.email"],
            "db.public.order_facts.gross": [f"{ORDERS}.total_amount", "db.public.tax_rates.rate"],
            "db.public.order_facts.order_id": [f"{ORDERS}.order_id"],
        },
    ),
    case(P, "INSERT INTO orders_copy SELECT * FROM orders", "insert", [ORDERS], ["db.public.orders_copy"]),
    case(P, "INSERT INTO customers (email) VALUES ('a@example.com')", "insert", [], [CUSTOMERS]),
    case(
        P,
        "CREATE TABLE reporting.top_customers AS SELECT c.customer_id, sum(o.total_amount) AS spent "
        "FROM customers c JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.customer_id",
        "create_table_as",
        [CUSTOMERS, ORDERS],
        ["db.reporting.top_customers"],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
        lineage={
            "db.reporting.top_customers.customer_id": [f"{CUSTOMERS}.customer_id"],
            "db.reporting.top_customers.spent": [f"{ORDERS}.total_amount"],
        },
    ),
    case(
        P,
        "CREATE TEMPORARY TABLE recent AS SELECT order_id FROM orders WHERE created_at > now() - interval '1 day'",
        "create_table_as",
        [ORDERS],
    ),
    case(P, "SELECT order_id INTO TEMP recent FROM orders", "create_table_as", [ORDERS]),
    case(
        P,
        "SELECT order_id, total_amount INTO archive.orders_2024 FROM orders",
        "create_table_as",
        [ORDERS],
        ["db.archive.orders_2024"],
        lineage={
            "db.archive.orders_2024.order_id": [f"{ORDERS}.order_id"],
            "db.archive.orders_2024.total_amount": [f"{ORDERS}.total_amount"],
        },
    ),
    case(
        P,
        "CREATE VIEW spending (who, total) AS "
        "SELECT c.email, o.total_amount FROM orders o JOIN customers c USING (customer_id)",
        "create_view",
        [CUSTOMERS, ORDERS],
        ["db.public.spending"],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
        lineage={
            "db.public.spending.total": [f"{ORDERS}.total_amount"],
            "db.public.spending.who": [f"{CUSTOMERS}.email"],
        },
    ),
    case(
        P,
        "CREATE MATERIALIZED VIEW reporting.product_sales AS "
        "SELECT p.name, sum(i.quantity * i.unit_price) AS sales FROM products p "
        "JOIN order_items i ON i.product_id = p.product_id GROUP BY p.name",
        "create_view",
        [ITEMS, PRODUCTS],
        ["db.reporting.product_sales"],
        joins=[f"{ITEMS}.product_id = {PRODUCTS}.product_id"],
        lineage={
            "db.reporting.product_sales.name": [f"{PRODUCTS}.name"],
            "db.reporting.product_sales.sales": [f"{ITEMS}.quantity", f"{ITEMS}.unit_price"],
        },
    ),
    case(
        P,
        "MERGE INTO customers AS t USING staging.customers s ON t.customer_id = s.customer_id "
        "WHEN MATCHED THEN UPDATE SET email = s.email "
        "WHEN NOT MATCHED THEN INSERT (customer_id, email) VALUES (s.customer_id, s.email)",
        "merge",
        ["db.staging.customers"],
        [CUSTOMERS],
        joins=["db.public.customers.customer_id = db.staging.customers.customer_id"],
        lineage={
            f"{CUSTOMERS}.customer_id": ["db.staging.customers.customer_id"],
            f"{CUSTOMERS}.email": ["db.staging.customers.email"],
        },
    ),
    case(
        P,
        "UPDATE orders o SET status = 'paid', total_amount = p.amount FROM payments p WHERE p.order_id = o.order_id",
        "update",
        [PAYMENTS],
        [ORDERS],
        joins=[f"{ORDERS}.order_id = {PAYMENTS}.order_id"],
        lineage={f"{ORDERS}.total_amount": [f"{PAYMENTS}.amount"]},
    ),
    case(
        P,
        "WITH totals AS (SELECT order_id, sum(quantity * unit_price) AS amount FROM order_items GROUP BY order_id) "
        "UPDATE orders SET total_amount = totals.amount FROM totals WHERE totals.order_id = orders.order_id",
        "update",
        [ITEMS],
        [ORDERS],
        joins=[f"{ITEMS}.order_id = {ORDERS}.order_id"],
        lineage={f"{ORDERS}.total_amount": [f"{ITEMS}.quantity", f"{ITEMS}.unit_price"]},
    ),
    case(
        P,
        "UPDATE customers SET loyalty_tier = 'gold' WHERE customer_id IN "
        "(SELECT customer_id FROM orders GROUP BY customer_id HAVING sum(total_amount) > 1000)",
        "update",
        [ORDERS],
        [CUSTOMERS],
    ),
    case(
        P,
        "DELETE FROM payments USING orders WHERE payments.order_id = orders.order_id AND orders.status = 'cancelled'",
        "delete",
        [ORDERS],
        [PAYMENTS],
        joins=[f"{ORDERS}.order_id = {PAYMENTS}.order_id"],
    ),
    case(
        P,
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE deleted)",
        "delete",
        ["db.public.users"],
        ["db.public.sessions"],
    ),
    case(
        P,
        "SELECT o.order_id::text, c.email FROM orders o JOIN customers c ON c.customer_id = o.customer_id::int "
        "WHERE c.email ILIKE '%@example.com' AND o.created_at::date = $1",
        "select",
        [CUSTOMERS, ORDERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
    ),
    case(
        P,
        "SELECT DISTINCT ON (customer_id) customer_id, order_id FROM orders ORDER BY customer_id, created_at DESC",
        "select",
        [ORDERS],
    ),
    case(
        P,
        "INSERT INTO audit_log (order_id, status) SELECT order_id, status FROM orders WHERE status = 'cancelled' "
        "RETURNING id",
        "insert",
        [ORDERS],
        ["db.public.audit_log"],
        lineage={
            "db.public.audit_log.order_id": [f"{ORDERS}.order_id"],
            "db.public.audit_log.status": [f"{ORDERS}.status"],
        },
    ),
    case(
        P,
        "SELECT p.name FROM products p WHERE p.tags && ARRAY['sale', 'new'] AND p.category = ANY($1)",
        "select",
        [PRODUCTS],
    ),
    case(
        P,
        "SELECT c.email, l.total_amount FROM customers c CROSS JOIN LATERAL "
        "(SELECT o.total_amount FROM orders o WHERE o.customer_id = c.customer_id "
        "ORDER BY o.created_at DESC LIMIT 1) l",
        "select",
        [CUSTOMERS, ORDERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
    ),
    case(
        P,
        "SELECT d::date, count(o.order_id) FROM generate_series('2025-01-01'::date, '2025-01-31'::date, "
        "interval '1 day') AS d LEFT JOIN orders o ON o.created_at::date = d::date GROUP BY 1",
        "select",
        [ORDERS],
    ),
    case(P, "INSERT INTO pg_temp.scratch SELECT order_id FROM orders", "insert", [ORDERS]),
    case(
        P,
        "WITH RECURSIVE tree(id, parent_id) AS (SELECT id, parent_id FROM categories WHERE parent_id IS NULL "
        "UNION ALL SELECT c.id, c.parent_id FROM categories c JOIN tree t ON c.parent_id = t.id) "
        "SELECT t.id, p.name FROM tree t JOIN products p ON p.category_id = t.id",
        "select",
        ["db.public.categories", PRODUCTS],
        joins=[
            "db.public.categories.id = db.public.categories.parent_id",
            f"db.public.categories.id = {PRODUCTS}.category_id",
        ],
    ),
    case(
        P,
        "CREATE TABLE paid_orders AS SELECT x.a AS id, x.b AS amount "
        "FROM (SELECT order_id, total_amount FROM orders) AS x(a, b) JOIN payments p ON p.order_id = x.a",
        "create_table_as",
        [ORDERS, PAYMENTS],
        ["db.public.paid_orders"],
        joins=[f"{ORDERS}.order_id = {PAYMENTS}.order_id"],
        lineage={
            "db.public.paid_orders.amount": [f"{ORDERS}.total_amount"],
            "db.public.paid_orders.id": [f"{ORDERS}.order_id"],
        },
    ),
    case(
        P,
        "CREATE VIEW category_depth AS WITH RECURSIVE walk(id, parent_id, depth) AS "
        "(SELECT id, parent_id, 0 FROM categories UNION ALL "
        "SELECT w.id, c.parent_id, w.depth + 1 FROM walk w JOIN categories c ON c.id = w.parent_id) "
        "SELECT id, depth FROM walk",
        "create_view",
        ["db.public.categories"],
        ["db.public.category_depth"],
        joins=["db.public.categories.id = db.public.categories.parent_id"],
        lineage={"db.public.category_depth.id": ["db.public.categories.id"]},
    ),
    case(
        P,
        "UPDATE customers c SET last_order_at = "
        "(SELECT max(o.created_at) FROM orders o WHERE o.customer_id = c.customer_id)",
        "update",
        [ORDERS],
        [CUSTOMERS],
        joins=[f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"],
        lineage={f"{CUSTOMERS}.last_order_at": [f"{ORDERS}.created_at"]},
    ),
    case(
        P,
        "SELECT customer_id, row_number() OVER (PARTITION BY customer_id ORDER BY created_at) FROM orders",
        "select",
        [ORDERS],
    ),
    case(P, "CREATE TABLE notes (id int PRIMARY KEY, body text)", "other", []),
    case(P, "DROP TABLE orders", "other", []),
    case(P, "SET search_path TO shop, public", "other", []),
    case(
        M,
        "SELECT `c`.`email`, `o`.`total_amount` FROM `shop`.`customers` `c` "
        "JOIN `orders` `o` ON `o`.`customer_id` = `c`.`customer_id`",
        "select",
        ["default.shop.customers", "default.shop.orders"],
        joins=["default.shop.customers.customer_id = default.shop.orders.customer_id"],
    ),
    case(
        M,
        "SELECT STRAIGHT_JOIN p.name, i.quantity FROM products p JOIN order_items i ON i.product_id = p.product_id",
        "select",
        ["default.shop.order_items", "default.shop.products"],
        joins=["default.shop.order_items.product_id = default.shop.products.product_id"],
    ),
    case(
        M,
        "SELECT p.name FROM products p STRAIGHT_JOIN order_items i ON i.product_id = p.product_id",
        "select",
        ["default.shop.order_items", "default.shop.products"],
        joins=["default.shop.order_items.product_id = default.shop.products.product_id"],
    ),
    case(
        M,
        "INSERT INTO product_stats (product_id, sold) SELECT product_id, sum(quantity) FROM order_items "
        "GROUP BY product_id ON DUPLICATE KEY UPDATE sold = VALUES(sold)",
        "insert",
        ["default.shop.order_items"],
        ["default.shop.product_stats"],
        lineage={
            "default.shop.product_stats.product_id": ["default.shop.order_items.product_id"],
            "default.shop.product_stats.sold": ["default.shop.order_items.quantity"],
        },
    ),
    case(M, "SELECT * FROM orders ORDER BY created_at DESC LIMIT 10, 20", "select", ["default.shop.orders"]),
    case(
        M,
        "SELECT s.quantity, p.name FROM warehouse.stock s JOIN shop.products p ON p.sku = s.sku",
        "select",
        ["default.shop.products", "default.warehouse.stock"],
        joins=["default.shop.products.sku = default.warehouse.stock.sku"],
    ),
    case(
        M,
        "UPDATE orders o JOIN payments p ON p.order_id = o.order_id SET o.status = 'paid' "
        "WHERE p.amount >= o.total_amount",
        "update",
        ["default.shop.payments"],
        ["default.shop.orders"],
        joins=["default.shop.orders.order_id = default.shop.payments.order_id"],
    ),
    case(
        M,
        "DELETE o FROM orders o JOIN customers c ON c.customer_id = o.customer_id WHERE c.country_code = 'US'",
        "delete",
        ["default.shop.customers"],
        ["default.shop.orders"],
        joins=["default.shop.customers.customer_id = default.shop.orders.customer_id"],
    ),
    case(
        M,
        "SELECT `customer_id` , `email` FROM `customers` WHERE `customer_id` = ?",
        "select",
        ["default.shop.customers"],
    ),
    case(
        M,
        "CREATE TABLE order_totals SELECT order_id, sum(quantity) AS items FROM order_items GROUP BY order_id",
        "create_table_as",
        ["default.shop.order_items"],
        ["default.shop.order_totals"],
        lineage={
            "default.shop.order_totals.items": ["default.shop.order_items.quantity"],
            "default.shop.order_totals.order_id": ["default.shop.order_items.order_id"],
        },
    ),
    case(
        "mariadb",
        "SELECT `Orders`.`order_id` FROM `Orders` JOIN `payments` ON `payments`.`order_id` = `Orders`.`order_id`",
        "select",
        ["default.shop.Orders", "default.shop.payments"],
        joins=["default.shop.Orders.order_id = default.shop.payments.order_id"],
    ),
    case(
        "sqlite",
        "SELECT date(paid_at) AS day, sum(amount) FROM main.payments GROUP BY date(paid_at)",
        "select",
        ["shop.main.payments"],
    ),
]


@pytest.mark.parametrize(("dialect", "sql", "expected"), QUERIES)
def test_query_table(dialect: str, sql: str, expected: dict[str, Any]) -> None:
    database, schema = DEFAULTS[dialect]

    parsed = parse_query(sql, dialect, default_database=database, default_schema=schema)

    assert as_text(parsed) == expected


def test_the_table_holds_at_least_forty_queries_of_both_dialects() -> None:
    dialects = [param.values[0] for param in QUERIES]
    assert len(QUERIES) >= 40
    assert dialects.count(P) >= 20
    assert dialects.count(M) >= 8


SCHEMA = {
    TableName("db", "public", "orders"): ["order_id", "customer_id", "status", "total_amount"],
    TableName("db", "public", "customers"): ["customer_id", "email"],
    TableName("db", "public", "orders_copy"): ["order_id", "customer_id", "status", "total_amount"],
    TableName("db", "public", "order_emails"): ["order_id", "email"],
}


def parse_with_schema(sql: str) -> dict[str, Any]:
    return as_text(parse_query(sql, P, default_database="db", default_schema="public", schema=SCHEMA))


def test_a_schema_expands_stars_and_names_the_columns_of_an_insert_without_a_list() -> None:
    parsed = parse_with_schema("INSERT INTO orders_copy SELECT * FROM orders")

    assert parsed["lineage"] == {
        f"db.public.orders_copy.{name}": [f"{ORDERS}.{name}"]
        for name in ("customer_id", "order_id", "status", "total_amount")
    }


def test_a_schema_resolves_unqualified_columns_of_several_tables() -> None:
    sql = "INSERT INTO order_emails SELECT order_id, email FROM orders JOIN customers USING (customer_id)"

    without = as_text(parse_query(sql, P, default_database="db", default_schema="public"))
    parsed = parse_with_schema(sql)

    assert without["lineage"] == {}
    assert parsed["lineage"] == {
        "db.public.order_emails.email": [f"{CUSTOMERS}.email"],
        "db.public.order_emails.order_id": [f"{ORDERS}.order_id"],
    }
    assert parsed["joins"] == without["joins"] == [f"{CUSTOMERS}.customer_id = {ORDERS}.customer_id"]


UNPARSABLE = [
    ("postgresql", "SELECT FROM WHERE (", "not valid postgres SQL (line 1, column"),
    ("postgresql", "SELECT 'unterminated", "an unterminated string"),
    ("postgresql", "", "no statement"),
    ("postgresql", "-- only a comment", "no statement"),
    ("postgresql", "SELECT 1; SELECT 2", "2 statements in one query"),
    ("mysql", "SELECT `a` FROM `t` WHERE `b` IN (...)", "not valid mysql SQL"),
    ("postgresql", "SELECT * FROM orders WHERE", "not valid postgres SQL"),
    ("postgresql", "SELECT " + "(" * 3000 + "1", "nested too deeply"),
]


@pytest.mark.parametrize(("dialect", "sql", "reason"), UNPARSABLE)
def test_an_unparsable_query_raises_one_error_with_the_reason(dialect: str, sql: str, reason: str) -> None:
    with pytest.raises(QueryParseError) as raised:
        parse_query(sql, dialect, default_database=None, default_schema=None)

    assert isinstance(raised.value, InputError)
    assert reason in str(raised.value)


def test_the_error_does_not_quote_the_query() -> None:
    with pytest.raises(QueryParseError) as raised:
        parse_query("SELECT * FROM t WHERE x = 's3cr3t' )", P, default_database=None, default_schema=None)

    assert "s3cr3t" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_statement_sqlglot_does_not_know_is_other_and_its_text_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("DEBUG"):
        parsed = parse_query("ALTER USER app PASSWORD 's3cr3t'", P, default_database=None, default_schema=None)

    assert parsed == ParsedQuery("other", (), (), (), ())
    assert "s3cr3t" not in caplog.text


def test_importing_the_parser_does_not_import_sqlglot() -> None:
    probe = "import sys, airflow_provider_ingest.usage.parser; print('sqlglot' in sys.modules)"

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "False"


def test_dialects_map_backend_names_and_service_types() -> None:
    assert [sqlglot_dialect(name) for name in ("postgresql", "Postgres", "mysql", "MariaDB", "sqlite", "SQLite")] == [
        "postgres",
        "postgres",
        "mysql",
        "mysql",
        "sqlite",
        "sqlite",
    ]
    with pytest.raises(ConfigurationError, match="no SQL dialect for 'oracle'"):
        parse_query("SELECT 1", "oracle", default_database=None, default_schema=None)


def test_tables_without_defaults_keep_what_the_query_names() -> None:
    parsed = parse_query("SELECT * FROM a JOIN s.b ON b.id = a.id", P, default_database=None, default_schema=None)

    assert parsed.source_tables == (TableName(None, None, "a"), TableName(None, "s", "b"))


# -- properties ---------------------------------------------------------------------------------------

SQL_WORDS = [
    "SELECT", "FROM", "WHERE", "JOIN", "ON", "USING", "WITH", "AS", "UNION", "ALL", "INSERT", "INTO", "VALUES",
    "UPDATE", "SET", "DELETE", "MERGE", "WHEN", "MATCHED", "THEN", "CREATE", "TABLE", "VIEW", "LATERAL", "(",
    ")", ",", ";", "*", "=", "::", "'", '"', "`", "--", "/*", "*/", "$1", "?", "a", "b.c", "t", "1", "NULL",
    "GROUP BY", "ORDER BY", "LIMIT", "RECURSIVE", "EXISTS", "IN", "CASE", "END", "[", "]", "{", "}",
]  # fmt: skip


def sql_like_text() -> st.SearchStrategy[str]:
    words = st.lists(st.sampled_from(SQL_WORDS) | st.text(string.printable, max_size=4), max_size=60)
    return st.one_of(words.map(" ".join), st.text(max_size=300))


class Hang(Exception):
    """A parse that did not end in a minute: a hang, whatever the machine's speed."""


def _watchdog(signum: int, frame: Any) -> None:
    raise Hang


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=sql_like_text(), dialect=st.sampled_from(["postgresql", "mysql", "sqlite"]))
def test_any_text_parses_or_raises_a_query_parse_error(text: str, dialect: str) -> None:
    previous = signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(60)
    try:
        parsed = parse_query(text, dialect, default_database="d", default_schema="s")
        assert isinstance(parsed, ParsedQuery)
    except QueryParseError as error:
        assert str(error)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


NAMES = st.text(string.ascii_lowercase, min_size=1, max_size=6).map(lambda name: f"t_{name}")


@settings(max_examples=150, deadline=None)
@given(tables=st.lists(NAMES, min_size=1, max_size=6, unique=True), dialect=st.sampled_from(["postgresql", "mysql"]))
def test_a_chain_of_joins_reports_every_table_and_every_pair(tables: list[str], dialect: str) -> None:
    aliases = [f"x{i}" for i in range(len(tables))]
    joins = "".join(
        f" JOIN s.{table} {alias} ON {alias}.k{i} = {aliases[i - 1]}.k{i}"
        for i, (table, alias) in enumerate(zip(tables, aliases, strict=True))
        if i
    )
    sql = f"SELECT {aliases[0]}.v FROM s.{tables[0]} {aliases[0]}{joins}"

    parsed = parse_query(sql, dialect, default_database="d", default_schema="s")

    assert {table.name for table in parsed.source_tables} == set(tables)
    assert {
        frozenset({(pair.left.table.name, pair.left.column), (pair.right.table.name, pair.right.column)})
        for pair in parsed.joins
    } == {frozenset({(tables[i], f"k{i}"), (tables[i - 1], f"k{i}")}) for i in range(1, len(tables))}


@settings(max_examples=150, deadline=None)
@given(layers=st.lists(st.sampled_from(["cte", "derived", "union"]), min_size=1, max_size=6))
def test_lineage_follows_a_column_through_any_layering_of_ctes_subqueries_and_unions(layers: list[str]) -> None:
    ctes: list[str] = []
    query, column = "SELECT b.amount AS c0 FROM s.base b", "c0"
    for depth, layer in enumerate(layers, start=1):
        renamed = f"c{depth}"
        if layer == "cte":
            ctes.append(f"w{depth} AS ({query})")
            query = f"SELECT w.{column} AS {renamed} FROM w{depth} w"
        elif layer == "derived":
            query = f"SELECT d.{column} AS {renamed} FROM ({query}) d"
        else:
            other = f"SELECT o.total AS {column} FROM s.other o"
            query = f"SELECT u.{column} AS {renamed} FROM ({query} UNION ALL {other}) u"
        column = renamed
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    sql = f"INSERT INTO s.target (total) {with_}{query}"

    parsed = as_text(parse_query(sql, P, default_database="d", default_schema="s"))

    sources = ["d.s.base.amount"] + (["d.s.other.total"] if "union" in layers else [])
    assert parsed["lineage"] == {"d.s.target.total": sources}
    assert parsed["sources"] == ["d.s.base"] + (["d.s.other"] if "union" in layers else [])


# -- view definitions ---------------------------------------------------------------------------------


def test_views_of_the_sample_shop(tmp_path: Path) -> None:
    records, _ = extract({"sample": "shop", "service_name": "sample_shop"}, tmp_path)
    views = {record.name: record for record in records if getattr(record, "view_definition", None)}

    lineage = {
        name: as_text(
            view_lineage(
                table.view_definition,
                "sqlite",
                view=TableName(table.database, table.database_schema, name),
                columns=[column.name for column in table.columns],
            )
        )
        for name, table in views.items()
    }

    assert lineage == {
        "customer_order_summary": {
            "type": "create_view",
            "sources": ["shop.main.customers", "shop.main.orders"],
            "targets": ["shop.main.customer_order_summary"],
            "joins": ["shop.main.customers.customer_id = shop.main.orders.customer_id"],
            "lineage": {
                "shop.main.customer_order_summary.customer_id": ["shop.main.customers.customer_id"],
                "shop.main.customer_order_summary.email": ["shop.main.customers.email"],
                "shop.main.customer_order_summary.order_count": ["shop.main.orders.order_id"],
                "shop.main.customer_order_summary.total_spent": ["shop.main.orders.total_amount"],
            },
        },
        "daily_revenue": {
            "type": "create_view",
            "sources": ["shop.main.payments"],
            "targets": ["shop.main.daily_revenue"],
            "joins": [],
            "lineage": {
                "shop.main.daily_revenue.day": ["shop.main.payments.paid_at"],
                "shop.main.daily_revenue.revenue": ["shop.main.payments.amount"],
            },
        },
    }


def test_a_create_view_statement_is_read_as_well_as_its_select() -> None:
    view = TableName("shop", "main", "daily_revenue")
    ddl = "CREATE VIEW daily_revenue AS SELECT date(paid_at) AS day, sum(amount) AS revenue FROM payments GROUP BY 1"

    assert view_lineage(ddl, "sqlite", view=view) == view_lineage(ddl.split(" AS ", 1)[1], "sqlite", view=view)


def test_a_view_definition_that_is_not_a_query_is_a_parse_error() -> None:
    with pytest.raises(QueryParseError, match="a view definition is a SELECT or CREATE VIEW, not Drop"):
        view_lineage("DROP TABLE orders", "sqlite", view=TableName("shop", "main", "v"))


# psycopg2 formats this script as a query with parameters: '%%' is one percent sign.
PG_VIEWS = """
CREATE SCHEMA sales;
CREATE TABLE sales.customers (id serial PRIMARY KEY, email text NOT NULL, country text);
CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer_id integer REFERENCES sales.customers (id),
                           amount numeric(10,2), status text, created_at timestamptz);
CREATE TABLE public.countries (code text PRIMARY KEY, name text);
CREATE VIEW sales.customer_revenue AS
    WITH paid AS (SELECT customer_id, amount FROM sales.orders WHERE status = 'paid')
    SELECT c.id AS customer_id, c.email, n.name AS country_name, sum(p.amount)::numeric(12,2) AS revenue
    FROM sales.customers c
    JOIN paid p ON p.customer_id = c.id
    LEFT JOIN countries n ON n.code = c.country
    WHERE c.email ILIKE '%%@example.com'
    GROUP BY c.id, c.email, n.name;
CREATE VIEW sales.recent_orders AS
    SELECT o.id, o.amount FROM sales.orders o WHERE o.created_at > now() - interval '30 days'
    UNION ALL SELECT o.id, o.amount FROM sales.orders o WHERE o.status = 'new';
"""


@pytest.fixture
def pg_views(postgres_url: str) -> Iterator[dict[str, str]]:
    import sqlalchemy

    with postgres_database(postgres_url, PG_VIEWS) as url:
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(
                    "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sales' AND c.relkind = 'v'"
                )
                yield dict(rows.fetchall())
        finally:
            engine.dispose()


@pytest.mark.postgres
def test_views_from_pg_get_viewdef(pg_views: dict[str, str]) -> None:
    def lineage(name: str) -> dict[str, Any]:
        view = TableName("db", "sales", name)
        return as_text(view_lineage(pg_views[name], "postgresql", view=view, default_schema="public"))

    assert "JOIN paid p ON" in pg_views["customer_revenue"]  # the server's own rendering is what is parsed
    assert lineage("customer_revenue") == {
        "type": "create_view",
        "sources": ["db.public.countries", "db.sales.customers", "db.sales.orders"],
        "targets": ["db.sales.customer_revenue"],
        "joins": [
            "db.public.countries.code = db.sales.customers.country",
            "db.sales.customers.id = db.sales.orders.customer_id",
        ],
        "lineage": {
            "db.sales.customer_revenue.country_name": ["db.public.countries.name"],
            "db.sales.customer_revenue.customer_id": ["db.sales.customers.id"],
            "db.sales.customer_revenue.email": ["db.sales.customers.email"],
            "db.sales.customer_revenue.revenue": ["db.sales.orders.amount"],
        },
    }
    assert lineage("recent_orders") == {
        "type": "create_view",
        "sources": ["db.sales.orders"],
        "targets": ["db.sales.recent_orders"],
        "joins": [],
        "lineage": {
            "db.sales.recent_orders.amount": ["db.sales.orders.amount"],
            "db.sales.recent_orders.id": ["db.sales.orders.id"],
        },
    }


MYSQL_VIEWS = """
CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200));
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2));
CREATE VIEW customer_totals AS
    SELECT c.id, c.email, SUM(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id
    GROUP BY c.id, c.email;
"""


@pytest.mark.mysql
def test_views_from_mysql_information_schema(mysql_url: str) -> None:
    import uuid

    import sqlalchemy

    name = f"ingest_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(mysql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"USE {name}")
            for statement in filter(str.strip, MYSQL_VIEWS.split(";")):
                connection.exec_driver_sql(statement)
            definition = connection.exec_driver_sql(
                f"SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{name}'"
            ).scalar_one()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()

    parsed = as_text(view_lineage(definition, "mariadb", view=TableName("default", name, "customer_totals")))

    assert f"`{name}`.`customers` `c`" in definition  # the server qualifies every name: that is what is parsed
    assert parsed == {
        "type": "create_view",
        "sources": [f"default.{name}.customers", f"default.{name}.orders"],
        "targets": [f"default.{name}.customer_totals"],
        "joins": [f"default.{name}.customers.id = default.{name}.orders.customer_id"],
        "lineage": {
            f"default.{name}.customer_totals.email": [f"default.{name}.customers.email"],
            f"default.{name}.customer_totals.id": [f"default.{name}.customers.id"],
            f"default.{name}.customer_totals.total": [f"default.{name}.orders.amount"],
        },
    }


def _quoted(value: str, dialect: str) -> str:
    """A string literal of ``value`` as the dialect writes one (MySQL also escapes backslashes)."""
    if dialect == "mysql":
        value = value.replace("\\", "\\\\")
    return "'" + value.replace("'", "''") + "'"


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
@given(value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_string_literal_is_masked_whole(dialect: str, value: str) -> None:
    sql = f"SELECT a, $1 FROM t WHERE b = {_quoted(value, dialect)} AND c > 42 -- done"

    assert mask_literals(sql, dialect) == "SELECT a, $1 FROM t WHERE b = ? AND c > ? -- done"


def test_masked_queries_keep_their_tables_for_the_parser() -> None:
    masked = mask_literals("INSERT INTO big SELECT id FROM orders WHERE note = E'x\\'y' AND n = 5", "postgresql")

    parsed = parse_query(masked, "postgresql", default_database="shop", default_schema="public")

    assert masked == "INSERT INTO big SELECT id FROM orders WHERE note = ? AND n = ?"
    assert [t.name for t in parsed.source_tables] == ["orders"] and [t.name for t in parsed.target_tables] == ["big"]


@pytest.mark.parametrize(
    ("sql", "sources", "targets"),
    [
        ("SELECT a FROM t1 /*! JOIN t2 ON t1.id = t2.id */", ["t1", "t2"], []),
        ("SELECT a FROM t1 /*!50100 , t2 */", ["t1", "t2"], []),
        ("INSERT INTO x /*M! SELECT * FROM hidden */", ["hidden"], ["x"]),
        ("SELECT '/*! , t9 */' FROM t1 -- /*! , t8 */", ["t1"], []),
        ("SELECT a FROM t1 /* a comment /*! , t9 */", ["t1"], []),
    ],
)
def test_mysql_executable_comments_are_read_as_the_server_runs_them(
    sql: str, sources: list[str], targets: list[str]
) -> None:
    parsed = parse_query(sql, "mysql", default_database="default", default_schema="shop")

    assert [t.name for t in parsed.source_tables] == sources and [t.name for t in parsed.target_tables] == targets


def test_a_literal_in_a_mysql_executable_comment_is_masked() -> None:
    masked = mask_literals("/*!50000 ALTER USER app IDENTIFIED BY 's3cr3t' */", "mariadb")

    assert masked == "ALTER USER app IDENTIFIED BY ?"


def test_unterminated_mysql_quotes_and_comments_are_read_in_one_pass() -> None:
    text = "/*! '" * 50_000  # each part unterminated: a scan to the end from each would take minutes

    assert _executable(text) == " " + text[len("/*!") :] + " "


@pytest.mark.parametrize(
    ("dialect", "sql", "masked"),
    [
        ("postgresql", "CALL p('SECRET')", "CALL p(?)"),
        ("postgresql", "SELECT 1; EXECUTE q('SECRET')", "SELECT ?; EXECUTE q(?)"),
        (
            "mysql",
            "REPLACE INTO users (id, password) VALUES (1, 'SECRET')",
            "REPLACE INTO users (id, password) VALUES (?, ?)",
        ),
        ("sqlite", "REPLACE INTO users VALUES ('SECRET')", "REPLACE INTO users VALUES (?)"),
        ("postgresql", "FETCH 4111111111111111 FROM c", "FETCH ? FROM c"),
        ("postgresql", "SELECT 4111_1111_1111_1111, 0o7_7, a[1:4111111111111111], @42", "SELECT ?, ?, a[?:?], @?"),
        ("mysql", "CREATE USER 'bob'@'10.1.2.3'", "CREATE USER ?@?"),
        (
            "sqlite",
            "SELECT ?1, :2, $3 FROM t WHERE a = :x AND b = 5",
            "SELECT ?1, :2, $3 FROM t WHERE a = :x AND b = ?",
        ),
        (
            "postgresql",
            "SELECT DATE '2024-01-01', INTERVAL '1' DAY, 'a' 'b', .5 FROM t",
            "SELECT ?, INTERVAL ? DAY, ?, ? FROM t",
        ),
        ("postgresql", "SELECT '2024-01-01'::date, 1::int FROM t", "SELECT ? ::date, ? ::int FROM t"),
        ("postgresql", "SELECT first||' '||last FROM t", "SELECT first||? ||last FROM t"),
        (
            "mysql",
            "SELECT a FROM t WHERE p = 'pass'\"word\" AND q = X'77'X'77'",
            "SELECT a FROM t WHERE p = ? AND q = ?",
        ),
        ("postgresql", "SELECT a[1:2] FROM t WHERE x>:1 AND y = :2", "SELECT a[?:?] FROM t WHERE x>:1 AND y = :2"),
        ("mysql", "SELECT _utf8mb4'x', _latin1 'y' FROM t", "SELECT ?, ? FROM t"),
        (
            "postgresql",
            "SELECT * FROM cards WHERE pan = 4111111111111111 /* unterminated",
            "SELECT * FROM cards WHERE pan = '?",
        ),
    ],
)
def test_every_literal_is_masked_whatever_the_statement(dialect: str, sql: str, masked: str) -> None:
    assert mask_literals(sql, dialect) == masked


@pytest.mark.parametrize(
    ("dialect", "sql", "masked"),
    [
        ("postgresql", "SET app.secret TO hunter2", "SET app.secret TO ?"),
        ("postgresql", "set local app.secret = hunter2", "set local app.secret = ?"),
        (
            "postgresql",
            "ALTER ROLE app IN DATABASE d SET app.secret TO hunter2",
            "ALTER ROLE app IN DATABASE d SET app.secret TO ?",
        ),
        (
            "postgresql",
            "ALTER FUNCTION f(a int, b int) SET search_path = app, public",
            "ALTER FUNCTION f(a int, b int) SET search_path = ?, ?",
        ),
        ("postgresql", 'SELECT 1; SET app.k TO "quoted"', "SELECT ?; SET app.k TO ?"),
        ("postgresql", "SET x = f(a, b), y TO 'z'", "SET x = ?, y TO ?"),
        ("mysql", "SET @a = hunter2, @@session.b = secret2", "SET @a = ?, @@session.b = ?"),
        ("sqlite", "SET x = y", "SET x = ?"),
        (
            "postgresql",
            "/* app:web */ ALTER ROLE web SET app.secret TO hunter2",
            "/* app:web */ ALTER ROLE web SET app.secret TO ?",
        ),
        ("mysql", "/*!SET GLOBAL init_connect = hunter2*/", "SET GLOBAL init_connect = ?"),
        ("mysql", "SET GLOBAL x := v, @a = w", "SET GLOBAL x := ?, @a = ?"),
        (
            "postgresql",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET app.secret = hunter2 AS 'select 1'",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET app.secret = ? AS ?",
        ),
        ("postgresql", "SELECT f(1; SET app.secret TO hunter2", "SELECT f(?; SET app.secret TO ?"),
        ("postgresql", "SET app.to TO hunter2", "SET app.to TO ?"),
        ("postgresql", "ALTER ROLE web SET app.secret TO hunter2 /* not closed", "ALTER ROLE web SET '?"),
        ("postgresql", ") SET app.secret TO hunter2", ") SET app.secret TO ?"),
        (
            "postgresql",
            "SET statement_timeout = '5s'::interval, search_path = public.schema",
            "SET statement_timeout = ?, search_path = ?",
        ),
        ("postgresql", "SET x = $1, y = :2, z = :name", "SET x = $1, y = :2, z = ?"),
        ("mysql", "INSERT INTO t SET a = b, c = (SELECT d FROM e)", "INSERT INTO t SET a = b, c = (SELECT d FROM e)"),
        ("mysql", "REPLACE INTO t SET a = b", "REPLACE INTO t SET a = b"),
        (
            "mysql",
            "LOAD DATA INFILE 'f' INTO TABLE t (a, @b) SET c = @b",
            "LOAD DATA INFILE ? INTO TABLE t (a, @b) SET c = @b",
        ),
        (
            "postgresql",
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
        ),
        # not a setting's value: kept
        ("postgresql", "SET app.flag = yes AND hunter2", "SET app.flag = ?"),
        (
            "postgresql",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql SET app.key = hunter2 AS 'select 1'",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql SET app.key = ? AS ?",
        ),
        ("mysql", "SET @v = a OR b, @w = NOT secret", "SET @v = ?, @w = ?"),
        (
            "mysql",
            "CREATE TRIGGER t BEFORE UPDATE ON x FOR EACH ROW SET @v = hunter2",
            "CREATE TRIGGER t BEFORE UPDATE ON x FOR EACH ROW SET @v = ?",
        ),
        (
            "mysql",
            "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW UPDATE y SET a = b",
            "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW UPDATE y SET a = b",
        ),
        (
            "postgresql",
            "ALTER FUNCTION f() SET search_path = app SECURITY DEFINER",
            "ALTER FUNCTION f() SET search_path = ? SECURITY DEFINER",
        ),
        ("postgresql", "SET x TO DEFAULT", "SET x TO DEFAULT"),
        ("postgresql", "SET ROLE bob", "SET ROLE bob"),
        ("mysql", "SET NAMES utf8mb4", "SET NAMES utf8mb4"),
        ("mysql", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        ("postgresql", "UPDATE t SET a = b WHERE c = 1", "UPDATE t SET a = b WHERE c = ?"),
        ("postgresql", "ALTER TABLE t SET (fillfactor = 70)", "ALTER TABLE t SET (fillfactor = ?)"),
        (
            "postgresql",
            "ALTER TABLE t ALTER COLUMN c SET DEFAULT nextval('s')",
            "ALTER TABLE t ALTER COLUMN c SET DEFAULT nextval(?)",
        ),
        ("postgresql", "ALTER TABLE t RENAME TO u", "ALTER TABLE t RENAME TO u"),
    ],
)
def test_a_value_given_to_a_setting_is_masked_even_unquoted(dialect: str, sql: str, masked: str) -> None:
    """A setting's value may be a secret written as a bare word (``SET app.secret TO hunter2``): masked whole, as a
    literal is; an UPDATE's SET assigns columns, and stays."""
    assert mask_literals(sql, dialect) == masked


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO big SELECT DATE '2024-01-01', id FROM orders WHERE at > TIMESTAMP '2024-01-01 10:00' AND n > .5",
        "INSERT INTO big SELECT '2024-01-01'::date, id::bigint FROM orders WHERE tags = ANY('{a,b}'::text[])",
        "INSERT INTO big SELECT id FROM orders WHERE at > now() - INTERVAL '1' DAY AND flag = E'\\n'::text",
        "INSERT INTO big SELECT first_name||' '||last_name, 'a'||'b' FROM orders",
    ],
)
def test_masked_typed_literals_and_casts_still_parse(sql: str) -> None:
    masked = mask_literals(sql, "postgresql")

    parsed = parse_query(masked, "postgresql", default_database="d", default_schema="s")

    assert "'" not in masked and [t.name for t in parsed.source_tables] == ["orders"]
    assert [t.name for t in parsed.target_tables] == ["big"]


def test_a_query_longer_than_the_limit_is_cut_before_masking_and_not_parsed() -> None:
    sql = "INSERT INTO t VALUES " + ", ".join(["(1)"] * 100_000)

    masked = mask_literals(sql, "postgresql")

    cut = " /* cut: longer than 262,144 characters */"
    assert masked.endswith(cut) and "1" not in masked.removesuffix(cut)
    for text in (sql, masked):  # cut, masked and shorter: still not parsed
        with pytest.raises(QueryParseError, match="longer than 262,144 characters: not parsed"):
            parse_query(text, "postgresql", default_database="d", default_schema="s")


@pytest.mark.parametrize(
    ("dialect", "sql", "masked"),
    [
        (
            "postgresql",
            "SELECT a FROM users -- WHERE password = 'hunter2' AND pin = 1234",
            "SELECT a FROM users -- WHERE password = ?",
        ),
        (
            "postgresql",
            "/*controller='index',traceparent='00-4bf92f35-01'*/ SELECT * FROM t WHERE id = 5",
            "/*controller=?*/ SELECT * FROM t WHERE id = ?",
        ),
        ("postgresql", "SELECT * FROM t -- don't: WHERE pw = 'hunter2'", "SELECT * FROM t -- don?"),
        ("postgresql", "SELECT 1 -- $$hunter2$$", "SELECT ? -- ?"),
        ("postgresql", "SELECT a FROM t WHERE v2 = 3 -- v2 of pin 1234", "SELECT a FROM t WHERE v2 = ? -- v2 of pin ?"),
        ("postgresql", "SELECT /* a /* b 'x */ c 7 */ 1", "SELECT /* a /* b ?*/?*/ ?"),
        ("postgresql", "SET app.key TO /* 'x' */ hunter2", "SET app.key TO /* ?*/ ?"),
        ("mysql", "SELECT 1 # it's 42\nFROM t", "SELECT ? # it?\nFROM t"),
        ("mysql", "SELECT a FROM t /* 'x */ WHERE b = 'pw'", "SELECT a FROM t /* ?*/ WHERE b = ?"),
        ("mysql", "SELECT /*+ SET_VAR(x='hunter2') */ 1", "SELECT /*+ SET_VAR(x=?*/ ?"),
        ("sqlite", 'SELECT a -- pw "hunter2"\nFROM t', "SELECT a -- pw ?\nFROM t"),
        (
            "postgresql",
            "/* airflow-provider-ingest query log */ SELECT 1",
            "/* airflow-provider-ingest query log */ SELECT ?",
        ),
        ("postgresql", "SELECT a FROM t -- a note, no value", "SELECT a FROM t -- a note, no value"),
        ("postgresql", "SELECT a FROM t -- pw hunter2\nWHERE x = 'unterminated", "SELECT a FROM t '?"),
    ],
)
def test_a_comment_is_masked_from_its_first_literal(dialect: str, sql: str, masked: str) -> None:
    """A comment is free text that may hold a commented-out literal (``-- WHERE password = 'hunter2'``) or a
    request's id (sqlcommenter: every query a text of its own): masked from its first quote or number on, as which
    quote pairs with which a comment does not say; the words before it stay, and each comment ends where it ended."""
    assert mask_literals(sql, dialect) == masked


def _tokens(sql: str, dialect: str) -> list[str]:
    from sqlglot import Dialect

    return [token.text for token in Dialect.get_or_raise(sqlglot_dialect(dialect)).tokenizer().tokenize(sql)]


@pytest.mark.parametrize(
    ("dialect", "sql", "tokens"),
    [
        (
            "postgresql",
            "SELECT a FROM t -- note\r/* old filter:\nWHERE pw = 'hunter2' */",
            ["SELECT", "a", "FROM", "t"],
        ),
        ("postgresql", "SELECT a FROM t -- 'x'\rWHERE b = 1", ["SELECT", "a", "FROM", "t", "WHERE", "b", "=", "?"]),
        ("postgresql", "SELECT 1 /* /* a */* b */ 'secret' */", ["SELECT", "?"]),
        ("postgresql", "SELECT a /* /* a */* b */ FROM t WHERE pw = 'secret' -- */", ["SELECT", "a"]),
        ("postgresql", "SELECT 1 /*/* 'x' */ FROM t", ["SELECT", "?", "FROM", "t"]),
        ("mysql", "SELECT 1 /* note 'x' /*/ FROM t", ["SELECT", "?", "FROM", "t"]),
        ("sqlite", "SELECT 1 /* note 'x' /*/ FROM t", ["SELECT", "?", "FROM", "t"]),
        (
            "mysql",
            "SELECT a FROM t /* route='users' path=/api/v1/*/ WHERE id = 7",
            ["SELECT", "a", "FROM", "t", "WHERE", "id", "=", "?"],
        ),
        ("postgresql", "SELECT * FROM orders /* total=.99, paid $100 */", ["SELECT", "*", "FROM", "orders"]),
    ],
)
def test_a_comment_ends_where_the_tokenizer_ends_it_and_keeps_no_value(
    dialect: str, sql: str, tokens: list[str]
) -> None:
    """Where a comment ends is the tokenizer's to say (a carriage return ends a line comment; in ``*/*`` PostgreSQL's
    nested comments close one and open another; ``/*/`` does not close a MySQL comment): each is masked where it
    reads it, so the statement keeps its tokens and no value in a comment shows (outside review)."""
    masked = mask_literals(sql, dialect)

    assert _tokens(masked, dialect) == tokens
    assert not any(value in masked for value in ("hunter2", "secret", "'x'", "users", ".99", "$100"))


@pytest.mark.parametrize(
    ("dialect", "sql", "masked"),
    [
        (
            "mysql",
            "SET @total = (SELECT /*+ MAX_EXECUTION_TIME(1000) */ SUM(amount) FROM payments"
            " WHERE card = '4111111111111111')",
            "SET @total = ?",
        ),
        (
            "postgresql",
            "ALTER FUNCTION f() SET search_path = public SET app.key = hunter2",
            "ALTER FUNCTION f() SET search_path = ? SET app.key = ?",
        ),
        (
            "postgresql",
            "CREATE FUNCTION f() RETURNS int SET a = x SET b TO y LANGUAGE sql AS $$ SELECT 1 $$",
            "CREATE FUNCTION f() RETURNS int SET a = ? SET b TO ? LANGUAGE sql AS ?",
        ),
        ("postgresql", "ALTER ROLE insert SET app.key = hunter2", "ALTER ROLE insert SET app.key = ?"),
        ("postgresql", "ALTER ROLE r IN DATABASE update SET k = hunter2", "ALTER ROLE r IN DATABASE update SET k = ?"),
    ],
)
def test_every_setting_s_value_is_masked_with_what_it_holds(dialect: str, sql: str, masked: str) -> None:
    """A function's second ``SET`` clause, a hint inside a setting's value (once rewritten from where the value's
    mask ended, it showed the rest), a role or database named with a keyword (outside review)."""
    assert mask_literals(sql, dialect) == masked


def _comment(kind: str, text: str) -> str:
    """A comment of ``kind`` holding ``text``."""
    return {"line": f"-- {text}\n", "hash": f"# {text}\n"}.get(kind, f"/*{text}*/")


def _comment_text(kind: str) -> st.SearchStrategy[str]:
    """Text a comment of ``kind`` holds as every dialect reads it alike: a line comment's has no line end, a block
    comment's opens and closes none (PostgreSQL's nest, MySQL's do not), nor makes it a MySQL hint or code."""
    if kind != "block":
        return st.text(st.sampled_from("ab Z09'\"$*/-#!+."), max_size=30)
    text = st.text(st.sampled_from("ab Z09'\"$*/-#\n!+."), max_size=30)
    return text.filter(lambda value: "/*" not in f"/{value}*" and "*/" not in f"/{value}*" and value[:1] not in "!+M")


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
@given(data=st.data(), secret_at=st.integers(0, 30))
@settings(max_examples=150, deadline=None)
def test_a_comment_anywhere_keeps_no_quoted_value_and_the_statement_its_tokens(
    dialect: str, data: st.DataObject, secret_at: int
) -> None:
    from sqlglot import Dialect

    kinds = data.draw(
        st.lists(st.sampled_from(["line", "block", "hash"][: 2 + (dialect == "mysql")]), min_size=1, max_size=3)
    )
    comments = []
    for kind in kinds:
        text = data.draw(_comment_text(kind))
        comments.append(_comment(kind, text[:secret_at] + " 'SECRET42' " + text[secret_at:]))
    places = ["SELECT a, 'x' FROM t ", "WHERE b = 5 ", "AND c = $1 "]
    sql = "".join(place + comment for place, comment in zip(places, comments, strict=False)) + "".join(
        places[len(comments) :]
    )

    masked = mask_literals(sql, dialect)

    assert "SECRET42" not in masked
    tokenizer = Dialect.get_or_raise(sqlglot_dialect(dialect)).tokenizer()
    assert [token.text for token in tokenizer.tokenize(masked)] == [
        token.text for token in tokenizer.tokenize(mask_literals("".join(places), dialect))
    ]


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
@given(
    opening=st.sampled_from(["-- ", "/*", "#"]),
    text=st.text(st.sampled_from("a 9'\"$*/-#\r\n"), max_size=24),
    closing=st.sampled_from(["\n", "\r", "*/", "*/*/", ""]),
    secret_at=st.integers(0, 24),
)
@settings(max_examples=300, deadline=None)
def test_whatever_the_tokenizer_reads_as_a_comment_is_masked_and_ends_where_it_ended(
    dialect: str, opening: str, text: str, closing: str, secret_at: int
) -> None:
    """Comment text of any shape (carriage returns, ``*/*``, ``/*/``, quotes left open): whatever the dialect's
    tokenizer reads as comments between two parts of a statement is masked there, and nothing else changes."""
    from sqlglot.errors import TokenError

    comment = opening + text[:secret_at] + "'SECRET42'" + text[secret_at:] + closing
    sql, plain = f"SELECT a, 'x' FROM t {comment}\nWHERE b = 5", "SELECT a, 'x' FROM t \nWHERE b = 5"
    try:
        read = _tokens(sql, dialect)
    except TokenError:
        read = []  # an unterminated comment or quote: the masker cuts the text (test_every_literal_is_masked...)
    assume(read == _tokens(plain, dialect))  # read as comments between the two parts
    masked = mask_literals(sql, dialect)

    assert "SECRET42" not in masked
    assert _tokens(masked, dialect) == _tokens(mask_literals(plain, dialect), dialect)
