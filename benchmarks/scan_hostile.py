"""Hostile inputs for the model-file scanner: each must scan in bounded time and memory.

Used by ``bench_scan.py --hostile``. The files are written under the bench's work directory
(never in the repository), each at most 20 MB. Every file is scanned in its own child process
that reports its peak RSS and CPU time; the parent measures the wall time. The goal of issue 12:
at most 2 s and 512 MiB per file (a file crossing a bound is ``unscannable``, naming the bound).

``--baseline-src DIR`` runs the same measurements with another copy of Kastell's ``src`` (for
instance main's, exported with ``git archive main src | tar -x -C DIR``), in the same run.
"""

from __future__ import annotations

import bz2
import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

MB = 10**6

_CHILD = """
import json, sys, time
start = time.process_time()
from kastell.scan import scan_file
result = scan_file(sys.argv[1])
# VmHWM is this process's own peak (ru_maxrss may carry the parent's peak across exec)
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"cpu": time.process_time() - start,
                  "rss_mib": hwm / 1024,
                  "verdict": result.verdict.value,
                  "why": (list(result.reasons) + [f.rule_id for f in result.findings])[:2]}))
"""


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _joblib_shared_state() -> bytes:
    """A joblib wrapper whose 200k-pair BUILD state is reused (memo) by 5000 wrappers."""
    wrapper = _global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81"
    dtype = (_global("numpy", "dtype") + _text("u1") + b"\x89\x88\x87R"
             + b"(J\x03\x00\x00\x00" + _text("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
             + b"J\x00\x00\x00\x00tb")
    pairs = b"".join(_text(f"k{i}") + b"N" for i in range(200_000))
    state = (b"}(" + _text("subclass") + _global("numpy", "ndarray") + _text("shape")
             + b"K\x00\x85" + _text("order") + _text("C") + _text("dtype") + dtype + pairs
             + b"u\x94")
    body = b"\x80\x04]" + wrapper + state + b"ba"
    body += (wrapper + b"h\x00ba") * 5000
    return body + b"."


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02" + b"]" * (16 << 20) + b".")
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def _many_members() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for index in range(90_000):
            archive.writestr(f"m/{index}.pkl", b"\x80\x02N.")
    return out.getvalue()


def _gguf_many_keys() -> bytes:
    count = 600_000
    body = b"".join(struct.pack("<Q", 8) + f"k{i:07d}".encode() + struct.pack("<II", 4, i)
                    for i in range(count))
    return b"GGUF" + struct.pack("<IQQ", 3, 0, count) + body


HOSTILE: dict[str, Callable[[], bytes]] = {
    # the three files of issue 12
    "empty_list_10MB.pkl": lambda: b"\x80\x04" + b"]" * (10 * MB) + b".",
    "torch_zip_16MiB_deflated.pt": _zip_bomb,
    "joblib_state_reused.pkl": _joblib_shared_state,
    # our own worst cases
    "pop_churn_20MB.pkl": lambda: b"\x80\x04" + b"]0" * (10 * MB - 2) + b"N.",
    "memo_flood.pkl": lambda: b"\x80\x04" + b"N\x940" * (6 * MB) + b"N.",
    "dict_2M_items.pkl": lambda: (b"\x80\x04}(" + b"".join(
        b"J" + struct.pack("<i", i) + b"N" for i in range(2_000_000)) + b"u."),
    "marks_20MB.pkl": lambda: b"\x80\x04" + b"(" * (20 * MB - 3) + b".",
    "tiny_pickles_20MB.pkl": lambda: b"N." * (10 * MB),
    "bz2_bomb.joblib": lambda: bz2.compress(b"\x80\x04" + b"]0" * (50 * MB) + b"N."),
    "zip_90k_members.zip": _many_members,
    "gguf_600k_keys.gguf": _gguf_many_keys,
    "frame_claims_64MiB.pkl": lambda: b"\x80\x04\x95" + struct.pack("<Q", 64 << 20) + b"N.",
}


def write_hostile(workdir: Path) -> list[Path]:
    folder = workdir / "hostile"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in HOSTILE.items():
        path = folder / name
        if not path.exists():
            path.write_bytes(build())
        paths.append(path)
    return paths


def measure(path: Path, src: Path, timeout: float) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                              text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"wall": time.perf_counter() - start, "verdict": f"timeout {timeout:.0f}s"}
    wall = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"wall": wall, "verdict": "crashed", "why": done.stderr[-200:]}
    return {"wall": wall, **json.loads(lines[-1])}


def hostile(workdir: Path, src: Path, baseline: Path | None, timeout: float) -> None:
    print("\n| hostile file | MB | wall (s) | CPU (s) | peak RSS (MiB) | verdict | bound / rule "
          "| within 2 s CPU and 512 MiB |" + (" baseline wall / RSS / verdict |" if baseline
                                              else ""))
    print("| --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if baseline else ""))
    for path in write_hostile(workdir):
        mine = measure(path, src, timeout)
        cpu, rss = mine.get("cpu"), mine.get("rss_mib")
        ok = isinstance(cpu, float) and isinstance(rss, float) and cpu <= 2 and rss <= 512
        row = (f"| {path.name} | {path.stat().st_size / MB:.1f} | {mine['wall']:.2f} | "
               f"{cpu if cpu is None else f'{cpu:.2f}'} | "
               f"{rss if rss is None else f'{rss:.0f}'} | {mine.get('verdict')} | "
               f"{'; '.join(map(str, mine.get('why') or []))[:90]} | {'yes' if ok else 'NO'} |")
        if baseline is not None:
            old = measure(path, baseline, timeout)
            old_rss = old.get("rss_mib")
            row += (f" {old['wall']:.1f} s / "
                    f"{'-' if old_rss is None else f'{old_rss:.0f}'} MiB / {old.get('verdict')} |")
        print(row, flush=True)


_SPEED_CHILD = """
import json, sys, time
from kastell.scan import scan_paths
start, cpu = time.perf_counter(), time.process_time()
scan_paths([sys.argv[1]])
print(json.dumps([time.perf_counter() - start, time.process_time() - cpu]))
"""


def compare_speed(folder: Path, src: Path, baseline: Path, repeat: int) -> None:
    """In-process engine time on the 200-file directory: this branch vs the baseline src."""
    best: dict[str, list[float]] = {}
    for _ in range(repeat):
        for name, where in (("this branch", src), ("baseline", baseline)):
            env = {**os.environ, "PYTHONPATH": str(where)}
            done = subprocess.run([sys.executable, "-c", _SPEED_CHILD, str(folder)],
                                  capture_output=True, text=True, env=env, check=True)
            wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
            old = best.get(name, [wall, cpu])
            best[name] = [min(old[0], wall), min(old[1], cpu)]
    mine, base = best["this branch"], best["baseline"]
    print("\n| engine on the 200 files (in-process) | best wall (s) | best CPU (s) |\n"
          "| --- | --- | --- |")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    print(f"| ratio this/baseline | {mine[0] / base[0]:.2f} | {mine[1] / base[1]:.2f} |")
