"""How long and how often each scenario runs: the full plan, and QUICK's smoke check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Plan:
    quick: bool
    rounds: int            # A/B rounds of each wrk comparison; figures are their medians
    round_s: int           # seconds of load per round and agent (wrk counts whole ones)
    warmup_s: int          # load on each agent before its rounds
    connections: int       # wrk connections, the same for polyad and its baseline
    scrapes: int           # sequential scrapes of each exporter
    fresh_scrapes: int     # scrapes spaced past a sampler tick (polyad renders anew)
    idle_s: float          # each agent alone
    idle_settle_s: float   # after start-up, before the idle window opens
    soak_segments: int     # the soak's load is cut in segments; RSS is read after each
    soak_segment_s: int
    tasks_runs: int        # runs of bench/tasks_throughput.py; figures are their medians
    tasks_args: tuple[str, ...]
    cache_args: tuple[str, ...]
    auth_args: tuple[str, ...]
    estimates_args: tuple[str, ...]

    @property
    def soak_s(self) -> float:
        return self.soak_segments * self.soak_segment_s


FULL = Plan(quick=False, rounds=5, round_s=4, warmup_s=1, connections=16, scrapes=300,
            fresh_scrapes=30, idle_s=60.0, idle_settle_s=2.0, soak_segments=10,
            soak_segment_s=60, tasks_runs=3, tasks_args=(), cache_args=(),
            auth_args=("--rounds", "6", "--seconds", "3"), estimates_args=())
QUICK = Plan(quick=True, rounds=2, round_s=1, warmup_s=1, connections=16, scrapes=300,
             fresh_scrapes=4, idle_s=5.0, idle_settle_s=1.0, soak_segments=3,
             soak_segment_s=10, tasks_runs=1, tasks_args=(),
             cache_args=("--keys", "2000", "--passes", "3", "--rounds", "2"),
             auth_args=("--rounds", "2", "--seconds", "0.5"),
             estimates_args=("--tasks", "24", "--warmup", "6"))


@dataclass(frozen=True)
class Context:
    """What every scenario gets: the plan and a scratch folder for logs and agent state."""

    plan: Plan
    work_dir: Path
