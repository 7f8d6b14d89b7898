"""Nomograms of logistic models, computed as R's ``rms::nomogram`` does.

From rms 6.5 ``nomogram()`` with ``fun = plogis, lp = TRUE`` (defaults
``maxscale = 100``, ``nint = 10``):

* each predictor's axis values come from ``datadist``: the sorted unique values of a
  numeric variable with at most 10 distinct values, the levels of a categorical
  one, otherwise ``pretty(c(min, max), 10)`` of the full data range;
* points are ``(beta * x - min over the axis) * sc`` with
  ``sc = 100 / (widest axis range of beta * x)``, so the predictor with the widest
  linear-predictor range spans 0-100;
* the linear-predictor axis is ``pretty(range(fitted lp), 10)`` placed at
  ``(lp - lp0) * sc``, where ``lp0`` is the lp of a zero-points patient;
* the total-points axis is ``pretty(c(0, max(100, sc * (max lp tick - lp0))), 10)``;
* the probability axis ticks are ``pretty(plogis(range(lp ticks)), 10)`` inside
  (0, 1), placed by rms's own inverse: linear interpolation of ``plogis`` on 1000
  equally spaced lp values (hence tiny differences from the exact ``qlogis``,
  reproduced on purpose).

:class:`Nomogram` holds all of this in a JSON-able dict (``to_dict``), enough for a
GUI to draw an interactive nomogram and to :meth:`Nomogram.score` a patient without
the model or the data. rms's merging of flat axis pieces (a zero coefficient) is not
reproduced: such an axis keeps its values at 0 points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.logistic import INTERCEPT, LogisticFit
from ultrasound_reader.stats.rfuncs import approx, plogis, pretty
from ultrasound_reader.stats.texttable import aligned

SPEC_FORMAT = "ultrasound-reader.nomogram"
SPEC_VERSION = 1


@dataclass(frozen=True)
class PredictorRange:
    """What ``rms::datadist`` records for one predictor, as far as a nomogram needs.

    ``kind``: ``"continuous"`` (ticks from ``pretty``), ``"discrete"`` (numeric with
    at most ``n_unique`` values: those values) or ``"categorical"`` (levels, first =
    reference). ``low``/``high`` are the full data range of numeric predictors.
    """

    name: str
    kind: str
    values: tuple
    low: float | None = None
    high: float | None = None


def datadist(data: pd.DataFrame, columns: Sequence[str], categorical: Sequence[str] = (),
             n_unique: int = 10, nint: int = 10) -> dict[str, PredictorRange]:
    """Axis values per predictor, as ``datadist`` + ``nomogram``'s ``value.chk`` choose them."""
    out: dict[str, PredictorRange] = {}
    for c in columns:
        if c not in data.columns:
            raise UserError(f"column '{c}' not found (columns: {', '.join(map(str, data.columns))})")
        x = data[c].dropna()
        if x.size < 2:
            raise UserError(f"{c}: fewer than 2 non-missing values")
        if c in categorical:
            levels = sorted(x.unique().tolist(), key=lambda v: (isinstance(v, str), v))
            out[c] = PredictorRange(c, "categorical", tuple(_plain(v) for v in levels))
            continue
        try:
            v = pd.to_numeric(x).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise UserError(f"{c}: values must be numbers (or list it as categorical)") from None
        uniq = np.unique(v)
        lo, hi = float(uniq[0]), float(uniq[-1])
        if uniq.size <= n_unique:
            out[c] = PredictorRange(c, "discrete", tuple(float(u) for u in uniq), lo, hi)
        else:
            out[c] = PredictorRange(c, "continuous", tuple(float(t) for t in pretty([lo, hi], nint)), lo, hi)
    return out


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def _label(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


@dataclass
class PredictorAxis:
    """One predictor line: its tick values, their points, and how to score any value."""

    name: str
    kind: str
    values: list  # tick values (numbers) or levels
    points: list[float]
    coef: float | None = None  # numeric predictors: points = (coef * x - xbeta_min) * sc
    level_coefs: dict[str, float] | None = None  # categorical: level label -> coefficient
    xbeta_min: float = 0.0

    @property
    def labels(self) -> list[str]:
        return [_label(v) for v in self.values]

    def xbeta(self, value: object) -> float:
        if self.kind == "categorical":
            key = _label(_plain(value))
            assert self.level_coefs is not None
            if key not in self.level_coefs:
                # "1" vs 1.0: accept a number equal to a numeric level
                for lv in self.level_coefs:
                    try:
                        if float(lv) == float(value):  # type: ignore[arg-type]
                            return self.level_coefs[lv]
                    except (TypeError, ValueError):
                        pass
                raise UserError(f"{self.name}: unknown level {value!r} (levels: {', '.join(self.level_coefs)})")
            return self.level_coefs[key]
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UserError(f"{self.name}: value {value!r} is not a number") from None
        if not math.isfinite(x):
            raise UserError(f"{self.name}: value {value!r} is not a finite number")
        assert self.coef is not None
        return self.coef * x


@dataclass(frozen=True)
class NomogramScore:
    points: dict[str, float]
    total_points: float
    linear_predictor: float
    probability: float
    out_of_range: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Nomogram:
    """A logistic-model nomogram (rms conventions); see the module docstring."""

    outcome: str
    intercept: float
    predictors: list[PredictorAxis]
    sc: float  # points per unit of linear predictor
    lp0: float  # linear predictor at zero total points (rms's adjusted Intercept)
    total_points_ticks: list[float]
    lp_ticks: list[float]
    lp_points: list[float]
    prob_ticks: list[float]
    prob_points: list[float]
    maxscale: float = 100.0
    lp_range: tuple[float, float] | None = None

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_fit(cls, fit: LogisticFit, ranges: Mapping[str, PredictorRange] | None = None,
                 data: pd.DataFrame | None = None, **kw: Any) -> Nomogram:
        """From a :class:`LogisticFit`, with ``ranges`` from :func:`datadist` (or ``data`` to make them).

        The lp axis uses the range of the fit's own linear predictors, as rms does.
        """
        if ranges is None:
            if data is None:
                raise ValueError("give ranges (from datadist) or the data")
            ranges = datadist(data, fit.predictors, list(fit.categorical), nint=kw.get("nint", 10))
        coefs = fit.coefficients()
        lp = fit.linear_predictor
        return cls.from_coefficients(fit.outcome, coefs[INTERCEPT], coefs, ranges,
                                     (float(lp.min()), float(lp.max())), **kw)

    @classmethod
    def from_coefficients(cls, outcome: str, intercept: float, coefficients: Mapping[str, float],
                          ranges: Mapping[str, PredictorRange], lp_range: tuple[float, float],
                          maxscale: float = 100.0, nint: int = 10,
                          lp_at: Sequence[float] | None = None,
                          prob_at: Sequence[float] | None = None) -> Nomogram:
        """From coefficients by design-column name (``"col"`` or ``"col=level"``)."""
        axes: list[PredictorAxis] = []
        for name, rng in ranges.items():
            if rng.kind == "categorical":
                lc = {_label(lv): (0.0 if i == 0 else float(coefficients.get(f"{name}={lv}", math.nan)))
                      for i, lv in enumerate(rng.values)}
                if any(math.isnan(v) for v in lc.values()):
                    raise UserError(f"{name}: the model has no coefficient for some of its levels")
                ax = PredictorAxis(name, "categorical", list(rng.values), [], level_coefs=lc)
            else:
                if name not in coefficients:
                    raise UserError(f"{name}: the model has no coefficient for this predictor")
                ax = PredictorAxis(name, rng.kind, list(rng.values), [], coef=float(coefficients[name]))
            axes.append(ax)
        if not axes:
            raise UserError("a nomogram needs at least one predictor")
        xb = [np.array([ax.xbeta(v) for v in ax.values]) for ax in axes]
        widths = [float(x.max() - x.min()) for x in xb]
        if max(widths) <= 0:
            raise UserError("every predictor has a zero effect over its range; no nomogram to draw")
        sc = maxscale / max(widths)
        for ax, x in zip(axes, xb):
            ax.xbeta_min = float(x.min())
            ax.points = ((x - ax.xbeta_min) * sc).tolist()
        lp0 = float(intercept) + sum(ax.xbeta_min for ax in axes)
        lp_ticks = np.asarray(pretty(lp_range, nint) if lp_at is None else lp_at, float)
        sum_max = maxscale if len(axes) == 1 else max(maxscale, sc * float(np.max(lp_ticks - lp0)))
        total = pretty([0.0, sum_max], nint)
        lp_points = (lp_ticks - lp0) * sc
        fat = np.asarray(pretty(plogis([lp_ticks.min(), lp_ticks.max()]), nint) if prob_at is None
                         else prob_at, float)
        xseq = np.linspace(lp_ticks.min(), lp_ticks.max(), 1000)
        w = approx(plogis(xseq), xseq, fat)
        ok = ~np.isnan(w)
        return cls(outcome, float(intercept), axes, float(sc), lp0, total.tolist(), lp_ticks.tolist(),
                   lp_points.tolist(), fat[ok].tolist(), ((w[ok] - lp0) * sc).tolist(), float(maxscale),
                   (float(lp_range[0]), float(lp_range[1])))

    # -- use ------------------------------------------------------------------------
    def score(self, values: Mapping[str, object]) -> NomogramScore:
        """Points per predictor, total points, linear predictor and probability of one patient."""
        pts: dict[str, float] = {}
        out: list[str] = []
        for ax in self.predictors:
            if ax.name not in values or values[ax.name] is None or (
                    isinstance(values[ax.name], float) and math.isnan(values[ax.name])):  # type: ignore[arg-type]
                raise UserError(f"{ax.name}: value missing (the nomogram needs {', '.join(self.names)})")
            v = values[ax.name]
            pts[ax.name] = (ax.xbeta(v) - ax.xbeta_min) * self.sc
            if ax.kind != "categorical" and not (min(ax.values) <= float(v) <= max(ax.values)):  # type: ignore[arg-type]
                out.append(ax.name)
        total = float(sum(pts.values()))
        lp = self.lp0 + total / self.sc
        return NomogramScore(pts, total, lp, float(plogis(lp)), out)

    @property
    def names(self) -> list[str]:
        return [ax.name for ax in self.predictors]

    def tables(self) -> dict:
        """The numeric tables rms prints/plots, keyed like the R reference JSON."""
        t: dict[str, Any] = {ax.name: {"values": list(ax.values), "points": list(ax.points)}
                             for ax in self.predictors}
        t["total_points_axis"] = {"points": list(self.total_points_ticks)}
        t["lp_axis"] = {"points": list(self.lp_points), "linear_predictor": list(self.lp_ticks)}
        t["probability_axis"] = {"points": list(self.prob_points), "probability": list(self.prob_ticks)}
        return t

    # -- persistence ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """Self-sufficient JSON spec: every axis with tick values and point positions."""
        return {
            "format": SPEC_FORMAT, "version": SPEC_VERSION, "link": "logit",
            "outcome": self.outcome, "intercept": self.intercept, "maxscale": self.maxscale,
            "points_per_lp_unit": self.sc, "lp_at_zero_points": self.lp0,
            "lp_range_fit": list(self.lp_range) if self.lp_range else None,
            "predictors": [
                {"name": ax.name, "kind": ax.kind, "values": list(ax.values), "labels": ax.labels,
                 "points": list(ax.points), "coef": ax.coef, "level_coefs": ax.level_coefs,
                 "xbeta_min": ax.xbeta_min}
                for ax in self.predictors
            ],
            "total_points_axis": {"ticks": list(self.total_points_ticks),
                                  "max_possible": float(sum(max(ax.points) for ax in self.predictors))},
            "lp_axis": {"linear_predictor": list(self.lp_ticks), "points": list(self.lp_points)},
            "probability_axis": {"probability": list(self.prob_ticks), "points": list(self.prob_points)},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "nomogram spec") -> Nomogram:
        if not isinstance(d, Mapping) or d.get("format") != SPEC_FORMAT:
            raise UserError(f"{source}: not a nomogram spec (format must be '{SPEC_FORMAT}')")
        if int(d.get("version", 0)) > SPEC_VERSION:
            raise UserError(f"{source}: version {d.get('version')} is newer than this program understands")
        try:
            axes = [PredictorAxis(p["name"], p["kind"], list(p["values"]), [float(x) for x in p["points"]],
                                  None if p.get("coef") is None else float(p["coef"]),
                                  None if p.get("level_coefs") is None else
                                  {str(k): float(v) for k, v in p["level_coefs"].items()},
                                  float(p["xbeta_min"]))
                    for p in d["predictors"]]
            lr = d.get("lp_range_fit")
            return cls(str(d["outcome"]), float(d["intercept"]), axes, float(d["points_per_lp_unit"]),
                       float(d["lp_at_zero_points"]), [float(x) for x in d["total_points_axis"]["ticks"]],
                       [float(x) for x in d["lp_axis"]["linear_predictor"]],
                       [float(x) for x in d["lp_axis"]["points"]],
                       [float(x) for x in d["probability_axis"]["probability"]],
                       [float(x) for x in d["probability_axis"]["points"]],
                       float(d.get("maxscale", 100.0)), None if lr is None else (float(lr[0]), float(lr[1])))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{source}: malformed nomogram spec ({type(exc).__name__}: {exc})") from None

    def format_tables(self) -> str:
        """Human-readable tables like ``print(nomogram)`` in rms."""
        lines = [f"Points per unit of linear predictor: {self.sc:.6g}",
                 f"Linear predictor units per point   : {1 / self.sc:.6g}", ""]
        for ax in self.predictors:
            lines += aligned([ax.name, "Points"], [[lab, f"{p:.1f}"] for lab, p in zip(ax.labels, ax.points)],
                             align="rr")
            lines.append("")
        lines += aligned(["Total Points", "Probability"],
                         [[f"{p:.1f}", f"{pr:g}"] for p, pr in zip(self.prob_points, self.prob_ticks)], align="rr")
        lines.append("")
        lines += aligned(["Total Points", "Linear predictor"],
                         [[f"{p:.1f}", f"{lp:g}"] for p, lp in zip(self.lp_points, self.lp_ticks)], align="rr")
        return "\n".join(lines)


# Probability ticks the axis may show, most important first (label thinning keeps the first
# that fit): the spec's own 0.1-0.9 ticks miss where confident cases sit (0.99 and beyond).
PROBABILITY_TICKS = (0.5, 0.1, 0.9, 0.01, 0.99, 0.001, 0.999, 0.05, 0.95, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6,
                     0.02, 0.98, 0.005, 0.995)


def probability_axis(nomo: Nomogram, total_max: float) -> list[tuple[float, float]]:
    """(total points, probability) ticks for the probability axis over 0..``total_max`` points.

    The spec's ticks (rms: ``pretty`` of the fitted range, typically 0.1-0.9) keep their
    positions; the standard ticks of :data:`PROBABILITY_TICKS` that fall inside the
    drawn total-points range are added, placed exactly (``lp = lp0 + points / sc``), so
    the axis reaches every probability a case on this nomogram can get.
    Ordered by importance (spec ticks, then PROBABILITY_TICKS order).
    """
    out: list[tuple[float, float]] = []
    seen: set[float] = set()
    for pts, pr in zip(nomo.prob_points, nomo.prob_ticks):
        if 0.0 <= pts <= total_max:
            out.append((float(pts), float(pr)))
            seen.add(round(float(pr), 9))
    for pr in PROBABILITY_TICKS:
        if round(pr, 9) in seen:
            continue
        pts = (math.log(pr / (1.0 - pr)) - nomo.lp0) * nomo.sc
        if 0.0 <= pts <= total_max:
            out.append((pts, pr))
            seen.add(round(pr, 9))
    spec = {round(float(p), 9) for p in nomo.prob_ticks}
    rank = {round(p, 9): i for i, p in enumerate(PROBABILITY_TICKS)}
    out.sort(key=lambda t: (rank.get(round(t[1], 9), len(rank) + (0 if round(t[1], 9) in spec else 1))))
    return out


def total_axis_ticks(nomo: Nomogram) -> list[float]:
    """Total-points ticks: the spec's, continued at the same step up to the most points a case can get."""
    ticks = [float(t) for t in nomo.total_points_ticks]
    most = sum(max(ax.points) for ax in nomo.predictors)
    if len(ticks) >= 2:
        step = ticks[1] - ticks[0]
        while step > 0 and ticks[-1] < most - 1e-9:
            ticks.append(round(ticks[-1] + step, 9))
    return ticks
