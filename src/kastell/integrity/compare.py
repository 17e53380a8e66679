"""Compare a recorded tree (from a manifest or a signature) with a freshly hashed one.

Pure: takes two ``TreeDigest`` values, reads nothing. Hash the tree for the comparison with
``hash_tree(..., for_verification=True)`` and the recorded options (``options_of``), so that
no cache is trusted and chunks line up.
"""

from __future__ import annotations

import dataclasses

from kastell.integrity.interface import FileDigest, HashOptions, SymlinkRecord, TreeDigest

__all__ = ["TreeComparison", "compare_trees", "options_of"]


@dataclasses.dataclass(frozen=True)
class TreeComparison:
    """How a tree on disk differs from the recorded one.

    Attributes:
        changed: paths present in both whose content (or link target, or kind) differs.
        missing: recorded paths that are no longer there.
        extra: paths on disk that were not recorded.
    """

    changed: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def matches(self) -> bool:
        """True when nothing changed, went missing or was added."""
        return not (self.changed or self.missing or self.extra)


def options_of(recorded: TreeDigest, *, workers: int | None = None) -> HashOptions:
    """The hashing options that reproduce ``recorded`` (algorithm, chunks, ignores, links)."""
    return HashOptions(
        algorithm=recorded.algorithm,
        chunk_size=recorded.chunk_size,
        ignore=recorded.ignore,
        follow_symlinks=recorded.follow_symlinks,
        workers=workers,
    )


def _entries(tree: TreeDigest) -> dict[str, FileDigest | SymlinkRecord]:
    entries: dict[str, FileDigest | SymlinkRecord] = {entry.path: entry for entry in tree.files}
    entries.update({link.path: link for link in tree.symlinks})
    return entries


def _same(left: FileDigest | SymlinkRecord, right: FileDigest | SymlinkRecord) -> bool:
    if isinstance(left, FileDigest) and isinstance(right, FileDigest):
        return left.size == right.size and left.digest == right.digest
    return left == right


def compare_trees(recorded: TreeDigest, actual: TreeDigest) -> TreeComparison:
    """List what differs between ``recorded`` and ``actual`` (sorted paths).

    When both trees were hashed with the same algorithm and chunk size, equal roots mean no
    differences; with different settings every file shows as changed.
    """
    expected, found = _entries(recorded), _entries(actual)
    settings_differ = (recorded.algorithm, recorded.chunk_size) != (
        actual.algorithm,
        actual.chunk_size,
    )
    changed = sorted(
        path
        for path in expected.keys() & found.keys()
        if settings_differ or not _same(expected[path], found[path])
    )
    return TreeComparison(
        changed=tuple(changed),
        missing=tuple(sorted(expected.keys() - found.keys())),
        extra=tuple(sorted(found.keys() - expected.keys())),
    )
