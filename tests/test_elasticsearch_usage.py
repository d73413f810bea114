"""Usage and lineage in the Elasticsearch table documents, through the sink and the bulk sink.

Every test taking ``cluster`` runs against the wire-protocol test server (which runs the exact painless
scripts the sinks store, and refuses any other) and against the cluster ``INGEST_TEST_ES_URL`` names,
skipped with the reason when unset. ``via`` runs a test through the bulk sink and the per-record sink: one
code path, the same documents.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_elasticsearch import Cluster, _fake, catalog, cluster_fixtures, run_bulk, run_sink, staged

from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink, PublishRefused
from airflow_provider_ingest.elasticsearch.mappings import SETTINGS, mappings
from airflow_provider_ingest.elasticsearch.usage import TOP_JOINED, percentile_ranks
from airflow_provider_ingest.records import (
    Column,
    ColumnLineageEdge,
    JoinedTable,
    Lineage,
    Query,
    Table,
    TableUsage,
    dump_record,
)
from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.staging import StagedFileWriter

DOCS = Path(__file__).parents[1] / "docs" / "elasticsearch.md"
T = "shop.db.public.t"
"""Table FQNs of ``catalog()``: ``shop.db.public.t0``..."""


cluster, fake = cluster_fixtures(
    "needs the test server: checks its own answers, or injects faults or refusals on demand"
)


@pytest.fixture(params=["bulk_sink", "sink"])
def via(request: pytest.FixtureRequest) -> str:
    """Which component publishes: the bulk sink (a staged file) or the sink (record by record)."""
    return str(request.param)


def publish(cluster: Cluster, tmp_path: Path, records: list[Any], via: str = "bulk_sink", **settings: Any) -> Any:
    """One run publishing ``records``; the component, for its report."""
    return (run_bulk if via == "bulk_sink" else run_sink)(cluster, tmp_path, records, **settings)


def used(table: int | str, day: str, count: int, users: tuple[str, ...] = (), joined: dict[str, int] | None = None):
    """A ``table_usage`` record of ``t<table>`` (or a full FQN) on ``day``."""
    fqn = table if isinstance(table, str) else f"{T}{table}"
    joins = [JoinedTable(table=other, count=n) for other, n in (joined or {}).items()]
    return TableUsage(table=fqn, date=day, count=count, users=sorted(users), joined_tables=joins)


def edge(source: int | str, target: int | str, columns: dict[str, list[str]] | None = None) -> Lineage:
    """A ``lineage`` record from ``t<source>`` to ``t<target>`` with column edges ``{to: [from...]}``."""
    names = [s if isinstance(s, str) else f"{T}{s}" for s in (source, target)]
    edges = [
        ColumnLineageEdge(to_column=f"{names[1]}.{to}", from_columns=[f"{names[0]}.{f}" for f in sources])
        for to, sources in (columns or {}).items()
    ]
    return Lineage(from_table=names[0], to_table=names[1], columns=edges, source="view")


def doc(cluster: Cluster, table: int | str) -> dict[str, Any]:
    fqn = table if isinstance(table, str) else f"{T}{table}"
    return dict(cluster.client.get(index=f"{cluster.prefix}-tables", id=fqn)["_source"])


def day(n: int) -> str:
    """Day ``n`` of a run of days starting 2024-05-01."""
    return (datetime.date(2024, 5, 1) + datetime.timedelta(days=n - 1)).isoformat()


def test_usage_fields_after_publishing(cluster: Cluster, tmp_path: Path, via: str) -> None:
    publish(cluster, tmp_path, catalog(4))
    before = doc(cluster, 0)
    records = [
        used(0, day(1), 10, ("alice", "bob"), {f"{T}1": 4, f"{T}2": 1}),
        used(0, day(2), 5, ("bob", "carol"), {f"{T}1": 2, f"{T}3": 3}),
        used(1, day(2), 6, ("alice",), {f"{T}0": 6}),
        used(2, day(2), 1),
    ]
    component = publish(cluster, tmp_path, records, via)
    assert component.report.failure_count == 0 and component.report.records == 4
    assert component.report.counters["usage_tables_ranked"] == 3
    usage = doc(cluster, 0)["usage"]
    assert usage["count_30d"] == 15 and usage["users_30d"] == 3 and usage["users"] == ["alice", "bob", "carol"]
    assert usage["frequently_joined"] == [
        {"table": f"{T}1", "count": 6},
        {"table": f"{T}3", "count": 3},
        {"table": f"{T}2", "count": 1},
    ]
    assert usage["last_day"] == day(2) and usage["window_end"] == day(2)
    assert [entry["date"] for entry in usage["daily"]] == [day(1), day(2)]
    assert {table: doc(cluster, table)["usage"]["percentile_rank"] for table in range(3)} == {0: 100, 1: 50, 2: 0}
    assert "usage" not in doc(cluster, 3)  # no usage: no field, and its catalog fields as they were
    after = doc(cluster, 0)
    assert {key: after[key] for key in before} == before  # catalog fields untouched


def test_percentile_rank_on_a_known_distribution(cluster: Cluster, tmp_path: Path) -> None:
    """The percentage of the service's other tables in the publish with a lower count_30d, a tie counting half."""
    publish(cluster, tmp_path, catalog(6) + catalog(2, service="crm"))
    counts = [1, 2, 2, 5, 9]  # t5 has no usage: not ranked
    records = [used(i, day(1), count) for i, count in enumerate(counts)]
    records += [used("crm.db.public.t0", day(1), 1000), used("crm.db.public.t1", day(1), 1)]
    publish(cluster, tmp_path, records)
    ranks = [doc(cluster, i)["usage"]["percentile_rank"] for i in range(5)]
    assert ranks == [0, 37.5, 37.5, 75, 100]  # of the 4 others, lower: 0, 1 and a tie, 1 and a tie, 3, 4
    assert "percentile_rank" not in doc(cluster, 5).get("usage", {})
    crm = [doc(cluster, f"crm.db.public.t{i}")["usage"]["percentile_rank"] for i in range(2)]
    assert crm == [100, 0]  # ranked within its own service only


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 20), min_size=1, max_size=30))
def test_percentile_ranks_follow_their_definition(counts: dict[str, int]) -> None:
    ranks = percentile_ranks(counts)
    others = len(counts) - 1
    for table, count in counts.items():
        lower = sum(1 for other in counts.values() if other < count)
        ties = sum(1 for other in counts.values() if other == count) - 1
        assert ranks[table] == (100.0 if not others else round(100 * (lower + ties / 2) / others, 2))
        assert 0 <= ranks[table] <= 100
        assert all(ranks[other] < ranks[table] for other, c in counts.items() if c < count)
    if len(set(counts.values())) == len(counts) > 1:  # no ties: the busiest 100, the quietest 0
        assert max(ranks.values()) == 100 and min(ranks.values()) == 0


