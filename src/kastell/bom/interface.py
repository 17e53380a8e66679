"""Interfaces, result types and errors of the AI-BOM capability.

Error tree (each concrete error also inherits one outcome class from ``kastell.errors``)::

    BomError(KastellError)
     ├── BomUsageError(UsageError)              bad option, model card or input file
     ├── BomMismatchError(VerificationError)    model files differ from the signed digests
     └── BomSchemaError(CheckError)             the produced BOM does not validate (a bug)
"""

from __future__ import annotations

import dataclasses

from kastell.errors import CheckError, KastellError, UsageError, VerificationError

__all__ = [
    "BomError",
    "BomMismatchError",
    "BomSchemaError",
    "BomUsageError",
    "PythonPackage",
]


class BomError(KastellError):
    """Base of every error the AI-BOM capability raises."""


class BomUsageError(BomError, UsageError):
    """An option, model card or input file is wrong."""

    default_hint = "Check the options and the input files named in the message."


class BomMismatchError(BomError, VerificationError):
    """The model directory differs from what its signature says."""

    default_hint = (
        "The BOM must describe the signed model: restore the signed files or re-sign the model."
    )


class BomSchemaError(BomError, CheckError):
    """The BOM Kastell produced does not validate against the CycloneDX 1.6 schema."""

    default_hint = "This is a bug in Kastell; report it with the model card you used."


@dataclasses.dataclass(frozen=True, order=True)
class PythonPackage:
    """An installed Python distribution of the serving environment."""

    name: str
    version: str
