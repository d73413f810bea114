"""A dags folder full of foreign and broken files: every valid workflow still becomes its DAG.

Foreign files (not meant as workflows) get no import error and no log line; each broken workflow file
gets an import error of its own, at ``file:line:column``; nothing any file does escapes the loader.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.dags import LOADER, dag_bag

from airflow_provider_ingest.airflow import factory

pytestmark = pytest.mark.airflow


def workflow(dag_id: str, extra: str = "") -> str:
    return f"""\
source:
  type: file
  config: {{path: in.jsonl}}
sink:
  type: file
  config: {{path: out/{dag_id}.jsonl}}
airflow:
  dag_id: {dag_id}
{extra}"""


VALID: dict[str, str | bytes] = {
    "good_a.yaml": workflow("good_a"),
    "good_b.yml": workflow("good_b").replace("sink:", "processors:\n  - type: support.components:TagTables\nsink:"),
    "good_c.json": json.dumps(
        {"source": {"type": "file", "config": {"path": "in.jsonl"}}, "sink": {"type": "console"}, "airflow": {}}
    ),
    "nested/deeper/good_d.yaml": workflow("good_d"),
    "good_bom.yaml": "\ufeff".encode() + workflow("good_bom").encode(),
    "good_flow.yaml": "{source: {type: file, config: {path: in.jsonl}}, sink: {type: console}}\n",
    "good_unicode.yaml": "description: Café catalog, Köln\n" + workflow("good_unicode"),
}
VALID_DAGS = ["good_a", "good_b", "good_bom", "good_c", "good_d", "good_flow", "good_unicode"]

CLOUDFORMATION = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Env: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${Env}-data"
      Tags: !If [IsProd, [{Key: source, Value: !Ref Env}], !Ref "AWS::NoValue"]
Outputs:
  Arn: {Value: !GetAtt Bucket.Arn}
"""

