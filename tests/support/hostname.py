"""The host name Airflow records for a task instance, for workers that share one machine."""

from __future__ import annotations

import os
import socket

WORKER_VARIABLE = "INGEST_TEST_WORKER"


def worker_hostname() -> str:
    """``INGEST_TEST_WORKER`` where a worker sets it (Airflow's ``core.hostname_callable``), else the FQDN."""
    return os.environ.get(WORKER_VARIABLE) or socket.getfqdn()
