"""Value checks for the ``pii`` processor: does one sample value look like an email, a card number, a BSN...?

Each check takes one value (text) and answers: a false value when it fails, a true one when it passes,
or the name of what passed (``"NIE"``, ``"email"``) when one check knows several variants. The checks
that can validate do: Luhn (cards, Swedish personnummer), ISO 13616 mod-97 (IBAN), the 11-test (BSN),
Verhoeff (Aadhaar), the weighted sums of PESEL, CPF, Steuer-ID, codice fiscale, NIR and ABA routing
numbers, the letter of a Spanish DNI/NIE, and a real date of birth where an id holds one. A check never
raises, whatever the text.

Every check also says which *shapes* of value it can pass (:func:`shape`: digits, letters, letters and
digits, an ``@``...; and the length once separators are dropped), so that the processor only calls the
checks a column's values could pass.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_ingest.processors.pii_names import fold, person_name_kind

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}")
PHONE_CHARS = re.compile(r"(?:\+|00)?[\d ().\/-]{6,24}(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?", re.I)
PHONE_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}$", re.I)
PHONE_GROUPS = re.compile(r"(?:\+\d{1,3}|00\d{1,3})?[ .-]?(?:\(0\)[ .-]?)?(?:\(?\d{1,5}\)?[ ./-]?){1,7}\d")
DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
CARD = re.compile(r"\d{4}(?:[ -]?\d{1,4}){2,4}")
IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
SSN = re.compile(r"(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")
NON_DIGIT = re.compile(r"\D")
DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?")
LOCAL_DATE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})")
SLASHED_ISO_DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2})")
MAX_AGE_YEARS = 120
MAX_SHAPE_LENGTH = 64

SEPARATORS = str.maketrans("", "", " \t-./()+:,;'\"!?_")
"""Dropped before a value's shape is taken: the characters ids, phones and names are written with."""


def shape(value: str) -> tuple[str, int, str]:
    """A value's kind and length once separators are dropped, and a mark of its punctuation.

    Kind: ``d`` digits, ``l`` letters, ``a`` both, ``e`` an ``@`` somewhere, ``o`` anything else; the length is
    capped at :data:`MAX_SHAPE_LENGTH`; the mark: ``:`` a colon, ``3`` exactly three dots, ``.`` other dots,
    ``p`` none of these.
    """
    if value.isdigit() and value.isascii():
        length = len(value)
        return "d", length if length < MAX_SHAPE_LENGTH else MAX_SHAPE_LENGTH, "p"
    if ":" in value:
        mark = ":"
    else:
        dots = value.count(".")
        mark = "p" if not dots else "3" if dots == 3 else "."
    if "@" in value:
        length = len(value)
        return "e", length if length < MAX_SHAPE_LENGTH else MAX_SHAPE_LENGTH, mark
    compact = value.translate(SEPARATORS)
    length = len(compact)
    if length > MAX_SHAPE_LENGTH:
        length = MAX_SHAPE_LENGTH
    if compact.isdigit() and compact.isascii():
        return "d", length, mark
    if compact.isalpha():
        return "l", length, mark
    return ("a" if compact.isalnum() else "o"), length, mark


MARKS = "p:3."


def _digits(value: str, separators: str = " -.") -> str | None:
    """The ASCII digits of ``value`` once the separators are dropped; None if anything else is left."""
    compact = value.strip()
    for separator in separators:
        compact = compact.replace(separator, "")
    return compact if compact.isascii() and compact.isdigit() else None


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


# -- contact data ------------------------------------------------------------------------------------


def is_email(value: str) -> bool:
    """An email address: ``local@domain.tld``."""
    return "@" in value and EMAIL.fullmatch(value) is not None


def is_phone_like(value: str) -> bool:
    """Written like a phone number: 7 to 15 digits with an optional ``+``/``00`` country code, trunk ``(0)``,
    groups and extension; not a date nor a dotted number (to confirm a column named as phones)."""
    text = value.strip()
    if not 7 <= len(text) <= 32 or PHONE_CHARS.fullmatch(text) is None:
        return False
    text = PHONE_EXTENSION.sub("", text)
    if DATE_LIKE.fullmatch(text) or PHONE_GROUPS.fullmatch(text) is None or text.count(".") == 3:
        return False
    return 7 <= len(NON_DIGIT.sub("", text)) <= 15


