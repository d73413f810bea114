"""Bodies a real OpenMetadata server of each version accepts: the mapping, and the strict test server's rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from om_rules import ENTITIES, refusals
from om_server import TOKEN, FakeOpenMetadata, serve
from support.catalogs import PG_TYPES_SQL, postgres_database

from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, RequestRejected, Settings
from airflow_provider_ingest.openmetadata.mapping import ENDPOINTS, Mapper, ServerFeatures
from airflow_provider_ingest.openmetadata.names import UnrepresentableName, UnrepresentableRecord
from airflow_provider_ingest.openmetadata.properties import PropertyDefinitions
from airflow_provider_ingest.records import (
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Table,
    TableConstraint,
    TableType,
    TagLabel,
    fqn,
)
from airflow_provider_ingest.run import RunResult, run_workflow
from airflow_provider_ingest.staging import StagedFileWriter
from airflow_provider_ingest.staging.deadletters import read_dead_letters
from airflow_provider_ingest.workflow.loader import load_workflow

VERSIONS = ["1.4.3", "1.5.12", "1.10.4", "2.0.7"]
"""One server of each schema set the mapping tells apart: single owner and no MONEY/BIT, the baseline, tag
reasons, unbounded column names."""

CUSTOM_PROPERTIES = {
    "table": {"team": "string", "retention": "integer", "score": "number", "notes": "markdown", "tier": "enum"},
    "database": {"team": "string"},
    "databaseSchema": {"retention": "integer"},
}
"""The custom properties the test servers define, by entity type."""

REFS = [
    {"id": "6f1c2f4e-5d1b-4a57-9d1d-6c9b0f3f1a11", "type": "user"},
    {"id": "1a2b3c4d-5d1b-4a57-9d1d-6c9b0f3f1a22", "type": "team"},
]


def mapper(version: str) -> Mapper:
    """A mapper for a server of ``version`` defining :data:`CUSTOM_PROPERTIES`."""

    def read(entity_type: str) -> list[dict[str, Any]]:
        properties = CUSTOM_PROPERTIES.get(entity_type, {})
        return [{"name": name, "propertyType": {"name": kind}} for name, kind in properties.items()]

    return Mapper(ServerFeatures.of(version), PropertyDefinitions(read))


def table(columns: list[Column], **fields: Any) -> Table:
    """A table ``svc.db.sch.t`` (other names as given) with ``columns``."""
    names = {"service": "svc", "database": "db", "database_schema": "sch", "name": "t"}
    return Table(**(names | fields), columns=columns)


def column(name: str, data_type: DataType, **fields: Any) -> Column:
    return Column(name=name, data_type=data_type, **fields)


def refused(version: str, record: Any, body: dict[str, Any]) -> list[str]:
    """What a server of ``version`` refuses in ``body`` once it went over the wire as JSON (no NaN)."""
    state = FakeOpenMetadata(version=version, custom_properties=CUSTOM_PROPERTIES)
    return refusals(state, ENDPOINTS[record.kind], json.loads(json.dumps(body, allow_nan=False)))


# --- any record: UnrepresentableName, or a body the strict server accepts ----------------------------------------

GOOD_NAMES = st.text(st.sampled_from([*"abcxyz_. -é€", "\U0001f600"]), min_size=1, max_size=6)
BAD_NAMES = st.one_of(
    st.text(st.sampled_from([*'ab.:"\n\r\u2028\u0085\x00']), min_size=1, max_size=6),
    st.integers(250, 300).map(lambda n: "n" * n),
    st.text(min_size=1, max_size=6),
)
"""Names OpenMetadata may not represent: a double quote, ``::``, a line break, NUL, 250 to 300 characters, any."""
TAGS = st.builds(
    TagLabel,
    tag_fqn=st.sampled_from(["PII.Sensitive", "Tier.Tier1", 'Class."a.b"', "T." + "x" * 130]),
    source=st.sampled_from(["classification", "glossary"]),
    confidence=st.one_of(st.none(), st.floats(0, 1)),
    reason=st.one_of(st.none(), st.text(max_size=20)),
)
VALUES = st.one_of(
    st.text(max_size=5),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),  # a record refuses NaN and infinities (test_records.py)
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
PROPERTIES = st.dictionaries(st.sampled_from(["team", "retention", "score", "notes", "tier", "ghost"]), VALUES)
SIZES = st.one_of(st.none(), st.integers(-3, 70_000))
RULED_TYPES = ["MONEY", "BIT", "ARRAY", "STRUCT", "CHAR", "VARCHAR", "BINARY", "VARBINARY", "NUMERIC"]
DATA_TYPES = st.one_of(st.sampled_from(DataType), st.sampled_from([DataType[name] for name in RULED_TYPES]))
"""Any type, the ones OpenMetadata has rules for as often as all the others together."""


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A record of any kind with any fields; its names are ones OpenMetadata can represent but maybe one."""
    bad, slot, count = draw(st.one_of(st.none(), BAD_NAMES)), draw(st.integers(0, 15)), iter(range(1000))

    def name() -> str:
        return bad if bad is not None and next(count) == slot else draw(GOOD_NAMES)

    common = {
        "name": name(),
        "display_name": draw(st.one_of(st.none(), st.text(max_size=5))),
        "description": draw(st.one_of(st.none(), st.text(max_size=10))),
        "tags": draw(st.lists(TAGS, max_size=2)),
        "custom_properties": draw(PROPERTIES),
    }
    kind = draw(st.sampled_from(["database_service", "database", "database_schema", "table", "table", "table"]))
    if kind == "database_service":
        return DatabaseService(service_type=draw(st.sampled_from(["Postgres", "Mysql", "SQLite"])), **common)
    if kind == "database":
        return Database(service=name(), **common)
    if kind == "database_schema":
        return DatabaseSchema(service=name(), database=name(), **common)
    found = [draw(columns(name())) for _ in range(draw(st.integers(0, 6)))]
    if draw(st.booleans()):  # most tables from a database: no column name twice
        found = list({column.name: column for column in reversed(found)}.values())[::-1]
    names = [column.name for column in found]
    return Table(
        service=name(),
        database=name(),
        database_schema=name(),
        table_type=draw(st.sampled_from(TableType)),
        columns=found,
        constraints=[draw(constraints(names, name)) for _ in range(draw(st.integers(0, 3)))],
        view_definition=draw(st.one_of(st.none(), st.just("select 1"))),
        row_count=draw(st.one_of(st.none(), st.integers(0, 10))),
        **common,
    )


