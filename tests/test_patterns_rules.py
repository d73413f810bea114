"""Name patterns at the edges: the message for each construct RE2 refuses, case, and names with spellings."""

from __future__ import annotations

import pytest
import re2

from airflow_provider_ingest.patterns import NamePatterns, PatternError, PatternSet, _explain, compile_pattern

LINEAR = "(patterns are matched by RE2, in linear time)"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("a(?=b)", f"lookahead (?=...) is not supported {LINEAR}"),
        ("a(?!b)", f"negative lookahead (?!...) is not supported {LINEAR}"),
        ("(?<=a)b", f"lookbehind (?<=...) is not supported {LINEAR}"),
        ("(?<!a)b", f"negative lookbehind (?<!...) is not supported {LINEAR}"),
        ("(a)\\1", f"backreferences (\\1) are not supported {LINEAR}"),
        ("(?P<x>a)\\g<x>", f"backreferences (\\1) are not supported {LINEAR}"),
        ("a[", "missing ]: ["),
        ("caf\\é", "invalid escape sequence: \\é"),  # RE2's message is UTF-8 bytes
        ("a\ud800b", "it holds a character that is not valid Unicode text (a lone surrogate)"),  # JSON "\ud800"
    ],
)
def test_a_pattern_re2_refuses_is_explained(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as raised:
        compile_pattern(pattern)
    assert str(raised.value) == f"invalid regular expression {pattern!r}: {reason}"
    with pytest.raises(ValueError, match="invalid regular expression"):
        NamePatterns(exclude=[pattern])


def test_case_is_ignored_only_when_asked() -> None:
    assert compile_pattern("Sales").fullmatch("SALES") is None
    assert compile_pattern("Sales", ignore_case=True).fullmatch("SALES") is not None
    assert NamePatterns(include=["Sales"], ignore_case=True).matches("SALES")
    assert not NamePatterns(include=["Sales"]).matches("SALES")
    assert not NamePatterns(exclude=["sales"], ignore_case=True).matches("SALES")
    assert PatternSet([NamePatterns(include=["Sales"])], ignore_case=True).matching("SALES") == [0]
    assert PatternSet([NamePatterns(include=["Sales"])]).matching("SALES") == []
    assert PatternSet([NamePatterns(exclude=["Sales"])], ignore_case=True).matching("SALES") == []


def test_include_then_exclude_on_whole_names() -> None:
    patterns = NamePatterns(include=["sales.*", "hr"], exclude=["sales_tmp"])
    assert [name for name in ("sales", "sales_eu", "sales_tmp", "hr", "hr_x", "x") if patterns.matches(name)] == [
        "sales",
        "sales_eu",
        "hr",
    ]
    assert NamePatterns().matches("anything")
    assert not NamePatterns(exclude=[".*"]).matches("anything")


def test_a_name_with_several_spellings_is_kept_by_any_and_dropped_by_any() -> None:
    members = [NamePatterns(include=["a.*"], exclude=["ab"]), NamePatterns(exclude=["x"]), NamePatterns(include=["c"])]
    together = PatternSet(members)
    assert together.matching_any(("AB", "ab")) == [1]  # member 0 keeps "AB" but excludes "ab"
    assert together.matching_any(("ac", "x")) == [0]
    assert together.matching_any(("c",)) == [1, 2]
    assert PatternSet([NamePatterns(include=["a.*"])]).matching_any(("b", "c")) == []


def test_a_refused_pattern_is_reported_once_not_logged(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PatternError):
        compile_pattern("a(?=b)")
    with pytest.raises(ValueError, match="backreferences"):
        NamePatterns(include=["x", "(a)\\1"])
    assert capfd.readouterr().err == ""  # RE2 would print each error to stderr itself


def test_an_re2_error_given_as_text_is_explained_like_one_given_as_bytes() -> None:
    """RE2 gives a pattern's problem as bytes, the re2 module its own (a set that does not compile) as text: either
    is explained the same way."""
    for message in (b"invalid perl operator: (?=", "invalid perl operator: (?="):
        assert _explain(re2.error(message)) == f"lookahead (?=...) is not supported {LINEAR}"
    assert _explain(re2.error("failed to compile Set")) == "failed to compile Set"
