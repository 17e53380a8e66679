"""The pickle allowlist policy: which imported callables a model pickle may use.

A pickle names every callable it calls by ``module`` and ``name``. The policy sorts each one:

* **dangerous** (CRITICAL finding): code execution, process, file, network, import and
  reflection primitives, nested unpicklers. Users can add to this list but never remove from it.
* **allowed** (no finding): what real PyTorch, NumPy, collections, joblib and scikit-learn
  checkpoints use. Users extend it with a YAML file (``allow:`` patterns).
* anything else (HIGH finding): unknown code would run at load time.

Patterns are ``module.name`` strings; ``*`` and ``[A-Z]*`` work as in ``fnmatch``. The policy is
versioned (``POLICY_VERSION``) and the version goes into every report.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import pathlib
import re
from collections.abc import Iterable

from kastell.scan.interface import PolicyFileError

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_DANGEROUS",
    "POLICY_VERSION",
    "CallableClass",
    "PicklePolicy",
    "load_policy",
]

POLICY_VERSION = "2026.11.1"

DEFAULT_ALLOW: tuple[str, ...] = (
    # Python built-in containers and values (constructing these runs no user code)
    "builtins.object", "builtins.set", "builtins.frozenset", "builtins.bytearray",
    "builtins.slice", "builtins.complex", "builtins.range", "builtins.list", "builtins.dict",
    "builtins.tuple", "builtins.int", "builtins.float", "builtins.str", "builtins.bytes",
    "builtins.bool", "__builtin__.set", "__builtin__.object", "__builtin__.frozenset",
    "__builtin__.complex", "__builtin__.slice",
    "copyreg._reconstructor", "copy_reg._reconstructor", "_codecs.encode",
    "collections.OrderedDict", "collections.defaultdict", "collections.deque",
    "collections.Counter", "datetime.datetime", "datetime.date", "datetime.time",
    "datetime.timedelta", "datetime.timezone", "decimal.Decimal", "uuid.UUID",
    "fractions.Fraction", "enum.Enum", "pathlib.PosixPath", "pathlib.PurePosixPath",
    # NumPy arrays, dtypes, scalars, random generators, masked arrays
    "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar", "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer", "numpy.dtypes.*DType", "numpy.ma.core._mareconstruct",
    "numpy.ma.core.MaskedArray", "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor", "numpy.random._pickle.__generator_ctor",
    "numpy.random.mtrand.RandomState", "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64", "numpy.random._generator.Generator",
    "numpy.random.bit_generator.SeedSequence",
    # PyTorch checkpoints (state_dicts, tensors, parameters, storages)
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor", "torch._tensor._rebuild_from_type",
    "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter",
    "torch.*Storage", "torch.*Tensor", "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
    "torch.Size", "torch.device", "torch.dtype", "torch.float*", "torch.bfloat16",
    "torch.half", "torch.double", "torch.int*", "torch.uint*", "torch.bool", "torch.long",
    "torch.complex*", "torch.qint8", "torch.quint8", "torch.qint32", "torch.strided",
    "torch.sparse_coo", "torch.per_tensor_affine", "torch.serialization._get_layout",
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.build_tensor_from_id", "torch.jit._pickle.restore_type_tag",
    "torch.nn.modules.*.[A-Z]*", "torch.optim.*.[A-Z]*", "torch.optim.lr_scheduler.[A-Z]*",
    # joblib's wrappers of NumPy arrays written beside the pickle stream
    "joblib.numpy_pickle.NumpyArrayWrapper", "joblib.numpy_pickle.NDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    # scikit-learn estimators and their compiled helpers (classes only: CapWords names)
    "sklearn.*.[A-Z]*", "sklearn.*.__pyx_unpickle_*", "scipy.sparse.*.[a-z]*_matrix",
    "scipy.sparse.*.[a-z]*_array",
)
"""What real PyTorch, NumPy, collections, joblib and scikit-learn checkpoints use."""

DEFAULT_DANGEROUS: tuple[str, ...] = (
    "builtins.exec", "builtins.eval", "builtins.compile", "builtins.getattr",
    "builtins.setattr", "builtins.delattr", "builtins.__import__", "builtins.open",
    "builtins.input", "builtins.breakpoint", "builtins.globals", "builtins.locals",
    "builtins.vars", "builtins.memoryview", "builtins.type", "builtins.super",
    "builtins.classmethod", "builtins.staticmethod", "builtins.print", "builtins.help",
    "builtins.exit", "builtins.quit", "builtins.apply", "builtins.execfile",
    "__builtin__.*", "__builtins__.*",
    "os.*", "posix.*", "nt.*", "subprocess.*", "_posixsubprocess.*", "pty.*", "socket.*",
    "_socket.*", "importlib.*", "_imp.*", "imp.*", "runpy.*", "timeit.*", "cProfile.*",
    "profile.*", "pickle.*", "_pickle.*", "pickletools.*", "dill.*", "cloudpickle.*",
    "code.*", "codeop.*", "marshal.*", "types.*", "ctypes.*", "_ctypes.*", "shutil.*",
    "webbrowser.*", "sys.*", "operator.*", "_operator.*", "functools.*", "multiprocessing.*",
    "asyncio.*", "threading.*", "_thread.*", "signal.*", "pdb.*", "bdb.*", "trace.*",
    "inspect.*", "gc.*", "site.*", "sysconfig.*", "zipimport.*", "pkgutil.*", "linecache.*",
    "tempfile.*", "glob.*", "io.*", "_io.*", "pathlib.Path", "fileinput.*", "platform.*",
    "urllib.*", "urllib2.*", "http.*", "httplib.*", "requests.*", "httpx.*", "ftplib.*",
    "smtplib.*", "telnetlib.*", "poplib.*", "imaplib.*", "xmlrpc.*", "ssl.*", "select.*",
    "selectors.*", "socketserver.*", "pip.*", "setuptools.*", "distutils.*", "venv.*",
    "ensurepip.*", "commands.*", "popen2.*", "numpy.load", "numpy.loads", "numpy.fromfile",
    "numpy.save", "numpy.lib.npyio.*", "numpy.testing.*", "numpy.f2py.*", "numpy.distutils.*",
    "numpy.ctypeslib.*", "torch.load", "torch.save", "torch.hub.*", "torch.jit.*",
    "torch.ops.*", "torch.classes.*", "torch.utils.cpp_extension.*", "torch._C.*",
    "torch.package.*", "torch.serialization.load", "joblib.load", "joblib.dump",
    "pandas.read_pickle", "pandas.io.*", "yaml.*", "jinja2.*", "keras.*lambda*", "builtins.*",
    "base64.*", "codecs.*", "zlib.*", "bz2.*", "lzma.*", "gzip.*", "binascii.*",
)
"""Callables whose use in a model pickle is a CRITICAL finding (never allowlisted)."""

_DEFAULT_ALLOW_SET = frozenset(DEFAULT_ALLOW)
_DEFAULT_DANGEROUS_SET = frozenset(DEFAULT_DANGEROUS)


@functools.lru_cache(maxsize=64)
def _user_patterns(dangerous: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in dangerous if p not in _DEFAULT_DANGEROUS_SET)


class CallableClass:
    """How the policy classes one imported callable (string constants)."""

    ALLOWED = "allowed"
    DANGEROUS = "dangerous"
    UNLISTED = "unlisted"


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _matches(qualified: str, patterns: tuple[str, ...]) -> bool:
    return _compiled(patterns).match(qualified) is not None


@dataclasses.dataclass(frozen=True)
class PicklePolicy:
    """An allowlist of pickle callables with a hard denylist on top.

    Attributes:
        allow: patterns of allowed ``module.name`` callables.
        dangerous: patterns of callables that are always CRITICAL (checked first).
        version: the policy version written into reports.
    """

    allow: tuple[str, ...] = DEFAULT_ALLOW
    dangerous: tuple[str, ...] = DEFAULT_DANGEROUS
    version: str = POLICY_VERSION

    def classify(self, module: str, name: str) -> str:
        """Return the ``CallableClass`` of ``module.name``."""
        return _classify(self, module, name)

    def _classify(self, module: str, name: str) -> str:
        qualified = f"{module}.{name}"
        allowed_exactly = qualified in _DEFAULT_ALLOW_SET
        if "." in name:
            # a dotted qualname is a getattr chain at load time: only exact entries pass
            if any(part.startswith("__") for part in name.split(".")):
                return CallableClass.DANGEROUS
            if _matches(qualified, self.dangerous):
                return CallableClass.DANGEROUS
            exact = allowed_exactly or qualified in set(self.allow)
            return CallableClass.ALLOWED if exact else CallableClass.UNLISTED
        if not allowed_exactly and _matches(qualified, self.dangerous):
            return CallableClass.DANGEROUS
        if allowed_exactly and _matches(qualified, self._explicit_danger()):
            return CallableClass.DANGEROUS
        if allowed_exactly or _matches(qualified, self.allow):
            return CallableClass.ALLOWED
        return CallableClass.UNLISTED

    def _explicit_danger(self) -> tuple[str, ...]:
        # user-added deny patterns win even over the built-in exact allow entries
        return _user_patterns(self.dangerous)

    def with_torchscript_classes(self) -> PicklePolicy:
        """A copy that also allows ``__torch__.*`` classes (TorchScript archives only).

        In a TorchScript archive those names are resolved against the archive's own compiled
        code by the TorchScript runtime, not imported from Python modules.
        """
        return dataclasses.replace(self, allow=(*self.allow, "__torch__.*"))

    def extended(self, allow: Iterable[str], deny: Iterable[str], version: str) -> PicklePolicy:
        """A copy with user patterns added (dangerous entries stay dangerous)."""
        return dataclasses.replace(
            self,
            allow=self.allow + tuple(allow),
            dangerous=self.dangerous + tuple(deny),
            version=version,
        )


@functools.lru_cache(maxsize=4096)
def _classify(policy: PicklePolicy, module: str, name: str) -> str:
    return policy._classify(module, name)


def _patterns(document: dict[str, object], key: str, source: str) -> list[str]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyFileError(f"{source}: '{key}' must be a list of 'module.name' strings")
    for pattern in value:
        if "." not in pattern or pattern.strip() != pattern:
            raise PolicyFileError(f"{source}: pattern {pattern!r} is not a 'module.name' pattern")
    return list(value)


def load_policy(path: str | pathlib.Path | None, base: PicklePolicy | None = None) -> PicklePolicy:
    """Load a user policy file on top of the default policy.

    Args:
        path: a YAML file ``{version: 1, allow: [...], deny: [...]}``, or None for the default.
        base: the policy to extend (the default policy when None).

    Raises:
        PolicyFileError: the file is missing, not YAML, or malformed; or it tries to allow a
            callable the built-in policy classes as dangerous.
    """
    policy = base or PicklePolicy()
    if path is None:
        return policy
    import yaml

    source = str(path)
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyFileError(f"cannot read policy file {source}: {error}") from None
    except yaml.YAMLError as error:
        raise PolicyFileError(f"policy file {source} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise PolicyFileError(f"policy file {source} must be a mapping")
    unknown = set(document) - {"version", "allow", "deny"}
    if unknown:
        raise PolicyFileError(f"policy file {source} has unknown keys {sorted(unknown)}")
    if document.get("version") != 1:
        raise PolicyFileError(f"policy file {source}: 'version' must be 1")
    allow = _patterns(document, "allow", source)
    deny = _patterns(document, "deny", source)
    for pattern in allow:
        module, _, name = pattern.rpartition(".")
        if "*" not in pattern and policy.classify(module, name) == CallableClass.DANGEROUS:
            raise PolicyFileError(
                f"policy file {source} allows {pattern!r}, which is dangerous",
                hint="Dangerous callables (code execution, I/O, imports) cannot be allowlisted.",
            )
    return policy.extended(allow, deny, f"{policy.version}+user")
