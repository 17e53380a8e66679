"""Version diff: which records two versions of a dataset add, remove or change.

Files whose manifest digest is the same in both versions are not read at all. For the other
files, every record's digest (SHA-256 of its canonical JSON) is compared as a multiset: a
record of the new version whose digest the old version does not have (as often) is *added*,
an old one left over is *removed*. With a key field, an added and a removed record with the
same key value are one *changed* record. The result names the new version's records to
screen (``delta``), so a daily pipeline re-screens only what changed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from kastell.datascan.interface import DatascanUsageError, Record, RecordId
from kastell.datascan.readers import DataFile, DatasetFiles, read_records
from kastell.datascan.records import canonical_json

__all__ = ["VersionDiff", "diff_versions"]

_EXAMPLES = 20


@dataclasses.dataclass(frozen=True)
class VersionDiff:
    """What changed between two versions (counts are complete; examples are the first 20)."""

    old_digest: str
    new_digest: str
    unchanged_files: tuple[str, ...]
    added_files: tuple[str, ...]
    removed_files: tuple[str, ...]
    changed_files: tuple[str, ...]
    added: int
    removed: int
    changed: int
    delta: Mapping[str, frozenset[int]]
    """New-version file -> indices of its added or changed records."""
    examples: Mapping[str, tuple[RecordId, ...]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the delta as counts per file)."""
        document = dataclasses.asdict(self)
        document["delta"] = {path: len(indices) for path, indices in sorted(self.delta.items())}
        document["examples"] = {k: list(v) for k, v in self.examples.items()}
        return document


def _key(record: Record, key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(record.value, dict) or key not in record.value:
        raise DatascanUsageError(f"record {record.id} has no key field {key!r}",
                                 hint="Every record needs the --key field.")
    return canonical_json(record.value[key])


def _old_records(old: DatasetFiles, files: list[DataFile]) -> Iterator[Record]:
    for item in files:
        yield from read_records(old, item)


def diff_versions(old: DatasetFiles, new: DatasetFiles, key: str | None = None) -> VersionDiff:
    """Compare two versions of a dataset (each already listed and hashed).

    Raises:
        MalformedDatasetError, DatasetReadError: as reading records does.
        DatascanUsageError: a record lacks the key field.
    """
    old_files = {f.path: f for f in old.files}
    new_files = {f.path: f for f in new.files}
    unchanged = sorted(p for p in old_files.keys() & new_files.keys()
                       if old_files[p].digest == new_files[p].digest)
    differing_old = [old_files[p] for p in sorted(old_files.keys() - set(unchanged))]
    remaining: Counter[str] = Counter()
    old_keys: dict[str, str | None] = {}
    for record in _old_records(old, differing_old):
        remaining[record.digest] += 1
        old_keys.setdefault(record.digest, _key(record, key))
    delta: dict[str, set[int]] = {}
    added_keys: list[str | None] = []
    added_ids: list[RecordId] = []
    for item in (new_files[p] for p in sorted(new_files.keys() - set(unchanged))):
        for record in read_records(new, item):
            if remaining[record.digest] > 0:
                remaining[record.digest] -= 1
                continue
            delta.setdefault(item.path, set()).add(record.index)
            added_keys.append(_key(record, key))
            added_ids.append(record.id)
    removed_keys = [old_keys[d] for d, n in remaining.items() for _ in range(n)]
    changed = 0
    if key is not None:
        both = Counter(k for k in added_keys) & Counter(k for k in removed_keys)
        changed = sum(both.values())
    return VersionDiff(
        old_digest=str(old.digest), new_digest=str(new.digest),
        unchanged_files=tuple(unchanged),
        added_files=tuple(sorted(new_files.keys() - old_files.keys())),
        removed_files=tuple(sorted(old_files.keys() - new_files.keys())),
        changed_files=tuple(sorted((old_files.keys() & new_files.keys()) - set(unchanged))),
        added=len(added_keys) - changed, removed=len(removed_keys) - changed, changed=changed,
        delta={path: frozenset(indices) for path, indices in delta.items()},
        examples={"added_or_changed": tuple(added_ids[:_EXAMPLES])},
    )
