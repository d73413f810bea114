"""The pii processor on the bundled sample shop, its value checks, rule changes from the workflow file, and sampling."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.processors.pii import PiiConfig, PiiProcessor
from airflow_provider_ingest.processors.pii_checks import (
    CARD,
    is_birth_date,
    is_card_number,
    is_email,
    is_iban,
    is_ip_address,
    is_phone,
    is_ssn,
)
from airflow_provider_ingest.records import Column, DataType, Table, TagLabel
from airflow_provider_ingest.samples import build_shop
from airflow_provider_ingest.sources.sql.sampling import MAX_SAMPLE_CHARS
from airflow_provider_ingest.sources.sql.source import SqlSource
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

S, N = "PII.Sensitive", "PII.NonSensitive"

SHOP_PII_BY_NAME = {
    ("customers", "first_name"): (S, 0.8, "rule 'person_name': the column name matches"),
    ("customers", "last_name"): (S, 0.8, "rule 'person_name': the column name matches"),
    ("customers", "email"): (S, 0.9, "rule 'email': the column name matches"),
    ("customers", "phone"): (N, 0.8, "rule 'phone': the column name matches"),
    ("customers", "street_address"): (N, 0.7, "rule 'address': the column name matches"),
    ("customers", "postal_code"): (N, 0.7, "rule 'address': the column name matches"),
    ("customers", "birth_date"): (N, 0.85, "rule 'birth_date': the column name matches"),
    ("customers", "national_id"): (S, 0.8, "rule 'national_id': the column name matches"),
    ("payments", "card_number"): (S, 0.9, "rule 'credit_card': the column name matches"),
    ("payments", "card_holder_name"): (S, 0.8, "rule 'person_name': the column name matches"),
    ("payments", "iban"): (S, 0.9, "rule 'iban': the column name matches"),
    ("payments", "ip_address"): (S, 0.85, "rule 'ip_address': the column name matches"),
    ("customer_order_summary", "email"): (S, 0.9, "rule 'email': the column name matches"),
}
"""The sample shop's personal data, judged by column name and type only; every other column is untagged."""


def passing(rule: str, passed: int, total: int, check: str | None = None, *, named: bool = True) -> str:
    reason = f"rule {rule!r}: {passed} of {total} sample values pass the {check or rule} check"
    return reason + ("; the column name matches" if named else "")


SHOP_PII_BY_SAMPLES = {
    **SHOP_PII_BY_NAME,
    ("customers", "email"): (S, 0.95, passing("email", 20, 20)),
    ("customers", "phone"): (N, 0.95, passing("phone", 20, 20)),
    ("customers", "birth_date"): (N, 0.95, passing("birth_date", 20, 20)),
    ("customers", "national_id"): (S, 0.95, passing("ssn", 20, 20, named=False)),
    ("payments", "card_number"): (S, 0.95, passing("credit_card", 20, 20)),
    ("payments", "iban"): (S, 0.95, passing("iban", 7, 7)),
    ("payments", "ip_address"): (S, 0.95, passing("ip_address", 20, 20)),
    ("customer_order_summary", "email"): (S, 0.95, passing("email", 20, 20)),
}
"""With 20 sample rows per table: the same columns, decided by their values (national_id holds US SSNs)."""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    build_shop(path)
    return path


def context(tmp_path: Path) -> RunContext:
    return RunContext(workflow_name="test", run_id="run", staging_root=str(tmp_path), base_dir=tmp_path)


def shop_tables(shop: Path, tmp_path: Path, sample_rows: int) -> list[Table]:
    config = {"url": f"sqlite:///{shop}", "service_name": "sample_shop", "sample_rows": sample_rows}
    source = SqlSource.create(config, context(tmp_path))
    source.prepare()
    try:
        return [record for record in source.records() if isinstance(record, Table)]
    finally:
        source.close()


def run_pii(tables: list[Table], tmp_path: Path, **config: object) -> tuple[list[Table], PiiProcessor]:
    processor = PiiProcessor.create(config, context(tmp_path))
    processor.prepare()
    return [processor.process(table) for table in tables], processor  # type: ignore[misc]


def tagged(tables: list[Table]) -> dict[tuple[str, str], tuple[str, float | None, str | None]]:
    return {
        (table.name, column.name): (tag.tag_fqn, tag.confidence, tag.reason)
        for table in tables
        for column in table.columns
        for tag in column.tags
    }


@pytest.mark.parametrize(("sample_rows", "expected"), [(0, SHOP_PII_BY_NAME), (20, SHOP_PII_BY_SAMPLES)])
def test_the_sample_shops_personal_data_and_nothing_else(
    shop: Path, tmp_path: Path, sample_rows: int, expected: dict
) -> None:
    tables, processor = run_pii(shop_tables(shop, tmp_path, sample_rows), tmp_path)
    assert tagged(tables) == expected
    assert all(column.samples == [] for table in tables for column in table.columns)
    assert processor.report.counters == {
        "columns": 57,
        "tags_added:PII.Sensitive": 9,
        "tags_added:PII.NonSensitive": 4,
    }
    assert processor.report.failure_count == 0


