"""Model^LBC: the logistic fusion of the Model^LB lesion score with clinical factors.

The coefficients are data in the bundle manifest (``fusion``), so a bundle carries
exactly the regression its training fitted. The spec::

    {"model": "LBC",
     "intercept": -4.1,
     "terms": [
       {"name": "LB score", "source": "model", "model": "LB", "encoding": "logit", "coef": 1.0},
       {"name": "male", "source": "factor", "field": "sex", "encoding": "equals", "value": "M", "coef": 0.83},
       {"name": "age >= 55", "source": "factor", "field": "age", "encoding": "at_least", "value": 55, "coef": 1.19},
       {"name": "HBV", "source": "factor", "field": "hepatitis", "encoding": "equals", "value": 1, "coef": 2.2},
       {"name": "halo", "source": "factor", "field": "halo", "encoding": "boolean", "coef": 2.91}]}

``logit = intercept + sum(coef * x_term)``, probability = sigmoid(logit). Encodings:

* ``logit`` / ``probability`` (source ``model``): the lesion-level probability of the
  named model (the mean of its image probabilities), as its logit or as is.
* ``boolean``: a yes/no factor, 1 for True.
* ``equals``: 1 when the factor equals ``value`` (dummy coding of a level, e.g.
  hepatitis 1 = HBV, sex "M"); several terms on one field give the dummies of a
  categorical factor, its unlisted level being the reference.
* ``at_least``: 1 when the factor is >= ``value`` (age >= 55 years).
* ``linear``: ``(value - center) / scale`` for a continuous factor (age in years,
  hepatitis 0-3 taken as ordered levels).

``field`` names a :class:`~ultrasound_reader.case.ClinicalFactors` field, or
``afp_high`` (AFP > 200 ng/mL). A factor that is not recorded makes LBC not
computable for the case: it is never imputed.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from ultrasound_reader.case import ClinicalFactors

FACTOR_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ClinicalFactors)) + ("afp_high",)
ENCODINGS_MODEL = ("logit", "probability")
ENCODINGS_FACTOR = ("boolean", "equals", "at_least", "linear")
_EPS = 1e-6


def logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def required_factors(spec: dict[str, Any]) -> list[str]:
    """The clinical factor fields the fusion needs, in term order, without repeats."""
    out: list[str] = []
    for t in spec["terms"]:
        if t["source"] == "factor" and t["field"] not in out:
            out.append(t["field"])
    return out


def encode_term(term: dict[str, Any], factors: ClinicalFactors, model_probs: dict[str, float]) -> float | None:
    """The term's regressor value, or None when its input is missing."""
    enc = term["encoding"]
    if term["source"] == "model":
        p = model_probs.get(term["model"])
        if p is None:
            return None
        return logit(p) if enc == "logit" else float(p)
    v = getattr(factors, term["field"])
    if v is None:
        return None
    if enc == "boolean":
        return 1.0 if bool(v) else 0.0
    if enc == "equals":
        return 1.0 if v == term["value"] else 0.0
    if enc == "at_least":
        return 1.0 if float(v) >= float(term["value"]) else 0.0
    if enc == "linear":
        return (float(v) - float(term.get("center", 0.0))) / float(term.get("scale", 1.0))
    raise ValueError(f"unknown encoding {enc!r}")


def encode(spec: dict[str, Any], factors: ClinicalFactors,
           model_probs: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Regressor values by term name, and the names of the inputs that are missing."""
    values: dict[str, float] = {}
    missing: list[str] = []
    for t in spec["terms"]:
        x = encode_term(t, factors, model_probs)
        if x is None:
            what = t["model"] if t["source"] == "model" else t["field"]
            if what not in missing:
                missing.append(what)
        else:
            values[t["name"]] = x
    return values, missing


def linear_predictor(spec: dict[str, Any], values: dict[str, float]) -> float:
    return float(spec["intercept"]) + sum(float(t["coef"]) * values[t["name"]] for t in spec["terms"])


def fused_probability(spec: dict[str, Any], factors: ClinicalFactors,
                      model_probs: dict[str, float]) -> tuple[float | None, dict[str, float], list[str]]:
    """(LBC probability or None, encoded values, missing inputs)."""
    values, missing = encode(spec, factors, model_probs)
    if missing:
        return None, values, missing
    return sigmoid(linear_predictor(spec, values)), values, []


# Published multivariable odds ratios (Yang et al. 2020): used as the coefficients of
# the randomly initialised test/demo bundles so their LBC behaves plausibly. The
# intercept of a real bundle comes from its training; this one is arbitrary.
PUBLISHED_FLL_FUSION: dict[str, Any] = {
    "model": "LBC",
    "intercept": -3.0,
    "terms": [
        {"name": "LB score", "source": "model", "model": "LB", "encoding": "logit", "coef": 1.0},
        {"name": "hypoechoic halo", "source": "factor", "field": "halo", "encoding": "boolean",
         "coef": round(math.log(18.4), 4)},
        {"name": "extrahepatic tumour history", "source": "factor", "field": "tumour_history",
         "encoding": "boolean", "coef": round(math.log(16.2), 4)},
        {"name": "hepatitis history", "source": "factor", "field": "hepatitis", "encoding": "at_least",
         "value": 1, "coef": round(math.log(11.7), 4)},
        {"name": "age >= 55", "source": "factor", "field": "age", "encoding": "at_least", "value": 55,
         "coef": round(math.log(3.3), 4)},
        {"name": "male", "source": "factor", "field": "sex", "encoding": "equals", "value": "M",
         "coef": round(math.log(2.3), 4)},
        {"name": "intratumoural vascularity", "source": "factor", "field": "vascularity", "encoding": "boolean",
         "coef": round(math.log(1.9), 4)},
    ],
}
