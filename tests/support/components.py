"""Test components, loaded by ``package.module:ClassName`` from workflow files."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import ComponentConfig, Processor, Sink, Source, Stage
from airflow_provider_ingest.partitions import Part, Unit
from airflow_provider_ingest.records import Record, Table, TagLabel
from airflow_provider_ingest.records.lines import RecordLine


class TagTablesConfig(ComponentConfig):
    tag: str = "Test.Tagged"
    fail_on: list[str] = []
    drop: list[str] = []


class TagTables(Processor):
    """Tags every table; fails the records named in ``fail_on``, filters those named in ``drop``."""

    config_class = TagTablesConfig
    config: TagTablesConfig

    def process(self, record: Record) -> Record | None:
        if record.name in self.config.fail_on:
            raise ValueError(f"refusing {record.name}")
        if record.name in self.config.drop:
            return None
        if record.kind != "table":
            return record
        return record.model_copy(update={"tags": [*record.tags, TagLabel(tag_fqn=self.config.tag)]})


class ExplodingSourceConfig(ComponentConfig):
    tables: int = 10
    explode_after: int | None = None
    marker: str | None = None


class ExplodingSource(Source):
    """Emits ``tables`` tables; raises after ``explode_after`` of them; writes ``marker`` when closed."""

    config_class = ExplodingSourceConfig
    config: ExplodingSourceConfig

    def records(self) -> Iterator[Record]:
        for index in range(self.config.tables):
            if index == self.config.explode_after:
                raise RuntimeError(f"source exploded at record {index}")
            yield Table(service="svc", database="db", database_schema="s", name=f"t{index}")

    def close(self) -> None:
        if self.config.marker:
            Path(self.config.marker).write_text("closed by source\n")


class LinesSourceConfig(ComponentConfig):
    tables: list[str]
    """Each table's fields as JSON, given as its line."""


class LinesSource(Source):
    """Gives each of ``tables`` as its line (:class:`RecordLine`), as the ``sql`` source gives a table."""

    config_class = LinesSourceConfig
    config: LinesSourceConfig

    def records(self) -> Iterator[RecordLine]:
        for index, line in enumerate(self.config.tables):
            yield RecordLine("table", line.encode(), ("svc", "db", "s", f"t{index}"))


class TrustedLinesSource(LinesSource):
    """:class:`LinesSource`, saying its lines are valid by construction (``gives_lines``), as the sql source does."""

    gives_lines = True


class SlowSourceConfig(ComponentConfig):
    tables: int = 20
    seconds_each: float = 0.01


class SlowSource(Source):
    """Emits ``tables`` tables, sleeping ``seconds_each`` before each: a long step in little time."""

    config_class = SlowSourceConfig
    config: SlowSourceConfig

    def records(self) -> Iterator[Record]:
        for index in range(self.config.tables):
            time.sleep(self.config.seconds_each)
            yield Table(service="svc", database="db", database_schema="s", name=f"t{index}")


class SlowProcessorConfig(ComponentConfig):
    seconds_each: float = 0.01
    schema_name: str | None = None


class SlowProcessor(Processor):
    """Passes every record on, sleeping ``seconds_each`` before each (only those of schema ``schema_name``, when
    given): a step that can be stopped halfway."""

    config_class = SlowProcessorConfig
    config: SlowProcessorConfig

    def process(self, record: Record) -> Record:
        if self.config.schema_name in (None, getattr(record, "database_schema", None)):
            time.sleep(self.config.seconds_each)
        return record


class MarkerSinkConfig(ComponentConfig):
    marker: str
    fail_on: list[str] = []


class MarkerSink(Sink):
    """Refuses the records named in ``fail_on``; writes ``marker`` when closed."""

    config_class = MarkerSinkConfig
    config: MarkerSinkConfig

    def write(self, record: Record) -> None:
        if record.name in self.config.fail_on:
            raise ValueError(f"sink refuses {record.name}")

    def close(self) -> None:
        Path(self.config.marker).write_text("closed by sink\n")


class JournalConfig(ComponentConfig):
    journal: str
    label: str = ""
    fail_prepare: bool = False
    fail_close: bool = False


