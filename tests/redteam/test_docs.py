"""docs/redteam.md states numbers this Kastell computes: keep them in step with the code."""

from __future__ import annotations

import pathlib
import re

import pytest

from kastell.redteam.significance import fisher_exact, newcombe_interval
from kastell.redteam.suites import SUITES, materialize

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "redteam.md"


@pytest.mark.parametrize("name", sorted(SUITES))
def test_documented_attempt_counts_match_the_suites(name: str) -> None:
    match = re.search(rf"^\| `{re.escape(name)}` \| (\d+) ", DOC.read_text(encoding="utf-8"),
                      re.MULTILINE)
    assert match is not None, f"{name} missing from the suites table"
    assert int(match.group(1)) == len(materialize(SUITES[name]).attempts)


def test_worked_diff_example_matches_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"**{fisher_exact(0, 18, 6, 18):.4f}**" in text
    low, high = newcombe_interval(0, 18, 6, 18)
    assert f"[+{low:.1%}, +{high:.1%}]" in text
