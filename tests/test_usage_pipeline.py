"""The query_parser processor and the table_usage stage: analyses as FQNs, lineage records, aggregation per table and
day, and a whole run from a file of query records to a published staged file."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.records import (
    Column,
    DataType,
    Lineage,
    Query,
    RecordError,
    Table,
    TableUsage,
    dump_record,
    parse_record,
)
from airflow_provider_ingest.records.base import MAX_COUNT
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import StagedFileWriter, read_dead_letters, read_records
from airflow_provider_ingest.usage.processor import QueryParserProcessor
from airflow_provider_ingest.usage.stage import TableUsageStage
from airflow_provider_ingest.workflow.loader import load_workflow

DAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
T = "shop.shop.public."


def query(text: str, *, user: str | None = "ana", at: datetime = DAY, calls: int = 1, **fields: object) -> Query:
    defaults: dict[str, object] = {"database": "shop", "database_schema": "public", "dialect": "postgresql"}
    return Query(service="shop", text=text, user=user, start_time=at, calls=calls, **{**defaults, **fields})


@pytest.fixture
def context(tmp_path: Path) -> RunContext:
    return RunContext(workflow_name="usage", run_id="run1", staging_root=str(tmp_path / "staging"), base_dir=tmp_path)


def parser(context: RunContext, **config: object) -> QueryParserProcessor:
    processor = QueryParserProcessor.create(config, context)
    assert isinstance(processor, QueryParserProcessor)
    processor.prepare()
    return processor


def outputs(processor: QueryParserProcessor, record: Query) -> list[Query | Lineage]:
    result = processor.process(record)
    return [] if result is None else result if isinstance(result, list) else [result]  # type: ignore[list-item]


def staged(context: RunContext, records: list[Query | Lineage], **config: object) -> list[Lineage | TableUsage]:
    """The records of the staged file a table_usage stage writes from the processor's outputs of ``records``."""
    processor = parser(context)
    stage = TableUsageStage.create({"path": "usage.jsonl", **config}, context)
    assert isinstance(stage, TableUsageStage)
    stage.prepare()
    for record in records:
        for item in outputs(processor, record) if isinstance(record, Query) else [record]:
            stage.stage(item)
    uri = stage.commit()
    return list(read_records(uri))  # type: ignore[arg-type]


# -- the processor -------------------------------------------------------------------------------


def test_a_query_gets_its_tables_joins_and_type_as_fqns(context: RunContext) -> None:
    [analysed] = outputs(
        parser(context),
        query("SELECT o.order_id, c.email FROM orders o JOIN crm.customers c ON o.customer_id = c.customer_id"),
    )
    assert isinstance(analysed, Query) and analysed.analysis is not None
    assert analysed.analysis.query_type == "select"
    assert analysed.analysis.source_tables == ["shop.shop.crm.customers", T + "orders"]
    assert analysed.analysis.target_tables == []
    [pair] = analysed.analysis.joins
    assert (pair.left, pair.right) == ("shop.shop.crm.customers.customer_id", T + "orders.customer_id")


def test_a_write_gives_one_lineage_record_per_table_read_with_its_column_edges(context: RunContext) -> None:
    text = (
        "INSERT INTO report.daily (day, revenue, items) SELECT p.paid_at::date, sum(p.amount), count(i.line)"
        " FROM payments p JOIN order_items i ON i.order_id = p.order_id GROUP BY 1"
    )
    analysed, *lineage = outputs(parser(context), query(text))
    assert isinstance(analysed, Query) and analysed.analysis is not None
    assert analysed.analysis.query_type == "insert"
    edges = {(item.from_table, item.to_table): item for item in lineage if isinstance(item, Lineage)}
    assert set(edges) == {(T + "order_items", "shop.shop.report.daily"), (T + "payments", "shop.shop.report.daily")}
    payments = edges[(T + "payments", "shop.shop.report.daily")]
    assert payments.source == "query" and payments.sql == text
    assert {(edge.to_column, tuple(edge.from_columns)) for edge in payments.columns} == {
        ("shop.shop.report.daily.day", (T + "payments.paid_at",)),
        ("shop.shop.report.daily.revenue", (T + "payments.amount",)),
    }
    items = edges[(T + "order_items", "shop.shop.report.daily")]
    assert [(edge.to_column, edge.from_columns) for edge in items.columns] == [
        ("shop.shop.report.daily.items", [T + "order_items.line"])
    ]


def test_lineage_can_be_turned_off(context: RunContext) -> None:
    found = outputs(parser(context, lineage=False), query("INSERT INTO b (x) SELECT y FROM a"))
    assert [record.kind for record in found] == ["query"]


