"""The provenance test fixtures (keys, a signed chain), shared with the attack suites.

``tests/provenance/conftest.py`` builds them; this module loads it by path so the attack files
use exactly the same chain without a copy, and adds a watchdog for code that could block.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

_SPEC = importlib.util.spec_from_file_location(
    "_kastell_attack_provenance_conftest",
    Path(__file__).resolve().parents[1] / "provenance" / "conftest.py",
)
assert _SPEC is not None
assert _SPEC.loader is not None
conftest = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = conftest  # dataclasses look their module up while being built
_SPEC.loader.exec_module(conftest)


class HangError(Exception):
    """Raised by the watchdog: the code under test blocked (for example opening a FIFO)."""


@contextlib.contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail instead of blocking forever: SIGALRM interrupts a blocking open() or read()."""

    fired: list[bool] = []

    def _alarm(signum: int, frame: FrameType | None) -> None:
        fired.append(True)
        raise HangError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # the code under test caught the HangError and carried on: still a hang
        raise HangError(f"blocked for {seconds} s (the interruption was swallowed)")
