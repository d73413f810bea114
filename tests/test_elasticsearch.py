"""Elasticsearch sink and bulk sink, through the real client, against tests/es_server.py or a real cluster.

Set ``INGEST_TEST_ES_URL`` (``http://user:password@localhost:9200``) to run the ``cluster`` tests against a
real cluster too; fault-injection tests run against the test server only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from es_server import FakeElasticsearch

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink, PublishRefused
from airflow_provider_ingest.elasticsearch.hook import ElasticsearchIngestHook, build_client
from airflow_provider_ingest.elasticsearch.sink import ElasticsearchSink
from airflow_provider_ingest.records import Column, Database, DatabaseSchema, DatabaseService, Table, dump_record
from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.staging.stagedfile import StagedFileWriter

REAL_URL = os.environ.get("INGEST_TEST_ES_URL")
FAST = {"initial_backoff": 0.001, "max_backoff": 0.01}


@dataclass
class Cluster:
    """Where a test publishes: its URL, a fresh index prefix, a client, and the fake server if it is one."""

    url: str
    prefix: str
    client: Any
    fake: FakeElasticsearch | None = None
    letters: list[Any] = field(default_factory=list)

    def config(self, **settings: Any) -> dict[str, Any]:
        return {"hosts": [self.url], "index_prefix": self.prefix, **FAST, **settings}

    def context(self, tmp_path: Path) -> RunContext:
        return RunContext(workflow_name="es", run_id="r1", staging_root=str(tmp_path), dead_letters=self)

    def add(self, letter: Any) -> None:
        self.letters.append(letter)

    def count(self, kind: str = "tables") -> int:
        self.client.indices.refresh(index=f"{self.prefix}-{kind}")
        return int(self.client.count(index=f"{self.prefix}-{kind}")["count"])

    def physical(self, kind: str = "tables") -> dict[str, Any]:
        return dict(self.client.indices.get_alias(index=f"{self.prefix}-{kind}-*").body)


def _fake() -> Iterator[Cluster]:
    server = FakeElasticsearch()
    client = build_client({"hosts": [server.url]})
    yield Cluster(server.url, "catalog", client, server)
    client.close()
    server.close()


def _real() -> Iterator[Cluster]:
    if not REAL_URL:
        pytest.skip("INGEST_TEST_ES_URL is not set: no real Elasticsearch cluster to test against")
    prefix = f"ingest-test-{uuid.uuid4().hex[:8]}"
    client = build_client({"hosts": [REAL_URL]})
    yield Cluster(REAL_URL, prefix, client)
    client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    for kind in ("services", "databases", "schemas", "tables"):
        client.indices.delete_index_template(name=f"{prefix}-{kind}", ignore=[404])
    client.close()


@pytest.fixture(params=["test-server", "real-cluster"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The test server, then a real cluster when INGEST_TEST_ES_URL names one."""
    yield from (_fake() if request.param == "test-server" else _real())


@pytest.fixture
def fake() -> Iterator[Cluster]:
    """The test server only (fault injection)."""
    yield from _fake()


def catalog(tables: int, service: str = "shop") -> list[Any]:
    """A service, a database, a schema and ``tables`` tables of three columns."""
    columns = [Column(name=name, data_type=DataType.INT) for name in ("id", "customer_id", "total")]
    return [
        DatabaseService(name=service, service_type="Postgres"),
        Database(name="db", service=service),
        DatabaseSchema(name="public", service=service, database="db"),
        *(
            Table(name=f"t{i}", service=service, database="db", database_schema="public", columns=columns)
            for i in range(tables)
        ),
    ]


def staged(tmp_path: Path, records: list[Any], name: str = "staged.jsonl") -> str:
    uri = str(tmp_path / name)
    with StagedFileWriter(uri, producer="test", kinds={r.kind for r in records}) as writer:
        for record in records:
            writer.write_line(dump_record(record))
    return uri


def run_sink(cluster: Cluster, tmp_path: Path, records: list[Any], **settings: Any) -> ElasticsearchSink:
    sink = ElasticsearchSink.create(cluster.config(**settings), cluster.context(tmp_path))
    sink.prepare()
    try:
        for record in records:
            sink.write(record)
            sink.report.records += 1  # what the runner does when write() returns
        sink.flush()
    finally:
        sink.close()
    return sink  # type: ignore[return-value]


