"""Messages that say what to fix: a setting wrong from the start is refused by ``validate`` at its file, line and field
(with the close match where there is one), never retried as an outage; an outage names what it tried to reach."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.cli import main
from airflow_provider_ingest.errors import ConfigurationError, is_retryable
from airflow_provider_ingest.processors.filter import FilterProcessor
from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Table
from airflow_provider_ingest.sources.sql.connection import (
    SqlAuthenticationError,
    SqlConfigurationError,
    create_source_engine,
)
from airflow_provider_ingest.sources.sql.session import connect
from airflow_provider_ingest.terminal import counted
from airflow_provider_ingest.urls import check_http_url
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

REPO = Path(__file__).resolve().parents[1]
FILE_SOURCE = "source: {type: file, config: {path: in.jsonl}}\n"


def problems(tmp_path: Path, text: str, name: str = "flow.yaml") -> list[str]:
    """The problems ``validate`` reports for a workflow file, each ``file:line:column: field: message``."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path, templated=True)
    return [str(problem).removeprefix(f"{path}:") for problem in raised.value.problems]


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- HTTP services: a URL without a scheme or with a mistyped one -------------------------------------------------


def test_an_elasticsearch_host_without_a_scheme_is_refused_at_its_line_with_the_url_to_write(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        FILE_SOURCE + "sink:\n  type: elasticsearch\n  config:\n    hosts: [localhost:9200, 'http://es2:9200']\n",
    )
    assert found == ["5:13: sink.config.hosts.0: host 'localhost:9200' has no scheme: write 'http://localhost:9200'"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("htp://om:8585/api", "the scheme 'htp' is neither http nor https: write 'http://om:8585/api' or 'https://"),
        ("om:8585", "has no scheme: write 'http://om:8585'"),
        ("http://:8585", "names no host"),
    ],
)
def test_an_openmetadata_server_url_that_is_no_http_url_is_refused_by_validate(
    tmp_path: Path, url: str, message: str
) -> None:
    found = problems(
        tmp_path, FILE_SOURCE + f"sink:\n  type: openmetadata\n  config: {{server_url: '{url}', jwt_token: '${{T}}'}}\n"
    )
    assert len(found) == 1 and found[0].startswith("4:12: sink.config.server_url: server_url ") and message in found[0]


def test_a_bad_server_url_from_a_connection_is_a_configuration_error_not_an_outage() -> None:
    from airflow_provider_ingest.openmetadata.client import Settings

    with pytest.raises(ConfigurationError, match="the scheme 'htp' is neither http nor https") as raised:
        Settings(server_url="htp://om:8585", token="t")
    assert not is_retryable(raised.value)


def test_an_elasticsearch_host_from_a_connection_without_a_scheme_is_a_configuration_error() -> None:
    from airflow_provider_ingest.elasticsearch.client import build_client

    with pytest.raises(ConfigurationError, match="Elasticsearch host 'localhost:9200' has no scheme"):
        build_client({"hosts": ["localhost:9200"]})


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?", fullmatch=True)


@given(host=HOSTS, port=st.integers(1, 65535), password=st.text("abcXYZ019!*", min_size=4, max_size=12))
def test_a_url_without_a_scheme_is_refused_with_the_http_url_and_never_its_password(
    host: str, port: int, password: str
) -> None:
    written = f"user:{password}@{host}:{port}"
    with pytest.raises(ConfigurationError) as raised:
        check_http_url(written, "host")
    assert f"write 'http://user:***@{host}:{port}'" in str(raised.value)
    assert password not in str(raised.value).replace("***", "")


@given(scheme=st.sampled_from(["http", "https", "HTTP"]), host=HOSTS, port=st.none() | st.integers(1, 65535))
def test_every_http_url_with_a_host_is_accepted(scheme: str, host: str, port: int | None) -> None:
    url = f"{scheme}://{host}" + (f":{port}" if port else "")
    assert check_http_url(url, "host") == url


@pytest.mark.parametrize("value", ["${ES_URL}", "http://{{ var.value.es }}:9200", "{{ var.value.es_url }}"])
def test_a_reference_or_a_template_is_checked_once_resolved(value: str) -> None:
    assert check_http_url(value, "host") == value


def test_an_unreachable_elasticsearch_names_the_node_it_tried_without_the_password() -> None:
    from elasticsearch import Elasticsearch

    from airflow_provider_ingest.elasticsearch.errors import ClusterUnavailable, service_error

    port = closed_port()
    client = Elasticsearch(hosts=[f"http://elastic:s3cret-pw@127.0.0.1:{port}"], max_retries=0, request_timeout=5)
    with pytest.raises(Exception) as raised:
        client.info()
    error = service_error(raised.value, "Elasticsearch: ")
    assert isinstance(error, ClusterUnavailable) and is_retryable(error)
    assert str(error).startswith(f"Elasticsearch: cannot reach http://127.0.0.1:{port}: ConnectionError: ")
    assert "s3cret-pw" not in str(error)


