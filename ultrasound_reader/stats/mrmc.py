"""Obuchowski-Rockette (OR) multi-reader multi-case analysis of reader AUCs.

For a fully crossed study (every reader reads every case in every modality, e.g.
pre-AI and post-AI) the empirical AUC of each reader x modality is computed, their
joint covariance is estimated by DeLong's method (as MRMCaov ``cov = DeLong`` and
the FDA's iMRMC), and the OR model is tested with Hillis's (2007) denominator
degrees of freedom:

* random readers, random cases (RRRC):
  ``F = MS(T) / (MS(T*R) + J max(Cov2 - Cov3, 0))`` on ``t - 1`` and
  ``ddf_H = (MS(T*R) + J max(Cov2 - Cov3, 0))^2 / (MS(T*R)^2 / ((t-1)(J-1)))``;
* fixed readers, random cases (FRRC):
  ``X2 = (t-1) MS(T) / (Var - Cov1 + (J-1) max(Cov2 - Cov3, 0))``, chi-square ``t - 1``;

with Var the mean AUC variance, Cov1 the mean covariance between modalities for the
same reader, Cov2 between readers within a modality, Cov3 between different readers
in different modalities. Confidence intervals for the modality difference and for
each modality's mean AUC follow Hillis (2007) / Hillis et al. (2008).

There is no R reference here; the tests check identities (the FRRC statistic equals
the DeLong test of the reader-averaged AUC difference built directly from the full
covariance matrix; with one reader it is the paired DeLong test) and behaviour on
simulated studies (p-values roughly uniform under the null, small under a large
effect).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.delong import placements
from ultrasound_reader.stats.inputs import as_truth, check_both_classes


@dataclass(frozen=True)
class OrComponents:
    var: float
    cov1: float
    cov2: float
    cov3: float
    ms_t: float
    ms_tr: float
    ms_r: float


@dataclass
class MrmcResult:
    modalities: list[str]
    readers: list[str]
    auc: list[list[float]]  # [modality][reader]
    modality_auc: list[float]  # mean over readers
    components: OrComponents
    difference: float  # modality 2 - modality 1 (e.g. post-AI - pre-AI) for two modalities
    rrrc: dict | None  # F, df1, df2, p, ci_low, ci_high (None with one reader)
    frrc: dict  # chi2, df, p, ci_low, ci_high
    modality_ci: list[dict]  # per modality: auc, ci_low, ci_high, df (RRRC single-treatment)
    n_cases: int
    n_pos: int
    n_neg: int
    conf_level: float = 0.95
    covariance: np.ndarray | None = None  # DeLong covariance, index modality * J + reader
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("covariance")
        return d


def or_mrmc(truth: object, scores: object, modalities: Sequence[str] | None = None,
            readers: Sequence[str] | None = None, conf_level: float = 0.95) -> MrmcResult:
    """OR analysis of ``scores[modality, reader, case]`` against the cases' truth."""
    t = as_truth(truth)
    s = np.asarray(scores, dtype=float)
    if s.ndim != 3:
        raise UserError("MRMC scores must be modalities x readers x cases")
    n_t, n_r, n_c = s.shape
    if n_t < 2:
        raise UserError("MRMC needs at least two modalities (e.g. pre-AI and post-AI)")
    if n_c != t.size:
        raise UserError(f"MRMC: {n_c} cases in the scores but {t.size} truth values")
    if np.isnan(t).any() or np.isnan(s).any():
        raise UserError("MRMC: missing truth or scores; the OR analysis needs a fully crossed, complete design")
    check_both_classes(t)
    mods = list(modalities or [f"modality{i + 1}" for i in range(n_t)])
    rdrs = list(readers or [f"reader{j + 1}" for j in range(n_r)])
    pl = placements(t.astype(np.int8), s.reshape(n_t * n_r, n_c))
    cov = pl.covariance()
    auc = pl.auc.reshape(n_t, n_r)
    comp = _components(auc, cov, n_t, n_r)
    a = 1 - (1 - conf_level) / 2
    notes: list[str] = []
    mean_t = auc.mean(axis=1)
    diff = float(mean_t[1] - mean_t[0]) if n_t == 2 else float("nan")

    # Fixed readers, random cases.
    den_f = comp.var - comp.cov1 + (n_r - 1) * max(comp.cov2 - comp.cov3, 0.0)
    chi2 = (n_t - 1) * comp.ms_t / den_f if den_f > 0 else float("nan")
    se_f = float(np.sqrt(2 / n_r * den_f)) if den_f > 0 else float("nan")
    zc = stats.norm.ppf(a)
    frrc = {"chi2": float(chi2), "df": n_t - 1, "p": float(stats.chi2.sf(chi2, n_t - 1)),
            "se_difference": se_f, "ci_low": diff - zc * se_f, "ci_high": diff + zc * se_f}

    # Random readers, random cases (Hillis ddf).
    rrrc = None
    modality_ci = []
    if n_r >= 2:
        den_r = comp.ms_tr + n_r * max(comp.cov2 - comp.cov3, 0.0)
        if comp.ms_tr > 0:
            ddf = den_r ** 2 / (comp.ms_tr ** 2 / ((n_t - 1) * (n_r - 1)))
        else:
            ddf = float("inf")
            notes.append("no reader-by-modality variation: ddf is infinite (normal approximation)")
        f = comp.ms_t / den_r if den_r > 0 else float("nan")
        se_r = float(np.sqrt(2 / n_r * den_r))
        tc = stats.t.ppf(a, ddf)
        rrrc = {"F": float(f), "df1": n_t - 1, "df2": float(ddf), "p": float(stats.f.sf(f, n_t - 1, ddf)),
                "se_difference": se_r, "ci_low": diff - tc * se_r, "ci_high": diff + tc * se_r}
        for i in range(n_t):
            ms_r_i = float(np.sum((auc[i] - mean_t[i]) ** 2) / (n_r - 1))
            idx = [i * n_r + j for j in range(n_r)]
            sub = cov[np.ix_(idx, idx)]
            cov2_i = float((sub.sum() - np.trace(sub)) / (n_r * (n_r - 1)))
            den_i = ms_r_i + n_r * max(cov2_i, 0.0)
            df_i = den_i ** 2 / (ms_r_i ** 2 / (n_r - 1)) if ms_r_i > 0 else float("inf")
            se_i = float(np.sqrt(den_i / n_r))
            ti = stats.t.ppf(a, df_i)
            modality_ci.append({"modality": mods[i], "auc": float(mean_t[i]), "se": se_i, "df": float(df_i),
                                "ci_low": float(mean_t[i] - ti * se_i), "ci_high": float(mean_t[i] + ti * se_i)})
    else:
        notes.append("one reader: only the fixed-reader (FRRC) analysis is defined")
    if n_t != 2:
        notes.append("more than two modalities: the CIs refer to modality 2 - modality 1 only when t = 2")
    return MrmcResult(mods, rdrs, auc.tolist(), mean_t.tolist(), comp, diff, rrrc, frrc, modality_ci,
                      n_c, int(t.sum()), int(t.size - t.sum()), conf_level, cov, notes)


