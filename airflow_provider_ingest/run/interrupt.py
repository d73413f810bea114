"""Stopping a run from outside: Ctrl-C, SIGTERM, or Airflow's ``on_kill``; nothing is committed then."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator


class RunInterrupted(BaseException):
    """The run was stopped by a signal; like ``KeyboardInterrupt``, no ``except Exception`` catches it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by this signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class Interruption:
    """A stop request, set by a signal handler or ``on_kill`` and checked by the record loop."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Ask the run to stop at the next record."""
        self.signum = signum

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a stop was requested."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)


@contextlib.contextmanager
def on_signals(interruption: Interruption) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM request a stop and raise :class:`RunInterrupted` where the run is; a signal
    once a stop was requested is not raised again, so that the stopping run's clean-up finishes (a second Ctrl-C, or
    the SIGTERM a ``--workers`` parent sends its workers after the Ctrl-C that reached them all)."""

    owner = os.getpid()

    def stop(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # inherited by a process forked meanwhile (a new worker): the signal ends it
            raise SystemExit(128 + signum)
        if interruption.signum is not None:
            return
        interruption.request(signum)
        raise RunInterrupted(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
