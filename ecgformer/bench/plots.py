"""One plot per benchmark result, keyed by the result's kind (``ops``, ``mixers``, ``models``, ``inference``, ``data``,
and the test-suite checks ``mutation`` and ``planted_bugs`` of ``tools/``).

The plots draw on a :class:`matplotlib.figure.Figure` (never pyplot, so a notebook's backend stays as it is) and
read the JSON results as written by the benchmarks, also those written before results named their kind.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DATA_RATES", "KINDS", "PLOTS", "benchmark_kind", "plot_data", "plot_inference", "plot_mixers",
           "plot_models", "plot_mutation", "plot_ops", "plot_planted_bugs", "render_png"]

#: Benchmark kinds in the order ``benchmarks/RESULTS.md`` lists them.
KINDS = ("ops", "mixers", "models", "inference", "data", "mutation", "planted_bugs")

#: The key that identifies each kind in results written before they carried ``benchmark``.
_ROW_KEYS = {"impl": "ops", "mixer": "mixers", "train_ecg_s": "models", "runtime": "inference"}


def benchmark_kind(result: dict[str, Any]) -> str | None:
    """The result's ``benchmark``, else the kind its keys identify; None for anything else (e.g. a training summary)."""
    if "benchmark" in result:
        return str(result["benchmark"])
    if "wfdb_records_per_s" in result:
        return "data"
    rows = result.get("rows")
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    return next((kind for key, kind in _ROW_KEYS.items() if key in rows[0]), None)


def _loglog_lines(ax: Axes, rows: list[dict[str, Any]], group: str, y: str, styles: dict[str, dict[str, Any]],
                  ylabel: str) -> None:
    """One line of ``y`` against ``N`` per value of ``group`` (rows without ``y`` are left out), log-log."""
    for name in dict.fromkeys(str(row[group]) for row in rows):
        points = sorted((row["N"], row[y]) for row in rows if str(row[group]) == name and row.get(y) is not None)
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=name, **styles.get(name, {}))
    ax.set(xscale="log", yscale="log", xlabel="sequence length N (tokens)", ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)


def plot_ops(fig: Figure, result: dict[str, Any]) -> None:
    """Forward and forward+backward time against N per local-attention backend (columns: dilations), log-log."""
    rows = result["rows"]
    dilations = sorted({int(row["dilation"]) for row in rows})
    fig.set_size_inches(5 * len(dilations) + 1, 8)
    axes = fig.subplots(2, len(dilations), squeeze=False)
    styles = {impl: {"color": f"C{i % 10}"} for i, impl in enumerate(dict.fromkeys(str(row["impl"]) for row in rows))}
    styles["dense_sdpa"] = {"color": "black", "linestyle": "--"}
    for column, dilation in enumerate(dilations):
        mine = [row for row in rows if int(row["dilation"]) == dilation]
        for ax, key, what in ((axes[0, column], "fwd_ms", "forward"), (axes[1, column], "fwd_bwd_ms",
                                                                       "forward+backward")):
            _loglog_lines(ax, mine, "impl", key, styles, f"{what} time (ms)")
            ax.set_title(f"{what}, dilation {dilation} (dense_sdpa: dashed baseline)", fontsize=9)
    axes[0, -1].legend(fontsize=8)


def plot_mixers(fig: Figure, result: dict[str, Any]) -> None:
    """Forward+backward time against N, one line per mixer (dashed: not linear by design), log-log."""
    from matplotlib import colormaps

    linear = {str(fit["mixer"]): bool(fit.get("linear_by_design")) for fit in result.get("slopes", [])}
    colors = colormaps["tab20"].colors
    fig.set_size_inches(9, 6)
    ax = fig.subplots()
    styles = {name: {"linestyle": "-" if linear.get(name) else "--", "color": colors[i % len(colors)]}
              for i, name in enumerate(dict.fromkeys(str(row["mixer"]) for row in result["rows"]))}
    _loglog_lines(ax, [row for row in result["rows"] if "error" not in row], "mixer", "fwd_bwd_ms", styles,
                  "forward+backward time (ms)")
    ax.set_title("token mixers: forward+backward time (dashed: not linear by design)", fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))


def plot_models(fig: Figure, result: dict[str, Any]) -> None:
    """Training throughput against parameters and against forward GFLOPs, one labelled point per model.

    Labels alternate right and left of their points in order of throughput, so a cluster stays readable; the
    ``ecgformer_s_`` prefix of the single-mixer presets is shortened to ``s_``.
    """
    rows = sorted(result["rows"], key=lambda row: float(row["train_ecg_s"]))
    fig.set_size_inches(13, 6.5)
    for ax, key, label, scale in zip(fig.subplots(1, 2), ("params", "gflops"),
                                     ("parameters (M)", "forward GFLOPs per ECG"), (1e-6, 1.0)):
        xs = [float(row[key]) * scale for row in rows]
        ys = [float(row["train_ecg_s"]) for row in rows]
        ax.scatter(xs, ys, s=18)
        for rank, (row, x, y) in enumerate(zip(rows, xs, ys)):
            name = str(row["model"]).replace("ecgformer_s_", "s_")
            ax.annotate(name, (x, y), fontsize=7, xytext=(4 if rank % 2 else -4, 0), textcoords="offset points",
                        ha="left" if rank % 2 else "right", va="center")
        ax.set(xscale="log", xlabel=label, ylabel="training ECGs/s")
        ax.margins(x=0.2)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("training throughput per preset (s_<mixer>: ecgformer_s_<mixer>)", fontsize=10)


