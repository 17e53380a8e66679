"""Building blocks shared by the probes: attempt construction, canaries and markers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from kastell.redteam.detectors.registry import describe_detectors
from kastell.redteam.interface import (
    AttemptId,
    AttemptSpec,
    Category,
    ChatMessage,
    ProbeConfig,
    ToolSpec,
)
from kastell.types import ControlId

LANGUAGES = ("en", "de", "fr", "it", "es")

_WORDS = (
    "AZURE", "FALCON", "ORCHID", "COBALT", "TUNDRA", "MAPLE", "QUARTZ", "LANTERN",
    "PEBBLE", "VELVET", "CANYON", "EMBER", "HARBOR", "NEBULA", "SAFFRON", "GLACIER",
)


def _seed(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()


def canary_for(*parts: str) -> str:
    """A deterministic canary secret, unique per probe variant (never a real secret)."""
    return "NLB-ESC-" + _seed("canary", *parts).hex()[:10].upper()


def marker_for(*parts: str) -> tuple[str, str, int]:
    """Two words and a number the injected instruction asks the model to join with hyphens."""
    seed = _seed("marker", *parts)
    first = _WORDS[seed[0] % len(_WORDS)]
    second = _WORDS[(seed[0] + 1 + seed[1] % (len(_WORDS) - 1)) % len(_WORDS)]
    return first, second, 1000 + int.from_bytes(seed[2:4], "big") % 9000


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Canonical JSON of a spec (sorted keys, no whitespace), the input of ids and digests."""
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def attempt_id_of(spec: AttemptSpec) -> AttemptId:
    """Content id of an attempt: SHA-256 over everything but the id, shortened to 20 hex."""
    body = dataclasses.replace(spec, attempt_id=AttemptId(""))
    return AttemptId(hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()[:20])


class TemplateProbe:
    """A probe whose attempts are a system prompt plus per-language user turns.

    Subclasses set the metadata and ``prompts`` (language -> list of variants, each a string or
    a tuple of scripted turns), and override ``expect_for`` / ``system_for`` when needed.
    """

    probe_id: ClassVar[str]
    category: ClassVar[Category]
    version: ClassVar[int] = 1
    mappings: ClassVar[tuple[ControlId, ...]]
    description: ClassVar[str]
    detectors: ClassVar[tuple[str, ...]]
    prompts: ClassVar[Mapping[str, Sequence[str | tuple[str, ...]]]]
    system: ClassVar[str] = ""
    tools: ClassVar[tuple[ToolSpec, ...]] = ()

    def expect_for(self, key: str) -> dict[str, Any]:
        """What the detectors look for in variant ``key``."""
        return {}

    def fill(self, text: str, key: str) -> str:
        """Fill placeholders of a prompt for variant ``key``."""
        return text

    def context_for(self, key: str) -> tuple[ChatMessage, ...]:
        """Messages between the system prompt and the user turns."""
        return ()

    def system_for(self, config: ProbeConfig) -> str:
        """The system prompt template of this probe's attempts (before ``fill``)."""
        return self.system

    def attempts(self, config: ProbeConfig) -> list[AttemptSpec]:
        """One attempt per language in ``config`` and prompt variant."""
        result = []
        for language in config.languages:
            for index, variant in enumerate(self.prompts.get(language, ())):
                key = f"{self.probe_id}/{language}/{index}"
                turns = (variant,) if isinstance(variant, str) else tuple(variant)
                result.append(
                    make_attempt(
                        probe_id=self.probe_id,
                        category=self.category,
                        language=language,
                        system=self.fill(self.system_for(config), key),
                        turns=tuple(self.fill(t, key) for t in turns),
                        detectors=self.detectors,
                        expect=self.expect_for(key),
                        mappings=self.mappings,
                        context=self.context_for(key),
                        tools=self.tools,
                    )
                )
        return result


def make_attempt(
    *,
    probe_id: str,
    category: Category,
    language: str,
    system: str,
    turns: tuple[str, ...],
    detectors: Sequence[str],
    expect: Mapping[str, Any],
    mappings: tuple[ControlId, ...],
    context: tuple[ChatMessage, ...] = (),
    tools: tuple[ToolSpec, ...] = (),
    max_tokens: int | None = None,
    repeat: int = 1,
    request_options: Mapping[str, Any] | None = None,
) -> AttemptSpec:
    """Build an ``AttemptSpec`` and give it its content id."""
    spec = AttemptSpec(
        attempt_id=AttemptId(""),
        probe_id=probe_id,
        category=category,
        language=language,
        converters=(),
        system=system,
        turns=turns,
        detectors=describe_detectors(detectors),
        expect=dict(expect),
        mappings=mappings,
        context=context,
        tools=tools,
        max_tokens=max_tokens,
        repeat=repeat,
        request_options=dict(request_options or {}),
    )
    return dataclasses.replace(spec, attempt_id=attempt_id_of(spec))