def _components(auc: np.ndarray, cov: np.ndarray, n_t: int, n_r: int) -> OrComponents:
    """OR mean squares and the averaged covariances Var, Cov1, Cov2, Cov3."""
    i_idx = np.repeat(np.arange(n_t), n_r)  # modality of each flattened index
    j_idx = np.tile(np.arange(n_r), n_t)  # reader
    same_i = i_idx[:, None] == i_idx[None, :]
    same_j = j_idx[:, None] == j_idx[None, :]

    def mean_of(mask: np.ndarray) -> float:
        return float(cov[mask].mean()) if mask.any() else 0.0

    var = float(np.mean(np.diag(cov)))
    cov1 = mean_of(~same_i & same_j)
    cov2 = mean_of(same_i & ~same_j)
    cov3 = mean_of(~same_i & ~same_j)
    grand = auc.mean()
    mt, mr = auc.mean(axis=1), auc.mean(axis=0)
    ms_t = n_r * float(np.sum((mt - grand) ** 2)) / (n_t - 1)
    ms_r = n_t * float(np.sum((mr - grand) ** 2)) / (n_r - 1) if n_r > 1 else float("nan")
    resid = auc - mt[:, None] - mr[None, :] + grand
    ms_tr = float(np.sum(resid ** 2)) / ((n_t - 1) * (n_r - 1)) if n_r > 1 else float("nan")
    return OrComponents(var, cov1, cov2, cov3, ms_t, ms_tr, ms_r)


def or_mrmc_frame(data: pd.DataFrame, reader: str = "reader", modality: str = "modality",
                  case: str = "case", truth: str = "truth", score: str = "score",
                  modality_order: Sequence[str] | None = None, conf_level: float = 0.95) -> MrmcResult:
    """OR analysis from a long table: one row per reader x modality x case."""
    for c in (reader, modality, case, truth, score):
        if c not in data.columns:
            raise UserError(f"column '{c}' not found (columns: {', '.join(map(str, data.columns))})")
    if data.duplicated([reader, modality, case]).any():
        raise UserError("MRMC: a reader read the same case twice in one modality")
    mods = list(modality_order) if modality_order else sorted(data[modality].astype(str).unique())
    rdrs = sorted(data[reader].astype(str).unique())
    cases = sorted(data[case].astype(str).unique())
    truth_by_case = data.assign(_c=data[case].astype(str)).groupby("_c")[truth].agg(lambda v: set(v.dropna()))
    if any(len(v) != 1 for v in truth_by_case):
        raise UserError(f"MRMC: column '{truth}' must give each case exactly one truth value")
    t = as_truth([next(iter(truth_by_case[c])) for c in cases], truth)
    wide = data.assign(_r=data[reader].astype(str), _m=data[modality].astype(str), _c=data[case].astype(str))
    cube = wide.pivot_table(index=["_m", "_r"], columns="_c", values=score, aggfunc="first")
    full = pd.MultiIndex.from_product([mods, rdrs])
    cube = cube.reindex(index=full, columns=cases)
    if cube.isna().to_numpy().any():
        raise UserError("MRMC: the design is not fully crossed (some reader x modality x case scores are missing)")
    s = cube.to_numpy(dtype=float).reshape(len(mods), len(rdrs), len(cases))
    return or_mrmc(t, s, mods, rdrs, conf_level)
