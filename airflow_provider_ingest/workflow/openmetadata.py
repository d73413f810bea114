"""Workflow files in OpenMetadata's own format, translated to this project's (see issue 7)."""

from __future__ import annotations

from typing import Any

from airflow_provider_ingest.workflow.document import Document


def is_openmetadata_workflow(data: dict[str, Any]) -> bool:
    """OpenMetadata's files have ``workflowConfig`` and a ``source`` with ``serviceConnection``."""
    return "workflowConfig" in data


def translate(document: Document) -> dict[str, Any]:
    """Translate an OpenMetadata workflow document; not supported yet."""
    from airflow_provider_ingest.workflow.document import WorkflowFileError

    raise WorkflowFileError(
        [document.problem(("workflowConfig",), "OpenMetadata-format workflows are not supported yet")]
    )
