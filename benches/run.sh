#!/usr/bin/env bash
# Runs every benchmark side by side with its peers, then writes the report:
# benches/RESULTS.md (table of medians and ratios) and benches/chart.svg.
#
#   bash benches/run.sh            # about 25 minutes on 2 cores
#   QUICK=1 bash benches/run.sh    # shorter measurements, noisier numbers
#
# Two passes:
# 1. every bench with pools of one thread per logical CPU (and, in
#    `finegrain`, of one thread), into criterion's usual directory;
# 2. `scope` and the side-by-side groups of `finegrain` again with pools of
#    four times the CPUs (TASKGROUP_BENCH_THREADS=4x), into a directory of
#    their own, `<criterion dir>-4x`, which report.py reads for its
#    "pools of 4x the CPUs" rows.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${QUICK:-}" ]]; then
  args=(--warm-up-time 1 --measurement-time 2)
else
  args=(--warm-up-time 2 --measurement-time 5)
fi

# The directory criterion writes to, as it picks it (report.py does the same).
if [[ -n "${CRITERION_HOME:-}" ]]; then
  main_dir=$CRITERION_HOME
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  main_dir=$CARGO_TARGET_DIR/criterion
else
  main_dir=target/criterion
fi

echo "== pass 1: one thread per CPU; load: $(uptime)"
for bench in waitgroup scope finegrain latency; do
  env -u TASKGROUP_BENCH_THREADS CRITERION_HOME="$main_dir" \
    cargo bench --bench "$bench" -- "${args[@]}"
done

echo "== pass 2: pools of 4x the CPUs; load: $(uptime)"
export TASKGROUP_BENCH_THREADS=4x
CRITERION_HOME="$main_dir-4x" cargo bench --bench scope -- "${args[@]}"
# The one-thread groups do not depend on the setting: only the others.
CRITERION_HOME="$main_dir-4x" cargo bench --bench finegrain -- "${args[@]}" '^(fib_30|tree_22)/'
unset TASKGROUP_BENCH_THREADS

echo "== done; load: $(uptime)"
CRITERION_HOME="$main_dir" python3 benches/report.py