def test_the_decoys_look_like_personal_data_but_are_not(shop: Path, tmp_path: Path) -> None:
    tables = {table.name: table for table in shop_tables(shop, tmp_path, 20)}
    order_numbers = next(c for c in tables["orders"].columns if c.name == "order_number").samples
    assert len(order_numbers) == 20 and all(CARD.fullmatch(n) and len(n) == 16 for n in order_numbers)
    assert not any(is_card_number(n) for n in order_numbers)  # every one fails the Luhn check
    created = next(c for c in tables["customers"].columns if c.name == "created_at").samples
    assert not any(is_birth_date(value) for value in created)  # timestamps, not dates of birth

    # Named as personal data, the decoys' values still say no: the name match is rejected.
    renamed = tables["orders"].model_copy(
        update={
            "columns": [
                Column(name="card_number", data_type=DataType.TEXT, samples=order_numbers),
                Column(name="date_of_birth", data_type=DataType.TIMESTAMP, samples=created),
            ]
        }
    )
    (result,), processor = run_pii([renamed], tmp_path)
    assert [column.tags for column in result.columns] == [[], []]
    assert processor.report.counters == {"columns": 2, "rejected_by_samples": 2}

    # Even with birth dates judged by values alone, created_at is no birth date.
    rules = {"birth_date": {"by_values_alone": True}}
    results, _ = run_pii([tables["customers"], tables["orders"]], tmp_path, rules=rules)
    dates = {(t.name, c.name): c.tags for t in results for c in t.columns if c.name.endswith("_at")}
    assert dates == {("customers", "created_at"): [], ("orders", "created_at"): [], ("orders", "shipped_at"): []}


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (is_card_number, ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004"], ["4111111111111112"]),
        (is_card_number, ["378282246310005"], ["0000000000000000", "12345", "4111-1111-1111-111a"]),
        (is_iban, ["DE89370400440532013000", "GB82 WEST 1234 5698 7654 32"], ["DE88370400440532013000", "DE89"]),
        (is_birth_date, ["1975-03-02", "2001-12-31T00:00:00"], ["1975-02-30", "2999-01-01", "1850-01-01"]),
        (is_birth_date, ["1990-06-01 00:00:00"], ["2024-05-01 12:34:56", "02/03/1975", "1975"]),
        (is_email, ["emma.smith1@example.com", "o'neil+shop@mail.example.net"], ["emma@", "@example.com", "a@b"]),
        (is_phone, ["+1-212-555-0123", "+49 30 1234567", "(212) 555-0123", "212.555.0123"], ["12345678"]),
        (is_phone, ["+44 (20) 7946 0958"], ["123-45-6789", "1975-03-02", "10.0.0.1", "+1 23"]),
        (is_ip_address, ["192.168.1.10", "2001:db8::1", "::1"], ["256.1.1.1", "150.00", "1.2.3", "host:80"]),
        (is_ssn, ["123-45-6789"], ["666-45-6789", "900-12-3456", "123-00-6789", "123456789"]),
    ],
)
def test_value_checks(check, good: list[str], bad: list[str]) -> None:
    assert [check(value) for value in good] == [True] * len(good)
    assert [check(value) for value in bad] == [False] * len(bad)


def column(name: str, data_type: DataType = DataType.VARCHAR, **fields) -> Column:
    return Column(name=name, data_type=data_type, **fields)


def table(*columns: Column) -> Table:
    return Table(service="s", database="d", database_schema="x", name="t", columns=list(columns))


def test_names_and_types_decide_without_samples(tmp_path: Path) -> None:
    (result,), _ = run_pii(
        [
            table(
                column("customerEmail"),
                column("email_verified", DataType.BOOLEAN),
                column("contact_email_status"),
                column("ip_address"),
                column("mac_address"),
                column("billing_address"),
                column("product_name"),
                column("full_name"),
                column("passport_no"),
                column("credit_card_type"),
                column("created_at", DataType.TIMESTAMP),
                column("dob", DataType.DATE),
                column("ssn", DataType.INT, samples=["1", "2"]),  # too few samples: judged by name
            )
        ],
        tmp_path,
    )
    assert {c.name: c.tags[0].tag_fqn for c in result.columns if c.tags} == {
        "customerEmail": S,
        "ip_address": S,
        "billing_address": N,
        "full_name": S,
        "passport_no": S,
        "dob": N,
        "ssn": S,
    }


