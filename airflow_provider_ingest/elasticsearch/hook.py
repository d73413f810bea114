"""The ``ingest_elasticsearch`` connection type and its hook: hosts, API key or basic auth, TLS, timeouts.

Connection fields: *Host* is one URL or several, comma-separated (``https://es1:9200,https://es2:9200``; a
bare host name means ``http://`` and *Port*, default 9200), *Login*/*Password* basic auth. Extra:
``api_key`` (instead of basic auth), ``verify_certs`` (bool), ``ca_certs`` (CA file path),
``request_timeout`` (seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

EXTRA_KEYS = ("api_key", "verify_certs", "ca_certs", "request_timeout")


class ElasticsearchIngestHook(BaseHook):
    """Builds an ``elasticsearch`` client from an Airflow connection or inline settings."""

    conn_name_attr = "elasticsearch_conn_id"
    default_conn_name = "ingest_elasticsearch_default"
    conn_type = "ingest_elasticsearch"
    hook_name = "Elasticsearch (ingest)"

    def __init__(self, elasticsearch_conn_id: str | None = default_conn_name, **settings: Any) -> None:
        super().__init__()
        self.elasticsearch_conn_id = elasticsearch_conn_id
        self._settings = {key: value for key, value in settings.items() if value is not None}
        self._client: Elasticsearch | None = None

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields: API key, TLS verification, CA file, request timeout."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from wtforms import BooleanField, IntegerField, PasswordField, StringField

        return {
            "api_key": PasswordField("API key", widget=BS3PasswordFieldWidget()),
            "verify_certs": BooleanField("Verify TLS certificates", default=True),
            "ca_certs": StringField("CA file", widget=BS3TextFieldWidget()),
            "request_timeout": IntegerField("Request timeout (s)", widget=BS3TextFieldWidget()),
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form: Host holds the URLs, Login/Password basic auth."""
        return {
            "hidden_fields": ["schema"],
            "relabeling": {"host": "Hosts (comma-separated URLs)", "login": "Username"},
            "placeholders": {
                "host": "https://elasticsearch:9200",
                "login": "elastic (or leave empty and use an API key)",
                "extra": '{"api_key": "...", "verify_certs": true, "ca_certs": "/certs/ca.crt", "request_timeout": 30}',
            },
        }

    def settings(self) -> dict[str, Any]:
        """Client settings: inline ones (``hosts`` given) win, else the Airflow connection's."""
        settings = dict(self._settings)
        if "hosts" not in settings:
            connection = self.get_connection(self.elasticsearch_conn_id or self.default_conn_name)
            settings = {**_from_connection(connection), **settings}
        if not settings.get("hosts"):
            raise ValueError("no Elasticsearch hosts: set the connection's Host field or the component's hosts")
        for secret in (settings.get("api_key"), settings.get("password")):
            if secret:
                mask(secret)
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
            return False, str(error)
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
    settings: dict[str, Any] = {
        "hosts": hosts,
        **{key: extra[key] for key in EXTRA_KEYS if extra.get(key) not in (None, "")},
    }
    if connection.login:
        settings.update(username=connection.login, password=connection.password or "")
    return settings


def build_client(settings: dict[str, Any]) -> Elasticsearch:
    """An ``Elasticsearch`` client from hook settings (hosts, api_key or username/password, TLS, timeout)."""
    from elasticsearch import Elasticsearch

    options: dict[str, Any] = {
        "hosts": settings["hosts"],
        "request_timeout": settings.get("request_timeout", 30),
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if settings.get("api_key"):
        options["api_key"] = settings["api_key"]
    elif settings.get("username"):
        options["basic_auth"] = (settings["username"], settings.get("password") or "")
    if settings.get("verify_certs") is not None:
        options["verify_certs"] = bool(settings["verify_certs"])
    if settings.get("ca_certs"):
        options["ca_certs"] = settings["ca_certs"]
    return Elasticsearch(**options)


def mask(secret: str) -> None:
    """Have Airflow's log masker hide a secret, when running in Airflow."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    mask_secret(secret)
