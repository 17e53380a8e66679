"""Signing end to end: ``kastell sign/verify`` vs ``model_signing sign/verify key``.

Both tools run as command-line programs (start-up included) on the same inputs in the same run,
with a warm page cache, ECDSA P-256 keys and the default (whole-file sha256) serialization, so
each signs/verifies exactly the same resources; every signature is cross-checked by the other
tool before timing. The anchor is installed in its own venv under
``benchmarks/.venv-anchors-signing/``.

Usage: python benchmarks/bench_signing.py [--file-mib 1024] [--files 200] [--file-kib 1024]
       [--repeat 3] [--workdir DIR] [--anchor PATH/TO/model_signing]

``--file-mib 0`` skips the large file (for a many-file run such as ``--files 100000
--file-kib 1``). Each row also gives the peak RSS of each tool's process (``wait4``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANCHOR_VENV = HERE / ".venv-anchors-signing"
ANCHOR = ANCHOR_VENV / "bin" / "model_signing"
KASTELL = Path(sys.executable).parent / "kastell"


def ensure_anchor() -> None:
    if ANCHOR.exists() or ANCHOR != ANCHOR_VENV / "bin" / "model_signing":
        return
    subprocess.run(["python3", "-m", "venv", str(ANCHOR_VENV)], check=True)
    pip = ANCHOR_VENV / "bin" / "pip"
    subprocess.run([str(pip), "install", "--quiet", "model-signing==1.1.1", "pyopenssl"],
                   check=True)


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 16 * 1024 * 1024
    with path.open("wb") as handle:
        left = size
        while left:
            n = min(block, left)
            handle.write(os.urandom(n))
            left -= n


def make_inputs(work: Path, file_mib: int, files: int, file_kib: int) -> dict[str, Path]:
    inputs: dict[str, Path] = {}
    big = work / "big-model"
    if file_mib:
        if not (big / "model.bin").exists():
            write_random(big / "model.bin", file_mib * 1024 * 1024)
        inputs[f"1 file, {file_mib} MiB"] = big
    many = work / "many-files"
    if not many.exists():
        for index in range(files):
            write_random(many / f"shard-{index // 50:02d}" / f"part-{index:04d}.bin",
                         file_kib * 1024)
    inputs[f"{files} files x {file_kib} KiB"] = many
    return inputs


def warm(path: Path) -> None:
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        with file.open("rb") as handle:
            while handle.read(16 * 1024 * 1024):
                pass


def timed(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time (s) and the largest peak RSS (MiB) of ``repeat`` runs."""
    times, peaks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        times.append(time.perf_counter() - start)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
        peaks.append(usage.ru_maxrss / 1024)  # Linux: KiB
    return statistics.median(times), max(peaks)


def keys(work: Path) -> Path:
    prefix = work / "bench-key"
    if not Path(f"{prefix}.pem").exists():
        subprocess.run([str(KASTELL), "keygen", "-o", str(prefix), "--force"], check=True,
                       capture_output=True)
    return prefix


def bench_one(label: str, model: Path, key: Path, work: Path, repeat: int) -> None:
    size = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    k_sig, m_sig = work / "kastell.sig", work / "model_signing.sig"
    k_sign = [str(KASTELL), "sign", str(model), "-k", f"{key}.pem", "-o", str(k_sig)]
    m_sign = [str(ANCHOR), "sign", "key", str(model), "--private_key", f"{key}.pem",
              "--signature", str(m_sig)]
    k_verify = [str(KASTELL), "verify", str(model), "-s", str(m_sig), "-k", f"{key}.pub"]
    m_verify = [str(ANCHOR), "verify", "key", str(model), "--signature", str(k_sig),
                "--public_key", f"{key}.pub"]
    warm(model)
    subprocess.run(k_sign, check=True, capture_output=True)
    subprocess.run(m_sign, check=True, capture_output=True)
    # cross-check first: each tool must accept the other's signature
    subprocess.run(k_verify, check=True, capture_output=True)
    subprocess.run(m_verify, check=True, capture_output=True)
    results = {
        "sign": (timed(k_sign, repeat), timed(m_sign, repeat)),
        "verify": (timed(k_verify, repeat), timed(m_verify, repeat)),
    }
    print(f"\n{label} ({size / 1e9:.2f} GB), median of {repeat}, warm cache:")
    for step, ((kastell_s, kastell_rss), (anchor_s, anchor_rss)) in results.items():
        print(f"  {step:6}  kastell {kastell_s:6.2f} s ({size / kastell_s / 1e9:5.2f} GB/s, "
              f"peak RSS {kastell_rss:5.0f} MiB)   model_signing {anchor_s:6.2f} s "
              f"({size / anchor_s / 1e9:5.2f} GB/s, peak RSS {anchor_rss:5.0f} MiB)   "
              f"ratio (anchor time / kastell time) {anchor_s / kastell_s:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--file-kib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--anchor", type=Path, default=None,
                        help="an existing model_signing 1.1.1 CLI (default: a venv of its own)")
    args = parser.parse_args()
    global ANCHOR
    if args.anchor is not None:
        ANCHOR = args.anchor
    ensure_anchor()
    own = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="kastell-bench-signing-")) if own else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        key = keys(work)
        start = time.perf_counter()
        subprocess.run([str(KASTELL), "--version"], check=True, capture_output=True)
        kastell_start = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([str(ANCHOR), "--help"], check=True, capture_output=True)
        anchor_start = time.perf_counter() - start
        print(f"start-up: kastell --version {kastell_start:.2f} s, "
              f"model_signing --help {anchor_start:.2f} s")
        for label, model in make_inputs(work, args.file_mib, args.files, args.file_kib).items():
            bench_one(label, model, key, work, args.repeat)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
