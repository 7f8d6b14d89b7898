"""``ultrasound-reader bench ai``: analysis with all Grad-CAMs vs a naive baseline, same run.

At the papers' input sizes, on 2 torch threads, warm (bundle loaded, one run done):

* FLL: a case with 4 lesion + 4 liver-background ROIs through Model^L, Model^LB and
  LBC with all 16 Grad-CAMs (target <= 0.5 s), ResNet-18 at 224x224;
* soft tissue: the DLM-1 -> DLM-2 cascade, 6 ConvNeXt models x 2 images (grayscale +
  CDFI) with all 12 Grad-CAMs (target <= 2 s) at 470x280, for the ConvNeXt variants
  named (``small-demo``, the demo bundle's size class, and the paper's ``tiny``).

Beside each: the FLOP count of the run (torch's FlopCounterMode: 2 per multiply-add),
the FLOP rate achieved, a naive baseline measured in the same run (one image at a
time, textbook autograd Grad-CAM with a full backward per map) and a plain reference
(torchvision ResNet-18 forward, batch 8 at 224x224) to tell a slow machine from slow
code. The bundles are random: speed does not depend on the weights.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.case import Case, ClinicalFactors, ImageRef, Roi

THREADS = 2
FLL_TARGET_S = 0.5
SOFT_TARGET_S = 2.0


def forward_flops(bundle: Any, case: Case) -> int:
    """FLOPs of the network forward passes an analysis of ``case`` makes (trunks + heads).

    Counted on the trunks themselves: FlopCounterMode cannot follow the head-only
    ``autograd.grad`` of the pipeline, whose cost (a few 512-wide dot products) and
    the CAM weighting (C x h x w per map) are negligible beside the convolutions.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    spec, m = bundle.input_spec, bundle.models
    x = lambda n: torch.zeros(n, 3, spec["height"], spec["width"])  # noqa: E731
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        if bundle.task == "liver-fll":
            nl, nb = len(case.rois_of("lesion")), len(case.rois_of("background"))
            m["L"](x(nl))
            m["LB"].lesion.trunk(x(nl))
            m["LB"].lb_head(m["LB"].background(x(nb)).mean((2, 3)))
        else:
            for net in m.values():
                net(x(len(case.rois)))
    return int(counter.get_total_flops())


def _speckle(rows: int, cols: int, seed: int, color: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.rayleigh(60.0, (rows, cols)), 0, 255).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2) if color else img


def fll_case() -> tuple[Case, dict[int, np.ndarray]]:
    """PHANTOM FLL case: 4 images 600x800, on each one lesion ROI and one background ROI."""
    frames = {i: _speckle(600, 800, i) for i in range(4)}
    rois = []
    for i in range(4):
        rois.append(Roi("lesion", "ellipse", [(200 + 10 * i, 150), (420 + 10 * i, 340)], image=i))
        rois.append(Roi("background", "rectangle", [(500, 300 + 5 * i), (700, 480 + 5 * i)], image=i))
    case = Case("liver-fll", "PHANTOM-bench-fll", images=[ImageRef(f"f{i}.png") for i in range(4)], rois=rois,
                factors=ClinicalFactors(age=63, sex="M", hepatitis=1, tumour_history=False, halo=True,
                                        vascularity=True))
    return case, frames


def soft_case() -> tuple[Case, dict[int, np.ndarray]]:
    """PHANTOM soft-tissue case: a grayscale and a CDFI image 600x800 with a mass ROI each."""
    frames = {0: _speckle(600, 800, 10), 1: _speckle(600, 800, 11, color=True)}
    rois = [Roi("mass", "ellipse", [(150, 120), (650, 420)], image=0),
            Roi("mass", "rectangle", [(140, 110), (660, 430)], image=1)]
    case = Case("soft-tissue", "PHANTOM-bench-soft",
                images=[ImageRef("g.png", role="bmode"), ImageRef("c.png", role="cdfi")], rois=rois)
    return case, frames


# -- naive baselines: one image at a time, full autograd Grad-CAM ------------------------
def naive_fll(bundle: Any, case: Case, frames: dict[int, np.ndarray]) -> dict[str, float]:
    import torch

    from ultrasound_reader.ai.fll import pair_backgrounds
    from ultrasound_reader.ai.gradcam import autograd_cam
    from ultrasound_reader.ai.preprocess import crop_roi

    spec, L, LB = bundle.input_spec, bundle.models["L"], bundle.models["LB"]
    lesions, bgs = case.rois_of("lesion"), case.rois_of("background")

    def x_of(roi: Roi) -> torch.Tensor:
        return torch.from_numpy(crop_roi(frames[roi.image], roi, spec).pixels[None])

    p_l, p_lb, n_maps = [], [], 0
    for roi in lesions:
        out, _ = autograd_cam(L.trunk, lambda f: L.head(f.mean((2, 3)))[:, 0], x_of(roi))
        p_l.append(float(torch.sigmoid(out)[0]))
        n_maps += 1
    for roi, j in zip(lesions, pair_backgrounds(lesions, bgs)):
        with torch.enable_grad():
            xl, xb = x_of(roi).requires_grad_(True), x_of(bgs[j]).requires_grad_(True)
            fl, fb = LB.lesion.trunk(xl), LB.background(xb)
            fl.retain_grad()
            fb.retain_grad()
            out = LB.fuse(fl.mean((2, 3)), fb.mean((2, 3)))
            out.sum().backward()
            for f in (fl, fb):
                torch.relu((f.grad.mean((2, 3))[:, :, None, None] * f).sum(1))
        p_lb.append(float(torch.sigmoid(out.detach())[0]))
        n_maps += 2
    for roi in bgs:
        x = x_of(roi)
        with torch.no_grad():
            k = int(LB.lb_head(LB.background(x).mean((2, 3))).argmax(1)[0])  # the reported type
        autograd_cam(LB.background, lambda f, k=k: LB.lb_head(f.mean((2, 3)))[:, k], x)
        n_maps += 1
    return {"L": float(np.mean(p_l)), "LB": float(np.mean(p_lb)), "maps": n_maps}


