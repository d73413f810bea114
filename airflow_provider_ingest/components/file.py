"""File components: read, write, stage and publish staged files (local paths or object storage)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from pydantic import Field

from airflow_provider_ingest.api import BulkSink, Component, ComponentConfig, Sink, Source, Stage, written_flag
from airflow_provider_ingest.errors import ConfigurationError

if TYPE_CHECKING:
    from airflow_provider_ingest.records import Lineage, Record

# Records and staged files are imported when a component runs: a DAG file naming these components stays cheap.

Compression = Literal["auto", "none", "gzip"]


class FileSourceConfig(ComponentConfig):
    path: str | list[str] = Field(
        description="the file of records to read, or several files read one after the other (local paths or URIs)"
    )
    format: Literal["staged", "jsonl"] = Field(
        default="staged",
        description="staged: only a staged file, checked whole before the first record; "
        "jsonl: also plain JSON Lines, one record per line",
    )


class FileSource(Source):
    """Reads records from staged files (each checked whole first), or, with ``format: jsonl``, from plain JSON
    Lines."""

    type_name = "file"
    config_class = FileSourceConfig
    config: FileSourceConfig
    samples_for: str | None = None
    """The component after this one that uses column samples, if one does: a file that left them out is refused."""

    def records(self) -> Iterator[Record]:
        """Each record of each file in turn; a line that is not a valid record is a failure kept with its text."""
        from airflow_provider_ingest.staging import StagedFileReader
        from airflow_provider_ingest.staging.paths import is_local

        paths = [self.config.path] if isinstance(self.config.path, str) else self.config.path
        readers = [
            StagedFileReader(
                self.context.resolve_path(path), allow_plain=self.config.format == "jsonl", samples_for=self.samples_for
            )
            for path in paths
        ]
        # A damaged file gives no record at all, so nothing downstream publishes part of it: every file is checked
        # before the first record of any, and again as it is read (one rewritten in between fails the run, not a
        # mix). One local file is read twice from one open file (another renamed over it meanwhile is not read).
        if len(readers) == 1 and is_local(readers[0].uri):
            yield from readers[0].records(on_invalid=self.fail, checked=True)
        else:
            for reader in readers:
                reader.verify()
            for reader in readers:
                yield from reader.records(on_invalid=self.fail)
        if any(reader.samples_left_out for reader in readers):
            self.context.samples_left_out = True  # the files this run writes say so too


class FileSinkConfig(ComponentConfig):
    path: str = Field(description="where to write the staged file; a .gz name compresses it")
    compression: Compression = "auto"
    keep_samples: bool = Field(
        default=False, description="keep column samples (raw data values) for processors that read this file"
    )


class FileSink(Sink):
    """Writes records to a staged file, atomically: the file appears only when the run succeeds."""

    type_name = "file"
    config_class = FileSinkConfig
    config: FileSinkConfig
    replaced_whole = True
    takes_lines = True

    @classmethod
    def reads_samples(cls, config: Mapping[str, Any]) -> bool:
        return written_flag(config, "keep_samples", False)

    @classmethod
    def path_problems(cls, config: FileSinkConfig, base_dir: Path) -> dict[str, str]:  # type: ignore[override]
        return _output_problems(config.path, base_dir)

    def prepare(self) -> None:
        from airflow_provider_ingest.staging import StagedFileWriter

        self.uri = self.context.resolve_path(self.config.path)
        _check_output(self, self.uri)
        self._writer = StagedFileWriter(
            self.uri,
            producer=self.report.component,
            compression=self.config.compression,
            keep_samples=self.config.keep_samples,
        )
        self._writer.__enter__()
        self._open = True

    def write(self, record: Record) -> None:
        self._writer.write(record)

    def flush(self) -> None:
        self._open = False
        self._writer.samples_left_out |= self.context.samples_left_out
        self._writer.__exit__(None, None, None)

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            self._writer.__exit__(RuntimeError, RuntimeError("run failed"), None)

    @classmethod
    def asset_uris(cls, config: FileSinkConfig) -> list[str]:  # type: ignore[override]
        return [_file_uri(config.path)]


class FileStageConfig(ComponentConfig):
    path: str | None = Field(default=None, description="staged file to write; default: in the run's staging folder")
    compression: Compression = "auto"


class FileStage(Stage):
    """Stages records: one per kind and FQN (the last wins), parents before children, usage and lineage last,
    each kind's by FQN, so records staged in any order (the parts of a partitioned run) give the same file.
    Two lineage records of one edge are merged: the last one's fields, every column edge of both (as the
    ``table_usage`` stage merges them). Queries are events, not entities: every one is kept, in the order they came.

    Records spill to temporary files by kind as they come; memory holds only an index of FQNs. The spill
    folder is named after the process, so one left by a killed process is removed by the next stage.
    """

    type_name = "file"
    config_class = FileStageConfig
    config: FileStageConfig
    takes_lines = True

    @classmethod
    def path_problems(cls, config: FileStageConfig, base_dir: Path) -> dict[str, str]:  # type: ignore[override]
        return _output_problems(config.path, base_dir)

    def prepare(self) -> None:
        from airflow_provider_ingest.records import KIND_ORDER, staged_line_of
        from airflow_provider_ingest.staging.stagedfile import check_line_length

        if self.config.path is not None:
            _check_output(self, self.context.resolve_path(self.config.path))

        self._line = staged_line_of
        self._check = check_line_length
        self._samples_left_out = False
        _remove_orphaned_spills()
        self._spill = tempfile.TemporaryDirectory(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
        self._files = {kind: open(os.path.join(self._spill.name, kind), "w+b") for kind in KIND_ORDER}
        self._latest: dict[tuple[str, tuple[str, ...]], int] = {}
        self._entities = 0
        """How many records of the de-duplicated kinds were staged; those beyond ``_latest`` are dropped."""
        self._events: set[str] = set()
        self._edges: dict[tuple[str, ...], list[int]] = {}
        """Where each lineage edge's records are, when there are several: merged at commit."""

    def stage(self, record: Record) -> None:
        """Spill the record's line; one too long for a staged file fails here, alone (not the commit)."""
        line, left_out = self._line(record)
        self._check(line)
        self._samples_left_out |= left_out
        handle = self._files[record.kind]
        if record.kind in EVENT_KINDS:
            self._events.add(record.kind)
        else:
            key = (record.kind, _identity(record))
            if record.kind == "lineage" and key in self._latest:
                self._edges.setdefault(key[1], [self._latest[key]]).append(handle.tell())
            self._latest[key] = handle.tell()
            self._entities += 1
        handle.write(line + b"\n")

    @property
    def writes_where_named(self) -> bool:
        return self.config.path is not None

    def commit(self) -> str:
        from airflow_provider_ingest.staging import StagedFileWriter

        uri = (
            self.context.resolve_path(self.config.path)
            if self.config.path
            else self.context.staging_uri("staged.jsonl.gz" if self.context.compression == "gzip" else "staged.jsonl")
        )
        kinds = {kind for kind, _ in self._latest} | self._events
        by_kind: dict[str, list[tuple[tuple[str, ...], int]]] = {kind: [] for kind in self._files}
        for (kind, name), offset in self._latest.items():
            by_kind[kind].append((name, offset))
        with StagedFileWriter(
            uri, producer=self.report.component, kinds=kinds, compression=self.config.compression
        ) as out:
            out.samples_left_out = self._samples_left_out or self.context.samples_left_out
            for kind, handle in self._files.items():
                handle.seek(0)
                if kind in self._events:
                    for line in handle:
                        out.write_line(line[:-1])
                    continue
                for name, offset in sorted(by_kind[kind]):
                    if kind == "lineage" and name in self._edges:
                        out.write(_merged(handle, self._edges[name]))
                        continue
                    handle.seek(offset)
                    out.write_line(handle.readline()[:-1])
        merged = sum(len(offsets) - 1 for offsets in self._edges.values())
        if merged:
            self.report.count("lineage_merged", merged)
        if self._entities - merged > len(self._latest):
            self.report.count("duplicates_dropped", self._entities - merged - len(self._latest))
        return uri

    def close(self) -> None:
        for handle in getattr(self, "_files", {}).values():
            handle.close()
        if hasattr(self, "_spill"):
            self._spill.cleanup()


