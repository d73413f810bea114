"""docker-compose.yaml's structure: no Docker engine here, so the file is read and checked as Compose reads it."""

from __future__ import annotations

import json
import re
import shlex
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
CELERY = ("redis", "airflow-worker")
"""The ``celery`` profile's services."""
ALL_AIRFLOW = ("airflow-init", *AIRFLOW, "airflow-worker")
LONG_RUNNING = ("postgres", "elasticsearch", *AIRFLOW, *CELERY)
PACKAGE_DIR = "/opt/airflow-provider-ingest"
STAGING_VOLUME = "ingest-staging:/home/airflow/.airflow-ingest"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file with its YAML anchors and ``<<`` merges resolved."""
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def test_the_stack_has_every_service(services: dict[str, Any]) -> None:
    assert sorted(services) == sorted(["postgres", "elasticsearch", "airflow-init", *AIRFLOW, *CELERY])
    default = [name for name, service in services.items() if not service.get("profiles")]
    assert sorted(default) == sorted(["postgres", "elasticsearch", "airflow-init", *AIRFLOW])  # `docker compose up`
    commands = {name: services[name]["command"] for name in (*AIRFLOW, "airflow-worker")}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }


def test_images_match_the_pins(services: dict[str, Any]) -> None:
    airflow = version("apache-airflow")
    for name in ALL_AIRFLOW:
        build = services[name]["build"]
        assert build["context"] == "." and services[name]["image"] == "airflow-provider-ingest:dev"
        lines = build["dockerfile_inline"].splitlines()
        assert lines[0] == f"FROM apache/airflow:{airflow}"  # the Airflow this package is tested with
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7.4"
    es_image, es_version = services["elasticsearch"]["image"].rsplit(":", 1)
    assert es_image == "docker.elastic.co/elasticsearch/elasticsearch"
    assert es_version.split(".")[0] == version("elasticsearch").split(".")[0] == "8"  # client 8 speaks to 8 and 9


def test_the_package_is_installed_from_the_mounted_repository(services: dict[str, Any]) -> None:
    dockerfile = services["airflow-init"]["build"]["dockerfile_inline"]
    copies = [shlex.split(line)[1:] for line in dockerfile.splitlines() if line.startswith("COPY")]
    copied = [source for *sources, target in copies for source in sources[1:]]  # sources[0] is --chown
    assert sorted(copied) == ["README.md", "airflow_provider_ingest", "pyproject.toml", "setup.cfg"]
    assert all((REPO / source).exists() for source in copied)
    assert all(target.startswith(PACKAGE_DIR) for *_, target in copies)
    install = next(line for line in dockerfile.splitlines() if line.startswith("RUN pip install"))
    assert shlex.split(install)[-2:] == ["-e", PACKAGE_DIR]
    assert f'"apache-airflow=={version("apache-airflow")}"' in install  # the image's Airflow is kept
    for name in ALL_AIRFLOW:
        assert f"./:{PACKAGE_DIR}" in services[name]["volumes"]  # edits reach the editable install
    assert "airflow providers get airflow-provider-ingest" in services["airflow-init"]["command"][-1]


def test_dags_folder_is_mounted_with_the_loader(services: dict[str, Any]) -> None:
    for name in ALL_AIRFLOW:
        assert "./dags:/opt/airflow/dags" in services[name]["volumes"]
    assert (REPO / "dags" / "ingest_dags.py").read_text().count("load_workflow_dags(globals())") == 1


def test_airflow_environment(services: dict[str, Any]) -> None:
    for name in ALL_AIRFLOW:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"  # one executor for all
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow:airflow@postgres:5432/airflow"
        assert (
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:airflow@postgres:5432/airflow"
        )
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:-")  # one secret for all
        connection = json.loads(env["AIRFLOW_CONN_INGEST_ELASTICSEARCH_DEFAULT"])
        assert connection == {"conn_type": "ingest_elasticsearch", "host": "http://elasticsearch:9200"}
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]) == ("airflow",) * 3
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]


def test_elasticsearch_is_a_documented_single_node(compose: dict[str, Any], services: dict[str, Any]) -> None:
    es = services["elasticsearch"]
    assert es["environment"]["discovery.type"] == "single-node"
    assert es["environment"]["xpack.security.enabled"] == "false"
    assert es["ports"] == ["9200:9200"] and es["volumes"] == ["elasticsearch-data:/usr/share/elasticsearch/data"]
    text = (REPO / "docker-compose.yaml").read_text()
    assert 'To run with security, set it to "true", set ELASTIC_PASSWORD' in text
    assert sorted(compose["volumes"]) == ["airflow-logs", "elasticsearch-data", "ingest-staging", "postgres-db"]


def test_health_checks_and_start_order(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 5, name
        assert services[name]["restart"] == "always"
    assert "healthcheck" not in services["airflow-init"] and "restart" not in services["airflow-init"]
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in AIRFLOW:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "elasticsearch": {"condition": "service_healthy"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }
    assert "/_cluster/health?wait_for_status=yellow" in services["elasticsearch"]["healthcheck"]["test"][1]
    assert services["airflow-scheduler"]["healthcheck"]["test"][-1] == "http://localhost:8974/health"
    assert services["airflow-apiserver"]["healthcheck"]["test"][-1] == "http://localhost:8080/api/v2/version"


def test_variables_are_escaped_for_compose(services: dict[str, Any]) -> None:
    """``$`` meant for the container's shell is written ``$$``; Compose substitutes the rest at start."""
    text = (REPO / "docker-compose.yaml").read_text()
    for reference in re.findall(r"(?<!\$)\$\{?(\w+)", text):
        assert reference in ("AIRFLOW_UID", "AIRFLOW_JWT_SECRET", "AIRFLOW_EXECUTOR"), reference
    for name in ("airflow-dag-processor", "airflow-triggerer"):
        assert '--hostname "$${HOSTNAME}"' in services[name]["healthcheck"]["test"][1]
    assert '-d "celery@$${HOSTNAME}"' in services["airflow-worker"]["healthcheck"]["test"][1]


