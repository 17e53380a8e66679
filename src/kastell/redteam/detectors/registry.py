"""The registered detectors, by name."""

from __future__ import annotations

from collections.abc import Sequence

from kastell.redteam.detectors.agency import ForbiddenToolDetector
from kastell.redteam.detectors.content import ComplianceDetector, ToxicityDetector
from kastell.redteam.detectors.deployment import DeploymentSecretDetector
from kastell.redteam.detectors.exposure import (
    LogprobExposureDetector,
    RateLimitDetector,
    TokenCapDetector,
)
from kastell.redteam.detectors.leaks import (
    CanaryDetector,
    CanaryDigestDetector,
    MarkerDetector,
    VerbatimDetector,
)
from kastell.redteam.detectors.markup import InsecureOutputDetector
from kastell.redteam.detectors.pii import PiiDetector
from kastell.redteam.detectors.refusal import RefusalClassifier
from kastell.redteam.interface import (
    AttemptSpec,
    ChatResponse,
    Detection,
    Detector,
    RedteamUsageError,
)

__all__ = ["DETECTORS", "REFUSAL", "describe_detectors", "detector_named", "run_detectors"]

DETECTORS: dict[str, Detector] = {
    detector.name: detector
    for detector in (
        CanaryDetector(),
        DeploymentSecretDetector(),
        CanaryDigestDetector(),
        MarkerDetector(),
        PiiDetector(),
        VerbatimDetector(),
        ComplianceDetector(),
        ToxicityDetector(),
        InsecureOutputDetector(),
        ForbiddenToolDetector(),
        LogprobExposureDetector(),
        TokenCapDetector(),
        RateLimitDetector(),
    )
}
"""Every detector by name."""

REFUSAL = RefusalClassifier()
"""The refusal recognizer used for the ``refused`` flag and by content detectors."""


def detector_named(name: str) -> Detector:
    """Return the registered detector called ``name``."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise RedteamUsageError(
            f"unknown detector {name!r}", hint=f"Use one of: {', '.join(sorted(DETECTORS))}."
        ) from None


def describe_detectors(names: Sequence[str]) -> tuple[str, ...]:
    """``name@version`` of each detector (what the suite digest covers)."""
    return tuple(f"{n}@{detector_named(n).version}" for n in names)


def run_detectors(spec: AttemptSpec, responses: Sequence[ChatResponse]) -> Detection | None:
    """Run the attempt's detectors in order; the first positive evidence wins.

    A detector that cannot decide does not stop the others: its undecided result is returned
    only when no other detector found positive evidence.
    """
    undecided: Detection | None = None
    for described in spec.detectors:
        detection = detector_named(described.split("@", 1)[0]).detect(spec, responses)
        if detection is not None and not detection.undecided:
            return detection
        undecided = undecided or detection
    return undecided
