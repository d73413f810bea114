"""What the query-log sources share: settings, filters, the time window, noise, and the ``since`` watermark.

Each source emits one :class:`~airflow_provider_ingest.records.usage.Query` per query (or per statement
digest, with its call count). Statements the sources run themselves and utility statements (``BEGIN``,
``COMMIT``, ``SET``, ``SHOW``, a bare ``SELECT 1``...) are left out and counted as filtered, each reason
under its own counter.

The watermark (``since``) is a small JSON state file the source reads when it starts and writes only
when the whole run succeeded (:meth:`Component.run_succeeded`). It keeps the last snapshot and the one
before it: a run that goes again under the same run id (an Airflow retry, a cleared task) diffs against
the snapshot before its own, so it reads again what its first attempt read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from airflow_provider_ingest.api import ComponentConfig, Source
from airflow_provider_ingest.errors import ConfigurationError, InputError, ServiceError
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.sources.sql.session import RetrySettings, Session
from airflow_provider_ingest.usage.parser import mask_literals

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from airflow_provider_ingest.records.usage import Query

OWN_MARKER = "/* airflow-provider-ingest query log */"
"""Leads every statement the database sources run, so that they can leave their own statements out."""

_LEADING = re.compile(r"(?:\s|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_KEYWORD = re.compile(r"[A-Za-z]+")
UTILITY_KEYWORDS = frozenset(
    {
        "abort",
        "begin",
        "commit",
        "deallocate",
        "discard",
        "end",
        "listen",
        "release",
        "reset",
        "rollback",
        "savepoint",
        "set",
        "show",
        "start",
        "unlisten",
        "use",
    }
)
"""First words of statements that read no table: transactions, session settings, ``SHOW``."""
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
"""Quoted strings and names (``'it''s'`` as two: the same for finding a keyword outside them)."""
_FROM = re.compile(r"\bfrom\b", re.I)

_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?",
    re.I,
)
TIME_FORMAT = "YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM|Z] (or ISO 8601 with T)"


def is_utility(text: str) -> bool:
    """Whether a statement reads no table: transaction control, ``SET``, ``SHOW``..., or a ``SELECT`` without
    ``FROM`` anywhere (``SELECT 1``, ``SELECT version()``, ``SELECT @@version``: pings and session lookups)."""
    start = _LEADING.match(text)
    body = text[start.end() if start else 0 :]
    word = _KEYWORD.match(body)
    if word is None:
        return False
    keyword = word.group().lower()
    if keyword in UTILITY_KEYWORDS:
        return True
    return keyword == "select" and _FROM.search(_QUOTED.sub(" ", body)) is None


def is_own(text: str) -> bool:
    """Whether a statement was run by this package's query-log sources: it starts with :data:`OWN_MARKER` (one that
    carries it elsewhere, in a literal or a later comment, is a user's)."""
    return text.lstrip().startswith(OWN_MARKER)


def parse_time(text: str, zone: tzinfo = timezone.utc) -> datetime:
    """An aware UTC time from ISO-8601-like text; a time without an offset is in ``zone``.

    Raises ValueError saying what is expected.
    """
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a time: expected {TIME_FORMAT}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
        if offset is None:
            value = value.replace(tzinfo=zone)
        elif offset.upper() in ("Z", "UTC"):
            value = value.replace(tzinfo=timezone.utc)
        else:
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            if delta >= timedelta(hours=24):
                raise ValueError("offset of 24 hours or more")
            value = value.replace(tzinfo=timezone(delta if offset[0] == "+" else -delta))
        return value.astimezone(timezone.utc)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"not a valid time ({error})") from None


def is_template(value: str) -> bool:
    """Whether a setting is a Jinja template Airflow has not rendered yet."""
    return "{{" in value or "{%" in value


