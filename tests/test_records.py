"""Records: JSON round trip of every kind, and fully qualified names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from airflow_provider_ingest.records import (
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Owner,
    RecordError,
    Table,
    TableConstraint,
    TableType,
    TagLabel,
    dump_record,
    parse_record,
)
from airflow_provider_ingest.records import fqn as fqn_

SERVICE = DatabaseService(
    name="prod pg", service_type="Postgres", description="Main server", owners=[Owner(name="dba")]
)
DATABASE = Database(service="prod pg", name="shop", tags=[TagLabel(tag_fqn="Tier.Gold", source="glossary")])
SCHEMA = DatabaseSchema(service="prod pg", database="shop", name="sales.eu", custom_properties={"region": "eu"})
TABLE = Table(
    service="prod pg",
    database="shop",
    database_schema="sales.eu",
    name="Bestellungen_ü",
    table_type=TableType.PARTITIONED,
    description="Orders, «partitioned» by month",
    owners=[Owner(name="data-eng", type="team")],
    columns=[
        Column(
            name="id",
            data_type=DataType.BIGINT,
            data_type_display="bigint",
            nullable=False,
            ordinal_position=1,
        ),
        Column(
            name="price",
            data_type=DataType.NUMERIC,
            data_type_display="numeric(10,2)",
            precision=10,
            scale=2,
            default="0",
            ordinal_position=2,
            tags=[TagLabel(tag_fqn="PII.NonSensitive", confidence=0.75, reason="name matches 'price'")],
        ),
        Column(name="e.mail", data_type=DataType.VARCHAR, data_length=255, description="日本語のコメント"),
    ],
    constraints=[
        TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, name="pk", columns=["id"]),
        TableConstraint(
            constraint_type=ConstraintType.FOREIGN_KEY,
            columns=["id"],
            referred_table='prod pg.shop."sales.eu".customers',
            referred_columns=["customer_id"],
        ),
    ],
    row_count=12345,
    custom_properties={"partitioning": {"by": "month", "count": 12}, "archived": False, "ratio": 0.1},
)
VIEW = Table(
    service="prod pg",
    database="shop",
    database_schema="public",
    name="orders_v",
    table_type=TableType.VIEW,
    view_definition="SELECT * FROM orders WHERE note <> 'a\"b'",
)
EMPTY_TABLE = Table(service="s", database="d", database_schema="x", name="no_columns")


@pytest.mark.parametrize("record", [SERVICE, DATABASE, SCHEMA, TABLE, VIEW, EMPTY_TABLE], ids=lambda r: r.kind)
def test_json_round_trip_is_exact(record):
    text = dump_record(record)
    assert text.startswith(f'{{"kind":"{record.kind}"')
    again = parse_record(text)
    assert again == record
    assert type(again) is type(record)
    assert dump_record(again) == text


def test_every_table_type_round_trips():
    for table_type in TableType:
        table = Table(service="s", database="d", database_schema="x", name="t", table_type=table_type)
        assert parse_record(dump_record(table)).table_type is table_type


def test_fqn_of_each_kind_quotes_dotted_parts():
    assert SERVICE.fqn == "prod pg"
    assert DATABASE.fqn == "prod pg.shop"
    assert SCHEMA.fqn == 'prod pg.shop."sales.eu"'
    assert TABLE.fqn == 'prod pg.shop."sales.eu".Bestellungen_ü'
    assert TABLE.parent_fqn == SCHEMA.fqn
    assert SERVICE.parent_fqn is None


@pytest.mark.parametrize(
    "parts",
    [
        ["a", "b", "c", "d"],
        ["a.b", "c", "d.e.f"],
        ['say "hi"', "x"],
        ['".', '"', "..."],
        ["ünï", "☃.❄", "名前"],
        ["with space", "tab\there"],
    ],
)
def test_fqn_split_inverts_build(parts):
    assert fqn_.split(fqn_.build(*parts)) == parts


@pytest.mark.parametrize("bad", ['"unterminated', "a..b", "a.", '"a"b', ""])
def test_fqn_split_refuses_malformed(bad):
    with pytest.raises(fqn_.FqnError):
        fqn_.split(bad)


@given(st.text(alphabet='ab."', max_size=12) | st.text(max_size=12))
def test_fqn_split_without_quotes_takes_a_fast_path_with_the_same_parts_and_errors(text):
    """``split`` short-cuts FQNs without a quote; the character loop gives the same parts, or the same error."""

    def outcome(function):
        try:
            return function(text)
        except fqn_.FqnError as error:
            return str(error)

    assert outcome(fqn_.split) == outcome(fqn_._split_quoted)


def test_foreign_key_needs_referred_table_and_columns():
    with pytest.raises(ValidationError, match="referred_table"):
        TableConstraint(constraint_type=ConstraintType.FOREIGN_KEY, columns=["a"])
    with pytest.raises(ValidationError, match="as many referred_columns"):
        TableConstraint(
            constraint_type=ConstraintType.FOREIGN_KEY, columns=["a", "b"], referred_table="x", referred_columns=["a"]
        )
    with pytest.raises(ValidationError, match="only a foreign key"):
        TableConstraint(constraint_type=ConstraintType.UNIQUE, columns=["a"], referred_table="x")


def test_unknown_fields_and_kinds_are_refused():
    with pytest.raises(RecordError, match=r"^colour: Extra inputs are not permitted$"):
        parse_record('{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x","colour":"red"}')
    with pytest.raises(RecordError, match=r"^unknown kind 'dashboard' "):
        parse_record('{"kind":"dashboard","name":"t"}')
    with pytest.raises(ValidationError):
        Column(name="c", data_type="NOT_A_TYPE")


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        (
            '"columns":[{"name":"c","data_type":"INT","colour":"red"}]',
            "columns.0.colour: Extra inputs are not permitted",
        ),
        ('"columns":[{"data_type":"INT"}]', "columns.0.name: Field required"),
        ('"columns":[{"name":"","data_type":"INT"}]', "columns.0.name: String should have at least 1 character"),
        ('"columns":[5]', "columns.0: Input should be an object"),
        ('"tags":[{"tag_fqn":"a.b","confidence":2}]', "tags.0.confidence: Input should be less than or equal to 1"),
        ('"owners":[{"name":"x","type":"robot"}]', "owners.0.type: Input should be 'user' or 'team'"),
        (
            '"constraints":[{"constraint_type":"foreign_key","columns":["a"]}]',
            "constraints.0: Value error, a foreign key needs referred_table",
        ),
    ],
)
def test_a_bad_value_inside_a_record_is_named_by_its_field(inner: str, message: str) -> None:
    """A problem inside a column, tag, owner or constraint is named by its path in the record."""
    line = '{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x",' + inner + "}"
    with pytest.raises(RecordError) as refused:
        parse_record(line)
    assert str(refused.value) == message


def test_the_problems_of_a_value_come_in_its_fields_order() -> None:
    """Fields are validated in the order they are written: a column's first problems shown are its name's and its
    type's, and the schema lists its fields in that order."""
    line = (
        '{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x",'
        '"columns":[{"name":"","data_type":"NOPE","nullable":"maybe","tags":[5],"samples":[1]}]}'
    )
    with pytest.raises(RecordError) as refused:
        parse_record(line)
    assert str(refused.value).startswith("columns.0.name: String should have at least 1 character; columns.0.data_")
    assert list(TypeAdapter(Column).json_schema()["properties"])[:2] == ["name", "data_type"]
    assert list(TypeAdapter(TagLabel).json_schema()["properties"]) == ["tag_fqn", "source", "confidence", "reason"]
    order = list(TypeAdapter(TableConstraint).json_schema()["properties"])
    assert order == ["constraint_type", "name", "columns", "referred_table", "referred_columns"]


@pytest.mark.parametrize("enum", [DataType, TableType, ConstraintType])
def test_text_enums_keep_enum_behaviour_with_their_fast_value(enum: type) -> None:
    """The text enums read ``value`` in C; each member still is its text, found by it, and serialized as it."""
    for member in enum:
        assert member.value == member._value_ == str.__str__(member)
        assert enum(member.value) is member
        assert member == member.value
        assert TypeAdapter(enum).dump_json(member) == f'"{member.value}"'.encode()
        assert TypeAdapter(enum).validate_json(f'"{member.value}"') is member


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_number_that_is_not_finite_is_refused_wherever_it_is(value: float) -> None:
    """Elasticsearch and OpenMetadata store no NaN or infinity (pydantic would write them as null)."""
    with pytest.raises(ValidationError, match="finite number"):
        DatabaseService(name="shop", custom_properties={"score": value})
    with pytest.raises(ValidationError, match="finite number"):
        TagLabel(tag_fqn="PII.Sensitive", confidence=value)
