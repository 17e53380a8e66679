"""Issue 11 item 6: slow or oversized clients are bounded; ``/metrics`` is not public.

The gateway runs as ``kastell guard serve`` in a subprocess, so the uvicorn configuration under
test is the one an operator gets.
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from kastell.guard.config import parse_config
from kastell.guard.keys import hash_api_key

from ._process import served_gateway
from ._servers import MockUpstream, free_port
from .conftest import KEY, make_config

AUTH = {"Authorization": f"Bearer {KEY}"}
METRICS_KEY = "kst-metrics-scraper-0123456789"
_LIMITS = {"header_timeout_s": 1.0, "body_timeout_s": 1.0, "max_header_bytes": 8192}


@pytest.fixture
def served(upstream: tuple[MockUpstream, str], tmp_path: pathlib.Path) -> Iterator[str]:
    with served_gateway(make_config(upstream[1], limits=_LIMITS), tmp_path) as url:
        yield url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(4096):
            received += chunk
    return received, time.monotonic() - started


def test_dribbled_headers_are_cut_off_with_408(served: str) -> None:
    with _connect(served) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        # one header byte every 0.2 s: never idle, never complete
        while time.monotonic() - started < 4:
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                if sock.recv(4096, socket.MSG_PEEK) is not None:
                    closed = True
            sock.setblocking(True)
            if closed:
                break
        answer, _ = _read_until_closed(sock, 2)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert b'"request_timeout"' in answer
    assert elapsed < 3


def test_idle_connection_without_any_byte_is_cut_off(served: str) -> None:
    with _connect(served) as sock:
        answer, elapsed = _read_until_closed(sock, 5)
    assert elapsed < 3
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


def test_oversized_header_block_is_431(served: str) -> None:
    with _connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(20):
                sock.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
        answer, _ = _read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]


def test_slow_body_is_408(served: str) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100\r\n\r\n"
    )
    with _connect(served) as sock:
        sock.sendall(head + b'{"model":')
        answer, elapsed = _read_until_closed(sock, 5)
    assert b" 408 " in answer.split(b"\r\n", 1)[0], answer[:80]
    assert b'"request_timeout"' in answer
    assert elapsed < 3


def test_many_slow_clients_do_not_stop_the_others(served: str) -> None:
    sockets = [_connect(served) for _ in range(50)]
    try:
        for sock in sockets:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
        response = httpx.post(f"{served}/v1/chat/completions", json=body, headers=AUTH)
        assert response.status_code == 200
    finally:
        for sock in sockets:
            sock.close()


def test_metrics_are_not_public_by_default(served: str) -> None:
    assert httpx.get(f"{served}/metrics").status_code == 404


def test_metrics_behind_a_key(upstream: tuple[MockUpstream, str], tmp_path: pathlib.Path) -> None:
    config = make_config(upstream[1], metrics={"key_hashes": [hash_api_key(METRICS_KEY)]})
    with served_gateway(config, tmp_path) as url:
        anonymous = httpx.get(f"{url}/metrics")
        tenant = httpx.get(f"{url}/metrics", headers=AUTH)
        scraper = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
    assert (anonymous.status_code, tenant.status_code) == (401, 401)
    assert scraper.status_code == 200
    assert "kastell_guard_requests_total" in scraper.text


def test_metrics_on_a_separate_listener(
    upstream: tuple[MockUpstream, str], tmp_path: pathlib.Path
) -> None:
    port = free_port()
    config = make_config(upstream[1], metrics={"listen": f"127.0.0.1:{port}"})
    with served_gateway(config, tmp_path) as url:
        httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
            headers=AUTH,
        )
        on_gateway = httpx.get(f"{url}/metrics")
        on_listener = httpx.get(f"http://127.0.0.1:{port}/metrics")
        other_route = httpx.get(f"http://127.0.0.1:{port}/healthz")
    assert on_gateway.status_code == 404
    assert on_listener.status_code == 200
    assert 'tenant="acme"' in on_listener.text
    assert other_route.status_code == 404


@pytest.mark.parametrize(
    "metrics",
    [
        {"listen": "not an address"},
        {"public": True, "key_hashes": [hash_api_key(METRICS_KEY)]},
        {"key_hashes": ["plain-text-key"]},
        {"unknown": 1},
    ],
)
def test_bad_metrics_settings_are_config_errors(metrics: dict[str, object]) -> None:
    from kastell.guard.interface import GuardConfigError

    with pytest.raises(GuardConfigError, match="metrics"):
        parse_config(make_config("http://127.0.0.1:9", metrics=metrics))
