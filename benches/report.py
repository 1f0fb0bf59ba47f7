#!/usr/bin/env python3
"""Benchmark report for taskgroup (issues 5, 13, 16): markdown tables and an SVG chart.

Reads criterion's results, `<criterion dir>/<group>/<function>/new/estimates.json`
(the median point estimate, in ns per iteration), for the groups of
`benches/scope.rs`, `benches/finegrain.rs`, `benches/waitgroup.rs` and
`benches/latency.rs`, and writes

* a markdown table, one row per workload: taskgroup's median, each peer's
  median, the ratio taskgroup / peer, the issues' targets and whether each
  is met (a target missed says "not met" and the ratio); the per-join
  overhead on one thread, `(t - t_sequential) / joins`, for the
  fine-grained workloads; and a second table, "pools of 4x the CPUs", from
  the oversubscribed pass; printed to stdout and written to
  `benches/RESULTS.md` with the machine (CPU model, logical CPUs) and the
  rustc version;
* `benches/chart.svg`: horizontal bars, per task (or per operation or
  join) in ns on a log scale for the fine-grained workloads, per run in ms
  for the coarse ones (the 20 ms join, the chunked reduce, the sum), and
  each library's time relative to rayon's on pools of 4x the CPUs.

Missing results are shown as "n/a"; run whichever benches you have.

The criterion directory is, as criterion itself picks it: `$CRITERION_HOME`,
else `$CARGO_TARGET_DIR/criterion`, else `target/criterion` in the crate
root. The oversubscribed pass (`TASKGROUP_BENCH_THREADS=4x`) is read from the
same path with `-4x` appended (`target/criterion-4x`), where
`benches/run.sh` puts it. Standard library only. Usage:

    bash benches/run.sh          # runs everything, then this script

or by hand:

    cargo bench --bench scope
    cargo bench --bench finegrain
    cargo bench --bench waitgroup
    cargo bench --bench latency
    TASKGROUP_BENCH_THREADS=4x CRITERION_HOME=target/criterion-4x cargo bench --bench scope
    TASKGROUP_BENCH_THREADS=4x CRITERION_HOME=target/criterion-4x \\
        cargo bench --bench finegrain -- '^(fib_30|tree_22)/'
    python3 benches/report.py
"""

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

CRATE = Path(__file__).resolve().parent.parent
BENCHES = CRATE / "benches"

# The ideal time of `join_coarse_20ms`: both 20 ms sides at once.
IDEAL_JOIN_NS = 20e6

# The oversubscribed pass: pools of this many times the logical CPUs, read
# from `<criterion dir>` + OVERSUB_SUFFIX (benches/run.sh writes them there).
OVERSUB_FACTOR = 4
OVERSUB_SUFFIX = "-4x"

# Joins per run of the fine-grained workloads (benches/finegrain.rs counts
# them with instrumented sequential runs and asserts these numbers).
FIB_30_JOINS = 1_346_268      # one per call with n >= 2: fib(31) - 1
TREE_22_JOINS = 2 ** 22 - 1   # one per node

# Display name, colour and order of each library (criterion function name).
LIBRARIES = {
    "taskgroup": ("taskgroup", "#e6550d"),
    "rayon": ("rayon", "#3182bd"),
    "chili": ("chili", "#31a354"),
    "std_thread_scope": ("std::thread::scope", "#756bb1"),
    "sequential": ("sequential", "#969696"),
    "taskgroup_per_cpu": ("taskgroup, 1 thread per CPU", "#fdae6b"),
    "ideal": ("ideal (20 ms)", "#d9d9d9"),
    "atomic_u64/fetch_add+fetch_sub": ("AtomicU64 floor", "#525252"),
    "crossbeam/clone+drop": ("crossbeam WaitGroup", "#17becf"),
    "thread_unpark": ("thread unpark (OS floor)", "#8c6d31"),
}
# The waitgroup benches name taskgroup's function differently.
TASKGROUP_ALIASES = {"taskgroup/add+done": "taskgroup"}


