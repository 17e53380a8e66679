# ruff: noqa: E501 - regex tables read better unwrapped
"""Decoders of encoded runs (private): each takes a run, returns readable text or None.

Every decoder is total: on any input it returns a string or None and never raises. "Readable"
means valid UTF-8 (or the codec's own text), at least 90% printable or white space, with a
letter in it, and at least ``MIN_DECODED`` characters.
"""

from __future__ import annotations

import base64
import binascii
import html
import quopri
import re
import urllib.parse
from collections.abc import Callable

MIN_DECODED = 4
"""Shortest decoded text kept (shorter decodings match everything by chance)."""


def readable(data: bytes) -> str | None:
    """``data`` as UTF-8 text when it reads as text, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _reads_as_text(text) else None


def _reads_as_text(text: str) -> bool:
    if len(text) < MIN_DECODED or not any(ch.isalpha() for ch in text):
        return False
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    return printable / len(text) >= 0.9


def from_base64(run: str) -> str | None:
    """Standard or URL-safe base64, padding optional."""
    compact = run.rstrip("=")
    padded = compact + "=" * (-len(compact) % 4)
    if len(compact) % 4 == 1:
        return None
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return readable(data)


def from_base32(run: str) -> str | None:
    """RFC 4648 base32 (upper case), padding optional."""
    compact = run.rstrip("=")
    try:
        data = base64.b32decode(compact + "=" * (-len(compact) % 8))
    except (binascii.Error, ValueError):
        return None
    return readable(data)


def from_base85(run: str) -> str | None:
    """Ascii85 (``<~ ~>`` optional, Adobe/btoa) or the RFC 1924 / git base85 alphabet."""
    body = run
    if body.startswith("<~") and body.endswith("~>"):
        body = body[2:-2]
    for decode in (base64.a85decode, base64.b85decode):
        try:
            data = decode(body.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            continue
        text = readable(data)
        if text is not None:
            return text
    return None


def from_hex(run: str) -> str | None:
    """Hex pairs, optionally separated by spaces, colons or commas, or ``0x``-prefixed."""
    compact = re.sub(r"0x|[\s:,]", "", run)
    try:
        data = bytes.fromhex(compact)
    except ValueError:
        return None
    return readable(data)


def from_binary(run: str) -> str | None:
    """Groups of eight 0/1 digits (spaces optional)."""
    bits = re.sub(r"\s", "", run)
    if not bits or len(bits) % 8 or bits.strip("01"):
        return None
    data = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    return readable(data)


_ESCAPE = re.compile(
    r"\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2}))"
)


def from_escapes(text: str) -> str | None:
    r"""``\uXXXX``, ``\u{X}``, ``\UXXXXXXXX`` and ``\xXX`` escapes decoded in place.

    Surrogate pairs are joined; a lone surrogate or a code point past U+10FFFF becomes U+FFFD.
    ``\x`` runs are read as UTF-8 bytes.
    """
    pieces: list[str] = []
    pending: list[int] = []
    last = 0

    def flush() -> None:
        if pending:
            pieces.append(bytes(pending).decode("utf-8", errors="replace"))
            pending.clear()

    for match in _ESCAPE.finditer(text):
        if match.start() != last:
            flush()
            pieces.append(text[last : match.start()])
        last = match.end()
        if match.group(4) is not None:
            pending.append(int(match.group(4), 16))
            continue
        flush()
        point = int(match.group(1) or match.group(2) or match.group(3), 16)
        pieces.append(chr(point) if point <= 0x10FFFF else "\ufffd")
    flush()
    pieces.append(text[last:])
    joined = "".join(pieces)
    fixed = joined.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")
    return fixed if _reads_as_text(fixed) else None


def from_url(text: str) -> str | None:
    """Percent-encoding decoded (UTF-8, invalid sequences replaced)."""
    decoded = urllib.parse.unquote(text, errors="replace")
    return decoded if _reads_as_text(decoded) else None


def from_quoted_printable(text: str) -> str | None:
    """Quoted-printable (``=XX`` and soft line breaks) decoded as UTF-8."""
    try:
        data = quopri.decodestring(text.encode("utf-8", errors="surrogatepass"))
    except (ValueError, binascii.Error):
        return None
    decoded = data.decode("utf-8", errors="replace")
    return decoded if _reads_as_text(decoded) else None


def from_html_entities(text: str) -> str | None:
    """HTML character references (``&#105;``, ``&#x69;``, ``&lt;``) decoded."""
    decoded = html.unescape(text)
    return decoded if _reads_as_text(decoded) else None


Decoder = Callable[[str], "str | None"]

RUN_DECODERS: tuple[tuple[str, re.Pattern[str], Decoder], ...] = (
    ("binary", re.compile(r"(?<![01])(?:[01]{8}\s?){4,}(?![01])"), from_binary),
    (
        "hex",
        re.compile(r"(?<![0-9A-Za-z])(?:(?:0x)?[0-9a-fA-F]{2}[\s:,]{0,2}){6,}(?![0-9A-Za-z])"),
        from_hex,
    ),
    ("base32", re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}={0,6}(?![A-Za-z0-9=])"), from_base32),
    (
        "base64",
        re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{12,}={0,2}(?![A-Za-z0-9+/=_-])"),
        from_base64,
    ),
    ("base85", re.compile(r"<~[!-u\s]{5,}~>|(?<!\S)[!-~]{15,}(?!\S)"), from_base85),
)
"""Decoders of runs: (name, what a run looks like, decoder), tried in order on each run."""

WHOLE_DECODERS: tuple[tuple[str, re.Pattern[str], Decoder], ...] = (
    ("escape", re.compile(r"\\(?:u\{?[0-9a-fA-F]|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2})"), from_escapes),
    ("url", re.compile(r"%[0-9A-Fa-f]{2}"), from_url),
    ("quoted_printable", re.compile(r"=[0-9A-F]{2}|=\r?\n"), from_quoted_printable),
    (
        "html",
        re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});"),
        from_html_entities,
    ),
)
"""Decoders applied to the whole text when it holds at least ``MIN_MARKERS`` of their marker."""

MIN_MARKERS = 3
