"""Workflow files: every problem reported at once, each with its file, line, column and field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

GOOD = """\
description: Copy records
source:
  type: file
  config:
    path: in.jsonl
processors:
  - type: support.components:TagTables
sink:
  type: file
  config:
    path: out.jsonl
"""

# (name, file text, line, column, field, a fragment of the message)
MALFORMED = [
    ("not_yaml", "source: [unclosed\n", 2, 1, "", "invalid YAML"),
    ("bad_indent", "source:\n  type: file\n config: {}\n", 3, 2, "", "invalid YAML"),
    ("top_level_list", "- source\n", 1, 1, "", "must be a mapping"),
    ("empty_file", "", 1, 1, "", "must be a mapping"),
    ("missing_source", "sink: {type: console}\n", 1, 1, "source", "field required"),
    ("misspelled_top_key", GOOD + "procesors: []\n", 12, 1, "procesors", "did you mean 'processors'"),
    (
        "unknown_source_type",
        GOOD.replace("type: file\n  config:\n    path: in", "type: fiel\n  config:\n    path: in"),
        3,
        3,
        "source.type",
        "did you mean 'file'",
    ),
    (
        "source_without_type",
        "source:\n  config: {path: x}\nsink: {type: console}\n",
        1,
        1,
        "source.type",
        "field required",
    ),
    (
        "misspelled_config_key",
        GOOD.replace("    path: in.jsonl", "    pth: in.jsonl"),
        5,
        5,
        "source.config.pth",
        "did you mean 'path'",
    ),
    (
        "missing_config_field",
        GOOD.replace("  config:\n    path: in.jsonl\n", "  config: {}\n"),
        4,
        3,
        "source.config.path",
        "field required",
    ),
    ("bad_enum_value", GOOD + "    compression: zip\n", 12, 5, "sink.config.compression", "'auto', 'none' or 'gzip'"),
    (
        "threshold_too_high",
        GOOD + "workflow:\n  success_threshold: 150\n",
        13,
        3,
        "workflow.success_threshold",
        "less than or equal to 100",
    ),
    (
        "threshold_not_number",
        GOOD + "workflow:\n  success_threshold: high\n",
        13,
        3,
        "workflow.success_threshold",
        "valid number",
    ),
    ("negative_retries", GOOD + "airflow:\n  retries: -1\n", 13, 3, "airflow.retries", "greater than or equal to 0"),
    ("bad_dag_id", GOOD + "airflow:\n  dag_id: 'bad id!'\n", 13, 3, "airflow.dag_id", "may hold only letters"),
    ("bad_start_date", GOOD + "airflow:\n  start_date: yesterday\n", 13, 3, "airflow.start_date", "valid date"),
    ("bad_retry_delay", GOOD + "airflow:\n  retry_delay: soon\n", 13, 3, "airflow.retry_delay", "valid timedelta"),
    ("misspelled_airflow_key", GOOD + "airflow:\n  dagid: x\n", 13, 3, "airflow.dagid", "did you mean 'dag_id'"),
    ("no_sink_or_stage", "source: {type: file, config: {path: x}}\n", 1, 1, "", "needs a sink, a stage, or both"),
    (
        "bulk_sink_without_stage",
        GOOD + "bulk_sink: {type: file, config: {path: x}}\n",
        12,
        1,
        "bulk_sink",
        "bulk_sink needs a stage",
    ),
    (
        "processors_not_a_list",
        GOOD.replace("  - type: support.components:TagTables", "  type: x"),
        6,
        1,
        "processors",
        "valid list",
    ),
    (
        "second_processor_unknown",
        GOOD.replace("sink:", "  - type: nope\nsink:"),
        8,
        5,
        "processors.1.type",
        "unknown processor type 'nope'",
    ),
    ("inline_password", GOOD + "    password: hunter2\n", 12, 5, "sink.config.password", "secrets cannot be inline"),
    (
        "inline_url_password",
        GOOD.replace("path: in.jsonl", "path: postgresql://me:pw@db/shop"),
        5,
        5,
        "source.config.path",
        "cannot carry its password inline",
    ),
    # written with escapes or look-alike letters: the quick look at the text for secrets must not miss them
    ("inline_password_escaped", GOOD + '    "\\x70assword": pw\n', 12, 5, "sink.config.password", "cannot be inline"),
    (
        "inline_password_long_s",
        GOOD + '    "pa\\u017f\\u017fword": hunter2\n',
        12,
        5,
        "sink.config.pa\u017f\u017fword",
        "secrets cannot be inline",
    ),
    (
        "inline_password_long_s_unescaped",
        GOOD + "    pa\u017f\u017fword: pw\n",
        12,
        5,
        "sink.config.pa\u017f\u017fword",
        "secrets cannot be inline",
    ),
    (
        "inline_url_password_escaped_at",
        GOOD.replace("path: in.jsonl", 'path: "postgresql://me:pw\\x40db/shop"'),
        5,
        5,
        "source.config.path",
        "cannot carry its password inline",
    ),
    (
        "json_inline_password_escaped",
        '{"source": {"type": "file", "config": {"path": "in.jsonl", "\\u0070assword": "pw"}}}',
        1,
        60,
        "source.config.password",
        "secrets cannot be inline",
    ),
    ("reference_escaped", GOOD + 'workflow:\n  compression: "\\x24{C}"\n', 13, 3, "workflow.compression", "only in"),
    ("duplicate_key", GOOD + "sink: {type: console}\n", 12, 1, "sink", "duplicate key"),
    (
        "wrong_config_type",
        GOOD.replace("TagTables\n", "TagTables\n    config: {tag: 5}\n"),
        8,
        14,
        "processors.0.config.tag",
        "valid string",
    ),
    (
        "module_not_found",
        GOOD.replace("support.components:TagTables", "no.such.module:Thing"),
        7,
        5,
        "processors.0.type",
        "cannot import 'no.such.module:Thing'",
    ),
    (
        "class_of_wrong_role",
        GOOD.replace("support.components:TagTables", "airflow_provider_ingest.components.file:FileSink"),
        7,
        5,
        "processors.0.type",
        "is not a processor",
    ),
    ("bad_compression", GOOD + "workflow:\n  compression: lz4\n", 13, 3, "workflow.compression", "'none' or 'gzip'"),
    (
        "description_not_text",
        GOOD.replace("description: Copy records", "description: [a, b]"),
        1,
        1,
        "description",
        "valid string",
    ),
    (
        "bad_task_id",
        GOOD.replace("TagTables\n", "TagTables\n    task_id: my task\n"),
        8,
        5,
        "processors.0.task_id",
        "may hold only letters",
    ),
    (
        "unknown_component_key",
        GOOD.replace("sink:\n  type: file", "sink:\n  typ: console\n  type: file"),
        9,
        3,
        "sink.typ",
        "did you mean 'type'",
    ),
    (
        "json_missing_field",
        json.dumps({"source": {"type": "file", "config": {}}, "sink": {"type": "console"}}),
        1,
        29,
        "source.config.path",
        "field required",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "line", "column", "field", "message"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_file_names_file_line_column_and_field(tmp_path, name, text, line, column, field, message):
    path = tmp_path / (f"{name}.json" if name.startswith("json") else f"{name}.yaml")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    expected = f"{path}:{line}:{column}: {field + ': ' if field else ''}"
    lines = str(raised.value).splitlines()
    assert any(entry.startswith(expected) and message in entry for entry in lines), str(raised.value)


def test_there_are_at_least_25_malformed_cases():
    assert len(MALFORMED) >= 25


def test_all_problems_of_a_file_are_reported_at_once(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            source:
              type: fiel
            sink:
              type: file
              config:
                pth: x
            workflow:
              succes_threshold: 5
            airflow:
              retries: -1
            """
        )
    )
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    fields = [(problem.line, problem.field) for problem in raised.value.problems]
    assert fields == [
        (2, "source.type"),
        (5, "sink.config.path"),
        (6, "sink.config.pth"),
        (8, "workflow.succes_threshold"),
        (10, "airflow.retries"),
    ]


