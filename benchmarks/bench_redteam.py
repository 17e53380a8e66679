"""Red-team harness benchmark: Kastell vs garak 0.17.1 (same run, same mock, same request count).

Usage (from the repository root, with Kastell's venv active):

    python benchmarks/bench_redteam.py mock      # throughput + peak RSS vs garak, instant mock
    python benchmarks/bench_redteam.py smollm2   # CI suite against the real local model
    python benchmarks/bench_redteam.py size      # installed size of Kastell's core deps

The anchor lives in benchmarks/.venv-anchors-redteam (created on first use: torch==2.13.0 first,
so that garak does not pull CUDA, then garak==0.17.1). The mock is a small OpenAI-compatible ASGI
app defined below that answers instantly and counts requests; the throughput compared is requests
per second over the window from the first to the last request the mock saw, and over the whole
process wall time (start-up included). Machines are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
ANCHOR_VENV = ROOT / "benchmarks" / ".venv-anchors-redteam"
GARAK = ANCHOR_VENV / "bin" / "garak"

_REPLY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "mock",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello! This is a mock reply."}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
}).encode()
STATS = {"requests": 0, "first": 0.0, "last": 0.0}


async def mock_app(scope, receive, send):  # type: ignore[no-untyped-def]
    """Answer every chat completion instantly; GET /stats and POST /reset for the harness."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    path, status, body = scope["path"], 200, _REPLY
    if path == "/stats":
        body = json.dumps(STATS).encode()
    elif path == "/reset":
        STATS.update(requests=0, first=0.0, last=0.0)
        body = b"{}"
    elif path.endswith("/chat/completions"):
        now = time.monotonic()
        STATS["first"] = STATS["first"] or now
        STATS["last"] = now
        STATS["requests"] += 1
    elif path.endswith("/models"):
        body = b'{"object": "list", "data": [{"id": "mock", "object": "model"}]}'
    else:
        status, body = 404, b"{}"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _get(url: str, method: str = "GET") -> dict[str, float]:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
        result: dict[str, float] = json.loads(r.read())
        return result


