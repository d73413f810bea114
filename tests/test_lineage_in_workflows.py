"""Lineage, query and usage records through the catalog's workflow paths: processors, console, file sink, stage
and bulk sink, serially and as a generated DAG under ``dag.test()``."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from support.dags import run_dag, task_states, xcoms

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.components.console import ConsoleSink
from airflow_provider_ingest.components.file import FileStage
from airflow_provider_ingest.processors.enrich import EnrichProcessor
from airflow_provider_ingest.processors.pii import PiiProcessor
from airflow_provider_ingest.records import (
    CATALOG_KINDS,
    Column,
    ColumnLineageEdge,
    DataType,
    FrequentQuery,
    Lineage,
    Query,
    QueryAnalysis,
    Record,
    Table,
    TableUsage,
    dump_record,
)
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.samples import build_shop
from airflow_provider_ingest.staging import StagedFileReader, read_records
from airflow_provider_ingest.workflow.loader import load_workflow

LINEAGE = Lineage(
    from_table="svc.db.crm.customers",
    to_table="svc.db.crm.customer_emails",
    columns=[
        ColumnLineageEdge(to_column="svc.db.crm.customer_emails.email", from_columns=["svc.db.crm.customers.email"])
    ],
    source="view",
    sql="SELECT email FROM crm.customers",
)
QUERY = Query(
    service="svc",
    dialect="postgresql",
    text="SELECT email FROM crm.customers WHERE id = 42",
    user="alice",
    start_time=datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
    calls=7,
    analysis=QueryAnalysis(query_type="select", source_tables=["svc.db.crm.customers"]),
)
USAGE = TableUsage(
    table="svc.db.crm.customers",
    date=date(2024, 5, 1),
    count=7,
    users=["alice"],
    queries=[FrequentQuery(text="SELECT email FROM crm.customers WHERE id = $1", count=7, users=["alice"])],
)
NOT_CATALOG: list[Record] = [LINEAGE, QUERY, USAGE]


def context(tmp_path: Path) -> RunContext:
    return RunContext(workflow_name="t", run_id="r", staging_root=str(tmp_path / "staging"), base_dir=tmp_path)


@pytest.mark.parametrize(
    ("processor", "config"),
    [
        (EnrichProcessor, {"rules": [{"fqn": ".*", "description": "Everything.", "tags": ["Tier.Tier1"]}]}),
        (EnrichProcessor, {"rules": [{"column": ".*", "description": "Every column."}]}),
        (PiiProcessor, {}),
    ],
)
def test_enrich_and_pii_pass_lineage_queries_and_usage_through_unchanged(
    tmp_path: Path, processor: type, config: dict
) -> None:
    component = processor.create(config, context(tmp_path))
    component.prepare()
    table = Table(
        service="svc",
        database="db",
        database_schema="crm",
        name="customers",
        columns=[Column(name="email", data_type=DataType.VARCHAR)],
    )
    assert component.process(table) != table  # the rules do change a table
    dumped = [dump_record(record) for record in NOT_CATALOG]
    assert all(component.process(record) is record for record in NOT_CATALOG)
    assert [dump_record(record) for record in NOT_CATALOG] == dumped
    assert component.report.failure_count == 0


def test_the_console_prints_a_line_for_lineage_queries_and_usage_without_query_text(tmp_path: Path) -> None:
    sink = ConsoleSink.create({}, context(tmp_path))
    sink.stream = io.StringIO()
    for record in NOT_CATALOG:
        sink.write(record)
    assert sink.stream.getvalue().splitlines() == [
        "lineage          svc.db.crm.customers -> svc.db.crm.customer_emails  [view, 1 column edge]",
        f"query            {QUERY.fqn}  [7 calls, select]",
        "table_usage      svc.db.crm.customers@2024-05-01  [7 queries, 1 user]",
    ]


def test_the_file_stage_keeps_one_record_per_kind_and_fqn_usage_after_the_catalog(tmp_path: Path) -> None:
    stage = FileStage.create({"path": str(tmp_path / "staged.jsonl")}, context(tmp_path))
    stage.prepare()
    older = LINEAGE.model_copy(update={"columns": []})
    try:
        for record in [USAGE, QUERY, older, LINEAGE]:
            stage.stage(record)
        table = Table(service="svc", database="db", database_schema="crm", name="customers")
        stage.stage(table)
        uri = stage.commit()
    finally:
        stage.close()
    assert list(read_records(uri)) == [table, LINEAGE, QUERY, USAGE]  # the later lineage of a pair wins
    assert stage.report.counters == {"lineage_merged": 1}
    reader = StagedFileReader(uri)
    reader.verify()
    assert reader.header is not None and reader.header["kinds"] == ["lineage", "query", "table", "table_usage"]


def edge(to_column: str, *sources: str) -> ColumnLineageEdge:
    return ColumnLineageEdge(to_column=f"svc.db.crm.customer_emails.{to_column}", from_columns=list(sources))


@pytest.mark.parametrize("swapped", [False, True])
def test_the_file_stage_merges_the_column_edges_of_one_lineage_edge_in_any_order(tmp_path: Path, swapped: bool) -> None:
    """Two queries writing one table give two records of one edge: every column edge of both is kept (the last
    record's other fields), and the order they came in does not show."""
    first = LINEAGE.model_copy(
        update={"columns": [edge("email", "svc.db.crm.customers.email"), edge("id", "svc.db.crm.customers.id")]}
    )
    second = LINEAGE.model_copy(
        update={
            "columns": [edge("email", "svc.db.crm.customers.alt_email"), edge("name", "svc.db.crm.customers.name")],
            "source": "query",
            "sql": "INSERT INTO crm.customer_emails SELECT alt_email, name FROM crm.customers",
        }
    )
    other = Lineage(from_table="svc.db.crm.a", to_table="svc.db.crm.b")
    stage = FileStage.create({"path": str(tmp_path / "staged.jsonl")}, context(tmp_path))
    stage.prepare()
    try:
        for record in [second, other, first] if swapped else [first, other, second]:
            stage.stage(record)
        uri = stage.commit()
    finally:
        stage.close()
    kept, merged = read_records(uri)  # by their tables: svc.db.crm.a first
    assert kept == other
    assert merged.columns == [
        edge("email", "svc.db.crm.customers.alt_email", "svc.db.crm.customers.email"),
        edge("id", "svc.db.crm.customers.id"),
        edge("name", "svc.db.crm.customers.name"),
    ]
    assert (merged.source, merged.sql) == ((first.source, first.sql) if swapped else (second.source, second.sql))
    assert stage.report.counters == {"lineage_merged": 1}


WORKFLOW = """\
source:
  type: sql
  config: {{url: "sqlite:///{shop}", service_name: shop, include_view_lineage: true}}
processors:
  - type: filter
    config:
      fqn: {{exclude: ['.*\\.orders']}}
      columns: {{exclude: ['.*\\.email']}}
  - type: pii
  - type: enrich
    config:
      rules: [{{fqn: '.*', description: Described., tags: [Tier.Tier2]}}]
sink:
  type: file
  config: {{path: "{output}"}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: "{published}"}}
workflow: {{staging_root: "{staging}"}}
airflow: {{dag_id: {dag_id}, retries: 0}}
"""
SUMMARY, REVENUE = "shop.shop.main.customer_order_summary", "shop.shop.main.daily_revenue"
EXPECTED_LINEAGE = [
    (
        "shop.shop.main.customers",
        SUMMARY,
        [(f"{SUMMARY}.customer_id", ["shop.shop.main.customers.customer_id"])],  # email's edge filtered out
    ),
    (
        "shop.shop.main.payments",
        REVENUE,
        [
            (f"{REVENUE}.day", ["shop.shop.main.payments.paid_at"]),
            (f"{REVENUE}.revenue", ["shop.shop.main.payments.amount"]),
        ],
    ),
]
"""The sample shop's view lineage after the filter: orders -> customer_order_summary goes with the orders table."""


def lineage_of(uri: str | Path) -> list[tuple]:
    records = list(read_records(str(uri)))
    kinds = [record.kind for record in records]
    assert set(kinds[: kinds.index("lineage")]) <= set(CATALOG_KINDS)
    assert set(kinds[kinds.index("lineage") :]) == {"lineage"}
    return [
        (r.from_table, r.to_table, [(e.to_column, e.from_columns) for e in r.columns])
        for r in records
        if isinstance(r, Lineage)
    ]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    build_shop(path)
    return path


def test_a_serial_run_carries_view_lineage_through_sink_stage_and_bulk_sink(tmp_path: Path, shop: Path) -> None:
    output, published = tmp_path / "out" / "catalog.jsonl", tmp_path / "out" / "published.jsonl"
    (tmp_path / "w.yaml").write_text(
        WORKFLOW.format(shop=shop, output=output, published=published, staging=tmp_path / "staging", dag_id="w")
    )
    result = run_workflow(load_workflow(tmp_path / "w.yaml"))
    assert result.success, result.error
    source, filter_, _, enrich, sink, stage, bulk = (report.summary() for report in result.reports)
    assert (source["records"], source["counters"]) == (15, {"lineage_records": 3})
    assert filter_["counters"] == {
        "filtered_table": 1,
        "filtered_lineage": 1,
        "columns_dropped": 2,
        "constraints_dropped": 1,
        "column_lineage_dropped": 1,
    }
    assert enrich["counters"]["descriptions_set"] == 3  # the service, database and schema: no lineage record
    assert (sink["records"], stage["records"], bulk["records"]) == (13, 13, 13)
    for uri in (output, result.staged_uri, published):
        assert lineage_of(uri) == EXPECTED_LINEAGE


@pytest.mark.airflow
def test_a_generated_dag_carries_view_lineage_to_the_published_file(
    dags_folder: Path, tmp_path: Path, shop: Path
) -> None:
    dag_id = "view_lineage_chain"
    output, published = tmp_path / "out" / "catalog.jsonl", tmp_path / "out" / "published.jsonl"
    (dags_folder / "lineage.yaml").write_text(
        WORKFLOW.format(shop=shop, output=output, published=published, staging=tmp_path / "staging", dag_id=dag_id)
    )
    dag_run = run_dag(dags_folder, dag_id)
    assert task_states(dag_run) == dict.fromkeys(
        ["source", "filter", "pii", "enrich", "sink", "stage", "bulk_sink", "cleanup_staging"], "success"
    )
    results = xcoms(dag_run)
    assert results["source"]["summary"]["counters"] == {"lineage_records": 3}
    assert {task: results[task]["records"] for task in ("source", "filter", "sink", "stage", "bulk_sink")} == {
        "source": 15,
        "filter": 15,
        "sink": 13,
        "stage": 13,
        "bulk_sink": 13,
    }
    for task in ("filter", "pii", "enrich", "stage"):
        assert lineage_of(results[task]["uri"]) == EXPECTED_LINEAGE
    assert lineage_of(output) == EXPECTED_LINEAGE
    assert lineage_of(published) == EXPECTED_LINEAGE


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_the_sample_shops_view_lineage_is_accepted_by_the_strict_openmetadata_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    from om_server import TOKEN, serve
    from support.sql import extract
    from test_openmetadata_bulk import letters, om_report, run

    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    records, _ = extract({"sample": "shop", "include_view_lineage": True}, tmp_path)
    with serve() as server:
        result = run(tmp_path / step, server, records, step)
    report = om_report(result)
    assert result.success and report.failure_count == 0, letters(result)
    assert report.records == len(records) == 15
    assert report.counters["lineage_published"] == 3


def test_the_file_stage_tells_lineage_edges_apart_by_their_tables_not_their_fqn(tmp_path: Path) -> None:
    """A lineage record's FQN is ``from -> to``; a table's name may hold `` -> ``, so two edges can share it: both
    are staged, neither counted a duplicate."""
    stage = FileStage.create({"path": str(tmp_path / "staged.jsonl")}, context(tmp_path))
    stage.prepare()
    edges = [
        Lineage(from_table="s.d.x.t1 -> t2", to_table="s.d.x.t3"),
        Lineage(from_table="s.d.x.t1", to_table="t2 -> s.d.x.t3"),
    ]
    assert edges[0].fqn == edges[1].fqn
    try:
        for edge in edges:
            stage.stage(edge)
        uri = stage.commit()
    finally:
        stage.close()
    assert sorted(list(read_records(uri)), key=lambda edge: edge.from_table) == [edges[1], edges[0]]
    assert stage.report.counters == {}
