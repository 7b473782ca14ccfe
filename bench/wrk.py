"""HTTP load from wrk (one thread: the agents under test get the machine's other core), read
back through bench/wrk_report.lua as one JSON line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.peers import WRK

REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")
MARKER = "WRK-JSON "


@dataclass(frozen=True)
class WrkRun:
    requests: int
    duration_s: float
    bytes: int
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def p_ms(self, percentile: str) -> float:
        return self.latency_us[percentile] / 1000


def run_wrk(url: str, *, connections: int, duration_s: int,
            headers: Mapping[str, str] | None = None, requests: Sequence[str] = (),
            timeout_s: float = 10.0) -> WrkRun:
    """Load `url` (or, with `requests`, its origin with each "METHOD PATH [BODY]" in turn)."""
    if WRK is None:
        raise RuntimeError("wrk is not installed: run `make bench-peers`")
    argv = [WRK, "-t1", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s:g}s",
            "-s", str(REPORT_SCRIPT)]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run([*argv, url, *requests], capture_output=True, text=True, check=False,
                          timeout=duration_s + timeout_s + 30)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line.removeprefix(MARKER))
            return WrkRun(raw["requests"], raw["duration_us"] / 1e6, raw["bytes"],
                          raw["errors"], raw["latency_us"])
    raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
