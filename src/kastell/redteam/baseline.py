"""Baselines: a committed file of accepted findings that gates do not count again.

Format (JSON)::

    {"kastell_redteam_baseline": 1, "suite": "kastell-ci-v1",
     "accepted": [{"attempt_id": "...", "probe_id": "...", "reason": "..."}]}

Attempt ids are content ids (a digest of the attempt), so an accepted finding stays accepted
for exactly the same attack and no other.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence
from typing import Any

from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptStatus,
    RedteamUsageError,
)

__all__ = ["Baseline", "baseline_from_results", "load_baseline"]

FORMAT_KEY = "kastell_redteam_baseline"


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Accepted findings (attempt ids) of one suite."""

    suite: str
    accepted: frozenset[AttemptId]
    entries: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {FORMAT_KEY: 1, "suite": self.suite, "accepted": list(self.entries)}


def load_baseline(path: pathlib.Path) -> Baseline:
    """Read a baseline file.

    Raises:
        RedteamUsageError: the file is missing or not a baseline document.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RedteamUsageError(f"cannot read baseline {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RedteamUsageError(f"baseline {path} is not JSON: {error}") from None
    entries = document.get("accepted") if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or document.get(FORMAT_KEY) != 1
        or not isinstance(entries, list)
        or not all(isinstance(e, dict) and isinstance(e.get("attempt_id"), str) for e in entries)
    ):
        raise RedteamUsageError(
            f"{path} is not a red-team baseline (version 1)",
            hint="Write one with `kastell redteam baseline RUN_ID --output FILE`.",
        )
    return Baseline(
        suite=str(document.get("suite", "")),
        accepted=frozenset(AttemptId(e["attempt_id"]) for e in entries),
        entries=tuple({str(k): str(v) for k, v in e.items()} for e in entries),
    )


def baseline_from_results(
    suite: str, results: Sequence[AttemptResult], reason: str = "accepted at baseline"
) -> Baseline:
    """A baseline accepting every successful attack in ``results``."""
    entries = tuple(
        {"attempt_id": r.attempt_id, "probe_id": r.probe_id, "reason": reason}
        for r in sorted(results, key=lambda r: r.attempt_id)
        if r.status is AttemptStatus.SUCCEEDED
    )
    return Baseline(suite, frozenset(AttemptId(e["attempt_id"]) for e in entries), entries)
