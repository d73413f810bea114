"""The status report every component keeps: records, failures, warnings, filtered, elapsed."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

SAMPLE_LIMIT = 100
"""How many failures and warnings a report keeps verbatim; the counts go on past it."""


class Failure(BaseModel):
    """One failed record: its FQN (when known) and the error."""

    fqn: str | None = None
    error: str


class Report(BaseModel):
    """What one component did in one run."""

    component: str
    records: int = 0
    carried: int = 0
    """Of ``records``, those every part of a partitioned run carries (the service and database records): counted
    toward the success rate by no part, so that copies cannot make up for failures."""
    filtered: int = 0
    uncommitted: int = 0
    """Of ``records``, those a failed step did not commit: the component writes them out whole at the end (a file, a
    staged file), and the step failed before or while it did, so none of them is in place."""
    failure_count: int = 0
    failures: list[Failure] = []
    warning_count: int = 0
    warnings: list[str] = []
    counters: dict[str, int] = Field(default_factory=dict)
    started: float | None = None
    elapsed: float = 0.0

    def __setattr__(self, name: str, value: object) -> None:
        """A field is set as it is, nothing to validate: the record loop counts each record twice or more, and
        pydantic's own setattr costs about 0.5 µs a call (a twentieth of a record read and written)."""
        if name in _FIELDS:
            self.__dict__[name] = value
        else:
            super().__setattr__(name, value)

    def add_failure(self, error: str, fqn: str | None = None) -> None:
        """Count one failure and keep it in the sample."""
        self.failure_count += 1
        if len(self.failures) < SAMPLE_LIMIT:
            self.failures.append(Failure(fqn=fqn, error=error))

    def add_warning(self, message: str) -> None:
        """Count one warning and keep it in the sample."""
        self.warning_count += 1
        if len(self.warnings) < SAMPLE_LIMIT:
            self.warnings.append(message)

    def count(self, counter: str, amount: int = 1) -> None:
        """Add to a component-specific counter (tags added, documents created...)."""
        self.counters[counter] = self.counters.get(counter, 0) + amount

    def start(self) -> None:
        """Mark the start of the component's work."""
        self.started = time.monotonic()

    def stop(self) -> None:
        """Record the time elapsed since :meth:`start`."""
        if self.started is not None:
            self.elapsed = time.monotonic() - self.started

    @property
    def success_rate(self) -> float:
        """Percent of handled records (but those carried) that did not fail; 100 when nothing was handled."""
        succeeded = self.records - self.carried
        handled = succeeded + self.failure_count
        return 100.0 if handled == 0 else 100.0 * succeeded / handled

    def summary(self) -> dict[str, object]:
        """A small dict for logs and XComs."""
        return {
            "component": self.component,
            "records": self.records,
            "filtered": self.filtered,
            "failures": self.failure_count,
            "warnings": self.warning_count,
            "success_rate": round(self.success_rate, 2),
            "elapsed": round(self.elapsed, 3),
            **({"uncommitted": self.uncommitted} if self.uncommitted else {}),
            **({"counters": dict(self.counters)} if self.counters else {}),
        }


_FIELDS = frozenset(Report.model_fields)
