"""The DAG factory under Airflow's DagBag: good workflow files become DAGs, bad ones import errors."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.dags import LOADER, dag_bag

pytestmark = pytest.mark.airflow

CATALOG = """\
description: |
  Catalog copy.

  Tags every table on the way.
source:
  type: file
  config: {path: /data/in.jsonl}
processors:
  - type: support.components:TagTables
sink:
  type: file
  config: {path: /data/out.jsonl}
stage: {type: file}
bulk_sink:
  type: file
  config: {path: /data/published.jsonl}
airflow:
  schedule: "30 2 * * *"
  start_date: 2025-03-01
  tags: [catalog, h4]
  owner: data-team
  retries: 4
  retry_delay: 90
  max_active_runs: 3
  params: {tables: 10}
"""

NESTED = """\
source:
  type: file
  config: {path: in.jsonl}
processors:
  - type: support.components:TagTables
  - type: support.components:TagTables
    config: {tag: Test.Again}
  - type: support.components:TagTables
    task_id: last_tag
sink:
  type: file
  config: {path: out.jsonl}
airflow:
  dag_id: nested_custom
"""

MINIMAL = """\
source:
  type: file
  config: {path: in.jsonl}
sink:
  type: console
airflow:
  dag_id: DAG_ID
"""

NOT_WORKFLOWS = {
    "settings.yaml": "retries: 3\nsink: {type: console}\n",
    "list.yml": "- source\n- sink\n",
    "empty.yaml": "",
    "package.json": '{"name": "x", "scripts": {}}',
}

BAD = {
    "broken_syntax.yaml": "source:\n  type: file\n  config: {path: [unclosed\nsink: {type: console}\n",
    "unknown_key.yaml": MINIMAL.replace("sink:", "sinkk: {}\nsink:"),
    "wrong_type.yaml": MINIMAL.replace("dag_id: DAG_ID", "retries: many"),
    "bad_schedule.yaml": MINIMAL.replace("dag_id: DAG_ID", "schedule: every tuesday"),
    "twin_a.yaml": MINIMAL.replace("DAG_ID", "twin"),
    "nested/twin_b.yaml": MINIMAL.replace("DAG_ID", "twin"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A dags folder: the loader, good, bad, ignored and non-workflow files, some nested."""
    root = tmp_path / "dags"
    files = {
        "catalog.yaml": CATALOG,
        "nested/deeper/nested_flow.yml": NESTED,
        "ignored/ignored_flow.yaml": MINIMAL.replace("DAG_ID", "ignored_flow"),
        "ignored_too.yaml": "source: [broken\n",
        ".airflowignore": "ignored/\nignored_too.yaml\n",
        **NOT_WORKFLOWS,
        **BAD,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / LOADER.name).write_text(LOADER.read_text())
    return root


def test_good_files_become_dags_and_bad_ones_import_errors(folder: Path) -> None:
    bag = dag_bag(folder)

    assert sorted(bag.dags) == ["catalog", "nested_custom"]
    twins = f"dag id 'twin' is claimed by {folder}/nested/twin_b.yaml, {folder}/twin_a.yaml"
    assert bag.import_errors == {
        f"{folder}/bad_schedule.yaml": f"{folder}/bad_schedule.yaml:7:3: airflow.schedule: invalid schedule "
        "'every tuesday': Exactly 5, 6 or 7 columns has to be specified for iterator expression. (a cron "
        "expression, one of @hourly, @daily, @weekly, @monthly, @quarterly, @yearly, @once, @continuous, or null)",
        f"{folder}/broken_syntax.yaml": f"{folder}/broken_syntax.yaml:4:5: invalid YAML: while parsing a flow "
        "sequence did not find expected ',' or ']'",
        f"{folder}/nested/twin_b.yaml": f"{folder}/nested/twin_b.yaml:7:3: airflow.dag_id: {twins}",
        f"{folder}/twin_a.yaml": f"{folder}/twin_a.yaml:7:3: airflow.dag_id: {twins}",
        f"{folder}/unknown_key.yaml": f"{folder}/unknown_key.yaml:4:1: sinkk: unknown field 'sinkk'; "
        "did you mean 'sink'?",
        f"{folder}/wrong_type.yaml": f"{folder}/wrong_type.yaml:7:3: airflow.retries: Input should be a valid "
        "integer, unable to parse string as an integer",
    }


