"""Malformed workflow files through the CLI: each refused with exit 1 and a ``file:line:column: field:`` problem,
never a traceback; and the checks ``validate`` shares with the DAG factory agree with Airflow itself."""

from __future__ import annotations

import datetime
import json
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.patterns import NamePatterns, compile_pattern
from airflow_provider_ingest.registry import UnknownComponentError, resolve
from airflow_provider_ingest.workflow.document import MAX_FILE_BYTES, MAX_NODES, WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

BASE = """\
source:
  type: file
  config:
    path: in.jsonl
processors:
  - type: filter
    config:
      fqn:
        include: ['shop\\..*']
sink:
  type: file
  config:
    path: out.jsonl
workflow:
  staging_root: staging
"""


LISTED = (range(60), range(24), range(1, 32), range(1, 13), range(7))
"""Every minute, hour, day, month and weekday, listed: a valid cron expression, described at great length."""


def air(setting: str) -> str:
    """BASE with an ``airflow:`` section whose first setting is on line 17, column 3."""
    return BASE + "airflow:\n  " + setting + "\n"


def wf(setting: str) -> str:
    """BASE with one more ``workflow:`` setting, on line 16, column 3."""
    return BASE + "  " + setting + "\n"


def sub(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


def fqn(patterns: str) -> str:
    """BASE with the filter's ``fqn`` patterns replaced; ``include`` stays on line 9, column 9."""
    return sub("        include: ['shop\\..*']\n", patterns)


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)

