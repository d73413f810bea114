"""The sample shop's query log (``samples/shop_queries.csv``): OpenMetadata's query-log CSV; every query but the
deliberate garbage parses in SQLite; its tables and columns are the sample database's; the mix a usage run
needs (repeats, joins, CTEs, subqueries, writes) is in it; and the ETL's writes give lineage that joins the catalog."""

from __future__ import annotations

import contextlib
import csv
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.sql import extract

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.records import Lineage, Query, Table, TableUsage
from airflow_provider_ingest.samples import build_shop, sample_query_log_path
from airflow_provider_ingest.samples.shop import TODAY
from airflow_provider_ingest.staging import StagedFileWriter, read_records
from airflow_provider_ingest.usage.parser import ParsedQuery, QueryParseError, TableName, parse_query
from airflow_provider_ingest.usage.processor import QueryParserProcessor
from airflow_provider_ingest.usage.stage import TableUsageStage

COLUMNS = ["query_text", "user_name", "start_time", "end_time", "aborted", "database_name", "schema_name"]
"""OpenMetadata's query-log file columns."""
GARBAGE = {
    "SELECT c.email, sum(o.total_amount AS spent FROM customers c JOIN orders o ON o.customer_id = c.customer_id GROUP",
    "SELEC count(*) FROM orders WHERE status = 'paid'",
    "SELECT order_id, status FROM orders WHERE created_at >= '2025-06-",
}
"""The analysts' paste accidents the log keeps on purpose: the parser's warning path."""
SERVICE, DATABASE, SCHEMA = "sample_shop", "shop", "main"
TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")


def parse(text: str, schema: dict[TableName, list[str]] | None = None) -> ParsedQuery:
    return parse_query(text, "sqlite", default_database=DATABASE, default_schema=SCHEMA, schema=schema)


def fqn(table: str, column: str | None = None) -> str:
    return ".".join([SERVICE, DATABASE, SCHEMA, table, *([column] if column else [])])


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with sample_query_log_path().open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == COLUMNS
        return list(reader)


@pytest.fixture(scope="module")
def parsed(rows: list[dict[str, str]]) -> dict[str, ParsedQuery]:
    """Each distinct query text that parses, and its result (garbage left out)."""
    results = {}
    for text in dict.fromkeys(row["query_text"] for row in rows):
        with contextlib.suppress(QueryParseError):
            results[text] = parse(text)
    return results


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Table]]:
    """The sample database's catalog as the ``sql`` source reads it, in a staged file and as tables."""
    folder = tmp_path_factory.mktemp("catalog")
    build_shop(folder / "shop.sqlite")
    records, source = extract({"url": f"sqlite:///{folder / 'shop.sqlite'}", "service_name": SERVICE}, folder)
    assert source.report.failure_count == 0
    with StagedFileWriter(str(folder / "catalog.jsonl"), producer="test", kinds={r.kind for r in records}) as out:
        for record in records:
            out.write(record)
    return folder / "catalog.jsonl", [record for record in records if isinstance(record, Table)]


def test_the_log_is_an_openmetadata_query_log_csv(rows: list[dict[str, str]]) -> None:
    assert 300 <= len(rows) <= 500
    lines = sample_query_log_path().read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows) + 1, "one query a line, as OpenMetadata's query-log file wants"
    starts = [row["start_time"] for row in rows]
    assert starts == sorted(starts)
    for row in rows:
        assert TIME.fullmatch(row["start_time"]) and TIME.fullmatch(row["end_time"]), row
        start = datetime.fromisoformat(row["start_time"])
        assert TODAY - timedelta(days=15) <= start <= datetime.fromisoformat(row["end_time"]) <= TODAY, row
        assert row["aborted"] in ("true", "false")
        assert (row["database_name"], row["schema_name"]) == (DATABASE, SCHEMA)
        assert row["query_text"] == row["query_text"].strip() and row["user_name"]
    days = {row["start_time"][:10] for row in rows}
    assert len(days) == 15, "every day of the two weeks before the sample's TODAY"


def test_every_query_parses_but_the_deliberate_garbage(rows: list[dict[str, str]]) -> None:
    failed = {}
    for row in rows:
        try:
            parse(row["query_text"])
        except QueryParseError as error:
            failed[row["query_text"]] = str(error)
    assert set(failed) == GARBAGE
    for text, error in failed.items():
        assert text not in error and "'2025-06-" not in error, "the warning never quotes the query"


