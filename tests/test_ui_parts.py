"""The UI's parts without a server: download confinement (properties over path strings), the status kept in
XCom giving back the same table, the chart, and how ingestion tasks are told from serialized DAGs."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.api.report import Report
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.status import (
    MAX_COUNTERS,
    MAX_NAME,
    MAX_REPORTS,
    MAX_TEXT,
    SHOWN_FAILURES,
    SHOWN_WARNINGS,
    bounded_status,
    status_data,
    status_lines,
    status_result,
)
from airflow_provider_ingest.staging.paths import RUN_MARKER
from airflow_provider_ingest.ui.chart import Point, runs_chart
from airflow_provider_ingest.ui.files import Refused, RunFolder, is_run_folder, resolve_download, run_folder
from airflow_provider_ingest.ui.shapes import dag_shape

DAG = "shop"
RUN = "manual__2024-01-01T00:00:00+00:00"
SECRET = b"secret: outside the run folder\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A staging root with a run folder (files, links inside and out), another run's folder, and a secret."""
    root = tmp_path_factory.mktemp("staging")
    run = root / DAG / RUN
    for name in ("source/output.jsonl", "filter/output.jsonl", "filter/dead_letters.jsonl", "map/0/output.jsonl"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(f"file {name}\n")
    (run / RUN_MARKER).write_text("marker\n")
    (run / "source" / f"output.jsonl.{'a' * 32}.partial").write_text("killed\n")
    other = root / DAG / "other_run" / "source"
    other.mkdir(parents=True)
    (other / "output.jsonl").write_bytes(SECRET)
    (root / "secret.txt").write_bytes(SECRET)
    (run / "source" / "leak.jsonl").symlink_to(root / "secret.txt")
    (run / "escape").symlink_to(root, target_is_directory=True)
    (run / "source" / "alias.jsonl").symlink_to(run / "source" / "output.jsonl")
    return {"root": root, "run": run}


def allowed_files(run: Path) -> set[str]:
    """What may be downloaded: every regular file under the run folder, marker and temporary files aside."""
    found = set()
    for path in run.rglob("*"):
        real = path.resolve()
        inside = real.is_file() and real.is_relative_to(run.resolve())
        if inside and path.name != RUN_MARKER and not path.name.endswith(".partial"):
            found.add(str(path.relative_to(run)))
    return found


NAMES = st.sampled_from(
    ["..", ".", "", "source", "filter", "map", "0", "output.jsonl", "dead_letters.jsonl", "leak.jsonl", "alias.jsonl",
     "escape", "secret.txt", "other_run", DAG, RUN, RUN_MARKER, "%2e%2e", "..\\..", "~", "file:", "s3:", "\x00", " "]
)  # fmt: skip
PATHS = st.one_of(
    st.lists(NAMES, min_size=1, max_size=6).map("/".join),
    st.lists(NAMES, min_size=1, max_size=4).map(lambda names: "/" + "/".join(names)),
    st.text(max_size=60),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=PATHS)
def test_a_download_is_a_file_of_the_run_folder_or_refused(tree: dict[str, Path], path: str) -> None:
    folder = RunFolder(str(tree["run"]))
    try:
        target = resolve_download(folder, path)
    except Refused as refused:
        assert refused.status in (400, 404)
        return
    resolved = Path(target)
    assert resolved == resolved.resolve() and resolved.is_file()
    assert resolved.is_relative_to(tree["run"].resolve())
    assert str(Path(path)) in allowed_files(tree["run"])
    assert resolved.read_bytes() != SECRET


def test_each_file_of_the_run_folder_can_be_downloaded(tree: dict[str, Path]) -> None:
    folder = RunFolder(str(tree["run"]))
    for relative in sorted(allowed_files(tree["run"])):
        assert Path(resolve_download(folder, relative)).read_text().startswith("file ")
    for refused in (RUN_MARKER, f"source/output.jsonl.{'a' * 32}.partial", "source/leak.jsonl", "escape/secret.txt"):
        with pytest.raises(Refused):
            resolve_download(folder, refused)


SEGMENT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=12)
SEGMENT = SEGMENT.filter(lambda name: name not in (".", ".."))


@given(
    root=st.lists(SEGMENT, max_size=3),
    dag_id=SEGMENT,
    run_id=SEGMENT,
    rest=st.lists(SEGMENT, min_size=1, max_size=3),
    scheme=st.sampled_from(["", "file://", "s3://", "gs://", "http://", "https://", "ftp://"]),
)
def test_a_run_folder_is_found_in_a_staged_uri(
    root: list[str], dag_id: str, run_id: str, rest: list[str], scheme: str
) -> None:
    names = [*root, dag_id, run_id, *rest]
    uri = scheme + "/" + "/".join(names) if scheme in ("", "file://") else scheme + "/".join(["bucket", *names])
    folder = run_folder(uri, dag_id, run_id)
    if scheme in ("http://", "https://", "ftp://"):
        assert folder is None  # the API server never fetches from such places
        return
    assert folder is not None
    assert folder.uri.split("/")[-2:] == [dag_id, run_id]
    relative = folder.relative(uri)
    assert relative is not None and uri.endswith("/" + relative)
    assert folder.relative(folder.uri) is None and folder.relative(uri + "/../../..") is None