# (name, file content, line, column, field, a fragment of the message)
MALFORMED: list[tuple[str, str | bytes, int, int, str, str]] = [
    # bytes and YAML syntax
    ("not_utf8", b"source:\n  type: f\xffile\n", 2, 10, "", "not UTF-8 text: byte 0xff"),
    ("latin1_note", BASE.encode() + b"# caf\xe9\n", 16, 6, "", "not UTF-8"),
    ("utf16", "source: {type: file}\n".encode("utf-16"), 1, 1, "", "not UTF-8"),
    ("bom_then_bad_byte", b"\xef\xbb\xbfsource:\n  type: \xc3\x28\n", 2, 9, "", "not UTF-8"),
    ("control_character", sub("in.jsonl", "in\x07.jsonl"), 4, 13, "", "U+0007 is not allowed"),
    ("control_after_accents", sub("out.jsonl", "\u00e9t\u00e9\x01.jsonl"), 13, 14, "", "U+0001 is not allowed"),
    ("nul_character", sub("out.jsonl", "out\x00.jsonl"), 13, 14, "", "U+0000 is not allowed"),
    (
        "retention_zero_with_runs_in_parallel",
        wf("retention_days: 0") + "airflow:\n  max_active_runs: 4\n",
        17,
        1,
        "airflow",
        "each run's cleanup would delete the staged files of the runs still in flight",
    ),
    ("date_as_key", BASE + "2024-01-01: x\n", 16, 1, "2024-01-01", "YAML reads this one as date"),
    ("yes_as_key", BASE + "yes: x\n", 16, 1, "True", "YAML reads this one as bool True: put it in quotes"),
    ("escaped_nul_in_a_tag", air('tags: ["a\\0b"]'), 17, 10, "airflow.tags.0", "a NUL character (\\0) is in the"),
    ("escaped_nul_in_a_key", air('params: {"k\\x00": 1}'), 17, 12, "airflow.params", "no metadata database stores"),
    ("tab_indentation", BASE + "airflow:\n\tdag_id: x\n", 17, 1, "", "invalid YAML"),
    ("unterminated_string", sub("path: out.jsonl", 'path: "out.jsonl'), 16, 1, "", "unexpected end of stream"),
    ("unclosed_flow", sub("path: in.jsonl", "path: [in.jsonl"), 5, 11, "", "did not find expected ',' or ']'"),
    ("bad_indentation", sub("  type: file\n  config:", "  type: file\n config:"), 3, 2, "", "invalid YAML"),
    ("two_documents", BASE + "---\nsource: {type: file}\n", 16, 1, "", "one YAML document"),
    ("document_end_then_more", BASE + "...\nsink: x\n", 17, 1, "", "expected <document start>"),
    (
        "tag_ref",
        sub("type: file\n  config:\n    path: in", "type: !Ref file\n  config:\n    path: in"),
        2,
        9,
        "source.type",
        "!Ref",
    ),
    ("tag_ref_mapping", sub("path: out.jsonl", "path: !GetAtt {a: b}"), 13, 11, "sink.config.path", "!GetAtt"),
    ("tag_binary", sub("path: in.jsonl", "path: !!binary aW4uanNvbmw="), 4, 11, "source.config.path", "!!binary"),
    (
        "tag_python",
        sub("path: in.jsonl", "path: !!python/object/apply:os.system [ls]"),
        4,
        11,
        "source.config.path",
        "!!python",
    ),
    ("tag_python_name", wf("compression: !!python/name:os.system ''"), 16, 16, "workflow.compression", "!!python"),
    ("tag_set", air("tags: !!set {a, b}"), 17, 9, "airflow.tags", "!!set"),
    ("tag_omap", air("params: !!omap [{a: 1}]"), 17, 11, "airflow.params", "!!omap"),
    ("bad_timestamp_tag", air("start_date: !!timestamp yesterday"), 17, 15, "airflow.start_date", "not a date"),
    ("impossible_date", air("start_date: 2024-02-30"), 17, 15, "airflow.start_date", "day is out of range"),
    ("bad_int_tag", wf("retention_days: !!int seven"), 16, 19, "workflow.retention_days", "invalid !!int"),
    ("list_as_key", BASE + "? [a, b]\n: 1\n", 16, 3, "", "a key must be a plain value"),
    ("mapping_as_key", BASE + "{a: 1}: x\n", 16, 1, "", "a key must be a plain value"),
    (
        "bad_merge_key",
        sub("  type: file\n  config:\n    path: in", "  <<: 3\n  type: file\n  config:\n    path: in"),
        2,
        7,
        "source",
        "merge key",
    ),
    (
        "merge_of_scalars",
        sub("  type: file\n  config:\n    path: out", "  <<: [a, b]\n  type: file\n  config:\n    path: out"),
        11,
        8,
        "sink",
        "merge key",
    ),
    ("duplicate_key", BASE + "sink:\n  type: console\n", 16, 1, "sink", "duplicate key"),
    (
        "duplicate_nested_key",
        sub("    path: in.jsonl\n", "    path: in.jsonl\n    path: again.jsonl\n"),
        5,
        5,
        "source.config.path",
        "duplicate key",
    ),
    ("billion_laughs", LAUGHS, 5, 1, "e", f"more than {MAX_NODES:,} values"),
    ("recursive_alias", air("params: &p {self: *p}"), 17, 11, "airflow.params", "nested deeper"),
    ("many_plain_values", BASE + "extra: [" + "1, " * 120_000 + "]\n", 16, 1, "extra", f"more than {MAX_NODES:,}"),
    # values left unbuilt (under a refused tag, after a too deep list) still count: the size is the first problem
    ("many_values_tagged", BASE + "extra: !x [" + "1, " * 120_000 + "]\n", 16, 1, "extra", f"more than {MAX_NODES:,}"),
    (
        "many_values_after_deep_nesting",
        BASE + "extra: [" + "[" * 150 + "]" * 150 + ", " + "1, " * 120_000 + "]\n",
        16,
        1,
        "extra",
        f"more than {MAX_NODES:,}",
    ),
    ("deep_nesting", sub("path: in.jsonl", "path: " + "[" * 150 + "]" * 150), 4, 109, "source.config", "nested deeper"),
    ("too_large", BASE + "#" * MAX_FILE_BYTES + "\n", 1, 1, "", "file too large"),
    # shapes
    ("empty_file", "", 1, 1, "", "must be a mapping"),
    ("only_comments", "# nothing\n", 1, 1, "", "must be a mapping"),
    ("json_array", "[1, 2, 3]\n", 1, 1, "", "must be a mapping"),
    ("scalar_file", "hello\n", 1, 1, "", "must be a mapping"),
    (
        "source_is_list",
        sub("source:\n  type: file\n  config:\n    path: in.jsonl\n", "source: [file]\n"),
        1,
        1,
        "source",
        "valid dictionary",
    ),
    ("source_null", sub("source:\n  type: file\n  config:\n    path: in.jsonl\n", "source:\n"), 1, 1, "source", ""),
    ("processors_mapping", sub("processors:\n  - type", "processors:\n    type"), 5, 1, "processors", "valid list"),
    ("processor_null", sub("processors:\n", "processors:\n  - null\n"), 6, 5, "processors.0", "valid dictionary"),
    ("processor_string", sub("processors:\n", "processors:\n  - filter\n"), 6, 5, "processors.0", "valid dictionary"),
    (
        "type_number",
        sub("  type: file\n  config:\n    path: out", "  type: 123\n  config:\n    path: out"),
        11,
        3,
        "sink.type",
        "valid string",
    ),
    (
        "type_null",
        sub("  type: file\n  config:\n    path: out", "  type:\n  config:\n    path: out"),
        11,
        3,
        "sink.type",
        "valid string",
    ),
    (
        "config_list",
        sub("  config:\n    path: out.jsonl", "  config: [out.jsonl]"),
        12,
        3,
        "sink.config",
        "valid dictionary",
    ),
    ("unknown_top_field", BASE + "sinks: []\n", 16, 1, "sinks", "did you mean 'sink'"),
    ("unknown_workflow_field", wf("retention: 3"), 16, 3, "workflow.retention", "unknown field"),
    ("unknown_airflow_field", air("dagid: x"), 17, 3, "airflow.dagid", "did you mean 'dag_id'"),
    (
        "unknown_component_field",
        sub("    path: out.jsonl", "    paht: out.jsonl"),
        13,
        5,
        "sink.config.paht",
        "unknown field",
    ),
    ("no_sink_or_stage", sub("sink:\n  type: file\n  config:\n    path: out.jsonl\n", ""), 1, 1, "", "needs a sink"),
    ("bulk_sink_without_stage", BASE + "bulk_sink: {type: file}\n", 16, 1, "bulk_sink", "needs a stage"),
    # numbers and enums
    ("threshold_nan", wf("success_threshold: .nan"), 16, 3, "workflow.success_threshold", "finite number"),
    ("threshold_inf", wf("success_threshold: .inf"), 16, 3, "workflow.success_threshold", "finite number"),
    ("threshold_text", wf("success_threshold: ninety"), 16, 3, "workflow.success_threshold", "valid number"),
    ("threshold_above_100", wf("success_threshold: 101"), 16, 3, "workflow.success_threshold", "less than or equal"),
    ("bad_compression", wf("compression: zip"), 16, 3, "workflow.compression", "'none' or 'gzip'"),
    ("negative_retention", wf("retention_days: -1"), 16, 3, "workflow.retention_days", "greater than or equal"),
    ("huge_retention", wf("retention_days: 99999999999999999999999999"), 16, 3, "workflow.retention_days", "less than"),
    ("negative_retries", air("retries: -1"), 17, 3, "airflow.retries", "greater than or equal"),
    ("huge_retries", air("retries: 99999999999999999999999999"), 17, 3, "airflow.retries", "less than"),
    ("retries_as_text", air("retries: two"), 17, 3, "airflow.retries", "valid integer"),
    ("bad_retry_delay", air("retry_delay: soon"), 17, 3, "airflow.retry_delay", "valid timedelta"),
    ("negative_retry_delay", air("retry_delay: -300"), 17, 3, "airflow.retry_delay", "greater than or equal"),
    ("zero_execution_timeout", air("execution_timeout: 0"), 17, 3, "airflow.execution_timeout", "greater than"),
    ("zero_max_active_runs", air("max_active_runs: 0"), 17, 3, "airflow.max_active_runs", "greater than or equal"),
    ("catchup_maybe", air("catchup: maybe"), 17, 3, "airflow.catchup", "valid boolean"),
    ("tags_string", air("tags: catalog"), 17, 3, "airflow.tags", "valid list"),
    ("tag_too_long", air(f"tags: [{'t' * 101}]"), 17, 3, "airflow.tags", "100 characters"),
    ("params_not_json", air("params: {day: 2024-01-01}"), 17, 12, "airflow.params.day", "not a valid JSON value"),
    # Airflow names
    ("dag_id_dotdot", air("dag_id: '..'"), 17, 3, "airflow.dag_id", "cannot be '..'"),
    ("dag_id_dot", air("dag_id: '.'"), 17, 3, "airflow.dag_id", "cannot be '.'"),
    ("dag_id_slash", air("dag_id: a/b"), 17, 3, "airflow.dag_id", "only letters"),
    ("dag_id_unicode", air("dag_id: katalog_\u00e9"), 17, 3, "airflow.dag_id", "only letters"),
    ("dag_id_newline", air('dag_id: "shop\\n"'), 17, 3, "airflow.dag_id", "only letters"),
    ("dag_id_too_long", air(f"dag_id: {'d' * 251}"), 17, 3, "airflow.dag_id", "at most 250"),
    ("dag_id_number", air("dag_id: 123"), 17, 3, "airflow.dag_id", "valid string"),
    (
        "task_id_dotdot",
        sub("  - type: filter\n", "  - type: filter\n    task_id: '..'\n"),
        7,
        5,
        "processors.0.task_id",
        "cannot be '..'",
    ),
    (
        "task_id_cleanup",
        sub("  - type: filter\n", "  - type: filter\n    task_id: cleanup_staging\n"),
        7,
        5,
        "processors.0.task_id",
        "cleanup task",
    ),
    (
        "task_id_space",
        sub("  - type: filter\n", "  - type: filter\n    task_id: my task\n"),
        7,
        5,
        "processors.0.task_id",
        "only letters",
    ),
    (
        "task_ids_collide",
        sub("processors:\n", "processors:\n  - type: filter\n  - type: filter\n    task_id: filter_1\n"),
        6,
        5,
        "processors.0.type",
        "task id 'filter_1' is used by 2 steps",
    ),
    # schedules and dates
    ("cron_out_of_range", air("schedule: '61 * * * *'"), 17, 3, "airflow.schedule", "invalid schedule"),
    ("cron_three_fields", air("schedule: '* * *'"), 17, 3, "airflow.schedule", "invalid schedule"),
    ("unknown_preset", air("schedule: '@fortnightly'"), 17, 3, "airflow.schedule", "invalid schedule"),
    ("cron_zero_step", air("schedule: '*/0 * * * *'"), 17, 3, "airflow.schedule", "invalid schedule"),
    ("schedule_number", air("schedule: 5"), 17, 3, "airflow.schedule", "a schedule is"),
    ("schedule_list", air("schedule: ['@daily']"), 17, 3, "airflow.schedule", "a schedule is"),
    ("zero_duration", air("schedule: P0D"), 17, 3, "airflow.schedule", "more than zero"),
    ("bad_duration", air("schedule: P1X"), 17, 3, "airflow.schedule", "invalid duration"),
    (
        "continuous_many_runs",
        air("schedule: '@continuous'\n  max_active_runs: 3"),
        18,
        3,
        "airflow.max_active_runs",
        "max_active_runs: 1",
    ),
    ("start_date_text", air("start_date: yesterday"), 17, 3, "airflow.start_date", "valid datetime"),
    ("cron_no_such_date", air("schedule: '0 0 30 2 *'"), 17, 3, "airflow.schedule", "no time of any year matches"),
    (
        "secret_in_a_key",
        air("params:\n    'postgresql://admin:hunter2@db/x': 1"),
        17,
        3,
        "airflow.params",
        "a key here is a URL or connection string carrying a secret",
    ),
    # what Airflow's metadata database cannot keep: no DAG of the folder was saved (outside review)
    ("owner_too_long", air("owner: " + "x" * 2001), 17, 3, "airflow.owner", "at most 2000 characters"),
    (
        "schedule_described_too_long",
        air("schedule: '" + " ".join(",".join(map(str, r)) for r in LISTED) + "'"),
        17,
        3,
        "airflow.schedule",
        "Airflow describes this schedule in 1,305 characters, more than the 1,000 its database keeps",
    ),
    # text an Airflow task cannot render as a Jinja template: every run of its task failed (outside review)
    (
        "jinja_comment_in_text",
        sub("include: ['shop\\..*']", "include: ['shop\\..*{#1}']"),
        9,
        19,
        "processors.0.config.fqn.include.0",
        "an Airflow task renders this text as a Jinja template, and it is none: Missing end of comment tag",
    ),
    (
        "jinja_comment_in_staging_root",
        sub("staging_root: staging", "staging_root: 'staging/{#notes'"),
        15,
        3,
        "workflow.staging_root",
        "an Airflow task renders this text as a Jinja template, and it is none: Missing end of comment tag",
    ),
    (
        "end_before_start",
        air("start_date: 2024-06-01\n  end_date: 2024-01-01T00:00:00Z"),
        18,
        3,
        "airflow.end_date",
        "end_date is before",
    ),
    # component types
    (
        "type_colon_only_class",
        sub("  - type: filter", "  - type: ':X'"),
        6,
        5,
        "processors.0.type",
        "not an import path",
    ),
    (
        "type_relative_module",
        sub("  - type: filter", "  - type: '..x:X'"),
        6,
        5,
        "processors.0.type",
        "not an import path",
    ),
    ("type_no_class", sub("  - type: filter", "  - type: 'a.b:'"), 6, 5, "processors.0.type", "not an import path"),
    ("type_digit_class", sub("  - type: filter", "  - type: 'x:1y'"), 6, 5, "processors.0.type", "not an import path"),
    ("type_two_colons", sub("  - type: filter", "  - type: 'a:b:c'"), 6, 5, "processors.0.type", "not an import path"),
    (
        "type_whitespace",
        sub("  - type: filter", "  - type: ' filter'"),
        6,
        5,
        "processors.0.type",
        "did you mean 'filter'",
    ),
    (
        "type_unicode",
        sub("  - type: filter", "  - type: '\u0444\u0438\u043b\u044c\u0442\u0440'"),
        6,
        5,
        "processors.0.type",
        "unknown processor type",
    ),
    ("type_very_long", sub("  - type: filter", f"  - type: {'x' * 5000}"), 6, 5, "processors.0.type", "..."),
    (
        "type_missing_module",
        sub("  - type: filter", "  - type: no_such_package.sub:Thing"),
        6,
        5,
        "processors.0.type",
        "ModuleNotFoundError",
    ),
    (
        "type_wrong_role",
        sub("  - type: filter", "  - type: 'json:JSONDecoder'"),
        6,
        5,
        "processors.0.type",
        "is not a processor",
    ),
    # patterns
    ("pattern_unbalanced", fqn("        include: ['(']\n"), 9, 9, "processors.0.config.fqn.include", "missing )"),
    (
        "pattern_backreference",
        fqn("        include: ['(a)\\1']\n"),
        9,
        9,
        "processors.0.config.fqn.include",
        "backreferences",
    ),
    (
        "pattern_lookahead",
        fqn("        exclude: ['(?!tmp).*']\n"),
        9,
        9,
        "processors.0.config.fqn.exclude",
        "negative lookahead",
    ),
    (
        "pattern_lookbehind",
        fqn("        include: ['.*(?<=_eu)']\n"),
        9,
        9,
        "processors.0.config.fqn.include",
        "lookbehind",
    ),
    (
        "patterns_combined_too_large",
        fqn("        include: ['\\pL{1,300}', '\\pL{1,300}']\n"),
        8,
        7,
        "processors.0.config.fqn",
        "too large",
    ),
    ("pattern_string_not_list", fqn("        include: shop\n"), 9, 9, "processors.0.config.fqn.include", "valid list"),
    # ${NAME} references
    (
        "reference_digit",
        sub("path: in.jsonl", "path: ${1X}/in.jsonl"),
        4,
        5,
        "source.config.path",
        "malformed reference",
    ),
    (
        "reference_unclosed",
        sub("path: in.jsonl", "path: ${DATA/in.jsonl"),
        4,
        5,
        "source.config.path",
        "malformed reference",
    ),
    (
        "reference_empty",
        sub("path: out.jsonl", "path: ${}/out.jsonl"),
        13,
        5,
        "sink.config.path",
        "malformed reference",
    ),
    (
        "reference_in_staging_root",
        sub("staging_root: staging", "staging_root: ${ROOT"),
        15,
        3,
        "workflow.staging_root",
        "malformed",
    ),
    ("reference_not_substituted", air("owner: ${OWNER}"), 17, 3, "airflow.owner", "substituted only in"),
]


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / f"{name}.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_the_base_file_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "base", BASE)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"