def test_dag_settings_come_from_the_airflow_section(folder: Path) -> None:
    dag = dag_bag(folder).dags["catalog"]

    assert dag.schedule == "30 2 * * *"
    assert dag.start_date == datetime.datetime(2025, 3, 1, tzinfo=datetime.timezone.utc)
    assert dag.catchup is False
    assert dag.tags == {"catalog", "h4"}
    assert dag.owner == "data-team"
    assert dag.max_active_runs == 3
    assert dict(dag.params) == {"tables": 10}
    assert (
        dag.doc_md
        == f"Catalog copy.\n\nTags every table on the way.\n\nWorkflow file `{folder}/catalog.yaml`:\n\n"
        + (f"```yaml\n{CATALOG}```\n")
    )
    assert dag.description == "Catalog copy."
    assert dag.fileloc == str(folder / LOADER.name)
    for task in dag.tasks:
        assert task.owner == "data-team"
        assert task.retries == (0 if task.task_id == "cleanup_staging" else 4)
        assert task.retry_delay == datetime.timedelta(seconds=90)


def test_graph_is_one_task_per_stage_with_asset_outlets(folder: Path) -> None:
    bag = dag_bag(folder)
    dag = bag.dags["catalog"]

    edges = {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks}
    assert edges == {
        "source": ["tagtables"],
        "tagtables": ["sink", "stage"],
        "sink": ["cleanup_staging", "stage"],  # a failed sink stages and publishes nothing
        "stage": ["bulk_sink", "cleanup_staging"],
        "bulk_sink": ["cleanup_staging"],
        "cleanup_staging": [],
    }
    assert {task.task_id: [asset.uri for asset in task.outlets] for task in dag.tasks if task.outlets} == {
        "sink": ["file:///data/out.jsonl"],
        "bulk_sink": ["file:///data/published.jsonl"],
    }
    assert [type(task).__name__ for task in dag.tasks] == [
        "IngestSourceOperator",
        "IngestProcessorOperator",
        "IngestSinkOperator",
        "IngestStageOperator",
        "IngestBulkSinkOperator",
        "IngestCleanupOperator",
    ]
    cleanup = dag.get_task("cleanup_staging")
    assert cleanup.is_teardown and cleanup.trigger_rule == "all_done_setup_success"

    nested = bag.dags["nested_custom"]
    assert {task.task_id: sorted(task.downstream_task_ids) for task in nested.tasks} == {
        "source": ["tagtables_1"],
        "tagtables_1": ["tagtables_2"],
        "tagtables_2": ["last_tag"],
        "last_tag": ["sink"],
        "sink": ["cleanup_staging"],
        "cleanup_staging": [],
    }
    assert nested.get_task("tagtables_2").config == {"tag": "Test.Again"}
    assert nested.get_task("sink").config == {"path": "out.jsonl"}
    assert nested.get_task("sink").workflow_dir == str(folder / "nested" / "deeper")


def test_a_running_task_builds_only_its_own_dag(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "nested_custom")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "sink")

    bag = dag_bag(folder)

    assert sorted(bag.dags) == ["nested_custom"]
    assert bag.import_errors == {}


def test_a_folder_without_problems_has_no_import_error(folder: Path) -> None:
    for name in BAD:
        (folder / name).unlink()

    bag = dag_bag(folder)

    assert sorted(bag.dags) == ["catalog", "nested_custom"]
    assert bag.import_errors == {}