def test_a_rerun_does_not_double_count(cluster: Cluster, tmp_path: Path, via: str) -> None:
    publish(cluster, tmp_path, catalog(2))
    records = [used(0, day(1), 7, ("alice",)), used(0, day(2), 3, ("bob",)), used(1, day(2), 4)]
    publish(cluster, tmp_path, records, via)
    first = doc(cluster, 0)["usage"]
    publish(cluster, tmp_path, records, via)  # the same data again
    again = doc(cluster, 0)["usage"]
    assert again["count_30d"] == first["count_30d"] == 10 and len(again["daily"]) == 2
    assert again | {"updated_at": None} == first | {"updated_at": None}
    publish(cluster, tmp_path, [used(0, day(2), 5, ("bob", "dave"))], via)  # day 2 again, recounted: it replaces
    usage = doc(cluster, 0)["usage"]
    assert usage["count_30d"] == 12 and usage["users"] == ["alice", "bob", "dave"]
    assert usage["percentile_rank"] == 100  # alone in that publish
    assert doc(cluster, 1)["usage"]["percentile_rank"] == 0  # from the second publish, untouched by the third


def test_the_window_ends_at_the_newest_day_published(cluster: Cluster, tmp_path: Path) -> None:
    publish(cluster, tmp_path, catalog(3))
    publish(cluster, tmp_path, [used(0, day(d), 1) for d in range(1, 11)] + [used(1, day(5), 50)])
    assert doc(cluster, 0)["usage"]["count_30d"] == 10 and doc(cluster, 1)["usage"]["window_end"] == day(10)
    # 35 days later: the window is days 16..45; t0's days 1..10 leave it, t1 published only day 20
    publish(cluster, tmp_path, [used(0, day(45), 2), used(1, day(20), 3), used(2, day(10), 9)])
    t0, t1, t2 = (doc(cluster, i)["usage"] for i in range(3))
    assert (t0["count_30d"], [d["date"] for d in t0["daily"]], t0["window_end"]) == (2, [day(45)], day(45))
    assert (t1["count_30d"], [d["date"] for d in t1["daily"]], t1["window_end"]) == (3, [day(20)], day(45))
    assert (t2["count_30d"], t2["daily"], t2["last_day"], t2["window_end"]) == (0, [], day(10), day(45))
    assert [u["percentile_rank"] for u in (t0, t1, t2)] == [50, 100, 0]
    publish(cluster, tmp_path, [used(1, day(2), 100)])  # a late day before the window: kept out of it
    assert doc(cluster, 1)["usage"]["count_30d"] == 3 and doc(cluster, 1)["usage"]["window_end"] == day(45)