def run_bulk(cluster: Cluster, tmp_path: Path, records: list[Any], **settings: Any) -> ElasticsearchBulkSink:
    sink = ElasticsearchBulkSink.create(cluster.config(**settings), cluster.context(tmp_path))
    sink.prepare()
    try:
        sink.publish(staged(tmp_path, records, f"staged-{uuid.uuid4().hex}.jsonl"))
    finally:
        sink.close()
    return sink  # type: ignore[return-value]


def test_sink_indexes_each_kind_by_fqn(cluster: Cluster, tmp_path: Path) -> None:
    sink = run_sink(cluster, tmp_path, catalog(7), chunk_size=3)
    assert sink.report.records == 10 and sink.report.failure_count == 0
    assert [cluster.count(kind) for kind in ("services", "databases", "schemas", "tables")] == [1, 1, 1, 7]
    hit = cluster.client.search(index=f"{cluster.prefix}-tables", query={"term": {"fqn": "shop.db.public.t3"}})
    assert [h["_id"] for h in hit["hits"]["hits"]] == ["shop.db.public.t3"]
    source = hit["hits"]["hits"][0]["_source"]
    assert source["column_names"] == ["id", "customer_id", "total"] and source["parent_fqn"] == "shop.db.public"


def test_republishing_is_idempotent(cluster: Cluster, tmp_path: Path) -> None:
    run_sink(cluster, tmp_path, catalog(5))
    run_sink(cluster, tmp_path, catalog(5))
    run_bulk(cluster, tmp_path, catalog(5))
    assert cluster.count() == 5
    run_bulk(cluster, tmp_path, catalog(5), mode="replace")
    run_bulk(cluster, tmp_path, catalog(5), mode="replace")
    assert cluster.count() == 5 and cluster.count("services") == 1


def test_replace_switches_aliases_atomically_and_prunes(cluster: Cluster, tmp_path: Path) -> None:
    for _ in range(4):
        sink = run_bulk(cluster, tmp_path, catalog(6), mode="replace", keep_indexes=2)
        assert sink.report.records == 9 and sink.report.failure_count == 0
    physical = cluster.physical()
    assert len(physical) == 2
    newest = max(physical)
    assert [name for name, info in physical.items() if f"{cluster.prefix}-tables" in info["aliases"]] == [newest]
    assert cluster.count() == 6
    if cluster.fake:
        last = cluster.fake.alias_calls[-1]  # one _aliases call moved all four aliases
        assert sum("add" in action for action in last) == 4 and sum("remove" in action for action in last) == 4


def test_replace_refuses_a_shrink_beyond_max_shrink(cluster: Cluster, tmp_path: Path) -> None:
    run_bulk(cluster, tmp_path, catalog(10), mode="replace")
    before = cluster.physical()
    with pytest.raises(PublishRefused, match=r"4 documents against 10 in .*-tables, a drop of 60%"):
        run_bulk(cluster, tmp_path, catalog(4), mode="replace", max_shrink=0.2)
    assert cluster.physical() == before and cluster.count() == 10
    run_bulk(cluster, tmp_path, catalog(9), mode="replace", max_shrink=0.2)  # 10% is allowed
    assert cluster.count() == 9


def test_replace_refuses_when_the_count_differs_from_the_stage(fake: Cluster, tmp_path: Path) -> None:
    run_bulk(fake, tmp_path, catalog(10), mode="replace")
    before = fake.physical()
    fake.fake.reject(lambda doc_id, doc: ("mapper_parsing_exception", "bad") if doc_id.endswith("t7") else None)
    with pytest.raises(PublishRefused, match=r"9 documents indexed, 10 staged"):
        run_bulk(fake, tmp_path, catalog(10), mode="replace", max_shrink=0.5)
    assert fake.physical() == before and fake.count() == 10
    assert len(fake.fake.indexes) == 4  # the half-built indexes were deleted


def test_replace_failure_midway_leaves_the_old_index_serving(fake: Cluster, tmp_path: Path) -> None:
    run_bulk(fake, tmp_path, catalog(10), mode="replace")
    fake.fake.fail_bulk(500, 10)
    with pytest.raises(PublishRefused):
        run_bulk(fake, tmp_path, catalog(10), mode="replace", max_retries=1)
    assert fake.count() == 10 and len(fake.fake.indexes) == 4


