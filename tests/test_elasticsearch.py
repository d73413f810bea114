"""Elasticsearch sink and bulk sink, through the real client, against tests/es_server.py and a real cluster.

Every test taking ``cluster`` runs twice: against the wire-protocol test server, and against the cluster
``INGEST_TEST_ES_URL`` names (``http://elastic:password@localhost:9200``), skipped with the reason when unset.
Tests taking ``fake`` inject faults (429 storms, dropped connections, 5xx) and need the test server.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
from es_server import FakeElasticsearch

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink, PublishRefused
from airflow_provider_ingest.elasticsearch.client import build_client
from airflow_provider_ingest.elasticsearch.documents import KINDS as KIND_INDEXES
from airflow_provider_ingest.elasticsearch.documents import action, document
from airflow_provider_ingest.elasticsearch.hook import ElasticsearchIngestHook
from airflow_provider_ingest.elasticsearch.sink import ElasticsearchSink, stamp
from airflow_provider_ingest.elasticsearch.usage import upsert_action
from airflow_provider_ingest.errors import AuthenticationError, IngestError, ServiceUnavailableError, is_retryable
from airflow_provider_ingest.records import Column, Database, DatabaseSchema, DatabaseService, Table, dump_record
from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.records.entities import TagLabel
from airflow_provider_ingest.staging.stagedfile import StagedFileWriter

REAL_URL = os.environ.get("INGEST_TEST_ES_URL")
FAST = {"initial_backoff": 0.001, "max_backoff": 0.01}
KINDS = ("services", "databases", "schemas", "tables")
IMMENSE = TagLabel(tag_fqn="Glossary." + "x" * 33_000)
"""A keyword term longer than Lucene's 32766 bytes: Elasticsearch refuses the document."""


@dataclass
class Cluster:
    """Where a test publishes: its URL (with the credentials of a user allowed everything), a fresh index prefix,
    a client, and the test server if it is one."""

    url: str
    prefix: str
    client: Any
    fake: FakeElasticsearch | None = None
    letters: list[Any] = field(default_factory=list)
    api_key_ids: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The URL without credentials: a component connecting to it must be given its own."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))

    @property
    def username(self) -> str:
        return unquote(urlsplit(self.url).username or "")

    @property
    def password(self) -> str:
        return unquote(urlsplit(self.url).password or "")

    def api_key(self) -> str:
        """A new API key (encoded, as the ``api_key`` setting takes it), made with the cluster's security API."""
        made = self.client.security.create_api_key(name=f"{self.prefix}-{uuid.uuid4().hex[:8]}")
        self.api_key_ids.append(made["id"])
        return str(made["encoded"])

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

    def ids(self, kind: str = "tables", **query: Any) -> list[str]:
        self.client.indices.refresh(index=f"{self.prefix}-{kind}")
        found = self.client.search(index=f"{self.prefix}-{kind}", query=query or {"match_all": {}}, size=100)
        return sorted(hit["_id"] for hit in found["hits"]["hits"])


def _fake() -> Iterator[Cluster]:
    """The test server with security on, as a real cluster: the URL carries the ``elastic`` user's password."""
    server = FakeElasticsearch(users={"elastic": f"pw-{uuid.uuid4().hex[:12]}"})
    client = build_client({"hosts": [server.url_of("elastic")]})
    yield Cluster(server.url_of("elastic"), "catalog", client, server)
    client.close()
    server.close()


def _real() -> Iterator[Cluster]:
    if not REAL_URL:
        pytest.skip("INGEST_TEST_ES_URL is not set: no real Elasticsearch cluster to test against")
    prefix = f"ingest-test-{uuid.uuid4().hex[:8]}"
    client = build_client({"hosts": [REAL_URL]})
    cluster = Cluster(REAL_URL, prefix, client)
    yield cluster
    if cluster.api_key_ids:
        client.security.invalidate_api_key(ids=cluster.api_key_ids)
    names = list(client.indices.get_alias(index=f"{prefix}-*", ignore_unavailable=True).body)
    if names:  # by name: clusters refuse wildcard deletes (action.destructive_requires_name)
        client.indices.delete(index=",".join(names))
    for kind in KINDS:
        client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-{kind}")
    client.close()


def cluster_fixtures(test_server_only: str) -> tuple[Any, Any]:
    """A test module's fixtures: ``cluster`` (the test server, then the real cluster INGEST_TEST_ES_URL names)
    and ``fake`` (the test server only; on the real cluster, skipped saying why: ``test_server_only``)."""

    @pytest.fixture(params=["test-server", "real-cluster"])
    def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
        yield from (_fake() if request.param == "test-server" else _real())

    @pytest.fixture(params=["test-server", "real-cluster"])
    def fake(request: pytest.FixtureRequest) -> Iterator[Cluster]:
        if request.param == "real-cluster":
            pytest.skip(test_server_only)
        yield from _fake()

    return cluster, fake


cluster, fake = cluster_fixtures("fault injection (429s, dropped connections, 5xx on demand) needs the test server")


