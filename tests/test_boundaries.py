"""Every guard of a run, tested exactly at its limit, one step under and one step over.

The success threshold (serial runner and Airflow tasks), ``replace``'s shrink and failure guards (per record
kind), the circuit breaker's count of refused credentials, and the staging retention. A guard whose ``<``
became ``<=`` (or that applied to one kind only) fails one of these.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from es_server import FakeElasticsearch
from om_server import TOKEN, FakeOpenMetadata, serve
from support.dags import run_dag, task_states, xcoms

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.breaker import AUTHENTICATION_FAILURES, SERVER_FAILURES, CircuitBreaker, NotAttempted
from airflow_provider_ingest.elasticsearch.bulk import BulkConfig, BulkWriter
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink, PublishRefused
from airflow_provider_ingest.elasticsearch.client import build_client
from airflow_provider_ingest.elasticsearch.documents import action
from airflow_provider_ingest.errors import AuthenticationError, ServerFailure, ServiceError, ServiceUnavailableError
from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Record, Table, dump_record
from airflow_provider_ingest.run import RunResult, run_workflow
from airflow_provider_ingest.staging import StagedFileWriter
from airflow_provider_ingest.staging.paths import RUN_MARKER
from airflow_provider_ingest.staging.retention import DAY, remove_expired_runs
from airflow_provider_ingest.workflow.loader import load_workflow

TABLES = [f"t{i}" for i in range(10)]
"""Ten tables, one of them refused: a success rate of exactly 90.0 (a float with no rounding error)."""
AROUND_90 = [(89.99, True), (90.0, True), (90.01, False)]
"""(threshold, run succeeds) for a success rate of exactly 90 %: just under, exactly at, just over it."""

# --- success threshold: the serial runner (airflow-ingest run) ---------------------------------------------------


def run_serial(folder: Path, threshold: float, fail_on: list[str], names: list[str] = TABLES) -> RunResult:
    """Ten tables through a sink refusing ``fail_on``, with ``success_threshold: threshold``."""
    journal = str(folder / "journal.txt")
    spec = {
        "source": {"type": "support.components:JournalSource", "config": {"journal": journal, "names": names}},
        "sink": {"type": "support.components:JournalSink", "config": {"journal": journal, "fail_on": fail_on}},
        "workflow": {"success_threshold": threshold, "staging_root": str(folder / "staging")},
    }
    path = folder / f"flow-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return run_workflow(load_workflow(path), run_id="run")


@pytest.mark.parametrize(("threshold", "success"), AROUND_90)
def test_serial_run_at_the_success_threshold(tmp_path: Path, threshold: float, success: bool) -> None:
    result = run_serial(tmp_path, threshold, ["t3"])

    sink = result.reports[-1]
    assert (sink.records, sink.failure_count, sink.success_rate) == (9, 1, 90.0)
    assert result.success is success
    assert result.below_threshold == ([] if success else ["sink:JournalSink"])


@pytest.mark.parametrize(("threshold", "failures", "success"), [(100, 0, True), (100, 1, False), (0, 10, True)])
def test_serial_run_at_the_ends_of_the_threshold(
    tmp_path: Path, threshold: float, failures: int, success: bool
) -> None:
    """100 % tolerates no failure at all; 0 % tolerates every record failing (and is said so in the docs)."""
    result = run_serial(tmp_path, threshold, TABLES[:failures])

    assert result.success is success and result.failures == failures


@pytest.mark.parametrize(("failures", "success"), [(99, True), (100, True), (101, False)])
def test_serial_run_one_failure_either_side_of_the_threshold(tmp_path: Path, failures: int, success: bool) -> None:
    """A thousand records at 90 %: 100 failures is the most allowed; one more fails the run."""
    names = [f"t{i}" for i in range(1000)]
    result = run_serial(tmp_path, 90, names[:failures], names)

    assert result.success is success and result.failures == failures


# --- success threshold: the Airflow task path (generated DAG, dag.test) ------------------------------------------


@pytest.mark.airflow
@pytest.mark.parametrize(("threshold", "success"), AROUND_90)
def test_airflow_task_at_the_success_threshold(
    dags_folder: Path, tmp_path: Path, threshold: float, success: bool
) -> None:
    records = tmp_path / "tables.jsonl"
    records.write_text("".join(dump_record(table(name)) + "\n" for name in TABLES))
    dag_id = f"threshold_{uuid.uuid4().hex[:10]}"
    spec = {
        "source": {"type": "file", "config": {"path": str(records), "format": "jsonl"}},
        "processors": [{"type": "support.components:TagTables", "config": {"fail_on": ["t3"]}}],
        "sink": {"type": "file", "config": {"path": str(tmp_path / "out.jsonl")}},
        "workflow": {"success_threshold": threshold, "staging_root": str(tmp_path / "staging")},
        "airflow": {"dag_id": dag_id, "retries": 0},
    }
    (dags_folder / f"{dag_id}.yaml").write_text(yaml.safe_dump(spec))

    dag_run = run_dag(dags_folder, dag_id)

    states = task_states(dag_run)
    assert states["tagtables"] == ("success" if success else "failed"), states
    assert states["sink"] == ("success" if success else "upstream_failed"), states
    if success:
        summary = xcoms(dag_run)["tagtables"]["summary"]
        assert (summary["records"], summary["failures"], summary["success_rate"]) == (9, 1, 90.0)
    assert (tmp_path / "out.jsonl").exists() is success


def table(name: str, service: str = "shop") -> Table:
    return Table(service=service, database="db", database_schema="public", name=name)


# --- Elasticsearch replace: the shrink guard, per record kind ----------------------------------------------------

KIND_OF_INDEX = {
    "services": "database_service",
    "databases": "database",
    "schemas": "database_schema",
    "tables": "table",
}


def records_of(kind: str, count: int) -> list[Record]:
    """``count`` records of one kind and one of each other kind (so every index has a document)."""
    many = {
        "database_service": lambda i: DatabaseService(name=f"s{i}", service_type="Postgres"),
        "database": lambda i: Database(service="shop", name=f"d{i}"),
        "database_schema": lambda i: DatabaseSchema(service="shop", database="db", name=f"p{i}"),
        "table": lambda i: table(f"t{i}"),
    }
    one = {
        "database_service": DatabaseService(name="shop", service_type="Postgres"),
        "database": Database(service="shop", name="db"),
        "database_schema": DatabaseSchema(service="shop", database="db", name="public"),
        "table": table("only"),
    }
    return [*(many[kind](i) for i in range(count)), *(record for other, record in one.items() if other != kind)]


class Letters:
    """Dead letters kept by a test (the bulk sink's context needs somewhere to put them)."""

    def __init__(self) -> None:
        self.letters: list[Any] = []

    def add(self, letter: Any) -> None:
        self.letters.append(letter)


def publish(server: FakeElasticsearch, folder: Path, records: list[Record], **settings: Any) -> ElasticsearchBulkSink:
    """``records`` staged, then published by the Elasticsearch bulk sink in ``replace`` mode."""
    uri = str(folder / f"staged-{uuid.uuid4().hex}.jsonl")
    with StagedFileWriter(uri, producer="test", kinds={record.kind for record in records}) as writer:
        for record in records:
            writer.write_line(dump_record(record))
    config = {"hosts": [server.url], "index_prefix": "catalog", "mode": "replace", **settings}
    context = RunContext(workflow_name="es", run_id="r1", staging_root=str(folder), dead_letters=Letters())
    sink = ElasticsearchBulkSink.create(config, context)
    sink.prepare()
    try:
        sink.publish(uri)  # type: ignore[attr-defined]
    finally:
        sink.close()
    return sink  # type: ignore[return-value]


@pytest.fixture
def elasticsearch() -> Any:
    server = FakeElasticsearch()
    yield server
    server.close()


def live_count(server: FakeElasticsearch, index: str) -> int:
    client = build_client({"hosts": [server.url]})
    try:
        client.indices.refresh(index=f"catalog-{index}")
        return int(client.count(index=f"catalog-{index}")["count"])
    finally:
        client.close()


@pytest.mark.parametrize("index", list(KIND_OF_INDEX))
@pytest.mark.parametrize(("kept", "switched"), [(81, True), (80, True), (79, False)])
def test_replace_at_the_shrink_limit_of_each_kind(
    elasticsearch: FakeElasticsearch, tmp_path: Path, index: str, kept: int, switched: bool
) -> None:
    """100 documents, ``max_shrink: 0.2``: 80 (a drop of exactly 20 %) switches the alias, 79 does not."""
    kind = KIND_OF_INDEX[index]
    publish(elasticsearch, tmp_path, records_of(kind, 100), max_shrink=0.2)
    assert live_count(elasticsearch, index) == 100

    if switched:
        publish(elasticsearch, tmp_path, records_of(kind, kept), max_shrink=0.2)
    else:
        with pytest.raises(PublishRefused, match=rf"{kept} documents against 100 in catalog-{index}, a drop of 21%"):
            publish(elasticsearch, tmp_path, records_of(kind, kept), max_shrink=0.2)

    assert live_count(elasticsearch, index) == (kept if switched else 100)


@pytest.mark.parametrize(("max_shrink", "kept", "switched"), [(0.0, 100, True), (0.0, 99, False), (1.0, 0, True)])
def test_replace_at_the_ends_of_max_shrink(
    elasticsearch: FakeElasticsearch, tmp_path: Path, max_shrink: float, kept: int, switched: bool
) -> None:
    """``max_shrink: 0`` refuses the loss of a single document; ``1`` lets an index empty."""
    publish(elasticsearch, tmp_path, records_of("table", 100))
    new = records_of("table", kept) if kept else records_of("table", 0)
    if switched:
        publish(elasticsearch, tmp_path, new, max_shrink=max_shrink)
    else:
        with pytest.raises(PublishRefused, match=r"99 documents against 100 in catalog-tables, a drop of 1%"):
            publish(elasticsearch, tmp_path, new, max_shrink=max_shrink)
    assert live_count(elasticsearch, "tables") == (kept if switched else 100)


def refusing(server: FakeElasticsearch, names: set[str]) -> None:
    """The server refuses the table documents of ``names`` (a mapping error, as Elasticsearch answers)."""
    server.reject(lambda doc_id, source: ("mapper_parsing_exception", "refused") if doc_id in names else None)


@pytest.mark.parametrize(("refused", "switched"), [(1, True), (2, True), (3, False)])
def test_replace_at_max_failures(
    elasticsearch: FakeElasticsearch, tmp_path: Path, refused: int, switched: bool
) -> None:
    """``max_failures: 2``: two refused documents still switch the aliases, a third does not."""
    publish(elasticsearch, tmp_path, records_of("table", 10))
    refusing(elasticsearch, {f"shop.db.public.t{i}" for i in range(refused)})

    if switched:
        sink = publish(elasticsearch, tmp_path, records_of("table", 10), max_failures=2, max_shrink=0.5)
        assert sink.report.failure_count == refused
    else:
        with pytest.raises(PublishRefused, match=r"records failed: 3 \(max_failures 2\)$"):
            publish(elasticsearch, tmp_path, records_of("table", 10), max_failures=2, max_shrink=0.5)

    assert live_count(elasticsearch, "tables") == (10 - refused if switched else 10)


@pytest.mark.parametrize(("keep_indexes", "kept"), [(2, 2), (3, 3), (4, 3)])
def test_replace_keeps_keep_indexes_physical_indexes(
    elasticsearch: FakeElasticsearch, tmp_path: Path, keep_indexes: int, kept: int
) -> None:
    """Three replaces, each a new physical index per alias: ``keep_indexes`` of them are kept, the live one among."""
    for _ in range(3):
        publish(elasticsearch, tmp_path, records_of("table", 5), keep_indexes=keep_indexes)
    client = build_client({"hosts": [elasticsearch.url]})
    try:
        for index in KIND_OF_INDEX:
            physical = dict(client.indices.get_alias(index=f"catalog-{index}-*").body)
            assert len(physical) == kept, physical
            serving = [name for name, info in physical.items() if f"catalog-{index}" in info["aliases"]]
            assert serving == [max(physical)]
    finally:
        client.close()


def replace_workflow(folder: Path, server: FakeElasticsearch, tables: int, dag_id: str) -> dict[str, Any]:
    """``tables`` tables from a file, staged, then published with ``replace`` (``max_shrink: 0.2``)."""
    records = folder / f"{dag_id}.jsonl"
    records.write_text("".join(dump_record(record) + "\n" for record in records_of("table", tables)))
    config = {"hosts": [server.url], "index_prefix": "catalog", "mode": "replace", "max_shrink": 0.2}
    return {
        "source": {"type": "file", "config": {"path": str(records), "format": "jsonl"}},
        "stage": {"type": "file"},
        "bulk_sink": {"type": "elasticsearch", "config": config},
        "workflow": {"staging_root": str(folder / "staging")},
        "airflow": {"dag_id": dag_id, "retries": 0},
    }


SHRINK = [(80, True), (79, False)]
"""(tables kept of 100, aliases switched) with ``max_shrink: 0.2``: exactly at the limit, one table past it."""


@pytest.mark.parametrize(("kept", "switched"), SHRINK)
def test_serial_run_at_the_shrink_limit(
    elasticsearch: FakeElasticsearch, tmp_path: Path, kept: int, switched: bool
) -> None:
    publish(elasticsearch, tmp_path, records_of("table", 100))
    path = tmp_path / "replace.yaml"
    path.write_text(yaml.safe_dump(replace_workflow(tmp_path, elasticsearch, kept, "replace")))

    result = run_workflow(load_workflow(path), run_id="run")

    assert result.success is switched, result.error
    if not switched:
        assert "PublishRefused: replace refused" in (result.error or "") and "a drop of 21%" in (result.error or "")
    assert live_count(elasticsearch, "tables") == (kept if switched else 100)


@pytest.mark.airflow
@pytest.mark.parametrize(("kept", "switched"), SHRINK)
def test_airflow_task_at_the_shrink_limit(
    dags_folder: Path, elasticsearch: FakeElasticsearch, tmp_path: Path, kept: int, switched: bool
) -> None:
    publish(elasticsearch, tmp_path, records_of("table", 100))
    dag_id = f"shrink_{uuid.uuid4().hex[:10]}"
    (dags_folder / f"{dag_id}.yaml").write_text(yaml.safe_dump(replace_workflow(tmp_path, elasticsearch, kept, dag_id)))

    dag_run = run_dag(dags_folder, dag_id)

    assert task_states(dag_run)["bulk_sink"] == ("success" if switched else "failed")
    assert live_count(elasticsearch, "tables") == (kept if switched else 100)


# --- OpenMetadata: batches of batch_size -------------------------------------------------------------------------


def publish_to_openmetadata(
    folder: Path, tables: int, faults: tuple[str, int, str] | None = None, **settings: Any
) -> tuple[RunResult, FakeOpenMetadata]:
    """A service, a database, a schema and ``tables`` tables through the openmetadata sink (``settings``) to a test
    server answering ``faults`` (status, times, path) first; the run and the server."""
    records = folder / "catalog.jsonl"
    catalog = records_of("table", tables)
    catalog = catalog[tables:] + catalog[:tables]  # the service, database and schema first
    records.write_text("".join(dump_record(record) + "\n" for record in catalog))
    with serve(FakeOpenMetadata()) as server:
        if faults is not None:
            server.inject(faults[0], times=faults[1], path=faults[2])
        config = {"server_url": server.url + "/api", "jwt_token": "${OM_TEST_TOKEN}", **settings}
        spec = {
            "source": {"type": "file", "config": {"path": str(records), "format": "jsonl"}},
            "sink": {"type": "openmetadata", "config": config},
            "workflow": {"staging_root": str(folder / "staging")},
        }
        path = folder / f"om-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return run_workflow(load_workflow(path), run_id="run"), server


@pytest.mark.parametrize(("tables", "requests"), [(1, 1), (2, 1), (3, 2), (7, 2), (8, 3)])
def test_openmetadata_sends_batch_size_records_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tables: int, requests: int
) -> None:
    """``batch_size: 5``: a service, a database, a schema and two tables (five records) are one batch, so one bulk
    request of tables; a third table starts a second batch. The bulk requests of tables count the batches."""
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    result, server = publish_to_openmetadata(tmp_path, tables, retries=0, batch_size=5)
    assert result.success, result.error or result.reports
    assert server.requests_to("/api/v1/tables/bulk") == requests
    assert len(server.fqns("table")) == tables


