"""The test sessions' Airflow homes: one a killed session left is removed by the next session, no other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.homes import OWNER, PREFIX, make_home, remove_abandoned


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_home_whose_session_is_gone_is_removed_by_the_next_session(tmp_path: Path) -> None:
    abandoned = tmp_path / f"{PREFIX}killed"
    (abandoned / "dags").mkdir(parents=True)
    (abandoned / "airflow.db").write_bytes(b"x" * 1000)
    (abandoned / OWNER).write_text(str(dead_pid()))
    home = make_home(str(tmp_path))
    assert not abandoned.exists()
    assert home.name.startswith(PREFIX) and (home / OWNER).read_text() == str(os.getpid())


def test_homes_of_live_sessions_and_homes_without_an_owner_are_kept(tmp_path: Path) -> None:
    live = tmp_path / f"{PREFIX}live"
    live.mkdir()
    (live / OWNER).write_text(str(os.getpid()))
    starting = tmp_path / f"{PREFIX}starting"  # made, its owner file not written yet
    starting.mkdir()
    garbled = tmp_path / f"{PREFIX}garbled"
    garbled.mkdir()
    (garbled / OWNER).write_text("not a pid")
    other = tmp_path / "someone-else"
    other.mkdir()
    (other / OWNER).write_text(str(dead_pid()))
    assert remove_abandoned(str(tmp_path)) == []
    assert all(path.is_dir() for path in (live, starting, garbled, other))
