"""Small pure-ASGI helpers: read a bounded body, send JSON and OpenAI-style errors (private)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):  # noqa: N818 - control flow inside the app, never escapes
    """The request body is over the configured limit."""


class ClientGone(Exception):  # noqa: N818 - control flow inside the app, never escapes
    """The client disconnected while we were reading its body."""


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes (declared or actual)."""
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (lower-case name), decoded as Latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def send_json(
    send: Send, status: int, document: Any, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete JSON response."""
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    await send_raw_json(send, status, body, extra_headers)


async def send_raw_json(
    send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete response whose body is JSON already serialised."""
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_body(message: str, error_type: str, code: str | None, param: str | None = None) -> Any:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


async def send_error(
    send: Send,
    status: int,
    message: str,
    error_type: str,
    code: str | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send an OpenAI-style JSON error."""
    await send_json(send, status, error_body(message, error_type, code), extra_headers)


def sse(document: Any) -> bytes:
    """One Server-Sent Events ``data`` frame."""
    return b"data: " + json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n\n"
