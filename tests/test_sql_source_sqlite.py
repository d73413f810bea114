"""The sql source on SQLite (the bundled sample shop and small ad-hoc files), and type normalization."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from support.sql import as_model, column, extract

from airflow_provider_ingest.api import RunContext
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
)
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.samples import build_shop
from airflow_provider_ingest.sources.sql import sqlite
from airflow_provider_ingest.sources.sql.catalog import SchemaInfo, Scope
from airflow_provider_ingest.sources.sql.connection import SqlConfigurationError
from airflow_provider_ingest.sources.sql.source import SqlSource, SqlSourceConfig
from airflow_provider_ingest.sources.sql.sqlite import SqliteCatalog, ddl_comments, view_body
from airflow_provider_ingest.sources.sql.types import NormalizedType, normalize
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.staging.deadletters import read_dead_letters
from airflow_provider_ingest.workflow.loader import load_workflow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    build_shop(path)
    return path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("character varying(255)", NormalizedType(DataType.VARCHAR, length=255)),
        ("varchar(20)", NormalizedType(DataType.VARCHAR, length=20)),
        ("character(1)", NormalizedType(DataType.CHAR, length=1)),
        ("numeric(10,2)", NormalizedType(DataType.NUMERIC, precision=10, scale=2)),
        ("NUMERIC(10,2)", NormalizedType(DataType.NUMERIC, precision=10, scale=2)),
        ("decimal(12)", NormalizedType(DataType.DECIMAL, precision=12, scale=0)),
        ("numeric", NormalizedType(DataType.NUMERIC)),
        ("timestamp with time zone", NormalizedType(DataType.TIMESTAMPZ)),
        ("timestamp(6) without time zone", NormalizedType(DataType.TIMESTAMP)),
        ("time with time zone", NormalizedType(DataType.TIME)),
        ("int unsigned", NormalizedType(DataType.INT)),
        ("int(10) unsigned zerofill", NormalizedType(DataType.INT)),
        ("bigint(20)", NormalizedType(DataType.BIGINT)),
        ("tinyint(1)", NormalizedType(DataType.BOOLEAN)),
        ("tinyint(4)", NormalizedType(DataType.TINYINT)),
        ("enum('a','b')", NormalizedType(DataType.ENUM)),
        ("set('x','y')", NormalizedType(DataType.SET)),
        ("integer[]", NormalizedType(DataType.ARRAY, element=DataType.INT)),
        ("character varying(5)[]", NormalizedType(DataType.ARRAY, element=DataType.VARCHAR)),
        ("text[]", NormalizedType(DataType.ARRAY, element=DataType.TEXT)),
        ("int4[]", NormalizedType(DataType.ARRAY, element=DataType.INT)),
        ("_int4", NormalizedType(DataType.ARRAY, element=DataType.INT)),
        ("_varchar", NormalizedType(DataType.ARRAY, element=DataType.VARCHAR)),
        ("integer[][]", NormalizedType(DataType.ARRAY, element=DataType.INT)),
        ("integer ARRAY[4]", NormalizedType(DataType.ARRAY, element=DataType.INT)),
        ("ARRAY<int>", NormalizedType(DataType.ARRAY, element=DataType.INT)),
        ("array(varchar(10))", NormalizedType(DataType.ARRAY, element=DataType.VARCHAR)),
        ("array", NormalizedType(DataType.ARRAY)),
        ("sales.mood[]", NormalizedType(DataType.ARRAY, element=DataType.UNKNOWN)),
        ("_unknown_thing", NormalizedType(DataType.UNKNOWN)),
        ("double precision", NormalizedType(DataType.DOUBLE)),
        ("interval day to second", NormalizedType(DataType.INTERVAL)),
        ("bit varying(5)", NormalizedType(DataType.BIT, length=5)),
        ("varbinary(16)", NormalizedType(DataType.VARBINARY, length=16)),
        ("longtext", NormalizedType(DataType.CLOB)),
        ("mediumtext", NormalizedType(DataType.MEDIUMTEXT)),
        ("jsonb", NormalizedType(DataType.JSON)),
        ("uuid", NormalizedType(DataType.UUID)),
        ('"char"', NormalizedType(DataType.CHAR)),
        ("datetime(3)", NormalizedType(DataType.DATETIME)),
        ("my_domain_type", NormalizedType(DataType.UNKNOWN)),
    ],
)
def test_type_normalization(raw: str, expected: NormalizedType) -> None:
    assert normalize(raw) == expected


def test_sqlite_comments_and_view_body_are_read_from_the_ddl() -> None:
    sql = (
        "CREATE TABLE t ( -- The table.\n"
        '    "odd name" TEXT, -- Quoted.\n'
        "    plain INTEGER NOT NULL -- Plain one.\n"
        "    , PRIMARY KEY (plain) -- not a column\n)"
    )
    assert ddl_comments(sql) == ("The table.", {"odd name": "Quoted.", "plain": "Plain one."})
    assert view_body("CREATE VIEW v AS -- About v.\nSELECT 1 AS one") == "SELECT 1 AS one"
    assert view_body('CREATE VIEW "x AS y -- z" AS SELECT 2') == "SELECT 2"  # the name is skipped whole
    assert view_body("create temp view if not exists main.[a as b] (`c)`, d) /* x */ as\n  select 3") == "select 3"
    assert view_body("CREATE VIEW v -- About v.\nAS SELECT 4") == "SELECT 4"


def test_config_needs_exactly_one_connection() -> None:
    with pytest.raises(ValueError, match="exactly one of url, conn_id or sample"):
        SqlSourceConfig.model_validate({"url": "sqlite://", "sample": "shop", "service_name": "s"})
    with pytest.raises(ValueError, match="service_name is required with url"):
        SqlSourceConfig.model_validate({"url": "sqlite:///x.db"})


def test_sample_shop_records(shop: Path, tmp_path: Path) -> None:
    records, source = extract(
        {"url": f"sqlite:///{shop}", "service_name": "shop_service", "include_row_counts": True}, tmp_path
    )
    assert source.report.failure_count == 0
    assert records[:3] == [
        DatabaseService(name="shop_service", service_type="SQLite"),
        Database(service="shop_service", name="shop"),
        DatabaseSchema(service="shop_service", database="shop", name="main"),
    ]
    tables = {record.name: record for record in records[3:]}
    assert list(tables) == [
        "customer_order_summary",
        "customer_segments",
        "customers",
        "daily_revenue",
        "daily_sales",
        "order_items",
        "orders",
        "payments",
        "products",
    ]
    where = {"service": "shop_service", "database": "shop", "database_schema": "main"}
    assert tables["order_items"] == Table(
        **where,
        name="order_items",
        description="The lines of an order.",
        columns=[
            column("order_id", DataType.INT, "INTEGER", 1, nullable=False),
            column(
                "line_number",
                DataType.INT,
                "INTEGER",
                2,
                nullable=False,
                description="Position of the line in the order, from 1.",
            ),
            column("product_id", DataType.INT, "INTEGER", 3, nullable=False),
            column("quantity", DataType.INT, "INTEGER", 4, nullable=False),
            Column(
                name="unit_price",
                data_type=DataType.NUMERIC,
                data_type_display="NUMERIC(10,2)",
                precision=10,
                scale=2,
                nullable=False,
                ordinal_position=5,
                description="Price when ordered.",
            ),
        ],
        constraints=[
            TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=["order_id", "line_number"]),
            TableConstraint(
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=["order_id"],
                referred_table="shop_service.shop.main.orders",
                referred_columns=["order_id"],
            ),
            TableConstraint(
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=["product_id"],
                referred_table="shop_service.shop.main.products",
                referred_columns=["product_id"],
            ),
        ],
        row_count=2941,
    )
    assert tables["daily_revenue"] == Table(
        **where,
        name="daily_revenue",
        description="Revenue per day of payment.",
        table_type=TableType.VIEW,
        columns=[column("day", DataType.UNKNOWN, None, 1), column("revenue", DataType.UNKNOWN, None, 2)],
        view_definition="SELECT date(paid_at) AS day, sum(amount) AS revenue FROM payments GROUP BY date(paid_at)",
    )
    assert tables["daily_sales"] == Table(
        **where,
        name="daily_sales",
        description="Sales per day of payment and product category, loaded nightly by the ETL.",
        columns=[
            column("day", DataType.DATE, "DATE", 1, nullable=False, description="Day the payments were made."),
            column("category", DataType.TEXT, "TEXT", 2, nullable=False, description="Product category."),
            column(
                "order_count",
                DataType.INT,
                "INTEGER",
                3,
                nullable=False,
                description="Paid orders with a line in the category.",
            ),
            column("units_sold", DataType.INT, "INTEGER", 4, nullable=False),
            Column(
                name="revenue",
                data_type=DataType.NUMERIC,
                data_type_display="NUMERIC(12,2)",
                precision=12,
                scale=2,
                nullable=False,
                ordinal_position=5,
                description="Sum of quantity times unit price, in EUR.",
            ),
        ],
        constraints=[TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=["day", "category"])],
        row_count=tables["daily_sales"].row_count,
    )
    assert tables["daily_sales"].row_count and tables["customer_segments"].row_count == 200
    assert tables["customer_segments"].description == "Customers grouped by spending, rebuilt weekly by the ETL."
    assert tables["customer_segments"].constraints[1] == TableConstraint(
        constraint_type=ConstraintType.FOREIGN_KEY,
        columns=["customer_id"],
        referred_table="shop_service.shop.main.customers",
        referred_columns=["customer_id"],
    )
    customers = tables["customers"]
    assert [c.name for c in customers.columns] == [
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "street_address",
        "city",
        "postal_code",
        "country_code",
        "birth_date",
        "national_id",
        "created_at",
        "loyalty_tier",
    ]
    assert customers.columns[-1] == column(
        "loyalty_tier",
        DataType.TEXT,
        "TEXT",
        13,
        default="'bronze'",
        description="bronze, silver, gold or platinum.",
    )
    assert customers.columns[9].data_type is DataType.DATE
    assert customers.constraints == [
        TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=["customer_id"]),
        TableConstraint(constraint_type=ConstraintType.UNIQUE, columns=["email"]),
    ]
    assert (customers.row_count, tables["orders"].row_count, tables["products"].row_count) == (200, 1000, 50)
    assert tables["customer_order_summary"].row_count is None


def test_filters_whole_names_and_ignore_case(shop: Path, tmp_path: Path) -> None:
    config = {"url": f"sqlite:///{shop}", "service_name": "s"}
    records, source = extract({**config, "table_filter": {"include": ["order.*"]}}, tmp_path)
    assert [r.name for r in records if r.kind == "table"] == ["order_items", "orders"]
    assert source.report.filtered == 7
    records, _ = extract({**config, "table_filter": {"include": ["ORDERS"], "ignore_case": True}}, tmp_path)
    assert [r.name for r in records if r.kind == "table"] == ["orders"]
    records, _ = extract({**config, "table_filter": {"include": ["order"]}}, tmp_path)
    assert [r.name for r in records if r.kind == "table"] == []
    records, _ = extract({**config, "schema_filter": {"exclude": ["main"]}}, tmp_path)
    assert [r.kind for r in records] == ["database_service", "database"]
    records, _ = extract({**config, "database_filter": {"exclude": ["sho."]}}, tmp_path)
    assert [r.kind for r in records] == ["database_service"]


def test_sample_rows_fill_column_samples(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    records, source = extract({"sample": "shop", "sample_rows": 3, "table_filter": {"include": ["payments"]}}, tmp_path)
    payments = records[-1]
    assert payments.fqn == "sample_shop.shop.main.payments"
    connection = sqlite3.connect(shop)
    rows = connection.execute("SELECT * FROM payments LIMIT 3").fetchall()
    assert [c.samples for c in payments.columns] == [
        [str(value) for value in values if value is not None] for values in zip(*rows, strict=True)
    ]
    assert source.report.warning_count == 0


def test_relative_sqlite_path_resolves_against_the_workflow_folder(shop: Path, tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "copy.sqlite").write_bytes(shop.read_bytes())
    records, _ = extract({"url": "sqlite:///db/copy.sqlite", "service_name": "s"}, tmp_path)
    assert records[1] == Database(service="s", name="copy")


def test_unsupported_dialect_and_bad_path_name_what_failed(tmp_path: Path) -> None:
    context = RunContext(workflow_name="t", run_id="r", staging_root=str(tmp_path), base_dir=tmp_path)
    source = SqlSource.create({"url": "oracle+oracledb://scott:${PW}@db/x", "service_name": "s"}, context)
    with pytest.raises(SqlConfigurationError, match="not 'oracle'"):
        source.prepare()
    source = SqlSource.create({"url": "sqlite:///missing/dir/x.db", "service_name": "s"}, context)
    with pytest.raises(SqlConfigurationError, match=r"no SQLite database file at .*missing/dir/x\.db"):
        source.prepare()


def database(path: Path, script: str) -> Path:
    """A SQLite file made by ``script``."""
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(script)
    return path


FIVE_TABLES_AND_A_BROKEN_VIEW = (
    "".join(f"CREATE TABLE {name} (x INTEGER);" for name in "abcde")
    + "CREATE VIEW broken AS SELECT * FROM missing_table;"
)


def test_a_broken_view_is_one_failure_and_the_other_relations_are_read(tmp_path: Path) -> None:
    path = database(tmp_path / "lite.sqlite", FIVE_TABLES_AND_A_BROKEN_VIEW + "CREATE VIEW good AS SELECT x FROM a;")
    records, source = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert [r.fqn for r in records] == ["s", "s.lite", "s.lite.main", *(f"s.lite.main.{n}" for n in [*"abcde", "good"])]
    assert records[-1].view_definition == "SELECT x FROM a"
    assert records[-1].columns == [column("x", DataType.INT, "INTEGER", 1)]
    assert [(f.fqn, f.error) for f in source.report.failures] == [
        ("s.lite.main.broken", "cannot read 'broken': OperationalError: no such table: main.missing_table")
    ]


def test_a_table_named_empty_fails_alone_named_by_its_schema(tmp_path: Path) -> None:
    """SQLite allows ``CREATE TABLE ""``; no record may have an empty name, nor an FQN an empty part (building the
    failure's FQN failed the whole run)."""
    path = database(tmp_path / "lite.sqlite", 'CREATE TABLE a (x INTEGER); CREATE TABLE "" (x INTEGER);')
    records, source = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert [r.fqn for r in records] == ["s", "s.lite", "s.lite.main", "s.lite.main.a"]
    assert [(f.fqn, f.error) for f in source.report.failures] == [
        ("s.lite.main", "cannot read '': RecordError: name: String should have at least 1 character")
    ]


@pytest.mark.parametrize(("threshold", "succeeds"), [(60, True), (90, False)])
def test_a_broken_view_costs_one_record_of_nine_against_the_threshold(
    tmp_path: Path, threshold: int, succeeds: bool
) -> None:
    path = database(tmp_path / "lite.sqlite", FIVE_TABLES_AND_A_BROKEN_VIEW)
    workflow = tmp_path / "flow.yaml"
    workflow.write_text(
        json.dumps(
            {
                "source": {"type": "sql", "config": {"url": f"sqlite:///{path}", "service_name": "s"}},
                "sink": {"type": "file", "config": {"path": "out.jsonl"}},
                "workflow": {"staging_root": "staging", "success_threshold": threshold},
            }
        )
    )
    result = run_workflow(load_workflow(workflow))
    source = result.reports[0]
    # 8 records (service, database, schema, 5 tables) and the view failed: 8 of 9, 88.9%
    assert (source.records, source.failure_count, round(source.success_rate, 1)) == (8, 1, 88.9)
    assert result.below_threshold == ([] if succeeds else ["source:sql"])
    assert [letter.fqn for letter in read_dead_letters(str(result.dead_letter_uri))] == ["s.lite.main.broken"]
    if succeeds:
        tables = [r.name for r in read_records(str(tmp_path / "out.jsonl")) if isinstance(r, Table)]
        assert tables == ["a", "b", "c", "d", "e"]


def test_a_schema_that_cannot_be_read_fails_as_itself_and_each_of_its_relations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = database(
        tmp_path / "lite.sqlite",
        FIVE_TABLES_AND_A_BROKEN_VIEW + "CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT); ANALYZE;",
    )
    other = database(tmp_path / "other.sqlite", "CREATE TABLE t (a INTEGER); CREATE VIEW v AS SELECT a FROM t;")
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text(f"ATTACH '{other}' AS other"))
        # sqlite_sequence and sqlite_stat1 are not counted
        assert SqliteCatalog(connection, Scope("s", "lite")).schemas() == [
            SchemaInfo("main", relations=7),
            SchemaInfo("other", relations=2),
        ]
    engine.dispose()
    monkeypatch.setattr(sqlite, "RELATIONS", "SELECT name, type, sql FROM {schema}.no_such_table")
    records, source = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert [r.fqn for r in records] == ["s", "s.lite"]
    assert source.report.failure_count == 8
    assert source.report.failures[0].error == (
        "cannot read schema 'main' nor its 7 relations: OperationalError: no such table: main.no_such_table"
    )