def test_frequently_joined_keeps_the_top_tables(cluster: Cluster, tmp_path: Path) -> None:
    publish(cluster, tmp_path, catalog(1))
    joined = {f"{T}{i + 1}": i + 1 for i in range(TOP_JOINED + 5)}
    publish(cluster, tmp_path, [used(0, day(1), 1, joined=joined), used(0, day(2), 1, joined={f"{T}1": 100})])
    top = doc(cluster, 0)["usage"]["frequently_joined"]
    expected = sorted(({"table": t, "count": n + (100 if t == f"{T}1" else 0)} for t, n in joined.items()),
                      key=lambda pair: (-pair["count"], pair["table"]))[:TOP_JOINED]  # fmt: skip
    assert top == expected and top[0] == {"table": f"{T}1", "count": 101}


def test_a_table_without_a_document_fails_its_records(cluster: Cluster, tmp_path: Path, via: str) -> None:
    publish(cluster, tmp_path, catalog(2))
    records = [used(0, day(1), 3), used(9, day(1), 4), edge(0, 1), edge(0, 8), edge(7, 8)]
    component = publish(cluster, tmp_path, records, via)
    assert component.report.records == 2 and component.report.failure_count == 3
    letters = {letter.fqn: letter for letter in cluster.letters}
    assert sorted(letters) == [f"{T}0 -> {T}8", f"{T}7 -> {T}8", f"{T}9@{day(1)}"]
    missing = letters[f"{T}9@{day(1)}"]
    assert missing.error.startswith(f"table {T}9: not indexed: publish the catalog first (HTTP 404: ")
    assert "document_missing_exception" in missing.error and missing.record["count"] == 4
    assert letters[f"{T}7 -> {T}8"].record["kind"] == "lineage"  # both ends missing: failed once
    assert cluster.count() == 2  # nothing upserted, no half-documents
    assert doc(cluster, 0)["lineage"]["downstream"] == [f"{T}1", f"{T}8"]  # the edge's present end holds it
    assert doc(cluster, 0)["usage"]["percentile_rank"] == 100  # t9 failed: not ranked with t0


