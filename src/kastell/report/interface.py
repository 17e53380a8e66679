"""Interface of the report renderers.

Renderers are pure: they take result values and return text. Writing files is the caller's job.

Errors::

    KastellError
     └── ReportError (CheckError)   a report could not be rendered
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from kastell.errors import CheckError
from kastell.types import Finding

__all__ = ["FindingsRenderer", "ReportError", "ToolInfo"]


class ReportError(CheckError):
    """A report could not be rendered."""


@dataclasses.dataclass(frozen=True)
class ToolInfo:
    """The tool that produced the findings (named in SARIF ``tool.driver``)."""

    name: str
    version: str
    information_uri: str = "https://github.com/kastell/kastell"


class FindingsRenderer(Protocol):
    """Turns findings into a document for CI systems."""

    def render(self, findings: Sequence[Finding], tool: ToolInfo) -> str:
        """Return the document text."""
        ...
