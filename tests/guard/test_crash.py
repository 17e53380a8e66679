"""kill -9 of the gateway (uvicorn subprocess) under load: the audit log verifies and holds
every request that was answered with HTTP 200."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from kastell.cli.main import main

from ._servers import MockUpstream, free_port
from .conftest import KEY, make_config, read_records

pytestmark = pytest.mark.slow


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not become healthy")


def _load(url: str, stop: threading.Event, answered: list[str], worker: int) -> None:
    with httpx.Client(timeout=5) as client:
        n = 0
        while not stop.is_set():
            n += 1
            request_id = f"w{worker}-{n}"
            body = {"model": "m", "messages": [{"role": "user", "content": f"hello {n}"}]}
            if n % 3 == 0:
                body["stream"] = True
            try:
                response = client.post(
                    f"{url}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": request_id},
                )
                if response.status_code == 200 and response.text.rstrip().endswith(("[DONE]", "}")):
                    answered.append(request_id)
            except httpx.HTTPError:
                return


@contextlib.contextmanager
def _serving(
    config: dict[str, Any], tmp_path: pathlib.Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``kastell guard serve`` in a subprocess with ``config``, healthy; killed on the way out."""
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    command = [sys.executable, "-m", "kastell.cli.main", "guard", "serve", "--config", str(path)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def test_kill_9_under_load_keeps_a_verifiable_complete_log(
    upstream: tuple[MockUpstream, str],
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "audit.db"
    config = make_config(upstream[1], audit={"url": str(log)})
    config["tenants"]["acme"]["rate_limit"] = {"per_minute": 600000, "burst": 10000}
    with _serving(config, tmp_path) as (process, url):
        stop = threading.Event()
        answered: list[str] = []
        workers = [threading.Thread(target=_load, args=(url, stop, answered, i)) for i in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(1.5)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
    assert len(answered) > 10
    assert main(["audit", "verify", str(log), "--min-retention-days", "0"]) == 0
    capsys.readouterr()
    logged = {r.event.request_id for r in read_records(log)}
    missing = [rid for rid in answered if rid not in logged]
    assert missing == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_is_a_clean_exit_with_the_log_closed(
    upstream: tuple[MockUpstream, str], tmp_path: pathlib.Path, stop: signal.Signals
) -> None:
    log = tmp_path / "audit.db"
    with _serving(make_config(upstream[1], audit={"url": str(log)}), tmp_path) as (process, _):
        process.send_signal(stop)
        code = process.wait(timeout=20)
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert code == 0, stderr  # documented: 0 stopped cleanly (not 143 / 130)
    assert f"stopped ({stop.name})" in stderr
    assert main(["audit", "verify", str(log), "--require-anchored"]) == 0
