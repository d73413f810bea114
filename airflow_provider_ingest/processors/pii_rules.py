"""PII rules: what a column's name, type and sample values must look like to be tagged, and the built-in set.

Tags follow OpenMetadata's PII classification and its auto-classification mapping: ``PII.Sensitive``
for data whose disclosure can cause harm (email, person name, card number, IBAN, SSN, national id,
passport, IP address), ``PII.NonSensitive`` for personal data easily found elsewhere (phone, street
address and postal code, birth date, gender, nationality).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_provider_ingest.patterns import NamePatterns, compile_pattern
from airflow_provider_ingest.processors.pii_checks import CHECKS
from airflow_provider_ingest.records import DataType

SENSITIVE = "PII.Sensitive"
NON_SENSITIVE = "PII.NonSensitive"

CheckName = Literal["email", "phone", "credit_card", "iban", "ip_address", "ssn", "birth_date"]

D = DataType
TEXT = [D.CHAR, D.VARCHAR, D.STRING, D.TEXT, D.MEDIUMTEXT, D.CLOB]
NUMBERS = [D.SMALLINT, D.INT, D.BIGINT, D.NUMBER, D.NUMERIC, D.DECIMAL]
DATES = [D.DATE, D.DATETIME, D.TIMESTAMP, D.TIMESTAMPZ]
NUMBER_SUFFIX = r"(_?(number|num|no|nr))?"


class PiiRule(BaseModel):
    """One kind of personal data; in a workflow file, a changed built-in rule gives only what it changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str = Field(default=SENSITIVE, pattern=r"^[^.]+\..+$", description="tag FQN to give: Classification.Tag")
    names: list[str] = Field(default_factory=list, description="whole-name regexes on the column name, any case")
    exclude_names: list[str] = Field(default_factory=list, description="column names this rule never matches")
    data_types: list[DataType] = Field(default_factory=list, description="column types it applies to; empty: any")
    confidence: float = Field(default=0.8, ge=0, le=1, description="confidence of a match by name alone")
    values: CheckName | None = Field(default=None, description="built-in check of sample values")
    value_pattern: str | None = Field(default=None, description="or: a whole-value regex sample values must match")
    by_values_alone: bool = Field(default=False, description="samples that pass tag a column whatever its name")
    value_confidence: float = Field(default=0.95, ge=0, le=1, description="confidence when all samples pass")
    enabled: bool = True

    @field_validator("names", "exclude_names")
    @classmethod
    def _names_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _compiles(pattern)
        return patterns

    @field_validator("value_pattern")
    @classmethod
    def _value_pattern_compiles(cls, pattern: str | None) -> str | None:
        return pattern if pattern is None else _compiles(pattern)

    @model_validator(mode="after")
    def _one_value_check(self) -> PiiRule:
        if self.values is not None and self.value_pattern is not None:
            raise ValueError("give values or value_pattern, not both")
        return self

    def changed_by(self, change: PiiRule) -> PiiRule:
        """This rule with the fields ``change`` sets (from the workflow file) replaced."""
        return self.model_copy(update={name: getattr(change, name) for name in change.model_fields_set})


def _compiles(pattern: str) -> str:
    compile_pattern(pattern, ignore_case=True)  # a PatternError (a ValueError) names what RE2 refuses
    return pattern


def _rule(tag: str, names: list[str], **settings: object) -> PiiRule:
    return PiiRule(tag=tag, names=names, **settings)  # type: ignore[arg-type]