def plot_inference(fig: Figure, result: dict[str, Any]) -> None:
    """p50 single-record latency, eager against onnxruntime, per model and thread count (whiskers up to p95)."""
    rows = result["rows"]
    groups = list(dict.fromkeys((str(row["model"]), int(row["threads"])) for row in rows))
    runtimes = list(dict.fromkeys(str(row["runtime"]) for row in rows))
    fig.set_size_inches(max(6.0, 1.6 * len(groups) + 2), 5)
    ax = fig.subplots()
    width = 0.8 / len(runtimes)
    for offset, runtime in enumerate(runtimes):
        mine = {(str(row["model"]), int(row["threads"])): row for row in rows if row["runtime"] == runtime}
        xs = [i + (offset - (len(runtimes) - 1) / 2) * width for i, group in enumerate(groups) if group in mine]
        p50 = [float(mine[group]["p50_ms"]) for group in groups if group in mine]
        p95 = [float(mine[group]["p95_ms"]) for group in groups if group in mine]
        ax.bar(xs, p50, width, label=runtime, yerr=[[0.0] * len(p50), [b - a for a, b in zip(p50, p95)]],
               capsize=3)
    ax.set_xticks(range(len(groups)), [f"{model}\n{threads} thread(s)" for model, threads in groups], fontsize=8)
    ax.set(ylabel="single-record latency p50 (ms; whisker: p95)")
    ax.legend()


#: Rates of ``bench data``, in the order they are plotted.
DATA_RATES = {"wfdb_records_per_s": "WFDB raw", "wfdb_preprocessed_records_per_s": "WFDB + preprocessing",
              "cache_build_records_per_s": "cache build", "cache_sequential_records_per_s": "cache sequential",
              "cache_random_records_per_s": "cache random"}


def plot_data(fig: Figure, result: dict[str, Any]) -> None:
    """Records per second of each reading path (log scale), WFDB files against the record cache."""
    names = [name for key, name in DATA_RATES.items() if key in result]
    rates = [float(result[key]) for key in DATA_RATES if key in result]
    fig.set_size_inches(8, 3.5)
    ax = fig.subplots()
    ax.barh(names[::-1], rates[::-1], color="tab:blue")
    for y, rate in enumerate(rates[::-1]):
        ax.annotate(f"{rate:,.0f}", (rate, y), fontsize=8, xytext=(3, 0), textcoords="offset points",
                    va="center")
    ax.margins(x=0.15)
    ax.set(xscale="log", xlabel="records/s",
           title=f"{result.get('dataset', '?')}: {result.get('records', '?')} records")


def plot_mutation(fig: Figure, result: dict[str, Any]) -> None:
    """Mutation score per module (killed / mutants that are not equivalent), against the target line."""
    modules = sorted(result["modules"])
    scores = [100 * (result["modules"][m]["score"] or 0.0) for m in modules]
    target = 100 * float(result["target_score"])
    fig.set_size_inches(8, 0.45 * len(modules) + 1.5)
    ax = fig.subplots()
    colors = ["tab:green" if score >= target else "tab:red" for score in scores]
    ax.barh(modules[::-1], scores[::-1], color=colors[::-1])
    for y, score in enumerate(scores[::-1]):
        ax.annotate(f"{score:.1f} %", (score, y), fontsize=8, xytext=(3, 0), textcoords="offset points", va="center")
    ax.axvline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:.0f} %")
    ax.set(xlim=(0, 110), xlabel="mutants killed (%)", title="mutation score per module (mutmut)")
    ax.legend(loc="lower right", fontsize=8)


def plot_planted_bugs(fig: Figure, result: dict[str, Any]) -> None:
    """Seconds until the tests caught each planted bug, coloured by outcome (green caught, red missed or error)."""
    bugs = result["bugs"]
    fig.set_size_inches(8, 0.3 * len(bugs) + 1.5)
    ax = fig.subplots()
    names = [bug["id"] for bug in bugs][::-1]
    ax.barh(names, [float(bug["seconds"]) for bug in bugs][::-1],
            color=["tab:green" if bug["outcome"] == "caught" else "tab:red" for bug in bugs][::-1])
    caught = sum(bug["outcome"] == "caught" for bug in bugs)
    ax.set(xlabel="seconds to run the bug's tests", title=f"planted bugs: {caught} of {len(bugs)} caught")
    ax.tick_params(axis="y", labelsize=7)


PLOTS: dict[str, Callable[[Figure, dict[str, Any]], None]] = {
    "ops": plot_ops, "mixers": plot_mixers, "models": plot_models, "inference": plot_inference, "data": plot_data,
    "mutation": plot_mutation, "planted_bugs": plot_planted_bugs}


def render_png(result: dict[str, Any]) -> bytes:
    """The result's plot as PNG bytes (no metadata, so unchanged results give identical files)."""
    from matplotlib.figure import Figure

    kind = benchmark_kind(result)
    if kind not in PLOTS:
        raise ValueError(f"no plot for benchmark kind {kind!r}; known: {', '.join(PLOTS)}")
    fig = Figure(layout="constrained")
    PLOTS[kind](fig, result)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()