def is_phone(value: str) -> bool:
    """A phone number no other number looks like: international (``+49 30 1234567``, ``0049...``), North
    American (``(212) 555-0123``), or national with its trunk ``0`` and groups (``030 1234567``, ``0612345678``)."""
    if value.isdigit():
        return value[0] == "0" and value[1:2] not in ("0", "") and 9 <= len(value) <= 12 and value.isascii()
    text = value.strip()
    if not text[-1:].isdigit():
        return False
    if "x" in text or "X" in text or "#" in text:  # every way of writing an extension has one of these
        text = PHONE_EXTENSION.sub("", text)
    if PHONE.fullmatch(text) is not None:
        digits = len(NON_DIGIT.sub("", text))
        return 8 <= digits <= 15 if text[0] == "+" else digits == 10
    if not is_phone_like(text):
        return False
    digits = len(NON_DIGIT.sub("", text))
    if text.startswith("00"):
        return 10 <= digits <= 15
    if text[:1] == "(" and text[1:2] != "0":  # a country or area code in brackets: (351) 921 372 109
        return 9 <= digits <= 13
    grouped = text[:1] == "0" or text[:2] == "(0"
    return grouped and any(separator in text for separator in " -/)") and 9 <= digits <= 12


def is_birth_date(value: str, today: datetime.date | None = None) -> bool:
    """A plausible birth date: a real calendar date (ISO, ``DD.MM.YYYY``, ``DD/MM/YYYY`` or ``MM/DD/YYYY``),
    no time of day, not in the future nor over 120 years ago."""
    candidates: list[tuple[int, int, int]] = []
    if (match := DATE.fullmatch(value)) or (match := SLASHED_ISO_DATE.fullmatch(value)):
        candidates.append((int(match[1]), int(match[2]), int(match[3])))
    elif match := LOCAL_DATE.fullmatch(value):
        first, second, year = int(match[1]), int(match[3]), int(match[4])
        candidates += [(year, second, first), (year, first, second)]
    today = today or datetime.date.today()
    earliest = datetime.date(today.year - MAX_AGE_YEARS, 1, 1)
    for year, month, day in candidates:
        if _real_date(year, month, day) and earliest <= datetime.date(year, month, day) <= today:
            return True
    return False


def is_person_name(value: str) -> str | None:
    """A person's name by the bundled list of given names and surnames (see :mod:`.pii_names`)."""
    return person_name_kind(value, full=False)


def is_full_name(value: str) -> str | None:
    """A person's full name: at least two words, a known given name first (or ``Surname, Given``)."""
    return person_name_kind(value, full=True)


NAME_LIKE = re.compile(r"[^\W\d_]+(?:[ '\u2019.,-]+[^\W\d_]+){0,5}\.?")


def is_name_like(value: str) -> bool:
    """Written like a name: one to six words of letters (hyphens, apostrophes, dots), no digit, no ``@``."""
    return len(value) <= 80 and NAME_LIKE.fullmatch(value.strip()) is not None


# -- payment data ------------------------------------------------------------------------------------


def is_card_number(value: str) -> bool:
    """A payment card number: 13 to 19 digits (spaces or dashes allowed) that pass the Luhn check."""
    if value.isdigit() and value.isascii():
        digits = value
    elif not value[:1].isdigit() or CARD.fullmatch(value) is None:
        return False
    else:
        digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.count(digits[0]) < len(digits) and luhn_valid(digits)


CARD_BRANDS = re.compile(
    r"4\d{12}(?:\d{3}){0,2}|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}|3[47]\d{13}"
    r"|3(?:0[0-5]|[68]\d)\d{11,16}|6(?:011|5\d{2}|4[4-9]\d)\d{12,15}|35(?:2[89]|[3-8]\d)\d{12,15}"
    r"|(?:5[06-9]|6\d)\d{11,17}"
)
"""Issuer prefixes and lengths: Visa, Mastercard, Amex, Diners, Discover, JCB, Maestro."""


