"""Interface of the integrity capability: digests of files and trees, Merkle manifests.

What each digest covers (``H`` is the chosen algorithm, sha256 or blake3; integers are
unsigned big-endian; ``||`` is concatenation):

* **chunk digest** ``H(bytes[offset:offset+length])``: the plain digest of one byte range of a
  file. Chunks are the ranges ``[0, c), [c, 2c), ..., [k*c, size)`` for chunk size ``c``; an
  empty file has no chunks. With sha256 this is exactly the per-shard digest of OpenSSF
  model_signing's ``shards`` serialization (``path:start:end``) for ``shard_size == c``.
* **file digest**: for a file of at most one chunk (``size <= c``, or ``chunk_size=None``) it is
  the plain ``H(content)``: the digest ``sha256sum``/``b3sum`` print, and what model_signing's
  ``files`` serialization records. For a larger file it is
  ``H(0x02 || u64 size || u64 c || MTH(chunks))`` where ``MTH`` is the RFC 6962 Merkle tree hash
  with leaves ``H(0x00 || chunk digest)`` and nodes ``H(0x01 || left || right)``.
* **root**: ``MTH`` over one leaf per entry, sorted by POSIX relative path:
  ``H(0x00 || "F" || u32 len(path) || path || u64 size || file digest)`` for a regular file,
  ``H(0x00 || "L" || u32 len(path) || path || u32 len(target) || target)`` for a symbolic link
  recorded without being followed (paths and targets in UTF-8). An empty tree has root ``H("")``.

Errors::

    KastellError
     └── IntegrityError
          ├── PathNotFoundError        (UsageError)   the path does not exist
          ├── CacheNotAllowedError     (UsageError)   a digest cache was offered to a verification
          ├── InvalidOptionError       (UsageError)   bad algorithm, chunk size, pattern
          ├── AccessDeniedError        (CheckError)   permission denied while reading
          ├── SpecialFileError         (CheckError)   FIFO, socket or device file in the tree
          ├── SymlinkLoopError         (CheckError)   following symbolic links runs in a circle
          ├── SymlinkEscapeError       (CheckError)   a followed link points outside the root
          ├── BrokenSymlinkError       (CheckError)   a followed link points nowhere
          ├── UnsupportedPathError     (CheckError)   a file name is not valid UTF-8
          ├── FileChangedError         (CheckError)   a file changed while it was hashed
          ├── ReadError                (CheckError)   any other I/O error while reading
          ├── WriteError               (CheckError)   a manifest or cache could not be written
          ├── ManifestFormatError      (CheckError)   a manifest is not JSON or not the schema
          └── CacheFormatError         (CheckError)   a digest cache file is corrupt
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import Digest

__all__ = [
    "ALGORITHMS",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_IGNORE",
    "MODEL_SIGNING_SHARD_SIZE",
    "PlannedFile",
    "TreePlan",
    "AccessDeniedError",
    "BrokenSymlinkError",
    "BytesDone",
    "CacheFormatError",
    "CacheKey",
    "CacheNotAllowedError",
    "ChunkDigest",
    "DigestCache",
    "EntryKind",
    "FileChangedError",
    "FileDigest",
    "HashOptions",
    "IntegrityError",
    "InvalidOptionError",
    "ManifestFormatError",
    "PathNotFoundError",
    "ReadError",
    "SpecialFileError",
    "SymlinkEscapeError",
    "SymlinkLoopError",
    "SymlinkRecord",
    "TreeDigest",
    "UnsupportedPathError",
    "WriteError",
]

ALGORITHMS: tuple[str, ...] = ("sha256", "blake3")
"""Digest algorithms the hashing engine supports; sha256 is the default (FIPS-approved)."""

DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
"""Default chunk size in bytes (64 MiB): the unit of parallel hashing and of partial checks."""

MODEL_SIGNING_SHARD_SIZE = 1_000_000_000
"""model_signing 1.1.1's default ``shard_size``: pass it as ``chunk_size`` to get its shards."""

DEFAULT_IGNORE: tuple[str, ...] = (".git",)
"""Ignore patterns used when none are given."""

BytesDone = Callable[[int], None]
"""Progress callback: called (from worker threads) with the number of bytes just hashed."""


class IntegrityError(KastellError):
    """Base of every error of the integrity capability."""


class PathNotFoundError(IntegrityError, UsageError):
    """The path to hash does not exist."""

    default_hint = "Check the path; it must be an existing file or directory."