SPILL_PREFIX = "ingest-stage-"
EVENT_KINDS = frozenset({"query"})
"""Kinds whose records are events (two with one FQN are two queries run), never deduplicated."""


def _identity(record: Record) -> tuple[str, ...]:
    """What makes two records of a kind one: its FQN; a lineage edge's two tables, apart (its FQN ``a -> b`` is no
    key: a table's name may hold `` -> ``)."""
    if record.kind == "lineage":
        return (record.from_table, record.to_table)  # type: ignore[union-attr]
    return (record.fqn,)


def _merged(handle: IO[bytes], offsets: list[int]) -> Lineage:
    """One lineage edge from its records spilled at ``offsets``: the last one's fields, each written column's sources
    from all of them (sorted, so the order they came in does not show)."""
    from airflow_provider_ingest.records import ColumnLineageEdge, parse_record

    sources: dict[str, set[str]] = {}
    for offset in offsets:
        handle.seek(offset)
        last = parse_record(handle.readline(), strict=True)
        for edge in last.columns:  # type: ignore[union-attr]
            sources.setdefault(edge.to_column, set()).update(edge.from_columns)
    columns = [ColumnLineageEdge(to_column=name, from_columns=sorted(sources[name])) for name in sorted(sources)]
    return last.model_copy(update={"columns": columns})  # type: ignore[return-value]


