"""The readings of a text every detector sees, built once per text under documented bounds.

Views, in order (each only when it differs from what came before):

- ``plain``: the text as written.
- ``normalised``: NFKC, default-ignorables (zero-width, variation selectors such as U+FE0F,
  tag characters, bidi controls) removed, look-alike letters mapped to ASCII (TR39 data).
- ``spaced``: letter-spaced runs joined (``I g n o r e``, ``i-g-n-o-r-e``).
- ``leet``: leetspeak words read as letters (``1gn0r3``, ``a11``).
- ``rot13`` and ``reversed`` of the normalised text.
- decoded views, named by their chain of codecs (``base64``, ``hex``, ``base32``, ``base85``,
  ``binary``, ``escape``, ``url``, ``quoted_printable``, ``html``, ``base64/hex``, ...): runs
  that look encoded are decoded when the result reads as text, and every decoded text is read
  again, up to ``Bounds.max_depth`` layers.

Bounds (``Bounds``; crossing one is reported in ``ViewSet.limits``, never silently ignored):
``max_depth`` (4) decoding layers; ``max_views`` (128) views per text; ``max_run_chars``
(8,000,000) characters per encoded run (a longer run is not decoded); ``max_decoded_chars``
(4,000,000) characters of decoded text per text in total.

Cheap paths: an ASCII text skips the ``normalised`` view; the spacing, leet and decoding
regexes run only over text that contains their markers.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import re

from kastell.text import _decoders as dec
from kastell.text.interface import View
from kastell.text.normalize import (
    MAYBE_LEET,
    collapse_spacing_with_map,
    deleet,
    skeleton_with_map,
)

__all__ = ["DEFAULT_BOUNDS", "Bounds", "ViewSet", "decoded_views", "screen_views", "text_views"]


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Size and depth bounds of the decoding layer (see the module docstring)."""

    max_depth: int = 4
    max_views: int = 128
    max_run_chars: int = 8_000_000
    max_decoded_chars: int = 4_000_000


DEFAULT_BOUNDS = Bounds()


@dataclasses.dataclass(frozen=True)
class ViewSet:
    """The views of one text and the bounds crossed while building them."""

    views: tuple[View, ...]
    limits: tuple[str, ...] = ()

    def by_kind(self, *, decoded: bool) -> tuple[View, ...]:
        """The normalising views (``decoded=False``) or the transformed/decoded ones."""
        return tuple(v for v in self.views if (v.name in _NORMALISING) != decoded)


_NORMALISING = frozenset({"plain", "normalised", "spaced", "leet"})
_LETTERS = re.compile(r"[A-Za-z]")
_MAYBE_ENCODED = re.compile(
    r"[A-Za-z0-9+/=_-]{12,}|[!-~]{15,}|[%=&\\][0-9A-Za-z#{]|[01]{8}|(?:[0-9a-fA-F]{2}[\s:,]){6}"
)
_MAYBE_SPACED = re.compile(r"(?<!\S)\S \S \S|\w([-._*|/·~+])\w\1\w")


