"""Generate ``src/kastell/text/data/confusables.json``: non-ASCII look-alikes -> ASCII.

Source: the Unicode confusables data (UTS #39, ``confusables.txt``) as the
``confusable-homoglyphs==3.3.1`` package ships it (``confusable_homoglyphs/confusables.json``,
a symmetric map of each character to its look-alikes). Install that package in a scratch venv
and run::

    python tools/gen_confusables.py path/to/confusable_homoglyphs/confusables.json

For every single non-ASCII code point whose look-alikes include printable ASCII, the table maps
it to that ASCII prototype (letters and digits preferred, then the shortest). Where TR39 maps a
capital letter to ``l`` (Greek capital iota, Cyrillic capital I), the table keeps ``I`` so that
case folding reads the same word. The table is read at run time; nothing is downloaded.
"""

from __future__ import annotations

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "kastell" / "text" / "data"


def build(source: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """The non-ASCII -> ASCII prototype table."""
    table: dict[str, str] = {}
    for char, entries in source.items():
        if len(char) != 1 or char.isascii():
            continue
        ascii_like = {e["c"] for e in entries if e["c"].isascii() and e["c"].isprintable()}
        if not ascii_like:
            continue
        best = sorted(ascii_like, key=lambda s: (not s.isalnum(), len(s), s))[0]
        if best == "l" and char.isupper():
            best = "I"
        table[char] = best
    return dict(sorted(table.items()))


def main() -> None:
    """Read the package's JSON, write the table."""
    source = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    table = build(source)
    document = {
        "source": "Unicode UTS #39 confusables via confusable-homoglyphs 3.3.1",
        "generator": "tools/gen_confusables.py",
        "table": table,
    }
    (OUT / "confusables.json").write_text(
        json.dumps(document, ensure_ascii=True, indent=0) + "\n", encoding="utf-8"
    )
    print(f"{len(table)} entries")


if __name__ == "__main__":
    main()
