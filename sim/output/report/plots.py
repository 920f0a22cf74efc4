"""The report's figures, drawn with matplotlib from a result folder's tables.

Each function takes the tables (and what the page has already chosen to show) and returns
a figure on its own Agg canvas; :func:`png` turns it into the bytes the page embeds.
pyplot's global state is never touched.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.model.units import MONTHS_PER_YEAR
from sim.output.labels import label as parameter_label
from sim.output.report import formats as f
from sim.output.report.folder import ResultFolder

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100


def new_figure(width: float, height: float, *, fixed: bool = False) -> Figure:
    """A figure on its own Agg canvas: pyplot's global state is never touched. Laid out by
    matplotlib's constrained layout (for tick labels of any length), or, with `fixed`, by
    :func:`margins` in inches: a regular grid of panels needs no layout search, which costs
    more than drawing the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout=None if fixed else "constrained")
    FigureCanvasAgg(figure)
    return figure


def margins(
    figure: Figure,
    left: float,
    right: float,
    bottom: float,
    top: float,
    *,
    grid: tuple[int, int] = (1, 1),
    gaps: tuple[float, float] = (0.0, 0.0),
) -> None:
    """Place a grid of panels (rows, columns) with margins and gaps between panels
    (across, down) in inches."""
    width, height = figure.get_size_inches()
    rows, cols = grid
    panel_w = (width - left - right - gaps[0] * (cols - 1)) / cols
    panel_h = (height - bottom - top - gaps[1] * (rows - 1)) / rows
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gaps[0] / panel_w,
        hspace=gaps[1] / panel_h,
    )


def png(figure: Figure) -> str:
    """The figure as base64 PNG, without the metadata that names the software version."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def svg(figure: Figure) -> bytes:
    """The figure as SVG with its text as text (editable in a paper's figures), without a
    date, and with element ids from a fixed salt: the same bytes on every rebuild."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    with rc_context({"svg.hashsalt": "baclofen-sim", "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def embed(r: ResultFolder, plot_id: str, figure: Figure) -> str:
    """The PNG the page embeds; the SVG too when the report was asked for it."""
    if r.svg is not None:
        r.svg[plot_id] = svg(figure)
    return png(figure)


def figure(r: ResultFolder, plot_id: str, alt: str, drawn: Figure, caption: str) -> str:
    """A plot of the page as HTML: embedded as PNG (and kept as SVG when asked for)."""
    return f.image(plot_id, alt, embed(r, plot_id, drawn), caption)


def title(ax: Axes, text: str) -> None:
    """A panel's title, placed at the top of its axes where its y axis's formatter
    (percentages, thousands, labels) never shows an offset text ("1e6"), which
    matplotlib's automatic placement lifts a title above: it lays the y axis out again
    at every draw to find out, a quarter of a multi-panel figure's drawing. Set it after
    the y axis's formatter."""
    from matplotlib.ticker import ScalarFormatter

    if isinstance(ax.yaxis.get_major_formatter(), ScalarFormatter):
        ax.set_title(text, fontsize=10)
    else:
        ax.set_title(text, fontsize=10, y=1.0)


def thousands(axis: Any) -> None:
    """Tick labels with thousands separators (costs, WTP)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}"))


def log_if_wide(ax: Axes, n: np.ndarray) -> None:
    """A log x axis when n spans more than a factor of 20 (1 to 1,000 iterations)."""
    if len(n) and np.nanmin(n) > 0 and np.nanmax(n) / np.nanmin(n) >= 20:
        ax.set_xscale("log")
        plain_log(ax.xaxis)


def plain_log(axis: Any) -> None:
    """A log axis labelled 1, 10, 100 (not 10^0, 10^1), without minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}" if x >= 1 else f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def padded(values: np.ndarray) -> tuple[float, float]:
    """Axis limits around the data with a margin (and some room when all values are equal)."""
    low, high = float(np.min(values)), float(np.max(values))
    span = high - low
    pad = 0.06 * span if span > 0 else max(abs(high), 1.0) * 0.1
    return low - pad, high + pad