def is_branded_card_number(digits: str) -> bool:
    """Digits with a card issuer's prefix and length that pass the Luhn check (for numbers inside text)."""
    return CARD_BRANDS.fullmatch(digits) is not None and luhn_valid(digits)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(LUHN_DOUBLED)))
    return total % 10 == 0


LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")
"""Each digit doubled, its two digits summed (Luhn): 5 -> 10 -> 1."""


def is_cvv(value: str) -> bool:
    """A card security code: three or four digits."""
    text = value.strip()
    return len(text) in (3, 4) and text.isascii() and text.isdigit()


def is_iban(value: str) -> bool:
    """An IBAN (spaces allowed) whose check digits are right (ISO 13616, mod 97)."""
    compact = value.replace(" ", "")
    if IBAN.fullmatch(compact) is None:
        return False
    return int((compact[4:] + compact[:4]).translate(IBAN_LETTERS)) % 97 == 1


IBAN_LETTERS = str.maketrans({chr(65 + index): str(10 + index) for index in range(26)})


ABA_PREFIXES = frozenset([*range(0, 13), *range(21, 33), *range(61, 73), 80])


def is_aba_routing_number(value: str) -> bool:
    """A US ABA routing transit number: nine digits, a Federal Reserve prefix, the 3-7-1 checksum."""
    digits = _digits(value, " -")
    if digits is None or len(digits) != 9 or int(digits[:2]) not in ABA_PREFIXES or digits == "0" * 9:
        return False
    d = [int(char) for char in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")


def is_bank_code(value: str) -> str | None:
    """A bank's own code, not a person's: an ABA routing number (checksum) or a BIC/SWIFT code."""
    if is_aba_routing_number(value):
        return "ABA routing checksum"
    text = value.strip()
    if len(text) in (8, 11) and BIC.fullmatch(text) and text[4:6] in COUNTRIES:
        return "BIC"
    return None


# -- network data ------------------------------------------------------------------------------------


def _ipv4(value: str) -> tuple[int, ...] | None:
    parts = value.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not (part.isdigit() and part.isascii() and len(part) <= 3) or (len(part) > 1 and part[0] == "0"):
            return None
    octets = tuple(map(int, parts))
    return octets if max(octets) < 256 else None


def _ip_private(value: str) -> bool | None:
    """True for a private, loopback, link-local or shared address; False for another; None if no IP."""
    if ":" not in value:
        if value.count(".") != 3:
            return None
        octets = _ipv4(value)
        if octets is None:
            return None
        a, b = octets[0], octets[1]
        return (
            a in (0, 10, 127)
            or (a == 172 and 16 <= b <= 31)
            or (a == 192 and b == 168)
            or (a == 169 and b == 254)
            or (a == 100 and 64 <= b <= 127)
        )
    if len(value) > 45:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:  # ::ffff:192.168.0.1
        return _ip_private(str(address.ipv4_mapped))
    return bool(address.is_loopback or address.is_link_local or address in _ULA or address.is_unspecified)


_ULA = ipaddress.ip_network("fc00::/7")


def is_ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address, private or not."""
    return _ip_private(value) is not None


def is_public_ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address outside the private, loopback, link-local and shared ranges."""
    return _ip_private(value) is False


def is_private_ip_address(value: str) -> bool:
    """An address in a private (RFC 1918, ``fc00::/7``), loopback, link-local or shared (CGNAT) range."""
    return _ip_private(value) is True


VERSION = re.compile(r"[vV]?(\d{1,4})(?:\.(\d{1,4})){1,3}(?:[-+~_ ]?[0-9A-Za-z][0-9A-Za-z.+-]*)?")


def is_version(value: str) -> bool:
    """A version number (``1.2.3``, ``v2.10-beta``, ``13.15.12.14``), not an address, a phone nor an amount: three
    parts or more (two with a ``v``), no part with a leading zero, not grouped 3-3-4, and four parts only when
    all are below 100, as almost no public IP address is."""
    text = value.strip()
    match = VERSION.fullmatch(text)
    if match is None:
        return False
    parts = VERSION_PARTS.match(text.lstrip("vV"))[0].split(".")  # type: ignore[index]
    if len(parts) < 3 and text[:1] not in "vV":
        return False
    if any(len(part) > 1 and part[0] == "0" for part in parts) or [len(part) for part in parts] == [3, 3, 4]:
        return False
    return len(parts) != 4 or all(int(part) < 100 for part in parts)


VERSION_PARTS = re.compile(r"\d+(?:\.\d+)*")


MAC = re.compile(
    r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
)


def is_mac_address(value: str) -> bool:
    """A MAC address with its separators: ``00:1a:2b:3c:4d:5e``, ``00-1A-...``, ``001a.2b3c.4d5e``."""
    return MAC.fullmatch(value.strip()) is not None


# -- national identifiers ----------------------------------------------------------------------------


def is_ssn(value: str) -> bool:
    """A US social security number written ``123-45-6789`` (never 000, 666 or 9xx first)."""
    return len(value) == 11 and SSN.fullmatch(value) is not None


BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def is_bsn(value: str) -> bool:
    """A Dutch burgerservicenummer: nine digits (eight with the leading zero lost) passing the 11-test."""
    digits = _digits(value, " .-")
    if digits is None or len(digits) not in (8, 9):
        return False
    total = sum(int(char) * weight for char, weight in zip(digits.zfill(9), BSN_WEIGHTS, strict=True))
    return total % 11 == 0 and total != 0


PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
PESEL_CENTURY = {0: 1900, 1: 2000, 2: 2100, 3: 2200, 4: 1800}


def is_pesel(value: str) -> bool:
    """A Polish PESEL: eleven digits, a real date of birth (the month carries the century), the check digit."""
    digits = _digits(value, " -")
    if digits is None or len(digits) not in (10, 11):
        return False
    digits = digits.zfill(11)
    total = sum(int(char) * weight for char, weight in zip(digits, PESEL_WEIGHTS, strict=False))
    if (10 - total % 10) % 10 != int(digits[10]):
        return False
    month = int(digits[2:4])
    year = PESEL_CENTURY[month // 20] + int(digits[:2])
    return _real_date(year, month % 20, int(digits[4:6]))


PERSONNUMMER = re.compile(r"(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)")


def is_personnummer(value: str) -> bool:
    """A Swedish personnummer or samordningsnummer (``YYMMDD-NNNC``, ``YYYYMMDDNNNC``): a real date, Luhn."""
    match = PERSONNUMMER.fullmatch(value.strip())
    if match is None:
        return False
    century, year, month, day, _, serial, check = match.groups()
    if (century and century not in ("18", "19", "20")) or not luhn_valid(year + month + day + serial + check):
        return False
    day_number = int(day) - 60 if int(day) > 60 else int(day)  # samordningsnummer: day + 60
    years = [int(century + year)] if century else [1900 + int(year), 2000 + int(year)]
    return any(_real_date(full_year, int(month), day_number) for full_year in years)


VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    """Whether a string of digits passes the Verhoeff check (its last digit the check digit)."""
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = VERHOEFF_D[check][VERHOEFF_P[position % 8][int(char)]]
    return check == 0


def is_aadhaar(value: str) -> bool:
    """An Indian Aadhaar number: twelve digits, never starting with 0 or 1, passing the Verhoeff check."""
    digits = _digits(value, " -")
    return digits is not None and len(digits) == 12 and digits[0] not in "01" and verhoeff_valid(digits)


def _cpf_digit(body: str) -> int:
    total = sum(int(char) * weight for char, weight in zip(body, range(len(body) + 1, 1, -1), strict=True))
    return total * 10 % 11 % 10


def is_cpf(value: str) -> bool:
    """A Brazilian CPF (``123.456.789-09``): eleven digits, not all alike, two mod-11 check digits."""
    digits = _digits(value, " .-/")
    if digits is None or len(digits) not in (10, 11):
        return False
    digits = digits.zfill(11)
    if len(set(digits)) == 1:
        return False
    return _cpf_digit(digits[:9]) == int(digits[9]) and _cpf_digit(digits[:10]) == int(digits[10])


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
SPANISH_ID = re.compile(r"([XYZ]?)(\d{7,8})([A-Z])")
PT_NIF_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def is_nif(value: str) -> str | None:
    """A person's tax number in Spain (DNI ``12345678Z`` or NIE ``X1234567L``: the letter is the number mod 23)
    or Portugal (nine digits, 1-3 first for a person, mod-11 check digit)."""
    compact = value.strip().upper().replace("-", "").replace(" ", "").replace(".", "")
    if (match := SPANISH_ID.fullmatch(compact)) is not None:
        prefix, number, letter = match.groups()
        if (prefix and len(number) != 7) or (not prefix and len(number) != 8):
            return None
        value_number = int(str("XYZ".index(prefix)) + number) if prefix else int(number)
        return ("NIE" if prefix else "DNI") if DNI_LETTERS[value_number % 23] == letter else None
    if compact.isascii() and compact.isdigit() and len(compact) == 9 and compact[0] in "123":
        total = sum(int(char) * weight for char, weight in zip(compact, PT_NIF_WEIGHTS, strict=False))
        check = 11 - total % 11
        return "NIF (Portugal)" if (0 if check >= 10 else check) == int(compact[8]) else None
    return None


CODICE_FISCALE = re.compile(r"[A-Z]{6}[0-9LMNP-V]{2}[ABCDEHLMPRST][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]")
"""Digits, or the omocodia letters that stand for them (L-V without O)."""
CF_ODD_VALUES = "1 0 5 7 9 13 15 17 19 21 1 0 5 7 9 13 15 17 19 21 2 4 18 20 11 3 6 8 12 14 16 10 22 25 24 23"
CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", map(int, CF_ODD_VALUES.split(" ")), strict=True))
CF_EVEN = {**{str(digit): digit for digit in range(10)}, **{chr(65 + index): index for index in range(26)}}
CF_OMOCODIA = str.maketrans("LMNPQRSTUV", "0123456789")


def is_codice_fiscale(value: str) -> bool:
    """An Italian codice fiscale of a person: 16 characters (omocodia letters allowed), a real day, the check letter."""
    compact = value.strip().upper().replace(" ", "")
    if len(compact) != 16 or CODICE_FISCALE.fullmatch(compact) is None:
        return False
    day = int(compact[9:11].translate(CF_OMOCODIA))
    if not (1 <= day <= 31 or 41 <= day <= 71):
        return False
    total = sum(CF_ODD[char] for char in compact[0:15:2]) + sum(CF_EVEN[char] for char in compact[1:15:2])
    return chr(65 + total % 26) == compact[15]


def is_steuer_id(value: str) -> bool:
    """A German Steuer-ID (IdNr): eleven digits, no leading zero, one digit twice or thrice in the first ten
    (three never in a row), the ISO 7064 MOD 11,10 check digit."""
    digits = _digits(value, " /")
    if digits is None or len(digits) != 11 or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(char) for char in set(digits[:10])), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] > 1):
        return False
    if counts[0] == 3 and any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(8)):
        return False
    product = 10
    for char in digits[:10]:
        total = (int(char) + product) % 10 or 10
        product = 2 * total % 11
    return (11 - product) % 10 == int(digits[10])


