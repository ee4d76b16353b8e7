"""The MicroPython runtime against its targets: the summary at the top of docs/benchmarks.md.

Measures nothing: reads benchmarks/results/envoy_filters.json (benchmarks/envoy_filters.py, the
benchmark filter built for both runtimes beside C, AssemblyScript and no filter, with the soaks)
and, when there, benchmarks/results/micropython_examples.json (benchmarks/micropython_examples.py,
every example), and writes the `micropython-runtime` section of docs/benchmarks.md and its chart
docs/benchmarks-micropython.png. Both measuring scripts call it with `--write`; by hand:

    .venv/bin/python benchmarks/micropython_summary.py           # print the tables
    .venv/bin/python benchmarks/micropython_summary.py --write   # also the docs section and chart

The targets (issue 12, for the MicroPython build): module <= 300 KB (KB = 1024 bytes); Envoy
time to ready <= 2x AssemblyScript's; RSS over no filter <= 1.5x AssemblyScript's; CPU per
request over no filter <= AssemblyScript's; a 60 s soak with 0 errors and no RSS growth (at
most +1 MB from the first sample after warm-up to the last).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docs_section  # noqa: E402
import envoy_filters as ef  # noqa: E402

ROOT = ef.ROOT
FILTERS_JSON = ef.RESULTS / "envoy_filters.json"
EXAMPLES_JSON = ef.RESULTS / "micropython_examples.json"
PLOT = ROOT / "docs" / "benchmarks-micropython.png"
START, END = "<!-- micropython-runtime:start -->", "<!-- micropython-runtime:end -->"

TARGET_SIZE = 300 * 1024
TARGET_READY_OVER_AS = 2.0
TARGET_RSS_OVER_AS = 1.5
TARGET_SOAK_GROWTH = 1 * ef.MB
#: The columns of the before/after table, in order.
COLUMNS = ("python", "micropython", "assemblyscript", "c", "none")
HEADINGS = {"python": "before: CPython build", "micropython": "after: MicroPython build",
            "assemblyscript": "AssemblyScript", "c": "C (zig)", "none": "no filter"}


def verdict(met: bool | None) -> str:
    return "–" if met is None else "yes" if met else "**no**"


def _ratio_note(value: float | None, what: str = "AS") -> str:
    return "" if value is None else f" ({ef.ratio_text(value)} {what})"


def filter_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, str], str, bool | None]]:
    """(metric, cell per column, target, met) for the benchmark filter."""
    variants = results["variants"]
    mp = variants.get("micropython")
    asc = variants.get("assemblyscript")
    to_as = results.get("ratios", {}).get("micropython", {}).get("assemblyscript", {})

    def cells(fn, notes: dict[str, str] | None = None) -> dict[str, str]:
        out = {}
        for name in COLUMNS:
            if name in variants:
                out[name] = fn(variants[name]) + (notes or {}).get(name, "")
        return out

    def over_as(key: str) -> dict[str, str]:
        return {name: _ratio_note(results.get("ratios", {}).get(name, {}).get("assemblyscript", {}).get(key))
                for name in ("python", "micropython")}

    rows = []
    rows.append(("module size", cells(lambda v: ef.human_bytes(v["size"]) if v["size"] else "–",
                                      over_as("size")),
                 "≤ 300 KB", None if mp is None else mp["size"] <= TARGET_SIZE))
    # The verdict is the median of per-round ratios (both started under the same load), so no
    # limit in ms is shown: twice AssemblyScript's median can disagree with it on a noisy machine.
    ready_limit = ", round by round"
    rows.append(("Envoy time to ready", cells(lambda v: ef.seconds_text(v["median"]["ready_s"]),
                                              over_as("ready_s")),
                 f"≤ 2× AssemblyScript's{ready_limit}",
                 None if to_as.get("ready_s") is None else to_as["ready_s"] <= TARGET_READY_OVER_AS))
    rows.append(("Envoy CPU time until ready (no target)",
                 cells(lambda v: ef.seconds_text(v["median"].get("ready_cpu_s"))), "–", None))
    rss_limit = (f" (≤ {ef.signed_mb(asc['median']['rss_over_none_bytes'] * TARGET_RSS_OVER_AS)})"
                 if asc and asc["median"].get("rss_over_none_bytes") is not None else "")
    rows.append(("Envoy RSS over no filter",
                 cells(lambda v: ef.signed_mb(v["median"].get("rss_over_none_bytes"))
                       if v is not variants.get("none") else ef.human_bytes(v["median"]["rss_bytes"]) + " (its RSS)",
                       over_as("rss_over_none")),
                 f"≤ 1.5× AssemblyScript's{rss_limit}",
                 None if to_as.get("rss_over_none") is None else to_as["rss_over_none"] <= TARGET_RSS_OVER_AS))
    rows.append(("extra worker (RSS at --concurrency 2 minus 1; no target)",
                 cells(lambda v: ef.signed_mb(v["median"].get("extra_worker_rss_bytes"))), "–", None))
    for path, name in (("allowed", "allowed"), ("denied", "denied (403)")):
        key = f"{path}_cpu_us_over_none"
        met = None
        if mp and asc and mp["median"].get(key) is not None and asc["median"].get(key) is not None:
            met = mp["median"][key] <= asc["median"][key]
        rows.append((f"Envoy CPU per request over no filter, {name}",
                     cells(lambda v, key=key: ef.us_text(v["median"].get(key), True)
                           if v is not variants.get("none")
                           else ef.us_text(v["median"][f"{path}_cpu_us_per_request"]) + " (total)"),
                     "≤ AssemblyScript's", met))
    rows.append(("requests/s, allowed (no target)",
                 cells(lambda v: f"{v['median']['allowed_requests_per_second']:,.0f}"), "–", None))
    soaks = ef.soaks_of(results)
    if soaks:
        soak_cells = {name: soak_cell(soaks[name]) for name in soaks if name in COLUMNS}
        mp_soak = soaks.get("micropython")
        rows.append((f"{next(iter(soaks.values()))['seconds']} s soak (wrk, half denied, every response checked)",
                     soak_cells, "0 errors, no RSS growth (≤ +1 MB)",
                     None if mp_soak is None else soak_ok(mp_soak)))
    return rows


def soak_errors(soak: dict[str, Any]) -> int:
    statuses = soak["statuses"]
    return (soak["socket_errors"] + statuses.get("other", 0) + statuses.get("missing_header", 0)
            + statuses.get("bad_body", 0))


def soak_ok(soak: dict[str, Any]) -> bool:
    return (soak_errors(soak) == 0 and soak["requests"] > 0
            and soak["rss_growth_bytes"] <= TARGET_SOAK_GROWTH)


def soak_cell(soak: dict[str, Any]) -> str:
    return (f"{soak['requests']:,} requests, {soak_errors(soak)} errors, RSS "
            f"{ef.signed_mb(soak['rss_growth_bytes'])} (max {ef.signed_mb(soak['rss_max_growth_bytes'])})")


def filter_table(results: dict[str, Any]) -> str:
    present = [name for name in COLUMNS if name in results["variants"]]
    lines = ["| benchmark filter | " + " | ".join(HEADINGS[n] for n in present)
             + " | target (MicroPython build) | met |",
             "|---|" + "---:|" * len(present) + "---|:---:|"]
    for metric, cells, target, met in filter_rows(results):
        lines.append(f"| {metric} | " + " | ".join(cells.get(n, "–") for n in present)
                     + f" | {target} | {verdict(met)} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Examples


def example_names(examples: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for data in [*examples["variants"].values(), *examples.get("build_failures", {}).values()]:
        if data.get("example") and data["example"] not in seen:
            seen.append(data["example"])
    return seen


def examples_table(examples: dict[str, Any]) -> str:
    import micropython_examples

    micropython_examples.summarise(examples)
    variants = examples["variants"]
    asc = variants["assemblyscript"]["median"]
    lines = ["| example (MicroPython build) | module (CPython build) | ≤ 300 KB | time to ready "
             "(CPython build) | ≤ 2× AS | RSS over no filter (CPython build) | ≤ 1.5× AS | "
             "CPU per request over no filter (CPython build) | ≤ AS deny filter |",
             "|---|---:|:---:|---:|:---:|---:|:---:|---:|:---:|"]
    lines.append(f"| AssemblyScript deny filter (reference) | {ef.human_bytes(variants['assemblyscript']['size'])} | | "
                 f"{ef.seconds_text(asc['ready_s'])} | | {ef.signed_mb(asc.get('rss_over_none_bytes'))} | | "
                 f"{ef.us_text(asc.get('cpu_us_over_none'), True)} | |")
    for name in example_names(examples):
        mp = variants.get(f"{name}/micropython")
        cp = variants.get(f"{name}/cpython")
        if mp is None:
            failure = examples.get("build_failures", {}).get(f"{name}/micropython")
            if failure is not None:
                lines.append(f"| {name} | not built: {failure['build_error']} | **no** |" + " |" * 6)
            continue
        m = mp["median"]
        before = (lambda text: f" ({text})") if cp else (lambda text: "")
        cpm = cp["median"] if cp else {}
        cpu_met = None if m.get("cpu_us_over_none") is None or asc.get("cpu_us_over_none") is None \
            else m["cpu_us_over_none"] <= asc["cpu_us_over_none"]
        ratio = m.get("ready_over_assemblyscript")
        rss_ratio = m.get("rss_over_none_over_assemblyscript")
        lines.append(
            f"| {name} | {ef.human_bytes(mp['size'])}{before(ef.human_bytes(cp['size']) if cp else '')} | "
            f"{verdict(mp['size'] <= TARGET_SIZE)} | "
            f"{ef.seconds_text(m['ready_s'])}{_ratio_note(ratio)}{before(ef.seconds_text(cpm.get('ready_s')))} | "
            f"{verdict(None if ratio is None else ratio <= TARGET_READY_OVER_AS)} | "
            f"{ef.signed_mb(m.get('rss_over_none_bytes'))}{_ratio_note(rss_ratio)}"
            f"{before(ef.signed_mb(cpm.get('rss_over_none_bytes')))} | "
            f"{verdict(None if rss_ratio is None else rss_ratio <= TARGET_RSS_OVER_AS)} | "
            + (f"{ef.us_text(m.get('cpu_us_over_none'), True)}{before(ef.us_text(cpm.get('cpu_us_over_none'), True))}"
               if m.get("cpu_us_over_none") is not None else "– (TCP)")
            + f" | {verdict(cpu_met)} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Chart


def plot(results: dict[str, Any], examples: dict[str, Any] | None, path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = results["variants"]
    names = [n for n in ("python", "micropython", "assemblyscript", "c") if n in variants]
    labels = [HEADINGS[n].replace(": ", ":\n") for n in names]
    colours = {"python": "#dd8452", "micropython": "#8172b2", "assemblyscript": "#55a868", "c": "#4c72b0"}
    asc = variants.get("assemblyscript", {}).get("median", {})
    rows = 2 if examples is None else 3
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4 * rows))

    def bars(ax, values, *, title, unit, target=None, target_label="", log=False, fmt="{:.0f}"):
        xs = range(len(names))
        ax.bar(xs, [v or 0 for v in values], color=[colours[n] for n in names])
        ax.set_xticks(list(xs), labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        if log:
            ax.set_yscale("log")
        if target is not None:
            ax.axhline(target, color="#c44e52", linestyle="--", linewidth=1)
            ax.annotate(target_label, (len(names) - 0.5, target), ha="right", va="bottom",
                        fontsize=8, color="#c44e52")
        for x, v in zip(xs, values):
            if v is not None:
                ax.annotate(fmt.format(v), (x, v if v > 0 or not log else 1), ha="center",
                            va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")

    bars(axes[0][0], [variants[n]["size"] / 1024 for n in names], title="module size (KB, log scale)",
         unit="KB", target=300, target_label="target 300 KB", log=True, fmt="{:,.1f}")
    # Ratios taken round by round, as the verdict is (both started under the same load).
    as_rounds = variants.get("assemblyscript", {}).get("rounds", [])
    bars(axes[0][1], [ef.paired(variants[n]["rounds"], as_rounds, ("ready_s",), ef._ratio) for n in names],
         title="Envoy time to ready ÷ AssemblyScript's\n(median of per-round ratios, log scale)",
         unit="× AssemblyScript", log=True, target=TARGET_READY_OVER_AS,
         target_label="target: 2× AssemblyScript", fmt="{:.2f}×")
    bars(axes[1][0], [(variants[n]["median"].get("rss_over_none_bytes") or 0) / ef.MB for n in names],
         title="Envoy RSS over no filter (MB)", unit="MB",
         target=(asc.get("rss_over_none_bytes") or 0) / ef.MB * TARGET_RSS_OVER_AS or None,
         target_label="target: 1.5× AssemblyScript", fmt="{:+.1f}")
    ax = axes[1][1]
    width = 0.38
    for offset, traffic in ((-width / 2, "allowed"), (width / 2, "denied")):
        values = [variants[n]["median"].get(f"{traffic}_cpu_us_over_none") or 0 for n in names]
        ax.bar([i + offset for i in range(len(names))], values, width,
               color=[colours[n] for n in names], alpha=1.0 if traffic == "allowed" else 0.55)
        for i, value in enumerate(values):
            ax.annotate(f"{value:+.1f}", (i + offset, max(value, 0)), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
    if asc.get("allowed_cpu_us_over_none") is not None:
        ax.axhline(asc["allowed_cpu_us_over_none"], color="#c44e52", linestyle="--", linewidth=1)
    ax.set_xticks(list(range(len(names))), labels, fontsize=8)
    ax.set_title("Envoy CPU per request over no filter (µs)\nsolid allowed, light denied; "
                 "dashed: AssemblyScript allowed", fontsize=10)
    ax.set_ylabel("µs")
    if examples is not None:
        plot_examples(axes[2], examples)
    meta = results["meta"]
    fig.suptitle(f"The deny filter: CPython build (before), MicroPython build (after), AssemblyScript, C\n"
                 f"Envoy {meta['envoy']} --concurrency 1, medians of {meta['rounds']} interleaved rounds "
                 f"({meta['date'][:10]}, modules from commit "
                 f"{(meta.get('modules_from') or {}).get('commit') or meta['git_commit']})", fontsize=10)
    fig.tight_layout()
    scratch = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(scratch, dpi=110)
    plt.close(fig)
    os.replace(scratch, path)


def plot_examples(axes: Any, examples: dict[str, Any]) -> None:
    variants = examples["variants"]
    names = example_names(examples)
    width = 0.38
    asc = variants["assemblyscript"]["median"]
    for ax, key, title, unit, scale, target in (
            (axes[0], "size", "examples: module size (KB, log scale)", "KB", 1 / 1024, 300),
            (axes[1], "ready_s", "examples: Envoy time to ready (ms, log scale)", "ms", 1000,
             asc["ready_s"] * 1000 * TARGET_READY_OVER_AS)):
        for offset, runtime, colour in ((-width / 2, "cpython", "#dd8452"), (width / 2, "micropython", "#8172b2")):
            values = []
            for name in names:
                data = variants.get(f"{name}/{runtime}")
                value = None if data is None else data["size"] if key == "size" else data["median"][key]
                values.append(None if value is None else value * scale)
            ax.bar([i + offset for i in range(len(names))], [v or 0 for v in values], width,
                   color=colour, label={"cpython": "CPython build", "micropython": "MicroPython build"}[runtime])
            for i, value in enumerate(values):
                if value:
                    ax.annotate(f"{value:,.0f}", (i + offset, value), ha="center", va="bottom",
                                fontsize=7, xytext=(0, 2), textcoords="offset points")
        ax.axhline(target, color="#c44e52", linestyle="--", linewidth=1)
        ax.annotate("target" if key == "size" else "target: 2× AssemblyScript deny filter",
                    (len(names) - 0.5, target), ha="right", va="bottom", fontsize=8, color="#c44e52")
        ax.set_yscale("log")
        ax.set_ylim(bottom=10 if key == "size" else 50)
        ax.set_xticks(list(range(len(names))), names, fontsize=8, rotation=15)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="lower left", framealpha=0.9)


# --------------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def section(results: dict[str, Any], examples: dict[str, Any] | None) -> str:
    meta = results["meta"]
    rounds_text = (f"{meta['rounds']} interleaved rounds (random order), load average "
                   f"{meta['load_start']:.1f} → {meta['load_end']:.1f}")
    text = f"""{START}