class InvalidOptionError(IntegrityError, UsageError):
    """An option of the hashing engine is invalid (algorithm, chunk size, pattern)."""


class CacheNotAllowedError(IntegrityError, UsageError):
    """A digest cache was passed to a hashing run done for verification."""

    default_hint = "Verification must re-read every byte: call it without a cache."


class AccessDeniedError(IntegrityError, CheckError):
    """The operating system refused to let us read a file or list a directory."""

    default_hint = "Run as a user who can read every file, or --ignore the path."


class SpecialFileError(IntegrityError, CheckError):
    """A FIFO, socket or device file is in the tree; it is never opened."""

    default_hint = "Remove it from the tree or skip it with --ignore PATTERN."


class SymlinkLoopError(IntegrityError, CheckError):
    """Following symbolic links leads back to a directory already being walked."""

    default_hint = "Break the link cycle, or run without --follow-symlinks to record links as-is."


class SymlinkEscapeError(IntegrityError, CheckError):
    """A followed symbolic link points outside the root being hashed."""

    default_hint = (
        "Links may only point inside the hashed tree: copy the target in, --ignore the link, "
        "or run without --follow-symlinks to record the link itself."
    )


class BrokenSymlinkError(IntegrityError, CheckError):
    """A followed symbolic link points to nothing."""

    default_hint = "Fix or remove the link, or run without --follow-symlinks."


class UnsupportedPathError(IntegrityError, CheckError):
    """A file name cannot be recorded (it is not valid UTF-8)."""

    default_hint = "Rename the file to a UTF-8 name or skip it with --ignore PATTERN."


class FileChangedError(IntegrityError, CheckError):
    """A file changed (size, time, inode) while it was being hashed; no torn digest is kept."""

    default_hint = "Stop whatever writes to the tree and run again."


class ReadError(IntegrityError, CheckError):
    """An I/O error other than permission denied while reading the tree."""


class WriteError(IntegrityError, CheckError):
    """A manifest or cache file could not be written."""

    default_hint = "Check that the directory exists and is writable, and that the disk has space."


class ManifestFormatError(IntegrityError, CheckError):
    """A manifest document is not JSON or does not follow the manifest schema."""

    default_hint = "Regenerate the manifest with `kastell manifest`; see docs/integrity.md."


class CacheFormatError(IntegrityError, CheckError):
    """A digest cache file is unreadable or corrupt."""

    default_hint = "Delete the cache file; it only saves time and is rebuilt on the next run."


class EntryKind(enum.StrEnum):
    """What a manifest entry records."""

    FILE = "file"
    SYMLINK = "symlink"


@dataclasses.dataclass(frozen=True)
class HashOptions:
    """How to hash a file or tree.

    Attributes:
        algorithm: ``sha256`` or ``blake3``.
        chunk_size: bytes per chunk; ``None`` hashes every file as one chunk (plain digests,
            model_signing's ``files`` serialization).
        ignore: fnmatch patterns; one without ``/`` matches a name at any depth, one with ``/``
            matches the POSIX path relative to the root (a leading ``/`` only anchors it there,
            as in ``.gitignore``). A matching directory is skipped whole.
        follow_symlinks: hash what links point to (never outside the root) instead of
            recording the links themselves.
        workers: hashing threads; ``None`` uses every CPU this process may run on.
        read_size: bytes per read into each worker's preallocated buffer (128 KiB: small
            enough to stay in the CPU's L2 cache between the copy and the hash).
    """

    algorithm: str = "sha256"
    chunk_size: int | None = DEFAULT_CHUNK_SIZE
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    follow_symlinks: bool = False
    workers: int | None = None
    read_size: int = 128 * 1024

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise InvalidOptionError(
                f"unsupported hashing algorithm {self.algorithm!r}",
                hint=f"Use one of: {', '.join(ALGORITHMS)}.",
            )
        if self.chunk_size is not None and self.chunk_size < 1:
            raise InvalidOptionError(
                f"chunk size must be a positive number of bytes, got {self.chunk_size}",
                hint=f"Omit it for the default ({DEFAULT_CHUNK_SIZE} bytes).",
            )
        if self.workers is not None and self.workers < 1:
            raise InvalidOptionError(f"workers must be at least 1, got {self.workers}")
        if self.read_size < 4096:
            raise InvalidOptionError(f"read size must be at least 4096 bytes, got {self.read_size}")
        for pattern in self.ignore:
            if not pattern.strip("/") or "\0" in pattern:
                raise InvalidOptionError(
                    f"invalid ignore pattern {pattern!r}",
                    hint="Give a name (e.g. .git, *.tmp) or a path relative to the root.",
                )


