"""Passwords full of URL-special characters: the ``sql`` source connects with them and never shows a piece of one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.run import instantiate, run_workflow
from airflow_provider_ingest.sources.sql.connection import SqlConnectionError
from airflow_provider_ingest.workflow.env import secret_values, substitute
from airflow_provider_ingest.workflow.loader import load_workflow

PASSWORD = "s3cr#t@xq/zz%:?"
ENCODED = quote(PASSWORD, safe="")


def fragments(*secrets: str) -> set[str]:
    """Every piece of 4 or more characters of the secrets."""
    return {s[i:j] for s in secrets for i in range(len(s)) for j in range(i + 4, len(s) + 1)}


def leaked(text: str) -> list[str]:
    return sorted(piece for piece in fragments(PASSWORD, ENCODED) if piece in text)


@pytest.fixture(scope="module")
def pg_role(postgres_url: str) -> Iterator[str]:
    """A login role whose password is ``PASSWORD``; dropped afterwards."""
    import sqlalchemy

    role = f"h9_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD.replace('%', '%%')}'")
    try:
        yield role
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE {role}")
        engine.dispose()


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("H9_PG_PASSWORD", PASSWORD)
    return "${H9_PG_PASSWORD}"


def context(tmp_path: Path) -> RunContext:
    return RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path), base_dir=tmp_path)


def workflow(tmp_path: Path, source_config: str) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(
        f"source:\n  type: sql\n  config:\n{source_config}    service_name: pg\n"
        "    schema_filter: {include: [none_here]}\n"
        f"sink:\n  type: file\n  config:\n    path: out.jsonl\nworkflow:\n  staging_root: {tmp_path}\n"
    )
    return path


def test_substitute_percent_encodes_a_url_password_and_remembers_secrets() -> None:
    env = {"H9_USER": "reader", "H9_PW": PASSWORD, "H9_HOST": "db"}
    config = {"url": "postgresql://${H9_USER}:${H9_PW}@${H9_HOST}/x", "password": "${H9_PW}", "name": "${H9_USER}"}
    secrets: set[str] = set()
    assert substitute(config, env, secrets=secrets) == {
        "url": f"postgresql://reader:{ENCODED}@db/x",
        "password": PASSWORD,
        "name": "reader",
    }
    assert {PASSWORD, ENCODED} <= secrets
    assert "reader" not in secrets and "db" not in secrets
    assert secret_values(config, env) == secrets


def test_the_password_field_connects(pg_role: str, password_env: str, tmp_path: Path, postgres_url: str) -> None:
    import sqlalchemy

    host = sqlalchemy.make_url(postgres_url).set(username=pg_role, password=None).render_as_string()
    path = workflow(tmp_path, f"    url: {host}\n    password: '{password_env}'\n")
    result = run_workflow(load_workflow(path))
    database = sqlalchemy.make_url(postgres_url).database
    assert result.error is None
    lines = (tmp_path / "out.jsonl").read_text().splitlines()[1:-1]
    assert [(row["kind"], row["name"]) for row in map(json.loads, lines)] == [
        ("database_service", "pg"),
        ("database", database),
    ]
    source = instantiate("source", load_workflow(path).spec.source, context(tmp_path))
    source.prepare()
    try:
        assert (source.url.username, source.url.password) == (pg_role, PASSWORD)
        assert source.connection.exec_driver_sql("SELECT current_user").scalar() == pg_role
    finally:
        source.close()


def test_a_password_in_the_url_is_escaped_and_connects(pg_role: str, password_env: str, tmp_path: Path) -> None:
    path = workflow(tmp_path, f"    url: postgresql+psycopg2://{pg_role}:{password_env}@127.0.0.1:5432/postgres\n")
    source = instantiate("source", load_workflow(path).spec.source, context(tmp_path))
    source.prepare()
    try:
        assert (source.url.password, source.url.host, source.url.port) == (PASSWORD, "127.0.0.1", 5432)
        assert source.connection.exec_driver_sql("SELECT current_user").scalar() == pg_role
    finally:
        source.close()


@pytest.mark.parametrize("form", ["field", "url"])
def test_a_failing_connection_shows_no_piece_of_the_password(
    form: str, pg_role: str, password_env: str, tmp_path: Path
) -> None:
    from airflow_provider_ingest.run import run_task

    url = f"postgresql+psycopg2://{pg_role}@127.0.0.1:1/postgres"
    config = {"url": url, "password": password_env, "service_name": "pg"}
    if form == "url":
        url = url.replace("@", f":{password_env}@")
        config = {"url": url, "service_name": "pg"}
    text = f"    url: {url}\n" + (f"    password: '{password_env}'\n" if form == "field" else "")
    result = run_workflow(load_workflow(workflow(tmp_path, text)))
    assert result.error is not None
    assert f"cannot connect to postgresql+psycopg2://{pg_role}:***@127.0.0.1:1/postgres" in result.error
    assert leaked(result.error + repr(result.reports)) == []

    task = run_task("source", "sql", config, context(tmp_path))
    assert isinstance(task.exception, SqlConnectionError)
    assert "cannot connect to" in task.error
    assert leaked(task.error + str(task.exception) + repr(task.exception.args)) == []


def test_every_resolved_secret_is_scrubbed_from_driver_messages(
    pg_role: str, password_env: str, tmp_path: Path
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_ingest.sources.sql.source import SqlSource

    run = context(tmp_path)
    substitute({"password": password_env}, secrets=run.secrets)
    url = f"postgresql+psycopg2://{pg_role}@127.0.0.1:1/postgres"
    source = SqlSource.create({"url": url, "service_name": "pg"}, run)
    message = f'FATAL: password "{PASSWORD}" rejected; dsn was postgresql://{pg_role}:{ENCODED}@127.0.0.1/postgres'
    assert source._text(message) == (
        f'FATAL: password "***" rejected; dsn was postgresql://{pg_role}:***@127.0.0.1/postgres'
    )
    fresh = f"n3w#{uuid.uuid4().hex[:8]}@/%"  # not yet known to Airflow's masker
    line = f"log {fresh} and {quote(fresh, safe='')}"
    assert redact(line) == line
    source = SqlSource.create({"url": url, "password": fresh, "service_name": "pg"}, context(tmp_path))
    with pytest.raises(SqlConnectionError, match="cannot connect"):
        source.prepare()
    assert redact(line) == "log *** and ***"


def test_password_goes_with_url_only() -> None:
    from pydantic import ValidationError

    from airflow_provider_ingest.sources.sql.source import SqlSourceConfig

    with pytest.raises(ValidationError, match="password goes with url"):
        SqlSourceConfig.model_validate({"conn_id": "x", "password": "pw"})


def test_an_openmetadata_file_keeps_the_password_out_of_the_url(
    pg_role: str, password_env: str, tmp_path: Path
) -> None:
    path = tmp_path / "om.yaml"
    path.write_text(
        "source:\n  type: postgres\n  serviceName: local_pg\n  serviceConnection:\n    config:\n"
        f"      type: Postgres\n      username: {pg_role}\n      password: '{password_env}'\n"
        "      hostPort: 127.0.0.1:5432\n      database: postgres\n"
        "  sourceConfig:\n    config:\n      type: DatabaseMetadata\n"
        "sink:\n  type: metadata-rest\n  config: {}\nworkflowConfig:\n  openMetadataServerConfig:\n"
        "    hostPort: http://127.0.0.1:1/api\n    authProvider: openmetadata\n"
        "    securityConfig:\n      jwtToken: '${H9_PG_PASSWORD}'\n"
    )
    spec = load_workflow(path).spec.source
    assert spec.config["url"] == f"postgresql+psycopg2://{pg_role}@127.0.0.1:5432/postgres"
    assert spec.config["password"] == password_env
    source = instantiate("source", spec, context(tmp_path))
    source.prepare()
    try:
        assert source.url.password == PASSWORD
        assert source.connection.exec_driver_sql("SELECT current_user").scalar() == pg_role
    finally:
        source.close()
