"""Ctrl-C and SIGTERM stop a run: never exit 0, nothing committed, no temporary file left, the rerun identical."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_ingest.records import Table
from airflow_provider_ingest.run.interrupt import Interruption, RunInterrupted, on_signals, signals_held
from airflow_provider_ingest.staging import StagedFileWriter

RECORDS = 500_000
COMMAND = str(Path(sys.executable).parent / "airflow-ingest")
WORKFLOW = """\
source: {type: file, config: {path: in.jsonl}}
processors:
  - type: filter
    config: {fqn: {exclude: ["svc\\\\.db\\\\.s\\\\.t1\\\\d*7"]}}
sink: {type: file, config: {path: out.jsonl}}
stage: {type: file}
bulk_sink: {type: file, config: {path: published.jsonl}}
workflow: {staging_root: staging}
"""


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A staged file of 500,000 tables."""
    path = tmp_path_factory.mktemp("input") / "in.jsonl"
    with StagedFileWriter(str(path), producer="test") as out:
        for index in range(RECORDS):
            out.write(Table(service="svc", database="db", database_schema="s", name=f"t{index}"))
    return path


def workflow(folder: Path, big_input: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in.jsonl").symlink_to(big_input)
    path = folder / "flow.yaml"
    path.write_text(WORKFLOW)
    return path


def run(path: Path, *, run_id: str, stop: tuple[int, float] | None = None) -> subprocess.CompletedProcess[str]:
    """``airflow-ingest run``, sent ``stop = (signal, after seconds)`` if given."""
    temp = path.parent / "tmp"
    temp.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [COMMAND, "run", "--quiet", "--run-id", run_id, str(path)],
        cwd=path.parent,
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if stop is not None:
        signum, after = stop
        time.sleep(after)
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders of a run: ``.partial`` files anywhere, anything in its temporary folder."""
    partial = [p for p in folder.rglob("*") if ".partial" in p.name]
    spilled = list((folder / "tmp").iterdir()) if (folder / "tmp").exists() else []
    return sorted(str(p.relative_to(folder)) for p in partial + spilled)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, big_input: Path) -> dict[str, bytes]:
    """The files an uninterrupted run writes."""
    folder = tmp_path_factory.mktemp("whole")
    done = run(workflow(folder, big_input), run_id="r")
    assert done.returncode == 0, done.stdout + done.stderr
    return {name: (folder / name).read_bytes() for name in ("out.jsonl", "published.jsonl")}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_commits_nothing_and_the_rerun_is_identical(
    tmp_path: Path, big_input: Path, uninterrupted: dict[str, bytes], signum: int
) -> None:
    path = workflow(tmp_path, big_input)
    random.seed(signum)
    stops = []
    for attempt, after in enumerate(sorted(random.uniform(0.8, 6.0) for _ in range(2))):
        stopped = run(path, run_id="r", stop=(signum, after))
        assert stopped.returncode != 0, f"attempt {attempt} stopped after {after:.1f}s exited 0"
        stops.append(stopped.returncode)
        if stopped.returncode in (130, 143):
            assert stopped.returncode == 128 + signum
            assert "nothing was committed" in stopped.stderr
            assert "Traceback" not in stopped.stderr
            assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "published.jsonl").exists()
        assert leftovers(tmp_path) == []
    assert 128 + signum in stops, f"no attempt was stopped mid-run: exit codes {stops}"
    rerun = run(path, run_id="r")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {name: (tmp_path / name).read_bytes() for name in uninterrupted} == uninterrupted
    assert leftovers(tmp_path) == []


def test_a_spill_folder_left_by_a_killed_process_is_removed_by_the_next_stage(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from airflow_provider_ingest.api import RunContext
    from airflow_provider_ingest.components.file import FileStage

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"ingest-stage-{dead.stdout.strip()}-x1"
    live = tmp_path / f"ingest-stage-{os.getppid()}-x2"  # another stage's, still running
    for folder in (orphan, live):
        folder.mkdir()
        (folder / "table").write_bytes(b"{}\n")
    stage = FileStage.create({}, RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path / "s")))
    stage.prepare()
    try:
        assert not orphan.exists() and live.exists()
    finally:
        stage.close()


@pytest.mark.parametrize("repeat", [True, False])
def test_a_signal_after_the_first_raises_again_only_with_repeat(repeat: bool) -> None:
    """The CLI's run: a second Ctrl-C cuts a slow clean-up short. A ``--workers`` part: the parent's SIGTERM after
    the Ctrl-C that reached every process must not cut its clean-up short."""
    interruption = Interruption()
    cleaned = False
    with pytest.raises(RunInterrupted) as stopped, on_signals(interruption, repeat=repeat):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises before this ends
        finally:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                cleaned = True
            except RunInterrupted as again:
                assert again.signum == signal.SIGTERM
                raise
    assert stopped.value.signum == (signal.SIGTERM if repeat else signal.SIGINT)
    assert cleaned is not repeat
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back on the way out


def test_signals_held_are_handled_once_released() -> None:
    interruption = Interruption()
    with pytest.raises(RunInterrupted) as stopped, on_signals(interruption):
        with signals_held():
            # to this thread: the test session has other threads, which may take a signal sent to the process
            # (``run --workers`` holds them with none running)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
            time.sleep(0.05)
            held = interruption.signum is None  # not handled yet: still blocked
        time.sleep(5)  # handled on the way out of the block, before this ends
    assert held and stopped.value.signum == signal.SIGTERM
