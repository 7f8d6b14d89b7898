"""Both pipelines end to end on PHANTOM cases written to tmp folders."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from ultrasound_reader.ai import fusion as F
from ultrasound_reader.ai.analyzer import Analyzer
from ultrasound_reader.ai.bundle import load_bundle, make_random_bundle
from ultrasound_reader.ai.preprocess import crop_roi
from ultrasound_reader.case import ClinicalFactors, Roi, size_band
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.errors import CancelledError, UserError

from .conftest import MM_PER_PX


def test_fll_full_case(fll_bundle_dir: Path, fll_case) -> None:
    case = fll_case()
    steps: list[float] = []
    b = load_bundle(fll_bundle_dir)
    r = Analyzer(b).run(case, progress=lambda f, m: steps.append(f), request_id="req-7")
    assert r.request_id == "req-7" and r.complete and r.not_for_clinical_use
    assert steps == sorted(steps) and steps[0] == 0.0 and steps[-1] == 1.0
    assert set(r.probabilities) == {"L", "LB", "LBC"}
    lesions = [row for row in r.per_image if row["kind"] == "lesion"]
    assert len(lesions) == 4 and len(r.per_image) == 8
    # Lesion score = mean of the image scores; image scores = the plain network on the crop.
    assert r.probabilities["L"] == pytest.approx(np.mean([row["L"] for row in lesions]))
    assert r.probabilities["LB"] == pytest.approx(np.mean([row["LB"] for row in lesions]))
    spec = b.manifest["input"]
    for roi, row in zip(case.rois_of("lesion"), lesions):
        with open_cine(case.image_path(roi.image)) as cine:
            x = torch.from_numpy(crop_roi(cine.frame(roi.frame), roi, spec).pixels[None])
        with torch.no_grad():
            assert row["L"] == pytest.approx(float(torch.sigmoid(b.models["L"](x))[0]), abs=1e-5)
    # Each lesion ROI is paired with the background ROI on its own image.
    bg = case.rois_of("background")
    for roi, row in zip(case.rois_of("lesion"), lesions):
        assert [x for x in bg if x.id == row["paired_background"]][0].image == roi.image
    p_lbc, _, _ = F.fused_probability(b.fusion, case.factors, {"LB": r.probabilities["LB"]})
    assert r.probabilities["LBC"] == pytest.approx(p_lbc)
    # Nomogram (stats.nomogram from the manifest): one axis per fusion term; its total maps to LBC.
    assert list(r.nomogram_points) == [t["name"] for t in b.fusion["terms"]]
    assert r.total_points == pytest.approx(sum(r.nomogram_points.values()))
    nomo = b.nomogram
    assert 1 / (1 + np.exp(-(nomo.lp0 + r.total_points / nomo.sc))) == pytest.approx(r.probabilities["LBC"])
    assert r.nomogram_points["hypoechoic halo"] > 0 and r.nomogram_points["extrahepatic tumour history"] == 0
    assert r.decision_model == "LBC" and r.cutoff == 0.5
    assert r.decision == ("malignant" if r.probabilities["LBC"] >= 0.5 else "benign")
    assert r.lb_type in ("normal", "steatosis", "fibrosis")
    assert sum(r.lb_type_probabilities.values()) == pytest.approx(1.0)
    # Size: the largest calibrated outline diameter, in cm.
    expect = max(roi.max_diameter((MM_PER_PX, MM_PER_PX)) for roi in case.rois_of("lesion")) / 10
    assert r.lesion_size_cm == pytest.approx(expect, abs=1e-3) and r.size_band == size_band(expect)
    # CAMs: L and LB on 4 lesion ROIs, LB and LB-type on 4 background ROIs, each the size of its box.
    kinds = sorted((c.model, c.roi_id in {x.id for x in bg}) for c in r.cams)
    assert kinds == sorted([("L", False)] * 4 + [("LB", False)] * 4 + [("LB", True)] * 4 + [("LB-type", True)] * 4)
    for c in r.cams:
        x0, y0, x1, y1 = c.bbox
        assert c.heat.shape == (y1 - y0, x1 - x0) and c.heat.dtype == np.float32
        assert 0 <= c.heat.min() and c.heat.max() <= 1 and 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    assert {"frames_s", "forward_s", "cam_s", "total_s"} <= set(r.timings)
    assert not any("uncalibrated" in w for w in r.warnings)
    d = r.to_dict()
    assert d["cams"][0]["shape"] == list(r.cams[0].heat.shape) and "heat" not in d["cams"][0]


def test_fll_without_background_or_factors_is_marked_incomplete(fll_bundle_dir: Path, fll_case) -> None:
    an = Analyzer(fll_bundle_dir)
    r = an.run(fll_case(n_background=0))
    assert set(r.probabilities) == {"L"} and not r.complete and r.decision_model == "L"
    assert any("no liver-background ROI" in w for w in r.warnings)
    r = an.run(fll_case(factors=ClinicalFactors(age=70, sex="F")))
    assert set(r.probabilities) == {"L", "LB"} and not r.complete and r.decision_model == "LB"
    w = [w for w in r.warnings if "not recorded" in w]
    assert w and "halo, tumour_history, hepatitis, vascularity" in w[0] and "LB result is shown" in w[0]


def test_fll_intended_use_warnings(fll_bundle_dir: Path, fll_case) -> None:
    an = Analyzer(fll_bundle_dir, cam=False)
    small = an.run(fll_case(lesion_px=30, n_lesion=2))  # 30 px * 0.2 mm: well under 1 cm
    assert small.lesion_size_cm is not None and small.lesion_size_cm <= 1.0 and small.size_band == "<=1.0 cm"
    assert any("<= 1.0 cm: outside the intended use" in w for w in small.warnings)
    assert any("2 lesion ROI(s)" in w for w in small.warnings) and small.cams == []
    unc = an.run(fll_case(calibrated=False))
    assert unc.lesion_size_cm is None and unc.size_band is None
    assert any("uncalibrated image" in w for w in unc.warnings)


def test_cystic_looking_lesion_is_flagged(fll_bundle_dir: Path, fll_case) -> None:
    case = fll_case(n_lesion=1, n_background=1)
    frames = {}
    for i in range(len(case.images)):
        with open_cine(case.image_path(i)) as cine:
            frames[i] = (np.array(cine.frame(0)), cine.calibration)
    roi = case.rois_of("lesion")[0]
    x0, y0, x1, y1 = (int(v) for v in roi.bbox())
    an = Analyzer(fll_bundle_dir, cam=False)
    solid = an.run(case, frame_source=lambda i, f: frames[i])
    assert not any("cystic" in w for w in solid.warnings)
    img = frames[roi.image][0]
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    inside = ((xx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + ((yy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2 < 0.8
    img[inside] = 3  # anechoic
    cyst = an.run(case, frame_source=lambda i, f: frames[i])
    assert any("looks cystic" in w for w in cyst.warnings)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.rois.__setitem__(slice(None), [r for r in c.rois if r.kind != "lesion"]), "no lesion ROI"),
    (lambda c: c.rois.append(Roi("lesion", "rectangle", [(5, 5), (50, 50)])), "5 lesion ROIs"),
    (lambda c: c.rois.append(Roi("background", "rectangle", [(400, 5), (450, 50)], id="far")),
     "ROI far on image 0 .* lies outside the 320x240 image"),
    (lambda c: c.rois.append(Roi("background", "rectangle", [(5, 5), (5, 50)], id="flat")), "ROI flat .*zero"),
    (lambda c: setattr(c.rois[0], "frame", 3), r"frame 3 does not exist \(the file has 1 frame"),
    (lambda c: setattr(c.images[1], "file", "gone.dcm"), "gone.dcm: no such file"),
    (lambda c: setattr(c, "task", "soft-tissue"), "is a soft-tissue case; bundle .* is for liver-fll"),
])
def test_fll_bad_input(fll_bundle_dir: Path, fll_case, change, message: str) -> None:
    case = fll_case(n_background=3)
    change(case)
    steps: list[float] = []
    with pytest.raises(UserError, match=message):
        Analyzer(fll_bundle_dir).run(case, progress=lambda f, m: steps.append(f))
    assert 1.0 not in steps  # nothing was reported as done


def test_cancel_stops_without_result(fll_bundle_dir: Path, fll_case) -> None:
    token = threading.Event()

    def progress(f: float, m: str) -> None:
        if f >= 0.3:
            token.set()  # the user presses cancel while Model^L runs

    with pytest.raises(CancelledError):
        Analyzer(fll_bundle_dir).run(fll_case(), progress=progress, cancel=token)


def test_soft_tissue_cascade(soft_bundle_dir: Path, soft_case, tmp_path: Path) -> None:
    case = soft_case()
    b = load_bundle(soft_bundle_dir)
    r = Analyzer(b).run(case)
    names = ["DLM-1", "SM-1", "SM-2", "SM-3", "SM-4", "SM-5"]
    assert list(r.probabilities) == names and r.complete and r.decision_model == "DLM-1"
    assert len(r.per_image) == 2 and [row["role"] for row in r.per_image] == ["bmode", "cdfi"]
    for n in names:  # combine = mean of the grayscale and CDFI probabilities
        assert r.probabilities[n] == pytest.approx((r.per_image[0][n] + r.per_image[1][n]) / 2)
    assert sorted((c.model, c.image) for c in r.cams) == sorted((n, i) for n in names for i in (0, 1))
    assert r.lesion_size_cm is not None
    best = max(names[1:], key=lambda n: r.probabilities[n])
    # Force each branch of the cascade with the cut-off (0: everything malignant, 1: all benign).
    for cut, decision, subtype in ((0.0, "malignant", None), (1.0, "benign", b.manifest["architecture"]["subtypes"][best])):
        folder = make_random_bundle(tmp_path / f"cut{cut}", "soft-tissue", seed=2,
                                    manifest_overrides={"thresholds": {"DLM-1": {"value": cut, "method": "fixed"}}})
        rr = Analyzer(folder, cam=False).run(case)
        assert (rr.decision, rr.subtype) == (decision, subtype)
        assert rr.probabilities == pytest.approx(r.probabilities)


def test_soft_tissue_needs_grayscale_and_cdfi(soft_bundle_dir: Path, soft_case) -> None:
    with pytest.raises(UserError, match="no mass ROI on a colour-Doppler \\(CDFI\\) image"):
        Analyzer(soft_bundle_dir).run(soft_case(cdfi=False))


@pytest.fixture(scope="session")
def phantom_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two PHANTOM cases per task from ``ultrasound-reader phantom`` (calibrated DICOM cines)."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("phantom")
    out = {}
    for task, extra in (("liver", ["--frames", "4"]), ("soft-tissue", [])):
        subprocess.run([sys.executable, "-m", "ultrasound_reader", "phantom", "--task", task, "--cases", "2",
                        "--workers", "1", "--out", str(root / task), *extra], check=True, capture_output=True,
                       timeout=120)
        out[task] = sorted(p.parent for p in (root / task).glob("*/case.json"))
    return out


def test_phantom_cases_end_to_end(phantom_cases, fll_bundle_dir: Path, soft_bundle_dir: Path) -> None:
    from ultrasound_reader.case import Case

    for task, bundle in (("liver", fll_bundle_dir), ("soft-tissue", soft_bundle_dir)):
        assert len(phantom_cases[task]) == 2
        an = Analyzer(bundle)
        for folder in phantom_cases[task]:
            case = Case.load(folder)
            r = an.run(case)
            assert r.lesion_size_cm is not None and r.size_band is not None  # phantom DICOMs are calibrated
            assert r.decision in ("benign", "malignant") and r.cams
            n_rois = len([x for x in case.rois if x.kind in ("lesion", "mass", "background")])
            assert {c.roi_id for c in r.cams} == {x.id for x in case.rois if x.kind in ("lesion", "mass", "background")}
            assert len(r.per_image) == n_rois
