"""Benchmark: 100,000 table documents through the ``elasticsearch`` bulk sink against ``helpers.streaming_bulk``.

The wire-protocol test server (tests/es_server.py) runs in its own process. In one run, this times:

* the floor: the client's ``helpers.streaming_bulk`` of the same documents, already built in memory;
* the bulk sink (``upsert``): the staged file streamed, documents built and sent in bulk chunks.

Usage: ``python bench/es_bulk.py [--tables 100000] [--repeat 3]``. Target: ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink
from airflow_provider_ingest.elasticsearch.documents import document
from airflow_provider_ingest.elasticsearch.hook import build_client
from airflow_provider_ingest.records import Column, Table, dump_record
from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.staging.stagedfile import StagedFileWriter

TESTS = Path(__file__).resolve().parents[1] / "tests"
SERVER = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); from es_server import FakeElasticsearch;"
    "server = FakeElasticsearch(); print(server.url, flush=True); time.sleep(86400)"
)
CHUNK = 500
TYPES = (DataType.INT, DataType.VARCHAR, DataType.TIMESTAMP, DataType.DECIMAL, DataType.BOOLEAN)


def stage(path: Path, tables: int) -> None:
    """A staged file of ``tables`` tables of 10 columns each."""
    with StagedFileWriter(str(path), producer="bench", kinds={"table"}) as writer:
        for t in range(tables):
            columns = [Column(name=f"c{c:02d}", data_type=TYPES[(t + c) % len(TYPES)]) for c in range(10)]
            table = Table(
                name=f"t{t:06d}",
                service="bench",
                database="db",
                database_schema=f"s{t // 1000:03d}",
                description=f"Synthetic table {t}",
                columns=columns,
            )
            writer.write_line(dump_record(table))


def floor(url: str, path: Path) -> float:
    """``helpers.streaming_bulk`` of the same documents, built before the clock starts."""
    from elasticsearch import helpers

    actions: list[dict[str, Any]] = []
    with open(path, "rb") as handle:
        for line in handle.readlines()[1:-1]:
            _, fqn, doc = document(json.loads(line))
            actions.append({"_index": "floor-tables", "_id": fqn, "_source": doc})
    client = build_client({"hosts": [url]})
    started = time.perf_counter()
    ok = sum(1 for success, _ in helpers.streaming_bulk(client, actions, chunk_size=CHUNK) if success)
    elapsed = time.perf_counter() - started
    client.close()
    assert ok == len(actions), ok
    return elapsed


def bulk_sink(url: str, path: Path, folder: Path) -> float:
    """The bulk sink publishing the staged file (upsert mode)."""
    context = RunContext(workflow_name="bench", run_id="r", staging_root=str(folder))
    sink = ElasticsearchBulkSink.create({"hosts": [url], "chunk_size": CHUNK}, context)
    sink.prepare()
    started = time.perf_counter()
    sink.publish(str(path))
    elapsed = time.perf_counter() - started
    sink.close()
    assert sink.report.failure_count == 0, sink.report.failures[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=100_000, help="table documents")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; the best time counts")
    args = parser.parse_args()
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(TESTS)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory(prefix="bench-es-") as temp:
            path = Path(temp) / "tables.jsonl"
            stage(path, args.tables)
            floors, ours = [], []
            for _ in range(args.repeat):
                floors.append(floor(url, path))
                ours.append(bulk_sink(url, path, Path(temp)))
    finally:
        server.terminate()
        server.wait()
    best_floor, best_ours = min(floors), min(ours)
    print(f"documents: {args.tables:,} tables x 10 columns, chunks of {CHUNK}")
    print(f"floor (helpers.streaming_bulk, documents prebuilt): {best_floor:.3f}s  (runs: {_times(floors)})")
    print(f"bulk sink (staged file -> documents -> _bulk):       {best_ours:.3f}s  (runs: {_times(ours)})")
    ratio = best_ours / best_floor
    print(f"ratio: {ratio:.2f}x (target <= 1.2x) {'OK' if ratio <= 1.2 else 'OVER TARGET'}")


def _times(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


if __name__ == "__main__":
    main()
