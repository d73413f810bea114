"""The ``query_log_file`` source: queries from a CSV or JSON Lines file, for any engine.

The columns are those of OpenMetadata's query-log file (``queryLogFilePath`` of its usage workflow):
``query_text`` (required), ``user_name``, ``start_time``, ``end_time``, ``duration`` (milliseconds),
``database_name``, ``schema_name``, ``aborted``, ``cost`` (read, not kept); and ``calls`` (how many times
the query ran, default 1), which this package adds. A JSON Lines file has one object per line with
the same keys. A row that cannot be read fails alone (``file:line: field: why``, kept with its raw text
in the dead letters); a header without ``query_text`` fails the step.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import IO, TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_provider_ingest.errors import ConfigurationError, InputError
from airflow_provider_ingest.usage.parser import MASK, SETTING
from airflow_provider_ingest.usage.querylog.common import (
    QueryLogConfig,
    QueryLogSource,
    Snapshot,
    invalid,
    parse_time,
    row_digest,
)

if TYPE_CHECKING:
    from airflow_provider_ingest.records.usage import Query

COLUMNS = (
    "query_text",
    "user_name",
    "start_time",
    "end_time",
    "duration",
    "database_name",
    "schema_name",
    "aborted",
    "cost",
    "calls",
)
"""The columns read; others are ignored (with one warning naming them)."""
FIELD_LIMIT = 1 << 24
"""The longest CSV field read, in characters (Python's default, 128 KiB, is shorter than some queries)."""
LINE_LIMIT = 1 << 26
"""The longest line read, in bytes (64 MiB): a longer one is read past, never held (a small gzip file can unpack
to one line of gigabytes)."""
TRUE = frozenset({"true", "t", "yes", "y", "1"})
FALSE = frozenset({"false", "f", "no", "n", "0", ""})
SHOWN = 100
"""Characters of a bad value quoted in a row's error."""
FUTURE_SKEW = timedelta(days=1)
"""How far past this run's clock a query may have started (clocks and time zones apart) before its row fails."""


class QueryLogFileConfig(QueryLogConfig):
    path: str | None = Field(
        default=None, min_length=1, description="the query-log file: a local path or a URI; a .gz name is gunzipped"
    )
    sample: Literal["shop"] | None = Field(
        default=None, description="the bundled sample shop's query log (SQLite, service sample_shop, database shop)"
    )
    format: Literal["auto", "csv", "jsonl"] = Field(
        default="auto", description="csv or jsonl; auto: from the name (.csv; .jsonl, .ndjson, .json)"
    )
    dialect: str | None = Field(
        default=None, description="the SQL dialect of the queries: postgresql, mysql, mariadb or sqlite"
    )
    database_name: str | None = Field(default=None, min_length=1, description="the database of rows that give none")
    time_zone: str = Field(default="UTC", description="the time zone of start_time and end_time without an offset")

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        from airflow_provider_ingest.usage.parser import DIALECTS

        if value is None:
            return None
        if value.lower() not in DIALECTS:
            raise ValueError(f"unknown dialect {value!r}; known: {', '.join(sorted(DIALECTS))}")
        return value.lower()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _sample_defaults(cls, data: Any) -> Any:
        """The sample's service, dialect and database, unless given."""
        if isinstance(data, dict) and data.get("sample") is not None:
            from airflow_provider_ingest.sources.sql.source import SAMPLE_SERVICE

            return {"service_name": SAMPLE_SERVICE, "dialect": "sqlite", "database_name": "shop", **data}
        return data

    @model_validator(mode="after")
    def _one_file(self) -> QueryLogFileConfig:
        if (self.path is None) == (self.sample is None):
            raise ValueError("give exactly one of path or sample")
        if self.service_name is None:
            raise ValueError("service_name is required: the service the queries ran on")
        if self.dialect is None:
            raise ValueError("dialect is required: the SQL dialect to parse the queries in")
        return self


def zone(name: str) -> tzinfo:
    """The time zone of an IANA name (``UTC``, ``Europe/Paris``); ValueError for an unknown one."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (give an IANA name such as UTC or Europe/Paris)") from None


class RowError(ValueError):
    """One field of a row cannot be read."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


class QueryLogFileSource(QueryLogSource):
    """Reads a CSV or JSON Lines query log; with ``since``, only the queries that started after the last run's."""

    type_name = "query_log_file"
    config_class = QueryLogFileConfig
    config: QueryLogFileConfig

    def prepare(self) -> None:
        super().prepare()
        self.dialect = self.config.dialect
        self.zone = zone(self.config.time_zone)
        self.uri = self._path()
        self.format = self._format()
        self.needs_time = self.state is not None or self.start is not None or self.end is not None
        self.latest = datetime.now(UTC) + FUTURE_SKEW

    def fail(
        self, error: BaseException | str, *, record: Any = None, fqn: str | None = None, raw: str | None = None
    ) -> None:
        """Count a failed row and keep it as the file has it, each quoted value in it masked unless ``mask_literals``
        is false: a row that failed may hold a password in its query text, in any column; in a row that says SET,
        each value given after ``TO``, ``=`` or ``:=`` too (a setting's may be a bare word)."""
        if raw and self.config.mask_literals:
            raw = _QUOTED_VALUE.sub(MASK, raw)
            if SETTING.search(raw):
                raw = _ASSIGNED.sub(lambda found: found.group(1) + MASK, raw)
        super().fail(error, record=record, fqn=fqn, raw=raw)

    def _path(self) -> str:
        if self.config.sample is not None:
            from airflow_provider_ingest.samples import sample_query_log_path

            return str(sample_query_log_path())
        return self.context.resolve_path(self.config.path or "")

    def _shown(self) -> str:
        from airflow_provider_ingest.secrets import redact_url

        return redact_url(self.uri)

    def _format(self) -> str:
        if self.config.format != "auto":
            return self.config.format
        name = self.uri.rstrip("/").rsplit("/", 1)[-1].lower().removesuffix(".gz")
        if name.endswith(".csv"):
            return "csv"
        if name.endswith((".jsonl", ".ndjson", ".json")):
            return "jsonl"
        raise ConfigurationError(f"cannot tell the format of {self._shown()} from its name: set format to csv or jsonl")

    def _queries(self, snapshot: Snapshot) -> Iterator[Query]:
        from airflow_provider_ingest.staging import paths

        self.mark, self.read_at_mark = self._last_watermark()
        self.newest: datetime | None = None
        self.at_newest: Counter[str] = Counter()
        self.unknown: set[str] = set()
        try:
            handle = paths.open_read(self.uri)
        except FileNotFoundError:
            raise InputError(f"query-log file {self._shown()} does not exist") from None
        except OSError as error:
            raise InputError(f"query-log file {self._shown()} cannot be opened: {error}") from None
        with handle:
            stream: IO[bytes] = gzip.GzipFile(fileobj=handle) if self.uri.lower().endswith(".gz") else handle
            try:
                yield from self._csv(stream) if self.format == "csv" else self._jsonl(stream)
            except (OSError, EOFError) as error:  # a damaged gzip stream, or the file went away
                raise InputError(f"query-log file {self._shown()} cannot be read: {error}") from None
        if self.unknown:
            self.warn(
                f"{self._shown()}: column(s) {', '.join(sorted(self.unknown))} ignored; the columns read are"
                f" {', '.join(COLUMNS)}"
            )
        snapshot.data = self._watermark()

    def _last_watermark(self) -> tuple[datetime | None, Counter[str]]:
        """The last run's watermark and how many times it read each row at that time."""
        base = self.baseline
        if base is None or base.data.get("watermark") is None:
            return None, Counter()
        try:
            mark = datetime.fromisoformat(base.data["watermark"])
            read = Counter({str(key): int(count) for key, count in base.data.get("at_watermark", {}).items()})
            if mark.tzinfo is None:
                raise ValueError("the watermark has no time zone")
        except (ValueError, TypeError, AttributeError) as error:
            assert self.state is not None
            raise InputError(
                f"watermark file {self.state.shown()} cannot be read: {error}; delete it to read the whole file again"
            ) from None
        return mark, read

    def _csv(self, stream: IO[bytes]) -> Iterator[Query]:
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        lines = _Lines(stream, self._shown())
        reader = csv.reader(lines, strict=True)
        shown = self._shown()
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{shown} is empty: a query-log CSV file starts with a header row") from None
        except csv.Error as error:
            raise InputError(f"{shown}:1: the header row cannot be read: {_csv_error(error)}") from None
        _raw, bad = lines.take()
        if bad:
            raise InputError(f"{shown}:1: the header row is not valid UTF-8")
        names = [name.strip().lower() for name in header]
        self._check_columns(names, shown)
        self.unknown.update(name for name in names if name not in COLUMNS)
        while True:
            first = lines.number + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.fail(f"{shown}:{first}: not a CSV row: {_csv_error(error)}", raw=lines.take()[0])
                continue
            raw, bad = lines.take()
            if not row:
                continue  # a blank line
            if bad:
                self.fail(f"{shown}:{first}: not valid UTF-8", raw=raw)
            elif len(row) != len(names):
                self.fail(f"{shown}:{first}: {len(row)} field(s), the header has {len(names)}", raw=raw)
            else:
                yield from self._row(dict(zip(names, row, strict=True)), f"{shown}:{first}", raw)

    def _check_columns(self, names: list[str], shown: str) -> None:
        """The header names each column once, ``query_text`` among them (and ``start_time`` when times are needed)."""
        twice = _named_twice(names)
        if twice:
            raise InputError(f"{shown}:1: column(s) {', '.join(twice)} named more than once in the header")
        if "query_text" not in names:
            raise InputError(f"{shown}:1: no column 'query_text' (the header has: {', '.join(names)})")
        if self.needs_time and "start_time" not in names:
            raise InputError(
                f"{shown}:1: no column 'start_time', which {self._time_settings()} need(s) (the header has:"
                f" {', '.join(names)})"
            )

    def _time_settings(self) -> str:
        return "/".join(name for name in ("since", "start", "end") if getattr(self.config, name) is not None)

    def _jsonl(self, stream: IO[bytes]) -> Iterator[Query]:
        shown = self._shown()
        for number, line in enumerate(_bounded_lines(stream), 1):
            where = f"{shown}:{number}"
            if line is None:
                self.fail(f"{where}: longer than {LINE_LIMIT:,} bytes: not read", raw=None)
                continue
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                self.fail(f"{where}: not valid UTF-8", raw=line.decode("utf-8", "replace").rstrip("\r\n"))
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text, object_pairs_hook=_Object)
            except (ValueError, RecursionError) as error:
                self.fail(f"{where}: not JSON: {error}", raw=text.rstrip("\r\n"))
                continue
            if not isinstance(value, _Object):
                self.fail(f"{where}: not a JSON object but {type(value).__name__}", raw=text.rstrip("\r\n"))
                continue
            names = [key.strip().lower() for key in value.written]
            twice = _named_twice(names)
            if twice:  # a row naming a column twice has two values for it: neither is taken
                self.fail(f"{where}: column(s) {', '.join(twice)} named more than once", raw=text.rstrip("\r\n"))
                continue
            items = (value[key] for key in value.written)
            pairs = zip(names, items, strict=True)
            fields = {name: dict(item) if isinstance(item, _Object) else item for name, item in pairs}
            self.unknown.update(key for key in fields if key not in COLUMNS)
            yield from self._row(fields, where, text.rstrip("\r\n"))

    def _row(self, fields: dict[str, Any], where: str, raw: str) -> Iterator[Query]:
        """The row's query, or a failure naming the field, or a reason it is left out."""
        try:
            row = self._values(fields)
        except RowError as error:
            self.fail(f"{where}: {error.field}: {error}", raw=raw)
            return
        start = row["start_time"]
        if start is None and self.needs_time:
            self.fail(f"{where}: start_time: empty, but {self._time_settings()} need(s) it", raw=raw)
            return
        if start is not None and not self._in_window(start):
            self.filtered("outside_window")
            return
        if start is not None and self._read_before(start, row):
            self.filtered("already_read")
            return
        if row["aborted"]:
            self.filtered("aborted")
            return
        text = self.masked(row["text"])
        if not self.kept(text, row["user"], row["database"]):
            return
        try:
            yield self.query(
                text=text,
                database=row["database"],
                database_schema=row["schema"],
                user=row["user"],
                start_time=start,
                duration_ms=row["duration"],
                calls=row["calls"],
            )
        except ValueError as error:
            self.fail(f"{where}: {invalid(error)}", raw=raw)

    def _in_window(self, start: datetime) -> bool:
        return (self.start is None or start >= self.start) and (self.end is None or start < self.end)

    def _read_before(self, start: datetime, row: dict[str, Any]) -> bool:
        """Whether the last run read this row (it started before the watermark, or at it and was seen there);
        the row moves the watermark for the next run."""
        digest = row_digest(row["text"], row["user"], row["database"], row["schema"], start, row["calls"])
        if self.newest is None or start > self.newest:
            self.newest, self.at_newest = start, Counter()
        if start == self.newest:
            self.at_newest[digest] += 1
        if self.mark is None or start > self.mark:
            return False
        if start < self.mark:
            return True
        if self.read_at_mark[digest] > 0:
            self.read_at_mark[digest] -= 1
            return True
        return False

    def _watermark(self) -> dict[str, Any]:
        """The next run's watermark: the latest start time read (never earlier than this run's), and the rows
        read at that time."""
        base = self.baseline.data if self.baseline is not None else {}
        if self.newest is None or (self.mark is not None and self.newest < self.mark):
            return {"watermark": base.get("watermark"), "at_watermark": base.get("at_watermark", {})}
        at = dict(self.at_newest)
        if self.mark is not None and self.newest == self.mark:  # rows read at that time by either run
            for digest, count in base.get("at_watermark", {}).items():
                at[digest] = max(at.get(digest, 0), count)
        return {"watermark": self.newest.isoformat(), "at_watermark": at}

    def _values(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The row's fields, checked and converted; RowError names the first bad one."""
        text = _text(fields, "query_text")
        if text is None:
            raise RowError("query_text", "missing" if "query_text" not in fields else "empty")
        start = self._time(fields, "start_time")
        if start is not None and start > self.latest:
            raise RowError(
                "start_time",
                f"{start.isoformat()} is more than a day after this run's clock: taken, it would end every day's usage"
                " window there and move the watermark past every later row",
            )
        end = self._time(fields, "end_time")
        if start is not None and end is not None and end < start:
            raise RowError("end_time", f"{end.isoformat()} is before start_time {start.isoformat()}")
        duration = _number(fields, "duration")
        if duration is None and start is not None and end is not None:
            duration = (end - start).total_seconds() * 1000
        return {
            "text": text,
            "user": _text(fields, "user_name"),
            "database": _text(fields, "database_name") or self.config.database_name,
            "schema": _text(fields, "schema_name"),
            "start_time": start,
            "duration": duration,
            "calls": _calls(fields),
            "aborted": _flag(fields, "aborted"),
        }

    def _time(self, fields: dict[str, Any], name: str) -> datetime | None:
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise RowError(name, f"a time is text, not {type(value).__name__}")
        _unicode(value, name)
        try:
            return parse_time(value, self.zone)
        except ValueError as error:
            raise RowError(name, f"{_quote(value)}: {error}") from None


def _named_twice(names: list[str]) -> list[str]:
    """The names given more than once, sorted."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


_QUOTED_VALUE = re.compile(r"'(?:[^'\\\n]|\\.)*(?:'|$)|\$(\w*)\$.*?(?:\$\1\$|$)", re.M)
"""A single-quoted or dollar-quoted value in a row's text, whatever the row's format (an unterminated one runs to
the line's end)."""


_ASSIGNED = re.compile(
    r"(\bTO\s+|:?=\s*)"
    r'(?:""(?:[^"]|"(?!"))*""|\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\\n]|\\.)*"|[^\s,;\'"()?]+)',
    re.IGNORECASE,
)
"""A value given after ``TO``, ``=`` or ``:=`` in a failed row's text: double-quoted (as written, as a CSV doubles
the quotes, as JSON escapes them), or up to a space, comma, quote or bracket."""


class _Object(dict):  # type: ignore[type-arg]
    """A JSON object that remembers its keys as written, one given twice too (a dict keeps the last)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.written = [key for key, _ in pairs]


def _bounded_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line of the stream; None for one longer than :data:`LINE_LIMIT`, read past without being held."""
    while line := stream.readline(LINE_LIMIT + 1):
        if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield line


class _Lines:
    """The decoded lines of a byte stream, numbered; keeps the raw text of the row being read. A line longer than
    :data:`LINE_LIMIT` stops the file (a CSV row may span lines: what follows cannot be told apart)."""

    def __init__(self, stream: IO[bytes], shown: str) -> None:
        self._stream = _bounded_lines(stream)
        self._shown = shown
        self.number = 0
        self._buffer: list[str] = []
        self._bad = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._stream)
        self.number += 1
        if line is None:
            raise InputError(f"{self._shown}:{self.number}: a line longer than {LINE_LIMIT:,} bytes: not a CSV row")
        if self.number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", "replace")
            self._bad = True
        self._buffer.append(text)
        return text

    def take(self) -> tuple[str, bool]:
        """The raw text read since the last call (without its last line end), and whether some was not UTF-8."""
        raw, bad = "".join(self._buffer).removesuffix("\n").removesuffix("\r"), self._bad
        self._buffer, self._bad = [], False
        return raw, bad


def _csv_error(error: csv.Error) -> str:
    """The csv module's message, without its hint about opening files in Python: a carriage return outside quotes
    is a line end this reader does not take (only LF or CRLF end a row)."""
    if "new-line character seen in unquoted field" in str(error):
        return "a carriage return outside quotes: rows end with LF or CRLF, not CR alone (old Mac line ends)"
    return str(error)


def _quote(value: str) -> str:
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "...")


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(name, f"text expected, not {type(value).__name__}")
    _unicode(value, name)
    return value.strip() or None


def _unicode(value: str, name: str) -> None:
    """A JSON string may hold a lone surrogate (``"\\ud800"``): not text that can be written again."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RowError(name, f"not valid Unicode: a lone surrogate {value[error.start]!r} at {error.start}") from None


def _number(fields: dict[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RowError(name, f"a number of milliseconds expected, not {type(value).__name__}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise RowError(name, f"{_quote(str(value))} is not a number of milliseconds") from None
    if not math.isfinite(number) or number < 0:
        raise RowError(name, f"{_quote(str(value))} is not a number of milliseconds (finite, 0 or more)")
    return number


def _calls(fields: dict[str, Any]) -> int:
    value = fields.get("calls")
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RowError("calls", f"a whole number expected, not {type(value).__name__}")
    try:
        calls = int(value)
    except ValueError:
        raise RowError("calls", f"{_quote(str(value))} is not a whole number") from None
    if calls < 1:
        raise RowError("calls", f"{calls} is less than 1")
    return calls


def _flag(fields: dict[str, Any], name: str) -> bool:
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    shown = _quote(value) if isinstance(value, str) else type(value).__name__
    raise RowError(name, f"{shown} is not true or false")