def naive_soft(bundle: Any, case: Case, frames: dict[int, np.ndarray]) -> dict[str, float]:
    import torch

    from ultrasound_reader.ai.gradcam import autograd_cam
    from ultrasound_reader.ai.manifest import SOFT_TISSUE_MODELS
    from ultrasound_reader.ai.preprocess import crop_roi

    spec = bundle.input_spec
    out: dict[str, float] = {"maps": 0}
    for name in SOFT_TISSUE_MODELS:
        net, ps = bundle.models[name], []
        for roi in case.rois:
            role = case.images[roi.image].role
            x = torch.from_numpy(crop_roi(frames[roi.image], roi, spec, role).pixels[None])
            o, _ = autograd_cam(net.trunk, lambda f, net=net: net.head(f.mean((2, 3)))[:, 0], x)
            ps.append(float(torch.sigmoid(o)[0]))
            out["maps"] += 1
        out[name] = float(np.mean(ps))
    return out


# -- the suite ------------------------------------------------------------------------------
def _measure(bundle: Any, case: Case, frames: dict[int, np.ndarray], naive: Callable[..., dict[str, float]],
             target: float, repeats: int, reference: Callable[[], Any]) -> dict[str, Any]:
    """Time the analysis, the naive baseline and the reference interleaved, so all see the same load."""
    from ultrasound_reader.ai.analyzer import Analyzer

    an = Analyzer(bundle, threads=THREADS)
    source = lambda i, f: (frames[i], None)  # noqa: E731 - in-memory frames: time the analysis, not PNG decoding
    fast = lambda: an.run(case, frame_source=source)  # noqa: E731
    result, ref = fast(), naive(bundle, case, frames)  # warm both (oneDNN builds its kernels per shape)
    reference()
    t_fast, t_naive, t_ref = [], [], []
    for _ in range(repeats):
        for fn, acc in ((fast, t_fast), (lambda: naive(bundle, case, frames), t_naive), (reference, t_ref)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    fast_s, naive_s = statistics.median(t_fast), statistics.median(t_naive)
    flops = forward_flops(bundle, case)
    agree = max(abs(ref[k] - result.probabilities[k]) for k in ref if k != "maps")
    return {
        "analysis_with_cams_s": round(fast_s, 4),
        "analysis_with_cams_min_s": round(min(t_fast), 4),
        "target_s": target,
        "meets_target": fast_s <= target,
        "cams": len(result.cams),
        "gflops": round(flops / 1e9, 2),
        "gflop_per_s": round(flops / 1e9 / fast_s, 1),
        "naive_one_by_one_autograd_cam_s": round(naive_s, 4),
        "speedup_vs_naive": round(naive_s / fast_s, 2),
        "naive_maps": int(ref["maps"]),
        "max_probability_difference_vs_naive": float(f"{agree:.2e}"),
        "reference_resnet18_b8_224_forward_s": round(statistics.median(t_ref), 4),
        # Machine-independent-ish: the analysis in units of the reference forward, same load.
        "analysis_per_reference": round(fast_s / statistics.median(t_ref), 2),
        "repeats": repeats,
    }


def run(quick: bool = False) -> dict[str, Any]:
    import torch
    import torchvision

    from ultrasound_reader.ai.bundle import load_bundle, make_random_bundle

    threads_before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    repeats = 3 if quick else 7
    # The paper's convnext_tiny costs ~270 GFLOP per case: fewer repeats keep the run in minutes.
    variants = {"small-demo": repeats} if quick else {"small-demo": repeats, "tiny": 2}
    out: dict[str, Any] = {"threads": THREADS, "quick": quick, "torch": torch.__version__}
    try:
        r18 = torchvision.models.resnet18(weights=None).eval()
        x = torch.randn(8, 3, 224, 224)

        def reference() -> None:
            with torch.no_grad():
                r18(x)

        with tempfile.TemporaryDirectory(prefix="ur-bench-ai-") as tmp:
            b = load_bundle(make_random_bundle(Path(tmp) / "fll", "liver-fll", small=False))
            case, frames = fll_case()
            out["fll_224_resnet18"] = _measure(b, case, frames, naive_fll, FLL_TARGET_S, repeats, reference)
            for v, n in variants.items():
                b = load_bundle(make_random_bundle(Path(tmp) / f"soft-{v}", "soft-tissue", small=False, variant=v))
                case, frames = soft_case()
                out[f"soft_tissue_470x280_convnext_{v}"] = _measure(b, case, frames, naive_soft, SOFT_TARGET_S,
                                                                     n, reference)
                del b
    finally:
        torch.set_num_threads(threads_before)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
