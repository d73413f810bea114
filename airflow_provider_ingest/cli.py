"""``airflow-ingest``: run, validate, test the connections of, and describe workflow files.

``validate``, ``components``, ``schema`` and ``--help`` never import Airflow, so they start fast.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from airflow_provider_ingest.run.partitioned import PartitionedResult
    from airflow_provider_ingest.run.progress import Progress


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``airflow-ingest`` command: exit 0 done, 1 failed, 2 internal error or wrong usage, 130/143
    stopped, 141 its output closed early (``airflow-ingest components | head``)."""
    parser = argparse.ArgumentParser(prog="airflow-ingest", description="Metadata ingestion workflows.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a workflow file in this process")
    run.add_argument("file")
    run.add_argument("--run-id", help="name of this run's staging folder (default: a timestamp)")
    run.add_argument(
        "--workers",
        type=_count,
        metavar="N",
        help="a partitioned run in N processes: the parts as airflow.partitions plans them (else at most N parts"
        " by schema), then the stage and bulk sink once",
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.add_argument(
        "--progress-every",
        type=_seconds,
        metavar="SECONDS",
        help="seconds between progress lines on standard error (default: 1 on a terminal, else 10)",
    )
    check = commands.add_parser("validate", help="check workflow files; exit 1 if any has a problem")
    check.add_argument("files", nargs="+")
    test = commands.add_parser(
        "test-connection", help="check every connection a workflow file uses; exit 1 if one fails"
    )
    test.add_argument("file")
    test.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds a check may take before it fails as unanswered (default: 30)",
    )
    commands.add_parser("components", help="list component types and their settings")
    commands.add_parser("schema", help="print the JSON Schema of workflow files")
    args = parser.parse_args(argv)
    handler = {
        "run": _run,
        "validate": _validate,
        "test-connection": _test_connection,
        "components": _components,
        "schema": _schema,
    }[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe is found here, not when the interpreter exits
        return code
    except BrokenPipeError:
        return _output_closed()
    except Exception as error:  # a bug: one line, never a traceback
        from airflow_provider_ingest.secrets import redact_text

        print(
            f"airflow-ingest: internal error: {type(error).__name__}: {redact_text(str(error))}\n"
            "Please report it, with the command and the workflow file (without secrets).",
            file=sys.stderr,
        )
        return 2


def _output_closed() -> int:
    """What reads the output stopped (``| head``): stop quietly, as a command killed by SIGPIPE does (exit 141).

    Standard output is pointed at ``/dev/null`` first, so that the interpreter's last flush of what is still
    buffered does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def _validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airflow_provider_ingest.errors import IngestError
    from airflow_provider_ingest.terminal import printable
    from airflow_provider_ingest.workflow.document import WorkflowFileError
    from airflow_provider_ingest.workflow.loader import LoadedWorkflow, claimed_twice, load_workflow, path_problems

    failed = 0
    valid = []
    given: dict[Path, str] = {}
    for path in args.files:  # a file given twice (overlapping globs) is one file
        given.setdefault(Path(path).resolve(), path)
    for path in given.values():
        try:
            workflow = load_workflow(path, templated=True)  # as the DAG factory checks it
            if problems := path_problems(workflow):  # and where it writes, on this machine
                raise WorkflowFileError(problems)
            valid.append(workflow)
        except IngestError as error:
            failed += 1
            _print_error(error)
        except OSError as error:
            failed += 1
            _print_error(f"{path}: {error.strerror or error}")
    claims: dict[str, list[LoadedWorkflow]] = {}
    for workflow in valid:
        claims.setdefault(workflow.name, []).append(workflow)
    for dag_id, claimants in claims.items():
        if len(claimants) > 1:  # files of one dags folder: the factory refuses each, naming the others
            failed += len(claimants)
            _print_error(WorkflowFileError(claimed_twice(dag_id, [claimant.document for claimant in claimants])))
    for workflow in valid:
        if len(claims[workflow.name]) > 1:
            continue
        print(f"{workflow.path}: ok")
        for warning in workflow.warnings:
            print(
                printable(
                    f"{warning.file}:{warning.line}:{warning.column}: warning: {warning.field}: {warning.message}"
                )
            )
    return 1 if failed else 0


def _test_connection(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.errors import IngestError
    from airflow_provider_ingest.run.connections import check_connections, check_lines
    from airflow_provider_ingest.terminal import printable
    from airflow_provider_ingest.workflow.loader import load_workflow

    try:
        workflow = load_workflow(args.file)
    except (IngestError, OSError) as error:
        _print_error(error)
        return 1
    components = [(role, spec) for role, _, spec in workflow.spec.components()]
    folder = workflow.path.parent.resolve()
    try:
        checks = check_connections(components, workflow.spec.workflow.staging_root, folder, timeout=args.timeout)
    except KeyboardInterrupt:
        print("\ntest-connection stopped (SIGINT)", file=sys.stderr)
        return 130
    for line in check_lines(checks):
        print(printable(line))
    return 0 if all(check.ok for check in checks) else 1


def _print_error(error: object) -> None:
    """An error on standard error, each of its lines one line whatever the names in it hold."""
    from airflow_provider_ingest.terminal import printable_lines

    print(printable_lines(str(error)), file=sys.stderr)


def _count(text: str) -> int:
    """A whole number of at least 1, for a command-line option."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """A positive number of seconds, for a command-line option."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def _run(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.errors import IngestError
    from airflow_provider_ingest.run import Interruption, RunInterrupted, run_workflow
    from airflow_provider_ingest.run.interrupt import on_signals
    from airflow_provider_ingest.run.partitioned import PartitionedResult, run_partitioned
    from airflow_provider_ingest.run.status import status_lines
    from airflow_provider_ingest.staging.paths import check_segment
    from airflow_provider_ingest.workflow.loader import load_workflow

    interruption = Interruption()
    progress = _progress(args)
    try:
        if args.run_id is not None:
            check_segment(args.run_id, "--run-id")
        with on_signals(interruption):
            workflow = load_workflow(args.file)
            run = run_workflow if args.workers is None else functools.partial(run_partitioned, workers=args.workers)
            result = run(workflow, run_id=args.run_id, progress=progress, interruption=interruption)
    except (IngestError, OSError) as error:
        _print_error(error)
        return 1
    except (RunInterrupted, KeyboardInterrupt) as error:
        stop = error if isinstance(error, RunInterrupted) else RunInterrupted(signal.SIGINT)
        print(f"\nrun stopped ({signal.Signals(stop.signum).name}): {stop.outcome}", file=sys.stderr)
        return stop.exit_code
    finally:
        if progress is not None and progress.emit is _rewrite_line:
            sys.stderr.write("\n")
    if isinstance(result, PartitionedResult):
        return _partitioned_status(result)
    for line in status_lines(result):
        print(line)
    return 0 if result.success else 1


def _partitioned_status(run: PartitionedResult) -> int:
    """``run --workers N``: each part's status table, then each part's sink's, then the merge's; 1 if any step
    failed."""
    from airflow_provider_ingest.run.status import status_lines
    from airflow_provider_ingest.terminal import counted

    for part, result in zip(run.parts, run.results, strict=True):
        rest = " and any new one" if part.rest else ""
        print(f"{part.label}: {counted(len(part.names), part.by)}{rest}, {counted(part.relations, 'relation')}")
        for line in status_lines(result):
            print(f"  {line}")
    for part, result in zip(run.parts, run.sinks, strict=False):
        print(f"{part.label} sink: the part's staged file into the sink")
        for line in status_lines(result):
            print(f"  {line}")
    if run.merge is not None:
        print("merge: the parts' staged files, in part order, into the stage, then any bulk sink")
        for line in status_lines(run.merge):
            print(f"  {line}")
    elif not run.success and not run.sinks:
        print("run failed: a part failed, so no sink ran and nothing was staged or published")
    elif not run.success:
        print("run failed: a part's sink failed, so nothing was staged or published")
    return 0 if run.success else 1


def _progress(args: argparse.Namespace) -> Progress | None:
    """Progress on standard error: a line rewritten every second on a terminal, a line every 10 s elsewhere."""
    from airflow_provider_ingest.run.progress import EVERY, Progress

    if args.quiet:
        return None
    terminal = sys.stderr.isatty()
    every = args.progress_every or (1.0 if terminal else EVERY)
    return Progress(_rewrite_line if terminal else _print_line, every)


def _rewrite_line(line: str) -> None:
    sys.stderr.write(f"\r{line} ")
    sys.stderr.flush()


def _print_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _components(args: argparse.Namespace) -> int:
    from airflow_provider_ingest.registry import BUILTINS, available

    for role in BUILTINS:
        for name, component in available(role):
            print(f"{role} {name}: {_first_sentence(component.__doc__ or '')}")
            refused = component.config_class.refused()
            for field_name, field in component.config_class.model_fields.items():
                if field_name in refused:
                    continue
                default = "required" if field.is_required() else f"default {_default(field)}"
                about = f" {field.description}" if field.description else ""
                print(f"    {field_name}: {_type_name(field.annotation)} ({default}){about}")
    return 0


def _first_sentence(doc: str) -> str:
    """The first sentence of a docstring, whatever lines it spans, as one line."""
    import re

    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    found = re.match(r"(.+?[.!?])(?:\s|$)", paragraph)
    return found.group(1) if found else paragraph


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
