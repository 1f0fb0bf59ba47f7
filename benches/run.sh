#!/usr/bin/env bash
# Runs every benchmark side by side with its peers, then writes the report:
# benches/RESULTS.md (table of medians and ratios) and benches/chart.svg.
#
#   bash benches/run.sh            # about 10 minutes on 2 cores
#   QUICK=1 bash benches/run.sh    # shorter measurements, noisier numbers
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${QUICK:-}" ]]; then
  args=(--warm-up-time 1 --measurement-time 2)
else
  args=(--warm-up-time 2 --measurement-time 5)
fi
for bench in waitgroup scope latency; do
  cargo bench --bench "$bench" -- "${args[@]}"
done
python3 benches/report.py
