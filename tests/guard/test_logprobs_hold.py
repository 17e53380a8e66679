"""Streamed logprob entries never run ahead of the text released (unit and property tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.guard._logprobs import LogprobsHold, logprobs_covered
from kastell.guard.interface import ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.guard.stream_exchange import StreamRelay

from ._tool_calls import relay_frames


def entries(*tokens: str) -> list[dict[str, Any]]:
    return [{"token": token, "logprob": -1} for token in tokens]


def tokens(logprobs: dict[str, Any] | None, field: str = "content") -> list[str]:
    return [item["token"] for item in (logprobs or {}).get(field) or []]


def test_an_entry_waits_until_the_released_text_covers_it() -> None:
    hold = LogprobsHold()
    hold.feed({"content": entries("Hello", " world")})
    assert tokens(hold.release({"content": "Hel"}, final=False)) == []
    assert tokens(hold.release({"content": "Hello wor"}, final=False)) == ["Hello"]
    assert tokens(hold.release({"content": "Hello world"}, final=True)) == [" world"]
    assert hold.stopped is None
    assert hold.held == 0


def test_a_token_the_released_text_contradicts_stops_the_choice_for_good() -> None:
    hold = LogprobsHold()
    hold.feed({"content": entries("Mail", " jane", "@x.eu", " now")})
    released = hold.release({"content": "Mail [REDACTED] now"}, final=False)
    assert tokens(released) == ["Mail"]
    assert hold.stopped is not None
    hold.feed({"content": entries(" later")})
    assert hold.release({"content": "Mail [REDACTED] now later"}, final=True) is None
    assert hold.received == 5


def test_entries_the_finished_text_does_not_cover_stop_at_the_end() -> None:
    hold = LogprobsHold()
    hold.feed({"content": entries("Hi", " there")})
    assert tokens(hold.release({"content": "Hi th"}, final=False)) == ["Hi"]
    assert hold.release({"content": "Hi th"}, final=True) is None
    assert hold.stopped is not None


def test_refusal_entries_follow_the_refusal() -> None:
    hold = LogprobsHold()
    hold.feed({"content": None, "refusal": entries("No", ".")})
    released = hold.release({"content": "", "refusal": "No."}, final=True)
    assert released == {"content": None, "refusal": entries("No", ".")}


@pytest.mark.parametrize(
    "logprobs",
    [
        "tokens",
        {"content": "Hello"},
        {"content": [{"logprob": -1}]},
        {"content": [{"token": 7}]},
        {"content": entries("Hello"), "prompt_tokens": entries("secret system prompt")},
    ],
)
def test_logprobs_the_guard_cannot_check_stop_the_choice(logprobs: Any) -> None:
    hold = LogprobsHold()
    hold.feed(logprobs)
    assert hold.stopped is not None
    assert hold.received > 0
    assert hold.release({"content": "Hello"}, final=True) is None


def test_a_whole_answer_must_spell_out_its_logprobs() -> None:
    assert logprobs_covered(None, {"content": "Hi"})
    assert logprobs_covered({"content": entries("H", "i"), "refusal": None}, {"content": "Hi"})
    assert not logprobs_covered({"content": entries("H", "o")}, {"content": "Hi"})
    assert not logprobs_covered({"content": entries("Hi")}, {"content": ""})
    assert not logprobs_covered({"refusal": entries("No")}, {"content": "No"})


# -- the relay, without HTTP ---------------------------------------------------------------

_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))
_TOKEN = st.sampled_from(
    ["Hel", "lo", " ", "", "jane@example.eu", " AKIAIOSFODNN7EXAMPLE ", "\u00e9", "[REDACTED]"]
)
_FIELD = st.sampled_from(["content", "refusal"])


@st.composite
def _choices(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(_FIELD)
    text = draw(st.lists(_TOKEN, max_size=4))
    spelled = text if draw(st.booleans()) else draw(st.lists(_TOKEN, max_size=4))
    choice: dict[str, Any] = {"index": draw(st.integers(0, 1)), "delta": {field: "".join(text)}}
    choice["logprobs"] = {field: entries(*spelled)} if draw(st.booleans()) else None
    choice["finish_reason"] = draw(st.none() | st.just("stop"))
    return choice


def _relay(chunks: list[dict[str, Any]]) -> tuple[StreamRelay, list[bytes]]:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=6)
    return relay, relay_frames(relay, chunks)


@settings(max_examples=300, deadline=2000)
@given(st.lists(st.fixed_dictionaries({"choices": st.lists(_choices(), max_size=2)}), max_size=8))
def test_no_frame_carries_a_token_its_released_text_does_not_cover(
    chunks: list[dict[str, Any]],
) -> None:
    relay, frames = _relay(chunks)
    upstream: dict[tuple[int, str], list[str]] = {}
    for item in chunks:
        for choice in item["choices"]:
            for field, spelled in (choice["logprobs"] or {}).items():
                upstream.setdefault((choice["index"], field), []).extend(
                    tokens({field: spelled}, field)
                )
    text: dict[tuple[int, str], str] = {}
    sent: dict[tuple[int, str], list[str]] = {}
    for frame in frames:
        for choice in json.loads(frame[len(b"data: ") :]).get("choices", []):
            for field in ("content", "refusal"):
                key = (choice["index"], field)
                text[key] = text.get(key, "") + (choice["delta"].get(field) or "")
                sent.setdefault(key, []).extend(tokens(choice.get("logprobs"), field))
                assert text[key].startswith("".join(sent[key]))  # covered when it goes out
                assert sent[key] == upstream.get(key, [])[: len(sent[key])]  # in order, unaltered
    for index, count in relay.result.logprobs_sent.items():
        assert count == len(sent.get((index, "content"), [])) + len(
            sent.get((index, "refusal"), [])
        )
