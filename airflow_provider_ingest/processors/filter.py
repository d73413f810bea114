"""The ``filter`` processor: keep or drop records by kind and FQN, and drop columns, by whole-name patterns."""

from __future__ import annotations

from pydantic import Field

from airflow_provider_ingest.api import ComponentConfig, Processor
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.records import KIND_ORDER, Record, RecordKind, Table, fqn


class FilterConfig(ComponentConfig):
    kinds: list[RecordKind] = Field(default_factory=lambda: list(KIND_ORDER), description="record kinds to keep")
    fqn: NamePatterns = Field(default_factory=NamePatterns, description="patterns on the FQN of the records kept")
    fqn_kinds: list[RecordKind] = Field(default_factory=lambda: ["table"], description="kinds `fqn` applies to")
    columns: NamePatterns = Field(default_factory=NamePatterns, description="patterns on column FQNs")


class FilterProcessor(Processor):
    """Drops records of other kinds or whose FQN the patterns refuse, and the columns refused by ``columns``.

    Dropped records are counted as filtered (``filtered_<kind>`` counters), never as failures; a
    constraint naming a dropped column is dropped with it.
    """

    type_name = "filter"
    config_class = FilterConfig
    config: FilterConfig

    def process(self, record: Record) -> Record | None:
        if record.kind not in self.config.kinds or (
            record.kind in self.config.fqn_kinds and not self.config.fqn.matches(record.fqn)
        ):
            self.report.count(f"filtered_{record.kind}")
            return None
        if isinstance(record, Table) and (self.config.columns.include or self.config.columns.exclude):
            return self._drop_columns(record)
        return record

    def _drop_columns(self, table: Table) -> Table:
        """Drop refused columns, and constraints on them or referring to refused columns of other tables."""
        kept = [column for column in table.columns if self._keeps(table.fqn, column.name)]
        names = {column.name for column in kept}
        constraints = [
            c
            for c in table.constraints
            if names.issuperset(c.columns) and all(self._keeps(c.referred_table or "", n) for n in c.referred_columns)
        ]
        if len(kept) == len(table.columns) and len(constraints) == len(table.constraints):
            return table
        if len(kept) < len(table.columns):
            self.report.count("columns_dropped", len(table.columns) - len(kept))
        if len(constraints) < len(table.constraints):
            self.report.count("constraints_dropped", len(table.constraints) - len(constraints))
        return table.model_copy(update={"columns": kept, "constraints": constraints})

    def _keeps(self, table_fqn: str, column: str) -> bool:
        return self.config.columns.matches(table_fqn + fqn.SEPARATOR + fqn.quote(column))
