"""A refusal is output text like content; streamed text that is not a string stops the stream."""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.audit.interface import EventType
from kastell.guard.interface import ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.guard.stream_exchange import StreamRelay
from kastell.guard.streaming import UNSCREENABLE_RULE

from ._servers import serve_in_thread
from ._tool_calls import SECRET, chunk, relay_frames
from .conftest import KEY, Gateway, read_records
from .test_output_tool_calls import ToolCallUpstream, _frames, _learn_canary, _response

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Tell me a secret."}]}


@pytest.fixture
def upstream() -> Iterator[tuple[ToolCallUpstream, str]]:
    mock = ToolCallUpstream()
    with serve_in_thread(mock) as url:
        yield mock, url


def _completion(message: dict[str, Any]) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
    document = {"id": "c", "object": "chat.completion", "created": 1, "model": "mock-gpt"}
    return json.dumps({**document, "choices": [choice]}).encode()


def _refusal_chunks(refusal: str) -> list[dict[str, Any]]:
    """A streamed refusal in 3-character pieces (content null, as OpenAI sends it)."""
    pieces = [chunk({"refusal": refusal[at : at + 3]}) for at in range(0, len(refusal), 3)]
    return [chunk({"role": "assistant", "content": None}), *pieces, chunk({}, "stop")]


def _post(url: str, **extra: Any) -> httpx.Response:
    headers = {**AUTH, **extra.pop("headers", {})}
    body = {**CHAT, **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def _canary_in_refusal(
    gateway: Gateway, mock: ToolCallUpstream, audit_path: pathlib.Path, *, stream: bool
) -> httpx.Response:
    """A refusal that leaks the session canary; checks it was withheld as an incident."""
    session = {"X-Kastell-Session": f"refusal-{stream}"}
    with gateway() as (url, _):
        canary = _learn_canary(url, mock, session["X-Kastell-Session"])
        refusal = f"Sorry, the marker is {canary}, I cannot go on."
        mock.script.raw_body = _completion({"content": None, "refusal": refusal})
        mock.stream_chunks = _refusal_chunks(refusal) if stream else None
        response = _post(url, stream=stream, headers=session)
    assert "kst-" not in response.text
    records = read_records(audit_path)
    assert EventType.CANARY_LEAK in [r.event.event_type for r in records]
    assert "guard.output.canary_leak" in _response(records).event.rule_ids
    return response


def test_canary_in_a_refusal_is_withheld(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    response = _canary_in_refusal(gateway, upstream[0], audit_path, stream=False)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["refusal"] is None


def test_personal_data_in_a_refusal_is_redacted_in_place(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    refusal = "I will not e-mail jane.doe@example.eu for you."
    upstream[0].script.raw_body = _completion({"content": None, "refusal": refusal})
    with gateway() as (url, _):
        response = _post(url)
    message = response.json()["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "refusal": "I will not e-mail [REDACTED] for you.",
    }
    record = _response(read_records(audit_path))
    assert "guard.pii" in record.event.rule_ids
    assert "I will not e-mail [REDACTED] for you." in (record.event.redacted_text or "")


def test_streamed_canary_in_a_refusal_never_reaches_the_client(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    response = _canary_in_refusal(gateway, upstream[0], audit_path, stream=True)
    assert _frames(response)[-2]["error"]["code"] == "guard.output.canary_leak"
    assert _response(read_records(audit_path)).event.details["outcome"] == "blocked"


def test_streamed_refusal_is_redacted_and_the_openai_client_reassembles_it(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    upstream[0].stream_chunks = _refusal_chunks("I will not e-mail jane.doe@example.eu.")
    with (
        gateway() as (url, _),
        openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=10) as client,
        client.chat.completions.stream(model="mock-gpt", messages=CHAT["messages"]) as stream,
    ):
        final = stream.get_final_completion()
    sent = "I will not e-mail [REDACTED]."
    assert final.choices[0].message.refusal == sent
    assert not final.choices[0].message.content
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "complete"
    assert "guard.pii" in record.event.rule_ids
    assert record.event.response_digest is not None  # documented: content, then the refusal
    assert record.event.response_digest.hex == hashlib.sha256(f"\n{sent}".encode()).hexdigest()


@pytest.mark.parametrize("field", ["content", "refusal"])
@pytest.mark.parametrize(
    "value", [[{"type": "text", "text": f"key {SECRET}"}], {"text": "Hello"}, 42]
)
def test_streamed_text_that_is_not_a_string_stops_the_stream(
    gateway: Gateway,
    upstream: tuple[ToolCallUpstream, str],
    audit_path: pathlib.Path,
    field: str,
    value: Any,
) -> None:
    upstream[0].stream_chunks = [
        chunk({"role": "assistant", "content": "Here it is: "}),
        chunk({field: value}),
        chunk({"content": "and more text after it."}),
        chunk({}, "stop"),
    ]
    with gateway() as (url, _):
        response = _post(url, stream=True)
    frames = _frames(response)
    assert frames[-3]["choices"][0]["finish_reason"] == "content_filter"
    assert frames[-2]["error"]["code"] == UNSCREENABLE_RULE
    assert SECRET not in response.text
    assert "Hello" not in response.text
    assert "after it" not in response.text
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "blocked"
    assert UNSCREENABLE_RULE in record.event.rule_ids


# -- the relay, without HTTP ---------------------------------------------------------------

_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))
_PIECE = st.sampled_from(["", "I can", "not ", "jane@example.eu", f" {SECRET} ", " do that."])
_DELTA = st.fixed_dictionaries({}, optional={"content": _PIECE, "refusal": _PIECE | st.none()})
_CHOICE = st.fixed_dictionaries(
    {"index": st.integers(0, 1), "delta": _DELTA, "finish_reason": st.none() | st.just("stop")}
)


@settings(max_examples=300, deadline=2000)
@given(st.lists(st.fixed_dictionaries({"choices": st.lists(_CHOICE, max_size=2)}), max_size=8))
def test_relay_records_exactly_the_refusals_its_frames_carried(
    chunks: list[dict[str, Any]],
) -> None:
    relay = StreamRelay(_SCREENER, ScanContext(), holdback=4)
    frames = relay_frames(relay, chunks)
    received: dict[int, dict[str, str]] = {}
    for frame in frames:
        for choice in json.loads(frame[len(b"data: ") :]).get("choices", []):
            texts = received.setdefault(choice["index"], {"content": "", "refusal": ""})
            for key in texts:
                texts[key] += choice["delta"].get(key) or ""
    result = relay.result
    for index in {*received, *result.sent, *result.refusals}:
        texts = received.get(index, {"content": "", "refusal": ""})
        assert result.sent.get(index, "") == texts["content"]
        assert result.refusals.get(index, "") == texts["refusal"]
    assert SECRET not in b"".join(frames).decode()
    assert "jane@" not in b"".join(frames).decode()
