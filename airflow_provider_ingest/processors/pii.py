"""The ``pii`` processor: tags the columns that hold personal data, saying why and how sure.

A rule matches a column by name and type (confidence ``confidence``); names are compared as written and
as tokens (``custFirstNm`` -> ``cust_first_nm``), and a rule may be kept to tables of people. When the
column has enough sample values (the ``sql`` source's ``sample_rows``), a rule with a value check is
decided by the values instead: enough must pass (``match_ratio``), or a name match is rejected (order
numbers are not card numbers), and a rule with ``by_values_alone`` tags a column whatever its name. A
check that looks *inside* longer values (free text) needs only its rule's ``match_ratio`` of hits. Each
column gets at most one decision, the most confident (the rule that also matched by name, then
``PII.Sensitive``, on ties); a rule without a tag says the data is not personal (a VAT number, a
routing number, a version, a private address) and leaves the column untagged. A column already tagged
in a classification the rules give is left alone. The reason goes in the tag label's ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, model_validator

from airflow_provider_ingest.api import ComponentConfig, Processor, RunContext, written_flag
from airflow_provider_ingest.patterns import PatternSet
from airflow_provider_ingest.processors.pii_checks import shape
from airflow_provider_ingest.processors.pii_rules import SENSITIVE, CompiledRule, PiiRule, effective_rules, tokenised
from airflow_provider_ingest.records import Column, Record, Table, TagLabel

RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
NAME_CACHE_SIZE = 1 << 16
SHAPE_CACHE_SIZE = 1 << 12


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


@dataclass(frozen=True)
class Decision:
    """What the rules say of one column: the rule, its tag (None: not personal data), confidence and reason."""

    rule: str
    tag: str | None
    confidence: float
    reason: str

    def label(self) -> TagLabel | None:
        """The tag label to give, or None when the data is not personal."""
        if self.tag is None:
            return None
        return TagLabel(tag_fqn=self.tag, confidence=self.confidence, reason=self.reason)


def _rank(tag: str | None) -> int:
    """Which decision wins a tie: not personal (the more specific explanation), then Sensitive, then the rest."""
    return 3 if tag is None else 2 if tag == SENSITIVE else 1


class PiiProcessor(Processor):
    """Tags table columns ``PII.Sensitive`` or ``PII.NonSensitive`` by name, type and sample values."""

    type_name = "pii"
    config_class = PiiConfig
    config: PiiConfig

    @classmethod
    def reads_samples(cls, config: Mapping[str, Any]) -> bool:
        return written_flag(config, "use_samples", True)

    @classmethod
    def passes_samples(cls, config: Mapping[str, Any]) -> bool:
        return written_flag(config, "keep_samples", False)

    @classmethod
    def uses_samples(cls, config: ComponentConfig) -> bool:
        return config.use_samples  # type: ignore[attr-defined]

    def __init__(self, config: PiiConfig, context: RunContext) -> None:
        super().__init__(config, context)
        rules = effective_rules(config.rules, builtin=config.builtin_rules)
        self.rules = [CompiledRule.of(name, rule) for name, rule in rules.items()]
        self._index = {rule.name: index for index, rule in enumerate(self.rules)}
        self._checked = [i for i, rule in enumerate(self.rules) if rule.check is not None]
        self._classifications = {rule.rule.tag.split(".", 1)[0] for rule in self.rules if rule.rule.tag}
        named = [rule for rule in self.rules if rule.rule.names]
        self._name_rules = PatternSet([rule.patterns for rule in named], ignore_case=True), named
        self._named: Callable[[str], tuple[CompiledRule, ...]] = lru_cache(maxsize=NAME_CACHE_SIZE)(self._match_names)
        self._in_table: Callable[[str, str], bool] = lru_cache(maxsize=NAME_CACHE_SIZE)(self._table_matches)
        self._shape_rules: dict[tuple[str, int, str], tuple[int, ...]] = {}
        self._needed_cache: dict[tuple[float, int], int] = {}
        self._by_values_cache: dict[tuple, tuple[dict[int, int], list[tuple[float, int, CompiledRule]]]] = {}
        self._ratios = {config.match_ratio, *(rule.rule.match_ratio for rule in self.rules if rule.rule.match_ratio)}
        self._rank = [_rank(rule.rule.tag) for rule in self.rules]
        self._in_text = [rule.value_check is not None and rule.value_check.in_text for rule in self.rules]

    def process(self, record: Record) -> Record:
        if not isinstance(record, Table) or not record.columns:
            return record
        self.report.count("columns", len(record.columns))
        columns = [self._column(column, record.name) for column in record.columns]
        if all(new is old for new, old in zip(columns, record.columns, strict=True)):
            return record
        return record.model_copy(update={"columns": columns})

    def classify(self, column: Column, table: str | None = None) -> TagLabel | None:
        """The tag the rules give this column, with its confidence and reason; None if no rule is sure enough."""
        decision = self.decide(column, table)
        return decision.label() if decision is not None else None

    def decide(self, column: Column, table: str | None = None) -> Decision | None:
        """The most confident decision of the rules on this column (in the table named ``table``), if sure enough.

        A decision whose ``tag`` is None says the column holds data that is not personal.
        """
        samples = column.samples if self.config.use_samples and len(column.samples) >= self.config.min_samples else None
        named = [
            rule for rule in self._named(column.name) if rule.tables is None or self._in_table(rule.name, table or "")
        ]
        groups: dict[tuple[str, int, str], list[str]] = {}
        possible: dict[int, int] = {}
        by_values: list[tuple[float, int, CompiledRule]] = []
        if samples is not None:
            for value in samples:
                groups.setdefault(shape(value), []).append(value)
            possible, by_values = self._by_values(groups, len(samples))
            if named:
                by_values = [item for item in by_values if item[2] not in named]
        best: tuple[tuple[float, bool, int], Decision] | None = None
        for potential, rank, rule in [(1.0, self._rank[self._index[rule.name]], rule) for rule in named] + by_values:
            if best is not None and (potential, rule in named, rank) <= best[0]:
                if potential < best[0][0]:
                    break  # sorted: no rule left can be more confident
                continue
            if not rule.fits(column.data_type):
                continue
            by_name = potential == 1.0 and rule in named
            if samples is not None and rule.check is not None:
                decision = self._by_samples(
                    rule, groups, len(samples), possible.get(self._index[rule.name], 0), by_name
                )
                if decision is None:
                    if by_name:
                        self.report.count("rejected_by_samples")
                    continue
            else:
                reason = f"rule {rule.name!r}: the column name matches"
                reason += " in a table of people" if rule.tables is not None else ""
                decision = Decision(rule.name, rule.rule.tag, rule.rule.confidence, reason)
            key = (decision.confidence, by_name, rank)
            if best is None or key > best[0]:
                best = (key, decision)
        if best is None or best[1].confidence < self.config.min_confidence:
            return None
        return best[1]

    def _by_samples(
        self,
        rule: CompiledRule,
        groups: dict[tuple[str, int, str], list[str]],
        total: int,
        possible: int,
        by_name: bool,
    ) -> Decision | None:
        """The decision the samples (grouped by shape) give for this rule, or None when too few pass its check."""
        needed = self._needed(rule, total)
        if possible < needed:
            return None
        accepted = rule.value_check.shapes if rule.value_check is not None else None
        check = rule.check
        assert check is not None
        failed, allowed = total - possible, total - needed
        variants: dict[str, int] = {}
        for value_shape, values in groups.items():
            if accepted is not None and value_shape not in accepted:
                continue
            for value in values:
                result = _answer(check, value)
                if not result:
                    failed += 1
                    if failed > allowed:
                        return None
                elif result is not True and isinstance(result, str):
                    variants[result] = variants.get(result, 0) + 1
        passed = total - failed
        in_text = rule.value_check is not None and rule.value_check.in_text
        confidence = rule.rule.value_confidence if in_text else rule.rule.value_confidence * passed / total
        confidence = round(max(confidence, rule.rule.confidence) if by_name else confidence, 2)
        detail = ", ".join(
            f"{name} {count}" for name, count in sorted(variants.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        if not detail and rule.value_check is not None:
            detail = rule.value_check.description
        share = f" ({passed / total:.0%})" if in_text else ""
        reason = f"rule {rule.name!r}: {passed} of {total} sample values{share} pass the {rule.check_name} check"
        reason += f" ({detail})" if detail else ""
        reason += "; the column name matches" if by_name else ""
        return Decision(rule.name, rule.rule.tag, confidence, reason)

    def _by_values(
        self, groups: dict[tuple[str, int, str], list[str]], total: int
    ) -> tuple[dict[int, int], list[tuple[float, int, CompiledRule]]]:
        """How many samples each checked rule could pass, and the values-alone rules worth trying, best first.

        Both depend only on the shapes of the samples and how many have each, so they are kept for the next
        column whose samples are shaped alike (a column of card numbers looks like the last one).
        """
        key = tuple(sorted((value_shape, len(values)) for value_shape, values in groups.items()))
        found = self._by_values_cache.get(key)
        if found is not None:
            return found
        possible = self._possible(groups)
        needed = {ratio: max(1, math.ceil(ratio * total - 1e-9)) for ratio in self._ratios}
        by_values: list[tuple[float, int, CompiledRule]] = []
        for index, count in possible.items():
            settings = self.rules[index].rule
            if settings.by_values_alone and count >= needed[settings.match_ratio or self.config.match_ratio]:
                share = 1 if self._in_text[index] else count / total
                by_values.append((settings.value_confidence * share, self._rank[index], self.rules[index]))
        by_values.sort(key=lambda item: (-item[0], -item[1]))
        if len(self._by_values_cache) >= SHAPE_CACHE_SIZE:
            self._by_values_cache.clear()
        self._by_values_cache[key] = (possible, by_values)
        return possible, by_values

    def _needed(self, rule: CompiledRule, total: int) -> int:
        """How many of ``total`` samples must pass the rule's value check."""
        ratio = rule.rule.match_ratio or self.config.match_ratio
        needed = self._needed_cache.get((ratio, total))
        if needed is None:
            needed = self._needed_cache[(ratio, total)] = max(1, math.ceil(ratio * total - 1e-9))
        return needed

    def _possible(self, groups: dict[tuple[str, int, str], list[str]]) -> dict[int, int]:
        """For each rule with a value check: how many samples have a shape its check can pass."""
        possible: dict[int, int] = {}
        for value_shape, values in groups.items():
            rules = self._shape_rules.get(value_shape)
            if rules is None:
                rules = self._shape_rules[value_shape] = tuple(
                    i
                    for i in self._checked
                    if self.rules[i].value_check is None
                    or self.rules[i].value_check.shapes is None  # type: ignore[union-attr]
                    or value_shape in self.rules[i].value_check.shapes  # type: ignore[union-attr, operator]
                )
            count = len(values)
            for index in rules:
                possible[index] = possible.get(index, 0) + count
        return possible

    def _column(self, column: Column, table: str) -> Column:
        update: dict[str, object] = {}
        if any(tag.tag_fqn.split(".", 1)[0] in self._classifications for tag in column.tags):
            self.report.count("already_tagged")
        elif (decision := self.decide(column, table)) is not None:
            if (label := decision.label()) is not None:
                update["tags"] = [*column.tags, label]
                self.report.count(f"tags_added:{label.tag_fqn}")
            else:
                self.report.count(f"not_personal:{decision.rule}")
        if column.samples and not self.config.keep_samples:
            update["samples"] = []
            self.context.samples_left_out = True  # the staged file this run writes says so
        return column.model_copy(update=update) if update else column

    def _match_names(self, name: str) -> tuple[CompiledRule, ...]:
        patterns, named = self._name_rules
        tokens = tokenised(name)
        spellings = (name,) if tokens == name.lower() else (name, tokens)
        return tuple(named[index] for index in patterns.matching_any(spellings))

    def _table_matches(self, rule: str, table: str) -> bool:
        tables = self.rules[self._index[rule]].tables
        return tables is None or tables.matches(table) or tables.matches(tokenised(table))


def _answer(check: Callable[[str], bool | str], value: str) -> bool | str:
    """A check's answer for a sample value; a check that raises on one says no (its error could quote the value,
    and failing the table for one odd value would leave every other column untagged)."""
    try:
        return check(value)
    except Exception:
        return False
