"""The focal-liver-lesion pipeline (Yang et al. 2020): Model^L, Model^LB, Model^LBC.

* Model^L scores each lesion ROI; the lesion score is the mean of the image scores.
* Model^LB scores each lesion ROI together with a liver-background ROI: the one on
  the same image and frame when there is one, otherwise the background ROIs in turn
  (lesion i with background i mod n). Its LB head gives the LB type (normal /
  steatosis / fibrosis) of each background ROI; the lesion's LB type is the mean.
* Model^LBC is the manifest's logistic fusion (fusion.py) of the lesion-level LB
  probability with clinical factors; missing factors leave it uncomputed (never
  imputed) while L and LB are still shown.

Each output is handed out as it is computed (``partial_result``, RunContext.emit_partial):
L (with its maps), then LB, then the final result with LBC.

Grad-CAMs: "L" on each lesion ROI; "LB" on each lesion ROI (lesion branch) and on
each background ROI (background branch, for the mean fused output of the pairs it
is in); "LB-type" on each background ROI for its predicted type. LBC is a monotone
function of LB's output given the factors, so its map is LB's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ultrasound_reader.ai import fusion as _fusion
from ultrasound_reader.ai.context import RunContext, decide, lesion_size, looks_cystic
from ultrasound_reader.ai.preprocess import crop_roi
from ultrasound_reader.case import LB_TYPES, AnalysisResult, Roi
from ultrasound_reader.errors import UserError

if TYPE_CHECKING:  # torch is imported where used: the ONNX path (onnx_runtime.py) shares the helpers
    import torch

LABELS = {"L": "Model^L (lesion ROIs)", "LB": "Model^LB (lesion + liver background)",
          "LBC": "Model^LBC (LB + clinical factors)"}


def pair_backgrounds(lesions: list[Roi], backgrounds: list[Roi]) -> list[int]:
    """Index of the background ROI each lesion ROI is paired with."""
    out = []
    for i, les in enumerate(lesions):
        same = [j for j, bg in enumerate(backgrounds) if bg.image == les.image and bg.frame == les.frame]
        out.append(same[0] if same else i % len(backgrounds))
    return out


def _check_counts(ctx: RunContext, lesions: list[Roi], backgrounds: list[Roi]) -> None:
    ipl = ctx.bundle.manifest["images_per_lesion"]
    cid = ctx.case.case_id
    if not lesions:
        raise UserError(f"case {cid}: no lesion ROI; draw {ipl['min']}-{ipl['max']} "
                        f"(the paper uses {ipl['recommended']})")
    if not ipl["min"] <= len(lesions) <= ipl["max"]:
        raise UserError(f"case {cid}: {len(lesions)} lesion ROIs; bundle {ctx.bundle.name} takes "
                        f"{ipl['min']}-{ipl['max']}")
    if len(backgrounds) > ipl["max"]:
        raise UserError(f"case {cid}: {len(backgrounds)} liver-background ROIs; bundle {ctx.bundle.name} "
                        f"takes at most {ipl['max']}")
    if len(lesions) < ipl["recommended"]:
        ctx.warn(f"{len(lesions)} lesion ROI(s): the model was validated with {ipl['recommended']} per lesion")


def _sigmoid(t: torch.Tensor) -> list[float]:
    import torch

    return [float(v) for v in torch.sigmoid(t)]


def pending_outputs(ctx: RunContext, have_lb: bool, done: str) -> list[str]:
    """The outputs still to come after ``done`` (L or LB): LB with a background ROI, LBC with a fusion."""
    order = ["L", *(["LB", *(["LBC"] if ctx.bundle.fusion else [])] if have_lb else [])]
    return order[order.index(done) + 1:]


def partial_result(ctx: RunContext, probs: dict[str, float], per_image: list[dict[str, Any]], cams: list[Any],
                   remaining: list[str], lb_type: str | None = None,
                   lb_type_probs: dict[str, float] | None = None) -> AnalysisResult:
    """The outputs so far (copies); no decision while a decision model listed before them is to come."""
    case, b = ctx.case, ctx.bundle
    model, cut, decision = decide(ctx, probs, remaining)
    return AnalysisResult(
        case_id=case.case_id, task=case.task, bundle_name=b.name, bundle_version=b.version,
        probabilities=dict(probs), cutoff=cut, decision_model=model, decision=decision,
        per_image=[dict(row) for row in per_image], complete=False, cams=list(cams), lb_type=lb_type,
        lb_type_probabilities=dict(lb_type_probs or {}),
        model_labels={k: v for k, v in LABELS.items() if k in probs} | {"LB-type": "liver background type"})


def run_fll(ctx: RunContext) -> AnalysisResult:
    import torch

    from ultrasound_reader.ai.gradcam import head_gradients
    from ultrasound_reader.ai.inference import cam_maps, pooled, trunk_forward

    case, b = ctx.case, ctx.bundle
    spec, arch = b.manifest["input"], b.manifest["architecture"]
    lesions, backgrounds = case.rois_of("lesion"), case.rois_of("background")
    _check_counts(ctx, lesions, backgrounds)

    ctx.step(0.05, "reading frames")
    frames = {r.id: ctx.frame_of(r)[0] for r in lesions + backgrounds}
    ctx.lap("frames_s")
    ctx.step(0.15, "preparing ROI crops")
    role = lambda r: case.images[r.image].role  # noqa: E731
    where = lambda r: f"image {r.image} ({case.images[r.image].file}) frame {r.frame}"  # noqa: E731
    crops_l = [crop_roi(frames[r.id], r, spec, role(r), where(r)) for r in lesions]
    crops_b = [crop_roi(frames[r.id], r, spec, role(r), where(r)) for r in backgrounds]
    for r in lesions:
        if looks_cystic(frames[r.id], r):
            ctx.warn(f"lesion ROI {r.id} looks cystic (anechoic, homogeneous): cystic lesions are outside "
                     "the intended use")
    ctx.lap("preprocess_s")

    L, LB = b.models["L"], b.models["LB"]
    have_lb = bool(backgrounds)
    ctx.step(0.3, "Model^L")
    fmap_l = trunk_forward(L.trunk, crops_l)
    ctx.lap("forward_s")
    out_l, (g_l,) = head_gradients(lambda p: L.head(p)[:, 0], [pooled(fmap_l)])
    probs: dict[str, float] = {}
    p_l = _sigmoid(out_l)
    probs["L"] = sum(p_l) / len(p_l)
    cams = cam_maps(fmap_l, g_l, crops_l, lesions, "L", ctx.cam_method) if ctx.cam else []
    per_image: list[dict[str, Any]] = [
        {"roi_id": r.id, "kind": "lesion", "image": r.image, "frame": r.frame, "box": list(c.box), "L": p}
        for r, c, p in zip(lesions, crops_l, p_l)]
    ctx.lap("cam_s")
    rest = pending_outputs(ctx, have_lb, "L")
    ctx.emit_partial(["L"], rest, lambda: partial_result(ctx, probs, per_image, cams, rest))
    lb_type, lb_type_probs = None, {}
    if have_lb:
        ctx.step(0.55, "Model^LB")
        fmap_ll = trunk_forward(LB.lesion.trunk, crops_l)
        fmap_b = trunk_forward(LB.background, crops_b)
        ctx.lap("forward_s")
        pair = pair_backgrounds(lesions, backgrounds)
        pb = pooled(fmap_b)
        out_lb, (g_ll, g_pair) = head_gradients(LB.fuse, [pooled(fmap_ll), pb[pair]])
        p_lb = _sigmoid(out_lb)
        probs["LB"] = sum(p_lb) / len(p_lb)
        for row, j, p in zip(per_image, pair, p_lb):
            row["LB"], row["paired_background"] = p, backgrounds[j].id
        # A background ROI in several pairs: the map of the mean fused logit of those pairs.
        idx = torch.tensor(pair)
        g_b = torch.zeros_like(pb).index_add_(0, idx, g_pair)
        g_b /= torch.bincount(idx, minlength=len(backgrounds)).clamp(min=1)[:, None].to(g_b.dtype)
        lb_names = list(arch.get("lb_types", LB_TYPES))
        with torch.no_grad():
            lb_logits = LB.lb_head(pb)
        predicted = lb_logits.argmax(1)
        out_t, (g_t,) = head_gradients(lambda p: LB.lb_head(p).gather(1, predicted[:, None])[:, 0], [pb])
        act = torch.softmax(lb_logits, 1) if arch.get("lb_activation", "softmax") == "softmax" \
            else torch.sigmoid(lb_logits)
        mean_t = act.mean(0)
        lb_type_probs = {n: float(v) for n, v in zip(lb_names, mean_t)}
        lb_type = lb_names[int(mean_t.argmax())]
        for r, c, a in zip(backgrounds, crops_b, act):
            per_image.append({"roi_id": r.id, "kind": "background", "image": r.image, "frame": r.frame,
                              "box": list(c.box), "lb_type": lb_names[int(a.argmax())],
                              "lb_type_probabilities": {n: float(v) for n, v in zip(lb_names, a)}})
        if ctx.cam:
            cams += cam_maps(fmap_ll, g_ll, crops_l, lesions, "LB", ctx.cam_method)
            cams += cam_maps(fmap_b, g_b, crops_b, backgrounds, "LB", ctx.cam_method)
            cams += cam_maps(fmap_b, g_t, crops_b, backgrounds, "LB-type", ctx.cam_method)
        ctx.lap("cam_s")
        rest = pending_outputs(ctx, have_lb, "LB")
        ctx.emit_partial(["L", "LB"], rest, lambda: partial_result(ctx, probs, per_image, cams, rest,
                                                                   lb_type, lb_type_probs))
    else:
        ctx.warn("no liver-background ROI: Model^LB and Model^LBC not computed (Model^L shown)")

    ctx.step(0.85, "fusion and size")
    complete = have_lb
    points: dict[str, float] = {}
    total = None
    if b.fusion:
        p_lbc, values, missing = _fusion.fused_probability(b.fusion, case.factors, probs)
        if p_lbc is not None:
            probs["LBC"] = p_lbc
            points, total = _nomogram_points(ctx, values)
        else:
            complete = False
            factors = [x for x in missing if x not in b.manifest["models"]]
            if factors:
                ctx.warn(f"clinical factor(s) not recorded: {', '.join(factors)}: Model^LBC not computed "
                         "(the LB result is shown)")
    size_cm, band = lesion_size(ctx, lesions)
    model, cut, decision = decide(ctx, probs)
    ctx.lap("fusion_s")
    return AnalysisResult(
        case_id=case.case_id, task=case.task, bundle_name=b.name, bundle_version=b.version,
        probabilities=probs, cutoff=cut, decision_model=model, decision=decision, per_image=per_image,
        nomogram_points=points, total_points=total, lesion_size_cm=size_cm, size_band=band,
        complete=complete, cams=cams, lb_type=lb_type, lb_type_probabilities=lb_type_probs,
        model_labels={k: v for k, v in LABELS.items() if k in probs} | {"LB-type": "liver background type"},
    )


def _nomogram_points(ctx: RunContext, values: dict[str, float]) -> tuple[dict[str, float], float | None]:
    """Points per predictor and total from the bundle's nomogram (stats.nomogram), if it has one.

    The nomogram's predictors are the fusion terms, scored with the same encoded values.
    """
    nomogram = ctx.bundle.nomogram
    if nomogram is None:
        return {}, None
    s = nomogram.score(values)
    if s.out_of_range:
        ctx.warn(f"nomogram: {', '.join(s.out_of_range)} outside the range the nomogram was drawn for")
    return {k: float(v) for k, v in s.points.items()}, float(s.total_points)
