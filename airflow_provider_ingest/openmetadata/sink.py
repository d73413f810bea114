"""The ``openmetadata`` sink: records created or updated in batches as they come, parents before children.

A :class:`Publisher` sends records for the sink and the bulk sink alike: services with one ``PUT`` each,
databases, schemas and tables ``batch_size`` at a time with ``PUT <collection>/bulk`` (OpenMetadata's own
sink does the same). An item the batch refused, or whose result is missing, is sent again alone; a batch too
large (413) is sent in halves; a server without the bulk endpoint (404 or 405) gets one ``PUT`` per record for
the rest of the run. Tables go first without their foreign keys, then, once every table is in, again in full:
OpenMetadata refuses a foreign key to a table it does not have yet.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby, islice
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from airflow_provider_ingest.api import ComponentConfig, Sink
from airflow_provider_ingest.breaker import CircuitBreaker, NotAttempted
from airflow_provider_ingest.errors import AuthenticationError, IngestError, ServiceUnavailableError
from airflow_provider_ingest.openmetadata.mapping import ENDPOINTS
from airflow_provider_ingest.records import (
    KIND_ORDER,
    ConstraintType,
    Entity,
    Record,
    Table,
    dump_record,
    fqn,
    parse_record,
)
from airflow_provider_ingest.secrets import register
from airflow_provider_ingest.urls import check_http_url

if TYPE_CHECKING:
    from airflow_provider_ingest.api import Component
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient
    from airflow_provider_ingest.openmetadata.mapping import Mapper

log = logging.getLogger(__name__)

BATCH_SIZE = 100
"""Records per bulk request: OpenMetadata's own sink sends 100 (``bulk_sink_batch_size``)."""
PARENT_FIELDS = {"database": "service", "database_schema": "database", "table": "databaseSchema"}
"""The create-request field naming the parent by FQN, for the kinds published in bulk (``PUT <endpoint>/bulk``)."""


class OpenMetadataConfig(ComponentConfig):
    conn_id: str | None = Field(default=None, description="Airflow connection of type openmetadata")
    server_url: str | None = Field(default=None, description="server URL, for runs without an Airflow connection")
    jwt_token: str | None = Field(default=None, repr=False, description="the ingestion bot's JWT token, as ${ENV_VAR}")
    verify_ssl: bool | str | None = Field(default=None, description="TLS verification, or a CA bundle path")
    connect_timeout: float | None = Field(default=None, gt=0, description="seconds (default 10)")
    read_timeout: float | None = Field(default=None, gt=0, description="seconds (default 30)")
    retries: int | None = Field(default=None, ge=0, description="retries of 429, 5xx and dropped connections (5)")
    backoff_factor: float | None = Field(default=None, ge=0, description="exponential backoff base, seconds (0.5)")
    service_name: str | None = Field(default=None, description="the service published, for the Airflow asset URI")
    batch_size: int = Field(default=BATCH_SIZE, ge=1, le=1000, description="records per bulk request (100)")

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        return None if url is None else check_http_url(url, "server_url")

    @field_validator("jwt_token")
    @classmethod
    def _strip(cls, token: str | None) -> str | None:
        """A token read from a file or a secret store often ends with a line break: it is not part of the token."""
        from airflow_provider_ingest.openmetadata.client import clean_token

        return None if token is None else clean_token(token)

    @model_validator(mode="after")
    def _one_server(self) -> OpenMetadataConfig:
        if (self.conn_id is None) == (self.server_url is None):
            raise ValueError("give exactly one of conn_id or server_url")
        if self.server_url is not None and not self.jwt_token:
            raise ValueError("server_url needs jwt_token (as ${ENV_VAR})")
        return self


def connect(config: OpenMetadataConfig, secrets: set[str], *, pool_size: int = 10) -> OpenMetadataClient:
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

        return OpenMetadataHook(config.conn_id, secrets=secrets, pool_size=pool_size, **settings).get_conn()
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, Settings, server_base

    register(config.jwt_token or "", secrets)
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


Outcome = tuple[Record, Exception | None]
"""A record sent, and why it failed (None: published)."""
Pending = tuple[Record, dict[str, Any]]
"""A record and its create request, to be sent."""