def test_the_table_is_large_and_distinct() -> None:
    assert len(MALFORMED) >= 60
    assert len({name for name, *_ in MALFORMED}) == len(MALFORMED)
    assert len({content for _, content, *_ in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize(
    ("name", "content", "line", "column", "field", "fragment"), MALFORMED, ids=[c[0] for c in MALFORMED]
)
def test_validate_refuses_with_file_line_column_and_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes,
    line: int,
    column: int,
    field: str,
    fragment: str,
) -> None:
    path = _write(tmp_path, name, content)
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    expected = f"{path}:{line}:{column}: {field + ': ' if field else ''}"
    lines = captured.err.splitlines()
    assert any(entry.startswith(expected) and fragment in entry for entry in lines), captured.err


RUN_CASES = ["not_utf8", "tag_python", "billion_laughs", "dag_id_dotdot", "type_two_colons", "pattern_lookahead"]


@pytest.mark.parametrize("name", RUN_CASES)
def test_run_refuses_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    content = next(case[1] for case in MALFORMED if case[0] == name)
    path = _write(tmp_path, name, content)
    assert main(["run", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.startswith(f"{path}:")
    assert not (tmp_path / "staging").exists()


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "bom", b"\xef\xbb\xbf" + BASE.encode())
    assert main(["validate", str(path)]) == 0


def test_merge_keys_keep_yaml_semantics(tmp_path: Path) -> None:
    """Explicit keys override merged ones, and are no duplicates of them."""
    text = BASE.replace("  config:\n    path: in.jsonl", "  config: &files {path: in.jsonl, pretty: true}")
    text = text.replace("  config:\n    path: out.jsonl", "  config:\n    <<: *files\n    path: out.jsonl")
    path = _write(tmp_path, "merged", text)
    with pytest.raises(WorkflowFileError) as raised:  # file components have no 'pretty': merged keys are checked too
        load_workflow(path)
    assert sorted(problem.field for problem in raised.value.problems) == ["sink.config.pretty", "source.config.pretty"]
    spec = load_workflow(_write(tmp_path, "merged", text.replace(", pretty: true", ""))).spec
    assert spec.sink is not None and spec.sink.config == {"path": "out.jsonl"}


def test_a_billion_laughs_is_refused_fast_and_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "laughs", LAUGHS)
    assert path.stat().st_size < 500
    started = time.process_time()  # CPU seconds: a busy machine's other work does not count
    assert main(["validate", str(path)]) == 1
    assert time.process_time() - started < 5.0  # a hang check: expanding 10**9 values would take hours
    assert "values once aliases are expanded" in capsys.readouterr().err
    tracemalloc.start()
    try:
        assert main(["validate", str(path)]) == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024


def test_staging_root_may_hold_a_well_formed_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_ROOT", raising=False)
    path = _write(tmp_path, "root", BASE.replace("staging_root: staging", "staging_root: ${INGEST_ROOT}/staging"))
    assert load_workflow(path).spec.workflow.staging_root == "${INGEST_ROOT}/staging"


def test_file_name_must_be_a_dag_id_when_none_is_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "my workflow", BASE)
    assert main(["validate", str(path)]) == 1
    assert f"{path}:1:1: airflow.dag_id: no dag_id, and the file name is not one" in capsys.readouterr().err
    named = _write(tmp_path, "my other workflow", air("dag_id: named"))
    assert main(["validate", str(named)]) == 0


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-01-01", None),
        ("2024-01-01 06:30:00", "2024-12-31"),
        ("2024-01-01T06:30:00+02:00", "2025-01-01T00:00:00Z"),
        ("2024-01-01", "2024-01-01 12:00:00"),
    ],
)
def test_dates_and_datetimes_both_build_a_dag(tmp_path: Path, start: str, end: str | None) -> None:
    from airflow_provider_ingest.airflow.factory import build_dag

    settings = f"dag_id: dated\n  start_date: {start}" + (f"\n  end_date: {end}" if end else "")
    path = _write(tmp_path, "dated", air(settings))
    spec = load_workflow(path).spec.airflow
    assert isinstance(spec.start_date, datetime.datetime)
    dag = build_dag(path)
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    if end:
        assert dag.end_date is not None and dag.end_date >= dag.start_date


