"""The status table of a run, the same in the CLI's output, in an Airflow task's log and in the UI's report.

A task keeps its status in XCom as :func:`status_data` (small: each report with its first failures and
warnings); :func:`status_result` turns that back into a result that gives the same table.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from airflow_provider_ingest.api.report import Report
from airflow_provider_ingest.terminal import printable

if TYPE_CHECKING:
    from airflow_provider_ingest.run.lifecycle import RunResult

HEADER = ("component", "records", "filtered", "failed", "warnings", "success %", "seconds")
NOT_COMMITTED = "not committed"
"""The success cell of a component whose records a failed run did not commit (``Report.uncommitted``)."""
SHOWN_FAILURES = 5
"""Failures the table shows of each component (every one is in the dead letters)."""
SHOWN_WARNINGS = 20
"""Warnings the table shows of each component (warnings are kept nowhere else, so more than failures)."""
STATUS_VERSION = 1
"""The version of :func:`status_data`'s layout."""
STATUS_XCOM_KEY = "ingest_status"
"""The XCom key under which an ingest task keeps :func:`status_data`, pushed whether the task succeeds or fails."""
MAX_TEXT = 2000
"""Longest failure or warning text :func:`status_data` keeps (longer ones are cut, ending in ``...``)."""
MAX_REPORTS = 50
"""Most reports :func:`bounded_status` keeps (a task has its component's, its input's and output's; a whole
workflow in one task, one a component)."""
MAX_NAME = 100
"""Longest component or counter name :func:`bounded_status` keeps."""
MAX_COUNTERS = 200
"""Most counters :func:`bounded_status` keeps of one report."""


def status_rows(result: RunResult) -> list[tuple[str, ...]]:
    """The table's cells: :data:`HEADER`, then one row per component, as the text table shows them."""
    rows = [HEADER]
    for report in result.reports:
        rows.append(
            (
                printable(report.component),
                f"{report.records:,}",
                f"{report.filtered:,}",
                f"{report.failure_count:,}",
                f"{report.warning_count:,}",
                NOT_COMMITTED if report.uncommitted else f"{report.success_rate:.1f}",
                f"{report.elapsed:.2f}",
            )
        )
    return rows


def status_notes(result: RunResult) -> list[str]:
    """What follows the table: the first failures and warnings (and how many more of each),
    counters, the files, and the outcome; each one line, whatever the names and errors in it hold (see
    :func:`~airflow_provider_ingest.terminal.printable`)."""
    lines = []
    for report in result.reports:
        shown = report.failures[:SHOWN_FAILURES]
        for failure in shown:
            lines.append(f"  {report.component} failed {failure.fqn or '-'}: {failure.error}")
        if report.failure_count > len(shown):
            more = report.failure_count - len(shown)
            lines.append(f"  {report.component}: and {more:,} more failed, each in the dead letters")
        warnings = report.warnings[:SHOWN_WARNINGS]
        for warning in warnings:
            lines.append(f"  {report.component} warning: {warning}")
        if report.warning_count > len(warnings):
            lines.append(f"  {report.component}: and {report.warning_count - len(warnings):,} more warnings")
        if report.uncommitted:
            lines.append(
                f"  {report.component}: {report.uncommitted:,} records not committed (the run failed before or while"
                " writing them out): none of them is in place"
            )
        for counter, value in sorted(report.counters.items()):
            lines.append(f"  {report.component} {counter}: {value:,}")
    if result.staged_uri:
        lines.append(f"staged file: {result.staged_uri}")
    if result.dead_letter_uri:
        lines.append(f"dead letters: {result.dead_letter_uri}")
    lines.append(outcome(result))
    return [printable(line) for line in lines]


def status_lines(result: RunResult) -> list[str]:
    """The table of every component, its first failures, warnings and counters, the files, and the outcome."""
    rows = status_rows(result)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return lines + status_notes(result)


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


class _Status(BaseModel):
    """The layout of :func:`status_data`, checked when read back."""

    version: int
    reports: list[Report]
    threshold: float
    staged_uri: str | None = None
    output_uri: str | None = None
    dead_letter_uri: str | None = None
    error: str | None = None
    below_threshold: list[str] = []


def status_data(result: RunResult) -> dict[str, Any]:
    """The result as a small JSON-safe dict for XCom: each report keeps only the failures and warnings the table shows.

    Failure and warning texts are those of the reports (already scrubbed of the run's secrets), cut at
    :data:`MAX_TEXT` characters.
    """
    return {
        "version": STATUS_VERSION,
        "reports": [
            report.model_dump(mode="json", exclude={"started"})
            | {
                "failures": [
                    {"fqn": failure.fqn, "error": _cut(failure.error)} for failure in report.failures[:SHOWN_FAILURES]
                ],
                "warnings": [_cut(warning) for warning in report.warnings[:SHOWN_WARNINGS]],
            }
            for report in result.reports
        ],
        "threshold": result.threshold,
        "staged_uri": result.staged_uri,
        "output_uri": result.output_uri,
        "dead_letter_uri": result.dead_letter_uri,
        "error": result.error,
        "below_threshold": list(result.below_threshold),
    }


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bounded_status(data: Any) -> Any:
    """A status read from XCom (which may be written by hand, through Airflow's API) cut to what a page can show,
    before it is validated: so a huge status costs no more than a small one."""
    if not isinstance(data, dict) or not isinstance(data.get("reports"), list):
        return data
    bounded = {key: _text(value) for key, value in data.items()}
    bounded["reports"] = [_bounded_report(report) for report in data["reports"][:MAX_REPORTS]]
    if isinstance(data.get("below_threshold"), list):
        bounded["below_threshold"] = [_text(name, MAX_NAME) for name in data["below_threshold"][:MAX_REPORTS]]
    return bounded


def _bounded_report(report: Any) -> Any:
    if not isinstance(report, dict):
        return report
    bounded = {key: _text(value, MAX_NAME) for key, value in report.items()}
    if isinstance(report.get("failures"), list):
        bounded["failures"] = [
            {key: _text(value) for key, value in item.items()} if isinstance(item, dict) else item
            for item in report["failures"][:SHOWN_FAILURES]
        ]
    if isinstance(report.get("warnings"), list):
        bounded["warnings"] = [_text(item) for item in report["warnings"][:SHOWN_WARNINGS]]
    if isinstance(report.get("counters"), dict):
        counters = itertools.islice(report["counters"].items(), MAX_COUNTERS)
        bounded["counters"] = {_text(key, MAX_NAME): value for key, value in counters}
    return bounded


def _text(value: Any, limit: int = MAX_TEXT) -> Any:
    """A text cut at ``limit`` characters; anything else as it is (validation judges it)."""
    return _cut(value, limit) if isinstance(value, str) else value


def status_result(data: Any) -> RunResult:
    """The result :func:`status_data` describes; ``ValueError`` (naming the field) for anything else."""
    from airflow_provider_ingest.run.lifecycle import RunResult

    try:
        status = _Status.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "status"
        raise ValueError(f"not an ingest status: {where}: {problem['msg']}") from None
    if status.version != STATUS_VERSION:
        raise ValueError(f"not an ingest status: version {status.version} (this release reads {STATUS_VERSION})")
    return RunResult(
        reports=status.reports,
        threshold=status.threshold,
        staged_uri=status.staged_uri,
        output_uri=status.output_uri,
        dead_letter_uri=status.dead_letter_uri,
        error=status.error,
        below_threshold=status.below_threshold,
    )