def test_an_openmetadata_request_tried_once_says_after_1_attempt() -> None:
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, Settings

    client = OpenMetadataClient(Settings(server_url=f"http://127.0.0.1:{closed_port()}", token="tok3n-h7", retries=0))
    with pytest.raises(Exception, match=r"no answer after 1 attempt: ") as raised:
        client.check_version()
    assert "1 attempts" not in str(raised.value)


@given(count=st.integers(0, 10**6))
def test_a_count_takes_the_plural_unless_it_is_one(count: int) -> None:
    assert counted(count, "attempt") == (f"{count} attempt" if count == 1 else f"{count} attempts")


# --- databases: what a retry cannot cure ---------------------------------------------------------------------------


def connect_error(url: str) -> Exception:
    with pytest.raises(Exception) as raised:
        connect(create_source_engine(make_url(url), str), str)
    return raised.value


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_a_postgresql_database_that_does_not_exist_is_a_configuration_error_naming_it(
    postgres_url: str, driver: str
) -> None:
    url = make_url(postgres_url).set(drivername=f"postgresql+{driver}", database="no_such_db_h7")
    error = connect_error(url.render_as_string(hide_password=False))
    assert isinstance(error, SqlConfigurationError) and not is_retryable(error)
    assert "the server has no database 'no_such_db_h7'" in str(error)


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_a_postgresql_role_that_does_not_exist_is_refused_credentials_not_retried(
    postgres_url: str, driver: str
) -> None:
    url = make_url(postgres_url).set(drivername=f"postgresql+{driver}", username="no_such_role_h7", password=None)
    error = connect_error(url.render_as_string(hide_password=False))
    assert isinstance(error, SqlAuthenticationError) and not is_retryable(error)


def test_a_mysql_database_that_does_not_exist_is_a_configuration_error_naming_it(mysql_url: str) -> None:
    error = connect_error(make_url(mysql_url).set(database="no_such_db_h7").render_as_string(hide_password=False))
    assert isinstance(error, SqlConfigurationError) and not is_retryable(error)
    assert "the server has no database 'no_such_db_h7'" in str(error)


def test_a_mysql_user_refused_is_not_retried_and_its_password_not_shown(mysql_url: str) -> None:
    url = make_url(mysql_url).set(username="no_such_user_h7", password="wr0ng-pw")
    error = connect_error(url.render_as_string(hide_password=False))
    assert isinstance(error, SqlAuthenticationError) and not is_retryable(error)
    assert "wr0ng-pw" not in str(error)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgress://u@h/db",
            "the sql source reads postgresql, mysql, mariadb, sqlite, not 'postgress'; did you mean 'postgresql'?",
        ),
        ("postgres://u@h/db", "not 'postgres'; did you mean 'postgresql'?"),
        ("mysq+pymysql://u@h/db", "not 'mysq'; did you mean 'mysql'?"),
        ("postgresql+psycopg3://u@h/db", "SQLAlchemy has no driver 'psycopg3' for postgresql"),
    ],
)
def test_a_url_whose_dialect_or_driver_is_unknown_is_refused_by_validate(
    tmp_path: Path, url: str, message: str
) -> None:
    found = problems(
        tmp_path, f"source: {{type: sql, config: {{url: '{url}', service_name: s}}}}\nsink: {{type: console}}\n"
    )
    assert len(found) == 1 and found[0].startswith("1:30: source.config.url: ") and message in found[0]


def test_a_url_given_by_reference_is_checked_when_the_run_resolves_it(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("source: {type: sql, config: {url: '${DB_URL}', service_name: s}}\nsink: {type: console}\n")
    assert load_workflow(path).spec.source.config["url"] == "${DB_URL}"


# --- schedules -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "meant"), [("@dayly", "@daily"), ("@hourley", "@hourly"), ("@contnuous", "@continuous")]
)
def test_a_mistyped_preset_gets_the_close_one(tmp_path: Path, written: str, meant: str) -> None:
    found = problems(tmp_path, FILE_SOURCE + f"sink: {{type: console}}\nairflow: {{schedule: '{written}'}}\n")
    assert len(found) == 1 and f"invalid schedule {written!r}: no such preset; did you mean {meant!r}?" in found[0]


# --- validate shows every problem pydantic gives at once -----------------------------------------------------------


def test_every_model_level_problem_of_the_airflow_settings_is_shown_at_once_at_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        FILE_SOURCE + "sink: {type: console}\nairflow:\n  schedule: '@continuous'\n  max_active_runs: 2\n"
        "  start_date: 2024-02-01\n  end_date: 2024-01-01\n",
    )
    assert found == [
        "5:3: airflow.max_active_runs: schedule @continuous needs max_active_runs: 1",
        "7:3: airflow.end_date: end_date is before start_date",
    ]


def test_every_model_level_problem_of_the_workflow_is_shown_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        FILE_SOURCE + "processors:\n  - {type: filter, task_id: test_connections}\nairflow: {test_connections: true}\n",
    )
    assert found == [
        "1:1: a workflow needs a sink, a stage, or both",
        "3:20: processors.0.task_id: task id 'test_connections' is the connection test's (airflow.test_connections)",
    ]


