"""The test session's own Airflow home in the temporary folder, and the clean-up of those a killed session left."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "ingest-tests-airflow-"
OWNER = "owner.pid"
"""The file in a home naming the process of the session that made it."""


def make_home(folder: str | None = None) -> Path:
    """A new Airflow home for this session, marked with this process's id; first, homes whose session is gone."""
    remove_abandoned(folder)
    home = Path(tempfile.mkdtemp(prefix=PREFIX, dir=folder))
    (home / OWNER).write_text(str(os.getpid()))
    return home


def remove_abandoned(folder: str | None = None) -> list[Path]:
    """Remove the homes of sessions killed before their end (a session removes its own when it ends); a home
    without an owner file (a session just starting, or made by an older version) is left alone."""
    removed = []
    for home in Path(folder or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((home / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            shutil.rmtree(home, ignore_errors=True)
            removed.append(home)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
