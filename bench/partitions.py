"""Benchmark: a partitioned run (``airflow-ingest run --workers N``) against the serial run of the same workflow.

Uses bench/sql_source.py's synthetic catalog (20 schemas x 100 tables x 20 columns, plus 10 views per schema:
2,200 relations), then times, alternately, best of ``--repeat`` each:

* serial: ``sql`` source -> ``file`` stage -> ``file`` bulk sink in one process;
* partitioned: the plan, N parts by schema in N worker processes, then the merge (stage, bulk sink).

Both staged files must be equal record for record. Usage: ``python bench/partitions.py [--workers 2]
[--repeat 3] [--url URL]``. The speed-up is bounded by the machine's cores and by the database server,
which serves the catalog queries of every part.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy
from sql_source import add_url_argument, ensure_database

from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.run.partitioned import run_partitioned
from airflow_provider_ingest.staging import StagedFileReader
from airflow_provider_ingest.workflow.loader import load_workflow

WORKFLOW = """\
source:
  type: sql
  config: {{url: '{url}', service_name: bench}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: '{out}/published.jsonl'}}
workflow: {{staging_root: '{out}/staging'}}
airflow:
  dag_id: bench_partitions
  partitions: {{by: schema, max: {workers}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_url_argument(parser)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = ensure_database(sqlalchemy.make_url(args.url)).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="bench-partitions-") as folder:
        out = Path(folder)
        path = out / "bench.yaml"
        path.write_text(WORKFLOW.format(url=url, out=out, workers=args.workers))
        workflow = load_workflow(path)
        serial: list[float] = []
        partitioned: list[float] = []
        for attempt in range(args.repeat):
            started = time.perf_counter()
            one = run_workflow(workflow, run_id=f"serial-{attempt}")
            serial.append(time.perf_counter() - started)
            assert one.success, one.error
            started = time.perf_counter()
            parts = run_partitioned(workflow, workers=args.workers, run_id=f"parts-{attempt}")
            partitioned.append(time.perf_counter() - started)
            assert parts.success and parts.merge is not None, [result.error for result in parts.results]
            same = list(StagedFileReader(one.staged_uri).lines()) == list(
                StagedFileReader(parts.merge.staged_uri).lines()
            )
            assert same, "the partitioned run staged other records than the serial run"
        records = one.reports[0].records
        print(
            f"catalog: {records:,} records; {len(parts.parts)} parts of {[len(p.names) for p in parts.parts]} schemas"
        )
        print(f"serial:      best {min(serial):.2f}s  ({', '.join(f'{s:.2f}' for s in serial)})")
        print(f"partitioned: best {min(partitioned):.2f}s  ({', '.join(f'{s:.2f}' for s in partitioned)})")
        print(f"speed-up: {min(serial) / min(partitioned):.2f}x with {args.workers} workers on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