@dataclasses.dataclass(frozen=True)
class SymlinkRecord:
    """A symbolic link recorded as-is (not followed): its path and target text."""

    path: str
    target: str


@dataclasses.dataclass(frozen=True)
class PlannedFile:
    """A regular file found by the walk, and the identity it must keep while it is hashed.

    Attributes:
        path: POSIX path relative to the root.
        source: the operating-system path to open (the link target when links are followed).
        size: size in bytes at walk time.
        device: ``st_dev`` at walk time.
        inode: ``st_ino`` at walk time.
        mtime_ns: ``st_mtime_ns`` at walk time.
        ctime_ns: ``st_ctime_ns`` at walk time.
    """

    path: str
    source: str
    size: int
    device: int
    inode: int
    mtime_ns: int
    ctime_ns: int


@dataclasses.dataclass(frozen=True)
class TreePlan:
    """What a hashing run will read: the result of walking a file or directory.

    Attributes:
        root: the path as given by the caller (used in messages).
        files: regular files to hash, sorted by path.
        symlinks: links recorded as-is, sorted by path.
        ignore: the ignore patterns applied.
        follow_symlinks: whether links were followed.
    """

    root: str
    files: tuple[PlannedFile, ...]
    symlinks: tuple[SymlinkRecord, ...]
    ignore: tuple[str, ...]
    follow_symlinks: bool

    @property
    def total_bytes(self) -> int:
        """Bytes of content to read."""
        return sum(entry.size for entry in self.files)


@dataclasses.dataclass(frozen=True)
class ChunkDigest:
    """The digest of one byte range ``[offset, offset + length)`` of a file."""

    offset: int
    length: int
    digest: Digest

    @property
    def end(self) -> int:
        """The first offset after the chunk (model_signing's shard ``end``)."""
        return self.offset + self.length


@dataclasses.dataclass(frozen=True)
class FileDigest:
    """A regular file: its size, ordered chunk digests and file digest.

    Attributes:
        path: POSIX path relative to the root (the file's own name when a single file is hashed).
        size: bytes hashed.
        chunk_size: the chunk size used (``None``: the whole file is one chunk).
        chunks: chunk digests in offset order; empty for an empty file.
        digest: the file digest (plain for one chunk, Merkle-derived otherwise; see module doc).
    """

    path: str
    size: int
    chunk_size: int | None
    chunks: tuple[ChunkDigest, ...]
    digest: Digest

    @property
    def is_plain(self) -> bool:
        """True when ``digest`` is the plain digest of the whole content."""
        return len(self.chunks) <= 1


@dataclasses.dataclass(frozen=True)
class TreeDigest:
    """Every entry of a hashed file or directory, and the root over them.

    Attributes:
        algorithm: the digest algorithm.
        chunk_size: the chunk size (``None``: whole files).
        files: regular files, sorted by path.
        symlinks: links recorded without following, sorted by path.
        root: the Merkle root over all entries.
        ignore: the ignore patterns applied.
        follow_symlinks: whether links were followed.
    """

    algorithm: str
    chunk_size: int | None
    files: tuple[FileDigest, ...]
    symlinks: tuple[SymlinkRecord, ...]
    root: Digest
    ignore: tuple[str, ...]
    follow_symlinks: bool

    @property
    def total_bytes(self) -> int:
        """Bytes of content covered."""
        return sum(entry.size for entry in self.files)


@dataclasses.dataclass(frozen=True)
class CacheKey:
    """What must be unchanged for a cached file digest to be reused.

    Any change of path, device, inode, size, mtime_ns or ctime_ns (or of the algorithm or
    chunk size) misses the cache.
    """

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    algorithm: str
    chunk_size: int | None


class DigestCache(Protocol):
    """A store of file digests from earlier runs, for re-hashing large unchanged files.

    Only ever used to *record* digests; verification refuses it (``CacheNotAllowedError``).
    """

    def get(self, key: CacheKey) -> FileDigest | None:
        """Return the digest recorded under ``key``, or ``None``."""
        ...

    def put(self, key: CacheKey, digest: FileDigest) -> None:
        """Record ``digest`` under ``key``."""
        ...


