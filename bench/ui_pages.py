"""The UI plugin's pages with hundreds of ingestion DAGs and thousands of runs: time per page, SQL statements.

A temporary Airflow home (SQLite, or ``--db`` a PostgreSQL URL) gets ``--dags`` workflow DAGs (parsed by the
DAG factory and stored as Airflow stores them); one real run (``dag.test()``) gives the XComs every other
run copies; then ``--runs`` runs per DAG, and ``--big-runs`` for ``--big-dags`` of them, are written
straight into ``dag_run``, ``task_instance`` and ``xcom``. Pages are asked through Airflow's own API app
(plugin mounted, SimpleAuthManager, an admin's JWT), each ``--repeat`` times; the first request of a fresh
process (serialized DAGs looked at once) is shown apart. Prints one line per page: median and worst
milliseconds, SQL statements, response bytes.

    python bench/ui_pages.py [--dags 300] [--runs 30] [--big-dags 2] [--big-runs 3000] [--repeat 5] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

WORKFLOW = """\
description: Bench workflow {n}.
source:
  type: sql
  config: {{sample: shop}}
processors:
  - type: filter
    config:
      fqn: {{exclude: ['.*\\.daily_revenue']}}
  - type: enrich
    config:
      rules: [{{fqn: '.*\\.orders', description: Orders., tags: [Tier.Gold]}}]
sink:
  type: file
  config: {{path: out/bench_{n}.jsonl}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: out/bench_{n}_published.jsonl}}
workflow:
  staging_root: {staging}
airflow:
  dag_id: bench_{n:03d}
  retries: 0
"""


def setup_environment(home: Path, db: str | None) -> None:
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db or f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "AIRFLOW__API_AUTH__JWT_SECRET": "bench-" + "x" * 64,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        }
    )
    (home / "passwords.json").write_text('{"admin": "admin"}')


def build_dags(home: Path, count: int) -> Any:
    """Write ``count`` workflow files, parse them and store the DAGs as the DAG processor does."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    dags = home / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO / "dags" / "ingest_dags.py", dags / "ingest_dags.py")
    for n in range(count):
        (dags / f"bench_{n:03d}.yaml").write_text(WORKFLOW.format(n=n, staging=home / "staging"))
    bag = DagBag(dag_folder=str(dags), bundle_path=dags)
    assert len(bag.dags) == count and not bag.import_errors, bag.import_errors
    with create_session() as session:
        if session.get(DagBundleModel, "dags-folder") is None:
            session.add(DagBundleModel(name="dags-folder"))
    sync_bag_to_db(bag, "dags-folder", None)
    return bag


