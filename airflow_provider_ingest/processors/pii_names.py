"""Person names recognised from values, by a bundled list of given names and surnames (no model, no download).

The list, ``data/person_names.txt``, holds given names and surnames folded to lower-case ASCII; its header
names its source and license. A value is a person's name when it is written like one (one to five words
of letters, capitalised or all in capitals; titles such as ``Dr.``, ``Frau``, ``Sig.ra`` and suffixes
such as ``Jr.``, ``PhD`` set aside) and the list knows it: the first word is a known given name (or,
``Surname, Given``, the word after the comma), or every word is a known name. Words that make a
company (``GmbH``, ``Ltd``, ``and``), a place or a street (``Port``, ``Rue``, ``...straße``) say it is not.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

NAMES_FILE = "person_names.txt"

_SPECIAL = str.maketrans({"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "đ": "d", "Đ": "D"})
_SPECIAL.update(str.maketrans({"œ": "oe", "Œ": "OE", "þ": "th", "ð": "d", "\u0131": "i", "\u2019": "'"}))


def fold(text: str) -> str:
    """Lower-case ASCII for comparing names: accents dropped (``Müller`` -> ``muller``, ``Łukasz`` -> ``lukasz``)."""
    text = text.translate(_SPECIAL)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return text.lower()


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """The bundled given names and surnames, folded (read once)."""
    given: set[str] = set()
    surnames: set[str] = set()
    target = given
    text = resources.files("airflow_provider_ingest.processors").joinpath("data", NAMES_FILE).read_text("utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line == "[given]":
            target = given
        elif line == "[surname]":
            target = surnames
        else:
            target.update(line.split())
    return frozenset(given), frozenset(surnames)


TITLES = _set(
    "mr mrs ms miss mx dr prof sir dame lady lord rev hon madam herr frau fraulein dipling diplkfm univprof ing "
    "m mme mlle me pr sr sra srta sres don dona dra sig sigra signa dott dottssa avv arch geom rag "
    "dhr mevr mw ir drs pan pani fru hr fr fro"
)
SUFFIXES = _set("jr sr ii iii iv v phd md dds dvm esq bsc ba beng msc ma mba llm cpa rn")
PARTICLES = _set("van von vom der den de del della dei di da das dos du la le ten ter te y e zu af al bin ibn")
NOT_A_PERSON = _set(
    # companies
    "gmbh ag kg kgaa ohg mbh ug ev inc llc ltd plc corp corporation co company sa sas sarl sasu srl spa snc sl slu "
    "bv nv vof ab hb kb oy as asa aps sp zoo sc sk group gruppe groupe grupo gruppo holding holdings stiftung "
    "partners partner associates sons and und et och og en ou or & "
    "foundation trust bank verein society cooperativa coop "
    # places and streets
    "city port lake north south east west new san santa sankt saint st bad mount fort ville town village "
    "street avenue road lane drive court boulevard way place square terrace crescent alley parkway highway "
    "trail plaza circle loop row walk path pike route stravenue rue chemin allee impasse quai cours calle "
    "camino carrer avenida paseo via viale vicolo piazza corso largo strada rua travessa alameda praca "
    "estrada rodovia straat laan plein weg gracht ulica ul pl al os aleja gatan gata vagen torg"
)
STREET_ENDINGS = ("strasse", "gasse", "platz", "allee", "damm", "ring", "laan", "straat", "plein", "gatan", "vagen")
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019.-][^\W\d_]+)*\.?")


def person_name_kind(value: str, *, full: bool) -> str | None:
    """What kind of person's name ``value`` is (``"full name"``, ``"given name"``, ``"surname"``), or None.

    With ``full``, only names of at least two words count.
    """
    if len(value) > 80 or not value or _DIGIT.search(value):
        return None
    given, surnames = name_lists()
    before, comma, after = value.partition(",")
    if comma:
        given_part, surname_part = _words(after), _words(before)
        words = given_part + surname_part if given_part and surname_part and "," not in after else None
    else:
        words = _words(value)
    if not words:
        return None
    folded = [fold(word.rstrip(".")) for word in words]
    while folded and folded[0].replace("-", "").replace(".", "") in TITLES:
        folded, words = folded[1:], words[1:]
    while folded and folded[-1].replace("-", "").replace(".", "") in SUFFIXES:
        folded, words = folded[:-1], words[:-1]
    named = [(word, key) for word, key in zip(words, folded, strict=True) if key not in PARTICLES]
    if not named or len(named) > 5 or (full and len(named) < 2):
        return None
    parts = [part for _, key in named for part in key.split("-")]
    if any(part in NOT_A_PERSON or part.endswith(STREET_ENDINGS) for part in parts):
        return None
    if not all(word[:1].isupper() for word, _ in named) and not all(key in given or key in surnames for key in parts):
        return None
    first = named[0][1].split("-")[0]
    if len(named) == 1:
        return "given name" if first in given else "surname" if all(p in surnames for p in parts) else None
    if first in given or all(part in given or part in surnames for part in parts):
        return "full name"
    return None


def _words(text: str) -> list[str] | None:
    words = text.split()
    return words if all(_WORD.fullmatch(word) for word in words) else None
