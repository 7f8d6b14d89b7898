"""The one-page PDF report (matplotlib, A4 portrait, headless Agg/PDF backend).

Top: title, NOT FOR CLINICAL USE when a demo model is in use, case and exam date
(pseudonym and shifted date when de-identified). Middle: the analysed frame with ROIs
and Grad-CAM, the nomogram with the case's points. Then a table of every output's
probability with the model's validated AUC (95 % CI, cohort) and cut-off, the
decision, lesion size, clinical factors used, warnings (the analysis's and the
intended-use guardrails), model name / version / signature status, and the intended
use statement.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ultrasound_reader.export.core import Export

A4 = (8.27, 11.69)
COHORT_ORDER = ("external", "internal", "validation", "test", "training")


def auc_text(manifest: dict[str, Any], output: str) -> str:
    """'AUC 0.92 (0.89-0.96), external' from the manifest's metrics, or '' when unknown."""
    metrics = manifest.get("metrics")
    if not isinstance(metrics, dict):
        return ""
    for cohort in (*COHORT_ORDER, *[c for c in metrics if c not in COHORT_ORDER]):
        block = metrics.get(cohort)
        m = block.get(output) if isinstance(block, dict) else None
        auc = m.get("auc") if isinstance(m, dict) else None
        if isinstance(auc, dict) and auc.get("value") is not None:
            ci = ""
            if auc.get("ci_low") is not None and auc.get("ci_high") is not None:
                ci = f" ({auc['ci_low']:.2f}-{auc['ci_high']:.2f})"
            return f"AUC {auc['value']:.2f}{ci}, {cohort}"
    return ""


def _factors_text(case: Any) -> str:
    f = case.factors
    parts = [f"{k} {v}" for k, v in f.__dict__.items() if v is not None]
    return ", ".join(parts) if parts else "none recorded"