def test_ddl_that_is_not_utf8_is_read_and_a_default_that_is_not_fails_its_table_alone(tmp_path: Path) -> None:
    bad_byte = "CAST(x'ff' AS TEXT)"
    path = database(
        tmp_path / "lite.sqlite",
        "CREATE TABLE a ( -- caf\n  x INTEGER -- caf\n); CREATE TABLE b (y TEXT DEFAULT 'caf'); CREATE TABLE c (z INT);"
        f"PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, 'caf', 'caf' || {bad_byte})"
        " WHERE name IN ('a', 'b');",
    )
    records, source = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert [r.fqn for r in records] == ["s", "s.lite", "s.lite.main", "s.lite.main.a", "s.lite.main.c"]
    assert records[3].description == "caf\ufffd"
    assert records[3].columns == [column("x", DataType.INT, "INTEGER", 1, description="caf\ufffd")]
    assert [f.fqn for f in source.report.failures] == ["s.lite.main.b"]
    assert source.report.failures[0].error.startswith(
        "cannot read 'b': OperationalError: Could not decode to UTF-8 column 'dflt_value'"
    )


def test_ddl_of_a_utf16_database_is_read(tmp_path: Path) -> None:
    path = database(
        tmp_path / "lite.sqlite", "PRAGMA encoding = 'UTF-16le'; CREATE TABLE t ( -- Été\n  a TEXT -- café\n);"
    )
    records, _ = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert (records[-1].description, records[-1].columns[0].description) == ("Été", "café")


