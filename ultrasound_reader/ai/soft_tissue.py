"""The superficial soft-tissue pipeline (Long et al. 2023): DLM-1, then DLM-2 = SM-1..SM-5.

Each of the six ConvNeXt models scores the mass ROI on the grayscale (B-mode) image
and on the colour-Doppler (CDFI) image; the manifest's ``combine`` says how the two
become one score (``mean_probability``: mean of the per-image probabilities, each
image role weighted equally; ``mean_logit``: sigmoid of the mean logit). Cascade:
DLM-1 at its cut-off decides benign vs malignant; when benign, the benign subtype is
the highest-scoring SM. All six scores are always computed and reported, with a
Grad-CAM for every model on every image (the maps explain each model's own output).
Each model's scores and maps are handed out as they are computed (``partial_result``,
RunContext.emit_partial): DLM-1 first, which already decides benign vs malignant.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ultrasound_reader.ai.context import RunContext, decide, lesion_size
from ultrasound_reader.ai.manifest import SOFT_TISSUE_MODELS
from ultrasound_reader.ai.preprocess import crop_roi
from ultrasound_reader.case import AnalysisResult, Roi
from ultrasound_reader.errors import UserError

if TYPE_CHECKING:  # torch is imported where used: the ONNX path (onnx_runtime.py) shares the helpers
    import torch

MASS_KINDS = ("mass", "lesion")


def _rois_by_role(ctx: RunContext) -> dict[str, list[Roi]]:
    case, m = ctx.case, ctx.bundle.manifest
    rois = [r for r in case.rois if r.kind in MASS_KINDS]
    by_role: dict[str, list[Roi]] = {role: [] for role in m["input"]["color"]}
    for r in rois:
        by_role.setdefault(case.images[r.image].role, []).append(r)
    ipl = m["images_per_lesion"]
    names = {"bmode": "grayscale (B-mode)", "cdfi": "colour-Doppler (CDFI)"}
    for role, lst in by_role.items():
        if not lst:
            raise UserError(f"case {case.case_id}: no mass ROI on a {names.get(role, role)} image; bundle "
                            f"{ctx.bundle.name} needs one on each of: {', '.join(m['input']['color'])}")
        if not ipl["min"] <= len(lst) <= ipl["max"]:
            raise UserError(f"case {case.case_id}: {len(lst)} mass ROIs on {names.get(role, role)} images; "
                            f"bundle {ctx.bundle.name} takes {ipl['min']}-{ipl['max']}")
    return by_role


def _combine(how: str, logits: torch.Tensor, roles: list[str]) -> float:
    import torch

    """One score from the per-image logits: each image role counts equally."""
    groups = sorted(set(roles))
    if how == "mean_logit":
        z = sum(float(logits[[i for i, r in enumerate(roles) if r == g]].mean()) for g in groups) / len(groups)
        return 1.0 / (1.0 + math.exp(-z))
    p = torch.sigmoid(logits)
    return sum(float(p[[i for i, r in enumerate(roles) if r == g]].mean()) for g in groups) / len(groups)


def model_labels(subtypes: dict[str, str]) -> dict[str, str]:
    return {"DLM-1": "DLM-1 benign vs malignant"} | {n: f"{n} {subtypes[n]}" for n in subtypes}


def partial_result(ctx: RunContext, probs: dict[str, float], per_image: list[dict[str, Any]], cams: list[Any],
                   remaining: list[str]) -> AnalysisResult:
    """The outputs so far (copies: the pipeline goes on filling its own); no subtype before SM-5."""
    case, b = ctx.case, ctx.bundle
    model, cut, decision = decide(ctx, probs, remaining)
    return AnalysisResult(
        case_id=case.case_id, task=case.task, bundle_name=b.name, bundle_version=b.version,
        probabilities=dict(probs), cutoff=cut, decision_model=model, decision=decision,
        per_image=[dict(row) for row in per_image], complete=False, cams=list(cams),
        model_labels=model_labels(b.manifest["architecture"]["subtypes"]))


def run_soft_tissue(ctx: RunContext) -> AnalysisResult:
    import torch

    from ultrasound_reader.ai.gradcam import head_gradients
    from ultrasound_reader.ai.inference import cam_maps, pooled, trunk_forward

    case, b = ctx.case, ctx.bundle
    spec, arch = b.manifest["input"], b.manifest["architecture"]
    by_role = _rois_by_role(ctx)
    rois = [r for lst in by_role.values() for r in lst]
    roles = [case.images[r.image].role for r in rois]

    ctx.step(0.05, "reading frames")
    frames = {r.id: ctx.frame_of(r)[0] for r in rois}
    ctx.lap("frames_s")
    ctx.step(0.1, "preparing ROI crops")
    crops = [crop_roi(frames[r.id], r, spec, role, f"image {r.image} ({case.images[r.image].file}) frame {r.frame}")
             for r, role in zip(rois, roles)]
    ctx.lap("preprocess_s")

    probs: dict[str, float] = {}
    per_image: list[dict[str, Any]] = [
        {"roi_id": r.id, "kind": r.kind, "image": r.image, "frame": r.frame, "role": role, "box": list(c.box)}
        for r, c, role in zip(rois, crops, roles)]
    cams = []
    for k, name in enumerate(SOFT_TISSUE_MODELS):
        ctx.step(0.15 + 0.8 * k / len(SOFT_TISSUE_MODELS), f"{name}")
        net = b.models[name]
        fmap = trunk_forward(net.trunk, crops)
        ctx.lap("forward_s")
        out, (g,) = head_gradients(lambda p, net=net: net.head(p)[:, 0], [pooled(fmap)])
        probs[name] = _combine(arch["combine"], out, roles)
        for row, p in zip(per_image, torch.sigmoid(out)):
            row[name] = float(p)
        if ctx.cam:
            cams += cam_maps(fmap, g, crops, rois, name, ctx.cam_method)
        ctx.lap("cam_s")
        rest = list(SOFT_TISSUE_MODELS[k + 1:])
        ctx.emit_partial(list(SOFT_TISSUE_MODELS[:k + 1]), rest,
                         lambda: partial_result(ctx, probs, per_image, cams, rest))

    ctx.step(0.95, "cascade")
    model, cut, decision = decide(ctx, probs)
    subtypes = arch["subtypes"]
    subtype = None
    if decision == "benign":
        best = max(SOFT_TISSUE_MODELS[1:], key=lambda n: probs[n])
        subtype = subtypes[best]
    size_cm, band = lesion_size(ctx, by_role.get("bmode") or rois)
    ctx.lap("fusion_s")
    return AnalysisResult(
        case_id=case.case_id, task=case.task, bundle_name=b.name, bundle_version=b.version,
        probabilities=probs, cutoff=cut, decision_model=model, decision=decision, subtype=subtype,
        per_image=per_image, lesion_size_cm=size_cm, size_band=band, complete=True, cams=cams,
        model_labels=model_labels(subtypes),
    )