class QueryLogConfig(ComponentConfig):
    """Settings every query-log source has: the service name, the filters, the time window and the watermark."""

    window_refusal: ClassVar[str | None] = None
    """Why ``start``/``end`` cannot apply to this source (None: they can)."""
    user_refusal: ClassVar[str | None] = None
    """Why ``user_filter`` cannot apply to this source (None: it can)."""

    service_name: str | None = Field(default=None, min_length=1, description="the database service the queries ran on")
    user_filter: NamePatterns = Field(default_factory=NamePatterns, description="keep queries of these users")
    database_filter: NamePatterns = Field(default_factory=NamePatterns, description="keep queries on these databases")
    start: str | None = Field(
        default=None, description="keep queries that started at or after this time (ISO 8601; UTC without an offset)"
    )
    end: str | None = Field(default=None, description="keep queries that started before this time (ISO 8601)")
    since: str | None = Field(
        default=None,
        min_length=1,
        description="state file (local path or URI) of the watermark: read only what is new since the last"
        " successful run; written when the run succeeds",
    )
    mask_literals: bool = Field(
        default=True,
        description="replace each literal value in a query's text with ? (a password, a key, a personal value), as"
        " OpenMetadata does; false keeps the text as the log has it",
    )

    @field_validator("start", "end")
    @classmethod
    def _a_time(cls, value: str | None) -> str | None:
        if value is not None and not is_template(value):
            parse_time(value)
        return value

    @classmethod
    def refused(cls) -> dict[str, str]:
        """``start`` and ``end`` where the source cannot tell when a query ran; ``user_filter`` where not by whom."""
        found = dict.fromkeys(("start", "end"), cls.window_refusal) if cls.window_refusal else {}
        return found | ({"user_filter": cls.user_refusal} if cls.user_refusal else {})

    @model_validator(mode="after")
    def _window(self) -> QueryLogConfig:
        refused = self.refused()
        fields = type(self).model_fields
        given = [name for name in refused if getattr(self, name) != fields[name].get_default(call_default_factory=True)]
        if given:
            why = refused[given[0]]
            raise ValueError(f"{'/'.join(name for name in refused if refused[name] == why)} cannot apply: {why}")
        start, end = (None if v is None or is_template(v) else parse_time(v) for v in (self.start, self.end))
        if start is not None and end is not None and start >= end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self

    def window(self) -> tuple[datetime | None, datetime | None]:
        """``start`` and ``end`` as aware UTC times; a template Airflow did not render is a ConfigurationError."""
        found = []
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and is_template(value):
                raise ConfigurationError(
                    f"{name} is a template that was not rendered ({value!r}): templates are rendered by Airflow's"
                    " operators; give a time when running elsewhere"
                )
            found.append(None if value is None else parse_time(value))
        return found[0], found[1]


@dataclass
class Snapshot:
    """What one run read, for the next run to diff against: when, under which run id, and the source's data."""

    run_id: str
    taken_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "taken_at": self.taken_at.isoformat(), **self.data}

    @classmethod
    def load(cls, value: Any) -> Snapshot:
        if not isinstance(value, dict) or not isinstance(value.get("run_id"), str):
            raise ValueError("a snapshot must be an object with a run_id")
        data = dict(value)
        run_id = data.pop("run_id")
        taken_at = datetime.fromisoformat(data.pop("taken_at"))
        if taken_at.tzinfo is None:
            raise ValueError("taken_at has no time zone")
        return cls(run_id=run_id, taken_at=taken_at.astimezone(timezone.utc), data=data)


STATE_FORMAT = "airflow-provider-ingest query-log watermark"


class StateFile:
    """A source's watermark: the snapshot a run diffs against, and the one it leaves for the next run."""

    VERSION = 1

    def __init__(self, uri: str, *, source: str, service: str, run_id: str) -> None:
        self.uri = uri
        self.source = source
        self.service = service
        self.run_id = run_id

    def shown(self) -> str:
        from airflow_provider_ingest.secrets import redact_url

        return redact_url(self.uri)

    def baseline(self) -> Snapshot | None:
        """The snapshot this run starts from: the last one, or, when this run id wrote it, the one before."""
        from airflow_provider_ingest.staging import paths

        if not paths.exists(self.uri):
            return None
        with paths.open_read(self.uri) as handle:
            raw = handle.read()
        try:
            state = json.loads(raw)
            if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
                raise ValueError(f'not a watermark of this package (no "format": {STATE_FORMAT!r})')
            if state.get("version") != self.VERSION:
                raise ValueError(f"version {state.get('version')!r}; this package reads version {self.VERSION}")
            latest = Snapshot.load(state["latest"])
            previous = None if state.get("previous") is None else Snapshot.load(state["previous"])
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(
                f"watermark file {self.shown()} cannot be read: {error}; delete it to read the whole log again"
            ) from None
        if (state.get("source"), state.get("service")) != (self.source, self.service):
            raise ConfigurationError(
                f"watermark file {self.shown()} belongs to {state.get('source')} of service"
                f" {state.get('service')!r}, not to this {self.source} of service {self.service!r}:"
                " give each source its own since file"
            )
        return previous if latest.run_id == self.run_id else latest

    def save(self, snapshot: Snapshot, baseline: Snapshot | None) -> None:
        """Write ``snapshot`` as the latest, ``baseline`` as the one before (atomically: all or nothing); a file
        that cannot be written is a :class:`WatermarkError`."""
        from airflow_provider_ingest.staging import paths

        state = {
            "format": STATE_FORMAT,
            "version": self.VERSION,
            "source": self.source,
            "service": self.service,
            "latest": snapshot.dump(),
            "previous": None if baseline is None else baseline.dump(),
        }
        try:
            with paths.atomic_write(self.uri) as handle:
                handle.write(json.dumps(state, separators=(",", ":"), sort_keys=True).encode())
        except OSError as error:
            raise WatermarkError(
                f"the queries were read, but the watermark file {self.shown()} cannot be written"
                f" ({type(error).__name__}: {error}): the next run would read them again"
            ) from None


