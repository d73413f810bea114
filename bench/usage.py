"""Benchmark: N query records through the ``query_parser`` processor and the ``table_usage`` stage into a staged
file, against a floor of ``sqlglot.parse_one`` on the same query texts alone.

The queries are the sample shop's query log (``samples/shop_queries.csv``: the application's lookups and checkout
writes, the dashboards on the views, the ETL's INSERT ... SELECT, CTAS, UPDATE ... FROM and DELETE, the analysts'
joins, CTEs, window functions, subqueries and UNIONs, three unparsable lines), drawn at random with their literals,
table aliases and the application's ``?`` parameters varied, so texts seldom repeat (a cache would flatter us);
start times spread over 14 days; users as in the log. Making a text and its record is not timed, on either side.
Each query goes through the floor, then through the processor and the stage, one after the other, so machine noise
falls on both alike; only those calls are timed, in CPU seconds of this process (``time.process_time``); the
stage's commit (sorting, writing the staged file) counts to the pipeline. Each size runs in a fresh process, so
its peak RSS (``ru_maxrss``) is its own.

Usage: ``python bench/usage.py [--queries 10000 100000]``. The last line, for the largest size:
``queries=N seconds=S ratio=R peak_rss_mb=M`` (S: the pipeline's CPU seconds, R: S over the floor's).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

from airflow_provider_ingest.samples import sample_query_log_path

DAYS = 14
START = datetime(2025, 6, 16, tzinfo=UTC)
TOKENS = re.compile(r"'(?:[^']|'')*'|\?|(?<![\w.])\d+(?![\w.])|__alias(\d+)__")
DATE = re.compile(r"'\d{4}-\d{2}-\d{2}'")
DAYS_BACK = re.compile(r"'-\d+ days'")
ALIASES = ("a", "b", "c", "d", "o", "p", "t", "x", "src", "cur", "prev", "ord", "cust", "item", "pay", "prod")


def templates() -> list[tuple[str, str]]:
    """(user, text) of every query in the sample log, table aliases replaced by ``__aliasN__`` placeholders."""
    with sample_query_log_path().open(newline="", encoding="utf-8") as file:
        rows = [(row["user_name"], row["query_text"]) for row in csv.DictReader(file)]
    made: dict[str, str] = {}
    return [(user, made.setdefault(text, _placeholders(text))) for user, text in rows]


def _placeholders(text: str) -> str:
    """The text with its table aliases as placeholders (re-rendered by sqlglot); unparsable text as it is."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(text, read="sqlite")
    except SqlglotError:
        return text
    names = sorted(
        {alias.name for alias in tree.find_all(exp.TableAlias) if isinstance(alias.parent, exp.Table | exp.Subquery)}
    )
    if not names:
        return text
    mapping = {name: f"__alias{index}__" for index, name in enumerate(names)}
    for identifier in list(tree.find_all(exp.Identifier)):
        parent = identifier.parent
        aliased = isinstance(parent, exp.TableAlias) and isinstance(parent.parent, exp.Table | exp.Subquery)
        qualifier = isinstance(parent, exp.Column) and identifier.arg_key == "table"
        if identifier.name in mapping and (aliased or qualifier):
            identifier.set("this", mapping[identifier.name])
    return tree.sql(dialect="sqlite")


def queries(count: int, seed: int = 16) -> Iterator[tuple[str, str, datetime]]:
    """``count`` (user, text, start time) of the sample's mix, literals and aliases varied; the same for a seed."""
    rng = random.Random(seed)
    mix = templates()
    for index in range(count):
        user, template = rng.choice(mix)
        aliases = [name + (str(index % 7) if index % 2 else "") for name in rng.sample(ALIASES, 8)]
        start = START + timedelta(seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(1_000_000))
        yield user, TOKENS.sub(partial(_vary, rng, aliases), template), start


def _vary(rng: random.Random, aliases: list[str], match: re.Match[str]) -> str:
    """A new value for a literal, parameter or alias placeholder of a template."""
    token = match.group(0)
    if match.group(1) is not None:
        return aliases[int(match.group(1)) % len(aliases)]
    if token == "?":
        return str(rng.randint(1, 100_000))
    if token.startswith("'"):
        if DATE.fullmatch(token):
            return f"'{(START - timedelta(days=rng.randint(0, 400))).date().isoformat()}'"
        return f"'-{rng.randint(1, 400)} days'" if DAYS_BACK.fullmatch(token) else token
    return str(rng.randint(1, max(2, int(token) * 2)))


def run(count: int) -> dict[str, float]:
    """Time the floor and the pipeline over ``count`` queries in this process."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    from airflow_provider_ingest.api import RunContext
    from airflow_provider_ingest.records import Query
    from airflow_provider_ingest.usage.processor import QueryParserProcessor
    from airflow_provider_ingest.usage.stage import TableUsageStage

    folder = tempfile.mkdtemp(prefix="bench-usage-")
    context = RunContext(workflow_name="bench", run_id="run", staging_root=folder, base_dir=folder)
    processor = QueryParserProcessor.create({}, context)
    stage = TableUsageStage.create({"path": "usage.jsonl"}, context)
    processor.prepare()
    stage.prepare()
    floor = pipeline = 0.0
    records = 0
    for user, text, start in queries(count):
        query = Query(
            service="sample_shop",
            dialect="sqlite",
            text=text,
            database="shop",
            database_schema="main",
            user=user,
            start_time=start,
        )
        started = time.process_time()
        with contextlib.suppress(SqlglotError):
            sqlglot.parse_one(text, read="sqlite")
        middle = time.process_time()
        out = processor.process(query)
        for record in out if isinstance(out, list) else () if out is None else (out,):
            stage.stage(record)
            records += 1
        ended = time.process_time()
        floor += middle - started
        pipeline += ended - middle
    started = time.process_time()
    stage.commit()
    pipeline += time.process_time() - started
    return {
        "queries": count,
        "floor": floor,
        "seconds": pipeline,
        "records": records,
        "warnings": processor.report.warning_count,
        "table_days": stage.report.counters.get("table_days", 0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--queries", type=int, nargs="+", default=[10_000, 100_000])
    arguments.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.child:
        run(300)  # imports, sqlglot's and pydantic's first-call work
        print(json.dumps(run(args.queries[0])))
        return
    distinct = len({hash(text) for _, text, _ in queries(max(args.queries))})
    print(f"{distinct / max(args.queries):.0%} of the {max(args.queries):,} texts are distinct")
    results = []
    for count in args.queries:
        command = [sys.executable, __file__, "--child", "--queries", str(count)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.splitlines()[-1])
        results.append(result)
        print(
            f"{count:>7,} queries: floor (sqlglot.parse_one alone) {result['floor']:.2f} s, "
            f"query_parser + table_usage {result['seconds']:.2f} s = {count / result['seconds']:,.0f} queries/s, "
            f"ratio {result['seconds'] / result['floor']:.2f}; {result['records']:,} records staged, "
            f"{result['warnings']:,} unparsable, {result['table_days']:,} table-days; "
            f"peak RSS {result['peak_rss_mb']:.0f} MB"
        )
    last = results[-1]
    print(
        f"queries={last['queries']} seconds={last['seconds']:.2f} ratio={last['seconds'] / last['floor']:.2f} "
        f"peak_rss_mb={last['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