def workload(key, title, unit, per, tg, peers, targets=(), extra=False, panel="fine"):
    """One row; `key` is the criterion group. `per`: tasks (or joins) per
    iteration (ns per task in the chart), or None for a per-run (ms)
    workload. `peers`: criterion function names; "ideal" is a constant.
    `targets`: [(kind, peer, factor)], kind "ratio" (taskgroup / peer <=
    factor), "speedup" (taskgroup's speedup over sequential >= factor x the
    peer's) or "per_join" ((taskgroup - peer) / per <= factor ns)."""
    return dict(key=key, title=title, unit=unit, per=per, tg=tg, peers=peers,
                targets=list(targets), extra=extra, panel=panel)


WORKLOADS = [
    workload("spawn_100k", "100k empty spawns, one scope from outside", "spawn",
             100_000, "taskgroup", ["rayon"], [("ratio", "rayon", 0.5)]),
    workload("spawn_tree_16", "binary spawn tree, depth 16", "spawn",
             131_071, "taskgroup", ["rayon"], [("ratio", "rayon", 0.7)]),
    workload("scopes_5k", "5k scopes of one tiny spawn, from outside", "scope",
             5_000, "taskgroup", ["rayon"], [("ratio", "rayon", 0.7)]),
    # fib(27) makes fib(28) - 1 = 317,810 joins.
    workload("fib_27", "fib(27), join at every level", "join",
             317_810, "taskgroup", ["rayon", "chili", "sequential"],
             [("ratio", "rayon", 0.8)]),
    # Issue 13: benches/finegrain.rs.
    workload("fib_30", "fib(30), join at every level", "join",
             FIB_30_JOINS, "taskgroup", ["chili", "rayon", "sequential"],
             [("ratio", "chili", 0.8), ("ratio", "sequential", 1.0)]),
    workload("tree_22", "sum of a 2^22−1-node tree, join at every node", "join",
             TREE_22_JOINS, "taskgroup", ["chili", "rayon", "sequential"],
             [("ratio", "chili", 0.9), ("ratio", "sequential", 0.55)]),
    workload("fib_30_1t", "fib(30), join at every level, pools of 1 thread", "join",
             FIB_30_JOINS, "taskgroup", ["chili", "rayon", "sequential"],
             [("ratio", "sequential", 2.0), ("per_join", "sequential", 2.0)]),
    workload("tree_22_1t", "the 2^22−1-node tree sum, pools of 1 thread", "join",
             TREE_22_JOINS, "taskgroup", ["chili", "rayon", "sequential"],
             [("ratio", "sequential", 1.1), ("per_join", "sequential", 2.0)]),
    workload("join_coarse_20ms", "join(20 ms sleep, 20 ms sleep)", "run",
             None, "taskgroup", ["rayon", "ideal"], [("ratio", "ideal", 1.1)],
             panel="coarse"),
    workload("reduce_chunked", "chunked compute-bound reduce, 4M elements", "run",
             None, "taskgroup", ["rayon", "std_thread_scope", "sequential"],
             [("speedup", "std_thread_scope", 0.95)], panel="coarse"),
    workload("waitgroup", "WaitGroup add+done, uncontended", "add+done",
             1, "taskgroup/add+done",
             ["atomic_u64/fetch_add+fetch_sub", "crossbeam/clone+drop"],
             [("ratio", "atomic_u64/fetch_add+fetch_sub", 1.2)]),
    workload("wakeup_latency", "wake-up of a pool idle > 50 ms", "wake-up",
             1, "taskgroup", ["rayon", "thread_unpark"]),
    # Not among the rows: reported for context, no target.
    workload("waitgroup_contended", "WaitGroup add+done, 2 threads contending",
             "add+done", 1, "taskgroup/add+done",
             ["atomic_u64/fetch_add+fetch_sub", "crossbeam/clone+drop"],
             extra=True),
    workload("sum_40m", "sum of 40M u64, one chunk per thread", "run",
             None, "taskgroup", ["rayon", "sequential"], extra=True, panel="coarse"),
]

# Issue 16: every side-by-side row again on pools of OVERSUB_FACTOR x the
# CPUs, against rayon at the same count; the fine-grained ones also against
# taskgroup's own time with one thread per CPU, measured in the same run.
OVERSUB_KEYS = ["spawn_100k", "spawn_tree_16", "scopes_5k", "fib_27", "fib_30",
                "tree_22", "join_coarse_20ms", "reduce_chunked", "sum_40m"]


