"""The lean upstream HTTP/1.1 client: response parsing of untrusted bytes, chunked bodies."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell._http1 import Http1Pool, HttpError, Response, _Conn


def _pool() -> Http1Pool:
    return Http1Pool("http://127.0.0.1:9/v1", connect_timeout_s=1, timeout_s=1, max_connections=1)


async def _parse(raw: bytes) -> tuple[Response, bytes]:
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(raw)
    reader.feed_eof()
    conn = _Conn(reader, None)  # type: ignore[arg-type]  # the writer is not used to read
    pool = _pool()
    head = await pool._read_head(conn)
    body = b"".join([piece async for piece in pool._body_chunks(conn, head)])
    return head, body


def test_content_length_body() -> None:
    head, body = asyncio.run(_parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
    assert head.status == 200
    assert body == b"hello"


def test_chunked_body_with_trailer() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n"
    )
    _, body = asyncio.run(_parse(raw))
    assert body == b"hello world"


def test_body_until_close() -> None:
    head, body = asyncio.run(_parse(b"HTTP/1.0 200 OK\r\n\r\nall of it"))
    assert body == b"all of it"
    assert head.headers["connection"] == "close"


@pytest.mark.parametrize(
    "raw",
    [
        b"SMTP 220 hello\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    ],
)
def test_malformed_responses_are_upstream_errors(raw: bytes) -> None:
    with pytest.raises(HttpError):
        asyncio.run(_parse(raw))


def test_unsupported_url() -> None:
    with pytest.raises(HttpError, match="unsupported upstream URL"):
        Http1Pool("ftp://x", connect_timeout_s=1, timeout_s=1, max_connections=1)


def test_oversized_chunk_header() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 70000
    with pytest.raises(HttpError, match="oversized"):
        asyncio.run(_parse(raw))


@settings(max_examples=200, deadline=1000)
@given(st.binary(max_size=400))
def test_parser_only_raises_typed_errors(raw: bytes) -> None:
    prefix = b"HTTP/1.1 200 OK\r\n"
    for data in (raw, prefix + raw):
        # only typed failures the pool maps to 502 may escape
        with contextlib.suppress(HttpError, asyncio.IncompleteReadError):
            asyncio.run(_parse(data))
