"""Progress of a running step, reported from a background thread every few seconds."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from airflow_provider_ingest.api import Report

EVERY = 10.0
"""Seconds between two progress lines, unless the caller asks for another interval."""


class Progress:
    """Calls ``emit`` with one line (records, records/s, failures) every ``interval`` seconds while a step runs."""

    def __init__(self, emit: Callable[[str], None], interval: float = EVERY) -> None:
        self.emit = emit
        self.interval = interval

    @contextlib.contextmanager
    def watching(self, reports: list[Report]) -> Iterator[None]:
        """Report on ``reports`` until the block ends."""
        stop = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            while not stop.wait(self.interval):
                self.emit(progress_line(reports, time.monotonic() - started))

        thread = threading.Thread(target=tick, name="ingest-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def progress_line(reports: list[Report], elapsed: float) -> str:
    """``12,000 records  1,200/s  3 failed``: what the first component has read, the failures of all."""
    records = reports[0].records if reports else 0
    failed = sum(report.failure_count for report in reports)
    return f"{records:,} records  {records / max(elapsed, 1e-9):,.0f}/s  {failed:,} failed"
