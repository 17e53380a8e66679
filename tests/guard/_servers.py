"""Test helpers: a scripted OpenAI-compatible upstream and uvicorn servers in threads."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@dataclasses.dataclass
class Script:
    """What the mock upstream answers."""

    reply: str = "Hello! This is a mock reply."
    chunks: list[str] = dataclasses.field(default_factory=lambda: ["Hello", " from", " mock"])
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    status: int = 200
    raw_body: bytes | None = None
    requests: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "mock-gpt",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    document = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "mock-gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(document).encode() + b"\n\n"


class MockUpstream:
    """An ASGI app answering like an OpenAI-compatible server, following ``script``."""

    def __init__(self) -> None:
        self.script = Script()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        script = self.script
        if scope["path"].endswith("/models"):
            data = {
                "object": "list",
                "data": [{"id": "mock-gpt", "object": "model", "created": 0, "owned_by": "mock"}],
            }
            await _send_json(send, 200, json.dumps(data).encode())
            return
        request = json.loads(body)
        script.requests.append(request)
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.status != 200 or script.raw_body is not None:
            payload = (
                script.raw_body
                if script.raw_body is not None
                else json.dumps(
                    {"error": {"message": "mock failure", "type": "server_error"}}
                ).encode()
            )
            await _send_json(send, script.status, payload)
            return
        if request.get("stream"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            frames = [_chunk({"role": "assistant", "content": ""})]
            frames += [_chunk({"content": c}) for c in script.chunks]
            frames += [_chunk({}, "stop"), b"data: [DONE]\n\n"]
            for frame in frames:
                if script.chunk_delay_s:
                    await asyncio.sleep(script.chunk_delay_s)
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await _send_json(send, 200, json.dumps(_completion(script.reply)).encode())


async def _send_json(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        access_log=False,
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
