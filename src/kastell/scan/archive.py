"""Zip and tar archives: unsafe member paths, links, compression bombs; members are scanned.

The same member checks run on every zip-based model format (PyTorch zip, Keras v3, ``.npz``).
"""

from __future__ import annotations

import functools
import posixpath
import stat
import tarfile
import time
import zipfile
from collections.abc import Callable
from typing import IO, ClassVar

from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.types import Finding

__all__ = [
    "BUDGET_REASON",
    "ArchiveScanner",
    "list_tar",
    "member_path_findings",
    "open_zip",
    "over_budget",
    "scan_tar",
    "scan_zip_members",
    "zip_member_findings",
]


def member_path_findings(name: str, blob: Blob, ctx: ScanContext) -> list[Finding]:
    """Findings about an archive member's path (absolute, escaping, drive letters)."""
    findings = []
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        findings.append(ctx.finding(
            "KS-ARCHIVE-ABSOLUTE-PATH", f"member {name!r} has an absolute path", blob))
    parts = posixpath.normpath(normal.lstrip("/")).split("/")
    if ".." in normal.split("/") or (parts and parts[0] == ".."):
        findings.append(ctx.finding(
            "KS-ARCHIVE-PATH-TRAVERSAL", f"member {name!r} escapes the extraction directory",
            blob))
    return findings


def _bomb(declared: int, compressed: int, name: str, blob: Blob,
          ctx: ScanContext) -> Finding | None:
    limits = ctx.limits
    if declared > limits.max_member_bytes:
        return ctx.finding("KS-ARCHIVE-BOMB", f"member {name!r} declares {declared} bytes "
                           f"(limit {limits.max_member_bytes})", blob)
    if declared >= limits.bomb_min_bytes and declared > compressed * limits.max_compression_ratio:
        ratio = declared // max(compressed, 1)
        return ctx.finding("KS-ARCHIVE-BOMB", f"member {name!r} expands {ratio}x "
                           f"({compressed} -> {declared} bytes)", blob)
    return None


def zip_member_findings(archive: zipfile.ZipFile, blob: Blob, ctx: ScanContext) -> list[Finding]:
    """Path, link, bomb and reader-disagreement findings over every member of a zip."""
    from kastell.scan._zip_layout import zip_ambiguities

    findings: list[Finding] = [
        ctx.finding("KS-SCAN-AMBIGUOUS", f"zip readers may disagree: {problem}", blob)
        for problem in zip_ambiguities(archive)
    ]
    total = 0
    for info in archive.infolist():
        findings.extend(member_path_findings(info.filename, blob, ctx))
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            findings.append(ctx.finding(
                "KS-ARCHIVE-LINK", f"member {info.filename!r} is a symbolic link", blob))
        bomb = _bomb(info.file_size, info.compress_size, info.filename, blob, ctx)
        if bomb is not None:
            findings.append(bomb)
        total += info.file_size
    if total > ctx.limits.max_total_uncompressed:
        findings.append(ctx.finding(
            "KS-ARCHIVE-BOMB", f"archive declares {total} uncompressed bytes in total "
            f"(limit {ctx.limits.max_total_uncompressed})", blob))
    return findings


def open_zip(stream: IO[bytes]) -> zipfile.ZipFile:
    """Open a zip, turning every parse error into ``UnscannableInputError``."""
    try:
        return zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as error:
        raise UnscannableInputError(f"malformed zip archive: {error}") from None


def over_budget(ctx: ScanContext) -> bool:
    """Whether the file's CPU budget is used up."""
    return ctx.deadline is not None and time.process_time() > ctx.deadline


BUDGET_REASON = "CPU budget of the file used up before every member was scanned (bound cpu_seconds)"


