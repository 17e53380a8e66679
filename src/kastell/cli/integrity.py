"""``kastell manifest``: a Merkle manifest of a file or directory.

Heavy modules (pydantic, the hashing engine) are imported inside the command so that
``kastell manifest --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from kastell.cli._render import FORMAT_OPTION, Progress, emit_json, note, progress
from kastell.errors import UsageError

if TYPE_CHECKING:
    from kastell.integrity.interface import HashOptions, TreeDigest

__all__ = ["manifest", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_PROGRESS_THRESHOLD = 256 * 1024 * 1024  # below this a run takes well under a second


def parse_size(text: str) -> int:
    """Parse a byte count: ``1000000``, ``64M``, ``64MiB``, ``1G`` (K/M/G/T are powers of 1024).

    Raises:
        UsageError: the text is not a size.
    """
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(
            f"invalid size {text!r}",
            hint="Give a number of bytes, optionally with K, M, G or T (powers of 1024): 64M.",
        )
    return int(match.group(1)) * _UNITS[(match.group(2) or "")[:1].lower()]


def _shown(path: str) -> str:
    """A path for one line of text output: JSON-quoted if it holds control characters."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path) or path.startswith('"'):
        return json.dumps(path, ensure_ascii=False)
    return path


@contextlib.contextmanager
def _progress(description: str, total: int) -> Iterator[Progress | None]:
    """A progress bar (on a TTY) only for runs big enough to take about a second."""
    if total < _PROGRESS_THRESHOLD:
        yield None
        return
    with progress(description, total) as advance:
        yield advance


def _self_ignores(root: str, *paths: str | None) -> tuple[str, ...]:
    """Anchored ignore patterns for our own output files when they are written inside the tree."""
    if not os.path.isdir(root):
        return ()
    real_root = os.path.realpath(root)
    patterns = []
    for path in paths:
        if path is None:
            continue
        real = os.path.realpath(path)
        if real != real_root and os.path.commonpath([real_root, real]) == real_root:
            relative = os.path.relpath(real, real_root).replace(os.sep, "/")
            patterns.append("/" + "".join(f"[{c}]" if c in "*?[" else c for c in relative))
    return tuple(patterns)


@click.command("manifest")
@click.argument("path", type=click.Path(path_type=str))
@click.option(
    "--algorithm",
    type=click.Choice(["sha256", "blake3"]),
    default="sha256",
    show_default=True,
    envvar="KASTELL_ALGORITHM",
    help="Digest algorithm (sha256 is FIPS-approved; blake3 is faster).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write the manifest JSON to this file (ignored in the tree if it lies inside it).",
)
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="PATTERN",
    help="Skip names (e.g. '*.tmp') or relative paths (e.g. 'data/raw'); repeatable. "
    "Added to the default '.git'.",
)
@click.option("--no-default-ignore", is_flag=True, help="Do not skip '.git'.")
@click.option(
    "--follow-symlinks",
    is_flag=True,
    envvar="KASTELL_FOLLOW_SYMLINKS",
    help="Hash what links point to (never outside PATH) instead of recording the links.",
)
@click.option(
    "--chunk-size",
    default="64M",
    show_default=True,
    envvar="KASTELL_CHUNK_SIZE",
    help="Chunk size for Merkle trees of large files (bytes, or 64M, 1G); 0: whole files.",
)
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False, path_type=str),
    envvar="KASTELL_DIGEST_CACHE",
    help="Reuse digests of unchanged files from this cache file, and update it.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    envvar="KASTELL_WORKERS",
    help="Hashing threads (default: one per CPU).",
)
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False, path_type=str),
    help="Instead of recording, re-hash PATH with the settings of this manifest and compare "
    "(exit 1 when a file changed, is missing or is extra). Never uses a cache.",
)
@FORMAT_OPTION
def manifest(
    path: str,
    algorithm: str,
    output: str | None,
    ignore: tuple[str, ...],
    no_default_ignore: bool,
    follow_symlinks: bool,
    chunk_size: str,
    cache_path: str | None,
    workers: int | None,
    check_path: str | None,
    output_format: str,
) -> int:
    """Write a Merkle manifest of PATH (a file or a directory), or --check one.

    Every regular file gets its digest and, when larger than the chunk size, the digests of
    its chunks under a Merkle root; the manifest has one root over all entries. Symbolic links
    are recorded, not followed, unless --follow-symlinks. Exit 0 on success (or a matching
    --check), 1 when --check finds differences, 2 on a usage error, 3 when the tree could not
    be hashed (unreadable, special file, changed meanwhile) or the manifest is malformed.
    """
    from kastell.integrity.interface import DEFAULT_IGNORE, HashOptions

    for name, value in (("--output", output), ("--cache", cache_path)):
        if (
            value is not None
            and os.path.exists(path)
            and os.path.exists(value)
            and (
                os.path.samefile(value, path)
                or (check_path and os.path.samefile(value, check_path))
            )
        ):
            raise UsageError(
                f"{name} {value} would overwrite the file being hashed or checked",
                hint=f"Give {name} a different file.",
            )
    if check_path is not None:
        if cache_path is not None:
            raise UsageError(
                "--check never uses a digest cache",
                hint="Drop --cache: a check must re-read every byte.",
            )
        return _check(path, check_path, output, workers, output_format)
    patterns = (() if no_default_ignore else DEFAULT_IGNORE) + ignore
    patterns += _self_ignores(path, output, cache_path)
    options = HashOptions(
        algorithm=algorithm,
        chunk_size=parse_size(chunk_size) or None,
        ignore=tuple(dict.fromkeys(patterns)),
        follow_symlinks=follow_symlinks,
        workers=workers,
    )
    tree = _hash(path, options, cache_path)
    _report(tree, output, output_format)
    return 0


