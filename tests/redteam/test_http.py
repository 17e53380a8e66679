"""The shared HTTP/1.1 client (kastell._http1) as the red-team target uses it, against a real
loopback server (asyncio.start_server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kastell._http1 import Http1Pool, HttpError, HttpTimeoutError
from kastell.redteam.interface import ChatMessage, ChatRequest, TargetUnavailableError
from kastell.redteam.targets.openai import OpenAITarget

REPLY = json.dumps({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.1)  # let the connection handlers finish closing


def _pool(url: str) -> Http1Pool:
    return Http1Pool(url, connect_timeout_s=5, timeout_s=5, max_connections=1)


def _server(handler: Handler) -> Callable[[], AsyncIterator[str]]:
    return lambda: _serve(handler)


async def _content_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    connections["opened"] += 1
    try:
        while True:
            head, body = await _read_request(reader)
            seen.append((head, body))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(REPLY) + REPLY)
            await writer.drain()
    except asyncio.IncompleteReadError:
        writer.close()
        await writer.wait_closed()


connections = {"opened": 0}
seen: list[tuple[bytes, bytes]] = []


async def test_keep_alive_reuses_one_connection_and_sends_headers() -> None:
    connections["opened"] = 0
    seen.clear()
    async for url in _serve(_content_length):
        target = OpenAITarget(url, "m", headers={"Authorization": "Bearer k"}, max_retries=0)
        for _ in range(5):
            reply = await target.send(ChatRequest((ChatMessage("user", "x"),), 4))
            assert reply.text == "hi"
        await target.aclose()
    assert connections["opened"] == 1
    head, body = seen[0]
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Authorization: Bearer k" in head
    assert json.loads(body)["messages"] == [{"role": "user", "content": "x"}]


async def _chunked_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    half = len(REPLY) // 2
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 + b"%x\r\n" % half + REPLY[:half] + b"\r\n"
                 + b"%x\r\n" % (len(REPLY) - half) + REPLY[half:] + b"\r\n0\r\n\r\n")
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_chunked_response_and_connection_close() -> None:
    async for url in _serve(_chunked_then_close):
        target = OpenAITarget(url, "m", max_retries=0)
        for _ in range(3):  # every request needs a new connection: the server closes each
            reply = await target.send(ChatRequest((ChatMessage("user", "x"),), 4))
            assert reply.text == "hi"
        await target.aclose()


async def _close_idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(REPLY) + REPLY)
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()  # keep-alive promised, but the server drops the idle connection
    await writer.wait_closed()


async def test_stale_keep_alive_connection_is_replaced_transparently() -> None:
    async for url in _serve(_close_idle):
        pool = _pool(url)
        assert (await pool.request("POST", "/chat/completions", {}, b"{}")).status == 200
        await asyncio.sleep(0.2)
        assert (await pool.request("POST", "/chat/completions", {}, b"{}")).status == 200
        await pool.aclose()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await reader.read()  # never answer; return when the client gives up and closes
    writer.close()
    await writer.wait_closed()


async def test_timeout_is_a_transport_error_not_a_hang() -> None:
    async for url in _serve(_silent):
        pool = Http1Pool(url, connect_timeout_s=0.3, timeout_s=0.3, max_connections=1)
        with pytest.raises(HttpTimeoutError, match="did not answer"):
            await pool.request("POST", "/chat/completions", {}, b"{}")
        await pool.aclose()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"SMTP ready\r\n\r\n")
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_malformed_response_fails_cleanly() -> None:
    async for url in _serve(_garbage):
        target = OpenAITarget(url, "m", max_retries=1, backoff=0.01)
        with pytest.raises(TargetUnavailableError, match="malformed status line"):
            await target.send(ChatRequest((ChatMessage("user", "x"),), 4))
        await target.aclose()


def test_bad_url_is_rejected() -> None:
    with pytest.raises(HttpError, match="unsupported upstream URL"):
        _pool("ftp://example/v1")
    with pytest.raises(TargetUnavailableError, match="unsupported"):
        OpenAITarget("ftp://example/v1", "m")
