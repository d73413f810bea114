"""Dead letters: failed records kept with their error, in a staged file beside the output."""

from __future__ import annotations

import datetime
import json
import traceback
from collections.abc import Iterator

from pydantic import BaseModel, JsonValue

from airflow_provider_ingest.records import Entity, dump_record
from airflow_provider_ingest.staging import paths, stagedfile
from airflow_provider_ingest.staging.stagedfile import StagedFileReader, StagedFileWriter

TRACEBACK_FRAMES = 5
"""How many of the innermost frames of a failure's traceback a dead letter keeps."""


class DeadLetter(BaseModel):
    """One failed record: which component failed it, why, and the record (or the raw line) when there was one.

    A failure raised as an exception keeps its type and the innermost frames of its traceback.
    """

    component: str
    error: str
    error_type: str | None = None
    traceback: list[str] = []
    fqn: str | None = None
    record: JsonValue = None
    at: str

    @classmethod
    def of(
        cls,
        *,
        component: str,
        error: str,
        fqn: str | None,
        record: Entity | None,
        raw: str | None = None,
        exception: BaseException | None = None,
    ) -> DeadLetter:
        """Build a dead letter, dumping the record to JSON (without column samples), or keeping ``raw`` text."""
        data = json.loads(dump_record(record)) if record is not None else raw
        return cls(
            component=component,
            error=error,
            error_type=_qualified_name(type(exception)) if exception is not None else None,
            traceback=_frames(exception),
            fqn=fqn,
            record=data,
            at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        )


def _qualified_name(kind: type) -> str:
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _frames(exception: BaseException | None) -> list[str]:
    """``file:line in function`` for the innermost frames, where the exception was raised last."""
    if exception is None or exception.__traceback__ is None:
        return []
    frames = traceback.extract_tb(exception.__traceback__)[-TRACEBACK_FRAMES:]
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames]


class DeadLetterFile:
    """Collects dead letters into a staged file, created at the first one."""

    def __init__(self, uri: str, *, producer: str) -> None:
        self.uri = uri
        self.producer = producer
        self.count = 0
        self._writer: StagedFileWriter | None = None

    def add(self, letter: DeadLetter) -> None:
        """Append one dead letter; one whose record is too large for a staged file line keeps all but the record."""
        if self._writer is None:
            self._writer = StagedFileWriter(self.uri, producer=self.producer, content="dead_letters")
            self._writer.__enter__()
        line = letter.model_dump_json()
        size = len(line.encode())
        if size > stagedfile.MAX_LINE_BYTES:
            left_out = f" (the record is left out: {size:,} bytes of JSON, more than a staged file line holds)"
            line = letter.model_copy(update={"record": None, "error": letter.error + left_out}).model_dump_json()
        self._writer.write_line(line)
        self.count += 1

    def abort(self) -> None:
        """Drop what was collected: an interrupted run commits nothing."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.__exit__(RuntimeError, RuntimeError("run interrupted"), None)

    def close(self) -> str | None:
        """Commit the file; return its URI, or None when nothing failed (removing one left by an earlier attempt)."""
        if self._writer is None:
            paths.remove(self.uri)
            return None
        self._writer.__exit__(None, None, None)
        self._writer = None
        return self.uri


def read_dead_letters(uri: str) -> Iterator[DeadLetter]:
    """Stream the dead letters of a file."""
    for line in StagedFileReader(uri).lines():
        yield DeadLetter.model_validate_json(line)