# ---------------------------------------------------------------------------------------------
# Signing and verification (keys.py, dsse.py, bundle.py, signing.py, verify.py)
#
#     IntegrityError
#      ├── KeyFormatError            (UsageError)        not a PEM key of a supported type
#      ├── KeyPassphraseError        (UsageError)        encrypted key: passphrase missing/wrong
#      ├── KeyExistsError            (UsageError)        keygen would overwrite a key
#      ├── StatementError            (UsageError)        not an in-toto Statement v1 to sign
#      ├── MalformedBundleError      (CheckError)        signature file not JSON / not a bundle
#      ├── UnsupportedBundleError    (CheckError)        a bundle kastell cannot check offline
#      ├── SignatureMismatchError    (VerificationError) untrusted key or invalid signature
#      └── ModelMismatchError        (VerificationError) files changed, missing or extra
# ---------------------------------------------------------------------------------------------


class KeyFormatError(IntegrityError, UsageError):
    """A key file is missing, not PEM, the wrong half of a pair or of an unsupported type."""

    default_hint = "Use a PEM ECDSA P-256 or Ed25519 key; `kastell keygen` makes a pair."


class KeyPassphraseError(IntegrityError, UsageError):
    """An encrypted private key came without its passphrase, or with a wrong one."""

    default_hint = "Pass the passphrase with --passphrase-env VAR or --passphrase-file FILE."


class KeyExistsError(IntegrityError, UsageError):
    """Writing a key would overwrite an existing file."""

    default_hint = "Choose another --output prefix, or pass --force to replace the key."


class StatementError(IntegrityError, UsageError):
    """What was given to sign is not an in-toto Statement v1."""

    default_hint = "Build a Statement with _type, subject (name + digest) and predicateType."


class MalformedBundleError(IntegrityError, CheckError):
    """A signature file is not JSON or not a Sigstore bundle holding a DSSE envelope."""

    default_hint = "Pass the signature file written by `kastell sign` or `model_signing sign`."


class UnsupportedBundleError(IntegrityError, CheckError):
    """A well-formed bundle that kastell cannot check offline (e.g. keyless, unknown method)."""

    default_hint = "Verify it with the tool that made it, or re-sign with `kastell sign --key`."


class SignatureMismatchError(IntegrityError, VerificationError):
    """The bundle was not signed by a trusted key, or its signature does not verify."""

    default_hint = "Check that --key is the public half of the key that signed; else distrust it."


class ModelMismatchError(IntegrityError, VerificationError):
    """The signature is valid but the model on disk differs from what was signed."""

    default_hint = "Inspect the listed files; do not load the model until the change is explained."


class Signer(Protocol):
    """Something that signs bytes with a private key (a key in memory, an HSM, a KMS).

    ``key_id`` is the hex SHA-256 of the public key's SubjectPublicKeyInfo PEM.
    """

    @property
    def key_id(self) -> str:
        """The id of the verifying public key."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Return the signature over ``data`` (DER for ECDSA, raw for Ed25519)."""
        ...


@dataclasses.dataclass(frozen=True)
class VerifiedStatement:
    """An in-toto Statement v1 whose DSSE signature verified against a trusted key.

    Attributes:
        statement: the decoded statement (``_type``, ``subject``, ``predicateType``, ...).
        key_id: id of the trusted key that signed it.
        predicate_type: the statement's ``predicateType``.
        payload: the exact signed bytes.
    """

    statement: Mapping[str, Any]
    key_id: str
    predicate_type: str
    payload: bytes


@dataclasses.dataclass(frozen=True)
class ModelVerification:
    """The outcome of checking a model on disk against its signature.

    Attributes:
        signed_name: the model name recorded in the signature (informative only).
        model_name: the name of the model path that was checked.
        model_digest: the signed subject digest (sha256 over every resource digest).
        key_id: id of the trusted key that signed.
        checked: number of signed resources (files or shards).
        changed: files whose content differs, sorted.
        missing: signed files that are not on disk, sorted.
        extra: files on disk that were not signed, sorted.
    """

    signed_name: str
    model_name: str
    model_digest: Digest
    key_id: str
    checked: int
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every signed file matches and nothing was added."""
        return not (self.changed or self.missing or self.extra)


__all__ += [
    "KeyExistsError",
    "KeyFormatError",
    "KeyPassphraseError",
    "MalformedBundleError",
    "ModelMismatchError",
    "ModelVerification",
    "SignatureMismatchError",
    "Signer",
    "StatementError",
    "UnsupportedBundleError",
    "VerifiedStatement",
]