def _hash(path: str, options: HashOptions, cache_path: str | None) -> TreeDigest:
    """Walk and hash PATH, with a progress bar on a TTY for large trees."""
    from kastell.integrity.cache import JsonDigestCache
    from kastell.integrity.hashing import hash_plan, plan_tree

    cache = JsonDigestCache.load(cache_path) if cache_path else None
    plan = plan_tree(path, options)
    with _progress("hashing", plan.total_bytes) as advance:
        tree = hash_plan(plan, options, cache=cache, on_bytes=advance)
    if cache is not None and cache_path is not None:
        cache.save(cache_path)
    return tree


def _report(tree: TreeDigest, output: str | None, output_format: str) -> None:
    from kastell.integrity.manifest import manifest_document, manifest_json

    if output is not None:
        _write(output, manifest_json(tree))
        note(f"wrote {output}: {len(tree.files)} files, {tree.total_bytes} bytes, root {tree.root}")
    if output_format == "json":
        if output is None:
            emit_json(manifest_document(tree))
        else:
            summary = {
                "root": str(tree.root),
                "output": output,
                "files": len(tree.files),
                "symlinks": len(tree.symlinks),
                "bytes": tree.total_bytes,
            }
            emit_json(summary)
        return
    for entry in tree.files:
        click.echo(f"{entry.digest}  {_shown(entry.path)}")
    for link in tree.symlinks:
        click.echo(f"symlink  {_shown(link.path)} -> {_shown(link.target)}")
    click.echo(f"root {tree.root}")


def _check(
    path: str, check_path: str, output: str | None, workers: int | None, output_format: str
) -> int:
    """Re-hash PATH as the manifest at ``check_path`` was made, and compare."""
    from pathlib import Path

    from kastell._untrusted import open_regular
    from kastell.integrity.compare import compare_trees, options_of
    from kastell.integrity.hashing import hash_plan, plan_tree
    from kastell.integrity.interface import ManifestFormatError
    from kastell.integrity.manifest import manifest_json, parse_manifest

    try:
        with open_regular(Path(check_path)) as handle:  # never blocks on a FIFO
            data = handle.read()
    except OSError as error:
        raise ManifestFormatError(
            f"cannot read manifest {check_path}: {error.strerror or error}",
            hint="Give the manifest file written by `kastell manifest --output`.",
        ) from None
    recorded = parse_manifest(data, source=check_path)
    options = options_of(recorded, workers=workers)
    plan = plan_tree(path, options)
    with _progress("checking", plan.total_bytes) as advance:
        actual = hash_plan(plan, options, on_bytes=advance, for_verification=True)
    if output is not None:
        _write(output, manifest_json(actual))
    result = compare_trees(recorded, actual)
    if output_format == "json":
        emit_json(
            {
                "matches": result.matches,
                "root": str(actual.root),
                "recorded_root": str(recorded.root),
                "changed": list(result.changed),
                "missing": list(result.missing),
                "extra": list(result.extra),
            }
        )
    else:
        for label, paths in (
            ("changed", result.changed),
            ("missing", result.missing),
            ("extra", result.extra),
        ):
            for item in paths:
                click.echo(f"{label}: {item}")
        click.echo(f"{'OK' if result.matches else 'MISMATCH'} root {actual.root}")
    return 0 if result.matches else 1


def _write(output: str, text: str) -> None:
    from kastell.integrity.interface import WriteError

    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise WriteError(f"cannot write {output}: {error.strerror or error}") from None
