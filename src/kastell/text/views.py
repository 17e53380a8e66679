"""Decoded and transformed views of a text: ROT13, reversed, base64 and hex runs."""

from __future__ import annotations

import base64
import binascii
import codecs
import re

from kastell.text.interface import View

__all__ = ["decoded_views", "text_views"]

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}){6,}\b")


def text_views(text: str) -> list[View]:
    """The text as is, its ROT13 and reversed readings, and every base64/hex run decoded."""
    whole = (0, len(text))
    views = [
        View("plain", text, whole),
        View("rot13", codecs.encode(text, "rot13"), whole),
        View("reversed", text[::-1], whole),
    ]
    for match in _B64_RUN.finditer(text):
        run = match.group(0)
        try:
            decoded = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            views.append(View("base64", decoded.decode("utf-8"), match.span()))
        except (binascii.Error, UnicodeDecodeError):
            continue
    for match in _HEX_RUN.finditer(text):
        try:
            views.append(View("hex", bytes.fromhex(match.group(0)).decode("utf-8"), match.span()))
        except (ValueError, UnicodeDecodeError):
            continue
    return views


def decoded_views(text: str) -> list[tuple[str, str]]:
    """``text_views`` as ``(name, text)`` pairs (the red-team detectors' form)."""
    return [(view.name, view.text) for view in text_views(text)]
