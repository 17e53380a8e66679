"""The lean upstream HTTP/1.1 client: llhttp parsing of untrusted bytes, every body shape capped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell._http1 import Http1Pool, HttpError, HttpTimeoutError, Response

_OK = b"HTTP/1.1 200 OK\r\n"


@contextlib.asynccontextmanager
async def _server(answer: Callable[[int], bytes], *, close: bool = True) -> AsyncIterator[str]:
    """A loopback server answering the n-th request on a connection with ``answer(n)``."""

    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        count = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(answer(count))
                await writer.drain()
                count += 1
                if close:
                    break
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await asyncio.sleep(0.01)  # let the transports finish closing


def _fetch(raw: bytes, **limits: int) -> Response:
    async def run() -> Response:
        async with _server(lambda _: raw) as url:
            pool = Http1Pool(url, connect_timeout_s=2, timeout_s=2, max_connections=1, **limits)
            try:
                return await pool.request("POST", "/chat/completions", {}, b"{}")
            finally:
                await pool.aclose()

    return asyncio.run(run())


def test_content_length_body() -> None:
    response = _fetch(_OK + b"Content-Length: 5\r\n\r\nhello")
    assert (response.status, response.body) == (200, b"hello")


def test_chunked_body_with_trailer() -> None:
    raw = (
        _OK
        + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n"
    )
    assert _fetch(raw).body == b"hello world"


def test_body_until_close() -> None:
    response = _fetch(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert response.body == b"all of it"
    assert response.headers["connection"] == "close"


def test_interim_response_is_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + _OK + b"Content-Length: 2\r\n\r\nok"
    assert _fetch(raw).body == b"ok"


@pytest.mark.parametrize(
    "raw",
    [
        b"SMTP 220 hello\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        _OK + b"Content-Length: x\r\n\r\n",
        _OK + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        _OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        _OK + b"Content-Length: 10\r\n\r\nshort",
        _OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
        _OK + b"Content-Le",
        b"",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    ],
)
def test_malformed_or_cut_responses_are_http_errors(raw: bytes) -> None:
    with pytest.raises(HttpError):
        _fetch(raw)


_BIG = 200_000


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (_OK + b"Content-Length: %d\r\n\r\n" % _BIG + b"x" * _BIG, "body"),
        (
            _OK
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"1000\r\n" + b"x" * 4096 + b"\r\n" for _ in range(60))
            + b"0\r\n\r\n",
            "body",
        ),
        (b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * _BIG, "body"),
        (_OK + b"X-Pad: " + b"a" * _BIG + b"\r\n\r\n", "headers"),
        (_OK + b"".join(b"X-%d: v\r\n" % i for i in range(20_000)) + b"\r\n", "headers"),
    ],
    ids=["content-length", "chunked", "close-delimited", "one long header", "many headers"],
)
def test_every_body_shape_and_the_header_block_are_capped(raw: bytes, what: str) -> None:
    with pytest.raises(HttpError, match=what):
        _fetch(raw, max_body_bytes=100_000, max_header_bytes=16_384)


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    raw = _OK + b"Content-Length: 999999999999\r\n\r\n" + b"x" * 10
    with pytest.raises(HttpError, match="body"):
        _fetch(raw, max_body_bytes=100_000)


def test_streamed_bodies_are_capped_as_a_whole() -> None:
    frame = b"data: " + b"x" * 1000 + b"\n\n"
    raw = _OK + b"Transfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n" % len(frame) + frame + b"\r\n" for _ in range(200)) + b"0\r\n\r\n"

    async def run() -> None:
        async with _server(lambda _: raw) as url:
            pool = Http1Pool(url, connect_timeout_s=2, timeout_s=2, max_connections=1,
                             max_body_bytes=50_000)  # fmt: skip
            async with pool.stream("POST", "/x", {}, b"{}") as (head, lines):
                assert head.status == 200
                async for _ in lines:
                    pass

    with pytest.raises(HttpError, match="body"):
        asyncio.run(run())


def test_keep_alive_reuses_and_overrun_does_not() -> None:
    answers = [
        _OK + b"Content-Length: 1\r\n\r\na",
        _OK + b"Content-Length: 1\r\n\r\nbEXTRA",
        _OK + b"Content-Length: 1\r\n\r\nc",
    ]

    async def run() -> tuple[list[bytes], int]:
        async with _server(lambda n: answers[n % 3], close=False) as url:
            pool = Http1Pool(url, connect_timeout_s=2, timeout_s=2, max_connections=1)
            bodies = []
            for _ in range(2):
                bodies.append((await pool.request("GET", "/", {}, b"")).body)
            idle = len(pool._idle)  # the overrun connection was not kept
            await pool.aclose()
            return bodies, idle

    bodies, idle = asyncio.run(run())
    assert bodies == [b"a", b"b"]
    assert idle == 0


def test_silent_server_times_out() -> None:
    async def run() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await asyncio.sleep(5)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = Http1Pool(f"http://127.0.0.1:{port}", connect_timeout_s=1, timeout_s=0.3,
                         max_connections=1)  # fmt: skip
        try:
            await pool.request("GET", "/", {}, b"")
        finally:
            server.close()

    with pytest.raises(HttpTimeoutError):
        asyncio.run(run())


def test_unsupported_url() -> None:
    with pytest.raises(HttpError, match="unsupported upstream URL"):
        Http1Pool("ftp://x", connect_timeout_s=1, timeout_s=1, max_connections=1)


_PIECES = st.sampled_from(
    [
        _OK,
        b"HTTP/1.0 204 No Content\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: -1\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Connection: close\r\n",
        b"\r\n",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"ffffffffffffffff\r\n",
        b"abc",
        b"\x00\xff",
    ]
)


@settings(max_examples=150, deadline=3000)
@given(st.lists(_PIECES | st.binary(max_size=60), max_size=8).map(b"".join))
def test_any_response_bytes_end_in_a_response_or_an_http_error(raw: bytes) -> None:
    # never hangs (the server closes; the pool's timeout bounds the rest), never raises
    # anything but HttpError (the guard maps it to 502, the red-team to an unavailable target)
    with contextlib.suppress(HttpError):
        response = _fetch(raw, max_body_bytes=1000, max_header_bytes=1000)
        assert 100 <= response.status <= 999
        assert len(response.body) <= 1000