class WatermarkError(ServiceError):
    """The watermark file cannot be written (a retry of the same run reads the same queries again)."""


class QueryLogSource(Source):
    """Base of the query-log sources: filters, counters, and the watermark kept when the run succeeds."""

    config: QueryLogConfig
    dialect: str = ""

    def prepare(self) -> None:
        self.service = self._service_name()
        self.start, self.end = self.config.window()
        self.state: StateFile | None = None
        if self.config.since is not None:
            self.state = StateFile(
                self.context.resolve_path(self.config.since),
                source=self.type_name,
                service=self.service,
                run_id=self.context.run_id,
            )
        self.baseline = self.state.baseline() if self.state is not None else None
        self._next: Snapshot | None = None

    def _service_name(self) -> str:
        if self.config.service_name is None:
            raise ConfigurationError(f"{self.type_name}: service_name is required")
        return self.config.service_name

    def records(self) -> Iterator[Query]:
        """Every kept query; the snapshot for the next run is set only when the whole log was read."""
        snapshot = Snapshot(run_id=self.context.run_id, taken_at=datetime.now(timezone.utc))
        yield from self._queries(snapshot)
        self._next = snapshot

    def _queries(self, snapshot: Snapshot) -> Iterator[Query]:
        """Yield the queries and fill ``snapshot`` with what the next run diffs against."""
        raise NotImplementedError

    def run_succeeded(self) -> None:
        if self.state is not None and self._next is not None:
            self.state.save(self._next, self.baseline)

    def filtered(self, reason: str) -> None:
        """Count one query left out, and why."""
        self.report.filtered += 1
        self.report.count(reason)

    def kept(self, text: str, user: str | None, database: str | None) -> bool:
        """Whether a query passes the noise and name filters; one left out is counted under its reason."""
        if is_own(text):
            self.filtered("own_statements")
        elif is_utility(text):
            self.filtered("utility_statements")
        elif not _matches(self.config.user_filter, user):
            self.filtered("filtered_user")
        elif not _matches(self.config.database_filter, database):
            self.filtered("filtered_database")
        else:
            return True
        return False

    def query(self, **fields: Any) -> Query:
        """A query record of this source (service and dialect filled in)."""
        from airflow_provider_ingest.records.usage import Query

        return Query(service=self.service, dialect=fields.pop("dialect", self.dialect), **fields)

    def masked(self, text: str) -> str:
        """A query's text as this source filters and gives it: each literal masked (so none can hide a statement
        or reach a record), unless ``mask_literals`` is false."""
        return mask_literals(text, self.dialect) if self.config.mask_literals and text else text


def _matches(patterns: NamePatterns, name: str | None) -> bool:
    """A filter on a name the log may not know: an unknown name passes only a filter without include patterns."""
    if name is None:
        return not patterns.include
    return patterns.matches(name)


