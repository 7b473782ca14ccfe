"""polyad: a host agent that samples one machine and serves what it saw."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