def recorded_bulk_bodies(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The body of every ``_bulk`` request the client sends from now on (the requests still go out)."""
    from elasticsearch import Elasticsearch

    bodies: list[bytes] = []
    bulk = Elasticsearch.bulk

    def recording(self: Elasticsearch, **kwargs: Any) -> Any:
        bodies.append(kwargs["operations"])
        return bulk(self, **kwargs)

    monkeypatch.setattr(Elasticsearch, "bulk", recording)
    return bodies


def catalog(tables: int, service: str = "shop", immense: tuple[int, ...] = ()) -> list[Any]:
    """A service, a database, a schema and ``tables`` tables of three columns; ``immense`` ones are refused."""
    columns = [Column(name=name, data_type=DataType.INT) for name in ("id", "customer_id", "total")]
    return [
        DatabaseService(name=service, service_type="Postgres"),
        Database(name="db", service=service),
        DatabaseSchema(name="public", service=service, database="db"),
        *(
            Table(
                name=f"t{i}",
                service=service,
                database="db",
                database_schema="public",
                columns=columns,
                tags=[IMMENSE] if i in immense else [],
            )
            for i in range(tables)
        ),
    ]


def staged(tmp_path: Path, records: list[Any]) -> str:
    uri = str(tmp_path / f"staged-{uuid.uuid4().hex}.jsonl")
    with StagedFileWriter(uri, producer="test", kinds={r.kind for r in records}) as writer:
        for record in records:
            writer.write_line(dump_record(record))
    return uri


def run_sink(cluster: Cluster, tmp_path: Path, records: list[Any], **settings: Any) -> ElasticsearchSink:
    """Write ``records`` through the sink as the runner does: a record raising in write() is failed."""
    sink = ElasticsearchSink.create(cluster.config(**settings), cluster.context(tmp_path))
    sink.prepare()
    try:
        write_all(sink, records)  # type: ignore[arg-type]
        sink.flush()
    finally:
        sink.close()
    return sink  # type: ignore[return-value]


def write_all(sink: ElasticsearchSink, records: list[Any]) -> None:
    for record in records:
        try:
            sink.write(record)
        except Exception as error:
            sink.fail(error, record=record)
            continue
        sink.report.records += 1


def run_bulk(cluster: Cluster, tmp_path: Path, records: list[Any], **settings: Any) -> ElasticsearchBulkSink:
    sink = ElasticsearchBulkSink.create(cluster.config(**settings), cluster.context(tmp_path))
    sink.prepare()
    try:
        sink.publish(staged(tmp_path, records))
    finally:
        sink.close()
    return sink  # type: ignore[return-value]


def test_sink_indexes_each_kind_by_fqn(cluster: Cluster, tmp_path: Path) -> None:
    sink = run_sink(cluster, tmp_path, catalog(7), chunk_size=3)
    assert sink.report.records == 10 and sink.report.failure_count == 0
    assert [cluster.count(kind) for kind in KINDS] == [1, 1, 1, 7]
    assert cluster.ids(term={"fqn": "shop.db.public.t3"}) == ["shop.db.public.t3"]
    assert cluster.ids("schemas") == ["shop.db.public"]
    hit = cluster.client.get(index=f"{cluster.prefix}-tables", id="shop.db.public.t3")["_source"]
    assert hit["column_names"] == ["id", "customer_id", "total"] and hit["parent_fqn"] == "shop.db.public"
    assert [column["data_type"] for column in hit["columns"]] == ["INT", "INT", "INT"]
    assert len(cluster.ids(match={"column_names": "customer"})) == 7  # snake_case split into words


def test_names_complete_as_you_type(cluster: Cluster, tmp_path: Path) -> None:
    run_bulk(cluster, tmp_path, catalog(12))
    cluster.client.indices.refresh(index=f"{cluster.prefix}-tables")
    found = cluster.client.search(
        index=f"{cluster.prefix}-tables",
        size=0,
        suggest={"names": {"prefix": "t1", "completion": {"field": "suggest"}}},
    )
    options = found["suggest"]["names"][0]["options"]
    assert sorted(option["_id"] for option in options) == [
        "shop.db.public.t1",
        "shop.db.public.t10",
        "shop.db.public.t11",
    ]


def test_republishing_is_idempotent(cluster: Cluster, tmp_path: Path) -> None:
    """The same catalog again overwrites each document by id (a ``create`` would be refused with 409)."""
    runs = [run_sink(cluster, tmp_path, catalog(5)), run_sink(cluster, tmp_path, catalog(5))]
    runs.append(run_bulk(cluster, tmp_path, catalog(5)))
    assert cluster.count() == 5 and len(cluster.physical()) == 1
    runs += [run_bulk(cluster, tmp_path, catalog(5), mode="replace") for _ in range(2)]
    assert cluster.count() == 5 and cluster.count("services") == 1
    assert [(run.report.records, run.report.failure_count) for run in runs] == [(8, 0)] * 5 and not cluster.letters


def _credentials(cluster: Cluster, how: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    """Sink settings reaching ``cluster`` at its bare address with credentials given ``how``, and the principal
    they authenticate as (``api_key:<id>`` or the user)."""
    key = cluster.api_key()
    principal = "api_key:" + base64.b64decode(key).decode().split(":")[0] if "api_key" in how else cluster.username
    if how == "api_key":
        return {"hosts": [cluster.address], "api_key": key}, principal
    if how == "basic":
        return {"hosts": [cluster.address], "username": cluster.username, "password": cluster.password}, principal
    conn_id = f"es_credentials_{how}"
    connection: dict[str, Any] = {"conn_type": "ingest_elasticsearch", "host": cluster.address}
    if how == "connection_api_key":
        connection["extra"] = {"api_key": key}
    else:
        connection.update(login=cluster.username, password=cluster.password)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return {"hosts": None, "conn_id": conn_id}, principal


@pytest.mark.parametrize("how", ["api_key", "basic", "connection_api_key", "connection_basic"])
def test_the_configured_credentials_reach_the_cluster(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The cluster requires credentials and its address carries none: the configured ones must be sent."""
    settings, principal = _credentials(cluster, how, monkeypatch)
    seen = len(cluster.fake.principals) if cluster.fake else 0
    sink = run_sink(cluster, tmp_path, catalog(2), **settings)
    bulk = run_bulk(cluster, tmp_path, catalog(3), **settings, mode="replace", max_shrink=1)
    if cluster.fake is not None:  # every request of the two runs authenticated as the configured principal
        assert set(cluster.fake.principals[seen:]) == {principal} and len(cluster.fake.principals) > seen + 10
    assert (sink.report.failure_count, bulk.report.failure_count, cluster.count()) == (0, 0, 3)


@pytest.mark.parametrize("how", ["api_key", "basic", "none"])
def test_refused_credentials_fail_the_run_before_anything_is_written(
    cluster: Cluster, tmp_path: Path, how: str
) -> None:
    from airflow_provider_ingest.elasticsearch.errors import CredentialsRefused

    wrong = {
        "api_key": {"api_key": base64.b64encode(b"no-such-id:no-such-key").decode()},
        "basic": {"username": cluster.username, "password": "not-the-password"},
        "none": {},
    }[how]
    for component in (ElasticsearchSink, ElasticsearchBulkSink):
        sink = component.create(cluster.config(hosts=[cluster.address], **wrong), cluster.context(tmp_path))
        with pytest.raises(CredentialsRefused, match=r"^Elasticsearch: HTTP 401: security_exception: ") as refused:
            sink.prepare()
        sink.close()
        assert not is_retryable(refused.value) and "not-the-password" not in str(refused.value)
    assert cluster.client.indices.get_alias(index=f"{cluster.prefix}-*").body == {}


def test_a_chunk_over_the_request_size_limit_is_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    """``http.max_content_length`` (here 8 KiB): a larger bulk request is answered 413, its items failed
    with the reason; chunks kept under it by ``max_chunk_bytes`` all go through."""
    server = FakeElasticsearch(max_content_length=8192)
    cluster = Cluster(server.url, "catalog", build_client({"hosts": [server.url]}), server)
    try:
        sink = run_sink(cluster, tmp_path, catalog(30), max_chunk_bytes=64 * 1024)
        assert sink.report.records == 0 and sink.report.failure_count == 33  # one request of 33 documents
        assert cluster.letters[-1].error == (
            "HTTP 413: the request is larger than the cluster's http.max_content_length (lower max_chunk_bytes)"
        )
        sink = run_sink(cluster, tmp_path, catalog(30), max_chunk_bytes=8192)
        assert sink.report.records == 33 and sink.report.failure_count == 0 and cluster.count() == 30
    finally:
        cluster.client.close()
        server.close()


def test_the_index_prefix_keeps_index_names_within_255_bytes(cluster: Cluster, tmp_path: Path) -> None:
    from airflow_provider_ingest.elasticsearch.mappings import MAX_PREFIX_LENGTH

    longest = f"{cluster.prefix}-" + "p" * (MAX_PREFIX_LENGTH - len(cluster.prefix) - 1)
    with pytest.raises(ValueError, match=r"index_prefix\n  String should have at most 224 characters"):
        ElasticsearchBulkSink.config_class.model_validate({"hosts": [cluster.url], "index_prefix": longest + "p"})
    try:
        sink = run_bulk(cluster, tmp_path, catalog(2), index_prefix=longest, mode="replace")
        assert sink.report.failure_count == 0 and max(len(name) for name in cluster.physical("*")) == 255
    finally:
        for kind in KINDS:
            cluster.client.options(ignore_status=404).indices.delete_index_template(name=f"{longest}-{kind}")


def test_replace_switches_aliases_atomically_and_prunes(cluster: Cluster, tmp_path: Path) -> None:
    for _ in range(4):
        sink = run_bulk(cluster, tmp_path, catalog(6), mode="replace", keep_indexes=2)
        assert sink.report.records == 9 and sink.report.failure_count == 0
        assert sink.report.counters["indexes_switched"] == 4
    assert sink.report.counters["indexes_deleted"] == 4  # one per alias
    for kind in KINDS:
        physical = cluster.physical(kind)
        assert len(physical) == 2
        serving = [name for name, info in physical.items() if f"{cluster.prefix}-{kind}" in info["aliases"]]
        assert serving == [max(physical)]
    assert cluster.count() == 6
    if cluster.fake:  # one _aliases call moved all four aliases: removes and adds together
        last = cluster.fake.alias_calls[-1]
        assert sum("add" in action for action in last) == 4 and sum("remove" in action for action in last) == 4


def test_replace_refuses_a_shrink_beyond_max_shrink(cluster: Cluster, tmp_path: Path) -> None:
    run_bulk(cluster, tmp_path, catalog(10), mode="replace")
    before = {kind: cluster.physical(kind) for kind in KINDS}
    with pytest.raises(PublishRefused, match=r"4 documents against 10 in .*-tables, a drop of 60% \(max_shrink 20%\)"):
        run_bulk(cluster, tmp_path, catalog(4), mode="replace", max_shrink=0.2)
    assert {kind: cluster.physical(kind) for kind in KINDS} == before and cluster.count() == 10
    run_bulk(cluster, tmp_path, catalog(9), mode="replace", max_shrink=0.2)  # 10% is allowed
    assert cluster.count() == 9


def test_replace_after_upsert_runs_measures_the_shrink_against_every_live_document(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Documents an ``upsert`` run wrote are searchable only after a refresh: ``replace`` refreshes the live
    index before counting it, or it would find 0 there and let any shrink through."""
    run_bulk(cluster, tmp_path, [record for service in "abcde" for record in catalog(1, service=service)])
    with pytest.raises(PublishRefused, match=r"1 documents against 5 in .*-services, a drop of 80% \(max_shrink 20%\)"):
        run_bulk(cluster, tmp_path, catalog(1, service="a"), mode="replace", max_shrink=0.2)


def test_replace_refuses_failed_documents_beyond_max_failures(cluster: Cluster, tmp_path: Path) -> None:
    run_bulk(cluster, tmp_path, catalog(10), mode="replace")
    before = cluster.physical()
    with pytest.raises(PublishRefused, match=r"still serve: records failed: 1 \(max_failures 0\)$") as refused:
        run_bulk(cluster, tmp_path, catalog(10, immense=(7,)), mode="replace", max_shrink=0.5)
    assert not is_retryable(refused.value)  # the same documents would be refused again
    assert cluster.physical() == before and cluster.count() == 10  # the half-built indexes were deleted
    assert [letter.fqn for letter in cluster.letters] == ["shop.db.public.t7"]
    sink = run_bulk(cluster, tmp_path, catalog(10, immense=(7,)), mode="replace", max_failures=1)
    assert sink.report.counters["indexes_switched"] == 4 and cluster.count() == 9
    assert sink.report.records == 12 and sink.report.failure_count == 1


def test_replace_refuses_when_the_count_differs_from_the_stage(fake: Cluster, tmp_path: Path) -> None:
    run_bulk(fake, tmp_path, catalog(10), mode="replace")
    before = fake.physical()
    fake.fake.lose(lambda doc_id: doc_id == "shop.db.public.t7")  # acknowledged, never stored
    with pytest.raises(
        PublishRefused, match=r"still serve: catalog-tables-\d+: 9 documents indexed, 10 staged$"
    ) as refused:
        run_bulk(fake, tmp_path, catalog(10), mode="replace")
    assert is_retryable(refused.value) and not fake.letters
    assert fake.physical() == before and fake.count() == 10


def test_replace_keeps_new_indexes_when_the_switch_went_through(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elastic_transport import ConnectionTimeout

    run_bulk(cluster, tmp_path, catalog(3), mode="replace")
    switch = ElasticsearchBulkSink._switch

    def applied_then_timed_out(self: ElasticsearchBulkSink, new: dict[str, str]) -> None:
        switch(self, new)
        raise ConnectionTimeout("read timed out")

    monkeypatch.setattr(ElasticsearchBulkSink, "_switch", applied_then_timed_out)
    with pytest.raises(ServiceUnavailableError, match=r"^Elasticsearch: ConnectionTimeout: "):
        run_bulk(cluster, tmp_path, catalog(4), mode="replace")
    assert cluster.count() == 4 and len(cluster.physical()) == 2  # the new index serves; nothing was deleted


def test_replace_names_each_miscounted_kind_and_stays_retryable(fake: Cluster, tmp_path: Path) -> None:
    """Documents lost in two kinds, one of them also holding a refused document (within ``max_failures``): each
    count is named, the refused one subtracted, and only counts disagreed, so a retry may succeed."""
    run_bulk(fake, tmp_path, catalog(10), mode="replace")
    before = fake.physical("*")
    fake.fake.lose(lambda doc_id: doc_id in ("shop.db.public", "shop.db.public.t7"))
    expected = (
        r"still serve: catalog-schemas-\d+: 0 documents indexed, 1 staged; "
        r"catalog-tables-\d+: 8 documents indexed, 10 staged less 1 failed$"
    )
    with pytest.raises(PublishRefused, match=expected) as refused:
        run_bulk(fake, tmp_path, catalog(10, immense=(3,)), mode="replace", max_failures=1, max_shrink=1)
    assert is_retryable(refused.value)
    assert fake.physical("*") == before and fake.count() == 10


def test_a_first_replace_switches_a_kind_without_records(cluster: Cluster, tmp_path: Path) -> None:
    """Nothing serves yet, so there is no count to shrink from: a catalog without a service record switches."""
    sink = run_bulk(cluster, tmp_path, catalog(3)[1:], mode="replace")
    assert sink.report.counters["indexes_switched"] == 4 and sink.report.failure_count == 0
    assert (cluster.count("services"), cluster.count("schemas"), cluster.count()) == (0, 1, 3)


def test_an_upsert_run_after_replaces_writes_through_the_aliases(cluster: Cluster, tmp_path: Path) -> None:
    """The aliases a replace moved take writes: their new index is the write index."""
    for _ in range(2):  # two physical indexes per alias, one serving
        run_bulk(cluster, tmp_path, catalog(3), mode="replace")
    sink = run_bulk(cluster, tmp_path, catalog(5))
    assert (sink.report.records, sink.report.failure_count, cluster.count()) == (8, 0, 5)
    assert len(cluster.physical()) == 2


def test_replace_never_prunes_the_index_it_switched_to(cluster: Cluster, tmp_path: Path) -> None:
    """An index named later than the new one (another run's, or one a failed replace could not delete) sorts
    first and counts in ``keep_indexes``: the index the alias now serves is kept all the same."""
    run_bulk(cluster, tmp_path, catalog(2), mode="replace")
    first = set(cluster.physical())
    later = f"{cluster.prefix}-tables-{'9' * 20}"
    cluster.client.indices.create(index=later)
    sink = run_bulk(cluster, tmp_path, catalog(3), mode="replace", keep_indexes=1)
    physical = cluster.physical()
    serving = [name for name, info in physical.items() if f"{cluster.prefix}-tables" in info["aliases"]]
    assert len(serving) == 1 and sorted(physical) == sorted([serving[0], later]) and not first & set(physical)
    assert cluster.count() == 3 and sink.report.counters["indexes_deleted"] == 4  # the first index of each alias


def test_a_failed_replaces_leftovers_never_push_out_the_previous_catalog(cluster: Cluster, tmp_path: Path) -> None:
    """Indexes a failed replace could not delete (named after the one serving, never serving): the next replace
    neither counts them in ``keep_indexes`` nor deletes them, and warns; it counted them, and deleted the previous
    catalog, the rollback copy ``keep_indexes: 2`` promises."""
    run_bulk(cluster, tmp_path, catalog(2), mode="replace")
    previous = set(cluster.physical())
    leftover = f"{cluster.prefix}-tables-{stamp()}"  # named after the one serving, before the next run's
    cluster.client.indices.create(index=leftover)
    sink = run_bulk(cluster, tmp_path, catalog(3), mode="replace", keep_indexes=2)
    physical = cluster.physical()
    assert previous | {leftover} <= set(physical) and len(physical) == 3
    assert "indexes_deleted" not in sink.report.counters
    assert [warning for warning in sink.report.warnings if leftover in warning] == [
        f"{leftover}: never served {cluster.prefix}-tables (left by a failed replace?), kept: delete by hand"
    ]


def test_a_replace_that_cannot_prune_after_its_switch_succeeds_with_a_warning(fake: Cluster, tmp_path: Path) -> None:
    """The new catalog serves once the aliases moved: a failure to list the old indexes for pruning is a warning,
    not a failed run (it failed the run, whose catalog was live)."""
    run_bulk(fake, tmp_path, catalog(2), mode="replace")
    fake.fake.inject(500, None, "_alias")  # type: ignore[union-attr]  # GET <alias>-*/_alias, pruning's only
    sink = run_bulk(fake, tmp_path, catalog(3), mode="replace")
    fake.fake.clear()  # type: ignore[union-attr]
    assert fake.count() == 3 and sink.report.failure_count == 0
    assert [warning for warning in sink.report.warnings if "pruning" in warning] == [
        "the new indexes serve, but pruning the old ones failed: Elasticsearch: HTTP 500:"
        " es_rejected_execution_exception: queue is full"
    ]


def test_a_replace_whose_old_index_another_run_moved_meanwhile_fails_and_changes_nothing(
    fake: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replace switches the aliases between this run's read of them and its own switch: the remove of the
    index no longer serving must exist, so the one call fails whole (without it, the add went through and each
    alias served two catalogs)."""
    from airflow_provider_ingest.elasticsearch import bulk_sink

    run_bulk(fake, tmp_path, catalog(2), mode="replace")
    switch = bulk_sink.ElasticsearchBulkSink._switch

    def other_run_first(sink: Any, new: dict[str, str]) -> None:
        monkeypatch.setattr(bulk_sink.ElasticsearchBulkSink, "_switch", switch)
        run_bulk(fake, tmp_path / "other", catalog(4), mode="replace")
        monkeypatch.setattr(bulk_sink, "_alias_indexes", lambda client, alias: list(before[alias]))
        switch(sink, new)

    aliases = [f"{fake.prefix}-{kind}" for kind in KINDS]
    before = {alias: list(fake.client.indices.get_alias(name=alias).body) for alias in aliases}
    monkeypatch.setattr(bulk_sink.ElasticsearchBulkSink, "_switch", other_run_first)
    with pytest.raises(Exception, match="aliases_not_found_exception"):
        run_bulk(fake, tmp_path, catalog(3), mode="replace")
    assert [len(fake.client.indices.get_alias(name=alias).body) for alias in aliases] == [1] * len(aliases)
    assert fake.count() == 4


def test_lowering_keep_indexes_deletes_every_index_beyond_it(cluster: Cluster, tmp_path: Path) -> None:
    for _ in range(3):
        run_bulk(cluster, tmp_path, catalog(2), mode="replace", keep_indexes=3)
    sink = run_bulk(cluster, tmp_path, catalog(2), mode="replace", keep_indexes=1)
    assert sink.report.counters["indexes_deleted"] == 3 * 4  # the three older indexes of each alias
    assert [len(cluster.physical(kind)) for kind in KINDS] == [1, 1, 1, 1] and cluster.count() == 2


def test_replace_loads_new_indexes_with_plain_index_actions(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new index holds nothing to merge into: every document is sent as an ``index`` action, where an upsert
    run sends the tables as ``doc_as_upsert`` updates (test_chunks_respect_the_count_and_byte_limits)."""
    bodies = recorded_bulk_bodies(monkeypatch)
    records = catalog(3)
    for _ in range(2):  # the first replace, then one with live aliases (their usage carried over)
        bodies.clear()
        run_bulk(cluster, tmp_path, records, mode="replace")
        sent = [json.loads(line) for body in bodies for line in body.splitlines()[::2]]
        assert [next(iter(operation)) for operation in sent] == ["index"] * 6
        assert cluster.count() == 3


def test_the_bulk_sink_closes_its_client(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close() releases the connections it opened (and one never prepared has none to close)."""
    from elasticsearch import Elasticsearch

    closed: list[Elasticsearch] = []
    close = Elasticsearch.close
    monkeypatch.setattr(Elasticsearch, "close", lambda self: closed.append(self) or close(self))
    sink = run_bulk(cluster, tmp_path, catalog(1))
    assert closed == [sink.client]
    ElasticsearchBulkSink.create(cluster.config(), cluster.context(tmp_path)).close()
    assert closed == [sink.client]


def staged_with(tmp_path: Path, lines: list[str]) -> str:
    """A staged file of these record lines, as written (valid records or not)."""
    uri = str(tmp_path / f"staged-{uuid.uuid4().hex}.jsonl")
    with StagedFileWriter(uri, producer="test", kinds={"table"}) as writer:
        for line in lines:
            writer.write_line(line)
    return uri


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_a_staged_line_that_is_no_record_is_dead_lettered_as_written(
    cluster: Cluster, tmp_path: Path, mode: str
) -> None:
    bad = '{"kind": "table", "name": "t9", "columns": "none"}'
    lines = [dump_record(record) for record in catalog(2)]
    uri = staged_with(tmp_path, [*lines[:3], bad, *lines[3:]])  # the lines after it go on
    sink = ElasticsearchBulkSink.create(cluster.config(mode=mode, max_failures=1), cluster.context(tmp_path))
    sink.prepare()
    try:
        sink.publish(uri)
    finally:
        sink.close()
    assert (sink.report.records, sink.report.failure_count, cluster.count()) == (5, 1, 2)
    (letter,) = cluster.letters
    assert letter.error.startswith(f"{uri}: line 5 is not a valid record: ") and letter.record == bad  # 1: header
    assert letter.fqn is None


def failed_publish(
    cluster: Cluster, tmp_path: Path, records: list[Any], *faults: tuple[int, str | None, str], **settings: Any
) -> tuple[Any, IngestError]:
    """A bulk sink publishing ``records`` with the test server's ``faults`` (status, times, endpoint) injected once
    it is prepared; the publish must fail: the sink (for its report) and the error."""
    sink = ElasticsearchBulkSink.create(cluster.config(**settings), cluster.context(tmp_path))
    sink.prepare()
    for status, times, endpoint in faults:
        cluster.fake.inject(status, times, endpoint)  # type: ignore[union-attr]
    try:
        with pytest.raises(IngestError) as failed:
            sink.publish(staged(tmp_path, records))  # type: ignore[attr-defined]
    finally:
        sink.close()
    return sink, failed.value


def test_refused_credentials_mid_publish_stop_the_sending_and_count_what_was_not_attempted(
    fake: Cluster, tmp_path: Path
) -> None:
    """Three 401s in a row open the breaker: the chunks after them are not sent, each record failed and counted."""
    sink, error = failed_publish(fake, tmp_path, catalog(4), (401, 3, "_bulk"), chunk_size=1)
    assert isinstance(error, AuthenticationError) and fake.fake.bulk_requests == 3
    assert sink.report.counters["not_attempted"] == 4 and sink.report.failure_count == 7
    assert sum(letter.error.startswith("not attempted") for letter in fake.letters) == 4


STAMP = "2" * 20
"""The stamp of the physical indexes a replace makes, fixed so a test can name them (and aim a fault at them)."""


def new_indexes(prefix: str = "catalog") -> list[str]:
    return [f"{prefix}-{kind}-{STAMP}" for kind in KINDS]


@pytest.mark.parametrize("delete_fails", [False, True])
def test_a_replace_failing_to_create_its_indexes_deletes_those_it_made(
    fake: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delete_fails: bool
) -> None:
    """The third index cannot be made: the two made are deleted (the missing two named with them, ignored),
    or, when the delete fails too, the run warns which indexes it may have left."""
    from airflow_provider_ingest.elasticsearch import bulk_sink

    monkeypatch.setattr(bulk_sink, "stamp", lambda: STAMP)
    faults = [(500, 1, new_indexes()[2])] + ([(500, 1, ",".join(new_indexes()))] if delete_fails else [])
    sink, error = failed_publish(fake, tmp_path, catalog(2), *faults, mode="replace")
    assert str(error).startswith("Elasticsearch: HTTP 500: ")
    if delete_fails:
        assert sorted(fake.fake.indexes) == sorted(new_indexes()[:2])
        (warning,) = sink.report.warnings
        assert warning.startswith(f"could not delete {', '.join(new_indexes())}: Elasticsearch: HTTP 500: ")
        assert "queue is full" in warning and "ApiError" not in warning
    else:
        assert fake.fake.indexes == {} and sink.report.warnings == []


def test_a_failed_replace_that_cannot_tell_what_serves_leaves_its_indexes(
    fake: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the aliases fails (for the shrink check, then again after): the new indexes may be serving,
    so none is deleted, and the warning names them."""
    from airflow_provider_ingest.elasticsearch import bulk_sink

    monkeypatch.setattr(bulk_sink, "stamp", lambda: STAMP)
    unreadable = (500, None, "catalog-services")  # HEAD /_alias/catalog-services, for ever
    sink, error = failed_publish(fake, tmp_path, catalog(2), unreadable, mode="replace")
    assert str(error).startswith("Elasticsearch: HTTP 500")
    assert sorted(fake.fake.indexes) == sorted(new_indexes())
    (warning,) = sink.report.warnings
    assert (
        warning.startswith(f"replace failed; left {', '.join(new_indexes())} in place, cannot tell if they serve: ")
        and "Elasticsearch: HTTP 500" in warning
        and "ApiError" not in warning
    )
    assert warning.count("Elasticsearch") == 1  # worded once, not wrapped again


def test_rejected_documents_are_dead_lettered_with_the_reason(cluster: Cluster, tmp_path: Path) -> None:
    sink = run_sink(cluster, tmp_path, catalog(8, immense=(2, 5)), chunk_size=4)
    assert sink.report.records == 9 and sink.report.failure_count == 2
    assert sorted(letter.fqn for letter in cluster.letters) == ["shop.db.public.t2", "shop.db.public.t5"]
    for letter in cluster.letters:
        assert letter.error.startswith("HTTP 400: ") and "immense term in field" in letter.error
        assert letter.record["name"] == letter.fqn.rsplit(".", 1)[1]
    bulk = run_bulk(cluster, tmp_path, catalog(8, immense=(2, 5)))
    assert bulk.report.records == 9 and bulk.report.failure_count == 2 and len(cluster.letters) == 4
    for letter in cluster.letters[2:]:  # the bulk sink's, with the reason and the staged record
        assert letter.error.startswith("HTTP 400: ") and "immense term in field" in letter.error
        assert letter.record["name"] == letter.fqn.rsplit(".", 1)[1]
    assert cluster.count() == 6


def test_an_fqn_too_long_for_an_id_fails_before_sending(cluster: Cluster, tmp_path: Path) -> None:
    long = Table(name="n" * 600, service="shop", database="db", database_schema="public")
    records = [*catalog(1), long, *catalog(2)[4:]]  # the records after it go on
    sink = run_sink(cluster, tmp_path, records)
    bulk = run_bulk(cluster, tmp_path, records)
    for component in (sink, bulk):
        assert component.report.records == 5 and component.report.failure_count == 1
    assert [letter.error for letter in cluster.letters] == [
        "DocumentError: FQN of 615 bytes is longer than a document id may be (512)",
        "FQN of 615 bytes is longer than a document id may be (512)",
    ]
    assert [letter.record["name"] for letter in cluster.letters] == ["n" * 600] * 2
    assert cluster.count() == 2


def test_chunks_respect_the_count_and_byte_limits(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = recorded_bulk_bodies(monkeypatch)
    records = catalog(40)
    run_bulk(cluster, tmp_path, records, chunk_size=3, max_chunk_bytes=2048)
    sent = b"".join(
        (upsert_action if alias.endswith("-tables") else action)(alias, fqn, doc)  # tables keep usage and lineage
        for alias, fqn, doc in _actions(cluster, records)
    )
    assert b"".join(bodies) == sent  # every document once, in order
    assert [body.count(b"\n") // 2 for body in bodies] == [3] + [2] * 20  # 3 small ones, then tables of ~800 bytes
    assert max(len(body) for body in bodies) <= 2048 and cluster.count() == 40


def _actions(cluster: Cluster, records: list[Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for record in records:
        kind, fqn, doc = document(json.loads(dump_record(record)))
        yield f"{cluster.prefix}-{KIND_INDEXES[kind]}", fqn, doc


def test_templates_are_installed_idempotently_with_explicit_mappings(cluster: Cluster, tmp_path: Path) -> None:
    run_sink(cluster, tmp_path, catalog(1))
    run_bulk(cluster, tmp_path, catalog(1))
    found = cluster.client.indices.get_index_template(name=f"{cluster.prefix}-tables")["index_templates"]
    assert len(found) == 1
    template = found[0]["index_template"]
    assert template["index_patterns"] == [f"{cluster.prefix}-tables-*"] and template["version"] == 2
    mappings = template["template"]["mappings"]
    properties = mappings["properties"]
    assert mappings["dynamic"] == "strict" and properties["fqn"] == {"type": "keyword"}
    assert properties["suggest"]["type"] == "completion" and properties["tags"] == {"type": "keyword"}
    assert properties["name"]["fields"]["keyword"] == {"type": "keyword", "normalizer": "name_normalizer"}
    assert properties["columns"]["type"] == "nested" and properties["owners"] == {"type": "keyword"}
    assert len(cluster.physical()) == 1


def test_a_storm_of_429s_is_retried_to_success(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.fail_bulk(429, 5)
    sink = run_bulk(fake, tmp_path, catalog(20), chunk_size=10, max_retries=6)
    assert sink.report.records == 23 and sink.report.failure_count == 0
    assert sink.report.counters["retries"] == 5 and fake.count() == 20


def test_a_retry_after_header_lengthens_the_backoff_up_to_max_backoff(
    fake: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_ingest.elasticsearch import bulk

    sleeps: list[float] = []
    monkeypatch.setattr(bulk, "time", SimpleNamespace(sleep=sleeps.append))
    fake.fake.retry_after = "1"
    fake.fake.fail_bulk(429, 2)
    fake.fake.fail_bulk(503, 1)
    fake.fake.drop_bulk(1)  # no answer, no header: the backoff alone
    sink = run_bulk(fake, tmp_path, catalog(3), max_retries=5, initial_backoff=0.001, max_backoff=0.05)
    assert sleeps == [0.05, 0.05, 0.05, 0.008] and sink.report.records == 6


def test_retries_have_a_limit(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.fail_bulk(429, 3)
    sink = ElasticsearchSink.create(fake.config(max_retries=2), fake.context(tmp_path))
    sink.prepare()
    write_all(sink, catalog(2))  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailableError, match=r"unavailable, stopped: gave up after 2 retries: HTTP 429"):
        sink.flush()
    sink.close()
    assert sink.report.records == 0 and sink.report.failure_count == 5
    assert fake.fake.bulk_requests == 3
    assert fake.letters[0].error == (
        "gave up after 2 retries: HTTP 429: es_rejected_execution_exception: queue is full"
    )


def test_a_connection_dropped_mid_bulk_is_retried(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.drop_bulk(2)
    sink = run_sink(fake, tmp_path, catalog(12), chunk_size=5)
    assert sink.report.records == 15 and sink.report.failure_count == 0
    assert fake.count() == 12 and fake.fake.bulk_requests == 3 + 2


def test_a_request_refused_whole_dead_letters_its_chunk(fake: Cluster, tmp_path: Path) -> None:
    fake.fake.fail_bulk(413, 1)
    sink = run_sink(fake, tmp_path, catalog(12), chunk_size=5)
    assert sink.report.records == 10 and sink.report.failure_count == 5
    assert [letter.fqn for letter in fake.letters] == [
        "shop",
        "shop.db",
        "shop.db.public",
        *(f"shop.db.public.t{i}" for i in range(2)),
    ]
    assert fake.letters[0].error.startswith("HTTP 413: ") and fake.fake.bulk_requests == 3


def test_replace_failure_midway_leaves_the_old_index_serving(fake: Cluster, tmp_path: Path) -> None:
    run_bulk(fake, tmp_path, catalog(10), mode="replace")
    fake.fake.fail_bulk(500, 10)
    with pytest.raises(ServiceUnavailableError, match="gave up after 1 retries: HTTP 500"):
        run_bulk(fake, tmp_path, catalog(10), mode="replace", max_retries=1)
    assert fake.count() == 10 and len(fake.fake.indexes) == 4
    assert fake.fake.bulk_requests == 1 + 2  # the first load, then one chunk tried twice: no more sending


def test_asset_uris_come_from_the_config_alone() -> None:
    config = ElasticsearchSink.config_class.model_validate({"hosts": ["https://elastic:pw@es.example.com"]})
    assert ElasticsearchSink.asset_uris(config)[-1] == "elasticsearch://es.example.com:9200/catalog-tables"
    config = ElasticsearchBulkSink.config_class.model_validate({"conn_id": "es", "index_prefix": "cat"})
    assert ElasticsearchBulkSink.asset_uris(config) == [f"elasticsearch://es/cat-{kind}" for kind in KINDS]
    with pytest.raises(ValueError, match="either conn_id or hosts"):
        ElasticsearchSink.config_class.model_validate({})


def test_hook_resolves_the_connection_and_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"api_key": "s3cr3t-key", "verify_certs": "false", "ca_certs": "/certs/ca.crt", "request_timeout": "12"}
    conn = {"conn_type": "ingest_elasticsearch", "host": "es1,https://es2:9243", "port": 9201, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_ES_TEST", json.dumps(conn))
    hook = ElasticsearchIngestHook("es_test")
    assert hook.settings() == {
        "hosts": ["http://es1:9201", "https://es2:9243"],
        "api_key": "s3cr3t-key",
        "verify_certs": False,
        "ca_certs": "/certs/ca.crt",
        "request_timeout": 12.0,
    }
    assert "s3cr3t-key" in hook.secrets  # its messages hide it (and Airflow's masker in a task)
    prefixed = {"conn_type": "ingest_elasticsearch", "host": "es", "login": "elastic", "password": "pw-long",
                "extra": {"extra__ingest_elasticsearch__request_timeout": 5}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_ES_OLD", json.dumps(prefixed))
    run_secrets: set[str] = set()
    settings = ElasticsearchIngestHook("es_old", secrets=run_secrets).settings()
    assert settings["request_timeout"] == 5.0 and settings["username"] == "elastic"
    assert {"pw-long", base64.b64encode(b"elastic:pw-long").decode()} <= run_secrets  # the run's set, basic form too


def test_hook_tests_the_connection(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ES_PING", json.dumps({"conn_type": "ingest_elasticsearch", "host": cluster.url}))
    hook = ElasticsearchIngestHook("es_ping")
    ok, message = hook.test_connection()
    hook.close()
    version = cluster.client.info()["version"]["number"]
    assert (ok, message) == (True, f"connected to Elasticsearch {version}")


def test_the_connection_type_is_declared_with_its_form() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    hook = ProvidersManagerTaskRuntime().hooks["ingest_elasticsearch"]
    assert hook.hook_class_name == "airflow_provider_ingest.elasticsearch.hook.ElasticsearchIngestHook"
    assert hook.hook_name == "Elasticsearch (metadata ingest)" and hook.connection_testable
    widgets = {
        name.rsplit("__", 1)[1]: w for name, w in manager.connection_form_widgets.items() if "ingest_elastic" in name
    }
    assert sorted(widgets) == ["api_key", "ca_certs", "request_timeout", "verify_certs"]
    assert widgets["api_key"].is_sensitive and widgets["request_timeout"].field["value"] == 30
    behaviour = manager.field_behaviours["ingest_elasticsearch"]
    assert behaviour["hidden_fields"] == ["schema"] and behaviour["relabeling"]["host"].startswith("Hosts")
    assert ElasticsearchIngestHook.get_ui_field_behaviour()["hidden_fields"] == ["schema"]  # Airflow < 3.2


def test_importing_the_components_is_cheap() -> None:
    code = (
        "import sys, airflow_provider_ingest.elasticsearch.sink, airflow_provider_ingest.elasticsearch.bulk_sink;"
        "print(sorted(m for m in ('elasticsearch', 'elastic_transport', 'airflow') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


SAMPLE_DAG = """\
source:
  type: sql
  config: {sample: shop}
stage:
  type: file
bulk_sink:
  type: elasticsearch
  config: {conn_id: h6_es_dag, index_prefix: PREFIX, mode: replace, initial_backoff: 0.001}
workflow:
  staging_root: STAGING
airflow:
  dag_id: h6_es_sample_shop
  retries: 0
"""


@pytest.mark.airflow
def test_generated_dag_publishes_the_sample_shop(
    dags_folder: Path,
    tmp_path: Path,
    cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from support.dags import run_dag, task_states, xcoms

    from airflow_provider_ingest.airflow.factory import build_dag

    api_key = cluster.api_key()  # the only credentials: the host carries none
    connection = {"conn_type": "ingest_elasticsearch", "host": cluster.address, "extra": {"api_key": api_key}}
    monkeypatch.setenv("AIRFLOW_CONN_H6_ES_DAG", json.dumps(connection))
    text = SAMPLE_DAG.replace("PREFIX", cluster.prefix).replace("STAGING", str(tmp_path / "staging"))
    (dags_folder / "h6_es_sample_shop.yaml").write_text(text)
    dag = build_dag(dags_folder / "h6_es_sample_shop.yaml")
    assert [outlet.uri for outlet in dag.get_task("bulk_sink").outlets] == [
        f"elasticsearch://h6_es_dag/{cluster.prefix}-{kind}" for kind in KINDS
    ]
    if cluster.fake:
        cluster.fake.fail_bulk(429, 2)

    dag_run = run_dag(dags_folder, "h6_es_sample_shop")
    assert task_states(dag_run) == {
        "source": "success",
        "stage": "success",
        "bulk_sink": "success",
        "cleanup_staging": "success",
    }
    bulk = xcoms(dag_run)["bulk_sink"]
    tables = cluster.count("tables")
    assert [cluster.count(kind) for kind in KINDS[:3]] == [1, 1, 1] and tables >= 7
    assert bulk["records"] == tables + 3 and bulk["failures"] == 0
    assert bulk["summary"]["counters"]["indexes_switched"] == 4, bulk
    assert bulk["summary"]["counters"].get("retries", 0) == (2 if cluster.fake else 0)
    assert "sample_shop.shop.main.order_items" in cluster.ids(term={"fqn": "sample_shop.shop.main.order_items"})
    assert api_key not in caplog.text and api_key not in json.dumps(xcoms(dag_run))
