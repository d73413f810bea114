"""The ``openmetadata`` sink: each record is created or updated with one ``PUT``, parents before children."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from airflow_provider_ingest.api import ComponentConfig, Sink
from airflow_provider_ingest.breaker import CircuitBreaker, NotAttempted
from airflow_provider_ingest.errors import AuthenticationError, IngestError
from airflow_provider_ingest.records import Entity, Record

if TYPE_CHECKING:
    from airflow_provider_ingest.api import Component
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient
    from airflow_provider_ingest.openmetadata.mapping import Mapper


class OpenMetadataConfig(ComponentConfig):
    conn_id: str | None = Field(default=None, description="Airflow connection of type openmetadata")
    server_url: str | None = Field(default=None, description="server URL, for runs without an Airflow connection")
    jwt_token: str | None = Field(default=None, description="the ingestion bot's JWT token, as ${ENV_VAR}")
    verify_ssl: bool | str | None = Field(default=None, description="TLS verification, or a CA bundle path")
    connect_timeout: float | None = Field(default=None, gt=0, description="seconds (default 10)")
    read_timeout: float | None = Field(default=None, gt=0, description="seconds (default 30)")
    retries: int | None = Field(default=None, ge=0, description="retries of 429, 5xx and dropped connections (5)")
    backoff_factor: float | None = Field(default=None, ge=0, description="exponential backoff base, seconds (0.5)")
    service_name: str | None = Field(default=None, description="the service published, for the Airflow asset URI")

    @model_validator(mode="after")
    def _one_server(self) -> OpenMetadataConfig:
        if (self.conn_id is None) == (self.server_url is None):
            raise ValueError("give exactly one of conn_id or server_url")
        if self.server_url is not None and not self.jwt_token:
            raise ValueError("server_url needs jwt_token (as ${ENV_VAR})")
        return self


def connect(config: OpenMetadataConfig, *, pool_size: int = 10) -> OpenMetadataClient:
    """A client for the configured server, its version checked."""
    settings: dict[str, Any] = {
        "verify": config.verify_ssl,
        "connect_timeout": config.connect_timeout,
        "read_timeout": config.read_timeout,
        "retries": config.retries,
        "backoff_factor": config.backoff_factor,
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    if config.conn_id is not None:
        from airflow_provider_ingest.openmetadata.hook import OpenMetadataHook

        return OpenMetadataHook(config.conn_id, pool_size=pool_size, **settings).get_conn()
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, Settings, server_base

    client = OpenMetadataClient(
        Settings(
            server_url=server_base(config.server_url or ""),
            token=config.jwt_token or "",
            pool_size=pool_size,
            **settings,
        )
    )
    client.check_version()
    return client


def asset_uris(config: OpenMetadataConfig) -> list[str]:
    """``openmetadata://host:port/<service or catalog>``, from the settings alone (the conn_id stands for the host)."""
    where = (_host(config.server_url) if config.server_url else config.conn_id) or "openmetadata"
    return [f"openmetadata://{where}/{config.service_name or 'catalog'}"]


def _host(url: str) -> str:
    """``host[:port]`` of a URL, never its ``user:password@``."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2]


class Publisher:
    """PUTs records for one component: owners resolved once each, failed parents remembered, a dead server noticed.

    After a few refused credentials in a row, or once the server is unreachable, every further record
    raises :class:`NotAttempted` without a request; :meth:`finish` then raises the error that stopped it.
    """

    def __init__(self, client: OpenMetadataClient, component: Component) -> None:
        self.client = client
        self.component = component
        self.breaker = CircuitBreaker("OpenMetadata")
        self.failed: set[str] = set()
        self.mapper = mapper_for(client)
        self._owners: dict[tuple[str, str], dict[str, str] | None] = {}
        self._lock = threading.Lock()

    def publish(self, record: Record) -> None:
        """Create or update one record; count it as created or updated; raise on failure."""
        from airflow_provider_ingest.openmetadata.mapping import ENDPOINTS

        try:
            self.breaker.guard()
            parent = record.parent_fqn
            if parent is not None and parent in self.failed:
                raise ParentFailed(f"parent {parent} failed")
            owners = [ref for owner in record.owners if (ref := self.owner(owner.type, owner.name))]
            body = self.mapper.body(record, owners)
            status, _ = self.client.put(ENDPOINTS[record.kind], body)
        except Exception as error:
            self.breaker.failed(error)
            if not isinstance(error, AuthenticationError):  # children of a refused token are sent: the breaker counts
                with self._lock:
                    self.failed.add(record.fqn)
            raise
        self.breaker.succeeded()
        with self._lock:
            self.component.report.count("created" if status == 201 else "updated")

    def finish(self) -> None:
        """After the last record: warn once per kind of what was not published, then raise the error that
        stopped the step, if one did."""
        for message in self.mapper.dropped():
            self.component.warn(message)
        if self.breaker.not_attempted:
            self.component.report.count("not_attempted", self.breaker.not_attempted)
        self.breaker.finish()

    def owner(self, kind: str, name: str) -> dict[str, str] | None:
        """The entity reference of a user or team; an unknown one is a warning and is left out."""
        key = (kind, name)
        if key not in self._owners:
            found = self.client.find_by_name("users" if kind == "user" else "teams", name)
            with self._lock:
                if found is None or "id" not in found:
                    self.component.warn(f"owner {kind} {name!r} not found in OpenMetadata; published without it")
                    self._owners[key] = None
                else:
                    self._owners[key] = {"id": str(found["id"]), "type": kind}
        return self._owners[key]


def mapper_for(client: OpenMetadataClient) -> Mapper:
    """The body builder for the client's server, by its version; it reads the server's custom property
    definitions when a record first needs them."""
    from functools import partial

    from airflow_provider_ingest.openmetadata.mapping import Mapper, ServerFeatures
    from airflow_provider_ingest.openmetadata.properties import PropertyDefinitions, read_definitions

    return Mapper(ServerFeatures.of(client.check_version()), PropertyDefinitions(partial(read_definitions, client)))


class ParentFailed(IngestError):
    """The record's parent failed, so the record is not sent."""


class OpenMetadataSink(Sink):
    """Creates or updates each record in OpenMetadata with a PUT; a 4xx fails the record with the server's message."""

    type_name = "openmetadata"
    config_class = OpenMetadataConfig
    config: OpenMetadataConfig

    def prepare(self) -> None:
        self.client = connect(self.config, pool_size=1)
        self.publisher = Publisher(self.client, self)

    def write(self, record: Record) -> None:
        self.publisher.publish(record)

    def flush(self) -> None:
        self.publisher.finish()

    def fail(self, error: BaseException | str, *, record: Entity | None = None, fqn: str | None = None) -> None:
        """Failures of this sink read ``400: <server message>``, ``parent <fqn> failed`` or ``not attempted: <why>``."""
        from airflow_provider_ingest.openmetadata.client import OpenMetadataError

        if isinstance(error, (OpenMetadataError, ParentFailed, NotAttempted)):
            error = str(error)
        super().fail(error, record=record, fqn=fqn)

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()

    @classmethod
    def asset_uris(cls, config: OpenMetadataConfig) -> list[str]:  # type: ignore[override]
        return asset_uris(config)