# --- the filter processor keeping nothing --------------------------------------------------------------------------


def test_a_filter_that_keeps_no_table_says_so_naming_its_patterns_and_an_fqn(tmp_path: Path) -> None:
    context = RunContext(workflow_name="t", run_id="r", staging_root=str(tmp_path))
    processor = FilterProcessor.create({"fqn": {"include": [r"svc\.db\.public\.custmers"]}}, context)
    records = [
        DatabaseService(name="svc", service_type="Postgres"),
        Database(service="svc", name="db"),
        DatabaseSchema(service="svc", database="db", name="public"),
        *(Table(service="svc", database="db", database_schema="public", name=name) for name in ("customers", "orders")),
    ]
    kept = [record for record in records if processor.process(record) is not None]
    processor.close()
    assert len(kept) == 3
    assert processor.report.warnings == [
        "the filter kept none of the 2 table records it was given; check fqn include"
        " ['svc\\\\.db\\\\.public\\\\.custmers'] (an FQN it was matched against: 'svc.db.public.customers')"
    ]


def test_a_filter_that_keeps_some_tables_or_has_no_fqn_patterns_gives_no_warning(tmp_path: Path) -> None:
    context = RunContext(workflow_name="t", run_id="r", staging_root=str(tmp_path))
    table = Table(service="svc", database="db", database_schema="public", name="customers")
    for config in ({"fqn": {"include": [".*customers"]}}, {"kinds": ["database_service"]}):
        processor = FilterProcessor.create(config, context)
        processor.process(table)
        processor.close()
        assert processor.report.warnings == []


# --- the command line ----------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.Popen:
    """``airflow-ingest`` from this tree, its output on a pipe."""
    environment = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_ingest.cli", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_output_closed_early_ends_quietly_as_a_broken_pipe_does() -> None:
    process = cli("components")
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith("source ")
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""


def listing(capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    assert main(["components"]) == 0
    sections: dict[str, list[str]] = {}
    current = ""
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("    "):
            sections[current].append(line.strip().split(":", 1)[0])
        else:
            current, _, about = line.partition(": ")
            sections[current] = [about]
    return sections


def test_each_component_is_described_by_its_whole_first_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    sections = listing(capsys)
    assert sections["source file"][0] == (
        "Reads records from staged files (each checked whole first), or, with ``format: jsonl``, from plain JSON Lines."
    )
    assert all(section[0].endswith(".") for section in sections.values())


def test_settings_a_type_refuses_are_not_listed_and_those_listed_are_accepted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow_provider_ingest.usage.querylog.postgres import PostgresQueryLogConfig

    sections = listing(capsys)
    assert "start" not in sections["source postgres_query_log"] and "end" not in sections["source postgres_query_log"]
    assert "user_filter" not in sections["source mysql_query_log"]
    assert {"start", "end", "user_filter"} <= set(sections["source query_log_file"])
    with pytest.raises(ValueError, match="start/end cannot apply"):
        PostgresQueryLogConfig.model_validate({"url": "postgresql://u@h/db", "start": "2024-01-01"})


def test_the_json_schema_leaves_out_the_settings_a_type_refuses() -> None:
    from airflow_provider_ingest.workflow.jsonschema import workflow_json_schema

    definitions = workflow_json_schema()["$defs"]
    assert "start" not in definitions["source_postgres_query_log_config"]["properties"]
    assert "start" in definitions["source_query_log_file_config"]["properties"]


def test_a_missing_command_is_named_in_the_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


# --- an unset variable inside Airflow ------------------------------------------------------------------------------


@pytest.mark.airflow
@pytest.mark.parametrize(
    ("text", "place"),
    [
        (
            "source:\n  type: file\n  config:\n    path: in/${INGEST_TEST_UNSET_H7}.jsonl\nsink: {type: console}\n",
            "4:14: source.config.path",
        ),
        (
            FILE_SOURCE + "sink: {type: console}\nworkflow:\n  staging_root: /tmp/${INGEST_TEST_UNSET_H7}\n",
            "4:22: workflow.staging_root",
        ),
    ],
    ids=["component setting", "staging root"],
)
def test_an_unset_variable_fails_the_airflow_task_at_its_place_in_the_file_as_the_cli_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str, place: str
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_ingest.airflow.factory import build_dag

    monkeypatch.delenv("INGEST_TEST_UNSET_H7", raising=False)
    path = tmp_path / "unset_h7.yaml"
    path.write_text(text)
    expected = f"{path}:{place}: environment variable INGEST_TEST_UNSET_H7 is not set"
    assert main(["run", "--quiet", str(path)]) == 1
    assert capsys.readouterr().err == expected + "\n"
    task = build_dag(path).get_task("source")
    ti = SimpleNamespace(dag_id="unset_h7", run_id="manual__1", task_id="source", map_index=-1)
    with pytest.raises(AirflowFailException) as raised:
        task.execute({"ti": ti})
    assert str(raised.value) == f"WorkflowFileError: {expected}"
