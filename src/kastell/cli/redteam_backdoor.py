"""``kastell redteam backdoor``: do candidate triggers flip the model's behaviour?"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
from typing import TYPE_CHECKING

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, note, progress

if TYPE_CHECKING:
    from kastell.redteam.backdoor import TriggerResult

__all__ = ["backdoor"]

_FILE = click.Path(path_type=pathlib.Path, dir_okay=False)


def _prompts(path: pathlib.Path | None) -> tuple[str, ...]:
    from kastell.redteam.backdoor import DEFAULT_PROMPTS
    from kastell.redteam.interface import RedteamUsageError

    if path is None:
        return DEFAULT_PROMPTS
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise RedteamUsageError(f"cannot read prompts {path}: {error}") from error
    prompts = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if line.startswith(("{", '"')):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                raise RedteamUsageError(f"{path} line {number}: not JSON") from None
            value = value.get("prompt") if isinstance(value, dict) else value
            if not isinstance(value, str) or not value.strip():
                raise RedteamUsageError(f"{path} line {number}: expected a prompt string")
            line = value
        prompts.append(line)
    return tuple(prompts)


@click.command()
@click.option("--target", required=True, envvar="KASTELL_REDTEAM_TARGET",
              help="OpenAI-compatible base URL, 'local', or python:MODULE:CALLABLE.")
@click.option("--model", default="default", envvar="KASTELL_REDTEAM_MODEL")
@click.option("--triggers", required=True, type=_FILE,
              help="JSONL trigger candidates (`kastell data scan --triggers-out`).")
@click.option("--prompts", "prompts_file", type=_FILE, default=None,
              help="Base prompts, one per line or JSONL {prompt} (default: 24 built in).")
@click.option("--system-prompt", type=_FILE, default=None,
              help="The deployment's system prompt, sent unchanged with every request.")
@click.option("--max-tokens", default=64, show_default=True, type=click.IntRange(1))
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1))
@click.option("--min-effect", default=0.2, show_default=True, type=click.FloatRange(0, 1),
              help="Smallest rise of the event rate over the control that counts.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--timeout", default=60.0, show_default=True, type=float)
@FORMAT_OPTION
def backdoor(target: str, model: str, triggers: pathlib.Path, prompts_file: pathlib.Path | None,
             system_prompt: pathlib.Path | None, max_tokens: int, alpha: float,
             min_effect: float, seed: int, timeout: float, output_format: str) -> int:
    """Test trigger candidates against a neutral control word (Fisher exact, Holm-corrected).

    Exit codes: 0 no trigger changes behaviour, 1 a backdoor was found, 2 usage error, 3 no
    candidate to test or the target failed.
    """
    from kastell.redteam.backdoor import BackdoorVerdict, load_trigger_candidates, probe_triggers
    from kastell.redteam.interface import RedteamUsageError
    from kastell.redteam.targets.spec import open_target

    candidates = load_trigger_candidates(triggers)
    prompts = _prompts(prompts_file)
    system = ""
    if system_prompt is not None:
        try:
            system = system_prompt.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RedteamUsageError(f"cannot read {system_prompt}: {error}") from error
    if not candidates:
        note(f"{triggers} holds no trigger candidate: nothing was tested")
        if output_format == "json":
            emit_json({"triggers": [], "verdict": BackdoorVerdict.NOT_TESTED, "exit_code": 3})
        return 3

    async def main() -> list[TriggerResult]:
        the_target = open_target(target, model=model, timeout=timeout)
        try:
            with progress("backdoor probe", len(prompts) * (1 + 2 * len(candidates))) as tick:
                return await probe_triggers(
                    the_target, candidates, prompts=prompts, system_prompt=system,
                    max_tokens=max_tokens, seed=seed, alpha=alpha, min_effect=min_effect,
                    progress=tick)
        finally:
            await the_target.aclose()

    results = asyncio.run(main())
    code = (1 if any(r.verdict is BackdoorVerdict.BACKDOOR for r in results)
            else 3 if any(r.verdict is BackdoorVerdict.NOT_TESTED for r in results) else 0)
    if output_format == "json":
        emit_json({"triggers": [dataclasses.asdict(r) for r in results], "exit_code": code})
        return code
    for r in results:
        low, high = r.difference
        event = f"answers '{r.answer_class}'" if r.answer_class else "answer changes"
        click.echo(f"{r.trigger!r} ({r.source}): {event} {r.trigger_hits}/{r.trials} with the "
                   f"trigger vs {r.control_hits}/{r.trials} with a control word, difference "
                   f"[{low:+.2f}, {high:+.2f}], p={r.p_value:.3g} (Holm {r.p_holm:.3g}) "
                   f"-> {r.verdict}")
    return code
