"""Running the ``sql`` source through ``airflow-ingest run`` while a second connection kills its connections."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ingest.api import Report
from airflow_provider_ingest.cli import main
from airflow_provider_ingest.records import Record
from airflow_provider_ingest.sources.sql.catalog import Catalog
from airflow_provider_ingest.sources.sql.source import SqlSource
from airflow_provider_ingest.staging import DeadLetter, read_dead_letters, read_records


@dataclass
class Run:
    """What one ``airflow-ingest run`` did: exit code, printed text, the output file, the dead letters, the
    source's report."""

    code: int
    printed: str
    records: list[Record] | None
    dead_letters: list[DeadLetter]
    source: Report

    def assert_accounted(self, expected: int) -> None:
        """records in = ok + failed + dead-lettered: the catalog's ``expected`` records are all emitted or failed,
        every failure is dead-lettered, and the output file holds every emitted record."""
        assert self.source.records + self.source.failure_count == expected
        assert len(self.dead_letters) == self.source.failure_count
        assert self.records is not None and len(self.records) == self.source.records

    def assert_failed_and_accounted(self, expected: int) -> list[DeadLetter]:
        """A failed step writes no output file, and records in = emitted + dead-lettered: what was not read is
        dead-lettered by FQN (the step's own error may add one dead letter without one). Returns those letters."""
        assert self.code == 1, self.printed
        assert "run succeeded" not in self.printed
        assert self.records is None
        assert len(self.dead_letters) == self.source.failure_count
        unread = [letter for letter in self.dead_letters if letter.fqn is not None]
        assert self.source.records > 0
        assert self.source.records + len(unread) == expected
        return unread


def run_cli(folder: Path, source_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **workflow: Any) -> Run:
    """``airflow-ingest run`` of a workflow reading with ``source_config`` into ``out.jsonl`` in ``folder``;
    ``workflow`` adds settings of the workflow file's ``workflow`` section."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workflow.yaml"
    document = {
        "source": {"type": "sql", "config": source_config},
        "sink": {"type": "file", "config": {"path": "out.jsonl"}},
        "workflow": {"staging_root": str(folder / "staging"), **workflow},
    }
    path.write_text(json.dumps(document))  # JSON is YAML
    sources: list[SqlSource] = []
    close = SqlSource.close

    def keep_and_close(source: SqlSource) -> None:
        sources.append(source)
        close(source)

    monkeypatch.setattr(SqlSource, "close", keep_and_close)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", str(path)])
    monkeypatch.setattr(SqlSource, "close", close)
    out = folder / "out.jsonl"
    letters = sorted((folder / "staging").rglob("dead_letters.jsonl*"))
    return Run(
        code=code,
        printed=printed.getvalue(),
        records=list(read_records(str(out))) if out.exists() else None,
        dead_letters=[letter for path in letters for letter in read_dead_letters(str(path))],
        source=sources[0].report,
    )


@dataclass
class Killer:
    """Kills the source's connections before its catalog reads: at the ``at``-th read, and with ``every`` at
    each one after too. ``kill`` returns how many connections it killed."""

    kill: Callable[[Catalog], int]
    at: int
    every: bool = False
    reads: int = 0
    killed: list[int] = field(default_factory=list)

    def wrap(self, read: Callable[..., Any]) -> Callable[..., Any]:
        def killing_read(catalog: Catalog, schemas: list[str], keep: Callable[[str, str], bool]) -> Any:
            self.reads += 1
            if self.reads == self.at or (self.every and self.reads > self.at):
                self.killed.append(self.kill(catalog))
            return read(catalog, schemas, keep)

        return killing_read


@contextmanager
def killing(monkeypatch: pytest.MonkeyPatch, catalog_class: type[Catalog], killer: Killer) -> Iterator[Killer]:
    """Have ``killer`` kill connections as the source reads its catalog."""
    read = catalog_class.read
    monkeypatch.setattr(catalog_class, "read", killer.wrap(read))
    try:
        yield killer
    finally:
        monkeypatch.setattr(catalog_class, "read", read)