def test_tables_and_columns_are_the_sample_databases(
    parsed: dict[str, ParsedQuery], catalog: tuple[Path, list[Table]]
) -> None:
    columns = {TableName(DATABASE, SCHEMA, table.name): {c.name for c in table.columns} for table in catalog[1]}
    used: Counter[str] = Counter()
    for text, result in parsed.items():
        tables = {*result.source_tables, *result.target_tables}
        assert tables <= set(columns), text
        used.update(table.name for table in tables)
        named = [pair.left for pair in result.joins] + [pair.right for pair in result.joins]
        for item in result.column_lineage:
            named += [item.target, *item.sources]
        for name in named:
            assert name.column in columns[name.table], f"{name} in {text}"
    assert set(used) == {name.name for name in columns}, "every table and view of the sample is queried"


def test_the_mix_has_what_usage_needs(rows: list[dict[str, str]], parsed: dict[str, ParsedQuery]) -> None:
    import sqlglot
    from sqlglot import exp

    users = Counter(row["user_name"] for row in rows)
    assert len(users) >= 4 and min(users.values()) >= 20
    [((app_user, _), app_runs)] = Counter((r["user_name"], r["query_text"]) for r in rows).most_common(1)
    assert app_user == "shop_app" and app_runs >= 30, "one statement the application runs over and over"
    assert len(parsed) < len(rows) / 2, "repeats, so usage counts and frequent queries mean something"
    assert sum(row["aborted"] == "true" for row in rows) >= 1
    kinds = Counter(parsed[row["query_text"]].query_type for row in rows if row["query_text"] in parsed)
    assert {"select", "insert", "update", "delete", "create_table_as", "other"} <= set(kinds)

    trees = {text: sqlglot.parse_one(text, read="sqlite") for text in parsed}
    views = {"customer_order_summary", "daily_revenue"}

    def count(test: object) -> int:
        return sum(1 for text, tree in trees.items() if test(text, tree))  # type: ignore[operator]

    def tables_named(tree: exp.Expr) -> list[str]:
        return [table.name for table in tree.find_all(exp.Table)]

    def self_join(tree: exp.Expr) -> bool:
        """A SELECT with one table twice in its FROM and JOINs."""
        for select in tree.find_all(exp.Select):
            items = [select.args["from_"].this] if select.args.get("from_") else []
            items += [join.this for join in select.args.get("joins") or []]
            names = [item.name for item in items if isinstance(item, exp.Table)]
            if len(names) > len(set(names)):
                return True
        return False

    features = {
        "cte": count(lambda t, tree: tree.find(exp.With)),
        "recursive cte": count(lambda t, tree: (w := tree.find(exp.With)) and w.args.get("recursive")),
        "window": count(lambda t, tree: tree.find(exp.Window)),
        "union": count(lambda t, tree: tree.find(exp.Union)),
        "except/intersect": count(lambda t, tree: tree.find(exp.Except, exp.Intersect)),
        "exists": count(lambda t, tree: tree.find(exp.Exists)),
        "in subquery": count(lambda t, tree: any(i.args.get("query") for i in tree.find_all(exp.In))),
        "derived table": count(
            lambda t, tree: any(isinstance(s.parent, exp.From | exp.Join) for s in tree.find_all(exp.Subquery))
        ),
        "self-join": count(lambda t, tree: self_join(tree)),
        "3+ tables": count(lambda t, tree: len(set(tables_named(tree))) >= 3),
        "views": count(lambda t, tree: views & set(tables_named(tree))),
        "insert select": count(lambda t, tree: isinstance(tree, exp.Insert) and tree.expression.find(exp.Select)),
        "update from": count(lambda t, tree: isinstance(tree, exp.Update) and tree.args.get("from_")),
        "update subquery": count(lambda t, tree: isinstance(tree, exp.Update) and tree.find(exp.Select)),
        "delete subquery": count(lambda t, tree: isinstance(tree, exp.Delete) and tree.find(exp.Select)),
        "aggregate": count(lambda t, tree: tree.find(exp.AggFunc) and tree.find(exp.Group)),
    }
    assert all(features.values()), features
    assert features["self-join"] >= 3 and features["cte"] >= 3 and features["3+ tables"] >= 3