KUBERNETES = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
"""

FOREIGN: dict[str, str | bytes] = {
    "cloudformation.yaml": CLOUDFORMATION,
    "cloudformation.json": json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}),
    "kubernetes.yaml": KUBERNETES,
    "notes_latin1.yaml": "Notizen: Grüße aus Köln\ncafé: ouvert\n".encode("latin-1"),
    "array.json": json.dumps([{"source": "a"}, {"source": "b"}]),
    "empty.yaml": "",
    "comments.yaml": "# source: not a key, a comment\n# nothing else\n",
    "binary.yaml": bytes(range(256)) * 8,
    "scalar.yaml": "just one sentence, nothing more\n",
    "number.json": "42\n",
    "settings.yaml": "retries: 3\nsink: {type: console}\n",
    "sources_plural.yaml": "sources:\n  - orders\n  - customers\n",
    "helm_template.yaml": "image: {{ .Values.image }}\n{{- if .Values.enabled }}\nreplicas: 2\n{{- end }}\n",
    "python_tag.yaml": 'run: !!python/object/apply:os.system ["echo pwned"]\n',
    "ansible.yml": "- hosts: all\n  tasks:\n    - copy:\n        source: a\n\t  dest: b\n",
    "docker-compose.yml": "services:\n  web: {image: nginx, ports: ['80:80']}\n",
    "openapi.json": '{"openapi": "3.0.0", "paths": {',
    "datasource.json": '{"datasource": {"type": "prometheus", ',
    "utf16.yaml": "kind: notes\ntext: hello\n".encode("utf-16"),
    "list_key.yaml": "[a, b]: c\n",
    "package.json": '{"name": "x", "scripts": {}}',
}

# name: (content, line the problem is on or None where only the format is certain, text in the message)
BROKEN: dict[str, tuple[str | bytes, int | None, str]] = {
    "broken_syntax.yaml": ("source:\n  type: file\n  config: {path: [unclosed\nsink: {type: console}\n", 4, "YAML"),
    "unknown_key.yaml": (workflow("unknown_key").replace("sink:", "sinkk: {}\nsink:"), 4, "sinkk"),
    "wrong_type.yaml": (workflow("wrong_type", "  retries: many\n"), 9, "retries"),
    "bad_schedule.yaml": (workflow("bad_schedule", "  schedule: every tuesday\n"), 9, "schedule"),
    "twin_a.yaml": (workflow("twin"), 8, "claimed by"),
    "nested/twin_b.yaml": (workflow("twin"), 8, "claimed by"),
    "ref_tag.yaml": (workflow("ref_tag").replace("path: in.jsonl", "path: !Ref InputPath"), 3, "Ref"),
    "python_tag_workflow.yaml": (
        workflow("python_tag_workflow").replace("{path: in.jsonl}", '!!python/object/apply:os.system ["touch pwned"]'),
        None,
        "",
    ),
    "latin1_workflow.yaml": (("description: café\n" + workflow("latin1_workflow")).encode("latin-1"), None, ""),
    "utf16_workflow.yaml": (workflow("utf16_workflow").encode("utf-16"), None, ""),
    "two_documents.yaml": (workflow("two_documents") + "---\nsource: {type: file}\n", 9, "document"),
    "unknown_component.yaml": (workflow("unknown_component").replace("type: file", "type: nosuch", 1), 2, "nosuch"),
    "odd_type.yaml": (workflow("odd_type").replace("type: file", "type: ':X'", 1), None, ""),
    "broken.json": ('{"source": {"type": "file", "config": {"path": "in.jsonl"}},\n "sink": ', None, ""),
    "broken_flow.yaml": ("{source: {type: file, config: {path: in.jsonl}}, sink: {type: cons", None, ""),
    "duplicate_key.yaml": (workflow("duplicate_key") + "sink: {type: console}\n", 9, "duplicate"),
    "list_key_workflow.yaml": (workflow("list_key_workflow") + "[a, b]: c\n", None, ""),
    "bad_merge.yaml": ("<<: 5\n" + workflow("bad_merge"), None, ""),
    "bad_timestamp.yaml": (workflow("bad_timestamp", "  start_date: !!timestamp 2024-13-45\n"), None, ""),
    "missing_type.yaml": ("source: {}\nsink: {type: console}\n", 1, "type"),
    "bad_dag_id.yaml": (workflow("'bad id!'"), 8, "dag_id"),
    "bad_tag.yaml": (workflow("bad_tag", "  tags: [" + "t" * 150 + "]\n"), None, ""),
    "bad_asset.yaml": (
        workflow("bad_asset").replace("out/bad_asset.jsonl", "airflow://reserved/out.jsonl"),
        6,
        "reserved",
    ),
}


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "dags"
    write_files(root, {**VALID, **FOREIGN, **{name: content for name, (content, _, _) in BROKEN.items()}})
    (root / LOADER.name).write_text(LOADER.read_text())
    return root


def test_valid_workflows_load_beside_broken_and_foreign_files(
    folder: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    assert len(FOREIGN) + len(BROKEN) >= 25
    caplog.set_level(logging.DEBUG)

    bag = dag_bag(folder)

    assert sorted(bag.dags) == VALID_DAGS
    assert sorted(bag.import_errors) == sorted(str(folder / name) for name in BROKEN)
    for name, (_, line, text) in BROKEN.items():
        message = bag.import_errors[str(folder / name)]
        where = re.match(re.escape(str(folder / name)) + r":(\d+):(\d+): \S", message)
        assert where, f"{name}: {message}"
        if line is not None:
            assert int(where.group(1)) == line, f"{name}: {message}"
        assert text in message, f"{name}: {message}"
        assert "Traceback" not in message
    output = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records) + output.out + output.err
    for name in FOREIGN:
        assert name not in logged
    assert not (folder / "pwned").exists()


SECRET = "h12-pw/with@odd:chars"
VICTIM = """\
source:
  type: file
  config: {path: in.jsonl}
sink:
  type: file
  config: {path: "s3://reader:${H12_DAGS_PASSWORD}@bucket/victim.jsonl"}
