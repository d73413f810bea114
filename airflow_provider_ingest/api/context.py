"""What a component knows of the run it is part of."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from airflow_provider_ingest.staging.deadletters import DeadLetter


class DeadLetterSink(Protocol):
    """Where failed records go, with their errors."""

    def add(self, letter: DeadLetter) -> None: ...


@dataclass
class RunContext:
    """One run of a workflow (or one Airflow task of it): names, paths and the dead-letter sink."""

    workflow_name: str
    run_id: str
    staging_root: str
    base_dir: Path = field(default_factory=Path.cwd)
    dead_letters: DeadLetterSink | None = None
    compression: str = "none"

    def resolve_path(self, path: str) -> str:
        """A path from a workflow file: ``~`` is expanded, relative ones are taken from the workflow file's folder."""
        if "://" in path:
            return path
        return str(self.base_dir / Path(path).expanduser())

    def staging_uri(self, *parts: str) -> str:
        """A location under this run's staging folder."""
        from airflow_provider_ingest.staging.paths import join

        return join(self.staging_root, self.workflow_name, self.run_id, *parts)
