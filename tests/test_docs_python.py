"""Every Python block of README.md and docs/*.md is a DAG file Airflow imports as written; those that read only
the bundled sample shop (no Airflow connection, no absolute path) run under ``dag.test()`` too.

The DAG examples are thus the code users copy, not a copy of it kept in a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(?P<text>.*?)```", re.S)


def blocks() -> Iterator[Any]:
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("text")) + 1
            yield pytest.param(match["text"], id=f"{page.name}:{line}")


def runs_here(text: str) -> bool:
    """Whether a block reads only the bundled sample shop: no Airflow connection, no absolute path."""
    return '"sample": "shop"' in text and "conn_id" not in text and not re.search(r"""["']/""", text)


def test_the_readme_has_python_blocks_and_one_runs_here() -> None:
    texts = [param.values[0] for param in blocks()]
    assert len(texts) >= 2 and any(runs_here(text) for text in texts)


@pytest.mark.airflow
@pytest.mark.parametrize("text", list(blocks()))
def test_a_documented_dag_imports_and_runs_on_the_sample(
    text: str, dags_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.dags import dag_bag, task_states

    (dags_folder / "documented.py").write_text(text)
    bag = dag_bag(dags_folder)

    assert not bag.import_errors, bag.import_errors
    [dag_id] = [dag_id for dag_id, dag in bag.dags.items() if dag.fileloc.endswith("documented.py")]
    if not runs_here(text):
        return
    monkeypatch.setenv("HOME", str(tmp_path))  # the default staging root is under ~
    dag_run = bag.dags[dag_id].test()

    states = task_states(dag_run)
    assert states and set(states.values()) == {"success"}, states