@pytest.mark.parametrize("description", ["", " ", "\n\n", "One line.", "Two\nlines", "  indented\n  text"])
def test_any_description_validate_accepts_builds_a_dag(tmp_path: Path, description: str) -> None:
    from airflow_provider_ingest.airflow.factory import build_dag

    path = _write(tmp_path, "described", f"description: {json.dumps(description)}\n" + air("dag_id: described"))
    load_workflow(path)
    assert build_dag(path).dag_id == "described"


SCHEDULES = [
    None,
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
    "@midnight",
    "*/5 * * * *",
    "0 6 * * MON-FRI",
    "0 0 * * * 30",
    "0 0 L * *",
    "61 * * * *",
    "* * *",
    "@reboot",
    "@fortnightly",
    "*/0 * * * *",
    "not a cron",
    "",
    "P1D",
    "PT6H",
    "PT30M",
    "P0D",
    "P1X",
]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_validate_agrees_with_airflow_on_schedules(tmp_path: Path, schedule: str | None) -> None:
    """``validate`` (no Airflow) accepts a schedule exactly when the DAG factory (Airflow) builds its DAG."""
    from airflow_provider_ingest.airflow.factory import build_dag

    value = "null" if schedule is None else repr(schedule)
    path = _write(tmp_path, "scheduled", air(f"dag_id: scheduled\n  schedule: {value}"))
    try:
        load_workflow(path)
        validated = True
    except WorkflowFileError:
        validated = False
    try:
        build_dag(path).timetable.validate()  # as Airflow checks each DAG it bags
        built = True
    except Exception:  # a WorkflowFileError, or whatever Airflow's timetable check raises
        built = False
    if not validated:
        return  # build_dag validates first: nothing more to compare
    assert built, f"validate accepted {schedule!r}, Airflow refused it"