def invalid(error: ValueError) -> str:
    """A record's validation error on one line: ``field: problem; ...``."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(
        f"{'.'.join(map(str, item['loc'])) or 'record'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    )


def row_digest(*parts: object) -> str:
    """A short stable digest of a row's fields (which rows at the watermark time were read already)."""
    text = json.dumps([str(part) if part is not None else None for part in parts], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class DatabaseQueryLogConfig(QueryLogConfig):
    """A query-log source reading a database server: where to connect, as the ``sql`` source does."""

    url: str | None = Field(default=None, description="SQLAlchemy URL, without its password (see password)")
    password: str | None = Field(default=None, description="the url's password, as ${ENV_VAR}; used as is, unescaped")
    conn_id: str | None = Field(default=None, description="Airflow connection id (postgres or mysql)")
    retry: RetrySettings = Field(
        default_factory=RetrySettings, description="retries of a query whose connection was lost or that timed out"
    )

    @model_validator(mode="after")
    def _one_connection(self) -> DatabaseQueryLogConfig:
        given = [name for name in ("url", "conn_id") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url or conn_id (got {', '.join(given) or 'none'})")
        if self.url is not None and self.service_name is None:
            raise ValueError("service_name is required with url")
        if self.password is not None and self.url is None:
            raise ValueError("password goes with url (a conn_id holds its own)")
        return self


class QueryLogSetupError(ConfigurationError):
    """The server's query log cannot be read: an extension, a server setting or a privilege is missing."""


class DatabaseQueryLogSource(QueryLogSource):
    """A query-log source over one connection to a database server, opened and retried like the ``sql`` source's."""

    config: DatabaseQueryLogConfig
    backends: ClassVar[tuple[str, ...]] = ()
    """The SQLAlchemy backend names this source reads."""

    def prepare(self) -> None:
        from airflow_provider_ingest.sources.sql.connection import SqlConfigurationError, mask, render

        super().prepare()
        self.url = self._resolve_url()
        mask(self.url, self.context.secrets)
        if self.url.get_backend_name() not in self.backends:
            raise SqlConfigurationError(
                f"{self.type_name} reads {' or '.join(self.backends)}, not {self.url.get_backend_name()!r}"
                f" ({render(self.url)})"
            )
        self.engine = self._engine()
        self.session = Session(self.engine, self.config.retry, text=self._text, warn=self.warn)
        self.session.run("checking the query log", self.check, retry_timeouts=False)

    def _service_name(self) -> str:
        return self.config.service_name or self.config.conn_id or super()._service_name()

    def check(self, connection: Connection) -> None:
        """Raise :class:`QueryLogSetupError` naming what is missing and how to fix it."""

    def close(self) -> None:
        if hasattr(self, "session"):
            self.session.close()
        if hasattr(self, "engine"):
            self.engine.dispose()

    def records(self) -> Iterator[Query]:
        """The queries, or an error: a database error is raised again without the driver's text of the DSN."""
        from airflow_provider_ingest.sources.sql.connection import SqlConnectionError, SqlQueryError, render

        try:
            yield from super().records()
        except SqlConnectionError:
            raise
        except Exception as error:
            if not self._is_database_error(error):
                raise
            raise SqlQueryError(f"reading the query log of {render(self.url)} failed: {self._text(error)}") from None

    def _resolve_url(self) -> URL:
        from airflow_provider_ingest.sources.sql.connection import parse_url, url_from_connection

        if self.config.conn_id is not None:
            return url_from_connection(self.config.conn_id)
        url = parse_url(self.config.url or "")
        if self.config.password is not None:
            url = url.set(password=self.config.password)
        return url

    def _engine(self) -> Engine:
        """An engine without a pool, naming this package to the server, as the ``sql`` source's."""
        from airflow_provider_ingest.sources.sql.connection import create_source_engine

        return create_source_engine(self.url, self._text, **self._options())

    def _options(self) -> dict[str, Any]:
        """More ``create_engine`` arguments for this backend."""
        return {}

    def _is_database_error(self, error: Exception) -> bool:
        from airflow_provider_ingest.sources.sql.connection import is_database_error

        return is_database_error(getattr(self, "engine", None), error)

    def _text(self, error: BaseException | str) -> str:
        """An error's message with every password removed."""
        from airflow_provider_ingest.sources.sql.catalog import error_text
        from airflow_provider_ingest.sources.sql.connection import scrub

        secrets = [*self.context.secrets, self.config.password or ""]
        return scrub(error if isinstance(error, str) else error_text(error), getattr(self, "url", None), secrets)
