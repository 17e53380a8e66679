"""Shared renderers: SARIF 2.1.0 and JUnit XML for CI, HTML for people."""

__all__: list[str] = []
