"""``kastell keygen``, ``kastell sign`` and ``kastell verify``: OpenSSF Model Signing bundles.

Heavy modules (cryptography, the hashing engine) are imported inside the commands so that
``kastell verify --help`` stays fast.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note, progress
from kastell.errors import UsageError

if TYPE_CHECKING:
    from kastell.integrity.interface import ModelVerification
    from kastell.types import Finding

__all__ = ["keygen", "read_passphrase", "sign", "verify"]

_Path = click.Path(path_type=pathlib.Path)


def read_passphrase(env_var: str | None, file: pathlib.Path | None) -> bytes | None:
    """The passphrase named by ``--passphrase-env`` or ``--passphrase-file``, if any.

    A single trailing newline of a passphrase file is dropped.

    Raises:
        UsageError: both are given, the variable is unset or empty, or the file is unreadable.
    """
    if env_var and file:
        raise UsageError(
            "give either --passphrase-env or --passphrase-file, not both",
            hint="Pick one source for the passphrase.",
        )
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise UsageError(
                f"environment variable {env_var} is not set or empty",
                hint=f"Export {env_var} with the passphrase, or use --passphrase-file.",
            )
        return value.encode("utf-8")
    if file is None:
        return None
    from kastell._untrusted import read_regular

    try:
        data = read_regular(file, limit=64 * 1024)
    except OSError as error:
        raise UsageError(
            f"cannot read passphrase file {file}: {error.strerror}",
            hint="Check the path and its permissions.",
        ) from None
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    if not data:
        raise UsageError(f"passphrase file {file} is empty", hint="Write the passphrase into it.")
    return data


def _passphrase_options(func: Any) -> Any:
    func = click.option(
        "--passphrase-file",
        type=_Path,
        help="Read the private key's passphrase from this file (one line).",
    )(func)
    return click.option(
        "--passphrase-env",
        metavar="VAR",
        help="Read the private key's passphrase from environment variable VAR.",
    )(func)


@click.command("keygen")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ecdsa-p256", "ed25519"]),
    default="ecdsa-p256",
    show_default=True,
    envvar="KASTELL_KEY_TYPE",
    help="ecdsa-p256 works with model_signing; ed25519 only with kastell.",
)
@click.option(
    "--output",
    "-o",
    "prefix",
    type=_Path,
    default=pathlib.Path("kastell-signing"),
    show_default=True,
    envvar="KASTELL_KEY_PREFIX",
    help="Write PREFIX.pem (private, mode 0600) and PREFIX.pub (public).",
)
@_passphrase_options
@click.option("--force", is_flag=True, help="Replace existing key files.")
@FORMAT_OPTION
def keygen(
    key_type: str,
    prefix: pathlib.Path,
    passphrase_env: str | None,
    passphrase_file: pathlib.Path | None,
    force: bool,
    output_format: str,
) -> int:
    """Generate a signing key pair (PEM: PKCS#8 private key, SubjectPublicKeyInfo public key)."""
    from kastell.integrity.keys import KeyAlgorithm, generate_private_key, write_key_pair

    passphrase = read_passphrase(passphrase_env, passphrase_file)
    key = generate_private_key(KeyAlgorithm(key_type))
    paths = write_key_pair(prefix, key, passphrase, force=force)
    document = {
        "private_key": str(paths.private_key),
        "public_key": str(paths.public_key),
        "algorithm": key_type,
        "key_id": key.key_id,
        "encrypted": passphrase is not None,
    }
    if output_format == "json":
        emit_json(document)
    else:
        state = "encrypted" if passphrase else "unencrypted"
        click.echo(f"private key: {paths.private_key} ({state}, mode 0600; keep it secret)")
        click.echo(f"public key:  {paths.public_key}")
        click.echo(f"key id:      {key.key_id} ({key_type})")
    return 0


def _write_signature(path: pathlib.Path, data: bytes) -> None:
    from kastell.integrity.interface import ReadError

    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ReadError(
            f"cannot write signature {path}: {error.strerror}",
            hint="Check that the directory exists and is writable.",
        ) from None


def _size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from kastell.cli.integrity import parse_size

    return None if value is None else parse_size(value)


@click.command("sign")
@click.argument("path", type=_Path)
@click.option("--key", "-k", "key_path", required=True, type=_Path, envvar="KASTELL_SIGNING_KEY",
              help="Private key (PEM) from `kastell keygen` or openssl.")
@click.option("--output", "-o", required=True, type=_Path, envvar="KASTELL_SIGNATURE",
              help="Where to write the signature (Sigstore bundle JSON).")
@click.option("--algorithm", type=click.Choice(["sha256", "blake3"]), default="sha256",
              show_default=True, envvar="KASTELL_ALGORITHM",
              help="Resource digests; model_signing's CLI verifies sha256 only.")
@click.option("--shard-size", default=None, metavar="SIZE", callback=_size_option,
              help="Sign shards of SIZE bytes (e.g. 1000000000, 256M) instead of whole files: "
              "parallel and partially checkable.")
@click.option("--ignore", "ignore_paths", multiple=True, metavar="PATH",
              help="Leave PATH (relative to the model) out of the signature; repeatable.")
@click.option("--ignore-git-paths/--no-ignore-git-paths", default=True, show_default=True,
              help="Leave out .git, .gitattributes, .github, .gitignore at the model root.")
@click.option("--allow-symlinks", is_flag=True, help="Follow links inside the model.")
@click.option("--cache", "cache_path", type=_Path, envvar="KASTELL_DIGEST_CACHE",
              help="Opt-in digest cache file for re-signing large unchanged files.")
@_passphrase_options
@FORMAT_OPTION
def sign(
    path: pathlib.Path,
    key_path: pathlib.Path,
    output: pathlib.Path,
    algorithm: str,
    shard_size: int | None,
    ignore_paths: tuple[str, ...],
    ignore_git_paths: bool,
    allow_symlinks: bool,
    cache_path: pathlib.Path | None,
    passphrase_env: str | None,
    passphrase_file: pathlib.Path | None,
    output_format: str,
) -> int:
    """Sign a model file or directory in the OpenSSF Model Signing format."""
    from kastell.integrity.keys import read_private_key
    from kastell.integrity.signing import sign_model

    _refuse_to_overwrite_model(path, output)
    key = read_private_key(key_path, read_passphrase(passphrase_env, passphrase_file))
    relative_ignores = [_relative_ignore(path, item) for item in ignore_paths]
    cache = None
    if cache_path is not None:
        from kastell.integrity.cache import JsonDigestCache

        cache = JsonDigestCache.load(cache_path) if cache_path.exists() else JsonDigestCache()
    with progress("hashing", None) as advance:
        signed = sign_model(
            path, key, algorithm=algorithm, shard_size=shard_size,
            ignore_paths=relative_ignores, ignore_git_paths=ignore_git_paths,
            allow_symlinks=allow_symlinks, signature_path=output, on_bytes=advance, cache=cache,
        )
    if cache is not None and cache_path is not None:
        cache.save(cache_path)
    _write_signature(output, signed.bundle.to_json())
    description = signed.description
    files = sorted({resource.path for resource in description.resources})
    document = {
        "signature": str(output),
        "model": description.name,
        "model_digest": str(description.digest),
        "key_id": key.key_id,
        "serialization": description.serialization.to_dict(),
        "files": files,
        "resources": len(description.resources),
    }
    if output_format == "json":
        emit_json(document)
    else:
        click.echo(f"signed {len(files)} file(s) of {description.name}: {description.digest}")
        click.echo(f"key id {key.key_id}; signature written to {output}")
    return 0


def _refuse_to_overwrite_model(model: pathlib.Path, output: pathlib.Path) -> None:
    """Refuse an --output that is the model itself or an existing non-signature file in it."""
    from kastell.integrity.bundle import parse_bundle
    from kastell.integrity.interface import MalformedBundleError, UnsupportedBundleError
    from kastell.integrity.signing import inside_model

    if not output.is_file():
        return
    if model.is_file() and output.resolve() == model.resolve():
        raise UsageError(
            f"--output {output} is the model file itself",
            hint="Write the signature next to the model, e.g. MODEL.sig.",
        )
    if not model.is_dir() or inside_model(model, output) is None:
        return
    try:
        parse_bundle(output.read_bytes())
    except (MalformedBundleError, UnsupportedBundleError, OSError):
        raise UsageError(
            f"--output {output} is a file of the model that is not a signature; "
            "refusing to overwrite it",
            hint="Choose another signature path (model.sig is usual).",
        ) from None


def _relative_ignore(model: pathlib.Path, item: str) -> str:
    """An --ignore value as a path relative to the model (absolute ones must lie inside)."""
    candidate = pathlib.Path(item)
    if not candidate.is_absolute():
        return candidate.as_posix()
    try:
        return candidate.resolve().relative_to(model.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"--ignore {item} is outside the model {model}",
            hint="Give ignore paths relative to the model directory.",
        ) from None


_MAX_SIGNATURE_BYTES = 512 * 1024 * 1024


def _read_signature(path: pathlib.Path) -> bytes:
    from kastell._untrusted import read_regular
    from kastell.integrity.interface import AccessDeniedError, PathNotFoundError, ReadError

    try:
        # one read of a regular file (a FIFO or device would block or never end)
        return read_regular(path, limit=_MAX_SIGNATURE_BYTES)
    except FileNotFoundError:
        raise PathNotFoundError(
            f"signature file {path} does not exist", hint="Check the --signature path."
        ) from None
    except PermissionError:
        raise AccessDeniedError(f"cannot read signature {path}: permission denied") from None
    except OSError as error:
        raise ReadError(f"cannot read signature {path}: {error.strerror}") from None


def _verification_document(result: ModelVerification, signature: pathlib.Path) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "signature": str(signature),
        "model": result.model_name,
        "signed_model": result.signed_name,
        "model_digest": str(result.model_digest),
        "key_id": result.key_id,
        "resources_checked": result.checked,
        "changed": list(result.changed),
        "missing": list(result.missing),
        "extra": list(result.extra),
    }


