"""Where an Airflow task keeps its staged files."""

from __future__ import annotations

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.staging.paths import check_segment


def task_folder(run_id: str, task_id: str, map_index: int = -1) -> str:
    """``{run_id}/{task_id}[/{map_index}]``: Airflow's names as they are, each checked to be one path segment.

    Names are kept unchanged (``manual__2024-01-01T00:00:00+00:00`` included) so that two runs never share
    a folder; a name that cannot be a folder (``..``, a separator) raises :class:`ConfigurationError`.
    """
    if isinstance(map_index, bool) or not isinstance(map_index, int) or map_index < -1:
        raise ConfigurationError(f"map index must be an integer of -1 or more, not {map_index!r}")
    names = [check_segment(run_id, "run id"), check_segment(task_id, "task id")]
    return "/".join(names + ([str(map_index)] if map_index >= 0 else []))