def _timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run under /usr/bin/time -v: wall seconds, peak RSS in MB, stdout."""
    started = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)
    wall = time.monotonic() - started
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if done.returncode not in (0, 1, 3):
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{command[0]} failed with exit {done.returncode}")
    return wall, int(match.group(1)) // 1024 if match else -1, done.stdout


def ensure_garak() -> None:
    if GARAK.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(ANCHOR_VENV)], check=True)
    pip = [str(ANCHOR_VENV / "bin" / "pip"), "install", "--quiet"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "garak==0.17.1"], check=True)


def kastell_driver(url: str, requests: int, concurrency: int, store: str) -> None:
    """Run the baseline suite repeatedly (separate runs) until ``requests`` were sent."""
    from kastell.redteam.campaign import run_campaign_async
    from kastell.redteam.runner import RunSettings
    from kastell.redteam.store import RedteamStore
    from kastell.redteam.targets.openai import OpenAITarget

    async def main() -> None:
        target = OpenAITarget(url, "mock", max_connections=concurrency)
        results_store = RedteamStore(store)
        sent = 0
        while sent < requests:
            result = await run_campaign_async(
                suite="kastell-baseline-v1", target=target, store=results_store,
                settings=RunSettings(concurrency=concurrency, max_tokens=48),
            )
            sent += sum(r.requests for r in result.results)
        await target.aclose()
        results_store.close()

    asyncio.run(main())


def bench_mock(args: argparse.Namespace) -> None:
    ensure_garak()
    port = args.port
    server = subprocess.Popen([sys.executable, __file__, "serve-mock", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(50):
            try:
                _get(base + "/stats")
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            opts = pathlib.Path(tmp) / "opts.json"
            opts.write_text(json.dumps({"openai": {"OpenAICompatible": {
                "uri": f"{base}/v1", "api_key": "x", "model": "mock", "suppressed_params": []}}}))
            _get(base + "/reset", "POST")
            g_wall, g_rss, _ = _timed(
                [str(GARAK), "--target_type", "openai.OpenAICompatible", "--target_name", "mock",
                 "--generator_option_file", str(opts), "--probes", args.garak_probes,
                 "--generations", "1", "--report_prefix", str(pathlib.Path(tmp) / "garak")],
                env={"HF_HUB_OFFLINE": "1", "XDG_DATA_HOME": tmp},
            )
            g = _get(base + "/stats")
            _get(base + "/reset", "POST")
            k_wall, k_rss, _ = _timed(
                [sys.executable, __file__, "kastell-driver", "--url", f"{base}/v1",
                 "--requests", str(int(g["requests"])), "--concurrency", str(args.concurrency),
                 "--store", str(pathlib.Path(tmp) / "rt.db")])
            k = _get(base + "/stats")
    finally:
        server.terminate()
        server.wait()
    g_window = max(1e-9, g["last"] - g["first"])
    k_window = max(1e-9, k["last"] - k["first"])
    print(f"garak {args.garak_probes}: {int(g['requests'])} requests, wall {g_wall:.1f} s "
          f"({g['requests'] / g_wall:.0f} req/s), request window {g_window:.1f} s "
          f"({g['requests'] / g_window:.0f} req/s), peak RSS {g_rss} MB")
    print(f"kastell (concurrency {args.concurrency}): {int(k['requests'])} requests, wall "
          f"{k_wall:.1f} s ({k['requests'] / k_wall:.0f} req/s), request window {k_window:.1f} s"
          f" ({k['requests'] / k_window:.0f} req/s), peak RSS {k_rss} MB")
    window_ratio = (k["requests"] / k_window) / (g["requests"] / g_window)
    wall_ratio = (k["requests"] / k_wall) / (g["requests"] / g_wall)
    print(f"ratio kastell/garak req/s: window {window_ratio:.1f}x, wall {wall_ratio:.1f}x; "
          f"peak RSS garak/kastell {g_rss / max(1, k_rss):.1f}x")


def bench_smollm2(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(args.keep) if args.keep else pathlib.Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        wall, rss, stdout = _timed(
            ["kastell", "redteam", "run", "--target", "local", "--suite", "kastell-ci-v1",
             "--max-tokens", "48", "--concurrency", "2", "--store", str(out / "ci.db"),
             "--format", "json", "--html", str(out / "ci.html")])
        report = json.loads(stdout)
    print(f"kastell-ci-v1 against local SmolLM2: {report['run']['planned']} attempts, "
          f"{sum(a['requests'] for a in report['attempts'])} requests, wall {wall:.0f} s, "
          f"peak RSS {rss} MB, complete={report['complete']}")
    for c in report["summary"]["categories"]:
        rate = "not tested" if c["asr"] is None else (
            f"{c['asr']:.1%} [{c['ci95'][0]:.1%}, {c['ci95'][1]:.1%}]")
        print(f"  {c['name']:<28} {c['succeeded']:>3}/{c['trials']:<3} {rate}")


def bench_size(args: argparse.Namespace) -> None:
    import importlib.metadata as md

    core = ["click", "rich", "cryptography", "blake3", "pyyaml", "pydantic", "jinja2",
            "sqlalchemy", "alembic", "httpx", "cyclonedx-python-lib"]
    seen: set[str] = set()
    total = 0

    def walk(name: str) -> None:
        nonlocal total
        key = name.lower().replace("_", "-")
        if key in seen:
            return
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            return
        for file in dist.files or ():
            path = pathlib.Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
        for requirement in dist.requires or ():
            if "extra ==" not in requirement:
                walk(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])

    for name in core:
        walk(name)
    print(f"kastell core dependencies (no extras, no torch): {len(seen)} distributions, "
          f"{total / 1e6:.0f} MB installed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    mock = sub.add_parser("mock")
    mock.add_argument("--port", type=int, default=9107)
    mock.add_argument("--concurrency", type=int, default=16)
    mock.add_argument("--garak-probes", default="promptinject,encoding")
    smol = sub.add_parser("smollm2")
    smol.add_argument("--keep", default="", help="Directory to keep the store and HTML in.")
    sub.add_parser("size")
    serve = sub.add_parser("serve-mock")
    serve.add_argument("--port", type=int, required=True)
    driver = sub.add_parser("kastell-driver")
    driver.add_argument("--url", required=True)
    driver.add_argument("--requests", type=int, required=True)
    driver.add_argument("--concurrency", type=int, default=16)
    driver.add_argument("--store", required=True)
    args = parser.parse_args()
    if args.mode == "serve-mock":
        import uvicorn

        uvicorn.run(mock_app, host="127.0.0.1", port=args.port, log_level="warning",
                    access_log=False)
    elif args.mode == "kastell-driver":
        kastell_driver(args.url, args.requests, args.concurrency, args.store)
    else:
        {"mock": bench_mock, "smollm2": bench_smollm2, "size": bench_size}[args.mode](args)


if __name__ == "__main__":
    main()
