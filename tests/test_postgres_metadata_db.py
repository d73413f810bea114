"""Airflow on a PostgreSQL metadata database, installed as documented (``.[postgres]``): sync and async engines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dags import LOADER

pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

ASYNC_QUERY = """\
import asyncio
from sqlalchemy import text
from airflow.utils.session import create_session_async

async def main():
    async with create_session_async() as session:
        rows = await session.execute(text("select dag_id from dag order by dag_id"))
        print("dags:", [row[0] for row in rows])

asyncio.run(main())
"""


@pytest.fixture
def metadata_db(postgres_url: str) -> Iterator[str]:
    """A new PostgreSQL database for Airflow's metadata; dropped afterwards."""
    import sqlalchemy

    name = "h15_meta_" + uuid.uuid4().hex[:8]
    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sqlalchemy.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


def test_airflow_runs_on_a_postgres_metadata_database(metadata_db: str, tmp_path: Path) -> None:
    """Beside the sample, a broken workflow file whose path in the dags folder is longer than the 1,024 characters of
    ``import_error.filename``: its error is saved (under the end of its path), and the other DAGs with it (saving
    the folder failed on PostgreSQL: no DAG of it was saved)."""
    dags = tmp_path / "dags"
    deep = dags.joinpath(*(letter * 250 for letter in "abcd"), "e" * 100)
    deep.mkdir(parents=True)
    shutil.copy(LOADER, dags / LOADER.name)
    shutil.copy(LOADER.parent / "sample_shop.yaml", dags / "sample_shop.yaml")
    (deep / "broken.yaml").write_text("source: {type: file, config: {path: in.jsonl}}\nairflow: {retries: -1}\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
    }
    airflow = [sys.executable, "-m", "airflow"]

    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([*airflow, *command], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    queried = subprocess.run([sys.executable, "-c", ASYNC_QUERY], env=env, capture_output=True, text=True, timeout=120)

    assert queried.returncode == 0, queried.stderr  # the API server's async engine: needs asyncpg
    assert "dags: ['sample_shop']" in queried.stdout
    import sqlalchemy

    engine = sqlalchemy.create_engine(metadata_db)
    with engine.connect() as connection:
        [(filename, error)] = connection.exec_driver_sql("SELECT filename, stacktrace FROM import_error").all()
    engine.dispose()
    assert len(filename) == 1024 and filename.startswith("...") and filename.endswith("e" * 100 + "/broken.yaml")
    assert "airflow.retries" in error