class Publisher:
    """Sends records for one component: in batches through the bulk endpoint, or one ``PUT`` each.

    Owners are resolved once each, failed parents remembered (their children are not sent), a dead server
    noticed: after a few refused credentials in a row, or once the server is unreachable, every further
    record fails as :class:`NotAttempted` without a request; :meth:`finish` then raises the error that
    stopped it. Thread-safe: the bulk sink sends several batches at once.
    """

    def __init__(self, client: OpenMetadataClient, component: Component) -> None:
        self.client = client
        self.component = component
        self.breaker = CircuitBreaker("OpenMetadata")
        self.failed: set[str] = set()
        self.mapper = mapper_for(client)
        self.bulk = True
        """Whether the server has the bulk endpoint; False after a 404 or 405 to it."""
        self.absent: set[str] = set()
        """Records that failed the first time they were sent: not on the server (a second pass's failure is)."""
        self._owners: dict[tuple[str, str], dict[str, str] | None] = {}
        self._lock = threading.Lock()

    def publish_batch(
        self, records: Sequence[Record], *, foreign_keys: bool = True, again: bool = False
    ) -> list[Outcome]:
        """Create or update records of one kind with one bulk ``PUT`` (services: a ``PUT`` each); each one's outcome.

        An item the batch refused, or whose result is missing, is sent again alone, so that only the server's
        refusal of that record fails it. ``foreign_keys=False`` leaves tables' foreign keys out; ``again`` is a
        second pass, whose records are not counted as created or updated again.
        """
        outcomes: list[Outcome] = []
        pending: list[Pending] = []
        for record in records:
            try:
                pending.append((record, self._body(record, foreign_keys)))
            except Exception as error:
                self._failed(record, error)
                outcomes.append((record, error))
        alone = pending
        if pending and self.bulk and pending[0][0].kind in PARENT_FIELDS:
            alone = self._bulk(pending, outcomes, again)
        for record, body in alone:
            try:
                self._put(record, body, again)
            except Exception as error:
                outcomes.append((record, error))
            else:
                outcomes.append((record, None))
        if not again:
            with self._lock:
                self.absent |= {record.fqn for record, error in outcomes if error is not None}
        return outcomes

    def finish(self) -> None:
        """After the last record: warn once per kind of what was not published, then raise the error that
        stopped the step, if one did."""
        for message in self.mapper.dropped():
            self.component.warn(message)
        if self.breaker.not_attempted:
            self.component.report.count("not_attempted", self.breaker.not_attempted)
        self.breaker.finish()

    def owner(self, kind: str, name: str) -> dict[str, str] | None:
        """The entity reference of a user or team; an unknown one, or a team OpenMetadata does not let own entities
        (one not of type ``Group``), is a warning and is left out."""
        key = (kind, name)
        if key not in self._owners:
            reference, problem = owner_reference(kind, self.client.find_by_name(f"{kind}s", name))
            with self._lock:
                if key not in self._owners:  # another batch's thread may have resolved it meanwhile
                    self._owners[key] = reference
                    if problem:
                        self.component.warn(f"owner {kind} {name!r} {problem}; published without it")
        return self._owners[key]

    def _body(self, record: Record, foreign_keys: bool) -> dict[str, Any]:
        """The record's create request; raises when it is not to be sent (breaker open, parent failed, no body)."""
        self.breaker.guard()
        parent = record.parent_fqn
        if parent is not None and parent in self.failed:
            raise ParentFailed(f"parent {parent} failed")
        owners = [ref for owner in record.owners if (ref := self.owner(owner.type, owner.name))]
        if foreign_keys and isinstance(record, Table):
            record = self._without_keys_to_failed(record)
        return self.mapper.body(record, owners, foreign_keys=foreign_keys)

    def _without_keys_to_failed(self, table: Table) -> Table:
        """The table without its foreign keys to tables that failed in this run (the server would refuse it whole
        for them), those counted for a warning; the failed tables are dead-lettered already."""
        from airflow_provider_ingest.openmetadata.omissions import Tally

        kept = [c for c in table.constraints if c.referred_table is None or c.referred_table not in self.absent]
        if len(kept) == len(table.constraints):
            return table
        tally = Tally()
        for constraint in table.constraints:
            if constraint not in kept:
                tally.add("foreign_key_to_failed", name=f"{table.fqn} to {constraint.referred_table}")
        self.mapper.omissions.add(f"{table.fqn} foreign keys", tally)
        return table.model_copy(update={"constraints": kept})

    def _put(self, record: Record, body: dict[str, Any], again: bool) -> None:
        try:
            self.breaker.guard()
            status, _ = self.client.put(ENDPOINTS[record.kind], body)
        except Exception as error:
            self._failed(record, error)
            raise
        self.breaker.succeeded()
        self._count(status, again)

    def _bulk(self, pending: list[Pending], outcomes: list[Outcome], again: bool) -> list[Pending]:
        """Send ``pending`` in one bulk ``PUT``; put the published and the failed in ``outcomes``; return the records
        to send alone."""
        from airflow_provider_ingest.openmetadata.client import CredentialsRefused, RequestRejected

        endpoint = ENDPOINTS[pending[0][0].kind]
        try:
            self.breaker.guard()
            answer = self.client.put_bulk(endpoint, [body for _, body in pending])
        except NotAttempted as error:
            for index, (record, _) in enumerate(pending):
                outcomes.append((record, error if index == 0 else self.breaker.skip()))
                self._mark(record, error)
            return []
        except RequestRejected as error:
            self.breaker.failed(error)
            if isinstance(error, CredentialsRefused):  # one refusal for the batch, each record failed with it
                for record, _ in pending:
                    outcomes.append((record, error))
                return []
            if error.status == 413 and len(pending) > 1:  # too large for the server or a proxy
                log.warning("PUT %s/bulk: %s; sending the batch of %d in halves", endpoint, error, len(pending))
                half = len(pending) // 2
                return self._bulk(pending[:half], outcomes, again) + self._bulk(pending[half:], outcomes, again)
            if error.status in (404, 405):
                self._no_bulk(endpoint, error)
            else:
                log.warning(
                    "PUT %s/bulk refused the batch (%s); sending its %d records alone", endpoint, error, len(pending)
                )
            return pending
        except ServiceUnavailableError as error:
            self.breaker.failed(error)
            for record, _ in pending:
                outcomes.append((record, error))
                self._mark(record, error)
            return []
        except Exception as error:  # a 500 after the retries, an answer that is not JSON: each record alone
            self.breaker.failed(error)
            log.warning("PUT %s/bulk failed (%s); sending its %d records alone", endpoint, error, len(pending))
            return pending
        self.breaker.succeeded()
        return self._results(answer, pending, outcomes, again)

    def _results(self, answer: Any, pending: list[Pending], outcomes: list[Outcome], again: bool) -> list[Pending]:
        """Match the answer's ``successRequest`` items to the records by FQN; the rest are to be sent alone."""
        kind = pending[0][0].kind
        waiting: dict[str, list[int]] = {}
        for index, (_, body) in enumerate(pending):
            waiting.setdefault(body_fqn(kind, body) or "", []).append(index)
        repeated = {name for name, indexes in waiting.items() if len(indexes) > 1}
        published: set[int] = set()
        passed = answer.get("successRequest") if isinstance(answer, dict) else None
        for item in passed if isinstance(passed, list) else []:
            request = item.get("request") if isinstance(item, dict) else None
            index = _passed_index(request, kind, pending, waiting, repeated)
            if index is not None:
                published.add(index)
                outcomes.append((pending[index][0], None))
                self._count(item.get("status"), again)
        alone = [entry for index, entry in enumerate(pending) if index not in published]
        if alone:
            log.info(
                "%d of %d %s records refused or missing in the bulk answer; sending them alone",
                len(alone),
                len(pending),
                kind,
            )
        return alone

    def _no_bulk(self, endpoint: str, error: Exception) -> None:
        with self._lock:
            if self.bulk:
                self.bulk = False
                log.warning(
                    "OpenMetadata has no bulk endpoint (PUT %s/bulk: %s): one PUT per record for the rest of the run",
                    endpoint,
                    error,
                )

    def _count(self, status: Any, again: bool) -> None:
        if not again:
            with self._lock:
                self.component.report.count("created" if status == 201 else "updated")

    def _failed(self, record: Record, error: Exception) -> None:
        self.breaker.failed(error)
        self._mark(record, error)

    def _mark(self, record: Record, error: Exception) -> None:
        """Remember a failed record, so that its children are not sent; children of a refused token are sent,
        so that the breaker counts the refusals."""
        if not isinstance(error, AuthenticationError):
            with self._lock:
                self.failed.add(record.fqn)