NIR = re.compile(r"([1-478])(\d{2})(\d{2})(\d{2}|2[AB])(\d{3})(\d{3})(\d{2})")


def is_nir(value: str) -> bool:
    """A French social security number (NIR, INSEE): sex, year, month, place, order and the key 97 - n mod 97."""
    compact = value.strip().upper().replace(" ", "").replace(".", "").replace("-", "")
    match = NIR.fullmatch(compact)
    if match is None:
        return False
    month = int(match[3])
    if not (1 <= month <= 12 or month == 20 or 30 <= month <= 42 or month >= 50):
        return False
    number = int(compact[:13].replace("2A", "19").replace("2B", "18"))
    return 97 - number % 97 == int(match[7])


NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-Z]")


def is_nino(value: str) -> bool:
    """A UK National Insurance number by its format: two letters, six digits, a letter (it has no check digit)."""
    return NINO.fullmatch(value.strip().upper()) is not None


# -- companies ---------------------------------------------------------------------------------------

COUNTRY_CODES = (
    "AD AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD CF CG CH CI CL CM CN "
    "CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FM FR GA GB GD GE GH GM GN GQ GR GT GW GY HK HN HR "
    "HT HU ID IE IL IN IQ IR IS IT JM JO JP KE KG KH KI KM KN KP KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD "
    "ME MG MH MK ML MM MN MO MR MT MU MV MW MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PS PT PW PY QA "
    "RO RS RU RW SA SB SC SD SE SG SI SK SL SM SN SO SR SS ST SV SY SZ TD TG TH TJ TL TM TN TO TR TT TV TW TZ UA UG "
    "US UY UZ VC VE VN VU WS XI YE ZA ZM ZW"
)
COUNTRIES = frozenset(COUNTRY_CODES.split(" "))

