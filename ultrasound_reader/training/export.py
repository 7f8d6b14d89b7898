"""The run's bundle: manifest and model card from the run's own numbers, written by ai.bundle.

Nothing on the card is typed by hand: the held-out metrics table, the cut-offs and
the fusion coefficients are filled from the metrics this run computed, and the
training-data statement says plainly when the cases were synthetic phantoms.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ultrasound_reader.training.config import RunConfig

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

DEFAULT_CARD = {
    "liver-fll": {
        "intended_use": "Research decision support for benign vs malignant focal liver lesions on B-mode "
                        "ultrasound ROIs (DCNN-US, Yang et al. 2020): Model^L, Model^LB and Model^LBC.",
        "population": "adults with a solid focal liver lesion larger than 1.0 cm",
        "contraindications": ["lesion <= 1.0 cm", "cystic lesion", "previous local therapy of the lesion"],
    },
    "soft-tissue": {
        "intended_use": "Research decision support for superficial soft-tissue masses from grayscale and "
                        "colour-Doppler ROIs (DLM-1 benign vs malignant, DLM-2 benign subtype; Long et al. 2023).",
        "population": "superficial soft-tissue masses",
        "contraindications": ["deep (intramuscular or deeper) masses not studied",
                              "benign subtypes other than the five are not recognised"],
    },
}
PHANTOM_WARNING = ("TRAINED ON SYNTHETIC PHANTOM IMAGES ONLY. NOT FOR CLINICAL USE: its outputs say nothing "
                   "about real patients.")


def input_spec(cfg: RunConfig) -> dict[str, Any]:
    color = {"bmode": "gray3"} if cfg.task == "liver-fll" else {"bmode": "gray3", "cdfi": "rgb"}
    w, h = cfg.model.input_size
    return {"width": int(w), "height": int(h), "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "color": color,
            "pad": "constant", "pad_value": 0, "mask_outside": False, "roi_margin": cfg.model.roi_margin,
            "interpolation": "area"}


def _fmt_est(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    v = e["value"]
    if e.get("ci_low") is None:
        return f"{v:.3f}"
    return f"{v:.3f} ({e['ci_low']:.3f}-{e['ci_high']:.3f})"


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The compact metrics block of the manifest: per cohort and output, headline figures."""
    out: dict[str, Any] = {}
    for cohort, outputs in metrics.get("cohorts", {}).items():
        for name, m in outputs.items():
            if not isinstance(m, dict) or "auc" not in m:
                continue
            row = {"n": m.get("n"), "auc": m.get("auc")}
            for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
                if isinstance(m.get(k), dict):
                    row[k] = m[k]
            cal = m.get("calibration") or {}
            row["calibration"] = {k: cal.get(k) for k in ("slope", "intercept", "brier")} | {
                "hosmer_lemeshow_p": (cal.get("hosmer_lemeshow") or {}).get("p")}
            out.setdefault(cohort, {})[name] = row
    return out


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    lines = ["| cohort | output | n (positive) | AUC (95% CI, DeLong) | sensitivity | specificity | accuracy "
             "| calibration slope | Brier | Hosmer-Lemeshow p |", "|---|---|---|---|---|---|---|---|---|---|"]
    for cohort, outputs in metrics.get("cohorts", {}).items():
        for name, m in outputs.items():
            if not isinstance(m, dict) or "auc" not in m:
                continue
            cal = m.get("calibration") or {}
            hl = (cal.get("hosmer_lemeshow") or {}).get("p")
            slope, brier = cal.get("slope"), cal.get("brier")
            lines.append(f"| {cohort} | {name} | {m['n']} ({m['malignant']}) | {_fmt_est(m['auc'])} | "
                         f"{_fmt_est(m.get('sensitivity'))} | {_fmt_est(m.get('specificity'))} | "
                         f"{_fmt_est(m.get('accuracy'))} | {'n/a' if slope is None else f'{slope:.2f}'} | "
                         f"{'n/a' if brier is None else f'{brier:.3f}'} | {'n/a' if hl is None else f'{hl:.3f}'} |")
    return lines


