"""Deletes expired staged runs: only run folders this package wrote, and stale temporary files in them.

A run folder is ``{staging_root}/{workflow}/{run}`` holding the marker file ``paths.RUN_MARKER``, written
before its first staged file. Nothing else under or beside the root is touched: not an unmarked folder,
not a file, not a symbolic link, not the folder of another workflow.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from airflow_provider_ingest.staging import paths

DAY = 86400.0


def remove_expired_runs(
    staging_root: str,
    workflow_name: str,
    retention_days: int,
    now: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[str]:
    """Remove the marked run folders of a workflow whose newest file is older than the retention.

    In the run folders kept, temporary ``*.partial`` files older than the retention that no writer holds (left by a
    killed process) are removed. A run kept only because its store gives some files no readable modification time is
    named to ``warn``. Returns the removed run folders.
    """
    cutoff = (time.time() if now is None else now) - retention_days * DAY
    folder = paths.join(staging_root, paths.check_segment(workflow_name, "workflow name (dag id)"))
    paths.check_inside(staging_root, folder)
    removed = []
    for run_folder, files in _marked_run_folders(folder):
        paths.check_inside(folder, run_folder)
        if max(modified for _, modified in files) < cutoff:
            paths.remove_tree(run_folder)
            removed.append(run_folder)
            continue
        unknown = sum(modified == math.inf for _, modified in files)
        if unknown and warn is not None and max((m for _, m in files if m != math.inf), default=-math.inf) < cutoff:
            warn(
                f"kept {run_folder}: its store gives {unknown} of its files no modification time this package reads"
                f" ({', '.join(STAMPS)}), so their age is unknown; delete the folder once it is no longer needed"
            )
        for uri, modified in files:
            if modified < cutoff and paths.is_partial(uri.rsplit("/", 1)[-1]) and _unheld(uri):
                paths.remove(uri)
    return removed


def _unheld(uri: str) -> bool:
    """Whether no writer holds a temporary file: locally, its lock is free (:func:`paths.is_stale`); an object store's
    cannot be told, and is taken as a dead writer's once older than the retention."""
    return not paths.is_local(uri) or paths.is_stale(paths.local_path(uri))


def _marked_run_folders(folder: str) -> list[tuple[str, list[tuple[str, float]]]]:
    """Each marked run folder directly under ``folder``, with every file in it and its modification time."""
    if paths.is_local(folder):
        return _local_run_folders(paths.local_path(folder))
    root = paths.object_path(folder)
    if not root.is_dir():
        return []
    found = []
    for run in root.iterdir():
        if run.is_dir() and (run / paths.RUN_MARKER).is_file():
            found.append((str(run), [(str(item), _modified(item)) for item in run.rglob("*") if item.is_file()]))
    return found


def _local_run_folders(root: Path) -> list[tuple[str, list[tuple[str, float]]]]:
    """Local run folders: real directories (not links) holding the marker as a regular file."""
    if root.is_symlink() or not root.is_dir():
        return []
    found = []
    with os.scandir(root) as entries:
        runs = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    for run in sorted(runs):
        marker = os.path.join(run, paths.RUN_MARKER)
        if os.path.islink(marker) or not os.path.isfile(marker):
            continue
        found.append((run, [(path, os.lstat(path).st_mtime) for path in paths.files_under(run)]))
    return found


STAMPS = ("LastModified", "last_modified", "mtime", "updated")
"""Where object stores give a file's modification time: s3fs, adlfs, seconds, gcsfs (in that order)."""


def _modified(path: object) -> float:
    """A stored file's modification time (a datetime, seconds or ISO 8601 text, whichever its store gives); a file
    whose store gives none it can read is taken as new: its run is kept, never deleted for an unknown age."""
    info = path.stat()  # type: ignore[attr-defined]
    for key in STAMPS:
        stamp = info.get(key)
        if hasattr(stamp, "timestamp"):
            return stamp.timestamp()
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and stamp > 0:
            return float(stamp)
        if isinstance(stamp, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(stamp).timestamp()
    return math.inf
