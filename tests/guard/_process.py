"""``kastell guard serve`` in a subprocess, as an operator runs it (the uvicorn config included)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import yaml

from ._servers import free_port


@contextlib.contextmanager
def served_gateway(config: dict[str, Any], tmp_path: pathlib.Path) -> Iterator[str]:
    """Serve ``config``; yield the gateway's URL once healthy; stop it with SIGTERM after."""
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    command = [sys.executable, "-m", "kastell.cli.main", "guard", "serve", "--config", str(path)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
        [*command, "--port", str(port), "--loop", "asyncio"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                error = process.stderr.read() if process.stderr else b""
                raise RuntimeError(f"gateway exited: {error!r}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("gateway did not become healthy")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()
