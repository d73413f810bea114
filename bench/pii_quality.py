"""Quality of the ``pii`` processor on the generated labelled set (``bench/pii_dataset.py``): precision, recall, F1.

A column's decision is right when its tag is the label (``PII.Sensitive``, ``PII.NonSensitive``) or both
are none. Precision: right tags / tags given; recall: right tags / labelled columns (a Sensitive tag on a
NonSensitive column counts against both). Run by name and type only (samples removed), then with the
20 sample values; columns per second is CPU time (``time.process_time``) of ``process()`` over the
set, repeated (the name cache cleared each round, the worst case) until at least two seconds are measured.

Usage: ``python bench/pii_quality.py [--errors] [--seed N]``; the last line is the with-samples result:
``precision=P recall=R f1=F columns_per_s=C``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pii_dataset import SEED, Labelled, dataset, tables

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.processors.pii import PiiProcessor
from airflow_provider_ingest.records import Table

MIN_SECONDS = 2.0


def processor() -> PiiProcessor:
    context = RunContext(workflow_name="bench", run_id="run", staging_root=tempfile.gettempdir())
    made = PiiProcessor.create({"keep_samples": True}, context)
    made.prepare()
    return made  # type: ignore[return-value]


def run(columns: list[Labelled], with_samples: bool) -> tuple[dict[tuple[str, str, str], str | None], float]:
    """Each column's tag, and columns per second of CPU time."""
    items = (
        columns
        if with_samples
        else [
            Labelled(c.locale, c.table, c.column.model_copy(update={"samples": []}), c.label, c.kind) for c in columns
        ]
    )
    batch = list(tables(items))
    elapsed, rounds, results = 0.0, 0, []
    pii = processor()
    while elapsed < MIN_SECONDS or rounds == 0:
        pii._named.cache_clear()  # every round sees the names anew (the worst case), its patterns already built
        pii._in_table.cache_clear()
        started = time.process_time()
        results = [pii.process(table) for table in batch]
        elapsed += time.process_time() - started
        rounds += 1
    tags: dict[tuple[str, str, str], str | None] = {}
    for table in results:
        assert isinstance(table, Table)
        for column in table.columns:
            labels = [tag.tag_fqn for tag in column.tags if tag.tag_fqn.startswith("PII.")]
            tags[(table.database, table.name, column.name)] = labels[0] if labels else None
    return tags, len(items) * rounds / elapsed


def score(columns: list[Labelled], tags: dict[tuple[str, str, str], str | None]) -> tuple[float, float, float]:
    right = given = labelled = 0
    for item in columns:
        tag = tags[(item.locale.lower(), item.table, item.column.name)]
        given += tag is not None
        labelled += item.label is not None
        right += tag is not None and tag == item.label
    precision = right / given if given else 0.0
    recall = right / labelled if labelled else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def errors(columns: list[Labelled], tags: dict[tuple[str, str, str], str | None], with_samples: bool) -> None:
    pii = processor()
    wrong = Counter()
    for item in columns:
        tag = tags[(item.locale.lower(), item.table, item.column.name)]
        if tag != item.label:
            wrong[item.kind] += 1
            column = item.column if with_samples else item.column.model_copy(update={"samples": []})
            decision = pii.decide(column, item.table)
            print(
                f"  {item.locale} {item.table}.{item.column.name} [{item.kind}] label={item.label} tag={tag} "
                f"samples={item.column.samples[:3]} :: {decision.reason if decision else None}"
            )
    print("  wrong by kind:", dict(wrong.most_common()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the columns decided wrongly")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    columns = dataset(args.seed)
    locales = len({c.locale for c in columns})
    labels = Counter(c.label for c in columns)
    print(
        f"{len(columns)} columns, {locales} locales: {labels['PII.Sensitive']} Sensitive, "
        f"{labels['PII.NonSensitive']} NonSensitive, {labels[None]} not personal; "
        "the last line is with samples"
    )
    for with_samples in (False, True):
        tags, speed = run(columns, with_samples)
        precision, recall, f1 = score(columns, tags)
        if args.errors:
            errors(columns, tags, with_samples)
        line = f"precision={precision:.3f} recall={recall:.3f} f1={f1:.3f} columns_per_s={speed:.0f}"
        print(line if with_samples else f"names only: {line}")


if __name__ == "__main__":
    main()