def _passed_index(
    request: Any, kind: str, pending: list[Pending], waiting: dict[str, list[int]], repeated: set[str]
) -> int | None:
    """The index in ``pending`` of the record a ``successRequest`` item stands for, taken out of ``waiting``.

    None if it names none, or if the batch holds its FQN more than once (``repeated``) and its ``request`` does
    not tell which one passed (it is the FQN, or none of their create requests as sent): those are sent alone,
    so that the one refused fails.
    """
    name = request if isinstance(request, str) else body_fqn(kind, request)
    indexes = waiting.get(name) if name else None
    if not indexes:
        return None
    if name not in repeated:
        return indexes.pop()
    for index in indexes if isinstance(request, dict) else ():
        if pending[index][1] == request:
            indexes.remove(index)
            return index
    return None


def owner_reference(kind: str, found: Any) -> tuple[dict[str, str] | None, str | None]:
    """The entity reference of a user or team the server answered, or None and why it cannot own entities."""
    if not isinstance(found, dict) or "id" not in found:
        return None, "not found in OpenMetadata"
    team_type = found.get("teamType", "Group") if kind == "team" else "Group"
    if team_type != "Group":
        return None, f"is a {team_type}: OpenMetadata lets only teams of type Group own entities"
    return {"id": str(found["id"]), "type": kind}, None


