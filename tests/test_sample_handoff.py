"""Which task's output keeps column samples (raw values of the user's tables): only one some later task may read them
from. The DAGs are built, not run (tests/test_airflow_run.py and tests/test_processors_dag.py run them)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_ingest.airflow.operators import (
    IngestBulkSinkOperator,
    IngestCleanupOperator,
    IngestProcessorOperator,
    IngestSinkOperator,
    IngestSourceOperator,
    IngestStageOperator,
    _keeps_samples,
)

SINK = {"path": "out.jsonl"}


def keeps(*chain: Any) -> bool:
    """Whether a source followed by ``chain`` (operators, or callables making one from the task before) writes its
    output with samples."""
    with DAG("handoff", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
        source = before = IngestSourceOperator(task_id="source", type="sql", config={"sample": "shop"})
        for index, link in enumerate(chain):
            made = link(before, index)
            before >> made
            before = made
    return _keeps_samples(source)


def processor(kind: str, config: Any = None) -> Any:
    return lambda before, index: IngestProcessorOperator(task_id=f"p{index}", type=kind, config=config)


def sink(config: Any = SINK, kind: str = "file") -> Any:
    return lambda before, index: IngestSinkOperator(task_id=f"s{index}", type=kind, config=config)


def mapped(operator: type, **arguments: Any) -> Any:
    expanded = {name: value for name, value in arguments.items() if isinstance(value, list)}
    partial = {name: value for name, value in arguments.items() if not isinstance(value, list)}
    return lambda before, index: operator.partial(task_id=f"m{index}", **partial).expand(**expanded)


@task
def relay(uri: str) -> str:
    return uri


@task
def settings() -> dict[str, Any]:
    return {"path": "out.jsonl", "keep_samples": True}


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ([processor("pii")], True),
        ([processor("pii", {"use_samples": True})], True),
        ([processor("pii", {"use_samples": False}), sink()], False),
        ([processor("pii", {"use_samples": False, "keep_samples": True}), processor("pii")], True),
        ([processor("pii", {"use_samples": "{{ params.samples }}"})], True),
        ([processor("pii", {"use_samples": "false"}), sink()], False),
        ([processor("pii", {"use_samples": 0}), sink()], False),
        ([processor("support.components:TagTables"), sink()], True),
        ([processor("support.components:MisjudgingProcessor"), sink()], True),
        ([sink({}, "support.components:MarkerSink")], True),
        ([processor("filter"), sink()], False),
        ([processor("filter"), processor("enrich"), sink()], False),
        ([processor("filter"), processor("pii")], True),
        ([processor("filter"), processor("enrich"), processor("pii"), sink()], True),
        ([processor("filter", "{{ params.settings }}"), sink()], True),
        ([processor("no_such_processor"), sink()], True),
        ([sink()], False),
        ([sink({"path": "out.jsonl", "keep_samples": True})], True),
        ([sink({"path": "out.jsonl", "keep_samples": "{{ params.keep }}"})], True),
        ([sink({"path": "out.jsonl", "keep_samples": False})], False),
        ([sink({"path": "out.jsonl", "keep_samples": "no"})], False),
        ([lambda before, index: IngestStageOperator(task_id="stage", type="file")], False),
        ([lambda before, index: IngestBulkSinkOperator(task_id="publish", type="file", config=SINK)], False),
        (
            [lambda before, index: IngestCleanupOperator(task_id="cleanup", staging_root="/tmp", retention_days=1)],
            False,
        ),
        ([lambda before, index: relay(before.output["uri"]).operator, processor("pii")], True),
        ([mapped(IngestProcessorOperator, type="pii", input_uri=["a", "b"])], True),
        ([mapped(IngestProcessorOperator, type="filter", input_uri=["a", "b"]), sink()], False),
        ([mapped(IngestSinkOperator, type="file", config=[{"path": "a", "keep_samples": True}])], True),
        ([mapped(IngestSinkOperator, type="file", config=SINK, input_uri=["a", "b"])], False),
        ([lambda before, index: IngestSinkOperator(task_id="s", type="file", config=settings())], True),
    ],
    ids=[
        "pii",
        "pii_using_samples",
        "pii_not_using_samples",
        "pii_handing_them_to_pii",
        "pii_templated",
        "pii_not_using_samples_as_text",
        "pii_not_using_samples_as_a_number",
        "a_plugin_processor",
        "a_plugin_failing_to_answer",
        "a_plugin_sink",
        "filter_to_sink",
        "filter_enrich_sink",
        "filter_to_pii",
        "filter_enrich_pii",
        "settings_templated",
        "unknown_processor",
        "sink",
        "sink_keeping_samples",
        "sink_keep_templated",
        "sink_not_keeping",
        "sink_not_keeping_as_text",
        "stage",
        "bulk_sink",
        "cleanup",
        "a_task_of_the_user",
        "mapped_pii",
        "mapped_filter_to_sink",
        "mapped_over_settings",
        "mapped_sink",
        "settings_from_an_xcom",
    ],
)
def test_a_task_keeps_samples_only_for_a_later_task_that_may_read_them(chain: list[Any], expected: bool) -> None:
    assert keeps(*chain) is expected
