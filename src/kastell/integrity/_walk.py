"""Walk a file or directory into a ``TreePlan``: which files to read, which links to record.

Never opens anything: special files (FIFOs, sockets, devices) are rejected from their ``lstat``,
so a FIFO cannot make the walk hang. Links are recorded as-is unless ``follow_symlinks``; a
followed link must resolve inside the root, and a cycle of directory links is an error.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator

from kastell.integrity.interface import (
    AccessDeniedError,
    BrokenSymlinkError,
    FileChangedError,
    HashOptions,
    PathNotFoundError,
    PlannedFile,
    ReadError,
    SpecialFileError,
    SymlinkEscapeError,
    SymlinkLoopError,
    SymlinkRecord,
    TreePlan,
    UnsupportedPathError,
)

_DIR_FLAGS = (
    os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _os_error(error: OSError, shown: str) -> Exception:
    """Map an OSError met while walking to the integrity error it means."""
    if isinstance(error, PermissionError):
        return AccessDeniedError(f"permission denied: {shown}")
    if error.errno == errno.ELOOP:
        return SymlinkLoopError(f"too many levels of symbolic links: {shown}")
    if isinstance(error, FileNotFoundError):
        return FileChangedError(f"{shown} disappeared while the tree was walked")
    return ReadError(f"cannot read {shown}: {error.strerror or error}")


def _check_name(name: str, shown: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsupportedPathError(
            f"file name is not valid UTF-8: {shown.encode('utf-8', 'replace').decode()}"
        ) from None


def _planned(relative: str, source: str, info: os.stat_result) -> PlannedFile:
    return PlannedFile(
        path=relative,
        source=source,
        size=info.st_size,
        device=info.st_dev,
        inode=info.st_ino,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
    )


def is_ignored(relative: str, patterns: tuple[str, ...]) -> bool:
    """Whether a POSIX relative path matches an ignore pattern (name or path pattern)."""
    name = relative.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern.rstrip("/"):
            if fnmatch.fnmatchcase(relative, pattern.strip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern.rstrip("/")):
            return True
    return False


def plan_tree(path: str | os.PathLike[str], options: HashOptions) -> TreePlan:
    """Walk ``path`` (a regular file or a directory) into a sorted ``TreePlan``.

    Raises:
        PathNotFoundError: ``path`` does not exist.
        AccessDeniedError: a directory or link cannot be read.
        SpecialFileError: a FIFO, socket or device is in the tree (or is ``path``).
        SymlinkLoopError, SymlinkEscapeError, BrokenSymlinkError: a followed link is bad.
        UnsupportedPathError: a name is not valid UTF-8.
    """
    given = os.fspath(path)
    try:
        info = os.stat(given)
    except FileNotFoundError:
        raise PathNotFoundError(f"no such file or directory: {given}") from None
    except OSError as error:
        raise _os_error(error, given) from None
    if stat.S_ISREG(info.st_mode):
        name = os.path.basename(os.path.normpath(given))
        _check_name(name, given)
        planned = _planned(name, os.path.realpath(given), info)
        return TreePlan(given, (planned,), (), options.ignore, options.follow_symlinks)
    if not stat.S_ISDIR(info.st_mode):
        raise SpecialFileError(f"{given} is {_kind(info.st_mode)}, not a file or directory")
    walker = _Walker(given, os.path.realpath(given), options)
    files, links = walker.run()
    files.sort(key=lambda entry: entry.path.encode("utf-8"))
    links.sort(key=lambda entry: entry.path.encode("utf-8"))
    return TreePlan(given, tuple(files), tuple(links), options.ignore, options.follow_symlinks)


class _Walker:
    """Depth-first walk of one directory tree (iterative: deep trees do not hit recursion)."""

    def __init__(self, given: str, root: str, options: HashOptions) -> None:
        self.given = given
        self.root = root
        self.options = options
        self.files: list[PlannedFile] = []
        self.links: list[SymlinkRecord] = []

    def run(self) -> tuple[list[PlannedFile], list[SymlinkRecord]]:
        root_info = os.stat(self.root)
        root_id = (root_info.st_dev, root_info.st_ino)
        # Each frame: OS directory to list, relative prefix, (dev, ino) of it and its ancestors.
        stack = [(self.root, "", frozenset({root_id}), root_id)]
        while stack:
            directory, prefix, ancestors, identity = stack.pop()
            for name, full, entry_info in self._list(directory, prefix, identity):
                relative = prefix + name
                if is_ignored(relative, self.options.ignore):
                    continue
                child = self._visit(relative, full, entry_info, ancestors)
                if child is not None:
                    stack.append(child)
        return self.files, self.links

    def _shown(self, relative: str) -> str:
        return os.path.join(self.given, relative)

    def _list(
        self, directory: str, prefix: str, identity: tuple[int, int]
    ) -> Iterator[tuple[str, str, os.stat_result]]:
        """List a directory through a descriptor, so a swapped-in link cannot redirect it."""
        shown = self._shown(prefix.rstrip("/")) if prefix else self.given
        try:
            fd = os.open(directory, _DIR_FLAGS)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):  # no longer the directory seen
                raise FileChangedError(f"{shown} changed while the tree was walked") from None
            raise _os_error(error, shown) from None
        try:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != identity:
                raise FileChangedError(f"{shown} changed while the tree was walked")
            with os.scandir(fd) as entries:
                listed = [
                    (
                        entry.name,
                        os.path.join(directory, entry.name),
                        entry.stat(follow_symlinks=False),
                    )
                    for entry in entries
                ]
        except OSError as error:
            raise _os_error(error, shown) from None
        finally:
            os.close(fd)
        for name, full, entry_info in listed:
            _check_name(name, self._shown(prefix + name))
            yield name, full, entry_info

    def _visit(
        self, relative: str, full: str, info: os.stat_result, ancestors: frozenset[tuple[int, int]]
    ) -> tuple[str, str, frozenset[tuple[int, int]], tuple[int, int]] | None:
        """Record one entry; return a directory frame to descend into, if any."""
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            if not self.options.follow_symlinks:
                self._record_link(relative, full)
                return None
            full, info = self._resolve(relative, full)
            mode = info.st_mode
        if stat.S_ISDIR(mode):
            identity = (info.st_dev, info.st_ino)
            if identity in ancestors:
                raise SymlinkLoopError(
                    f"symbolic link loop: {self._shown(relative)} leads back to a parent directory"
                )
            return full, relative + "/", ancestors | {identity}, identity
        if stat.S_ISREG(mode):
            self.files.append(_planned(relative, full, info))
            return None
        raise SpecialFileError(f"{self._shown(relative)} is {_kind(mode)}; it was not opened")

    def _record_link(self, relative: str, full: str) -> None:
        try:
            target = os.readlink(full)
        except OSError as error:
            raise _os_error(error, self._shown(relative)) from None
        _check_name(target, self._shown(relative))
        self.links.append(SymlinkRecord(relative, target))

    def _resolve(self, relative: str, full: str) -> tuple[str, os.stat_result]:
        """Resolve a link that is to be followed; it must stay inside the root."""
        shown = self._shown(relative)
        try:
            real = os.path.realpath(full, strict=True)
        except FileNotFoundError:
            raise BrokenSymlinkError(f"symbolic link points to nothing: {shown}") from None
        except OSError as error:
            raise _os_error(error, shown) from None
        if os.path.commonpath([self.root, real]) != self.root:
            raise SymlinkEscapeError(
                f"symbolic link {shown} points outside {self.given} (to {real})"
            )
        try:
            return real, os.stat(real)
        except OSError as error:
            raise _os_error(error, shown) from None