VAT_FORMATS = re.compile(
    r"ATU\d{8}|BE[01]\d{9}|BG\d{9,10}|CHE\d{9}(?:MWST|TVA|IVA)?|CY\d{8}[A-Z]|CZ\d{8,10}|DE\d{9}|DK\d{8}|EE\d{9}"
    r"|EL\d{9}|ES[A-Z0-9]\d{7}[A-Z0-9]|FI\d{8}|FR[A-HJ-NP-Z0-9]{2}\d{9}|GB(?:\d{9}|\d{12}|GD\d{3}|HA\d{3})"
    r"|HR\d{11}|HU\d{8}|IE\d[A-Z0-9+*]\d{5}[A-Z]{1,2}|IT\d{11}|LT(?:\d{9}|\d{12})|LU\d{8}|LV\d{11}|MT\d{8}"
    r"|NL\d{9}B\d{2}|NO\d{9}(?:MVA)?|PL\d{10}|PT\d{9}|RO\d{2,10}|SE\d{10,12}01|SI\d{8}|SK\d{10}|XI\d{9}"
)
"""VAT identification numbers (VIES formats), with their country prefix."""
CIF = re.compile(r"[ABCDEFGHJNPQRSUVW]\d{7}[0-9A-J]")
GSTIN = re.compile(r"\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z]")


