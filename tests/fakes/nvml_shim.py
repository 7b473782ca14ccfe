"""A `pynvml` module for an agent in another process: a file that builds a fake NVML (the one in
tests/fakes/nvml.py, or any made from it) and answers every attribute from it, put first on the
agent's PYTHONPATH. The agent's collector imports `pynvml` as in production, once it has found
the library the real binding loads: a stand-in of that name beside the shim (any loadable
shared object will do, nothing is called in it: a copy of Python's own _ctypes module), on the
agent's LD_LIBRARY_PATH."""

from __future__ import annotations

import _ctypes
import os
import shutil
from pathlib import Path

from polyad.collectors.gpu import NVML_LIBRARY

__all__ = ["REPO_ROOT", "write_pynvml_shim"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_pynvml_shim(directory: Path, setup: str) -> dict[str, str]:
    """`setup`: Python that binds `_FAKE` to the fake binding, with the repository importable.
    Returns the agent's environment for it: PYTHONPATH and LD_LIBRARY_PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    assert _ctypes.__file__ is not None
    shutil.copyfile(_ctypes.__file__, directory / NVML_LIBRARY)
    (directory / "pynvml.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {os.fspath(REPO_ROOT)!r})\n"
        f"{setup}\n"
        "def __getattr__(name):\n"
        "    return getattr(_FAKE, name)\n")
    return {"PYTHONPATH": str(directory), "LD_LIBRARY_PATH": str(directory)}
