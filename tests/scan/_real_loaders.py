"""Run a real loader on a file in a throw-away subprocess (differential tests only).

The child process loads the file with the library that would load it in production
(``torch.load(weights_only=False)``, ``joblib.load``, ``pickle.load``, ``numpy.load``
with ``allow_pickle=True``, the Jinja2 renderer without a sandbox, ...). The files carry a
harmless marker payload; the caller checks whether the marker file appeared. The child's
working directory is a temp folder and it is killed after ``timeout`` seconds.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

LOADERS = {
    "pickle": "import pickle,sys\nwith open(sys.argv[1],'rb') as f: pickle.load(f)",
    "torch": "import torch,sys\ntorch.load(sys.argv[1], weights_only=False)",
    "joblib": "import joblib,sys\njoblib.load(sys.argv[1])",
    "numpy": "import numpy,sys\nnumpy.load(sys.argv[1], allow_pickle=True)",
    "jinja2": (
        "import jinja2,sys\n"
        "src=open(sys.argv[1],encoding='utf-8').read()\n"
        "env=jinja2.Environment(extensions=['jinja2.ext.loopcontrols'])\n"
        "env.from_string(src).render(messages=[{'role':'user','content':'hi'}],"
        "add_generation_prompt=True, bos_token='<s>', eos_token='</s>')"
    ),
}


def run_loader(loader: str, path: pathlib.Path, workdir: pathlib.Path,
               timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Load ``path`` with ``loader`` in a child process (cwd ``workdir``)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    try:
        return subprocess.run(
            [sys.executable, "-c", LOADERS[loader], str(path)], cwd=workdir, env=env,
            capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([loader], -9, "", "timeout")
