"""`python -m bench` (`make bench`): every scenario in one run, then a table of polyad against
its baselines on stdout and bench/results/<date>T<HHMM>.json with the raw figures. `--quick`
(`make bench QUICK=1`) runs each briefly, as a smoke check, and compares its figures with the
last full run's (bench/guard.py): those worse by more than the noise band are printed."""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench import guard, peers
from bench.plan import FULL, QUICK, Context
from bench.report import RESULTS_DIR, Row, machine_facts, table, write_results
from bench.scenarios import SCENARIOS


def _stop_on_sigterm(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks, which stop every agent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="each scenario briefly")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS),
                        help="run only this scenario (repeatable)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/…)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if missing := peers.missing_peers():
        sys.stderr.write(f"missing: {', '.join(missing)}; run `make bench-peers`\n")
        return 2
    plan = QUICK if args.quick else FULL
    started = datetime.datetime.now(datetime.UTC)
    summary: dict[str, Any] = {"started_at": started.isoformat(timespec="seconds"),
                               "quick": plan.quick, "plan": plan.__dict__,
                               "machine": machine_facts(), "versions": peers.versions()}
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="polyad-bench-") as work_dir:
        context = Context(plan, Path(work_dir))
        for name in args.only or list(SCENARIOS):
            sys.stderr.write(f"bench: {name}…\n")
            clock = time.monotonic()
            try:
                scenario_rows, raw[name] = SCENARIOS[name](context)
            except Exception:  # one broken scenario is reported; the others still run
                failed.append(name)
                raw[name] = {"error": traceback.format_exc()}
                sys.stderr.write(raw[name]["error"])
                continue
            rows += scenario_rows
            raw[name]["scenario_s"] = round(time.monotonic() - clock, 1)
    finished = datetime.datetime.now(datetime.UTC)
    summary |= {"finished_at": finished.isoformat(timespec="seconds"),
                "wall_s": round((finished - started).total_seconds(), 1),
                "load_average_at_end": os.getloadavg(), "failed": failed}
    if plan.quick:
        regressions, band, compared = guard.compare(rows, RESULTS_DIR)
        summary["guard"] = {"band": band, "compared": compared,
                            "worse": [str(regression) for regression in regressions]}
    suffix = "-quick" if plan.quick else ""
    # the start time (UTC) in the name: two runs of one day do not overwrite each other
    out = args.out or RESULTS_DIR / f"{started:%Y-%m-%dT%H%M}{suffix}.json"
    write_results(out, summary, rows, raw)
    sys.stdout.write(table(rows) + "\n")
    if plan.quick:
        found = summary["guard"]
        sys.stdout.write(f"\nagainst the last full runs: {found['compared']} figures compared, "
                         f"noise band ±{found['band']:.0%}; "
                         f"{len(found['worse'])} worse by more\n")
        sys.stdout.writelines(f"  {line}\n" for line in found["worse"])
    sys.stdout.write(f"\n{len(rows)} figures in {summary['wall_s']:g} s; raw figures in {out}"
                     + (f"; FAILED: {', '.join(failed)}" if failed else "") + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
