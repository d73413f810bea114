"""The package is an Airflow provider: ``airflow providers`` commands see it by its distribution name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_ingest import __version__


def test_airflow_lists_the_provider_with_its_connection_types(tmp_path: Path) -> None:
    environment = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    airflow = [sys.executable, "-m", "airflow"]
    command = [*airflow, "providers", "get", "airflow-provider-ingest", "--full", "--output", "json"]
    shown = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    [provider] = json.loads(shown.stdout[shown.stdout.index("[") :])
    assert provider["package-name"] == "airflow-provider-ingest"
    assert provider["versions"] == [__version__]
    assert [c["connection-type"] for c in provider["connection-types"]] == ["ingest_elasticsearch", "openmetadata"]

    listed = subprocess.run(
        [*airflow, "providers", "list", "--output", "json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    packages = {row["package_name"]: row["version"] for row in json.loads(listed.stdout[listed.stdout.index("[") :])}
    assert packages["airflow-provider-ingest"] == __version__


def _airflow_schema(name: str) -> dict[str, object]:
    """One of the JSON schemas Airflow ships beside its providers manager."""
    from importlib.resources import files

    return json.loads(files("airflow").joinpath(name).read_text())


def test_the_provider_info_is_valid_by_the_schemas_airflow_ships() -> None:
    import jsonschema

    from airflow_provider_ingest.get_provider_info import get_provider_info

    info = get_provider_info()
    jsonschema.validate(info, _airflow_schema("provider_info.schema.json"))  # what the providers manager checks
    connection_types = _airflow_schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(info["connection-types"], connection_types)  # conn-fields and ui-field-behaviour (3.2+)
    behaviours = _airflow_schema("customized_form_field_behaviours.schema.json")
    for connection_type in info["connection-types"]:
        behaviour = connection_type["ui-field-behaviour"]
        jsonschema.validate({key.replace("-", "_"): value for key, value in behaviour.items()}, behaviours)
        for field in connection_type["conn-fields"].values():
            jsonschema.Draft7Validator.check_schema(field["schema"])
            if "default" in field["schema"]:
                jsonschema.validate(field["schema"]["default"], field["schema"])


FORMS = """\
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

forms = {meta.connection_type: meta.model_dump(mode="json") for meta in HookMetaService.hook_meta_data()}
print(json.dumps({name: forms[name] for name in ("openmetadata", "ingest_elasticsearch")}))
"""


def test_the_connection_forms_are_served_from_the_provider_info(tmp_path: Path) -> None:
    environment = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", FORMS], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    forms = json.loads(done.stdout.strip().splitlines()[-1])

    om = forms["openmetadata"]
    assert om["hook_name"] == "OpenMetadata"
    standard = om["standard_fields"]
    assert standard["host"]["title"] == "Server URL" and standard["password"]["title"] == "JWT token (ingestion bot)"
    assert standard["login"]["hidden"] is True and standard["url_schema"]["hidden"] is True
    assert standard["host"]["placeholder"] == "https://openmetadata.example.com"
    extra = om["extra_fields"]
    assert sorted(extra) == ["backoff_factor", "connect_timeout", "read_timeout", "retries", "verify_ssl"]
    assert extra["verify_ssl"]["schema"] == {
        "type": ["boolean", "null"],
        "default": True,
        "title": "Verify TLS certificates",
    }
    assert extra["read_timeout"]["schema"]["title"] == "Read timeout (s)" and extra["read_timeout"]["value"] == 30

    es = forms["ingest_elasticsearch"]
    assert es["standard_fields"]["host"]["title"] == "Hosts (comma-separated URLs)"
    assert sorted(es["extra_fields"]) == ["api_key", "ca_certs", "request_timeout", "verify_certs"]
    assert es["extra_fields"]["api_key"]["schema"]["format"] == "password"


def _test_button(conn_id: str, connection: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> tuple[bool, str]:
    """What the form's Test button does: the connection in the environment, then its hook's test_connection."""
    from airflow.models.connection import Connection

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return Connection(conn_id=conn_id, **connection).test_connection()


def test_the_test_button_of_an_openmetadata_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from om_server import TOKEN, serve

    with serve() as server:
        good = {"conn_type": "openmetadata", "host": server.url, "password": TOKEN, "extra": {"retries": 0}}
        assert _test_button("h15_om", good, monkeypatch) == (True, "connected to OpenMetadata 1.5.4")
        wrong = "eyJ-wrong-" + os.urandom(6).hex()
        ok, message = _test_button("h15_om_wrong", good | {"password": wrong}, monkeypatch)

    assert ok is False and "401" in message and wrong not in message


def test_the_test_button_of_an_elasticsearch_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from es_server import FakeElasticsearch

    server = FakeElasticsearch()
    try:
        password = "es-" + os.urandom(6).hex()
        connection = {"conn_type": "ingest_elasticsearch", "host": server.url, "login": "ingest", "password": password}
        assert _test_button("h15_es", connection, monkeypatch) == (True, "connected to Elasticsearch 8.15.0")
        server.inject(401, times=None, endpoint="/")
        ok, message = _test_button("h15_es", connection, monkeypatch)
    finally:
        server.close()

    assert ok is False and "401" in message and password not in message