def test_lineage_from_several_runs_merges(cluster: Cluster, tmp_path: Path, via: str) -> None:
    publish(cluster, tmp_path, catalog(5))
    first = [edge(0, 2, {"total": ["total"], "id": ["id"]}), edge(1, 2, {"total": ["customer_id"]})]
    publish(cluster, tmp_path, first, via)
    second = [edge(3, 2, {"total": ["total"]}), edge(0, 2, {"total": ["id"]}), edge(4, 4)]
    publish(cluster, tmp_path, second, via)
    target = doc(cluster, 2)["lineage"]
    assert target["upstream"] == [f"{T}0", f"{T}1", f"{T}3"] and target["downstream"] == []
    assert target["columns"] == [
        {"to_column": f"{T}2.id", "from_columns": [f"{T}0.id"]},
        {"to_column": f"{T}2.total", "from_columns": [f"{T}0.id", f"{T}0.total", f"{T}1.customer_id", f"{T}3.total"]},
    ]
    assert [doc(cluster, i)["lineage"]["downstream"] for i in (0, 1, 3)] == [[f"{T}2"]] * 3
    assert doc(cluster, 4)["lineage"] | {"updated_at": None} == {
        "upstream": [f"{T}4"], "downstream": [f"{T}4"], "columns": [], "updated_at": None,
    }  # fmt: skip
    before = {i: doc(cluster, i) for i in range(5)}
    again = publish(cluster, tmp_path, first + second, via)  # a rerun: nothing new
    assert again.report.records == 5 and again.report.failure_count == 0
    assert {i: doc(cluster, i) for i in range(5)} == before  # noops: not even updated_at moved


def test_republishing_the_catalog_keeps_usage_and_lineage(cluster: Cluster, tmp_path: Path, via: str) -> None:
    publish(cluster, tmp_path, catalog(4))
    publish(cluster, tmp_path, [used(0, day(1), 5), used(1, day(1), 2), edge(0, 1)])
    kept = {i: {k: doc(cluster, i).get(k) for k in ("usage", "lineage")} for i in range(2)}
    renamed = [Table(**{**t.model_dump(), "description": "new"}) if t.kind == "table" else t for t in catalog(4)]
    publish(cluster, tmp_path, renamed, via)  # upserts: catalog fields replaced, usage and lineage merged around
    assert {i: {k: doc(cluster, i).get(k) for k in ("usage", "lineage")} for i in range(2)} == kept
    assert doc(cluster, 0)["description"] == "new"
    sink = run_bulk(cluster, tmp_path, catalog(3), mode="replace", max_shrink=0.5)  # t3 leaves the catalog
    assert {i: {k: doc(cluster, i).get(k) for k in ("usage", "lineage")} for i in range(2)} == kept
    assert doc(cluster, 0)["description"] is None and cluster.count() == 3
    assert sink.report.failure_count == 0 and "carried_over_dropped" not in sink.report.counters


def test_replace_carries_over_then_applies_the_file(cluster: Cluster, tmp_path: Path) -> None:
    run_bulk(cluster, tmp_path, [*catalog(3), used(0, day(1), 5), edge(0, 1)], mode="replace")
    # a view's lineage in the next catalog run, and t2 gone: carried over, merged, and counted dropped
    publish(cluster, tmp_path, [used(2, day(1), 1), edge(1, 2)])
    sink = run_bulk(cluster, tmp_path, [*catalog(2), edge(1, 0), used(0, day(1), 8)], mode="replace", max_shrink=0.5)
    assert sink.report.counters["carried_over_dropped"] == 1 and sink.report.failure_count == 0
    assert sink.report.records == 3 + 2 + 2
    t0, t1 = doc(cluster, 0), doc(cluster, 1)
    assert t0["lineage"]["upstream"] == [f"{T}1"] and t0["lineage"]["downstream"] == [f"{T}1"]
    assert t1["lineage"]["downstream"] == [f"{T}0", f"{T}2"]  # the dropped table's edge stays where it was
    assert t0["usage"]["count_30d"] == 8 and len(t0["usage"]["daily"]) == 1  # the file's day 1 replaced the old


