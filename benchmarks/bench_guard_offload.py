"""Where the guard screens an answer: inline on the event loop, or in a worker process.

For answers of growing size, the median time to screen a non-streamed answer inline
(``offload.screen_answer``) against the same answer sent through the gateway's worker pool
(``ScreeningPool.answer`` with ``inline_screen_bytes: 0``: shared memory in, screening in the
worker, shared memory back), same run, and the ratio. The hop pays off once the inline time
stops being small against it; below, it is pure cost, which sets ``limits.inline_screen_bytes``.

Usage::

    python benchmarks/bench_guard_offload.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from multiprocessing import shared_memory

from kastell.guard.config import parse_config
from kastell.guard.interface import ScanContext
from kastell.guard.keys import hash_api_key
from kastell.guard.offload import ScreenedAnswer, ScreeningPool, screen_answer
from kastell.guard.runtime import build_screeners

_WORDS = "the quiet river runs past the old mill and the green hills beyond it "


def _answer(size: int) -> bytes:
    text = (_WORDS * (size // len(_WORDS) + 1))[:size]
    message = {"role": "assistant", "content": text}
    document = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    return json.dumps(document).encode()


def _release(answer: ScreenedAnswer) -> None:
    """Free the shared memory a worker handed back (the gateway does it once sent)."""
    if answer.shared is not None:
        memory = shared_memory.SharedMemory(answer.shared[0])
        memory.close()
        memory.unlink()


async def _run(repeat: int) -> None:
    config = parse_config(
        {
            "upstreams": {"main": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "tenants": {"acme": {"key_hashes": [hash_api_key("k" * 32)], "upstream": "main"}},
            "limits": {"inline_screen_bytes": 0, "screening_workers": 1},
        }
    )
    screener = build_screeners(config)["acme"]
    pool = ScreeningPool(config)
    context = ScanContext(role="assistant")
    _release(await pool.answer(screener, "acme", context, [_answer(100)], "drop"))  # warm up
    print(f"{'answer bytes':>12} {'inline ms':>10} {'worker ms':>10} {'worker/inline':>14}")
    try:
        for size in (1_000, 4_000, 16_000, 64_000, 256_000, 1_000_000):
            raw = _answer(size)
            inline, worker = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                screen_answer(screener, context, raw, "drop")
                inline.append(time.perf_counter() - started)
                started = time.perf_counter()
                answer = await pool.answer(screener, "acme", context, [raw], "drop")
                worker.append(time.perf_counter() - started)
                _release(answer)
            a, b = statistics.median(inline) * 1000, statistics.median(worker) * 1000
            print(f"{len(raw):>12} {a:>10.2f} {b:>10.2f} {b / a:>13.2f}x")
    finally:
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    asyncio.run(_run(parser.parse_args().repeat))


if __name__ == "__main__":
    main()
