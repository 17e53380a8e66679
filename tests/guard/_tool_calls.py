"""Stream chunks with tool calls, shared by the tool-call tests."""

from __future__ import annotations

import json
from typing import Any

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