def test_a_foreign_key_names_the_referred_table_as_it_is_named_not_as_written(tmp_path: Path) -> None:
    path = database(
        tmp_path / "lite.sqlite",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, cust INTEGER REFERENCES CUSTOMERS);"
        "CREATE TABLE returns (id INTEGER PRIMARY KEY, cust INTEGER REFERENCES Customers(id));"
        'CREATE TABLE "été" (id INTEGER PRIMARY KEY);'  # SQLite folds ASCII letters only: "ÉTÉ" is not "été"
        'CREATE TABLE visits (id INTEGER REFERENCES "ÉTÉ"(id), cust INTEGER REFERENCES "missing"(id));',
    )
    config = {"url": f"sqlite:///{path}", "service_name": "s", "table_filter": {"exclude": ["customers"]}}
    records, source = extract(config, tmp_path)
    assert source.report.failure_count == 0
    foreign_keys = {
        (r.name, *k.columns): (k.referred_table, k.referred_columns)
        for r in records
        if isinstance(r, Table)
        for k in r.constraints
        if k.constraint_type is ConstraintType.FOREIGN_KEY
    }
    assert foreign_keys == {
        ("orders", "cust"): ("s.lite.main.customers", ["id"]),
        ("returns", "cust"): ("s.lite.main.customers", ["id"]),
        ("visits", "id"): ("s.lite.main.ÉTÉ", ["id"]),
        ("visits", "cust"): ("s.lite.main.missing", ["id"]),
    }


