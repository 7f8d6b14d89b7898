"""The two recipes end to end: train the stages, predict every cohort, choose cut-offs, measure.

Both return the same shape of result to :mod:`ultrasound_reader.training.run`:
``predictions`` (per cohort, one row per lesion), ``cutoffs`` (Youden on the
training cohort), ``metrics``, and what to export (manifest parts and weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.ai.networks import build_model
from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.jsonutil import jsonable
from ultrasound_reader.training import evaluate
from ultrasound_reader.training.export import round_fp16
from ultrasound_reader.training.config import RunConfig
from ultrasound_reader.training.crops import ContextGeometry
from ultrasound_reader.training.dataset import Cohorts, DataSet
from ultrasound_reader.training.runtime import Runtime

Say = Callable[[str], None]


@dataclass(frozen=True)
class TaskRun:
    """How a recipe runs: the config, where (runtime), the input geometry, and the run's folders and options."""

    cfg: RunConfig
    rt: Runtime
    spec: dict[str, Any]  # the bundle's input spec (export.input_spec)
    geometry: ContextGeometry
    cache: Path  # ROI crop cache
    checkpoints: Path
    resume: bool = False
    progress: bool = True
    stop: list[int] | None = None  # stop after this many epochs (tests of resumption)
    say: Say = print


def _trained_nets(task: str, arch: Any, results: dict[str, Any], fp16: bool) -> dict[str, Any]:
    """The selected weights of each trained model as networks (rounded through fp16 if exported so)."""
    nets = {}
    for name, r in results.items():
        net = build_model(task, name, arch)
        net.load_state_dict(r.state)
        nets[name] = round_fp16(net) if fp16 else net
    return nets


def _cohorts(c: Cohorts) -> dict[str, DataSet]:
    out = {"training": c.train, "internal": c.internal}
    if c.external is not None and len(c.external):
        out["external"] = c.external
    return out


def _rows(ds: DataSet) -> list[dict[str, Any]]:
    return [{"case_id": s.case.case_id, "malignant": s.label, "subtype": s.truth.subtype, "lb_type": s.truth.lb_type,
             "lesion_size_cm": s.truth.lesion_size_cm, "centre": s.truth.centre} for s in ds.samples]


def _prepare_all(prepare: Callable[..., Any], sets: dict[str, DataSet], rt: Runtime, say: Say, **kw: Any) -> dict[str, Any]:
    # Rank 0 cuts the crops into the cache first; the other ranks then read them from it.
    out: dict[str, Any] = {}
    for turn in ("main", "others"):
        if (turn == "main") == rt.is_main:
            for name, ds in sets.items():
                say(f"ROI crops of the {name} cohort ({len(ds)} lesions)")
                out[name] = prepare(ds, **kw)
        rt.barrier()
    return out


