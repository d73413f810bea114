"""Value checks for the ``pii`` processor: does one sample value look like an email, a card number...?

Each check takes one value (text) and answers True or False; the checks that can validate do
(Luhn for card numbers, ISO 13616 mod-97 for IBANs, a real date in a lifetime for birth dates).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}")
CARD = re.compile(r"\d{4}(?:[ -]?\d{1,4}){2,4}")
IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
SSN = re.compile(r"(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")
IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
NON_DIGIT = re.compile(r"\D")
DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?")
MAX_AGE_YEARS = 120


def is_email(value: str) -> bool:
    """An email address: ``local@domain.tld``."""
    return "@" in value and EMAIL.fullmatch(value) is not None


def is_phone(value: str) -> bool:
    """A formatted phone number: international (``+49 30 1234567``) or North American (``(212) 555-0123``)."""
    if PHONE.fullmatch(value) is None:
        return False
    digits = len(NON_DIGIT.sub("", value))
    return 8 <= digits <= 15 if value[0] == "+" else digits == 10


def is_card_number(value: str) -> bool:
    """A payment card number: 13 to 19 digits (spaces or dashes allowed) that pass the Luhn check."""
    if not value[:1].isdigit() or CARD.fullmatch(value) is None:
        return False
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = sum(map(int, digits[-1::-2])) + sum(DOUBLED[int(char)] for char in digits[-2::-2])
    return total % 10 == 0


def is_iban(value: str) -> bool:
    """An IBAN (spaces allowed) whose check digits are right (ISO 13616, mod 97)."""
    compact = value.replace(" ", "")
    if IBAN.fullmatch(compact) is None:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def is_ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address."""
    if ":" not in value:
        match = IPV4.fullmatch(value)
        octets = match.groups() if match else ()
        return bool(octets) and all(int(part) < 256 and (len(part) == 1 or part[0] != "0") for part in octets)
    if len(value) > 45:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_ssn(value: str) -> bool:
    """A US social security number written ``123-45-6789`` (never 000, 666 or 9xx first)."""
    return len(value) == 11 and SSN.fullmatch(value) is not None


def is_birth_date(value: str, today: datetime.date | None = None) -> bool:
    """A plausible birth date: a real calendar date, no time of day, not in the future nor over 120 years ago."""
    match = DATE.fullmatch(value)
    if match is None:
        return False
    try:
        date = datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return False
    today = today or datetime.date.today()
    return datetime.date(today.year - MAX_AGE_YEARS, 1, 1) <= date <= today


def count_passing(samples: list[str], check: Callable[[str], object], needed: int) -> int | None:
    """How many samples pass ``check``; None as soon as fewer than ``needed`` can."""
    failed, allowed = 0, len(samples) - needed
    for value in samples:
        if not check(value):
            failed += 1
            if failed > allowed:
                return None
    return len(samples) - failed


CHECKS: dict[str, Callable[[str], object]] = {
    "email": is_email,
    "phone": is_phone,
    "credit_card": is_card_number,
    "iban": is_iban,
    "ip_address": is_ip_address,
    "ssn": is_ssn,
    "birth_date": is_birth_date,
}
"""Built-in value checks by the name a PII rule's ``values`` gives."""
