"""DAG parse time: 100 workflow YAMLs (through the factory) against 100 equivalent hand-written DAG files.

Each workflow has four stages (file source, file sink, file stage, file bulk sink) plus the cleanup
task; each hand-written file builds the same DAG with the operators. Each folder is parsed by one
``DagBag`` in a fresh process; the best of three runs is kept. Target: the factory at most 1.3x.

    python bench/dag_parse.py [--dags 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
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

HAND_WRITTEN = """\
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

with DAG(
    dag_id="bench_{n}",
    description="Bench workflow {n}.",
    doc_md="Bench workflow {n}.",
    schedule="@daily",
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["bench"],
    max_active_runs=1,
    default_args={{"owner": "airflow", "retries": 1, "retry_delay": datetime.timedelta(minutes=5)}},
):
    source = IngestSourceOperator(
        task_id="source", type="file", config={{"path": "/data/in_{n}.jsonl"}}, staging_root=ROOT
    )
    sink = IngestSinkOperator(
        task_id="sink",
        type="file",
        config={{"path": "/data/out_{n}.jsonl"}},
        input_uri=source.output["uri"],
        outlets=[Asset("file:///data/out_{n}.jsonl")],
        staging_root=ROOT,
    )
    stage = IngestStageOperator(task_id="stage", type="file", input_uri=source.output["uri"], staging_root=ROOT)
    bulk_sink = IngestBulkSinkOperator(
        task_id="bulk_sink",
        type="file",
        config={{"path": "/data/published_{n}.jsonl"}},
        input_uri=stage.output["uri"],
        outlets=[Asset("file:///data/published_{n}.jsonl")],
        staging_root=ROOT,
    )
    [sink, stage, bulk_sink] >> IngestCleanupOperator(
        task_id="cleanup_staging", staging_root=ROOT, retention_days=7, trigger_rule="all_done", retries=0
    )
"""

PARSE = """\
import json, sys, time
from airflow.dag_processing.dagbag import DagBag

start = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "errors": len(bag.import_errors)}))
"""


def write_folders(root: Path, count: int) -> tuple[Path, Path]:
    """A folder of workflow YAMLs with the loader file, and a folder of hand-written DAG files."""
    yaml_folder, python_folder = root / "yaml", root / "python"
    yaml_folder.mkdir()
    python_folder.mkdir()
    (yaml_folder / "ingest_dags.py").write_text((REPO / "dags" / "ingest_dags.py").read_text())
    for n in range(count):
        (yaml_folder / f"bench_{n}.yaml").write_text(WORKFLOW.format(n=n))
        (python_folder / f"bench_{n}.py").write_text(HAND_WRITTEN.format(n=n))
    return yaml_folder, python_folder


def parse(folder: Path, home: Path) -> dict[str, float]:
    """Parse a folder with one DagBag in a fresh process; its time and what it found."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    done = subprocess.run(
        [sys.executable, "-c", PARSE, str(folder)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as temp:
        root = Path(temp)
        yaml_folder, python_folder = write_folders(root, args.dags)
        best = {}
        for name, folder in (("workflow YAMLs", yaml_folder), ("hand-written", python_folder)):
            results = [parse(folder, root / "home") for _ in range(args.runs)]
            assert all(r["dags"] == args.dags and r["tasks"] == 5 * args.dags and not r["errors"] for r in results)
            best[name] = min(r["seconds"] for r in results)
            print(f"{name:15} {args.dags} DAGs: best of {args.runs} {best[name]:.3f} s")
        ratio = best["workflow YAMLs"] / best["hand-written"]
        print(f"ratio {ratio:.2f}x (target at most 1.3x)")


if __name__ == "__main__":
    main()