@st.composite
def columns(draw: st.DrawFn, name: str) -> Column:
    return Column(
        name=name,
        data_type=draw(DATA_TYPES),
        array_data_type=draw(st.one_of(st.none(), DATA_TYPES)),
        data_type_display=draw(st.one_of(st.none(), st.text(max_size=10))),
        data_length=draw(SIZES),
        precision=draw(st.one_of(st.none(), st.integers(-3, 40))),
        scale=draw(st.one_of(st.none(), st.integers(-3, 40))),
        nullable=draw(st.booleans()),
        default=draw(st.one_of(st.none(), st.just("now()"))),
        ordinal_position=draw(st.one_of(st.none(), st.integers(0, 50))),
        description=draw(st.one_of(st.none(), st.text(max_size=10))),
        tags=draw(st.lists(TAGS, max_size=2)),
        samples=draw(st.lists(st.text(max_size=3), max_size=1)),
    )


@st.composite
def constraints(draw: st.DrawFn, names: list[str], name: Any) -> TableConstraint:
    """A constraint on columns of the table (or, at times, on a column it lacks)."""
    kind = draw(st.sampled_from(ConstraintType))
    count = draw(st.integers(1, 2))
    keys = [draw(st.sampled_from(names)) if names and draw(st.integers(0, 5)) else name() for _ in range(count)]
    if kind is not ConstraintType.FOREIGN_KEY:
        return TableConstraint(constraint_type=kind, columns=keys)
    referred = fqn.build(*(name() for _ in range(4))) if draw(st.integers(0, 5)) else name()
    return TableConstraint(
        constraint_type=kind, columns=keys, referred_table=referred, referred_columns=[name() for _ in keys]
    )


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records(), owners=st.integers(0, 2))
def test_a_body_is_accepted_or_the_record_is_unrepresentable(version: str, record: Any, owners: int) -> None:
    try:
        body = mapper(version).body(record, REFS[:owners])
    except UnrepresentableRecord as error:
        assert str(error).split(":", 1)[0].split(" ")[0] in _fields(record), str(error)
        return
    assert refused(version, record, body) == []


