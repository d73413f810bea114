"""Operators, one per workflow stage, thin over the components; records travel as staged files.

Each operator returns a small XCom (``uri``, ``records``, ``failures``, ``dead_letter_uri``,
``summary``), pushed also key by key, so a downstream task takes ``upstream.output["uri"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from airflow_provider_ingest.workflow.spec import DEFAULT_STAGING_ROOT


class _IngestOperator(BaseOperator):
    """Runs one component of a workflow as one task."""

    role: ClassVar[str]
    template_fields: Sequence[str] = ("config", "input_uri", "staging_root")
    template_fields_renderers: ClassVar[dict[str, str]] = {"config": "json"}

    def __init__(
        self,
        *,
        type: str,
        config: dict[str, Any] | None = None,
        input_uri: Any = None,
        staging_root: str = DEFAULT_STAGING_ROOT,
        success_threshold: float = 90.0,
        compression: str = "none",
        workflow_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.type = type
        self.config = config or {}
        self.input_uri = input_uri
        self.staging_root = staging_root
        self.success_threshold = success_threshold
        self.compression = compression
        self.workflow_dir = workflow_dir

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.log import mask_secret

        from airflow_provider_ingest.airflow.tasks import run_task, task_context
        from airflow_provider_ingest.workflow.env import secret_values

        for secret in secret_values(self.config):
            mask_secret(secret)
        ti = context["ti"]
        run_context = task_context(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            staging_root=self.staging_root,
            compression=self.compression,
            base_dir=self.workflow_dir,
        )
        result = run_task(
            self.role,
            self.type,
            self.config,
            run_context,
            input_uri=_uri(self.input_uri),
            success_threshold=self.success_threshold,
        )
        self.log.info("%s: %s", self.task_id, result["summary"])
        if result["dead_letter_uri"]:
            self.log.warning("%d records failed; dead letters: %s", result["failures"], result["dead_letter_uri"])
        return result


def _uri(value: Any) -> str | None:
    """An input given as an upstream XCom (the whole dict) or as a URI string."""
    if isinstance(value, dict):
        return value.get("uri")
    return value or None


class IngestSourceOperator(_IngestOperator):
    """Extracts records with a source into a staged file."""

    role = "source"
    template_fields: Sequence[str] = ("config", "staging_root")

    def __init__(self, *, type: str, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(type=type, config=config, **kwargs)


class IngestProcessorOperator(_IngestOperator):
    """Passes the records of a staged file through one processor into a new staged file."""

    role = "processor"


class IngestSinkOperator(_IngestOperator):
    """Writes the records of a staged file to a sink."""

    role = "sink"


class IngestStageOperator(_IngestOperator):
    """Collects the records of a staged file into the stage's file for a bulk sink."""

    role = "stage"


class IngestBulkSinkOperator(_IngestOperator):
    """Publishes a staged file with a bulk sink."""

    role = "bulk_sink"


class IngestWorkflowOperator(BaseOperator):
    """Runs a whole workflow file serially in one task.

    Staged files go to ``{staging_root}/{dag_id}/{run_id}/{task_id}``; the XCom counts the source's
    records and the failures of all components.
    """

    template_fields: Sequence[str] = ("workflow_file",)

    def __init__(self, *, workflow_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_file = workflow_file

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.log import mask_secret

        from airflow_provider_ingest.airflow.tasks import task_folder
        from airflow_provider_ingest.workflow.env import secret_values
        from airflow_provider_ingest.workflow.loader import load_workflow
        from airflow_provider_ingest.workflow.runner import run_workflow

        workflow = load_workflow(self.workflow_file)
        for _, _, spec in workflow.spec.components():
            for secret in secret_values(spec.config):
                mask_secret(secret)
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        result = run_workflow(workflow, run_id=task_folder(ti.run_id, ti.task_id, map_index), name=ti.dag_id)
        summary = [report.summary() for report in result.reports]
        for line in summary:
            self.log.info("%s", line)
        if not result.success:
            raise RuntimeError(result.error or f"success rate below {result.threshold:g}% in {result.below_threshold}")
        return {
            "uri": result.staged_uri,
            "records": result.reports[0].records,
            "failures": sum(report.failure_count for report in result.reports),
            "dead_letter_uri": result.dead_letter_uri,
            "summary": summary,
        }


class IngestCleanupOperator(BaseOperator):
    """Deletes a DAG's staged run folders older than the retention."""

    template_fields: Sequence[str] = ("staging_root",)

    def __init__(self, *, staging_root: str, retention_days: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.staging_root = staging_root
        self.retention_days = retention_days

    def execute(self, context: Context) -> list[str]:
        from airflow_provider_ingest.staging.retention import remove_expired_runs

        removed = remove_expired_runs(self.staging_root, context["ti"].dag_id, self.retention_days)
        self.log.info("removed %d expired staging folders", len(removed))
        return removed
