"""The ``filter`` processor: keep or drop records by kind and FQN, and drop columns, by whole-name patterns."""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from airflow_provider_ingest.api import ComponentConfig, Processor, RunContext
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.records import KIND_ORDER, ColumnLineageEdge, Lineage, Record, RecordKind, Table, fqn
from airflow_provider_ingest.terminal import counted


class FilterConfig(ComponentConfig):
    kinds: list[RecordKind] = Field(default_factory=lambda: list(KIND_ORDER), description="record kinds to keep")
    fqn: NamePatterns = Field(default_factory=NamePatterns, description="patterns on the FQN of the records kept")
    fqn_kinds: list[RecordKind] = Field(
        default_factory=lambda: ["table", "lineage"],
        description="kinds `fqn` applies to; for lineage, to both of its tables",
    )
    columns: NamePatterns = Field(default_factory=NamePatterns, description="patterns on column FQNs")


class FilterProcessor(Processor):
    """Drops records of other kinds or whose FQN the patterns refuse, and the columns refused by ``columns``.

    Dropped records are counted as filtered (``filtered_<kind>`` counters), never as failures; a
    constraint naming a dropped column is dropped with it, and so is a column lineage edge. A lineage
    record is matched by both of its tables: it is kept when the patterns keep both. A kind the ``fqn``
    patterns apply to of which none is kept is a warning naming the patterns (most often a typo).
    """

    type_name = "filter"
    config_class = FilterConfig
    config: FilterConfig

    def __init__(self, config: ComponentConfig, context: RunContext) -> None:
        super().__init__(config, context)
        self.matched: Counter[str] = Counter()
        """Records of the kinds ``fqn`` applies to: those given (``kind``) and those kept (``kind kept``)."""
        self.first: dict[str, str] = {}
        """The FQN of the first record of each of those kinds, to show what the patterns are matched against."""

    def process(self, record: Record) -> Record | None:
        matched = record.kind in self.config.kinds and record.kind in self.config.fqn_kinds
        self.matched[record.kind] += matched
        if matched:
            self.first.setdefault(record.kind, record.fqn)
        if record.kind not in self.config.kinds or (matched and not self._fqn_kept(record)):
            self.report.count(f"filtered_{record.kind}")
            return None
        self.matched[f"{record.kind} kept"] += matched
        if self.config.columns.include or self.config.columns.exclude:
            if isinstance(record, Table):
                return self._drop_columns(record)
            if isinstance(record, Lineage):
                return self._drop_column_lineage(record)
        return record

    def close(self) -> None:
        """Warn of each kind of which the ``fqn`` patterns kept none: the run would publish none."""
        described = self.config.fqn.described("fqn")
        for kind in self.config.fqn_kinds:
            given = self.matched[kind]
            if given and not self.matched[f"{kind} kept"] and described:
                self.warn(
                    f"the filter kept none of the {counted(given, kind + ' record')} it was given; check {described}"
                    f" (an FQN it was matched against: {self.first[kind]!r})"
                )

    def _fqn_kept(self, record: Record) -> bool:
        if isinstance(record, Lineage):
            return self.config.fqn.matches(record.from_table) and self.config.fqn.matches(record.to_table)
        return self.config.fqn.matches(record.fqn)

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

    def _drop_column_lineage(self, lineage: Lineage) -> Lineage:
        """Drop the refused source columns of each edge, and an edge whose written column or every source is
        refused; the table-level lineage stays."""
        edges: list[ColumnLineageEdge] = []
        changed = False
        for edge in lineage.columns:
            sources = [column for column in edge.from_columns if self.config.columns.matches(column)]
            if sources and self.config.columns.matches(edge.to_column):
                if len(sources) < len(edge.from_columns):
                    edge = edge.model_copy(update={"from_columns": sources})
                    changed = True
                edges.append(edge)
        if len(edges) < len(lineage.columns):
            self.report.count("column_lineage_dropped", len(lineage.columns) - len(edges))
        elif not changed:
            return lineage
        return lineage.model_copy(update={"columns": edges})

    def _keeps(self, table_fqn: str, column: str) -> bool:
        return self.config.columns.matches(table_fqn + fqn.SEPARATOR + fqn.quote(column))