def body_fqn(kind: str, body: Any) -> str | None:
    """The FQN of the entity a create request makes: its parent's FQN and its name; None if it names none."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return None
    parent = body.get(PARENT_FIELDS.get(kind, ""))
    name = fqn.quote(body["name"])
    return f"{parent}.{name}" if isinstance(parent, str) else name


def foreign_keys_refused(error: Exception) -> str | Exception:
    """Why a table sent again with its foreign keys failed: it is on the server, without them."""
    if isinstance(error, NotAttempted):
        return error
    return f"published without its foreign keys, which failed: {error}"


def batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    """``records`` in lists of ``size`` (the last one shorter), read as they are needed."""
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def has_foreign_keys(record: Record) -> bool:
    """Whether a record is a table with a foreign key (sent without it first, then again in full)."""
    return isinstance(record, Table) and any(
        constraint.constraint_type is ConstraintType.FOREIGN_KEY for constraint in record.constraints
    )


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
    """Creates or updates records in OpenMetadata as they come, ``batch_size`` at a time; a refused record fails
    with the server's message.

    A full batch goes kind by kind, parents first (one bulk request per kind in it, as OpenMetadata's own sink
    does), so that every record's parent is sent before it or with an earlier batch; usage, query and lineage
    records go after the catalog records of the batch, through
    :class:`~airflow_provider_ingest.openmetadata.usage.UsagePublisher`. Tables with foreign keys
    are set aside in a temporary file (memory does not grow with the catalog) until :meth:`flush`, which sends
    them again in full once every table is in.
    """

    type_name = "openmetadata"
    config_class = OpenMetadataConfig
    config: OpenMetadataConfig

    def prepare(self) -> None:
        self.client = connect(self.config, self.context.secrets, pool_size=1)
        self.publisher = Publisher(self.client, self)
        from airflow_provider_ingest.openmetadata.usage import UsagePublisher

        self.usage = UsagePublisher(self.publisher)
        self.batch: list[Record] = []
        self.keyed: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="ingest-om-keys-")
        self.refused: set[str] = set()

    def write(self, record: Record) -> None:
        self.publisher.breaker.guard()
        self.batch.append(record)
        if has_foreign_keys(record):
            self.keyed.write(dump_record(record) + "\n")
        if len(self.batch) >= self.config.batch_size:
            self._send()

    def flush(self) -> None:
        self._send()
        for batch in batches(self._keyed(), self.config.batch_size):
            for record, error in self.publisher.publish_batch(batch, again=True):
                if error is not None:
                    self.reject(foreign_keys_refused(error), record=record)
        self.usage.finish()
        self.publisher.finish()

    def _keyed(self) -> Iterator[Record]:
        """The tables set aside for their foreign keys, but those refused the first time."""
        self.keyed.seek(0)
        for line in self.keyed:
            record = parse_record(line)
            if record.fqn not in self.refused:
                yield record

    def _send(self) -> None:
        """Publish the batch kind by kind, tables without their foreign keys; a refused record moves to the failures."""
        from airflow_provider_ingest.openmetadata.usage import USAGE_KINDS

        batch, self.batch = sorted(self.batch, key=lambda record: KIND_ORDER[record.kind]), []
        catalog = [record for record in batch if record.kind not in USAGE_KINDS]
        usage = [record for record in batch if record.kind in USAGE_KINDS]
        for _, records in groupby(catalog, key=lambda record: record.kind):
            for record, error in self.publisher.publish_batch(list(records), foreign_keys=False):
                if error is not None:
                    if has_foreign_keys(record):
                        self.refused.add(record.fqn)
                    self.reject(error, record=record)
        if usage:
            for record, error in self.usage.publish_batch(usage):
                if error is not None:
                    self.reject(error, record=record)

    def fail(self, error: BaseException | str, *, record: Entity | None = None, fqn: str | None = None) -> None:
        """Failures of this sink read ``400: <server message>``, ``parent <fqn> failed`` or ``not attempted: <why>``."""
        from airflow_provider_ingest.openmetadata.client import OpenMetadataError
        from airflow_provider_ingest.openmetadata.usage import NotInOpenMetadata

        if isinstance(error, (OpenMetadataError, ParentFailed, NotAttempted, NotInOpenMetadata)):
            error = str(error)
        super().fail(error, record=record, fqn=fqn)

    def close(self) -> None:
        if hasattr(self, "keyed"):
            self.keyed.close()
        if hasattr(self, "client"):
            self.client.close()

    @classmethod
    def asset_uris(cls, config: OpenMetadataConfig) -> list[str]:  # type: ignore[override]
        return asset_uris(config)