class _Journaled:
    """Appends each lifecycle step and record to the ``journal`` file: ``<label> <event> [<name>]``."""

    config: JournalConfig

    def log(self, event: str, record: Record | None = None) -> None:
        label = self.config.label or self.role  # type: ignore[attr-defined]
        with open(self.config.journal, "a", encoding="utf-8") as journal:
            journal.write(f"{label} {event}{'' if record is None else ' ' + record.name}\n")

    def prepare(self) -> None:
        self.log("prepare")
        if self.config.fail_prepare:
            raise RuntimeError(f"{self.config.label or 'component'} cannot prepare")

    def close(self) -> None:
        self.log("close")
        if self.config.fail_close:
            raise RuntimeError("cannot close")


class JournalSourceConfig(JournalConfig):
    names: list[str] = ["t0", "t1", "t2"]
    raise_at: str | None = None


class JournalSource(_Journaled, Source):
    """Emits a table per name in ``names``, logging each; raises instead of emitting ``raise_at``."""

    config_class = JournalSourceConfig
    config: JournalSourceConfig

    def records(self) -> Iterator[Record]:
        for name in self.config.names:
            if name == self.config.raise_at:
                raise RuntimeError(f"source cannot read {name}")
            record = Table(service="svc", database="db", database_schema="s", name=name)
            self.log("emit", record)
            yield record


class JournalProcessorConfig(JournalConfig):
    drop: list[str] = []
    empty: list[str] = []
    split: list[str] = []
    suffix: str = ""
    fail_on: list[str] = []


class JournalProcessor(_Journaled, Processor):
    """Logs each record; drops ``drop`` (None) and ``empty`` (an empty list), splits ``split`` in two
    (``x``, ``x_copy``), renames with ``suffix``."""

    config_class = JournalProcessorConfig
    config: JournalProcessorConfig

    def process(self, record: Record) -> Record | list[Record] | None:
        self.log("process", record)
        if record.name in self.config.fail_on:
            raise ValueError(f"{self.config.label} refuses {record.name}")
        if record.name in self.config.drop:
            return None
        if record.name in self.config.empty:
            return []
        if self.config.suffix:
            record = record.model_copy(update={"name": record.name + self.config.suffix})
        if record.name in self.config.split:
            return [record, record.model_copy(update={"name": record.name + "_copy"})]
        return record


class JournalSinkConfig(JournalConfig):
    fail_on: list[str] = []


class JournalSink(_Journaled, Sink):
    """Logs each record written and the flush; refuses the records named in ``fail_on``."""

    config_class = JournalSinkConfig
    config: JournalSinkConfig

    def write(self, record: Record) -> None:
        if record.name in self.config.fail_on:
            raise ValueError(f"sink refuses {record.name}")
        self.log("write", record)

    def flush(self) -> None:
        self.log("flush")


class ConnectionProbeConfig(ComponentConfig):
    conn_id: str
    token: str | None = None


class ConnectionProbe(Processor):
    """Resolves an Airflow connection and carelessly logs its password and token: the masker must hide them."""

    config_class = ConnectionProbeConfig
    config: ConnectionProbeConfig

    def prepare(self) -> None:
        import logging

        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(self.config.conn_id)
        logging.getLogger(__name__).warning(
            "connecting as %s with %s and %s", connection.login, connection.password, self.config.token
        )

    def process(self, record: Record) -> Record:
        return record


class HandOverStageConfig(ComponentConfig):
    path: str


class HandOverStage(Stage):
    """Stages nothing: hands the file at ``path``, as it is, to the bulk sink (what do bulk sinks accept?)."""

    config_class = HandOverStageConfig
    config: HandOverStageConfig

    def stage(self, record: Record) -> None:
        pass

    def commit(self) -> str:
        return self.context.resolve_path(self.config.path)


class FailSchemaConfig(ComponentConfig):
    schema_name: str
    attempts: str
    failing_attempts: int = 1_000_000


