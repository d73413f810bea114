"""Staging paths: names that cannot be one folder are refused, paths stay under the root, cleanup
removes only the run folders this package wrote (marked), and stale temporary files."""

from __future__ import annotations

import datetime
import json
import math
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.airflow.tasks import task_folder
from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.cli import main
from airflow_provider_ingest.errors import ConfigurationError, IncompleteRunError
from airflow_provider_ingest.records import Table
from airflow_provider_ingest.run import task_context
from airflow_provider_ingest.staging import (
    DeadLetter,
    DeadLetterFile,
    StagedFileWriter,
    read_dead_letters,
    read_records,
)
from airflow_provider_ingest.staging.paths import (
    RUN_MARKER,
    atomic_write,
    check_inside,
    check_segment,
    check_store,
    exists,
    filesystem_problem,
    is_stale,
    remove,
    remove_tree,
    staging_location,
)
from airflow_provider_ingest.staging.retention import DAY, _modified, remove_expired_runs

AIRFLOW_RUN_IDS = [
    "manual__2024-01-01T00:00:00+00:00",
    "scheduled__2024-01-01T00:00:00+00:00",
    "asset_triggered__2024-06-30T12:34:56.789012+00:00",
    "backfill__2024-01-01T00:00:00+00:00",
    "my.custom~run-1",
]

REFUSED = {
    "": "is empty",
    ".": "means this folder",
    "..": "means the parent folder",
    "a/b": "path separator ('/')",
    "../x": "path separator ('/')",
    "a\\b": "path separator ('\\\\')",
    "..\\..\\x": "path separator ('\\\\')",
    "a\x00b": "NUL character",
    "line\nbreak": "control character",
    "x" * 256: "longer than 255 bytes",
}


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp), follow_symlinks=False)


# --- one function checks every name ---------------------------------------------------------------


@pytest.mark.parametrize("name", REFUSED, ids=[repr(name[:12]) for name in REFUSED])
def test_a_name_that_cannot_be_one_folder_is_refused_saying_why(name: str) -> None:
    with pytest.raises(ConfigurationError, match="run id") as refused:
        check_segment(name, "run id")
    assert REFUSED[name] in str(refused.value)


def test_a_name_must_be_a_string() -> None:
    with pytest.raises(ConfigurationError, match="task id must be a string, not int"):
        check_segment(3, "task id")


def test_a_run_id_or_file_name_given_as_several_names_must_be_a_string(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^run id must be a string, not int$"):
        staging_location(str(tmp_path), "flow", 3, "out.jsonl")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^staging file name must be a string, not NoneType$"):
        staging_location(str(tmp_path), "flow", "r1", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("run_id", AIRFLOW_RUN_IDS)
def test_airflow_run_ids_are_kept_as_they_are(run_id: str, tmp_path: Path) -> None:
    assert task_folder(run_id, "source") == f"{run_id}/source"
    assert task_folder(run_id, "tag.tables", 3) == f"{run_id}/tag.tables/3"
    context = task_context(dag_id="shop", run_id=run_id, task_id="source", staging_root=str(tmp_path))
    uri = context.staging_uri("output.jsonl")
    assert uri == str(tmp_path / "shop" / run_id / "source" / "output.jsonl")
    with StagedFileWriter(uri, producer="test") as out:
        out.write(Table(service="s", database="d", database_schema="x", name="t"))
    assert [record.name for record in read_records(uri)] == ["t"]
    assert files_under(tmp_path) == {
        "shop",
        f"shop/{run_id}",
        f"shop/{run_id}/{RUN_MARKER}",
        f"shop/{run_id}/source",
        f"shop/{run_id}/source/output.jsonl",
    }


def test_distinct_run_ids_never_share_a_folder() -> None:
    assert task_folder("manual__2024-01-01T00:00:00+00:00", "t") != task_folder(
        "manual__2024-01-01T00_00_00_00_00", "t"
    )


@pytest.mark.parametrize(
    ("run_id", "task_id", "map_index", "message"),
    [
        ("..", "source", -1, "run id '..'"),
        (".", "source", -1, "run id '.'"),
        ("../../x", "source", -1, "run id '../../x' contains a path separator"),
        ("manual__x", "..", -1, "task id '..'"),
        ("manual__x", "a/b", -1, "task id 'a/b' contains a path separator"),
        ("manual__x", "", -1, "task id is empty"),
        ("manual__x", "source", -2, "map index"),
    ],
)
def test_task_folder_refuses_what_cannot_be_a_folder(run_id: str, task_id: str, map_index: int, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace(".", r"\.")):
        task_folder(run_id, task_id, map_index)


@pytest.mark.parametrize("dag_id", ["..", ".", "", "a/b", "..\\x"])
def test_a_dag_id_that_cannot_be_a_folder_is_refused_before_anything_is_written(dag_id: str, tmp_path: Path) -> None:
    root = tmp_path / "root" / "staging"
    root.mkdir(parents=True)
    context = task_context(dag_id=dag_id, run_id="manual__1", task_id="source", staging_root=str(root))
    with pytest.raises(ConfigurationError, match=r"workflow name \(dag id\)"):
        context.staging_uri("output.jsonl")
    with pytest.raises(ConfigurationError, match=r"workflow name \(dag id\)"):
        DeadLetterFile(RunContext(dag_id, "run", str(root)).staging_uri("dead_letters.jsonl"), producer="t")
    with pytest.raises(ConfigurationError, match=r"workflow name \(dag id\)"):
        remove_expired_runs(str(root), dag_id, 0, now=time.time() + 365 * DAY)
    assert files_under(tmp_path) == {"root", "root/staging"}


@pytest.mark.parametrize("run_id", ["../../x", "..", "a/../../b", "a//b", "a\\..\\..\\b"])
def test_a_run_context_refuses_a_run_id_leaving_its_folder(run_id: str, tmp_path: Path) -> None:
    context = RunContext(workflow_name="w", run_id=run_id, staging_root=str(tmp_path / "staging"))
    with pytest.raises(ConfigurationError, match="run id"):
        context.staging_uri("output.jsonl")


@pytest.mark.parametrize("part", ["..", "../x.jsonl", "", "x\\..\\..\\y"])
def test_a_staging_file_name_cannot_leave_the_run_folder(part: str, tmp_path: Path) -> None:
    context = RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path / "staging"))
    with pytest.raises(ConfigurationError, match="staging file name"):
        context.staging_uri("task", part)


