"""The registry: short names, plugin entry points, import paths; lazy loading; helpful errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_ingest import registry
from airflow_provider_ingest.api import ROLES, Processor, RunContext, Sink, Source
from airflow_provider_ingest.components.console import ConsoleSink
from airflow_provider_ingest.components.file import FileBulkSink, FileSink, FileSource, FileStage
from airflow_provider_ingest.registry import UnknownComponentError, known_types, resolve
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

TESTS = Path(__file__).resolve().parent
PLUGIN_MODULE = "h3_ingest_plugin"


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        ("source", "file", FileSource),
        ("sink", "file", FileSink),
        ("sink", "console", ConsoleSink),
        ("stage", "file", FileStage),
        ("bulk_sink", "file", FileBulkSink),
    ],
)
def test_short_names(role, name, expected):
    assert resolve(role, name) is expected


def test_every_builtin_resolves_to_its_role():
    for role, names in registry.BUILTINS.items():
        for name in names:
            component = resolve(role, name)
            assert issubclass(component, ROLES[role]) and component.role == role


def test_import_path():
    from support.components import TagTables

    assert resolve("processor", "support.components:TagTables") is TagTables


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "support.nowhere:Thing",
            "cannot import 'support.nowhere:Thing': ModuleNotFoundError: No module named 'support.nowhere'",
        ),
        ("support.components:Nothing", "module 'support.components' has no attribute 'Nothing'"),
    ],
)
def test_import_path_errors(name, message):
    with pytest.raises(UnknownComponentError) as error:
        resolve("processor", name)
    assert str(error.value) == message


# --- plugins by entry point ----------------------------------------------------------------------

PLUGIN_CODE = '''
"""A third-party plugin, installed in a test."""
from airflow_provider_ingest.api import ComponentConfig, Processor, Sink, Source
from airflow_provider_ingest.records import Table


class ShoutConfig(ComponentConfig):
    suffix: str = "!"


class Shout(Processor):
    """Upper-cases table descriptions."""

    config_class = ShoutConfig

    def process(self, record):
        return record.model_copy(update={"description": (record.name + self.config.suffix).upper()})


class Count(Source):
    """Emits three tables."""

    def records(self):
        for i in range(3):
            yield Table(service="p", database="d", database_schema="s", name=f"t{i}")


class Nowhere(Sink):
    """Discards records."""

    def write(self, record):
        pass
'''

ENTRY_POINTS = f"""\
[airflow_provider_ingest.components]
shout = {PLUGIN_MODULE}:Shout
source.count = {PLUGIN_MODULE}:Count
sink.count = {PLUGIN_MODULE}:Nowhere
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution with an entry point in the registry's group, installed on ``sys.path``."""
    site = tmp_path / "site"
    info = site / "h3_ingest_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: h3-ingest-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_CODE)
    monkeypatch.syspath_prepend(str(site))
    registry._plugins.cache_clear()
    yield site
    registry._plugins.cache_clear()
    sys.modules.pop(PLUGIN_MODULE, None)


def test_plugin_resolves_by_entry_point_and_loads_lazily(plugin):
    assert "shout" in known_types("processor")
    assert "count" in known_types("source") and "count" in known_types("sink")
    assert PLUGIN_MODULE not in sys.modules
    shout = resolve("processor", "shout")
    assert PLUGIN_MODULE in sys.modules
    assert shout.__module__ == PLUGIN_MODULE and issubclass(shout, Processor)
    assert issubclass(resolve("source", "count"), Source)
    assert issubclass(resolve("sink", "count"), Sink)
    assert resolve("source", "count") is not resolve("sink", "count")


