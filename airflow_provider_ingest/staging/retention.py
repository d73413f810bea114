"""Deletes staged run folders older than the retention."""

from __future__ import annotations

import time

from airflow_provider_ingest.staging import paths

DAY = 86400.0


def remove_expired_runs(
    staging_root: str, workflow_name: str, retention_days: int, now: float | None = None
) -> list[str]:
    """Remove ``{staging_root}/{workflow_name}/<run>`` folders whose newest file is older than the retention."""
    cutoff = (time.time() if now is None else now) - retention_days * DAY
    folder = paths.join(staging_root, workflow_name)
    removed = []
    for run_folder, newest in _run_folders(folder):
        if newest < cutoff:
            paths.remove_tree(run_folder)
            removed.append(run_folder)
    return removed


def _run_folders(folder: str) -> list[tuple[str, float]]:
    """Each run folder under ``folder`` with the modification time of its newest file."""
    if paths.is_local(folder):
        root = paths.local_path(folder)
        if not root.is_dir():
            return []
        found = []
        for run in root.iterdir():
            if run.is_dir():
                times = [item.stat().st_mtime for item in run.rglob("*") if item.is_file()]
                found.append((str(run), max(times, default=run.stat().st_mtime)))
        return found
    root_path = paths.object_path(folder)
    if not root_path.exists():
        return []
    found = []
    for run in root_path.iterdir():
        if run.is_dir():
            times = [_modified(item) for item in run.rglob("*") if item.is_file()]
            found.append((str(run), max(times, default=0.0)))
    return found


def _modified(path: object) -> float:
    info = path.stat()  # type: ignore[attr-defined]
    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated") or 0
    return stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