def model_card(manifest: dict[str, Any], metrics: dict[str, Any], cfg: RunConfig) -> str:
    from ultrasound_reader.ai.bundle import render_model_card

    head = [f"# {manifest['name']} {manifest['version']} — model card", ""]
    if cfg.data.synthetic:
        head += [f"**{PHANTOM_WARNING}**", ""]
    else:
        head += ["**Research software. Not for clinical use.**", ""]
    head += ["## Performance (measured by the training run)", "",
             "The internal and external cohorts were held out of network training (the external one is a whole "
             "centre). Cut-offs were chosen by the Youden index on the training cohort (Model^LBC: on the "
             "cohort its regression was fitted on) and applied unchanged to the other cohorts; 95 % CIs are DeLong (AUC) and Clopper-Pearson (proportions). The "
             "figures below were written by `ultrasound-reader train` from its own predictions; none were "
             "typed.", ""]
    positive = ("malignant" if cfg.task == "liver-fll" else
                "malignant for DLM-1; for SM-k, benign subtype k among benign lesions")
    head += [f"Positive = {positive}.", ""] + metrics_table(metrics)
    extra = metrics.get("subtype_accuracy")
    if extra:
        head += ["", "Benign subtype (highest SM score) accuracy among benign lesions: " + ", ".join(
            f"{c} {_fmt_est(v)} (n={v.get('n')})" for c, v in extra.items())]
    fusion = metrics.get("fusion")
    if fusion:
        on = fusion.get("fitted_on", "training")
        on = "training (out-of-fold Model^LB scores)" if on == "cv" else on
        head += ["", f"## Model^LBC factor selection ({on} cohort)", "",
                 f"Univariable then multivariable logistic regression, p < {cfg.fusion.p_threshold}, fitted on the "
                 f"{on} cohort (Model^LB score of each lesion plus the kept factors), and the LBC cut-off chosen "
                 f"there. Kept: {', '.join(fusion['selected']) or 'none'}."
                 + (" The internal-cohort LBC figures above are therefore not held out; the external cohort is."
                    if on == "internal" else ""), "",
                 "| term | OR | 95% CI | p |", "|---|---|---|---|"]
        for r in fusion["final"]:
            if r["term"] == "(Intercept)":
                continue
            p = "<0.001" if r["p"] < 0.001 else f"{r['p']:.3f}"
            head.append(f"| {r['term']} | {r['or']:.3g} | {r['or_ci_low']:.3g}-{r['or_ci_high']:.3g} | {p} |")
    head += ["", "## Training run", "", f"Config: `{cfg.source.name if cfg.source else 'n/a'}`, seed {cfg.seed}. "
             f"Cohorts: {json.dumps(metrics.get('cohort_sizes', {}))}.", ""]
    body = render_model_card(manifest).split("\n", 1)[1]  # drop its title: ours is above
    return "\n".join(head) + "\n" + body


def manifest(cfg: RunConfig, *, architecture: dict[str, Any], models: dict[str, str], thresholds: dict[str, Any],
             decision_models: list[str], metrics: dict[str, Any], fusion: dict[str, Any] | None = None,
             nomogram: dict[str, Any] | None = None) -> dict[str, Any]:
    card = DEFAULT_CARD[cfg.task]
    statement = cfg.card.intended_use or card["intended_use"]
    if cfg.data.synthetic:
        statement = f"{statement} {PHANTOM_WARNING}"
    td = cfg.data.statement or ("Synthetic phantom cases (ultrasound-reader phantom)." if cfg.data.synthetic
                                else "Cases from the data folder named in the training config.")
    k = cfg.model.images_per_lesion
    m: dict[str, Any] = {
        "name": cfg.name, "version": cfg.version, "task": cfg.task,
        "description": cfg.description or f"Trained with ultrasound-reader train ({cfg.name}).",
        "intended_use": {"statement": statement, "population": cfg.card.population or card["population"],
                         "contraindications": list(cfg.card.contraindications or card["contraindications"]),
                         "min_lesion_cm": 1.0 if cfg.task == "liver-fll" else None, "not_for_clinical_use": True},
        "training_data": {"statement": td, "synthetic": bool(cfg.data.synthetic),
                          "cohorts": metrics.get("cohort_sizes", {}), "source": str(cfg.data.root)},
        "architecture": architecture,
        "models": {n: {"file": f} for n, f in models.items()},
        "input": input_spec(cfg),
        "images_per_lesion": ({"min": 1, "max": max(4, k), "recommended": k} if cfg.task == "liver-fll"
                              else {"min": 1, "max": 1, "recommended": 1}),
        "thresholds": thresholds,
        "decision_models": decision_models,
        "fusion": fusion,
        "nomogram": nomogram,
        "metrics": summary(metrics),
    }
    return _finite(m)


def _finite(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_bundle(folder: Path, m: dict[str, Any], weights: dict[str, Any], card: str, fp16: bool,
                 sign_key: Path | None = None) -> Path:
    """Write the bundle; sign it when given a key (``sign_key``, else ``ULTRASOUND_READER_SIGNING_KEY``).

    ``ultrasound-reader train --sign-key KEY`` sets that variable for its run.
    """
    from ultrasound_reader.ai.bundle import save_bundle
    from ultrasound_reader.ai.signing import sign_bundle, signing_key_from_env

    key = sign_key or signing_key_from_env()
    out = save_bundle(folder, m, weights, model_card=card, fp16=fp16, overwrite=True)
    if key is not None:
        sign_bundle(out, key)
    return out
