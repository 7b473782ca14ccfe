"""Writes docs/console.png, the README's picture of the console: a real agent on this host, with
two GPUs from the tests' fake NVML (this machine has none; their load moves over time), the
shipped alert rules, and the page in Debian's Chromium after `--wait` seconds of history.

    .venv/bin/python scripts/console-screenshot.py [--wait 90] [--out docs/console.png]

Needs the dev install (`make dev`: Playwright) and Chromium (`make services`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from polyad.collectors.mounts import PSEUDO_TYPES  # noqa: E402
from tests.agent_process import BIN, free_port, wait_ready  # noqa: E402
from tests.console.browser import launch_chromium  # noqa: E402
from tests.fakes.nvml_shim import write_pynvml_shim  # noqa: E402

# Two GPUs whose utilization rises and falls over a few minutes, as a busy host's would; the
# second has an uncorrected ECC error, which the shipped GpuEccUncorrected rule alerts on.
MOVING_GPUS = """\
import math, time
from types import SimpleNamespace
from tests.fakes.nvml import (FakeGpu, FakeNvml, NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                              NVML_VOLATILE_ECC)
_BAD = FakeGpu(uuid="GPU-5e1f0c2a-0001-4000-8000-000000000001", temperature=71,
               power_mw=310_000)
_BAD.ecc[(NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC)] = 1
_FAKE = FakeNvml([FakeGpu(uuid="GPU-5e1f0c2a-0000-4000-8000-000000000000", temperature=64),
                  _BAD])
_UUIDS = [gpu.uuid for gpu in _FAKE.gpus]
def _moving(gpu):
    phase = _UUIDS.index(gpu.uuid)
    busy = 55 + 35 * math.sin(time.time() / 25 + 2 * phase) + 5 * math.sin(time.time() / 3)
    return SimpleNamespace(gpu=int(max(0, min(100, busy))), memory=10)
_FAKE.nvmlDeviceGetUtilizationRates = _moving
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=float, default=90.0, help="seconds of history first")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "console.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polyad-screenshot-") as work:
        work_dir = Path(work)
        shim = write_pynvml_shim(work_dir / "shim", MOVING_GPUS)
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("POLYAD_")}
        # the host's disks only: no tmpfs (a build machine's scratch mounts are no one's business)
        config = work_dir / "polyad.yml"
        config.write_text(json.dumps({"collectors": {"filesystem": {
            "exclude_types": [*PSEUDO_TYPES, "tmpfs"]}}}))
        env |= {"POLYAD_STATE_DIR": str(work_dir), "PYTHONPATH": str(shim),
                "POLYAD_LOGGING__LEVEL": "warning", "POLYAD_CONFIG": str(config)}
        printed = work_dir / "stdout.txt"
        with printed.open("wb") as stdout:
            agent = subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port),
                                      "--print-admin-token"], env=env, stdout=stdout)
        try:
            found = None
            deadline = time.monotonic() + 20
            while found is None and time.monotonic() < deadline:
                found = re.search(r"http://\S+/#token=\S+", printed.read_text())
                time.sleep(0.1)
            assert found, "the agent printed no console URL"
            wait_ready(port, agent, token=None)
            time.sleep(args.wait)                  # history for the charts to show
            for browser in launch_chromium():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(found.group(0))
                page.locator("#cpu-usage").filter(has_text="%").wait_for(timeout=15_000)
                page.wait_for_timeout(1500)        # a tick or two on the live charts
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out, full_page=True)
        finally:
            agent.terminate()
            agent.wait(timeout=20)
    sys.stderr.write(f"console-screenshot: wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
