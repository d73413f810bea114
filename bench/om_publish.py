"""Benchmark: a 2,200-relation PostgreSQL catalog published through the ``openmetadata`` bulk sink, bulk vs per entity.

Creates bench/sql_source.py's synthetic catalog (20 schemas x 100 tables x 20 columns, plus 10 views per
schema: 2,200 relations) in a fresh, uniquely named PostgreSQL database (dropped at the end), stages it
once with the ``sql`` source, then publishes the staged file twice, each time to a fresh test server
(tests/om_server.py, in its own process) that adds ``--latency`` seconds to every request:

* per entity: a server without the bulk endpoint (as before OpenMetadata had it), so one ``PUT`` per record;
* bulk: ``PUT <collection>/bulk``, ``--batch-size`` records a request, ``--max-workers`` batches at once.

Every request is counted by the server (the version check included), every entity it holds at the end too.
The server's check of each body against OpenMetadata's JSON schemas (``jsonschema``, ~1.5 ms of Python per
table, serialized by the server process's GIL) is off unless ``--validate``: the latency stands for the
server's time, and the tests check the bodies.

Usage: ``python bench/om_publish.py [--url URL] [--latency 0.02] [--batch-size 100] [--max-workers 4]``.
Target: at most 60 requests and at least 5x faster than per entity. The last line is the bulk run's
``requests=N seconds=S entities=E``.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy
from sql_source import add_url_argument, catalog_ddl, drop_database

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.openmetadata.bulk_sink import OpenMetadataBulkSink
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.workflow.loader import load_workflow

TESTS = Path(__file__).resolve().parents[1] / "tests"
SERVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import om_rules
from om_server import TOKEN, FakeOpenMetadata, serve
if sys.argv[4] != "validate":  # the requests alone: no JSON-schema check of each body (~1.5 ms of Python a table)
    om_rules.schema_errors = lambda endpoint, body, version=None: []
state = FakeOpenMetadata(latency=float(sys.argv[2]), bulk=sys.argv[3] == "bulk")
with serve(state):
    print(json.dumps({"url": state.url, "token": TOKEN}), flush=True)
    sys.stdin.readline()
    print(json.dumps({"requests": len(state.calls), "entities": len(state.entities)}), flush=True)
"""
"""The test server in its own process: its URL on the first line; its counts once a line is written to it."""
CHECKS = {True: "validate", False: "no-schemas"}


def create_database(server_url: sqlalchemy.URL) -> sqlalchemy.URL:
    """A fresh database holding the synthetic catalog."""
    name = f"ingest_bench_om_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    url = server_url.set(database=name)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(catalog_ddl())
    engine.dispose()
    return url


def stage(url: sqlalchemy.URL, folder: Path) -> str:
    """The catalog read by the ``sql`` source into a staged file; its URI."""
    workflow = folder / "stage.yaml"
    source = {"url": url.render_as_string(hide_password=False), "service_name": "bench"}
    workflow.write_text(
        json.dumps(
            {
                "source": {"type": "sql", "config": source},
                "stage": {"type": "file"},
                "workflow": {"staging_root": str(folder / "staging")},
            }
        )
    )
    result = run_workflow(load_workflow(workflow))
    if not result.success or result.staged_uri is None:
        raise SystemExit(f"staging failed: {result.error or result.below_threshold}")
    return result.staged_uri


def publish(
    uri: str, folder: Path, *, bulk: bool, latency: float, validate: bool, settings: dict[str, Any]
) -> dict[str, Any]:
    """Publish the staged file with the bulk sink to a fresh test server; seconds, requests and entities."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(TESTS), str(latency), "bulk" if bulk else "per-entity", CHECKS[validate]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        started = json.loads(server.stdout.readline())
        context = RunContext(workflow_name="bench", run_id=uuid.uuid4().hex, staging_root=str(folder))
        config = {"server_url": started["url"], "jwt_token": started["token"], **settings}
        sink = OpenMetadataBulkSink.create(config, context)
        began = time.perf_counter()
        try:
            sink.prepare()
            sink.publish(uri)
        finally:
            sink.close()
        seconds = time.perf_counter() - began
        if sink.report.failure_count:
            raise SystemExit(f"publishing failed for {sink.report.failure_count} records: {sink.report.failures[:3]}")
        server.stdin.write("\n")
        server.stdin.flush()
        counts = json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait()
    return {"seconds": seconds, "records": sink.report.records, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_url_argument(parser)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the server adds to every request")
    parser.add_argument("--batch-size", type=int, default=100, help="records per bulk request")
    parser.add_argument("--max-workers", type=int, default=4, help="batches of tables sent at once")
    parser.add_argument(
        "--validate", action="store_true", help="keep the server's JSON-schema check of every body (Python CPU time)"
    )
    args = parser.parse_args()
    logging.getLogger("airflow_provider_ingest").setLevel(logging.ERROR)  # the per-entity run's "no bulk endpoint"
    server_url = sqlalchemy.make_url(args.url)
    settings = {"batch_size": args.batch_size, "max_workers": args.max_workers, "retries": 0}
    started = time.perf_counter()
    url = create_database(server_url)
    print(f"created the catalog in {url.database} in {time.perf_counter() - started:.1f}s")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-om-") as temp:
            folder = Path(temp)
            uri = stage(url, folder)
            options = {"latency": args.latency, "validate": args.validate, "settings": settings}
            single = publish(uri, folder, bulk=False, **options)
            bulk = publish(uri, folder, bulk=True, **options)
    finally:
        drop_database(server_url, url.database or "")
    if single["entities"] != bulk["entities"] or single["records"] != bulk["records"]:
        raise SystemExit(f"the runs differ: per entity {single}, bulk {bulk}")
    checks = "JSON-schema check of every body" if args.validate else "no JSON-schema check (--validate: with it)"
    print(
        f"catalog: {bulk['entities']:,} entities; latency {args.latency * 1000:.0f} ms per request, {checks}; "
        f"batch_size {args.batch_size}, max_workers {args.max_workers}"
    )
    speedup = single["seconds"] / bulk["seconds"]
    verdict = "OK" if bulk["requests"] <= 60 and speedup >= 5 else "OVER TARGET"
    print(f"bulk: {speedup:.1f}x faster than per entity, {bulk['requests']} requests (target <= 60, >= 5x) {verdict}")
    print(f"per-entity: requests={single['requests']} seconds={single['seconds']:.2f} entities={single['entities']}")
    print(f"requests={bulk['requests']} seconds={bulk['seconds']:.2f} entities={bulk['entities']}")


if __name__ == "__main__":
    main()
