"""Test components, loaded by ``package.module:ClassName`` from workflow files."""

from __future__ import annotations

from airflow_provider_ingest.api import ComponentConfig, Processor
from airflow_provider_ingest.records import Record, TagLabel


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
