"""``airflow-ingest test-connection`` and the generated DAG's ``test_connections`` task, against real services."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from es_server import FakeElasticsearch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from om_server import TOKEN, serve

from airflow_provider_ingest.cli import main

SECRET = "h15-s3cret-" + uuid.uuid4().hex[:8]


def closed_port() -> int:
    """A port nobody listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """The port of a server that accepts every connection and never says a word (a hung host, a wrong port)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def workflow(tmp_path: Path, source: str, *, ends: str = "sink: {type: console}\n", extra: str = "") -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(f"source:\n  type: sql\n  config: {source}\n{ends}workflow:\n  staging_root: staging\n{extra}")
    return path


def table(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[list[str]], str]:
    """Run the command; its exit code, the table's rows split on two spaces or more, and all it printed."""
    code = main(["test-connection", *argv])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    return code, [re.split(r"\s{2,}", line.strip()) for line in lines], out + err


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("H15_SECRET", SECRET)
    return SECRET


def test_the_sample_database_and_staging_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, _ = table(capsys, str(workflow(tmp_path, "{sample: shop}")))

    assert code == 0
    assert rows[0] == ["component", "target", "result", "latency", "detail"]
    assert [row[0] for row in rows[1:-1]] == ["source:sql", "staging root"]
    assert rows[1][1].startswith("sqlite:///") and rows[1][2] == "ok" and rows[1][4].startswith("sqlite 3.")
    assert rows[2][1:3] == [str(tmp_path / "staging"), "ok"] and rows[2][4] == "writable"
    assert rows[-1] == ["all 2 checks ok"]
    assert [path.name for path in (tmp_path / "staging").iterdir()] == []  # the probe file is gone


@pytest.mark.postgres
def test_postgres_by_url_and_by_airflow_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy

    url = sqlalchemy.make_url(postgres_url)
    connection = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username}
    monkeypatch.setenv("AIRFLOW_CONN_H15_PG", json.dumps(connection | {"schema": "postgres", "password": SECRET}))
    for source in (f'{{url: "{postgres_url}", service_name: pg}}', "{conn_id: h15_pg}"):
        code, rows, _ = table(capsys, str(workflow(tmp_path, source)))

        assert code == 0, rows
        assert rows[1][0] == "source:sql" and rows[1][2] == "ok"
        assert rows[1][4].startswith("postgresql ")
    assert rows[1][1] == f"postgresql+psycopg2://{url.username}:***@{url.host}:{url.port}/postgres"


@pytest.mark.postgres
def test_a_closed_port_and_a_missing_database_fail_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, secret_env: str
) -> None:
    port = closed_port()
    closed = (
        f'{{url: "postgresql+psycopg2://reader@127.0.0.1:{port}/db", password: "${{H15_SECRET}}", service_name: pg}}'
    )
    code, rows, printed = table(capsys, str(workflow(tmp_path, closed)))

    assert code == 1
    assert rows[1][:3] == ["source:sql", f"postgresql+psycopg2://reader:***@127.0.0.1:{port}/db", "FAILED"]
    assert rows[1][4].startswith("SqlUnavailableError: ") and "Connection refused" in rows[1][4]
    assert rows[-1] == ["1 of 2 checks failed"]
    missing = f'{{url: "{postgres_url.rsplit("/", 1)[0]}/h15_no_such_db", service_name: pg}}'
    code, rows, _ = table(capsys, str(workflow(tmp_path, missing)))
    assert code == 1 and rows[1][2] == "FAILED"  # a database the server does not have: not retried
    assert (
        rows[1][4].startswith("SqlConfigurationError: ") and "the server has no database 'h15_no_such_db'" in rows[1][4]
    )
    assert secret_env not in printed


