from __future__ import annotations

import contextlib
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.protect import LocalKeyFile, decrypt_stream, encrypt_stream
from kastell.protect.interface import ProtectError

_KEK = LocalKeyFile(b"\x01" * 32)
_SEALED = io.BytesIO()
encrypt_stream(io.BytesIO(b"fuzz me " * 40), _SEALED, _KEK, chunk_size=64)
_VALID = _SEALED.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_end_in_a_protect_error(data: bytes) -> None:
    with contextlib.suppress(ProtectError):
        decrypt_stream(io.BytesIO(data), io.BytesIO(), _KEK)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_VALID) - 1), st.integers(1, 255))
def test_any_flipped_byte_is_rejected_or_harmless(position: int, mask: int) -> None:
    mutated = bytearray(_VALID)
    mutated[position] ^= mask
    out = io.BytesIO()
    try:
        decrypt_stream(io.BytesIO(bytes(mutated)), out, _KEK)
    except ProtectError:
        return
    # only bytes no one reads may change silently: the zero padding of a key slot
    assert out.getvalue() == b"fuzz me " * 40
