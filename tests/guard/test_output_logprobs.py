"""Log-probabilities and other answer fields must not leak what the guard withholds."""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from kastell.audit.interface import AuditRecord, EventType

from ._servers import serve_in_thread
from ._tool_calls import SECRET, chunk
from .conftest import KEY, Gateway, read_records
from .test_output_tool_calls import ToolCallUpstream, _frames, _learn_canary, _response

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Tell me a story."}]}
# long enough that some of it leaves the 64-character hold-back window before what follows
PREAMBLE = "Once upon a time there was a small gateway that read every word before it was sent on. "
CITATION = {
    "type": "url_citation",
    "url_citation": {
        "start_index": 0,
        "end_index": 4,
        "title": "Docs",
        "url": "https://d.example/",
    },
}


@pytest.fixture
def upstream() -> Iterator[tuple[ToolCallUpstream, str]]:
    mock = ToolCallUpstream()
    with serve_in_thread(mock) as url:
        yield mock, url


def entry(token: str) -> dict[str, Any]:
    """A logprob entry as OpenAI sends it, with one alternative."""
    raw = list(token.encode())
    alternative = {"token": token, "logprob": -0.25, "bytes": raw}
    return {"token": token, "logprob": -0.25, "bytes": raw, "top_logprobs": [alternative]}


def words(text: str) -> list[str]:
    """``text`` cut into word-sized tokens (each space starts a token), like a tokenizer."""
    tokens: list[str] = []
    for piece in text.split(" "):
        tokens.append(f" {piece}" if tokens else piece)
    return [t for t in tokens if t]


def token_chunks(tokens: list[str], field: str = "content") -> list[dict[str, Any]]:
    """A streamed answer: one token per chunk, with its logprob entry, then ``stop``."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    for token in tokens:
        document = chunk({field: token})
        document["choices"][0]["logprobs"] = {field: [entry(token)], "other": None}
        chunks.append(document)
    return [*chunks, chunk({}, "stop")]


def completion(message: dict[str, Any], logprobs: Any = None) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
    choice["logprobs"] = logprobs
    document = {"id": "c", "object": "chat.completion", "created": 1, "model": "mock-gpt"}
    return json.dumps({**document, "choices": [choice]}).encode()


def post(url: str, **extra: Any) -> httpx.Response:
    headers = {**AUTH, **extra.pop("headers", {})}
    body = {**CHAT, "logprobs": True, **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def released_logprobs(frames: list[Any], field: str = "content") -> list[dict[str, Any]]:
    """Every logprob entry of ``field`` the client received, in order."""
    return [
        item
        for frame in frames
        if isinstance(frame, dict)
        for choice in frame.get("choices", [])
        for item in (choice.get("logprobs") or {}).get(field) or []
    ]


def released_text(frames: list[Any], field: str = "content") -> str:
    return "".join(
        choice["delta"].get(field) or ""
        for frame in frames
        if isinstance(frame, dict)
        for choice in frame.get("choices", [])
    )


def details(records: list[AuditRecord]) -> dict[str, Any]:
    return dict(_response(records).event.details)


Answer = bytes | list[dict[str, Any]]
"""What the upstream answers: a whole completion, or the chunks of a stream."""


def _script(mock: ToolCallUpstream, answer: Answer) -> bool:
    """Make the upstream answer ``answer``; True if it is a stream."""
    if isinstance(answer, bytes):
        mock.script.raw_body = answer
        return False
    mock.stream_chunks = answer
    return True


def answered(gateway: Gateway, mock: ToolCallUpstream, answer: Answer) -> httpx.Response:
    """What the client gets when the upstream answers ``answer``."""
    stream = _script(mock, answer)
    with gateway() as (url, _):
        return post(url, stream=stream)


def leaked(
    gateway: Gateway, mock: ToolCallUpstream, session: str, answer: Callable[[str], Answer]
) -> tuple[str, httpx.Response]:
    """The session's canary and what the client gets when the upstream answers ``answer(it)``."""
    with gateway() as (url, _):
        canary = _learn_canary(url, mock, session)
        stream = _script(mock, answer(canary))
        return canary, post(url, stream=stream, headers={"X-Kastell-Session": session})


# -- non-streamed answers ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["content", "refusal"])
def test_canary_withheld_from_a_field_is_withheld_from_its_logprobs(
    gateway: Gateway,
    upstream: tuple[ToolCallUpstream, str],
    audit_path: pathlib.Path,
    field: str,
) -> None:

    def answer(canary: str) -> bytes:
        tokens = ["The", " marker", " is", " k", "st", "-", canary[4:12], canary[12:], "."]
        return completion({field: "".join(tokens)}, {field: [entry(t) for t in tokens]})

    canary, response = leaked(gateway, upstream[0], f"lp-{field}", answer)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"][field] is None
    assert choice["logprobs"] is None
    assert canary[4:12] not in response.text
    assert canary[12:] not in response.text
    records = read_records(audit_path)
    assert EventType.CANARY_LEAK in [r.event.event_type for r in records]
    assert details(records)["logprobs_withheld"] == "0"


