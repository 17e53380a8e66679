"""Stream chunks with tool calls and a relay run over them, shared by the output tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from kastell.guard.stream_exchange import StreamRelay

SECRET = "AKIAIOSFODNN7EXAMPLE"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-tools",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "mock-gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def streamed_calls(calls: list[tuple[str, str, str]], content: str = "") -> list[dict[str, Any]]:
    """Chunks of an answer: optional content, then each (id, name, arguments) in 3-char pieces."""
    chunks = [chunk({"role": "assistant", "content": content or None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        first = {"index": index, "id": call_id, "type": "function"}
        first["function"] = {"name": name, "arguments": ""}
        chunks.append(chunk({"tool_calls": [first]}))
        for start in range(0, len(arguments), 3):
            piece = {"index": index, "function": {"arguments": arguments[start : start + 3]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    return [*chunks, chunk({}, "tool_calls")]


def tool_calls(documents: list[Any]) -> list[dict[str, Any]]:
    """Every tool call the client received in stream deltas, in order."""
    return [
        call
        for document in documents
        if isinstance(document, dict)
        for choice in document.get("choices", [])
        for call in choice["delta"].get("tool_calls", [])
    ]


def record_line(call: dict[str, Any]) -> str:
    return json.dumps(call, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def relay_frames(relay: StreamRelay, chunks: list[dict[str, Any]]) -> list[bytes]:
    """Relay ``chunks`` (none: an empty upstream) through ``relay``; return every frame sent."""
    frames: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        frames.append(message["body"])

    async def rest() -> AsyncIterator[dict[str, Any]]:
        for item in chunks[1:]:
            yield item

    first = chunks[0] if chunks else None
    asyncio.run(relay.relay(send, rest(), first, asyncio.Event()))  # the gateway's own loop
    return frames
