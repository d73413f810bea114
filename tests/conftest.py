"""Shared fixtures: an isolated Airflow home with a SQLite metadata database, and the database servers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="ingest-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_AIRFLOW_HOME / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"

POSTGRES_URL = os.environ.get("INGEST_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("INGEST_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) in a temporary AIRFLOW_HOME."""
    from airflow.utils.db import initdb

    initdb()
    return _AIRFLOW_HOME


def require_service(name: str, url: str) -> str:
    """Return ``url`` if the server answers; skip with the reason, or fail when ``CI`` is set."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except Exception as error:
        reason = f"{name} is not reachable at {engine.url.render_as_string(hide_password=True)}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of this machine's PostgreSQL server."""
    return require_service("PostgreSQL", POSTGRES_URL)


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of this machine's MariaDB/MySQL server."""
    return require_service("MariaDB/MySQL", MYSQL_URL)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary working directory."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def dags_folder(airflow_db: Path) -> Iterator[Path]:
    """Airflow's dags folder holding only the project's loader file; emptied after the test.

    Write workflow YAML files into it, then ``support.dags.run_dag(dags_folder, dag_id)`` runs the
    generated DAG with ``dag.test()`` and ``support.dags.xcoms(dag_run)`` returns each task's XCom.
    """
    from support.dags import prepare_dags_folder

    folder = prepare_dags_folder(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