def _fields(record: Any) -> set[str]:
    """The fields an UnrepresentableName message may name (``columns.3.name``, ``constraints.0.columns.1``...)."""
    fields = {"service", "database", "database_schema", "name"}
    if isinstance(record, Table):
        fields |= {f"columns.{i}.name" for i in range(len(record.columns))}
        fields |= {f"columns.{i}.tags.{k}.tag_fqn" for i, c in enumerate(record.columns) for k in range(len(c.tags))}
        for i, constraint in enumerate(record.constraints):
            fields |= {f"constraints.{i}", f"constraints.{i}.referred_table"}
            fields |= {f"constraints.{i}.columns.{k}" for k in range(len(constraint.columns))}
            fields |= {f"constraints.{i}.referred_columns.{k}" for k in range(len(constraint.referred_columns))}
    return fields | {f"tags.{k}.tag_fqn" for k in range(len(record.tags))}


# --- the mapping, feature by feature ------------------------------------------------------------------------------


def test_owners_are_users_or_one_team_from_1_5_and_one_owner_before_with_a_warning() -> None:
    schema = DatabaseSchema(service="svc", database="db", name="sch")
    old = mapper("1.4.3")
    assert old.body(schema, REFS) == {"name": "sch", "database": "svc.db", "owner": REFS[0]}
    assert old.dropped() == [
        "owners after the first are not published: OpenMetadata 1.4 takes one owner per entity, 1.5 takes several"
        " (1 entities)"
    ]
    new = mapper("1.5.12")
    users = [REFS[0], {**REFS[0], "id": "7e2d3f5a-6e2c-4b68-8e2e-7d0c1f4f2b33"}]
    assert new.body(schema, users)["owners"] == users and new.dropped() == []
    assert new.body(DatabaseSchema(service="svc", database="db", name="other"), REFS)["owners"] == REFS[:1]
    assert new.dropped() == [
        "owners besides several users or one team are not published: OpenMetadata takes either (1 entities)"
    ]


def test_money_and_bit_are_exact_from_1_5_and_fall_back_before() -> None:
    record = table(
        [
            column("price", DataType.MONEY, data_type_display="money"),
            column("bits", DataType.BIT, data_type_display="bit varying"),
            column("flags", DataType.BIT, data_type_display="bit(3)", data_length=3),
        ]
    )
    old = mapper("1.4.3")
    assert [(c["dataType"], c.get("dataLength"), c["dataTypeDisplay"]) for c in old.body(record)["columns"]] == [
        ("NUMERIC", None, "money"),
        ("BINARY", 1, "bit varying"),
        ("BINARY", 3, "bit(3)"),
    ]
    assert old.dropped() == [
        "MONEY columns are published as NUMERIC: OpenMetadata 1.4 has no MONEY type, 1.5 has; the raw type stays in"
        " dataTypeDisplay (1 columns)",
        "BIT columns are published as BINARY: OpenMetadata 1.4 has no BIT type, 1.5 has; the raw type stays in"
        " dataTypeDisplay (2 columns)",
    ]
    new = mapper("2.0.7")
    assert [(c["dataType"], c.get("dataLength")) for c in new.body(record)["columns"]] == [
        ("MONEY", None),
        ("BIT", 1),
        ("BIT", 3),
    ]
    assert new.dropped() == []


