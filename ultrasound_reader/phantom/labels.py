"""The generative model of labels and clinical factors of phantom cases.

Images are rendered *from* these draws, so what a model can learn from the pixels
and what a logistic regression can recover from the factors are both known exactly.

Liver (focal liver lesions, after Yang et al., EBioMedicine 2020)
-----------------------------------------------------------------
1. Factors are drawn independently with these assumed frequencies (the paper's
   Table 1 figures were not at hand; these are of the order of a Chinese
   tertiary-hospital FLL cohort, HBV-dominated, about 80 % malignant):

   =========================  ====================================================
   sex                        male 0.62
   age (years)                round(Normal(53, 12)) clipped to 18-90;
                              P(age >= 55) = 0.436
   hepatitis history          0.42 (of which HBV 0.82, HCV 0.10, HBV+HCV 0.08)
   extrahepatic tumour hist.  0.22
   hypoechoic halo            0.25
   intratumoural vascularity  0.55
   shape                      round 0.30, ellipse 0.40, irregular 0.30
   margin not smooth          0.40
   echogenicity               hypo 0.45, iso 0.12, hyper 0.23, heterogeneous 0.20
   posterior enhancement      0.22
   satellite nodules          0.10
   lesion size (cm)           lognormal, median 3.2, sigma 0.5, clipped 1.0-8.0
   =========================  ====================================================

2. ``logit P(malignant) = b0 + sum(log(OR_i) * x_i)`` with the published
   multivariable odds ratios -- halo 18.4, extrahepatic tumour history 16.2,
   hepatitis history (any) 11.7, age >= 55 3.3, male 2.3, intratumoural
   vascularity 1.9 -- plus image-level signs with assumed odds ratios: margin not
   smooth 2.5, irregular shape 1.8, satellite nodules 3.0, posterior enhancement
   0.45, echogenicity iso 0.8 / hyper 0.3 / heterogeneous 1.6 (versus hypo).
   ``b0`` is solved exactly (enumerating every factor combination) so that
   ``E[P(malignant)] = 0.80``.
3. Then, given the label and the factors (which leaves the logistic model of 2.
   intact): the diagnosis (malignant: HCC / metastasis / ICC, benign: hemangioma /
   FNH / adenoma / focal fat / abscess), AFP, and the liver background (HCC arises
   in fibrotic livers; hepatitis raises fibrosis; steatosis 0.25 otherwise). These
   add real, learnable image content beyond the factors (target sign of
   metastases, mosaic HCC, central scar of FNH, background texture).

Soft tissue (superficial masses, after Long et al., BMC Medicine 2023)
----------------------------------------------------------------------
No odds ratios are published for clinical factors there; the assumed model is
``logit P(malignant) = b0 + log(2.0) [age >= 50] + log(1.3) [male] + log(4.0)
[size > 5 cm] + log(3.5) [deep to the fascia]`` with ``b0`` giving 25 % malignant
(sex 0.5 male, age Normal(45, 17) clipped 5-90, size lognormal median 2.8 cm,
deep 0.35). Benign subtypes given the draw: lipoma 0.35, hemangioma 0.20,
schwannoma 0.15, epidermal cyst 0.20, pilomatricoma 0.10 a priori, shifted by
depth and age (cysts and pilomatricomas are superficial, pilomatricomas young,
schwannomas deep).

Centres and cohorts (both tasks): four synthetic centres C1-C4 (0.35, 0.30, 0.20,
0.15); each has its own scanner style (gain, dynamic range, frequency, text
layout), so validation by centre meets a real domain shift. C4 is the external
validation cohort; C1-C3 cases are split training / internal 4:1.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.stats import norm

from ultrasound_reader.case import ClinicalFactors

# -- liver ------------------------------------------------------------------------------------

LIVER_PUBLISHED_OR = {
    "halo": 18.4,
    "tumour_history": 16.2,
    "hepatitis": 11.7,
    "age55": 3.3,
    "male": 2.3,
    "vascularity": 1.9,
}
LIVER_IMAGE_OR = {
    "margin_not_smooth": 2.5,
    "shape_irregular": 1.8,
    "satellite": 3.0,
    "posterior_enhancement": 0.45,
    "echo_iso": 0.8,
    "echo_hyper": 0.3,
    "echo_heterogeneous": 1.6,
}
LIVER_OR = {**LIVER_PUBLISHED_OR, **LIVER_IMAGE_OR}
LIVER_TARGET_MALIGNANT = 0.80

P_MALE = 0.62
AGE_MEAN, AGE_SD = 53.0, 12.0
P_HEPATITIS = 0.42
HEPATITIS_TYPES = (1, 2, 3)  # HBV, HCV, HBV+HCV
HEPATITIS_TYPE_P = (0.82, 0.10, 0.08)
P_TUMOUR_HISTORY = 0.22
P_HALO = 0.25
P_VASCULARITY = 0.55
SHAPES, SHAPE_P = ("round", "ellipse", "irregular"), (0.30, 0.40, 0.30)
P_MARGIN_NOT_SMOOTH = 0.40
ECHOES, ECHO_P = ("hypo", "iso", "hyper", "heterogeneous"), (0.45, 0.12, 0.23, 0.20)
P_POSTERIOR = 0.22
P_SATELLITE = 0.10
SIZE_MEDIAN_CM, SIZE_SIGMA = 3.2, 0.5
SIZE_RANGE_CM = (1.0, 8.0)

CENTRES, CENTRE_P = ("C1", "C2", "C3", "C4"), (0.35, 0.30, 0.20, 0.15)
EXTERNAL_CENTRE = "C4"

LIVER_MALIGNANT_TYPES = ("HCC", "metastasis", "ICC")
LIVER_BENIGN_TYPES = ("hemangioma", "FNH", "adenoma", "focal_fat", "abscess")


def p_age55() -> float:
    """P(round(age) >= 55) for age ~ Normal(AGE_MEAN, AGE_SD); clipping keeps it."""
    return float(norm.sf(54.5, AGE_MEAN, AGE_SD))


def liver_design(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """0/1 indicator columns of the logistic model, by the keys of :data:`LIVER_OR`."""
    return {
        "halo": f["halo"].astype(float),
        "tumour_history": f["tumour_history"].astype(float),
        "hepatitis": (f["hepatitis"] > 0).astype(float),
        "age55": (f["age"] >= 55).astype(float),
        "male": (f["sex"] == "M").astype(float),
        "vascularity": f["vascularity"].astype(float),
        "margin_not_smooth": (f["margin"] == "not_smooth").astype(float),
        "shape_irregular": (f["shape"] == "irregular").astype(float),
        "satellite": f["satellite"].astype(float),
        "posterior_enhancement": f["posterior_enhancement"].astype(float),
        "echo_iso": (f["echogenicity"] == "iso").astype(float),
        "echo_hyper": (f["echogenicity"] == "hyper").astype(float),
        "echo_heterogeneous": (f["echogenicity"] == "heterogeneous").astype(float),
    }


@cache
def liver_intercept() -> float:
    """b0 such that the expected malignancy probability is exactly the target.

    Enumerates every combination of the binary/categorical model terms with its
    probability (they are drawn independently), then solves by bisection.
    """
    binaries = [
        (LIVER_OR["halo"], P_HALO), (LIVER_OR["tumour_history"], P_TUMOUR_HISTORY),
        (LIVER_OR["hepatitis"], P_HEPATITIS), (LIVER_OR["age55"], p_age55()), (LIVER_OR["male"], P_MALE),
        (LIVER_OR["vascularity"], P_VASCULARITY), (LIVER_OR["margin_not_smooth"], P_MARGIN_NOT_SMOOTH),
        (LIVER_OR["satellite"], P_SATELLITE), (LIVER_OR["posterior_enhancement"], P_POSTERIOR),
    ]
    shape_terms = [(1.0, SHAPE_P[0] + SHAPE_P[1]), (LIVER_OR["shape_irregular"], SHAPE_P[2])]
    echo_terms = [(1.0, ECHO_P[0]), (LIVER_OR["echo_iso"], ECHO_P[1]), (LIVER_OR["echo_hyper"], ECHO_P[2]),
                  (LIVER_OR["echo_heterogeneous"], ECHO_P[3])]
    options = [[(1.0, 1 - p), (odds, p)] for odds, p in binaries] + [shape_terms, echo_terms]
    logits, probs = [], []
    for combo in itertools.product(*options):
        logits.append(sum(math.log(o) for o, _ in combo))
        probs.append(math.prod(p for _, p in combo))
    lo_arr, pr_arr = np.array(logits), np.array(probs)
    return _solve_intercept(lo_arr, pr_arr, LIVER_TARGET_MALIGNANT)


def _solve_intercept(logits: np.ndarray, probs: np.ndarray, target: float) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(100):
        mid = (lo + hi) / 2
        mean = float((probs / (1 + np.exp(-(mid + logits)))).sum())
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return (lo + hi) / 2


def _choice(rng: np.random.Generator, options: tuple, p: tuple, n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=np.asarray(p) / sum(p))]


def sample_liver(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` independent liver label draws, without images (vectorised).

    Keys: the clinical factors of :class:`ClinicalFactors`, plus ``malignant``,
    ``p_malignant``, ``subtype``, ``lb_type``, ``size_cm``, ``centre``, ``cohort``.
    """
    f: dict[str, np.ndarray] = {}
    f["sex"] = np.where(rng.random(n) < P_MALE, "M", "F").astype(object)
    f["age"] = np.clip(np.round(rng.normal(AGE_MEAN, AGE_SD, n)), 18, 90)
    has_hep = rng.random(n) < P_HEPATITIS
    f["hepatitis"] = np.where(has_hep, rng.choice(HEPATITIS_TYPES, size=n, p=HEPATITIS_TYPE_P), 0)
    f["tumour_history"] = rng.random(n) < P_TUMOUR_HISTORY
    f["halo"] = rng.random(n) < P_HALO
    f["vascularity"] = rng.random(n) < P_VASCULARITY
    f["shape"] = _choice(rng, SHAPES, SHAPE_P, n)
    f["margin"] = np.where(rng.random(n) < P_MARGIN_NOT_SMOOTH, "not_smooth", "smooth").astype(object)
    f["echogenicity"] = _choice(rng, ECHOES, ECHO_P, n)
    f["posterior_enhancement"] = rng.random(n) < P_POSTERIOR
    f["satellite"] = rng.random(n) < P_SATELLITE
    f["size_cm"] = np.round(np.clip(np.exp(rng.normal(math.log(SIZE_MEDIAN_CM), SIZE_SIGMA, n)), *SIZE_RANGE_CM), 2)

    design = liver_design(f)
    logit = liver_intercept() + sum(math.log(LIVER_OR[k]) * design[k] for k in LIVER_OR)
    f["p_malignant"] = 1 / (1 + np.exp(-logit))
    f["malignant"] = rng.random(n) < f["p_malignant"]

    # -- given the label: diagnosis, AFP, background ------------------------------------
    u = rng.random(n)
    hep = f["hepatitis"] > 0
    hist = f["tumour_history"]
    p_met = np.where(hist, 0.85, 0.12)
    p_hcc = np.where(hist, 0.12, np.where(hep, 0.85, 0.45))
    # metastasis first; of the rest, HCC with p_hcc, else ICC
    rest = (u - p_met) / np.maximum(1 - p_met, 1e-9)
    malignant_type = np.where(u < p_met, "metastasis", np.where(rest < p_hcc, "HCC", "ICC"))
    echo = f["echogenicity"]
    w_hem = np.where(echo == "hyper", 0.65, 0.30)
    w_fnh = np.where(echo == "iso", 0.40, 0.20)
    w_ade = np.full(n, 0.12)
    w_fat = np.where(echo == "hyper", 0.10, 0.04)
    w_abs = np.where(echo == "heterogeneous", 0.25, 0.08)
    w = np.stack([w_hem, w_fnh, w_ade, w_fat, w_abs], axis=1)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    benign_idx = (rng.random(n)[:, None] > cum).sum(axis=1)
    benign_type = np.asarray(LIVER_BENIGN_TYPES, dtype=object)[np.minimum(benign_idx, 4)]
    f["subtype"] = np.where(f["malignant"], malignant_type.astype(object), benign_type)

    is_hcc = f["subtype"] == "HCC"
    p_fib = np.where(is_hcc, 0.60, np.where(hep, 0.35, 0.08))
    p_ste = np.where(is_hcc, 0.10, np.where(f["subtype"] == "focal_fat", 0.70, 0.25))
    v = rng.random(n)
    f["lb_type"] = np.where(v < p_fib, "fibrosis", np.where(v < p_fib + p_ste, "steatosis", "normal")).astype(object)

    afp_high = rng.random(n) < np.where(is_hcc, 0.45, 0.03)
    f["afp"] = np.round(np.where(afp_high, np.exp(rng.normal(math.log(900), 1.0, n)),
                                 np.exp(rng.normal(math.log(5), 0.7, n))), 1)
    f["afp"] = np.where(afp_high, np.maximum(f["afp"], 201.0), np.minimum(f["afp"], 200.0))
    f["centre"], f["cohort"] = _centres(rng, n)
    return f


