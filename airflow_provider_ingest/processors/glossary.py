"""Rule files for the ``enrich`` processor: a small glossary kept next to the workflow, in YAML or CSV.

YAML: a list of rules (or a mapping with a ``rules`` list), each written as in the workflow file.
CSV: one rule per row, with the columns ``fqn`` or ``column``, and any of ``kinds``, ``description``,
``overwrite``, ``tags``, ``glossary_terms``, ``owners`` and ``property.<name>``; lists are separated
by ``;``, an owner ``team:<name>`` is a team. Empty cells are left out.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import yaml

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.staging.paths import open_read

LIST_SEPARATOR = ";"
PROPERTY_PREFIX = "property."
CSV_COLUMNS = ("fqn", "column", "kinds", "description", "overwrite", "tags", "glossary_terms", "owners")


class RuleFileError(ConfigurationError):
    """A rule file that cannot be read, naming the file and the place in it."""


def read_rule_file(uri: str) -> list[tuple[str, dict[str, Any]]]:
    """The raw rules of a ``.yaml``/``.yml``/``.json`` or ``.csv`` file, each with where it stands in the file."""
    try:
        with open_read(uri) as handle:
            data = handle.read()
    except OSError as error:
        raise RuleFileError(f"cannot read rule file {uri}: {error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RuleFileError(f"{uri}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    if uri.lower().endswith(".csv"):
        return _csv_rules(uri, text)
    return _yaml_rules(uri, text)


def _yaml_rules(uri: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RuleFileError(f"{uri}: not valid YAML: {error}") from None
    if isinstance(data, dict) and set(data) == {"rules"}:
        data = data["rules"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise RuleFileError(f"{uri}: expected a list of rules (mappings), or a mapping with a 'rules' list")
    return [(f"{uri}: rule {index}", item) for index, item in enumerate(data, start=1)]


def _csv_rules(uri: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or ())
    unknown = [c for c in columns if c not in CSV_COLUMNS and not c.startswith(PROPERTY_PREFIX)]
    if unknown:
        raise RuleFileError(f"{uri}: unknown columns {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}, property.*")
    if twice := sorted(column for column, count in Counter(columns).items() if count > 1):
        raise RuleFileError(f"{uri}: line 1: column(s) {', '.join(twice)} named more than once in the header")
    rules = []
    for row in reader:
        if None in row:  # more cells than the header names
            raise RuleFileError(f"{uri}: line {reader.line_num}: {len(columns) + len(row[None])} cells, the header"
                                f" names {len(columns)}")  # fmt: skip
        rules.append((f"{uri}: line {reader.line_num}", _csv_rule(row)))
    return rules


def _csv_rule(row: dict[str, str | None]) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    for key, value in row.items():
        value = (value or "").strip()
        if not value:
            continue
        if key.startswith(PROPERTY_PREFIX):
            rule.setdefault("custom_properties", {})[key.removeprefix(PROPERTY_PREFIX)] = value
        elif key == "glossary_terms":
            rule.setdefault("tags", []).extend({"tag_fqn": term, "source": "glossary"} for term in _items(value))
        elif key == "tags":
            rule.setdefault("tags", []).extend(_items(value))
        elif key in ("kinds", "owners"):
            rule[key] = _items(value)
        else:
            rule[key] = value
    return rule


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