def test_arrays_carry_their_element_type_and_sized_types_a_length() -> None:
    record = table(
        [
            column("labels", DataType.ARRAY, array_data_type=DataType.TEXT, data_type_display="text[]"),
            column("odd", DataType.ARRAY, data_type_display="mood[]"),
            column("prices", DataType.ARRAY, array_data_type=DataType.MONEY),
            column("free", DataType.VARCHAR, data_type_display="character varying"),
            column("code", DataType.VARCHAR, data_length=20),
            column("padded", DataType.CHAR),
            column("blob", DataType.BINARY),
            column("vblob", DataType.VARBINARY),
            column("n", DataType.INT),
        ]
    )
    body = mapper("1.5.12").body(record)
    assert [(c["name"], c.get("arrayDataType"), c.get("dataLength")) for c in body["columns"]] == [
        ("labels", "TEXT", None),
        ("odd", "UNKNOWN", None),
        ("prices", "MONEY", None),
        ("free", None, 1),
        ("code", None, 20),
        ("padded", None, 1),
        ("blob", None, 1),
        ("vblob", None, 1),
        ("n", None, None),
    ]
    assert record.columns[3].data_length is None  # the record stays as the database said
    assert mapper("1.4.3").body(record)["columns"][2]["arrayDataType"] == "NUMERIC"


def test_table_types_view_definitions_and_struct_columns() -> None:
    foreign = table([column("s", DataType.STRUCT)], table_type=TableType.FOREIGN)
    body = mapper("1.5.12").body(foreign)
    assert body["tableType"] == "Foreign" and body["columns"][0]["children"] == []
    regular = table([], view_definition="select 1")
    assert mapper("1.4.3").body(regular)["schemaDefinition"] == "select 1"
    old = mapper("1.3.2")
    assert "viewDefinition" not in old.body(regular) and "schemaDefinition" not in old.body(regular)
    view = table([], name="v", table_type=TableType.VIEW, view_definition="select 1")
    assert old.body(view)["viewDefinition"] == "select 1"
    assert old.dropped() == [
        "view definitions of tables that are not views are not published: OpenMetadata 1.3 refuses them, 1.4 takes"
        " them (1 tables)"
    ]


def test_tag_reasons_from_1_10_and_what_has_no_field_is_one_warning_per_kind() -> None:
    pii = TagLabel(tag_fqn="PII.Sensitive", confidence=0.9, reason="rule 'email': the column name matches")
    record = table(
        [
            column("email", DataType.TEXT, tags=[pii], default="''", samples=["a@example.com"]),
            column("email2", DataType.TEXT, tags=[pii], default="''"),
        ],
        row_count=3,
    )
    new = mapper("1.10.4")
    assert new.body(record)["columns"][0]["tags"] == [
        {"tagFQN": "PII.Sensitive", "source": "Classification", "labelType": "Automated", "state": "Confirmed"}
        | {"reason": "rule 'email': the column name matches"}
    ]
    new.body(record, foreign_keys=False)  # a second pass over the same record counts nothing more
    assert new.dropped() == [
        "column defaults are not published: OpenMetadata has no field for them (2 columns)",
        "column samples are not published: OpenMetadata's create requests have no field for them (1 columns)",
        "row counts are not published: OpenMetadata's create requests have no field for them (1 tables)",
        "tag confidences are not published: OpenMetadata's tag labels have no field for them (2 tags)",
    ]
    old = mapper("1.5.12")
    assert "reason" not in old.body(record)["columns"][0]["tags"][0]
    assert "tag reasons are not published: OpenMetadata 1.5 has no field for them, 1.10 has (2 tags)" in old.dropped()