## The MicroPython runtime against its targets (issue 12)

The same filter (benchmarks/filters/deny_python.py) built with `proxywasm build --runtime
cpython` (before) and `--runtime micropython` (after), beside the same filter in AssemblyScript
and C and no filter, started in the same rounds: `{docs_section.regenerating(meta['command'])}`,
{meta['date']}, modules built from {ef.source_text(meta.get('modules_from')) if meta.get('modules_from') else 'commit ' + meta['git_commit']},
Envoy {meta['envoy']} `--concurrency 1`, {rounds_text}.
Medians; "(n× AS)" is the ratio to AssemblyScript (time to ready: median of per-round ratios;
sizes and RSS: ratios of medians); KB = 1024 bytes. Method and every figure: the envoy-filters
section below; where the time, memory and instructions go: the micropython-weight section.

{filter_table(results)}
"""
    if examples is not None:
        emeta = examples["meta"]
        text += f"""
**Every example** built with `--runtime micropython` (in brackets: `--runtime cpython`), each with
the plugin configuration of its tests, beside the AssemblyScript deny filter and no filter in the
same rounds: `{docs_section.regenerating(emeta['command'])}`, {emeta['date']}, modules built from
{ef.source_text(emeta.get('modules_from')) if emeta.get('modules_from') else 'commit ' + emeta['git_commit']}, {emeta['rounds']} interleaved rounds, load average {emeta['load_start']:.1f} →
{emeta['load_end']:.1f}. CPU per request: `wrk -t1 -c{emeta['connections']} -d{emeta['duration']:g}s` with
the request each example is for (http_auth: one authorisation callout per request, to Envoy's admin;
json_body: a JSON POST through an upstream listener of the same Envoy, both bodies rewritten), over
the same listeners without a filter. The AssemblyScript filter only looks at one header, so "≤ AS
deny filter" asks more of an example than a like-for-like filter would. benchmarks/micropython_examples.py
says how each is checked in Envoy; benchmarks/results/micropython_examples.json has every round.

