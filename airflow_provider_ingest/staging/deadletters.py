"""Dead letters: failed records kept with their error, in a staged file beside the output."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator

from pydantic import BaseModel, JsonValue

from airflow_provider_ingest.records import Entity, dump_record
from airflow_provider_ingest.staging import paths
from airflow_provider_ingest.staging.stagedfile import StagedFileReader, StagedFileWriter


class DeadLetter(BaseModel):
    """One failed record: which component failed it, why, and the record (or the raw line) when there was one."""

    component: str
    error: str
    fqn: str | None = None
    record: JsonValue = None
    at: str

    @classmethod
    def of(
        cls, *, component: str, error: str, fqn: str | None, record: Entity | None, raw: str | None = None
    ) -> DeadLetter:
        """Build a dead letter, dumping the record to JSON (without column samples), or keeping ``raw`` text."""
        data = json.loads(dump_record(record)) if record is not None else raw
        return cls(
            component=component,
            error=error,
            fqn=fqn,
            record=data,
            at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        )


class DeadLetterFile:
    """Collects dead letters into a staged file, created at the first one."""

    def __init__(self, uri: str, *, producer: str) -> None:
        self.uri = uri
        self.producer = producer
        self.count = 0
        self._writer: StagedFileWriter | None = None

    def add(self, letter: DeadLetter) -> None:
        """Append one dead letter."""
        if self._writer is None:
            self._writer = StagedFileWriter(self.uri, producer=self.producer, content="dead_letters")
            self._writer.__enter__()
        self._writer.write_line(letter.model_dump_json())
        self.count += 1

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