def test_replace_applies_a_lineage_record_whose_kind_is_spelled_with_escapes(cluster: Cluster, tmp_path: Path) -> None:
    """``replace`` reads the file a second time for its usage and lineage, finding them by a quick look at each line:
    a record spelling its kind with JSON escapes is applied too, not counted in the first read and then dropped."""
    run_bulk(cluster, tmp_path, catalog(2), mode="replace")  # a live index: the file's lineage waits for the carry-over
    escaped = dump_record(edge(0, 1)).replace('"kind":"lineage"', '"\\u006bind":"lineage"', 1)
    assert '"kind"' not in escaped
    uri = str(tmp_path / "escaped.jsonl")
    kinds = {"database_service", "database", "database_schema", "table", "lineage"}
    with StagedFileWriter(uri, producer="another tool", kinds=kinds) as writer:
        for line in [*map(dump_record, catalog(2)), escaped]:
            writer.write_line(line)
    sink = ElasticsearchBulkSink.create(cluster.config(mode="replace"), cluster.context(tmp_path))
    sink.prepare()
    try:
        sink.publish(uri)
    finally:
        sink.close()
    assert (sink.report.records, sink.report.failure_count) == (6, 0)
    assert doc(cluster, 1)["lineage"]["upstream"] == [f"{T}0"]


def test_replace_refuses_on_failed_usage_records(cluster: Cluster, tmp_path: Path) -> None:
    run_bulk(cluster, tmp_path, catalog(2), mode="replace")
    before = cluster.physical()
    with pytest.raises(PublishRefused, match=r"records failed: 1 \(max_failures 0\)"):
        run_bulk(cluster, tmp_path, [*catalog(2), used(5, day(1), 1)], mode="replace")
    assert cluster.physical() == before


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_a_usage_record_of_a_table_fqn_too_long_for_an_id_fails_alone(
    cluster: Cluster, tmp_path: Path, mode: str
) -> None:
    """Failed with the reason and the record (in ``replace``, in its second read of the file); the others apply."""
    long = "shop.db.public." + "n" * 600
    run_bulk(cluster, tmp_path, catalog(1), mode="replace")  # a live table index: replace carries it over
    records = [*catalog(1), used(long, day(1), 3), used(0, day(1), 2)]
    sink = run_bulk(cluster, tmp_path, records, mode=mode, max_failures=1)
    assert (sink.report.records, sink.report.failure_count) == (5, 1)
    (letter,) = cluster.letters
    assert letter.error == "table FQN of 615 bytes is longer than a document id may be"
    assert letter.record["table"] == long and letter.fqn == f"{long}@{day(1)}"
    assert doc(cluster, 0)["usage"]["count_30d"] == 2


def test_replace_fails_a_usage_record_of_a_table_it_no_longer_holds_with_the_record(
    cluster: Cluster, tmp_path: Path
) -> None:
    """In ``replace``'s second read: the dead letter keeps the record; two tables gone are counted dropped."""
    run_bulk(cluster, tmp_path, [*catalog(3), used(1, day(1), 5), used(2, day(1), 6)], mode="replace")
    sink = run_bulk(cluster, tmp_path, [*catalog(1), used(2, day(2), 4)], mode="replace", max_shrink=1, max_failures=1)
    assert (sink.report.records, sink.report.failure_count) == (4, 1)
    assert sink.report.counters["carried_over_dropped"] == 2  # t1 and t2 had usage, and left the catalog
    (letter,) = cluster.letters
    assert letter.error.startswith(f"table {T}2: not indexed: publish the catalog first (HTTP 404: ")
    assert letter.record["count"] == 4 and letter.fqn == f"{T}2@{day(2)}"


