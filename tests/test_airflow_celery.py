"""A partitioned workflow under the CeleryExecutor: Redis as the broker, PostgreSQL as the metadata database and
result backend, two Celery workers (processes of their own, each in its own folders), staging on S3 (moto)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.airflow_processes import AirflowProcesses, airflow_env
from support.catalogs import postgres_database, synthetic_catalog_sql
from support.dags import LOADER
from support.hostname import WORKER_VARIABLE

from airflow_provider_ingest.records import dump_record
from airflow_provider_ingest.staging import read_records

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

REDIS = ("127.0.0.1", 6379)
BUDGET = 600.0
"""Seconds the whole test may take, start-up included: generous, for a busy 2-core machine."""
SCHEMAS, TABLES, VIEWS = 8, 60, 3
"""The catalog: 8 schemas of 60 tables and 3 views, 504 relations."""
PARTS = 4
WORKERS = ("worker-a", "worker-b")
S3_CONN = "ingest_celery_s3"
BUCKET = "ingest-celery"

WORKFLOW = """\
source:
  type: sql
  config: {{url: "{url}", service_name: celery_catalog}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: "s3://{conn}@{bucket}/published/catalog.jsonl"}}
workflow:
  staging_root: "s3://{conn}@{bucket}/staging"
airflow:
  dag_id: {dag_id}
  retries: 0
  partitions: {{by: schema, max: {parts}}}
"""


def redis_or_skip() -> None:
    """Skip with the reason where no Redis answers on 127.0.0.1:6379, or fail when ``CI`` is set."""
    import redis

    try:
        redis.Redis(*REDIS, socket_connect_timeout=5).ping()
    except (redis.RedisError, OSError) as error:
        reason = f"Redis is not reachable at {REDIS[0]}:{REDIS[1]}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
        pytest.skip(reason)


@contextlib.contextmanager
def empty_database(server_url: str) -> Iterator[str]:
    """URL of a new empty database on the server (Airflow's metadata database); dropped afterwards."""
    with postgres_database(server_url, "SELECT 1") as url:
        yield url


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """A moto S3 server on a port the system chose, holding the bucket; its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


@dataclass
class Celery:
    """An Airflow under the CeleryExecutor and what it runs against."""

    airflow: AirflowProcesses
    catalog_url: str


@pytest.fixture
def celery(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    """API server, scheduler, DAG processor and two Celery workers; PostgreSQL, Redis, moto S3."""
    redis_or_skip()
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    ddl = synthetic_catalog_sql(SCHEMAS, TABLES, VIEWS)
    with (
        empty_database(postgres_url) as metadata_url,
        postgres_database(postgres_url, ddl) as catalog_url,
        s3_server() as endpoint,
    ):
        connection = {
            "conn_type": "aws",
            "login": "celery-key",
            "password": "celery-secret",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN.upper()}", json.dumps(connection))  # this process reads too
        env = airflow_env(
            home,
            metadata_url,
            "CeleryExecutor",
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__CORE__HOSTNAME_CALLABLE="support.hostname.worker_hostname",
            AIRFLOW__CELERY__BROKER_URL=f"redis://{REDIS[0]}:{REDIS[1]}/0",
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{metadata_url}",
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX=f"ingest-test-{uuid.uuid4().hex[:10]}:",
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT="3600",
            AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE="2",
            **{f"AIRFLOW_CONN_{S3_CONN.upper()}": json.dumps(connection)},
        )
        with AirflowProcesses(home, env, BUDGET) as airflow:
            airflow.migrate()
            for name in WORKERS:  # started first: they start up while the API server does
                folder = tmp_path / name
                (folder / "tmp").mkdir(parents=True)
                airflow.start(
                    name,
                    *("celery", "worker", "--celery-hostname", f"{name}@{socket.gethostname()}"),
                    *("--queues", "default", "--concurrency", "2", "--skip-serve-logs"),
                    *("--without-mingle", "--without-gossip"),
                    cwd=folder,
                    env={"TMPDIR": str(folder / "tmp"), WORKER_VARIABLE: name},
                )
            airflow.start_core()
            airflow.wait_for("both Celery workers", lambda: all(worker_ready(home, name) for name in WORKERS))
            yield Celery(airflow, catalog_url)


def worker_ready(home: Path, name: str) -> bool:
    """Whether the worker ``name`` says it consumes its queue (Celery's ``<node> ready.``)."""
    return f"{name}@{socket.gethostname()} ready." in (home / f"{name}.log").read_text(errors="replace")


def staged_records(uri: str) -> list[str]:
    """The records of a staged file, each as its JSON line, in file order."""
    return [dump_record(record) for record in read_records(uri)]


def test_a_partitioned_workflow_runs_on_two_celery_workers(celery: Celery, tmp_path: Path) -> None:
    from airflow_provider_ingest.run import run_workflow
    from airflow_provider_ingest.workflow.loader import load_workflow

    airflow = celery.airflow
    dags = airflow.home / "dags"
    text = WORKFLOW.format(url=celery.catalog_url, conn=S3_CONN, bucket=BUCKET, dag_id="celery_catalog", parts=PARTS)
    (dags / "catalog.yaml").write_text(text)
    shutil.copy(LOADER, dags / LOADER.name)

    run_id, state = airflow.run_dag("celery_catalog")

    instances = airflow.task_instances("celery_catalog", run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in instances}
    assert (state, set(states.values())) == ("success", {"success"}), f"{states}\n{airflow.logs()}"
    assert {ti["hostname"] for ti in instances} <= set(WORKERS)  # every task ran on a Celery worker
    sources = sorted((ti["map_index"], ti["hostname"]) for ti in instances if ti["task_id"] == "source")
    assert [index for index, _ in sources] == list(range(PARTS))
    assert {host for _, host in sources} == set(WORKERS), sources  # both workers ran parts
    staged = airflow.xcom("celery_catalog", run_id, "stage")["uri"]
    assert staged.startswith(f"s3://{S3_CONN}@{BUCKET}/staging/celery_catalog/")

    reference = tmp_path / "reference"
    reference.mkdir()
    unpartitioned = text.replace(f"s3://{S3_CONN}@{BUCKET}/staging", str(reference / "staging"))
    unpartitioned = unpartitioned.replace(f"s3://{S3_CONN}@{BUCKET}/published", str(reference / "published"))
    (reference / "catalog.yaml").write_text(unpartitioned.replace(f"  partitions: {{by: schema, max: {PARTS}}}\n", ""))
    result = run_workflow(load_workflow(reference / "catalog.yaml"))
    assert result.success and result.staged_uri, result.error
    expected = staged_records(result.staged_uri)
    relations = [record for record in expected if '"kind":"table"' in record]
    schemas = SCHEMAS + 1  # and public
    assert (len(relations), len(expected)) == (SCHEMAS * (TABLES + VIEWS), 1 + 1 + schemas + len(relations))
    assert staged_records(staged) == expected