def _cnpj_valid(digits: str) -> bool:
    def digit(body: str) -> int:
        weights = range(len(body) - 7, 1, -1)
        total = sum(int(char) * weight for char, weight in zip(body, [*weights, *range(9, 1, -1)], strict=True))
        rest = total % 11
        return 0 if rest < 2 else 11 - rest

    return len(set(digits)) > 1 and digit(digits[:12]) == int(digits[12]) and digit(digits[:13]) == int(digits[13])


def _cif_valid(cif: str) -> bool:
    digits = [int(char) for char in cif[1:8]]
    total = sum(digits[1::2]) + sum(DOUBLED[digit] for digit in digits[0::2])
    control = (10 - total % 10) % 10
    letter = "JABCDEFGHI"[control]
    if cif[0] in "KPQRSNW":
        return cif[8] == letter
    if cif[0] in "ABEH":
        return cif[8] == str(control)
    return cif[8] in (str(control), letter)


def is_company_id(value: str) -> str | None:
    """A company's number, not a person's: a VAT number with its country prefix, a Spanish CIF, a Brazilian
    CNPJ (check digits), an Indian GSTIN."""
    compact = value.strip().upper().replace(" ", "").replace(".", "").replace("-", "")
    if len(compact) < 7 or compact.isdigit():  # each form has letters, or the CNPJ's slash
        return None
    if compact[:2].isalpha() and VAT_FORMATS.fullmatch(compact):
        return "VAT number"
    if CIF.fullmatch(compact) and _cif_valid(compact):
        return "CIF"
    if GSTIN.fullmatch(compact):
        return "GSTIN"
    base, slash, branch = compact.partition("/")  # written 11.222.333/0001-81: one slash after the base
    digits = base + branch
    if slash and len(base) == 8 and len(digits) == 14 and digits.isascii() and digits.isdigit() and _cnpj_valid(digits):
        return "CNPJ"
    return None


# -- identity documents ------------------------------------------------------------------------------

DOCUMENT_NUMBER = re.compile(r"[A-Za-z0-9]{1,4}(?:[ -]?[A-Za-z0-9]{1,8}){0,3}")


def is_document_number(value: str) -> bool:
    """Written like an identity document's number: 5 to 20 letters and digits (a few spaces or dashes), with
    a digit; not a date, a name or a sentence."""
    text = value.strip()
    if not 5 <= len(text) <= 24 or DOCUMENT_NUMBER.fullmatch(text) is None or DATE_LIKE.fullmatch(text):
        return False
    compact = text.replace(" ", "").replace("-", "")
    return 5 <= len(compact) <= 20 and any(char.isdigit() for char in compact)


