"""The Ray backend on a single-node Ray instance started on this machine (loopback only)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import pathlib
import threading
from collections.abc import Iterator

import pytest

from kastell.redteam.campaign import RayPlan, run_campaign_async
from kastell.redteam.interface import Category, ProbeConfig, RedteamUsageError
from kastell.redteam.runner import RunSettings
from kastell.redteam.store import RedteamStore

REQUESTS = {"n": 0}
"""Requests the mock server received (reset by the fixture)."""


HANDLERS: set[asyncio.Task[None]] = set()
"""Connection handlers still running (cancelled when the fixture stops the server)."""


async def _echo_system(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    task = asyncio.current_task()
    if task is not None:
        HANDLERS.add(task)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            request = json.loads(await reader.readexactly(length))
            REQUESTS["n"] += 1
            if request.get("model") == "slow":
                await asyncio.sleep(3)
            system = next((m["content"] for m in request["messages"] if m["role"] == "system"),
                          "")
            body = json.dumps({"choices": [{"message": {"content": "Sure: " + system}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
        HANDLERS.discard(task)


@pytest.fixture
def leaky_http() -> Iterator[str]:
    REQUESTS["n"] = 0
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        server = await asyncio.start_server(_echo_system, "127.0.0.1", 0)
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()),
                                              loop.run_forever()), daemon=True)
    thread.start()
    started.wait(10)
    yield f"http://127.0.0.1:{holder['port']}/v1"

    async def stop() -> None:
        await asyncio.sleep(0.2)  # let handlers see their clients close
        for task in list(HANDLERS):
            task.cancel()
        await asyncio.sleep(0.05)
        server = holder["server"]
        server.close()  # type: ignore[attr-defined]
        await server.wait_closed()  # type: ignore[attr-defined]

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_ray_backend_needs_workers() -> None:
    from kastell.redteam.ray_backend import execute_on_ray

    with pytest.raises(RedteamUsageError, match="--workers must be >= 1"):
        execute_on_ray([], "http://127.0.0.1:1/v1", RunSettings(), print, workers=0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")  # Ray's own start-up warnings
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed")
def test_campaign_on_local_ray_matches_asyncio(tmp_path: pathlib.Path, leaky_http: str) -> None:
    from kastell.redteam.targets.openai import OpenAITarget

    config = ProbeConfig(languages=("en",))
    settings = RunSettings(seed=5, excluded=tuple(
        c.value for c in Category
        if c.value not in ("system_prompt_leakage", "sensitive_info_disclosure")))
    store = RedteamStore(tmp_path / "rt.db")
    on_ray = asyncio.run(run_campaign_async(
        suite="kastell-ci-v1", target=None, store=store, settings=settings,
        probe_config=config, ray=RayPlan(target_spec=leaky_http, workers=2)))

    async def run_direct() -> object:
        target = OpenAITarget(leaky_http, "m")
        try:
            return await run_campaign_async(
                suite="kastell-ci-v1", target=target, store=store, settings=settings,
                probe_config=config)
        finally:
            await target.aclose()

    direct = asyncio.run(run_direct())
    store.close()
    assert on_ray.complete
    assert len(on_ray.results) == len(on_ray.planned) == 20
    assert "(ray)" in on_ray.run.target
    by_id = {r.attempt_id: r.status for r in direct.results}  # type: ignore[attr-defined]
    assert {r.attempt_id: r.status for r in on_ray.results} == by_id
    assert on_ray.summary.overall.succeeded > 0
    assert on_ray.summary == direct.summary  # type: ignore[attr-defined]


_LEAKAGE_ONLY = tuple(c.value for c in Category if c is not Category.SYSTEM_PROMPT_LEAKAGE)


def test_max_requests_is_exact_on_the_local_backend(leaky_http: str,
                                                   tmp_path: pathlib.Path) -> None:
    from kastell.redteam.runner import Budget
    from kastell.redteam.targets.openai import OpenAITarget

    settings = RunSettings(concurrency=4, excluded=_LEAKAGE_ONLY, budget=Budget(max_requests=3))
    store = RedteamStore(tmp_path / "rt.db")

    async def run() -> object:
        target = OpenAITarget(leaky_http, "m")
        try:
            return await run_campaign_async(suite="kastell-ci-v1", target=target, store=store,
                                            settings=settings, probe_config=ProbeConfig())
        finally:
            await target.aclose()

    result = asyncio.run(run())
    store.close()
    assert REQUESTS["n"] == 3
    assert sum(r.requests for r in result.results) == 3  # type: ignore[attr-defined]


def test_chunk_honours_timeout_and_retries(leaky_http: str) -> None:
    from kastell.redteam.interface import TargetUnavailableError
    from kastell.redteam.ray_backend import TargetOptions, run_chunk
    from kastell.redteam.suites import materialize, suite_named

    spec = next(a for a in materialize(suite_named("kastell-ci-v1")).attempts
                if len(a.turns) == 1 and a.repeat == 1)
    with pytest.raises(TargetUnavailableError, match=r"after 2 tries.*0\.3 s"):
        run_chunk(leaky_http, TargetOptions("slow", timeout=0.3, retries=1), [spec],
                  RunSettings())
    assert REQUESTS["n"] == 2  # one try and one retry, each cut at 0.3 s (the server takes 3 s)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")  # Ray's own start-up warnings
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed")
def test_max_requests_is_exact_on_ray(tmp_path: pathlib.Path, leaky_http: str) -> None:
    from kastell.redteam.runner import Budget

    settings = RunSettings(excluded=_LEAKAGE_ONLY, budget=Budget(max_requests=3))
    store = RedteamStore(tmp_path / "rt.db")
    result = asyncio.run(run_campaign_async(
        suite="kastell-ci-v1", target=None, store=store, settings=settings,
        probe_config=ProbeConfig(), ray=RayPlan(target_spec=leaky_http, workers=2)))
    store.close()
    assert REQUESTS["n"] == 3  # not one per chunk
    assert sum(r.requests for r in result.results) == 3
    assert not result.complete
