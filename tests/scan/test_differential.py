"""Loader-differential harness: whatever the real loader runs, Kastell must report.

Hypothesis draws structural variants (``_variants``) of pickle, joblib and torch files around
a marker payload; one child process per batch loads every file with the real loader
(``pickle.load``, ``joblib.load``, ``torch.load(weights_only=False)``) and says which markers
appeared. For each marker that appeared, Kastell's verdict must not be ``clean`` (exit 1).

``make test`` runs a small fixed sample (``KASTELL_DIFF_EXAMPLES``, default 1 batch of 6 per
format, derandomized); the long run is ``benchmarks/scan_differential.py``.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.scan import Verdict, scan_file

from ._variants import Variant, build, variants

BATCH = 6
EXAMPLES = int(os.environ.get("KASTELL_DIFF_EXAMPLES", "1"))

_CHILD = """
import json, sys
loader, paths = sys.argv[1], sys.argv[2:]
def load(path):
    if loader == "pickle":
        import pickle
        with open(path, "rb") as f: pickle.load(f)
    elif loader == "joblib":
        import joblib; joblib.load(path)
    else:
        import torch; torch.load(path, weights_only=False)
errors = {}
for path in paths:
    try: load(path)
    except BaseException as e: errors[path] = type(e).__name__
print(json.dumps(errors))
"""


def load_batch(loader: str, paths: list[pathlib.Path], workdir: pathlib.Path) -> None:
    """Load every file with the real loader in one throw-away child process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", _CHILD, loader, *map(str, paths)], cwd=workdir,
                   env=env, capture_output=True, text=True, timeout=300, check=False)


def disagreements(batch: list[Variant], workdir: pathlib.Path) -> tuple[int, list[str]]:
    """(markers that ran, variants whose marker ran while Kastell said clean)."""
    paths, markers = [], []
    for index, variant in enumerate(batch):
        marker = workdir / f"MARKER{index}"
        path = workdir / f"variant{index}.bin"
        path.write_bytes(build(variant, str(marker)))
        paths.append(path)
        markers.append(marker)
    load_batch(batch[0].loader, paths, workdir)
    ran, missed = 0, []
    for variant, path, marker in zip(batch, paths, markers, strict=True):
        if marker.exists():
            ran += 1
            if scan_file(path).verdict is Verdict.CLEAN:
                missed.append(repr(variant))
    return ran, missed


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("loader", ["pickle", "joblib", "torch"])
def test_loader_and_kastell_agree(loader: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES == 1,
              suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(variants(loader), min_size=BATCH, max_size=BATCH))
    def check(batch: list[Variant]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            ran, missed = disagreements(batch, pathlib.Path(folder))
        assert not missed, json.dumps(missed, indent=1)
        assert ran or loader != "pickle" or any(v.decoys for v in batch)

    check()