ACCOUNT_NUMBER = re.compile(r"[A-Za-z0-9]{1,8}(?:[ -]?[A-Za-z0-9]{1,12}){0,6}")


def is_account_number(value: str) -> bool:
    """Written like a bank account number (BBAN, national account): 5 to 34 letters and digits, mostly digits."""
    text = value.strip()
    if not 5 <= len(text) <= 42 or ACCOUNT_NUMBER.fullmatch(text) is None or DATE_LIKE.fullmatch(text):
        return False
    compact = text.replace(" ", "").replace("-", "")
    return 5 <= len(compact) <= 34 and sum(char.isdigit() for char in compact) * 2 > len(compact)


GENDER_WORDS = (
    "m f w d x u o h v k male female man woman men women other diverse divers unknown nonbinary non-binary "
    "maennlich mannlich weiblich mann frau homme femme masculin feminin hombre mujer masculino femenino "
    "uomo donna maschio femmina maschile femminile mulher vrouw mannelijk vrouwelijk meski zenski "
    "mezczyzna kobieta kvinna kvinnlig manlig annat inconnu otro altro outro anders inne"
)
GENDERS = frozenset(GENDER_WORDS.split(" "))


def is_gender(value: str) -> bool:
    """A word for a gender or sex in one of the languages of the rules (``F``, ``female``, ``weiblich``, ``mujer``)."""
    return len(value) <= 20 and fold(value.strip().rstrip(".")) in GENDERS


# -- personal data inside free text ------------------------------------------------------------------

TEXT_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
TEXT_DIGITS = re.compile(r"\d(?:[ -]?\d){12,18}(?![\d])")
TEXT_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
TEXT_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d{1,3}[ .-]?(?:\(0\)[ .-]?)?(?:\(?\d{1,5}\)?[ .-]?){1,5}\d{2,}"
    r"|\(\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{2,4}"
    r"|0\d{1,4}[ /-]\d{3,8}(?:[ -]\d{2,4}){0,3}"
    r"|0\d(?:[ .]\d{2}){4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4})(?![\w.-]?\d)"
)
DIGIT_RUN = re.compile(r"\d{3}")


def sensitive_in_text(value: str) -> str | None:
    """What sensitive personal data a longer value holds somewhere: an email address, a card number (issuer
    prefix and Luhn) or an IBAN (mod 97); None if none."""
    if "@" in value and TEXT_EMAIL.search(value):
        return "email"
    if DIGIT_RUN.search(value) is None:
        return None
    for match in TEXT_IBAN.finditer(value):
        if is_iban(match[0]):
            return "IBAN"
    for match in TEXT_DIGITS.finditer(value):
        if is_branded_card_number(match[0].replace(" ", "").replace("-", "")):
            return "card number"
    return None


def phone_in_text(value: str) -> str | None:
    """A phone number somewhere in a longer value (international, ``(0xx)``, national with trunk ``0``)."""
    if DIGIT_RUN.search(value) is None and not re.search(r"\d{2}[ .-]\d{2}", value):
        return None
    for match in TEXT_PHONE.finditer(value):
        digits = len(NON_DIGIT.sub("", match[0]))
        if 8 <= digits <= 15 and not DATE_LIKE.fullmatch(match[0].strip()):
            return "phone"
    return None


# -- the registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueCheck:
    """A built-in value check: the test of one value, what it checks (for reasons), what shapes can pass."""

    name: str
    test: Callable[[str], object]
    description: str
    shapes: frozenset[tuple[str, int, str]] | None = None
    """The :func:`shape` of every value that can pass; None: any value may."""
    in_text: bool = field(default=False)
    """The check looks for personal data inside longer values: a few hits are enough."""


def shapes(
    kinds: str, lengths: range | tuple[int, ...] = range(MAX_SHAPE_LENGTH + 1), marks: str = MARKS
) -> frozenset[tuple[str, int, str]]:
    """The shapes of the given kinds, lengths and punctuation marks."""
    return frozenset((kind, length, mark) for kind in kinds for length in lengths for mark in marks)


