"""The test sessions' Airflow homes: one a killed session left is removed by the next session, no other."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

import pytest
from support.homes import OWNER, PREFIX, make_home, remove_abandoned


def test_a_home_whose_session_is_gone_is_removed_by_the_next_session(tmp_path: Path) -> None:
    abandoned = tmp_path / f"{PREFIX}killed"
    (abandoned / "dags").mkdir(parents=True)
    (abandoned / "airflow.db").write_bytes(b"x" * 1000)
    (abandoned / OWNER).write_text("12345\n")  # its session's lock went with its process
    home, owner = make_home(str(tmp_path))
    with owner:
        assert not abandoned.exists()
        assert home.name.startswith(PREFIX) and (home / OWNER).is_file()
        assert remove_abandoned(str(tmp_path)) == []  # this session's own, locked: kept
        assert home.is_dir()


def test_homes_of_running_sessions_and_homes_without_an_owner_file_are_kept(tmp_path: Path) -> None:
    running = tmp_path / f"{PREFIX}running"
    running.mkdir()
    (running / OWNER).write_text("1\n")
    holder = subprocess.Popen(  # another process (another session) holding its home's lock
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(running / OWNER),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        starting = tmp_path / f"{PREFIX}starting"  # made, its owner file not written yet
        starting.mkdir()
        other = tmp_path / "someone-else"
        other.mkdir()
        (other / OWNER).write_text("1\n")
        assert remove_abandoned(str(tmp_path)) == []
        assert all(path.is_dir() for path in (running, starting, other))
    finally:
        holder.communicate("")
    assert remove_abandoned(str(tmp_path)) == [running]  # its session ended without removing it


def test_the_lock_is_the_sessions_own() -> None:
    """This session holds its own home's lock: another open of the owner file cannot take it."""
    import conftest

    with open(conftest._AIRFLOW_HOME / OWNER) as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
