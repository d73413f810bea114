"""The ``elasticsearch`` sink: records indexed as they flow, in bulk chunks, each into its kind's alias.

``table_usage`` and ``lineage`` records update the table documents instead (:mod:`.usage`, shared with the
bulk sink); usage is summarized and ranked when the sink is flushed.
"""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from airflow_provider_ingest.api import Sink
from airflow_provider_ingest.breaker import NotAttempted
from airflow_provider_ingest.elasticsearch.bulk import BulkConfig, BulkWriter, Item
from airflow_provider_ingest.elasticsearch.documents import KINDS, action, document
from airflow_provider_ingest.elasticsearch.errors import translated
from airflow_provider_ingest.elasticsearch.mappings import MAX_PREFIX_LENGTH, aliases, ensure_indexes, install_templates
from airflow_provider_ingest.elasticsearch.usage import USAGE_KINDS, RecordRef, TableRef, UsagePublisher, upsert_action
from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.records import Entity, Record
from airflow_provider_ingest.urls import check_http_url

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

NOT_INDEXED_KIND = (
    "{kind} records are not indexed in Elasticsearch (it holds the catalog, table usage and lineage): "
    "aggregate queries into table_usage records with the table_usage stage"
)


class ElasticsearchConfig(BulkConfig):
    conn_id: str | None = Field(default=None, description="Airflow connection of type ingest_elasticsearch")
    hosts: list[Annotated[str, AfterValidator(functools.partial(check_http_url, what="host"))]] | None = Field(
        default=None, description="URLs (http://host:9200), for runs without an Airflow connection"
    )
    api_key: str | None = Field(default=None, description="API key, as ${ENV_VAR}")
    username: str | None = Field(default=None, description="basic auth user")
    password: str | None = Field(default=None, description="basic auth password, as ${ENV_VAR}")
    verify_certs: bool | None = Field(default=None, description="verify TLS certificates (default true)")
    ca_certs: str | None = Field(default=None, description="CA file to verify the server with")
    request_timeout: float | None = Field(default=None, gt=0, description="seconds per request (default 30)")
    index_prefix: str = Field(
        default="catalog",
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        max_length=MAX_PREFIX_LENGTH,
        description="index/alias prefix (lowercase; index names are at most 255 bytes)",
    )

    @model_validator(mode="after")
    def _one_cluster(self) -> ElasticsearchConfig:
        if (self.conn_id is None) == (not self.hosts):
            raise ValueError("give either conn_id or hosts")
        return self


def connect(config: ElasticsearchConfig, secrets: set[str]) -> Elasticsearch:
    """A client for the configured cluster (connection resolved now, at execute time)."""
    from airflow_provider_ingest.elasticsearch.client import build_client, register_secrets

    inline = {
        "api_key": config.api_key,
        "username": config.username,
        "password": config.password,
        "verify_certs": config.verify_certs,
        "ca_certs": config.ca_certs,
        "request_timeout": config.request_timeout,
    }
    inline = {key: value for key, value in inline.items() if value is not None}
    if config.conn_id is not None:
        from airflow_provider_ingest.elasticsearch.hook import ElasticsearchIngestHook

        return ElasticsearchIngestHook(config.conn_id, secrets=secrets, **inline).get_conn()
    settings = {"hosts": config.hosts, **inline}
    register_secrets(settings, secrets)
    return build_client(settings)


def stamp() -> str:
    """A sortable UTC timestamp for physical index names."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S%f")


def asset_uris(config: ElasticsearchConfig) -> list[str]:
    """``elasticsearch://host:port/<alias>`` per kind, from the settings alone (a conn_id stands for the host)."""
    where = config.conn_id
    if config.hosts:  # host and port only: a URL's user:password must not reach the DAG's assets
        url = urlsplit(config.hosts[0] if "://" in config.hosts[0] else f"http://{config.hosts[0]}")
        where = f"{url.hostname}:{url.port or 9200}"
    return [f"elasticsearch://{where}/{alias}" for alias in aliases(config.index_prefix).values()]


class ElasticsearchSink(Sink):
    """Indexes each record into ``<index_prefix>-<kind>``; refused documents are dead-lettered with the reason.

    Once the cluster refuses the credentials a few times in a row or cannot be reached, further records are
    failed as not attempted, and :meth:`flush` raises the error that stopped the sink.
    """

    type_name = "elasticsearch"
    config_class = ElasticsearchConfig
    config: ElasticsearchConfig

    @translated()
    def prepare(self) -> None:
        self.client = connect(self.config, self.context.secrets)
        install_templates(self.client, self.config.index_prefix)
        ensure_indexes(self.client, self.config.index_prefix, stamp())
        self.aliases = aliases(self.config.index_prefix)
        self.writer = BulkWriter(self.client, self.config, self._rejected, self.context.scrub)
        self.usage = UsagePublisher(self.client, self.aliases["table"], self.writer, self._usage_failed)

    def write(self, record: Record) -> None:
        self.writer.breaker.guard()
        if record.kind in USAGE_KINDS:
            self.usage.add(record.model_dump(mode="json"), record)
            return
        if record.kind not in KINDS:
            raise InputError(NOT_INDEXED_KIND.format(kind=record.kind))
        kind, fqn, doc = document(record.model_dump(mode="json"))
        if kind == "table":  # merged into the document there: its usage and lineage stay
            self.writer.add(upsert_action(self.aliases[kind], fqn, doc), fqn, record)
        else:
            self.writer.add(action(self.aliases[kind], fqn, doc), fqn, record)

    def flush(self) -> None:
        self.writer.flush()
        self.usage.finish(self.config.chunk_size)
        self.report.count("indexed", self.writer.indexed)
        if self.usage.ranked:
            self.report.count("usage_tables_ranked", self.usage.ranked)
        if self.writer.retries:
            self.report.count("retries", self.writer.retries)
        if self.writer.breaker.not_attempted:
            self.report.count("not_attempted", self.writer.breaker.not_attempted)
        self.writer.finish()

    def fail(
        self,
        error: BaseException | str,
        *,
        record: Entity | None = None,
        fqn: str | None = None,
        raw: str | None = None,
    ) -> None:
        """A record not attempted reads ``not attempted: <why>``, without the class name."""
        super().fail(str(error) if isinstance(error, NotAttempted) else error, record=record, fqn=fqn, raw=raw)

    def _rejected(self, item: Item, reason: str) -> None:
        if isinstance(item.ref, (RecordRef, TableRef)):
            self.usage.rejected(item, reason)
        else:
            self.reject(reason, record=item.ref)

    def _usage_failed(self, message: str, ref: Record | None, fqn: str) -> None:
        if ref is None:
            self.fail(message, fqn=fqn)  # an update of the sink's own: no record was counted for it
        else:
            self.reject(message, record=ref, fqn=fqn)  # type: ignore[arg-type]

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()

    @classmethod
    def asset_uris(cls, config: Any) -> list[str]:
        return asset_uris(config)
