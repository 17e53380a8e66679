"""Issue 11 item 6: one tenant's huge answer must not stall the gateway for everyone else.

The upstream runs in its own process (so it shares no interpreter lock with the gateway) and
answers with a 50 MB chunked completion; while the gateway reads, hands over and screens it,
``/healthz`` must keep answering within 50 ms. Before the fix the same answer stalled every
route for the whole screening (22 s for 60 MB in the issue's report).
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx

from ._process import served_gateway
from ._servers import free_port
from .conftest import KEY, make_config

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Write a long story."}]}

_UPSTREAM = r"""
import json, socket, sys
words = "the quiet river runs past the old mill and the green hills beyond it "
text = (words * (50_000_000 // len(words) + 1))[:50_000_000]
body = json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": text}}]}).encode()
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                 .split(b":")[1])
    while len(rest) < length:
        rest += conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    for at in range(0, len(body), 1 << 20):
        piece = body[at:at + (1 << 20)]
        conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    conn.sendall(b"0\r\n\r\n")
    conn.close()
"""


@contextlib.contextmanager
def _big_upstream() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _UPSTREAM, str(port)], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _healthz_ms(port: int) -> float:
    """Milliseconds for one ``GET /healthz`` on a fresh connection, until the whole answer."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    return (time.perf_counter() - started) * 1000


def test_healthz_stays_fast_while_a_50mb_answer_is_screened(tmp_path: pathlib.Path) -> None:
    limits = {"max_answer_bytes": 64 * 1024 * 1024}
    with _big_upstream() as upstream_url:
        config = make_config(upstream_url.removesuffix("/v1"), limits=limits)
        config["upstreams"]["main"]["timeout_s"] = 600
        with served_gateway(config, tmp_path) as url:
            port = int(url.rsplit(":", 1)[1])
            outcome: list[object] = []

            def chat() -> None:
                try:
                    response = httpx.post(
                        f"{url}/v1/chat/completions", json=CHAT, headers=AUTH, timeout=600
                    )
                    outcome.append(response.status_code)
                except httpx.HTTPError as error:  # the gateway stops under it: expected
                    outcome.append(type(error).__name__)

            client = threading.Thread(target=chat)
            client.start()
            timings = []
            deadline = time.monotonic() + 6  # covers the transfer, the hand-over, the screening
            while time.monotonic() < deadline:
                timings.append(_healthz_ms(port))
                time.sleep(0.02)
            still_screening = client.is_alive()
        client.join(timeout=30)  # the gateway stopped: its workers were stopped with it
    assert still_screening, f"the answer was screened before the probes ended: {outcome}"
    assert len(timings) > 50
    # The bound is the gateway's, not the machine's: on a shared machine (load average 15 on two
    # cores when this was written) the OS alone can delay a probe, so nine in ten must answer
    # within 50 ms and none may wait for the screening (which takes minutes for 50 MB).
    ordered = sorted(timings)
    p90 = ordered[len(ordered) * 9 // 10]
    assert p90 < 50, f"90th percentile {p90:.1f} ms"
    assert ordered[-1] < 250, f"slowest /healthz {ordered[-1]:.1f} ms"
