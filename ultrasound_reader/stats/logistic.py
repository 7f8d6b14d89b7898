"""Logistic regression (statsmodels GLM, binomial, IRLS like R's ``glm``).

Coefficients, odds ratios with Wald 95 % CIs (R ``exp(confint.default(fit))``) and
Wald p-values; univariable screening then a multivariable model of the predictors
with p < 0.05, as the FLL paper (Yang et al. 2020) built Model^LBC. Categorical
predictors are dummy-coded against their first (lowest) level, as R's treatment
contrasts do, with design columns named ``"col=level"``.

Perfect separation does not crash: the fit is returned with ``separation=True``
and a warning saying which estimates are not finite, as R's ``glm`` warns
"fitted probabilities numerically 0 or 1 occurred".
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.inputs import as_score, as_truth, check_both_classes

INTERCEPT = "(Intercept)"

log = logging.getLogger(__name__)


@dataclass
class LogisticFit:
    """A fitted logistic model and everything needed to predict and report it."""

    outcome: str
    predictors: list[str]  # data columns
    categorical: dict[str, list]  # column -> its levels (first = reference)
    terms: list[str]  # design columns, INTERCEPT first
    coef: np.ndarray
    se: np.ndarray
    n: int
    n_events: int
    n_missing: int
    converged: bool
    separation: bool
    loglik: float
    deviance: float
    linear_predictor: np.ndarray  # on the fitted rows
    conf_level: float = 0.95
    warnings: list[str] = field(default_factory=list)

    # -- derived statistics -------------------------------------------------------
    @property
    def z(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.coef / self.se

    @property
    def p(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.z))

    @property
    def odds_ratio(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.coef)

    def or_ci(self) -> tuple[np.ndarray, np.ndarray]:
        q = stats.norm.ppf(1 - (1 - self.conf_level) / 2)
        with np.errstate(over="ignore"):
            return np.exp(self.coef - q * self.se), np.exp(self.coef + q * self.se)

    @property
    def aic(self) -> float:
        return float(-2 * self.loglik + 2 * len(self.terms))

    def coefficients(self) -> dict[str, float]:
        return dict(zip(self.terms, map(float, self.coef)))

    def table(self) -> list[dict]:
        """One row per term: coef, SE, z, p, OR and its Wald CI."""
        lo, hi = self.or_ci()
        return [
            {"term": t, "coef": float(b), "se": float(s), "z": float(z), "p": float(p),
             "or": float(o), "or_ci_low": float(a), "or_ci_high": float(c)}
            for t, b, s, z, p, o, a, c in zip(self.terms, self.coef, self.se, self.z, self.p,
                                              self.odds_ratio, lo, hi)
        ]

    # -- prediction ---------------------------------------------------------------
    def design(self, data: pd.DataFrame | dict) -> np.ndarray:
        df = pd.DataFrame(data) if isinstance(data, dict) else data
        return _design(df, self.predictors, self.categorical)[0]

    def predict_lp(self, data: pd.DataFrame | dict) -> np.ndarray:
        return self.design(data) @ self.coef

    def predict_proba(self, data: pd.DataFrame | dict) -> np.ndarray:
        return stats.logistic.cdf(self.predict_lp(data))

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome, "predictors": self.predictors,
            "categorical": {k: [_plain(v) for v in lv] for k, lv in self.categorical.items()},
            "n": self.n, "n_events": self.n_events, "n_missing": self.n_missing,
            "converged": self.converged, "separation": self.separation,
            "loglik": self.loglik, "deviance": self.deviance, "aic": self.aic,
            "conf_level": self.conf_level, "coefficients": self.table(), "warnings": self.warnings,
        }


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def _design(df: pd.DataFrame, predictors: Sequence[str], categorical: dict[str, list]) -> tuple[np.ndarray, list[str]]:
    cols = [np.ones(len(df))]
    names = [INTERCEPT]
    for p in predictors:
        if p not in df.columns:
            raise UserError(f"predictor column '{p}' not found (columns: {', '.join(map(str, df.columns))})")
        if p in categorical:
            values = df[p].to_numpy()
            known = set(categorical[p])
            unknown = {v for v in values if v not in known and not pd.isna(v)}
            if unknown:
                raise UserError(f"{p}: level(s) {sorted(map(str, unknown))} not seen when the model was fitted")
            for lv in categorical[p][1:]:
                cols.append((values == lv).astype(float))
                names.append(f"{p}={lv}")
        else:
            try:
                cols.append(as_score(df[p], p))
            except UserError as exc:
                raise UserError(f"{exc} (or list {p} as categorical)") from None
            names.append(p)
    return np.column_stack(cols), names


def fit_logistic(data: pd.DataFrame, outcome: str, predictors: Sequence[str],
                 categorical: Sequence[str] = (), conf_level: float = 0.95) -> LogisticFit:
    """Fit ``outcome ~ predictors`` by maximum likelihood (binomial GLM, IRLS).

    Rows with a missing outcome or predictor are dropped and counted.
    """
    predictors = list(predictors)
    if not predictors:
        raise UserError("no predictors given")
    missing_cols = [c for c in [outcome, *predictors] if c not in data.columns]
    if missing_cols:
        raise UserError(f"column(s) {', '.join(repr(c) for c in missing_cols)} not found "
                        f"(columns: {', '.join(map(str, data.columns))})")
    if len(set(predictors)) != len(predictors):
        raise UserError("predictors: a column is listed twice")
    y_all = as_truth(data[outcome].to_numpy(), outcome)
    keep = ~np.isnan(y_all) & data[predictors].notna().all(axis=1).to_numpy()
    df = data.loc[keep]
    y = y_all[keep]
    n_missing = int((~keep).sum())
    check_both_classes(y, outcome, n_missing)
    cats = {c: sorted(df[c].unique().tolist(), key=_level_key) for c in categorical}
    for c, lv in cats.items():
        if len(lv) < 2:
            raise UserError(f"{c}: categorical predictor has a single level ({lv[0]!r})")
    X, terms = _design(df, predictors, cats)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise UserError(f"predictors {', '.join(predictors)} are collinear (or one is constant); "
                        "the model is not identifiable")
    msgs: list[str] = []
    # Run IRLS well past R's stopping point, then take R's iterate (see _r_glm_iterate).
    res, separation = binomial_glm(y, X, tol=1e-14, maxiter=R_GLM_MAXIT)
    coef, se, converged = _r_glm_iterate(res, X, y)
    mu = stats.logistic.cdf(X @ coef)
    eps = 10 * np.finfo(float).eps
    if np.any((mu < eps) | (mu > 1 - eps)):
        separation = True
    if separation:
        msgs.append("perfect or quasi-complete separation: fitted probabilities numerically 0 or 1 "
                    "occurred; coefficients, ORs and Wald CIs of the separating predictors are not "
                    "finite estimates")
    if not converged:
        msgs.append(f"the fit did not converge in {R_GLM_MAXIT} iterations")
    if y.size < 10 * len(predictors) or min(y.sum(), y.size - y.sum()) < 10:
        msgs.append(f"few events ({int(y.sum())} of {y.size}) for {len(terms) - 1} term(s): estimates are unstable")
    return LogisticFit(
        outcome=outcome, predictors=predictors, categorical=cats, terms=terms,
        coef=coef, se=se, n=int(y.size), n_events=int(y.sum()), n_missing=n_missing,
        converged=converged, separation=separation, loglik=_loglik(y, X @ coef),
        deviance=-2 * _loglik(y, X @ coef), linear_predictor=X @ coef,
        conf_level=conf_level, warnings=msgs,
    )


def binomial_glm(y: np.ndarray, X: np.ndarray, offset: np.ndarray | None = None, **fit_kw: object):
    """statsmodels' binomial GLM fit, with its warnings kept off the terminal.

    Returns the results and whether statsmodels saw perfect separation; callers
    report that as a statement in their output. Other warnings go to the log.
    """
    import statsmodels.api as sm  # heavy import, only when fitting

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sm.GLM(y, X, family=sm.families.Binomial(), offset=offset).fit(**fit_kw)
    separation = False
    for w in caught:
        if "separation" in str(w.message).lower():
            separation = True
        else:
            log.debug("statsmodels: %s: %s", w.category.__name__, w.message)
    return res, separation


# R's glm.control(): epsilon = 1e-8, maxit = 25.
R_GLM_EPSILON = 1e-8
R_GLM_MAXIT = 25


def _r_glm_iterate(res, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Coefficients and SEs exactly as R's ``glm.fit`` + ``summary.glm`` report them.

    R stops IRLS at the first iteration with |dev - dev_old| / (|dev| + 0.1) < 1e-8
    and computes the SEs from the QR of that last weighted least-squares step, whose
    weights come from the *previous* iterate. Those SEs differ from the information
    at the converged point by ~1e-4 relative (the coefficients by ~1e-8), more than
    the 1e-6 agreement we promise, so we pick R's iterate from statsmodels' IRLS
    history (same start, mu = (y + 1/2) / 2, and same updates) and use R's weights.
    """
    hist = getattr(res, "fit_history", None) or {}
    params, dev = hist.get("params", []), hist.get("deviance", [])
    # Layout: index 0 is a placeholder, index 1 the start (deviance at mu_start), then
    # one entry per IRLS iteration. Check it, else fall back to the converged point.
    mu0 = (y + 0.5) / 2
    start_dev = -2 * float(np.sum(y * np.log(mu0) + (1 - y) * np.log(1 - mu0)))
    if len(params) < 3 or len(dev) != len(params) or not np.isclose(dev[1], start_dev, rtol=1e-10):
        b = np.asarray(res.params, float)
        return b, _wald_se(X, X @ b), bool(res.converged)
    k_last = len(dev) - 1
    converged = False
    for k in range(2, len(dev)):
        if abs(dev[k] - dev[k - 1]) / (abs(dev[k]) + 0.1) < R_GLM_EPSILON:
            k_last, converged = k, True
            break
    coef = np.asarray(params[k_last], float)
    eta_prev = np.log(mu0 / (1 - mu0)) if k_last == 2 else X @ np.asarray(params[k_last - 1], float)
    return coef, _wald_se(X, eta_prev), converged


