"""No secret leaves a run: each way of giving one, through a failing connection and a run with dead letters.

Each case puts a secret full of URL-special characters (``SECRET`` plus a marker unique to the test)
into a setting the way the documentation allows (a ``password`` field, a URL's ``user:password@``, a
secret query parameter, a whole URL from one variable, an Airflow connection, an Elasticsearch API key,
an OpenMetadata JWT token with a trailing newline), runs the workflow through the CLI (and, for the sql
source and OpenMetadata, as an Airflow DAG), then searches stdout, stderr, every file the run wrote
(staged files, dead letters, logs) and the XComs for the secret and its percent-encoded form. Every run
is checked to have really failed, or really written dead letters, so that no search passes on an empty
output. PostgreSQL here trusts every login, so a failing connection is one whose role does not exist.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from es_server import FakeElasticsearch
from om_server import FakeOpenMetadata, serve

from airflow_provider_ingest.api import ComponentConfig, Sink, Source
from airflow_provider_ingest.records import Database, DatabaseService, Record, Table
from airflow_provider_ingest.staging import read_dead_letters

SECRET = "s3cr#t@x/q%:?zz"
PG = "127.0.0.1:5432"
TESTS = Path(__file__).resolve().parent


def pieces(secret: str, size: int = 6) -> set[str]:
    """What a search looks for: every piece of ``size`` characters or more of the secret (and of it without
    its trailing newline), as written and percent-encoded."""
    values = {secret, secret.strip()}
    values |= {quote(value, safe="") for value in values} | {quote_plus(value) for value in values}
    return {value[i:j] for value in values for i in range(len(value)) for j in range(i + size, len(value) + 1)}


def leaks(outputs: dict[str, bytes], secret: str) -> list[str]:
    """The outputs holding a piece of the secret."""
    found = [piece.encode() for piece in pieces(secret)]
    return sorted(name for name, data in outputs.items() if any(piece in data for piece in found))


def files_under(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders, gzip files unpacked."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found[str(path)] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return found


def dead_letters(folder: Path) -> list[Any]:
    """Every dead letter written under a folder."""
    return [letter for path in sorted(folder.rglob("dead_letters*")) for letter in read_dead_letters(str(path))]


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def catalog() -> list[Record]:
    """A service, a database and a table whose schema is missing: OpenMetadata refuses the table."""
    return [
        DatabaseService(name="shop", service_type="Postgres"),
        Database(service="shop", name="sales"),
        Table(service="shop", database="sales", database_schema="public", name="orders"),
    ]


class RefusingSinkConfig(ComponentConfig):
    refuse: list[str] = []


class RefusingSink(Sink):
    """Refuses the records named in ``refuse``: they become dead letters."""

    config_class = RefusingSinkConfig
    config: RefusingSinkConfig

    def write(self, record: Record) -> None:
        if record.name in self.config.refuse:
            raise ValueError(f"refusing {record.kind} {record.name}")


class CarelessConfig(ComponentConfig):
    password: str


class CarelessSource(Source):
    """Puts its password into the error that fails the run, as a careless plugin would."""

    config_class = CarelessConfig
    config: CarelessConfig

    def prepare(self) -> None:
        raise ConnectionError(f"login with password {self.config.password} refused")

    def records(self) -> Iterator[Record]:
        yield from ()


class CarelessSink(Sink):
    """Puts its password into every record's error, as a careless plugin would: dead letters."""

    config_class = CarelessConfig
    config: CarelessConfig

    def write(self, record: Record) -> None:
        raise ValueError(f"cannot write {record.name} with password {self.config.password}")


@dataclass
class Services:
    """What the cases connect to: the test Elasticsearch and OpenMetadata servers, files, a closed port."""

    es: FakeElasticsearch
    om: FakeOpenMetadata
    folder: Path
    records: Path
    closed: str


