"""Property-based tests: valid workflow files, mutated at random, are either valid or refused with problems.

Whatever the mutation (bytes flipped, deleted or inserted, YAML syntax inserted, random values put into
any field), ``validate`` returns a workflow or raises :class:`WorkflowFileError`, and the CLI never prints a
traceback: it exits 0, or 1 with every line a ``file:line:column:`` problem. The shortcuts a file's text allows
(no secret or reference looked for where the text has none, a document with nothing to report built plainly,
its values counted while built) change no outcome.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.secrets import SECRET_NAME
from airflow_provider_ingest.workflow import document, loader
from airflow_provider_ingest.workflow.document import Document, WorkflowFileError
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, load_workflow

NATIVE = """\
description: Catalog of the shop database.
source:
  type: sql
  config:
    url: ${SHOP_DB_URL}
    service_name: shop
    schema_filter: {include: ["sales", "crm"], ignore_case: true}
    table_filter:
      exclude: [".*_tmp"]
processors:
  - type: filter
    task_id: keep_tables
    config:
      kinds: [database, database_schema, table]
      fqn: {exclude: [".*\\\\.tmp_.*"]}
      columns: {exclude: [".*\\\\.password"]}
  - type: pii
sink:
  type: console
stage:
  type: file
bulk_sink:
  type: file
  config: {path: out.jsonl}
workflow:
  success_threshold: 95
  staging_root: ${INGEST_ROOT}/staging
  compression: gzip
  retention_days: 7
airflow:
  dag_id: shop_catalog
  schedule: "0 6 * * *"
  start_date: 2024-01-01
  end_date: 2030-01-01T00:00:00Z
  tags: [catalog]
  retries: 2
  retry_delay: 600
  max_active_runs: 1
  params: {full: true}
"""

OPENMETADATA = """\
source:
  type: postgres
  serviceName: local_pg
  serviceConnection:
    config:
      type: Postgres
      username: ingest
      authType:
        password: ${PG_PASSWORD}
      hostPort: db.example.com:5432
      database: sales
  sourceConfig:
    config:
      type: DatabaseMetadata
      schemaFilterPattern:
        includes: ["public", "crm"]
        excludes: ["tmp_.*"]
sink:
  type: metadata-rest
  config: {}
workflowConfig:
  openMetadataServerConfig:
    hostPort: https://om.example.com/api
    authProvider: openmetadata
    securityConfig:
      jwtToken: ${OM_JWT_TOKEN}
"""

PLAIN = """\
source:
  type: file
  config: {path: in.jsonl}
processors:
  - type: filter
    config: {kinds: [table]}
sink:
  type: file
  config: {path: out.jsonl}
workflow: {staging_root: staging}
airflow: {dag_id: plain, schedule: "@daily"}
"""
"""A file whose text names no secret and holds no reference: the loader's shortcuts apply to it."""

SEEDS = [NATIVE.encode(), OPENMETADATA.encode(), PLAIN.encode()]

SYNTAX = [
    ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a", "<<: 3", "? ", "|\n", ">\n", "'", '"', "\t", "\n",
    "  ", "#", "---\n", "...\n", "%YAML 1.1\n", "!Ref ", "!!binary ", "!!python/name:os.system ", "!!timestamp ",
    "!!set ", "~", "null", ".nan", "-.inf", "0x", "1e999", "${", "${1X}", "${}", "}", "\\", "\x00", "\x07", "\ufeff",
    "\u2028", "é", "..", "/", ":x", "a:b:c",
]  # fmt: skip

PATHS = [
    ("source",), ("source", "type"), ("source", "config"), ("source", "config", "url"),
    ("source", "config", "schema_filter", "include"), ("processors",), ("processors", 0), ("processors", 0, "type"),
    ("processors", 0, "task_id"), ("processors", 0, "config", "fqn", "exclude", 0), ("processors", 1, "config"),
    ("sink",), ("stage", "type"), ("bulk_sink", "config", "path"), ("workflow", "success_threshold"),
    ("workflow", "staging_root"), ("workflow", "compression"), ("workflow", "retention_days"), ("airflow",),
    ("airflow", "dag_id"), ("airflow", "schedule"), ("airflow", "start_date"), ("airflow", "end_date"),
    ("airflow", "tags"), ("airflow", "retries"), ("airflow", "retry_delay"), ("airflow", "execution_timeout"),
    ("airflow", "max_active_runs"), ("airflow", "params"), ("airflow", "pool"), ("description",), ("extra",),
]  # fmt: skip