class _Builder:
    def __init__(self, text: str, bounds: Bounds) -> None:
        self.text = text
        self.bounds = bounds
        self.views: list[View] = []
        self.limits: list[str] = []
        self.decoded_chars = 0
        self.seen: set[str] = set()

    def add(self, view: View) -> bool:
        if view.text in self.seen:
            return False
        if len(self.views) >= self.bounds.max_views:
            self._limit(f"more than {self.bounds.max_views} views; {view.name} not read")
            return False
        self.seen.add(view.text)
        self.views.append(view)
        return True

    def _limit(self, notice: str) -> None:
        if notice not in self.limits:
            self.limits.append(notice)

    def build(self) -> ViewSet:
        text = self.text
        whole = (0, len(text))
        self.add(View("plain", text, whole))
        if text.isascii():
            base, where = text, list(range(len(text)))
        else:
            base, where = skeleton_with_map(text)
            self.add(View("normalised", base, whole, tuple(where)))
        base_map = None if text.isascii() else where
        current = base
        if _MAYBE_SPACED.search(current):
            collapsed = collapse_spacing_with_map(current)
            if collapsed is not None:
                current, inner = collapsed
                where = [where[i] for i in inner]
                self.add(View("spaced", current, whole, tuple(where)))
        if MAYBE_LEET.search(current):
            leet = deleet(current)
            if leet is not None:
                self.add(View("leet", leet, whole, tuple(where)))
        if _LETTERS.search(base):
            self.add(View("rot13", codecs.encode(base, "rot13"), whole))
            self.add(View("reversed", base[::-1], whole))
        self.decode(base, "", None, base_map, depth=1)
        return ViewSet(tuple(self.views), tuple(self.limits))

    def origin(
        self, span: tuple[int, int], fixed: tuple[int, int] | None, where: list[int] | None
    ) -> tuple[int, int]:
        if fixed is not None and fixed != (0, len(self.text)):
            return fixed
        if where is None:
            return span
        if span[0] >= span[1] or span[1] > len(where):
            return (0, len(self.text))
        return (where[span[0]], where[span[1] - 1] + 1)

    def decode(
        self,
        text: str,
        chain: str,
        fixed: tuple[int, int] | None,
        where: list[int] | None,
        depth: int,
    ) -> None:
        if not _MAYBE_ENCODED.search(text):
            return
        found: list[tuple[str, str, tuple[int, int]]] = []
        for name, marker, decoder in dec.WHOLE_DECODERS:
            if len(marker.findall(text, 0, 200_000)) >= dec.MIN_MARKERS:
                decoded = decoder(text)
                if decoded is not None and decoded != text:
                    found.append((name, decoded, (0, len(text))))
        for name, pattern, decoder in dec.RUN_DECODERS:
            for match in pattern.finditer(text):
                run = match.group(0)
                if len(run) > self.bounds.max_run_chars:
                    self._limit(f"a {name}-looking run of {len(run)} characters was not decoded")
                    continue
                decoded = decoder(run)
                if decoded is not None:
                    found.append((name, decoded, match.span()))
        for name, decoded, span in found:
            label = f"{chain}/{name}" if chain else name
            if depth > self.bounds.max_depth:
                self._limit(f"encoding nested deeper than {self.bounds.max_depth}: {label}")
                return
            self.decoded_chars += len(decoded)
            if self.decoded_chars > self.bounds.max_decoded_chars:
                self._limit(f"more than {self.bounds.max_decoded_chars} decoded characters")
                return
            origin = self.origin(span, fixed, where) if depth == 1 else fixed or (0, len(self.text))
            if self.add(View(label, decoded, origin)):
                base = decoded if decoded.isascii() else skeleton_with_map(decoded)[0]
                if base != decoded:
                    self.add(View(f"{label}/normalised", base, origin))
                if _LETTERS.search(base):
                    self.add(View(f"{label}/reversed", base[::-1], origin))
                    self.add(View(f"{label}/rot13", codecs.encode(base, "rot13"), origin))
                self.decode(base, label, origin, None, depth + 1)


@functools.lru_cache(maxsize=64)
def _default_views(text: str) -> ViewSet:
    return _Builder(text, DEFAULT_BOUNDS).build()


def screen_views(text: str, bounds: Bounds = DEFAULT_BOUNDS) -> ViewSet:
    """Every view of ``text`` (cached per text for the default bounds: detectors share it)."""
    if bounds == DEFAULT_BOUNDS:
        return _default_views(text)
    return _Builder(text, bounds).build()


def text_views(text: str) -> list[View]:
    """The views of ``screen_views(text)`` as a list."""
    return list(screen_views(text).views)


def decoded_views(text: str) -> list[tuple[str, str]]:
    """``text_views`` as ``(name, text)`` pairs (the red-team detectors' form)."""
    return [(view.name, view.text) for view in text_views(text)]