GENERATED = (
    "CREATE TABLE g (id INTEGER PRIMARY KEY, twice REAL GENERATED ALWAYS AS (id * 2) VIRTUAL,"
    " thrice REAL GENERATED ALWAYS AS (id * 3) STORED NOT NULL,\n  after TEXT -- After.\n);"
    "CREATE VIRTUAL TABLE docs USING fts5(title, body);"
)


def test_generated_columns_are_read_and_hidden_columns_of_virtual_tables_are_not(tmp_path: Path) -> None:
    path = database(tmp_path / "lite.sqlite", GENERATED)
    config = {"url": f"sqlite:///{path}", "service_name": "s", "table_filter": {"include": ["g", "docs"]}}
    records, _ = extract(config, tmp_path)
    assert {r.name: r.columns for r in records if isinstance(r, Table)} == {
        "docs": [column("title", DataType.UNKNOWN, None, 1), column("body", DataType.UNKNOWN, None, 2)],
        "g": [
            column("id", DataType.INT, "INTEGER", 1),
            column("twice", DataType.FLOAT, "REAL", 2),
            column("thrice", DataType.FLOAT, "REAL", 3, nullable=False),
            column("after", DataType.TEXT, "TEXT", 4, description="After."),
        ],
    }


def test_before_sqlite_3_26_columns_are_read_without_generated_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = database(tmp_path / "lite.sqlite", GENERATED)
    monkeypatch.setattr(sqlite, "TABLE_XINFO_SINCE", (99,))
    records, _ = extract(
        {"url": f"sqlite:///{path}", "service_name": "s", "table_filter": {"include": ["g"]}}, tmp_path
    )
    assert records[-1].columns == [
        column("id", DataType.INT, "INTEGER", 1),
        column("after", DataType.TEXT, "TEXT", 2, description="After."),
    ]


