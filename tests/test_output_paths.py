"""Where a ``file`` sink, stage or bulk sink writes: a path naming a folder, or a file in a folder that cannot be
made, is refused by ``validate``, by ``test-connection`` and by a run before it reads a record (it failed only at
the end of the run, after the whole extraction, its temporary file written beside the folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.cli import main
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.records import Table, dump_record
from airflow_provider_ingest.run import run_task
from airflow_provider_ingest.staging.paths import atomic_write, file_problem

ENDS = {
    "sink": "sink: {{type: file, config: {{path: {path}}}}}\n",
    "stage": "sink: {{type: console}}\nstage: {{type: file, config: {{path: {path}}}}}\n",
    "bulk_sink": "stage: {{type: file}}\nbulk_sink: {{type: file, config: {{path: {path}}}}}\n",
}


def flow(folder: Path, role: str, path: str) -> Path:
    """A workflow reading ``in.jsonl`` (two tables) whose ``role`` writes ``path``."""
    tables = [dump_record(Table(service="s", database="d", database_schema="x", name=f"t{i}")) for i in range(2)]
    (folder / "in.jsonl").write_text("\n".join(tables) + "\n")
    written = folder / "flow.yaml"
    source = "source: {type: file, config: {path: in.jsonl, format: jsonl}}\n"
    written.write_text(source + ENDS[role].format(path=path) + "workflow: {staging_root: staging}\n")
    return written


def line_of(flow_file: Path, role: str) -> int:
    return next(number for number, line in enumerate(flow_file.read_text().splitlines(), 1) if line.startswith(role))


@pytest.mark.parametrize("role", ENDS)
@pytest.mark.parametrize("path", ["out", ".", "a_file/out.jsonl"])
def test_validate_and_run_refuse_a_path_no_file_can_be_written_at_naming_file_line_and_field(
    role: str, path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "a_file").write_text("x")
    written = flow(tmp_path, role, path)
    said = "is a folder: name the file to write in it" if "a_file" not in path else f"{tmp_path}/a_file is not a folder"

    for command in (["validate"], ["run", "--quiet"]):
        assert main([*command, str(written)]) == 1
        out, err = capsys.readouterr()
        assert err.startswith(f"{written}:{line_of(written, role)}:") and f" {role}.config.path: " in err, err
        assert said in err and out == ""
    assert not (tmp_path / "staging").exists(), "nothing was read, staged or written"
    assert sorted(child.name for child in tmp_path.iterdir()) == ["a_file", "flow.yaml", "in.jsonl", "out"]
    assert not list(tmp_path.parent.glob("*.partial"))


def test_a_path_in_a_folder_still_to_make_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = flow(tmp_path, "sink", "new/folder/out.jsonl")
    assert main(["validate", str(written)]) == 0
    assert main(["run", "--quiet", str(written)]) == 0
    assert (tmp_path / "new" / "folder" / "out.jsonl").is_file()


def test_a_path_an_airflow_task_renders_is_judged_when_it_runs(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    written = flow(tmp_path, "sink", "'{{ params.folder }}'")
    assert main(["validate", str(written)]) == 0


def test_test_connection_fails_a_file_sink_whose_path_is_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    written = flow(tmp_path, "sink", "out")
    assert main(["test-connection", str(written)]) == 1
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[2][:3] == ["sink:file", str(tmp_path / "out"), "FAILED"]
    assert " ".join(rows[2][5:]) == f"ConfigurationError: {tmp_path}/out is a folder: name the file to write in it"


@pytest.mark.parametrize("role", ["sink", "bulk_sink"])
def test_an_airflow_task_writing_where_no_file_can_be_fails_before_it_reads(role: str, tmp_path: Path) -> None:
    """A task has no workflow file to name: its component refuses the path when it prepares."""
    from airflow_provider_ingest.run import task_context
    from airflow_provider_ingest.staging import StagedFileWriter

    (tmp_path / "out").mkdir()
    context = task_context(dag_id="w", run_id="r", task_id=role, staging_root=str(tmp_path / "staging"))
    staged = str(tmp_path / "staged.jsonl")
    with StagedFileWriter(staged, producer="t") as out:
        out.write(Table(service="s", database="d", database_schema="x", name="t"))
    context.base_dir = tmp_path

    result = run_task(role, "file", {"path": "out"}, context, input_uri=staged)

    assert (
        result.error
        == f"ConfigurationError: {role}:file: path: {tmp_path}/out is a folder: name the file to write in it"
    )
    assert all(report.records == 0 for report in result.reports), "nothing was read"


def test_atomic_write_refuses_a_folder_before_writing_beside_it(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with (
        pytest.raises(ConfigurationError, match="out: it is a folder, not a file to write"),
        atomic_write(str(tmp_path / "out")),
    ):
        pass
    assert [child.name for child in tmp_path.iterdir()] == ["out"]


LAYOUT = st.dictionaries(st.sampled_from(["a", "b", "a/b", "a/c", "b/c"]), st.sampled_from(["file", "folder"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=LAYOUT, target=st.sampled_from(["a", "b", "a/b", "a/b/c", "b/c/d", "c", "c/d"]))
def test_a_path_has_a_problem_exactly_when_writing_it_fails(
    layout: dict[str, str], target: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("layout")
    for name in sorted(layout):
        made = folder / name
        if not made.parent.is_dir() or made.exists():
            continue
        made.mkdir() if layout[name] == "folder" else made.write_text("x")
    uri = str(folder / target)
    problem = file_problem(uri)
    try:
        with atomic_write(uri) as handle:
            handle.write(b"x\n")
    except (OSError, ConfigurationError):
        assert problem is not None, f"{target} failed to write with no problem told"
    else:
        assert problem is None, f"{target} was written, yet: {problem}"
    assert not list(folder.rglob("*.partial"))


def test_an_output_path_with_a_scheme_no_filesystem_serves_is_named(tmp_path: Path) -> None:
    assert "unknown scheme 's4://'" in file_problem("s4://bucket/out.jsonl")
    context = RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path), base_dir=tmp_path)
    from airflow_provider_ingest.components.file import FileSink

    assert FileSink.path_problems(FileSink.create({"path": "s4://b/o.jsonl"}, context).config, tmp_path) == {
        "path": file_problem("s4://b/o.jsonl")
    }