def test_good_file_loads_with_defaults(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    workflow = load_workflow(path)
    assert workflow.name == "good"
    assert workflow.spec.workflow.success_threshold == 90
    assert [role for role, _, _ in workflow.spec.components()] == ["source", "processor", "sink"]


def test_environment_references_are_allowed_for_secrets(tmp_path):
    path = tmp_path / "env.yaml"
    path.write_text(GOOD + "    password: ${SINK_PASSWORD}\n".replace("password", "token"))
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    # the reference itself is fine; only the file sink's unknown 'token' setting is reported
    assert [problem.field for problem in raised.value.problems] == ["sink.config.token"]


def test_json_workflow_file_is_accepted(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"source": {"type": "file", "config": {"path": "x"}}, "sink": {"type": "console"}}))
    assert load_workflow(path).spec.sink.type == "console"


def test_a_problem_of_a_key_written_before_a_merge_of_the_same_key_is_placed_at_that_key(tmp_path: Path) -> None:
    """A key written before a merge key (``<<``) bringing the same key overrides it, and its problem is placed at
    it: it was placed at the anchor's key of that name (line 3, not 7)."""
    path = tmp_path / "merge.yaml"
    path.write_text(
        "source:\n"
        "  type: file\n"
        "  config: &c {path: in.jsonl, compression: gzip}\n"
        "sink:\n"
        "  type: file\n"
        "  config:\n"
        "    compression: 12\n"
        "    <<: *c\n"
    )
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    [problem] = [problem for problem in raised.value.problems if problem.field == "sink.config.compression"]
    assert (problem.line, problem.column) == (7, 5), str(problem)
