"""The pii value checks at the edges of their rules: each length, count and age bound on both sides, each
alternative of a rule on its own, and the shape a value is filed under.

Complements tests/test_processors_pii_checks.py (checksums, generated ids, arbitrary text); the cases here are
the ones mutation testing (bench/mutation.py) showed no test pinned.
"""

from __future__ import annotations

import datetime

import pytest

from airflow_provider_ingest.processors.pii_checks import (
    MAX_SHAPE_LENGTH,
    is_account_number,
    is_birth_date,
    is_card_number,
    is_company_id,
    is_document_number,
    is_email,
    is_gender,
    is_ip_address,
    is_name_like,
    is_nif,
    is_nir,
    is_personnummer,
    is_phone,
    is_phone_like,
    is_private_ip_address,
    is_public_ip_address,
    is_ssn,
    is_version,
    phone_in_text,
    sensitive_in_text,
    shape,
    shapes,
)


def luhn_completed(body: str) -> str:
    """``body`` with the Luhn check digit appended (the textbook construction, written out here on its own)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the check digit to come will be at position 0
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345", ("d", 5, "p")),
        ("1" * 70, ("d", MAX_SHAPE_LENGTH, "p")),
        ("abc", ("l", 3, "p")),
        ("ab-c", ("l", 3, "p")),
        ("12:34", ("d", 4, ":")),
        ("1.2.3.4", ("d", 4, "3")),
        ("1.2", ("d", 2, ".")),
        ("a.b.c.d.e", ("l", 5, ".")),
        ("a@b.c", ("e", 5, ".")),
        ("a@b", ("e", 3, "p")),
        ("x" * 70 + "@y", ("e", MAX_SHAPE_LENGTH, "p")),
        ("a" * 70, ("l", MAX_SHAPE_LENGTH, "p")),
        ("a1-b2", ("a", 4, "p")),
        ("a+b=c", ("o", 4, "p")),
        ("١٢٣", ("a", 3, "p")),  # digits, but not ASCII ones
    ],
)
def test_a_value_is_filed_under_its_kind_length_and_punctuation(value: str, expected: tuple[str, int, str]) -> None:
    assert shape(value) == expected


def test_shapes_spans_every_kind_length_and_mark_asked_for() -> None:
    assert shapes("dl", (3, 4), "p:") == {
        ("d", 3, "p"),
        ("d", 3, ":"),
        ("d", 4, "p"),
        ("d", 4, ":"),
        ("l", 3, "p"),
        ("l", 3, ":"),
        ("l", 4, "p"),
        ("l", 4, ":"),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # national, digits only: a trunk 0, then not 0; 9 to 12 digits
        ("012345678", True),
        ("01234567", False),
        ("012345678901", True),
        ("0123456789012", False),
        ("0012345678", False),
        # international with +: 8 to 15 digits
        ("+1 2345678", True),
        ("+1 234567", False),
        ("+49 12345 67890 123", True),
        ("+49 12345 67890 1234", False),
        ("+49 30 123456 7", True),
        # an extension is not part of the number, however it is written
        ("+49 30 1234567 #12", True),
        ("+49 30 1234567 ext. 12", True),
        ("+49 30 1234567 EXT 12", True),
        ("+49 30 1234567 X12", True),
        ("phone", False),
        ("+49 30 1234567 a", False),
        # 00 country code: 10 to 15 digits
        ("0049 301234", True),
        ("0049 30123", False),
        ("0049 30 1234 5678 9", True),
        # a code in brackets: 9 to 13 digits
        ("(35) 1234 567", True),
        ("(35) 123 456", False),
        ("(351) 921 372 1098", True),
        ("(351) 921 372 10987", False),
        # trunk 0, grouped by spaces, dashes, slashes or a bracket: 9 to 12 digits
        ("(030) 1234567", True),
        ("(030) 1234567890", False),
        ("030 123456", True),
        ("030 12345", False),
        ("030 123456789", True),
        ("030 1234567890", False),
        ("030-123456", True),
        ("030/123456", True),
        # not grouped so: digit pairs without a trunk 0, dotted groups
        ("12 34 56 78 90", False),
        ("030.1234.567", False),
    ],
)
def test_phone_numbers_by_their_bounds(value: str, expected: bool) -> None:
    assert is_phone(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234567", True),  # 7 digits
        ("123456", False),
        ("123 4567", True),
        ("123 456", False),
        ("+49 301 234 567 890 1", True),  # 15
        ("+49 301 234 567 890 12", False),  # 16
        ("+49 30 1234567 ext. 12", True),  # the extension is not counted
        ("1.2.3.4567", False),  # three dots: an address or a version
        ("+49 30 1234567  extension 123456", True),  # 32 characters, the most
        ("+49 30 1234567   extension 123456", False),  # 33
    ],
)
def test_written_like_a_phone_number(value: str, expected: bool) -> None:
    assert is_phone_like(value) is expected


TODAY = datetime.date(2026, 6, 15)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-04-23", True),
        ("1990/04/23", True),
        ("1990-04-23 00:00:00", True),
        ("1990-04-23 13:45", False),
        ("23.04.1990", True),
        ("23/04/1990", True),
        ("04/23/1990", True),
        ("31.02.1990", False),
        ("1990-02-31", False),
        ("2026-06-15", True),  # born today
        ("2026-06-16", False),  # the future
        ("1906-01-01", True),  # 120 years before this year's first day
        ("1905-12-31", False),
        ("not a date", False),
    ],
)
def test_birth_dates_are_real_days_within_a_lifetime(value: str, expected: bool) -> None:
    assert is_birth_date(value, today=TODAY) is expected


def test_a_birth_date_is_judged_against_today_by_default() -> None:
    assert is_birth_date("1990-04-23")
    assert not is_birth_date((datetime.date.today() + datetime.timedelta(days=2)).isoformat())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AB123", True),
        ("AB12", False),
        ("ABCDE", False),  # no digit
        ("AB!123", False),  # not letters, digits, spaces and dashes
        ("2020-05-12", False),  # a date
        ("A123 4567890 1234567 89", True),  # 20 once the spaces are dropped
        ("A123-4567890-1234567-89", True),
        ("A123 45678901 2345678 90", False),  # 21
        ("A123-45678901-2345678-90", False),
    ],
)
def test_document_numbers_by_their_bounds(value: str, expected: bool) -> None:
    assert is_document_number(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345", True),
        ("1234", False),
        ("AB123", True),  # mostly digits
        ("ABC12", False),
        ("ABC123", False),  # half digits is not mostly
        ("AB!123", False),
        ("12345/6789", False),  # a slash is no account number's separator
        ("2020-05-12", False),
        ("12345678 123456789012 123456789012 12", True),  # 34 once the spaces are dropped
        ("12345678-123456789012-123456789012-12", True),
        ("12345678 123456789012 123456789012 123", False),  # 35
        ("12345678-123456789012-123456789012-123", False),
    ],
)
def test_account_numbers_by_their_bounds(value: str, expected: bool) -> None:
    assert is_account_number(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A58818501", "CIF"),  # A, B, E, H: a check digit
        ("A5881850A", None),
        ("H12345674", "CIF"),
        ("Q2826000H", "CIF"),  # K, P, Q, R, S, N, W: a check letter
        ("Q28260008", None),
        ("P2807900B", "CIF"),
        ("G12345674", "CIF"),  # the others: either
        ("G1234567D", "CIF"),
        ("G12345675", None),
        ("B00000000", "CIF"),  # the control 0 (letter J)
        ("RO12345", "VAT number"),  # seven characters: the shortest company number
        ("RO1234", None),
        ("ABCDEFGH", None),  # letters first, yet no VAT format
        ("12345678000195", None),  # fourteen digits without the CNPJ's slash
        ("12.345.678/0001-95", "CNPJ"),
        ("00.000.000/0000-00", None),  # its check digits fit, but one digit repeated is a placeholder
        ("00.001.011/1011-11", "CNPJ"),  # two different digits are enough
        ("11222333/000181", "CNPJ"),  # without dots and dash
        ("11/222/333/0001/81", None),  # the CNPJ's one slash is between the base and the branch
        ("112223330/00181", None),
        ("1122233/3000181", None),
    ],
)
def test_company_numbers(value: str, expected: str | None) -> None:
    assert is_company_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        (luhn_completed("4" * 2 + "1234567890123456"), True),  # 19 digits
        (luhn_completed("4" * 3 + "1234567890123456"), False),  # 20
        ("0000000000000", False),  # passes Luhn, but one digit repeated is no card
        ("card", False),
    ],
)
def test_card_numbers_by_their_bounds(value: str, expected: bool) -> None:
    assert is_card_number(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100.64.0.1", "private"),  # shared (CGNAT) 100.64/10
        ("100.127.255.255", "private"),
        ("100.128.0.1", "public"),
        ("0000:0000:0000:0000:0000:ffff:203.113.100.228", "public"),  # 45 characters, the longest form
        ("0000:0000:0000:0000:0000:0000:0000:0001", "private"),
        ("::ffff:192.168.1.20", "private"),  # an IPv4-mapped IPv6 address is its IPv4 address's kind
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "private"),
        ("::ffff:8.8.8.8", "public"),
        ("01.2.3.4", None),  # a leading zero
        ("256.1.1.1", None),
        ("1.2.3.x", None),
        ("1.2.3.\u0663", None),  # an Arabic-Indic digit
    ],
)
def test_ip_addresses_and_their_ranges(value: str, expected: str | None) -> None:
    assert is_ip_address(value) is (expected is not None)
    assert is_private_ip_address(value) is (expected == "private")
    assert is_public_ip_address(value) is (expected == "public")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3", True),
        ("v1.2", True),
        ("V1.2", True),
        ("1.2", False),  # two parts only with a v
        ("v01.2", False),
        ("99.99.99.99", True),  # four parts, each below 100
        ("99.99.99.100", False),
        ("123.456.7890", False),  # grouped like a phone number
        ("123.456.789", True),
    ],
)
def test_versions_by_their_rules(value: str, expected: bool) -> None:
    assert is_version(value) is expected


def personnummer(date: str, serial: str = "987", separator: str = "-") -> str:
    """A personnummer for ``date`` (YYMMDD or YYYYMMDD): the Luhn digit is taken over YYMMDD and the serial."""
    completed = luhn_completed(date[-6:] + serial)
    return date + separator + completed[6:]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (personnummer("811261"), True),  # samordningsnummer: day 1 + 60
        (personnummer("000229"), True),  # 29 February 2000 (1900 was no leap year)
        (personnummer("030229"), False),
        (personnummer("19000229"), False),
        (personnummer("20000229"), True),
        (personnummer("18960229"), True),
        (personnummer("17960229"), False),
        ("8112289874", True),
        ("811228-9874", True),
        ("811288-9871", True),  # samordningsnummer: day 28 + 60
        ("811260-9877", False),  # day 0 after the 60
        ("19811228-9874", True),
    ],
)
def test_personnummer_dates(value: str, expected: bool) -> None:
    assert is_personnummer(value) is expected


def nir(body: str) -> str:
    """A French NIR: 13 characters (Corsica's 2A/2B read as 19/18) and the key 97 - (number mod 97)."""
    number = int(body.replace("2A", "19").replace("2B", "18"))
    return f"{body}{97 - number % 97:02d}"


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ("01", True),
        ("12", True),
        ("13", False),
        ("20", True),
        ("21", False),
        ("29", False),
        ("30", True),
        ("42", True),
        ("43", False),
        ("49", False),
        ("50", True),
        ("99", True),
    ],
)
def test_nir_months_real_or_placeholder(month: str, expected: bool) -> None:
    assert is_nir(nir("185" + month + "75123456")) is expected
    assert is_nir(nir("185" + month + "2A123456")) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345678Z", "DNI"),
        ("12.345.678-Z", "DNI"),
        ("12 345 678 z", "DNI"),
        ("1234567L", None),  # a DNI has eight digits
        ("X1234567L", "NIE"),
        ("X12345678Z", None),  # a NIE seven
        ("111111110", "NIF (Portugal)"),  # check 11: written 0
        ("100000100", "NIF (Portugal)"),  # check 10: written 0
        ("111111111", None),
        ("412345676", None),  # 4 first: a company's number, not a person's
    ],
)
def test_spanish_and_portuguese_tax_numbers(value: str, expected: str | None) -> None:
    assert is_nif(value) == expected