def _print_verification(result: ModelVerification) -> None:
    if result.passed:
        click.echo(
            f"OK: {result.model_name} matches its signature ({result.checked} resource(s), "
            f"key {result.key_id[:16]}, {result.model_digest})"
        )
        return
    click.echo(f"FAILED: {result.model_name} does not match its signature")
    for label, paths in (("changed", result.changed), ("missing", result.missing),
                         ("extra", result.extra)):
        for item in paths:
            click.echo(f"  {label:8} {item}")
    if result.missing and not result.changed and len(result.missing) == result.checked:
        note(f"note: none of the signed files is here; the signature is for a model named "
             f"{result.signed_name!r} (this is {result.model_name!r}): is it the right one?")
    elif result.signed_name != result.model_name:
        note(f"note: the signature names the model {result.signed_name!r}")


def _emit_findings(output_format: str, findings: Sequence[Finding]) -> None:
    from kastell import __version__
    from kastell.report.interface import ToolInfo

    tool = ToolInfo("kastell-verify", __version__)
    if output_format == "sarif":
        from kastell.report.sarif import SarifRenderer

        click.echo(SarifRenderer().render(findings, tool))
    else:
        from kastell.report.junit import JUnitRenderer

        click.echo(JUnitRenderer().render(findings, tool))