@pytest.mark.parametrize(
    "schedule", ["61 * * * *", "* * *", "@reboot", "@fortnightly", "*/0 * * * *", "not a cron", ""]
)
def test_schedules_airflow_refuses_are_refused_by_validate(schedule: str) -> None:
    """Airflow's own timetable check refuses these: so does validate."""
    from airflow.sdk import DAG

    with pytest.raises(Exception):  # noqa: B017 - whatever Airflow raises
        DAG(dag_id="probe", schedule=schedule, start_date=datetime.datetime(2024, 1, 1)).timetable.validate()
    from airflow_provider_ingest.workflow.spec import check_schedule

    with pytest.raises(ValueError, match="invalid schedule"):
        check_schedule(schedule)


def test_presets_are_airflows() -> None:
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS as AIRFLOW_PRESETS

    from airflow_provider_ingest.workflow.spec import CRON_PRESETS

    assert CRON_PRESETS == AIRFLOW_PRESETS


@pytest.mark.parametrize(
    "processors",
    [
        "",
        "processors:\n  - type: filter\n  - type: filter\n",
        "processors:\n  - type: filter\n    task_id: sink\n",
        "processors:\n  - type: support.components:TagTables\n  - type: filter\n    task_id: tidy\n",
    ],
)
def test_task_ids_are_the_factorys(tmp_path: Path, processors: str) -> None:
    from airflow_provider_ingest.airflow.factory import build_dag

    text = BASE.replace(
        "processors:\n  - type: filter\n    config:\n      fqn:\n        include: ['shop\\..*']\n", processors
    )
    path = _write(tmp_path, "ids", text)
    built = {task.task_id for task in build_dag(path).tasks} - {"cleanup_staging"}
    assert built == set(load_workflow(path).spec.task_ids())