def test_custom_properties_go_to_extension_where_the_server_defines_them() -> None:
    properties = {"team": "sales", "retention": 30, "score": "high", "tier": "gold", "ghost": 1}
    records = [
        DatabaseService(name="svc", custom_properties={"team": "x"}),
        Database(service="svc", name="db", custom_properties={"team": "sales", "ghost": True}),
        table([], custom_properties=properties),
    ]
    built = mapper("1.5.12")
    bodies = [built.body(record) for record in records]
    assert "extension" not in bodies[0]
    assert bodies[1]["extension"] == {"team": "sales"}
    assert bodies[2]["extension"] == {"team": "sales", "retention": 30}
    assert built.dropped() == [
        "custom properties are not published where OpenMetadata 1.5's create request has no extension field"
        " (1 values: databaseService.team)",
        "custom properties OpenMetadata does not define for the entity type are not published"
        " (2 values: database.ghost, table.ghost)",
        "custom property values that do not fit the property's type in OpenMetadata are not published"
        " (1 values: table.score (number))",
        "custom properties of types this provider does not publish (it publishes string, markdown, sqlQuery,"
        " integer, number and timestamp) are not published (1 values: table.tier (enum))",
    ]
    assert all(refused("1.5.12", record, body) == [] for record, body in zip(records, bodies, strict=True))
    assert "extension" not in mapper("1.0.1").body(records[1])  # CreateDatabase has extension from 1.1 on


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (table([], name='quo"ted'), "name: 'quo\"ted' contains '\"', which OpenMetadata cannot represent"),
        (
            table([], database_schema="a::b"),
            "database_schema: 'a::b' contains '::', which OpenMetadata cannot represent",
        ),
        (
            table([], name="two\nlines"),
            "name: 'two\\nlines' contains a line break, which OpenMetadata cannot represent",
        ),
        (
            table([], name="n" * 257),
            "name: 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' is 257 characters long, more than 256,"
            " which OpenMetadata cannot represent",
        ),
        (
            table([column("a", DataType.INT), column('sa"y', DataType.INT)]),
            "columns.1.name: 'sa\"y' contains '\"', which OpenMetadata cannot represent",
        ),
        (
            table([column("a", DataType.INT), column("a", DataType.TEXT)]),
            "columns.1.name: 'a' repeats columns.0.name; OpenMetadata refuses a repeated column name",
        ),
        (
            table(
                [column("a", DataType.INT)],
                constraints=[TableConstraint(constraint_type=ConstraintType.UNIQUE, columns=["a", "b"])],
            ),
            "constraints.0.columns.1: 'b' is not a column of the table; OpenMetadata refuses a constraint on a column"
            " the table lacks",
        ),
        (
            table(
                [column("a", DataType.INT)],
                constraints=[
                    TableConstraint(
                        constraint_type=ConstraintType.FOREIGN_KEY,
                        columns=["a"],
                        referred_table='svc.db.sch."x""y"',
                        referred_columns=["id"],
                    )
                ],
            ),
            "constraints.0.referred_table (name): 'x\"y' contains '\"', which OpenMetadata cannot represent",
        ),
        (
            table(
                [column("a", DataType.INT)],
                constraints=[
                    TableConstraint(
                        constraint_type=ConstraintType.FOREIGN_KEY,
                        columns=["a"],
                        referred_table="svc.db.sch.other",
                        referred_columns=["i::d"],
                    )
                ],
            ),
            "constraints.0.referred_columns.0: 'i::d' contains '::', which OpenMetadata cannot represent",
        ),
    ],
)
def test_a_name_openmetadata_cannot_represent_fails_naming_the_field(record: Table, message: str) -> None:
    with pytest.raises(UnrepresentableName) as raised:
        mapper("2.0.7").body(record)
    assert str(raised.value) == message and not raised.value.retryable


def test_column_name_limits_follow_the_version_and_two_primary_keys_are_refused() -> None:
    long_name = table([column("c" * 300, DataType.INT)])
    assert mapper("2.0.7").body(long_name)["columns"][0]["name"] == "c" * 300
    with pytest.raises(UnrepresentableName, match=r"columns\.0\.name: .* is 300 characters long, more than 256"):
        mapper("1.10.4").body(long_name)
    keys = [TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=[name]) for name in "ab"]
    with pytest.raises(
        UnrepresentableRecord, match=r"constraints.1: a second primary key \(the first is constraints.0\)"
    ):
        mapper("1.5.12").body(table([column("a", DataType.INT), column("b", DataType.INT)], constraints=keys))


# --- the strict test server refuses what OpenMetadata refuses --------------------------------------------------------


def _table_body(**fields: Any) -> dict[str, Any]:
    return {"name": "t", "databaseSchema": "svc.db.sch", "columns": [{"name": "a", "dataType": "INT"}]} | fields


