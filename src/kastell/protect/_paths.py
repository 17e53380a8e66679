"""File-system access that stays inside a root folder, whatever the folder or manifest holds.

Every path below a root is opened one component at a time relative to the directory opened
before it (``openat``-style, ``dir_fd``) with ``O_NOFOLLOW``, so a symlink anywhere under the
root, planted before or during the run, is refused rather than followed. Files are written to
a fresh temporary name (``O_EXCL``) inside the already-opened directory and renamed over the
final name there, so the write lands in the verified directory and replaces a planted symlink
instead of following it. Only the root itself (named by the user) may be a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from typing import BinaryIO

from kastell.protect.interface import ProtectIOError, UnsafePathError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_root(path: str | os.PathLike[str], *, create: bool = False) -> int:
    """Open the root folder (following a symlink the user named) and return its fd."""
    try:
        if create:
            os.makedirs(path, exist_ok=True)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ProtectIOError(f"no such directory: {os.fspath(path)}") from None
    except OSError as error:
        raise ProtectIOError(f"cannot open {os.fspath(path)}: {error.strerror}") from None


def _refuse(relative: str, error: OSError) -> UnsafePathError | ProtectIOError:
    if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return UnsafePathError(
            f"{relative}: a component is a symlink or not a directory; refusing to follow it"
        )
    return ProtectIOError(f"cannot open {relative}: {error.strerror}")


def open_dir(root: int, parts: list[str], *, create: bool = False) -> int:
    """Open the directory ``root/parts...`` without following any symlink; return its fd."""
    current = os.dup(root)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=current)
            try:
                following = os.open(part, _DIR_FLAGS, dir_fd=current)
            except OSError as error:
                raise _refuse("/".join(parts), error) from None
            os.close(current)
            current = following
    except BaseException:
        os.close(current)
        raise
    return current


def open_file(root: int, relative: str, *, writable: bool = False) -> BinaryIO:
    """Open the regular file ``root/relative`` for reading (or updating), never via a symlink.

    FIFOs and devices are refused without blocking (``O_NONBLOCK``), after ``fstat``.
    """
    *parents, name = relative.split("/")
    directory = open_dir(root, parents)
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        descriptor = os.open(name, flags | os.O_CLOEXEC, dir_fd=directory)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise _refuse(relative, error) from None
    finally:
        os.close(directory)
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise UnsafePathError(f"{relative} is not a regular file (FIFO, device or directory)")
    if writable and info.st_nlink != 1:  # a hard link would carry the write outside the root
        os.close(descriptor)
        raise UnsafePathError(f"{relative} has other hard links; refusing to modify it in place")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "r+b" if writable else "rb")


@contextlib.contextmanager
def atomic_write(
    root: int, relative: str, *, mode: int = 0o644, durable: bool = True
) -> Iterator[BinaryIO]:
    """Yield a new temporary file that replaces ``root/relative`` only if the block succeeds.

    The parent folders are created and opened without following symlinks; the temporary file
    is created with ``O_EXCL`` in that folder and renamed there atomically (after ``fsync`` of
    the file, and of the folder after the rename, when ``durable``).
    """
    *parents, name = relative.split("/")
    directory = open_dir(root, parents, create=True)
    temporary = f".{name[:200]}.{secrets.token_hex(6)}.partial"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            handle = os.fdopen(os.open(temporary, flags, mode, dir_fd=directory), "wb")
        except OSError as error:
            raise ProtectIOError(
                f"cannot create a file beside {relative}: {error.strerror}"
            ) from None
        try:
            with handle:
                yield handle
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            try:
                os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
            except OSError as error:
                raise ProtectIOError(f"cannot write {relative}: {error.strerror}") from None
            if durable:
                os.fsync(directory)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory)
    finally:
        os.close(directory)


PARTIAL = re.compile(r"^\..+\.[0-9a-f]{12}\.partial$")
"""The name of a temporary file ``atomic_write`` leaves behind when the process is killed."""


def remove_file(root: int, relative: str) -> None:
    """Delete the file (or symlink) ``root/relative`` without following symlinks."""
    *parents, name = relative.split("/")
    directory = open_dir(root, parents)
    try:
        os.unlink(name, dir_fd=directory)
    except FileNotFoundError:
        return
    except OSError as error:
        raise ProtectIOError(f"cannot remove {relative}: {error.strerror}") from None
    finally:
        os.close(directory)


def remove_tree(root: int, name: str) -> None:
    """Delete the folder ``root/name`` without following symlinks inside it."""
    try:
        shutil.rmtree(name, dir_fd=root)
        os.fsync(root)
    except FileNotFoundError:
        return
    except OSError as error:
        raise ProtectIOError(f"cannot remove {name}: {error.strerror}") from None


def list_entries(root: int) -> Iterator[tuple[str, bool]]:
    """Every non-directory entry under ``root`` as (relative path, is a regular file).

    Symlinks are listed (as not regular) and never followed.
    """
    for directory, subdirectories, names, fd in os.fwalk(
        ".", dir_fd=root, follow_symlinks=False
    ):
        prefix = "" if directory == "." else directory[2:] + "/"
        for name in sorted(names + subdirectories):
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):  # a symlink to a folder is listed, not entered
                yield prefix + name, stat.S_ISREG(info.st_mode)