def ce_plane(
    r: ResultFolder, d_cost: pd.DataFrame, d_qaly: pd.DataFrame, others: list[str]
) -> Figure:
    """PSA scatter of incremental cost and QALYs against the comparator, with WTP lines."""
    comp, cur = r.comparator, r.currency
    from matplotlib.lines import Line2D

    figure = new_figure(9.5, 6.0, fixed=True)
    margins(figure, 1.1, 2.7, 0.6, 0.2)
    ax = figure.add_subplot()
    xs: list[np.ndarray] = [np.zeros(1)]
    ys: list[np.ndarray] = [np.zeros(1)]
    summary = r.table("summary")
    base: dict[str, tuple[object, object]] = {}
    if summary is not None and {"incremental_cost", "incremental_qaly"} <= set(summary.columns):
        for row in summary.to_dict("records"):
            base[str(row["strategy"])] = (row["incremental_qaly"], row["incremental_cost"])
    handles = []
    for name in others:
        x, y = d_qaly[name].to_numpy(float), d_cost[name].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        color = r.color(name)
        ax.scatter(x[ok], y[ok], s=8, alpha=0.35, color=color, linewidths=0)
        handles.append(
            Line2D(
                [], [], ls="", marker="o", color=color, label=f"{f.tex(name)} ({ok.sum():,} draws)"
            )
        )
        xs.append(x[ok])
        ys.append(y[ok])
        point = base.get(name)
        if point is not None and f.finite(point[0]) and f.finite(point[1]):
            ax.scatter(
                [point[0]],
                [point[1]],
                marker="X",
                s=140,
                color=color,
                edgecolors="black",
                linewidths=1.2,
                zorder=5,
            )
            xs.append(np.array([point[0]]))
            ys.append(np.array([point[1]]))
        if ok.any():  # the PSA mean: where the cloud's centre is, beside the base case
            ax.scatter(
                [x[ok].mean()],
                [y[ok].mean()],
                marker="D",
                s=70,
                color="white",
                edgecolors=color,
                linewidths=2.0,
                zorder=6,
            )
    for marker, size, label in (("X", 10, "base case"), ("D", 7, "PSA mean")):
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker=marker,
                markersize=size,
                color="white",
                markeredgecolor="black",
                label=label,
            )
        )
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    xlim = padded(x_all)
    ylim = padded(y_all)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    styles = ("--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
    line_x = np.array(xlim)
    for i, (_tag, w) in enumerate(r.wtps):
        ax.plot(line_x, w * line_x, color="#555555", lw=1.1, ls=styles[i % len(styles)])
        handles.append(
            Line2D(
                [],
                [],
                color="#555555",
                ls=styles[i % len(styles)],
                label=f"WTP {f.wtp_label(w)} {f.tex(cur)}/QALY",
            )
        )
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    thousands(ax.yaxis)
    ax.set_xlabel(f"Incremental QALYs vs {f.tex(comp)}")
    ax.set_ylabel(f"Incremental cost vs {f.tex(comp)} ({f.tex(cur)})")
    ax.grid(True, lw=0.3, alpha=0.5)
    figure.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1 - 2.6 / 9.5, 1 - 0.2 / 6.0), fontsize=8
    )
    return figure


