"""Benchmark: 100,000 table documents through the ``elasticsearch`` bulk sink against ``helpers.streaming_bulk``.

The wire-protocol test server (tests/es_server.py) runs in its own process. In one run, this times:

* the floor: the client's ``helpers.streaming_bulk`` of the same documents, already built in memory, into an
  index made from the same template (so the server does the same work);
* the bulk sink (``upsert``): the staged file streamed, documents built and sent in bulk chunks.

Then it measures the columns design on ``--design-tables`` tables: columns nested in the table document (the
design chosen) against a flattened columns index (one document per column plus column-less table documents):
documents, bytes sent and seconds; with ``--es-url`` (a real cluster) also the Lucene documents and store size.

Usage: ``python bench/es_bulk.py [--tables 100000] [--repeat 3] [--design-tables 10000] [--es-url URL]``.
Target: ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSink
from airflow_provider_ingest.elasticsearch.documents import document
from airflow_provider_ingest.elasticsearch.hook import build_client
from airflow_provider_ingest.elasticsearch.mappings import SETTINGS, ensure_indexes, install_templates, mappings
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
COLUMN_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        **{key: mappings("table")["properties"][key] for key in ("fqn", "name", "description", "suggest", "tags")},
        **{
            key: mappings("table")["properties"]["columns"]["properties"][key]
            for key in ("data_type", "ordinal_position")
        },
        "table_fqn": {"type": "keyword"},
        "service": {"type": "keyword"},
        "database": {"type": "keyword"},
        "database_schema": {"type": "keyword"},
    },
}
"""The flattened design's columns index: one document per column, with its table's FQN."""


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


def table_documents(path: Path, limit: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(fqn, document)`` of the staged tables, as the sinks build them."""
    with open(path, "rb") as handle:
        lines = handle.readlines()[1:-1][:limit]
    return [document(json.loads(line))[1:] for line in lines]


def floor(url: str, path: Path) -> float:
    """``helpers.streaming_bulk`` of the same documents, built before the clock starts."""
    from elasticsearch import helpers

    client = build_client({"hosts": [url]})
    install_templates(client, "floor")
    ensure_indexes(client, "floor", "00000000000000000000")
    actions = [{"_index": "floor-tables", "_id": fqn, "_source": doc} for fqn, doc in table_documents(path)]
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


def nested(tables: list[tuple[str, dict[str, Any]]], prefix: str) -> Iterator[dict[str, Any]]:
    """The chosen design: one table document, its columns nested in it."""
    for fqn, doc in tables:
        yield {"_index": f"{prefix}-tables", "_id": fqn, "_source": doc}


def flattened(tables: list[tuple[str, dict[str, Any]]], prefix: str) -> Iterator[dict[str, Any]]:
    """The alternative: column-less table documents, and a columns index of one document per column."""
    for fqn, doc in tables:
        yield {"_index": f"{prefix}-tables", "_id": fqn, "_source": {**doc, "columns": []}}
        for column in doc["columns"]:
            column_fqn = f"{fqn}.{column['name']}"
            source = {
                "fqn": column_fqn,
                "name": column["name"],
                "description": column["description"],
                "suggest": [column["name"], column_fqn],
                "tags": column["tags"],
                "data_type": column["data_type"],
                "ordinal_position": column["ordinal_position"],
                "table_fqn": fqn,
                **{key: doc[key] for key in ("service", "database", "database_schema")},
            }
            yield {"_index": f"{prefix}-columns", "_id": column_fqn, "_source": source}


def design(url: str, path: Path, tables: int, real: bool = False) -> list[str]:
    """Both column designs through ``streaming_bulk``: documents, bytes, seconds (and store size on a cluster)."""
    from elasticsearch import helpers

    client = build_client({"hosts": [url], "request_timeout": 120})
    docs = table_documents(path, tables)
    lines = []
    for name, build in (("nested", nested), ("flattened", flattened)):
        prefix = f"bench-design-{name}"
        for suffix, kind_mappings in (("tables", mappings("table")), ("columns", COLUMN_MAPPINGS)):
            index = f"{prefix}-{suffix}"
            client.options(ignore_status=404).indices.delete(index=index)
            client.indices.create(index=index, settings={"index": SETTINGS}, mappings=kind_mappings)
        actions = list(build(docs, prefix))
        sent = sum(len(json.dumps(action["_source"])) for action in actions)
        started = time.perf_counter()
        for ok, item in helpers.streaming_bulk(client, actions, chunk_size=CHUNK, raise_on_error=False):
            assert ok, item
        elapsed = time.perf_counter() - started
        line = f"{name:>9}: {len(actions):>9,} documents {sent / 1e6:7.1f} MB sent {elapsed:7.2f}s"
        if real:  # what the documents cost a cluster, merged
            client.indices.refresh(index=f"{prefix}-*")
            client.indices.forcemerge(index=f"{prefix}-*", max_num_segments=1)
            total = client.indices.stats(index=f"{prefix}-*", metric="docs,store").body["_all"]["primaries"]
            line += f" {total['docs']['count']:>10,} Lucene documents {total['store']['size_in_bytes'] / 1e6:7.1f} MB"
        lines.append(line)
        client.indices.delete(index=f"{prefix}-tables,{prefix}-columns")
    client.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=100_000, help="table documents")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; the best time counts")
    parser.add_argument("--design-tables", type=int, default=10_000, help="tables for the columns design measure")
    parser.add_argument("--es-url", help="also measure the columns design on this real cluster")
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
            designs = {"test server": design(url, path, args.design_tables)}
            if args.es_url:
                designs[args.es_url.rsplit("@", 1)[-1]] = design(args.es_url, path, args.design_tables, real=True)
    finally:
        server.terminate()
        server.wait()
    best_floor, best_ours = min(floors), min(ours)
    print(f"documents: {args.tables:,} tables x 10 columns, chunks of {CHUNK}")
    print(f"floor (helpers.streaming_bulk, documents prebuilt): {best_floor:.3f}s  (runs: {_times(floors)})")
    print(f"bulk sink (staged file -> documents -> _bulk):       {best_ours:.3f}s  (runs: {_times(ours)})")
    ratio = best_ours / best_floor
    print(f"ratio: {ratio:.2f}x (target <= 1.2x) {'OK' if ratio <= 1.2 else 'OVER TARGET'}")
    for where, lines in designs.items():
        print(f"columns design, {args.design_tables:,} tables x 10 columns, streaming_bulk to the {where}:")
        print("\n".join(lines))


def _times(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


if __name__ == "__main__":
    main()
