"""A `pynvml` module for an agent in another process: a file that builds a fake NVML (the one in
tests/fakes/nvml.py, or any made from it) and answers every attribute from it, put first on the
agent's PYTHONPATH. The agent's collector imports `pynvml` as in production."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "write_pynvml_shim"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_pynvml_shim(directory: Path, setup: str) -> Path:
    """`setup`: Python that binds `_FAKE` to the fake binding, with the repository importable.
    Returns the directory, for PYTHONPATH."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pynvml.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {os.fspath(REPO_ROOT)!r})\n"
        f"{setup}\n"
        "def __getattr__(name):\n"
        "    return getattr(_FAKE, name)\n")
    return directory
