from __future__ import annotations

import io
import os

import pytest

from kastell.protect import LocalKeyFile, decrypt_stream, encrypt_stream, read_envelope, rewrap_slot
from kastell.protect import _format as fmt
from kastell.protect.interface import FormatError, TamperedError, WrongKeyError

CHUNK = 64


def _seal(data: bytes, kek: LocalKeyFile, chunk: int = CHUNK) -> bytearray:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, kek, chunk_size=chunk)
    return bytearray(out.getvalue())


def _open(sealed: bytes, kek: LocalKeyFile | None) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(bytes(sealed)), out, kek)
    return out.getvalue()


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _data_offset(sealed: bytes) -> int:
    return fmt.read_header(io.BytesIO(bytes(sealed))).data_offset()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7])
def test_round_trip(kek: LocalKeyFile, size: int) -> None:
    data = os.urandom(size)
    sealed = _seal(data, kek)
    assert _open(sealed, kek) == data
    expected_chunks = max(1, -(-size // CHUNK))
    assert len(sealed) - _data_offset(sealed) == size + expected_chunks * fmt.TAG_SIZE


def test_digests_reported(kek: LocalKeyFile) -> None:
    import hashlib

    data = os.urandom(200)
    out = io.BytesIO()
    result = encrypt_stream(io.BytesIO(data), out, kek, chunk_size=CHUNK)
    assert result.plaintext_sha256 == hashlib.sha256(data).hexdigest()
    assert result.chunks == 4
    check = decrypt_stream(io.BytesIO(out.getvalue()), None, None)
    assert check.ciphertext_sha256 == result.ciphertext_sha256  # checkable without the key


def test_one_flipped_byte_fails(kek: LocalKeyFile) -> None:
    sealed = _seal(os.urandom(300), kek)
    sealed[_data_offset(sealed) + 100] ^= 0x01
    with pytest.raises(TamperedError, match="chunk 1"):
        _open(sealed, kek)


def test_dropped_last_chunk_fails(kek: LocalKeyFile) -> None:
    sealed = _seal(os.urandom(3 * CHUNK), kek)
    truncated = sealed[: -(CHUNK + fmt.TAG_SIZE)]
    with pytest.raises(TamperedError, match="last chunk"):
        _open(truncated, kek)


def test_truncated_inside_a_chunk_fails(kek: LocalKeyFile) -> None:
    sealed = _seal(os.urandom(3 * CHUNK), kek)
    with pytest.raises(TamperedError):
        _open(sealed[:-5], kek)


def test_truncated_below_a_tag_fails(kek: LocalKeyFile) -> None:
    sealed = _seal(os.urandom(CHUNK), kek)
    with pytest.raises(TamperedError, match="truncated"):
        _open(sealed[: _data_offset(sealed) + 3], kek)


def test_swapped_chunks_fail(kek: LocalKeyFile) -> None:
    sealed = _seal(os.urandom(3 * CHUNK), kek)
    start, block = _data_offset(sealed), CHUNK + fmt.TAG_SIZE
    first = sealed[start : start + block]
    sealed[start : start + block] = sealed[start + block : start + 2 * block]
    sealed[start + block : start + 2 * block] = first
    with pytest.raises(TamperedError, match="chunk 0"):
        _open(sealed, kek)


def test_appended_data_fails(kek: LocalKeyFile) -> None:
    sealed = _seal(os.urandom(2 * CHUNK), kek)
    with pytest.raises(TamperedError):
        _open(sealed + sealed[-(CHUNK + fmt.TAG_SIZE) :], kek)


def test_wrong_key_is_named(kek: LocalKeyFile, other_kek: LocalKeyFile) -> None:
    sealed = _seal(b"secret records", kek)
    with pytest.raises(WrongKeyError, match=kek.key_id):
        _open(sealed, other_kek)


def test_envelope_moved_from_another_file_fails(kek: LocalKeyFile) -> None:
    first, second = _seal(b"a" * 100, kek), _seal(b"b" * 100, kek)
    slots = slice(_data_offset(first) - 2 * fmt.SLOT_SIZE, _data_offset(first))
    second[slots] = first[slots]
    with pytest.raises(TamperedError, match="wrapped data key"):
        _open(second, kek)


def test_chunk_from_another_file_with_same_key_fails(kek: LocalKeyFile) -> None:
    first, second = _seal(b"a" * 200, kek), _seal(b"b" * 200, kek)
    start = _data_offset(first)
    second[start : start + CHUNK] = first[start : start + CHUNK]
    with pytest.raises(TamperedError):
        _open(second, kek)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"NOTKASTL" + b[8:],
        lambda b: b[:8] + b"\xff\xff\xff\xff" + b[12:],
        lambda b: b[:12] + b"[" + b[13:],
        lambda b: b[:5],
    ],
    ids=["magic", "header-length", "header-json", "too-short"],
)
def test_damaged_header_is_format_error(kek: LocalKeyFile, mutate: object) -> None:
    sealed = bytes(_seal(b"x" * 10, kek))
    with pytest.raises(FormatError):
        _open(mutate(sealed), kek)  # type: ignore[operator]


def test_both_slots_damaged(kek: LocalKeyFile) -> None:
    sealed = _seal(b"x" * 10, kek)
    start = _data_offset(sealed) - 2 * fmt.SLOT_SIZE
    sealed[start + 40] ^= 0xFF
    with pytest.raises(FormatError, match="key envelope"):
        _open(sealed, kek)


def test_rewrap_switches_key_and_wipes_old_slot(
    tmp_path: os.PathLike[str], kek: LocalKeyFile, other_kek: LocalKeyFile
) -> None:
    path = os.path.join(tmp_path, "f.kenc")
    data = os.urandom(500)
    with open(path, "wb") as handle:
        handle.write(_seal(data, kek))
    before = decrypt_stream(io.BytesIO(_read(path)), None, None).ciphertext_sha256
    with open(path, "r+b") as handle:
        header, slots, _ = read_envelope(handle)
        new_slot = rewrap_slot(handle, header, slots[0], kek, other_kek, 2)
    assert new_slot.generation == 2
    sealed = _read(path)
    assert _open(sealed, other_kek) == data
    with pytest.raises(WrongKeyError):
        _open(sealed, kek)
    # the old envelope is gone: no valid slot names the old KEK any more
    _, slots, raw = read_envelope(io.BytesIO(sealed))
    assert [s.wrapped.kek_id for s in slots] == [other_kek.key_id]
    assert not any(raw[1 - new_slot.index])
    assert decrypt_stream(io.BytesIO(sealed), None, None).ciphertext_sha256 == before


def test_slot_generation_is_authenticated(kek: LocalKeyFile) -> None:
    """A slot re-numbered to a higher generation no longer unwraps (hole 7)."""
    sealed = _seal(b"x" * 100, kek)
    start = _data_offset(sealed) - 2 * fmt.SLOT_SIZE
    decoded = fmt.decode_slot(bytes(sealed[start : start + fmt.SLOT_SIZE]))
    assert decoded is not None
    generation, wrapped = decoded
    assert generation == 1
    sealed[start : start + fmt.SLOT_SIZE] = fmt.encode_slot(5, wrapped)
    with pytest.raises(TamperedError, match="wrapped data key"):
        _open(sealed, kek)


def test_chunk_size_bounds(kek: LocalKeyFile) -> None:
    with pytest.raises(FormatError):
        encrypt_stream(io.BytesIO(b""), io.BytesIO(), kek, chunk_size=0)
