"""Name patterns: one RE2 pass over many rules finds exactly what matching each rule alone finds."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.patterns import NamePatterns, PatternSet

PIECES = ["a", "b", "_", "id", "name", "e?mail", ".*", "[0-9]+", "(x|y)", "A"]
pattern = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)
members = st.lists(
    st.builds(
        NamePatterns,
        include=st.lists(pattern, max_size=3),
        exclude=st.lists(pattern, max_size=2),
        ignore_case=st.just(True),
    ),
    max_size=6,
)
names = st.text(alphabet="abxyAB_0189emilnd", max_size=12)


@settings(max_examples=300, deadline=None)
@given(members, st.lists(names, min_size=1, max_size=5))
def test_a_pattern_set_matches_as_each_member_alone(patterns: list[NamePatterns], candidates: list[str]) -> None:
    together = PatternSet(patterns, ignore_case=True)
    for name in candidates:
        assert together.matching(name) == [i for i, member in enumerate(patterns) if member.matches(name)]


def test_a_pattern_set_without_patterns_keeps_only_open_members() -> None:
    assert PatternSet([NamePatterns(), NamePatterns(exclude=["tmp_.*"])]).matching("tmp_x") == [0]
    assert PatternSet([]).matching("anything") == []


def test_a_catastrophic_pattern_in_a_set_does_not_hang() -> None:
    started = time.process_time()  # CPU seconds: a busy machine's other work does not count
    found = PatternSet([NamePatterns(include=["(a+)+$"]), NamePatterns(include=["a*"])]).matching("a" * 10_000 + "b")
    assert found == [] and time.process_time() - started < 5.0
