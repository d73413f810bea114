"""The hook of the ``ingest_elasticsearch`` connection type: hosts, API key or basic auth, TLS, timeouts.

Connection fields: *Host* is one URL or several, comma-separated (``https://es1:9200,https://es2:9200``; a
bare host name means ``http://`` and *Port*, default 9200), *Login*/*Password* basic auth. Extra:
``api_key`` (instead of basic auth), ``verify_certs`` (bool), ``ca_certs`` (CA file path),
``request_timeout`` (seconds). The form fields are declared in :mod:`.connection`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_ingest.elasticsearch.client import build_client, register_secrets
from airflow_provider_ingest.elasticsearch.connection import CONN_FIELDS, CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.forms import form_values
from airflow_provider_ingest.secrets import scrub

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


class ElasticsearchIngestHook(BaseHook):
    """Builds an ``elasticsearch`` client from an Airflow connection or inline settings."""

    conn_name_attr = "elasticsearch_conn_id"
    default_conn_name = "ingest_elasticsearch_default"
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        elasticsearch_conn_id: str | None = default_conn_name,
        *,
        secrets: set[str] | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.elasticsearch_conn_id = elasticsearch_conn_id
        self.secrets = secrets if secrets is not None else set()
        """The secrets the hook read (the run's set when given): every message it gives hides them."""
        self._settings = {key: value for key, value in settings.items() if value is not None}
        self._client: Elasticsearch | None = None

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow before 3.2 (later ones read ``conn-fields`` from the provider info)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from wtforms import BooleanField, IntegerField, PasswordField, StringField

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema, label = spec["schema"], spec["label"]
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget())
            elif "boolean" in schema["type"]:
                widgets[name] = BooleanField(label, default=schema.get("default"))
            elif "integer" in schema["type"]:
                widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), default=schema.get("default"))
            else:
                widgets[name] = StringField(label, widget=BS3TextFieldWidget())
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow before 3.2: Host holds the URLs, Login/Password basic auth."""
        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    def settings(self) -> dict[str, Any]:
        """Client settings: inline ones (``hosts`` given) win, else the Airflow connection's."""
        settings = dict(self._settings)
        if "hosts" not in settings:
            connection = self.get_connection(self.elasticsearch_conn_id or self.default_conn_name)
            settings = {**_from_connection(connection), **settings}
        if not settings.get("hosts"):
            raise ConfigurationError("no Elasticsearch hosts: set the connection's Host field or the component's hosts")
        register_secrets(settings, self.secrets)
        return settings

    def get_conn(self) -> Elasticsearch:
        """The client, made once; retries are left to the caller (the bulk engine backs off itself)."""
        if self._client is None:
            self._client = build_client(self.settings())
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        """For the connection form's Test button: read the cluster's version."""
        try:
            version = self.get_conn().info()["version"]["number"]
        except Exception as error:
            return False, scrub(str(error), self.secrets)
        return True, f"connected to Elasticsearch {version}"

    def close(self) -> None:
        """Close the client's pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _from_connection(connection: Any) -> dict[str, Any]:
    extra = connection.extra_dejson or {}
    hosts = [host.strip() for host in (connection.host or "").split(",") if host.strip()]
    hosts = [host if "://" in host else f"http://{host}:{connection.port or 9200}" for host in hosts]
    settings: dict[str, Any] = {"hosts": hosts, **form_values(extra, CONN_TYPE, CONN_FIELDS)}
    if connection.login:
        settings.update(username=connection.login, password=connection.password or "")
    return settings