def test_a_catastrophic_pattern_matches_in_linear_time() -> None:
    patterns = NamePatterns(include=["(a+)+$", "(x|xx)+y"], exclude=["(.*a){20}"])
    name = "a" * 10_000 + "!"
    started = time.process_time()  # CPU seconds: a busy machine's other work does not count
    assert not patterns.matches(name)
    assert not patterns.matches("x" * 10_000)
    assert time.process_time() - started < 5.0  # a hang check: Python's re takes longer than the age of the universe


def test_patterns_keep_whole_name_and_ignore_case_semantics() -> None:
    patterns = NamePatterns(include=["sales", "crm\\..*"], exclude=[".*_tmp"], ignore_case=True)
    assert patterns.matches("SALES")
    assert not patterns.matches("sales_eu")
    assert patterns.matches("CRM.accounts")
    assert not patterns.matches("crm.accounts_TMP")
    assert not NamePatterns(include=["sales"]).matches("SALES")
    assert compile_pattern("a.c").fullmatch("abc") is not None


def _module_raising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str) -> str:
    name = f"broken_{abs(hash(error))}"
    (tmp_path / f"{name}.py").write_text(f"raise {error}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


@pytest.mark.parametrize(
    "error", ["RuntimeError('boom')", "KeyError('x')", "SyntaxError('bad')", "ZeroDivisionError", "SystemExit(3)"]
)
def test_a_module_failing_on_import_is_an_unknown_component(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    module = _module_raising(tmp_path, monkeypatch, error)
    with pytest.raises(UnknownComponentError, match=f"cannot import '{module}:Thing'"):
        resolve("source", f"{module}:Thing")


@pytest.mark.parametrize(
    "name",
    [
        ":X",
        "..x:X",
        "a.b:",
        "x:1y",
        "a:b:c",
        " file",
        "file ",
        "fi\tle",
        "\u0444\u0430\u0439\u043b",
        "x" * 100_000,
        "a..b:C",
        "\x00:x",
        ":",
        "",
        "os.path:join",
        "a-b:C",
        "a:b.c",
    ],
)
def test_any_type_name_is_an_unknown_component(name: str) -> None:
    with pytest.raises(UnknownComponentError) as raised:
        resolve("source", name)
    assert len(str(raised.value)) < 400


def test_a_text_with_jinja_marks_is_taken_as_written_by_the_cli_run(tmp_path: Path) -> None:
    """Only an Airflow task renders settings as Jinja templates: ``airflow-ingest run`` takes a ``{#`` as written."""
    path = _write(tmp_path, "literal.yaml", sub("include: ['shop\\..*']", "include: ['shop\\..*{#1}']"))
    load_workflow(path)
    with pytest.raises(WorkflowFileError, match="Missing end of comment tag"):
        load_workflow(path, templated=True)


def test_validate_refuses_two_files_claiming_one_dag_id_as_the_factory_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _write(tmp_path, "a.yaml", air("dag_id: shop"))
    second = _write(tmp_path, "b.yaml", air("dag_id: shop"))
    assert main(["validate", str(first), str(second)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        f"{path}:17:3: airflow.dag_id: dag id 'shop' is claimed by {first}, {second}" for path in (first, second)
    ]


def test_a_secret_in_a_key_is_not_shown_in_its_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "key.yaml", air("params:\n    'postgresql://admin:hunter2@db/x': 1"))
    assert main(["validate", str(path)]) == 1
    assert "hunter2" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "expression",
    ["0 0 * * *", "*/5 * * * *", "0 0 1 * 1", "0 9-17 * * 1-5", "0 0 29 2 *", "15 3 1,15 * *", "0 0 * * MON#2"],
)
def test_a_schedule_is_described_as_airflow_describes_it(expression: str) -> None:
    """validate measures Airflow's own description of a schedule (against what its database keeps)."""
    from airflow.timetables._cron import CronMixin

    from airflow_provider_ingest.workflow.spec import _cron_description

    assert _cron_description(expression) == CronMixin(expression, "UTC").description
