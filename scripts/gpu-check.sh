#!/usr/bin/env bash
# The one-off check of polyad's real NVML path, for a host with an NVIDIA GPU (the tests only
# ever meet the fake NVML): starts the agent, lets it sample for a few ticks, and saves what it
# reports, then prints a summary (which GPU fields came back null, the collectors' reports).
#
#   scripts/gpu-check.sh [OUT_DIR]      # default OUT_DIR: gpu-check/
#
# Needs `make install` (nvidia-ml-py comes with polyad) and the NVIDIA driver. Writes to OUT_DIR:
# nvidia-smi.txt, status.json, metrics.json, metrics.prom, agent.log (debug level: every field
# a GPU does not report is logged once).
set -euo pipefail

out=${1:-gpu-check}
python=${PYTHON:-.venv/bin/python}
port=${PORT:-5077}
mkdir -p "$out"
state=$(mktemp -d)
export POLYAD_STATE_DIR=$state POLYAD_LOGGING__LEVEL=debug

nvidia-smi -q > "$out/nvidia-smi.txt" 2>&1 || echo "gpu-check: nvidia-smi failed (see $out/nvidia-smi.txt)"
"$python" -m polyad serve --port "$port" > "$out/agent.log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -rf "$state"' EXIT

url=http://127.0.0.1:$port
for _ in $(seq 100); do
  curl -fsS "$url/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
token=$("$python" -m polyad token --scope read)
sleep 3   # a few ticks: rates have two samples, the XID watch is waiting
for what in status:status.json metrics:metrics.json metrics/prom:metrics.prom; do
  curl -fsS -H "Authorization: Bearer $token" "$url/${what%%:*}" > "$out/${what#*:}"
done

"$python" - "$out" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
metrics = json.loads((out / "metrics.json").read_text())
gpu = metrics["gpu"]
print(f"driver {gpu['driver_version']}, {gpu['count']} GPU(s)")
for device in gpu["devices"]:
    missing = sorted(name for name, value in device.items() if value is None)
    print(f"gpu {device['index']} {device['name']}: success={device['success']} "
          f"error={device['error']}; null: {', '.join(missing) or 'none'}")
for report in metrics["collectors"]:
    print(f"collector {report['name']}: {report['outcome']} in {report['duration_seconds']}s"
          + (f", no data: {report['no_data']}" if report["no_data"] else "")
          + (f", error: {report['error']}" if report["error"] else ""))
series = [line for line in (out / "metrics.prom").read_text().splitlines()
          if line.startswith(("hw_gpu", "polyad_gpu"))]
print(f"{len(series)} GPU series in metrics.prom")
EOF
