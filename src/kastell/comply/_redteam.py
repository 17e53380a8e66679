"""The red-team step: run the declared suite against the target and apply its gates.

Wired to ``kastell.redteam``'s library API; until that API exists in this build the step
raises ``StepUnavailableError`` (reported as "not checked", never as a pass).
"""

from __future__ import annotations

import datetime as dt

from kastell.comply.descriptor import Descriptor
from kastell.comply.interface import StepResult, StepUnavailableError
from kastell.types import Subject


def run_redteam_step(d: Descriptor, now: dt.datetime, subject: Subject | None) -> StepResult:
    """Run the red-team suite named in the descriptor."""
    raise StepUnavailableError(
        "the red-team runner library API is not available in this build",
        hint="Run `kastell redteam` separately until assess is wired to it.",
    )