@pytest.fixture
def mysql_user(mysql_url: str) -> Iterator[str]:
    """A MariaDB user whose password is :data:`SECRET`; dropped afterwards."""
    import sqlalchemy

    name = "h15_" + uuid.uuid4().hex[:8]
    engine = sqlalchemy.create_engine(mysql_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{SECRET}'")
    try:
        yield name
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
        engine.dispose()


@pytest.mark.mysql
def test_mariadb_with_the_right_and_a_wrong_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f'{{url: "mysql+pymysql://{mysql_user}@127.0.0.1:3306/", password: "${{H15_PW}}", service_name: my}}'
    monkeypatch.setenv("H15_PW", SECRET)
    code, rows, _ = table(capsys, str(workflow(tmp_path, source)))
    assert code == 0 and rows[1][2] == "ok" and rows[1][1] == f"mysql+pymysql://{mysql_user}:***@127.0.0.1:3306/"

    wrong = "wrong-" + SECRET
    monkeypatch.setenv("H15_PW", wrong)
    code, rows, printed = table(capsys, str(workflow(tmp_path, source)))

    assert code == 1 and rows[1][2] == "FAILED"
    assert rows[1][4].startswith("SqlAuthenticationError: ") and "Access denied" in rows[1][4]
    assert wrong not in printed and SECRET not in printed


@pytest.fixture
def elasticsearch() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    try:
        yield server
    finally:
        server.close()


def test_elasticsearch_answers_with_its_version_or_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], elasticsearch: FakeElasticsearch, secret_env: str
) -> None:
    ends = (
        "stage: {type: file}\nbulk_sink:\n  type: elasticsearch\n"
        f'  config: {{hosts: ["{elasticsearch.url}"], username: ingest, password: "${{H15_SECRET}}"}}\n'
    )
    path = workflow(tmp_path, "{sample: shop}", ends=ends)

    code, rows, _ = table(capsys, str(path))
    assert code == 0
    assert rows[2] == ["bulk_sink:elasticsearch", elasticsearch.url, "ok", rows[2][3], "Elasticsearch 8.15.0"]

    elasticsearch.inject(401, times=None, endpoint="/")
    code, rows, printed = table(capsys, str(path))
    assert code == 1 and rows[2][2] == "FAILED" and "AuthenticationException(401" in rows[2][4]

    path.write_text(path.read_text().replace(elasticsearch.url, f"http://127.0.0.1:{closed_port()}"))
    code, rows, more = table(capsys, str(path))
    assert code == 1 and rows[2][2] == "FAILED" and rows[2][4].startswith("ConnectionError")
    assert "Connection refused" in rows[2][4]
    assert secret_env not in printed + more


def test_openmetadata_answers_with_its_version_or_refuses_a_wrong_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve() as server:
        ends = (
            "sink:\n  type: openmetadata\n"
            f'  config: {{server_url: "{server.url}/api", jwt_token: "${{H15_OM_TOKEN}}", retries: 3}}\n'
        )
        path = workflow(tmp_path, "{sample: shop}", ends=ends)
        monkeypatch.setenv("H15_OM_TOKEN", TOKEN)
        code, rows, _ = table(capsys, str(path))
        assert code == 0
        assert rows[2] == ["sink:openmetadata", server.url, "ok", rows[2][3], "OpenMetadata 1.5.4"]

        wrong = "eyJ" + SECRET
        monkeypatch.setenv("H15_OM_TOKEN", wrong)
        code, rows, printed = table(capsys, str(path))

    assert code == 1 and rows[2][2] == "FAILED" and "401" in rows[2][4]
    assert wrong not in printed


@pytest.mark.parametrize("driver", ["mysql+pymysql", "postgresql+psycopg2"])
def test_a_host_that_never_answers_fails_every_check_at_the_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], silent_port: int, secret_env: str, driver: str
) -> None:
    silent = f"127.0.0.1:{silent_port}"
    source = f'{{url: "{driver}://reader@{silent}/db", password: "${{H15_SECRET}}", service_name: db}}'
    ends = (
        f'sink:\n  type: openmetadata\n  config: {{server_url: "http://{silent}", jwt_token: "${{H15_SECRET}}"}}\n'
        "stage: {type: file}\n"
        f'bulk_sink:\n  type: elasticsearch\n  config: {{hosts: ["http://{silent}"], api_key: "${{H15_SECRET}}"}}\n'
    )

    code, rows, printed = table(capsys, "--timeout", "1", str(workflow(tmp_path, source, ends=ends)))

    assert code == 1
    assert [(row[0], row[2], row[4]) for row in rows[1:4]] == [
        (component, "FAILED", "ServiceUnavailableError: no answer within 1 s")
        for component in ("source:sql", "sink:openmetadata", "bulk_sink:elasticsearch")
    ]
    assert rows[4][:3] == ["staging root", str(tmp_path / "staging"), "ok"]
    assert rows[-1] == ["3 of 4 checks failed"]
    assert secret_env not in printed