def scan_zip_members(archive: zipfile.ZipFile, blob: Blob, ctx: ScanContext,
                     skip: Callable[[str], bool] = lambda name: False) -> ScanOutcome:
    """Scan every regular member of a zip (not directories, links or bombs)."""
    outcome = ScanOutcome()
    members = archive.infolist()
    if len(members) > ctx.limits.max_members:
        return ScanOutcome(unscannable=(
            f"archive has {len(members)} members (limit {ctx.limits.max_members})",))
    for info in members:
        if over_budget(ctx):
            return outcome.merge(ScanOutcome(unscannable=(BUDGET_REASON,)))
        mode = info.external_attr >> 16
        if info.is_dir() or skip(info.filename) or (
                info.create_system == 3 and stat.S_ISLNK(mode)):
            continue
        if _bomb(info.file_size, info.compress_size, info.filename, blob, ctx) is not None:
            continue
        # members are read from the archive already open here (reopening it per member would
        # parse the central directory once per member: quadratic on hostile archives)
        child = blob.child(info.filename, info.file_size,
                           functools.partial(archive.open, info))
        outcome = outcome.merge(ctx.scan_nested(child))
    return outcome


def _tar_findings(info: tarfile.TarInfo, blob: Blob, ctx: ScanContext) -> list[Finding]:
    findings = member_path_findings(info.name, blob, ctx)
    if info.issym() or info.islnk():
        findings.append(ctx.finding(
            "KS-ARCHIVE-LINK", f"member {info.name!r} links to {info.linkname!r}", blob))
    elif not (info.isfile() or info.isdir()):
        findings.append(ctx.finding(
            "KS-ARCHIVE-LINK", f"member {info.name!r} is a device or FIFO", blob))
    bomb = _bomb(info.size, info.size, info.name, blob, ctx) if info.isfile() else None
    if bomb is not None:
        findings.append(bomb)
    return findings


def list_tar(blob: Blob) -> list[tarfile.TarInfo]:
    """The members of a tar, or ``UnscannableInputError``."""
    try:
        with blob.opener() as stream, tarfile.open(fileobj=stream, mode="r:") as archive:
            return archive.getmembers()
    except (tarfile.TarError, EOFError, ValueError, OSError) as error:
        raise UnscannableInputError(f"malformed tar archive: {error}") from None


def _tar_member(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    member = archive.extractfile(info)
    if member is None:
        raise UnscannableInputError(f"tar member {info.name!r} cannot be read")
    return member


def scan_tar(blob: Blob, ctx: ScanContext,
             skip: Callable[[str], bool] = lambda name: False) -> ScanOutcome:
    """Member findings and nested scans of a tar archive."""
    findings: list[Finding] = []
    outcome = ScanOutcome(format="tar")
    try:
        with blob.opener() as stream, tarfile.open(fileobj=stream, mode="r:") as archive:
            members = archive.getmembers()
            if len(members) > ctx.limits.max_members:
                raise UnscannableInputError(
                    f"archive has {len(members)} members (limit {ctx.limits.max_members})")
            for info in members:
                if over_budget(ctx):
                    raise UnscannableInputError(BUDGET_REASON)
                member_findings = _tar_findings(info, blob, ctx)
                findings.extend(member_findings)
                if info.isfile() and not member_findings and not skip(info.name):
                    child = blob.child(info.name, info.size,
                                       functools.partial(_tar_member, archive, info))
                    outcome = outcome.merge(ctx.scan_nested(child))
    except (tarfile.TarError, EOFError, ValueError) as error:
        raise UnscannableInputError(f"malformed tar archive: {error}") from None
    return ScanOutcome(tuple(findings), ()).merge(outcome)


class ArchiveScanner:
    """Generic zip and tar archives: member checks, then every member is scanned."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="archive",
        formats=("zip", "tar"),
        version="1.0.0",
        rules=("KS-ARCHIVE-PATH-TRAVERSAL", "KS-ARCHIVE-ABSOLUTE-PATH", "KS-ARCHIVE-LINK",
               "KS-SCAN-AMBIGUOUS",
               "KS-ARCHIVE-BOMB"),
        description="Zip-slip, absolute paths, links and bombs; scans members by content.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a zip or tar archive."""
        if fmt == "tar":
            return scan_tar(blob, ctx)
        with blob.opener() as stream, open_zip(stream) as archive:
            findings = zip_member_findings(archive, blob, ctx)
            nested = scan_zip_members(archive, blob, ctx)
        return ScanOutcome(tuple(findings), (), "zip").merge(nested)