NAME = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(["", ".", "..", "...", "~", "a/b", "\\"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workflow=NAME, run=st.lists(NAME, min_size=1, max_size=3).map("/".join), part=NAME)
def test_any_names_give_a_path_under_the_root_or_a_configuration_error(
    tmp_path: Path, workflow: str, run: str, part: str
) -> None:
    root = tmp_path / "staging"
    try:
        uri = staging_location(str(root), workflow, run, part)
    except ConfigurationError:
        return
    resolved = Path(uri).resolve()
    assert resolved.is_relative_to(root.resolve()) and resolved != root.resolve()
    assert list(Path(uri).relative_to(root).parts) == [workflow, *run.split("/"), *part.split("/")]


def test_a_symbolic_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "staging", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "linked").symlink_to(outside)
    with pytest.raises(ConfigurationError, match="is not under the staging root"):
        RunContext(workflow_name="linked", run_id="r", staging_root=str(root)).staging_uri("x.jsonl")
    with pytest.raises(ConfigurationError, match="is not under the staging root"):
        remove_expired_runs(str(root), "linked", 0)


def test_object_storage_keys_are_compared_normalised() -> None:
    check_inside("s3://conn@bucket/root", "s3://conn@bucket/root/w/r/x.jsonl")
    check_inside("s3://conn@bucket/root/", "s3://conn@bucket//root/./w/x")
    for outside in ["s3://conn@bucket/root/../x", "s3://conn@bucket/rootx/y", "s3://conn@bucket/root", "/root/w/x"]:
        with pytest.raises(ConfigurationError, match="is not under the staging root"):
            check_inside("s3://conn@bucket/root", outside)
    with pytest.raises(ConfigurationError, match="is not under the staging root"):
        check_inside("s3://conn@bucket/rootX", "s3://conn@bucket/root/x")  # a root's name is not cut short


# --- the CLI --------------------------------------------------------------------------------------

WORKFLOW = """\
source:
  type: file
  config: {path: in.jsonl, format: jsonl}
sink:
  type: file
  config: {path: out.jsonl}
workflow:
  staging_root: staging
"""


