"""What every record shares: strict validation, a ``kind`` naming its type, and a name to report it by."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from enum import Enum
from operator import attrgetter
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_COUNT = 2**53 - 1
"""The largest count a record holds: the largest whole number JavaScript (OpenMetadata's UI) and a double hold
exactly; thirty days of such counts still fit Elasticsearch's ``long``."""


class Model(BaseModel):
    """Strict model: unknown fields are errors; a number is finite (JSON's ``Infinity`` and ``NaN`` are not numbers
    Elasticsearch or OpenMetadata store)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False, use_enum_values=False, allow_inf_nan=False)


class BaseRecord(Model):
    """A record: one line of a staged file, named by ``fqn`` in reports and dead letters."""

    kind: str

    def read_from(self, line: bytes | None) -> None:
        """Note the staged-file line the record was read from, to be written again as it is (None: forget it, the
        record may have changed). A line that may hold column samples is not kept (a key given twice: the record
        keeps the last value, the line both), nor one with ``\\u`` escapes that may spell them or a carriage return
        no writer writes; one-byte searches first (a longer one takes about 1 µs a 2.4 KB line)."""
        if line is not None and (b"\r" in line or (b"\\" in line and b"\\u" in line) or b"samples" in line):
            line = None
        object.__setattr__(self, "__pydantic_private__", None if line is None else {"line": line})

    @property
    def line_read(self) -> bytes | None:
        """The staged-file line the record was read from, while nothing can have changed it: it is written again as
        it is. A processor's output and a copy have none."""
        private = self.__pydantic_private__
        return private["line"] if private else None

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy, which is a new record: it has no line read to write again."""
        copy = super().model_copy(update=update, deep=deep)
        copy.read_from(None)
        return copy

    def __eq__(self, other: object) -> bool:
        """Records are equal when their fields are: the line one was read from does not count."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    @property
    def fqn(self) -> str:
        """The name reports and dead letters give the record."""
        raise NotImplementedError


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def iso_date(value: Any) -> Any:
    """A date given as text is ISO 8601 text, as the package writes it (``2024-01-31``), and read here: pydantic also
    reads ``"1706659200"`` as a date, where a published document would keep the digits. A number is no date."""
    return _iso(value, _ISO_DATE, date.fromisoformat, "a date is written YYYY-MM-DD")


def iso_time(value: Any) -> Any:
    """A time given as text is ISO 8601 text with its offset, as the package writes it (``2024-01-31T09:30:00Z``,
    ``...+02:00``), and read here: not a count of seconds, not another spelling. A number is no time, nor one that
    is no time in UTC (``0001-01-01T00:00:00+01:00``: the usage stage and the services count in UTC)."""
    rule = "a time is written YYYY-MM-DDTHH:MM:SS[.ffffff] and Z or its offset (+HH:MM)"
    read = _iso(value, _ISO_TIME, datetime.fromisoformat, rule)
    if isinstance(read, datetime) and read.utcoffset():
        try:
            read.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("a time is between years 1 and 9999 in UTC") from None
    return read


def _iso(value: Any, pattern: re.Pattern[str], read: Callable[[str], Any], rule: str) -> Any:
    if isinstance(value, (int, float)) or (isinstance(value, str) and pattern.fullmatch(value) is None):
        raise ValueError(rule)
    try:
        return read(value) if isinstance(value, str) else value
    except ValueError:  # 2024-02-30
        raise ValueError(rule) from None


def finite(value: Any) -> Any:
    """A JSON value holding no ``NaN`` or infinity, however deep (JSON text may spell them; no JSON reader takes
    them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number is finite (not NaN or Infinity)")
    if isinstance(value, dict):
        for item in value.values():
            finite(item)
    elif isinstance(value, list):
        for item in value:
            finite(item)
    return value


class TextEnum(str, Enum):
    """A text enum whose ``value`` is read in C: Enum's own is a Python property, and serializing a catalog reads it
    for every column (about a sixth of the time a table takes to serialize)."""

    value = property(attrgetter("_value_"))  # type: ignore[assignment]
