"""A 1 GiB file encrypts and decrypts in bounded memory (measured in a child process)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(
    """
    import sys
    def hwm():
        # VmHWM: peak RSS of this process image (ru_maxrss survives exec on Linux)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    from kastell.protect import LocalKeyFile, decrypt_stream, encrypt_stream
    plain, sealed, back = sys.argv[1:4]
    kek = LocalKeyFile(b"k" * 32)
    with open(plain, "rb") as src, open(sealed, "wb") as dst:
        encrypt_stream(src, dst, kek)
    with open(sealed, "rb") as src, open(back, "wb") as dst:
        result = decrypt_stream(src, dst, kek)
    print(result.plaintext_size, hwm())
    """
)


@pytest.mark.slow
def test_one_gib_round_trip_in_bounded_memory(tmp_path: pathlib.Path) -> None:
    plain = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096 * 4  # 4 MiB
    with open(plain, "wb") as handle:
        for _ in range(256):
            handle.write(block)
    sealed, back = tmp_path / "big.kenc", tmp_path / "big.out"
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(plain), str(sealed), str(back)],
        capture_output=True, text=True, check=True,
    )
    size, max_rss_kib = (int(v) for v in out.stdout.split())
    assert size == 1 << 30
    assert max_rss_kib < 200 * 1024, f"peak RSS {max_rss_kib / 1024:.0f} MiB"
    assert back.stat().st_size == 1 << 30
    with open(plain, "rb") as a, open(back, "rb") as b:
        while chunk := a.read(1 << 22):
            assert chunk == b.read(1 << 22)
