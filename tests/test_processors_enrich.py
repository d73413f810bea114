"""The enrich processor: inline rules and YAML/CSV glossary files, what is kept or overwritten, and its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.processors.enrich import EnrichProcessor
from airflow_provider_ingest.processors.glossary import RuleFileError
from airflow_provider_ingest.records import Column, Database, DataType, Owner, Table, TagLabel
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow


def customers(**fields) -> Table:
    columns = [
        Column(name="id", data_type=DataType.INT, description="Surrogate key."),
        Column(name="email", data_type=DataType.VARCHAR),
        Column(name="note.text", data_type=DataType.TEXT),
    ]
    return Table(service="svc", database="db", database_schema="crm", name="customers", columns=columns, **fields)


def enrich(config: dict, *records, base_dir: Path | None = None) -> tuple[list, EnrichProcessor]:
    context = RunContext(workflow_name="t", run_id="r", staging_root="/nonexistent", base_dir=base_dir or Path.cwd())
    processor = EnrichProcessor.create(config, context)
    processor.prepare()
    return [processor.process(record) for record in records], processor


def test_inline_rules_add_descriptions_tags_owners_and_properties() -> None:
    rules = [
        {"fqn": r"svc\.db\.crm\..*", "kinds": ["table"], "tags": ["Tier.Tier2"], "owners": ["team:crm", "alice"]},
        {"fqn": r"svc\.db\.crm\.customers", "description": "People who buy.", "custom_properties": {"domain": "crm"}},
        {
            "column": r".*\.email",
            "description": "Contact email.",
            "tags": [{"tag_fqn": "Glossary.Email", "source": "glossary"}],
        },
        {"column": r'.*\."note\.text"', "tags": ["Quality.FreeText"]},
        {"column": r".*\.id", "description": "Ignored: the column has one."},
        {"fqn": "svc.db", "description": "The database."},
    ]
    (table, database), processor = enrich({"rules": rules}, customers(), Database(service="svc", name="db"))
    assert table.description == "People who buy."
    assert table.tags == [TagLabel(tag_fqn="Tier.Tier2")]
    assert table.owners == [Owner(name="crm", type="team"), Owner(name="alice", type="user")]
    assert table.custom_properties == {"domain": "crm"}
    assert [(c.name, c.description, [t.tag_fqn for t in c.tags]) for c in table.columns] == [
        ("id", "Surrogate key.", []),
        ("email", "Contact email.", ["Glossary.Email"]),
        ("note.text", None, ["Quality.FreeText"]),
    ]
    assert table.columns[1].tags[0].source == "glossary"
    assert (database.description, database.tags) == ("The database.", [])
    assert processor.report.counters == {
        "tags_added:Tier.Tier2": 1,
        "owners_added": 2,
        "descriptions_set": 3,
        "custom_properties_set": 1,
        "tags_added:Glossary.Email": 1,
        "tags_added:Quality.FreeText": 1,
        "descriptions_kept": 1,
    }


def test_existing_values_are_kept_unless_the_rule_overwrites() -> None:
    record = customers(
        description="From the database.",
        tags=[TagLabel(tag_fqn="Tier.Tier2")],
        owners=[Owner(name="alice")],
        custom_properties={"domain": "sales"},
    )
    keep = {
        "fqn": ".*",
        "description": "New.",
        "tags": ["Tier.Tier2"],
        "owners": ["alice"],
        "custom_properties": {"domain": "crm"},
    }
    (kept,), processor = enrich({"rules": [keep]}, record)
    assert kept is record
    assert processor.report.counters == {"descriptions_kept": 1}
    (changed,), processor = enrich({"rules": [{**keep, "overwrite": True}]}, record)
    assert (changed.description, changed.custom_properties) == ("New.", {"domain": "crm"})
    assert (changed.tags, changed.owners) == (record.tags, record.owners)
    assert record.description == "From the database."  # the input is unchanged
    assert processor.report.counters == {"descriptions_set": 1, "custom_properties_set": 1}
    first = {"fqn": ".*", "description": "First."}
    (table,), _ = enrich({"rules": [first, {"fqn": ".*", "description": "Second."}]}, customers())
    assert table.description == "First."
    (table,), _ = enrich({"rules": [first, {"fqn": ".*", "description": "Second.", "overwrite": True}]}, customers())
    assert table.description == "Second."


def test_patterns_match_the_whole_fqn() -> None:
    rules = [{"fqn": "customers", "description": "x"}, {"fqn": r".*\.CUSTOMERS", "description": "y"}]
    (table,), _ = enrich({"rules": rules}, customers())
    assert table.description is None
    (table,), _ = enrich({"rules": [{**rules[1], "ignore_case": True}]}, customers())
    assert table.description == "y"


GLOSSARY_YAML = """\
rules:
  - column: '.*\\.email'
    description: Where we write to the customer.
    tags: [PII.Sensitive]
  - fqn: '.*\\.customers'
    owners: [team:crm]
