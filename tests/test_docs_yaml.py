"""Every YAML block of README.md and docs/*.md goes through ``validate``; those on the bundled sample through ``run``.

A block is one of:

- a workflow file (a mapping with ``source``): validated as it is; run when it reads the bundled sample shop
  and names no server of its own (an ``elasticsearch`` or ``openmetadata`` component given by ``conn_id``
  runs against the test servers, through Airflow connections of those names);
- a list of processors: run between the sample shop and a ``console`` sink;
- a block preceded by ``<!-- docs-test: source-config -->``: the ``config`` of a ``sql`` source, run on
  the sample shop;
- a block preceded by ``<!-- docs-test: skip: <why> -->``: not a workflow (kept rare, the reason given).

Every processor of a run must change something (filter, tag, describe...): an example whose patterns
match nothing in the sample is an example that drifted. A ``glossary.csv`` a block names is the CSV
block of the same page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_ingest.cli import main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- docs-test: (?P<marker>[^>]*?) -->\n)?```(?P<lang>yaml|csv)\n(?P<text>.*?)```", re.S)
SAMPLE = {"type": "sql", "config": {"sample": "shop"}}
SERVER_KEYS = {"url", "hosts", "server_url"}
NO_CHANGE = {"columns", "already_tagged", "descriptions_kept"}
"""Counters that count what a processor looked at, not what it changed."""


def blocks() -> Iterator[Any]:
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            if match["lang"] == "yaml":
                line = text.count("\n", 0, match.start("text")) + 1
                yield pytest.param(page, match["text"], match["marker"], id=f"{page.name}:{line}")


def csv_of(page: Path) -> str | None:
    found = [match["text"] for match in BLOCK.finditer(page.read_text()) if match["lang"] == "csv"]
    return found[0] if found else None


def test_every_page_is_searched() -> None:
    names = {param.values[0].name for param in blocks()}
    assert {"README.md", "processors.md", "sql-source.md", "elasticsearch.md", "staged-files.md"} <= names


FENCE = re.compile(
    r"^[ \t]*(?:```|~~~)[ \t]*(?P<lang>[^\s`]*)[^\n]*\n(?P<text>.*?)^[ \t]*(?:```|~~~)[ \t]*$", re.S | re.M
)
OTHER = {"bash", "python", "sql", "csv", "json", ""}
"""Fenced languages that hold no workflow: commands, DAG files (tests/test_docs_python.py), SQL, a glossary,
search bodies (tests/test_elasticsearch_usage.py runs them); unlabelled and JSON blocks, as long as none looks
like a workflow file."""


def test_no_yaml_block_escapes_the_test() -> None:
    """Every fenced block is YAML this test runs, or of a language that holds no workflow (no ``yml``, ``json``...)."""
    for page in PAGES:
        fences = list(FENCE.finditer(page.read_text()))
        languages = {fence["lang"] for fence in fences}
        assert languages <= OTHER | {"yaml"}, f"{page.name}: blocks in {sorted(languages - OTHER - {'yaml'})}"
        unlabelled = [fence["text"] for fence in fences if not fence["lang"]]
        assert not [text for text in unlabelled if re.search(r"^source:", text, re.M)], f"{page.name}: label it yaml"
        bodies = [json.loads(fence["text"]) for fence in fences if fence["lang"] == "json"]
        assert not [body for body in bodies if "source" in body], f"{page.name}: a workflow in JSON; write it in yaml"
        collected = [param for param in blocks() if param.values[0] == page]
        assert len(collected) == sum(fence["lang"] == "yaml" for fence in fences), page.name


@pytest.mark.parametrize(("page", "text", "marker"), list(blocks()))
def test_a_documented_yaml_block_validates_and_runs_on_the_sample(
    page: Path,
    text: str,
    marker: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if marker and marker.startswith("skip: "):
        assert len(marker) > len("skip: ") + 10, "say why the block is not a workflow"
        return
    data = yaml.safe_load(text)
    if marker == "source-config":
        data = {"source": {"type": "sql", "config": {"sample": "shop", **data}}, "sink": {"type": "console"}}
        text = yaml.safe_dump(data)
    elif isinstance(data, list):
        data = {"source": SAMPLE, "processors": data, "sink": {"type": "console"}}
        text = yaml.safe_dump(data)
    else:
        assert marker is None, f"unknown marker {marker!r}"
        assert isinstance(data, dict) and "source" in data, "a fragment: mark it (see this test's docstring)"
    folder = tmp_path / "workflows"
    folder.mkdir()
    if csv_of(page) is not None:
        (folder / "glossary.csv").write_text(csv_of(page) or "")
    path = folder / "documented.yaml"
    path.write_text(text)

    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    if not runs_here(data):
        return
    monkeypatch.setenv("HOME", str(tmp_path))  # the default staging root is under ~
    monkeypatch.chdir(tmp_path)
    for conn_id in sorted(connections(data)):
        request.getfixturevalue(conn_id)
    from airflow_provider_ingest.run import run_workflow
    from airflow_provider_ingest.workflow.loader import load_workflow

    result = run_workflow(load_workflow(path))

    assert result.success, result.error or result.below_threshold
    unchanged = [
        report.component
        for report in result.reports
        if report.component.startswith("processor:")
        and not report.filtered
        and not any(value for name, value in report.counters.items() if name.split(":")[0] not in NO_CHANGE)
    ]
    assert not unchanged, f"these documented processors changed nothing in the sample shop: {unchanged}"


def runs_here(data: dict[str, Any]) -> bool:
    """Whether a workflow reads the sample shop and names no server but through a connection of the test servers."""
    if data["source"] != SAMPLE and not (
        data["source"].get("type") == "sql" and data["source"].get("config", {}).get("sample") == "shop"
    ):
        return False
    specs = [*data.get("processors", []), *(data.get(role) for role in ("sink", "stage", "bulk_sink"))]
    configs = [spec.get("config") or {} for spec in specs if spec]
    return not any(SERVER_KEYS & set(config) for config in configs) and connections(data) <= set(SERVERS)


def connections(data: dict[str, Any]) -> set[str]:
    specs = [data.get(role) for role in ("sink", "bulk_sink")]
    return {spec["config"]["conn_id"] for spec in specs if spec and "conn_id" in (spec.get("config") or {})}


@pytest.fixture
def ingest_elasticsearch_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The documented Elasticsearch connection, pointing at the test server."""
    from es_server import FakeElasticsearch

    server = FakeElasticsearch()
    monkeypatch.setenv(
        "AIRFLOW_CONN_INGEST_ELASTICSEARCH_DEFAULT",
        json.dumps({"conn_type": "ingest_elasticsearch", "host": server.url}),
    )
    try:
        yield
    finally:
        server.close()