def test_query_records_fail_with_the_reason(cluster: Cluster, tmp_path: Path, via: str) -> None:
    query = Query(service="shop", dialect="postgresql", text="select 1")
    component = publish(cluster, tmp_path, [query, *catalog(1)], via)  # the records after it go on
    assert component.report.failure_count == 1 and component.report.records == 4
    assert "query records are not indexed in Elasticsearch" in cluster.letters[0].error
    assert cluster.letters[0].record["text"] == "select 1" and cluster.count() == 1
    assert "table_usage stage" in cluster.letters[0].error


def test_an_index_from_the_first_template_gets_the_new_fields(cluster: Cluster, tmp_path: Path) -> None:
    """Indexes made before usage existed (template version 1) take usage after an upsert run adds the fields."""
    old = mappings("table")
    old["properties"] = {k: v for k, v in old["properties"].items() if k not in ("usage", "lineage")}
    alias = f"{cluster.prefix}-tables"
    cluster.client.indices.create(
        index=f"{alias}-00000000000000000001", settings=SETTINGS, mappings=old, aliases={alias: {}}
    )
    publish(cluster, tmp_path, [*catalog(1), used(0, day(1), 2), edge(0, 0)])
    assert doc(cluster, 0)["usage"]["count_30d"] == 2 and doc(cluster, 0)["lineage"]["upstream"] == [f"{T}0"]
    if cluster.fake:  # added once; later runs find the fields and ask for nothing
        publish(cluster, tmp_path, catalog(1))
        assert [path for method, path in cluster.fake.requests if path.endswith("/_mapping")] == [
            f"/{alias}/_mapping", f"/{alias}/_mapping", f"/{alias}/_mapping"
        ]  # fmt: skip
        assert [method for method, path in cluster.fake.requests if path.endswith("/_mapping")] == ["GET", "PUT", "GET"]


def _popularity_query() -> dict[str, Any]:
    """The query docs/elasticsearch.md shows for ranking tables by popularity."""
    section = DOCS.read_text().split("## Ranking tables by popularity", 1)[1]
    return dict(json.loads(re.search(r"```json\n(.*?)```", section, re.S)[1]))  # type: ignore[index]


def test_the_documented_query_ranks_tables_by_popularity(cluster: Cluster, tmp_path: Path) -> None:
    names = ["orders", "orders_archive", "order_items", "customer_orders", "orders_2023", "payments"]
    column = Column(name="id", data_type=DataType.INT)
    tables = [
        Table(name=n, service=s, database="db", database_schema="public", columns=[column])
        for s in ("shop", "crm")
        for n in names
    ]
    counts = {"orders": 40, "orders_archive": 2, "order_items": 90, "customer_orders": 15, "payments": 500}
    records = [used(f"{s}.db.public.{n}", day(1), c) for s in ("shop", "crm") for n, c in counts.items()]
    publish(cluster, tmp_path, [*catalog(0), *catalog(0, service="crm"), *tables, *records])
    cluster.client.indices.refresh(index=f"{cluster.prefix}-tables")
    found = cluster.client.search(index=f"{cluster.prefix}-tables", **_popularity_query())["hits"]["hits"]
    # "orders" as a word of the name, in shop only, most used first; orders_2023 has no usage: last
    assert [hit["_source"]["name"] for hit in found] == ["orders", "customer_orders", "orders_archive", "orders_2023"]
    assert [hit["sort"][0] for hit in found[:3]] == [40, 15, 2]
    top = cluster.client.search(
        index=f"{cluster.prefix}-tables",
        query={"bool": {"filter": [{"term": {"service": "shop"}}, {"range": {"usage.percentile_rank": {"gte": 75}}}]}},
        sort=[{"usage.percentile_rank": "desc"}],
    )["hits"]["hits"]
    assert [hit["_source"]["name"] for hit in top] == ["payments", "order_items"]  # ranks 100 and 75