def test_ctrl_c_while_a_check_waits_stops_with_one_line(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"mysql+pymysql://reader@127.0.0.1:{listener.getsockname()[1]}/db"
    path = workflow(tmp_path, f'{{url: "{url}", service_name: db}}')
    command = [sys.executable, "-m", "airflow_provider_ingest.cli", "test-connection", str(path)]
    with listener, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        listener.settimeout(120)
        connection, _ = listener.accept()  # the check is waiting for the server's greeting
        with connection:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=120)

    assert process.returncode == 130
    assert err.strip() == "test-connection stopped (SIGINT)" and out == ""


@pytest.mark.parametrize("given", ["0", "-1", "nan", "inf", "soon"])
def test_a_deadline_that_is_no_positive_number_is_refused(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["test-connection", "--timeout", given, "flow.yaml"])

    assert exit.value.code == 2
    assert f"--timeout: not a positive number of seconds: {given!r}" in capsys.readouterr().err


SEGMENT = st.text("QXZJKW", min_size=4, max_size=8)
"""Letters that no message, host or path holds: one seen in the output is a piece of the password."""


@settings(max_examples=40, deadline=None)
@given(pieces=st.lists(st.tuples(SEGMENT, st.sampled_from("@:/%#?& +")), min_size=1, max_size=4), last=SEGMENT)
@example(pieces=[("QXZJ", " "), ("KWQX", "@")], last="ZZJQ")
@example(pieces=[("QXZJ", ":"), ("KWQX", "@"), ("JJQX", " ")], last="ZZJQ")
@example(pieces=[("QXZJ", "@"), ("KWQX", ":")], last="ZZ QJ")
def test_no_piece_of_a_raw_password_is_shown_however_the_url_reads(
    pieces: list[tuple[str, str]], last: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from airflow_provider_ingest.run.connections import check_connections
    from airflow_provider_ingest.workflow.spec import ComponentSpec

    password = "".join(segment + separator for segment, separator in pieces) + last
    url = f"postgresql+psycopg2://reader:{password}@127.0.0.1:{closed_port()}/db"
    spec = ComponentSpec(type="sql", config={"url": "${H15_URL}", "service_name": "pg"})
    with mock.patch.dict(os.environ, {"H15_URL": url}):
        checks = check_connections([("source", spec)], "staging", tmp_path_factory.mktemp("flow"), timeout=10)

    assert checks[0].ok is False
    shown = f"{checks[0].target} {checks[0].detail}"
    assert not [segment for segment, _ in pieces if segment in shown] and last not in shown, shown


@settings(max_examples=40, deadline=None)
@given(pieces=st.lists(st.tuples(SEGMENT, st.sampled_from("@:/%#? +")), min_size=1, max_size=4), last=SEGMENT)
@example(pieces=[("QXZJ", "#"), ("KWQX", "@"), ("JJQX", ":"), ("XQZJ", "/"), ("QQXZ", "%")], last="ZZJQ")
def test_no_piece_of_a_password_variable_is_shown_however_the_url_around_it_reads(
    pieces: list[tuple[str, str]], last: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The password as a variable in the URL's password and again in a parameter (no '&': in a parameter it
    would end the parameter): the target is scrubbed of the run's secrets before its URL is read (a password
    holding '@' made the URL unreadable, and the redaction of what looked like its password showed the rest)."""
    from airflow_provider_ingest.run.connections import check_connections
    from airflow_provider_ingest.workflow.spec import ComponentSpec

    password = "".join(segment + separator for segment, separator in pieces) + last
    url = f"postgresql+psycopg2://reader:${{H15_PW}}@127.0.0.1:{closed_port()}/db?options=-c%20x%3D${{H15_PW}}"
    spec = ComponentSpec(type="sql", config={"url": url, "service_name": "pg"})
    with mock.patch.dict(os.environ, {"H15_PW": password}):
        checks = check_connections([("source", spec)], "staging", tmp_path_factory.mktemp("flow"), timeout=10)

    assert checks[0].ok is False
    shown = f"{checks[0].target} {checks[0].detail}"
    assert not [segment for segment, _ in pieces if segment in shown] and last not in shown, shown


def test_an_unwritable_staging_root_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_file").write_text("not a folder\n")
    path = workflow(tmp_path, "{sample: shop}")
    path.write_text(path.read_text().replace("staging_root: staging", "staging_root: a_file/staging"))

    code, rows, _ = table(capsys, str(path))

    assert code == 1
    assert rows[2][:3] == ["staging root", str(tmp_path / "a_file" / "staging"), "FAILED"]
    root = tmp_path / "a_file" / "staging"
    assert rows[2][4] == f"ConfigurationError: staging_root {root}: {root.parent} is not a folder"  # as a run says


def test_file_components_are_checked_where_they_read_and_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a_file").write_text("not a folder\n")
    path = tmp_path / "files.yaml"
    path.write_text(
        "source: {type: file, config: {path: missing.jsonl}}\n"
        "sink: {type: file, config: {path: a_file/out.jsonl}}\n"
        "stage: {type: file}\n"
        "bulk_sink: {type: file, config: {path: published/catalog.jsonl}}\n"
        "workflow: {staging_root: staging}\n"
    )

    code, rows, _ = table(capsys, str(path))

    assert code == 1
    assert [row[:3] for row in rows[1:-1]] == [
        ["source:file", str(tmp_path / "missing.jsonl"), "FAILED"],
        ["sink:file", str(tmp_path / "a_file" / "out.jsonl"), "FAILED"],
        ["bulk_sink:file", str(tmp_path / "published" / "catalog.jsonl"), "ok"],
        ["staging root", str(tmp_path / "staging"), "ok"],
    ]
    assert rows[1][4].startswith("FileNotFoundError") and rows[3][4] == "writable"
    assert rows[-1] == ["2 of 4 checks failed"]
    assert [child.name for child in (tmp_path / "published").iterdir()] == []  # the probe file is gone


def test_an_invalid_workflow_file_is_reported_not_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workflow(tmp_path, "{sample: shop, colour: blue}")

    assert main(["test-connection", str(path)]) == 1
    assert f"{path}:3:" in capsys.readouterr().err


CHECKED = """\
source:
  type: sql
  config: SOURCE
