"""Every limit on what comes in, tested exactly at it, one step under and one step over.

The workflow loader's file size, nesting depth and value count; the workflow settings' ranges (threshold,
retention, ids, tags, retries...) and the components' (batch sizes, workers, PII settings); the lengths the PII
checks accept; names OpenMetadata and Elasticsearch can hold; staged-path segment lengths; bulk chunks by count
and by bytes; how many failures a report keeps and how long a text the status keeps.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from es_server import FakeElasticsearch
from pydantic import BaseModel, ValidationError

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.api.report import SAMPLE_LIMIT, Report
from airflow_provider_ingest.elasticsearch.bulk import BulkConfig, BulkWriter
from airflow_provider_ingest.elasticsearch.bulk_sink import ElasticsearchBulkSinkConfig
from airflow_provider_ingest.elasticsearch.client import build_client
from airflow_provider_ingest.elasticsearch.documents import MAX_ID_BYTES, DocumentError, action, document
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.openmetadata.bulk_sink import OpenMetadataBulkSinkConfig
from airflow_provider_ingest.openmetadata.mapping import ServerFeatures
from airflow_provider_ingest.openmetadata.names import ENTITY_NAME_LIMIT, UnrepresentableName, check_names
from airflow_provider_ingest.openmetadata.sink import OpenMetadataConfig, batches
from airflow_provider_ingest.processors import pii_checks
from airflow_provider_ingest.processors.pii import PiiConfig, PiiProcessor
from airflow_provider_ingest.records import Column, Query, Table, TableUsage, TagLabel
from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.run import run_task
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.status import MAX_TEXT, status_data
from airflow_provider_ingest.sources.sql.catalog import SchemaInfo
from airflow_provider_ingest.sources.sql.source import SqlSourceConfig
from airflow_provider_ingest.sources.sql.source import batches as catalog_batches
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.staging.paths import MAX_SEGMENT_BYTES, check_segment
from airflow_provider_ingest.ui.app import MAX_ID, MAX_PAGE, MAX_PER_PAGE
from airflow_provider_ingest.ui.files import MAX_PATH_CHARS
from airflow_provider_ingest.usage.processor import QueryParserProcessor
from airflow_provider_ingest.usage.querylog.file import FIELD_LIMIT
from airflow_provider_ingest.usage.stage import TableUsageConfig, TableUsageStage
from airflow_provider_ingest.workflow.document import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    WorkflowFileError,
    read_document,
)
from airflow_provider_ingest.workflow.loader import load_workflow
from airflow_provider_ingest.workflow.spec import MAX_KEY_LENGTH

# --- the workflow loader: file size, nesting depth, values -------------------------------------------------------


def padded_to(size: int) -> bytes:
    """A valid workflow document of exactly ``size`` bytes (a comment fills it up)."""
    head = b"source: {type: file, config: {path: in.jsonl}}\nsink: {type: console}\n#"
    return head + b"x" * (size - len(head) - 1) + b"\n"


@pytest.mark.parametrize(
    ("size", "accepted"), [(MAX_FILE_BYTES - 1, True), (MAX_FILE_BYTES, True), (MAX_FILE_BYTES + 1, False)]
)
def test_the_largest_workflow_file(tmp_path: Path, size: int, accepted: bool) -> None:
    path = tmp_path / "flow.yaml"
    path.write_bytes(padded_to(size))
    assert path.stat().st_size == size

    if accepted:
        assert load_workflow(path).spec.sink.type == "console"
    else:
        with pytest.raises(WorkflowFileError, match=rf"^{path}:1:1: file too large: over 1,048,576 bytes$"):
            load_workflow(path)


def nested(levels: int) -> str:
    """``key`` holding ``levels`` lists one inside the other: its innermost value is ``levels + 1`` deep (the
    document's mapping is depth 0)."""
    return "key: " + "[" * levels + "1" + "]" * levels + "\n"


MERGE_KEY = "base: &base {x: 1}\nother: {<<: *base}\n"
"""A merge key: the loader's detailed builder (which places every problem) builds the document, not the fast one."""


@pytest.mark.parametrize("prefix", ["", MERGE_KEY], ids=["plain", "detailed"])
@pytest.mark.parametrize(("levels", "accepted"), [(MAX_DEPTH - 2, True), (MAX_DEPTH - 1, True), (MAX_DEPTH, False)])
def test_the_deepest_nesting(prefix: str, levels: int, accepted: bool) -> None:
    """A value exactly :data:`MAX_DEPTH` deep is read; one deeper is refused, with its line and column."""
    text = prefix + nested(levels)
    if accepted:
        value = read_document("flow.yaml", text).data["key"]
        for _ in range(levels):
            value = value[0]
        assert value == 1
    else:
        line = text.count("\n")
        with pytest.raises(WorkflowFileError, match=rf"^flow.yaml:{line}:\d+: key.0: nested deeper than 100 levels$"):
            read_document("flow.yaml", text)


def tree_of(values: int) -> str:
    """A document of exactly ``values`` values: the mapping, its key, the list, and the list's items."""
    return "key: [" + ",".join(["1"] * (values - 3)) + "]\n"


def aliased_of(values: int) -> str:
    """A document of exactly ``values`` values once its aliases are expanded (each ``*a`` is four values)."""
    uses = 24_000
    rest = values - 1 - (2 + 3) - 2 - uses * 4 - 2  # the mapping; a, its list, 1 2 3; b and its list; the uses; c...
    return f"a: &a [1, 2, 3]\nb: [{', '.join(['*a'] * uses)}]\nc: [{','.join(['1'] * rest)}]\n"


@pytest.mark.parametrize("document", [tree_of, aliased_of], ids=["tree", "aliases"])
@pytest.mark.parametrize(("values", "accepted"), [(MAX_NODES - 1, True), (MAX_NODES, True), (MAX_NODES + 1, False)])
def test_the_most_values(document: Any, values: int, accepted: bool) -> None:
    text = document(values)
    if accepted:
        assert read_document("flow.yaml", text).data is not None
    else:
        with pytest.raises(WorkflowFileError, match=r"more than 100,000 values once aliases are expanded"):
            read_document("flow.yaml", text)


# --- the workflow's settings -------------------------------------------------------------------------------------


def workflow_with(tmp_path: Path, section: str, key: str, value: Any) -> Path:
    spec: dict[str, Any] = {
        "source": {"type": "file", "config": {"path": "in.jsonl"}},
        "sink": {"type": "console"},
        section: {key: value},
    }
    path = tmp_path / f"flow-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


SETTINGS = [
    # (section, key, accepted values at and inside the limits, refused values just outside, the message)
    ("workflow", "success_threshold", [0, 0.01, 99.99, 100], [-0.01, 100.01], "than or equal to"),
    ("workflow", "retention_days", [0, 1, 36499, 36500], [-1, 36501], "than or equal to"),
    ("airflow", "retries", [0, 1000], [-1, 1001], "than or equal to"),
    ("airflow", "max_active_runs", [1, 10_000], [0, 10_001], "than or equal to"),
    (
        "airflow",
        "dag_id",
        ["d" * (MAX_KEY_LENGTH - 1), "d" * MAX_KEY_LENGTH],
        ["d" * (MAX_KEY_LENGTH + 1)],
        "at most 250",
    ),
    ("airflow", "tags", [["t" * 99], ["t" * 100]], [["t" * 101]], "100"),
    ("airflow", "retry_delay", ["P365D", "PT0S"], ["P365DT1S", "-PT1S"], "retry_delay"),
    ("airflow", "execution_timeout", ["PT1S", "P365D"], ["PT0S", "P365DT1S"], "execution_timeout"),
    ("airflow", "schedule", ["PT1S", "P36500D"], ["PT0S", "P36500DT1S"], "more than zero and at most 100 years"),
]


@pytest.mark.parametrize(("section", "key", "accepted", "refused", "message"), SETTINGS, ids=[s[1] for s in SETTINGS])
def test_a_setting_at_its_limits(
    tmp_path: Path, section: str, key: str, accepted: list[Any], refused: list[Any], message: str
) -> None:
    for value in accepted:
        loaded = load_workflow(workflow_with(tmp_path, section, key, value))
        got = getattr(getattr(loaded.spec, section), key)
        assert got is not None, value
    for value in refused:
        path = workflow_with(tmp_path, section, key, value)
        with pytest.raises(WorkflowFileError) as error:
            load_workflow(path)
        assert str(error.value).startswith(f"{path}:8:3: {section}.{key}: "), value  # the line of the key
        assert message in str(error.value), str(error.value)


def test_a_success_threshold_at_the_float_next_to_100_is_refused(tmp_path: Path) -> None:
    import math

    path = workflow_with(tmp_path, "workflow", "success_threshold", math.nextafter(100.0, 200.0))
    with pytest.raises(
        WorkflowFileError, match=r"workflow\.success_threshold: Input should be less than or equal to 100"
    ):
        load_workflow(path)


COMPONENT_LIMITS = [
    # (config model, required settings, field, accepted values, refused values)
    (OpenMetadataConfig, {"server_url": "http://om", "jwt_token": "t"}, "batch_size", [1, 1000], [0, 1001]),
    (OpenMetadataBulkSinkConfig, {"server_url": "http://om", "jwt_token": "t"}, "max_workers", [1, 64], [0, 65]),
    (SqlSourceConfig, {"url": "sqlite://", "service_name": "svc"}, "batch_size", [1], [0]),
    (BulkConfig, {}, "chunk_size", [1], [0]),
    (BulkConfig, {}, "max_chunk_bytes", [1024], [1023]),
    (BulkConfig, {}, "max_retries", [0], [-1]),
    (ElasticsearchBulkSinkConfig, {"hosts": ["http://es"]}, "max_shrink", [0, 1], [-0.01, 1.01]),
    (ElasticsearchBulkSinkConfig, {"hosts": ["http://es"]}, "max_failures", [0], [-1]),
    (ElasticsearchBulkSinkConfig, {"hosts": ["http://es"]}, "keep_indexes", [1], [0]),
    (PiiConfig, {}, "min_samples", [1], [0]),
    (PiiConfig, {}, "min_confidence", [0, 1], [-0.01, 1.01]),
    (TableUsageConfig, {}, "max_users", [1], [0]),
]


@pytest.mark.parametrize(
    ("model", "required", "field", "accepted", "refused"),
    COMPONENT_LIMITS,
    ids=[f"{limit[0].__name__}.{limit[2]}" for limit in COMPONENT_LIMITS],
)
def test_a_component_setting_at_its_limits(
    model: type[BaseModel], required: dict[str, Any], field: str, accepted: list[Any], refused: list[Any]
) -> None:
    for value in accepted:
        assert getattr(model.model_validate({**required, field: value}), field) == value
    for value in refused:
        with pytest.raises(ValidationError) as error:
            model.model_validate({**required, field: value})
        assert [problem["loc"] for problem in error.value.errors()] == [(field,)], value


# --- PII checks: the lengths each accepts ------------------------------------------------------------------------


def luhn(body: str) -> str:
    """``body`` with the check digit that makes it pass the Luhn check."""
    return next(body + digit for digit in "0123456789" if pii_checks.luhn_valid(body + digit))


def card_of(length: int) -> str:
    """A Luhn-valid number of ``length`` digits, not all the same digit."""
    return luhn(("4539" + "1488" * 5)[: length - 1])


@pytest.mark.parametrize(("length", "card"), [(12, False), (13, True), (19, True), (20, False)])
@pytest.mark.parametrize("written", ["plain", "grouped"])
def test_card_numbers_are_13_to_19_digits(length: int, card: bool, written: str) -> None:
    digits = card_of(length)
    assert len(digits) == length and pii_checks.luhn_valid(digits)
    value = digits if written == "plain" else " ".join(digits[i : i + 4] for i in range(0, length, 4))
    assert pii_checks.is_card_number(value) is card
    assert not pii_checks.is_card_number(digits[:-1] + str((int(digits[-1]) + 1) % 10))  # the Luhn check bites


@pytest.mark.parametrize(
    ("value", "phone"),
    [
        ("0" + "3" * 7, False),  # 8 digits: a national number needs 9 to 12
        ("0" + "3" * 8, True),
        ("0" + "3" * 11, True),
        ("0" + "3" * 12, False),
        ("+49 " + "3" * 3, False),  # 5 digits: an international number needs 8 to 15
        ("+49 " + "3" * 6, True),
        ("+49 " + "3" * 13, True),
        ("+49 " + "3" * 14, False),
        ("0049 3" + "1" * 7, True),  # 00 country code: 10 to 15 digits
        ("0049 3" + "1" * 4, False),
        ("0049 3" + "1" * 10, True),
        ("0049 3" + "1" * 11, False),
    ],
)
def test_phone_number_lengths(value: str, phone: bool) -> None:
    assert pii_checks.is_phone(value) is phone, value


@pytest.mark.parametrize(("digits", "phone_like"), [(6, False), (7, True), (15, True), (16, False)])
def test_phone_like_lengths(digits: int, phone_like: bool) -> None:
    value = "+" + "1" * digits
    assert pii_checks.is_phone_like(value) is phone_like


@pytest.mark.parametrize(("value", "cvv"), [("12", False), ("123", True), ("1234", True), ("12345", False)])
def test_security_code_lengths(value: str, cvv: bool) -> None:
    assert pii_checks.is_cvv(value) is cvv


@pytest.mark.parametrize(("length", "name_like"), [(79, True), (80, True), (81, False)])
def test_name_like_length(length: int, name_like: bool) -> None:
    value = "Maria " + "a" * (length - 6)
    assert len(value) == length and pii_checks.is_name_like(value) is name_like


@pytest.mark.parametrize(("value", "ip"), [("10.0.0.255", True), ("10.0.0.256", False), ("172.31.0.1", True)])
def test_private_address_octets(value: str, ip: bool) -> None:
    assert (pii_checks._ip_private(value) is not None) is ip


@pytest.mark.parametrize(
    ("value", "document"),
    [("A123", False), ("A1234", True), ("A" + "1" * 19, True), ("A" + "1" * 20, False)],
)
def test_document_number_lengths(value: str, document: bool) -> None:
    assert pii_checks.is_document_number(value) is document


def test_birth_dates_reach_back_exactly_the_oldest_age() -> None:
    today = datetime.date(2026, 6, 15)
    oldest = datetime.date(today.year - pii_checks.MAX_AGE_YEARS, 1, 1)
    assert pii_checks.is_birth_date(oldest.isoformat(), today)
    assert not pii_checks.is_birth_date((oldest - datetime.timedelta(days=1)).isoformat(), today)
    assert pii_checks.is_birth_date(today.isoformat(), today)
    assert not pii_checks.is_birth_date((today + datetime.timedelta(days=1)).isoformat(), today)


CARDS = ["4111111111111111", "5500000000000004", "4012888888881881", "378282246310005"]
EMAILS = ["a@example.com", "b@example.org", "c@example.net", "d@example.com", "-"]
"""Four email addresses of five samples: a share of exactly 0.8."""


def pii_tags(tmp_path: Path, columns: list[Column], **config: Any) -> list[list[tuple[str, float | None]]]:
    """The tags the PII processor gives each column (settings ``config``)."""
    context = RunContext(workflow_name="test", run_id="run", staging_root=str(tmp_path), base_dir=tmp_path)
    processor = PiiProcessor.create(config, context)
    processor.prepare()
    table = Table(service="s", database="d", database_schema="x", name="t", columns=columns)
    result = processor.process(table)  # type: ignore[attr-defined]
    return [[(tag.tag_fqn, tag.confidence) for tag in column.tags] for column in result.columns]


@pytest.mark.parametrize(
    ("min_samples", "samples", "by_values"), [(3, 2, False), (3, 3, True), (4, 3, False), (4, 4, True)]
)
def test_min_samples(tmp_path: Path, min_samples: int, samples: int, by_values: bool) -> None:
    """Fewer samples than ``min_samples``: a column named ``x1`` is judged by its name (nothing); as many: by them."""
    (tags,) = pii_tags(
        tmp_path, [Column(name="x1", data_type=DataType.VARCHAR, samples=CARDS[:samples])], min_samples=min_samples
    )
    assert bool(tags) is by_values


@pytest.mark.parametrize(("min_confidence", "kept"), [(0.69, True), (0.7, True), (0.71, False)])
def test_min_confidence(tmp_path: Path, min_confidence: float, kept: bool) -> None:
    """A column named ``address`` is tagged with confidence 0.7: kept at a minimum of exactly 0.7."""
    (tags,) = pii_tags(tmp_path, [Column(name="address", data_type=DataType.VARCHAR)], min_confidence=min_confidence)
    assert tags == ([("PII.NonSensitive", 0.7)] if kept else [])


@pytest.mark.parametrize(("match_ratio", "by_email_rule"), [(0.79, True), (0.8, True), (0.81, False)])
def test_match_ratio(tmp_path: Path, match_ratio: float, by_email_rule: bool) -> None:
    """Four of five samples are email addresses: the email rule tags the column at a ratio of exactly 0.8 (0.95 x
    0.8); at 0.81 only the rule for personal data inside text (its own ratio, 0.1) does, less confidently."""
    column = Column(name="x5", data_type=DataType.VARCHAR, samples=EMAILS)
    (tags,) = pii_tags(tmp_path, [column], match_ratio=match_ratio)
    assert tags == [("PII.Sensitive", 0.76 if by_email_rule else 0.7)]


# --- names OpenMetadata and Elasticsearch can hold ---------------------------------------------------------------


def om_table(name: str = "t", column: str = "c", tag: str = "Tier.Tier1") -> Table:
    return Table(
        service="s",
        database="d",
        database_schema="p",
        name=name,
        columns=[Column(name=column, data_type=DataType.INT)],
        tags=[TagLabel(tag_fqn=tag)],
    )


@pytest.mark.parametrize(
    ("length", "fits"), [(ENTITY_NAME_LIMIT - 1, True), (ENTITY_NAME_LIMIT, True), (ENTITY_NAME_LIMIT + 1, False)]
)
def test_entity_name_length(length: int, fits: bool) -> None:
    record = om_table(name="n" * length)
    if fits:
        check_names(record, column_limit=None, tag_limit=None)
    else:
        with pytest.raises(UnrepresentableName, match=f"is {length} characters long, more than 256"):
            check_names(record, column_limit=None, tag_limit=None)


@pytest.mark.parametrize(("version", "limit"), [("1.1.0", 128), ("1.2.0", 256), ("1.12.3", 256), ("1.13.0", None)])
def test_column_name_length_per_server_version(version: str, limit: int | None) -> None:
    features = ServerFeatures.of(version)
    assert features.column_name_limit == limit
    longest = limit or 10_000
    check_names(om_table(column="c" * longest), column_limit=features.column_name_limit, tag_limit=None)
    if limit is not None:
        with pytest.raises(UnrepresentableName, match=f"columns.0.name: .* is {limit + 1} characters long"):
            check_names(om_table(column="c" * (limit + 1)), column_limit=limit, tag_limit=None)


@pytest.mark.parametrize(("version", "limit"), [("1.4.9", 128), ("1.5.0", None)])
def test_tag_fqn_length_per_server_version(version: str, limit: int | None) -> None:
    features = ServerFeatures.of(version)
    assert features.tag_fqn_limit == limit
    longest = "Tag." + "x" * ((limit or 10_000) - 4)
    check_names(om_table(tag=longest), column_limit=None, tag_limit=features.tag_fqn_limit)
    if limit is not None:
        with pytest.raises(UnrepresentableName, match=f"is {limit + 1} characters long, more than {limit}"):
            check_names(om_table(tag=longest + "x"), column_limit=None, tag_limit=limit)


def service_of_bytes(size: int, character: str = "s") -> dict[str, Any]:
    """A service record whose FQN (its name) is ``size`` bytes of ``character``."""
    width = len(character.encode())
    assert size % width == 0
    return {"kind": "database_service", "name": character * (size // width), "service_type": "Postgres"}


@pytest.mark.parametrize("character", ["s", "é", "中", "😀"])  # 1, 2, 3 and 4 bytes in UTF-8
def test_document_id_length_in_bytes(character: str) -> None:
    width = len(character.encode())
    longest = MAX_ID_BYTES - MAX_ID_BYTES % width
    assert document(service_of_bytes(longest, character))[1] == character * (longest // width)
    with pytest.raises(DocumentError, match=rf"FQN of {longest + width} bytes is longer than a document id may be"):
        document(service_of_bytes(longest + width, character))


@pytest.mark.parametrize(
    ("size", "fits"), [(MAX_SEGMENT_BYTES - 1, True), (MAX_SEGMENT_BYTES, True), (MAX_SEGMENT_BYTES + 1, False)]
)
@pytest.mark.parametrize("character", ["r", "é"])
def test_staging_path_segment_length_in_bytes(size: int, fits: bool, character: str) -> None:
    width = len(character.encode())
    name = character * (size // width) + "r" * (size % width)
    assert len(name.encode()) == size
    if fits:
        assert check_segment(name, "run id") == name
    else:
        with pytest.raises(ConfigurationError, match=f"longer than {MAX_SEGMENT_BYTES} bytes"):
            check_segment(name, "run id")


# --- bulk chunks: by count and by bytes --------------------------------------------------------------------------


@pytest.fixture
def elasticsearch() -> Any:
    server = FakeElasticsearch()
    yield server
    server.close()


def payload_of(size: int, index: int) -> tuple[bytes, str]:
    """An index action of exactly ``size`` bytes (its description pads it) and its document id."""
    fqn = f"s{index:04}"
    bare = action("catalog-services", fqn, {"fqn": fqn, "description": ""})
    padded = action("catalog-services", fqn, {"fqn": fqn, "description": "x" * (size - len(bare))})
    assert len(padded) == size
    return padded, fqn


def bulk_requests(server: FakeElasticsearch, sizes: list[int], **settings: Any) -> int:
    """How many bulk requests a writer sends for actions of these sizes."""
    client = build_client({"hosts": [server.url]})
    refused: list[str] = []
    writer = BulkWriter(client, BulkConfig.model_validate(settings), lambda item, reason: refused.append(reason), str)
    before = server.bulk_requests
    try:
        for index, size in enumerate(sizes):
            payload, fqn = payload_of(size, index)
            writer.add(payload, fqn, fqn)
        writer.flush()
    finally:
        client.close()
    assert not refused and writer.indexed == len(sizes)
    return server.bulk_requests - before


@pytest.mark.parametrize(("actions", "requests"), [(4, 1), (5, 1), (6, 2), (10, 2), (11, 3)])
def test_bulk_chunks_by_count(elasticsearch: FakeElasticsearch, actions: int, requests: int) -> None:
    assert bulk_requests(elasticsearch, [200] * actions, chunk_size=5) == requests


@pytest.mark.parametrize(("sizes", "requests"), [([500, 523], 1), ([500, 524], 1), ([500, 525], 2), ([1024, 100], 2)])
def test_bulk_chunks_by_bytes(elasticsearch: FakeElasticsearch, sizes: list[int], requests: int) -> None:
    """``max_chunk_bytes: 1024``: actions of exactly 1024 bytes in all go in one request, one byte more in two."""
    assert bulk_requests(elasticsearch, sizes, max_chunk_bytes=1024) == requests


@pytest.mark.parametrize(
    ("relations", "groups"),
    [([2, 2], [[2, 2]]), ([2, 3], [[2, 3]]), ([2, 4], [[2], [4]]), ([6], [[6]]), ([5, 1, 5], [[5], [1], [5]])],
)
def test_catalog_batches_of_at_most_five_relations(relations: list[int], groups: list[list[int]]) -> None:
    """``batch_size: 5``: schemas grouped while their relations add up to at most 5 (a bigger schema alone)."""
    schemas = [SchemaInfo(name=f"s{index}", relations=count) for index, count in enumerate(relations)]
    assert [[schema.relations for schema in batch] for batch in catalog_batches(schemas, 5)] == groups


@pytest.mark.parametrize(("records", "sizes"), [(99, [99]), (100, [100]), (101, [100, 1]), (200, [100, 100])])
def test_openmetadata_batches(records: int, sizes: list[int]) -> None:
    tables = [om_table(name=f"t{i}") for i in range(records)]
    assert [len(batch) for batch in batches(tables, 100)] == sizes


def usage_of(tmp_path: Path, queries: list[tuple[str, str]], **config: Any) -> tuple[TableUsage, Report]:
    """The usage of table ``t`` from ``queries`` (text, user) on one day, through the parser and the usage stage."""
    context = RunContext(workflow_name="usage", run_id="r1", staging_root=str(tmp_path / "staging"), base_dir=tmp_path)
    parser = QueryParserProcessor.create({}, context)
    stage = TableUsageStage.create({"path": "usage.jsonl", **config}, context)
    parser.prepare()
    stage.prepare()
    day = datetime.datetime(2026, 11, 30, 9, 30, tzinfo=datetime.timezone.utc)
    for text, user in queries:
        record = Query(service="s", database="d", database_schema="p", dialect="postgresql", text=text, user=user)
        parsed = parser.process(record.model_copy(update={"start_time": day}))  # type: ignore[attr-defined]
        for item in parsed if isinstance(parsed, list) else [parsed]:
            stage.stage(item)  # type: ignore[attr-defined]
    (usage,) = [record for record in read_records(stage.commit()) if isinstance(record, TableUsage)]  # type: ignore[attr-defined]
    return usage, stage.report


@pytest.mark.parametrize(("users", "listed"), [(1, 1), (2, 2), (3, 2)])
def test_max_users_per_table_and_query(tmp_path: Path, users: int, listed: int) -> None:
    """``max_users: 2``: the first two users are listed, of the table and of its query; every call is counted."""
    names = ["ana", "bob", "cid"][:users]
    usage, _ = usage_of(tmp_path, [("SELECT * FROM t", user) for user in names], max_users=2)
    assert usage.count == users
    assert usage.users == names[:listed] and usage.queries[0].users == names[:listed]


@pytest.mark.parametrize(("distinct", "kept"), [(2, 2), (3, 3), (4, 3)])
def test_top_queries(tmp_path: Path, distinct: int, kept: int) -> None:
    queries = [(f"SELECT * FROM t WHERE a = {n}", "ana") for n in range(distinct)]
    usage, _ = usage_of(tmp_path, queries, top_queries=3)
    assert len(usage.queries) == kept and usage.count == distinct


@pytest.mark.parametrize(("distinct", "estimated"), [(3, False), (4, True)])
def test_query_capacity(tmp_path: Path, distinct: int, estimated: bool) -> None:
    """``query_capacity: 3``: three distinct queries are counted exactly; a fourth makes the counts estimates."""
    queries = [(f"SELECT * FROM t WHERE a = {n}", "ana") for n in range(distinct)]
    _, report = usage_of(tmp_path, queries, query_capacity=3)
    assert ("frequent_queries_estimated" in report.counters) is estimated


@pytest.mark.parametrize(("length", "read"), [(FIELD_LIMIT, True), (FIELD_LIMIT + 1, False)])
def test_the_longest_query_log_csv_field(tmp_path: Path, length: int, read: bool) -> None:
    """A query of exactly :data:`FIELD_LIMIT` characters is read; one longer fails its row (kept, not dropped)."""
    import csv

    text = "SELECT id FROM orders WHERE id > 1"
    text += "0" * (length - len(text))
    (tmp_path / "log.csv").write_text(f"query_text,user_name,start_time\n{text},ana,2024-05-02 09:00:00\n")
    before = csv.field_size_limit(131072)  # Python's default: what the source raises it from
    try:
        context = RunContext(
            workflow_name="ql", run_id="run", staging_root=str(tmp_path / "staging"), base_dir=tmp_path
        )
        config = {"path": "log.csv", "service_name": "warehouse", "dialect": "postgresql"}
        result = run_task("source", "query_log_file", config, context, success_threshold=0)
    finally:
        csv.field_size_limit(before)
    source = next(report for report in result.reports if report.component.startswith("source:"))
    assert (source.records, source.failure_count) == ((1, 0) if read else (0, 1))
    if not read:
        assert "log.csv:2: not a CSV row: field larger than field limit (16777216)" in source.failures[0].error


# --- the Ingestion UI's request limits -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui(airflow_db: Path) -> Any:
    """The API server's app with the Ingestion plugin (no runs needed), and an admin's headers."""
    from fastapi.testclient import TestClient
    from support.ui import api_app, api_server_config, token

    with api_server_config(airflow_db), TestClient(api_app()) as client:
        yield client, {"Authorization": f"Bearer {token('admin', 'ADMIN')}"}


UI_LIMITS = [
    # (path, other parameters, the parameter, its value at the limit, past it, the answer at the limit)
    ("/ingestion/api/dags", {}, "per_page", MAX_PER_PAGE, MAX_PER_PAGE + 1, 200),
    ("/ingestion/api/dags", {}, "per_page", 1, 0, 200),
    ("/ingestion/api/dags", {}, "page", MAX_PAGE, MAX_PAGE + 1, 200),
    ("/ingestion/api/dags", {}, "page", 1, 0, 200),
    ("/ingestion/api/dags", {}, "q", "q" * MAX_ID, "q" * (MAX_ID + 1), 200),
    ("/ingestion/api/dag", {}, "dag_id", "d" * MAX_ID, "d" * (MAX_ID + 1), 404),
    ("/ingestion/api/report", {"dag_id": "d"}, "run_id", "r" * MAX_ID, "r" * (MAX_ID + 1), 404),
    ("/ingestion/files", {"dag_id": "d", "run_id": "r"}, "path", "p" * MAX_PATH_CHARS, "p" * (MAX_PATH_CHARS + 1), 404),
]


@pytest.mark.airflow
@pytest.mark.parametrize(("path", "others", "name", "at", "past", "answer"), UI_LIMITS)
def test_ui_request_limits(
    ui: Any, path: str, others: dict[str, str], name: str, at: Any, past: Any, answer: int
) -> None:
    """A value at its limit is served (or not found: nothing has that name); one past it is refused (422)."""
    client, admin = ui
    assert client.get(path, params={**others, name: at}, headers=admin).status_code == answer
    refused = client.get(path, params={**others, name: past}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert [problem["loc"][-1] for problem in refused.json()["detail"]] == [name]


# --- what a report and a status keep -----------------------------------------------------------------------------


@pytest.mark.parametrize("failures", [SAMPLE_LIMIT - 1, SAMPLE_LIMIT, SAMPLE_LIMIT + 1])
def test_a_report_keeps_the_first_hundred_failures_and_counts_all(failures: int) -> None:
    report = Report(component="sink")
    for index in range(failures):
        report.add_failure(f"failure {index}")
        report.add_warning(f"warning {index}")
    assert report.failure_count == report.warning_count == failures
    kept = min(failures, SAMPLE_LIMIT)
    assert [failure.error for failure in report.failures] == [f"failure {index}" for index in range(kept)]
    assert report.warnings == [f"warning {index}" for index in range(kept)]


@pytest.mark.parametrize(("length", "cut"), [(MAX_TEXT - 1, False), (MAX_TEXT, False), (MAX_TEXT + 1, True)])
def test_the_status_keeps_failure_texts_up_to_its_limit(length: int, cut: bool) -> None:
    report = Report(component="sink")
    report.add_failure("e" * length)
    report.add_warning("w" * length)
    data = status_data(RunResult(reports=[report], threshold=90.0))
    error, warning = data["reports"][0]["failures"][0]["error"], data["reports"][0]["warnings"][0]
    if cut:
        assert error == "e" * (MAX_TEXT - 3) + "..." and warning == "w" * (MAX_TEXT - 3) + "..."
    else:
        assert (error, warning) == ("e" * length, "w" * length)
    assert len(error) <= MAX_TEXT
