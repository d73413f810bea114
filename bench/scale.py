"""Benchmark: a partitioned DAG over the synthetic PostgreSQL catalog with 1 and with 4 partitions.

The catalog is ``bench/sql_source.py``'s (20 schemas x 100 tables x 20 columns, plus 10 views per schema:
2,200 relations), in a database of this run's own. A real Airflow (API server, scheduler, DAG processor;
LocalExecutor with parallelism 4, a PostgreSQL metadata database of its own) runs two DAGs of one workflow,
``sql`` source -> file stage -> file bulk sink, partitioned by schema into at most 1 and at most 4 parts.
Each is triggered through the REST API; its time is the run's own, from being queued (the trigger) to its
end (success), as Airflow records them. A first, untimed run of each warms up Airflow's processes and the
server's caches; then the DAGs run alternately. Last, the two DAGs' merged staged files are compared record
for record.

Usage: ``python bench/scale.py [--url URL] [--repeat 2]``. Last line:
``p1_seconds=A p4_seconds=B speedup=C identical=true|false`` (best of ``--repeat`` timed runs each).
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy
from sql_source import add_url_argument, catalog_ddl, drop_database

if TYPE_CHECKING:
    from support.airflow_processes import AirflowProcesses

REPO = Path(__file__).resolve().parents[1]
BUDGET = 3600.0
"""Seconds the whole bench may take, Airflow's start-up included."""
PARTS = (1, 4)

WORKFLOW = """\
source:
  type: sql
  config: {{url: "{url}", service_name: bench}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: "{out}/p{parts}_published.jsonl"}}
workflow:
  staging_root: "{staging}"
airflow:
  dag_id: scale_p{parts}
  retries: 0
  partitions: {{by: schema, max: {parts}}}
"""


def run_seconds(airflow: AirflowProcesses, dag_id: str) -> tuple[float, str]:
    """Trigger the DAG and wait for the run's end: (seconds from queued to end, run id); stop unless it succeeded."""
    run_id, state = airflow.run_dag(dag_id)
    if state != "success":
        raise SystemExit(f"{dag_id} run {run_id} ended {state}\n{airflow.logs()}")
    run = airflow.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    queued, ended = (datetime.datetime.fromisoformat(run[key]) for key in ("queued_at", "end_date"))
    return (ended - queued).total_seconds(), run_id


def task_seconds(airflow: AirflowProcesses, dag_id: str, run_id: str) -> str:
    """How long each task instance of a run took, in task order (mapped ones by index)."""
    instances = sorted(airflow.task_instances(dag_id, run_id), key=lambda ti: (ti["start_date"] or "", ti["map_index"]))
    names = [ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "") for ti in instances]
    return ", ".join(f"{name} {ti['duration'] or 0:.1f}s" for name, ti in zip(names, instances, strict=True))


def staged_lines(uri: str) -> list[str]:
    """The records of a staged file, each as its JSON line, in file order."""
    from airflow_provider_ingest.records import dump_record
    from airflow_provider_ingest.staging import read_records

    return [dump_record(record) for record in read_records(uri)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_url_argument(parser)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each DAG, alternately; the best counts")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from support.airflow_processes import AirflowProcesses, airflow_env

    server = sqlalchemy.make_url(args.url)
    name = f"ingest_bench_scale_{uuid.uuid4().hex[:10]}"
    metadata, catalog = f"{name}_airflow", f"{name}_catalog"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for database in (metadata, catalog):
            connection.exec_driver_sql(f"CREATE DATABASE {database}")
    catalog_url = server.set(database=catalog)
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    home = folder / "airflow"
    (home / "dags").mkdir(parents=True)
    env = airflow_env(
        home,
        server.set(database=metadata).render_as_string(hide_password=False),
        "LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    airflow = AirflowProcesses(home, env, BUDGET)
    times: dict[int, list[float]] = {parts: [] for parts in PARTS}
    staged: dict[int, str] = {}
    try:
        engine = sqlalchemy.create_engine(catalog_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(catalog_ddl())
        engine.dispose()
        for parts in PARTS:
            url = catalog_url.render_as_string(hide_password=False)
            text = WORKFLOW.format(url=url, out=folder / "out", staging=folder / "staging", parts=parts)
            (home / "dags" / f"scale_p{parts}.yaml").write_text(text)
        shutil.copy(REPO / "dags" / "ingest_dags.py", home / "dags" / "ingest_dags.py")
        airflow.migrate()
        airflow.start_core()
        for attempt in range(args.repeat + 1):
            for parts in PARTS:
                seconds, run_id = run_seconds(airflow, f"scale_p{parts}")
                if attempt > 0:
                    times[parts].append(seconds)
                staged[parts] = airflow.xcom(f"scale_p{parts}", run_id, "stage")["uri"]
                tasks = task_seconds(airflow, f"scale_p{parts}", run_id)
                what = "warm-up, " if attempt == 0 else ""
                print(f"{parts} partition(s): {what}{seconds:.1f}s from trigger to success; {tasks}")
        records = {parts: staged_lines(uri) for parts, uri in staged.items()}
    finally:
        airflow.stop()
        for database in (metadata, catalog):
            drop_database(server, database)
        shutil.rmtree(folder, ignore_errors=True)
        admin.dispose()
    p1, p4 = min(times[1]), min(times[4])
    identical = records[1] == records[4] and len(records[1]) > 0
    print(f"staged records: {len(records[1]):,} with 1 partition, {len(records[4]):,} with 4")
    print(f"p1_seconds={p1:.1f} p4_seconds={p4:.1f} speedup={p1 / p4:.2f} identical={str(identical).lower()}")


if __name__ == "__main__":
    main()