def test_benign_answer_keeps_its_logprobs_byte_for_byte(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    tokens = words("Gr\u00fc\u00dfe aus Z\u00fcrich, the weather is fine.")
    logprobs = {"content": [entry(t) for t in tokens], "refusal": None}
    response = answered(gateway, upstream[0], completion({"content": "".join(tokens)}, logprobs))
    assert response.json()["choices"][0]["logprobs"] == logprobs
    assert "logprobs_withheld" not in details(read_records(audit_path))


def test_redacted_answer_loses_its_logprobs(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    tokens = words("Write to jane.doe@example.eu today.")
    logprobs = {"content": [entry(t) for t in tokens]}
    response = answered(gateway, upstream[0], completion({"content": "".join(tokens)}, logprobs))
    choice = response.json()["choices"][0]
    assert choice["message"]["content"] == "Write to [REDACTED] today."
    assert choice["logprobs"] is None
    assert "jane" not in response.text
    assert details(read_records(audit_path))["logprobs_withheld"] == "0"


def test_logprobs_that_do_not_spell_the_content_are_withheld(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    logprobs = {"content": [entry("Hello"), entry(f" {SECRET}")]}
    response = answered(gateway, upstream[0], completion({"content": "Hello there."}, logprobs))
    assert response.json()["choices"][0]["message"]["content"] == "Hello there."
    assert response.json()["choices"][0]["logprobs"] is None
    assert SECRET not in response.text
    assert details(read_records(audit_path))["logprobs_withheld"] == "0"


def test_canary_in_reasoning_content_blocks_the_answer(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:

    def answer(canary: str) -> bytes:
        thought = f"The system prompt says the marker is {canary}; I must not say it."
        return completion({"content": "I cannot.", "reasoning_content": thought})

    canary, response = leaked(gateway, upstream[0], "reasoning", answer)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["reasoning_content"] is None
    assert canary not in response.text
    assert "guard.output.canary_leak" in _response(read_records(audit_path)).event.rule_ids


def test_reasoning_is_redacted_in_place_and_recorded(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    reasoning = {"content": "Done.", "reasoning": "The user is jane.doe@example.eu."}
    response = answered(gateway, upstream[0], completion(reasoning))
    assert response.json()["choices"][0]["message"]["reasoning"] == "The user is [REDACTED]."
    record = _response(read_records(audit_path))
    assert "guard.pii" in record.event.rule_ids
    assert "Done.\nThe user is [REDACTED]." in (record.event.redacted_text or "")


def test_unknown_message_fields_are_dropped_and_listed(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    audio = {"id": "audio_1", "data": "AAAA", "expires_at": 1, "transcript": f"key {SECRET}"}
    message = {"content": "Hi.", "audio": audio, "x_vendor_trace": SECRET, "function_call": None}
    response = answered(gateway, upstream[0], completion(message))
    sent = response.json()["choices"][0]["message"]
    assert sent == {"role": "assistant", "content": "Hi.", "function_call": None}
    assert SECRET not in response.text
    assert details(read_records(audit_path))["dropped_fields"] == "audio,x_vendor_trace"


def test_citations_pass_unless_a_redaction_moves_the_text(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    mock = upstream[0]
    mock.script.raw_body = completion({"content": "Docs say so.", "annotations": [CITATION]})
    with gateway() as (url, _):
        kept = post(url)
        mock.script.raw_body = completion(
            {"content": "Docs: ask jane.doe@example.eu.", "annotations": [CITATION]}
        )
        dropped = post(url)
    assert kept.json()["choices"][0]["message"]["annotations"] == [CITATION]
    assert "annotations" not in dropped.json()["choices"][0]["message"]
    records = [r for r in read_records(audit_path) if r.event.event_type is EventType.RESPONSE]
    assert "https://d.example/" in (records[0].event.redacted_text or "")
    assert records[1].event.details["annotations_withheld"] == "0"


def test_canary_in_a_citation_blocks_the_answer(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str]
) -> None:

    def answer(canary: str) -> bytes:
        leaky = {"type": "url_citation", "url_citation": {**CITATION["url_citation"]}}
        leaky["url_citation"]["url"] = f"https://collector.example/?m={canary}"
        return completion({"content": "Docs.", "annotations": [leaky]})

    canary, response = leaked(gateway, upstream[0], "cite", answer)
    assert response.json()["choices"][0]["finish_reason"] == "content_filter"
    assert canary not in response.text


# -- streamed answers ----------------------------------------------------------------------


def test_streamed_canary_split_over_tokens_never_reaches_any_frame(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:

    def answer(canary: str) -> list[dict[str, Any]]:
        pieces = [" k", "st", "-", canary[4:10], canary[10:15], canary[15:], " and", " more."]
        return token_chunks([*words(PREAMBLE), *pieces])

    canary, response = leaked(gateway, upstream[0], "stream-canary", answer)
    raw_frames = [line for line in response.content.split(b"\n\n") if line]
    for raw in raw_frames:  # the whole canary, its random part, and each token of it
        for piece in (canary, canary[4:], "kst", canary[4:10], canary[10:15], canary[15:]):
            assert piece.encode() not in raw
    frames = _frames(response)
    assert frames[-2]["error"]["code"] == "guard.output.canary_leak"
    sent = released_text(frames)
    assert sent  # some text went out before the block ...
    assert PREAMBLE.startswith(sent)
    tokens_sent = "".join(item["token"] for item in released_logprobs(frames))
    assert tokens_sent  # ... with the logprobs it covers
    assert sent.startswith(tokens_sent)
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "blocked"
    assert record.event.details["logprobs_withheld"] == "0"


def test_streamed_logprobs_reassemble_exactly_with_the_openai_client(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    tokens = words(f"{PREAMBLE}It was happy, and it ended well. Gr\u00fc\u00dfe!")
    upstream[0].stream_chunks = token_chunks(tokens)
    with (
        gateway() as (url, _),
        openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=10) as client,
        client.chat.completions.stream(
            model="mock-gpt", messages=CHAT["messages"], logprobs=True, top_logprobs=1
        ) as stream,
    ):
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.message.content == "".join(tokens)
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    assert [e.model_dump() for e in choice.logprobs.content] == [entry(t) for t in tokens]
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "complete"
    assert "logprobs_withheld" not in record.event.details
    assert "dropped_fields" not in record.event.details


def test_streamed_redaction_stops_the_logprobs(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    text = f"{PREAMBLE}Write to jane.doe@example.eu and tell her the news about it all today."
    tokens = words(text)
    response = answered(gateway, upstream[0], token_chunks(tokens))
    frames = _frames(response)
    assert released_text(frames) == text.replace("jane.doe@example.eu", "[REDACTED]")
    released = released_logprobs(frames)
    assert "".join(item["token"] for item in released) == PREAMBLE + "Write to"
    assert [item["token"] for item in released] == tokens[: len(released)]
    assert "jane" not in response.text
    record = _response(read_records(audit_path))
    assert record.event.details["outcome"] == "complete"
    assert record.event.details["logprobs_withheld"] == "0"


def test_streamed_reasoning_content_leak_is_blocked(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    thought = f"The user wants a key. I recall {SECRET} from training, better not share it."
    pieces = [thought[at : at + 3] for at in range(0, len(thought), 3)]
    chunks = [
        chunk({"role": "assistant", "content": None}),
        *(chunk({"reasoning_content": piece}) for piece in pieces),
        chunk({"content": "I cannot share keys."}),
        chunk({}, "stop"),
    ]
    response = answered(gateway, upstream[0], chunks)
    assert _frames(response)[-2]["error"]["code"] == "guard.secret"
    assert SECRET[:4] not in response.text
    assert "I cannot share" not in response.text
    assert _response(read_records(audit_path)).event.details["outcome"] == "blocked"


def test_streamed_reasoning_is_relayed_and_recorded(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    chunks = [
        chunk({"role": "assistant", "reasoning": "Think"}),
        chunk({"reasoning": "ing..."}),
        chunk({"content": "Answer."}),
        chunk({}, "stop"),
    ]
    response = answered(gateway, upstream[0], chunks)
    frames = _frames(response)
    assert released_text(frames, "reasoning") == "Thinking..."
    assert released_text(frames) == "Answer."
    record = _response(read_records(audit_path))
    assert record.event.response_digest is not None  # documented: content, then reasoning
    assert record.event.response_digest.hex == hashlib.sha256(b"Answer.\nThinking...").hexdigest()


def test_streamed_unknown_delta_fields_are_dropped_and_listed(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Hi", "audio": {"transcript": SECRET}}),
        chunk({"content": " there.", "annotations": [CITATION], "x_trace": None}),
        chunk({}, "stop"),
    ]
    response = answered(gateway, upstream[0], chunks)
    assert SECRET not in response.text
    assert "annotations" not in response.text
    assert released_text(_frames(response)) == "Hi there."
    record = _response(read_records(audit_path))
    assert record.event.details["dropped_fields"] == "annotations,audio"
