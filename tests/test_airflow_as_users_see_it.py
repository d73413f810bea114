"""Generated and hand-written DAGs as Airflow's users see them: paths, XComs, docs, logs, each DAG parsed once."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.dags import dag_bag, mapped_xcoms, run_dag, task_states, xcoms

from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Table, dump_record
from airflow_provider_ingest.staging import read_records

pytestmark = pytest.mark.airflow

RELATIVE = """\
source:
  type: file
  config: {path: input/catalog.jsonl, format: jsonl}
sink:
  type: file
  config: {path: out/relative.jsonl}
stage: {type: file}
bulk_sink:
  type: file
  config: {path: ../published/relative.jsonl}
workflow:
  staging_root: staging
airflow:
  dag_id: relative
  retries: 0
"""


def write_catalog(path: Path) -> Path:
    """A service, a database, a schema and two tables as plain JSON Lines."""
    records = [
        DatabaseService(name="shop", service_type="Postgres"),
        Database(service="shop", name="sales"),
        DatabaseSchema(service="shop", database="sales", name="public"),
        Table(service="shop", database="sales", database_schema="public", name="orders"),
        Table(service="shop", database="sales", database_schema="public", name="payments"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(dump_record(record) + "\n" for record in records))
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process runs in a folder that is not the dags folder, as a DAG processor or worker may."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_relative_paths_are_taken_from_the_workflow_folder(dags_folder: Path, elsewhere: Path) -> None:
    write_catalog(dags_folder / "input" / "catalog.jsonl")
    (dags_folder / "relative.yaml").write_text(RELATIVE)

    dag = dag_bag(dags_folder).dags["relative"]
    outlets = {task.task_id: [asset.uri for asset in task.outlets] for task in dag.tasks if task.outlets}
    dag_run = run_dag(dags_folder, "relative")

    published = dags_folder.parent / "published" / "relative.jsonl"
    assert outlets == {"sink": [f"file://{dags_folder}/out/relative.jsonl"], "bulk_sink": [f"file://{published}"]}
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    results = xcoms(dag_run)
    run = dags_folder / "staging" / "relative" / dag_run.run_id
    assert results["source"]["uri"] == str(run / "source" / "output.jsonl")
    assert results["stage"]["uri"] == str(run / "stage" / "staged.jsonl")
    assert results["sink"]["uri"] == f"file://{dags_folder}/out/relative.jsonl"  # what it wrote, not its input
    assert results["bulk_sink"]["uri"] == f"file://{published}"
    assert len(list(read_records(str(dags_folder / "out" / "relative.jsonl")))) == 5
    assert len(list(read_records(str(published)))) == 5
    assert not list(elsewhere.iterdir())


HAND_WRITTEN = """\
import datetime

from airflow.sdk import DAG

from airflow_provider_ingest.airflow.operators import IngestSinkOperator, IngestSourceOperator, IngestWorkflowOperator