def test_the_test_server_runs_only_the_scripts_it_implements(fake: Cluster, tmp_path: Path) -> None:
    from elasticsearch import BadRequestError

    with pytest.raises(BadRequestError, match="compile error: the test server runs only the scripts it implements"):
        fake.client.put_script(id="mine", script={"lang": "painless", "source": "ctx._source.x = 1"})
    run_bulk(fake, tmp_path, catalog(1))
    answer = fake.client.bulk(
        operations=[
            {"update": {"_index": "catalog-tables", "_id": f"{T}0"}},
            {"script": {"source": "ctx._source.usage = null", "lang": "painless"}},
            {"update": {"_index": "catalog-tables", "_id": f"{T}0"}},
            {"script": {"id": "ingest-usage-unknown", "params": {}}},
            {"update": {"_index": "catalog-tables", "_id": f"{T}5"}},
            {"doc": {"description": "x"}},
            {"update": {"_index": "catalog-tables", "_id": f"{T}0"}},
            {"doc": {"usage": {"count_30d": "many"}}},
        ]
    )
    errors = [(item["update"]["status"], item["update"]["error"]["type"]) for item in answer["items"]]
    assert errors == [
        (400, "script_exception"),
        (404, "resource_not_found_exception"),
        (404, "document_missing_exception"),
        (400, "document_parsing_exception"),
    ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(st.integers(1, 60), st.integers(1, 50), min_size=1, max_size=6),
        min_size=1,
        max_size=4,
    )
)
def test_count_30d_is_the_window_sum_of_the_latest_count_per_day(tmp_path: Path, runs: list[dict[int, int]]) -> None:
    """Whatever days each run publishes and republishes, count_30d sums the latest count of each day in the
    30 days up to the newest day ever published (a model kept apart from the sinks)."""
    cluster = next(fake_cluster := _fake())
    try:
        run_bulk(cluster, tmp_path, catalog(1))
        latest: dict[int, int] = {}
        for run in runs:
            run_bulk(cluster, tmp_path, [used(0, day(d), count) for d, count in run.items()])
            latest.update(run)
            end = max(latest)
            assert doc(cluster, 0)["usage"]["count_30d"] == sum(c for d, c in latest.items() if d > end - 30)
    finally:
        next(fake_cluster, None)


