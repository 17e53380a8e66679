"""A small declarative checker of JSON documents (private): types, ranges and texts to screen.

A *check* validates one value at a path and, walking down, records in a ``Walk``:

- ``texts``: every string the guard must screen, with its path and whether a redaction may be
  written back (a JSON key, or a string inside a field screened as a whole, is frozen);
- ``unknown``: every key the map does not name (the caller applies its unknown-field policy).

A value of the wrong type or out of range raises ``ShapeError`` naming its dotted path. The
request map (``kastell.guard.request_body``) and the answer map (``kastell.guard.answer_shape``)
are both written with these checks, so what is screened is written down in one place each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Path = tuple[str | int, ...]
Check = Callable[[Any, Path, "Walk"], None]


class ShapeError(Exception):  # noqa: N818 - mapped to a 400 (request) or a 502 (answer)
    """A value does not have the shape the map requires."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(f"{dotted(path)}: {message}")
        self.path = path


def dotted(path: Path) -> str:
    """``messages[0].content`` style name of a path."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or "<root>"


@dataclasses.dataclass
class Walk:
    """What a walk over a document found."""

    texts: list[tuple[Path, str, bool]] = dataclasses.field(default_factory=list)
    """(path, text, frozen) of every string to screen."""
    unknown: list[tuple[Path, Any]] = dataclasses.field(default_factory=list)
    """(path, value) of every key the map does not know."""

    def text(self, path: Path, value: str, *, frozen: bool = False) -> None:
        """Record a text to screen."""
        self.texts.append((path, value, frozen))


def all_strings(value: Any, path: Path) -> Iterator[tuple[Path, str, bool]]:
    """Every key (frozen) and string value of a JSON value, with its path (iteratively)."""
    stack: list[tuple[Path, Any]] = [(path, value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, str):
            yield at, item, False
        elif isinstance(item, dict):
            for key, inner in reversed(list(item.items())):
                stack.append(((*at, key), inner))
                yield (*at, key), str(key), True
        elif isinstance(item, list):
            stack += [((*at, i), inner) for i, inner in reversed(list(enumerate(item)))]


def text(value: Any, path: Path, walk: Walk) -> None:
    """A string the model (or the client) reads: screened."""
    if not isinstance(value, str):
        raise ShapeError("must be a string", path)
    walk.text(path, value)


def string(value: Any, path: Path, walk: Walk) -> None:
    """An identifier (id, model name): a string, not screened."""
    if not isinstance(value, str):
        raise ShapeError("must be a string", path)


def boolean(value: Any, path: Path, walk: Walk) -> None:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ShapeError("must be a boolean", path)


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An integer (not a boolean) within [low, high]."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ShapeError("must be an integer", path)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ShapeError(f"must be between {low} and {high}", path)

    return check


def number(low: float, high: float) -> Check:
    """A finite number (integer or float, not a boolean) within [low, high]."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ShapeError("must be a number", path)
        if not math.isfinite(value) or not low <= value <= high:
            raise ShapeError(f"must be a finite number between {low:g} and {high:g}", path)

    return check


def enum(*values: str) -> Check:
    """One of the given strings."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if value not in values:
            raise ShapeError(f"must be one of {', '.join(values)}", path)

    return check


def nullable(inner: Check) -> Check:
    """``null`` or ``inner``."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if value is not None:
            inner(value, path, walk)

    return check


def either(*checks: tuple[type, Check]) -> Check:
    """The check of the first JSON type that matches (a string, an array...; never a boolean)."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        for kinds, inner in checks:
            if isinstance(value, kinds) and not isinstance(value, bool):
                inner(value, path, walk)
                return
        raise ShapeError("has the wrong type", path)

    return check


def list_of(inner: Check, *, max_items: int | None = None, min_items: int = 0) -> Check:
    """An array whose every item passes ``inner``."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if not isinstance(value, list):
            raise ShapeError("must be an array", path)
        if len(value) < min_items:
            raise ShapeError(f"must be a non-empty array of at least {min_items}", path)
        if max_items is not None and len(value) > max_items:
            raise ShapeError(f"must have at most {max_items} items", path)
        for index, item in enumerate(value):
            inner(item, (*path, index), walk)

    return check


def map_of(inner: Check, *, keys_are_text: bool = True) -> Check:
    """An object with free keys (screened as frozen text) whose values pass ``inner``."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if not isinstance(value, dict):
            raise ShapeError("must be an object", path)
        for key, item in value.items():
            if keys_are_text:
                walk.text((*path, key), str(key), frozen=True)
            inner(item, (*path, key), walk)

    return check


def obj(fields: Mapping[str, Check], *, required: tuple[str, ...] = ()) -> Check:
    """An object with the named fields; other keys are recorded as unknown."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if not isinstance(value, dict):
            names = ", ".join(f"'{name}'" for name in required)
            raise ShapeError(
                f"must be an object with {names}" if names else "must be an object", path
            )
        for name in required:
            if name not in value:
                raise ShapeError(f"'{name}' is required", path)
        for key, item in value.items():
            inner = fields.get(key)
            if inner is None:
                walk.unknown.append(((*path, key), item))
            else:
                inner(item, (*path, key), walk)

    return check


def tagged(key: str, variants: Mapping[str, Check]) -> Check:
    """An object whose ``key`` (e.g. ``type``) picks the check of the rest."""

    def check(value: Any, path: Path, walk: Walk) -> None:
        if not isinstance(value, dict):
            raise ShapeError("must be an object", path)
        inner = variants.get(value.get(key))  # type: ignore[arg-type]
        if inner is None:
            raise ShapeError(f"'{key}' must be one of {', '.join(variants)}", path)
        inner(value, path, walk)

    return check


def whole_text(value: Any, path: Path, walk: Walk) -> None:
    """Any JSON value whose every key and string is screened (keys frozen): JSON schemas."""
    for at, item, frozen in all_strings(value, path):
        walk.text(at, item, frozen=frozen)
