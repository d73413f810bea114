"""The ``enrich`` processor: descriptions, tags, owners and custom properties by FQN pattern.

Rules come inline (``rules``) and from a YAML or CSV file beside the workflow (``file``, see
:mod:`.glossary`), inline ones first, and apply in that order. A rule names entities by ``fqn`` or
columns by ``column`` (the table's FQN, a dot, the column name), a whole-name regular expression as
in every filter. An existing description or custom property is kept unless the rule has ``overwrite``;
tags and owners are added when missing.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator

from airflow_provider_ingest.api import ComponentConfig, Processor
from airflow_provider_ingest.patterns import NamePatterns, compile_pattern
from airflow_provider_ingest.processors.glossary import RuleFileError, read_rule_file
from airflow_provider_ingest.records import Column, Entity, Owner, Record, RecordKind, Table, TagLabel, fqn


class EnrichRule(BaseModel):
    """What to add to the entities (``fqn``) or columns (``column``) whose FQN the pattern matches."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    fqn: str | None = Field(default=None, description="whole-name regex on entity FQNs")
    column: str | None = Field(default=None, description="whole-name regex on column FQNs: table FQN + '.' + name")
    kinds: list[RecordKind] = Field(default_factory=list, description="entity kinds an fqn rule applies to; empty: all")
    ignore_case: bool = False
    description: str | None = Field(default=None, min_length=1)
    overwrite: bool = Field(default=False, description="replace an existing description or custom property")
    tags: list[TagLabel] = Field(default_factory=list, description="tag FQNs, or tag labels")
    owners: list[Owner] = Field(default_factory=list, description="user names; 'team:<name>' for a team")
    custom_properties: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, tags: Any) -> Any:
        return [{"tag_fqn": tag} if isinstance(tag, str) else tag for tag in tags] if isinstance(tags, list) else tags

    @field_validator("owners", mode="before")
    @classmethod
    def _owner_names(cls, owners: Any) -> Any:
        if not isinstance(owners, list):
            return owners
        return [_owner(owner) if isinstance(owner, str) else owner for owner in owners]

    @model_validator(mode="after")
    def _one_target(self) -> EnrichRule:
        if (self.fqn is None) == (self.column is None):
            raise ValueError("a rule needs exactly one of fqn (entities) or column (columns)")
        compile_pattern(self.fqn or self.column or "", ignore_case=self.ignore_case)  # matched by RE2, as at run time
        if self.column is not None and (self.kinds or self.owners or self.custom_properties):
            raise ValueError("a column rule sets only description and tags (no kinds, owners or custom_properties)")
        if self.description is None and not (self.tags or self.owners or self.custom_properties):
            raise ValueError("a rule needs something to add: description, tags, owners or custom_properties")
        return self

    @cached_property
    def pattern(self) -> NamePatterns:
        """The rule's pattern, compiled."""
        return NamePatterns(include=[self.fqn or self.column or ""], ignore_case=self.ignore_case)

    def applies_to(self, record: Entity) -> bool:
        """Whether this entity rule matches the record's kind and FQN."""
        return (not self.kinds or record.kind in self.kinds) and self.pattern.matches(record.fqn)  # type: ignore[attr-defined]


class EnrichConfig(ComponentConfig):
    rules: list[EnrichRule] = Field(default_factory=list, description="inline rules, applied first")
    file: str | None = Field(default=None, description="YAML or CSV rule file; relative to the workflow file")

    @model_validator(mode="after")
    def _has_rules(self) -> EnrichConfig:
        if not self.rules and self.file is None:
            raise ValueError("give rules, a rule file, or both")
        return self


class EnrichProcessor(Processor):
    """Adds descriptions, tags, owners and custom properties to the entities and columns the rules name."""

    type_name = "enrich"
    config_class = EnrichConfig
    config: EnrichConfig

    def prepare(self) -> None:
        rules = list(self.config.rules)
        if self.config.file is not None:
            rules += load_rules(self.context.resolve_path(self.config.file))
        self._entity_rules = [rule for rule in rules if rule.fqn is not None]
        self._column_rules = [rule for rule in rules if rule.column is not None]

    def process(self, record: Record) -> Record:
        if not isinstance(record, Entity):  # lineage, queries and usage have no descriptions, tags or owners
            return record
        update = self._changes(record, [rule for rule in self._entity_rules if rule.applies_to(record)])
        if isinstance(record, Table) and self._column_rules:
            prefix = record.fqn + fqn.SEPARATOR
            columns = [self._column(column, prefix + fqn.quote(column.name)) for column in record.columns]
            if any(new is not old for new, old in zip(columns, record.columns, strict=True)):
                update["columns"] = columns
        return record.model_copy(update=update) if update else record

    def _column(self, column: Column, column_fqn: str) -> Column:
        update = self._changes(column, [rule for rule in self._column_rules if rule.pattern.matches(column_fqn)])
        return column.model_copy(update=update) if update else column

    def _changes(self, target: Entity | Column, rules: list[EnrichRule]) -> dict[str, Any]:
        """The fields the rules change on ``target``, counted in the report."""
        update: dict[str, Any] = {}
        for rule in rules:
            if rule.description is not None:
                current = update.get("description", target.description)
                if current and not rule.overwrite:
                    self.report.count("descriptions_kept")
                elif current != rule.description:
                    update["description"] = rule.description
                    self.report.count("descriptions_set")
            for tag in rule.tags:
                tags = update.get("tags", target.tags)
                if all(existing.tag_fqn != tag.tag_fqn for existing in tags):
                    update["tags"] = [*tags, tag]
                    self.report.count(f"tags_added:{tag.tag_fqn}")
            for owner in rule.owners:
                owners = update.get("owners", target.owners)  # type: ignore[union-attr]
                if owner not in owners:
                    update["owners"] = [*owners, owner]
                    self.report.count("owners_added")
            for key, value in rule.custom_properties.items():
                properties = update.get("custom_properties", target.custom_properties)  # type: ignore[union-attr]
                if key not in properties or (rule.overwrite and properties[key] != value):
                    update["custom_properties"] = {**properties, key: value}
                    self.report.count("custom_properties_set")
        return update


def load_rules(uri: str) -> list[EnrichRule]:
    """The rules of a rule file, validated; errors name the file and the rule's place in it."""
    rules = []
    for where, raw in read_rule_file(uri):
        try:
            rules.append(EnrichRule.model_validate(raw))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'rule'}: {item['msg']}"
                for item in error.errors(include_url=False)
            )
            raise RuleFileError(f"{where}: {problems}") from None
    return rules


def _owner(text: str) -> dict[str, str]:
    kind, _, name = text.partition(":")
    return {"name": name, "type": kind} if name and kind in ("user", "team") else {"name": text, "type": "user"}