sink:
  type: console
workflow:
  staging_root: STAGING
airflow:
  dag_id: checked
  retries: 3
  test_connections: true
"""


@pytest.mark.airflow
def test_the_generated_dag_starts_with_the_connection_test(dags_folder: Path, tmp_path: Path) -> None:
    from support.dags import dag_bag, run_dag, task_states, xcoms

    (dags_folder / "checked.yaml").write_text(
        CHECKED.replace("SOURCE", "{sample: shop}").replace("STAGING", str(tmp_path / "staging"))
    )
    dag = dag_bag(dags_folder).dags["checked"]
    assert {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks} == {
        "test_connections": ["source"],
        "source": ["sink"],
        "sink": ["cleanup_staging"],
        "cleanup_staging": [],
    }
    assert dag.get_task("test_connections").retries == 0

    dag_run = run_dag(dags_folder, "checked")

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    checks = xcoms(dag_run)["test_connections"]
    assert [(check["component"], check["ok"]) for check in checks] == [("source:sql", True), ("staging root", True)]


@pytest.mark.airflow
def test_a_broken_credential_fails_the_run_before_extraction(
    dags_folder: Path, tmp_path: Path, secret_env: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from support.dags import run_dag, task_states

    url = f"postgresql+psycopg2://reader@127.0.0.1:{closed_port()}/db"
    source = f'{{url: "{url}", password: "${{H15_SECRET}}", service_name: pg}}'
    (dags_folder / "checked.yaml").write_text(
        CHECKED.replace("SOURCE", source).replace("STAGING", str(tmp_path / "staging"))
    )

    dag_run = run_dag(dags_folder, "checked")

    assert task_states(dag_run) == {
        "test_connections": "failed",
        "source": "upstream_failed",
        "sink": "upstream_failed",
        "cleanup_staging": "success",
    }
    assert secret_env not in "".join(capfd.readouterr())


def test_the_check_table_lines_up() -> None:
    from airflow_provider_ingest.run.connections import Check, check_lines

    lines = check_lines(
        [Check("source:sql", "sqlite:///x", True, 0.0123, "sqlite 3.40"), Check("staging root", "/s", False, 1.5, "no")]
    )

    assert lines == [
        "component     target       result   latency  detail",
        "source:sql    sqlite:///x  ok         12 ms  sqlite 3.40",
        "staging root  /s           FAILED  1,500 ms  no",
        "1 of 2 checks failed",
    ]