def test_an_asset_never_holds_a_secret_its_settings_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sink's path holding a ``${VAR}`` where a secret goes (a signature parameter, a URL's password): the Asset,
    stored in the metadata database and shown in the UI, names it hidden (it held the value). A templated path
    declares none (its Asset was the template's text)."""
    monkeypatch.setenv("SINK_SECRET", "EnvS3cretPw99")
    root = tmp_path / "dags"
    root.mkdir()
    (root / LOADER.name).write_text(LOADER.read_text())
    for name, path in (("signed", "https://files.example.com/out.jsonl?sig=${SINK_SECRET}"),
                       ("userinfo", "s3://aws_conn:${SINK_SECRET}@bucket/out.jsonl"),
                       ("templated", "out/{{ ds }}/catalog.jsonl")):  # fmt: skip
        (root / f"{name}.yaml").write_text(f"source: {{type: sql, config: {{sample: shop}}}}\n"
                                           f"sink: {{type: file, config: {{path: '{path}'}}}}\n")  # fmt: skip
    bag = dag_bag(root)
    assert sorted(bag.dags) == ["signed", "templated", "userinfo"] and bag.import_errors == {}
    assert bag.dags["templated"].get_task("sink").outlets == []  # each run renders the path: no fixed Asset
    outlets = [asset for dag in bag.dags.values() for asset in dag.get_task("sink").outlets]
    assert sorted(asset.name for asset in outlets) == [
        "https://files.example.com/out.jsonl?sig=***",
        "s3://aws_conn:***@bucket/out.jsonl",
    ]
    assert not [asset for asset in outlets if "EnvS3cretPw99" in asset.name + asset.uri]


HEAVY = """\
source:
  type: sql
  config: {conn_id: h4_never_resolved}
processors:
  - type: support.components:TagTables
sink:
  type: elasticsearch
  config: {hosts: ["http://127.0.0.1:9"]}
stage: {type: file}
bulk_sink:
  type: openmetadata
  config: {server_url: "http://127.0.0.1:9/api", jwt_token: "${H4_UNSET_TOKEN}"}
"""

PROBE = """\
import json, socket, sys
import yaml
import airflow.settings, requests, sqlalchemy, sqlalchemy.engine

calls = {"engines": 0, "sessions": 0, "connects": [], "loaders": set()}
real_session_init = requests.Session.__init__
real_create_engine, real_connect, real_compose = sqlalchemy.create_engine, socket.socket.connect, yaml.compose

def create_engine(*args, **kwargs):
    calls["engines"] += 1
    return real_create_engine(*args, **kwargs)

def session_init(self, *args, **kwargs):
    calls["sessions"] += 1
    real_session_init(self, *args, **kwargs)

def connect(self, address):
    calls["connects"].append(str(address))
    return real_connect(self, address)

def compose(stream, Loader):  # PyYAML's loader underneath (the factory's own may add to it)
    calls["loaders"].add(next(base.__name__ for base in Loader.__mro__ if base.__module__.startswith("yaml.")))
    return real_compose(stream, Loader)

sqlalchemy.create_engine = sqlalchemy.engine.create_engine = create_engine
requests.Session.__init__ = session_init
socket.socket.connect = connect
yaml.compose = compose

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(sys.argv[1])
heavy = ("elasticsearch", "elastic_transport", "psycopg2", "pymysql")
print(json.dumps({
    "dags": sorted(bag.dags),
    "errors": list(bag.import_errors),
    "loaded": sorted(name for name in heavy if name in sys.modules),
    "engines": calls["engines"],
    "sessions": calls["sessions"],
    "connects": calls["connects"],
    "loaders": sorted(calls["loaders"]),
    "libyaml": yaml.__with_libyaml__,
}))
"""


def test_parsing_loads_no_client_library_and_opens_no_connection(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / LOADER.name).write_text(LOADER.read_text())
    (folder / "heavy.yaml").write_text(HEAVY)
    (folder / "postgres.yaml").write_text(
        "source:\n  type: sql\n  config:\n"
        '    url: "postgresql+psycopg2://reader:${H4_PG_PASSWORD}@127.0.0.1:9/db"\n'
        "    service_name: pg\n"
        "sink: {type: file, config: {path: out.jsonl}}\n"
    )
    (tmp_path / "probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}

    done = subprocess.run(
        [sys.executable, str(tmp_path / "probe.py"), str(folder)], env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["dags"] == ["heavy", "postgres"]
    assert found["errors"] == []
    assert found["loaded"] == []
    assert found["engines"] == found["sessions"] == 0
    assert found["connects"] == []
    assert found["loaders"] == (["CSafeLoader"] if found["libyaml"] else ["SafeLoader"])