@pytest.mark.parametrize(("unavailable", "published"), [(1, True), (2, True), (3, False)])
def test_openmetadata_retries_exactly_retries_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unavailable: int, published: bool
) -> None:
    """``retries: 2``: a bulk request answered 503 twice goes through on its third try; three 503s fail it."""
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    faults = ("503", unavailable, "/api/v1/tables/bulk")
    result, server = publish_to_openmetadata(tmp_path, 3, faults, retries=2, backoff_factor=0)
    assert server.requests_to("/api/v1/tables/bulk") == min(unavailable + 1, 3)
    assert result.success is published, result.error or result.reports
    assert len(server.fqns("table")) == (3 if published else 0)


# --- the circuit breaker: refused credentials in a row -----------------------------------------------------------


def refused() -> AuthenticationError:
    return AuthenticationError("401 unable to authenticate")


@pytest.mark.parametrize(
    "refusals", [AUTHENTICATION_FAILURES - 1, AUTHENTICATION_FAILURES, AUTHENTICATION_FAILURES + 1]
)
def test_the_breaker_opens_at_exactly_its_count_of_refusals_in_a_row(refusals: int) -> None:
    breaker = CircuitBreaker("Elasticsearch")
    for _ in range(refusals):
        breaker.failed(refused())

    assert breaker.open is (refusals >= AUTHENTICATION_FAILURES)
    if breaker.open:
        with pytest.raises(NotAttempted):
            breaker.guard()
        assert breaker.not_attempted == 1
    else:
        breaker.guard()  # still sending
    with pytest.raises(AuthenticationError):  # refused credentials fail the step either way
        breaker.finish()