def template_run(bag: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One real run of the first DAG: its task instances' and XComs' columns, to copy."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run = bag.dags["bench_000"].test()
    assert str(run.state) == "success", run.state
    with create_session() as session:
        tis = [
            dict(row._mapping)
            for row in session.execute(
                select(TaskInstance.__table__).where(
                    TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
                )
            )
        ]
        xcoms = [
            dict(row._mapping)
            for row in session.execute(
                select(XComModel.__table__).where(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id)
            )
        ]
    return tis, xcoms


def write_runs(
    dag_ids: list[str], runs_of: dict[str, int], tis: list[dict[str, Any]], xcoms: list[dict[str, Any]]
) -> int:
    """Insert the runs, their task instances and XComs (copies of the template), in chunks; the rows written."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import insert, select

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    written = 0
    for dag_id in dag_ids:
        count = runs_of[dag_id]
        rows = []
        for index in range(count):
            at = start + timedelta(hours=index)
            failed = index % 11 == 7
            rows.append(
                {
                    "dag_id": dag_id,
                    "run_id": f"scheduled__{at.isoformat()}",
                    "run_type": "scheduled",
                    "run_after": at,
                    "logical_date": at,
                    "start_date": at,
                    "end_date": at + timedelta(seconds=40 + index % 30),
                    "_state": "failed" if failed else "success",
                }
            )
        with create_session() as session:
            for chunk in range(0, len(rows), 2000):
                session.execute(
                    insert(DagRun.__table__), [_column_names(DagRun, row) for row in rows[chunk : chunk + 2000]]
                )
            ids = dict(session.execute(select(DagRun.run_id, DagRun.id).where(DagRun.dag_id == dag_id)).all())
        ti_rows, xcom_rows = [], []
        for row in rows:
            run_id = row["run_id"]
            for ti in tis:
                ti_rows.append(ti | {"id": uuid.uuid4(), "dag_id": dag_id, "run_id": run_id})
            for xcom in xcoms:
                xcom_rows.append(xcom | {"dag_id": dag_id, "run_id": run_id, "dag_run_id": ids[run_id]})
        with create_session() as session:
            for chunk in range(0, len(ti_rows), 5000):
                session.execute(insert(TaskInstance.__table__), ti_rows[chunk : chunk + 5000])
            for chunk in range(0, len(xcom_rows), 5000):
                session.execute(insert(XComModel.__table__), xcom_rows[chunk : chunk + 5000])
        written += len(rows) + len(ti_rows) + len(xcom_rows)
    return written


def _column_names(model: Any, row: dict[str, Any]) -> dict[str, Any]:
    """ORM attribute names to table column names (``_state`` is the ``state`` column)."""
    return {("state" if key == "_state" else key): value for key, value in row.items()}


def measure(client: Any, headers: dict[str, str], path: str, params: dict[str, Any], repeat: int) -> str:
    sys.path.insert(0, str(REPO / "tests"))
    from support.ui import counting_statements

    times = []
    for _ in range(repeat):
        with counting_statements() as statements:
            began = time.perf_counter()
            answer = client.get(path, params=params, headers=headers)
            times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, (path, params, answer.status_code, answer.text[:500])
    shown = "&".join(f"{key}={value}" for key, value in params.items())
    return (
        f"{path}?{shown}: median {statistics.median(times):.0f} ms, worst {max(times):.0f} ms, "
        f"{len(statements)} SQL statements, {len(answer.content):,} bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=300)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--big-dags", type=int, default=2)
    parser.add_argument("--big-runs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", help="a PostgreSQL URL (an empty database) instead of SQLite")
    parser.add_argument("--profile", help="write a cProfile of the listing page to this file")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    try:
        setup_environment(home, args.db)
        from airflow.utils.db import initdb

        initdb()
        began = time.perf_counter()
        bag = build_dags(home, args.dags)
        tis, xcoms = template_run(bag)
        dag_ids = sorted(bag.dags)
        runs_of = {dag_id: args.big_runs if n < args.big_dags else args.runs for n, dag_id in enumerate(dag_ids)}
        runs_of["bench_000"] -= 1  # it has its real run
        rows = write_runs(dag_ids, runs_of, tis, xcoms)
        print(
            f"setup: {len(dag_ids)} DAGs, {sum(runs_of.values()) + 1:,} runs, {rows:,} rows written "
            f"in {time.perf_counter() - began:.0f} s ({len(xcoms)} XComs and {len(tis)} task instances per run)"
        )

        sys.path.insert(0, str(REPO / "tests"))
        from fastapi.testclient import TestClient
        from support.ui import api_app, token

        client = TestClient(api_app())
        headers = {"Authorization": f"Bearer {token('admin', 'ADMIN')}"}
        began = time.perf_counter()
        first = client.get("/ingestion/api/dags", headers=headers)
        assert first.status_code == 200 and first.json()["total"] == args.dags, first.text[:300]
        took = (time.perf_counter() - began) * 1000
        print(f"first listing of a fresh process (every DAG's shape read once): {took:.0f} ms")
        if args.profile:
            import cProfile

            from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
            from airflow.utils.session import create_session

            from airflow_provider_ingest.ui.app import _templates, dags_body

            admin = SimpleAuthManagerUser(username="admin", role="ADMIN")
            template = _templates().get_template("index.html")

            def listing_page() -> str:
                with create_session() as session:
                    return template.render(request=None, **dags_body(admin, session, 1, None, None))

            profiler = cProfile.Profile()  # in this thread: the app runs its pages in worker threads
            profiler.runcall(listing_page)
            profiler.dump_stats(args.profile)
        big = dag_ids[0]
        last_page = -(-args.dags // 25)
        run_id = client.get("/ingestion/api/dag", params={"dag_id": big}, headers=headers).json()["runs"][0]["run_id"]
        for path, params in (
            ("/ingestion/", {}),
            ("/ingestion/api/dags", {}),
            ("/ingestion/api/dags", {"page": last_page}),
            ("/ingestion/api/dags", {"per_page": 100}),
            ("/ingestion/dag", {"dag_id": big}),
            ("/ingestion/api/dag", {"dag_id": big, "page": args.big_runs // 50}),
            ("/ingestion/report", {"dag_id": big, "run_id": run_id}),
        ):
            print(measure(client, headers, path, params, args.repeat))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