def _wald_se(X: np.ndarray, eta: np.ndarray) -> np.ndarray:
    mu = stats.logistic.cdf(eta)
    w = mu * (1 - mu)
    try:
        cov = np.linalg.inv(X.T @ (w[:, None] * X))
    except np.linalg.LinAlgError:
        return np.full(X.shape[1], np.inf)
    return np.sqrt(np.clip(np.diag(cov), 0, None))


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    # log(1 + e^eta) computed stably
    return float(np.sum(y * eta - np.logaddexp(0, eta)))


def _level_key(v: object) -> tuple:
    return (0, v, "") if isinstance(v, (int, float, np.integer, np.floating)) else (1, 0, str(v))


@dataclass
class ScreeningResult:
    """Univariable fits of every candidate, the selected ones, and the multivariable fit."""

    univariable: dict[str, LogisticFit]
    selected: list[str]
    multivariable: LogisticFit | None
    p_threshold: float

    def univariable_p(self, name: str) -> float:
        """Smallest p of the candidate's terms (several for a categorical predictor)."""
        return float(np.min(self.univariable[name].p[1:]))

    def to_dict(self) -> dict:
        return {
            "p_threshold": self.p_threshold,
            "univariable": {k: {"p_min": self.univariable_p(k), "coefficients": f.table()[1:]}
                            for k, f in self.univariable.items()},
            "selected": self.selected,
            "multivariable": None if self.multivariable is None else self.multivariable.to_dict(),
        }


def screen_and_fit(data: pd.DataFrame, outcome: str, candidates: Sequence[str],
                   categorical: Sequence[str] = (), p_threshold: float = 0.05) -> ScreeningResult:
    """The FLL paper's procedure: keep predictors with univariable p < threshold, fit them together.

    A categorical candidate is kept when any of its levels reaches the threshold.
    """
    uni = {c: fit_logistic(data, outcome, [c], [c] if c in categorical else ()) for c in candidates}
    selected = [c for c, f in uni.items() if np.min(f.p[1:]) < p_threshold]
    multi = (fit_logistic(data, outcome, selected, [c for c in categorical if c in selected])
             if selected else None)
    return ScreeningResult(uni, selected, multi, p_threshold)
