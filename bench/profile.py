"""Where polyad's time and memory go, for a target the bench misses.

`python -m bench.profile cpu [--path /status]`: a real agent (auth and limits on) under wrk
load, sampled by py-spy; prints the functions with the most samples, on their own (self) and
with what they call (inclusive).
`python -m bench.profile imports`: what importing polyad's app costs in resident memory, per
top-level package (each import's RSS growth less that of the imports it made itself)."""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import peers
from bench.plan import FULL
from bench.processes import REPO_ROOT
from bench.status_throughput import BIN
from bench.wrk import run_wrk

PY_SPY = Path(sys.executable).with_name("py-spy")


def _frame_name(frame: str) -> str:
    """"handler (polyad/api/views.py:36)" → "handler (polyad/api/views.py)": lines merged."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].split('site-packages/')[-1]})" if where else name


def top_functions(raw_stacks: str, limit: int) -> tuple[list[tuple[str, float]],
                                                        list[tuple[str, float]]]:
    """py-spy's raw (collapsed) stacks → the top functions by self and inclusive share."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_stacks.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * count / total) for name, count in counter.most_common(limit)]

    return shares(own), shares(inclusive)


def profile_cpu(path: str, seconds: int, limit: int) -> None:
    with tempfile.TemporaryDirectory(prefix="polyad-profile-") as work_dir, \
            peers.polyad(Path(work_dir)) as agent:
        stacks = Path(work_dir) / "stacks.txt"
        spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(agent.agent.pid),
                                "--duration", f"{seconds:g}", "--rate", "250", "--format",
                                "raw", "--output", str(stacks)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            load = run_wrk(agent.agent.url + path, connections=FULL.connections,
                           duration_s=seconds, headers=agent.auth)
        finally:
            spy.wait(seconds + 30)
        own, inclusive = top_functions(stacks.read_text(), limit)
    print(f"GET {path}: {load.rps:,.0f} req/s under py-spy ({seconds:g} s)")
    for title, rows in (("self", own), ("inclusive", inclusive)):
        print(f"\ntop {limit} by {title} samples:")
        for name, share in rows:
            print(f"  {share:5.1f} %  {name}")


def profile_imports(module: str, split: list[str]) -> None:
    # A fresh interpreter of the agent's install (as an operator has it, without the dev
    # tools), with as little imported as can be before the measure.
    python = BIN / "python"
    done = subprocess.run([str(python), "-m", "bench.import_rss", module, *split], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True)
    print(f"resident memory while importing {module} (MB, each package's own growth):")
    for name, mb in json.loads(done.stdout.splitlines()[-1]).items():
        print(f"  {mb:6.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)
    cpu = modes.add_parser("cpu", help="py-spy on an agent under wrk load")
    cpu.add_argument("--path", default="/status")
    cpu.add_argument("--seconds", type=int, default=10)
    cpu.add_argument("--top", type=int, default=25)
    imports = modes.add_parser("imports", help="RSS per top-level package imported")
    imports.add_argument("--module", default="polyad.api.app")
    imports.add_argument("--split", action="append", default=["polyad"],
                         help="a package to break down by subpackage (default polyad)")
    args = parser.parse_args()
    if args.mode == "cpu":
        profile_cpu(args.path, args.seconds, args.top)
    else:
        profile_imports(args.module, args.split)


if __name__ == "__main__":
    main()
