"""The steps a run is made of, called as the CLI and the operators call them: a workflow file's context (its
staging folder, run id, ``${ENV}`` in its settings), the secrets handed to Airflow's masker, the parts and the
merge of a partitioned run, and one component run as an Airflow task."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from airflow_provider_ingest.api import Report
from airflow_provider_ingest.errors import ConfigurationError, InputError
from airflow_provider_ingest.partitions import Part
from airflow_provider_ingest.records import Column, DataType, Table
from airflow_provider_ingest.run import Interruption, RunInterrupted, run_task, run_workflow, task_context
from airflow_provider_ingest.run.progress import Progress
from airflow_provider_ingest.run.steps import plan_partitions, run_merge, run_part, run_part_sink, workflow_context
from airflow_provider_ingest.staging import StagedFileWriter, read_records
from airflow_provider_ingest.workflow.document import Problem, WorkflowFileError
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, load_workflow

SCHEMAS = "support.components:SchemasSource"
CATALOG = {"alpha": 3, "beta": 2, "gamma": 1}


def write(folder: Path, text: str, name: str = "flow.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def partitioned(folder: Path, *, stage: bool = True, bulk_sink: bool = True, sink: str = "") -> LoadedWorkflow:
    """A workflow whose source splits by schema: tags every table, stages and publishes."""
    text = (
        f"source: {{type: '{SCHEMAS}', config: {{schemas: {json.dumps(CATALOG)}}}}}\n"
        "processors: [{type: 'support.components:TagTables', config: {tag: Tier.Gold}}]\n"
        + (f"sink: {sink}\n" if sink else "")
        + ("stage: {type: file}\n" if stage else "")
        + ("bulk_sink: {type: file, config: {path: published.jsonl}}\n" if bulk_sink else "")
        + "workflow: {staging_root: staging}\n"
    )
    return load_workflow(write(folder, text))


def fqns(uri: str | Path) -> list[str]:
    return [record.fqn for record in read_records(str(uri))]


def tables(schema: str) -> list[str]:
    return [f"svc.db.{schema}.t{index}" for index in range(CATALOG[schema])]


class Watched(Progress):
    """A progress display that notes the components whose reports it is given to watch."""

    def __init__(self) -> None:
        super().__init__(lambda line: None)
        self.components: list[str] = []

    @contextmanager
    def watching(self, reports: list[Report]) -> Iterator[None]:
        self.components = [report.component for report in reports]
        yield


def stopped() -> Interruption:
    interruption = Interruption()
    interruption.request()
    return interruption


# --- a workflow file's context ----------------------------------------------------------------------------------


def test_a_run_is_named_after_the_workflow_file_and_stages_under_its_folder(tmp_path: Path) -> None:
    workflow = load_workflow(
        write(
            tmp_path,
            "source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\n"
            "workflow: {staging_root: staging, compression: gzip}\n",
            "shop.yaml",
        )
    )
    context = workflow_context(workflow)
    assert (context.workflow_name, context.base_dir) == ("shop", tmp_path.resolve())
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", context.run_id), context.run_id
    assert context.run_id != workflow_context(workflow).run_id, "two runs never share a staging folder"
    assert context.compression == "gzip"
    assert context.staging_root == str(tmp_path.resolve() / "staging")
    named = workflow_context(workflow, "r1", "orders")
    assert (named.workflow_name, named.run_id) == ("orders", "r1")
    assert named.staging_uri("staged.jsonl") == str(tmp_path.resolve() / "staging" / "orders" / "r1" / "staged.jsonl")


def test_a_staging_root_in_object_storage_is_kept_as_written(tmp_path: Path) -> None:
    text = (
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\nworkflow: {staging_root: 's3://b/st'}\n"
    )
    context = workflow_context(load_workflow(write(tmp_path, text)), "r1")
    assert context.staging_root == "s3://b/st"
    assert context.staging_uri("staged.jsonl") == "s3://b/st/flow/r1/staged.jsonl"


def test_a_run_given_a_name_stages_under_it(tmp_path: Path) -> None:
    staged(tmp_path / "in.jsonl", "t0")
    path = write(
        tmp_path,
        "source: {type: file, config: {path: in.jsonl}}\nstage: {type: file}\nworkflow: {staging_root: staging}\n",
    )
    result = run_workflow(load_workflow(path), run_id="r1", name="nightly")
    assert result.staged_uri == str(tmp_path / "staging/nightly/r1/staged.jsonl")


def test_the_staging_root_of_a_workflow_file_may_name_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_TEST_STAGING", str(tmp_path / "shared"))
    text = (
        "source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\n"
        "workflow: {staging_root: '${INGEST_TEST_STAGING}/x'}\n"
    )
    assert workflow_context(load_workflow(write(tmp_path, text))).staging_root == str(tmp_path / "shared" / "x")


@pytest.mark.parametrize(
    ("text", "place"),
    [
        (
            "source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\n"
            "workflow:\n  staging_root: /data/${INGEST_TEST_UNSET}\n",
            "4:23: workflow.staging_root",
        ),
        (
            "source:\n  type: file\n  config: {path: in.jsonl}\nsink:\n  type: file\n  config:\n"
            "    path: out/${INGEST_TEST_UNSET}.jsonl\n",
            "7:15: sink.config.path",
        ),
    ],
    ids=["staging root", "component setting"],
)
def test_an_unset_variable_is_a_problem_at_its_place_in_the_file(
    text: str, place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INGEST_TEST_UNSET", raising=False)
    path = write(tmp_path, text)
    with pytest.raises(WorkflowFileError) as raised:
        run_workflow(load_workflow(path))
    assert str(raised.value) == f"{path}:{place}: environment variable INGEST_TEST_UNSET is not set"
    assert not (tmp_path / "staging").exists(), "nothing ran"


def test_a_warning_of_the_workflow_file_goes_in_the_first_components_report(tmp_path: Path) -> None:
    staged(tmp_path / "in.jsonl", "t0")
    workflow = load_workflow(write(tmp_path, "source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\n"))
    warning = Problem(str(workflow.path), 3, 5, "workflowConfig.loggerLevel", "does nothing here")
    workflow.warnings.append(warning)
    result = run_workflow(workflow, run_id="r1")
    assert result.success, result.error
    assert result.reports[0].warnings == [str(warning)]


# --- secrets -----------------------------------------------------------------------------------------------------


def test_a_secret_from_the_environment_goes_to_the_masker_before_the_run_and_never_into_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_TEST_PASSWORD", "hunter2-from-env")
    path = write(
        tmp_path,
        f"source: {{type: '{SCHEMAS}', config: {{schemas: {{a: 1}}, password: '${{INGEST_TEST_PASSWORD}}'}}}}\n"
        "sink: {type: console}\n",
    )
    masked: list[str] = []
    result = run_workflow(load_workflow(path), on_secret=masked.append)
    assert masked == ["hunter2-from-env"]
    assert result.error == "PermissionError: password *** refused"


def test_a_task_hands_its_secrets_to_the_masker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_TEST_PASSWORD", "hunter2-from-env")
    context = task_context(dag_id="d", run_id="r", task_id="read", staging_root=str(tmp_path))
    config = {"schemas": {"a": 1}, "password": "${INGEST_TEST_PASSWORD}"}
    masked: list[str] = []
    result = run_task("source", SCHEMAS, config, context, on_secret=masked.append)
    assert masked == ["hunter2-from-env"]
    assert result.error == "PermissionError: password *** refused"


def test_the_partition_plan_hands_its_secrets_to_the_masker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_TEST_PASSWORD", "hunter2-from-env")
    context = task_context(dag_id="d", run_id="r", task_id="plan", staging_root=str(tmp_path))
    masked: list[str] = []
    config = {"schemas": {"a": 1}, "password": "${INGEST_TEST_PASSWORD}"}
    with pytest.raises(PermissionError):
        plan_partitions(SCHEMAS, config, context, by="schema", most=2, on_secret=masked.append)
    assert masked == ["hunter2-from-env"], "told before the source connects"


# --- a partitioned run -----------------------------------------------------------------------------------------


def test_the_parts_then_the_merge_stage_and_publish_what_the_serial_run_does(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    serial = run_workflow(workflow, run_id="serial")
    assert serial.success, serial.error

    context = workflow_context(workflow, "r1")
    parts = plan_partitions(SCHEMAS, workflow.spec.source.config, context, by="schema", most=2, workflow=workflow)
    assert [(part.names, part.excluded) for part in parts] == [(("alpha",), None), (("beta", "gamma"), ("alpha",))]
    results = [run_part(workflow, part, run_id=f"r1/part-{part.index}") for part in parts]
    assert all(result.success for result in results), [result.error for result in results]
    assert [result.output_uri for result in results] == [
        str(tmp_path / f"staging/flow/r1/part-{index}/output.jsonl") for index in range(2)
    ]
    assert [fqns(result.output_uri) for result in results] == [tables("alpha"), tables("beta") + tables("gamma")]
    assert all(table.tags[0].tag_fqn == "Tier.Gold" for table in read_records(results[0].output_uri))
    assert [report.component for report in results[0].reports] == [
        "source:SchemasSource",
        "processor:TagTables",
        "output",
    ]

    merge = run_merge(workflow, [result.output_uri for result in results], run_id="r1")
    assert merge.success, merge.error
    assert [(report.component, report.records) for report in merge.reports] == [
        ("input", 6),
        ("stage:file", 6),
        ("bulk_sink:file", 6),
    ]
    assert merge.staged_uri == str(tmp_path / "staging/flow/r1/staged.jsonl")
    assert list(read_records(merge.staged_uri)) == list(read_records(serial.staged_uri))
    assert fqns(tmp_path / "published.jsonl") == fqns(serial.staged_uri)


def test_a_part_and_the_merge_stage_under_the_name_given(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    [part] = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=1)
    done = run_part(workflow, part, run_id="r1/part-0", name="nightly")
    assert done.output_uri == str(tmp_path / "staging/nightly/r1/part-0/output.jsonl")
    merge = run_merge(workflow, [done.output_uri], run_id="r1", name="nightly")
    assert merge.staged_uri == str(tmp_path / "staging/nightly/r1/staged.jsonl")


def test_a_merge_without_a_bulk_sink_only_stages(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path, bulk_sink=False)
    [part] = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=1)
    done = run_part(workflow, part, run_id="r1/part-0")
    merge = run_merge(workflow, [done.output_uri], run_id="r1")
    assert merge.success, merge.error
    assert [report.component for report in merge.reports] == ["input", "stage:file"]
    assert fqns(merge.staged_uri) == tables("alpha") + tables("beta") + tables("gamma")
    assert not (tmp_path / "published.jsonl").exists()


def test_a_warning_of_the_workflow_file_is_said_once_by_the_first_part(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    warning = Problem(str(workflow.path), 1, 1, "workflowConfig.loggerLevel", "does nothing here")
    workflow.warnings.append(warning)
    parts = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=2)
    results = [run_part(workflow, part, run_id=f"r1/part-{part.index}") for part in parts]
    assert [result.reports[0].warnings for result in results] == [[str(warning)], []]


def test_a_failed_record_of_a_part_is_a_dead_letter_of_that_part(tmp_path: Path) -> None:
    workflow = load_workflow(
        write(
            tmp_path,
            f"source: {{type: '{SCHEMAS}', config: {{schemas: {json.dumps(CATALOG)}}}}}\n"
            "processors: [{type: 'support.components:TagTables', config: {fail_on: [t2]}}]\n"
            "sink: {type: console}\n"
            "workflow: {staging_root: staging, success_threshold: 0}\n",
        )
    )
    parts = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=2)
    done = run_part(workflow, parts[0], run_id="r1/part-0")
    assert done.dead_letter_uri == str(tmp_path / "staging/flow/r1/part-0/dead_letters.jsonl")
    header = json.loads(Path(done.dead_letter_uri).read_text().splitlines()[0])
    assert header["producer"] == "flow part 1/2"


def test_each_parts_sink_writes_its_records_from_the_parts_staged_file(tmp_path: Path) -> None:
    """A part extracts into its staged file alone; its sink reads that file once every part was extracted (as the
    mapped sink task), so a part that fails leaves every sink unrun."""
    journal = tmp_path / "journal.txt"
    workflow = partitioned(
        tmp_path, sink=f"{{type: 'support.components:JournalSink', config: {{journal: '{journal}'}}}}"
    )
    parts = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=2)
    results = [run_part(workflow, part, run_id=f"r1/part-{part.index}") for part in parts]
    assert [report.component for report in results[0].reports] == [
        "source:SchemasSource",
        "processor:TagTables",
        "output",
    ]
    assert not journal.exists() or " write " not in journal.read_text()
    sinks = [
        run_part_sink(workflow, part, result.output_uri, run_id=f"r1/part-{part.index}-sink")
        for part, result in zip(parts, results, strict=True)
    ]
    assert [report.component for report in sinks[0].reports] == ["input", "sink:JournalSink"]
    assert all(sink.success for sink in sinks)
    written = [line for line in journal.read_text().splitlines() if " write " in line]
    assert written == [f"sink write {name}" for name in ("t0", "t1", "t2", "t0", "t1", "t0")]


def test_a_merge_over_a_damaged_part_file_fails_and_keeps_the_error_as_the_merges(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    [part] = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=1)
    done = run_part(workflow, part, run_id="r1/part-0")
    output = Path(done.output_uri)
    output.write_bytes(output.read_bytes()[:-20])
    merge = run_merge(workflow, [done.output_uri], run_id="r1")
    assert not merge.success and "truncated" in merge.error
    header = json.loads(Path(merge.dead_letter_uri).read_text().splitlines()[0])
    assert header["producer"] == "flow merge"
    assert not (tmp_path / "published.jsonl").exists()


def test_a_merge_interrupted_commits_nothing(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    [part] = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=1)
    done = run_part(workflow, part, run_id="r1/part-0")
    with pytest.raises(RunInterrupted):
        run_merge(workflow, [done.output_uri], run_id="r1", interruption=stopped())
    assert not (tmp_path / "staging/flow/r1/staged.jsonl").exists()
    assert not (tmp_path / "published.jsonl").exists()


def test_a_part_interrupted_writes_no_output(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    [part] = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=1)
    with pytest.raises(RunInterrupted):
        run_part(workflow, part, run_id="r1/part-0", interruption=stopped())
    assert not list(tmp_path.rglob("output.jsonl"))


def test_the_progress_of_a_part_and_of_the_merge_watches_their_components(tmp_path: Path) -> None:
    workflow = partitioned(tmp_path)
    [part] = plan_partitions(SCHEMAS, workflow.spec.source.config, workflow_context(workflow), by="schema", most=1)
    progress = Watched()
    done = run_part(workflow, part, run_id="r1/part-0", progress=progress)
    assert progress.components == ["source:SchemasSource", "processor:TagTables", "output"]
    run_merge(workflow, [done.output_uri], run_id="r1", progress=progress)
    assert progress.components == ["input", "stage:file", "bulk_sink:file"]


def test_planning_a_source_that_cannot_be_partitioned_is_a_configuration_error(tmp_path: Path) -> None:
    context = task_context(dag_id="d", run_id="r", task_id="plan", staging_root=str(tmp_path))
    with pytest.raises(ConfigurationError) as raised:
        plan_partitions("file", {"path": "in.jsonl"}, context, by="schema", most=2)
    assert str(raised.value) == (
        "airflow.partitions.by: a file source cannot be partitioned (the sql source can, by schema or database)"
    )
    with pytest.raises(ConfigurationError) as raised:
        plan_partitions(SCHEMAS, {"schemas": {}}, context, by="database", most=2)
    assert str(raised.value) == "airflow.partitions.by: a SchemasSource source is partitioned by schema, not database"
    with pytest.raises(ConfigurationError) as raised:
        plan_partitions("sql", {"sample": "shop"}, context, by="database", most=2)
    assert str(raised.value) == "airflow.partitions.by: SQLite gives the sql source one database: partition by schema"


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


# --- one component as an Airflow task -----------------------------------------------------------------------------


def staged(path: Path, *names: str, samples: list[str] | None = None) -> str:
    with StagedFileWriter(str(path), producer="test", keep_samples=True) as writer:
        for name in names:
            columns = [Column(name="c", data_type=DataType.VARCHAR, samples=samples or [])]
            writer.write(Table(service="s", database="d", database_schema="sc", name=name, columns=columns))
    return str(path)


def context_of(tmp_path: Path, task_id: str):
    return task_context(dag_id="flow", run_id="r1", task_id=task_id, staging_root="staging", base_dir=str(tmp_path))


def test_a_source_task_given_a_partition_reads_only_that_part(tmp_path: Path) -> None:
    part = Part("schema", 1, 2, ("beta",), excluded=("alpha",))
    done = run_task("source", SCHEMAS, {"schemas": CATALOG}, context_of(tmp_path, "read"), partition=part)
    assert done.success, done.error
    assert fqns(done.output_uri) == tables("beta") + tables("gamma")


def test_only_a_source_task_takes_a_partition(tmp_path: Path) -> None:
    part = Part("schema", 0, 2, ("alpha",))
    with pytest.raises(ConfigurationError) as raised:
        run_task("processor", "filter", {}, context_of(tmp_path, "keep"), input_uri="in.jsonl", partition=part)
    assert str(raised.value) == "a processor is not partitioned: only the source reads a partition"


def test_a_sink_task_reads_each_of_its_inputs_in_order(tmp_path: Path) -> None:
    inputs = [staged(tmp_path / "a.jsonl", "a0", "a1"), staged(tmp_path / "b.jsonl", "b0")]
    done = run_task("sink", "file", {"path": "out.jsonl"}, context_of(tmp_path, "write"), input_uri=inputs)
    assert done.success, done.error
    assert [record.name for record in read_records(str(tmp_path / "out.jsonl"))] == ["a0", "a1", "b0"]
    assert [(report.component, report.records) for report in done.reports] == [("input", 3), ("sink:file", 3)]


def test_a_processor_task_keeps_the_column_samples_for_the_next_task(tmp_path: Path) -> None:
    given = staged(tmp_path / "in.jsonl", "cards", samples=["4111111111111111"])
    done = run_task("processor", "filter", {}, context_of(tmp_path, "keep"), input_uri=given)
    assert done.success, done.error
    [table] = read_records(done.output_uri)
    assert table.columns[0].samples == ["4111111111111111"]


def test_a_bulk_sink_task_publishes_one_staged_file(tmp_path: Path) -> None:
    inputs = [staged(tmp_path / "a.jsonl", "a0"), staged(tmp_path / "b.jsonl", "b0")]
    with pytest.raises(InputError) as raised:
        run_task("bulk_sink", "file", {"path": "p.jsonl"}, context_of(tmp_path, "publish"), input_uri=inputs)
    assert str(raised.value) == "a bulk sink publishes one staged file, not 2"
    with pytest.raises(InputError) as raised:
        run_task("bulk_sink", "file", {"path": "p.jsonl"}, context_of(tmp_path, "publish"), upstream="stage")
    assert str(raised.value) == "a bulk_sink task needs input_uri: the upstream task's output"
    missing = str(tmp_path / "gone.jsonl")
    with pytest.raises(InputError) as raised:
        run_task(
            "bulk_sink",
            "file",
            {"path": "p.jsonl"},
            context_of(tmp_path, "publish"),
            input_uri=missing,
            upstream="stage",
        )
    assert (
        str(raised.value)
        == f"input staged file {missing} does not exist: clear the upstream task 'stage' to write it again"
    )
    assert not (tmp_path / "p.jsonl").exists()


def test_a_task_interrupted_writes_no_output(tmp_path: Path) -> None:
    given = staged(tmp_path / "in.jsonl", "t0")
    with pytest.raises(RunInterrupted):
        run_task("processor", "filter", {}, context_of(tmp_path, "keep"), input_uri=given, interruption=stopped())
    assert not list((tmp_path / "staging").rglob("output.jsonl"))


def test_the_progress_of_a_task_watches_its_reader_component_and_writer(tmp_path: Path) -> None:
    given = staged(tmp_path / "in.jsonl", "t0")
    progress = Watched()
    run_task("processor", "filter", {}, context_of(tmp_path, "keep"), input_uri=given, progress=progress)
    assert progress.components == ["input", "processor:filter", "output"]


def test_a_failed_record_of_a_task_is_a_dead_letter_of_that_task(tmp_path: Path) -> None:
    given = staged(tmp_path / "in.jsonl", "t0", "t1")
    done = run_task(
        "processor",
        "support.components:TagTables",
        {"fail_on": ["t1"]},
        context_of(tmp_path, "tag"),
        input_uri=given,
        success_threshold=0,
    )
    header = json.loads(Path(done.dead_letter_uri).read_text().splitlines()[0])
    assert header["producer"] == "processor:support.components:TagTables"