def _cli_folder(tmp_path: Path, text: str = WORKFLOW, name: str = "flow.yaml") -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "in.jsonl").write_text(
        json.dumps({"kind": "table", "service": "s", "database": "d", "database_schema": "x", "name": "t"}) + "\n"
    )
    (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("run_id", ["../../x", "..", ".", "a/b", "a\\b", ""])
def test_the_cli_refuses_a_run_id_leaving_the_staging_root(
    run_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _cli_folder(tmp_path)
    before = files_under(tmp_path)

    code = main(["run", str(folder / "flow.yaml"), "--run-id", run_id])

    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--run-id" in err and "Traceback" not in err
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(("dag_id", "file_name"), [("'..'", "flow.yaml"), ("'.'", "flow.yaml"), (None, "..yaml")])
def test_the_cli_refuses_a_workflow_named_dot_or_dot_dot(
    dag_id: str | None, file_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = WORKFLOW + (f"airflow:\n  dag_id: {dag_id}\n" if dag_id else "")
    folder = _cli_folder(tmp_path, text, file_name)
    before = files_under(tmp_path)

    code = main(["run", str(folder / file_name), "--run-id", "r1"])

    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("dag" in err or "workflow name" in err)
    assert files_under(tmp_path) == before


def test_the_cli_run_marks_its_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _cli_folder(tmp_path, WORKFLOW + "stage: {type: file}\n")

    assert main(["run", str(folder / "flow.yaml"), "--run-id", "manual__2024-01-01T00:00:00+00:00"]) == 0

    run = folder / "staging" / "flow" / "manual__2024-01-01T00:00:00+00:00"
    assert sorted(path.name for path in run.iterdir()) == [RUN_MARKER, "staged.jsonl"]


# --- the marker and temporary files ---------------------------------------------------------------


def test_the_marker_is_written_with_the_first_file_only(tmp_path: Path) -> None:
    context = task_context(dag_id="w", run_id="manual__1", task_id="sink", staging_root=str(tmp_path))
    letters = DeadLetterFile(context.staging_uri("dead_letters.jsonl"), producer="t")
    assert letters.close() is None
    assert files_under(tmp_path) == set()  # nothing failed, nothing written: no folder at all

    with StagedFileWriter(context.staging_uri("output.jsonl"), producer="t"):
        pass
    marker = tmp_path / "w" / "manual__1" / RUN_MARKER
    assert marker.is_file()
    first = marker.stat().st_mtime_ns
    other = task_context(dag_id="w", run_id="manual__1", task_id="other", staging_root=str(tmp_path))
    with StagedFileWriter(other.staging_uri("output.jsonl"), producer="t"):
        pass
    assert marker.stat().st_mtime_ns == first
    assert not (tmp_path / "w" / RUN_MARKER).exists() and not (tmp_path / RUN_MARKER).exists()


def test_files_written_outside_a_staging_path_get_no_marker(tmp_path: Path) -> None:
    with StagedFileWriter(str(tmp_path / "out" / "plain.jsonl"), producer="t"):
        pass
    assert files_under(tmp_path) == {"out", "out/plain.jsonl"}


def test_atomic_write_removes_the_leftovers_of_a_killed_attempt(tmp_path: Path) -> None:
    """A temporary file of the same output that no writer holds, and left a while, is a killed attempt's."""
    output = tmp_path / "out.jsonl"
    killed = tmp_path / f"out.jsonl.{uuid.uuid4().hex}.partial"
    just_made = tmp_path / f"out.jsonl.{uuid.uuid4().hex}.partial"  # a writer between creating and locking it
    other = tmp_path / f"other.jsonl.{uuid.uuid4().hex}.partial"
    lookalike = tmp_path / "out.jsonl.notahexname.partial"
    for path in (killed, just_made, other, lookalike):
        path.write_text("half")
    for path in (killed, other, lookalike):
        age(path, 1 / 24)

    with atomic_write(str(output)) as handle:
        handle.write(b"whole\n")

    assert output.read_text() == "whole\n"
    assert files_under(tmp_path) == {"out.jsonl", just_made.name, other.name, lookalike.name}


def test_writers_of_one_file_at_once_each_write_their_own_and_the_last_to_finish_is_in_place(tmp_path: Path) -> None:
    """Two runs writing one fixed path: the first to finish removed the other's temporary file as a killed attempt's,
    and the other failed, blaming "another writer of the same file"."""
    output = tmp_path / "out.jsonl"
    with atomic_write(str(output)) as slow:
        slow.write(b"slow\n")
        with atomic_write(str(output)) as fast:
            fast.write(b"fast\n")
        for partial in tmp_path.glob("*.partial"):  # the slow writer's, left a while: still its own, held
            age(partial, 1 / 24)
        with atomic_write(str(output)) as third:
            third.write(b"third\n")
        assert output.read_text() == "third\n" and len(list(tmp_path.glob("*.partial"))) == 1
    assert output.read_text() == "slow\n"
    assert files_under(tmp_path) == {"out.jsonl"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.integers(2, 5).flatmap(lambda writers: st.permutations(range(writers))), aged=st.booleans())
def test_any_order_of_writers_finishing_leaves_the_last_ones_file_and_no_temporary_file(
    order: list[int], aged: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("writers")
    output = folder / "out.jsonl"
    writers = [atomic_write(str(output)) for _ in order]
    for index, writer in enumerate(writers):
        writer.__enter__().write(f"{index}\n".encode())
    if aged:
        for partial in folder.glob("*.partial"):
            age(partial, 1)
    for finished, index in enumerate(order, 1):
        writers[index].__exit__(None, None, None)
        assert output.read_text() == f"{index}\n"
        assert len(list(folder.glob("*.partial"))) == len(order) - finished
    assert files_under(folder) == {"out.jsonl"}


def test_a_temporary_file_is_stale_only_unheld_and_left_a_while(tmp_path: Path) -> None:
    import fcntl

    partial = tmp_path / f"out.jsonl.{uuid.uuid4().hex}.partial"
    partial.write_text("half")
    assert not is_stale(partial), "just made: its writer may not have locked it yet"
    age(partial, 1 / 24)
    with open(partial, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert not is_stale(partial)
    assert is_stale(partial) and is_stale(partial), "telling takes no lock it keeps"
    assert not is_stale(tmp_path / "gone.partial")


def test_a_filesystem_without_locks_writes_and_removes_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import fcntl

    def no_locks(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    leftover = tmp_path / f"out.jsonl.{uuid.uuid4().hex}.partial"
    leftover.write_text("half")
    age(leftover, 1 / 24)
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with atomic_write(str(tmp_path / "out.jsonl")) as handle:
        handle.write(b"whole\n")
    assert (tmp_path / "out.jsonl").read_bytes() == b"whole\n"
    assert leftover.exists(), "no lock tells a dead writer's file from a live one's"


def test_a_write_whose_temporary_file_was_removed_is_an_incomplete_run(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    refused = pytest.raises(IncompleteRunError, match="temporary file was removed before it was renamed into place")
    with refused, atomic_write(str(output)) as handle:
        handle.write(b"x\n")
        for partial in tmp_path.glob("*.partial"):
            partial.unlink()
    assert files_under(tmp_path) == set()


def test_cleanup_keeps_a_temporary_file_a_writer_still_holds(tmp_path: Path) -> None:
    """retention_days 0 (keep nothing) in a run folder kept: a live writer's file stays."""
    run = tmp_path / "staging" / "flow" / "r1"
    run.mkdir(parents=True)
    (run / RUN_MARKER).write_text("")
    killed = run / f"out.jsonl.{uuid.uuid4().hex}.partial"
    killed.write_text("x")
    age(killed, 1)
    with atomic_write(str(run / "out.jsonl")) as handle:
        handle.write(b"x\n")
        for partial in run.glob("*.partial"):
            age(partial, 1)
        assert remove_expired_runs(str(tmp_path / "staging"), "flow", 0, now=time.time() - 60) == []
        assert len(list(run.glob("*.partial"))) == 1 and not killed.exists()
    assert files_under(run) == {RUN_MARKER, "out.jsonl"}


# --- cleanup --------------------------------------------------------------------------------------


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    """A staging root with marked run folders, unmarked folders, and things beside the root."""
    root = tmp_path / "staging"
    flow = root / "flow"

    def run(name: str, days: float, marked: bool = True) -> Path:
        output = flow / name / "source" / "output.jsonl"
        output.parent.mkdir(parents=True)
        output.write_text("{}\n")
        if marked:
            (flow / name / RUN_MARKER).write_text("")
        for path in [output, output.parent, *([flow / name / RUN_MARKER] if marked else [])]:
            age(path, days)
        return flow / name

    run("expired", 10)
    run("fresh", 1)
    run("unmarked_old", 30, marked=False)
    fresh_with_leftovers = run("fresh_with_leftovers", 0.5)
    stale = fresh_with_leftovers / "source" / f"output.jsonl.{uuid.uuid4().hex}.partial"
    recent = fresh_with_leftovers / "source" / f"output.jsonl.{uuid.uuid4().hex}.partial"
    old_file = fresh_with_leftovers / "source" / "kept_old.jsonl"
    for path, days in [(stale, 9), (recent, 0.1), (old_file, 9)]:
        path.write_text("x")
        age(path, days)
    (flow / "loose_file.jsonl").write_text("x")
    age(flow / "loose_file.jsonl", 40)
    other = root / "other_flow" / "expired_elsewhere"
    other.mkdir(parents=True)
    (other / RUN_MARKER).write_text("")
    age(other / RUN_MARKER, 40)
    sibling = tmp_path / "staging_sibling" / "flow" / "old"
    sibling.mkdir(parents=True)
    (sibling / RUN_MARKER).write_text("")
    age(sibling / RUN_MARKER, 40)
    outside = tmp_path / "outside_run"
    (outside / "data").mkdir(parents=True)
    (outside / RUN_MARKER).write_text("")
    (outside / "data" / "precious.txt").write_text("keep me")
    for path in (outside / RUN_MARKER, outside / "data" / "precious.txt"):
        age(path, 40)
    (flow / "linked_run").symlink_to(outside, target_is_directory=True)
    return root


def test_cleanup_removes_only_expired_marked_run_folders_and_stale_partials(staging: Path) -> None:
    tmp_path = staging.parent
    before = files_under(tmp_path)
    old = {path for path in before if (tmp_path / path).lstat().st_mtime < time.time() - 7 * DAY}

    removed = remove_expired_runs(str(staging), "flow", 7)

    assert removed == [str(staging / "flow" / "expired")]
    gone = {path for path in before if path.startswith("staging/flow/expired")}
    stale = {path for path in before if path.startswith("staging/flow/fresh_with_leftovers/") and "partial" in path}
    assert len(stale) == 2
    [stale_partial] = stale & old
    assert files_under(tmp_path) == before - gone - {stale_partial}
    assert (tmp_path / "outside_run" / "data" / "precious.txt").read_text() == "keep me"


def test_cleanup_with_everything_expired_still_touches_only_marked_folders_of_its_workflow(staging: Path) -> None:
    tmp_path = staging.parent
    before = files_under(tmp_path)

    removed = remove_expired_runs(str(staging), "flow", 7, now=time.time() + 365 * DAY)

    names = ["expired", "fresh", "fresh_with_leftovers"]
    assert removed == [str(staging / "flow" / name) for name in names]
    gone = {path for path in before if any(path.startswith(f"staging/flow/{name}") for name in names)}
    assert files_under(tmp_path) == before - gone
    assert {"staging/flow/unmarked_old", "staging/flow/loose_file.jsonl", "staging/flow/linked_run"} <= before - gone
    assert "staging_sibling/flow/old" in before - gone


def test_cleanup_of_a_missing_workflow_folder_removes_nothing(tmp_path: Path) -> None:
    assert remove_expired_runs(str(tmp_path / "nothing"), "flow", 7) == []


def test_removing_a_run_folder_already_gone_is_not_an_error(tmp_path: Path) -> None:
    """Two cleanup tasks may race for the same expired run folder."""
    remove_tree(str(tmp_path / "staging" / "flow" / "gone"))
    remove(str(tmp_path / "staging" / "flow" / "gone.jsonl"))
    assert list(tmp_path.iterdir()) == []


def test_exists_tells_a_written_file_from_a_missing_one_by_path_or_file_uri(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").write_text("x")
    assert exists(str(tmp_path / "out.jsonl")) and exists(f"file://{tmp_path}/out.jsonl")
    assert not exists(str(tmp_path / "missing.jsonl")) and not exists(f"file://{tmp_path}/missing.jsonl")


def test_cleanup_names_the_workflow_name_it_refuses(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        remove_expired_runs(str(tmp_path), "..", 7)
    assert str(refused.value) == "workflow name (dag id) '..' is not allowed: in a path it means the parent folder"


def test_cleanup_goes_on_past_an_unmarked_folder(tmp_path: Path) -> None:
    flow = tmp_path / "staging" / "flow"
    for name, marked in [("a_unmarked", False), ("b_expired", True)]:
        (flow / name).mkdir(parents=True)
        (flow / name / "output.jsonl").write_text("{}\n")
        if marked:
            (flow / name / RUN_MARKER).write_text("")
    for path in flow.rglob("*"):
        age(path, 30)

    assert remove_expired_runs(str(tmp_path / "staging"), "flow", 7) == [str(flow / "b_expired")]
    assert files_under(flow) == {"a_unmarked", "a_unmarked/output.jsonl"}


def test_cleanup_removes_only_the_temporary_files_a_writer_leaves(tmp_path: Path) -> None:
    """A stale ``{output}.{hex}.partial`` goes; a file named only ``.{hex}.partial`` is not one the writer leaves."""
    run = tmp_path / "staging" / "flow" / "r1"
    run.mkdir(parents=True)
    (run / RUN_MARKER).write_text("")
    leftovers = [f"out.jsonl.{uuid.uuid4().hex}.partial", f"o.{uuid.uuid4().hex}.partial"]  # of any output name
    lookalike = f".{uuid.uuid4().hex}.partial"
    for name in (*leftovers, lookalike):
        (run / name).write_text("x")
        age(run / name, 30)

    assert remove_expired_runs(str(tmp_path / "staging"), "flow", 7) == []
    assert files_under(run) == {RUN_MARKER, lookalike}


# --- object storage (moto S3) ---------------------------------------------------------------------


@dataclass
class Bucket:
    client: Any
    """A boto3 client of the moto server."""
    root: str
    """The staging root in bucket ``h12``, through the Airflow connection to the server."""


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """A moto S3 server, an Airflow connection to it, and a boto3 client with bucket ``h12``.

    The connection id names the server's port: Airflow keeps the object store of a connection id for the life of
    the process, so a second server (a second pytest run in one process, as mutmut does) under the same id would be
    reached at the first one's port, closed by then.
    """
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # the port it got is read back
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    connection = {"conn_type": "aws", "login": "h12-key", "password": "h12-secret", "extra": extra}
    conn_id = f"h12_s3_{port}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    requests.post(f"{endpoint}/moto-api/reset", timeout=30)  # moto keeps buckets for the process, not the server
    client.create_bucket(Bucket="h12")
    try:
        yield Bucket(client, f"s3://{conn_id}@h12/staging")
    finally:
        server.stop()


def _keys(client: Any) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket="h12").get("Contents", []))


def test_s3_staging_marks_run_folders_and_cleanup_removes_only_those(s3: Bucket) -> None:
    root = s3.root
    run_id = "manual__2024-01-01T00:00:00+00:00"
    for run in (run_id, "scheduled__2024-01-02T00:00:00+00:00"):
        context = task_context(dag_id="flow", run_id=run, task_id="source", staging_root=root)
        with StagedFileWriter(context.staging_uri("output.jsonl"), producer="t") as out:
            out.write(Table(service="s", database="d", database_schema="x", name="t"))
    assert [record.name for record in read_records(f"{root}/flow/{run_id}/source/output.jsonl")] == ["t"]
    for key in ["staging/flow/unmarked/source/output.jsonl", "staging_sibling/flow/old/x", "staging/flow.jsonl"]:
        s3.client.put_object(Bucket="h12", Key=key, Body=b"x")
    leftover = f"staging/flow/{run_id}/source/out.jsonl.{uuid.uuid4().hex}.partial"
    s3.client.put_object(Bucket="h12", Key=leftover, Body=b"x")
    with pytest.raises(ConfigurationError, match="run id"):
        task_context(dag_id="flow", run_id="../../x", task_id="source", staging_root=root)

    assert remove_expired_runs(root, "flow", 7) == []
    removed = remove_expired_runs(root, "flow", 7, now=time.time() + 8 * DAY)

    assert sorted(uri.rsplit("/", 1)[-1] for uri in removed) == [run_id, "scheduled__2024-01-02T00:00:00+00:00"]
    assert _keys(s3.client) == [
        "staging/flow.jsonl",
        "staging/flow/unmarked/source/output.jsonl",
        "staging_sibling/flow/old/x",
    ]


def test_s3_dead_letters_are_committed_and_a_retry_without_failures_removes_them(s3: Bucket) -> None:
    uri = f"{s3.root}/flow/r1/source/dead_letters.jsonl"
    letters = DeadLetterFile(uri, producer="t")
    letters.add(DeadLetter.of(component="sink:x", error="boom", fqn=None, record=None))
    assert letters.close() == uri
    assert exists(uri) and not exists(f"{s3.root}/flow/r1/source/other.jsonl")
    assert [letter.error for letter in read_dead_letters(uri)] == ["boom"]
    assert _keys(s3.client) == ["staging/flow/r1/source/dead_letters.jsonl"], "no temporary file left"

    assert DeadLetterFile(uri, producer="t").close() is None

    assert not exists(uri) and _keys(s3.client) == []


class StoredFile:
    """A file of an object store as fsspec describes it: ``stat()`` gives the store's own info dictionary."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    def stat(self) -> dict[str, Any]:
        return self.info


NEW_YEAR = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    "info",
    [
        {"LastModified": NEW_YEAR, "size": 1},  # s3fs
        {"mtime": NEW_YEAR.timestamp(), "size": 1},  # stores giving seconds
        {"updated": NEW_YEAR, "size": 1},  # gcsfs
        {"LastModified": NEW_YEAR, "mtime": 0.0, "updated": 0.0},
        {"mtime": NEW_YEAR.timestamp(), "updated": 0.0},
    ],
    ids=["LastModified", "mtime", "updated", "LastModified first", "mtime before updated"],
)
def test_the_age_of_an_object_store_file_is_the_stamp_its_store_gives(info: dict[str, Any]) -> None:
    assert _modified(StoredFile(info)) == NEW_YEAR.timestamp()


@pytest.mark.parametrize(
    "info",
    [
        {"last_modified": NEW_YEAR, "size": 1},  # adlfs
        {"updated": "2024-01-01T00:00:00.000000Z", "size": 1},  # ISO 8601 text
        {"updated": "2024-01-01T01:00:00+01:00"},
        {"mtime": 0, "updated": NEW_YEAR},  # a zero stamp is no stamp
        {"LastModified": None, "mtime": "not a time", "updated": NEW_YEAR},
    ],
    ids=["last_modified", "ISO text", "ISO text with offset", "zero skipped", "unreadable skipped"],
)
def test_the_age_of_an_object_store_file_is_read_from_any_stamp_its_store_gives(info: dict[str, Any]) -> None:
    assert _modified(StoredFile(info)) == NEW_YEAR.timestamp()


@pytest.mark.parametrize("info", [{"size": 1}, {"mtime": 0}, {"updated": "yesterday"}, {"mtime": True}])
def test_an_object_store_file_of_unknown_age_is_new_so_its_run_is_kept(info: dict[str, Any]) -> None:
    """A store that gives no stamp this package reads: the file's age is unknown, and cleanup never deletes a run
    for an age it does not know (it was 0, the epoch: every marked run went, whatever its age)."""
    assert _modified(StoredFile(info)) == math.inf


def test_any_positive_stamp_is_a_time_even_the_first_second() -> None:
    assert _modified(StoredFile({"mtime": 1})) == 1.0
    assert _modified(StoredFile({"mtime": 0.5})) == 0.5


def test_a_relative_root_is_taken_from_the_workflow_folder_and_marked_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    workflow_dir = tmp_path / "workflows"
    context = RunContext(workflow_name="w", run_id="r/task", staging_root="staging", base_dir=workflow_dir)

    uri = context.staging_uri("output.jsonl")
    with StagedFileWriter(context.resolve_path(uri), producer="t"):  # what the file sink does with a path
        pass

    assert uri == str(workflow_dir / "staging" / "w" / "r" / "task" / "output.jsonl")
    assert files_under(tmp_path) == {
        "workflows",
        "workflows/staging",
        "workflows/staging/w",
        "workflows/staging/w/r",
        f"workflows/staging/w/r/{RUN_MARKER}",
        "workflows/staging/w/r/task",
        "workflows/staging/w/r/task/output.jsonl",
    }


def test_the_installed_command_exits_1_on_a_run_id_leaving_the_root(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = _cli_folder(tmp_path)
    before = files_under(tmp_path)
    command = str(Path(sys.executable).parent / "airflow-ingest")

    done = subprocess.run(
        [command, "run", "flow.yaml", "--run-id", "../../x"], cwd=folder, capture_output=True, text=True, check=False
    )

    assert done.returncode == 1
    assert done.stderr == "--run-id '../../x' contains a path separator ('/'); it must be a single folder name\n"
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(
    ("stamps", "warned"),
    [
        ([math.inf, math.inf], True),  # no file's age is known
        ([math.inf, 0.0], True),  # the known one is old: only the unknown one keeps the run
        ([math.inf, NEW_YEAR.timestamp()], False),  # the known one is recent: the run is kept for it
        ([NEW_YEAR.timestamp()], False),
    ],
    ids=["all unknown", "unknown and old", "unknown and recent", "known and recent"],
)
def test_a_run_kept_only_for_files_of_unknown_age_is_named_in_a_warning(
    stamps: list[float], warned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_ingest.staging import retention

    run = "s3://bucket/root/wf/run1"
    files = [(f"{run}/task/file{n}.jsonl", stamp) for n, stamp in enumerate(stamps)]
    monkeypatch.setattr(retention, "_marked_run_folders", lambda folder: [(run, files)])
    warnings: list[str] = []
    now = NEW_YEAR.timestamp() + 3 * DAY
    assert remove_expired_runs("s3://bucket/root", "wf", 7, now=now, warn=warnings.append) == []
    if warned:
        [warning] = warnings
        assert warning.startswith(f"kept {run}: its store gives {stamps.count(math.inf)} of its files no modification")
        assert "LastModified, last_modified, mtime, updated" in warning
    else:
        assert warnings == []


# --- a staging root that cannot be used -------------------------------------------------------------


@pytest.mark.parametrize(
    ("root", "said"),
    [
        ("s4://bucket/x", "unknown scheme 's4://'"),
        ("nosuchfs://bucket/x", "unknown scheme 'nosuchfs://'"),
        (
            "gs://bucket/x",
            "no filesystem for gs:// is installed (Please install gcsfs to access Google Storage):"
            " install apache-airflow-providers-google",
        ),
        ("abfs://container/x", "install apache-airflow-providers-microsoft-azure"),
    ],
)
def test_a_staging_root_no_installed_filesystem_serves_is_named_with_what_to_install(root: str, said: str) -> None:
    assert said in filesystem_problem(root)
    with pytest.raises(ConfigurationError, match=f"^staging_root {root}: "):
        check_store(root)


def test_an_s3_root_without_s3fs_names_this_packages_s3_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_ingest.staging import paths

    monkeypatch.setattr(paths, "_installed", lambda module: module != "s3fs")
    assert filesystem_problem("s3://aws_conn@bucket/x") == (
        "no filesystem for s3:// is installed (Install s3fs to access S3): install this package's s3 extra:"
        " airflow-provider-ingest[s3] (apache-airflow-providers-amazon[s3fs])"
    )


@pytest.mark.parametrize("root", ["relative/staging", "/tmp/x", "file:///tmp/x", "s3://bucket/x", "S3://bucket/x"])
def test_local_roots_and_installed_schemes_have_no_filesystem_problem(root: str) -> None:
    assert filesystem_problem(root) is None


@given(scheme=st.text(min_size=1, max_size=12).filter(lambda text: "://" not in text and "/" not in text))
@settings(max_examples=200, deadline=None)
def test_any_scheme_is_served_or_named_as_a_problem_never_an_exception(scheme: str) -> None:
    from fsspec.registry import known_implementations, registry

    problem = filesystem_problem(f"{scheme}://bucket/x")
    assert problem is None or problem.startswith(("unknown scheme", "no filesystem for"))
    if problem is None:
        assert scheme.lower() in registry or scheme.lower() in known_implementations


def test_a_local_root_below_a_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigurationError, match=f"staging_root {tmp_path}/a_file/staging: .*a_file is not a folder"):
        check_store(str(tmp_path / "a_file" / "staging"))
    check_store(str(tmp_path / "new" / "staging"))  # created when the first file is written
    assert list(tmp_path.iterdir()) == [tmp_path / "a_file"]


def test_a_store_that_does_not_answer_is_unavailable_and_one_without_credentials_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from s3fs import S3FileSystem
    from support.servers import closed_port

    from airflow_provider_ingest.errors import ServiceUnavailableError

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    S3FileSystem.clear_instance_cache()  # fsspec keeps a filesystem by its settings, not the environment read
    with pytest.raises(ConfigurationError, match=r"^staging_root s3://nocredentials/x: cannot be used: NoCredentials"):
        check_store("s3://nocredentials/x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    S3FileSystem.clear_instance_cache()
    with closed_port() as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        with pytest.raises(ServiceUnavailableError, match=r"^staging_root s3://unreachable/x: the store cannot be"):
            check_store("s3://unreachable/x")
    S3FileSystem.clear_instance_cache()


def test_a_run_with_an_unusable_staging_root_fails_before_reading_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was an internal error (exit 2) once the whole run was done: the dead letters' clean-up raised."""
    (tmp_path / "a_file").write_text("x")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "source: {type: sql, config: {sample: shop}}\n"
        "sink: {type: file, config: {path: out.jsonl}}\n"
        "workflow: {staging_root: a_file/staging}\n"
    )
    assert main(["run", "--quiet", str(flow)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == (
        f"run failed: ConfigurationError: staging_root {tmp_path}/a_file/staging: {tmp_path}/a_file is not a folder"
    )
    assert "source:sql        0" in out and "internal error" not in err
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("root", "said"),
    [("s4://bucket/x", "unknown scheme 's4://'"), ("gs://bucket/x", "install apache-airflow-providers-google")],
)
def test_validate_and_run_name_the_staging_root_no_filesystem_serves(
    root: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"source: {{type: sql, config: {{sample: shop}}}}\nsink: {{type: console}}\nworkflow:\n  staging_root: {root}\n"
    )
    for command in (["validate"], ["run", "--quiet"]):
        assert main([*command, str(flow)]) == 1
        out, err = capsys.readouterr()
        assert err.startswith(f"{flow}:4:3: workflow.staging_root: ") and said in err, err
        assert "internal error" not in err and out == ""


def test_a_scheme_given_by_a_reference_is_judged_when_the_run_resolves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "source: {type: sql, config: {sample: shop}}\nsink: {type: console}\n"
        "workflow: {staging_root: '${H_SCHEME}://bucket/x'}\n"
    )
    assert main(["validate", str(flow)]) == 0
    monkeypatch.setenv("H_SCHEME", "s4")
    assert main(["run", "--quiet", str(flow)]) == 1
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("run failed: ConfigurationError: staging_root s4://bucket/x: unknown scheme 's4://'")
    )


def test_a_write_that_fails_names_the_file(tmp_path: Path) -> None:
    """A full disk (or a quota, a read-only filesystem) says which file it refused: ``[Errno 28] No space left on
    device`` alone did not tell which of a run's files, on which filesystem."""
    import errno

    from airflow_provider_ingest.staging import paths

    uri = str(tmp_path / "out.jsonl")
    with pytest.raises(OSError) as raised, paths.atomic_write(uri):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == uri
    assert str(raised.value) == f"[Errno 28] No space left on device: '{uri}'"
    assert list(tmp_path.iterdir()) == []  # its temporary file removed
    with pytest.raises(ConnectionResetError), paths.atomic_write(uri):  # anything else goes as it is
        raise ConnectionResetError("reset")
