"""The status table of a run, the same in the CLI's output and in an Airflow task's log."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_ingest.run.lifecycle import RunResult

HEADER = ("component", "records", "filtered", "failed", "warnings", "success %", "seconds")
SHOWN_FAILURES = 5


def status_lines(result: RunResult) -> list[str]:
    """The table of every component, its first failures, warnings and counters, the files, and the outcome."""
    rows = [HEADER]
    for report in result.reports:
        rows.append(
            (
                report.component,
                f"{report.records:,}",
                f"{report.filtered:,}",
                f"{report.failure_count:,}",
                f"{report.warning_count:,}",
                f"{report.success_rate:.1f}",
                f"{report.elapsed:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    for report in result.reports:
        for failure in report.failures[:SHOWN_FAILURES]:
            lines.append(f"  {report.component} failed {failure.fqn or '-'}: {failure.error}")
        for warning in report.warnings[:SHOWN_FAILURES]:
            lines.append(f"  {report.component} warning: {warning}")
        for counter, value in sorted(report.counters.items()):
            lines.append(f"  {report.component} {counter}: {value:,}")
    if result.staged_uri:
        lines.append(f"staged file: {result.staged_uri}")
    if result.dead_letter_uri:
        lines.append(f"dead letters: {result.dead_letter_uri}")
    lines.append(outcome(result))
    return lines


def outcome(result: RunResult) -> str:
    """``run succeeded`` (``with N warnings`` when there were), or ``run failed: <why>``."""
    if result.error:
        return f"run failed: {result.error}"
    if result.below_threshold:
        return f"run failed: success rate below {result.threshold:g}% in {', '.join(result.below_threshold)}"
    warnings = sum(report.warning_count for report in result.reports)
    if warnings:
        return f"run succeeded with {warnings:,} warning{'s' * (warnings != 1)} (see above)"
    return "run succeeded"
