"""The steps a run is made of, called as the CLI and the operators call them."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ingest.run.steps import plan_partitions, workflow_context
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

SCHEMAS = "support.components:SchemasSource"


def write(folder: Path, text: str, name: str = "flow.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_an_unset_variable_in_the_partitioned_source_is_a_problem_at_its_place_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INGEST_TEST_UNSET", raising=False)
    path = write(
        tmp_path,
        f"source:\n  type: '{SCHEMAS}'\n  config:\n    schemas: {{a: 1}}\n    password: ${{INGEST_TEST_UNSET}}\n"
        "sink: {type: console}\n",
    )
    workflow = load_workflow(path)
    with pytest.raises(WorkflowFileError) as raised:
        plan_partitions(
            SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=2, workflow=workflow
        )
    assert (
        str(raised.value) == f"{path}:5:15: source.config.password: environment variable INGEST_TEST_UNSET is not set"
    )
