"""Running generated DAGs in tests the way Airflow does: loader file and workflow YAML in the dags folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOADER = REPO / "dags" / "ingest_dags.py"


def prepare_dags_folder(folder: Path) -> Path:
    """An empty dags folder holding only the project's loader file."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(LOADER, folder / LOADER.name)
    return folder


def dag_bag(folder: Path) -> Any:
    """Parse the dags folder with Airflow's DagBag."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def run_dag(folder: Path, dag_id: str, **test_kwargs: Any) -> Any:
    """Parse the folder, then run one DAG with ``dag.test(**test_kwargs)``; return the DagRun."""
    bag = dag_bag(folder)
    assert dag_id in bag.dags, f"{dag_id} not parsed; import errors: {bag.import_errors}"
    return bag.dags[dag_id].test(**test_kwargs)


def xcoms(dag_run: Any) -> dict[str, Any]:
    """The ``return_value`` XCom of every task of a run, by task id."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, key="return_value")
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def task_states(dag_run: Any) -> dict[str, str]:
    """The state of every task of a run, by task id."""
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def mapped_xcoms(dag_run: Any, task_id: str) -> dict[int, Any]:
    """The ``return_value`` XCom of each instance of a mapped task, by map index."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(
            dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value"
        )
        return {row.map_index: XComModel.deserialize_value(row) for row in rows}
