"""A lean HTTP/1.1 client for JSON POSTs over keep-alive connections (asyncio streams).

httpx spends most of its time in connection-pool bookkeeping at the request rates a red-team
campaign against a fast endpoint reaches; this client does only what the Chat Completions
target needs: POST a JSON body, read a ``Content-Length`` or chunked response, reuse the
connection unless the server closes it. TLS via the default SSL context. No proxies, no
redirects, no cookies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import urllib.parse
from collections.abc import Mapping

_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


class HttpTransportError(Exception):
    """The request could not be completed (connect, read, timeout, malformed response)."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpTransportError(f"malformed status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpTransportError("malformed chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > _MAX_BODY:
            raise HttpTransportError("response body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


class Http11Client:
    """POST JSON to one origin over at most ``max_connections`` keep-alive connections."""

    def __init__(self, base_url: str, *, max_connections: int = 64, timeout: float = 60.0,
                 headers: Mapping[str, str] | None = None) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise HttpTransportError(f"unsupported URL {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._authority = url.netloc.rsplit("@", 1)[-1]
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._timeout = timeout
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(max_connections)

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=self._ssl, limit=_MAX_HEAD
        )
        return _Connection(reader, writer)

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[int, bytes, bool]:
        connection.writer.write(request)
        await connection.writer.drain()
        try:
            head = await connection.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise HttpTransportError("response headers too large") from None
        status, headers = _parse_head(head[:-4])
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(connection.reader)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > _MAX_BODY:
                raise HttpTransportError("response body too large")
            body = await connection.reader.readexactly(length)
        else:  # body ends when the server closes the connection
            body = await connection.reader.read(_MAX_BODY)
            return status, body, False
        reusable = headers.get("connection", "").lower() != "close"
        return status, body, reusable

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` (JSON) to ``path``; return status and response body."""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self._authority}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self._headers}\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            for fresh in (False, True):  # a reused connection may have been closed meanwhile
                reused = bool(self._idle) and not fresh
                connection: _Connection | None = None
                try:
                    async with asyncio.timeout(self._timeout):
                        connection = self._idle.popleft() if reused else await self._connect()
                        status, payload, reusable = await self._exchange(connection, request)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        TimeoutError, ValueError, HttpTransportError) as error:
                    if connection is not None:
                        connection.close()
                    if reused and isinstance(error, (asyncio.IncompleteReadError, OSError)):
                        continue
                    raise HttpTransportError(f"{type(error).__name__}: {error}") from None
                if reusable:
                    self._idle.append(connection)
                else:
                    connection.close()
                return status, payload
        raise HttpTransportError("connection closed by the server")  # pragma: no cover

    async def aclose(self) -> None:
        """Close every idle connection and wait until they are closed."""
        while self._idle:
            connection = self._idle.popleft()
            connection.close()
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