BUILTIN_RULES: dict[str, PiiRule] = {
    "email": _rule(
        SENSITIVE,
        [r".*e_?mail.*"],
        exclude_names=[r".*e_?mail_?(verified|confirmed|opt_?in|opt_?out|sent|count|status|type|enabled|domain)"],
        data_types=TEXT,
        confidence=0.9,
        values="email",
        by_values_alone=True,
    ),
    "person_name": _rule(
        SENSITIVE,
        [
            r".*(first|last|middle|given|family|maiden|full|legal|nick|sur|fore)_?name",
            r".*(customer|client|person|employee|contact|patient|holder|recipient|passenger|member|user)_?(full_?)?name",
        ],
        data_types=TEXT,
    ),
    "credit_card": _rule(
        SENSITIVE,
        [r".*(credit|debit)_?card.*", r".*card_?(number|num|no|nr)", r"cc_?(number|num|no|nr)", r"pan"],
        exclude_names=[r".*card_?(type|brand|network|expir.*|holder.*|last_?(4|four)|count|fee|limit|issuer|token|id)"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="credit_card",
        by_values_alone=True,
    ),
    "iban": _rule(SENSITIVE, [r".*iban.*"], data_types=TEXT, confidence=0.9, values="iban", by_values_alone=True),
    "bank_account": _rule(
        SENSITIVE,
        [r".*bank_?(account|acct|acc)" + NUMBER_SUFFIX, r".*routing" + NUMBER_SUFFIX],
        data_types=TEXT + NUMBERS,
    ),
    "ssn": _rule(
        SENSITIVE,
        [r".*ssn.*", r".*social_?security.*"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="ssn",
        by_values_alone=True,
    ),
    "national_id": _rule(
        SENSITIVE,
        [
            r".*national_?(id|identity|identification|insurance).*",
            r".*(tax|fiscal)_?(id|code)" + NUMBER_SUFFIX,
            r".*identity_?card.*",
            r"tin|itin|nino",
        ],
        data_types=TEXT + NUMBERS,
    ),
    "passport": _rule(SENSITIVE, [r".*passport.*"], data_types=TEXT + NUMBERS, confidence=0.85),
    "driver_license": _rule(SENSITIVE, [r".*driv(er|ers|ing)_?licen[cs]e.*"], data_types=TEXT + NUMBERS),
    "ip_address": _rule(
        SENSITIVE,
        [r".*ip_?addr(ess)?.*", r"ip|ipv4|ipv6|.*_ip", r"(client|remote|source|user)_?ip.*"],
        data_types=[*TEXT, D.INET, D.CIDR],
        confidence=0.85,
        values="ip_address",
        by_values_alone=True,
    ),
    "phone": _rule(
        NON_SENSITIVE,
        [r".*(phone|mobile|msisdn|fax).*", r"tel" + NUMBER_SUFFIX, r".*_tel"],
        exclude_names=[r".*(phone|mobile)_?(verified|confirmed|type|count|model|os|brand|app)"],
        data_types=TEXT,
        values="phone",
        by_values_alone=True,
    ),
    "address": _rule(
        NON_SENSITIVE,
        [r".*(street|address|addr_?line|house_?(number|num|no|nr)).*", r".*(postal|post|zip)_?code.*", r"zip|postcode"],
        exclude_names=[
            r".*(ip|e_?mail|mac|web|url|wallet|contract|memory|remote|server|host)_?addr(ess)?.*",
            r".*address_?(type|id|count|verified|status)",
        ],
        data_types=TEXT + NUMBERS,
        confidence=0.7,
    ),
    "birth_date": _rule(
        NON_SENSITIVE,
        [r".*birth.*", r"(.*_)?dob(_.*)?", r"born_?(on|at|date)"],
        exclude_names=[r".*birth_?(place|country|city|name)"],
        data_types=TEXT + DATES,
        confidence=0.85,
        values="birth_date",
    ),
    "gender": _rule(NON_SENSITIVE, [r"gender|sex|.*_gender.*|.*_sex|gender_.*"], confidence=0.7),
    "nationality": _rule(NON_SENSITIVE, [r".*(nationality|citizenship|ethnicity).*"], confidence=0.7),
}
"""The built-in rules, by name; a workflow file changes, disables or adds to them."""


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to match: name patterns compiled, types as a set, the value check as a function."""

    name: str
    rule: PiiRule
    patterns: NamePatterns
    types: frozenset[DataType]
    check: Callable[[str], object] | None

    @classmethod
    def of(cls, name: str, rule: PiiRule) -> CompiledRule:
        check = CHECKS[rule.values] if rule.values else None
        if rule.value_pattern is not None:
            check = compile_pattern(rule.value_pattern).fullmatch
        patterns = NamePatterns(include=rule.names, exclude=rule.exclude_names, ignore_case=True)
        return cls(name, rule, patterns, frozenset(rule.data_types), check)

    def fits(self, data_type: DataType) -> bool:
        """Whether the rule applies to columns of this type."""
        return not self.types or data_type in self.types


def effective_rules(changes: dict[str, PiiRule], *, builtin: bool = True) -> dict[str, PiiRule]:
    """The built-in rules (unless ``builtin`` is off) changed and extended by ``changes``; disabled ones left out."""
    rules = dict(BUILTIN_RULES) if builtin else {}
    for name, change in changes.items():
        rules[name] = rules[name].changed_by(change) if name in rules else change
    return {name: rule for name, rule in rules.items() if rule.enabled}