def test_memory_holds_tables_not_records(cluster: Cluster, tmp_path: Path) -> None:
    """Many days of few tables: the publisher keeps one entry per table, whatever the number of records."""
    publish(cluster, tmp_path, catalog(3))
    records = [used(i % 3, day(1 + i // 3), 1) for i in range(3 * 30)]
    sink = ElasticsearchBulkSink.create(cluster.config(), cluster.context(tmp_path))
    sink.prepare()
    try:
        sink.publish(staged(tmp_path, records))
    finally:
        sink.close()
    assert sink.report.records == 90 and len(sink.usage._tables) == 3  # type: ignore[attr-defined]
    assert [doc(cluster, i)["usage"]["count_30d"] for i in range(3)] == [30, 30, 30]


def test_retried_usage_updates_count_once(fake: Cluster, tmp_path: Path) -> None:
    publish(fake, tmp_path, catalog(3))
    fake.fake.fail_bulk(429, 2)
    fake.fake.drop_bulk(1)
    records = [used(i % 3, day(1 + i // 3), i + 1) for i in range(12)]
    sink = publish(fake, tmp_path, records, chunk_size=4, max_retries=5)
    assert sink.report.counters["retries"] == 3 and sink.report.failure_count == 0
    assert [doc(fake, i)["usage"]["count_30d"] for i in range(3)] == [1 + 4 + 7 + 10, 2 + 5 + 8 + 11, 3 + 6 + 9 + 12]


def test_a_refused_summary_fails_its_table_and_leaves_it_unranked(fake: Cluster, tmp_path: Path) -> None:
    publish(fake, tmp_path, catalog(3))

    def summary_of_t1(doc_id: str, source: dict[str, Any]) -> tuple[str, str] | None:
        if doc_id == f"{T}1" and source.get("usage", {}).get("window_end") == day(10):
            return "mapper_parsing_exception", "refused for the test"
        return None

    fake.fake.reject(summary_of_t1)
    sink = publish(fake, tmp_path, [used(0, day(10), 4), used(1, day(5), 9), used(2, day(10), 1)])
    assert sink.report.failure_count == 1 and sink.report.records == 3
    assert fake.letters[0].fqn == f"{T}1" and fake.letters[0].error.startswith(
        f"summary of table {T}1: HTTP 400: mapper_parsing_exception: refused for the test"
    )
    assert [doc(fake, i)["usage"].get("percentile_rank") for i in range(3)] == [100, None, 0]


def test_a_catalog_run_with_view_lineage_then_a_usage_run(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample shop's catalog (views' lineage included), then its query log through query_parser and the
    table_usage stage: both workflows publish to the same table documents."""
    from airflow_provider_ingest.records import dump_record
    from airflow_provider_ingest.run import run_workflow
    from airflow_provider_ingest.workflow.loader import load_workflow

    def run(name: str, flow: dict[str, Any]) -> Any:
        path = tmp_path / f"{name}.yaml"
        path.write_text(json.dumps({**flow, "workflow": {"staging_root": "staging"}}))
        result = run_workflow(load_workflow(path), run_id=name)
        assert result.success, result.error
        return result

    monkeypatch.setenv("H_ES_TEST_PASSWORD", cluster.password)  # a workflow file holds no password inline
    credentials = {"hosts": [cluster.address], "username": cluster.username, "password": "${H_ES_TEST_PASSWORD}"}
    sink = {"type": "elasticsearch", "config": cluster.config(**credentials)}
    source = {"type": "sql", "config": {"sample": "shop", "include_view_lineage": True}}
    run("catalog", {"source": source, "stage": {"type": "file"}, "bulk_sink": sink})
    shop = "sample_shop.shop.main."
    summary = doc(cluster, shop + "customer_order_summary")["lineage"]
    assert summary["upstream"] == [shop + "customers", shop + "orders"]
    assert shop + "customer_order_summary" in doc(cluster, shop + "orders")["lineage"]["downstream"]

    at = datetime.datetime(2024, 5, 2, 9, tzinfo=datetime.timezone.utc)
    where = {"service": "sample_shop", "database": "shop", "database_schema": "main", "dialect": "sqlite"}
    queries = [
        Query(text="SELECT * FROM orders o JOIN customers c ON o.customer_id = c.customer_id", calls=3, user="ana",
              start_time=at, **where),
        Query(text="SELECT * FROM order_items", user="bo", start_time=at, **where),
        Query(text="INSERT INTO payments (order_id) SELECT order_id FROM orders", user="bo", start_time=at, **where),
    ]  # fmt: skip
    (tmp_path / "queries.jsonl").write_text("".join(dump_record(query) + "\n" for query in queries))
    log = {"type": "file", "config": {"path": "queries.jsonl", "format": "jsonl"}}
    processors = [{"type": "query_parser"}]
    run("usage", {"source": log, "processors": processors, "stage": {"type": "table_usage"}, "bulk_sink": sink})
    usage = {name: doc(cluster, shop + name)["usage"] for name in ("orders", "customers", "order_items", "payments")}
    assert {name: u["count_30d"] for name, u in usage.items()} == {
        "orders": 4, "customers": 3, "order_items": 1, "payments": 1,
    }  # fmt: skip
    assert usage["orders"]["users"] == ["ana", "bo"] and usage["orders"]["last_day"] == "2024-05-02"
    assert usage["orders"]["frequently_joined"] == [{"table": shop + "customers", "count": 3}]
    assert {name: u["percentile_rank"] for name, u in usage.items()} == {
        "orders": 100, "customers": 66.67, "order_items": 16.67, "payments": 16.67,
    }  # fmt: skip
    assert shop + "orders" in doc(cluster, shop + "payments")["lineage"]["upstream"]
    assert shop + "customer_order_summary" in doc(cluster, shop + "orders")["lineage"]["downstream"]  # kept