def test_a_folder_without_the_run_marker_is_no_run_folder(tree: dict[str, Path], tmp_path: Path) -> None:
    assert is_run_folder(RunFolder(str(tree["run"])))
    assert not is_run_folder(RunFolder(str(tree["root"] / DAG / "other_run")))
    fake = tmp_path / DAG / RUN
    fake.mkdir(parents=True)
    (fake / RUN_MARKER).symlink_to(tree["run"] / RUN_MARKER)  # a link to a marker proves nothing
    assert not is_run_folder(RunFolder(str(fake)))


def test_a_run_folder_that_is_a_link_to_another_runs_is_refused(tree: dict[str, Path], tmp_path: Path) -> None:
    """A link put in place of a run's folder (or its DAG's) cannot serve another DAG's files under this one's name."""
    for linked in (tmp_path / "evil" / RUN, tmp_path / "evil_dag"):
        linked.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "evil" / RUN).symlink_to(tree["run"], target_is_directory=True)
    (tmp_path / "evil_dag").symlink_to(tree["root"] / DAG, target_is_directory=True)
    for folder in (RunFolder(str(tmp_path / "evil" / RUN)), RunFolder(str(tmp_path / "evil_dag" / RUN))):
        assert not is_run_folder(folder)
        with pytest.raises(Refused, match="the run's folder is a link to another folder"):
            resolve_download(folder, "source/output.jsonl")
    (tmp_path / "root").symlink_to(tree["root"], target_is_directory=True)  # the staging root itself may be a link
    through_root = RunFolder(str(tmp_path / "root" / DAG / RUN))
    assert is_run_folder(through_root)
    assert resolve_download(through_root, "source/output.jsonl") == str(
        tree["run"].resolve() / "source" / "output.jsonl"
    )


@pytest.mark.parametrize("uri", ["gs://bucket/shop/run", "abfs://container/shop/run", "hdfs://namenode/shop/run"])
def test_an_object_store_the_api_server_cannot_read_holds_no_run_folder(uri: str) -> None:
    """Its filesystem package missing on the API server (installed on the workers only): no 500, nothing linked."""
    assert not is_run_folder(RunFolder(uri))
    with pytest.raises(Refused, match="no such file"):
        resolve_download(RunFolder(uri), "source/output.jsonl")


# --- the status kept in XCom


REPORTS = st.builds(
    Report,
    component=st.sampled_from(["input", "source:sql", "processor:filter", "processor:pii", "output", "sink:file"]),
    records=st.integers(0, 10**9),
    filtered=st.integers(0, 10**6),
    warning_count=st.integers(0, 50),
    warnings=st.lists(st.text(max_size=80), max_size=8),
    counters=st.dictionaries(st.text(min_size=1, max_size=20), st.integers(0, 10**6), max_size=4),
    elapsed=st.floats(0, 10**5, allow_nan=False),
)


@st.composite
def results(draw: st.DrawFn) -> RunResult:
    reports = draw(st.lists(REPORTS, min_size=1, max_size=5))
    for report in reports:
        for _ in range(draw(st.integers(0, 8))):
            report.add_failure(draw(st.text(max_size=100)), draw(st.none() | st.text(max_size=30)))
    return RunResult(
        reports=reports,
        threshold=draw(st.floats(0, 100, allow_nan=False)),
        staged_uri=draw(st.none() | st.just("/staging/shop/run/source/output.jsonl")),
        dead_letter_uri=draw(st.none() | st.just("/staging/shop/run/source/dead_letters.jsonl")),
        error=draw(st.none() | st.text(min_size=1, max_size=80)),
        below_threshold=draw(st.lists(st.sampled_from(["source:sql", "processor:pii"]), max_size=2, unique=True)),
    )


@settings(max_examples=200, deadline=None)
@given(result=results())
def test_the_status_in_xcom_gives_back_the_same_table(result: RunResult) -> None:
    import json

    data = json.loads(json.dumps(status_data(result)))  # as XCom stores it
    assert status_lines(status_result(data)) == status_lines(result)