def ceac(r: ResultFolder, ceac: pd.DataFrame, present: list[str]) -> Figure:
    """Acceptability curves per strategy, with the frontier (CEAF) marked."""
    cur = r.currency
    figure = new_figure(9.5, 5.0, fixed=True)
    margins(figure, 0.8, 0.25, 0.6, 0.2)
    ax = figure.add_subplot()
    few = ceac["wtp"].nunique() <= 12
    for name in present:
        part = ceac[ceac["strategy"] == name].sort_values("wtp", kind="mergesort")
        ax.plot(
            part["wtp"],
            part["probability_cost_effective"],
            color=r.color(name),
            marker="o" if few else None,
            ms=3,
            lw=1.6,
            label=f.tex(name),
        )
    if "on_frontier" in ceac.columns:
        front = ceac[ceac["on_frontier"] == 1].sort_values("wtp", kind="mergesort")
        front = front.drop_duplicates("wtp")
        if len(front):
            ax.plot(
                front["wtp"],
                front["probability_cost_effective"],
                color="black",
                lw=9,
                alpha=0.25,
                solid_capstyle="round",
                label="CEAF (highest expected NMB)",
                zorder=1,
            )
            # where the strategy with the highest expected NMB changes: the decision's switch
            names = front["strategy"].astype(str).to_numpy()
            values = front["wtp"].to_numpy(float)
            for k in np.flatnonzero(names[1:] != names[:-1]) + 1:
                ax.axvline(values[k], color="black", lw=1.2, ls="--", zorder=2)
                ax.annotate(
                    f" {f.tex(names[k])} from {f.wtp_label(values[k])}",
                    (values[k], 0.5),
                    fontsize=8,
                    rotation=90,
                    va="center",
                    ha="right",
                )
    for _tag, w in r.wtps:
        ax.axvline(w, color="#999999", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"Willingness to pay ({f.tex(cur)} per QALY)")
    ax.set_ylabel("Probability cost-effective")
    thousands(ax.xaxis)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="center right")
    return figure


def evpi(r: ResultFolder, w: np.ndarray, evpi: np.ndarray, se: np.ndarray) -> Figure:
    """EVPI per patient against WTP with its Monte Carlo band."""
    cur = r.currency
    figure = new_figure(9.5, 4.5, fixed=True)
    margins(figure, 1.0, 0.25, 0.6, 0.2)
    ax = figure.add_subplot()
    ax.fill_between(
        w,
        np.maximum(evpi - 1.96 * se, 0.0),
        evpi + 1.96 * se,
        color="#1f77b4",
        alpha=0.2,
        lw=0,
        label="±1.96 SE (Monte Carlo)",
    )
    ax.plot(w, evpi, color="#1f77b4", lw=1.8, label="EVPI per patient")
    for _tag, value in r.wtps:
        ax.axvline(value, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel(f"Willingness to pay ({f.tex(cur)} per QALY)")
    ax.set_ylabel(f"EVPI per patient ({f.tex(cur)})")
    thousands(ax.xaxis)
    thousands(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="upper left")
    return figure


def tornado(r: ResultFolder, panels: list[tuple[str, pd.DataFrame, int]], w0: float) -> Figure:
    """One panel per non-comparator strategy: incremental NMB at the first WTP (`w0`)."""
    cur, comp = r.currency, r.comparator
    heights = [0.32 * len(p) + 1.3 for _n, p, _t in panels]
    figure = new_figure(11.0, sum(heights) + 0.6)
    axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (name, part, total) in zip(axes, panels, strict=True):
        y = np.arange(len(part))[::-1].astype(float)
        base = float(part["base_incremental_nmb"].iloc[0])
        low = np.nan_to_num(part["incremental_nmb_low"].to_numpy(float) - base)
        high = np.nan_to_num(part["incremental_nmb_high"].to_numpy(float) - base)
        ax.barh(y, low, left=base, height=0.7, color="#4c72b0", label="parameter at low value")
        ax.barh(y, high, left=base, height=0.7, color="#dd8452", label="parameter at high value")
        ax.axvline(base, color="black", lw=1.0)
        ax.axvline(0.0, color="#888888", lw=0.8, ls=":")
        labels = [
            f"{f.tex(parameter_label(p, cur))}  [{f.auto(lo)} to {f.auto(hi)}]"
            for p, lo, hi in zip(
                part["parameter"], part["low_value"], part["high_value"], strict=True
            )
        ]
        ax.set_yticks(y, labels=labels, fontsize=8)
        ax.set_ylim(-0.6, len(part) - 0.4)
        more = f"; {total - len(part)} smaller swings not shown" if total > len(part) else ""
        title(ax, f"{f.tex(name)} vs {f.tex(comp)}: base incremental NMB {f.money(base)}{more}")
        ax.set_xlabel(f"Incremental NMB at WTP {f.wtp_label(w0)} {f.tex(cur)}/QALY ({f.tex(cur)})")
        thousands(ax.xaxis)
        ax.grid(True, axis="x", lw=0.3, alpha=0.5)
        ax.legend(fontsize=8, loc="lower right")
    return figure


def cumulative(r: ResultFolder, ci: pd.DataFrame, groups: list[str], present: list[str]) -> Figure:
    """One panel per event group, one line per strategy."""
    from matplotlib.ticker import PercentFormatter

    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    figure = new_figure(11.0, 2.7 * nrows + 0.7, fixed=True)
    margins(figure, 0.7, 0.2, 0.9, 0.3, grid=(nrows, ncols), gaps=(0.7, 0.65))
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    years = "years" if "years" in ci.columns else None
    for ax, group in zip(axes, groups, strict=False):
        part = ci[ci["group"] == group]
        for name in present:
            line = part[part["strategy"] == name]
            x = line[years] if years else line["month"] / MONTHS_PER_YEAR
            order = np.argsort(x.to_numpy(float), kind="mergesort")
            ax.plot(
                x.to_numpy(float)[order],
                line["cumulative_incidence"].to_numpy(float)[order],
                color=r.color(name),
                lw=1.5,
                drawstyle="steps-post",
                label=f.tex(name),
            )
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        title(ax, f.tex(group.replace("_", " ")))
        ax.set_ylim(bottom=0)
        ax.grid(True, lw=0.3, alpha=0.5)
    for ax in axes[len(groups) :]:
        ax.set_axis_off()
    for ax in axes[max(0, len(groups) - ncols) : len(groups)]:
        ax.set_xlabel("Years from start")
        ax.xaxis.set_tick_params(labelbottom=True)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=min(6, len(present)), frameon=False)
    return figure


