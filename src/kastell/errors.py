"""The error tree shared by every Kastell capability.

Every error Kastell raises on purpose is a ``KastellError``. Each one says what went wrong
(``str(error)``) and what to do next (``diagnostics()``), and maps to one process exit code::

    KastellError                      (exit 3 unless a subclass says otherwise)
     ├── UsageError                   exit 2: the input, option or config is wrong
     ├── VerificationError          exit 1: we checked, and the check failed
     └── CheckError                   exit 3: we could not check (I/O, malformed data, infra)

Each capability defines its own base error in its ``interface.py`` (for example
``IntegrityError``) and concrete errors that inherit from both that base and one of the three
categories above, so callers can catch by capability or by outcome.
"""

from __future__ import annotations

import enum

__all__ = [
    "CheckError",
    "ExitCode",
    "KastellError",
    "UsageError",
    "VerificationError",
]


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``kastell`` command (documented in the README)."""

    OK = 0
    """Clean: every check passed."""
    FAILED = 1
    """Findings, a failed verification or a failed gate."""
    USAGE = 2
    """Usage error: bad option, bad input file, invalid configuration."""
    INCOMPLETE = 3
    """Could not check: tool, input or infrastructure error, or an incomplete run."""


class KastellError(Exception):
    """Base of every error Kastell raises deliberately.

    Args:
        message: one line saying what went wrong.
        hint: what the user should do next; overrides the class default.
    """

    exit_code: ExitCode = ExitCode.INCOMPLETE
    default_hint: str = "Run again with --verbose for details."

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._hint = hint

    def diagnostics(self) -> str:
        """Return an actionable text: what to do next about this error."""
        return self._hint if self._hint is not None else self.default_hint


class UsageError(KastellError):
    """The user's input, option or configuration is wrong (exit 2)."""

    exit_code = ExitCode.USAGE
    default_hint = "Check the command's options with --help."


class VerificationError(KastellError):
    """A check ran to completion and failed (exit 1)."""

    exit_code = ExitCode.FAILED
    default_hint = "Inspect the listed differences; do not use the artefact until explained."


class CheckError(KastellError):
    """The check could not be carried out (exit 3); the result is unknown, never a pass."""

    exit_code = ExitCode.INCOMPLETE
    default_hint = "Fix the cause (file access, format, service) and run the check again."