def _remove_orphaned_spills() -> None:
    """Delete the spill folders of stages whose process is gone (killed before it could clean up)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        pid = folder.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class FileBulkSinkConfig(ComponentConfig):
    path: str = Field(description="where to publish the staged file (local path or URI)")


class FileBulkSink(BulkSink):
    """Publishes a staged file by copying it, checked record by record, to its destination."""

    type_name = "file"
    config_class = FileBulkSinkConfig
    config: FileBulkSinkConfig

    @classmethod
    def path_problems(cls, config: FileBulkSinkConfig, base_dir: Path) -> dict[str, str]:  # type: ignore[override]
        return _output_problems(config.path, base_dir)

    def prepare(self) -> None:
        _check_output(self, self.context.resolve_path(self.config.path))

    def publish(self, uri: str) -> None:
        """Check the whole file, then copy each valid record line to a new staged file at the destination (a record's
        column samples left out, as every bulk sink leaves them)."""
        from airflow_provider_ingest.staging import StagedFileReader, StagedFileWriter

        reader = StagedFileReader(uri)
        reader.verify()
        destination = self.context.resolve_path(self.config.path)
        kinds = reader.header["kinds"] if reader.header is not None else ()
        with StagedFileWriter(destination, producer=self.report.component, kinds=kinds) as out:
            out.samples_left_out = reader.samples_left_out or self.context.samples_left_out
            for line in reader.lines():
                if (record := reader.parse(line, self.fail)) is not None:
                    out.write(record)
        self.report.records = out.count

    @classmethod
    def asset_uris(cls, config: FileBulkSinkConfig) -> list[str]:  # type: ignore[override]
        return [_file_uri(config.path)]


def _output_problems(path: str | None, base_dir: Path) -> dict[str, str]:
    """``{"path": why}`` when no file can be written where ``path`` names (see ``Component.path_problems``); a path
    an Airflow task renders, or a ``${NAME}`` reference resolves, is judged when the run prepares."""
    from airflow_provider_ingest.api.context import resolve_path
    from airflow_provider_ingest.staging.paths import file_problem

    if path is None or "{{" in path or "${" in path:
        return {}
    problem = file_problem(resolve_path(path, base_dir))
    return {} if problem is None else {"path": problem}


def _check_output(component: Component, uri: str) -> None:
    """Refuse, before the first record is read, an output file that cannot be written: else the run failed at its
    end, after the whole extraction."""
    from airflow_provider_ingest.staging.paths import file_problem

    problem = file_problem(uri)
    if problem is not None:
        raise ConfigurationError(component.context.scrub(f"{component.report.component}: path: {problem}"))


def _file_uri(path: str) -> str:
    return path if "://" in path else "file://" + os.path.abspath(os.path.expanduser(path))