def test_a_double_dash_in_quotes_starts_no_comment(tmp_path: Path) -> None:
    path = database(
        tmp_path / "lite.sqlite",
        "CREATE TABLE t1 (a int, b text DEFAULT '--x');"
        'CREATE TABLE "t--2" ( -- The second.\n'
        "  \"c -- d\" TEXT DEFAULT 'it''s -- not', -- C.\n"
        "  [e--] INTEGER CHECK ([e--] <> '\n-- no\n'), -- E.\n"
        "  `f--``` TEXT /* -- */ -- F.\n);",
    )
    records, _ = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    tables = {r.name: r for r in records if isinstance(r, Table)}
    assert tables["t1"].description is None
    assert tables["t1"].columns[1] == column("b", DataType.TEXT, "TEXT", 2, default="'--x'")
    assert tables["t--2"].description == "The second."
    assert [(c.name, c.description) for c in tables["t--2"].columns] == [
        ("c -- d", "C."),
        ("e--", "E."),
        ("f--`", "F."),
    ]


QUOTES = ["'", '"', "`", "["]
TRICKY_TEXT = st.lists(st.sampled_from(["-", "--", "'", '"', "`", "[", "]", "\n", "/*", "*/", "a", " "])).map("".join)
"""Text made of what quotes and comments are made of."""


