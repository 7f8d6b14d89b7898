"""Results within strata of a column (lesion size band, liver-background type, centre).

Each stratum gets its counts, the AUC with DeLong CI when it holds both classes (at
least two of each for a variance), and the 2x2 metrics at the cut-off chosen on the
whole sample: the papers apply the overall Youden cut-off inside each stratum rather
than re-optimising it there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ultrasound_reader.case import SIZE_BANDS, size_band
from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.cutoff import binary_metrics
from ultrasound_reader.stats.delong import delong_auc
from ultrasound_reader.stats.inputs import as_score, as_truth

MISSING_STRATUM = "(missing)"


def size_bands(diameters_cm: object, name: str = "diameter") -> list[str]:
    """Map maximal diameters (cm) to the FLL paper's size bands; missing stays missing."""
    d = as_score(diameters_cm, name)
    out = []
    for v in d:
        if math.isnan(v):
            out.append(MISSING_STRATUM)
        elif v <= 0:
            raise UserError(f"{name}: diameter {v} cm is not positive")
        else:
            out.append(size_band(float(v)))
    return out


def stratified_results(truth: object, score: object, strata: object, cutoff: float | None,
                       conf_level: float = 0.95, n_boot: int = 0, seed: int = 0) -> list[dict]:
    """One row per stratum value (sorted; missing stratum values grouped last)."""
    t = as_truth(truth)
    s = as_score(score)
    labels = pd.Series(list(strata) if not isinstance(strata, pd.Series) else strata.to_list(), dtype=object)
    labels = labels.where(labels.notna(), MISSING_STRATUM).astype(str)
    if len(labels) != t.size:
        raise UserError(f"strata: {len(labels)} values but truth has {t.size}")
    levels = sorted(set(labels) - {MISSING_STRATUM}, key=_natural)
    if MISSING_STRATUM in set(labels):
        levels.append(MISSING_STRATUM)
    rows = []
    for lv in levels:
        sel = (labels == lv).to_numpy()
        tt, ss = t[sel], s[sel]
        ok = ~np.isnan(tt) & ~np.isnan(ss)
        n_pos, n_neg = int(np.sum(tt[ok] == 1)), int(np.sum(tt[ok] == 0))
        row: dict = {"stratum": lv, "n": int(sel.sum()), "n_missing": int((~ok).sum()),
                     "n_pos": n_pos, "n_neg": n_neg, "auc": None, "notes": []}
        if n_pos and n_neg:
            a = delong_auc(tt, ss, conf_level)
            row["auc"] = {"auc": a.auc, "ci_low": a.ci_low, "ci_high": a.ci_high, "se": a.se}
            if n_pos < 2 or n_neg < 2:
                row["notes"].append("fewer than 2 cases in a class: no DeLong variance")
        else:
            row["notes"].append("one class only: AUC not defined")
        if ok.any() and cutoff is not None:
            m = binary_metrics(tt, ss, cutoff, conf_level, n_boot=n_boot, seed=seed, require_both_classes=False)
            row["metrics"] = m.to_dict()
            row["notes"] += [n for n in m.notes if n not in row["notes"]]
        rows.append(row)
    return rows


def _natural(s: str) -> tuple:
    """Sort numeric-looking labels numerically, size bands by their lower edge."""
    try:
        return (0, float(s), s)
    except ValueError:
        pass
    for label, low, _high in SIZE_BANDS:
        if s == label:
            return (1, low, s)
    return (2, 0.0, s)