def test_an_unparsable_query_is_a_warning_without_its_text_and_is_filtered(context: RunContext) -> None:
    processor = parser(context)
    secret = "s3cr3t-Literal"
    assert outputs(processor, query(f"SELECT * FROM t WHERE password = '{secret}' AND (")) == []
    [warning] = processor.report.warnings
    assert "skipped" in warning and "not valid postgres SQL" in warning
    assert secret not in warning and "password" not in warning


def test_other_records_pass_unchanged(context: RunContext) -> None:
    table = Table(service="s", database="d", database_schema="p", name="t")
    lineage = Lineage(from_table="s.d.p.a", to_table="s.d.p.b")
    processor = parser(context)
    assert processor.process(table) is table
    assert processor.process(lineage) is lineage


def test_tables_without_database_or_schema_are_left_out_and_counted(context: RunContext) -> None:
    processor = parser(context)
    [analysed] = outputs(
        processor, query("SELECT * FROM a JOIN b ON a.id = b.id", database_schema=None, dialect="mysql")
    )
    assert isinstance(analysed, Query) and analysed.analysis is not None
    assert analysed.analysis.source_tables == [] and analysed.analysis.joins == []
    assert processor.report.counters["tables_unresolved"] == 2


def test_the_dialect_setting_overrides_the_sources(context: RunContext) -> None:
    text = "SELECT `o`.`id` FROM `orders` `o`"
    assert outputs(parser(context), query(text)) == []  # backticks are not PostgreSQL
    [analysed] = outputs(parser(context, dialect="mysql"), query(text))
    assert isinstance(analysed, Query) and analysed.analysis is not None
    assert analysed.analysis.source_tables == [T + "orders"]


