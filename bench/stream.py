"""Benchmark: ``file`` source -> ``file`` sink through the serial runner, against a plain JSON loop.

Generates N table records (default 1,000,000) with 20 columns each into a staged file in a temporary
folder, streamed, then times, each in a fresh subprocess so that peak RSS (``ru_maxrss``) is its own:

* the floor: a plain loop of ``json.loads``/``json.dumps`` over the same lines, written to a file;
* the runner: ``file`` source -> ``file`` sink through :func:`run_workflow`.

Usage: ``python bench/stream.py [--records N] [--repeat 1] [--gzip]``.
Targets: runner peak RSS under 300 MB; runner at most as slow as the floor (issue 17's goal: 1.0x).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = 20
SCHEMAS = 100
RSS_LIMIT_MB = 300
RATIO_TARGET = 1.0
COLUMN_TYPES = (
    ("BIGINT", "bigint", {}),
    ("VARCHAR", "varchar(64)", {"data_length": 64}),
    ("DECIMAL", "numeric(12,2)", {"precision": 12, "scale": 2}),
    ("TIMESTAMPZ", "timestamp with time zone", {}),
    ("TEXT", "text", {}),
    ("BOOLEAN", "boolean", {}),
    ("DATE", "date", {}),
)


def table_line(index: int) -> str:
    """One table record as compact JSON, in the shape ``dump_record`` writes."""
    schema = f"s{index % SCHEMAS:03d}"
    columns = []
    for number in range(COLUMNS):
        data_type, display, extra = COLUMN_TYPES[(index + number) % len(COLUMN_TYPES)]
        column = {"name": f"c{number:02d}", "data_type": data_type, "data_type_display": display, **extra}
        if number == 0:
            column["nullable"] = False
        column["ordinal_position"] = number + 1
        if number % 4 == 1:
            column["description"] = f"Column {number} of table {index}"
        columns.append(column)
    record = {
        "kind": "table",
        "name": f"t{index:07d}",
        "description": f"Synthetic table {index}",
        "service": "bench",
        "database": "db",
        "database_schema": schema,
        "columns": columns,
        "constraints": [{"constraint_type": "primary_key", "columns": ["c00"]}],
        "row_count": index,
    }
    return json.dumps(record, separators=(",", ":"))


def generate(path: Path, count: int) -> None:
    """Write ``count`` table records to a staged file, streamed; check the first one is a valid record."""
    from airflow_provider_ingest.records import dump_record, parse_record
    from airflow_provider_ingest.staging import StagedFileWriter

    first = table_line(0)
    if dump_record(parse_record(first)) != first:
        raise SystemExit("the generated record does not round-trip through the record model")
    with StagedFileWriter(str(path), producer="bench/stream.py", kinds=["table"]) as out:
        for index in range(count):
            out.write_line(table_line(index))


def run_floor(source: Path, target: Path) -> int:
    """The floor: every line (header and trailer too) through ``json.loads`` and ``json.dumps``, written out."""
    count = 0
    with open(source, "rb", buffering=1 << 20) as lines, open(target, "wb", buffering=1 << 20) as out:
        for line in lines:
            out.write(json.dumps(json.loads(line), separators=(",", ":")).encode() + b"\n")
            count += 1
    return count


def run_runner(source: Path, target: Path) -> int:
    """The ``file`` source into the ``file`` sink through the serial runner."""
    from airflow_provider_ingest.run import run_workflow
    from airflow_provider_ingest.workflow.loader import load_workflow

    workflow = source.parent / "stream.yaml"
    spec = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "sink": {"type": "file", "config": {"path": str(target)}},
        "workflow": {"staging_root": str(source.parent / "staging")},
    }
    workflow.write_text(json.dumps(spec))
    result = run_workflow(load_workflow(workflow))
    if not result.success:
        raise SystemExit(f"the run failed: {result.error or result.below_threshold}")
    return result.reports[-1].records


def child(mode: str, source: Path, target: Path) -> None:
    """Run one measurement in this (fresh) process and print its figures as JSON."""
    started = time.perf_counter()
    count = (run_floor if mode == "floor" else run_runner)(source, target)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": count, "seconds": elapsed, "peak_mb": peak_mb}))


def measure(mode: str, source: Path, target: Path) -> dict[str, float]:
    """Figures of one measurement, taken in a fresh subprocess."""
    command = [sys.executable, __file__, "--child", mode, "--source", str(source), "--target", str(target)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="table records to generate")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best time counts")
    parser.add_argument("--gzip", action="store_true", help="gzip the input and output staged files")
    parser.add_argument("--child", choices=["floor", "runner"], help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.target)
        return
    suffix = ".jsonl.gz" if args.gzip else ".jsonl"
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as temp:
        folder = Path(temp)
        source = folder / f"input{suffix}"
        started = time.perf_counter()
        generate(source, args.records)
        size_mb = source.stat().st_size / 1e6
        print(f"generated {args.records:,} tables x {COLUMNS} columns: {size_mb:,.0f} MB in {_since(started)}")
        floor_input = source
        if args.gzip:
            floor_input = folder / "input.jsonl"
            _gunzip(source, floor_input)
        figures = {"floor": [], "runner": []}
        for _ in range(args.repeat):
            figures["floor"].append(measure("floor", floor_input, folder / "floor.jsonl"))
            figures["runner"].append(measure("runner", source, folder / f"runner{suffix}"))
    best = {mode: min(runs, key=lambda run: run["seconds"]) for mode, runs in figures.items()}
    for mode, label in (
        ("floor", "floor  (json.loads/json.dumps loop)"),
        ("runner", "runner (file source -> file sink)"),
    ):
        run = best[mode]
        rate = run["records"] / run["seconds"]
        print(
            f"{label}: {run['records']:,} records in {run['seconds']:.2f}s = {rate:,.0f} records/s, "
            f"peak RSS {run['peak_mb']:.0f} MB"
        )
    ratio = best["runner"]["seconds"] / best["floor"]["seconds"]
    rss = best["runner"]["peak_mb"]
    print(f"ratio: {ratio:.2f}x the floor's time (target <= {RATIO_TARGET:g}x) {_verdict(ratio <= RATIO_TARGET)}")
    print(f"runner peak RSS: {rss:.0f} MB (limit {RSS_LIMIT_MB} MB) {_verdict(rss < RSS_LIMIT_MB)}")


def _gunzip(source: Path, target: Path) -> None:
    import gzip
    import shutil

    with gzip.open(source, "rb") as packed, open(target, "wb") as out:
        shutil.copyfileobj(packed, out, 1 << 20)


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f}s"


def _verdict(ok: bool) -> str:
    return "OK" if ok else "OVER TARGET"


if __name__ == "__main__":
    main()