IP_SHAPES = shapes("d", range(4, 13), "3") | shapes("da", range(1, 33), ":")
BANK_CODES = shapes("d", (9,), "p") | shapes("al", (8, 11), "p")
COMPANY_IDS = shapes("a", range(7, 19), "p.") | shapes("d", (14,), "p.")
TEXT = range(10, MAX_SHAPE_LENGTH + 1)
_BUILTIN = [
    ValueCheck("email", is_email, "email address", shapes("e")),
    ValueCheck(
        "phone", is_phone, "phone number format", shapes("d", range(8, 17), "p.") | shapes("a", range(9, 26), "p.")
    ),
    ValueCheck("phone_like", is_phone_like, "written like a phone number", shapes("da", range(7, 26), "p.")),
    ValueCheck("credit_card", is_card_number, "Luhn", shapes("d", range(13, 20), "p")),
    ValueCheck("cvv", is_cvv, "3 or 4 digits", shapes("d", (3, 4), "p")),
    ValueCheck("iban", is_iban, "mod-97", shapes("a", range(15, 35), "p")),
    ValueCheck("bank_code", is_bank_code, "not personal", BANK_CODES),
    ValueCheck("ip_address", is_public_ip_address, "public IPv4/IPv6", IP_SHAPES),
    ValueCheck("private_ip_address", is_private_ip_address, "private range", IP_SHAPES),
    ValueCheck(
        "version", is_version, "version-like", shapes("d", range(2, 17), "3.") | shapes("a", range(3, 40), "3.")
    ),
    ValueCheck("mac_address", is_mac_address, "MAC address", shapes("adl", (12,), "p:.")),
    ValueCheck("ssn", is_ssn, "US SSN format", shapes("d", (9,), "p")),
    ValueCheck("bsn", is_bsn, "11-test", shapes("d", (8, 9), "p.")),
    ValueCheck("pesel", is_pesel, "PESEL checksum and date", shapes("d", (10, 11), "p")),
    ValueCheck("personnummer", is_personnummer, "Luhn and date", shapes("d", (10, 12), "p")),
    ValueCheck("aadhaar", is_aadhaar, "Verhoeff", shapes("d", (12,), "p")),
    ValueCheck("cpf", is_cpf, "CPF check digits", shapes("d", (10, 11), "p.")),
    ValueCheck("nif", is_nif, "check letter or digit", shapes("ad", (9,), "p.")),
    ValueCheck("codice_fiscale", is_codice_fiscale, "check letter", shapes("a", (16,), "p")),
    ValueCheck("steuer_id", is_steuer_id, "ISO 7064 MOD 11,10", shapes("d", (11,), "p")),
    ValueCheck("nir", is_nir, "key mod 97", shapes("da", (15,), "p.")),
    ValueCheck("nino", is_nino, "NINO format", shapes("a", (9,), "p")),
    ValueCheck("company_id", is_company_id, "not personal", COMPANY_IDS),
    ValueCheck("document_number", is_document_number, "document number format", shapes("ad", range(5, 21), "p")),
    ValueCheck("account_number", is_account_number, "account number format", shapes("ad", range(5, 35), "p")),
    ValueCheck("gender", is_gender, "gender words", shapes("l", range(1, 21))),
    ValueCheck("birth_date", is_birth_date, "plausible birth date", shapes("da", range(6, 24), "p.:")),
    ValueCheck("person_name", is_person_name, "bundled name list", shapes("l", range(2, 80))),
    ValueCheck("full_name", is_full_name, "bundled name list", shapes("l", range(4, 80))),
    ValueCheck("name_like", is_name_like, "letters only", shapes("l", range(1, MAX_SHAPE_LENGTH + 1))),
    ValueCheck("sensitive_in_text", sensitive_in_text, "email, card or IBAN inside", shapes("eao", TEXT), True),
    ValueCheck("phone_in_text", phone_in_text, "phone number inside", shapes("ao", range(12, 65)), True),
]
CHECKS: dict[str, ValueCheck] = {check.name: check for check in _BUILTIN}
"""Built-in value checks by the name a PII rule's ``values`` gives."""
