"""The registered converters, and composition of a chain of them."""

from __future__ import annotations

from collections.abc import Sequence

from kastell.redteam.converters.encoding import Base64Converter, LeetspeakConverter, Rot13Converter
from kastell.redteam.converters.structure import (
    PayloadSplitConverter,
    TranslationTemplateConverter,
)
from kastell.redteam.converters.unicode import (
    HomoglyphConverter,
    TagCharacterConverter,
    ZeroWidthConverter,
)
from kastell.redteam.interface import Converter, RedteamUsageError

__all__ = ["CONVERTERS", "apply_chain", "converter_named", "describe_chain"]

CONVERTERS: dict[str, Converter] = {
    converter.name: converter
    for converter in (
        Base64Converter(),
        Rot13Converter(),
        LeetspeakConverter(),
        HomoglyphConverter(),
        ZeroWidthConverter(),
        TagCharacterConverter(),
        PayloadSplitConverter(),
        TranslationTemplateConverter(),
    )
}
"""Every converter by name."""


def converter_named(name: str) -> Converter:
    """Return the registered converter called ``name``."""
    try:
        return CONVERTERS[name]
    except KeyError:
        raise RedteamUsageError(
            f"unknown converter {name!r}", hint=f"Use one of: {', '.join(sorted(CONVERTERS))}."
        ) from None


def apply_chain(text: str, chain: Sequence[str]) -> str:
    """Apply the named converters to ``text``, first to last."""
    for name in chain:
        text = converter_named(name).convert(text)
    return text


def describe_chain(chain: Sequence[str]) -> tuple[str, ...]:
    """``name@version`` of each converter in ``chain`` (what the suite digest covers)."""
    return tuple(f"{name}@{converter_named(name).version}" for name in chain)
