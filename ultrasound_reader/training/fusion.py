"""Model^LBC: choose the clinical-ultrasonic factors and fit the logistic fusion.

As in Yang et al. 2020: every candidate factor is screened by univariable logistic
regression on the training cohort; those with p < 0.05 enter a multivariable model
together with the Model^LB score, and those still significant there are kept. The
final regression (LB logit + kept factors) gives the fusion coefficients written
into the bundle manifest, with odds ratios and 95 % Wald CIs recorded for the card.

The factors are coded exactly as the analysis pipeline will code them at run time:
each candidate is an :mod:`ultrasound_reader.ai.fusion` term spec, and the design
matrix is built with that module's ``encode_term``, so training and inference
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ultrasound_reader.ai.fusion import encode_term
from ultrasound_reader.case import ClinicalFactors
from ultrasound_reader.errors import UserError

LB_TERM: dict[str, Any] = {"name": "LB score", "source": "model", "model": "LB", "encoding": "logit"}

# Config factor name -> the run-time term spec (without its coefficient).
CANDIDATE_TERMS: dict[str, dict[str, Any]] = {
    "sex_male": {"name": "male", "source": "factor", "field": "sex", "encoding": "equals", "value": "M"},
    "age_ge_55": {"name": "age >= 55", "source": "factor", "field": "age", "encoding": "at_least", "value": 55},
    "tumour_history": {"name": "extrahepatic tumour history", "source": "factor", "field": "tumour_history",
                       "encoding": "boolean"},
    "hepatitis": {"name": "hepatitis history", "source": "factor", "field": "hepatitis",
                  "encoding": "at_least", "value": 1},
    "halo": {"name": "hypoechoic halo", "source": "factor", "field": "halo", "encoding": "boolean"},
    "vascularity": {"name": "intratumoural vascularity", "source": "factor", "field": "vascularity",
                    "encoding": "boolean"},
    "afp_high": {"name": "AFP > 200 ng/mL", "source": "factor", "field": "afp_high", "encoding": "boolean"},
    "shape_irregular": {"name": "irregular shape", "source": "factor", "field": "shape", "encoding": "equals",
                        "value": "irregular"},
    "margin_not_smooth": {"name": "margin not smooth", "source": "factor", "field": "margin",
                          "encoding": "equals", "value": "not_smooth"},
    "posterior_enhancement": {"name": "posterior enhancement", "source": "factor",
                              "field": "posterior_enhancement", "encoding": "boolean"},
    "satellite": {"name": "satellite nodules", "source": "factor", "field": "satellite", "encoding": "boolean"},
}


def design_matrix(lb_prob: Sequence[float], factors: Sequence[ClinicalFactors],
                  candidates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Columns [LB logit, candidate 1, ...] coded as at run time; NaN where a factor is missing."""
    terms = [LB_TERM] + [CANDIDATE_TERMS[c] for c in candidates]
    x = np.full((len(lb_prob), len(terms)), np.nan)
    for i, (p, f) in enumerate(zip(lb_prob, factors)):
        for j, t in enumerate(terms):
            v = encode_term(t, f, {"LB": float(p)})
            if v is not None:
                x[i, j] = v
    return x, [t["name"] for t in terms]


@dataclass
class FusionFit:
    """The fitted LBC regression and how its factors were chosen."""

    spec: dict[str, Any]  # the manifest's fusion section (ai.fusion format)
    selected: list[str]  # config factor names kept
    univariable: list[dict[str, Any]]  # per candidate: OR, CI, p, n
    multivariable: list[dict[str, Any]]  # the screening multivariable model
    final: list[dict[str, Any]]  # the fitted fusion model: per term OR, CI, p
    n: int
    n_missing: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"selected": self.selected, "univariable": self.univariable, "multivariable": self.multivariable,
                "final": self.final, "n": self.n, "n_missing": self.n_missing, "notes": self.notes}


def _row(t: dict[str, Any]) -> dict[str, Any]:
    return {"term": t["term"], "coef": t["coef"], "se": t["se"], "p": t["p"], "or": t["or"],
            "or_ci_low": t["or_ci_low"], "or_ci_high": t["or_ci_high"]}


def fit_lbc(lb_prob: Sequence[float], factors: Sequence[ClinicalFactors], labels: Sequence[int],
            candidates: Sequence[str], p_threshold: float = 0.05) -> tuple[FusionFit, Any]:
    """Select factors (univariable, then multivariable p < threshold) and fit the LBC regression.

    Returns the fit and its :class:`~ultrasound_reader.stats.nomogram.Nomogram` (predictors
    named as the fusion terms, so the analyzer can score a case with the encoded values).
    """
    import warnings

    with warnings.catch_warnings(record=True):  # separation is recorded by the stats layer's notes
        return _fit_lbc(lb_prob, factors, labels, candidates, p_threshold)


def _fit_lbc(lb_prob: Sequence[float], factors: Sequence[ClinicalFactors], labels: Sequence[int],
             candidates: Sequence[str], p_threshold: float) -> tuple[FusionFit, Any]:
    import pandas as pd

    from ultrasound_reader.stats.logistic import INTERCEPT, fit_logistic, screen_and_fit
    from ultrasound_reader.stats.nomogram import Nomogram

    x, names = design_matrix(lb_prob, factors, candidates)
    df = pd.DataFrame(x, columns=names)
    df["malignant"] = np.asarray(labels, dtype=float)
    term_of = {CANDIDATE_TERMS[c]["name"]: c for c in candidates}
    usable, notes = [], []
    for name in names[1:]:
        col = df[name].dropna()
        if col.nunique() < 2 or df.loc[col.index, "malignant"].nunique() < 2:
            notes.append(f"{name}: constant (or one class) in the training cohort, not screened")
        else:
            usable.append(name)
    screen = None
    if usable:
        try:
            screen = screen_and_fit(df, "malignant", usable, p_threshold=p_threshold)
        except UserError as exc:  # e.g. collinear factors in a small cohort: fuse the LB score alone
            notes.append(f"factor screening failed ({exc}); no factor kept")
    uni = ([{"factor": term_of[c], **_row(f.table()[1]), "n": f.n} for c, f in screen.univariable.items()]
           if screen else [])
    multi_rows: list[dict[str, Any]] = []
    kept: list[str] = []
    if screen is not None and screen.multivariable is not None:
        for t in screen.multivariable.table()[1:]:
            multi_rows.append(_row(t))
            if t["p"] < p_threshold:
                kept.append(t["term"])
    final = fit_logistic(df, "malignant", [names[0], *kept])
    coefs = final.coefficients()
    if not all(np.isfinite(list(coefs.values()))):
        raise UserError("Model^LBC: the logistic fusion has no finite estimates on the training cohort "
                        f"(separation; {'; '.join(final.warnings)})")
    terms = [dict(LB_TERM, coef=float(coefs[names[0]]))]
    terms += [dict(CANDIDATE_TERMS[term_of[k]], coef=float(coefs[k])) for k in kept]
    spec = {"model": "LBC", "intercept": float(coefs[INTERCEPT]), "terms": terms}
    used = df[[names[0], *kept]].notna().all(axis=1)
    nomogram = Nomogram.from_fit(final, data=df.loc[used, [names[0], *kept]])
    fit = FusionFit(spec, [term_of[k] for k in kept], uni, multi_rows, [_row(t) for t in final.table()],
                    final.n, final.n_missing, notes + final.warnings)
    return fit, nomogram