@dataclass
class Run:
    """One workflow to run and the environment that holds its secret."""

    workflow: dict[str, Any]
    env: dict[str, str]
    secret: str


Case = Callable[[Services, str, bool], Run]
"""(services, secret, failing) -> the run: a failing connection, or one that writes dead letters."""

SECRET_VAR = "LEAK_SECRET"


def file_source(services: Services) -> dict[str, Any]:
    return {"type": "file", "config": {"path": str(services.records)}}


def sql_run(url: str, failing: bool, secret: str, **settings: Any) -> Run:
    """The sql source reading PostgreSQL; dead letters from a sink refusing its records."""
    role = f"nosuch_{uuid.uuid4().hex[:8]}" if failing else "postgres"
    source = {"url": url.replace("ROLE", role), "service_name": "pg", "schema_filter": {"include": ["public"]}}
    source["table_filter"] = {"include": ["none_here"]}
    sink = {"type": f"{__name__}:RefusingSink", "config": {"refuse": ["pg", "postgres", "public"]}}
    return Run(
        {"source": {"type": "sql", "config": {**source, **settings}}, "sink": sink}, {SECRET_VAR: secret}, secret
    )


def sql_password_field(services: Services, secret: str, failing: bool) -> Run:
    return sql_run(f"postgresql+psycopg2://ROLE@{PG}/postgres", failing, secret, password="${LEAK_SECRET}")


def sql_url_password(services: Services, secret: str, failing: bool) -> Run:
    return sql_run(f"postgresql+psycopg2://ROLE:${{{SECRET_VAR}}}@{PG}/postgres", failing, secret)


def sql_query_password(services: Services, secret: str, failing: bool) -> Run:
    return sql_run(f"postgresql+psycopg2://ROLE@{PG}/postgres?password=${{{SECRET_VAR}}}", failing, secret)


def sql_query_sslpassword(services: Services, secret: str, failing: bool) -> Run:
    url = f"postgresql+psycopg2://ROLE@{PG}/postgres?sslmode=disable&sslpassword=${{{SECRET_VAR}}}"
    return sql_run(url, failing, secret)


def sql_whole_url(services: Services, secret: str, failing: bool) -> Run:
    run = sql_run("${LEAK_URL}", failing, secret)
    role = f"nosuch_{uuid.uuid4().hex[:8]}" if failing else "postgres"
    run.env["LEAK_URL"] = f"postgresql+psycopg2://{role}:{quote(secret, safe='')}@{PG}/postgres"
    return run


def airflow_connection(services: Services, secret: str, failing: bool) -> Run:
    conn_id = f"leak_pg_{uuid.uuid4().hex[:8]}"
    run = sql_run("", failing, secret)
    config = run.workflow["source"]["config"]
    login = config.pop("url").split("//")[-1] or "postgres"
    del config["service_name"]
    config["conn_id"] = conn_id
    if failing:
        login = f"nosuch_{uuid.uuid4().hex[:8]}"
    connection = {"conn_type": "postgres", "login": login, "password": secret, "host": "127.0.0.1", "port": 5432}
    return Run(
        run.workflow, {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({**connection, "schema": "postgres"})}, secret
    )


def es_run(services: Services, secret: str, failing: bool, host: str, **settings: Any) -> Run:
    """A file source into the Elasticsearch sink (``HOST`` in ``host``), which refuses every document."""
    where = (services.closed if failing else services.es.url).split("//")[1]
    sink = {"type": "elasticsearch", "config": {"hosts": [host.replace("HOST", where)], "max_retries": 0, **settings}}
    return Run({"source": file_source(services), "sink": sink}, {SECRET_VAR: secret}, secret)


def es_api_key(services: Services, secret: str, failing: bool) -> Run:
    return es_run(services, secret, failing, "http://HOST", api_key="${LEAK_SECRET}")


def es_url_password(services: Services, secret: str, failing: bool) -> Run:
    return es_run(services, secret, failing, f"http://elastic:${{{SECRET_VAR}}}@HOST")


