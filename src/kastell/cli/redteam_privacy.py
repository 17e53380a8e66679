"""``kastell redteam privacy``: canary exposure and membership inference from log-probabilities."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, note

if TYPE_CHECKING:
    from kastell.redteam.privacy import CanaryExposure, MembershipResult, SequenceScorer

__all__ = ["privacy"]

_PATH = click.Path(path_type=pathlib.Path, dir_okay=False)


@contextlib.contextmanager
def _scorer(target: str, model: str, top_k: int, timeout: float,
            max_requests: int) -> Iterator[Any]:
    from kastell.redteam.privacy_endpoint import CompletionsScorer

    if target == "local":
        from kastell.localmodel import serve_local_model

        with serve_local_model() as server, CompletionsScorer(
            server.base_url, server.model, top_k=top_k, timeout_s=timeout,
            max_requests=max_requests,
        ) as scorer:
            yield scorer
        return
    if not target.startswith(("http://", "https://")):
        from kastell.redteam.interface import RedteamUsageError

        raise RedteamUsageError(f"--target {target!r} is neither 'local' nor an http(s) URL")
    with CompletionsScorer(target, model, top_k=top_k, timeout_s=timeout,
                           max_requests=max_requests) as scorer:
        yield scorer


def _exposures(scorer: SequenceScorer, canaries_path: pathlib.Path, candidates: int,
               seed: int) -> tuple[list[CanaryExposure], list[str]]:
    from kastell.redteam.inputs import load_canaries
    from kastell.redteam.privacy import canary_exposure, hex_candidates

    rng = random.Random(seed)
    results: list[CanaryExposure] = []
    untested: list[str] = []
    for index, canary in enumerate(load_canaries(canaries_path)):
        name = f"canary-{index + 1}"
        secret = canary.get("canary")
        if secret is None:  # only a digest is known: nothing to rank
            untested.append(name)
            continue
        results.append(canary_exposure(
            scorer, canary_id=name, prefix=canary["prefix"], secret=secret,
            candidates=hex_candidates(secret, candidates, rng),
        ))
    return results, untested


def _membership(scorer: SequenceScorer, members: pathlib.Path, non_members: pathlib.Path,
                seed: int) -> MembershipResult:
    from kastell.redteam.inputs import load_records
    from kastell.redteam.privacy import membership_inference

    def pairs(path: pathlib.Path) -> list[tuple[str, str]]:
        return [(r["prefix"], r["suffix"]) for r in load_records(path)]

    return membership_inference(scorer, pairs(members), pairs(non_members), seed=seed)


@click.command()
@click.option("--target", required=True, envvar="KASTELL_REDTEAM_TARGET",
              help="OpenAI-compatible base URL with /completions and logprobs, or 'local'.")
@click.option("--model", default="default", envvar="KASTELL_REDTEAM_MODEL",
              help="Model name sent to an HTTP target.")
@click.option("--canaries", type=_PATH, default=None,
              help="Canaries (the file `kastell canary generate` writes, or JSONL) to rank.")
@click.option("--members", type=_PATH, default=None,
              help="JSONL of attested training records ({prefix, suffix} or {text}).")
@click.option("--non-members", type=_PATH, default=None,
              help="JSONL of held-out records of the same kind, never trained on.")
@click.option("--candidates", default=99, show_default=True, type=click.IntRange(9, 100_000),
              help="Random candidates each canary is ranked among (exposure <= log2(N+1)).")
@click.option("--top-k", default=20, show_default=True, type=click.IntRange(1, 100),
              help="top_logprobs asked for at each scoring step.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--timeout", default=60.0, show_default=True, type=float,
              help="Seconds per HTTP request.")
@click.option("--max-requests", default=100_000, show_default=True, type=click.IntRange(1),
              help="Budget: scoring requests in the whole measurement.")
@FORMAT_OPTION
def privacy(target: str, model: str, canaries: pathlib.Path | None,
            members: pathlib.Path | None, non_members: pathlib.Path | None, candidates: int,
            top_k: int, seed: int, timeout: float, max_requests: int,
            output_format: str) -> int:
    """Measure canary exposure and membership inference from the target's log-probabilities.

    Exit codes: 0 measured and nothing memorised, 1 a canary or the training records are
    memorised, 2 usage error, 3 a requested measure could not be taken (too few records, no
    secret in clear, endpoint without logprobs).
    """
    from kastell.redteam.interface import RedteamUsageError

    if canaries is None and members is None and non_members is None:
        raise RedteamUsageError("nothing to measure: give --canaries and/or --members with "
                                "--non-members")
    if (members is None) != (non_members is None):
        raise RedteamUsageError("membership inference needs both --members and --non-members")
    exposures: list[CanaryExposure] = []
    untested: list[str] = []
    membership: MembershipResult | None = None
    with _scorer(target, model, top_k, timeout, max_requests) as scorer:
        if canaries is not None:
            exposures, untested = _exposures(scorer, canaries, candidates, seed)
        if members is not None and non_members is not None:
            membership = _membership(scorer, members, non_members, seed)
        requests, bounded = scorer.requests, scorer.bounded_steps
    return _report(exposures, untested, membership, requests, bounded, output_format)


def _report(exposures: list[CanaryExposure], untested: list[str],
            membership: MembershipResult | None, requests: int, bounded: int,
            output_format: str) -> int:
    from kastell.redteam.privacy import PrivacyVerdict

    memorised = any(e.verdict is PrivacyVerdict.MEMORISED for e in exposures) or (
        membership is not None and membership.verdict is PrivacyVerdict.MEMORISED)
    incomplete = bool(untested) or any(
        e.verdict is PrivacyVerdict.NOT_TESTED for e in exposures) or (
        membership is not None and membership.verdict is PrivacyVerdict.NOT_TESTED)
    code = 1 if memorised else 3 if incomplete else 0
    if output_format == "json":
        emit_json({
            "canaries": [dataclasses.asdict(e) for e in exposures],
            "canaries_not_tested": untested,
            "membership": dataclasses.asdict(membership) if membership else None,
            "scoring": {"requests": requests, "bounded_steps": bounded},
            "exit_code": code,
        })
        return code
    for e in exposures:
        click.echo(f"{e.canary_id}: exposure {e.exposure_bits:.2f} of {e.max_bits:.2f} bits "
                   f"(rank {e.rank:g} of {e.candidates + 1}) -> {e.verdict}")
    for name in untested:
        click.echo(f"{name}: not tested (only a digest of the secret is known)")
    if membership is not None:
        if membership.auc is None or membership.interval is None:
            click.echo(f"membership: not tested ({membership.reason})")
        else:
            low, high = membership.interval
            click.echo(f"membership: AUC {membership.auc:.3f} [{low:.3f}, {high:.3f}] over "
                       f"{membership.members} members / {membership.non_members} held out "
                       f"-> {membership.verdict}")
    note(f"{requests} scoring requests; {bounded} steps scored at the top-k floor")
    return code
