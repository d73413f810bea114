"""The test session's own Airflow home in the temporary folder, and the clean-up of those a killed session left.

A session holds a lock on its home's owner file for as long as it runs (the lock goes with its process, however
it ends); a home whose owner file nobody holds a lock on belongs to a session that is gone. A lock, not a process
id: ids are reused, and sessions in other PID namespaces (containers sharing ``/tmp``) see each other's as dead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

PREFIX = "ingest-tests-airflow-"
OWNER = "owner.lock"
"""The file in a home that its session holds a lock on."""


def make_home(folder: str | None = None) -> tuple[Path, IO[str]]:
    """A new Airflow home for this session, and its owner file, locked (keep it open for the session); first, the
    homes of sessions that are gone are removed."""
    remove_abandoned(folder)
    home = Path(tempfile.mkdtemp(prefix=PREFIX, dir=folder))
    owner = open(home / OWNER, "w")
    fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    owner.write(f"{os.getpid()}\n")
    owner.flush()
    return home, owner


def remove_abandoned(folder: str | None = None) -> list[Path]:
    """Remove the homes of sessions killed before their end (a session removes its own when it ends); a home
    without an owner file (a session just starting, or made by an older version) is left alone."""
    removed = []
    for home in Path(folder or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = open(home / OWNER)
        except OSError:
            continue
        with owner:
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: its session is running
                continue
            shutil.rmtree(home, ignore_errors=True)
        if not home.exists():
            removed.append(home)
    return removed