def test_the_celery_profile_runs_scalable_workers(services: dict[str, Any]) -> None:
    """``AIRFLOW_EXECUTOR=CeleryExecutor docker compose --profile celery up --scale airflow-worker=3``."""
    for name in CELERY:
        assert services[name]["profiles"] == ["celery"], name
    worker, redis = services["airflow-worker"], services["redis"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker  # it can scale
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"  # SIGTERM reaches Celery: a warm shutdown
    assert worker["depends_on"] == services["airflow-scheduler"]["depends_on"] | {
        "redis": {"condition": "service_healthy"}
    }
    assert "ports" not in redis and redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    broker = services["airflow-scheduler"]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
    assert broker.split("//")[1].split(":")[0] == "redis"  # the broker is the profile's service
    ping = shlex.split(worker["healthcheck"]["test"][1].replace("$$", "$"))
    assert ping[:3] == ["celery", "--app", "airflow.providers.celery.executors.celery_executor.app"]
    assert ping[3:6] == ["inspect", "ping", "-d"]
    text = (REPO / "docker-compose.yaml").read_text()
    command = "AIRFLOW_EXECUTOR=CeleryExecutor docker compose --profile celery up -d --build --scale airflow-worker=3"
    assert f"#   {command}\n" in text


def test_the_worker_command_is_the_celery_providers(services: dict[str, Any]) -> None:
    from airflow.cli.cli_parser import get_parser

    arguments = get_parser().parse_args(shlex.split(services["airflow-worker"]["command"]))
    loaded = [cell.cell_contents for cell in arguments.func.__closure__]  # Airflow's lazy_load_command
    assert loaded == ["airflow.providers.celery.cli.celery_command.worker"]
    assert (arguments.queues, arguments.celery_hostname) == ("default", None)  # each container: its own name


def test_staging_is_shared_by_every_worker(services: dict[str, Any]) -> None:
    """The tasks of one run hand records over in staged files: every Airflow container sees one staging root."""
    from airflow_provider_ingest.workflow.spec import DEFAULT_STAGING_ROOT

    volume, mount = STAGING_VOLUME.split(":")
    assert DEFAULT_STAGING_ROOT.replace("~", "/home/airflow").startswith(mount + "/")
    for name in ALL_AIRFLOW:
        assert STAGING_VOLUME in services[name]["volumes"], name
    dockerfile = services["airflow-worker"]["build"]["dockerfile_inline"].splitlines()
    assert f"RUN mkdir -p {DEFAULT_STAGING_ROOT.replace('~', '/home/airflow')}" in dockerfile  # owned by airflow
    text = (REPO / "docker-compose.yaml").read_text()
    assert f"is the shared volume `{volume}`, mounted in every Airflow container" in text
    assert "object storage (s3://conn@bucket/prefix) shares through the bucket instead" in text
