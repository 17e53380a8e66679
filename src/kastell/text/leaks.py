"""Leak matching: known secrets and the system prompt reproduced in a text, in any spelling.

``SecretMatcher`` finds given secrets (canaries, API keys, personal values) as written
(case-insensitive), *normalised* (separators, invisible characters and look-alike letters
removed, so ``k s t - a b c`` and ``KST‐ABC`` match ``kst-abc``), *encoded* (in a decoded or
transformed view: base64, hex, ROT13, reversed, ...) and *partial* (a run of at least
``partial_ratio`` of a random-looking part of the secret: 8+ characters with a digit).

``PromptLeakMatcher`` finds runs of ``window`` consecutive words shared with a system prompt.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from kastell.text.interface import Family, LeakMatch, TextMatch, TextUsageError, View
from kastell.text.normalize import fold, squash, squash_with_map
from kastell.text.views import screen_views

__all__ = ["PromptLeakMatcher", "SecretMatcher"]

MIN_SECRET = 4
"""Shortest secret (after squashing) a matcher accepts: shorter ones match everywhere."""
MIN_PARTIAL_PART = 8
"""Shortest random-looking part of a secret that partial matching considers."""


@dataclasses.dataclass(frozen=True)
class _Target:
    index: int
    label: str
    lowered: str
    squashed: str
    partials: tuple[str, ...]


def _partials(secret: str, ratio: float) -> tuple[str, ...]:
    cores = [
        squash(part)
        for part in re.split(r"[^0-9A-Za-z]+", secret)
        if len(part) >= MIN_PARTIAL_PART and any(ch.isdigit() for ch in part)
    ]
    pieces = {
        core[i : i + size]
        for core in cores
        for size in [max(MIN_PARTIAL_PART - 2, -(-len(core) * int(ratio * 100) // 100))]
        if size < len(core)
        for i in range(len(core) - size + 1)
    }
    return tuple(sorted(pieces))


class SecretMatcher:
    """Finds given secrets in texts in every form (see the module docstring).

    Args:
        secrets: the secret values; each must keep at least ``MIN_SECRET`` letters or digits.
        labels: names to report instead of the values (default ``secret[<index>]``).
        partial_ratio: the share of a random part that counts as a partial leak (0.7: 7 of 10
            hex characters would match unrelated text by chance about once in 10^8 tries).
    """

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        labels: Sequence[str] | None = None,
        partial_ratio: float = 0.7,
    ) -> None:
        if labels is not None and len(labels) != len(secrets):
            raise TextUsageError("labels must name every secret")
        if not 0.5 <= partial_ratio <= 1.0:
            raise TextUsageError(f"partial_ratio {partial_ratio} outside [0.5, 1]")
        targets = []
        for index, secret in enumerate(secrets):
            squashed = squash(secret)
            if len(squashed) < MIN_SECRET:
                raise TextUsageError(f"secret[{index}] has fewer than {MIN_SECRET} letters/digits")
            label = labels[index] if labels is not None else f"secret[{index}]"
            targets.append(
                _Target(index, label, secret.lower(), squashed, _partials(secret, partial_ratio))
            )
        self._targets = tuple(targets)

    def find(self, text: str) -> list[LeakMatch]:
        """Every leak of every secret: exact spans first, then the first other form found."""
        found: list[LeakMatch] = []
        lowered = text.lower()
        flat, where = squash_with_map(text)
        views: list[tuple[View, str]] | None = None
        for target in self._targets:
            exact = _occurrences(lowered, target.lowered)
            found.extend(LeakMatch(target.index, target.label, "exact", s) for s in exact)
            for start, end in _occurrences(flat, target.squashed):
                span = (where[start], where[end - 1] + 1)
                if not any(s <= span[0] and span[1] <= e for s, e in exact):
                    found.append(LeakMatch(target.index, target.label, "normalised", span))
            if any(m.secret == target.index for m in found):
                continue
            if views is None:
                views = [(v, squash(v.text)) for v in screen_views(text).views[1:]]
            hit = self._other_forms(target, flat, where, views)
            if hit is not None:
                found.append(hit)
        return found

    @staticmethod
    def _other_forms(
        target: _Target,
        flat: str,
        where: list[int],
        views: list[tuple[View, str]],
    ) -> LeakMatch | None:
        for view, view_flat in views:
            if target.squashed in view_flat:
                form = f"encoded:{view.name}"
                return LeakMatch(target.index, target.label, form, view.origin, view.name)
        for piece in target.partials:
            position = flat.find(piece)
            if position >= 0:
                span = (where[position], where[position + len(piece) - 1] + 1)
                return LeakMatch(target.index, target.label, "partial", span)
            for view, view_flat in views:
                if piece in view_flat:
                    return LeakMatch(target.index, target.label, "partial", view.origin, view.name)
        return None


def _occurrences(haystack: str, needle: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = haystack.find(needle)
    while start >= 0:
        spans.append((start, start + len(needle)))
        start = haystack.find(needle, start + 1)
    return spans


_WORD = re.compile(r"\w+")
SHARED_GRAM = 4
"""Word n-gram size of the paraphrase/partial measure of ``PromptLeakMatcher``."""
MIN_SHARED_WORDS = 12
"""Fewest prompt words that shared 4-grams must cover to count as a partial leak."""
MIN_SHARED_SHARE = 0.3
"""Smallest share of the prompt's words that shared 4-grams must cover (partial leak)."""


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _grams(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


class PromptLeakMatcher:
    """Finds a system prompt reproduced in a text, verbatim, in pieces or lightly reworded.

    Every view of the text (normalised, de-spaced, decoded, reversed, ...) is read as folded
    words. Rule ``verbatim``: a run of ``window`` (8) consecutive prompt words. Rule
    ``partial``: the word 4-grams the text shares with the prompt cover at least
    ``MIN_SHARED_WORDS`` (12) prompt words and ``MIN_SHARED_SHARE`` (30%) of them: a prompt
    leaked in several pieces, or reworded except for its longer phrases. A prompt shorter than
    ``window`` words is only found verbatim.
    """

    def __init__(self, prompt: str, *, window: int = 8) -> None:
        if window < 2:
            raise TextUsageError(f"window {window} < 2 words")
        self.prompt = prompt
        self.window = window
        words = _words(prompt)
        self._size = len(words)
        self._reference = _grams(words, window)
        self._grams: dict[tuple[str, ...], list[int]] = {}
        for i in range(len(words) - SHARED_GRAM + 1):
            self._grams.setdefault(tuple(words[i : i + SHARED_GRAM]), []).append(i)

    def find(self, text: str) -> list[TextMatch]:
        """The first view holding a verbatim or partial leak (empty when none)."""
        if not self._reference:
            return []
        for view in screen_views(text).views:
            words = _words(view.text)
            for gram in _grams(words, self.window):
                if gram in self._reference:
                    detail = " ".join(gram)
                    return [
                        TextMatch(Family.SYSTEM_PROMPT, "verbatim", view.origin, view.name, detail)
                    ]
            covered: set[int] = set()
            for gram in _grams(words, SHARED_GRAM):
                for start in self._grams.get(gram, ()):
                    covered.update(range(start, start + SHARED_GRAM))
            if len(covered) >= max(MIN_SHARED_WORDS, MIN_SHARED_SHARE * self._size):
                detail = f"{len(covered)} of {self._size} prompt words in shared 4-grams"
                return [TextMatch(Family.SYSTEM_PROMPT, "partial", view.origin, view.name, detail)]
        return []
