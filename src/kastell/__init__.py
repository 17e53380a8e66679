"""Kastell: security evidence for LLM deployments in the EU.

Kastell turns the security obligations of the EU AI Act, NIS2 and the Cyber Resilience Act into
evidence a machine can check and an auditor can read: signed model manifests, provenance chains,
model-file scans, red-team runs, a guarded gateway with a tamper-evident log, and a compliance
assessment over all of them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
