"""Adversarial testing of LLM deployments: probes, converters, detectors, targets, runs."""

__all__: list[str] = []
