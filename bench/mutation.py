"""Mutation testing of the core modules: mutmut 3 over each module with only the tests that exercise it.

    .venv/bin/python bench/mutation.py                      # every module below
    .venv/bin/python bench/mutation.py pii_checks patterns  # a subset, for quick iteration
    .venv/bin/python bench/mutation.py --survivors staging  # also list each survivor with its diff

Needs the ``bench`` extra (``pip install -c .ci/constraints.txt -e '.[bench]'``). Each module runs in a
temporary copy of the repository (mutmut writes its ``mutants/`` folder there), so the worktree stays clean.
Prints a line per module and, last, ``mutants=N killed=K score=P``. A mutant counts as killed when a test
fails or times out with it; one no test reaches counts as surviving.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_ingest"


@dataclass(frozen=True)
class Target:
    """Source files to mutate (globs under the repository), the test files that exercise them, and pytest
    options leaving out the tests that cannot run under mutmut or take minutes (Airflow itself)."""

    sources: tuple[str, ...]
    tests: tuple[str, ...]
    options: tuple[str, ...] = ()
    timeout_multiplier: float = 15.0
    """A mutant times out (is killed) after this many times its tests' duration in the clean run (mutmut's default
    15); lower where a mutant that loops forever would hold a worker for many minutes."""


TARGETS: dict[str, Target] = {
    "records": Target(
        (f"{PACKAGE}/records/*",),
        ("tests/test_records.py", "tests/test_records_rules.py", "tests/test_staged_lines.py"),
    ),
    "patterns": Target(
        (f"{PACKAGE}/patterns.py",),
        ("tests/test_patterns.py", "tests/test_patterns_rules.py"),
    ),
    "staging": Target(
        (f"{PACKAGE}/staging/*",),
        (
            "tests/test_staged_files.py",
            "tests/test_staged_file_properties.py",
            "tests/test_staging_paths.py",
            "tests/test_corrupt_staged_files.py",
            "tests/test_staged_lines.py",
            "tests/test_boundaries.py",
            "tests/test_dead_letters.py",
        ),
        # the damaged-file tests run each damage through five consumers; the staged file is read by the same code
        # in each, so the file source and the file bulk sink are enough here (the fake servers' ones take minutes)
        options=("-m", "not airflow", "-k", "not (-es_upsert] or -es_replace] or -openmetadata])"),
        timeout_multiplier=5.0,
    ),
    "run": Target(
        tuple(
            f"{PACKAGE}/{module}" for module in ("run/lifecycle.py", "run/steps.py", "run/drive.py", "api/report.py")
        ),
        (
            "tests/test_runner.py",
            "tests/test_run_lifecycle.py",
            "tests/test_run_steps.py",
            "tests/test_boundaries.py",
            "tests/test_boundaries_inputs.py",
            "tests/test_partitions.py",
        ),
        options=("-m", "not airflow"),
    ),
    "es_bulk_sink": Target(
        (f"{PACKAGE}/elasticsearch/bulk_sink.py",),
        # test_elasticsearch_usage.py: the usage and lineage records the bulk sink publishes (_add_usage, the
        # carry-over and second read of a replace); -m "not airflow" leaves out the DAG runs (minutes each)
        ("tests/test_elasticsearch.py", "tests/test_boundaries.py", "tests/test_elasticsearch_usage.py"),
        options=("-m", "not airflow"),
    ),
    "pii_checks": Target(
        (f"{PACKAGE}/processors/pii_checks.py",),
        ("tests/test_processors_pii_checks.py", "tests/test_pii_checks_rules.py", "tests/test_boundaries_inputs.py"),
        options=("-m", "not airflow"),  # the Ingestion UI's limits (Airflow's own database) reach no check
    ),
}

KILLED = {"killed", "timeout", "caught by type check"}
"""mutmut's statuses that mean a check noticed the mutant; the others (survived, no tests, ...) did not."""

MAX_EXAMPLES = 10
"""Examples per property test under mutation (``INGEST_TEST_MAX_EXAMPLES``, read by tests/conftest.py): the tests
run once per mutant, and hundreds of examples each made a module's run take hours."""

COPIED = (PACKAGE, "tests", "dags", "docs", "setup.cfg", "pyproject.toml", "README.md")


@dataclass
class Outcome:
    """Each mutant's status, by mutmut's name for it."""

    status: dict[str, str] = field(default_factory=dict)

    @property
    def killed(self) -> int:
        return sum(status in KILLED for status in self.status.values())

    @property
    def survivors(self) -> list[str]:
        return sorted(name for name, status in self.status.items() if status not in KILLED)


def score(killed: int, total: int) -> float:
    return 100.0 * killed / total if total else 100.0


def copy_repository(into: Path) -> None:
    """The files the tests need, without caches or a virtualenv."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "mutants")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, into / name)


def configure(into: Path, target: Target) -> None:
    """mutmut's settings for one target, in the copy's pyproject.toml (the repository's own stays as it is)."""
    tests = list(target.tests)
    missing = [test for test in tests if not (into / test).exists()]
    if missing:
        raise SystemExit(f"the map names test files that do not exist: {', '.join(missing)}")
    settings = {
        "source_paths": [PACKAGE],
        "only_mutate": list(target.sources),
        "also_copy": ["dags", "docs", "README.md"],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", *target.options],
        "pytest_add_cli_args_test_selection": tests,
        "use_git_change_detection": False,
        "timeout_multiplier": target.timeout_multiplier,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    with (into / "pyproject.toml").open("a") as file:
        file.write("\n".join(lines) + "\n")


def mutmut(into: Path, *args: str) -> str:
    """Run a mutmut command in the copy; its output, or exit with the end of it when mutmut fails."""
    env = {**os.environ, "INGEST_TEST_MAX_EXAMPLES": str(MAX_EXAMPLES)}
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=into, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"mutmut {' '.join(args)} failed in {into} (exit {done.returncode}):\n{output}")
    return done.stdout


def outcome(into: Path) -> Outcome:
    """Read mutmut's per-file results (``mutants/<file>.meta``)."""
    from mutmut.stats import status_by_exit_code

    result = Outcome()
    for meta in sorted((into / "mutants" / PACKAGE).rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        result.status.update({name: status_by_exit_code[code] for name, code in codes.items()})
    return result


def run_target(name: str, target: Target, work: Path, max_children: int, show: bool) -> Outcome:
    into = work / name
    into.mkdir()
    copy_repository(into)
    configure(into, target)
    (work / f"{name}.log").write_text(mutmut(into, "run", "--max-children", str(max_children)))
    result = outcome(into)
    for survivor in result.survivors:
        print(f"  {result.status[survivor]}: {survivor}", flush=True)
        if show:
            print(mutmut(into, "show", survivor), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help="any of: " + ", ".join(TARGETS))
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (their path is printed)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.modules if name not in TARGETS]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}: choose from {', '.join(TARGETS)}")
    names = args.modules or list(TARGETS)
    work = Path(tempfile.mkdtemp(prefix="mutation-"))
    total = killed = 0
    try:
        for name in names:
            result = run_target(name, TARGETS[name], work, args.max_children, args.survivors)
            count = len(result.status)
            total, killed = total + count, killed + result.killed
            print(f"{name}: mutants={count} killed={result.killed} score={score(result.killed, count):.1f}", flush=True)
    finally:
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"mutants={total} killed={killed} score={score(killed, total):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
