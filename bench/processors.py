"""Benchmark: 1,000,000 columns through the ``pii`` processor, by name only and with 20 sample values per column.

Tables of 50 columns are made on the fly (never all in memory); one column in five has a personal-data
name, and every column name is unique (no help from the name cache: the worst case). With samples,
the values are emails, phone numbers, card numbers, order numbers, dates, IPs, amounts and words.
Only ``process()`` is timed. Each mode runs in its own process, so its peak RSS (``ru_maxrss``) is its own.

Usage: ``python bench/processors.py [--columns 1000000] [--mode names|samples|both]``.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.processors.pii import PiiProcessor
from airflow_provider_ingest.records import Column, DataType, Table

COLUMNS_PER_TABLE = 50
SAMPLES = 20
PII_NAMES = ("email", "first_name", "phone_number", "card_number", "birth_date", "ip_address", "iban", "ssn")
OTHER_NAMES = ("amount", "status", "created_at", "order_number", "quantity", "label", "code", "updated_at")


def sample_pools(rng: random.Random) -> list[list[str]]:
    """Lists of 20 sample values, one list per kind of content."""

    def luhn_digit(body: str) -> str:
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == 0 else d for i, d in enumerate(map(int, reversed(body)))
        )
        return str((10 - total % 10) % 10)

    def card() -> str:
        body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
        return body + luhn_digit(body)

    return [
        [f"user{rng.randrange(10**6)}@example.com" for _ in range(SAMPLES)],
        [f"+49 30 {rng.randrange(10**6, 10**7)}" for _ in range(SAMPLES)],
        [card() for _ in range(SAMPLES)],
        [str(rng.randrange(10**15, 10**16)) for _ in range(SAMPLES)],
        [f"{rng.randrange(1940, 2005)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}" for _ in range(SAMPLES)],
        [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(SAMPLES)],
        [f"{rng.randrange(100, 99999) / 100:.2f}" for _ in range(SAMPLES)],
        [rng.choice(("alpha", "beta", "gamma", "delta", "omega")) + str(i) for i in range(SAMPLES)],
    ]


def tables(count: int, with_samples: bool) -> Iterator[Table]:
    """Tables holding ``count`` columns in all."""
    rng = random.Random(7)
    pools = sample_pools(rng)
    for start in range(0, count, COLUMNS_PER_TABLE):
        columns = []
        for index in range(start, min(start + COLUMNS_PER_TABLE, count)):
            names = PII_NAMES if index % 5 == 0 else OTHER_NAMES
            columns.append(
                Column(
                    name=f"c{index}_{names[index // 5 % len(names)]}",
                    data_type=DataType.VARCHAR,
                    samples=pools[index % len(pools)] if with_samples else [],
                )
            )
        yield Table(service="bench", database="db", database_schema="s", name=f"t{start}", columns=columns)


def run(mode: str, count: int) -> None:
    """Run one mode in this process and print its figures."""
    context = RunContext(workflow_name="bench", run_id="run", staging_root=tempfile.gettempdir())
    processor = PiiProcessor.create({}, context)
    processor.prepare()
    elapsed = 0.0
    for table in tables(count, mode == "samples"):
        started = time.process_time()
        processor.process(table)
        elapsed += time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tagged = sum(value for key, value in processor.report.counters.items() if key.startswith("tags_added:"))
    print(
        f"{mode:>8}: {count:,} columns in {elapsed:.2f} s = {count / elapsed:,.0f} columns/s; "
        f"peak RSS {peak:.0f} MiB; {tagged:,} tagged"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=("names", "samples", "both"), default="both")
    args = parser.parse_args()
    if args.mode != "both":
        run(args.mode, args.columns)
        return
    for mode in ("names", "samples"):
        subprocess.run([sys.executable, __file__, "--mode", mode, "--columns", str(args.columns)], check=True)


if __name__ == "__main__":
    main()
