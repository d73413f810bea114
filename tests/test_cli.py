"""The ``airflow-ingest`` command: validate, schema, components, run; no Airflow import where it must start fast."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.records import Table, dump_record

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
COMMAND = str(Path(sys.executable).parent / "airflow-ingest")

GOOD = """\
source:
  type: file
  config:
    path: in.jsonl
    format: jsonl
sink:
  type: file
  config:
    path: out.jsonl
workflow:
  staging_root: staging
"""
BAD = """\
source:
  type: file
  config:
    pth: in.jsonl
sink:
  type: consol
workflow:
  success_threshold: 120
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def airflow_ingest(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the installed console script."""
    environment = {**os.environ, "PYTHONPATH": str(TESTS), **(env or {})}
    return subprocess.run([COMMAND, *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False)


# --- validate ------------------------------------------------------------------------------------


def test_validate_good_file(tmp_path, capsys):
    path = write(tmp_path, "good.yaml", GOOD)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr() == (f"{path}: ok\n", "")
    assert not (tmp_path / "staging").exists(), "validate runs nothing"


def test_validate_bad_file_reports_every_problem(tmp_path, capsys):
    path = write(tmp_path, "bad.yaml", BAD)
    assert main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:3:3: source.config.path: field required",
        f"{path}:4:5: source.config.pth: unknown field 'pth'; did you mean 'path'?",
        f"{path}:6:3: sink.type: unknown sink type 'consol'; known: console, elasticsearch, file, openmetadata; "
        "did you mean 'console'? (or give a class as 'package.module:ClassName')",
        f"{path}:8:3: workflow.success_threshold: Input should be less than or equal to 100",
    ]


def test_validate_several_files(tmp_path, capsys):
    good = write(tmp_path, "good.yaml", GOOD)
    bad = write(tmp_path, "bad.json", json.dumps({"source": {"type": "file"}, "sink": {"type": "console"}}))
    broken = write(tmp_path, "broken.yaml", "source: [\n")
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(good), str(bad), str(broken), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{good}: ok\n"
    lines = err.splitlines()
    assert lines[0] == f"{bad}:1:2: source.config.path: field required"
    assert re.fullmatch(rf"{re.escape(str(broken))}:2:1: invalid YAML: .+", lines[1])
    assert lines[2] == f"{missing}: No such file or directory"
    assert len(lines) == 3


def test_validate_console_script_exit_codes(tmp_path):
    good = write(tmp_path, "good.yaml", GOOD)
    bad = write(tmp_path, "bad.yaml", BAD)
    assert airflow_ingest("validate", str(good)).returncode == 0
    done = airflow_ingest("validate", str(good), str(bad))
    assert done.returncode == 1
    assert done.stdout == f"{good}: ok\n"
    assert done.stderr.count(f"{bad}:") == 4


# --- what starts fast imports no Airflow ---------------------------------------------------------


def imported_modules(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` output."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")} - {
        "imported package"
    }


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "{good}"], ["validate", "{bad}"], ["validate", "--help"], ["schema"], ["components"]],
    ids=["help", "validate_good", "validate_bad", "validate_help", "schema", "components"],
)
def test_fast_commands_do_not_import_airflow(tmp_path, args):
    files = {"good": write(tmp_path, "good.yaml", GOOD), "bad": write(tmp_path, "bad.yaml", BAD)}
    args = [arg.format(**files) for arg in args]
    done = airflow_ingest(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode in (0, 1)
    modules = imported_modules(done.stderr)
    assert "airflow_provider_ingest.cli" in modules
    assert sorted(m for m in modules if m == "airflow" or m.startswith("airflow.")) == []


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: airflow-ingest")
    assert all(command in out for command in ("run", "validate", "components", "schema"))


# --- schema --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict:
    done = airflow_ingest("schema")
    assert done.returncode == 0
    return json.loads(done.stdout)


def test_schema_is_valid_json_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_validates_the_sample_workflow(schema):
    sample = yaml.safe_load((REPO / "dags" / "sample_shop.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(sample)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(GOOD))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"source": {"type": "file", "config": {"path": "x"}}, "procesors": []}, "'procesors' was unexpected"),
        ({"source": {"type": "file", "config": {"pth": "x"}}, "sink": {"type": "console"}}, "'pth' was unexpected"),
        ({"sink": {"type": "console"}}, "'source' is a required property"),
        (
            {"source": {"type": "file", "config": {"path": "x"}}, "sink": {"type": "file", "config": {"path": 3}}},
            "3 is not of type 'string'",
        ),
    ],
    ids=["misspelled_key", "component_config", "missing_source", "wrong_type"],
)
def test_schema_refuses_bad_files(schema, document, message):
    errors = [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(document)]
    assert any(message in error for error in errors), errors


# --- components ----------------------------------------------------------------------------------


def test_components_lists_types_with_config_fields(capsys):
    assert main(["components"]) == 0
    out = capsys.readouterr().out
    sections: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith("    "):
            sections[current].append(line.strip())
        else:
            current = line.split(":", 1)[0]
            sections[current] = []
    assert {"source file", "source sql", "sink console", "sink file", "stage file", "bulk_sink file"} <= set(sections)
    assert sections["source file"] == [
        "path: str | list[str] (required) the file of records to read, or several files read one after the "
        "other (local paths or URIs)",
        "format: Literal['staged', 'jsonl'] (default 'staged') staged: only a staged file, checked whole before the "
        "first record; jsonl: also plain JSON Lines, one record per line",
    ]
    assert sections["sink file"] == [
        "path: str (required) where to write the staged file; a .gz name compresses it",
        "compression: Literal['auto', 'none', 'gzip'] (default 'auto')",
        "keep_samples: bool (default False) keep column samples (raw data values) for processors that read this file",
    ]
    assert sections["stage file"][0] == (
        "path: str | None (default None) staged file to write; default: in the run's staging folder"
    )
    assert sections["sink console"] == []
    assert "PydanticUndefined" not in out


PLUGIN = {
    "h3_cli_plugin.py": (
        "from airflow_provider_ingest.api import ComponentConfig, Processor\n\n\n"
        "class UpperConfig(ComponentConfig):\n    suffix: str = '!'\n\n\n"
        "class Upper(Processor):\n    '''Upper-cases names.'''\n\n    config_class = UpperConfig\n\n"
        "    def process(self, record):\n        return record\n"
    ),
    "h3_cli_plugin-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: h3-cli-plugin\nVersion: 1.0\n",
    "h3_cli_plugin-1.0.dist-info/entry_points.txt": (
        "[airflow_provider_ingest.components]\nupper = h3_cli_plugin:Upper\n"
    ),
}


def test_components_and_schema_with_a_plugin_installed(tmp_path):
    """A plugin type lists under its own role only; the schema checks its config."""
    for name, text in PLUGIN.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{TESTS}"}
    done = airflow_ingest("components", env=env)
    assert done.returncode == 0, done.stderr
    assert "processor upper: Upper-cases names.\n    suffix: str (default '!')\n" in done.stdout
    assert "sink upper" not in done.stdout
    done = airflow_ingest("schema", env=env)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["$defs"]["processor_upper_config"]["properties"]["suffix"]["default"] == "!"


# --- run -----------------------------------------------------------------------------------------


def status_table(stdout: str) -> dict[str, list[str]]:
    """The status table by component, without the seconds column."""
    lines = stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header == ["component", "records", "filtered", "failed", "warnings", "success %", "seconds"]
    rows = {}
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header) or line.startswith(" "):
            break
        rows[cells[0]] = cells[1:-1]
    return rows


def run_flow(folder: Path, sink: dict, threshold: float = 90, source: dict | None = None) -> Path:
    spec = {
        "source": source or {"type": "support.components:ExplodingSource", "config": {"tables": 10}},
        "processors": [{"type": "support.components:TagTables"}],
        "sink": sink,
        "workflow": {"success_threshold": threshold, "staging_root": "staging"},
    }
    return write(folder, "flow.yaml", yaml.safe_dump(spec))


def test_run_prints_a_status_table_and_exits_0(tmp_path):
    flow = run_flow(tmp_path, {"type": "file", "config": {"path": "out.jsonl"}})
    done = airflow_ingest("run", str(flow), "--run-id", "r1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert status_table(done.stdout) == {
        "source:ExplodingSource": ["10", "0", "0", "0", "100.0"],
        "processor:TagTables": ["10", "0", "0", "0", "100.0"],
        "sink:file": ["10", "0", "0", "0", "100.0"],
    }
    assert done.stdout.splitlines()[-1] == "run succeeded"
    assert done.stderr == ""
    assert (tmp_path / "out.jsonl").exists()


def test_run_below_threshold_exits_1(tmp_path):
    marker = tmp_path / "closed.txt"
    sink = {"type": "support.components:MarkerSink", "config": {"marker": str(marker), "fail_on": ["t1", "t2"]}}
    flow = run_flow(tmp_path, sink)
    done = airflow_ingest("run", str(flow), "--run-id", "r1", cwd=tmp_path)
    assert done.returncode == 1
    assert status_table(done.stdout)["sink:MarkerSink"] == ["8", "0", "2", "0", "80.0"]
    dead_letters = tmp_path / "staging" / "flow" / "r1" / "dead_letters.jsonl"
    assert done.stdout.splitlines()[-4:] == [
        "  sink:MarkerSink failed svc.db.s.t1: ValueError: sink refuses t1",
        "  sink:MarkerSink failed svc.db.s.t2: ValueError: sink refuses t2",
        f"dead letters: {dead_letters}",
        "run failed: success rate below 90% in sink:MarkerSink",
    ]
    assert marker.read_text() == "closed by sink\n"


def test_run_at_threshold_exits_0(tmp_path):
    sink = {"type": "support.components:MarkerSink", "config": {"marker": str(tmp_path / "m"), "fail_on": ["t1"]}}
    done = airflow_ingest("run", str(run_flow(tmp_path, sink)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[-1] == "run succeeded"


def test_run_with_a_raising_source_exits_1(tmp_path):
    marker = tmp_path / "source-closed.txt"
    source = {"type": "support.components:ExplodingSource", "config": {"explode_after": 3, "marker": str(marker)}}
    flow = run_flow(tmp_path, {"type": "console"}, source=source)
    done = airflow_ingest("run", str(flow), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "run failed: RuntimeError: source exploded at record 3"
    assert marker.read_text() == "closed by source\n"


def test_run_invalid_file_exits_1_before_running(tmp_path):
    path = write(tmp_path, "bad.yaml", BAD)
    done = airflow_ingest("run", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"{path}:3:3: source.config.path: field required\n{path}:4:5: source.config.pth")
    assert not (tmp_path / "staging").exists()


def test_run_console_sink_prints_one_line_per_record(tmp_path):
    lines = [dump_record(Table(service="svc", database="db", database_schema="s", name=f"t{i}")) for i in range(2)]
    write(tmp_path, "in.jsonl", "\n".join(lines) + "\n")
    source = {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}}
    done = airflow_ingest("run", str(run_flow(tmp_path, {"type": "console"}, source=source)), cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.splitlines()[:2] == [
        "table            svc.db.s.t0  [table, 0 columns]  tags: Test.Tagged",
        "table            svc.db.s.t1  [table, 0 columns]  tags: Test.Tagged",
    ]


SLOW = {"type": "support.components:SlowSource", "config": {"tables": 30, "seconds_each": 0.01}}


def run_on_a_terminal(*arguments: str, cwd: Path) -> tuple[int, bytes, bytes]:
    """``airflow-ingest <arguments>`` with standard error a pseudo-terminal: (exit code, stdout, terminal output).

    The terminal is read while the command runs, so that a full terminal buffer never blocks it.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [COMMAND, *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the command and its children are done
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=300)
    reader.join(timeout=60)
    os.close(controller)
    return process.returncode, stdout, b"".join(shown)


def test_run_shows_progress_on_a_terminal(tmp_path):
    flow = run_flow(tmp_path, {"type": "file", "config": {"path": "out.jsonl"}}, source=SLOW)
    code, stdout, progress = run_on_a_terminal("run", "--progress-every", "0.05", str(flow), cwd=tmp_path)
    assert code == 0
    assert re.match(rb"\r[\d,]+ records  [\d,]+/s  0 failed ", progress), progress
    assert progress.endswith(b"\r\n") or progress.endswith(b"\n")
    assert b"run succeeded" in stdout


def test_run_prints_progress_lines_when_not_on_a_terminal(tmp_path):
    flow = run_flow(tmp_path, {"type": "console"}, source=SLOW)
    done = airflow_ingest("run", "--progress-every", "0.05", str(flow), cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) >= 2 and all(re.fullmatch(r"[\d,]+ records  [\d,]+/s  0 failed", line) for line in lines)


@pytest.mark.parametrize("quiet", [False, True])
def test_run_quiet_shows_no_progress_on_a_terminal(tmp_path: Path, quiet: bool) -> None:
    """On a terminal, where progress shows by default, ``--quiet`` shows none (the same run shows some without it)."""
    flow = run_flow(tmp_path, {"type": "file", "config": {"path": "out.jsonl"}}, source=SLOW)
    flags = ["--quiet"] if quiet else []
    code, stdout, shown = run_on_a_terminal("run", *flags, "--progress-every", "0.05", str(flow), cwd=tmp_path)
    assert code == 0 and b"run succeeded" in stdout
    if quiet:
        assert shown == b""
    else:
        assert re.search(rb"\r[\d,]+ records  [\d,]+/s  0 failed ", shown), shown


def test_run_quiet_shows_no_progress_elsewhere(tmp_path):
    flow = run_flow(tmp_path, {"type": "console"}, source=SLOW)
    done = airflow_ingest("run", "--quiet", "--progress-every", "0.05", str(flow), cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


def test_an_internal_error_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from airflow_provider_ingest.workflow import loader

    def broken(path: object, **options: object) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr(loader, "load_workflow", broken)
    assert main(["validate", str(write(tmp_path, "ok.yaml", GOOD))]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines()[0] == "airflow-ingest: internal error: TypeError: a bug"
    assert "Please report it" in err and "Traceback" not in err + out


@pytest.mark.parametrize("given", ["0", "-1", "nan", "inf", "often"])
def test_a_progress_interval_that_is_no_positive_number_is_refused(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["run", "--progress-every", given, "flow.yaml"])

    assert exit.value.code == 2
    assert f"--progress-every: not a positive number of seconds: {given!r}" in capsys.readouterr().err


def test_a_typed_setting_given_as_a_template_validates_as_the_dag_factory_takes_it_and_run_says_why_not(
    tmp_path, capsys
):
    """validate checks a file as the DAG factory does: a setting written as a Jinja template is checked once a task
    renders it. run renders no template, and says so."""
    text = "source: {type: sql, config: {sample: shop, sample_rows: '{{ params.n }}'}}\nsink: {type: console}\n"
    path = write(tmp_path, "templated.yaml", text)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"
    assert main(["run", str(path), "--quiet"]) == 1
    assert capsys.readouterr().err == (
        f"{path}:1:44: source.config.sample_rows: Input should be a valid integer, unable to parse string as an"
        " integer (a Jinja template: only an Airflow task renders it)\n"
    )
