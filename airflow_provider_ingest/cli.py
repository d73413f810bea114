"""``airflow-ingest``: run, validate and describe workflow files.

``validate``, ``components``, ``schema`` and ``--help`` never import Airflow, so they start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from airflow_provider_ingest.api import Report
    from airflow_provider_ingest.workflow.runner import RunResult


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``airflow-ingest`` command."""
    parser = argparse.ArgumentParser(prog="airflow-ingest", description="Metadata ingestion workflows.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a workflow file in this process")
    run.add_argument("file")
    run.add_argument("--run-id", help="name of this run's staging folder (default: a timestamp)")
    run.add_argument("--quiet", action="store_true", help="no progress line")
    check = commands.add_parser("validate", help="check workflow files; exit 1 if any has a problem")
    check.add_argument("files", nargs="+")
    commands.add_parser("components", help="list component types and their settings")
    commands.add_parser("schema", help="print the JSON Schema of workflow files")
    args = parser.parse_args(argv)
    handler = {"run": _run, "validate": _validate, "components": _components, "schema": _schema}[args.command]
    return handler(args)


def _validate(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.workflow.document import WorkflowFileError
    from airflow_provider_ingest.workflow.loader import load_workflow

    failed = 0
    for path in args.files:
        try:
            load_workflow(path)
        except WorkflowFileError as error:
            failed += 1
            print(error, file=sys.stderr)
        except OSError as error:
            failed += 1
            print(f"{path}: {error.strerror or error}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def _run(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.errors import IngestError
    from airflow_provider_ingest.staging.paths import check_segment
    from airflow_provider_ingest.workflow.loader import load_workflow
    from airflow_provider_ingest.workflow.runner import run_workflow

    try:
        if args.run_id is not None:
            check_segment(args.run_id, "--run-id")
        workflow = load_workflow(args.file)
        progress = None if args.quiet or not sys.stderr.isatty() else _Progress()
        result = run_workflow(workflow, run_id=args.run_id, progress=progress)
    except (IngestError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    if progress is not None:
        progress.done()
    _print_result(result)
    return 0 if result.success else 1


class _Progress:
    """One self-rewriting line on the terminal: records, rate, failures."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, count: int, report: Report) -> None:
        now = time.monotonic()
        if now - self.last < 0.25:
            return
        self.last = now
        rate = count / max(now - self.started, 1e-9)
        sys.stderr.write(f"\r{count:,} records  {rate:,.0f}/s  {report.failure_count} failed ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.last:
            sys.stderr.write("\n")


def _print_result(result: RunResult) -> None:
    rows = [("component", "records", "filtered", "failed", "warnings", "success %", "seconds")]
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
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for report in result.reports:
        for failure in report.failures[:5]:
            print(f"  {report.component} failed {failure.fqn or '-'}: {failure.error}")
        for counter, value in sorted(report.counters.items()):
            print(f"  {report.component} {counter}: {value:,}")
    if result.staged_uri:
        print(f"staged file: {result.staged_uri}")
    if result.dead_letter_uri:
        print(f"dead letters: {result.dead_letter_uri}")
    if result.error:
        print(f"run failed: {result.error}")
    elif result.below_threshold:
        print(f"run failed: success rate below {result.threshold:g}% in {', '.join(result.below_threshold)}")
    else:
        print("run succeeded")


def _components(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.registry import BUILTINS, available

    for role in BUILTINS:
        for name, component in available(role):
            print(f"{role} {name}: {(component.__doc__ or '').strip().splitlines()[0]}")
            for field_name, field in component.config_class.model_fields.items():
                default = "required" if field.is_required() else f"default {_default(field)}"
                about = f" {field.description}" if field.description else ""
                print(f"    {field_name}: {_type_name(field.annotation)} ({default}){about}")
    return 0


def _type_name(annotation: object) -> str:
    """``str``, ``list[str]``, ``Literal['shop'] | None``: a field's type as written in the code."""
    if annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    if origin is not None:
        return f"{_type_name(origin)}[{', '.join(_type_name(arg) for arg in args)}]" if args else _type_name(origin)
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    """A field's default, with default factories called; models shown as their non-default fields."""
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "model_dump"):
        return repr(value.model_dump(exclude_defaults=True))
    return repr(value)


def _schema(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.workflow.jsonschema import workflow_json_schema

    print(json.dumps(workflow_json_schema(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