@click.command("verify")
@click.argument("path", type=_Path)
@click.option("--signature", "-s", required=True, type=_Path, envvar="KASTELL_SIGNATURE",
              help="The signature file (Sigstore bundle JSON).")
@click.option("--key", "-k", "key_paths", required=True, multiple=True, type=_Path,
              envvar="KASTELL_TRUSTED_KEYS",
              help="Trusted public key (PEM); repeat to trust several (env: colon-separated).")
@click.option("--ignore-git-paths/--no-ignore-git-paths", default=True, show_default=True,
              help="Apply the signature's recorded ignore paths as signed; --no-ignore-git-"
              "paths also checks git metadata the signature ignores (never less).")
@format_option(
    "text", "json", "sarif", "junit",
    help="Output format on stdout (sarif/junit: one finding per differing file).",
)
def verify(
    path: pathlib.Path,
    signature: pathlib.Path,
    key_paths: tuple[pathlib.Path, ...],
    ignore_git_paths: bool,
    output_format: str,
) -> int:
    """Verify a model against its signature; every file is re-read (no cache).

    Exit 0 when every file matches; 1 when the signature is not a trusted key's or files were
    changed, removed or added; 3 when the model or signature could not be read.
    """
    from kastell.integrity.interface import SignatureMismatchError
    from kastell.integrity.keys import read_public_key
    from kastell.integrity.verify import signature_finding, verification_findings, verify_model

    keys = [read_public_key(key_path) for key_path in key_paths]
    bundle = _read_signature(signature)
    try:
        with progress("verifying", None) as advance:
            result = verify_model(
                path, bundle, keys, signature_path=signature,
                ignore_git_paths=ignore_git_paths, on_bytes=advance,
            )
    except SignatureMismatchError as error:
        if output_format not in ("sarif", "junit"):
            raise
        note(f"error: {error.message}")
        _emit_findings(output_format, [signature_finding(error, str(signature))])
        return 1
    if output_format == "json":
        emit_json(_verification_document(result, signature))
    elif output_format == "text":
        _print_verification(result)
    else:
        _emit_findings(output_format, verification_findings(result, str(path)))
    return 0 if result.passed else 1