class FailSchema(Processor):
    """Fails every record of schema ``schema_name`` in its first ``failing_attempts`` attempts; an attempt that
    sees the schema appends a line to the ``attempts`` file, so a retry (another process) knows its number."""

    config_class = FailSchemaConfig
    config: FailSchemaConfig
    _attempt = 0

    def process(self, record: Record) -> Record:
        schema = getattr(record, "database_schema", record.name if record.kind == "database_schema" else None)
        if schema != self.config.schema_name:
            return record
        if not self._attempt:
            with open(self.config.attempts, "a+") as attempts:
                attempts.write(f"{self.context.run_id}\n")
                attempts.seek(0)
                self._attempt = len(attempts.readlines())
        if self._attempt <= self.config.failing_attempts:
            raise RuntimeError(f"attempt {self._attempt} refuses {record.fqn}")
        return record


class FailNamedConfig(ComponentConfig):
    names: list[str]


class FailNamed(Processor):
    """Fails every record whose name is in ``names``."""

    config_class = FailNamedConfig
    config: FailNamedConfig

    def process(self, record: Record) -> Record:
        if getattr(record, "name", None) in self.config.names:
            raise ValueError(f"refusing {record.fqn}")
        return record


class PadConfig(ComponentConfig):
    names: list[str]
    characters: int
    character: str = "x"


class Pad(Processor):
    """Gives the tables named in ``names`` a description of ``characters`` times ``character``."""

    config_class = PadConfig
    config: PadConfig

    def process(self, record: Record) -> Record:
        if isinstance(record, Table) and record.name in self.config.names:
            return record.model_copy(update={"description": self.config.character * self.config.characters})
        return record


class DescribeInPlace(Processor):
    """Changes each table where it is (no copy): sets its description and its first column's."""

    def process(self, record: Record) -> Record:
        if isinstance(record, Table):
            record.description = "changed in place"
            if record.columns:
                record.columns[0].description = "first column, changed in place"
        return record


class SchemasSourceConfig(ComponentConfig):
    schemas: dict[str, int]
    """How many tables each schema holds (tables ``t0``, ``t1``... of service ``svc``, database ``db``)."""
    password: str | None = None


class SchemasSource(Source):
    """A catalog of schemas that a partitioned run splits by schema, without a database server: a part reads
    its schemas, the rest part every schema but the other parts'. Given a ``password``, it refuses to prepare
    with a message quoting it (as a careless driver does)."""

    config_class = SchemasSourceConfig
    config: SchemasSourceConfig
    partition_by = frozenset({"schema"})
    _part: Part | None = None

    def scope(self, part: Part) -> None:
        self._part = part

    def prepare(self) -> None:
        if self.config.password is not None:
            raise PermissionError(f"password {self.config.password} refused")

    def partition_units(self, by: str) -> list[Unit]:
        return [Unit(name, tables) for name, tables in self.config.schemas.items()]

    def records(self) -> Iterator[Record]:
        part = self._part
        for schema, tables in self.config.schemas.items():
            if part is not None and (schema in (part.excluded or ()) if part.rest else schema not in part.names):
                continue
            for index in range(tables):
                yield Table(service="svc", database="db", database_schema=schema, name=f"t{index}")


class MisjudgingProcessor(Processor):
    """A plugin whose answer to ``reads_samples`` fails (a setting it expects is missing)."""

    type_name = "misjudging"

    @classmethod
    def reads_samples(cls, config: Mapping[str, Any]) -> bool:
        return bool(config["expected"])

    def process(self, record: Record) -> Record:
        return record


class RewriteInputConfig(ComponentConfig):
    path: str
    old: str
    new: str


class RewriteInput(Processor):
    """Rewrites a file in place, keeping its length, at the first record: another program writing over the run's
    input while it is read."""

    config_class = RewriteInputConfig
    config: RewriteInputConfig
    _done = False

    def process(self, record: Record) -> Record:
        if not self._done:
            self._done = True
            data = Path(self.config.path).read_bytes()
            with open(self.config.path, "r+b") as file:
                file.write(data.replace(self.config.old.encode(), self.config.new.encode()))
        return record


class GivesNoneInAList(Processor):
    """Gives each table followed by None: a processor's mistake, failing its records, not the run."""

    def process(self, record: Record) -> list[Record | None] | Record:
        return [record, None] if record.kind == "table" else record
