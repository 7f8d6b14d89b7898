"""A contact sheet of phantom cases, to look at them the way a sonographer would.

    python -m ultrasound_reader.phantom.sheet OUT.png [--seed S] [--work DIR]

Picks, from the label draws alone (cheap), the first cases of one seed that show
each liver background and lesion kind and each soft-tissue type, generates just
those, and tiles a frame of each (B-mode or CDFI) with a caption.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ultrasound_reader.case import Case
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.phantom import labels as lab
from ultrasound_reader.phantom.generate import Options, case_rng, make_liver, make_soft_tissue

# (liver background, predicate on the draw, which image, caption)
LIVER_WANTED = [
    ("normal", lambda d: d.factors.echogenicity == "hypo" and d.factors.halo, 0, "hypoechoic + halo"),
    ("steatosis", lambda d: d.factors.echogenicity == "hyper", 0, "hyperechoic"),
    ("fibrosis", lambda d: d.factors.echogenicity == "heterogeneous", 0, "heterogeneous"),
    ("normal", lambda d: d.factors.echogenicity == "iso" and d.subtype == "FNH", 0, "iso FNH"),
    ("normal", lambda d: d.factors.vascularity and d.size_cm > 3, 1, "CDFI vascular"),
    ("steatosis", lambda d: d.factors.echogenicity == "hypo" and d.factors.posterior_enhancement, 0,
     "hypo + posterior enhancement"),
]
SOFT_WANTED = [("lipoma", 0), ("hemangioma", 1), ("schwannoma", 0), ("epidermal_cyst", 0), ("pilomatricoma", 0),
               ("sarcoma", 1)]


def _find(task: str, seed: int, pred, start: int = 0, limit: int = 5000) -> int:
    for i in range(start, start + limit):
        rng = case_rng(task, seed, i)
        d = lab.draw_liver(rng) if task == "liver" else lab.draw_soft_tissue(rng)
        if pred(d):
            return i
    raise RuntimeError(f"no {task} case of seed {seed} matches in {limit} draws")


def _tile(case: Case, image: int, caption: str, scale: float, roi: bool) -> np.ndarray:
    frame = case.rois[0].frame if image == 0 and case.task == "liver-fll" else 0
    with open_cine(case.image_path(image)) as c:
        img = np.array(c.frame(frame)).copy()
    if roi:
        for r in case.rois:
            if r.image == image and r.frame == frame:
                colour = (0, 255, 0) if r.kind == "background" else (255, 255, 0)
                cv2.polylines(img, [np.round(r.outline()).astype(np.int32)], True, colour, 1, cv2.LINE_AA)
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.putText(img, caption, (6, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return img


def contact_sheet(seed: int, work: Path, scale: float = 2 / 3, roi: bool = False) -> np.ndarray:
    tiles = []
    opts = Options(frames=4)
    for lb, pred, image, caption in LIVER_WANTED:
        i = _find("liver", seed, lambda d, lb=lb, pred=pred: d.lb_type == lb and pred(d))
        case, truth = make_liver(seed, i, work, opts)
        tiles.append(_tile(case, image, f"liver {lb}: {caption} ({truth.subtype})", scale, roi))
    for subtype, image in SOFT_WANTED:
        i = _find("soft-tissue", seed, lambda d, s=subtype: d.subtype == s and 1.2 < d.size_cm < 4.5)
        case, truth = make_soft_tissue(seed, i, work, opts)
        tiles.append(_tile(case, image, f"soft tissue: {subtype}{' CDFI' if image else ''}", scale, roi))
    rows = [np.hstack(tiles[k : k + 4]) for k in range(0, len(tiles), 4)]
    return np.vstack(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default=None, help="where to keep the generated cases (default: a temp folder)")
    p.add_argument("--roi", action="store_true", help="draw the ROIs")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sheet = contact_sheet(a.seed, Path(a.work or tmp), roi=a.roi)
    cv2.imwrite(a.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
