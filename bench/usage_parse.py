"""Benchmark: N generated queries through ``parse_query``, against a floor of ``sqlglot.parse_one`` alone.

The queries are a query log's mix over the sample shop: point lookups with ``$1`` parameters, joins,
aggregates, CTEs, subqueries, UNION, INSERT ... SELECT, UPDATE ... FROM, DELETE, CTAS, views, MERGE and
1% unparsable text (truncated statements); names, literals and aliases vary so no two queries repeat.
Queries are generated on the fly (memory stays flat); each goes through both, one after the other, so
machine noise falls on both alike; only the calls are timed, in CPU seconds of this process (other
processes on the machine do not count). The ratio is what resolving tables, joins and lineage costs on
top of parsing.

Usage: ``python bench/usage_parse.py [--queries 20000] [--dialect postgresql]``. The last line:
``queries=N seconds=S ratio=R peak_rss_mb=M`` (S: the parser's seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import time
from collections.abc import Callable, Iterator

from airflow_provider_ingest.usage.parser import QueryParseError, parse_query, sqlglot_dialect

TABLES = {
    "customers": ("customer_id", "email", "first_name", "country_code", "loyalty_tier", "created_at"),
    "orders": ("order_id", "customer_id", "status", "created_at", "total_amount", "order_number"),
    "order_items": ("order_id", "line_number", "product_id", "quantity", "unit_price"),
    "products": ("product_id", "sku", "name", "category", "unit_price"),
    "payments": ("payment_id", "order_id", "amount", "paid_at", "card_holder_name"),
}
KEYS = {("orders", "customers"): "customer_id", ("order_items", "orders"): "order_id"}
KEYS |= {("order_items", "products"): "product_id", ("payments", "orders"): "order_id"}


def queries(count: int, seed: int = 16) -> Iterator[str]:
    """``count`` queries of the mix, the same for the same seed."""
    rng = random.Random(seed)
    makers: list[tuple[int, Callable[[random.Random, int], str]]] = [
        (30, lookup),
        (20, join),
        (10, aggregate),
        (8, cte),
        (6, subquery),
        (4, union),
        (8, insert_select),
        (4, update_from),
        (3, delete),
        (2, ctas),
        (2, view),
        (2, merge),
        (1, truncated),
    ]
    weights = [weight for weight, _ in makers]
    for index in range(count):
        maker = rng.choices(makers, weights)[0][1]
        yield maker(rng, index)


def _columns(rng: random.Random, table: str, alias: str, most: int = 4) -> str:
    names = rng.sample(TABLES[table], rng.randint(1, min(most, len(TABLES[table]))))
    return ", ".join(f"{alias}.{name}" for name in names)


def lookup(rng: random.Random, index: int) -> str:
    table = rng.choice(list(TABLES))
    key = TABLES[table][0]
    return f"SELECT {_columns(rng, table, 't')} FROM shop.{table} t WHERE t.{key} = $1 LIMIT {rng.randint(1, 100)}"


def join(rng: random.Random, index: int) -> str:
    (left, right), key = rng.choice(list(KEYS.items()))
    return (
        f"SELECT {_columns(rng, left, 'a')}, {_columns(rng, right, 'b')} FROM {left} a "
        f"JOIN {right} b ON b.{key} = a.{key} WHERE a.{TABLES[left][-1]} > ${index % 5 + 1} "
        f"ORDER BY a.{TABLES[left][0]} DESC LIMIT {rng.randint(10, 500)}"
    )


def aggregate(rng: random.Random, index: int) -> str:
    return (
        f"SELECT c.country_code, date_trunc('day', o.created_at) AS day, count(*) AS orders_{index % 97}, "
        f"sum(o.total_amount) AS revenue FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
        f"WHERE o.status = 'paid' AND o.created_at >= now() - interval '{rng.randint(1, 90)} days' "
        f"GROUP BY 1, 2 HAVING sum(o.total_amount) > {rng.randint(10, 9999)}"
    )


def cte(rng: random.Random, index: int) -> str:
    return (
        f"WITH spend AS (SELECT customer_id, sum(total_amount) AS total FROM orders WHERE status <> 'cancelled' "
        f"GROUP BY customer_id), top_{index % 13} AS "
        f"(SELECT customer_id FROM spend WHERE total > {rng.randint(100, 5000)}) "
        f"SELECT c.email, s.total FROM customers c JOIN spend s ON s.customer_id = c.customer_id "
        f"WHERE c.customer_id IN (SELECT customer_id FROM top_{index % 13}) ORDER BY s.total DESC"
    )


def subquery(rng: random.Random, index: int) -> str:
    return (
        f"SELECT p.name, x.sold FROM products p JOIN (SELECT i.product_id, sum(i.quantity) AS sold "
        f"FROM order_items i JOIN orders o ON o.order_id = i.order_id WHERE o.status = 'shipped' "
        f"GROUP BY i.product_id) x ON x.product_id = p.product_id WHERE EXISTS (SELECT 1 FROM order_items j "
        f"WHERE j.product_id = p.product_id AND j.quantity > {rng.randint(1, 9)})"
    )


def union(rng: random.Random, index: int) -> str:
    return (
        f"SELECT email AS contact FROM customers WHERE loyalty_tier = 'gold' UNION ALL "
        f"SELECT card_holder_name FROM payments WHERE amount > {rng.randint(100, 999)} "
        f"UNION SELECT name FROM products WHERE category = 'c{index % 11}'"
    )


def insert_select(rng: random.Random, index: int) -> str:
    return (
        f"INSERT INTO reporting.daily_sales_{index % 7} (day, product_id, quantity, revenue) "
        f"SELECT o.created_at::date, i.product_id, sum(i.quantity), sum(i.quantity * i.unit_price) "
        f"FROM order_items i JOIN orders o ON o.order_id = i.order_id "
        f"WHERE o.created_at::date = '2025-06-{rng.randint(1, 30):02d}' GROUP BY 1, 2"
    )


def update_from(rng: random.Random, index: int) -> str:
    return (
        f"UPDATE orders o SET status = 'paid', total_amount = p.amount FROM payments p "
        f"WHERE p.order_id = o.order_id AND p.paid_at > now() - interval '{rng.randint(1, 48)} hours'"
    )


def delete(rng: random.Random, index: int) -> str:
    return (
        f"DELETE FROM payments WHERE order_id IN "
        f"(SELECT order_id FROM orders WHERE status = 'cancelled' AND order_id < {index})"
    )


def ctas(rng: random.Random, index: int) -> str:
    return (
        f"CREATE TABLE scratch.customer_totals_{index} AS SELECT c.customer_id, c.email, count(o.order_id) AS n, "
        f"coalesce(sum(o.total_amount), 0) AS spent FROM customers c "
        f"LEFT JOIN orders o ON o.customer_id = c.customer_id "
        f"GROUP BY c.customer_id, c.email"
    )


def view(rng: random.Random, index: int) -> str:
    return (
        f"CREATE OR REPLACE VIEW reporting.revenue_{index % 5} AS SELECT date(paid_at) AS day, sum(amount) AS revenue "
        f"FROM payments GROUP BY date(paid_at)"
    )


def merge(rng: random.Random, index: int) -> str:
    return (
        f"MERGE INTO products t USING staging.products_{index % 3} s ON t.sku = s.sku "
        f"WHEN MATCHED THEN UPDATE SET unit_price = s.unit_price, name = s.name "
        f"WHEN NOT MATCHED THEN INSERT (sku, name, unit_price) VALUES (s.sku, s.name, s.unit_price)"
    )


def truncated(rng: random.Random, index: int) -> str:
    return join(rng, index)[: rng.randint(20, 60)] + " ("


def floor(sql: str, dialect: str) -> None:
    import sqlglot
    from sqlglot.errors import SqlglotError

    with contextlib.suppress(SqlglotError):
        sqlglot.parse_one(sql, read=dialect)


def parser(sql: str, dialect: str) -> None:
    with contextlib.suppress(QueryParseError):
        parse_query(sql, dialect, default_database="shop", default_schema="public")


def timed(count: int, dialect: str) -> tuple[float, float]:
    """Seconds of the floor and of the parser, each query through both in turn (the same machine noise)."""
    floor_seconds = seconds = 0.0
    read = sqlglot_dialect(dialect)
    for sql in queries(count):
        started = time.process_time()
        floor(sql, read)
        middle = time.process_time()
        parser(sql, dialect)
        ended = time.process_time()
        floor_seconds += middle - started
        seconds += ended - middle
    return floor_seconds, seconds


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--queries", type=int, default=20_000)
    arguments.add_argument("--dialect", default="postgresql")
    args = arguments.parse_args()
    timed(500, args.dialect)  # imports and sqlglot's caches
    floor_seconds, seconds = timed(args.queries, args.dialect)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"floor (sqlglot.parse_one alone): {floor_seconds:.2f} s = {args.queries / floor_seconds:,.0f} queries/s")
    print(f"parse_query: {seconds:.2f} s = {args.queries / seconds:,.0f} queries/s")
    print(f"queries={args.queries} seconds={seconds:.2f} ratio={seconds / floor_seconds:.2f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