def test_a_catalog_file_resolves_select_star_for_column_lineage(context: RunContext, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.jsonl"
    columns = [Column(name=name, data_type=DataType.INT) for name in ("id", "total")]
    with StagedFileWriter(str(catalog), producer="test", kinds=["table"]) as out:
        out.write(Table(service="shop", database="shop", database_schema="public", name="orders", columns=columns))
    text = "CREATE TABLE archive AS SELECT * FROM orders"
    _, without = outputs(parser(context), query(text))
    _, with_catalog = outputs(parser(context, catalog=str(catalog)), query(text))
    assert isinstance(without, Lineage) and isinstance(with_catalog, Lineage)
    assert without.columns == []
    assert [(edge.to_column, edge.from_columns) for edge in with_catalog.columns] == [
        (T + "archive.id", [T + "orders.id"]),
        (T + "archive.total", [T + "orders.total"]),
    ]


# -- the stage -----------------------------------------------------------------------------------


def usage(records: list[Lineage | TableUsage]) -> dict[tuple[str, str], TableUsage]:
    return {(item.table, item.date.isoformat()): item for item in records if isinstance(item, TableUsage)}


def test_usage_is_counted_per_table_and_day_with_calls_users_and_joins(context: RunContext) -> None:
    join = "SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id"
    records = staged(
        context,
        [
            query(join, user="ana", calls=3),
            query(join, user="bob"),
            query("SELECT count(*) FROM orders", user="bob", at=DAY + timedelta(hours=20)),  # next day in UTC
            query("SELECT count(*) FROM orders", user=None),
        ],
    )
    found = usage(records)
    assert set(found) == {(T + "orders", "2026-11-30"), (T + "customers", "2026-11-30"), (T + "orders", "2026-12-01")}
    orders = found[(T + "orders", "2026-11-30")]
    assert orders.count == 5 and orders.users == ["ana", "bob"]
    assert [(item.table, item.count) for item in orders.joined_tables] == [(T + "customers", 4)]
    joins = [(joins.column, [(item.column, item.count) for item in joins.joined_with]) for joins in orders.column_joins]
    assert joins == [("customer_id", [(T + "customers.id", 4)])]
    assert [(item.text, item.count, item.users) for item in orders.queries] == [
        (join, 4, ["ana", "bob"]),
        ("SELECT count(*) FROM orders", 1, []),
    ]
    assert found[(T + "orders", "2026-12-01")].count == 1


def test_a_day_whose_counts_sum_past_what_a_record_holds_fails_alone(context: RunContext) -> None:
    stage = TableUsageStage.create({"path": "usage.jsonl"}, context)
    assert isinstance(stage, TableUsageStage)
    stage.prepare()
    processor = parser(context)
    calls = [MAX_COUNT, 1]  # each a valid count; their sum is not
    for record in [query("SELECT * FROM orders", calls=calls[0]), query("SELECT * FROM orders", calls=calls[1])]:
        for item in outputs(processor, record):
            stage.stage(item)
    stage.stage(next(iter(outputs(processor, query("SELECT * FROM customers")))))

    records = list(read_records(stage.commit()))

    assert [(r.table, r.count) for r in records if isinstance(r, TableUsage)] == [(T + "customers", 1)]
    [failure] = stage.report.failures
    assert (
        failure.error == f"usage of {T}orders on 2026-11-30: count: Input should be less than or equal to {MAX_COUNT}"
    )


def test_counts_and_durations_past_what_elasticsearch_and_openmetadata_store_are_refused() -> None:
    with pytest.raises(ValueError, match="less than or equal to 9007199254740991"):
        query("SELECT 1 FROM t", calls=MAX_COUNT + 1)
    for duration in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite number"):
            query("SELECT 1 FROM t", duration_ms=duration)
    with pytest.raises(RecordError, match="finite number"):
        parse_record('{"kind":"query","service":"s","dialect":"sqlite","text":"SELECT 1","duration_ms":Infinity}')


def test_a_self_join_pairs_columns_of_one_table_but_joins_no_other(context: RunContext) -> None:
    records = staged(context, [query("SELECT * FROM staff a JOIN staff b ON a.manager_id = b.id")])
    [staff] = usage(records).values()
    assert staff.joined_tables == []
    assert {(item.column, tuple(joined.column for joined in item.joined_with)) for item in staff.column_joins} == {
        ("id", (T + "staff.manager_id",)),
        ("manager_id", (T + "staff.id",)),
    }


def test_frequent_queries_are_ranked_and_capped_and_durations_are_means(context: RunContext) -> None:
    records = [query(f"SELECT * FROM t WHERE a = {n}", calls=n, duration_ms=10.0 * n) for n in range(1, 8)]
    [tally] = usage(staged(context, records, top_queries=3)).values()
    assert tally.count == sum(range(1, 8))
    assert [(item.text[-1], item.count, item.duration_ms) for item in tally.queries] == [
        ("7", 7, 70.0),
        ("6", 6, 60.0),
        ("5", 5, 50.0),
    ]


def test_the_frequent_queries_of_a_table_are_bounded_and_the_heavy_ones_still_found(context: RunContext) -> None:
    stage_records = [query("SELECT * FROM t WHERE hot = 1", calls=50)]
    stage_records += [query(f"SELECT * FROM t WHERE cold = {n}") for n in range(200)]
    stage_records += [query("SELECT * FROM t WHERE hot = 2", calls=40)]
    processor, stage = parser(context), TableUsageStage.create({"query_capacity": 20, "top_queries": 2}, context)
    stage.prepare()
    for record in stage_records:
        for item in outputs(processor, record):
            stage.stage(item)
    assert max(len(tally.queries) for tally in stage.tallies.values()) == 20  # type: ignore[attr-defined]
    [tally] = usage(list(read_records(stage.commit()))).values()  # type: ignore[arg-type]
    assert [item.text for item in tally.queries] == ["SELECT * FROM t WHERE hot = 1", "SELECT * FROM t WHERE hot = 2"]
    assert tally.count == 290
    assert stage.report.counters["frequent_queries_estimated"] > 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    capacity=st.integers(1, 6),
    stream=st.lists(st.tuples(st.integers(0, 9), st.integers(1, 4)), max_size=60),
)
def test_frequent_queries_are_those_of_plain_space_saving(
    context: RunContext, capacity: int, stream: list[tuple[int, int]]
) -> None:
    """The stage's frequent queries and counts are those of the textbook algorithm: a new query replaces the one
    with the lowest count (the earliest counted of those) and starts from its count."""
    kept: dict[str, int] = {}
    for number, calls in stream:
        text = f"SELECT * FROM t WHERE a = {number}"
        if text not in kept:
            kept[text] = kept.pop(min(kept, key=kept.__getitem__)) if len(kept) >= capacity else 0
        kept[text] += calls
    records = [query(f"SELECT * FROM t WHERE a = {number}", calls=calls) for number, calls in stream]
    found = usage(staged(context, records, query_capacity=capacity, top_queries=1000))
    expected = sorted(kept.items(), key=lambda item: (-item[1], item[0]))
    assert [(item.text, item.count) for tally in found.values() for item in tally.queries] == expected


def test_lineage_of_one_edge_is_merged_with_the_first_sql_kept(context: RunContext) -> None:
    records = staged(
        context,
        [
            query("INSERT INTO b (x) SELECT x FROM a"),
            query("INSERT INTO b (y) SELECT y FROM a"),
            Lineage(from_table=T + "a", to_table=T + "b", source="view", sql="view sql"),
        ],
    )
    [edge] = [item for item in records if isinstance(item, Lineage)]
    assert edge.sql == "INSERT INTO b (x) SELECT x FROM a"
    edges = [(item.to_column, item.from_columns) for item in edge.columns]
    assert edges == [(T + "b.x", [T + "a.x"]), (T + "b.y", [T + "a.y"])]