"""
GLOSSARY_CSV = """\
fqn,column,kinds,description,tags,glossary_terms,owners,overwrite,property.domain,property.steward
.*\\.customers,,table,People who buy.,Tier.Tier1;Tier.Tier1,Glossary.Customer,team:crm;bob,,crm,
,.*\\.id,,Row id.,,,,yes,,
"""


def test_yaml_and_csv_glossaries_next_to_the_workflow(tmp_path: Path) -> None:
    (tmp_path / "glossary").mkdir()
    (tmp_path / "glossary" / "terms.yaml").write_text(GLOSSARY_YAML)
    (tmp_path / "glossary" / "terms.csv").write_text(GLOSSARY_CSV)
    (table,), processor = enrich({"file": "glossary/terms.yaml"}, customers(), base_dir=tmp_path)
    assert table.owners == [Owner(name="crm", type="team")]
    assert (table.columns[1].description, table.columns[1].tags) == (
        "Where we write to the customer.",
        [TagLabel(tag_fqn="PII.Sensitive")],
    )
    inline = [{"fqn": ".*", "description": "Inline rules come first."}]
    (table,), processor = enrich({"file": "glossary/terms.csv", "rules": inline}, customers(), base_dir=tmp_path)
    assert table.description == "Inline rules come first."
    assert [(t.tag_fqn, t.source) for t in table.tags] == [
        ("Tier.Tier1", "classification"),
        ("Glossary.Customer", "glossary"),
    ]
    assert table.owners == [Owner(name="crm", type="team"), Owner(name="bob")]
    assert table.custom_properties == {"domain": "crm"}
    assert table.columns[0].description == "Row id."
    assert processor.report.counters == {
        "descriptions_set": 2,
        "descriptions_kept": 1,
        "tags_added:Tier.Tier1": 1,
        "tags_added:Glossary.Customer": 1,
        "owners_added": 2,
        "custom_properties_set": 1,
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("g.csv", "fqn,colour\nx,red\n", "g.csv: unknown columns colour"),
        ("g.csv", "fqn,description\n.*,x\n,y\n", "g.csv: line 3: rule: Value error, a rule needs exactly one of fqn"),
        ("g.csv", "column,owners\n.*,bob\n", "line 2: rule: Value error, a column rule sets only description and tags"),
        ("g.yaml", "- fqn: '('\n  description: x\n", "g.yaml: rule 1: rule: Value error, invalid regular expression"),
        ("g.yaml", "- {fqn: x, description: y}\n- {fqn: x, tag: [a]}\n", "g.yaml: rule 2: tag: Extra inputs"),
        ("g.yaml", "- {fqn: x, tags: [{tag_fqn: a, colour: r}]}\n", "rule 1: tags.0.colour: Extra inputs are not"),
        ("g.yaml", "fqn: x\n", "expected a list of rules"),
        ("g.yaml", "- [\n", "not valid YAML"),
        ("missing.yaml", None, "cannot read rule file"),
        # each of these failed with a bare UnicodeDecodeError or AttributeError, or was read wrongly (last column won)
        ("g.csv", b"fqn,description\nx,caf\xe9\n", "g.csv: line 2: not UTF-8 text (byte 0xe9)"),
        ("g.csv", "fqn,description\nx,y,z\n", "g.csv: line 2: 3 cells, the header names 2"),
        ("g.csv", "fqn,fqn,description\nx,y,z\n", "g.csv: line 1: column(s) fqn named more than once in the header"),
    ],
)
def test_bad_rule_files_name_the_file_and_rule(
    tmp_path: Path, name: str, text: str | bytes | None, message: str
) -> None:
    if isinstance(text, bytes):
        (tmp_path / name).write_bytes(text)
    elif text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(RuleFileError) as raised:
        enrich({"file": name}, customers(), base_dir=tmp_path)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ("{}", "processors.0.config", "give rules, a rule file, or both"),
        ("{rules: [{fqn: x}]}", "processors.0.config.rules.0", "a rule needs something to add"),
        ("{rules: [{fqn: x, column: y, description: z}]}", "processors.0.config.rules.0", "exactly one of fqn"),
        ("{rules: [{fqn: x, kinds: [view], description: z}]}", "processors.0.config.rules.0.kinds.0", "Input should"),
        (
            "{rules: [{fqn: x, custom_properties: {s: .nan}}]}",
            "processors.0.config.rules.0.custom_properties.s",
            "finite",
        ),
    ],
)
def test_bad_enrich_settings_are_workflow_file_errors(tmp_path: Path, config: str, field: str, message: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "source: {type: sql, config: {sample: shop}}\nsink: {type: console}\n"
        f"processors: [{{type: enrich, config: {config}}}]\n"
    )
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    assert [problem.field for problem in raised.value.problems][:1] == [field]
    assert message in raised.value.problems[0].message


def test_a_serial_run_reads_the_glossary_beside_the_workflow(tmp_path: Path) -> None:
    from airflow_provider_ingest.samples import build_shop

    build_shop(tmp_path / "shop.sqlite")
    (tmp_path / "terms.csv").write_text(
        "column,description\n.*\\.customers\\.email,Login and contact.\n.*\\.products\\.category,Product group.\n"
    )
    (tmp_path / "w.yaml").write_text(
        "source: {type: sql, config: {url: 'sqlite:///shop.sqlite', service_name: shop}}\n"
        "processors: [{type: enrich, config: {file: terms.csv}}]\n"
        "sink: {type: file, config: {path: out.jsonl}}\nworkflow: {staging_root: staging}\n"
    )
    result = run_workflow(load_workflow(tmp_path / "w.yaml"))
    assert result.success, result.error
    assert result.reports[1].counters == {"descriptions_kept": 1, "descriptions_set": 1}
    tables = {r.name: r for r in read_records(str(tmp_path / "out.jsonl")) if r.kind == "table"}
    assert tables["customers"].columns[3].description == "Login and contact email address."  # the DDL comment stays
    assert tables["products"].columns[4].description == "Product group."


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"fqn": "x", "owners": [{"name": "b", "typ": 1}]}, "owners.0.typ: unknown field 'typ'; did you mean 'type'?"),
        ({"fqn": "x", "tags": [{"tag_fqm": "a"}]}, "tags.0.tag_fqm: unknown field 'tag_fqm'; did you mean 'tag_fqn'?"),
    ],
)
def test_a_mistyped_field_of_a_rules_tag_or_owner_gets_its_hint(tmp_path: Path, rule: dict, message: str) -> None:
    """A workflow's problem inside a rule's tag or owner names the field meant."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        json.dumps(
            {
                "source": {"type": "file", "config": {"path": "in.jsonl"}},
                "processors": [{"type": "enrich", "config": {"rules": [rule]}}],
                "sink": {"type": "console"},
            }
        )
    )
    with pytest.raises(WorkflowFileError) as refused:
        load_workflow(flow)
    assert f"processors.0.config.rules.0.{message}" in str(refused.value)
