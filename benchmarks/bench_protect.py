"""Dataset encryption throughput against its ceiling, in the same run on the same data.

Ceiling: one-buffer AES-256-GCM in `cryptography` over the whole file held in memory (no I/O,
no chunking). Kastell: `encrypt_stream` / `decrypt_stream` file to file in 4 MiB chunks, with
SHA-256 of plaintext and ciphertext computed on the way. Goal: Kastell >= 0.7x the ceiling.
Peak RSS of the Kastell runs is measured in a child process.

    python benchmarks/bench_protect.py [--size-mib 1024] [--repeat 3]
    python benchmarks/bench_protect.py --tree-files 2000 [--repeat 3]

``--tree-files N`` measures the per-file cost instead: N files of 4 KiB in 20 folders, Kastell
`verify_tree` (signature, listing, header and slot checks, ciphertext SHA-256 of every file,
no key) and `decrypt_tree`, against the anchor of reading and SHA-256-hashing the same
encrypted files with `hashlib` (the least work any integrity check must do).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_CHILD = """
import sys, time
def hwm():
    # VmHWM: peak RSS of this process image (ru_maxrss survives exec on Linux)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
from kastell.protect import LocalKeyFile, decrypt_stream, encrypt_stream
plain, sealed, back = sys.argv[1:4]
kek = LocalKeyFile(b"k" * 32)
t0 = time.perf_counter()
with open(plain, "rb") as src, open(sealed, "wb") as dst:
    encrypt_stream(src, dst, kek)
t1 = time.perf_counter()
with open(sealed, "rb") as src, open(back, "wb") as dst:
    decrypt_stream(src, dst, kek)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, hwm())
"""


def _ceiling(path: str) -> tuple[float, float]:
    with open(path, "rb") as handle:
        data = handle.read()
    aead, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    start = time.perf_counter()
    sealed = aead.encrypt(nonce, data, None)
    middle = time.perf_counter()
    aead.decrypt(nonce, sealed, None)
    return middle - start, time.perf_counter() - middle


def _cipher_only(path: str) -> float:
    """Stricter reference: AES-GCM alone over 4 MiB chunks in memory (no I/O, no digests)."""
    aead, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    block = bytearray(4 * 1024 * 1024)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(block):
            aead.encrypt(nonce, memoryview(block)[:count], None)
    return time.perf_counter() - start


def _hash_all(root: str) -> float:
    start = time.perf_counter()
    for directory, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                hashlib.sha256(handle.read()).hexdigest()
    return time.perf_counter() - start


def _tree(files: int, repeat: int) -> None:
    from kastell.integrity.keys import KeyAlgorithm, generate_private_key
    from kastell.protect import LocalKeyFile, decrypt_tree, encrypt_tree, verify_tree

    kek, owner = LocalKeyFile(b"k" * 32), generate_private_key(KeyAlgorithm.ED25519)
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as work:
        for index in range(files):
            folder = os.path.join(work, "plain", f"d{index % 20}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"f{index}.bin"), "wb") as handle:
                handle.write(os.urandom(4096))
        start = time.perf_counter()
        encrypt_tree(os.path.join(work, "plain"), os.path.join(work, "enc"), kek, owner)
        best["encrypt"] = time.perf_counter() - start
        for round_ in range(repeat):
            anchor = _hash_all(os.path.join(work, "enc"))
            start = time.perf_counter()
            assert not verify_tree(os.path.join(work, "enc"), [owner.public_key]).problems
            verify = time.perf_counter() - start
            start = time.perf_counter()
            decrypt_tree(os.path.join(work, "enc"), os.path.join(work, f"out{round_}"), kek,
                         [owner.public_key])
            decrypt = time.perf_counter() - start
            for name, value in (("anchor", anchor), ("verify", verify), ("decrypt", decrypt)):
                best[name] = min(best.get(name, value), value)
    for name in ("encrypt", "anchor", "verify", "decrypt"):
        print(f"{name:8s} {best[name]:7.3f} s  {best[name] / files * 1e3:6.3f} ms/file")
    print(f"verify / anchor (hashlib over the same files): {best['verify'] / best['anchor']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree-files", type=int, default=0)
    args = parser.parse_args()
    if args.tree_files:
        _tree(args.tree_files, args.repeat)
        return
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as work:
        plain = os.path.join(work, "plain.bin")
        with open(plain, "wb") as handle:
            for _ in range(args.size_mib // 4):
                handle.write(os.urandom(4 * 1024 * 1024))
        best: dict[str, float] = {}
        rss = 0
        for _ in range(args.repeat):
            enc, dec = _ceiling(plain)
            best["ceiling_enc"] = min(best.get("ceiling_enc", enc), enc)
            best["ceiling_dec"] = min(best.get("ceiling_dec", dec), dec)
            chunked = _cipher_only(plain)
            best["aes_chunked"] = min(best.get("aes_chunked", chunked), chunked)
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, plain, plain + ".kenc", plain + ".out"],
                capture_output=True, text=True, check=True,
            ).stdout.split()
            best["kastell_enc"] = min(best.get("kastell_enc", float(out[0])), float(out[0]))
            best["kastell_dec"] = min(best.get("kastell_dec", float(out[1])), float(out[1]))
            rss = max(rss, int(out[2]))
    gbps = {name: size / seconds / 1e9 for name, seconds in best.items()}
    for name in ("ceiling_enc", "kastell_enc", "ceiling_dec", "kastell_dec", "aes_chunked"):
        print(f"{name:12s} {gbps[name]:6.2f} GB/s")
    print(f"encrypt ratio kastell/ceiling: {gbps['kastell_enc'] / gbps['ceiling_enc']:.2f}x")
    print(f"decrypt ratio kastell/ceiling: {gbps['kastell_dec'] / gbps['ceiling_dec']:.2f}x")
    strict = gbps['kastell_enc'] / gbps['aes_chunked']
    print(f"encrypt ratio kastell/aes-only-chunked: {strict:.2f}x")
    print(f"kastell peak RSS: {rss / 1024:.0f} MiB (file of {args.size_mib} MiB)")


if __name__ == "__main__":
    main()
