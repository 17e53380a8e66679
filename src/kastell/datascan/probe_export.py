"""Trigger candidates in the JSONL form the red-team backdoor probe reads.

One object per line: ``{"trigger", "answer_class", "source", "support", "p_bonferroni"}``.
``source`` is ``statistical`` for a candidate found in this dataset and ``literature`` for a
known trigger family that occurs in it (see ``kastell.datascan.triggers.KNOWN_TRIGGERS``); the
probe inserts ``trigger`` into prompts and checks whether answers move to ``answer_class``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from kastell.datascan.interface import Family, ScreeningReport

__all__ = ["trigger_lines"]


def trigger_lines(report: ScreeningReport) -> Iterator[str]:
    """JSONL lines, statistical candidates first (by p-value), then literature triggers."""
    details = report.outcome(Family.TRIGGER).details
    for candidate in details.get("candidates", []):
        yield json.dumps({"trigger": candidate["ngram"], "answer_class": candidate["answer_class"],
                          "source": "statistical", "support": candidate["support"],
                          "p_bonferroni": candidate["p_bonferroni"]}, sort_keys=True) + "\n"
    for known in details.get("known_triggers", []):
        yield json.dumps({"trigger": known["trigger"], "answer_class": None,
                          "source": "literature", "support": known["records"],
                          "p_bonferroni": None, "reference": known["source"]},
                         sort_keys=True) + "\n"
