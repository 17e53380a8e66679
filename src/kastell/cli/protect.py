"""``kastell protect``: encrypt datasets at rest, decrypt, re-key and check them."""

from __future__ import annotations

import pathlib
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, note, progress

__all__ = ["protect"]

_KEK_HELP = "Key-encryption-key file (from `kastell protect keygen`)."
_PATH = click.Path(path_type=pathlib.Path)


def _dir_size(path: pathlib.Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _summary(manifest: Any) -> dict[str, Any]:
    return {
        "kek_id": manifest.kek_id,
        "dataset_id": manifest.dataset_id,
        "epoch": manifest.epoch,
        "generation": manifest.generation,
        "chunk_size": manifest.chunk_size,
        "files": [entry.model_dump() for entry in manifest.files],
    }


def _signing_options(func: Any) -> Any:
    func = click.option(
        "--passphrase-file", type=_PATH, help="Read the signing key's passphrase from this file."
    )(func)
    func = click.option(
        "--passphrase-env", metavar="VAR", help="Read the signing key's passphrase from VAR."
    )(func)
    return click.option(
        "--signing-key", required=True, type=_PATH, envvar="KASTELL_PROTECT_SIGNING_KEY",
        help="The data owner's private key (PEM, from `kastell keygen`); signs the manifest.",
    )(func)


_TRUSTED = click.option(
    "--trusted-key", "trusted_key", multiple=True, type=_PATH,
    envvar="KASTELL_PROTECT_TRUSTED_KEY",
    help="Public key of the data owner (PEM); the manifest must be signed by one. Repeatable.",
)


_MIN_GENERATION = click.option(
    "--min-generation", type=click.IntRange(0), default=0, show_default=True,
    envvar="KASTELL_PROTECT_MIN_GENERATION",
    help="Refuse a manifest older than this key generation (a rolled-back folder).",
)


def _signer(path: pathlib.Path, passphrase_env: str | None, passphrase_file: Any) -> Any:
    from kastell.cli.signing import read_passphrase
    from kastell.integrity.keys import read_private_key

    return read_private_key(path, read_passphrase(passphrase_env, passphrase_file))


def _trusted(paths: tuple[pathlib.Path, ...]) -> list[Any]:
    from kastell.errors import UsageError
    from kastell.integrity.keys import read_public_key

    if not paths:
        raise UsageError(
            "no trusted key given",
            hint="Pass the data owner's public key with --trusted-key OWNER.pub.",
        )
    return [read_public_key(path) for path in paths]


@click.group()
def protect() -> None:
    """Encrypt datasets at rest (chunked AES-256-GCM, envelope keys, signed manifests)."""


@protect.command()
@click.option("--output", "-o", required=True, type=_PATH)
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
@click.argument("source", type=_PATH)
@click.option("--kek", required=True, envvar="KASTELL_KEK", type=click.Path(), help=_KEK_HELP)
@click.option("--output", "-o", required=True, type=_PATH)
@click.option("--chunk-size", default=4 * 1024 * 1024, show_default=True, type=int)
@_signing_options
@FORMAT_OPTION
def encrypt(
    source: pathlib.Path,
    kek: str,
    output: pathlib.Path,
    chunk_size: int,
    signing_key: pathlib.Path,
    passphrase_env: str | None,
    passphrase_file: pathlib.Path | None,
    output_format: str,
) -> int:
    """Encrypt a file or directory SOURCE into the new directory OUTPUT, with a signed manifest."""
    from kastell.protect import LocalKeyFile, encrypt_tree

    provider = LocalKeyFile.load(kek)
    signer = _signer(signing_key, passphrase_env, passphrase_file)
    total = _dir_size(source) if source.exists() else 0
    with progress("encrypting", total) as advance:
        manifest = encrypt_tree(
            source, output, provider, signer, chunk_size=chunk_size, on_progress=advance
        )
    if output_format == "json":
        emit_json(_summary(manifest))
    else:
        click.echo(
            f"encrypted {len(manifest.files)} file(s) into {output} under {provider.key_id}; "
            f"manifest signed by {signer.key_id[:16]}"
        )
    return 0


@protect.command()
@click.argument("source", type=_PATH)
@click.option("--kek", required=True, envvar="KASTELL_KEK", type=click.Path(), help=_KEK_HELP)
@click.option("--output", "-o", required=True, type=_PATH)
@_TRUSTED
@_MIN_GENERATION
@FORMAT_OPTION
def decrypt(
    source: pathlib.Path,
    kek: str,
    output: pathlib.Path,
    trusted_key: tuple[pathlib.Path, ...],
    min_generation: int,
    output_format: str,
) -> int:
    """Decrypt the encrypted dataset SOURCE into OUTPUT, checking signature and every chunk."""
    from kastell.protect import LocalKeyFile, decrypt_tree

    provider = LocalKeyFile.load(kek)
    keys = _trusted(trusted_key)
    with progress("decrypting", _dir_size(source) if source.exists() else 0) as advance:
        manifest = decrypt_tree(
            source, output, provider, keys, min_generation=min_generation, on_progress=advance
        )
    if output_format == "json":
        emit_json(_summary(manifest))
    else:
        click.echo(f"decrypted {len(manifest.files)} file(s) into {output}; all digests match")
    return 0


@protect.command()
@click.argument("source", type=_PATH)
@click.option("--old-kek", required=True, type=click.Path(), help="The current KEK file.")
@click.option("--new-kek", required=True, type=click.Path(), help="The KEK to re-wrap under.")
@click.option(
    "--rekey", is_flag=True,
    help="Also re-encrypt every file under fresh data keys (when a data key may have leaked).",
)
@_signing_options
@_TRUSTED
@FORMAT_OPTION
def rotate(
    source: pathlib.Path,
    old_kek: str,
    new_kek: str,
    rekey: bool,
    signing_key: pathlib.Path,
    passphrase_env: str | None,
    passphrase_file: pathlib.Path | None,
    trusted_key: tuple[pathlib.Path, ...],
    output_format: str,
) -> int:
    """Re-wrap every data key of SOURCE under a new KEK (--rekey: re-encrypt the data too).

    Crash-safe: run the same command again after an interruption.
    """
    from kastell.protect import LocalKeyFile, rotate_tree

    signer = _signer(signing_key, passphrase_env, passphrase_file)
    keys = _trusted(trusted_key) if trusted_key else [signer.public_key]
    with progress("re-keying" if rekey else "rotating", _dir_size(source) if rekey else 0) as tick:
        manifest = rotate_tree(
            source, LocalKeyFile.load(old_kek), LocalKeyFile.load(new_kek), signer,
            trusted_keys=keys, rekey=rekey, on_progress=tick,
        )
    if output_format == "json":
        emit_json(_summary(manifest))
    else:
        what = "re-encrypted" if rekey else "re-wrapped the data keys of"
        click.echo(
            f"{what} {len(manifest.files)} file(s) under {manifest.kek_id} "
            f"(generation {manifest.generation}, epoch {manifest.epoch})"
        )
    return 0


@protect.command()
@click.argument("source", type=_PATH)
@_TRUSTED
@_MIN_GENERATION
@FORMAT_OPTION
def verify(
    source: pathlib.Path,
    trusted_key: tuple[pathlib.Path, ...],
    min_generation: int,
    output_format: str,
) -> int:
    """Check SOURCE against its signed manifest without any KEK (exit 1 on a mismatch)."""
    from kastell.protect import verify_tree

    keys = _trusted(trusted_key)
    with progress("verifying", _dir_size(source) if source.is_dir() else 0) as advance:
        result = verify_tree(
            source, keys, min_generation=min_generation, on_progress=advance
        )
    problems = result.problems
    if output_format == "json":
        emit_json(
            {
                "ok": not problems,
                "kek_id": result.manifest.kek_id,
                "signed_by": result.signer_key_id,
                "generation": result.manifest.generation,
                "epoch": result.manifest.epoch,
                "files": len(result.manifest.files),
                "problems": list(problems),
            }
        )
    else:
        for problem in problems:
            click.echo(problem)
        if problems:
            note(f"{len(problems)} problem(s) in {source}")
        else:
            click.echo(
                f"{len(result.manifest.files)} encrypted file(s) match the manifest signed by "
                f"{result.signer_key_id[:16]}"
            )
    return 1 if problems else 0


@protect.command()
@click.argument("source", type=_PATH)
@click.option("--kek", required=True, envvar="KASTELL_KEK", type=click.Path(), help=_KEK_HELP)
@click.option("--output", "-o", required=True, type=_PATH)
@_signing_options
@FORMAT_OPTION
def migrate(
    source: pathlib.Path,
    kek: str,
    output: pathlib.Path,
    signing_key: pathlib.Path,
    passphrase_env: str | None,
    passphrase_file: pathlib.Path | None,
    output_format: str,
) -> int:
    """Re-encrypt a v1 (unsigned) encrypted folder SOURCE into a signed v2 folder OUTPUT.

    The v1 manifest cannot be authenticated: compare the SHA-256 printed with a trusted record.
    """
    from kastell.protect.keys import LocalKeyFile
    from kastell.protect.migration import migrate_tree

    provider = LocalKeyFile.load(kek)
    signer = _signer(signing_key, passphrase_env, passphrase_file)
    with progress("migrating", _dir_size(source) if source.is_dir() else 0) as advance:
        result = migrate_tree(source, output, provider, signer, on_progress=advance)
    if output_format == "json":
        emit_json({**_summary(result.manifest), "v1_manifest_sha256": result.v1_manifest_sha256})
    else:
        note(
            f"the v1 manifest was not signed: check that its SHA-256 "
            f"{result.v1_manifest_sha256} matches a record you trust"
        )
        click.echo(
            f"migrated {len(result.manifest.files)} file(s) into {output} (signed v2 format)"
        )
    return 0
