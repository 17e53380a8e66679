"""``kastell protect``: encrypt datasets at rest, decrypt, re-key and check them."""

from __future__ import annotations

import pathlib
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, note, progress

__all__ = ["protect"]

_KEK_HELP = "Key-encryption-key file (from `kastell protect keygen`)."


def _dir_size(path: pathlib.Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _summary(manifest: Any) -> dict[str, Any]:
    return {
        "kek_id": manifest.kek_id,
        "chunk_size": manifest.chunk_size,
        "files": [entry.model_dump() for entry in manifest.files],
    }


@click.group()
def protect() -> None:
    """Encrypt datasets at rest (chunked AES-256-GCM, envelope keys) and manage their keys."""


@protect.command()
@click.option("--output", "-o", required=True, type=click.Path(path_type=pathlib.Path))
@click.option("--force", is_flag=True, help="Replace an existing file.")
@FORMAT_OPTION
def keygen(output: pathlib.Path, force: bool, output_format: str) -> int:
    """Create a random 256-bit key-encryption key in a file with mode 0600."""
    from kastell.protect import generate_kek_file

    provider = generate_kek_file(output, force=force)
    if output_format == "json":
        emit_json({"path": str(output), "kek_id": provider.key_id})
    else:
        click.echo(f"wrote KEK {provider.key_id} to {output} (mode 0600): keep it secret")
    return 0


@protect.command()
@click.argument("source", type=click.Path(path_type=pathlib.Path))
@click.option("--kek", required=True, envvar="KASTELL_KEK", type=click.Path(), help=_KEK_HELP)
@click.option("--output", "-o", required=True, type=click.Path(path_type=pathlib.Path))
@click.option("--chunk-size", default=4 * 1024 * 1024, show_default=True, type=int)
@FORMAT_OPTION
def encrypt(
    source: pathlib.Path, kek: str, output: pathlib.Path, chunk_size: int, output_format: str
) -> int:
    """Encrypt a file or directory SOURCE into the directory OUTPUT, with a manifest."""
    from kastell.protect import LocalKeyFile, encrypt_tree

    provider = LocalKeyFile.load(kek)
    total = _dir_size(source) if source.exists() else 0
    with progress("encrypting", total) as advance:
        manifest = encrypt_tree(
            source, output, provider, chunk_size=chunk_size, on_progress=advance
        )
    if output_format == "json":
        emit_json(_summary(manifest))
    else:
        click.echo(f"encrypted {len(manifest.files)} file(s) into {output} under {provider.key_id}")
    return 0


@protect.command()
@click.argument("source", type=click.Path(path_type=pathlib.Path))
@click.option("--kek", required=True, envvar="KASTELL_KEK", type=click.Path(), help=_KEK_HELP)
@click.option("--output", "-o", required=True, type=click.Path(path_type=pathlib.Path))
@FORMAT_OPTION
def decrypt(source: pathlib.Path, kek: str, output: pathlib.Path, output_format: str) -> int:
    """Decrypt the encrypted dataset SOURCE into OUTPUT, authenticating every chunk."""
    from kastell.protect import LocalKeyFile, decrypt_tree

    provider = LocalKeyFile.load(kek)
    with progress("decrypting", _dir_size(source) if source.exists() else 0) as advance:
        manifest = decrypt_tree(source, output, provider, on_progress=advance)
    if output_format == "json":
        emit_json(_summary(manifest))
    else:
        click.echo(f"decrypted {len(manifest.files)} file(s) into {output}; all digests match")
    return 0


@protect.command()
@click.argument("source", type=click.Path(path_type=pathlib.Path))
@click.option("--old-kek", required=True, type=click.Path(), help="The current KEK file.")
@click.option("--new-kek", required=True, type=click.Path(), help="The KEK to re-wrap under.")
@FORMAT_OPTION
def rotate(source: pathlib.Path, old_kek: str, new_kek: str, output_format: str) -> int:
    """Re-wrap every data key of SOURCE under a new KEK, without re-encrypting data."""
    from kastell.protect import LocalKeyFile, rotate_tree

    manifest = rotate_tree(source, LocalKeyFile.load(old_kek), LocalKeyFile.load(new_kek))
    if output_format == "json":
        emit_json(_summary(manifest))
    else:
        click.echo(f"re-wrapped {len(manifest.files)} data key(s) under {manifest.kek_id}")
    return 0


@protect.command()
@click.argument("source", type=click.Path(path_type=pathlib.Path))
@FORMAT_OPTION
def verify(source: pathlib.Path, output_format: str) -> int:
    """Check an encrypted dataset against its manifest without any key (exit 1 on mismatch)."""
    from kastell.protect import load_manifest, verify_tree

    manifest = load_manifest(source)
    with progress("verifying", _dir_size(source)) as advance:
        problems = verify_tree(source, on_progress=advance)
    if output_format == "json":
        emit_json({"ok": not problems, "kek_id": manifest.kek_id, "problems": problems})
    else:
        for problem in problems:
            click.echo(problem)
        if problems:
            note(f"{len(problems)} problem(s) in {source}")
        else:
            click.echo(f"{len(manifest.files)} encrypted file(s) match the manifest")
    return 1 if problems else 0
