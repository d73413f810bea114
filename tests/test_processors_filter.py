"""The filter processor: records by kind and FQN, columns by pattern; dropped records are filtered, not failed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.processors.filter import FilterProcessor
from airflow_provider_ingest.records import (
    Column,
    ColumnLineageEdge,
    ConstraintType,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Lineage,
    Query,
    Record,
    Table,
    TableConstraint,
    TableUsage,
)
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

PARENTS: list[Record] = [
    DatabaseService(name="svc"),
    Database(service="svc", name="db"),
    DatabaseSchema(service="svc", database="db", name="sales"),
    DatabaseSchema(service="svc", database="db", name="staging"),
]


def table(schema: str, name: str, *columns: str) -> Table:
    return Table(
        service="svc",
        database="db",
        database_schema=schema,
        name=name,
        columns=[Column(name=column, data_type=DataType.VARCHAR) for column in columns],
    )


RECORDS: list[Record] = [
    *PARENTS,
    table("sales", "orders", "id"),
    table("sales", "orders_eu", "id"),
    table("staging", "orders", "id"),
    table("staging", "tmp_load", "id"),
]


def run_filter(config: dict, records: list[Record] = RECORDS) -> tuple[list[str], FilterProcessor]:
    context = RunContext(workflow_name="test", run_id="run", staging_root="/nonexistent")
    processor = FilterProcessor.create(config, context)
    kept = [processor.process(record) for record in records]
    return [record.fqn for record in kept if record is not None], processor  # type: ignore[union-attr]


def test_no_settings_keep_everything_unchanged() -> None:
    kept, processor = run_filter({})
    assert kept == [record.fqn for record in RECORDS]
    assert processor.report.counters == {}


def test_kinds_keep_only_the_kinds_named() -> None:
    kept, processor = run_filter({"kinds": ["database_schema", "table"]})
    assert kept == [r.fqn for r in RECORDS[2:]]
    assert processor.report.counters == {"filtered_database_service": 1, "filtered_database": 1}


def test_fqn_patterns_match_whole_table_fqns_by_default() -> None:
    kept, processor = run_filter({"fqn": {"include": [r"svc\.db\.sales\..*"], "exclude": [r".*\.orders_eu"]}})
    assert kept == [r.fqn for r in PARENTS] + ["svc.db.sales.orders"]
    assert processor.report.counters == {"filtered_table": 3}
    kept, _ = run_filter({"fqn": {"include": ["orders"]}})  # a whole-name pattern: no table FQN is just 'orders'
    assert kept == [r.fqn for r in PARENTS]
    kept, _ = run_filter({"fqn": {"include": [r".*\.ORDERS"], "ignore_case": True}})
    assert kept == [r.fqn for r in PARENTS] + ["svc.db.sales.orders", "svc.db.staging.orders"]


def test_fqn_patterns_on_other_kinds_drop_a_whole_schema() -> None:
    config = {"fqn": {"exclude": [r"svc\.db\.staging(\..*)?"]}, "fqn_kinds": ["database_schema", "table"]}
    kept, processor = run_filter(config)
    assert kept == ["svc", "svc.db", "svc.db.sales", "svc.db.sales.orders", "svc.db.sales.orders_eu"]
    assert processor.report.counters == {"filtered_database_schema": 1, "filtered_table": 2}


def test_columns_are_dropped_by_pattern_with_the_constraints_naming_them() -> None:
    customers = table("sales", "customers", "id", "email", "ssn", "note.internal")
    customers.constraints = [
        TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=["id"]),
        TableConstraint(constraint_type=ConstraintType.UNIQUE, columns=["id", "ssn"]),
    ]
    other = table("staging", "x", "ssn")
    config = {"columns": {"exclude": [r"svc\.db\.sales\.customers\.ssn", r'.*\."note\.internal"']}}
    context = RunContext(workflow_name="test", run_id="run", staging_root="/nonexistent")
    processor = FilterProcessor.create(config, context)
    result = processor.process(customers)
    assert [c.name for c in result.columns] == ["id", "email"]
    assert [c.columns for c in result.constraints] == [["id"]]
    assert processor.process(other) is other
    assert processor.report.counters == {"columns_dropped": 2, "constraints_dropped": 1}
    kept = FilterProcessor.create({"columns": {"include": [".*id"]}}, context).process(customers)
    assert [c.name for c in kept.columns] == ["id"]
    assert [c.name for c in customers.columns] == ["id", "email", "ssn", "note.internal"]  # the input is unchanged


def test_foreign_keys_to_a_dropped_column_of_another_table_go_too() -> None:
    orders = table("sales", "orders", "id", "customer_ssn", "customer_id")
    orders.constraints = [
        TableConstraint(
            constraint_type=ConstraintType.FOREIGN_KEY,
            columns=["customer_ssn"],
            referred_table="svc.db.sales.customers",
            referred_columns=["ssn"],
        ),
        TableConstraint(
            constraint_type=ConstraintType.FOREIGN_KEY,
            columns=["customer_id"],
            referred_table="svc.db.sales.customers",
            referred_columns=["id"],
        ),
    ]
    context = RunContext(workflow_name="test", run_id="run", staging_root="/nonexistent")
    processor = FilterProcessor.create({"columns": {"exclude": [r"svc\.db\.sales\.customers\.ssn"]}}, context)
    result = processor.process(orders)
    assert [c.name for c in result.columns] == ["id", "customer_ssn", "customer_id"]
    assert [(c.columns, c.referred_columns) for c in result.constraints] == [(["customer_id"], ["id"])]
    assert processor.report.counters == {"constraints_dropped": 1}


def edge(to_column: str, *from_columns: str) -> ColumnLineageEdge:
    return ColumnLineageEdge(to_column=to_column, from_columns=list(from_columns))


VIEW_LINEAGE = [
    Lineage(
        from_table="svc.db.sales.orders",
        to_table="svc.db.sales.order_view",
        columns=[
            edge("svc.db.sales.order_view.id", "svc.db.sales.orders.id"),
            edge("svc.db.sales.order_view.ssn", "svc.db.sales.orders.ssn"),
            edge("svc.db.sales.order_view.total", "svc.db.sales.orders.amount", "svc.db.sales.orders.ssn"),
        ],
        source="view",
    ),
    Lineage(from_table="svc.db.staging.tmp_load", to_table="svc.db.sales.orders"),
    Lineage(from_table="svc.db.sales.orders_eu", to_table="svc.db.staging.tmp_load"),
]
USAGE: list[Record] = [
    Query(service="svc", dialect="postgresql", text="SELECT 1 FROM sales.orders"),
    TableUsage(table="svc.db.staging.tmp_load", date=date(2024, 5, 1), count=3),
]


def test_a_lineage_record_is_kept_when_the_patterns_keep_both_of_its_tables() -> None:
    kept, processor = run_filter({"fqn": {"exclude": [r".*\.tmp_.*"]}}, [*RECORDS, *VIEW_LINEAGE, *USAGE])
    assert kept == [r.fqn for r in RECORDS if "tmp_" not in r.fqn] + [VIEW_LINEAGE[0].fqn] + [r.fqn for r in USAGE]
    assert processor.report.counters == {"filtered_table": 1, "filtered_lineage": 2}
    kept, _ = run_filter({"fqn": {"include": [r".*\.orders.*"]}}, VIEW_LINEAGE)  # order_view is not kept
    assert kept == []


def test_lineage_left_out_of_fqn_kinds_passes_the_fqn_patterns() -> None:
    config = {"fqn": {"exclude": [r".*\.tmp_.*"]}, "fqn_kinds": ["table"]}
    kept, processor = run_filter(config, VIEW_LINEAGE)
    assert kept == [r.fqn for r in VIEW_LINEAGE]
    assert processor.report.counters == {}
    kept, processor = run_filter({"kinds": ["table"]}, [*RECORDS, *VIEW_LINEAGE, *USAGE])
    assert kept == [r.fqn for r in RECORDS[4:]]
    assert processor.report.counters == {
        "filtered_database_service": 1,
        "filtered_database": 1,
        "filtered_database_schema": 2,
        "filtered_lineage": 3,
        "filtered_query": 1,
        "filtered_table_usage": 1,
    }


def test_column_patterns_drop_column_lineage_edges_and_refused_source_columns() -> None:
    context = RunContext(workflow_name="test", run_id="run", staging_root="/nonexistent")
    processor = FilterProcessor.create({"columns": {"exclude": [r".*\.ssn"]}}, context)
    view = processor.process(VIEW_LINEAGE[0])
    assert [(e.to_column, e.from_columns) for e in view.columns] == [
        ("svc.db.sales.order_view.id", ["svc.db.sales.orders.id"]),
        ("svc.db.sales.order_view.total", ["svc.db.sales.orders.amount"]),
    ]
    assert (view.from_table, view.to_table, view.source) == ("svc.db.sales.orders", "svc.db.sales.order_view", "view")
    assert processor.report.counters == {"column_lineage_dropped": 1}
    assert processor.process(VIEW_LINEAGE[1]) is VIEW_LINEAGE[1]  # no column lineage: nothing to drop
    only_amount = FilterProcessor.create({"columns": {"exclude": [r".*\.orders\.ssn"]}}, context)
    trimmed = only_amount.process(VIEW_LINEAGE[0])
    assert [len(e.from_columns) for e in trimmed.columns] == [1, 1]  # the edge stays, with its kept source
    assert only_amount.report.counters == {"column_lineage_dropped": 1}
    assert len(VIEW_LINEAGE[0].columns[2].from_columns) == 2  # the input is unchanged
    untouched = FilterProcessor.create({"columns": {"exclude": [r".*\.email"]}}, context)
    assert untouched.process(VIEW_LINEAGE[0]) is VIEW_LINEAGE[0]


def test_in_a_serial_run_dropped_records_are_filtered_never_failed(tmp_path: Path) -> None:
    from airflow_provider_ingest.samples import build_shop

    build_shop(tmp_path / "shop.sqlite")
    (tmp_path / "w.yaml").write_text(
        """