def test_plugin_runs_in_a_workflow(plugin, tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            source: {type: count}
            processors:
              - type: shout
                config: {suffix: "?"}
            sink:
              type: file
              config: {path: out.jsonl}
            workflow: {staging_root: staging}
            """
        )
    )
    result = run_workflow(load_workflow(path))
    assert result.success, result.error
    assert [r.description for r in read_records(str(tmp_path / "out.jsonl"))] == ["T0?", "T1?", "T2?"]
    assert [r.component for r in result.reports] == ["source:Count", "processor:Shout", "sink:file"]


def test_plugin_config_is_validated_with_the_file_position(plugin, tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(
        "source: {type: count}\nprocessors:\n  - type: shout\n    config: {sufix: x}\nsink: {type: console}\n"
    )
    with pytest.raises(WorkflowFileError) as error:
        load_workflow(path)
    assert str(error.value) == f"{path}:4:14: processors.0.config.sufix: unknown field 'sufix'; did you mean 'suffix'?"


def test_plugin_of_another_role_is_refused(plugin):
    with pytest.raises(UnknownComponentError) as error:
        resolve("sink", "shout")
    assert str(error.value) == "'shout' is not a sink (a subclass of Sink)"


def test_plugin_disappears_with_its_distribution(plugin):
    sys.path.remove(str(plugin))
    registry._plugins.cache_clear()
    assert "shout" not in known_types("processor")
    with pytest.raises(UnknownComponentError, match="unknown processor type 'shout'"):
        resolve("processor", "shout")


# --- unknown names and wrong roles ---------------------------------------------------------------


def test_unknown_name_lists_known_ones_and_suggests_the_closest():
    known = known_types("sink")
    assert {"console", "file", "elasticsearch", "openmetadata"} <= set(known)
    with pytest.raises(UnknownComponentError) as error:
        resolve("sink", "consol")
    assert str(error.value) == (
        f"unknown sink type 'consol'; known: {', '.join(known)}; did you mean 'console'? "
        "(or give a class as 'package.module:ClassName')"
    )


def test_unknown_name_without_a_close_match():
    with pytest.raises(UnknownComponentError) as error:
        resolve("stage", "zzzz")
    message = str(error.value)
    assert message.startswith("unknown stage type 'zzzz'; known: ")
    assert "did you mean" not in message
    assert "file" in message


@pytest.mark.parametrize(
    ("role", "name", "message"),
    [
        ("sink", "support.components:TagTables", "'support.components:TagTables' is not a sink (a subclass of Sink)"),
        ("source", "support.components:MarkerSink", "is not a source (a subclass of Source)"),
        ("processor", "json:dumps", "'json:dumps' is not a processor (a subclass of Processor)"),
        ("stage", "support.components:TagTablesConfig", "is not a stage (a subclass of Stage)"),
    ],
)
def test_wrong_role_is_refused(role, name, message):
    with pytest.raises(UnknownComponentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(role, name)


def test_wrong_role_in_a_workflow_file_names_the_field(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text("source:\n  type: support.components:TagTables\nsink: {type: console}\n")
    with pytest.raises(WorkflowFileError) as error:
        load_workflow(path)
    assert str(error.value) == (
        f"{path}:2:3: source.type: 'support.components:TagTables' is not a source (a subclass of Source)"
    )


# --- laziness ------------------------------------------------------------------------------------

LAZINESS = """
import json, sys
from airflow_provider_ingest.registry import BUILTINS, resolve
before = set(sys.modules)
resolve(sys.argv[1], sys.argv[2])
print(json.dumps(sorted(set(sys.modules) - before)))
"""
COMPONENT_MODULES = {target.partition(":")[0] for names in registry.BUILTINS.values() for target in names.values()}
HEAVY = ("airflow", "elasticsearch", "elastic_transport", "sqlalchemy", "requests", "psycopg2", "pymysql", "fsspec")


@pytest.mark.parametrize(
    ("role", "name"),
    [
        ("sink", "console"),
        ("source", "file"),
        ("source", "sql"),
        ("sink", "elasticsearch"),
        ("sink", "openmetadata"),
        ("processor", "support.components:TagTables"),
    ],
)
def test_naming_a_component_imports_only_its_module(role, name):
    """In a fresh interpreter: no other component module, no client library, no Airflow."""
    done = subprocess.run(
        [sys.executable, "-c", LAZINESS, role, name],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"},
    )
    imported = set(json.loads(done.stdout))
    own = name.partition(":")[0] if ":" in name else registry.BUILTINS[role][name].partition(":")[0]
    assert own in imported
    assert imported & COMPONENT_MODULES <= {own}
    assert not [module for module in imported if module.split(".")[0] in HEAVY]


def test_importing_the_registry_imports_no_component():
    script = (
        "import sys, airflow_provider_ingest.registry\n"
        "print(sorted(m for m in sys.modules if m.startswith('airflow_provider_ingest')))"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert json.loads(done.stdout.replace("'", '"')) == [
        "airflow_provider_ingest",
        "airflow_provider_ingest.errors",
        "airflow_provider_ingest.registry",
    ]


def test_resolved_components_build_from_config():
    context = RunContext(workflow_name="w", run_id="r", staging_root="/nonexistent")
    sink = resolve("sink", "file").create({"path": "x.jsonl"}, context)
    assert sink.config.path == "x.jsonl" and sink.report.component == "sink:file"