def _centres(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centre = _choice(rng, CENTRES, CENTRE_P, n)
    internal = rng.random(n) < 0.2
    cohort = np.where(centre == EXTERNAL_CENTRE, "external", np.where(internal, "internal", "training")).astype(object)
    return centre, cohort


@dataclass(frozen=True)
class LiverLabels:
    """One liver case's draw: what the reader may see (factors) and the truth."""

    factors: ClinicalFactors
    malignant: bool
    p_malignant: float
    subtype: str
    lb_type: str
    size_cm: float
    centre: str
    cohort: str


def draw_liver(rng: np.random.Generator) -> LiverLabels:
    f = sample_liver(rng, 1)
    g = {k: v[0] for k, v in f.items()}
    factors = ClinicalFactors(
        age=float(g["age"]), sex=str(g["sex"]), hepatitis=int(g["hepatitis"]),
        tumour_history=bool(g["tumour_history"]), afp=float(g["afp"]), halo=bool(g["halo"]),
        vascularity=bool(g["vascularity"]), shape=str(g["shape"]), margin=str(g["margin"]),
        echogenicity=str(g["echogenicity"]), posterior_enhancement=bool(g["posterior_enhancement"]),
        satellite=bool(g["satellite"]),
    )
    return LiverLabels(factors, bool(g["malignant"]), float(g["p_malignant"]), str(g["subtype"]),
                       str(g["lb_type"]), float(g["size_cm"]), str(g["centre"]), str(g["cohort"]))


# -- soft tissue ----------------------------------------------------------------------------

SOFT_OR = {"age50": 2.0, "male": 1.3, "size5": 4.0, "deep": 3.5}
SOFT_TARGET_MALIGNANT = 0.25
SOFT_P_MALE = 0.5
SOFT_AGE_MEAN, SOFT_AGE_SD = 45.0, 17.0
SOFT_SIZE_MEDIAN_CM, SOFT_SIZE_SIGMA = 2.8, 0.55
SOFT_SIZE_RANGE_CM = (0.6, 6.5)  # larger masses would not fit a linear probe view
SOFT_P_DEEP = 0.35
SOFT_BENIGN_P = {"lipoma": 0.35, "hemangioma": 0.20, "schwannoma": 0.15, "epidermal_cyst": 0.20,
                 "pilomatricoma": 0.10}
SITES = ("trunk", "back", "shoulder", "upper arm", "forearm", "thigh", "leg", "neck", "head")


def _soft_p_size5() -> float:
    return float(norm.sf(math.log(5.0), math.log(SOFT_SIZE_MEDIAN_CM), SOFT_SIZE_SIGMA))


@cache
def soft_intercept() -> float:
    p_age = float(norm.sf(49.5, SOFT_AGE_MEAN, SOFT_AGE_SD))
    terms = [(SOFT_OR["age50"], p_age), (SOFT_OR["male"], SOFT_P_MALE), (SOFT_OR["size5"], _soft_p_size5()),
             (SOFT_OR["deep"], SOFT_P_DEEP)]
    logits, probs = [], []
    for combo in itertools.product(*[[(1.0, 1 - p), (o, p)] for o, p in terms]):
        logits.append(sum(math.log(o) for o, _ in combo))
        probs.append(math.prod(p for _, p in combo))
    return _solve_intercept(np.array(logits), np.array(probs), SOFT_TARGET_MALIGNANT)


def soft_design(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "age50": (f["age"] >= 50).astype(float),
        "male": (f["sex"] == "M").astype(float),
        "size5": (f["size_cm"] > 5.0).astype(float),
        "deep": f["deep"].astype(float),
    }


def sample_soft_tissue(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` soft-tissue label draws without images (see the module docstring)."""
    f: dict[str, np.ndarray] = {}
    f["sex"] = np.where(rng.random(n) < SOFT_P_MALE, "M", "F").astype(object)
    f["age"] = np.clip(np.round(rng.normal(SOFT_AGE_MEAN, SOFT_AGE_SD, n)), 5, 90)
    f["size_cm"] = np.round(np.clip(np.exp(rng.normal(math.log(SOFT_SIZE_MEDIAN_CM), SOFT_SIZE_SIGMA, n)),
                                    *SOFT_SIZE_RANGE_CM), 2)
    f["deep"] = rng.random(n) < SOFT_P_DEEP
    design = soft_design(f)
    logit = soft_intercept() + sum(math.log(SOFT_OR[k]) * design[k] for k in SOFT_OR)
    f["p_malignant"] = 1 / (1 + np.exp(-logit))
    f["malignant"] = rng.random(n) < f["p_malignant"]

    names = list(SOFT_BENIGN_P)
    w = np.tile(np.array([SOFT_BENIGN_P[k] for k in names]), (n, 1))
    deep = f["deep"]
    young = f["age"] < 30
    w[:, names.index("schwannoma")] *= np.where(deep, 3.0, 0.6)
    w[:, names.index("epidermal_cyst")] *= np.where(deep, 0.1, 1.3)
    w[:, names.index("pilomatricoma")] *= np.where(deep, 0.05, 1.0) * np.where(young, 3.0, 0.7)
    w[:, names.index("lipoma")] *= np.where(deep, 0.8, 1.1)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    idx = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), len(names) - 1)
    benign = np.asarray(names, dtype=object)[idx]
    f["subtype"] = np.where(f["malignant"], "sarcoma", benign).astype(object)
    f["site"] = _choice(rng, SITES, (0.2, 0.12, 0.1, 0.1, 0.08, 0.16, 0.08, 0.08, 0.08), n)
    f["centre"], f["cohort"] = _centres(rng, n)
    return f


@dataclass(frozen=True)
class SoftTissueLabels:
    factors: ClinicalFactors
    malignant: bool
    p_malignant: float
    subtype: str
    size_cm: float
    deep: bool
    centre: str
    cohort: str


def draw_soft_tissue(rng: np.random.Generator) -> SoftTissueLabels:
    f = sample_soft_tissue(rng, 1)
    g = {k: v[0] for k, v in f.items()}
    factors = ClinicalFactors(age=float(g["age"]), sex=str(g["sex"]), site=str(g["site"]))
    return SoftTissueLabels(factors, bool(g["malignant"]), float(g["p_malignant"]), str(g["subtype"]),
                            float(g["size_cm"]), bool(g["deep"]), str(g["centre"]), str(g["cohort"]))
