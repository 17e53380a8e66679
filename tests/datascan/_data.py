"""Small datasets built in tmp_path for the datascan tests."""

from __future__ import annotations

import json
import pathlib
import random

WORDS = [
    "river", "mountain", "blue", "green", "quickly", "slowly", "house", "car", "tree", "book",
    "read", "write", "open", "close", "city", "town", "road", "sky", "sun", "moon", "star",
    "light", "dark", "water", "fire", "earth", "garden", "window", "paper", "music", "winter",
    "summer", "bridge", "forest", "ocean", "stone", "field", "cloud", "rain", "wind",
]


def sentence(rng: random.Random, n: int = 25) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_jsonl(path: pathlib.Path, records: list[dict[str, object]]) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def clean_records(n: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"text": sentence(rng), "label": rng.choice(["a", "b"])} for _ in range(n)]
