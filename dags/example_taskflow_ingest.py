"""Example: the ingestion operators in a hand-written DAG, with the TaskFlow API.

A task picks the tables to read from the DAG's params; the source extracts them from the bundled
sample shop database (SQLite, no server needed); the sink writes them to a file; a last task reports
what was written. Records travel as staged files; only their URIs and counts go through XCom.
"""

from __future__ import annotations

import datetime
import re
import tempfile
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_ingest.airflow.operators import IngestSinkOperator, IngestSourceOperator
from airflow_provider_ingest.workflow.spec import DEFAULT_STAGING_ROOT


@dag(
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["example", "sample"],
    params={
        "tables": Param(["orders", "order_items"], type="array", description="tables of the sample shop to read"),
        "output_dir": Param(str(Path(tempfile.gettempdir()) / "airflow-ingest-example"), type="string"),
        "staging_root": Param(DEFAULT_STAGING_ROOT, type="string"),
    },
    doc_md=__doc__,
)
def example_taskflow_ingest() -> None:
    @task
    def pick_tables(**context: Any) -> dict[str, Any]:
        """The source's config: the sample shop, only the tables asked for."""
        tables = context["params"]["tables"]
        return {"sample": "shop", "table_filter": {"include": [re.escape(name) for name in tables]}}

    extract = IngestSourceOperator(
        task_id="extract",
        type="sql",
        config=pick_tables(),
        staging_root="{{ params.staging_root }}",
    )
    write = IngestSinkOperator(
        task_id="write",
        type="file",
        config={"path": "{{ params.output_dir }}/{{ run_id | replace(':', '_') }}.jsonl"},
        input_uri=extract.output["uri"],
        staging_root="{{ params.staging_root }}",
    )

    @task
    def report(extracted: dict[str, Any], written: dict[str, Any]) -> str:
        """One line for the log and the XCom: how many records went where."""
        return f"{written['records']} of {extracted['records']} records written, {written['failures']} failed"

    report(extract.output, write.output)


example_taskflow_ingest()
