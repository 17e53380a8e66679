"""Provenance: signed statements from dataset to deployment, and verification at load.

Signed dataset, training and deployment statements, chain verification against a trust
policy, canary records, and model loading that verifies what it reads.
"""
