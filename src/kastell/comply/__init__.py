"""Compliance: control catalog, evidence store, control evaluation, assessment, incidents."""

__all__: list[str] = []