def occupancy(r: ResultFolder, table: pd.DataFrame, present: list[str], states: list[str]):
    """One panel per strategy: the shares of patients in each state, stacked, by year."""
    from matplotlib.ticker import PercentFormatter

    ncols = min(3, len(present))
    nrows = math.ceil(len(present) / ncols)
    figure = new_figure(11.0, 2.9 * nrows + 0.7, fixed=True)
    margins(figure, 0.7, 0.2, 0.95, 0.3, grid=(nrows, ncols), gaps=(0.25, 0.75))
    axes = figure.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    colours = {"on_pump": "#1f77b4", "on_tablets": "#ff7f0e", "untreated": "#bbbbbb"}
    colours["dead"] = "#444444"
    for ax, name in zip(axes, present, strict=False):
        part = table[table["strategy"] == name].sort_values("month", kind="mergesort")
        ax.stackplot(
            part["years"].to_numpy(float),
            *(part[state].to_numpy(float) for state in states),
            labels=[state.replace("_", " ") for state in states],
            colors=[colours.get(state, "#999999") for state in states],
            step="post",
        )
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        title(ax, f.tex(name))
        ax.set_ylim(0, 1)
        ax.set_xlabel("Years from start")
    for ax in axes[len(present) :]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=len(states), frameon=False)
    return figure


