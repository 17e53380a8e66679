from __future__ import annotations

import base64
import contextlib
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError, UsageError
from kastell.integrity.interface import KeyExistsError, KeyFormatError, KeyPassphraseError
from kastell.integrity.keys import (
    KeyAlgorithm,
    PrivateKey,
    generate_private_key,
    load_private_key,
    load_public_key,
    read_private_key,
    read_public_key,
    write_key_pair,
)


@pytest.mark.parametrize("algorithm", KeyAlgorithm.generatable())
def test_generated_key_signs_and_its_public_half_verifies(algorithm: KeyAlgorithm) -> None:
    key = generate_private_key(algorithm)
    signature = key.sign(b"payload")
    assert key.algorithm is algorithm
    assert key.public_key.verify(signature, b"payload")
    assert not key.public_key.verify(signature, b"payloaD")
    other = generate_private_key(algorithm)
    assert not other.public_key.verify(signature, b"payload")


def test_key_id_is_sha256_of_the_spki_pem_as_model_signing_records_it() -> None:
    key = generate_private_key()
    pem = key.public_key.pem()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert key.key_id == hashlib.sha256(pem).hexdigest()


def test_generate_refuses_algorithms_keygen_does_not_offer() -> None:
    with pytest.raises(KeyFormatError, match="does not generate"):
        generate_private_key(KeyAlgorithm.ECDSA_P384)


@pytest.mark.parametrize("algorithm", KeyAlgorithm.generatable())
def test_pem_round_trip_unencrypted_and_encrypted(algorithm: KeyAlgorithm) -> None:
    key = generate_private_key(algorithm)
    plain = key.pem()
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(plain).key_id == key.key_id
    encrypted = key.pem(b"s3cret")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert load_private_key(encrypted, b"s3cret").key_id == key.key_id
    assert load_public_key(key.public_key.pem()) == key.public_key


def test_openssl_style_sec1_and_p384_keys_load() -> None:
    # `openssl ecparam -genkey` writes SEC1 ("EC PRIVATE KEY"); model_signing accepts P-384 too.
    crypto_key = ec.generate_private_key(ec.SECP384R1())
    sec1 = crypto_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    key = load_private_key(sec1)
    assert key.algorithm is KeyAlgorithm.ECDSA_P384
    assert key.public_key.verify(key.sign(b"x"), b"x")


def test_missing_passphrase_for_encrypted_key_is_a_usage_error() -> None:
    encrypted = generate_private_key().pem(b"s3cret")
    with pytest.raises(KeyPassphraseError, match="encrypted and no passphrase") as caught:
        load_private_key(encrypted)
    assert isinstance(caught.value, UsageError)
    assert "--passphrase-env" in caught.value.diagnostics()


def test_wrong_passphrase_is_a_usage_error() -> None:
    encrypted = generate_private_key().pem(b"s3cret")
    with pytest.raises(KeyPassphraseError, match="wrong passphrase") as caught:
        load_private_key(encrypted, b"guess")
    assert isinstance(caught.value, UsageError)


def test_passphrase_for_unencrypted_key_is_rejected() -> None:
    with pytest.raises(KeyPassphraseError, match="not encrypted"):
        load_private_key(generate_private_key().pem(), b"unneeded")


def test_public_key_given_where_private_key_is_needed() -> None:
    with pytest.raises(KeyFormatError, match="is a public key") as caught:
        load_private_key(generate_private_key().public_key.pem())
    assert "private key" in caught.value.diagnostics()


def test_private_key_given_where_public_key_is_needed() -> None:
    with pytest.raises(KeyFormatError, match="is a private key"):
        load_public_key(generate_private_key().pem())


def test_rsa_keys_are_the_wrong_type() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError, match="unsupported private key type"):
        load_private_key(private_pem)
    with pytest.raises(KeyFormatError, match="unsupported key type") as caught:
        load_public_key(public_pem)
    assert "Ed25519" in caught.value.diagnostics()


def test_unsupported_curve_is_the_wrong_type() -> None:
    crypto_key = ec.generate_private_key(ec.SECP256K1())
    pem = crypto_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError, match="unsupported elliptic curve secp256k1"):
        load_public_key(pem)


@pytest.mark.parametrize("data", [b"", b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_garbage_is_not_a_public_key(data: bytes) -> None:
    with pytest.raises(KeyFormatError, match="not a PEM public key"):
        load_public_key(data)


@pytest.mark.parametrize("data", [b"", b"junk", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"])
def test_garbage_is_not_a_private_key(data: bytes) -> None:
    with pytest.raises(KeyFormatError, match="not a PEM private key"):
        load_private_key(data)


def test_reading_a_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFormatError, match="does not exist"):
        read_public_key(tmp_path / "absent.pub")
    with pytest.raises(KeyFormatError, match="is a directory"):
        read_private_key(tmp_path)


def test_write_key_pair_modes_and_contents(tmp_path: Path) -> None:
    key = generate_private_key()
    paths = write_key_pair(tmp_path / "k", key, b"pw")
    assert paths.private_key == tmp_path / "k.pem"
    assert stat.S_IMODE(paths.private_key.stat().st_mode) == 0o600
    assert read_private_key(paths.private_key, b"pw").key_id == key.key_id
    assert read_public_key(paths.public_key).key_id == key.key_id


def test_write_key_pair_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_bytes(b"keep me")
    with pytest.raises(KeyExistsError, match="refusing to overwrite") as caught:
        write_key_pair(tmp_path / "k", generate_private_key())
    assert "--force" in caught.value.diagnostics()
    assert not (tmp_path / "k.pem").exists()
    assert (tmp_path / "k.pub").read_bytes() == b"keep me"


def test_write_key_pair_force_replaces_even_a_symlink_without_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    (tmp_path / "k.pem").symlink_to(victim)
    key = generate_private_key()
    paths = write_key_pair(tmp_path / "k", key, force=True)
    assert victim.read_bytes() == b"untouched"
    assert not paths.private_key.is_symlink()
    assert stat.S_IMODE(paths.private_key.stat().st_mode) == 0o600
    assert isinstance(read_private_key(paths.private_key), PrivateKey)


_PEM_HEADERS = st.sampled_from(
    [
        b"-----BEGIN PUBLIC KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"-----BEGIN EC PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
        b"",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    header=_PEM_HEADERS, body=st.binary(max_size=300), passphrase=st.none() | st.binary(max_size=8)
)
def test_fuzz_key_loaders_raise_only_kastell_errors(
    header: bytes, body: bytes, passphrase: bytes | None
) -> None:
    data = header + base64.encodebytes(body) + header.replace(b"BEGIN", b"END")
    for loader in (lambda: load_public_key(data), lambda: load_private_key(data, passphrase)):
        with contextlib.suppress(KastellError):
            loader()


def test_fuzz_mutated_real_keys_raise_only_kastell_errors() -> None:
    pem = generate_private_key().pem(b"pw")
    for position in range(0, len(pem), 7):
        mutated = pem[:position] + bytes([pem[position] ^ 0x20]) + pem[position + 1 :]
        with contextlib.suppress(KastellError):
            load_private_key(mutated, b"pw")
