"""DAG parse time: 100 workflow YAMLs through the factory, against hand-written Python building the same DAGs.

Three dags folders, each parsed by one ``DagBag`` in a fresh process, the three taken in turn (so that a
busy moment of the machine falls on all of them), the median of ``--runs`` kept. Byte code is cached (in
the bench's own folder) and one untimed parse of each folder comes first, as on an Airflow machine whose
DAG processor parses the same files again and again:

- ``yaml``: the loader file and N workflow files (file source, file sink, file stage, file bulk sink,
  plus the cleanup task the factory adds);
- ``loop``: ONE Python file building the same N DAGs, with the same tasks and settings, in a loop: the
  floor, no YAML at all;
- ``files``: N hand-written Python files, one DAG each.

It prints ``ratio_loop=X ratio_files=Y`` (yaml time over loop time, over files time). Target: ratio_loop
at most 1.3. ``--profile`` writes a cProfile of the yaml folder's parse to ``dag_parse.prof``.

    python bench/dag_parse.py [--dags 100] [--runs 5] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKFLOW = """\
description: Bench workflow {n}.
source:
  type: file
  config: {{path: /data/in_{n}.jsonl}}
sink:
  type: file
  config: {{path: /data/out_{n}.jsonl}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: /data/published_{n}.jsonl}}
airflow:
  dag_id: bench_{n}
  schedule: "@daily"
  tags: [bench]
"""

COMMON = """\
import datetime

from airflow.sdk import DAG, Asset

from airflow_provider_ingest.airflow.operators import (
    IngestBulkSinkOperator,
    IngestCleanupOperator,
    IngestSinkOperator,
    IngestSourceOperator,
    IngestStageOperator,
)

ROOT = "~/.airflow-ingest/staging"
FOLDER = "/data"


def build(n, doc):
    common = {{"staging_root": ROOT, "success_threshold": 90.0, "compression": "none", "workflow_dir": FOLDER}}
    dag = DAG(
        dag_id=f"bench_{{n}}",
        description=f"Bench workflow {{n}}.",
        doc_md=doc,
        schedule="@daily",
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        tags=["bench"],
        max_active_runs=1,
        default_args={{"owner": "airflow", "retries": 1, "retry_delay": datetime.timedelta(minutes=5)}},
    )
    with dag:
        source = IngestSourceOperator(
            task_id="source", type="file", config={{"path": f"/data/in_{{n}}.jsonl"}}, **common
        )
        sink = IngestSinkOperator(
            task_id="sink",
            type="file",
            config={{"path": f"/data/out_{{n}}.jsonl"}},
            input_uri=source.output["uri"],
            outlets=[Asset(f"file:///data/out_{{n}}.jsonl")],
            **common,
        )
        stage = IngestStageOperator(task_id="stage", type="file", config={{}}, input_uri=source.output["uri"], **common)
        bulk_sink = IngestBulkSinkOperator(
            task_id="bulk_sink",
            type="file",
            config={{"path": f"/data/published_{{n}}.jsonl"}},
            input_uri=stage.output["uri"],
            outlets=[Asset(f"file:///data/published_{{n}}.jsonl")],
            **common,
        )
        cleanup = IngestCleanupOperator(
            task_id="cleanup_staging", staging_root=ROOT, retention_days=7, workflow_dir=FOLDER, retries=0
        )
        [sink, stage, bulk_sink] >> cleanup.as_teardown()
    return dag
"""

LOOP = (
    COMMON
    + """
for n in range({count}):
    globals()[f"dag_bench_{{n}}"] = build(n, f"Bench workflow {{n}}.\\n\\nWorkflow file `/data/bench_{{n}}.yaml`")
"""
)

ONE_FILE = (
    COMMON
    + """
dag = build({n}, "Bench workflow {n}.\\n\\nWorkflow file `/data/bench_{n}.yaml`")
"""
)

PARSE = """\
import json, sys, time
from airflow.dag_processing.dagbag import DagBag

profile = len(sys.argv) > 2
if profile:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
start = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - start
if profile:
    profiler.disable()
    profiler.dump_stats(sys.argv[2])
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "errors": len(bag.import_errors)}))
"""


def write_folders(root: Path, count: int) -> dict[str, Path]:
    """The three dags folders: workflow YAMLs with the loader file, one Python loop, N Python files."""
    folders = {name: root / name for name in ("yaml", "loop", "files")}
    for folder in folders.values():
        folder.mkdir()
    (folders["yaml"] / "ingest_dags.py").write_text((REPO / "dags" / "ingest_dags.py").read_text())
    (folders["loop"] / "bench_dags.py").write_text(LOOP.format(count=count))
    for n in range(count):
        (folders["yaml"] / f"bench_{n}.yaml").write_text(WORKFLOW.format(n=n))
        (folders["files"] / f"bench_{n}.py").write_text(ONE_FILE.format(n=n))
    return folders


def parse(folder: Path, home: Path, profile: Path | None = None) -> dict[str, float]:
    """Parse a folder with one DagBag in a fresh process; its time and what it found."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key != "PYTHONDONTWRITEBYTECODE"
    }
    env |= {
        "PYTHONPYCACHEPREFIX": str(home / "pycache"),  # compiled once, as on any Airflow machine
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    command = [sys.executable, "-c", PARSE, str(folder), *([str(profile)] if profile else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="write a cProfile of one yaml parse to dag_parse.prof")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as temp:
        root = Path(temp)
        folders = write_folders(root, args.dags)
        times: dict[str, list[float]] = {name: [] for name in folders}
        for folder in folders.values():  # warm-up: byte code compiled and cached, files in the page cache
            parse(folder, root / "home")
        for _ in range(args.runs):
            for name, folder in folders.items():
                found = parse(folder, root / "home")
                assert (found["dags"], found["tasks"], found["errors"]) == (args.dags, 5 * args.dags, 0), (name, found)
                times[name].append(found["seconds"])
        if args.profile:
            parse(folders["yaml"], root / "home", Path("dag_parse.prof").resolve())
        median = {name: statistics.median(values) for name, values in times.items()}
        for name, seconds in median.items():
            spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
            print(f"{name:6} {args.dags} DAGs: median of {args.runs} {seconds:.3f} s ({spread})")
        print(f"ratio_loop={median['yaml'] / median['loop']:.2f} ratio_files={median['yaml'] / median['files']:.2f}")


if __name__ == "__main__":
    main()