@pytest.mark.parametrize("interruption", [lambda breaker: breaker.succeeded(), lambda b: b.failed(ServiceError("409"))])
def test_refusals_not_in_a_row_never_open_the_breaker(interruption: Any) -> None:
    """One short of the count, then an answer that took the credentials: counting starts again."""
    breaker = CircuitBreaker("OpenMetadata")
    for _ in range(3):
        for _ in range(AUTHENTICATION_FAILURES - 1):
            breaker.failed(refused())
        interruption(breaker)
    assert not breaker.open and breaker.refusals == 3 * (AUTHENTICATION_FAILURES - 1)


@pytest.mark.parametrize("failures", [SERVER_FAILURES - 1, SERVER_FAILURES])
def test_the_breaker_opens_after_its_count_of_requests_the_service_failed_in_a_row(failures: int) -> None:
    """A server answering 500 to every request, each after the client's retries: the step stops after a few (it
    sent every record alone, each with the full retry schedule: hours for a large catalog). A request the service
    refused (a 4xx: an Elasticsearch chunk too large) is no failure of the service, and counting starts again."""
    breaker = CircuitBreaker("OpenMetadata")
    for _ in range(2):
        for _ in range(SERVER_FAILURES - 1):
            breaker.failed(ServerFailure("PUT /api/v1/tables: 500 after 6 attempts: boom"))
        breaker.failed(ServiceError("HTTP 413: too large"))  # refused, not failed: the service works
    for _ in range(SERVER_FAILURES - 1):
        breaker.failed(ServerFailure("PUT /api/v1/tables: 500 after 6 attempts: boom"))
    breaker.succeeded()  # a request went through: counting starts again
    for _ in range(failures):
        breaker.failed(ServerFailure("PUT /api/v1/tables: 500 after 6 attempts: boom"))
    assert breaker.open is (failures == SERVER_FAILURES)
    if breaker.open:
        with pytest.raises(ServiceUnavailableError, match=f"OpenMetadata failed {SERVER_FAILURES} requests in a row"):
            breaker.finish()


