"""The papers' evaluation of one or more scores against a truth column, as one dict.

For each score: AUC with DeLong and stratified-bootstrap CIs, the Youden operating
point and the 2x2 metrics there (Clopper-Pearson CIs, bootstrap for F1); for scores
that are probabilities, calibration (curve, intercept/slope, Hosmer-Lemeshow, Brier)
and the decision curve. Then paired DeLong tests between every pair of scores, and
results within strata of the ``by`` columns at each score's overall cut-off. The
``evaluate`` sub-command prints this and draws its plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.calibration import (
    brier_score, calibration_curve, calibration_intercept_slope, hosmer_lemeshow)
from ultrasound_reader.stats.cutoff import binary_metrics, youden_cutoff
from ultrasound_reader.stats.decision_curve import net_benefit
from ultrasound_reader.stats.delong import delong_auc, delong_paired_test
from ultrasound_reader.stats.inputs import complete_cases, require_columns
from ultrasound_reader.stats.roc import bootstrap_auc_ci, roc_ci_band, roc_curve
from ultrasound_reader.stats.strata import size_bands, stratified_results


def evaluate_scores(df: pd.DataFrame, truth: str, scores: Sequence[str], by: Sequence[str] = (),
                    size_band_column: str | None = None, n_boot: int = 2000, seed: int = 0,
                    conf_level: float = 0.95, band: bool = False, source: str = "table") -> dict:
    """Everything ``evaluate`` reports, JSON-ready apart from NaN (see jsonutil)."""
    if not scores:
        raise UserError("give at least one --score column")
    if len(set(scores)) != len(scores):
        raise UserError("a --score column is listed twice")
    require_columns(df, [truth, *scores, *by, *([size_band_column] if size_band_column else [])], source)
    strata_cols: dict[str, list] = {b: df[b].tolist() for b in by}
    if size_band_column:
        strata_cols[f"size band ({size_band_column})"] = size_bands(df[size_band_column], size_band_column)
    out: dict = {"n_rows": int(len(df)), "truth": truth, "conf_level": conf_level, "n_boot": n_boot,
                 "seed": seed, "scores": {}, "comparisons": [], "strata": {}}
    for s in scores:
        out["scores"][s] = _evaluate_one(df[truth], df[s], s, truth, n_boot, seed, conf_level, band)
    for a, b in combinations(scores, 2):
        c = complete_cases(df[truth], df[a], df[b], truth_name=truth, score_names=[a, b])
        t = delong_paired_test(c.truth, c.scores[0], c.scores[1], conf_level)
        out["comparisons"].append({"score1": a, "score2": b, "method": "DeLong paired (pROC roc.test)",
                                   **t.to_dict(), "n_missing": c.n_missing})
    for name, labels in strata_cols.items():
        out["strata"][name] = {
            s: stratified_results(df[truth], df[s], labels, out["scores"][s]["youden"]["threshold"],
                                  conf_level)
            for s in scores
        }
    return out


def _evaluate_one(truth: pd.Series, score: pd.Series, name: str, truth_name: str, n_boot: int, seed: int,
                  conf_level: float, band: bool) -> dict:
    c = complete_cases(truth, score, truth_name=truth_name, score_names=[name])
    t, s = c.truth, c.scores[0]
    notes: list[str] = []
    if c.n_missing:
        notes.append(f"{c.n_missing} row(s) with missing {truth_name} or {name} dropped")
    n = t.size
    if n < 10:
        notes.append(f"only {n} cases: estimates are unreliable and intervals wide")
    n_distinct = int(np.unique(s).size)
    if n_distinct < n:
        notes.append(f"ties: {n_distinct} distinct values among {n} scores (ties count 1/2 in the AUC)")
    d = delong_auc(t, s, conf_level)
    if d.auc in (0.0, 1.0):
        notes.append(f"perfect separation (AUC = {d.auc:g}): DeLong variance is 0 and the CI degenerate")
    elif d.auc < 0.5:
        notes.append("AUC below 0.5: higher scores go with negatives (direction is fixed: higher = positive)")
    if np.isnan(d.variance):
        notes.append("a class has a single case: DeLong variance undefined")
    boot = bootstrap_auc_ci(t, s, n_boot, conf_level, seed) if n_boot > 0 else None
    op = youden_cutoff(t, s)
    m = binary_metrics(t, s, op.threshold, conf_level, n_boot, seed)
    res: dict = {
        "n": int(n), "n_missing": c.n_missing, "n_pos": c.n_pos, "n_neg": c.n_neg,
        "auc": d.auc, "auc_se": d.se, "auc_ci_delong": [d.ci_low, d.ci_high],
        "auc_ci_bootstrap": None if boot is None else [boot.ci_low, boot.ci_high],
        "youden": op.to_dict(), "metrics_at_youden": m.to_dict(),
        "roc": roc_curve(t, s).to_dict(),
        "is_probability": bool(s.min() >= 0 and s.max() <= 1),
        "calibration": None, "decision_curve": None, "notes": notes,
    }
    if band and n_boot > 0:
        res["roc_band"] = roc_ci_band(t, s, n_boot=min(n_boot, 1000), conf_level=conf_level, seed=seed)
    if res["is_probability"]:
        cal = calibration_intercept_slope(t, s)
        try:
            hl = hosmer_lemeshow(t, s).to_dict()
        except UserError as exc:
            hl = None
            notes.append(str(exc))
        res["calibration"] = {"brier": brier_score(t, s), "intercept": cal.intercept, "slope": cal.slope,
                              "calibration_in_the_large": cal.citl, "hosmer_lemeshow": hl,
                              "curve": calibration_curve(t, s), "notes": cal.notes}
        res["decision_curve"] = net_benefit(t, s).to_dict()
    else:
        notes.append("not a probability (values outside [0, 1]): calibration and decision curve skipped")
    return res


def write_plots(result: dict, directory: str | Path) -> list[Path]:
    """ROC (with bootstrap band when computed), calibration and decision-curve PNGs."""
    from ultrasound_reader.stats.plots import plot_calibration, plot_decision_curve, plot_roc

    out_dir = Path(directory)
    scores = result["scores"]
    written = [plot_roc({name: {"roc": r["roc"], "auc": r["auc"], "ci": r["auc_ci_delong"],
                                "band": r.get("roc_band"), "operating_point": r["youden"]}
                         for name, r in scores.items()}, out_dir / "roc.png")]
    probs = {n: r for n, r in scores.items() if r["calibration"]}
    if probs:
        written.append(plot_calibration(
            {n: r["calibration"]["curve"] for n, r in probs.items()}, out_dir / "calibration.png",
            notes={n: f"HL p={r['calibration']['hosmer_lemeshow']['p']:.2f}"
                   for n, r in probs.items() if r["calibration"]["hosmer_lemeshow"]}))
        written.append(plot_decision_curve({n: r["decision_curve"] for n, r in probs.items()},
                                           out_dir / "decision_curve.png"))
    return written


def _fmt_ci(v: float, ci: Sequence[float] | None, pct: bool = False) -> str:
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.3f}")
    if ci is None or any(x is None or (isinstance(x, float) and np.isnan(x)) for x in ci):
        return f(v) if not np.isnan(v) else "n/a"
    return f"{f(v)} [{f(ci[0])}, {f(ci[1])}]"


def format_report(result: dict) -> str:
    """Plain-text summary of :func:`evaluate_scores`."""
    lines = [f"{result['n_rows']} rows; truth column '{result['truth']}'; "
             f"{int(100 * result['conf_level'])}% CIs; bootstrap B={result['n_boot']} seed={result['seed']}"]
    for name, r in result["scores"].items():
        m = r["metrics_at_youden"]
        lines += [
            "", f"== {name}: n={r['n']} ({r['n_pos']} positive, {r['n_neg']} negative, {r['n_missing']} missing)",
            f"  AUC            {_fmt_ci(r['auc'], r['auc_ci_delong'])} DeLong"
            + (f"; {_fmt_ci(r['auc'], r['auc_ci_bootstrap'])} bootstrap" if r["auc_ci_bootstrap"] else ""),
            f"  Youden cut-off {r['youden']['threshold']:.6g} (J = {r['youden']['youden_index']:.3f})",
            f"  2x2            TP {m['tp']}  FN {m['fn']}  TN {m['tn']}  FP {m['fp']}",
        ]
        for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"):
            e = m[k]
            lines.append(f"  {k:<14} {_fmt_ci(e['value'], [e['ci_low'], e['ci_high']], pct=True)}")
        cal = r["calibration"]
        if cal:
            hl = cal["hosmer_lemeshow"]
            lines.append(f"  calibration    intercept {cal['intercept']:.3f}, slope {cal['slope']:.3f}, "
                         f"Brier {cal['brier']:.4f}"
                         + (f", Hosmer-Lemeshow X2 {hl['statistic']:.3f} df {hl['df']} p {hl['p']:.3f}" if hl else ""))
            dc = r["decision_curve"]
            gain = np.array(dc["model"]) - np.maximum(np.array(dc["treat_all"]), 0)
            useful = [t for t, g in zip(dc["thresholds"], gain) if g > 0]
            span = f"{min(useful):g}-{max(useful):g}" if useful else "none"
            best = int(np.argmax(gain))
            lines.append(f"  decision curve above treat-all and treat-none at thresholds {span}; "
                         f"largest gain {gain[best]:.3f} at {dc['thresholds'][best]:g}")
        for note in (cal or {}).get("notes", []):
            lines.append(f"  calibration note: {note}")
        for note in r["notes"]:
            lines.append(f"  note: {note}")
    for c in result["comparisons"]:
        lines.append("")
        lines.append(f"{c['score1']} vs {c['score2']}: AUC difference {_fmt_ci(c['difference'], [c['ci_low'], c['ci_high']])}, "
                     f"DeLong Z = {c['statistic']:.3f}, p = {c['p']:.4g} (n = {c['n']})")
    for by, per_score in result["strata"].items():
        lines += ["", f"== strata by {by} (overall Youden cut-off of each score)"]
        for s, rows in per_score.items():
            for row in rows:
                auc = row["auc"]
                mm = row.get("metrics")
                txt = _fmt_ci(auc["auc"], [auc["ci_low"], auc["ci_high"]]) if auc else "n/a"
                sens = spec = "n/a"
                if mm:
                    sens = _fmt_ci(mm["sensitivity"]["value"], [mm["sensitivity"]["ci_low"], mm["sensitivity"]["ci_high"]], True)
                    spec = _fmt_ci(mm["specificity"]["value"], [mm["specificity"]["ci_low"], mm["specificity"]["ci_high"]], True)
                lines.append(f"  {s:<12} {row['stratum']:<14} n={row['n']:<4} (+{row['n_pos']}/-{row['n_neg']}) "
                             f"AUC {txt}  sens {sens}  spec {spec}")
    return "\n".join(lines)
