"""A real Airflow for tests and benches: its processes (API server, scheduler, DAG processor, Celery workers),
each in a process group of its own, and a client of its REST API that polls with a generous deadline."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from support.servers import unused_port

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REQUEST_TIMEOUT = 120.0
"""The longest a single REST call may take (a busy API server with one worker answers late, not never)."""
STOP_TIMEOUT = 10.0
"""Seconds the processes get to end on SIGTERM before they are killed (the API server takes about 11 on its own:
nothing they would save is kept)."""
TESTS = Path(__file__).resolve().parents[1]


class OutOfTime(AssertionError):
    """The deadline passed; the message holds the end of every process's log."""


def airflow_env(home: Path, port: int, database_url: str, executor: str, **settings: str) -> dict[str, str]:
    """The environment of an Airflow on 127.0.0.1 at ``home`` (its dags folder ``home/dags``), fast to react;
    ``settings`` add to it (``AIRFLOW__...`` variables, connections)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(unused_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__WORKERS__MISSING_DAG_RETRIES": "0",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": str(TESTS),
    }
    return env | settings


class AirflowProcesses:
    """The processes of one Airflow installation and a client of its REST API, within one deadline."""

    def __init__(self, home: Path, env: Mapping[str, str], budget: float) -> None:
        self.home = home
        self.env = dict(env)
        self.url = env["AIRFLOW__API__BASE_URL"]
        self.budget = budget
        self.deadline = time.monotonic() + budget
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()

    def remaining(self, what: str) -> float:
        """Seconds left before the deadline; raise :class:`OutOfTime` with the logs once it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime(f"out of time ({self.budget:.0f} s in all) while {what}\n{self.logs()}")
        return left

    def migrate(self) -> None:
        """``airflow db migrate``: the metadata database's tables."""
        done = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=self.env, capture_output=True, timeout=self.remaining("migrating")
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]

    def start(self, name: str, *command: str, cwd: Path | None = None, env: Mapping[str, str] = {}) -> None:
        """Start ``airflow <command>`` in its own process group (in ``cwd``, ``env`` added to the installation's),
        its output in ``<home>/<name>.log``."""
        with open(self.home / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, *command],
                env=self.env | dict(env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_core(self) -> None:
        """API server, scheduler and DAG processor; return once the API answers, with a token for it."""
        port = self.env["AIRFLOW__API__PORT"]
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", port)
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        self.wait_for("the API server", lambda: self.call("GET", "/api/v2/monitor/health"))
        token = self.call("GET", "/auth/token")["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def stop(self) -> None:
        """Terminate every process group started, then kill what is left of them."""
        self.session.close()  # the API server's graceful shutdown waits for open connections
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call, given as long as it needs within the deadline; the JSON answer."""
        timeout = min(REQUEST_TIMEOUT, self.remaining(f"calling {method} {path}"))
        response = self.session.request(method, self.url + path, timeout=timeout, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def wait_for(self, what: str, probe: Callable[[], Any]) -> Any:
        """Call ``probe`` until it returns something true, polling less often as time goes; fail at the deadline
        or when a process exits. Any request error or an answer not yet right counts as "not yet"."""
        pause = 0.2
        while True:
            self.remaining(f"waiting for {what}")
            for name, process in self.processes.items():
                assert process.poll() is None, f"{name} exited while waiting for {what}\n{self.logs()}"
            try:
                found = probe()
            except (requests.RequestException, AssertionError):
                found = None
            if found:
                return found
            time.sleep(min(pause, max(0.0, self.deadline - time.monotonic())))
            pause = min(pause * 1.5, 3.0)

    def run_dag(self, dag_id: str) -> tuple[str, str]:
        """Wait for the DAG, unpause it, trigger a run and wait for its end: (run id, final state)."""
        self.wait_for(f"the DAG {dag_id}", lambda: self.call("GET", f"/api/v2/dags/{dag_id}"))
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        run_id = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]
        return run_id, self.wait_for_run(dag_id, run_id)

    def wait_for_run(self, dag_id: str, run_id: str) -> str:
        """The state a run ends in (success or failed)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        return self.wait_for(
            f"the run {run_id} of {dag_id} to finish",
            lambda: (state := self.call("GET", path)["state"]) in ("success", "failed") and state,
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones one by one."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.call("GET", path, params={"limit": 100})["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """A task instance's ``return_value``."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.call("GET", path, params={"map_index": map_index})["value"]

    def logs(self) -> str:
        """The end of every process's log."""
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.home.glob("*.log")))
