"""Tool-call screening without HTTP: the relay's hold-back, the screens, and properties."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.guard.answer_screen import REFUSED_RULE, ToolCall, screen_choice, screen_completion
from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.guard.stream_exchange import StreamRelay

from ._tool_calls import SECRET, chunk, record_line, streamed_calls, tool_calls

_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))


def _released(frames: list[bytes]) -> list[dict[str, Any]]:
    return tool_calls([json.loads(frame[len(b"data: ") :]) for frame in frames])


def test_relay_releases_a_call_when_the_next_index_starts() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    chunks = streamed_calls([("a", "one", '{"x": 1}'), ("b", "two", '{"y": 2}')])
    start_of_second = next(
        n for n, c in enumerate(chunks) if '"id": "b"' in json.dumps(c["choices"][0]["delta"])
    )
    before = [f for c in chunks[:start_of_second] for f in relay.frames(c)]
    assert _released(before) == []  # nothing of the first call while it may still grow
    at_second = relay.frames(chunks[start_of_second])
    assert [c["function"]["arguments"] for c in _released(at_second)] == ['{"x": 1}']
    rest = [f for c in chunks[start_of_second + 1 :] for f in relay.frames(c)] + relay.flush()
    assert [c["id"] for c in _released(rest)] == ["b"]
    assert relay.result.sent_tool_calls == 2


def test_relay_releases_held_calls_when_upstream_ends_without_finish() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    chunks = streamed_calls([("a", "one", '{"x": 1}')])[:-1]  # no finish_reason chunk
    frames = [f for c in chunks for f in relay.frames(c)]
    assert _released(frames) == []
    assert [c["id"] for c in _released(relay.flush())] == ["a"]
    assert relay.result.outcome == "complete"


def test_relay_refuses_a_piece_of_a_call_already_sent() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    chunks = streamed_calls([("a", "one", '{"x": 1}'), ("b", "two", "{}")])[:-1]
    late = chunk({"tool_calls": [{"index": 0, "function": {"arguments": "extra"}}]})
    frames = [f for c in [*chunks, late] for f in relay.frames(c)]
    assert relay.result.outcome == "blocked"
    assert relay.result.blocked_rule == REFUSED_RULE
    assert b"content_filter" in frames[-2]
    assert [c["id"] for c in _released(frames)] == ["a"]


def test_legacy_function_call_stream_is_held_and_released_whole() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    pieces = ['{"ci', 'ty": ', '"Bern"}']
    chunks = [chunk({"role": "assistant", "function_call": {"name": "w", "arguments": ""}})]
    chunks += [chunk({"function_call": {"arguments": p}}) for p in pieces]
    frames = [f for c in chunks for f in relay.frames(c)]
    assert b"function_call" not in b"".join(frames)
    end = relay.frames(chunk({}, "function_call"))
    deltas = [json.loads(f[len(b"data: ") :])["choices"][0]["delta"] for f in end]
    assert deltas[0] == {"function_call": {"name": "w", "arguments": '{"city": "Bern"}'}}
    assert relay.result.sent_tool_calls == 1


class _CrossingScanner:
    """Reports personal data spanning the join of the first two texts."""

    name: ClassVar[str] = "crossing"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.OUTPUT})
    rules: ClassVar[tuple[Any, ...]] = ()

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        cut = text.index("\n")
        return [Detection("guard.pii", "spans a join", ((cut - 2, cut + 2),))]


def test_redaction_across_two_texts_blocks() -> None:
    policy = RuleActionPolicy(all_rules())
    screener = Screener([_CrossingScanner()], policy)  # type: ignore[list-item]
    joined = screener.screen_joined(["abcd", "efgh"], Direction.OUTPUT, ScanContext())
    assert joined.action is Action.BLOCK
    assert joined.blocking_rule == "guard.pii"
    verdict = screen_choice(screener, ScanContext(), "abcd", [ToolCall("efgh", "{}")])
    assert verdict.action is Action.BLOCK


def test_redaction_in_a_call_already_sent_blocks() -> None:
    sent = ToolCall("mail", '{"to": "jane@example.eu"}', frozen=True)
    verdict = screen_choice(_SCREENER, ScanContext(), "", [sent, ToolCall("w", "{}")])
    assert verdict.action is Action.BLOCK
    assert verdict.blocking_rule == "guard.pii"
    fresh = screen_choice(_SCREENER, ScanContext(), "", [ToolCall("mail", sent.arguments)])
    assert fresh.action is Action.REDACT
    assert fresh.arguments == ('{"to": "[REDACTED]"}',)


# -- properties over arbitrary upstream chunks ---------------------------------------------

_TEXT = st.sampled_from(["", "{", '"a"', "}", "jane@example.eu", f" {SECRET} ", " x", "\\u0041"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)
_PIECE = st.fixed_dictionaries(
    {"index": st.integers(0, 2) | st.none()},
    optional={
        "id": st.sampled_from(["a", "b"]),
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {}, optional={"name": st.sampled_from(["f", "g"]), "arguments": _TEXT}
        ),
    },
)
_DELTA = st.fixed_dictionaries(
    {},
    optional={
        "content": _TEXT | st.none(),
        "tool_calls": st.lists(_PIECE, max_size=2) | st.none(),
        "function_call": st.fixed_dictionaries({}, optional={"name": _TEXT, "arguments": _TEXT}),
    },
)
_STREAM_CHUNK = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries(
                {
                    "index": st.integers(0, 1),
                    "delta": _DELTA,
                    "finish_reason": st.none() | st.just("tool_calls"),
                }
            ),
            max_size=2,
        )
    }
)


def _received(frames: list[bytes]) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Per choice, the content and the tool-call record lines the frames carried."""
    content: dict[int, str] = {}
    calls: dict[int, list[str]] = {}
    for frame in frames:
        for choice in json.loads(frame[len(b"data: ") :]).get("choices", []):
            delta, index = choice["delta"], choice["index"]
            if isinstance(delta.get("content"), str):
                content[index] = content.get(index, "") + delta["content"]
            lines = [record_line(c) for c in delta.get("tool_calls") or []]
            if "function_call" in delta:
                lines.append(record_line(delta["function_call"]))
            calls.setdefault(index, []).extend(lines)
    return content, calls


@settings(max_examples=300, deadline=2000)
@given(st.lists(_STREAM_CHUNK, max_size=8), st.booleans())
def test_relay_records_exactly_what_its_frames_carried(
    chunks: list[dict[str, Any]], flush: bool
) -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=4)
    frames: list[bytes] = []
    for item in chunks:
        frames += relay.frames(item)
        if relay.result.outcome == "blocked":
            break
    if flush and relay.result.outcome != "blocked":
        frames += relay.flush()
    content, calls = _received(frames)
    result = relay.result
    for index in {*content, *calls, *result.sent, *result.tool_calls}:
        assert result.sent.get(index, "") == content.get(index, "")
        assert result.tool_calls.get(index, []) == calls.get(index, [])
    assert SECRET not in b"".join(frames).decode()


@settings(max_examples=200, deadline=2000)
@given(st.dictionaries(st.sampled_from(["content", "tool_calls", "function_call"]), _JSON))
def test_screen_completion_total_on_any_message(message: dict[str, Any]) -> None:
    answer = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    screened = screen_completion(_SCREENER, ScanContext(), answer)
    assert answer["choices"][0]["message"] == message  # the input is not changed in place
    assert len(screened.sent_texts) <= len(screened.choices) <= 1
