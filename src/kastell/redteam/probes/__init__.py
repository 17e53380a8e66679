"""Probes written for Kastell, one module per attack family; registered in ``registry``."""

__all__: list[str] = []