def quoted(text: str, quote: str) -> str:
    """``text`` in quotes as SQLite reads them: the quote doubled inside; ``[...]`` cannot hold ``]``."""
    if quote == "[":
        return "[" + text.replace("]", "") + "]"
    return quote + text.replace(quote, quote * 2) + quote


@given(text=TRICKY_TEXT | st.text(), quote=st.sampled_from(QUOTES))
@example(text="\nb -- x", quote="'")
def test_quoted_text_never_makes_a_comment(text: str, quote: str) -> None:
    sql = f"CREATE TABLE {quoted(text, quote)} ({quoted(text, quote)} TEXT DEFAULT {quoted(text, quote)},\n  b TEXT)"
    assert ddl_comments(sql) == (None, {})


@given(
    name=(TRICKY_TEXT | st.text()).filter(lambda name: name.replace("]", "")),
    text=TRICKY_TEXT | st.text(),
    quote=st.sampled_from(QUOTES),
    comment=st.text(st.characters(blacklist_characters="\n")).map(str.strip).filter(bool),
)
def test_a_comment_after_quoted_text_is_read_whole(name: str, text: str, quote: str, comment: str) -> None:
    name_quote = '"' if quote == "'" else quote  # a column name in '...' is not read
    sql = (
        f"CREATE TABLE {quoted(text, quote)} ( -- {comment}\n"
        f"  {quoted(name, name_quote)} TEXT DEFAULT {quoted(text, quote)} -- {comment}\n)"
    )
    expected_name = name.replace("]", "") if quote == "[" else name
    assert ddl_comments(sql) == (comment, {expected_name: comment})


