"""The ``openmetadata`` connection type and its hook: server URL, the ingestion bot's JWT token, TLS, timeouts.

Connection fields: *Host* is the server URL (``https://om.example.com``; a trailing ``/api`` or ``/api/v1`` is
dropped; a bare host name means ``http://`` and *Port*), *Password* the JWT token. Extra:
``verify_ssl`` (bool or a CA bundle path), ``connect_timeout``, ``read_timeout``, ``retries``,
``backoff_factor``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.secrets import register, scrub

if TYPE_CHECKING:
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, Settings


class OpenMetadataHook(BaseHook):
    """Talks to an OpenMetadata server, from an Airflow connection or from inline settings."""

    conn_name_attr = "openmetadata_conn_id"
    default_conn_name = "openmetadata_default"
    conn_type = "openmetadata"
    hook_name = "OpenMetadata"

    def __init__(
        self,
        openmetadata_conn_id: str | None = default_conn_name,
        *,
        server_url: str | None = None,
        jwt_token: str | None = None,
        secrets: set[str] | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.openmetadata_conn_id = openmetadata_conn_id
        self.secrets = secrets if secrets is not None else set()
        """The secrets the hook read (the run's set when given): every message it gives hides them."""
        self._inline = (server_url, jwt_token)
        self._overrides = settings
        self._client: OpenMetadataClient | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow before 3.2; later ones read the provider info."""
        from airflow_provider_ingest.openmetadata.connection import UI_FIELD_BEHAVIOUR

        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    def settings(self) -> Settings:
        """Where and how to connect: inline settings, else the Airflow connection."""
        from airflow_provider_ingest.openmetadata.client import Settings, clean_token, server_base

        server_url, token = self._inline
        options: dict[str, Any] = {}
        if server_url is None:
            connection = self.get_connection(self.openmetadata_conn_id or self.default_conn_name)
            server_url = connection.host or ""
            if server_url and "://" not in server_url:
                server_url = f"http://{server_url}" + (f":{connection.port}" if connection.port else "")
            token = connection.password or ""
            options = _extra_options(connection.extra_dejson or {})
        options.update({key: value for key, value in self._overrides.items() if value is not None})
        if not server_url:
            raise ConfigurationError("the OpenMetadata connection has no server URL (the Host field)")
        token = clean_token(token or "")
        register(token, self.secrets)
        return Settings(server_url=server_base(server_url), token=token, **options)

    def get_conn(self) -> OpenMetadataClient:
        """The client, made once; the server's version is checked on first use."""
        if self._client is None:
            from airflow_provider_ingest.openmetadata.client import OpenMetadataClient

            client = OpenMetadataClient(self.settings())
            client.check_version()
            self._client = client
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        """For the connection form's Test button: reach the server and read its version."""
        try:
            version = self.get_conn().check_version()
        except Exception as error:
            return False, scrub(str(error), self.secrets)
        return True, f"connected to OpenMetadata {version}"

    def close(self) -> None:
        """Close the client's pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _extra_options(extra: dict[str, Any]) -> dict[str, Any]:
    """The client settings in the connection's extra: the form's fields, typed; ``verify_ssl`` may be a CA path."""
    from airflow_provider_ingest.forms import FALSE, TRUE, form_values
    from airflow_provider_ingest.openmetadata.connection import CONN_FIELDS, CONN_TYPE

    fields = dict(CONN_FIELDS)
    verify = extra.get("verify_ssl", extra.get(f"extra__{CONN_TYPE}__verify_ssl"))
    ca_bundle = isinstance(verify, str) and verify.strip() and verify.strip().lower() not in TRUE | FALSE
    if ca_bundle:
        del fields["verify_ssl"]
    options = form_values(extra, CONN_TYPE, fields)
    if ca_bundle:
        options["verify_ssl"] = verify.strip()
    if "verify_ssl" in options:
        options["verify"] = options.pop("verify_ssl")
    return options
