from __future__ import annotations

import pytest

from kastell.errors import CheckError, ExitCode, KastellError, UsageError, VerificationError


@pytest.mark.parametrize(
    ("error_type", "code"),
    [(UsageError, 2), (VerificationError, 1), (CheckError, 3), (KastellError, 3)],
)
def test_exit_codes(error_type: type[KastellError], code: int) -> None:
    error = error_type("boom")
    assert int(error.exit_code) == code
    assert error.diagnostics()  # every error says what to do next


def test_hint_overrides_default() -> None:
    assert UsageError("x", hint="do this").diagnostics() == "do this"


def test_exit_code_values() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]
