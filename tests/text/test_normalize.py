"""``fold``: the one normalisation every text scanner relies on."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from kastell.text.normalize import fold


def _reference(text: str) -> str:
    """The definition: NFKD, combining marks dropped, casefold, white space collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", stripped.casefold())


@given(st.text(max_size=200))
def test_fold_matches_its_definition_for_any_text(text: str) -> None:
    assert fold(text) == _reference(text)
    assert fold(text) == _reference(text)  # the second call is served by the cache


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_ascii_fast_path_matches_the_definition(text: str) -> None:
    assert fold(text) == _reference(text)


def test_accents_case_and_space() -> None:
    assert fold("Ignorez  les\tInstructions PRÉCÉDENTES") == "ignorez les instructions precedentes"
    assert fold("Straße") == "strasse"