def test_an_unreachable_service_opens_the_breaker_at_once() -> None:
    breaker = CircuitBreaker("Elasticsearch")
    breaker.failed(ServiceUnavailableError("connection refused"))
    assert breaker.open
    with pytest.raises(ServiceUnavailableError, match="0 records not attempted"):
        breaker.finish()


def write_through(server: FakeElasticsearch, actions: int, **settings: Any) -> tuple[BulkWriter, list[str]]:
    """``actions`` table documents through a bulk writer, one per request; the writer and the refusals' reasons."""
    client = build_client({"hosts": [server.url]})
    refused: list[str] = []
    config = BulkConfig.model_validate({"chunk_size": 1, "initial_backoff": 0.001, "max_backoff": 0.01, **settings})
    writer = BulkWriter(client, config, lambda item, reason: refused.append(reason), str)
    try:
        for index in range(actions):
            fqn = f"shop.db.public.t{index}"
            writer.add(action("catalog-tables", fqn, {"fqn": fqn, "name": f"t{index}"}), fqn, fqn)
        writer.flush()
    finally:
        client.close()
    return writer, refused


@pytest.mark.parametrize("refusals", [2, 3])  # the documented count: three in a row
def test_elasticsearch_stops_sending_at_exactly_the_count_of_refusals(
    elasticsearch: FakeElasticsearch, refusals: int
) -> None:
    """Two 401s in a row: the other documents still go (and the step fails on the refusals); three: none does."""
    elasticsearch.inject(401, times=refusals)

    writer, refused = write_through(elasticsearch, 6)

    opened = refusals == 3
    assert writer.breaker.open is opened
    assert writer.indexed == (0 if opened else 6 - refusals)
    assert refused[:refusals] == [refused[0]] * refusals and refused[0].startswith("HTTP 401")
    assert sum(reason.startswith("not attempted") for reason in refused) == (6 - refusals if opened else 0)
    with pytest.raises(AuthenticationError):
        writer.finish()


