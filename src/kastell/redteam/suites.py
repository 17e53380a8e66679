"""Versioned, content-addressed suites.

A suite names probes, languages and converter chains. Materializing it for a ``ProbeConfig``
yields every attempt in a fixed order; the suite digest is SHA-256 over the canonical JSON of
all of them (prompts, converter and detector versions included), and each probe gets a digest
of its own so that ``kastell redteam diff`` can say what changed between two suites.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Mapping, Sequence

from kastell.redteam.converters.registry import apply_chain, describe_chain
from kastell.redteam.detectors.registry import REFUSAL
from kastell.redteam.interface import AttemptSpec, Category, ProbeConfig, RedteamUsageError
from kastell.redteam.probes._base import attempt_id_of, canonical_json
from kastell.redteam.probes.registry import PROBES, probe_named
from kastell.types import ControlId

__all__ = ["SUITES", "MaterializedSuite", "Suite", "materialize", "suite_named"]

_OBFUSCATION = ControlId("ATLAS-AML.T0068")


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named, versioned selection of probes, languages and converter chains."""

    name: str
    description: str
    probes: tuple[str, ...]
    languages: tuple[str, ...] = ("en", "de", "fr", "it", "es")
    converted: Mapping[str, tuple[tuple[str, ...], ...]] = dataclasses.field(
        default_factory=dict
    )
    """Probe id -> converter chains applied to that probe's English attempts (added variants)."""
    per_category: int | None = None
    """Seeded sample of at most this many attempts per category (CI-sized suites)."""
    sample_seed: int = 0


@dataclasses.dataclass(frozen=True)
class MaterializedSuite:
    """A suite's attempts for one configuration, and the digests that pin them."""

    name: str
    digest: str
    """``sha256:<hex>`` over every attempt and the refusal classifier version."""
    probe_digests: Mapping[str, str]
    attempts: tuple[AttemptSpec, ...]
    untested_categories: tuple[Category, ...]
    """Categories with no attempt in this configuration (e.g. no training records given)."""


_CHAINS: tuple[tuple[str, ...], ...] = (
    ("base64",), ("rot13",), ("leetspeak",), ("homoglyph",), ("zero_width",),
    ("unicode_tags",), ("payload_split",), ("translation_template",),
    ("leetspeak", "payload_split"), ("homoglyph", "zero_width"),
)

SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            name="kastell-baseline-v1",
            description="Every probe, five languages, ten converter chains on key probes.",
            probes=tuple(PROBES),
            converted={
                "injection.direct_override": _CHAINS,
                "leakage.secret_exfiltration": _CHAINS[:4] + _CHAINS[6:8],
                "jailbreak.persona": _CHAINS[:4] + _CHAINS[6:],
            },
        ),
        Suite(
            name="kastell-ci-v1",
            description="CI-sized (about 100 attempts): seeded sample of the baseline suite.",
            probes=tuple(PROBES),
            converted={
                "injection.direct_override": _CHAINS,
                "leakage.secret_exfiltration": _CHAINS[:4] + _CHAINS[6:8],
                "jailbreak.persona": _CHAINS[:4] + _CHAINS[6:],
            },
            per_category=18,
            sample_seed=1,
        ),
    )
}
"""Every built-in suite by name."""


def suite_named(name: str) -> Suite:
    """Return the built-in suite called ``name``."""
    try:
        return SUITES[name]
    except KeyError:
        raise RedteamUsageError(
            f"unknown suite {name!r}", hint=f"Use one of: {', '.join(sorted(SUITES))}."
        ) from None


def _convert(spec: AttemptSpec, chain: tuple[str, ...]) -> AttemptSpec:
    converted = dataclasses.replace(
        spec,
        turns=tuple(apply_chain(turn, chain) for turn in spec.turns),
        converters=describe_chain(chain),
        mappings=spec.mappings if _OBFUSCATION in spec.mappings else (*spec.mappings, _OBFUSCATION),
    )
    return dataclasses.replace(converted, attempt_id=attempt_id_of(converted))


def _sample(attempts: Sequence[AttemptSpec], per_category: int, seed: int) -> list[AttemptSpec]:
    """At most ``per_category`` attempts a category: plain ones first, then converted ones.

    The plain attack is the first thing a CI suite must try (a model that falls for it needs no
    obfuscation), so unconverted attempts are taken before any converted variant; within each
    group the choice is a seeded sample.
    """
    chosen: set[str] = set()
    for category in Category:
        rng = random.Random(f"{seed}/{category.value}")
        room = per_category
        for plain in (True, False):
            members = [
                a for a in attempts if a.category is category and (not a.converters) is plain
            ]
            picked = rng.sample(members, min(room, len(members)))
            chosen.update(a.attempt_id for a in picked)
            room -= len(picked)
    return [a for a in attempts if a.attempt_id in chosen]


def _digest(parts: Sequence[str]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\n")
    return "sha256:" + hasher.hexdigest()


def materialize(suite: Suite, config: ProbeConfig | None = None) -> MaterializedSuite:
    """Build every attempt of ``suite`` for ``config`` (languages default to the suite's)."""
    config = config or ProbeConfig(languages=suite.languages)
    attempts: list[AttemptSpec] = []
    for probe_id in suite.probes:
        base = probe_named(probe_id).attempts(config)
        attempts.extend(base)
        for chain in suite.converted.get(probe_id, ()):
            attempts.extend(_convert(spec, chain) for spec in base if spec.language == "en")
    if suite.per_category is not None:
        attempts = _sample(attempts, suite.per_category, suite.sample_seed)
    per_probe: dict[str, list[str]] = {}
    for spec in attempts:
        per_probe.setdefault(spec.probe_id, []).append(canonical_json(spec))
    header = canonical_json({"suite": suite.name, "refusal": f"{REFUSAL.name}@{REFUSAL.version}"})
    return MaterializedSuite(
        name=suite.name,
        digest=_digest([header, *(canonical_json(a) for a in attempts)]),
        probe_digests={p: _digest(parts) for p, parts in sorted(per_probe.items())},
        attempts=tuple(attempts),
        untested_categories=tuple(
            c for c in Category if not any(a.category is c for a in attempts)
        ),
    )
