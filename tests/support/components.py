"""Test components, loaded by ``package.module:ClassName`` from workflow files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from airflow_provider_ingest.api import ComponentConfig, Processor, Sink, Source
from airflow_provider_ingest.records import Record, Table, TagLabel


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
