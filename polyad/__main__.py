"""`python -m polyad …` runs the same command as `polyad …`."""

from __future__ import annotations

import sys

from polyad.cli import main

sys.exit(main())