def test_rejected_documents_are_dead_lettered_with_the_reason(fake: Cluster, tmp_path: Path) -> None:
    reason = "failed to parse field [row_count] of type [long]"
    fake.fake.reject(
        lambda doc_id, doc: ("mapper_parsing_exception", reason) if doc_id.endswith(("t2", "t5")) else None
    )
    sink = run_sink(fake, tmp_path, catalog(8), chunk_size=4)
    assert sink.report.records == 9 and sink.report.failure_count == 2
    assert sorted(letter.fqn for letter in fake.letters) == ["shop.db.public.t2", "shop.db.public.t5"]
    assert all(f"HTTP 400: mapper_parsing_exception: {reason}" in letter.error for letter in fake.letters)
    assert fake.letters[0].record is not None
    bulk = run_bulk(fake, tmp_path, catalog(8))
    assert bulk.report.records == 9 and bulk.report.failure_count == 2 and len(fake.letters) == 4


def test_a_storm_of_429s_is_retried_to_success(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.fail_bulk(429, 5)
    sink = run_bulk(fake, tmp_path, catalog(20), chunk_size=10, max_retries=6)
    assert sink.report.records == 23 and sink.report.failure_count == 0
    assert sink.report.counters["retries"] == 5 and fake.count() == 20


def test_retries_have_a_limit(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.fail_bulk(429, 3)
    sink = run_sink(fake, tmp_path, catalog(2), max_retries=2)
    assert sink.report.records == 0 and sink.report.failure_count == 5
    assert "gave up after 2 retries: HTTP 429" in fake.letters[0].error


def test_a_connection_dropped_mid_bulk_is_retried(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.drop_bulk(2)
    sink = run_sink(fake, tmp_path, catalog(12), chunk_size=5)
    assert sink.report.records == 15 and sink.report.failure_count == 0
    assert fake.count() == 12 and fake.fake.bulk_requests == 3 + 2


def test_chunks_respect_the_byte_limit(fake: Cluster, tmp_path: Path) -> None:
    run_bulk(fake, tmp_path, catalog(40), chunk_size=1000, max_chunk_bytes=2048)
    assert fake.count() == 40 and fake.fake.bulk_requests > 5


def test_templates_are_installed_with_explicit_mappings(fake: Cluster, tmp_path: Path) -> None:
    run_sink(fake, tmp_path, catalog(1))
    run_sink(fake, tmp_path, catalog(1))
    template = fake.fake.templates["catalog-tables"]
    assert template["index_patterns"] == ["catalog-tables-*"]
    properties = template["template"]["mappings"]["properties"]
    assert properties["fqn"] == {"type": "keyword"} and properties["suggest"]["type"] == "completion"
    assert properties["name"]["fields"]["keyword"]["type"] == "keyword"
    assert properties["columns"]["type"] == "nested"
    assert template["template"]["mappings"]["dynamic"] == "strict"


def test_asset_uris_come_from_the_config_alone() -> None:
    config = ElasticsearchSink.config_class.model_validate({"hosts": ["https://es.example.com:9200"]})
    assert ElasticsearchSink.asset_uris(config)[-1] == "elasticsearch://es.example.com:9200/catalog-tables"
    config = ElasticsearchBulkSink.config_class.model_validate({"conn_id": "es", "index_prefix": "cat"})
    assert "elasticsearch://es/cat-schemas" in ElasticsearchBulkSink.asset_uris(config)
    with pytest.raises(ValueError, match="either conn_id or hosts"):
        ElasticsearchSink.config_class.model_validate({})


def test_hook_resolves_the_connection_and_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    extra = {"api_key": "s3cr3t-key", "verify_certs": False, "ca_certs": "/certs/ca.crt", "request_timeout": 12}
    conn = {"conn_type": "ingest_elasticsearch", "host": "es1,https://es2:9243", "port": 9201, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_ES_TEST", json.dumps(conn))
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_ingest.elasticsearch.hook.mask", masked.append)
    settings = ElasticsearchIngestHook("es_test").settings()
    assert settings["hosts"] == ["http://es1:9201", "https://es2:9243"]
    assert settings["api_key"] == "s3cr3t-key" and settings["request_timeout"] == 12 and masked == ["s3cr3t-key"]
    behaviour = ElasticsearchIngestHook.get_ui_field_behaviour()
    assert "schema" in behaviour["hidden_fields"]


def test_importing_the_components_is_cheap() -> None:
    code = (
        "import sys, airflow_provider_ingest.elasticsearch.sink, airflow_provider_ingest.elasticsearch.bulk_sink;"
        "print(sorted(m for m in ('elasticsearch', 'elastic_transport', 'airflow') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