def test_a_broken_schema_is_one_failure_and_the_rest_is_read(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).executescript("CREATE TABLE t (a INTEGER); CREATE TABLE u (b TEXT);")
    schemas = SqliteCatalog.schemas
    monkeypatch.setattr(SqliteCatalog, "schemas", lambda self: [SchemaInfo("ghost"), *schemas(self)])
    records, source = extract({"url": f"sqlite:///{other}", "service_name": "s"}, tmp_path)
    # "ghost" and "main" are read in one batch; it fails, so each is read alone and only "ghost" fails
    assert [r.fqn for r in records] == ["s", "s.other", "s.other.main", "s.other.main.t", "s.other.main.u"]
    assert source.report.failure_count == 1
    failure = source.report.failures[0]
    assert failure.fqn == "s.other.ghost"
    assert failure.error.startswith("cannot read schema 'ghost': OperationalError: no such table: ghost.sqlite_master")


def test_conn_id_of_an_airflow_sqlite_connection(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_INGEST_SQLITE_TEST", f"sqlite:///{shop}")
    records, _ = extract({"conn_id": "ingest_sqlite_test", "table_filter": {"include": ["orders"]}}, tmp_path)
    assert [r.fqn for r in records] == [
        "ingest_sqlite_test",
        "ingest_sqlite_test.shop",
        "ingest_sqlite_test.shop.main",
        "ingest_sqlite_test.shop.main.orders",
    ]


def test_scrub_removes_passwords() -> None:
    from sqlalchemy.engine import make_url

    from airflow_provider_ingest.sources.sql.connection import scrub

    url = make_url("postgresql://me:pa55word@db/x")
    assert (
        scrub("failed for pa55word at postgresql://me:pa55word@db/x", url)
        == "failed for *** at postgresql://me:***@db/x"
    )
    assert scrub("dsn: host=db user=me password='s e c' dbname=x") == "dsn: host=db user=me password=*** dbname=x"
    assert scrub("mysql+pymysql://root:hunter2@h:3306/") == "mysql+pymysql://root:***@h:3306/"


def test_importing_the_source_imports_no_database_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_ingest.sources.sql.source, airflow_provider_ingest.samples;"
        "print(sorted(m for m in ('sqlalchemy', 'psycopg2', 'pymysql', 'airflow', 'sqlite3') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "['sqlite3']"


@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_a_table_a_writer_recreates_is_read_whole(tmp_path: Path, journal: str) -> None:
    """A schema's relations, columns and keys are read in one read transaction: read apart (one implicit transaction
    a query), a table another connection recreated between the queries was published with no columns, or with
    another version's keys. In WAL mode the read sees a snapshot; in rollback-journal mode the writer waits."""
    import time

    import sqlalchemy
    from support.sql import migrating

    database = tmp_path / "busy.db"
    shapes = {
        "A": "CREATE TABLE orders (id integer PRIMARY KEY, code text UNIQUE)",
        "B": "CREATE TABLE orders (order_no integer PRIMARY KEY, label text UNIQUE)",
    }
    with closing(sqlite3.connect(database)) as connection:
        connection.execute(f"PRAGMA journal_mode={journal}")
        connection.execute(shapes["A"])
    expected = [
        ("orders", ["id", "code"], [("primary_key", ["id"]), ("unique", ["code"])]),
        ("orders", ["order_no", "label"], [("primary_key", ["order_no"]), ("unique", ["label"])]),
    ]
    recreate = ["DROP TABLE orders", shapes["B"], "DROP TABLE orders", shapes["A"]]
    engine = sqlalchemy.create_engine(f"sqlite:///{database}", isolation_level="AUTOCOMMIT")
    seen, wrong = [], []
    try:
        with engine.connect() as connection, migrating(f"sqlite:///{database}", recreate, pause=0.002) as migrations:
            while len(seen) + len(wrong) < 100 or migrations[0] < 10:
                assert len(seen) + len(wrong) < 5000, migrations
                found = SqliteCatalog(connection, Scope("lite", "busy")).read(["main"], lambda *names: True)
                for item in found["main"]:
                    table = as_model(item.build())
                    keys = [(key.constraint_type.value, key.columns) for key in table.constraints]
                    shape = (table.name, [column.name for column in table.columns], keys)
                    (seen if shape in expected else wrong).append(shape)
                time.sleep(0.002)  # a writer waiting for the file (rollback journal) gets it between reads
    finally:
        engine.dispose()
    assert wrong == []


def test_a_writer_holding_the_file_fails_the_step_as_a_lock_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's "database is locked" (a writer holding the file past the driver's busy timeout) is a lock wait: the
    batch is tried again, then the step fails saying so. It was read table by table, each waiting the timeout (6
    tables: 35 s; 1,000: over an hour), each counted as a failed record, so a run could pass its threshold."""
    import time

    from airflow_provider_ingest.sources.sql.connection import SqlUnavailableError

    path = database(tmp_path / "lite.sqlite", "".join(f"CREATE TABLE t{i} (x INTEGER);" for i in range(6)))
    writer = sqlite3.connect(path, isolation_level=None)
    read = SqliteCatalog.read

    def locked_first(self: SqliteCatalog, *args: object) -> object:  # the writer takes the file as the batch starts
        if not writer.in_transaction:
            writer.execute("BEGIN EXCLUSIVE")
        return read(self, *args)

    monkeypatch.setattr(SqliteCatalog, "read", locked_first)
    started = time.monotonic()
    try:
        with pytest.raises(SqlUnavailableError, match="lock wait"):
            extract({"url": f"sqlite:///{path}", "service_name": "s", "retry": {"attempts": 1}}, tmp_path)
    finally:
        writer.rollback()
        writer.close()
    assert time.monotonic() - started < 15


def test_row_counts_that_cannot_be_read_are_not_left_out_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a missing ``sqlite_stat1`` (no ANALYZE yet) means no row counts; any other error reading it fails the
    schema, named, where every table was emitted without its count, no warning, and the run succeeded."""
    path = database(tmp_path / "lite.sqlite", "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2); ANALYZE;")
    settings = {"url": f"sqlite:///{path}", "service_name": "s", "include_row_counts": True}
    records, source = extract(settings, tmp_path)
    assert records[-1].row_count == 2
    monkeypatch.setattr(sqlite, "STATISTICS", sqlite.STATISTICS.replace("max(CAST(stat", "max(CAST(missing"))
    records, source = extract(settings, tmp_path)
    assert [record.kind for record in records] == ["database_service", "database"]
    assert source.report.failure_count == 2  # the schema and its table
    assert "no such column: missing" in source.report.failures[0].error


