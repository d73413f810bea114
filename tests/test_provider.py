"""The package is an Airflow provider: ``airflow providers`` commands see it by its distribution name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_ingest import __version__


def test_airflow_lists_the_provider_with_its_connection_types(tmp_path: Path) -> None:
    environment = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    airflow = [sys.executable, "-m", "airflow"]
    command = [*airflow, "providers", "get", "airflow-provider-ingest", "--full", "--output", "json"]
    shown = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    [provider] = json.loads(shown.stdout[shown.stdout.index("[") :])
    assert provider["package-name"] == "airflow-provider-ingest"
    assert provider["versions"] == [__version__]
    assert [c["connection-type"] for c in provider["connection-types"]] == ["ingest_elasticsearch", "openmetadata"]

    listed = subprocess.run(
        [*airflow, "providers", "list", "--output", "json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    packages = {row["package_name"]: row["version"] for row in json.loads(listed.stdout[listed.stdout.index("[") :])}
    assert packages["airflow-provider-ingest"] == __version__