"""


def _fail_for_victim(function, is_victim):
    def wrapper(*args, **kwargs):
        if is_victim(*args, **kwargs):
            raise RuntimeError(f"unexpected failure in {function.__name__}: {SECRET} / {quote(SECRET, safe='')}")
        return function(*args, **kwargs)

    return wrapper


def _mentions_victim(*args, **kwargs) -> bool:
    return "victim" in repr(args) + repr(kwargs)


@pytest.mark.filterwarnings("ignore:An Asset URI should not contain a password")
@pytest.mark.parametrize("where", ["read_document", "validate_document", "asset_uris", "operator", "dag"])
def test_an_unforeseen_exception_is_the_files_own_import_error(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_ingest.components.file import FileSink

    monkeypatch.setenv("H12_DAGS_PASSWORD", SECRET)
    root = tmp_path / "dags"
    write_files(root, {"victim.yaml": VICTIM, "good_a.yaml": workflow("good_a"), "good_b.yml": workflow("good_b")})
    (root / LOADER.name).write_text(LOADER.read_text())
    if where == "asset_uris":
        original = FileSink.asset_uris.__func__
        monkeypatch.setattr(FileSink, "asset_uris", classmethod(_fail_for_victim(original, _mentions_victim)))
    elif where == "operator":
        monkeypatch.setattr(
            factory, "IngestSinkOperator", _fail_for_victim(factory.IngestSinkOperator, _mentions_victim)
        )
    elif where == "dag":
        monkeypatch.setattr(factory, "DAG", _fail_for_victim(factory.DAG, lambda **kw: kw["dag_id"] == "victim"))
    else:
        monkeypatch.setattr(factory, where, _fail_for_victim(getattr(factory, where), _mentions_victim))

    bag = dag_bag(root)

    assert sorted(bag.dags) == ["good_a", "good_b"]
    [(file, message)] = bag.import_errors.items()
    assert file == str(root / "victim.yaml")
    assert re.match(re.escape(file) + r":\d+:\d+: (\S+: )?RuntimeError: unexpected failure in ", message), message
    if where != "read_document":  # nothing is resolved before the file is read, so nothing to hide there
        assert SECRET not in message and quote(SECRET, safe="") not in message and "*** / ***" in message


def test_the_sink_config_is_named_when_its_asset_uris_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_ingest.components.file import FileSink

    def broken(cls, config):
        raise RuntimeError(f"cannot tell the asset of {config.path}")

    monkeypatch.setenv("H12_DAGS_PASSWORD", SECRET)
    monkeypatch.setattr(FileSink, "asset_uris", classmethod(broken))
    root = tmp_path / "dags"
    write_files(root, {"victim.yaml": VICTIM, "good_c.json": VALID["good_c.json"]})
    (root / LOADER.name).write_text(LOADER.read_text())

    bag = dag_bag(root)

    assert sorted(bag.dags) == ["good_c"]  # console sink: no asset, so untouched
    file = str(root / "victim.yaml")
    assert bag.import_errors == {
        file: f"{file}:6:3: sink.config: RuntimeError: cannot tell the asset of s3://reader:***@bucket/victim.jsonl"
    }


MUTATION_BASE = (workflow("mutant") + "processors:\n  - type: support.components:TagTables\n").encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(MUTATION_BASE)),
            st.integers(0, 6),
            st.binary(max_size=6) | st.sampled_from([b"!Ref ", b"\n---\n", b"[", b"{", b"&a ", b"*a", b"\xe9", b"\t"]),
        ),
        max_size=4,
    ),
    suffix=st.sampled_from([".yaml", ".yml", ".json"]),
)
def test_a_mutated_workflow_never_escapes_the_loader(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, edits, suffix: str
) -> None:
    data = MUTATION_BASE
    for at, length, insert in edits:
        data = data[:at] + insert + data[at + length :]
    root = tmp_path_factory.mktemp("dags")
    (root / f"mutant{suffix}").write_bytes(data)
    (root / f"steady{suffix}").write_text(workflow("steady"))
    reported = []
    monkeypatch.setattr(factory, "_report", reported.extend)

    dags = factory.load_workflow_dags({}, root)

    mutant = root / f"mutant{suffix}"
    clash = any("claimed by" in problem.message for problem in reported)  # the mutant's dag id became steady
    assert "steady" in dags or clash
    assert {problem.file for problem in reported} <= {str(mutant), str(root / f"steady{suffix}")}
    built = set(dags) - {"steady"}  # the mutant's DAG, under whatever dag id it now has
    if any(problem.file == str(mutant) for problem in reported):
        assert not built
        assert all(problem.line >= 1 and problem.column >= 1 for problem in reported)
    elif not built:  # neither built nor reported: it is no workflow, so left alone
        assert factory._read_workflow(mutant) is None


@pytest.mark.parametrize(
    ("content", "meant"),
    [
        (b"source:\n  type: [broken\n", True),
        (b"# notes\nsink: {}\nsource: {type: file\n", True),
        (b'"source": {type: file\n', True),
        (b"--- source: [\n", True),
        (b'{"sink": {}, "source": {"type": "file"', True),
        (b"{source: {type: file", True),
        ("source: café\n".encode("latin-1"), True),
        ("source: [\n".encode("utf-16"), True),
        (b"\xef\xbb\xbfsource: [\n", True),
        (b"sources: [\n", False),
        (b"  source: [\n", False),
        (b"source:x [\n", False),
        (b"# source: [\n", False),
        (b'{"datasource": {', False),
        (b'{"my source": {', False),
        (b'[{"source": 1},', False),
        (b"source: x\n\x00\x01binary", False),
    ],
)
def test_a_file_that_does_not_parse_is_a_workflow_only_with_a_top_level_source_key(
    tmp_path: Path, content: bytes, meant: bool
) -> None:
    path = tmp_path / "file.yaml"
    path.write_bytes(content)
    assert factory.looks_like_workflow(path) is meant


def test_an_editors_lock_link_to_nothing_is_no_workflow_file(tmp_path: Path) -> None:
    """Emacs keeps ``.#flow.yaml`` linking to nothing while ``flow.yaml`` is edited: it was an import error
    (``cannot read: No such file or directory``). A folder named like a workflow file is none either."""
    (tmp_path / ".#flow.yaml").symlink_to("root@host.12345:1700000000")
    (tmp_path / "folder.yaml").mkdir()
    assert not factory.looks_like_workflow(tmp_path / ".#flow.yaml")
    assert not factory.looks_like_workflow(tmp_path / "folder.yaml")
    assert factory._read_workflow(tmp_path / ".#flow.yaml") is None


# --- from an outside review ---------------------------------------------------------------------------------------

SAMPLE_FLOW = "source: {type: sql, config: {sample: shop}}\nsink: {type: console}\n"


def test_dag_ids_that_differ_only_in_punctuation_each_become_a_dag(tmp_path: Path) -> None:
    """``shop.a``, ``shop-a`` and ``shop_a`` are three dag ids: each DAG had the same name in the loader's namespace
    (``dag_shop_a``), and only the last stayed, with no error."""
    (tmp_path / LOADER.name).write_text(LOADER.read_text())
    (tmp_path / "one.yaml").write_text(SAMPLE_FLOW + "airflow: {dag_id: shop.a}\n")
    (tmp_path / "two.yaml").write_text(SAMPLE_FLOW + "airflow: {dag_id: shop-a}\n")
    (tmp_path / "shop_a.yaml").write_text(SAMPLE_FLOW)

    bag = dag_bag(tmp_path)

    assert bag.import_errors == {}
    assert {"shop.a", "shop-a", "shop_a"} <= set(bag.dags)


def test_a_pipe_named_like_a_workflow_is_no_workflow_and_stalls_nothing(tmp_path: Path) -> None:
    """Reading a pipe waits for a writer: the loader waited, the DAG processor timed out on the loader file and
    every DAG of the folder was lost."""
    import os
    import threading

    (tmp_path / LOADER.name).write_text(LOADER.read_text())
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "good.yaml").write_text(SAMPLE_FLOW)
    loaded: list[object] = []
    worker = threading.Thread(target=lambda: loaded.append(dag_bag(tmp_path)), daemon=True)
    worker.start()
    worker.join(20)
    stalled = worker.is_alive()
    if stalled:  # let the blocked reader go, so that the session can end
        with open(tmp_path / "pipe.yaml", "wb"):
            pass
        worker.join(60)
    assert not stalled, "the loader waits for a writer to the pipe"
    assert set(loaded[0].dags) >= {"good"} and loaded[0].import_errors == {}


def test_an_import_error_shows_a_files_first_problems_and_counts_the_rest(tmp_path: Path) -> None:
    """Airflow rewrites a file's import error on every parse: one of 30,000 problems (duplicate keys, unknown fields)
    was megabytes. The first 100 are shown; ``validate`` lists every one."""
    root = tmp_path / "dags"
    root.mkdir()
    (root / LOADER.name).write_text(LOADER.read_text())
    unknown = "".join(f"  unknown_{number}: 1\n" for number in range(300))
    (root / "many.yaml").write_text(
        "source:\n  type: file\n  config: {path: in.jsonl}\nsink: {type: console}\n" + "airflow:\n" + unknown
    )
    message = dag_bag(root).import_errors[str(root / "many.yaml")]
    lines = message.splitlines()
    assert len(lines) == 101 and all("airflow.unknown_" in line for line in lines[:100])
    assert lines[-1] == f"... and 200 more problems: airflow-ingest validate {root / 'many.yaml'} lists every one"


def test_a_workflow_file_and_a_link_to_it_are_one_dag(tmp_path: Path) -> None:
    """A link in the dags folder to a workflow file of it is that file (as ``validate`` reads them): both claimed the
    file's dag id, and no DAG was built."""
    root = tmp_path / "dags"
    root.mkdir()
    (root / LOADER.name).write_text(LOADER.read_text())
    (root / "shop.yaml").write_text(
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\nairflow: {dag_id: shop}\n"
    )
    (root / "shop_link.yaml").symlink_to(root / "shop.yaml")
    bag = dag_bag(root)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["shop"]