{examples_table(examples)}
"""
    text += f"""
![module size, time to ready, RSS and CPU per request: CPython build, MicroPython build, AssemblyScript, C; and every example](benchmarks-micropython.png)
{END}"""
    return text


def write(results_path: Path = FILTERS_JSON, examples_path: Path = EXAMPLES_JSON) -> None:
    """Redraw the section and the chart from the results JSONs (a missing examples JSON is left out)."""
    results = load(results_path)
    if results is None or "micropython" not in results["variants"]:
        print(f"micropython_summary: {results_path} has no MicroPython build; summary not written",
              file=sys.stderr)
        return
    ef.summarise(results)
    examples = load(examples_path)
    plot(results, examples)
    docs_section.write(START, END, section(results, examples))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=FILTERS_JSON)
    parser.add_argument("--examples", type=Path, default=EXAMPLES_JSON)
    parser.add_argument("--write", action="store_true", help="write the docs section and the chart")
    args = parser.parse_args(argv)
    results = load(args.results)
    if results is None:
        sys.exit(f"micropython_summary: no {args.results}")
    ef.summarise(results)
    print(filter_table(results))
    examples = load(args.examples)
    if examples is not None:
        print()
        print(examples_table(examples))
    if args.write:
        write(args.results, args.examples)
        print(f"wrote the micropython-runtime section of docs/benchmarks.md and {PLOT.relative_to(ROOT)}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