@pytest.fixture
def openmetadata_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The documented OpenMetadata connection, pointing at the test server."""
    from om_server import TOKEN, serve

    with serve() as server:
        connection = {"conn_type": "openmetadata", "host": server.url, "password": TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_OPENMETADATA_DEFAULT", json.dumps(connection))
        yield


SERVERS = ("ingest_elasticsearch_default", "openmetadata_default")


def test_every_rule_of_the_enrich_example_applies_to_the_sample_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_ingest.run import run_workflow
    from airflow_provider_ingest.staging import read_records
    from airflow_provider_ingest.workflow.loader import load_workflow

    page = REPO / "docs" / "processors.md"
    [example] = [
        match["text"]
        for match in BLOCK.finditer(page.read_text())
        if "type: enrich\n    config:\n      rules" in match["text"]
    ]
    enrich = yaml.safe_load(example)
    del enrich[0]["config"]["file"]  # the inline rules alone
    workflow = {"source": SAMPLE, "processors": enrich, "sink": {"type": "file", "config": {"path": "out.jsonl"}}}
    (tmp_path / "enrich.yaml").write_text(yaml.safe_dump(workflow))
    monkeypatch.setenv("HOME", str(tmp_path))

    assert run_workflow(load_workflow(tmp_path / "enrich.yaml")).success
    records = {record.fqn: record for record in read_records(str(tmp_path / "out.jsonl"))}

    customers = records["sample_shop.shop.main.customers"]
    assert customers.description == "People who have an account in the shop."
    assert sorted(owner.name for owner in customers.owners) == ["alice", "crm"]
    assert [tag.tag_fqn for tag in customers.tags] == ["Tier.Tier1"]
    assert customers.custom_properties == {"domain": "sales", "retention_days": 365}
    assert [tag.tag_fqn for tag in records["sample_shop.shop.main"].tags] == ["Domain.Retail"]
    emails = [c for r in records.values() if r.kind == "table" for c in r.columns if c.name == "email"]
    assert sorted(c.description for c in emails) == [  # a description the database has is kept
        "Login and contact email address.",
        "Where we write to the customer.",
    ]
    assert all([tag.tag_fqn for tag in c.tags] == ["Glossary.ContactEmail"] for c in emails)
    [status] = [c for c in records["sample_shop.shop.main.orders"].columns if c.name == "status"]
    assert status.description == "Where the order is; placed, paid, shipped, delivered or cancelled."  # overwritten