def write_pdf(job: Export, path: Path) -> Path:
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    from ultrasound_reader import __version__
    from ultrasound_reader.export.render import NOT_FOR_CLINICAL_USE, nomogram_picture, overlay_picture

    r = job.result
    m = job.manifest
    headers = job.source_headers()
    fig = Figure(figsize=A4)
    FigureCanvasPdf(fig)
    y = 0.975

    def text(x: float, yy: float, s: str, **kw: Any) -> None:
        fig.text(x, yy, s, va="top", **kw)

    text(0.05, y, "Ultrasound Reader - AI decision support report", fontsize=15, weight="bold")
    y -= 0.028
    if job.demo:
        text(0.05, y, NOT_FOR_CLINICAL_USE + ": demo model trained on synthetic data", fontsize=12,
             weight="bold", color="#d62728")
        y -= 0.024
    study_date = str(headers[0].get("StudyDate", "") or "?")
    text(0.05, y, f"Case {job.case_label}   task {job.case.task}   exam date {study_date}"
         + ("   (de-identified; dates shifted)" if job.deid else ""), fontsize=9)
    y -= 0.022

    # images
    pic, _, _ = overlay_picture(job.case, r, job.demo)
    spec = m.get("nomogram")
    nomo = nomogram_picture(spec, r, job.demo, dpi=100) if (r is not None and spec and r.total_points is not None) \
        else None
    img_h = 0.36
    if nomo is not None:
        ax1 = fig.add_axes((0.04, y - img_h, 0.44, img_h))
        ax2 = fig.add_axes((0.50, y - img_h, 0.47, img_h))
        ax2.imshow(nomo)
        ax2.axis("off")
    else:
        ax1 = fig.add_axes((0.04, y - img_h, 0.92, img_h))
    ax1.imshow(pic)
    ax1.axis("off")
    y -= img_h + 0.015

    # results table
    text(0.05, y, "Results", fontsize=12, weight="bold")
    y -= 0.022
    if r is None:
        text(0.05, y, "No analysis.", fontsize=9)
        y -= 0.02
    else:
        cut = r.cutoff
        rows = [("output", "probability", "model performance (95% CI)", "")]
        for k, v in r.probabilities.items():
            mark = ""
            if k == r.decision_model and cut is not None:
                mark = f"decision model, cut-off {cut:.3f}"
            rows.append((f"{k}  {r.model_labels.get(k, '')[:44]}", f"{v:.3f}", auc_text(m, k), mark))
        for i, row in enumerate(rows):
            w = "bold" if i == 0 else "normal"
            for x, cell in zip((0.05, 0.45, 0.55, 0.78), row):
                text(x, y, cell, fontsize=8, weight=w)
            y -= 0.017
        y -= 0.005
        if r.decision:
            text(0.05, y, f"Decision: {r.decision.upper()}  ({r.decision_model} p = "
                 f"{r.probabilities.get(r.decision_model or '', float('nan')):.3f} "
                 f"{'>=' if r.decision == 'malignant' else '<'} cut-off {cut:.3f}, Youden)", fontsize=10,
                 weight="bold", color="#d62728" if r.decision == "malignant" else "#1f77b4")
            y -= 0.02
        extra = []
        if r.subtype:
            extra.append(f"benign subtype {r.subtype}")
        if r.lb_type:
            extra.append(f"liver background {r.lb_type}")
        if r.lesion_size_cm is not None:
            extra.append(f"lesion size {r.lesion_size_cm:.2f} cm ({r.size_band})")
        if r.total_points is not None:
            extra.append(f"nomogram {r.total_points:.1f} points")
        if extra:
            text(0.05, y, "; ".join(extra), fontsize=9)
            y -= 0.018
        if not r.complete:
            text(0.05, y, "INCOMPLETE: some outputs could not be computed (see warnings)", fontsize=9,
                 color="#d62728")
            y -= 0.018
    for line in textwrap.wrap("Clinical factors used: " + _factors_text(job.case), 120):
        text(0.05, y, line, fontsize=8)
        y -= 0.015

    # warnings
    iu = m.get("intended_use") or {}
    warns = [job.scrub(w) for w in (r.warnings if r else [])] + [
        w for w in job.outputs.warnings if "nomogram" not in w]
    guard = [f"not intended for: {c}" for c in iu.get("contraindications", [])]
    if iu.get("population"):
        guard.insert(0, f"intended population: {iu['population']}")
    y -= 0.006
    text(0.05, y, "Warnings and intended-use guardrails", fontsize=12, weight="bold")
    y -= 0.022
    for w in (warns or ["none raised by the analysis"]) + guard:
        for i, line in enumerate(textwrap.wrap(w, 115)):
            text(0.06, y, ("- " if i == 0 else "  ") + line, fontsize=8,
                 color="#d62728" if w in warns else "black")
            y -= 0.015

    # model
    y -= 0.006
    text(0.05, y, "Model", fontsize=12, weight="bold")
    y -= 0.022
    alg = job.algorithm()
    text(0.06, y, f"{alg.name} version {alg.version}   task {alg.task}   signature: {alg.signature}", fontsize=9)
    y -= 0.017
    td = (m.get("training_data") or {}).get("statement", "")
    for label, body in (("Intended use", iu.get("statement", "")), ("Training data", td)):
        if not body:
            continue
        for i, line in enumerate(textwrap.wrap(f"{label}: {body}", 120)):
            if y < 0.04:
                break
            text(0.06, y, line, fontsize=7.5)
            y -= 0.014
    fig.text(0.05, 0.015, f"ultrasound-reader {__version__} - research software - generated "
             f"{job.now():%Y-%m-%d %H:%M}" + (" (date shifted)" if job.deid else ""), fontsize=7, color="gray")
    from ultrasound_reader.paths import atomic_write

    return atomic_write(path, lambda tmp: fig.savefig(
        tmp, format="pdf", metadata={"Title": "AI decision support report", "Author": "",
                                     "Creator": f"ultrasound-reader {__version__}"}))
