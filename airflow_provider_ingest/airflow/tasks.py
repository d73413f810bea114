"""Where an Airflow task keeps its staged files."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def task_folder(run_id: str, task_id: str, map_index: int = -1) -> str:
    """``{run_id}/{task_id}[/{map_index}]``, each part made safe for paths and object keys."""
    return "/".join(
        [_UNSAFE.sub("_", run_id), _UNSAFE.sub("_", task_id)] + ([str(map_index)] if map_index >= 0 else [])
    )