def test_the_stage_refuses_what_it_cannot_aggregate(context: RunContext) -> None:
    stage = TableUsageStage.create({}, context)
    stage.prepare()
    with pytest.raises(ValueError, match="put the query_parser processor before"):
        stage.stage(query("SELECT 1"))
    with pytest.raises(ValueError, match="takes query and lineage records, not table"):
        stage.stage(Table(service="s", database="d", database_schema="p", name="t"))


def test_the_same_queries_in_another_order_give_the_same_file(context: RunContext, tmp_path: Path) -> None:
    records = [query(f"SELECT * FROM t{n % 3} JOIN u ON t{n % 3}.id = u.id", user=f"u{n % 4}") for n in range(30)]
    first = staged(context, records, path=str(tmp_path / "one.jsonl"))
    second = staged(context, list(reversed(records)), path=str(tmp_path / "two.jsonl"))
    assert [dump_record(item) for item in first] == [dump_record(item) for item in second]
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


TABLES = ["a", "b", "c", "d"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(TABLES), min_size=1, max_size=3, unique=True),
            st.integers(1, 5),
            st.integers(0, 3),
            st.sampled_from(["ana", "bob", None]),
        ),
        max_size=25,
    )
)
def test_each_table_counts_the_calls_of_every_query_that_used_it(context: RunContext, mix: list) -> None:
    records, expected, users = [], Counter[tuple[str, str]](), {}
    for tables, calls, day, user in mix:
        text = "SELECT 1 FROM " + ", ".join(tables)
        at = DAY + timedelta(days=day)
        records.append(query(text, calls=calls, at=at, user=user))
        for table in tables:
            key = (T + table, at.date().isoformat())
            expected[key] += calls
            users.setdefault(key, set()).update({user} - {None})
    found = usage(staged(context, records))
    assert {key: item.count for key, item in found.items()} == dict(expected)
    assert {key: set(item.users) for key, item in found.items()} == users
    assert all(sum(query.count for query in item.queries) == item.count for item in found.values())


# -- a whole run ---------------------------------------------------------------------------------


def test_a_usage_workflow_publishes_counts_and_lineage_and_keeps_what_failed(tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    lines = [dump_record(query("SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id", calls=2))]
    lines.append(dump_record(query("INSERT INTO report (n) SELECT count(*) FROM orders")))
    lines.append(dump_record(query("SELECT * FROM orders WHERE (")))
    lines.append(json.dumps({"kind": "query", "service": "shop", "dialect": "postgresql"}))  # no text
    queries.write_text("\n".join(lines) + "\n")
    workflow = tmp_path / "usage.yaml"
    workflow.write_text(
        json.dumps(
            {
                "source": {"type": "file", "config": {"path": "queries.jsonl", "format": "jsonl"}},
                "processors": [{"type": "query_parser"}],
                "stage": {"type": "table_usage"},
                "bulk_sink": {"type": "file", "config": {"path": "published.jsonl"}},
                "workflow": {"staging_root": "staging", "success_threshold": 50},
            }
        )
    )
    result = run_workflow(load_workflow(workflow), run_id="run1")
    by_component = {report.component: report for report in result.reports}
    assert by_component["source:file"].failure_count == 1
    assert by_component["processor:query_parser"].filtered == 1
    assert by_component["processor:query_parser"].warning_count == 1
    published = list(read_records(str(tmp_path / "published.jsonl")))
    assert [record.kind for record in published] == ["lineage", "table_usage", "table_usage", "table_usage"]
    counts = {record.table: record.count for record in published if isinstance(record, TableUsage)}
    assert counts == {T + "orders": 3, T + "customers": 2, T + "report": 1}
    assert result.success, result.error
    [letter] = read_dead_letters(result.dead_letter_uri)
    assert "text" in letter.error


def test_the_file_stage_keeps_every_query_even_of_the_same_text(context: RunContext) -> None:
    from airflow_provider_ingest.components.file import FileStage

    stage = FileStage.create({"path": "staged.jsonl"}, context)
    stage.prepare()
    try:
        for user in ("ana", "bob", "ana"):
            stage.stage(query("SELECT 1 FROM t", user=user))
        table = Table(service="s", database="d", database_schema="p", name="t")
        stage.stage(table)
        stage.stage(table)
        staged = list(read_records(stage.commit()))
    finally:
        stage.close()
    assert [(record.kind, getattr(record, "user", None)) for record in staged] == [
        ("table", None),
        ("query", "ana"),
        ("query", "bob"),
        ("query", "ana"),
    ]
    assert stage.report.counters == {"duplicates_dropped": 1}
