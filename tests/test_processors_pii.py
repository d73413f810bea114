"""The pii processor on the bundled sample shop, its value checks, rule changes from the workflow file, and sampling."""

from __future__ import annotations

import functools
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.sql import as_model

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


def passing(rule: str, passed: int, total: int, check: str, detail: str, *, named: bool = True) -> str:
    reason = f"rule {rule!r}: {passed} of {total} sample values pass the {check} check ({detail})"
    return reason + ("; the column name matches" if named else "")


SHOP_PII_BY_SAMPLES = {
    **SHOP_PII_BY_NAME,
    ("customers", "first_name"): (S, 0.9, passing("person_name_open", 16, 16, "person_name", "given name 16")),
    ("customers", "last_name"): (
        S,
        0.9,
        passing("person_name_open", 16, 16, "person_name", "surname 13, given name 3"),
    ),
    ("customers", "email"): (S, 0.95, passing("email", 20, 20, "email", "email address")),
    ("customers", "phone"): (
        N,
        0.95,
        passing("phone_number_values", 20, 20, "phone", "phone number format", named=False),
    ),
    ("customers", "birth_date"): (N, 0.95, passing("birth_date", 20, 20, "birth_date", "plausible birth date")),
    ("customers", "national_id"): (S, 0.95, passing("ssn", 20, 20, "ssn", "US SSN format", named=False)),
    ("payments", "card_number"): (S, 0.95, passing("credit_card", 20, 20, "credit_card", "Luhn")),
    ("payments", "card_holder_name"): (
        S,
        0.9,
        passing("person_name_open", 18, 18, "person_name", "full name 18"),
    ),
    ("payments", "iban"): (S, 0.95, passing("iban", 7, 7, "iban", "mod-97")),
    ("payments", "ip_address"): (S, 0.95, passing("ip_address", 20, 20, "ip_address", "public IPv4/IPv6")),
    ("customer_order_summary", "email"): (S, 0.95, passing("email", 20, 20, "email", "email address")),
}
"""With 20 sample rows per table: the same columns, decided by their values (national_id holds US SSNs; the names
are found in the bundled name list; products.name is no person's name: its samples reject the open name rule)."""


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
        return [record for record in map(as_model, source.records()) if isinstance(record, Table)]
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
        **({"rejected_by_samples": 1} if sample_rows else {}),
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
        (is_birth_date, ["1990-06-01 00:00:00", "02/03/1975", "15.03.1985"], ["2024-05-01 12:34:56", "1975"]),
        (is_birth_date, ["12/31/1980", "1980/12/31"], ["31.02.1975", "31/13/1975", "1975-3-2"]),
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
        "mac_address": S,
        "passport_no": S,
        "dob": N,
        "ssn": S,
    }


PUBLIC, PHONE = "public IPv4/IPv6", "phone number format"


def by_values(rule: str, passed: int, total: int, check: str, detail: str) -> str:
    return passing(rule, passed, total, check, detail, named=False)


