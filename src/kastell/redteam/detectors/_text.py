"""Text normalization and decoding helpers shared by detectors."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\U000e0000-\U000e007f]")
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}){6,}\b")


_FOLD = str.maketrans({
    "\u0430": "a", "\u0441": "c", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0445": "x",
    "\u0443": "y", "\u0456": "i", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0397": "H",
    "\u039a": "K", "\u039c": "M", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a7": "X",
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
    "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X",
})


def normalize(text: str) -> str:
    """NFKC, homoglyphs folded to Latin, invisible characters removed, whitespace collapsed."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).translate(_FOLD)
    return " ".join(text.split())


def squash(text: str) -> str:
    """Upper-case alphanumerics only (so ``azure falcon-42`` matches ``AZURE-FALCON-42``)."""
    return "".join(ch for ch in normalize(text).upper() if ch.isalnum())


def decoded_views(text: str) -> list[tuple[str, str]]:
    """The text as is plus every base64/hex run decoded and the ROT13 and reversed views."""
    views = [("plain", text), ("rot13", codecs.encode(text, "rot13")), ("reversed", text[::-1])]
    for run in _B64_RUN.findall(text):
        try:
            decoded = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            views.append(("base64", decoded.decode("utf-8")))
        except (binascii.Error, UnicodeDecodeError):
            continue
    for run in _HEX_RUN.findall(text):
        try:
            views.append(("hex", bytes.fromhex(run).decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            continue
    return views