def forest(
    r: ResultFolder, events: pd.DataFrame, usable: pd.DataFrame, order: list[str], others: list[str]
) -> tuple[Figure, list[str]]:
    """Rate ratios against the comparator (log scale); also the strategies shown."""
    comp = r.comparator
    labels = {}
    for e, label in zip(events["event"], events.get("label", events["event"]), strict=True):
        labels.setdefault(str(e), f.text(label) or str(e))
    index = {e: i for i, e in enumerate(order)}
    k = len(others)
    offsets = np.linspace(-0.25, 0.25, k) if k > 1 else np.zeros(1)
    figure = new_figure(9.5, 0.3 * len(order) + 1.6)
    ax = figure.add_subplot()
    for i in range(0, len(order), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="#f2f2f2", lw=0, zorder=0)
    shown = []
    for j, name in enumerate(others):
        part = usable[usable["strategy"] == name]
        if not len(part):
            continue
        y = np.array([index[str(e)] for e in part["event"]], dtype=float) + offsets[j]
        rr = part["rate_ratio"].to_numpy(float)
        lo = part["rate_ratio_ci_low"].to_numpy(float)
        hi = part["rate_ratio_ci_high"].to_numpy(float)
        err = np.vstack(
            [
                np.clip(np.nan_to_num(rr - lo), 0.0, None),
                np.clip(np.nan_to_num(hi - rr), 0.0, None),
            ]
        )
        ax.errorbar(
            rr,
            y,
            xerr=err,
            fmt="o",
            ms=4,
            color=r.color(name),
            capsize=2,
            lw=1.0,
            label=f"{f.tex(name)} vs {f.tex(comp)}",
            zorder=3,
        )
        shown.append(name)
    ax.axvline(1.0, color="#555555", lw=0.9, ls="--")
    ax.set_xscale("log")
    plain_log(ax.xaxis)  # 0.1, 1, 10
    ax.set_yticks(np.arange(len(order)), labels=[f.tex(labels[e]) for e in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlabel(f"Rate ratio vs {f.tex(comp)} (95% CI, log scale)")
    ax.grid(True, axis="x", which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="lower right")
    return figure, shown


def convergence(
    r: ResultFolder, conv: pd.DataFrame, kinds: list[str], quantities: list[str], present: list[str]
) -> Figure:
    """Running means with ±1.96 MCSE bands: one row per quantity, one column per axis."""
    figure = new_figure(5.2 * len(kinds) + 1.0, 2.6 * len(quantities) + 0.8, fixed=True)
    grid = (len(quantities), len(kinds))
    margins(figure, 1.0, 0.2, 0.95, 0.3, grid=grid, gaps=(0.9, 0.75))
    axes = figure.subplots(len(quantities), len(kinds), squeeze=False)
    for qi, quantity in enumerate(quantities):
        for ai, kind in enumerate(kinds):
            ax = axes[qi, ai]
            part = conv[(conv["quantity"] == quantity) & (conv["axis"] == kind)]
            if not len(part):
                ax.set_axis_off()
                continue
            for name in present:
                line = part[part["strategy"] == name].sort_values("n", kind="mergesort")
                if not len(line):
                    continue
                n = line["n"].to_numpy(float)
                mean = line["running_mean"].to_numpy(float)
                band = 1.96 * np.nan_to_num(line["mcse"].to_numpy(float))
                color = r.color(name)
                ax.fill_between(n, mean - band, mean + band, color=color, alpha=0.2, lw=0)
                ax.plot(n, mean, color=color, lw=1.3, label=f.tex(name))
            log_if_wide(ax, part["n"].to_numpy(float))
            ax.set_xlabel(
                {"patients": "patients per strategy", "iterations": "PSA iterations"}.get(
                    kind, f.tex(kind)
                )
            )
            ax.grid(True, lw=0.3, alpha=0.5)
            if abs(float(np.nanmax(np.abs(part["running_mean"].to_numpy(float))))) >= 1000:
                thousands(ax.yaxis)
            title(ax, f"{f.tex(quantity)} by {f.tex(kind)}")
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes.ravel():
        h, lab = ax.get_legend_handles_labels()
        for handle, text in zip(h, lab, strict=True):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    if handles:
        figure.legend(handles, labels, loc="lower center", ncols=min(6, len(labels)), frameon=False)
    return figure