def test_the_etl_writes_give_lineage_with_column_edges(parsed: dict[str, ParsedQuery]) -> None:
    def lineage(target: str) -> dict[str, set[str]]:
        edges: dict[str, set[str]] = {}
        for result in parsed.values():
            if [table.name for table in result.target_tables] == [target]:
                for item in result.column_lineage:
                    sources = {f"{s.table.name}.{s.column}" for s in item.sources}
                    edges.setdefault(item.target.column, set()).update(sources)
        return edges

    sales = lineage("daily_sales")
    assert sales["day"] >= {"payments.paid_at"}
    assert sales["category"] >= {"products.category"}
    assert sales["order_count"] >= {"orders.order_id"}
    assert sales["units_sold"] >= {"order_items.quantity"}
    assert sales["revenue"] >= {"order_items.quantity", "order_items.unit_price"}
    segments = lineage("customer_segments")
    assert segments["customer_id"] >= {"customers.customer_id"}
    assert segments["total_spent"] >= {"orders.total_amount"}
    assert segments["last_order_at"] == {"orders.created_at"}
    assert segments["segment"] >= {"orders.total_amount"}
    joins = {
        (f"{p.left.table.name}.{p.left.column}", f"{p.right.table.name}.{p.right.column}")
        for result in parsed.values()
        for p in result.joins
    }
    assert {
        ("orders.order_id", "payments.order_id"),
        ("order_items.order_id", "orders.order_id"),
        ("order_items.product_id", "products.product_id"),
        ("customers.customer_id", "orders.customer_id"),
        ("daily_revenue.day", "daily_sales.day"),
    } <= joins


def test_a_usage_run_over_the_log_joins_the_catalog(
    tmp_path: Path, rows: list[dict[str, str]], catalog: tuple[Path, list[Table]]
) -> None:
    """The log through ``query_parser`` (with the sample's catalog) and ``table_usage``: counts per table agree
    with the log, the garbage is three warnings, and every table and lineage edge names a catalog table."""
    context = RunContext(workflow_name="usage", run_id="run", staging_root=str(tmp_path), base_dir=tmp_path)
    processor = QueryParserProcessor.create({"catalog": str(catalog[0])}, context)
    stage = TableUsageStage.create({"path": "usage.jsonl"}, context)
    assert isinstance(processor, QueryParserProcessor) and isinstance(stage, TableUsageStage)
    processor.prepare()
    stage.prepare()
    expected: Counter[str] = Counter()
    for row in rows:
        start = datetime.fromisoformat(row["start_time"]).replace(tzinfo=UTC)
        query = Query(
            service=SERVICE,
            dialect="sqlite",
            text=row["query_text"],
            database=row["database_name"],
            database_schema=row["schema_name"],
            user=row["user_name"],
            start_time=start,
        )
        out = processor.process(query)
        for record in out if isinstance(out, list) else [] if out is None else [out]:
            stage.stage(record)
        if row["query_text"] not in GARBAGE:
            result = parse(row["query_text"])
            expected.update(fqn(t.name) for t in {*result.source_tables, *result.target_tables})
    assert processor.report.warning_count == len(GARBAGE)
    records = list(read_records(stage.commit()))
    usage = [r for r in records if isinstance(r, TableUsage)]
    edges = {(r.from_table, r.to_table): r for r in records if isinstance(r, Lineage)}
    totals: Counter[str] = Counter()
    for record in usage:
        totals[record.table] += record.count
    assert totals == expected
    tables = {fqn(table.name) for table in catalog[1]}
    assert set(totals) == tables
    assert {name for edge in edges for name in edge} <= tables
    sales = edges[(fqn("payments"), fqn("daily_sales"))]
    assert {edge.to_column: edge.from_columns for edge in sales.columns} == {
        fqn("daily_sales", "day"): [fqn("payments", "paid_at")]
    }
    assert (fqn("orders"), fqn("customer_segments")) in edges and (fqn("customers"), fqn("customer_segments")) in edges
    on_products: Counter[str] = Counter()
    for record in usage:
        if record.table == fqn("products"):
            on_products.update({query.text: query.count for query in record.queries})
    in_log = Counter(row["query_text"] for row in rows if row["query_text"] in on_products)
    assert on_products.most_common(3) == in_log.most_common(3)
    assert {row["user_name"] for row in rows if row["query_text"] == in_log.most_common(1)[0][0]} == {"shop_app"}
