"""Shared fixtures: an isolated Airflow home with a SQLite metadata database, a real Airflow, and the database
servers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support.homes import make_home

if TYPE_CHECKING:
    from support.airflow_processes import AirflowProcesses

_AIRFLOW_HOME, _OWNER = make_home()  # the owner file stays open, locked, for the session
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_AIRFLOW_HOME / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"

POSTGRES_URL = os.environ.get("INGEST_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("INGEST_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")

MAX_EXAMPLES = int(os.environ.get("INGEST_TEST_MAX_EXAMPLES", "0"))
"""When set (bench/mutation.py sets it: the tests then run once per mutant), at most this many examples per property
test, even one with an explicit ``@settings(max_examples=...)``; a fixed seed, no example database, no shrinking
and no deadline. Unset, the tests run with their own settings."""


def _capped() -> dict[str, Any]:
    """The settings of a property test under mutation."""
    from hypothesis import Phase

    phases = (Phase.explicit, Phase.generate)
    return {"max_examples": MAX_EXAMPLES, "deadline": None, "derandomize": True, "database": None, "phases": phases}


if MAX_EXAMPLES > 0:
    from hypothesis import settings

    settings.register_profile("capped", **_capped())
    settings.load_profile("capped")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Cap the examples of property tests whose own ``@settings`` ask for more (only with INGEST_TEST_MAX_EXAMPLES)."""
    if MAX_EXAMPLES <= 0:
        return
    from hypothesis import settings

    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples > MAX_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(own, **_capped())


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


AIRFLOW_BUDGET = 900.0
"""Seconds a test with the ``airflow`` fixture may take, start-up included: generous, for a busy 2-core machine."""


@pytest.fixture
def airflow_settings() -> dict[str, str]:
    """Settings the ``airflow`` fixture adds to its installation's environment; a module overrides this fixture
    to add its own (connections, ``AIRFLOW__...`` variables)."""
    return {}


@pytest.fixture
def airflow(tmp_path: Path, airflow_settings: dict[str, str]) -> Iterator[AirflowProcesses]:
    """A real Airflow: API server, scheduler (LocalExecutor) and DAG processor on 127.0.0.1, SQLite and a
    temporary AIRFLOW_HOME whose dags folder is ``home/dags``; stopped after the test."""
    from support.airflow_processes import AirflowProcesses, airflow_env

    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    env = airflow_env(
        home,
        f"sqlite:///{home}/airflow.db",
        "LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD="5",
        **airflow_settings,
    )
    with AirflowProcesses(home, env, AIRFLOW_BUDGET) as installation:
        installation.migrate()
        installation.start_core()
        yield installation