def cross_validate(cfg: RunConfig, rt: Runtime, train: Any, ckdir: Path, say: Say,
                   fit_fold: Callable[[Any, Any, Path], dict[str, np.ndarray]],
                   targets: Callable[[str, Any], tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """k-fold CV of the training cohort: per-fold and pooled out-of-fold AUCs of every output.

    Returns the summary and the out-of-fold probabilities by output (training-cohort order).

    ``fit_fold(train_crops, val_crops, folder)`` trains on one fold's training part and
    returns lesion probabilities of its validation part by output name (NaN where an
    output is not computable); ``targets(name, crops)`` gives (lesions, 0/1 targets).
    Folds are stratified and seeded; each fold checkpoints under ``checkpoints/foldK``.
    """
    from ultrasound_reader.stats.delong import delong_auc
    from ultrasound_reader.training.dataset import kfold

    folds = kfold(train.labels, cfg.split.cv_folds, cfg.seed)
    oof: dict[str, np.ndarray] = {}
    per_fold: list[dict[str, Any]] = []
    for k, (tr, va) in enumerate(folds):
        say(f"cross-validation fold {k + 1}/{len(folds)}: {len(tr)} training, {len(va)} validation lesions")
        probs = fit_fold(train.subset(tr), train.subset(va), ckdir / f"fold{k + 1}")
        row: dict[str, Any] = {"fold": k + 1, "n": int(len(va))}
        for name, p in probs.items():
            oof.setdefault(name, np.full(len(train.labels), np.nan))[va] = p
            idx, y = targets(name, train.subset(va))
            pk = np.asarray(p)[idx]
            ok = ~np.isnan(pk)
            row[name] = float(delong_auc(y[ok], pk[ok]).auc) if len(set(y[ok].tolist())) == 2 else None
        per_fold.append(row)
    out: dict[str, Any] = {"folds": len(folds), "per_fold": per_fold, "pooled": {}}
    for name, p in oof.items():
        idx, y = targets(name, train)
        pk = p[idx]
        ok = ~np.isnan(pk)
        aucs = [r[name] for r in per_fold if r.get(name) is not None]
        if len(set(y[ok].tolist())) < 2:
            out["pooled"][name] = {"auc": {"value": None, "note": "one class only"}}
            continue
        a = delong_auc(y[ok], pk[ok])
        out["pooled"][name] = {"auc": {"value": a.auc, "ci_low": a.ci_low, "ci_high": a.ci_high,
                                       "method": "DeLong, pooled out-of-fold"},
                               "fold_mean": float(np.mean(aucs)) if aucs else None,
                               "fold_sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else None}
    return jsonable(out), oof


def _fll_targets(name: str, crops: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(len(crops.labels)), crops.labels


def run_fll(job: TaskRun, cohorts: Cohorts) -> dict[str, Any]:
    """Model^L, Model^LB (and cross-validation), predictions, cut-offs, Model^LBC, metrics."""
    from ultrasound_reader.ai.fusion import fused_probability
    from ultrasound_reader.training import fll
    from ultrasound_reader.training.fusion import fit_lbc

    cfg, rt, spec, geometry, ckdir, say = job.cfg, job.rt, job.spec, job.geometry, job.checkpoints, job.say
    stages = cfg.model.stages
    sets = _cohorts(cohorts)
    crops = _prepare_all(fll.prepare, sets, rt, say, spec=spec, geometry=geometry, cache=job.cache,
                         note=say)
    results = {}
    results["L"] = fll.train_stage("L", job, crops["training"], crops["internal"], ckdir / "L.pt")
    if "LB" in stages:
        results["LB"] = fll.train_stage("LB", job, crops["training"], crops["internal"], ckdir / "LB.pt",
                                        init_from=results["L"].state)
    cv, oof = None, {}
    if cfg.split.cv_folds:
        def fit_fold(tr: Any, va: Any, folder: Path) -> dict[str, np.ndarray]:
            r = {"L": fll.train_stage("L", job, tr, va, folder / "L.pt")}
            if "LB" in stages:
                r["LB"] = fll.train_stage("LB", job, tr, va, folder / "LB.pt", init_from=r["L"].state)
            out = {}
            for name, res in r.items():
                net = build_model("liver-fll", name, fll.architecture(cfg))
                net.load_state_dict(res.state)
                out[name] = fll.predict(net.to(rt.device), name, va, spec, rt.device)["prob"]
            return out

        cv, oof = cross_validate(cfg, rt, crops["training"], ckdir, say, fit_fold, _fll_targets)
    if not rt.is_main:
        return {}
    arch = fll.architecture(cfg)
    nets = _trained_nets("liver-fll", arch, results, cfg.output.fp16)
    say("predicting every cohort")
    preds: dict[str, list[dict[str, Any]]] = {}
    for cohort, c in crops.items():
        rows = _rows(c.data)
        for name, net in nets.items():
            p = fll.predict(net.to(rt.device), name, c, spec, rt.device)
            for row, v in zip(rows, p["prob"]):
                row[name] = None if np.isnan(v) else float(v)
        preds[cohort] = rows
    train_rows = preds["training"]
    y_train = [r["malignant"] for r in train_rows]
    cutoffs = {}
    for name in nets:
        have = [(r["malignant"], r[name]) for r in train_rows if r[name] is not None]
        cutoffs[name] = evaluate.youden([a for a, _ in have], [b for _, b in have])
    metrics: dict[str, Any] = {"stages": {k: r.to_dict() for k, r in results.items()}}
    if cv is not None:
        metrics["cross_validation"] = cv
    fusion = nomogram = None
    if "LBC" in stages:
        say("Model^LBC: screening clinical factors and fitting the logistic fusion")
        fit_cohort = cfg.fusion.fit_on
        if fit_cohort == "cv":  # cross-fitted: each training lesion scored by a Model^LB that never saw it
            fit_rows = [dict(r, LB=None if np.isnan(v) else float(v)) for r, v in zip(train_rows, oof["LB"])]
            fit_set = sets["training"]
        else:
            fit_rows, fit_set = preds[fit_cohort], sets[fit_cohort]
        use = [i for i, r in enumerate(fit_rows) if r["LB"] is not None]
        try:
            fit, nomo = fit_lbc([fit_rows[i]["LB"] for i in use], [fit_set.samples[i].case.factors for i in use],
                                [fit_rows[i]["malignant"] for i in use], cfg.fusion.factors,
                                cfg.fusion.p_threshold)
        except UserError as exc:  # L and LB stay valid; the bundle then has no LBC
            say(f"WARNING: {exc}; the bundle is exported without Model^LBC")
            metrics["fusion_error"] = str(exc)
        else:
            fusion, nomogram = fit.spec, nomo.to_dict()
            metrics["fusion"] = fit.to_dict() | {"p_threshold": cfg.fusion.p_threshold, "fitted_on": fit_cohort}
            for cohort, ds in sets.items():
                for row, s in zip(preds[cohort], ds.samples):
                    row["LBC"] = (None if row["LB"] is None else
                                  fused_probability(fusion, s.case.factors, {"LB": row["LB"]})[0])
            # The LBC cut-off comes from the scores its regression was fitted on.
            have = [(r["malignant"], fused_probability(fusion, s.case.factors, {"LB": r["LB"]})[0])
                    for r, s in zip(fit_rows, fit_set.samples) if r["LB"] is not None]
            have = [(a, b) for a, b in have if b is not None]
            cutoffs["LBC"] = evaluate.youden([a for a, _ in have], [b for _, b in have],
                                             "training (out-of-fold)" if fit_cohort == "cv" else fit_cohort)
    outputs = [n for n in ("L", "LB", "LBC") if n in cutoffs]
    metrics["cohorts"] = {}
    for cohort, ds in sets.items():
        strata = ds.strata(cfg.task)
        per: dict[str, Any] = {}
        for name in outputs:
            rows = preds[cohort]
            keep = [i for i, r in enumerate(rows) if r.get(name) is not None]
            per[name] = evaluate.score_metrics([rows[i]["malignant"] for i in keep], [rows[i][name] for i in keep],
                                               cutoffs[name]["value"],
                                               {k: [v[i] for i in keep] for k, v in strata.items()})
            per[name]["n_not_computable"] = len(rows) - len(keep)
            if cohort != "training":
                per[name]["decision_curve"] = evaluate.decision_curve(
                    [rows[i]["malignant"] for i in keep], [rows[i][name] for i in keep]) \
                    if len({rows[i]["malignant"] for i in keep}) == 2 else None
        if "LBC" in per and cfg.fusion.fit_on == cohort:
            per["LBC"]["note"] = "the LBC regression and its cut-off were fitted on this cohort: not held out"
        metrics["cohorts"][cohort] = per
    out: dict[str, Any] = {"predictions": preds, "cutoffs": {k: v["value"] for k, v in cutoffs.items()},
                           "primary_outputs": outputs, "metrics": metrics}
    if "L" in nets and "LB" in nets:
        decision = [n for n in ("LBC", "LB", "L") if n in cutoffs]
        out["export"] = {
            "manifest": {"architecture": arch, "models": {"L": "L.safetensors", "LB": "LB.safetensors"},
                         "thresholds": cutoffs, "decision_models": decision, "fusion": fusion,
                         "nomogram": nomogram},
            "weights": {n: nets[n].cpu() for n in ("L", "LB")}}
    else:
        out["export_note"] = "no bundle: a liver-fll bundle needs both Model^L and Model^LB (model.stages)"
    return out


def run_soft_tissue(job: TaskRun, cohorts: Cohorts) -> dict[str, Any]:
    """DLM-1 and SM-1..SM-5 (and cross-validation), predictions, cut-offs, metrics, subtype accuracy."""
    from ultrasound_reader.training import soft_tissue as st

    cfg, rt, spec, geometry, ckdir, say = job.cfg, job.rt, job.spec, job.geometry, job.checkpoints, job.say
    sets = _cohorts(cohorts)
    crops = _prepare_all(st.prepare, sets, rt, say, spec=spec, geometry=geometry, cache=job.cache, note=say)
    results = {}
    for k, name in enumerate(cfg.model.models):
        results[name] = st.train_model(name, job, crops["training"], crops["internal"], ckdir / f"{name}.pt", index=k)
    cv = None
    if cfg.split.cv_folds:
        def fit_fold(tr: Any, va: Any, folder: Path) -> dict[str, np.ndarray]:
            out = {}
            for k, name in enumerate(cfg.model.models):
                res = st.train_model(name, job, tr, va, folder / f"{name}.pt", index=k)
                net = build_model("soft-tissue", name, st.architecture(cfg))
                net.load_state_dict(res.state)
                out[name] = st.predict(net.to(rt.device), va, spec, rt.device)
            return out

        cv, _ = cross_validate(cfg, rt, crops["training"], ckdir, say, fit_fold, st.targets)
    if not rt.is_main:
        return {}
    arch = st.architecture(cfg)
    nets = _trained_nets("soft-tissue", arch, results, cfg.output.fp16)
    say("predicting every cohort")
    preds: dict[str, list[dict[str, Any]]] = {}
    for cohort, c in crops.items():
        rows = _rows(c.data)
        for name, net in nets.items():
            for row, v in zip(rows, st.predict(net.to(rt.device), c, spec, rt.device)):
                row[name] = float(v)
        preds[cohort] = rows
    metrics: dict[str, Any] = {"stages": {k: r.to_dict() for k, r in results.items()}, "cohorts": {}}
    if cv is not None:
        metrics["cross_validation"] = cv
    cutoffs: dict[str, Any] = {}
    train_c = crops["training"]
    for name in nets:
        idx, y = st.targets(name, train_c)
        cutoffs[name] = evaluate.youden(y, [preds["training"][i][name] for i in idx])
    sm = [n for n in nets if n.startswith("SM-")]
    subtype_acc: dict[str, Any] = {}
    for cohort, c in crops.items():
        rows = preds[cohort]
        per: dict[str, Any] = {}
        strata = c.data.strata(cfg.task)
        for name in nets:
            idx, y = st.targets(name, c)
            per[name] = evaluate.score_metrics(y, [rows[i][name] for i in idx], cutoffs[name]["value"],
                                               {k: [v[i] for i in idx] for k, v in strata.items()}
                                               if name == "DLM-1" else None)
            if name == "DLM-1" and cohort != "training" and 0 < y.sum() < y.size:
                per[name]["decision_curve"] = evaluate.decision_curve(y, [rows[i][name] for i in idx])
        metrics["cohorts"][cohort] = per
        if len(sm) == 5:
            benign = [r for r in rows if r["malignant"] == 0 and r["subtype"]]
            hits = sum(st.SUBTYPE_OF[max(sm, key=lambda n: r[n])] == r["subtype"] for r in benign)
            for r in rows:
                r["predicted_subtype"] = st.SUBTYPE_OF[max(sm, key=lambda n: r[n])]
            if benign:
                from ultrasound_reader.stats.cutoff import clopper_pearson

                lo, hi = clopper_pearson(hits, len(benign))
                subtype_acc[cohort] = {"value": hits / len(benign), "ci_low": lo, "ci_high": hi, "n": len(benign)}
    metrics["subtype_accuracy"] = subtype_acc
    out: dict[str, Any] = {"predictions": preds, "cutoffs": {k: v["value"] for k, v in cutoffs.items()},
                           "primary_outputs": ["DLM-1"] if "DLM-1" in nets else [], "metrics": metrics}
    from ultrasound_reader.training.config import SOFT_TISSUE_MODELS

    if set(nets) == set(SOFT_TISSUE_MODELS):
        out["export"] = {
            "manifest": {"architecture": arch, "models": {n: f"{n}.safetensors" for n in SOFT_TISSUE_MODELS},
                         "thresholds": {"DLM-1": cutoffs["DLM-1"]}, "decision_models": ["DLM-1"]},
            "weights": {n: nets[n].cpu() for n in SOFT_TISSUE_MODELS}}
    else:
        out["export_note"] = "no bundle: a soft-tissue bundle needs DLM-1 and SM-1..SM-5 (model.models)"
    return out


# task (case.TASKS) -> its recipe
TASK_RUNNERS: dict[str, Callable[[TaskRun, Cohorts], dict[str, Any]]] = {
    "liver-fll": run_fll,
    "soft-tissue": run_soft_tissue,
}