def es_query_token(services: Services, secret: str, failing: bool) -> Run:
    return es_run(services, secret, failing, f"http://HOST/?token=${{{SECRET_VAR}}}")


def om_jwt_token(services: Services, secret: str, failing: bool) -> Run:
    """A file source into the OpenMetadata sink: 401 when failing, else every table refused (no parents)."""
    services.om.token = "some-other-token" if failing else secret.strip()
    sink = {"type": "openmetadata", "config": {"server_url": services.om.url, "jwt_token": "${LEAK_SECRET}"}}
    sink["config"]["retries"] = 0
    return Run({"source": file_source(services), "sink": sink}, {SECRET_VAR: secret + "\n"}, secret + "\n")


CASES: dict[str, Case] = {
    "sql_password_field": sql_password_field,
    "sql_url_password": sql_url_password,
    "sql_query_password": sql_query_password,
    "sql_query_sslpassword": sql_query_sslpassword,
    "sql_whole_url": sql_whole_url,
    "airflow_connection": airflow_connection,
    "es_api_key": es_api_key,
    "es_url_password": es_url_password,
    "es_query_token": es_query_token,
    "om_jwt_token": om_jwt_token,
}


@pytest.fixture
def secret() -> str:
    """The secret, made unique to the test so that no earlier run's output can match it."""
    return f"{SECRET}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    from airflow_provider_ingest.staging.stagedfile import StagedFileWriter

    records = tmp_path / "input" / "catalog.jsonl"
    records.parent.mkdir()
    with StagedFileWriter(str(records), producer="test") as writer:
        for record in catalog():
            writer.write(record)
    es = FakeElasticsearch()
    es.reject(lambda doc_id, source: ("mapper_parsing_exception", f"refusing {doc_id}"))
    with serve() as om:
        yield Services(es, om, tmp_path, records, f"http://127.0.0.1:{free_port()}")
    es.close()


def write_workflow(folder: Path, run: Run, **airflow: Any) -> Path:
    """The run's workflow file, staging under ``folder``; JSON is YAML."""
    workflow = {**run.workflow, "workflow": {"staging_root": str(folder / "staging")}}
    if airflow:
        workflow["airflow"] = {"retries": 0, **airflow}
    path = folder / f"{airflow.get('dag_id', 'leak')}.yaml"
    path.write_text(json.dumps(workflow, indent=2))
    return path


def cli_run(folder: Path, run: Run) -> tuple[subprocess.CompletedProcess, dict[str, bytes]]:
    """Run the workflow with the CLI in a subprocess; return it and every output: stdout, stderr, every file."""
    path = write_workflow(folder, run)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), **run.env}
    command = [sys.executable, "-m", "airflow_provider_ingest.cli", "run", str(path)]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, check=False, timeout=120)
    return done, {"stdout": done.stdout, "stderr": done.stderr, **files_under(folder)}


@pytest.mark.postgres
@pytest.mark.parametrize("case", CASES)
def test_a_failing_connection_shows_no_secret(
    case: str, services: Services, secret: str, tmp_path: Path, postgres_url: str
) -> None:
    run = CASES[case](services, secret, True)
    done, outputs = cli_run(tmp_path, run)
    assert done.returncode == 1, done.stdout.decode() + done.stderr.decode()
    assert b"run failed" in done.stdout + done.stderr
    assert leaks(outputs, run.secret) == []


@pytest.mark.postgres
@pytest.mark.parametrize("case", CASES)
def test_a_run_with_dead_letters_shows_no_secret(
    case: str, services: Services, secret: str, tmp_path: Path, postgres_url: str
) -> None:
    run = CASES[case](services, secret, False)
    done, outputs = cli_run(tmp_path, run)
    letters = dead_letters(tmp_path / "staging")
    assert letters, done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 1  # below the success threshold
    assert leaks(outputs, run.secret) == []
