"""Publishing to OpenMetadata and Elasticsearch under hostile answers: redirects to another host, a ``Retry-After``
asking for minutes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from om_server import TOKEN, FakeOpenMetadata, serve

from airflow_provider_ingest.records import Column, Database, DatabaseSchema, DatabaseService, DataType, Table
from airflow_provider_ingest.run import RunResult, run_workflow
from airflow_provider_ingest.staging import StagedFileWriter
from airflow_provider_ingest.workflow.loader import load_workflow

PASSWORD = "pw-review-secret-123456"


def records(tables: int = 2) -> list[Any]:
    found: list[Any] = [
        DatabaseService(name="shop", service_type="Postgres"),
        Database(name="db", service="shop"),
        DatabaseSchema(name="s", service="shop", database="db"),
    ]
    for index in range(tables):
        found.append(
            Table(
                service="shop",
                database="db",
                database_schema="s",
                name=f"t{index}",
                columns=[Column(name="id", data_type=DataType.INT)],
            )
        )
    return found


def run(folder: Path, sink_type: str, config: dict[str, Any], step: str = "sink") -> RunResult:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "records.jsonl"
    with StagedFileWriter(str(source), producer="test") as out:
        for record in records():
            out.write(record)
    workflow: dict[str, Any] = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "workflow": {"staging_root": str(folder / "staging"), "success_threshold": 0},
    }
    if step == "bulk_sink":
        workflow.update({"stage": {"type": "file"}, "bulk_sink": {"type": sink_type, "config": config}})
    else:
        workflow["sink"] = {"type": sink_type, "config": config}
    path = folder / "workflow.yaml"
    path.write_text(json.dumps(workflow))
    return run_workflow(load_workflow(path), run_id="r1")


@pytest.fixture
def om(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenMetadata]:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve() as state:
        yield state


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[Any]]]:
    """A server that answers every request with a 307 to another host (127.0.0.2), and what that host saw."""
    seen: list[Any] = []

    class Other(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_ANY(self) -> None:
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_ANY

    other = ThreadingHTTPServer(("127.0.0.2", 0), Other)
    target = f"http://127.0.0.2:{other.server_address[1]}"

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_ANY(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(307)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_ANY

    redirect = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (other, redirect)]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{redirect.server_address[1]}", seen
    for s in (other, redirect):
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize("step", ["sink", "bulk_sink"])
def test_es_redirect_is_refused_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redirecting: tuple[str, list[Any]], step: str
) -> None:
    """A cluster URL answering 307 to another host: the credentials do not follow, and the step fails saying it was
    redirected and where, as the OpenMetadata client does; it said ``Elasticsearch: HTTP 307: `` and nothing else."""
    url, seen = redirecting
    monkeypatch.setenv("ES_PW", PASSWORD)
    config = {"hosts": [url], "username": "elastic", "password": "${ES_PW}", "max_retries": 1, "initial_backoff": 0.001}
    result = run(tmp_path, "elasticsearch", config, step)
    assert not any(authorization for _, _, authorization in seen), "credentials followed the redirect"
    assert not result.success and result.error is not None
    assert "the host redirects to http://127.0.0.2:" in str(result.error), result.error
    assert "set hosts to where it redirects" in str(result.error)


def test_om_retry_after_is_bounded(tmp_path: Path, om: FakeOpenMetadata, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server (or proxy) answering 429 with ``Retry-After: 120`` is waited for at most ``MAX_WAIT`` seconds (1 here),
    as the backoff is: urllib3 waits whatever the header says, and a proxy asking for hours held the step for hours."""
    from airflow_provider_ingest.openmetadata import client

    monkeypatch.setattr(client, "MAX_WAIT", 1.0)
    om.retry_after = "120"
    om.inject("429", times=1, path="/api/v1/tables")
    config = {
        "server_url": om.url + "/api",
        "jwt_token": "${OM_TEST_TOKEN}",
        "retries": 1,
        "backoff_factor": 0.01,
        "read_timeout": 5,
    }
    done: list[RunResult] = []
    worker = threading.Thread(target=lambda: done.append(run(tmp_path, "openmetadata", config)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), f"still waiting after {time.monotonic() - started:.0f} s on one Retry-After"
    assert done[0].success, done[0].error