def _columns(*columns: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return _table_body(columns=list(columns), **fields)


RULES = [
    (
        "1.5.12",
        _columns({"name": "a", "dataType": "ARRAY"}),
        "For column data type array, arrayDataType must not be null",
    ),
    (
        "1.5.12",
        _columns({"name": "a", "dataType": "VARCHAR"}),
        "For column data types char, varchar, binary, varbinary dataLength must not be null",
    ),
    (
        "2.0.7",
        _columns({"name": "a", "dataType": "BINARY"}),
        "For column data types char, varchar, binary, varbinary dataLength must not be null",
    ),
    ("1.5.12", _columns({"name": "s", "dataType": "STRUCT"}), "For column data type struct, children must not be null"),
    (
        "1.5.12",
        _columns({"name": "n", "dataType": "NUMERIC", "scale": 2}),
        "Scale is set but precision is not set for the column n",
    ),
    (
        "1.5.12",
        _columns({"name": "n", "dataType": "NUMERIC", "precision": 2, "scale": 3}),
        "Scale can't be greater than the precision for the column n",
    ),
    (
        "1.5.12",
        _columns({"name": "a", "dataType": "INT"}, {"name": "a", "dataType": "INT"}),
        "Column name a is repeated",
    ),
    (
        "1.5.12",
        _table_body(tableConstraints=[{"constraintType": "UNIQUE", "columns": ["a", "b"]}]),
        "Invalid column name found in table constraint",
    ),
    (
        "1.5.12",
        _columns(
            {"name": "a", "dataType": "INT", "constraint": "PRIMARY_KEY"},
            {"name": "b", "dataType": "INT", "constraint": "PRIMARY_KEY"},
        ),
        "Multiple columns tagged with primary key constraints",
    ),
    (
        "1.5.12",
        _columns(
            {"name": "a", "dataType": "INT", "constraint": "PRIMARY_KEY"},
            {"name": "b", "dataType": "INT"},
            tableConstraints=[{"constraintType": "PRIMARY_KEY", "columns": ["a", "b"]}],
        ),
        "A column already tagged as a primary key and table constraint also includes primary key",
    ),
    ("1.5.12", _table_body(name='quo"ted'), 'Invalid name quo"ted'),
    ("1.5.12", _columns({"name": 'sa"y', "dataType": "INT"}), 'Invalid name sa"y'),
    ("1.5.12", _table_body(name="car\rriage"), "name: 'car\\rriage' does not match '^((?!::).)*$'"),
    ("1.5.12", _table_body(name="a::b"), "name: 'a::b' does not match '^((?!::).)*$'"),
    ("1.10.4", _columns({"name": "c" * 257, "dataType": "INT"}), "columns.0.name: '" + "c" * 257 + "' is too long"),
    (
        "1.3.2",
        _table_body(viewDefinition="select 1", tableType="Regular"),
        "ViewDefinition can only be set on TableType View, SecureView or MaterializedView",
    ),
    ("1.4.3", _table_body(owners=[REFS[0]]), "Additional properties are not allowed ('owners' was unexpected)"),
    ("1.5.12", _table_body(owner=REFS[0]), "Additional properties are not allowed ('owner' was unexpected)"),
    ("1.4.3", _columns({"name": "m", "dataType": "MONEY"}), "columns.0.dataType: 'MONEY' is not one of"),
    (
        "1.5.12",
        _table_body(
            tags=[
                {"tagFQN": "A.b", "source": "Classification", "labelType": "Automated", "state": "Confirmed"}
                | {"reason": "why"}
            ]
        ),
        "Additional properties are not allowed ('reason' was unexpected)",
    ),
    ("1.5.12", _table_body(extension={"ghost": 1}), "Unknown custom field ghost"),
    ("1.5.12", _table_body(extension={"retention": "long"}), "Custom field retention has invalid JSON ["),
    (
        "1.5.12",
        {"name": "s", "serviceType": "Postgres", "extension": {"team": "x"}},
        "Additional properties are not allowed ('extension' was unexpected)",
    ),
    ("1.0.1", {"name": "d", "service": "svc", "extension": {"team": "x"}}, "('extension' was unexpected)"),
]


@pytest.mark.parametrize(("version", "body", "message"), RULES)
def test_the_strict_server_refuses_what_openmetadata_refuses(version: str, body: dict[str, Any], message: str) -> None:
    kind = "database_service" if "serviceType" in body else "database" if "service" in body else "table"
    state = FakeOpenMetadata(version=version, custom_properties=CUSTOM_PROPERTIES)
    state.entities[("databaseService", "svc")] = {}
    state.entities[("databaseSchema", "svc.db.sch")] = {}
    with serve(state):
        client = OpenMetadataClient(Settings(server_url=state.url, token=TOKEN, retries=0))
        with pytest.raises(RequestRejected) as raised:
            client.put(ENDPOINTS[kind], body)
        client.close()
    assert raised.value.status == 400 and message in raised.value.server_message


def test_the_strict_server_accepts_what_each_version_has() -> None:
    reason = {"tagFQN": "A.b", "source": "Classification", "labelType": "Automated", "state": "Confirmed"}
    reason |= {"reason": "why"}
    state = FakeOpenMetadata(version="1.10.4", custom_properties=CUSTOM_PROPERTIES)
    assert refusals(state, ENDPOINTS["table"], _table_body(tags=[reason], extension={"retention": 5})) == []
    state.version = "2.0.7"
    assert refusals(state, ENDPOINTS["table"], _columns({"name": "c" * 300, "dataType": "MONEY"})) == []
    state.version = "1.4.3"
    assert refusals(state, ENDPOINTS["table"], _table_body(owner=REFS[0], schemaDefinition="select 1")) == []
    assert refusals(state, ENDPOINTS["table"], _table_body(name='"a.b"')) == []  # quoteName's one exception
    assert set(ENTITIES) == set(ENDPOINTS.values())


# --- published through the openmetadata sink, to a server of each version --------------------------------------------


def publish(tmp_path: Path, server: FakeOpenMetadata, source: dict[str, Any], processors: list | None = None) -> Any:
    """Run ``source`` → ``processors`` → the openmetadata sink against ``server``; the sink's report and the run."""
    config = {"server_url": server.url + "/api", "jwt_token": "${OM_TEST_TOKEN}", "retries": 0}
    workflow = {
        "source": source,
        "processors": processors or [],
        "sink": {"type": "openmetadata", "config": config},
        "workflow": {"staging_root": str(tmp_path / "staging"), "success_threshold": 0},
    }
    path = tmp_path / "workflow.yaml"
    path.write_text(json.dumps(workflow))
    result: RunResult = run_workflow(load_workflow(path), run_id="run1")
    return next(r for r in result.reports if r.component.endswith(":openmetadata")), result


@pytest.mark.parametrize("version", VERSIONS)
def test_the_sample_shop_is_accepted_by_every_version(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve(FakeOpenMetadata(version=version)) as server:
        report, result = publish(
            tmp_path, server, {"type": "sql", "config": {"sample": "shop", "sample_rows": 20}}, [{"type": "pii"}]
        )
    assert result.success and report.failure_count == 0, report.failures
    assert all(call.status in (200, 201) for call in server.puts()) and len(server.fqns("table")) >= 7
    tagged = list(  # a table with foreign keys is sent twice (the second pass): count its columns once
        {(b["name"], c["name"]): c for b in server.bodies() for c in b.get("columns", []) if c.get("tags")}.values()
    )
    has_reasons = ServerFeatures.of(version).tag_reason
    assert tagged and all(("reason" in c["tags"][0]) == has_reasons for c in tagged)
    reasons = f"tag reasons are not published: {ServerFeatures.of(version).label} has no field for them, 1.10 has"
    assert report.warnings == [
        "column defaults are not published: OpenMetadata has no field for them (1 columns)",
        f"tag confidences are not published: OpenMetadata's tag labels have no field for them ({len(tagged)} tags)",
        *([] if has_reasons else [f"{reasons} ({len(tagged)} tags)"]),
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("version", VERSIONS)
def test_a_postgres_catalog_with_arrays_money_bit_and_a_foreign_table_is_accepted(
    version: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    source = {"type": "sql", "config": {"service_name": "pg", "schema_filter": {"include": ["kinds"]}}}
    with postgres_database(postgres_url, PG_TYPES_SQL) as url, serve(FakeOpenMetadata(version=version)) as server:
        source["config"]["url"] = url
        report, result = publish(tmp_path, server, source)
    database = url.rsplit("/", 1)[1]
    assert report.records == 5 and report.failure_count == 1
    failure = report.failures[0]
    assert failure.fqn == f'pg.{database}.kinds."quo""ted"'
    assert failure.error == ("UnrepresentableName: name: 'quo\"ted' contains '\"', which OpenMetadata cannot represent")
    letters = list(read_dead_letters(result.dead_letter_uri))
    assert [letter.record["name"] for letter in letters] == ['quo"ted']
    assert all(call.status in (200, 201) for call in server.puts())
    assert all('"' not in body["name"] for body in server.bodies())
    bodies = {body["name"]: body for body in server.bodies(ENDPOINTS["table"])}
    assert bodies["remote_orders"]["tableType"] == "Foreign"
    columns = {c["name"]: c for c in bodies["everything"]["columns"]}
    assert [columns[name]["arrayDataType"] for name in ("labels", "scores", "codes", "grid", "moods")] == [
        "TEXT",
        "INT",
        "VARCHAR",
        "INT",
        "ENUM",
    ]
    assert [columns[name]["dataLength"] for name in ("free_text", "letter", "padded", "bits", "flags")] == [
        1,
        1,
        1,
        1,
        3,
    ]
    money_bit = ("MONEY", "BIT") if ServerFeatures.of(version).version >= (1, 5) else ("NUMERIC", "BINARY")
    assert (columns["price"]["dataType"], columns["flags"]["dataType"]) == money_bit
    assert columns["amount"]["precision"] == 12 and columns["amount"]["scale"] == 2


def test_custom_properties_are_read_once_per_entity_type_and_the_rest_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    path = tmp_path / "records.jsonl"
    records = [
        DatabaseService(name="svc"),
        Database(service="svc", name="db", custom_properties={"team": "sales"}),
        DatabaseSchema(service="svc", database="db", name="sch"),
        *(
            table([column("a", DataType.INT)], name=f"t{i}", custom_properties={"team": "x", "ghost": i})
            for i in range(3)
        ),
    ]
    with StagedFileWriter(str(path), producer="test") as out:
        for record in records:
            out.write(record)
    with serve(FakeOpenMetadata(version="1.5.12", custom_properties={"table": {"team": "string"}})) as server:
        report, result = publish(tmp_path, server, {"type": "file", "config": {"path": str(path)}})
    assert result.success and report.failure_count == 0
    tables = server.bodies(ENDPOINTS["table"])
    assert [body["extension"] for body in tables] == [{"team": "x"}] * 3
    types = [call.path for call in server.calls if call.path.startswith("/api/v1/metadata/types/")]
    assert types == [
        "/api/v1/metadata/types/name/database?fields=customProperties",
        "/api/v1/metadata/types/name/table?fields=customProperties",
    ]
    assert report.warnings == [
        "custom properties OpenMetadata does not define for the entity type are not published"
        " (4 values: database.team, table.ghost)"
    ]


def test_definitions_of_a_type_the_server_lacks_are_none_and_other_errors_fail_the_record() -> None:
    from airflow_provider_ingest.openmetadata.client import OpenMetadataError
    from airflow_provider_ingest.openmetadata.properties import read_definitions

    with serve(FakeOpenMetadata(custom_properties={"table": {"team": "string"}})) as server:
        client = OpenMetadataClient(Settings(server_url=server.url, token=TOKEN, retries=0))
        assert read_definitions(client, "table") == [
            {"name": "team", "propertyType": {"type": "type", "name": "string"}}
        ]
        assert read_definitions(client, "dashboard") == []  # 404
        server.inject("500", 1, path="/api/v1/metadata/types/")
        built = Mapper(ServerFeatures.of("1.5.12"), PropertyDefinitions(lambda name: read_definitions(client, name)))
        with pytest.raises(OpenMetadataError, match="500 after 1 attempt"):
            built.body(table([], custom_properties={"team": "x"}))
        assert built.body(table([], custom_properties={"team": "x"}))["extension"] == {"team": "x"}
        client.close()