def test_values_alone_tag_a_column_whatever_its_name(tmp_path: Path) -> None:
    cards = ["4111111111111111", "5500000000000004", "4012888888881881", "378282246310005"]
    (result,), processor = run_pii(
        [
            table(
                column("contact", samples=["a@example.com", "b@example.org", "c@example.net", "d@example.com", "-"]),
                column("x1", samples=cards),
                column("x2", samples=["10.0.0.1", "10.0.0.2", "192.168.0.1"]),
                column("x3", samples=["1", "2", "3"]),
                column("x4", samples=["+1-212-555-0123", "+49 30 1234567", "+43 1 7654321"]),
            )
        ],
        tmp_path,
    )
    assert [(c.name, c.tags) for c in result.columns] == [
        ("contact", [TagLabel(tag_fqn=S, confidence=0.76, reason=passing("email", 4, 5, named=False))]),
        ("x1", [TagLabel(tag_fqn=S, confidence=0.95, reason=passing("credit_card", 4, 4, named=False))]),
        ("x2", [TagLabel(tag_fqn=S, confidence=0.95, reason=passing("ip_address", 3, 3, named=False))]),
        ("x3", []),
        ("x4", [TagLabel(tag_fqn=N, confidence=0.95, reason=passing("phone", 3, 3, named=False))]),
    ]
    assert processor.report.counters["tags_added:PII.Sensitive"] == 3


def test_rules_are_changed_disabled_and_added_in_the_workflow_file(tmp_path: Path) -> None:
    config = {
        "rules": {
            "ip_address": {"enabled": False},
            "phone": {"tag": "PII.Sensitive", "confidence": 0.6},
            "employee_code": {"names": [".*emp_?code"], "value_pattern": r"E-\d{5}", "by_values_alone": True},
        },
        "min_confidence": 0.55,
    }
    codes = ["E-00001", "E-00002", "E-00003"]
    (result,), processor = run_pii(
        [
            table(
                column("ip_address"),
                column("phone"),
                column("emp_code"),
                column("badge", samples=codes),
                column("address"),  # confidence 0.7, kept
                column("gender"),  # confidence 0.7, kept
            )
        ],
        tmp_path,
        **config,
    )
    assert [(c.name, [(t.tag_fqn, t.confidence) for t in c.tags]) for c in result.columns] == [
        ("ip_address", []),
        ("phone", [(S, 0.6)]),
        ("emp_code", [(S, 0.8)]),
        ("badge", [(S, 0.95)]),
        ("address", [(N, 0.7)]),
        ("gender", [(N, 0.7)]),
    ]
    assert result.columns[3].tags[0].reason == passing("employee_code", 3, 3, "value_pattern", named=False)
    assert {rule.name for rule in processor.rules} >= {"phone", "employee_code"}
    mine = {"employee_code": config["rules"]["employee_code"]}
    (only_mine,), _ = run_pii([table(column("email"), column("emp_code"))], tmp_path, builtin_rules=False, rules=mine)
    assert [bool(c.tags) for c in only_mine.columns] == [False, True]


def test_tagged_columns_are_left_alone_and_samples_kept_on_request(tmp_path: Path) -> None:
    manual = TagLabel(tag_fqn="PII.NonSensitive", reason="reviewed by hand")
    (result,), processor = run_pii(
        [table(column("email", tags=[manual], samples=["a@b.cd"]), column("note", samples=["x"]))],
        tmp_path,
        keep_samples=True,
    )
    assert result.columns[0].tags == [manual]
    assert [c.samples for c in result.columns] == [["a@b.cd"], ["x"]]
    assert processor.report.counters == {"columns": 2, "already_tagged": 1}


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ("rules: {mine: {tag: PII.Sensitive}}", "processors.0.config", "PII rule 'mine' matches nothing"),
        ("rules: {email: {names: ['(']}}", "processors.0.config.rules.email.names", "invalid regular expression"),
        ("rules: {email: {values: luhn}}", "processors.0.config.rules.email.values", "Input should be"),
        ("rules: {email: {tag: Sensitive}}", "processors.0.config.rules.email.tag", "should match pattern"),
        ("match_ratio: 0", "processors.0.config.match_ratio", "greater than 0"),
        ("rule: {}", "processors.0.config.rule", "unknown field 'rule'; did you mean 'rules'?"),
    ],
)
def test_bad_pii_settings_are_workflow_file_errors(tmp_path: Path, config: str, field: str, message: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "source: {type: sql, config: {sample: shop}}\nsink: {type: console}\n"
        f"processors:\n  - type: pii\n    config: {{{config}}}\n"
    )
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    problems = raised.value.problems
    assert [problem.field for problem in problems] == [field]
    assert message in problems[0].message


def test_defaults() -> None:
    config = PiiConfig()
    assert (config.use_samples, config.min_samples, config.match_ratio, config.keep_samples) == (True, 3, 0.8, False)


def test_sampling_keeps_distinct_values_cut_to_length(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (a TEXT, b INTEGER, c BLOB, d TEXT)")
    rows = [
        ("x", 1, b"\x01\x02", "y" * 500),
        ("x", None, b"\x01\x02", None),
        ("z", 1, None, None),
        ("w", 2, None, None),
    ]
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    source = SqlSource.create({"url": f"sqlite:///{path}", "service_name": "s", "sample_rows": 3}, context(tmp_path))
    source.prepare()
    try:
        (records,) = [r for r in source.records() if isinstance(r, Table)]
    finally:
        source.close()
    assert [c.samples for c in records.columns] == [["x", "z"], ["1"], ["0102"], ["y" * MAX_SAMPLE_CHARS]]
