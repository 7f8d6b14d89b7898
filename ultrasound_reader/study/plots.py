"""PNG figures of a reader study: readers' ROC points with the model's curve; accuracy by experience.

matplotlib ``Figure`` objects on the Agg canvas (no pyplot), like ``stats.plots``.
Simulated studies say so in every title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ultrasound_reader.stats.plots import _COLOURS, _save
from ultrasound_reader.study.models import EXPERIENCE_GROUPS


def _sim(result: dict[str, Any], with_name: bool = False) -> str:
    """' - SIMULATED readers' for titles of simulated studies (unless the study name shown says so)."""
    s = result["study"]
    if with_name and "SIMULATED" in s["name"].upper():
        return ""
    return " - SIMULATED readers" if s["simulated"] or s["simulated_readers"] else ""


def plot_reader_roc(result: dict[str, Any], path: str | Path) -> Path:
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    m = result["model"]
    if "roc" in m and m["auc"]:
        ax.plot(m["roc"]["fpr"], m["roc"]["tpr"], color="0.2", lw=1.8,
                label=f"model {m['model']}: AUC {m['auc']['auc']:.3f}")
        b = m.get("at_bundle_cutoff")
        if b and np.isfinite(b["sensitivity"]["value"]) and np.isfinite(b["specificity"]["value"]):
            ax.plot(1 - b["specificity"]["value"], b["sensitivity"]["value"], "s", color="0.2", ms=7,
                    label="model at its cut-off")
    readers = [(k, v) for k, v in result["readers"].items() if k != "pooled"]
    for i, (name, e) in enumerate(readers):
        col = _COLOURS[i % len(_COLOURS)]
        pts = []
        for phase in ("pre", "post"):
            x = e.get(phase)
            if x and np.isfinite(x["sensitivity"]["value"]) and np.isfinite(x["specificity"]["value"]):
                pts.append((1 - x["specificity"]["value"], x["sensitivity"]["value"]))
            else:
                pts.append(None)
        tag = " (sim.)" if e.get("simulated") else ""
        if pts[0]:
            ax.plot(*pts[0], "o", mfc="white", mec=col, mew=1.8, ms=8, label=f"{name}{tag} unaided")
        if pts[1]:
            ax.plot(*pts[1], "o", color=col, ms=8, label=f"{name}{tag} aided")
        if pts[0] and pts[1] and pts[0] != pts[1]:
            ax.annotate("", xy=pts[1], xytext=pts[0], arrowprops={"arrowstyle": "->", "color": col, "lw": 1.2})
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="1 - specificity", ylabel="sensitivity")
    ax.set_title(f"{result['study']['name']}{_sim(result, with_name=True)}\nreaders before (open) and after (filled) the AI; "
                 "model ROC curve", fontsize=9)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def plot_experience(result: dict[str, Any], path: str | Path) -> Path:
    groups = result["experience_groups"]["groups"]
    labels = [g for g, _, _ in EXPERIENCE_GROUPS if g in groups]
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    pre = [groups[g]["accuracy"]["value"] for g in labels]
    err = np.array([[groups[g]["accuracy"]["value"] - groups[g]["accuracy"]["ci_low"] for g in labels],
                    [groups[g]["accuracy"]["ci_high"] - groups[g]["accuracy"]["value"] for g in labels]])
    ax.bar(x - 0.18, pre, 0.36, yerr=err, capsize=3, color=_COLOURS[0], label="readers unaided")
    post = [groups[g].get("accuracy_aided", {}).get("value", np.nan) for g in labels]
    ax.bar(x + 0.18, post, 0.36, color=_COLOURS[2], label="readers aided")
    model_acc = result["experience_groups"]["model_accuracy"]
    ax.axhline(model_acc, color="0.2", ls="--", lw=1.5, label=f"model {100 * model_acc:.1f}%")
    ax.set_xticks(x, [f"{g}\n({len(groups[g]['readers'])} reader{'s' if len(groups[g]['readers']) != 1 else ''})"
                   for g in labels], fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="accuracy")
    ax.set_title(f"Accuracy by experience group (bars: 95% Clopper-Pearson CI){_sim(result)}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def write_plots(result: dict[str, Any], directory: str | Path) -> list[Path]:
    d = Path(directory)
    out = [plot_reader_roc(result, d / "readers_roc.png")]
    if result["experience_groups"]["groups"]:
        out.append(plot_experience(result, d / "accuracy_by_experience.png"))
    return out
