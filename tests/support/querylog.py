"""Running a query-log source in tests as an Airflow task runs it: the lifecycle, its staged output, dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.records.usage import Query
from airflow_provider_ingest.run import run_task
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.staging import paths, read_dead_letters, read_records
from airflow_provider_ingest.staging.deadletters import DeadLetter


@dataclass
class SourceRun:
    """What one run of a source gave: its queries, its report's numbers, its dead letters, the run's result."""

    queries: list[Query]
    result: RunResult
    letters: list[DeadLetter]

    @property
    def report(self) -> Any:
        [report] = [report for report in self.result.reports if report.component.startswith("source:")]
        return report

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.report.counters)

    def by_text(self, database: str | None = None) -> dict[tuple[str | None, str], Query]:
        """The queries on ``database`` (default: all) by (user, text); a test fails if two share both."""
        found: dict[tuple[str | None, str], Query] = {}
        for query in self.queries:
            if database is not None and database not in (query.database, query.database_schema):
                continue
            key = (query.user, query.text)
            assert key not in found, f"two queries of {key} on {database or 'every database'}"
            found[key] = query
        return found


def run_source(
    type_name: str, config: dict[str, Any], base_dir: Path, run_id: str = "run", success_threshold: float = 50.0
) -> SourceRun:
    """Run the source as one task (run id ``run_id``) through the lifecycle; read back what it wrote."""
    context = RunContext(
        workflow_name="querylog", run_id=run_id, staging_root=str(base_dir / "staging"), base_dir=base_dir
    )
    result = run_task("source", type_name, config, context, success_threshold=success_threshold)
    queries = []
    if result.success and result.output_uri and paths.exists(result.output_uri):
        queries = [record for record in read_records(result.output_uri) if isinstance(record, Query)]
    letters = list(read_dead_letters(result.dead_letter_uri)) if result.dead_letter_uri else []
    return SourceRun(queries, result, letters)