def test_emails_ssns_genders_and_names_each_need_their_form() -> None:
    assert is_email("ana@example.org")
    assert not is_email("ana@example")
    assert not is_email("example.org")
    assert is_ssn("123-45-6789")
    assert not is_ssn("123-45-67890")
    assert not is_ssn("123456789")
    assert not is_ssn("123 45 6789")  # eleven characters, but not written with dashes
    assert is_gender("female")
    assert is_gender("F.")
    assert is_gender("X")  # unspecified, as in a passport
    assert not is_gender(".F")
    assert not is_gender("female" + " " * 15)  # over 20 characters
    assert is_gender("female" + " " * 14)
    assert is_name_like("Ana-Maria O'Neill")
    assert not is_name_like("Ana 2")
    assert is_name_like("A" * 80)
    assert not is_name_like("A" * 81)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("call 030 12345 today", "phone"),  # 8 digits
        ("call 030 1234 today", None),  # 7
        ("call +49 30 1234 5678 901 today", "phone"),  # 15
        ("call +49 30 1234 5678 9012 today", None),  # 16
        ("seen on 12.05.2020 at noon", None),  # a date, not a phone
        ("no digits at all here", None),
        ("call 030/1234567 today", "phone"),  # no two digits on each side of a space, dot or dash
        ("whatsapp +491701234567", "phone"),
    ],
)
def test_phones_inside_text(value: str, expected: str | None) -> None:
    assert phone_in_text(value) == expected


def test_card_numbers_and_emails_inside_text() -> None:
    assert sensitive_in_text("paid with 4111-1111-1111-1111 yesterday") == "card number"
    assert sensitive_in_text("write to ana@example.org please") == "email"
    assert sensitive_in_text("an @ sign and words") is None
    unbranded = luhn_completed("9" + "0" * 14)  # passes Luhn, but no card issuer's numbers start with 9
    assert sensitive_in_text(f"reference {unbranded} attached") is None
    assert sensitive_in_text(f"reference {luhn_completed('4' + '0' * 14)} attached") == "card number"
