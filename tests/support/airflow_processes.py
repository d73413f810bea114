"""A real Airflow for tests and benches: its processes (API server, scheduler, DAG processor, Celery workers, or
``airflow standalone``), each in a process group of its own, and a client of its REST API within one deadline."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from support.servers import START_ATTEMPTS, address_in_use, unused_port

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REQUEST_TIMEOUT = 120.0
"""The longest a single REST call may take (a busy API server with one worker answers late, not never)."""
RESENT = ("GET", "PATCH")
"""Calls sent again when they time out, cannot connect or get a 5xx: reads, and changes that may be repeated."""
STOP_TIMEOUT = 15.0
"""Seconds the processes get to end on SIGTERM before they are killed (the API server takes about 11 on its own:
nothing they would save is kept)."""
LOG_TAIL = 6000
"""Characters of the end of each process's log shown on a failure."""
TESTS = Path(__file__).resolve().parents[1]


class OutOfTime(AssertionError):
    """The deadline passed; the message holds the end of every process's log."""


class PortTaken(Exception):
    """The API server's log says another process took its port before it bound it."""


def airflow_env(home: Path, database_url: str, executor: str, **settings: str) -> dict[str, str]:
    """The environment of an Airflow at ``home`` (its dags folder ``home/dags``), fast to react; ``settings`` add
    to it (``AIRFLOW__...`` variables, connections). :class:`AirflowProcesses` adds its ports."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__WORKERS__MISSING_DAG_RETRIES": "0",  # a task whose DAG is gone fails at once, not in minutes
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": str(TESTS),
    }
    return env | settings


def port_settings(port: int) -> dict[str, str]:
    """Where the API server listens (127.0.0.1:``port``), and unused ports for the log servers."""
    url = f"http://127.0.0.1:{port}"
    return {
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(unused_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(unused_port()),
    }


@dataclass(frozen=True)
class Start:
    """How a process was started, to start it again: ``airflow <command>`` in ``cwd`` with ``env`` added."""

    command: tuple[str, ...]
    cwd: Path | None
    env: dict[str, str]


class AirflowProcesses:
    """The processes of one Airflow installation and a client of its REST API, within one deadline; a context
    manager that stops the processes on exit."""

    def __init__(self, home: Path, env: Mapping[str, str], budget: float, stop_timeout: float = STOP_TIMEOUT) -> None:
        self.home = home
        self.settings = dict(env)
        self.budget = budget
        self.stop_timeout = stop_timeout
        self.deadline = time.monotonic() + budget
        self.starts: dict[str, Start] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()
        self.choose_port()

    def __enter__(self) -> AirflowProcesses:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def choose_port(self) -> None:
        """Another port for the API server (and the log servers), from :func:`unused_port`."""
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = self.settings | port_settings(self.port)

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
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-LOG_TAIL:]

    def start(self, name: str, *command: str, cwd: Path | None = None, env: Mapping[str, str] = {}) -> None:
        """Start ``airflow <command>`` in its own process group (in ``cwd``, ``env`` added to the installation's),
        its output in ``<home>/<name>.log``."""
        self.starts[name] = Start(command, cwd, dict(env))
        self.spawn(name)

    def spawn(self, name: str) -> None:
        """Start the process ``name`` as :meth:`start` was told to, with the installation's current ports."""
        start = self.starts[name]
        with open(self.home / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, *start.command],
                env=self.env | start.env,
                cwd=start.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_core(self) -> None:
        """API server, scheduler and DAG processor; return once the API answers, with a token for it (every user
        is an admin)."""
        for name in ("api-server", "scheduler", "dag-processor"):
            self.start(name, name)
        self.wait_until_serving("api-server")
        self.sign_in(self.call("GET", "/auth/token"))

    def sign_in(self, answer: Mapping[str, Any]) -> None:
        """Send the token of ``/auth/token``'s ``answer`` with every later call."""
        self.session.headers["Authorization"] = f"Bearer {answer['access_token']}"

    def wait_until_serving(self, log: str) -> None:
        """Wait for the API server to answer. It is told its port before it binds it: when the log of the process
        ``log`` says the port was taken meanwhile, every process starts again on other ports."""
        for _attempt in range(START_ATTEMPTS):
            try:
                self.wait_for("the API server", lambda: self.health(log))
                return
            except OutOfTime:
                raise
            except (PortTaken, AssertionError):  # AssertionError: the API server exited
                if not self.port_taken(log):
                    raise
            self.stop()
            self.choose_port()
            for name in self.starts:
                self.spawn(name)
        raise AssertionError(f"Airflow's API server found each of {START_ATTEMPTS} ports taken\n{self.logs()}")

    def health(self, log: str) -> Any:
        """The API server's health; :class:`PortTaken` as soon as the log of the process ``log`` says its port was
        taken (``airflow standalone`` goes on without its API server)."""
        if self.port_taken(log):
            raise PortTaken(log)
        return self.call("GET", "/api/v2/monitor/health")

    def port_taken(self, log: str) -> bool:
        """Whether the log of the process ``log`` says a port it was told to bind was taken."""
        return address_in_use((self.home / f"{log}.log").read_text(errors="replace"))

    def stop(self) -> None:
        """Terminate every process group started, wait for them to end, then kill what is left of them.

        A group, not its first process alone, is waited for: ``airflow standalone`` may exit before its
        components do (a scheduler shutting down ignores SIGTERM for a while).
        """
        self.session.close()  # the API server's graceful shutdown waits for open connections
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and any(group_running(process) for process in self.processes.values()):
            time.sleep(0.2)
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.processes.clear()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call, given as long as it needs within the deadline; the JSON answer.

        A busy machine's API server may answer late, drop the connection or answer 5xx: a call in :data:`RESENT`
        is then sent again (while every process runs) until it gets an answer or the deadline passes.
        """
        pause = 0.5
        while True:
            timeout = min(REQUEST_TIMEOUT, self.remaining(f"calling {method} {path}"))
            try:
                response = self.session.request(method, self.url + path, timeout=timeout, **kwargs)
            except requests.RequestException:
                if method not in RESENT:
                    raise
            else:
                if response.status_code < 500 or method not in RESENT:
                    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
                    return response.json() if response.content else None
            self.check_running(f"calling {method} {path}")
            time.sleep(min(pause, max(0.0, self.deadline - time.monotonic())))
            pause = min(pause * 1.5, 5.0)

    def check_running(self, what: str) -> None:
        """Fail, with the logs, if a process has exited."""
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited while {what}\n{self.logs()}"

    def wait_for(self, what: str, probe: Callable[[], Any]) -> Any:
        """Call ``probe`` until it returns something true, polling less often as time goes; fail at the deadline
        or when a process exits. Any failed request (refused, timed out, dropped, an error status) or an answer
        not yet right is "not yet"."""
        pause = 0.2
        while True:
            self.remaining(f"waiting for {what}")
            self.check_running(f"waiting for {what}")
            try:
                found = probe()
            except OutOfTime:
                raise
            except (requests.RequestException, AssertionError):
                found = None
            if found:
                return found
            time.sleep(min(pause, max(0.0, self.deadline - time.monotonic())))
            pause = min(pause * 1.5, 3.0)

    def unpause(self, dag_id: str) -> None:
        """Wait for the DAG to be parsed, then unpause it."""
        self.wait_for(f"the DAG {dag_id}", lambda: self.call("GET", f"/api/v2/dags/{dag_id}"))
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        """A new run of the DAG, now: its run id."""
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]

    def run_dag(self, dag_id: str) -> tuple[str, str]:
        """Wait for the DAG, unpause it, trigger a run and wait for its end: (run id, final state)."""
        self.unpause(dag_id)
        run_id = self.trigger(dag_id)
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

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """A task instance's XCom ``key``."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.call("GET", path, params={"map_index": map_index})["value"]

    def logs(self) -> str:
        """The end of every process's log."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-LOG_TAIL:]}"
            for path in sorted(self.home.glob("*.log"))
        )


def group_running(process: subprocess.Popen[bytes]) -> bool:
    """Whether a process of ``process``'s group still runs; reaps ``process`` when it has exited."""
    process.poll()
    if not Path("/proc").is_dir():  # no procfs: a zombie counts
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    return bool(group_processes(process.pid))


def group_processes(group: int) -> list[int]:
    """The processes of a process group that still run (from procfs). Zombies do not count: an orphan's is reaped
    by init, which on some machines (a container's) never does."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _parent, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":
                found.append(int(stat.parent.name))
    return found
