"""Writes ``airflow_provider_ingest/processors/data/person_names.txt``, the bundled name list, from Faker.

Run by hand when the list should change (``pip install -e '.[bench]'`` first); the processor only reads
the committed file and never needs Faker. Names are taken from the person providers of the locales below
(given names and surnames, Latin script), folded to lower-case ASCII, sorted and deduplicated.

Usage: ``python bench/make_person_names.py``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import faker

from airflow_provider_ingest.processors.pii_names import NAMES_FILE, fold

LOCALE_NAMES = (
    "en_US en_GB en_IE en_IN de_DE de_AT de_CH fr_FR fr_CH fr_BE es_ES es_MX es_AR it_IT pt_BR pt_PT "
    "nl_NL nl_BE pl_PL sv_SE da_DK no_NO fi_FI cs_CZ"
)
LOCALES = LOCALE_NAMES.split(" ")
TARGET = Path(__file__).resolve().parents[1] / "airflow_provider_ingest" / "processors" / "data" / NAMES_FILE


def names(provider: type, part: str) -> set[str]:
    """Every name in the provider's attributes named with ``part`` (tuples, lists or weighted dicts)."""
    found: set[str] = set()
    for attribute in dir(provider):
        if part in attribute and isinstance(value := getattr(provider, attribute), (tuple, list, dict)):
            for name in value:
                folded = fold(str(name))
                if folded.replace("-", "").replace("'", "").replace(" ", "").isalpha():
                    found.update(folded.split())
    return found


def main() -> None:
    given: set[str] = set()
    surnames: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        given |= names(provider, "first_name")
        surnames |= names(provider, "last_name")
    header = [
        "# Given names and surnames for the pii processor's person-name check, folded to lower-case ASCII.",
        f"# Source: the person providers of Faker {faker.VERSION} (https://github.com/joke2k/faker), locales:",
        f"# {' '.join(LOCALES)}.",
        "# Faker is distributed under the MIT License, Copyright (c) 2012 Daniele Faraglia; its name lists",
        "# come from public name statistics. Regenerate with bench/make_person_names.py.",
    ]

    def block(title: str, words: set[str]) -> list[str]:
        ordered = sorted(words)
        return [title, *(" ".join(ordered[i : i + 12]) for i in range(0, len(ordered), 12))]

    lines = [*header, *block("[given]", given), *block("[surname]", surnames)]
    TARGET.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{TARGET}: {len(given)} given names, {len(surnames)} surnames")


if __name__ == "__main__":
    main()