source: {type: sql, config: {url: "sqlite:///shop.sqlite", service_name: shop}}
processors:
  - type: filter
    config:
      fqn: {exclude: ['.*\\.(products|order_items)']}
      columns: {exclude: ['.*\\.customers\\.(national_id|birth_date)']}
sink: {type: file, config: {path: out.jsonl}}
workflow: {staging_root: staging}
"""
    )
    result = run_workflow(load_workflow(tmp_path / "w.yaml"))
    assert result.success, result.error
    _, processor, sink = (report.summary() for report in result.reports)
    assert (processor["records"], processor["filtered"], processor["failures"]) == (12, 2, 0)
    assert processor["counters"] == {"filtered_table": 2, "columns_dropped": 2}
    assert sink["records"] == 10
    records = list(read_records(str(tmp_path / "out.jsonl")))
    assert [r.name for r in records[3:]] == [
        "customer_order_summary",
        "customer_segments",
        "customers",
        "daily_revenue",
        "daily_sales",
        "orders",
        "payments",
    ]
    [customers] = [r for r in records if r.name == "customers"]
    assert "national_id" not in [c.name for c in customers.columns]


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ("{kinds: [view]}", "processors.0.config.kinds.0", "Input should be"),
        ("{fqn: {include: ['(']}}", "processors.0.config.fqn.include", "invalid regular expression"),
        ("{columns: {exclude: x}}", "processors.0.config.columns.exclude", "valid list"),
        ("{fqn_kind: [table]}", "processors.0.config.fqn_kind", "did you mean 'fqn_kinds'?"),
    ],
)
def test_bad_filter_settings_are_workflow_file_errors(tmp_path: Path, config: str, field: str, message: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "source: {type: sql, config: {sample: shop}}\nsink: {type: console}\n"
        f"processors: [{{type: filter, config: {config}}}]\n"
    )
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    assert [problem.field for problem in raised.value.problems] == [field]
    assert message in raised.value.problems[0].message
