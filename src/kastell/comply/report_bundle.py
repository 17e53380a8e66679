"""The signed report bundle: every file of the report directory bound by one DSSE signature.

``sign_report_dir`` lists every regular file under the report directory (HTML, JSON, Markdown,
evidence manifest, evidence payloads, BOM, PDF), hashes each once and signs an in-toto Statement
v1 whose subjects are those files (relative path, SHA-256) with the same keys and bundle format
as every other Kastell statement (``kastell.integrity.bundle``). ``verify_report_dir`` checks
the signature offline against trusted keys and that the directory holds exactly the signed files
with the signed bytes: a changed, added or removed file (or a link) fails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import stat
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.comply.interface import ReportWriteError
from kastell.integrity.bundle import sign_statement, verify_bundle
from kastell.integrity.interface import Signer
from kastell.integrity.keys import PublicKey

__all__ = [
    "REPORT_PREDICATE",
    "SIGNATURE_FILE",
    "ReportVerification",
    "sign_report_dir",
    "verify_report_dir",
]

REPORT_PREDICATE = "https://kastell.dev/assessment-report/v1"
SIGNATURE_FILE = "report.sig.json"
_MAX_FILES = 100_000


@dataclasses.dataclass(frozen=True)
class ReportVerification:
    """The outcome of checking a report directory against its signature."""

    key_id: str
    files: int
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    not_regular: tuple[str, ...] = ()
    predicate: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when the directory holds exactly the signed bytes."""
        return not (self.changed or self.added or self.removed or self.not_regular)


def _walk(root: pathlib.Path) -> tuple[dict[str, pathlib.Path], list[str]]:
    """Regular files by relative POSIX path, and entries that are not regular files/dirs."""
    files: dict[str, pathlib.Path] = {}
    odd: list[str] = []
    for directory, dirs, names in os.walk(root, followlinks=False):
        base = pathlib.Path(directory)
        for name in [*dirs, *names]:
            path = base / name
            relative = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                odd.append(relative)  # a symlink, fifo, ...: never part of a bundle
                continue
            if relative != SIGNATURE_FILE:
                files[relative] = path
        if len(files) > _MAX_FILES:
            raise ReportWriteError(f"{root} holds more than {_MAX_FILES} files")
    return files, sorted(odd)


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sign_report_dir(out_dir: pathlib.Path, signer: Signer,
                    predicate: Mapping[str, Any]) -> pathlib.Path:  # fmt: skip
    """Sign every file of ``out_dir``; returns the signature file's path."""
    try:
        files, odd = _walk(out_dir)
        if odd:
            raise ReportWriteError(f"the report directory holds non-regular files: {odd[:5]}")
        subjects = [{"name": name, "digest": {"sha256": _sha256(path)}}
                    for name, path in sorted(files.items())]  # fmt: skip
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects,
            "predicateType": REPORT_PREDICATE,
            "predicate": dict(predicate),
        }
        target = out_dir / SIGNATURE_FILE
        target.write_bytes(sign_statement(statement, signer).to_json())
    except OSError as error:
        raise ReportWriteError(f"cannot sign the report in {out_dir}: {error}") from None
    return target


def verify_report_dir(bundle_dir: pathlib.Path, keys: Sequence[PublicKey]) -> ReportVerification:
    """Check the signature and every file of ``bundle_dir`` (see the module docstring).

    Raises:
        IntegrityError subclasses (``SignatureMismatchError``: no trusted key signed it;
        ``MalformedBundleError``: not a bundle) and ``OSError`` when the files cannot be read.
    """
    from kastell.integrity.interface import MalformedBundleError

    verified = verify_bundle((bundle_dir / SIGNATURE_FILE).read_bytes(), keys)
    if verified.predicate_type != REPORT_PREDICATE:
        raise MalformedBundleError(f"the signature is over a {verified.predicate_type[:80]}")
    signed: dict[str, str] = {}
    for subject in verified.statement["subject"]:
        name, digest = subject.get("name"), subject["digest"].get("sha256")
        if not isinstance(name, str) or not isinstance(digest, str) or name in signed:
            raise MalformedBundleError("a report subject has no name, no SHA-256 or repeats")
        signed[name] = digest
    files, odd = _walk(bundle_dir)
    changed = tuple(sorted(n for n in signed.keys() & files.keys()
                           if _sha256(files[n]) != signed[n]))  # fmt: skip
    predicate = verified.statement.get("predicate")
    return ReportVerification(
        key_id=verified.key_id,
        files=len(signed),
        changed=changed,
        added=tuple(sorted(files.keys() - signed.keys())),
        removed=tuple(sorted(signed.keys() - files.keys())),
        not_regular=tuple(odd),
        predicate=predicate if isinstance(predicate, Mapping) else {},
    )