def test_values_alone_tag_a_column_whatever_its_name(tmp_path: Path) -> None:
    cards = ["4111111111111111", "5500000000000004", "4012888888881881", "378282246310005"]
    (result,), processor = run_pii(
        [
            table(
                column("contact", samples=["a@example.com", "b@example.org", "c@example.net", "d@example.com", "-"]),
                column("x1", samples=cards),
                column("x2", samples=["81.2.69.160", "2a00:1450:4001:81b::200e", "192.0.2.1"]),
                column("x3", samples=["1", "2", "3"]),
                column("x4", samples=["+1-212-555-0123", "+49 30 1234567", "+43 1 7654321"]),
            )
        ],
        tmp_path,
    )
    assert [(c.name, c.tags) for c in result.columns] == [
        ("contact", [TagLabel(tag_fqn=S, confidence=0.76, reason=by_values("email", 4, 5, "email", "email address"))]),
        ("x1", [TagLabel(tag_fqn=S, confidence=0.95, reason=by_values("credit_card", 4, 4, "credit_card", "Luhn"))]),
        ("x2", [TagLabel(tag_fqn=S, confidence=0.95, reason=by_values("ip_address", 3, 3, "ip_address", PUBLIC))]),
        ("x3", []),
        ("x4", [TagLabel(tag_fqn=N, confidence=0.95, reason=by_values("phone_number_values", 3, 3, "phone", PHONE))]),
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
    assert result.columns[3].tags[0].reason == "rule 'employee_code': 3 of 3 sample values pass the value_pattern check"
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
        (records,) = [r for r in map(as_model, source.records()) if isinstance(r, Table)]
    finally:
        source.close()
    assert [c.samples for c in records.columns] == [["x", "z"], ["1"], ["0102"], ["y" * MAX_SAMPLE_CHARS]]


def decide_all(tmp_path: Path, columns: list[Column], table_name: str = "t", **config: object) -> dict[str, object]:
    processor = PiiProcessor.create(config, context(tmp_path))
    processor.prepare()
    assert isinstance(processor, PiiProcessor)
    return {c.name: processor.decide(c, table_name) for c in columns}


NAMES_BY_LANGUAGE = {
    "en": {
        "fname": ("person_name", S),
        "lname": ("person_name", S),
        "cust_nm": ("person_name", S),
        "custFirstNm": ("person_name", S),
        "billing_name": ("person_name", S),
        "buyer_name": ("person_name", S),
        "co_borrower_name": ("person_name", S),
        "display_name": ("username", S),
        "acct_no": ("bank_account", S),
        "account_number": ("bank_account", S),
        "pp_no": ("passport", S),
        "dl_num": ("driver_license", S),
        "document_number": ("national_id", S),
        "cvv": ("cvv", S),
        "mac_address": ("mac_address", S),
        "ssn": ("ssn", S),
        "ContactEmail": ("email", S),
        "mobile_phone": ("phone", N),
        "zip_code": ("address", N),
        "DOB": ("birth_date", N),
    },
    "de": {
        "vorname": ("person_name", S),
        "Nachname": ("person_name", S),
        "kontoinhaber": ("person_name", S),
        "kontonummer": ("bank_account", S),
        "personalausweis_nr": ("national_id", S),
        "steuer_id": ("steuer_id", S),
        "geburtsdatum": ("birth_date", N),
        "telefonnummer": ("phone", N),
        "handy": ("phone", N),
        "strasse": ("address", N),
        "plz": ("address", N),
        "geschlecht": ("gender", N),
        "fuehrerscheinnummer": ("driver_license", S),
        "reisepass_nr": ("passport", S),
        "e_mail_adresse": ("email", S),
    },
    "fr": {
        "prenom": ("person_name", S),
        "Prénom": ("person_name", S),
        "nom_de_famille": ("person_name", S),
        "courriel": ("email", S),
        "telephone": ("phone", N),
        "date_naissance": ("birth_date", N),
        "code_postal": ("address", N),
        "numero_securite_sociale": ("nir", S),
        "numero_passeport": ("passport", S),
        "permis_de_conduire": ("driver_license", S),
        "numero_compte": ("bank_account", S),
    },
    "es": {
        "nombre_completo": ("person_name", S),
        "apellido": ("person_name", S),
        "apellidos": ("person_name", S),
        "correo": ("email", S),
        "correo_electronico": ("email", S),
        "telefono": ("phone", N),
        "fecha_nacimiento": ("birth_date", N),
        "dni": ("nif", S),
        "pasaporte": ("passport", S),
        "numero_cuenta": ("bank_account", S),
        "direccion": ("address", N),
    },
    "it": {
        "cognome": ("person_name", S),
        "nominativo": ("person_name", S),
        "codice_fiscale": ("codice_fiscale", S),
        "data_nascita": ("birth_date", N),
        "cellulare": ("phone", N),
        "indirizzo": ("address", N),
        "numero_passaporto": ("passport", S),
        "patente_di_guida": ("driver_license", S),
    },
    "pt": {
        "sobrenome": ("person_name", S),
        "nome_completo": ("person_name", S),
        "telefone": ("phone", N),
        "celular": ("phone", N),
        "cpf": ("cpf", S),
        "data_nascimento": ("birth_date", N),
        "endereco": ("address", N),
        "cep": ("address", N),
        "numero_conta": ("bank_account", S),
    },
    "nl": {
        "voornaam": ("person_name", S),
        "achternaam": ("person_name", S),
        "tussenvoegsel": ("person_name", S),
        "bsn": ("bsn", S),
        "geboortedatum": ("birth_date", N),
        "telefoonnummer": ("phone", N),
        "rekeningnummer": ("bank_account", S),
        "rijbewijsnummer": ("driver_license", S),
        "postcode": ("address", N),
    },
    "pl": {
        "imie": ("person_name", S),
        "imię": ("person_name", S),
        "nazwisko": ("person_name", S),
        "pesel": ("pesel", S),
        "data_urodzenia": ("birth_date", N),
        "numer_konta": ("bank_account", S),
        "kod_pocztowy": ("address", N),
        "numer_dowodu": ("national_id", S),
    },
    "sv": {
        "fornamn": ("person_name", S),
        "förnamn": ("person_name", S),
        "efternamn": ("person_name", S),
        "personnummer": ("personnummer", S),
        "fodelsedatum": ("birth_date", N),
        "telefonnummer": ("phone", N),
        "postnummer": ("address", N),
        "kontonummer": ("bank_account", S),
        "e_post": ("email", S),
    },
}
"""Column names in each language, with their abbreviations and spellings, and the rule that tags them by name."""


@pytest.mark.parametrize("language", sorted(NAMES_BY_LANGUAGE))
def test_names_in_each_language(tmp_path: Path, language: str) -> None:
    expected = NAMES_BY_LANGUAGE[language]
    decisions = decide_all(tmp_path, [column(name) for name in expected])
    found = {name: (d.rule, d.tag) if d else None for name, d in decisions.items()}
    assert found == expected


NOT_BY_NAME = [
    "product_name",
    "company_name",
    "file_name",
    "hostname",
    "email_verified",
    "phone_type",
    "ip_country",
    "classname",
    "automobile",
    "last_login",
    "order_number",
    "genre",
    "server_ip",
    "created_at",
    "routing_number",
    "vat_id",
    "nif_empresa",
    "version",
]


def test_what_names_alone_do_not_tag(tmp_path: Path) -> None:
    decisions = decide_all(tmp_path, [column(name) for name in NOT_BY_NAME])
    assert {name: d.tag for name, d in decisions.items() if d is not None and d.tag is not None} == {}


def test_a_bare_name_is_a_persons_in_a_table_of_people_only(tmp_path: Path) -> None:
    names = [column("name"), column("nom"), column("nombre"), column("naam"), column("namn")]
    in_people = decide_all(tmp_path, names, "dim_customer")
    elsewhere = decide_all(tmp_path, names, "products")
    assert {n: (d.rule, d.tag) if d else None for n, d in in_people.items()} == {
        n.name: ("person_name_in_people_table", S) for n in names
    }
    assert (
        in_people["name"].reason == "rule 'person_name_in_people_table': the column name matches in a table of people"
    )
    assert {n: d for n, d in elsewhere.items()} == dict.fromkeys(elsewhere)
    for table_name in ("kunden", "Klienci", "crm_clientes", "anstallda"):
        assert decide_all(tmp_path, [column("name")], table_name)["name"] is not None


FIRST = ["Anna", "Hans", "Marie", "José", "Giulia", "João", "Sanne", "Łukasz", "Ingrid", "Emma"]
LAST = ["Schmidt", "Dubois", "García", "Rossi", "Silva", "de Vries", "Kowalski", "Andersson", "Smith", "Müller"]
FULL = [f"{first} {last}" for first, last in zip(FIRST, LAST, strict=True)]


def test_the_open_name_rule_is_decided_by_the_name_list(tmp_path: Path) -> None:
    products = ["Deluxe Kettle", "Compact Knife Set", "Smart Lamp", "Classic Mug", "Eco Desk"]
    decisions = decide_all(
        tmp_path,
        [
            column("guarantor_name", samples=FULL),
            column("heir_nm", samples=FULL[:5]),
            column("nom", samples=LAST),
            column("pet_name", samples=FULL),  # excluded by name: judged by the values alone, still a person
            column("widget_name", samples=products),
            column("trustee_name"),  # by name alone the open rule is not sure enough
        ],
        "contracts",
    )
    assert decisions["guarantor_name"].rule == "person_name_open"
    assert decisions["guarantor_name"].reason == (
        "rule 'person_name_open': 10 of 10 sample values pass the person_name check (full name 10); "
        "the column name matches"
    )
    assert (decisions["heir_nm"].tag, decisions["nom"].tag) == (S, S)
    assert (decisions["pet_name"].rule, decisions["pet_name"].confidence) == ("person_name_values", 0.7)
    assert decisions["widget_name"] is None and decisions["trustee_name"] is None


def test_pii_inside_free_text_with_the_share_in_the_reason(tmp_path: Path) -> None:
    plain = ["Delivered to the front door", "Customer asked for a gift wrap", "Second attempt tomorrow"] * 3
    with_email = [*plain, "Wrong address, write to anna.schmidt@example.de", "Refund to DE89 3704 0044 0532 0130 00"]
    with_phone = [*plain, "Call back on +49 30 1234567 after 5pm", "tel. 06 12 34 56 78"]
    decisions = decide_all(
        tmp_path,
        [
            column("notes", samples=with_email),
            column("bemerkung", samples=with_phone),
            column("comment", samples=plain),
            column("remarks", samples=[*plain, "order 1234567890123456 shipped"]),
        ],
    )
    notes, bemerkung = decisions["notes"], decisions["bemerkung"]
    assert (notes.rule, notes.tag, notes.confidence) == ("pii_in_text", S, 0.7)
    assert notes.reason == (
        "rule 'pii_in_text': 2 of 11 sample values (18%) pass the sensitive_in_text check (IBAN 1, email 1)"
    )
    assert (bemerkung.rule, bemerkung.tag) == ("phone_in_text", N)
    assert "2 of 11 sample values (18%)" in bemerkung.reason
    assert decisions["comment"] is None and decisions["remarks"] is None


ABA = ["011000015", "021000021", "122105155", "026009593", "121000358"]
VAT = ["DE123456789", "FR40303265045", "NL185946858B50", "IT89991330039", "ESB12345674"]
PRIVATE = ["10.1.2.3", "192.168.0.10", "172.16.5.4", "10.20.30.40", "192.168.1.254"]
VERSIONS = ["13.15.12.14", "2.0.1.0", "13.15.12.15", "1.4.22.3", "13.16.0.1"]


def test_false_alarms_the_issue_lists(tmp_path: Path) -> None:
    columns = [
        column("routing_number"),
        column("routing_number_2", samples=ABA),
        column("account_ref", samples=ABA),  # routing numbers under another name: not a BSN, not personal
        column("buyer_tax_id", samples=VAT),
        column("version", samples=VERSIONS),
        column("build_tag", samples=VERSIONS),  # looks like IP addresses, but the set looks like versions
        column("ip_address", samples=PRIVATE),
        column("server_ip"),
        column("peer", samples=PRIVATE),
    ]
    decisions = decide_all(tmp_path, columns)
    assert {name: d.tag for name, d in decisions.items() if d is not None and d.tag is not None} == {}
    rules = {name: d.rule for name, d in decisions.items() if d is not None}
    assert rules == {
        "routing_number": "bank_code",
        "routing_number_2": "bank_code",
        "account_ref": "bank_code",
        "buyer_tax_id": "company_id",
        "version": "version",
        "build_tag": "version",
        "ip_address": "private_ip_address",
        "peer": "private_ip_address",
    }
    assert (
        decisions["buyer_tax_id"].reason
        == "rule 'company_id': 5 of 5 sample values pass the company_id check (VAT number 5)"
    )
    assert "(ABA routing checksum 5)" in decisions["account_ref"].reason


def test_non_personal_decisions_are_counted_not_tagged(tmp_path: Path) -> None:
    (result,), processor = run_pii(
        [table(column("buyer_tax_id", samples=VAT), column("ip_address", samples=PRIVATE), column("tax_id"))],
        tmp_path,
    )
    assert [c.tags for c in result.columns][:2] == [[], []]
    assert result.columns[2].tags[0].tag_fqn == S  # by name alone a tax id may be a person's
    assert processor.report.counters == {
        "columns": 3,
        "not_personal:company_id": 1,
        "not_personal:private_ip_address": 1,
        "tags_added:PII.Sensitive": 1,
        "rejected_by_samples": 1,
    }


NATIONAL_IDS = {
    "attr_1": (["111222333", "123456782", "999996356"], "bsn", "11-test"),
    "attr_2": (["44051401359", "90090515836", "02270803624"], "pesel", "PESEL checksum and date"),
    "attr_3": (["811218-9876", "19811218-9876", "6403273813"], "personnummer", "Luhn and date"),
    "attr_4": (["234123412346", "499118665246", "2341 2341 2346"], "aadhaar", "Verhoeff"),
    "attr_5": (["529.982.247-25", "111.444.777-35", "52998224725"], "cpf", "CPF check digits"),
    "attr_6": (["12345678Z", "54362315K", "X1234567L"], "nif", "DNI 2, NIE 1"),
    "attr_7": (["RSSMRA85T10A562S", "MRTMTT91D08F205J", "RSSMRA85T10A56NH"], "codice_fiscale", "check letter"),
    "attr_8": (["86095742719", "65929970489", "57549285017"], "steuer_id", "ISO 7064 MOD 11,10"),
    "attr_9": (["255081416802538", "1 84 12 76 451 089 46", "185052A12345633"], "nir", "key mod 97"),
}


def test_national_ids_are_found_by_their_check_digits_whatever_the_name(tmp_path: Path) -> None:
    decisions = decide_all(tmp_path, [column(name, samples=values) for name, (values, _, _) in NATIONAL_IDS.items()])
    for name, (_values, rule, detail) in NATIONAL_IDS.items():
        decision = decisions[name]
        assert (decision.rule, decision.tag, decision.confidence) == (rule, S, 0.95), name
        assert decision.reason == f"rule {rule!r}: 3 of 3 sample values pass the {rule} check ({detail})"


def test_a_named_id_failing_its_check_is_still_tagged_by_name(tmp_path: Path) -> None:
    wrong = ["111222334", "123456783", "999996357"]  # BSN-shaped, the 11-test fails
    decision = decide_all(tmp_path, [column("bsn", samples=wrong)])["bsn"]
    assert (decision.rule, decision.tag, decision.confidence) == ("national_id", S, 0.85)
    assert decision.reason.endswith("pass the document_number check (document number format); the column name matches")


def test_every_decision_has_a_confidence_and_a_reason_naming_rule_and_check(tmp_path: Path) -> None:
    columns = [column(name) for name in {name for names in NAMES_BY_LANGUAGE.values() for name in names}]
    columns += [column(name, samples=values) for name, (values, _, _) in NATIONAL_IDS.items()]
    decisions = [d for d in decide_all(tmp_path, columns).values() if d is not None]
    assert len(decisions) == len(columns)
    for decision in decisions:
        assert 0.5 <= decision.confidence <= 1
        assert decision.reason.startswith(f"rule {decision.rule!r}: ")
        assert "the column name matches" in decision.reason or "pass the " in decision.reason


@functools.cache
def shared_processor() -> PiiProcessor:
    """One processor for the property below (building the rules takes a moment)."""
    processor = PiiProcessor.create({}, context(Path(tempfile.gettempdir())))
    assert isinstance(processor, PiiProcessor)
    return processor


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(min_size=1, max_size=40),
    table_name=st.text(max_size=20),
    samples=st.lists(st.text(max_size=60), max_size=25),
    data_type=st.sampled_from([DataType.VARCHAR, DataType.BIGINT, DataType.DATE, DataType.INET]),
)
def test_any_column_gets_a_decision_or_none_never_an_error(
    name: str, table_name: str, samples: list[str], data_type: DataType
) -> None:
    decision = shared_processor().decide(Column(name=name, data_type=data_type, samples=samples), table_name)
    if decision is not None:
        assert decision.confidence >= 0.5 and decision.reason.startswith(f"rule {decision.rule!r}: ")
