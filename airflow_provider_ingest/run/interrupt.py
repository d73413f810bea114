"""Stopping a run from outside: Ctrl-C, SIGTERM, or Airflow's ``on_kill``; nothing is committed then."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from airflow_provider_ingest.terminal import printable

SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a run."""


class RunInterrupted(BaseException):
    """The run was stopped by a signal; like ``KeyboardInterrupt``, no ``except Exception`` catches it."""

    def __init__(self, signum: int, kept: str | None = None) -> None:
        self.signum = signum
        self.kept = kept
        """A staged file committed before the stop where the workflow names, kept (see ``lifecycle.execute``); its
        secrets hidden, for showing."""
        stopped = f"stopped by {signal.Signals(signum).name}"
        super().__init__(f"{stopped}; {self.outcome}" if kept else stopped)

    @property
    def outcome(self) -> str:
        """What the stop left, for showing: nothing committed, or the staged file kept."""
        if self.kept is None:
            return "nothing was committed"
        return f"the staged file {printable(self.kept)} is kept, its publishing may be incomplete"

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
def on_signals(interruption: Interruption, *, repeat: bool = True) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM request a stop and raise :class:`RunInterrupted` where the run is. With
    ``repeat``, each later signal raises again (a second Ctrl-C cuts a slow clean-up short); without, only the
    first does, so that the stopping run's clean-up finishes (a ``--workers`` part, which gets the parent's SIGTERM
    after the Ctrl-C that reached every process)."""

    def stop(signum: int, frame: object) -> None:
        if interruption.signum is not None and not repeat:
            return
        interruption.request(signum)
        raise RunInterrupted(signum)

    previous = {signum: signal.signal(signum, stop) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM wait (blocked in this thread, where the platform can: a process with other
    threads running must block them there too); they are handled on the way out. A process forked inside starts
    with them blocked and handles them once it unblocks them (:func:`release`)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def hold() -> None:
    """Block SIGINT and SIGTERM in this thread (where the platform can), for good."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def release() -> None:
    """Unblock SIGINT and SIGTERM in this thread: any that arrived meanwhile are handled now."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
