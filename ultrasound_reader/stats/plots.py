"""PNG figures of the statistics: ROC with CI band, calibration, decision curve, nomogram.

Drawn on matplotlib's Agg canvas through ``Figure`` objects (no ``pyplot``), so they
never touch the global backend the Qt GUI uses and run headless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return path


def plot_roc(curves: Mapping[str, Mapping], path: str | Path, title: str = "ROC curve") -> Path:
    """``curves[name]``: ``roc`` (RocCurve.to_dict), ``auc``/``ci`` text, optional ``band`` (roc_ci_band)."""
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot()
    for k, (name, c) in enumerate(curves.items()):
        col = _COLOURS[k % len(_COLOURS)]
        band = c.get("band")
        if band:
            spec = np.asarray(band["specificity"])
            ax.fill_between(1 - spec, band["sensitivity_low"], band["sensitivity_high"],
                            color=col, alpha=0.18, linewidth=0)
        roc = c["roc"]
        spec = np.asarray(roc["specificity"])
        label = f"{name}: AUC {c['auc']:.3f}"
        if c.get("ci"):
            label += f" (DeLong CI {c['ci'][0]:.3f}-{c['ci'][1]:.3f})"
        ax.plot(1 - spec, roc["sensitivity"], color=col, lw=1.8, drawstyle="default", label=label)
        op = c.get("operating_point")
        if op:
            ax.plot(1 - op["specificity"], op["sensitivity"], "o", color=col, ms=6)
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    if any(c.get("band") for c in curves.values()):
        title += "\n(shaded: bootstrap CI of sensitivity; dot: Youden cut-off)"
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_calibration(curves: Mapping[str, Sequence[Mapping]], path: str | Path,
                     title: str = "Calibration", notes: Mapping[str, str] | None = None) -> Path:
    """``curves[name]``: rows of :func:`calibration.calibration_curve`."""
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="ideal")
    for k, (name, rows) in enumerate(curves.items()):
        col = _COLOURS[k % len(_COLOURS)]
        x = np.array([r["mean_predicted"] for r in rows])
        y = np.array([r["observed"] for r in rows])
        lo = y - np.array([r["observed_low"] for r in rows])
        hi = np.array([r["observed_high"] for r in rows]) - y
        label = name + (f" ({notes[name]})" if notes and name in notes else "")
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", color=col, ms=4, lw=1.4, capsize=2, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability", ylabel="observed fraction",
           title=title)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_decision_curve(curves: Mapping[str, Mapping], path: str | Path, title: str = "Decision curve") -> Path:
    """``curves[name]``: DecisionCurve.to_dict(); treat-all/none drawn once from the first."""
    fig = Figure(figsize=(6.5, 4.8))
    ax = fig.add_subplot()
    first = next(iter(curves.values()))
    t = np.asarray(first["thresholds"])
    ax.plot(t, first["treat_all"], color="0.45", lw=1.2, label="treat all")
    ax.plot(t, first["treat_none"], color="0.1", lw=1.2, ls=":", label="treat none")
    top = max(max(c["model"]) for c in curves.values())
    for k, (name, c) in enumerate(curves.items()):
        ax.plot(c["thresholds"], c["model"], color=_COLOURS[k % len(_COLOURS)], lw=1.8, label=name)
    prev = first["prevalence"]
    ax.set(xlim=(0, 1), ylim=(-0.05 * max(prev, 0.1), max(top, prev) * 1.1 + 0.01),
           xlabel="threshold probability", ylabel="net benefit", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_nomogram(spec: Mapping, path: str | Path, title: str | None = None) -> Path:
    """Classic nomogram drawn from :meth:`Nomogram.to_dict` alone (as the GUI will)."""
    return _save(nomogram_figure(spec, title), path)


def nomogram_figure(spec: Mapping, title: str | None = None, marks: Mapping | None = None) -> Figure:
    """The nomogram of :func:`plot_nomogram` as a Figure; ``marks`` puts one patient on it:
    ``{"points": {predictor: points}, "total": total points, "label": text}`` (red dots on
    each axis, a dashed line down from the total to the probability axis, the label there)."""
    preds = spec["predictors"]
    total = spec["total_points_axis"]["ticks"]
    lp = spec["lp_axis"]
    pr = spec["probability_axis"]
    maxscale = spec["maxscale"]
    rows = ["Points", *[p["name"] for p in preds], "Total points", "Linear predictor", "Probability"]
    fig = Figure(figsize=(8, 0.55 * len(rows) + 1.0))
    ax = fig.add_subplot()
    ax.set_xlim(-0.28, 1.03)
    ax.set_ylim(len(rows) - 0.4, -0.8)
    ax.axis("off")
    tmax = max(total)

    def axis(y: int, xs: Sequence[float], labels: Sequence[str], scale: float) -> None:
        xs = np.asarray(xs, float) / scale
        ax.plot([xs.min(), xs.max()], [y, y], color="k", lw=1)
        # Crowded ticks (a narrow axis): alternate labels above and below the line,
        # as rms does, and if still crowded label every other tick.
        width = max(len(lab) for lab in labels) * 0.0085 if labels else 0.0
        gap = float(np.min(np.diff(np.sort(xs)))) if xs.size > 1 else 1.0
        alternate = gap < width
        step = 2 if gap * 2 < width else 1
        for k, (x, lab) in enumerate(zip(xs, labels)):
            ax.plot([x, x], [y, y - 0.12], color="k", lw=1)
            if step == 2 and k % 2 and k != len(xs) - 1:
                continue
            below = alternate and (k // step) % 2 == 1
            ax.text(x, y + 0.12 if below else y - 0.18, lab, ha="center",
                    va="top" if below else "bottom", fontsize=7)

    def name(y: int, text: str) -> None:
        ax.text(-0.03, y, text, ha="right", va="center", fontsize=9)

    pts = np.linspace(0, maxscale, 11)
    name(0, "Points")
    axis(0, pts, [f"{p:g}" for p in pts], maxscale)
    for i, p in enumerate(preds, start=1):
        name(i, p["name"])
        axis(i, p["points"], p["labels"], maxscale)
    y = len(preds) + 1
    name(y, "Total points")
    axis(y, total, [f"{t:g}" for t in total], tmax)
    name(y + 1, "Linear predictor")
    axis(y + 1, lp["points"], [f"{v:g}" for v in lp["linear_predictor"]], tmax)
    name(y + 2, "Probability")
    axis(y + 2, pr["points"], [f"{v:g}" for v in pr["probability"]], tmax)
    if marks:
        for i, p in enumerate(preds, start=1):
            v = (marks.get("points") or {}).get(p["name"])
            if v is not None:
                ax.plot([float(v) / maxscale], [i], "o", color="#d62728", ms=6, zorder=5)
        total_pts = marks.get("total")
        if total_pts is not None:
            x = float(total_pts) / tmax
            ax.plot([x], [y], "o", color="#d62728", ms=6, zorder=5)
            ax.plot([x, x], [y, y + 2], "--", color="#d62728", lw=1, zorder=4)
            ax.plot([x], [y + 2], "v", color="#d62728", ms=7, zorder=5)
            if marks.get("label"):
                ax.text(x + 0.01, y + 2, str(marks["label"]), color="#d62728", fontsize=8, va="center")
    ax.set_title(title or f"Nomogram: {spec.get('outcome', '')}", fontsize=11)
    fig.tight_layout()
    return fig