def oversub_workloads():
    rows = []
    by_key = {w["key"]: w for w in WORKLOADS}
    for key in OVERSUB_KEYS:
        w = dict(by_key[key])
        w["peers"] = list(w["peers"])
        w["targets"] = [("ratio", "rayon", 1.0)]
        w["extra"] = False
        if key in ("fib_30", "tree_22"):
            w["peers"].append("taskgroup_per_cpu")
            w["targets"].append(("ratio", "taskgroup_per_cpu", 1.3))
        rows.append(w)
    return rows


def cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def criterion_dir():
    home = os.environ.get("CRITERION_HOME")
    if home:
        return Path(home).resolve()
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return (Path(target) / "criterion").resolve()
    return CRATE / "target" / "criterion"


def filename_safe(name):
    """Criterion's `make_filename_safe` (criterion 0.5, src/report.rs)."""
    for ch in '?"/\\*<>:|^':
        name = name.replace(ch, "_")
    return name


def median_ns(root, group, function):
    """The median point estimate in ns, or None if there is no result."""
    if function == "ideal":
        return IDEAL_JOIN_NS if group == "join_coarse_20ms" else None
    path = root / filename_safe(group) / filename_safe(function) / "new" / "estimates.json"
    try:
        with open(path) as f:
            return float(json.load(f)["median"]["point_estimate"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")):
        if ns >= scale or unit == "ns":
            v = ns / scale
            digits = 0 if v >= 100 else 1 if v >= 10 else 2
            return f"{v:.{digits}f} {unit}"


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def label(function):
    name = TASKGROUP_ALIASES.get(function, function)
    return LIBRARIES.get(name, (name, "#000000"))[0]


def colour(function):
    name = TASKGROUP_ALIASES.get(function, function)
    return LIBRARIES.get(name, (name, "#000000"))[1]


def per_join_ns(t, seq, joins):
    """The overhead of one join over the plain recursion, in ns."""
    if t is None or seq is None or not joins:
        return None
    return (t - seq) / joins


def evaluate_one(w, values, target):
    """(target text, status text) for one target of a workload."""
    kind, peer, factor = target
    tg = values[w["tg"]]
    if kind == "ratio":
        text = f"≤ {factor:g}× {label(peer)}"
        r = ratio(tg, values[peer])
        if r is None:
            return text, "n/a"
        # Two decimals, or more where two would hide which side it is on.
        digits = 2
        while digits < 4 and round(r, digits) == factor and r != factor:
            digits += 1
        return text, f"{'met' if r <= factor else 'not met'} ({r:.{digits}f}×)"
    if kind == "per_join":
        text = f"per-join overhead ≤ {factor:g} ns"
        o = per_join_ns(tg, values[peer], w["per"])
        if o is None:
            return text, "n/a"
        return text, f"{'met' if o <= factor else 'not met'} ({o:.2f} ns)"
    # "speedup": taskgroup's speedup over sequential >= factor x the peer's.
    text = f"speedup ≥ {factor:g}× {label(peer)}'s"
    seq = values["sequential"]
    s_tg, s_peer = ratio(seq, tg), ratio(seq, values[peer])
    if s_tg is None or s_peer is None:
        return text, "n/a"
    rel = s_tg / s_peer
    return text, (f"{'met' if rel >= factor else 'not met'} "
                  f"({s_tg:.2f}× vs {s_peer:.2f}× = {rel:.3f})")


def evaluate(w, values):
    """(targets text, statuses text) for a workload."""
    if not w["targets"]:
        return "—", "reported only"
    both = [evaluate_one(w, values, t) for t in w["targets"]]
    return "; ".join(t for t, _ in both), "; ".join(s for _, s in both)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        model = platform.processor() or model
    try:
        cpus = subprocess.run(["nproc"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        cpus = str(os.cpu_count() or "?")
    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                               check=True, cwd=CRATE).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rustc = "rustc: n/a"
    return model, cpus, rustc


def table(rows):
    out = ["| workload | taskgroup | peers | taskgroup / peer | target | status |",
           "|---|---|---|---|---|---|"]
    for w, values in rows:
        tg = values[w["tg"]]
        peers = "; ".join(f"{label(p)} {fmt_ns(values[p])}" for p in w["peers"])
        ratios = "; ".join(f"{fmt_ratio(ratio(tg, values[p]))} {label(p)}"
                           for p in w["peers"])
        target, status = evaluate(w, values)
        name = f"`{w['key']}`: {w['title']}" + (" *(extra)*" if w["extra"] else "")
        out.append(f"| {name} | {fmt_ns(tg)} | {peers} | {ratios} | {target} | {status} |")
    return out


def shown(path):
    try:
        return path.relative_to(CRATE)
    except ValueError:
        return path


def markdown(root, rows, over_root, over_rows):
    model, cpus_text, rustc = machine()
    n = cpus()
    out = []
    out.append("# taskgroup benchmark results")
    out.append("")
    out.append(f"- machine: {model}, {cpus_text} logical CPUs (`nproc`); every pool "
               "has `num_cpus::get()` threads, except in the rows that say "
               "\"pools of 1 thread\" and in the section \"Pools of "
               f"{OVERSUB_FACTOR}× the CPUs\"")
    out.append(f"- compiler: {rustc}")
    out.append(f"- data: criterion median point estimates from `{shown(root)}` and, "
               f"for pools of {OVERSUB_FACTOR}× the CPUs, `{shown(over_root)}`")
    out.append("- peers in a row were measured in the same `cargo bench` run at the "
               "same thread count, each library's pool alive only while its own "
               "runs were measured; ratios are taskgroup / peer (lower is better "
               "for taskgroup)")
    out.append("- the ideal of the coarse join is the constant 20 ms, not a measurement")
    out.append("")
    out += table(rows)
    out.append("")
    out.append("## Per-join overhead on one thread")
    out.append("")
    out.append("`(t − t_sequential) / joins` on pools of one thread, with t and "
               "t_sequential from the same criterion group; the joins are counted "
               "by `benches/finegrain.rs` (fib(30): "
               f"{FIB_30_JOINS:,}; the tree: {TREE_22_JOINS:,}). Issue 13's target "
               "for taskgroup: ≤ 2 ns.")
    out.append("")
    out.append("| workload | sequential | taskgroup | chili | rayon |")
    out.append("|---|---|---|---|---|")
    for w, values in rows:
        if not w["key"].endswith("_1t"):
            continue
        seq = values.get("sequential")
        cells = []
        for f in ("taskgroup", "chili", "rayon"):
            o = per_join_ns(values.get(f), seq, w["per"])
            cells.append("n/a" if o is None else f"{o:.2f} ns")
        out.append(f"| `{w['key']}` | {fmt_ns(seq)} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"## Pools of {OVERSUB_FACTOR}× the CPUs ({OVERSUB_FACTOR * n} threads)")
    out.append("")
    out.append(f"Every side-by-side row again, every pool (taskgroup's, rayon's, "
               f"chili's; `std::thread::scope` starts as many threads) with "
               f"{OVERSUB_FACTOR * n} threads (`TASKGROUP_BENCH_THREADS="
               f"{OVERSUB_FACTOR}x`), in a second pass of `benches/run.sh`. Issue "
               f"16's targets: taskgroup ≤ 1.0× rayon at the same count on every "
               f"row; on `fib_30` and `tree_22`, ≤ 1.3× taskgroup's own time with "
               f"one thread per CPU, measured in the same `cargo bench` run "
               f"(`taskgroup, 1 thread per CPU`).")
    out.append("")
    out += table(over_rows)
    out.append("")
    out.append("Per task (or per operation, or per join): the median divided by the "
               "tasks in one iteration (chart: `benches/chart.svg`).")
    out.append("")
    out.append("| workload | pools | per | library | time per task |")
    out.append("|---|---|---|---|---|")
    for section, section_rows in (("1 per CPU", rows),
                                  (f"{OVERSUB_FACTOR}× CPUs", over_rows)):
        for w, values in section_rows:
            if w["per"] is None:
                continue
            if w["key"].endswith("_1t"):
                pools = "1 thread"
            elif w["key"].startswith("waitgroup"):
                pools = "—"
            else:
                pools = section
            for f in [w["tg"]] + w["peers"]:
                v = values[f]
                per = fmt_ns(None if v is None else v / w["per"])
                out.append(f"| `{w['key']}` | {pools} | {w['unit']} | {label(f)} | {per} |")
    out.append("")
    out.append("Numbers from a shared or loaded machine are noisy; compare rows "
               "only within one run.")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- SVG chart

WIDTH = 960
LABEL_W = 300      # left column: workload and library names
PLOT_X0 = LABEL_W + 10
PLOT_X1 = WIDTH - 120  # leaves room for the value labels
BAR_H = 14
ROW_H = 18
HEAD_H = 24


def text(x, y, s, size=12, anchor="start", weight="normal", fill="#222"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(s)}</text>')


def panel(title, axis_note, items, scale, ticks, y):
    """items: [(workload heading, [(label, colour, value or None, value text)])].
    scale: value -> x; ticks: [(value, text)]. Returns (svg parts, new y)."""
    parts = [text(10, y + 16, title, size=15, weight="bold"),
             text(10, y + 32, axis_note, size=11, fill="#555")]
    y += 44
    top = y
    body = []
    for heading, bars in items:
        body.append(text(10, y + 15, heading, weight="bold"))
        y += HEAD_H
        for name, fill, value, value_text in bars:
            body.append(text(PLOT_X0 - 8, y + BAR_H - 3, name, size=11, anchor="end"))
            if value is None:
                body.append(text(PLOT_X0 + 4, y + BAR_H - 3, "n/a", size=11, fill="#999"))
            else:
                x = max(scale(value), PLOT_X0 + 2)
                stroke = ' stroke="#777" stroke-dasharray="3,2"' if name.startswith("ideal") else ""
                body.append(f'<rect x="{PLOT_X0}" y="{y}" width="{x - PLOT_X0:.1f}" '
                            f'height="{BAR_H}" fill="{fill}"{stroke}/>')
                body.append(text(x + 5, y + BAR_H - 3, value_text, size=11))
            y += ROW_H
        y += 4
    # Grid lines and tick labels behind the bars.
    grid = []
    for value, tick in ticks:
        x = scale(value)
        grid.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{y}" '
                    f'stroke="#e0e0e0" stroke-width="1"/>')
        grid.append(text(x, y + 14, tick, size=10, anchor="middle", fill="#555"))
    grid.append(f'<line x1="{PLOT_X0}" y1="{top - 4}" x2="{PLOT_X0}" y2="{y}" stroke="#999"/>')
    return parts + grid + body, y + 28


def svg(rows, over_rows):
    fine = [(w, v) for w, v in rows if w["panel"] == "fine"]
    coarse = [(w, v) for w, v in rows if w["panel"] == "coarse"]

    # Panel 1: ns per task, log scale over whole decades.
    items, known = [], []
    for w, values in fine:
        bars = []
        for f in [w["tg"]] + w["peers"]:
            v = values[f]
            per = None if v is None else v / w["per"]
            if per is not None and per > 0:
                known.append(per)
            bars.append((label(f), colour(f), per, "n/a" if per is None else fmt_ns(per)))
        extra = " (extra)" if w["extra"] else ""
        items.append((f"{w['key']}: ns per {w['unit']}{extra}", bars))
    lo = math.floor(math.log10(min(known))) if known else 0
    hi = math.ceil(math.log10(max(known))) if known else 3
    hi = max(hi, lo + 1)

    def log_scale(v):
        v = max(v, 10.0 ** lo)
        return PLOT_X0 + (math.log10(v) - lo) / (hi - lo) * (PLOT_X1 - PLOT_X0)

    def decade(e):
        unit = next(u for u, k in (("s", 9), ("ms", 6), ("µs", 3), ("ns", 0)) if e >= k or k == 0)
        k = {"s": 9, "ms": 6, "µs": 3, "ns": 0}[unit]
        return f"{10 ** (e - k)} {unit}"

    log_ticks = [(10.0 ** e, decade(e)) for e in range(lo, hi + 1)]
    parts, y = panel("Fine-grained work: time per task or operation",
                     "log scale, shorter is better; criterion medians divided by "
                     "the tasks per iteration", items, log_scale, log_ticks, 40)

    # Panel 2: ms per run, linear.
    items, known = [], []
    for w, values in coarse:
        bars = []
        for f in [w["tg"]] + w["peers"]:
            v = values[f]
            if v is not None:
                known.append(v)
            bars.append((label(f), colour(f), v, fmt_ns(v)))
        extra = " (extra)" if w["extra"] else ""
        items.append((f"{w['key']}: ms per run{extra}", bars))
    top_ms = max(known) / 1e6 if known else 40.0
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10 ** 9)
                if top_ms / s <= 8)
    top_ms = step * math.ceil(top_ms / step)

    def lin_scale(v):
        return PLOT_X0 + (v / 1e6) / top_ms * (PLOT_X1 - PLOT_X0)

    lin_ticks = [(ms * 1e6, f"{ms} ms") for ms in range(0, int(top_ms) + 1, step)]
    more, y = panel("Coarse work: time per run",
                    "linear scale in ms, shorter is better; the ideal coarse join "
                    "is a constant, not a measurement", items, lin_scale, lin_ticks, y)
    parts += more

    # Panel 3: pools of OVERSUB_FACTOR x the CPUs, each library's time / rayon's.
    items, known = [], []
    for w, values in over_rows:
        base = values.get("rayon")
        bars = []
        for f in [w["tg"]] + w["peers"]:
            if f == "ideal":
                continue
            r = ratio(values[f], base)
            if r is not None:
                known.append(r)
            bars.append((label(f), colour(f), r, fmt_ratio(r)))
        items.append((f"{w['key']}: time / rayon's", bars))
    top = max(known + [1.0]) if known else 2.0
    step = next(s for s in (0.25, 0.5, 1, 2, 5, 10, 20, 50, 10 ** 9) if top / s <= 8)
    top = step * math.ceil(top / step)

    def ratio_scale(v):
        return PLOT_X0 + v / top * (PLOT_X1 - PLOT_X0)

    ratio_ticks = [(k * step, f"{k * step:g}×") for k in range(0, int(round(top / step)) + 1)]
    more, y = panel(f"Pools of {OVERSUB_FACTOR}× the CPUs ({OVERSUB_FACTOR * cpus()} threads): "
                    "time relative to rayon's",
                    "linear scale, shorter is better; rayon = 1×, same run, same "
                    "thread count", items, ratio_scale, ratio_ticks, y)
    parts += more

    # Legend: every library that appears.
    seen = []
    for w, _ in rows + over_rows:
        for f in [w["tg"]] + w["peers"]:
            key = TASKGROUP_ALIASES.get(f, f)
            if key not in seen:
                seen.append(key)
    legend, lx, ly = [], 10, y
    for key in seen:
        name, fill = LIBRARIES.get(key, (key, "#000"))
        width = 24 + 7 * len(name)
        if lx + width > WIDTH - 10:
            lx, ly = 10, ly + 20
        legend.append(f'<rect x="{lx}" y="{ly}" width="14" height="12" fill="{fill}"/>')
        legend.append(text(lx + 19, ly + 11, name, size=11))
        lx += width + 12
    height = ly + 30

    head = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
            f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
            text(10, 24, "taskgroup vs peers (criterion medians, same run, same thread count)",
                 size=17, weight="bold")]
    return "\n".join(head + parts + legend + ["</svg>"]) + "\n"


def load(root, workloads):
    if not root.is_dir():
        print(f"warning: no criterion results in {root}; its rows are n/a",
              file=sys.stderr)
    rows = []
    for w in workloads:
        values = {f: median_ns(root, w["key"], f) for f in [w["tg"]] + w["peers"]}
        values.setdefault("sequential", median_ns(root, w["key"], "sequential"))
        rows.append((w, values))
    return rows


def main():
    root = criterion_dir()
    over_root = Path(str(root) + OVERSUB_SUFFIX)
    rows = load(root, WORKLOADS)
    over_rows = load(over_root, oversub_workloads())
    md = markdown(root, rows, over_root, over_rows)
    sys.stdout.write(md)
    (BENCHES / "RESULTS.md").write_text(md, encoding="utf-8")
    (BENCHES / "chart.svg").write_text(svg(rows, over_rows), encoding="utf-8")
    print(f"\nwrote {BENCHES / 'RESULTS.md'} and {BENCHES / 'chart.svg'}", file=sys.stderr)


if __name__ == "__main__":
    main()