@pytest.mark.parametrize(("unavailable", "indexed"), [(1, 3), (2, 3), (3, 0)])
def test_elasticsearch_retries_exactly_max_retries_times(
    elasticsearch: FakeElasticsearch, unavailable: int, indexed: int
) -> None:
    """``max_retries: 2``: a request answered 503 twice goes through on its third try; three 503s give up."""
    elasticsearch.fail_bulk(503, unavailable)

    writer, refused = write_through(elasticsearch, 3, max_retries=2)

    assert writer.indexed == indexed and writer.retries == min(unavailable, 2)
    if indexed:
        assert not refused
        writer.finish()
    else:
        assert refused[0].startswith("gave up after 2 retries: HTTP 503")
        with pytest.raises(ServiceUnavailableError):
            writer.finish()


# --- staging retention -------------------------------------------------------------------------------------------


def staged_run(root: Path, name: str, modified: float) -> Path:
    """A marked run folder of workflow ``wf`` whose files were last written at ``modified``."""
    run = root / "wf" / name
    run.mkdir(parents=True)
    for file in (run / RUN_MARKER, run / "output.jsonl"):
        file.write_text("")
        os.utime(file, (modified, modified))
    return run


@pytest.mark.parametrize("days", [0, 1, 7])
@pytest.mark.parametrize(("age_past_retention", "removed"), [(-1.0, False), (0.0, False), (1.0, True)])
def test_retention_removes_a_run_only_once_older_than_the_retention(
    tmp_path: Path, days: int, age_past_retention: float, removed: bool
) -> None:
    """A run exactly ``retention_days`` old is kept; one second older, it is removed."""
    written = 1_700_000_000.0
    run = staged_run(tmp_path, "r1", written)
    now = written + days * DAY + age_past_retention

    gone = remove_expired_runs(str(tmp_path), "wf", days, now=now)

    assert run.exists() is not removed
    assert len(gone) == int(removed)


@pytest.mark.parametrize(("age_past_retention", "removed"), [(0.0, False), (1.0, True)])
def test_retention_of_a_partial_file_in_a_kept_run(tmp_path: Path, age_past_retention: float, removed: bool) -> None:
    written = 1_700_000_000.0
    run = staged_run(tmp_path, "r1", written + 10 * DAY)  # the run itself is recent
    partial = run / f"output.jsonl.{uuid.uuid4().hex}.partial"
    partial.write_text("")
    os.utime(partial, (written, written))

    remove_expired_runs(str(tmp_path), "wf", 7, now=written + 7 * DAY + age_past_retention)

    assert run.exists() and partial.exists() is not removed
