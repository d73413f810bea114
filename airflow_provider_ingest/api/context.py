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
    secrets: set[str] = field(default_factory=set)
    """Secret values resolved for this run (``${ENV}`` references, connections); never to be shown."""
    samples_left_out: bool = False
    """Whether records of this run lost their column samples before its writers got them: read from a staged file
    that says so, or cleared by a processor. The staged files it writes say so too."""

    def scrub(self, message: str) -> str:
        """``message`` with every secret of this run replaced by ``***``."""
        from airflow_provider_ingest.secrets import scrub

        return scrub(message, self.secrets)

    def resolve_path(self, path: str) -> str:
        """A path from a workflow file: ``~`` is expanded, relative ones are taken from the workflow file's folder."""
        return resolve_path(path, self.base_dir)

    def staging_uri(self, *parts: str) -> str:
        """A location under this run's staging folder ``{staging_root}/{workflow_name}/{run_id}``.

        A relative local root is taken from ``base_dir``, as every path of a workflow file is. ``run_id`` may
        be several names joined by ``/`` (see ``task_folder``). Every name must be a single path segment
        (never empty, ``.``, ``..``, nor holding a separator): else :class:`ConfigurationError`.
        """
        from airflow_provider_ingest.staging.paths import is_local, staging_location

        root = self.resolve_path(self.staging_root) if is_local(self.staging_root) else self.staging_root
        return staging_location(root, self.workflow_name, self.run_id, *parts)


def resolve_path(path: str, base_dir: Path) -> str:
    """A path from a workflow file as its components read it: ``~`` expanded, a relative one under ``base_dir``."""
    if "://" in path:
        return path
    return str(base_dir / Path(path).expanduser())