ODD_STRINGS = [
    "..", ".", "a/b", "@daily", "* * *", "61 * * * *", "P1D", "P0D", "(a+)+$", "(?=x)", "${1X}", "${X", "x:1y", ":X",
    "filter", "file", "2024-02-30", "-1", "1e999",
]  # fmt: skip
ODD_STRINGS = [
    "..", ".", "a/b", "@daily", "* * *", "61 * * * *", "P1D", "P0D", "(a+)+$", "(?=x)", "${1X}", "${X", "x:1y", ":X",
    "filter", "file", "2024-02-30", "-1", "1e999",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(ODD_STRINGS),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, datetime.timezone.utc])),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=max(len(content) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "delete", "insert_bytes", "insert_syntax"]))
        if kind == "flip" and content:
            content[position] = draw(st.integers(min_value=32, max_value=126) | st.integers(min_value=0, max_value=255))
        elif kind == "delete":
            del content[position : position + draw(st.integers(min_value=1, max_value=40))]
        elif kind == "insert_bytes":
            inserted = draw(st.text(min_size=1, max_size=8).map(_utf8) | st.binary(min_size=1, max_size=8))
            content[position:position] = inserted
        else:
            content[position:position] = draw(st.sampled_from(SYNTAX)).encode()
    return bytes(content)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _paths(value: Any, location: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every location in a value: each key and each list item, nested."""
    found = [location] if location else []
    if isinstance(value, dict):
        return found + [path for key, item in value.items() for path in _paths(item, (*location, key))]
    if isinstance(value, list):
        return found + [path for index, item in enumerate(value) for path in _paths(item, (*location, index))]
    return found


@st.composite
def value_mutations(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from([NATIVE, OPENMETADATA]))
    data: dict[str, Any] = yaml.safe_load(seed)
    paths = _paths(data) + (PATHS if seed is NATIVE else [])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        _put(data, draw(st.sampled_from(paths)), draw(VALUES))
    return yaml.safe_dump(data, allow_unicode=draw(st.booleans())).encode("utf-8", "surrogatepass")


def _put(data: Any, path: tuple[str | int, ...], value: Any) -> None:
    """Set ``value`` at ``path``, creating mappings on the way; a path through a non-container is left alone."""
    target = data
    for part in path[:-1]:
        if isinstance(target, dict):
            target = target.setdefault(part, {})
        elif isinstance(target, list) and isinstance(part, int) and part < len(target):
            target = target[part]
        else:
            return
    last = path[-1]
    if isinstance(target, dict) or (isinstance(target, list) and isinstance(last, int) and last < len(target)):
        target[last] = value


MUTATED = st.one_of(byte_mutations(), value_mutations())
PROPERTY = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def test_the_seeds_are_valid(tmp_path: Path) -> None:
    for index, seed in enumerate(SEEDS):
        path = tmp_path / f"seed{index}.yaml"
        path.write_bytes(seed)
        assert isinstance(load_workflow(path), LoadedWorkflow)


@PROPERTY
@given(content=MUTATED)
def test_validate_returns_a_workflow_or_raises_workflow_file_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(content)
    try:
        workflow = load_workflow(path)
    except WorkflowFileError as error:
        assert error.problems
        assert all(
            problem.file == str(path) and problem.line >= 1 and problem.column >= 1 for problem in error.problems
        )
    else:
        assert isinstance(workflow, LoadedWorkflow)


@PROPERTY
@given(content=MUTATED)
def test_the_cli_never_prints_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(content)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code in (0, 1)
    if code == 1:
        problem = re.compile(re.escape(str(path)) + r":\d+:\d+: ")
        first_lines = [line for line in captured.err.splitlines() if line.startswith(str(path))]
        assert first_lines and all(problem.match(line) for line in first_lines), captured.err
    else:
        assert captured.out == f"{path}: ok\n"


AIRFLOW_SETTINGS = {
    "schedule": st.sampled_from([None, "@daily", "@once", "@continuous", "P1D", "PT5M", "0 0 * * * 0", "0 0 L * *"]),
    "start_date": st.dates() | st.datetimes(timezones=st.sampled_from([None, datetime.timezone.utc])),
    "end_date": st.none() | st.dates() | st.datetimes(timezones=st.sampled_from([None, datetime.timezone.utc])),
    "retries": st.integers(min_value=-2, max_value=2000),
    "retry_delay": st.integers(min_value=-5, max_value=10**8),
    "execution_timeout": st.none() | st.integers(min_value=-5, max_value=10**8),
    "max_active_runs": st.integers(min_value=0, max_value=20_000),
    "tags": st.lists(st.text(max_size=120), max_size=3),
    "params": st.dictionaries(st.text(max_size=5), VALUES, max_size=3),
    "catchup": st.booleans(),
    "owner": st.text(max_size=10),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    airflow=st.fixed_dictionaries({}, optional={key: value | VALUES for key, value in AIRFLOW_SETTINGS.items()}),
    description=st.none() | st.text(max_size=20),
)
def test_what_validate_accepts_the_dag_factory_builds(
    tmp_path: Path, airflow: dict[str, Any], description: str | None
) -> None:
    from airflow_provider_ingest.airflow.factory import build_dag

    data = yaml.safe_load(NATIVE)
    data["description"] = description
    data["airflow"] = {"dag_id": "probe", **airflow}
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_workflow(path)
    except WorkflowFileError:
        return
    assert build_dag(path).dag_id == "probe"


PLAIN_KEYS = ["url", "path", "owner", "staging_root", "note"]
SECRET_KEYS = ["password", "api_key", "jwtToken", "x_sig", "Credentials", "pa\u017f\u017fword", "api_\u212aey"]
PLAIN_VALUES = [
    "postgresql://me:pw@db/shop", "mysql://u:p@h/db", "postgresql://me@db/shop", "s3://conn@bucket/x", "a@b", 5,
]  # fmt: skip
REFERENCES = ["${", "${1X}", "${PW}", "postgresql://me:${PW}@db/shop", "s3://${BUCKET}/x"]
SECRET_VALUES = ["host=db password=pw", "host=db password=${PW}", "https://h/x?token=abc&b=1", "sig", "hunter2"]
SECRET_PLACES = [
    ("source", "config"), ("sink", "config"), ("processors", 0, "config"), ("workflow",), ("airflow", "params"),
    ("airflow",), (),
]  # fmt: skip


@st.composite
def secret_mutations(draw: st.DrawFn) -> bytes:
    """The plain seed with secret-like keys and values put in, written as YAML or JSON, with or without escapes."""
    data: dict[str, Any] = yaml.safe_load(PLAIN)
    keys = st.sampled_from(PLAIN_KEYS) | st.sampled_from(SECRET_KEYS)
    values = st.sampled_from(PLAIN_VALUES) | st.sampled_from(REFERENCES) | st.sampled_from(SECRET_VALUES)
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        _put(data, (*draw(st.sampled_from(SECRET_PLACES)), draw(keys)), draw(values))
    form = draw(st.sampled_from(["yaml", "yaml_escaped", "json", "json_escaped"]))
    if form.startswith("yaml"):
        text = yaml.safe_dump(data, allow_unicode=form == "yaml", default_style=None if form == "yaml" else '"')
    else:
        text = json.dumps(data, default=str, ensure_ascii=form == "json_escaped")
    return text.encode("utf-8")


def _outcome(path: Path) -> tuple[Any, ...]:
    try:
        workflow = load_workflow(path)
    except WorkflowFileError as error:
        return ("refused", str(error))
    return ("valid", workflow.spec.model_dump(), [str(warning) for warning in workflow.warnings])


@pytest.mark.parametrize("files", [MUTATED, secret_mutations()], ids=["mutated", "secrets"])
@PROPERTY
@given(data=st.data())
def test_looking_at_the_text_first_changes_no_outcome(tmp_path: Path, files: Any, data: st.DataObject) -> None:
    content = data.draw(files)
    path = tmp_path / "wf.yaml"
    path.write_bytes(content)
    quick = _outcome(path)
    with pytest.MonkeyPatch.context() as patch:  # every secret and reference check made, whatever the text
        patch.setattr(Document, "may_hold", lambda self, written: True)
        patch.setattr(loader, "_may_hold_secrets", lambda document: True)
        assert _outcome(path) == quick


NAME_PARTS = [
    "pass", "word", "wd", "pwd", "phrase", "secret", "token", "credential", "s", "authorization", "signature", "sig",
    "api", "private", "access", "key", "_", "-", "x", "Pass", "KEY", "Sig", "ssl", "jwt", "Token", "de",
]  # fmt: skip


@PROPERTY
@given(name=st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=5).map("".join))
def test_every_secret_name_holds_a_secret_word(name: str) -> None:
    if re.search(SECRET_NAME, name, re.IGNORECASE):
        assert any(word in name.lower() for word in loader.SECRET_WORDS)


@PROPERTY
@given(content=MUTATED)
def test_the_plain_build_is_the_detailed_one(content: bytes) -> None:
    """A document the plain builder builds (nothing to report) has the data and size the detailed build gives."""
    try:
        root = yaml.compose(content.decode("utf-8"), Loader=document._Loader)
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return
    if root is None or document._expanded_size(root) > document.MAX_NODES:
        return
    plain = document._PlainBuilder()
    try:
        data = plain.build(root, 0)
    except document._Irregular:
        return
    detailed = document._Builder("wf.yaml")
    assert repr(detailed.build(root, (), 0)) == repr(data) and not detailed.problems  # repr: NaN equals itself
    assert plain.built == detailed.built == document._expanded_size(root)


def _shape(node: yaml.Node) -> Any:
    """A node graph as nested tuples: kind, tag, and value or children, with where each node is written."""
    where = (node.start_mark.index, node.end_mark.index, node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, where)
    if isinstance(node, yaml.SequenceNode):
        return ("list", node.tag, [_shape(item) for item in node.value], where)
    return ("map", node.tag, [(_shape(key), _shape(value)) for key, value in node.value], where)


SCALAR_TEXTS = st.one_of(
    st.sampled_from([*ODD_STRINGS, "yes", "yesterday", "No", "Nov", "on", "one", "~", "null", "nullable", "", "0o17",
                     "0x1F", "0x1G", "1_000", ".inf", ".info", "-.Inf", "=", "==", "<<", "<<<", "2024-01-01",
                     "2024-01-01 10:00:00", "2024-01-01x", "1e3", "1e3x", "+1", "0b101", "12:30:00", "190:20:30"]),
    st.text(max_size=12),
)  # fmt: skip


@PROPERTY
@given(content=MUTATED, scalars=st.lists(SCALAR_TEXTS, max_size=6))
def test_the_loader_composes_what_pyyamls_safe_loader_composes(content: bytes, scalars: list[str]) -> None:
    texts = [content.decode("utf-8", "replace"), yaml.safe_dump(scalars), "\n".join(f"- {s}" for s in scalars)]
    for text in texts:
        try:
            expected = yaml.compose(text, Loader=document._SafeLoader)
        except yaml.YAMLError:
            continue
        for _ in range(2):  # the second time, with the tags it remembers
            actual = yaml.compose(text, Loader=document._Loader)
            assert (expected is None and actual is None) or _shape(actual) == _shape(expected)


def test_the_loader_remembers_few_short_values() -> None:
    yaml.compose("".join(f"- v{i}\n" for i in range(5000)) + "- " + "x" * 65 + "\n", Loader=document._Loader)
    assert len(document._Loader._plain_tags) == 4096 and "x" * 65 not in document._Loader._plain_tags


@pytest.mark.parametrize(
    "text",
    [
        "a: {<<: {x: 1, y: [1, 2]}, z: 3}\n",
        "a: {<<: [{x: 1}, {y: [2, {q: 3}]}], z: 3}\n",
        "<<: {source: {type: file}}\nsink: {type: console}\n",
        "? a\n: [1, [2, [3]]]\n",
        "- [a, {b: c}]\n- ~\n",
    ],
)
def test_merges_and_lists_are_counted_while_built(text: str) -> None:
    root = yaml.compose(text, Loader=document._Loader)
    builder = document._Builder("wf.yaml")
    builder.build(root, (), 0)
    assert builder.built == document._expanded_size(root)
