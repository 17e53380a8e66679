"""Property tests: untrusted bytes never crash the parsers or the scanners."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.guard.config import parse_config
from kastell.guard.exchange import BadRequestError, parse_chat_body
from kastell.guard.interface import Action, Direction, GuardConfigError, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.guard.streaming import StreamScreen

_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(func: Any, argument: Any) -> tuple[Any, Exception | None]:
    """Run ``func``; an expected, typed error is returned, anything else propagates."""
    try:
        return func(argument), None
    except (BadRequestError, GuardConfigError) as error:
        return None, error


@settings(max_examples=200, deadline=500)
@given(st.binary(max_size=300))
def test_parse_chat_body_bytes(raw: bytes) -> None:
    body, error = _outcome(parse_chat_body, raw)
    if error is not None:
        assert str(error)
    else:
        assert isinstance(body["messages"], list)


@settings(max_examples=200, deadline=500)
@given(st.dictionaries(st.sampled_from(["model", "messages", "stream", "x"]), _json, max_size=4))
def test_parse_chat_body_json(document: dict[str, Any]) -> None:
    _, error = _outcome(parse_chat_body, json.dumps(document).encode())
    assert error is None or str(error)


@settings(max_examples=200, deadline=1000)
@given(_json)
def test_parse_config_never_crashes(document: Any) -> None:
    _, error = _outcome(parse_config, document)
    assert error is None or (isinstance(error, GuardConfigError) and error.diagnostics())


@settings(max_examples=200, deadline=1000)
@given(st.text(max_size=400), st.sampled_from(list(Direction)))
def test_scanners_total_on_any_text(text: str, direction: Direction) -> None:
    verdict = _SCREENER.screen_text(
        text, direction, ScanContext(canary="kst-x", system_prompt=text)
    )
    assert verdict.action in Action


@settings(max_examples=100, deadline=2000)
@given(st.lists(st.text(max_size=30), max_size=10), st.integers(min_value=0, max_value=64))
def test_stream_sent_is_prefix_of_screened_answer(pieces: list[str], holdback: int) -> None:
    screen = StreamScreen(_SCREENER, ScanContext(), holdback)
    out = "".join(screen.feed(p) for p in pieces) + screen.finish()
    assert out == screen.sent
    if not screen.blocked:
        verdict = _SCREENER.screen_text("".join(pieces), Direction.OUTPUT, ScanContext())
        assert out == verdict.text


_CHOICE = st.dictionaries(st.sampled_from(["index", "delta", "finish_reason"]), _json, max_size=3)
_CHUNK = st.one_of(
    st.dictionaries(st.sampled_from(["choices", "id", "usage"]), _json, max_size=3),
    st.fixed_dictionaries({"choices": st.lists(_CHOICE, max_size=2)}),
    st.fixed_dictionaries(
        {
            "choices": st.lists(
                st.fixed_dictionaries(
                    {
                        "index": st.integers(0, 2),
                        "delta": st.fixed_dictionaries({"content": st.text(max_size=20)}),
                        "finish_reason": st.none() | st.just("stop"),
                    }
                ),
                max_size=2,
            )
        }
    ),
)


@settings(max_examples=200, deadline=1000)
@given(st.lists(_CHUNK, max_size=5))
def test_stream_relay_total_on_any_upstream_chunks(chunks: list[dict[str, Any]]) -> None:
    from kastell.guard.answer_shape import AnswerShapeError
    from kastell.guard.stream_exchange import StreamRelay

    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    frames: list[bytes] = []
    try:  # a malformed chunk is a typed upstream error (the stream ends with upstream_error)
        for chunk in chunks:
            frames += relay.frames(chunk)
        frames += relay.flush()
    except AnswerShapeError:
        pass
    assert all(frame.startswith(b"data: ") for frame in frames)
