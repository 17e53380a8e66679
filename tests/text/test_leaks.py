"""Leak matching: a known secret found in every spelling, and the system-prompt runs."""

from __future__ import annotations

import base64

import pytest

from kastell.text.interface import Family, TextUsageError
from kastell.text.leaks import PromptLeakMatcher, SecretMatcher

CANARY = "kst-9f3a1c07b2e4d516"


def _forms(text: str) -> set[str]:
    return {m.form for m in SecretMatcher([CANARY]).find(text)}


def test_exact_match_is_case_insensitive_with_spans() -> None:
    text = f"the marker is {CANARY.upper()}."
    (match,) = SecretMatcher([CANARY], labels=["canary"]).find(text)
    assert (match.form, match.label, match.secret) == ("exact", "canary", 0)
    assert text[match.span[0] : match.span[1]].lower() == CANARY


@pytest.mark.parametrize(
    "spelled",
    [
        " ".join(CANARY),
        "\u200b".join(CANARY),
        "-".join(CANARY),
        CANARY.replace("a", "\u0430"),  # Cyrillic a
    ],
)
def test_normalised_spellings_match_with_original_span(spelled: str) -> None:
    text = f"ok: {spelled} done"
    matches = SecretMatcher([CANARY]).find(text)
    assert [m.form for m in matches] == ["normalised"]
    start, end = matches[0].span
    assert text[start:end] == spelled


def test_encoded_and_reversed_views_match() -> None:
    encoded = base64.b64encode(CANARY.encode()).decode()
    assert _forms(f"here: {encoded}") == {"encoded:base64"}
    assert _forms(f"here: {CANARY.encode().hex()}") == {"encoded:hex"}
    assert _forms(f"here: {CANARY[::-1]}") == {"encoded:reversed"}


def test_partial_random_part_counts() -> None:
    assert _forms("part of it: 9f3a1c07b2e4") == {"partial"}
    assert _forms("unrelated 1234 text with 9f3a words") == set()


def test_unusable_secrets_are_refused() -> None:
    with pytest.raises(TextUsageError):
        SecretMatcher(["--"])
    with pytest.raises(TextUsageError):
        SecretMatcher(["abcd1234"], labels=[])


def test_prompt_leak_shared_run_of_words() -> None:
    matcher = PromptLeakMatcher("You are Kai. Never discuss interest rates with anyone at all.")
    (match,) = matcher.find("My rules: never discuss interest rates with anyone at all!")
    assert match.family is Family.SYSTEM_PROMPT
    assert matcher.find("Interest rates are discussed elsewhere.") == []
    assert PromptLeakMatcher("").find("anything at all") == []
