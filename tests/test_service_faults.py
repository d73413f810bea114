"""Elasticsearch and OpenMetadata misbehaving, through ``airflow-ingest run``: every step completes or fails.

Each test runs a workflow file (file source → sink, or → file stage → bulk sink) against the test servers
over HTTP with a fault injected: a server that never answers, 429 storms shorter and longer than the
retries, connections dropped before and in the middle of an answer, refused credentials (401, 403), and
``replace`` with refused documents. A failed step exits 1 with one message naming the cause, and every
record is accounted for: published, failed, or dead-lettered as not attempted. Timeouts and backoffs are
small, so each test takes a second or two.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from es_server import FakeElasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from om_server import TOKEN, FakeOpenMetadata, serve

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.breaker import AUTHENTICATION_FAILURES, SERVER_FAILURES, CircuitBreaker, NotAttempted
from airflow_provider_ingest.cli import main
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink
from airflow_provider_ingest.errors import (
    AuthenticationError,
    ServerFailure,
    ServiceError,
    ServiceUnavailableError,
    is_retryable,
)
from airflow_provider_ingest.openmetadata.mapping import ENDPOINTS
from airflow_provider_ingest.records import Column, Database, DatabaseSchema, DatabaseService, DataType, Table, TagLabel
from airflow_provider_ingest.staging import StagedFileWriter
from airflow_provider_ingest.staging.deadletters import DeadLetter, read_dead_letters
from airflow_provider_ingest.terminal import counted

TABLES = 30
RECORDS = TABLES + 3
ES_FAST = {"initial_backoff": 0.001, "max_backoff": 0.01, "max_retries": 2, "request_timeout": 0.5, "chunk_size": 5}
OM_FAST = {"retries": 2, "backoff_factor": 0.01, "connect_timeout": 0.5, "read_timeout": 0.5}
NOT_ATTEMPTED = "not attempted: "
BOUND = 10.0
"""Seconds within which a step facing a dead server must have failed (it takes about one)."""


@pytest.fixture(scope="module", autouse=True)
def _imported() -> None:
    """Import the components and client libraries before any test times a run."""
    import elasticsearch  # noqa: F401
    import requests  # noqa: F401

    from airflow_provider_ingest import run  # noqa: F401
    from airflow_provider_ingest.registry import resolve

    for role, name in [("source", "file"), ("stage", "file"), ("sink", "elasticsearch"), ("sink", "openmetadata")]:
        resolve(role, name)
    resolve("bulk_sink", "elasticsearch")
    resolve("bulk_sink", "openmetadata")


@dataclass
class Outcome:
    """What ``airflow-ingest run`` did: exit code, printed output, dead letters, seconds."""

    code: int
    output: str
    letters: list[DeadLetter]
    seconds: float

    def not_attempted(self) -> list[DeadLetter]:
        return [letter for letter in self.letters if letter.error.startswith(NOT_ATTEMPTED)]

    def failed(self) -> list[DeadLetter]:
        return [letter for letter in self.letters if not letter.error.startswith(NOT_ATTEMPTED)]

    def fqns(self) -> set[str]:
        fqns = [letter.fqn or "" for letter in self.letters]
        assert len(set(fqns)) == len(fqns), "a record dead-lettered twice"
        return set(fqns)


def catalog(tables: int = TABLES, immense: tuple[int, ...] = ()) -> list[Any]:
    """A service, a database, a schema and ``tables`` tables; tables in ``immense`` carry a tag ES refuses."""
    columns = [Column(name="id", data_type=DataType.INT), Column(name="total", data_type=DataType.BIGINT)]
    huge = [TagLabel(tag_fqn="Glossary." + "x" * 33_000)]
    return [
        DatabaseService(name="shop", service_type="Postgres"),
        Database(name="db", service="shop"),
        DatabaseSchema(name="public", service="shop", database="db"),
        *(
            Table(
                name=f"t{i}",
                service="shop",
                database="db",
                database_schema="public",
                columns=columns,
                tags=huge if i in immense else [],
            )
            for i in range(tables)
        ),
    ]


FQNS = {record.fqn for record in catalog()}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, sink: dict[str, Any], **options: Any) -> Outcome:
    """Run file source → ``sink`` (``step`` "sink") or → file stage → bulk sink (``step`` "bulk_sink") with the CLI."""
    records = options.pop("records", None) or catalog()
    source = tmp_path / "records.jsonl"
    with StagedFileWriter(str(source), producer="test") as out:
        for record in records:
            out.write(record)
    staging = tmp_path / f"staging-{time.monotonic_ns()}"
    workflow: dict[str, Any] = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "workflow": {"staging_root": str(staging), "success_threshold": options.pop("threshold", 90)},
    }
    workflow.update({"stage": {"type": "file"}, "bulk_sink": sink} if step == "bulk_sink" else {"sink": sink})
    path = tmp_path / "workflow.yaml"
    path.write_text(json.dumps(workflow))
    capsys.readouterr()
    started = time.monotonic()
    code = main(["run", str(path), "--quiet"])
    seconds = time.monotonic() - started
    letters = [letter for found in staging.rglob("dead_letters*") for letter in read_dead_letters(str(found))]
    return Outcome(code, capsys.readouterr().out, letters, seconds)


# Elasticsearch


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    yield server
    server.close()


def es_sink(server: FakeElasticsearch, **settings: Any) -> dict[str, Any]:
    return {"type": "elasticsearch", "config": {"hosts": [server.url], **ES_FAST, **settings}}


def es_stored(server: FakeElasticsearch) -> set[str]:
    return {
        doc_id for alias in ("services", "databases", "schemas", "tables") for doc_id in server.docs(f"catalog-{alias}")
    }


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_a_server_that_never_answers_fails_the_step_at_once(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    es.inject("hang", None)
    outcome = run(tmp_path, capsys, step, es_sink(es))
    assert outcome.code == 1 and outcome.seconds < BOUND
    assert "run failed: ServiceUnavailableError: Elasticsearch is unavailable, stopped: gave up after 2 retries: " \
           "ConnectionTimeout" in outcome.output  # fmt: skip
    assert f"{RECORDS - 5} records not attempted (dead-lettered)" in outcome.output
    assert outcome.fqns() == FQNS and not es_stored(es)
    assert len(outcome.failed()) == 5 and len(outcome.not_attempted()) == RECORDS - 5  # one chunk was tried
    assert es.bulk_requests == 3  # that chunk, retried twice; nothing more was sent
    assert outcome.not_attempted()[0].error.startswith(f"{NOT_ATTEMPTED}Elasticsearch is unavailable, stopped: ")


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_a_429_storm_shorter_than_the_retries_completes(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    es.retry_after = "1"
    es.inject(429, 4)
    outcome = run(tmp_path, capsys, step, es_sink(es, max_retries=5))
    assert outcome.code == 0, outcome.output
    assert "run succeeded" in outcome.output and not outcome.letters
    assert es_stored(es) == FQNS and not es.faults
    assert es.bulk_requests == RECORDS // 5 + 1 + 4


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_a_429_storm_longer_than_the_retries_fails_with_every_record_accounted(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    es.inject(429, None)
    outcome = run(tmp_path, capsys, step, es_sink(es))
    assert outcome.code == 1
    assert "stopped: gave up after 2 retries: HTTP 429: es_rejected_execution_exception" in outcome.output
    assert outcome.fqns() == FQNS and not es_stored(es)
    assert len(outcome.failed()) == 5 and es.bulk_requests == 3


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_dropped_connections_are_retried_to_completion(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    es.inject("truncate", 2)  # the answer's headers and half its body, then the connection closes
    es.inject("drop", 1)  # the request read, the connection closed without an answer
    outcome = run(tmp_path, capsys, step, es_sink(es, max_retries=4))
    assert outcome.code == 0, outcome.output
    assert es_stored(es) == FQNS and not outcome.letters and not es.faults
    assert "retries: 3" in outcome.output


@pytest.mark.parametrize("fault", ["no_items", "page"])
@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_a_200_that_is_no_bulk_answer_is_retried_like_a_failed_request(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, fault: str
) -> None:
    """A 200 without the bulk answer's items (a proxy's page, an answer cut to valid JSON) tells nothing of any
    document: the chunk goes again. It was read as the answer: records vanished, neither stored nor failed."""
    es.inject(fault, 1)
    outcome = run(tmp_path, capsys, step, es_sink(es))
    assert outcome.code == 0, outcome.output
    assert es_stored(es) == FQNS and not outcome.letters and not es.faults
    assert "retries: 1" in outcome.output


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_refused_credentials_stop_after_a_few_requests(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, status: int
) -> None:
    es.inject(status, None)
    outcome = run(tmp_path, capsys, step, es_sink(es, chunk_size=2))
    assert outcome.code == 1
    assert es.bulk_requests == 3  # not one per chunk, let alone per record
    failures = [line for line in outcome.output.splitlines() if line.startswith("run failed: ")]
    assert failures == [
        "run failed: AuthenticationError: Elasticsearch refused the credentials 3 times in a row, stopped: "
        f"HTTP {status}: security_exception: " + ("unable to authenticate user [ingest] for REST request [/_bulk]"
        if status == 401 else "action [indices:data/write/bulk] is unauthorized for user [ingest] with effective "
        "roles [viewer]") + f"; {RECORDS - 6} records not attempted (dead-lettered)"
    ]  # fmt: skip
    assert outcome.fqns() == FQNS and not es_stored(es)
    assert len(outcome.failed()) == 6 and all(f"HTTP {status}: " in letter.error for letter in outcome.failed())
    assert len(outcome.not_attempted()) == RECORDS - 6


def test_es_credentials_refused_from_the_start_fail_before_any_record(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    es.inject(401, None, endpoint="*")
    outcome = run(tmp_path, capsys, "sink", es_sink(es))
    assert outcome.code == 1 and len(es.requests) == 1
    assert "run failed: CredentialsRefused: Elasticsearch: HTTP 401: security_exception: unable to authenticate" in (
        outcome.output
    )


def test_es_replace_with_refused_documents_keeps_the_old_indexes_serving(
    es: FakeElasticsearch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases = [f"catalog-{kind}" for kind in ("services", "databases", "schemas", "tables")]
    first = run(tmp_path, capsys, "bulk_sink", es_sink(es, mode="replace"))
    assert first.code == 0, first.output
    serving = {alias: es.serving(alias) for alias in aliases}
    indexes = set(es.indexes)

    refused = run(tmp_path, capsys, "bulk_sink", es_sink(es, mode="replace"), records=catalog(immense=(3, 7)))
    assert refused.code == 1
    assert "run failed: PublishRefused: replace refused, the old indexes still serve: records failed: 2 " \
           "(max_failures 0)" in refused.output  # fmt: skip
    assert {alias: es.serving(alias) for alias in aliases} == serving and set(es.indexes) == indexes
    assert [letter.fqn for letter in refused.letters] == ["shop.db.public.t3", "shop.db.public.t7"]
    assert es.endpoint_requests("_aliases") == 1  # the first run's switch only

    allowed = run(
        tmp_path, capsys, "bulk_sink", es_sink(es, mode="replace", max_failures=2), records=catalog(immense=(3, 7))
    )
    assert allowed.code == 0, allowed.output
    switched = {alias: es.serving(alias) for alias in aliases}
    assert all(len(switched[alias]) == 1 and switched[alias] != serving[alias] for alias in aliases)
    assert len(es.docs("catalog-tables")) == TABLES - 2 and len(allowed.letters) == 2


# OpenMetadata


@pytest.fixture
def om(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenMetadata]:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve() as state:
        yield state


def om_sink(server: FakeOpenMetadata, **settings: Any) -> dict[str, Any]:
    config = {"server_url": server.url + "/api", "jwt_token": "${OM_TEST_TOKEN}", **OM_FAST, **settings}
    return {"type": "openmetadata", "config": config}


def om_stored(server: FakeOpenMetadata) -> set[str]:
    return {fqn for _, fqn in server.entities}


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_om_a_server_that_never_answers_fails_the_step_at_once(
    om: FakeOpenMetadata, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    om.inject("hang", None, path=ENDPOINTS["database_service"])
    outcome = run(tmp_path, capsys, step, om_sink(om))
    assert outcome.code == 1 and outcome.seconds < BOUND
    assert "run failed: ServiceUnavailableError: OpenMetadata is unavailable, stopped: PUT " in outcome.output
    assert "/api/v1/services/databaseServices: no answer after 3 attempts: ConnectionError: " in outcome.output
    assert f"; {RECORDS - 1} records not attempted (dead-lettered)" in outcome.output
    assert outcome.fqns() == FQNS and not om_stored(om)
    assert [letter.fqn for letter in outcome.failed()] == ["shop"]
    assert om.requests_to("/api/v1/") == 3  # the service's PUT, retried twice; nothing more was sent


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_om_a_429_storm_shorter_than_the_retries_completes(
    om: FakeOpenMetadata, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    om.inject("429", 2, path=ENDPOINTS["table"])
    outcome = run(tmp_path, capsys, step, om_sink(om))
    assert outcome.code == 0, outcome.output
    assert om_stored(om) == FQNS and not outcome.letters and not om.faults
    assert [call.status for call in om.puts()].count(429) == 2


def test_om_a_429_storm_longer_than_the_retries_fails_with_every_record_accounted(
    om: FakeOpenMetadata, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    om.inject("429", None, path=ENDPOINTS["table"])
    outcome = run(tmp_path, capsys, "bulk_sink", om_sink(om, max_workers=2, batch_size=5))
    assert outcome.code == 1
    assert "OpenMetadata is unavailable, stopped: PUT " in outcome.output
    assert "/api/v1/tables/bulk?async=false&overrideMetadata=false: 429 after 3 attempts: injected 429" in (
        outcome.output
    )
    assert om_stored(om) == {"shop", "shop.db", "shop.db.public"}
    assert outcome.fqns() == FQNS - om_stored(om)
    batches = om.requests_to(ENDPOINTS["table"]) // 3  # the batches in flight when it stopped, 3 attempts each
    assert 1 <= batches <= 2 and len(outcome.failed()) == 5 * batches
    assert len(outcome.not_attempted()) == TABLES - 5 * batches


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_om_dropped_connections_are_retried_to_completion(
    om: FakeOpenMetadata, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    om.inject("truncate", 2, path=ENDPOINTS["table"])  # headers and half the body, then the connection closes
    om.inject("drop", 1, path=ENDPOINTS["database"])  # closed without an answer
    outcome = run(tmp_path, capsys, step, om_sink(om))
    assert outcome.code == 0, outcome.output
    assert om_stored(om) == FQNS and not outcome.letters and not om.faults


def test_om_a_connection_dropped_mid_answer_every_time_says_so(
    om: FakeOpenMetadata, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    om.inject("truncate", None, path=ENDPOINTS["database"])
    outcome = run(tmp_path, capsys, "sink", om_sink(om))
    assert outcome.code == 1
    assert (
        "/api/v1/databases/bulk?async=false&overrideMetadata=false: the connection dropped mid-answer 3 times: "
        "ChunkedEncodingError: "
    ) in outcome.output
    assert om.requests_to(ENDPOINTS["database"]) == 3 and om_stored(om) == {"shop"}
    assert outcome.fqns() == FQNS - {"shop"} and len(outcome.not_attempted()) == RECORDS - 2


@pytest.mark.parametrize("status", ["401", "403"])
@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_om_refused_credentials_stop_after_a_few_requests(
    om: FakeOpenMetadata, tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, status: str
) -> None:
    for path in ENDPOINTS.values():
        om.inject(status, None, path=path)
    outcome = run(tmp_path, capsys, step, om_sink(om))
    assert outcome.code == 1
    assert len(om.puts()) == 3  # the service, the database, the schema: then it stopped
    failures = [line for line in outcome.output.splitlines() if line.startswith("run failed: ")]
    message = "Not Authorized! Token not valid" if status == "401" else "Principal: ingestion-bot operations"
    assert len(failures) == 1 and failures[0].startswith(
        f"run failed: AuthenticationError: OpenMetadata refused the credentials 3 times in a row, stopped: {status}: "
        f"{message}"
    )
    assert failures[0].endswith(f"; {TABLES} records not attempted (dead-lettered)")
    assert outcome.fqns() == FQNS and not om_stored(om)
    assert [letter.fqn for letter in outcome.failed()] == ["shop", "shop.db", "shop.db.public"]
    assert len(outcome.not_attempted()) == TABLES


# Properties


OUTCOMES = {
    "ok": None,
    "refused": AuthenticationError("401: refused"),
    "unavailable": ServiceUnavailableError("no answer"),
    "server error": ServerFailure("500"),
    "refused request": ServiceError("HTTP 413: too large"),
    "record error": ValueError("400: bad name"),
}


SERVICE_ANSWERED = ("server error", "refused request")
"""Answers that took the credentials."""


@given(st.lists(st.sampled_from(sorted(OUTCOMES)), max_size=12))
def test_the_breaker_opens_on_refusals_or_server_errors_in_a_row_or_an_unavailable_service(
    outcomes: list[str],
) -> None:
    breaker = CircuitBreaker("Service")
    refused, failed, opened_by = 0, 0, None
    for outcome in outcomes:
        error = OUTCOMES[outcome]
        breaker.succeeded() if error is None else breaker.failed(error)
        if opened_by is None:
            refused = refused + 1 if outcome == "refused" else 0 if outcome in (*SERVICE_ANSWERED, "ok") else refused
            failed = failed + 1 if outcome == "server error" else 0 if outcome in ("ok", "refused request") else failed
            if refused == AUTHENTICATION_FAILURES or failed == SERVER_FAILURES or outcome == "unavailable":
                opened_by = outcome
        assert breaker.open == (opened_by is not None)
    if opened_by is None:
        breaker.guard()
        if "refused" in outcomes:  # too few in a row to stop sending, but the step still fails
            with pytest.raises(
                AuthenticationError,
                match=rf"^Service refused the credentials {counted(outcomes.count('refused'), 'time')}: 401",
            ):
                breaker.finish()
        else:
            breaker.finish()
        return
    with pytest.raises(NotAttempted, match=r"^not attempted: Service "):
        breaker.guard()
    expected = AuthenticationError if opened_by == "refused" else ServiceUnavailableError
    with pytest.raises(expected, match="; 1 record not attempted") as raised:
        breaker.finish()
    assert type(raised.value) is expected and is_retryable(raised.value) != (opened_by == "refused")


class Letters(list[Any]):
    def add(self, letter: Any) -> None:
        self.append(letter)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tables=st.integers(0, 25),
    chunk_size=st.integers(1, 6),
    fault=st.sampled_from([401, 403, 429, "drop", "truncate", 413]),
    persistent=st.booleans(),
    after=st.integers(0, 6),
)
def test_es_every_record_is_published_failed_or_not_attempted(
    tmp_path: Path, tables: int, chunk_size: int, fault: int | str, persistent: bool, after: int
) -> None:
    records = catalog(tables)
    uri = str(tmp_path / f"staged-{time.monotonic_ns()}.jsonl")
    with StagedFileWriter(uri, producer="test") as out:
        for record in records:
            out.write(record)
    server = FakeElasticsearch()
    server.inject(fault, None if persistent else 1, after=after)
    letters = Letters()
    context = RunContext(workflow_name="es", run_id="r", staging_root=str(tmp_path), dead_letters=letters)
    config = {"hosts": [server.url], **ES_FAST, "chunk_size": chunk_size, "max_retries": 1}
    sink = ElasticsearchBulkSink.create(config, context)
    chunks = -(-len(records) // chunk_size)
    refused, faulty = fault in (401, 403), max(0, chunks - after)  # chunks the fault reaches
    stops = fault != 413 and faulty > 0 and (persistent or refused)  # any refusal fails the step
    opened = stops and persistent and faulty >= (AUTHENTICATION_FAILURES if refused else 1)
    try:
        sink.prepare()
        if stops:
            with pytest.raises(
                (AuthenticationError, ServiceUnavailableError),
                match=r"^Elasticsearch (refused the credentials|is unavailable)",
            ):
                sink.publish(uri)
        else:
            sink.publish(uri)
    finally:
        sink.close()
        server.close()
    stored = {
        doc_id for kind in ("services", "databases", "schemas", "tables") for doc_id in server.docs(f"catalog-{kind}")
    }
    lettered = [letter.fqn for letter in letters]
    assert len(set(lettered)) == len(lettered) and not stored & set(lettered)
    assert stored | set(lettered) == {record.fqn for record in records}
    assert sink.report.records == len(stored) and sink.report.failure_count == len(lettered)
    not_attempted = [letter for letter in letters if letter.error.startswith(NOT_ATTEMPTED)]
    assert bool(not_attempted) == (opened and faulty > (AUTHENTICATION_FAILURES if refused else 1))
    if opened:  # the chunks before the fault, then a few requests at most
        assert server.bulk_requests <= after + (AUTHENTICATION_FAILURES if refused else 2)
