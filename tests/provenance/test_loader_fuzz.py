"""Model file headers are untrusted: parsers fail only with our errors, and fast."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError
from kastell.provenance._gguf import parse_gguf
from kastell.provenance.loaders import _parse_safetensors


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=400))
def test_gguf_random_tail(tail: bytes) -> None:
    data = b"GGUF" + struct.pack("<I", 3) + tail
    with contextlib.suppress(KastellError):
        parse_gguf(memoryview(data), "fuzz")


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=400))
def test_safetensors_random(data: bytes) -> None:
    with contextlib.suppress(KastellError):
        _parse_safetensors(memoryview(bytearray(data)), "fuzz")


@settings(max_examples=200, deadline=2000)
@given(st.text(max_size=200), st.binary(max_size=64))
def test_safetensors_random_header(header: str, body: bytes) -> None:
    raw = header.encode()
    data = struct.pack("<Q", len(raw)) + raw + body
    with contextlib.suppress(KastellError):
        _parse_safetensors(memoryview(bytearray(data)), "fuzz")