with DAG("hand_relative", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    source = IngestSourceOperator(
        task_id="extract", type="file", config={"path": "input/catalog.jsonl", "format": "jsonl"},
        staging_root="staging",
    )
    IngestSinkOperator(
        task_id="write", type="console", input_uri=source.output["uri"], staging_root="staging"
    )
    IngestWorkflowOperator(task_id="whole", workflow_file="workflows/whole.yaml")
"""


def test_a_hand_written_dag_takes_relative_paths_from_its_own_folder(dags_folder: Path, elsewhere: Path) -> None:
    write_catalog(dags_folder / "input" / "catalog.jsonl")
    (dags_folder / "workflows").mkdir()
    whole = RELATIVE.replace("input/", "../input/").replace("relative", "whole")
    (dags_folder / "workflows" / "whole.yaml").write_text(whole)
    (dags_folder / "hand_relative.py").write_text(HAND_WRITTEN)

    dag_run = run_dag(dags_folder, "hand_relative")

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    results = xcoms(dag_run)
    assert results["extract"]["uri"] == str(
        dags_folder / "staging" / "hand_relative" / dag_run.run_id / "extract" / "output.jsonl"
    )
    assert results["write"]["uri"] is None  # the console sink writes nowhere one can name
    assert len(list(read_records(str(dags_folder / "workflows" / "out" / "whole.jsonl")))) == 5
    assert not list(elsewhere.iterdir())


MAPPED = """\
import datetime

from airflow.sdk import DAG

from airflow_provider_ingest.airflow.operators import IngestProcessorOperator, IngestSinkOperator, IngestSourceOperator

with DAG("mapped_chain", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    sources = IngestSourceOperator.partial(task_id="extract", type="file", staging_root="ROOT").expand(
        config=[{"path": "INPUT_A", "format": "jsonl"}, {"path": "INPUT_B", "format": "jsonl"}]
    )
    tagged = IngestProcessorOperator.partial(
        task_id="tag", type="support.components:TagTables", staging_root="ROOT"
    ).expand(input_uri=sources.output)
    IngestSinkOperator.partial(task_id="write", type="console", staging_root="ROOT").expand(input_uri=tagged.output)
"""


def test_mapped_tasks_chain_over_the_upstream_output(dags_folder: Path, tmp_path: Path) -> None:
    first = write_catalog(tmp_path / "a.jsonl")
    second = tmp_path / "b.jsonl"
    second.write_text("".join(line for line in first.read_text().splitlines(keepends=True) if "orders" not in line))
    text = MAPPED.replace("INPUT_A", str(first)).replace("INPUT_B", str(second))
    (dags_folder / "mapped_chain.py").write_text(text.replace("ROOT", str(tmp_path / "staging")))

    dag_run = run_dag(dags_folder, "mapped_chain")

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    extracted, tagged = mapped_xcoms(dag_run, "extract"), mapped_xcoms(dag_run, "tag")
    run = tmp_path / "staging" / "mapped_chain" / dag_run.run_id
    assert {index: result["uri"] for index, result in tagged.items()} == {
        index: str(run / "tag" / str(index) / "output.jsonl") for index in (0, 1)
    }
    assert [extracted[index]["records"] for index in (0, 1)] == [5, 4]
    assert [result["records"] for _, result in sorted(mapped_xcoms(dag_run, "write").items())] == [5, 4]
    tags = [[tag.tag_fqn for tag in record.tags] for record in read_records(tagged[1]["uri"]) if record.kind == "table"]
    assert tags == [["Test.Tagged"]]


def test_the_readme_example_of_chained_mapped_tasks_runs_as_written(
    dags_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    [example] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "input_uri=sources" in block]
    (dags_folder / "shop_by_table.py").write_text(example)
    monkeypatch.setenv("HOME", str(tmp_path))  # the default staging root is under ~

    dag_run = run_dag(dags_folder, "shop_by_table")

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    sources, tagged = mapped_xcoms(dag_run, "source"), mapped_xcoms(dag_run, "pii")
    tables = [[r.name for r in read_records(tagged[index]["uri"]) if r.kind == "table"] for index in (0, 1)]
    assert tables == [["orders"], ["payments"]]
    assert [sources[index]["records"] for index in (0, 1)] == [4, 4]
    tags = {
        c.name: [t.tag_fqn for t in c.tags]
        for r in read_records(tagged[1]["uri"])
        if r.kind == "table"
        for c in r.columns
    }
    assert tags["card_number"] == ["PII.Sensitive"]
    assert sorted(mapped_xcoms(dag_run, "sink")) == [0, 1]


SECRET = """\
description: Reads with a token.
source:
  type: file
  config: {path: in.jsonl}
processors:
  - type: support.components:ConnectionProbe
    config: {conn_id: h15_unused, token: "${H15_DOC_TOKEN}"}
sink:
  type: console
airflow:
  dag_id: documented
"""


def test_the_dag_docs_show_the_workflow_file_with_references_never_values(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    token = "h15-" + os.urandom(8).hex()
    monkeypatch.setenv("H15_DOC_TOKEN", token)
    (dags_folder / "documented.yaml").write_text(SECRET)

    dag = dag_bag(dags_folder).dags["documented"]

    assert dag.doc_md.startswith("Reads with a token.\n\nWorkflow file ")
    assert f"```yaml\n{SECRET}```" in dag.doc_md
    assert '"${H15_DOC_TOKEN}"' in dag.doc_md
    assert token not in json.dumps(DagSerialization.to_dict(dag), default=str)


def test_secrets_in_the_workflow_files_comments_stay_out_of_the_dag_docs(dags_folder: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    commented = SECRET.replace("documented", "commented").replace(
        "sink:\n",
        "# url: postgresql://admin:Sup3rS3cret@db/shop\n#   jwt_token: eyJhbGciOi.c2VjcmV0.sig  # old token\nsink:\n",
    )
    (dags_folder / "commented.yaml").write_text(commented)

    dag = dag_bag(dags_folder).dags["commented"]

    serialized = json.dumps(DagSerialization.to_dict(dag), default=str)
    assert "Sup3rS3cret" not in serialized and "c2VjcmV0" not in serialized
    assert "# url: postgresql://admin:***@db/shop\n#   jwt_token: ***\n" in dag.doc_md
    assert '"${H15_DOC_TOKEN}"' in dag.doc_md


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("description: Copies postgresql://admin:Sup3rS3cret@db/shop nightly.\n", "description"),
        ("description: |\n  Copies the shop.\n\n  From http://db/?token=Sup3rS3cret too.\n", "description"),
        ("airflow: {dag_id: inline, owner: 'ops (mysql://root:Sup3rS3cret@db)'}\n", "airflow.owner"),
        ("airflow: {dag_id: inline, tags: ['from postgresql://me:Sup3rS3cret@db/x']}\n", "airflow.tags.0"),
        ("airflow: {dag_id: inline, params: {note: 'see https://u:Sup3rS3cret@h/x'}}\n", "airflow.params.note"),
    ],
    ids=["description", "description_second_line", "owner", "tag", "param"],
)
def test_a_url_carrying_a_password_in_a_longer_text_is_refused_without_showing_it(
    dags_folder: Path, setting: str, field: str
) -> None:
    """Validation refused a URL with a password only as a whole value: in a longer text, it reached the DAG's
    description, docs, owner, tags or params (the UI, the serialized DAG in the metadata database)."""
    text = SECRET.replace("airflow:\n  dag_id: documented\n", "").replace("description: Reads with a token.\n", "")
    (dags_folder / "inline.yaml").write_text(setting + text)

    bag = dag_bag(dags_folder)

    assert "inline" not in bag.dags
    [error] = bag.import_errors.values()
    assert f": {field}: a URL cannot carry " in error and "inline: leave it out" in error, error
    assert "Sup3rS3cret" not in error


def test_secrets_in_the_dags_free_texts_are_hidden_and_references_kept(dags_folder: Path) -> None:
    """A ``password=...``, a token or a quoted secret pair in a description, an owner or a tag never reaches the DAG:
    its description, docs (the description and the file as written), owner and tags are redacted alike."""
    from airflow.serialization.serialized_objects import DagSerialization

    texts = SECRET.replace(
        "description: Reads with a token.\n",
        "description: 'Log in with password=Sup3rS3cret and header Bearer Sup3rS3cretT0k'\n",
    ).replace("dag_id: documented\n", "dag_id: free_texts\n  owner: 'ops token=Sup3rS3cret'\n")
    texts += '  tags: [\'{"api_key": "Sup3rS3cret"}\']\n'
    (dags_folder / "free_texts.yaml").write_text(texts)

    dag = dag_bag(dags_folder).dags["free_texts"]

    serialized = json.dumps(DagSerialization.to_dict(dag), default=str)
    assert "Sup3rS3cret" not in serialized and "Sup3rS3cret" not in dag.doc_md
    assert dag.description == "Log in with password=*** and header Bearer ***"
    assert dag.doc_md.startswith("Log in with password=*** and header Bearer ***\n\nWorkflow file ")
    assert dag.owner == "ops token=***" and dag.tags == {'{"api_key": "***"}'}
    assert '"${H15_DOC_TOKEN}"' in dag.doc_md  # a reference is no secret: shown as written


def test_a_fence_in_the_workflow_file_does_not_end_the_docs_block(dags_folder: Path) -> None:
    text = "description: |\n  Run it with:\n  ```\n  airflow-ingest run\n  ```\n" + SECRET.split("\n", 1)[1]
    (dags_folder / "fenced.yaml").write_text(text.replace("documented", "fenced"))

    doc = dag_bag(dags_folder).dags["fenced"].doc_md

    assert f"````yaml\n{text.replace('documented', 'fenced')}````\n" in doc


def test_a_task_whose_workflow_file_broke_says_which_file_line_and_problem(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workflow = dags_folder / "flaky.yaml"
    workflow.write_text(RELATIVE.replace("relative", "flaky"))
    assert "flaky" in dag_bag(dags_folder).dags  # the run starts with a good file
    workflow.write_text(RELATIVE.replace("relative", "flaky").replace("retries: 0", "retries: often"))
    for twin in ("twin_a", "twin_b"):  # a problem of files that claim another dag id is not this task's
        (dags_folder / f"{twin}.yaml").write_text(RELATIVE.replace("relative", "twin"))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "flaky")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "sink")

    with caplog.at_level(logging.ERROR, logger="airflow_provider_ingest"):
        bag = dag_bag(dags_folder)

    assert "flaky" not in bag.dags
    assert [record.getMessage() for record in caplog.records if record.name.startswith("airflow_provider_ingest")] == [
        f"dag 'flaky' cannot be built: invalid workflow file: {workflow}:15:3: airflow.retries: Input should be a "
        "valid integer, unable to parse string as an integer"
    ]


def test_a_task_whose_workflow_file_is_gone_says_so(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "removed")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "sink")

    with caplog.at_level(logging.ERROR, logger="airflow_provider_ingest"):
        dag_bag(dags_folder)

    messages = [record.getMessage() for record in caplog.records if record.name.startswith("airflow_provider_ingest")]
    assert messages == ["no workflow file defines dag id 'removed' any more"]


def test_each_generated_dag_is_counted_once(dags_folder: Path) -> None:
    for n in range(3):
        (dags_folder / f"once_{n}.yaml").write_text(RELATIVE.replace("relative", f"once_{n}"))
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)}

    report = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "report", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert report.returncode == 0, report.stderr
    [table] = [line for line in report.stdout.splitlines() if line.startswith("[{")]
    assert [(row["file"], int(row["dag_num"]), row["dags"]) for row in json.loads(table)] == [
        ("ingest_dags.py", 3, ["once_0", "once_1", "once_2"])
    ]


def test_the_dag_processor_serializes_each_dag_once_and_the_same_each_time(dags_folder: Path) -> None:
    import structlog
    from airflow.dag_processing.processor import DagFileParseRequest, _parse_file

    logger = structlog.get_logger()

    for n in range(3):
        (dags_folder / f"once_{n}.yaml").write_text(RELATIVE.replace("relative", f"once_{n}"))
    request = DagFileParseRequest(
        file=str(dags_folder / "ingest_dags.py"), bundle_path=dags_folder, bundle_name="dags-folder"
    )

    first, second = (_parse_file(request, logger) for _ in range(2))

    assert first is not None and second is not None and not first.import_errors
    assert sorted(dag.dag_id for dag in first.serialized_dags) == ["once_0", "once_1", "once_2"]
    assert {dag.dag_id: dag.hash for dag in first.serialized_dags} == {
        dag.dag_id: dag.hash for dag in second.serialized_dags
    }


SLOW = """\
source:
  type: support.components:SlowSource
  config: {tables: 8, seconds_each: 0.25}
sink:
  type: console
workflow:
  staging_root: STAGING
airflow:
  dag_id: slow
  retries: 0
"""

RUN_SLOW = """\
import sys
from airflow.dag_processing.dagbag import DagBag
from airflow_provider_ingest.airflow.operators import IngestSourceOperator

IngestSourceOperator.progress_every = 0.5
print("state:", DagBag(sys.argv[1]).dags["slow"].test().state)
"""


def test_the_task_log_shows_progress_while_a_step_runs_then_the_status_table(dags_folder: Path, tmp_path: Path) -> None:
    (dags_folder / "slow.yaml").write_text(SLOW.replace("STAGING", str(tmp_path / "staging")))
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", "PYTHONPATH": str(Path(__file__).parent)}

    done = subprocess.run(
        [sys.executable, "-c", RUN_SLOW, str(dags_folder)], env=env, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0 and "state: success" in done.stdout, done.stdout + done.stderr
    operator = "[airflow.task.operators.airflow_provider_ingest.airflow.operators.IngestSourceOperator]"
    lines = [
        re.sub(r"^\S+ \[info\s*\] ", "", line.split(operator)[0]).rstrip()
        for line in done.stdout.splitlines()
        if operator in line
    ]
    progress = [line for line in lines if line.startswith("progress: ")]
    assert len(progress) >= 2, lines
    assert all(re.fullmatch(r"progress: \d+ records  [\d,]+/s  0 failed", line) for line in progress), progress
    table = lines[len(progress) :]
    assert table[0].split() == ["component", "records", "filtered", "failed", "warnings", "success", "%", "seconds"]
    assert table[1].split()[:6] == ["source:SlowSource", "8", "0", "0", "0", "100.0"]
    assert table[2].split()[:2] == ["output", "8"] and table[-1] == "run succeeded"
