"""Detectors: deterministic evidence of a successful attack (and an optional LLM judge)."""

__all__: list[str] = []