def test_comments_of_an_untyped_column_and_of_leading_comma_columns_are_read(tmp_path: Path) -> None:
    """A column with no declared type followed by its comma (``nt, -- note``), and the leading-comma style
    (``, d INT -- note``), lost their comments: the column-name pattern needed a space after the name and could not
    start at a comma."""
    path = database(
        tmp_path / "lite.sqlite",
        "CREATE TABLE t ( -- T.\n  a INTEGER, -- A.\n  nt, -- No type.\n  b TEXT\n  , d INTEGER -- Leading comma.\n);",
    )
    records, _ = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert {c.name: c.description for c in records[-1].columns} == {
        "a": "A.",
        "nt": "No type.",
        "b": None,
        "d": "Leading comma.",
    }


def test_an_empty_database_is_a_warning(tmp_path: Path) -> None:
    """An empty file (a database made by mistake, a wrong path) read as a database of no table: the run says so,
    where it succeeded with nothing to say."""
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    records, source = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    assert [record.kind for record in records] == ["database_service", "database", "database_schema"]
    assert source.report.warnings == [f"0 tables: sqlite:///{path} hold no table or view the role can read"]


def test_a_users_table_named_like_a_shadow_table_is_listed(tmp_path: Path) -> None:
    """SQLite types a table ``shadow`` (``pragma_table_list``) by its name alone: ``docs_content`` beside a
    contentless fts5 ``docs``, which keeps no such table, is the user's, and is read (the shadow tables a virtual
    table does keep, ``docs_data``..., are read too: SQLite does not tell them apart)."""
    path = database(
        tmp_path / "lite.sqlite",
        "CREATE VIRTUAL TABLE docs USING fts5(body, content='');"
        "CREATE TABLE docs_content (id INTEGER PRIMARY KEY, body TEXT);"
        "CREATE VIRTUAL TABLE notes USING fts3(body);"
        "CREATE TABLE notes_stat (id INTEGER, hits INTEGER);",
    )
    records, source = extract({"url": f"sqlite:///{path}", "service_name": "s"}, tmp_path)
    tables = {r.name: r for r in records if isinstance(r, Table)}
    assert {"docs", "docs_content", "notes", "notes_stat"} <= tables.keys()
    assert [c.name for c in tables["docs_content"].columns] == ["id", "body"]
    assert source.report.failure_count == 0
