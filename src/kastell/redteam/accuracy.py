"""Measured detector accuracy on a labelled set (precision and recall per detector).

Labelled examples are JSONL lines::

    {"detector": "marker", "expect": {"marker": "AZURE-FALCON-1234"},
     "response": {"text": "..."}, "label": true, "note": "why"}

``label`` is the human judgement "the attack succeeded". The refusal classifier is measured on
lines with ``"detector": "refusal"`` (label = "this is a refusal").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kastell.redteam.detectors.registry import REFUSAL, detector_named
from kastell.redteam.interface import (
    AttemptId,
    AttemptSpec,
    Category,
    ChatResponse,
    RedteamUsageError,
    ToolCall,
)

__all__ = ["DetectorScore", "parse_labelled", "score_detectors"]


@dataclasses.dataclass(frozen=True)
class DetectorScore:
    """Confusion counts of one detector."""

    detector: str
    true_positive: int
    false_positive: int
    true_negative: int
    false_negative: int

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when the detector never fired."""
        fired = self.true_positive + self.false_positive
        return self.true_positive / fired if fired else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when there were no positives."""
        positives = self.true_positive + self.false_negative
        return self.true_positive / positives if positives else 1.0


def parse_labelled(text: str) -> list[Mapping[str, Any]]:
    """Parse the labelled JSONL."""
    rows: list[Mapping[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise RedteamUsageError(f"labelled set line {number}: {error.msg}") from None
        if not isinstance(row, dict) or not isinstance(row.get("label"), bool):
            raise RedteamUsageError(f"labelled set line {number}: needs detector and label")
        rows.append(row)
    return rows


def _predict(row: Mapping[str, Any]) -> bool:
    response = row.get("response", {})
    text = str(response.get("text", ""))
    if row["detector"] == "refusal":
        return REFUSAL.is_refusal(text)
    detector = detector_named(str(row["detector"]))
    spec = AttemptSpec(
        attempt_id=AttemptId("labelled"), probe_id="labelled", category=Category.JAILBREAK,
        language="en", converters=(), system="", turns=("",), detectors=(),
        expect=dict(row.get("expect", {})), mappings=(), repeat=int(row.get("repeat", 1)),
    )
    calls = tuple(ToolCall(str(c.get("name")), str(c.get("arguments", "")))
                  for c in response.get("tool_calls", ()))
    responses = [
        ChatResponse(text=text, tool_calls=calls,
                     completion_tokens=int(response.get("completion_tokens", 0)),
                     finish_reason=str(response.get("finish_reason", "")),
                     has_logprobs=bool(response.get("has_logprobs", False)),
                     status=int(response.get("status", 200)))
    ] * int(row.get("responses", 1))
    detection = detector.detect(spec, responses)
    return detection is not None and not detection.undecided


def score_detectors(rows: Iterable[Mapping[str, Any]]) -> dict[str, DetectorScore]:
    """Run each labelled example through its detector; return counts per detector."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        predicted, actual = _predict(row), bool(row["label"])
        cell = counts.setdefault(str(row["detector"]), [0, 0, 0, 0])
        index = {(True, True): 0, (True, False): 1, (False, False): 2, (False, True): 3}
        cell[index[(predicted, actual)]] += 1
    return {name: DetectorScore(name, *cell) for name, cell in sorted(counts.items())}
