"""The ``pii`` processor: tags the columns that hold personal data, saying why and how sure.

A rule matches a column by name and type (confidence ``confidence``). When the column has enough
sample values (the ``sql`` source's ``sample_rows``), a rule with a value check is decided by the
values instead: enough must pass (``match_ratio``), or a name match is rejected (order numbers are
not card numbers), and a rule with ``by_values_alone`` tags a column whatever its name. Each column
gets at most one tag, the most confident (``PII.Sensitive`` on ties); a column already tagged in a
classification the rules give is left alone. The reason goes in the tag label's ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated

from pydantic import Field, model_validator

from airflow_provider_ingest.api import ComponentConfig, Processor, RunContext
from airflow_provider_ingest.patterns import PatternSet
from airflow_provider_ingest.processors.pii_checks import count_passing
from airflow_provider_ingest.processors.pii_rules import SENSITIVE, CompiledRule, PiiRule, effective_rules
from airflow_provider_ingest.records import Column, Record, Table, TagLabel

RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
NAME_CACHE_SIZE = 1 << 16


class PiiConfig(ComponentConfig):
    rules: dict[RuleName, PiiRule] = Field(
        default_factory=dict, description="new rules, or changes to built-in ones (only the fields given), by name"
    )
    builtin_rules: bool = Field(default=True, description="start from the built-in rules")
    use_samples: bool = Field(default=True, description="decide by sample values where a column has them")
    min_samples: int = Field(default=3, ge=1, description="fewer non-null samples: judged by name only")
    match_ratio: float = Field(default=0.8, gt=0, le=1, description="share of samples a value check must pass")
    min_confidence: float = Field(default=0.5, ge=0, le=1, description="less confident matches are not tagged")
    keep_samples: bool = Field(default=False, description="keep Column.samples for later processors")

    @model_validator(mode="after")
    def _rules_match_something(self) -> PiiConfig:
        for name, rule in effective_rules(self.rules, builtin=self.builtin_rules).items():
            if not rule.names and rule.values is None and rule.value_pattern is None:
                raise ValueError(f"PII rule {name!r} matches nothing: give it names, values or value_pattern")
        return self


class PiiProcessor(Processor):
    """Tags table columns ``PII.Sensitive`` or ``PII.NonSensitive`` by name, type and sample values."""

    type_name = "pii"
    config_class = PiiConfig
    config: PiiConfig

    def __init__(self, config: PiiConfig, context: RunContext) -> None:
        super().__init__(config, context)
        rules = effective_rules(config.rules, builtin=config.builtin_rules)
        self.rules = [CompiledRule.of(name, rule) for name, rule in rules.items()]
        self._by_values = [rule for rule in self.rules if rule.check is not None and rule.rule.by_values_alone]
        self._classifications = {rule.rule.tag.split(".", 1)[0] for rule in self.rules}
        named = [rule for rule in self.rules if rule.rule.names]
        self._name_rules = PatternSet([rule.patterns for rule in named], ignore_case=True), named
        self._named: Callable[[str], list[CompiledRule]] = lru_cache(maxsize=NAME_CACHE_SIZE)(self._match_names)

    def process(self, record: Record) -> Record:
        if not isinstance(record, Table) or not record.columns:
            return record
        self.report.count("columns", len(record.columns))
        columns = [self._column(column) for column in record.columns]
        if all(new is old for new, old in zip(columns, record.columns, strict=True)):
            return record
        return record.model_copy(update={"columns": columns})

    def classify(self, column: Column) -> TagLabel | None:
        """The tag the rules give this column, with its confidence and reason; None if no rule is sure enough."""
        samples = column.samples if self.config.use_samples and len(column.samples) >= self.config.min_samples else None
        named = self._named(column.name)
        candidates = named if samples is None else [*named, *(r for r in self._by_values if r not in named)]
        needed = math.ceil(self.config.match_ratio * len(samples) - 1e-9) if samples else 0
        best: tuple[tuple[float, bool], CompiledRule, str] | None = None
        for rule in candidates:
            if not rule.fits(column.data_type):
                continue
            by_name = rule in named
            if samples is not None and rule.check is not None:
                passed = count_passing(samples, rule.check, needed)
                if passed is None:
                    if by_name:
                        self.report.count("rejected_by_samples")
                    continue
                confidence = rule.rule.value_confidence * passed / len(samples)
                confidence = max(confidence, rule.rule.confidence) if by_name else confidence
                check = rule.rule.values or "value_pattern"
                reason = f"rule {rule.name!r}: {passed} of {len(samples)} sample values pass the {check} check"
                reason += "; the column name matches" if by_name else ""
            else:
                confidence = rule.rule.confidence
                reason = f"rule {rule.name!r}: the column name matches"
            key = (round(confidence, 2), rule.rule.tag == SENSITIVE)
            if best is None or key > best[0]:
                best = (key, rule, reason)
        if best is None or best[0][0] < self.config.min_confidence:
            return None
        (confidence, _), rule, reason = best
        return TagLabel(tag_fqn=rule.rule.tag, confidence=confidence, reason=reason)

    def _column(self, column: Column) -> Column:
        update: dict[str, object] = {}
        if any(tag.tag_fqn.split(".", 1)[0] in self._classifications for tag in column.tags):
            self.report.count("already_tagged")
        elif (label := self.classify(column)) is not None:
            update["tags"] = [*column.tags, label]
            self.report.count(f"tags_added:{label.tag_fqn}")
        if column.samples and not self.config.keep_samples:
            update["samples"] = []
        return column.model_copy(update=update) if update else column

    def _match_names(self, name: str) -> list[CompiledRule]:
        patterns, named = self._name_rules
        return [named[index] for index in patterns.matching(name)]
