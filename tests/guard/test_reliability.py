"""Failure paths: upstream down or slow, malformed JSON, oversized body, client disconnects."""

from __future__ import annotations

import pathlib
import socket
import time

import httpx
import pytest

from ._servers import MockUpstream, free_port
from .conftest import KEY, Gateway, read_records

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Hi"}]}


def test_upstream_down_is_502(gateway: Gateway) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    upstreams = {"main": {"type": "openai", "base_url": dead, "timeout_s": 2}}
    with gateway(upstreams=upstreams) as (url, _):
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert time.monotonic() - started < 2


def test_upstream_slow_is_504_within_timeout(
    gateway: Gateway, upstream: tuple[MockUpstream, str]
) -> None:
    upstream[0].script.delay_s = 3.0
    upstreams = {"main": {"type": "openai", "base_url": upstream[1] + "/v1", "timeout_s": 0.5}}
    with gateway(upstreams=upstreams) as (url, _):
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH, timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 1.5


def test_upstream_slow_stream_is_504(gateway: Gateway, upstream: tuple[MockUpstream, str]) -> None:
    upstream[0].script.delay_s = 3.0
    upstreams = {"main": {"type": "openai", "base_url": upstream[1] + "/v1", "timeout_s": 0.5}}
    with gateway(upstreams=upstreams) as (url, _):
        response = httpx.post(
            f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH, timeout=10
        )
    assert response.status_code == 504


def test_upstream_500_is_502(gateway: Gateway, upstream: tuple[MockUpstream, str]) -> None:
    upstream[0].script.status = 500
    with gateway() as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502


def test_upstream_garbage_is_502(gateway: Gateway, upstream: tuple[MockUpstream, str]) -> None:
    upstream[0].script.raw_body = b"<html>not json"
    with gateway() as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert "invalid JSON" in response.json()["error"]["message"]


def test_upstream_4xx_is_passed_back(gateway: Gateway, upstream: tuple[MockUpstream, str]) -> None:
    upstream[0].script.status = 404
    with gateway() as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "mock failure"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"messages": []}', "model"),
        (b'{"model": "m", "messages": []}', "non-empty"),
        (b'{"model": "m", "messages": [1]}', "role"),
        (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "content"),
        (b'{"model": "m", "messages": [{"role": "user"}], "stream": "yes"}', "stream"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_request_is_400(gateway: Gateway, body: bytes, needle: str) -> None:
    with gateway() as (url, _):
        response = httpx.post(
            f"{url}/v1/chat/completions",
            content=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]


def test_body_over_limit_is_413(gateway: Gateway) -> None:
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}
    with gateway(limits={"max_body_bytes": 2048}) as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=big, headers=AUTH)
        chunked = httpx.post(
            f"{url}/v1/chat/completions", headers=AUTH, content=iter([b"{" + b" " * 3000, b"}"])
        )
    assert response.status_code == 413
    assert chunked.status_code == 413
    assert "2048" in response.json()["error"]["message"]


def test_message_over_token_limit_is_blocked(gateway: Gateway) -> None:
    long = {"model": "m", "messages": [{"role": "user", "content": "word " * 300}]}
    with gateway(limits={"max_message_tokens": 100}) as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=long, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "guard.input.size_limit"


def test_client_disconnect_mid_stream_is_audited(
    gateway: Gateway, upstream: tuple[MockUpstream, str], audit_path: pathlib.Path
) -> None:
    upstream[0].script.chunks = [f"word{i} " for i in range(200)]
    upstream[0].script.chunk_delay_s = 0.01
    with gateway() as (url, app):
        port = int(url.rsplit(":", 1)[1])
        body = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            first = sock.recv(4096)
        assert b"200 OK" in first
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            records = read_records(audit_path)
            if len(records) == 2:
                break
            time.sleep(0.1)
        # the gateway is still healthy afterwards
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert records[-1].event.details["outcome"] == "client_disconnected"
    assert records[-1].event.details["sent_chars"] < len("".join(upstream[0].script.chunks))
