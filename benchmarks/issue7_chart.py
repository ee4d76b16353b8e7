"""One chart of issue 7's targets: where the Python filter started, where it is, and what the
MicroPython probe and the AssemblyScript filter cost, against the target lines.

Reads what the two measuring scripts wrote (nothing is measured here):
benchmarks/results/envoy_filters-issue7.json (benchmarks/envoy_filters.py with --python-before, the
run issue 7 closed with; later runs write envoy_filters.json) and
benchmarks/results/micropython_probe.json (benchmarks/micropython_probe.py). Prints the bars;
writes docs/benchmarks-issue7.png with `--write` (or the chart to `--output PATH`).

    .venv/bin/python benchmarks/issue7_chart.py --write
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PLOT = ROOT / "docs" / "benchmarks-issue7.png"

#: (panel title, unit, target, key) in the order drawn.
PANELS = (
    ("module size", "MB", 2.5, "size_mb"),
    ("Envoy time to ready (median)", "s", 1.0, "ready_s"),
    ("Envoy RSS over no filter", "MB", 40.0, "rss_over_mb"),
    ("Envoy CPU per request over no filter", "µs", "AssemblyScript", "cpu_over_us"),
)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _paired_over(rounds: list[dict[str, Any]], base: list[dict[str, Any]], get) -> float | None:
    """Median over rounds of (variant - no filter) in the same round."""
    diffs = [get(a) - get(b) for a, b in zip(rounds, base) if get(a) is not None and get(b) is not None]
    return _median(diffs)


def envoy_filters_bars(data: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    variants = data["variants"]
    base = variants["none"]["rounds"]
    labels = {"assemblyscript": "AssemblyScript", "python_before": "Python, before",
              "python": "Python, now"}
    for key, meta in (("python_before", "python_before_from"), ("python", "python_built_from")):
        built_from = str(data["meta"].get(meta) or "").split()
        if built_from:
            labels[key] += f" ({built_from[-1][:7]})"
    bars: dict[str, dict[str, float | None]] = {}
    for key, label in labels.items():
        if key not in variants:
            continue
        variant = variants[key]
        rounds = variant["rounds"]
        bars[label] = {
            "size_mb": variant.get("size", 0) / 1e6,
            "ready_s": _median([r["ready_s"] for r in rounds]),
            "rss_over_mb": (_paired_over(rounds, base, lambda r: r.get("rss_bytes")) or 0) / 2**20,
            "cpu_over_us": _median([
                (a["allowed"]["cpu_us_per_request"] + a["denied"]["cpu_us_per_request"]
                 - b["allowed"]["cpu_us_per_request"] - b["denied"]["cpu_us_per_request"]) / 2
                for a, b in zip(rounds, base)]),
        }
    return bars


#: benchmarks/micropython_probe.py's variants: key -> label in the chart.
MICROPYTHON_VARIANTS = {"micropython_probe": "MicroPython 1.27 (npm build)",
                        "micropython_source": "MicroPython 1.19 from source"}


def micropython_bar(data: dict[str, Any], key: str) -> dict[str, float | None]:
    variant = data["variants"][key]
    base = data["variants"]["none"]["rounds"]
    rounds = variant["rounds"]
    return {
        "size_mb": variant["size"] / 1e6,
        "ready_s": _median([r["ready_s"] for r in rounds]),
        "rss_over_mb": (_paired_over(rounds, base, lambda r: r.get("rss_bytes")) or 0) / 2**20,
        "cpu_over_us": None,  # a different, smaller job per request: not comparable
    }


def plot(bars: dict[str, dict[str, float | None]], path: Path, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(bars)
    colors = {name: ("#999999" if "before" in name else "#3572A5" if name.startswith("Python")
                     else "#6a9955" if name.startswith("MicroPython") else "#d19a66") for name in names}
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.6 * len(PANELS), 4.6))
    for ax, (title, unit, target, key) in zip(axes, PANELS):
        values = [bars[n][key] for n in names]
        shown = [(n, v) for n, v in zip(names, values) if v is not None]
        ax.bar([n for n, _ in shown], [v for _, v in shown], color=[colors[n] for n, _ in shown])
        for i, (_, v) in enumerate(shown):
            ax.annotate(f"{v:.2f}" if v < 10 else f"{v:.0f}", (i, v), ha="center", va="bottom", fontsize=8)
        if isinstance(target, str):   # the target is another bar: "no worse than it"
            label, target = f"target: {target}'s", bars[target][key]
        else:
            label = f"target {target:g} {unit}"
        if target is not None:
            ax.axhline(target, color="#c0392b", linestyle="--", linewidth=1)
            ax.annotate(label, (-0.45, target), ha="left", va="bottom", color="#c0392b", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envoy-filters", type=Path, default=RESULTS / "envoy_filters-issue7.json")
    parser.add_argument("--micropython", type=Path, default=RESULTS / "micropython_probe.json")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"write the chart here (with --write, default {PLOT.relative_to(ROOT)})")
    parser.add_argument("--write", action="store_true", help="write the chart (default: print the bars only)")
    args = parser.parse_args(argv)
    try:
        filters = json.loads(args.envoy_filters.read_text())
    except (OSError, ValueError) as err:
        sys.exit(f"issue7_chart: cannot read {args.envoy_filters}: {err}")
    bars = envoy_filters_bars(filters)
    caption = (f"envoy_filters {filters['meta']['date']} (load {filters['meta']['load_start']:.1f})")
    if args.micropython.is_file():
        probe = json.loads(args.micropython.read_text())
        for key, label in MICROPYTHON_VARIANTS.items():
            if key in probe["variants"]:
                bars[label] = micropython_bar(probe, key)
        caption += f"; MicroPython probe {probe['meta']['date']} (load {probe['meta']['load_start']:.1f})"
    caption += "; medians over interleaved rounds, dashed: issue 7 targets"
    for name, values in bars.items():
        print(name, {k: (round(v, 2) if v is not None else None) for k, v in values.items()})
    output = args.output or (PLOT if args.write else None)
    if output is not None:
        plot(bars, output, caption)
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