def test_the_status_in_xcom_is_small() -> None:
    report = Report(component="processor:pii")
    for index in range(1000):
        report.add_failure("x" * 10_000, f"svc.db.s.t{index}")
    data = status_data(RunResult(reports=[report], threshold=90.0))
    assert len(data["reports"][0]["failures"]) == 5 and data["reports"][0]["failure_count"] == 1000
    assert all(len(failure["error"]) == MAX_TEXT for failure in data["reports"][0]["failures"])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reports": [], "threshold": 90}, "version"),
        ({"version": 1, "reports": [{"records": 3}], "threshold": 90}, "reports.0.component"),
        ({"version": 1, "reports": "x", "threshold": 90}, "reports"),
        ("not a dict", "status"),
    ],
)
def test_anything_else_in_xcom_is_no_status(data: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"not an ingest status: {field}"):
        status_result(data)


# --- the chart


@given(
    points=st.lists(
        st.builds(
            Point,
            run_id=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=40),
            state=st.sampled_from([None, "success", "failed", "running", "queued", "<b>odd</b>"]),
            records=st.none() | st.integers(0, 10**9),
            failures=st.none() | st.integers(0, 10**6),
        ),
        max_size=60,
    )
)
def test_the_chart_is_one_bar_per_run_in_well_formed_svg(points: list[Point]) -> None:
    svg = runs_chart(points)
    tree = ElementTree.fromstring(svg)
    groups = tree.findall("{http://www.w3.org/2000/svg}g")
    assert len(groups) == len(points)
    titles = [group.find("{http://www.w3.org/2000/svg}title").text or "" for group in groups]
    assert all(title.startswith(point.run_id) for title, point in zip(titles, points, strict=True))
    assert "<script" not in svg


# --- telling ingestion tasks


def serialized(*tasks: dict[str, object]) -> dict[str, object]:
    return {"dag": {"tasks": [{"__var": task, "__type": "operator"} for task in tasks]}}


def test_ingestion_tasks_are_told_by_operator_and_ordered_upstream_first() -> None:
    module = "airflow_provider_ingest.airflow.operators"
    shape = dag_shape(
        "shop",
        serialized(
            {"task_id": "z_sink", "task_type": "IngestSinkOperator", "_task_module": module},
            {"task_id": "report", "task_type": "PythonOperator", "_task_module": "airflow.providers.standard"},
            {"task_id": "a_pii", "task_type": "IngestProcessorOperator", "_task_module": module,
             "downstream_task_ids": ["z_sink"]},
            {"task_id": "mine", "task_type": "MySource", "_task_module": "my.module",
             "template_fields": ["config", "input_uri", "staging_root"], "downstream_task_ids": ["a_pii"]},
        ),
    )  # fmt: skip
    assert shape is not None
    assert [(task.task_id, task.role) for task in shape.tasks] == [
        ("mine", "step"),
        ("a_pii", "processor"),
        ("z_sink", "sink"),
    ]
    assert dag_shape("plain", serialized({"task_id": "t", "task_type": "BashOperator"})) is None
    assert dag_shape("broken", {"dag": "nonsense"}) is None


def test_a_huge_status_written_by_hand_is_read_bounded_and_shown_one_line_each() -> None:
    """An XCom anyone who may edit the DAG's runs can write through Airflow's API: its size cannot size the page."""
    long_name = "n" * 300_000
    report = {
        "component": long_name,
        "records": 1,
        "failures": [{"fqn": "f", "error": "e\u202e" * 5000}] * 100_000,
        "failure_count": 100_000,
        "warnings": ["w"] * 100_000,
        "warning_count": 100_000,
        "counters": {f"counter {number}": number for number in range(100_000)},
    }
    data = {"version": 1, "reports": [report, {"component": "line\nrun succeeded"}] * 300, "threshold": 50.0}

    result = status_result(bounded_status(data))
    text = "\n".join(status_lines(result))

    assert len(result.reports) == MAX_REPORTS
    assert len(result.reports[0].component) == MAX_NAME and len(result.reports[0].counters) == MAX_COUNTERS
    assert len(result.reports[0].failures) == SHOWN_FAILURES and len(result.reports[0].warnings) == SHOWN_WARNINGS
    assert len(text) < 2_000_000 and "\u202e" not in text and "\\u202e" in text
    assert "line\\nrun succeeded" in text and "\nrun succeeded" not in text.replace("\nrun succeeded with", "")


def test_a_value_in_a_link_is_one_path_segment() -> None:
    from airflow_provider_ingest.ui.app import _templates

    rendered = _templates().from_string('<a href="../dags/{{ run_id|segment }}">{{ name }}</a>')

    assert rendered.render(run_id='x"/../../y?z#w', name="a\u202eb") == (
        '<a href="../dags/x%22%2F..%2F..%2Fy%3Fz%23w">a\\u202eb</a>'
    )
