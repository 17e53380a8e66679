"""Test PKI and a TLS syslog listener on 127.0.0.1 (certificates made with ``cryptography``)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import pathlib
import socket
import ssl
import threading
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NOW = dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class Issued:
    """A certificate and its key as PEM files."""

    cert: pathlib.Path
    key: pathlib.Path


CA = tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]
"""A CA's files, certificate and key."""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(
    directory: pathlib.Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path)


def make_ca(directory: pathlib.Path, stem: str) -> CA:
    """A self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{stem} test CA"))
        .issuer_name(_name(f"{stem} test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - dt.timedelta(days=1))
        .not_valid_after(_NOW + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, stem, cert, key), cert, key


def issue(
    directory: pathlib.Path,
    stem: str,
    ca: CA,
    *,
    names: tuple[str, ...] = ("127.0.0.1", "localhost"),
    client: bool = False,
) -> Issued:
    """A leaf certificate signed by ``ca`` for the given DNS names / IP addresses."""
    _, ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - dt.timedelta(days=1))
        .not_valid_after(_NOW + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _write(directory, stem, cert, key)


@dataclasses.dataclass
class Listener:
    """What the TLS listener saw."""

    port: int
    received: bytearray = dataclasses.field(default_factory=bytearray)
    errors: list[str] = dataclasses.field(default_factory=list)
    client_subject: str | None = None


@contextlib.contextmanager
def tls_listener(server: Issued, *, client_ca: pathlib.Path | None = None) -> Iterator[Listener]:
    """Accept one TLS connection on 127.0.0.1 and read it to the end (mTLS with ``client_ca``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)
    listening.settimeout(10)
    seen = Listener(port=listening.getsockname()[1])

    def serve() -> None:
        try:
            raw, _ = listening.accept()
        except OSError as error:
            seen.errors.append(str(error))
            return
        raw.settimeout(10)
        try:
            with context.wrap_socket(raw, server_side=True) as connection:
                peer = connection.getpeercert()
                if peer:
                    seen.client_subject = str(peer.get("subject"))
                while block := connection.recv(65536):
                    seen.received.extend(block)
        except (OSError, ssl.SSLError) as error:
            seen.errors.append(str(error))
        finally:
            raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        thread.join(10)
        listening.close()
