"""``study demo``: a ready study on phantom cases, with SIMULATED readers' answers.

The cases are soft-tissue phantoms (``ultrasound-reader phantom``), the AI is the
bundled soft-tissue demo model, and four simulated readers (one per experience
group of the FLL paper) answer every case before and after the AI through the same
code path as a person would (``service.answer`` / ``service.reveal``: same
transactions, triggers and audit). Their answers come from a simple program, not
from people: each reader's likelihood is a noisy function of the truth whose noise
shrinks with experience, and after the reveal it moves part of the way towards the
AI's probability. Everything they produce is labelled SIMULATED: the study name,
the study and reader rows (``simulated``), reader ids (``SIM-...``), every export,
the analysis report and its plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.errors import UserError

N_CASES = 20
SEED = 11
# (reader id, years, noise of the unaided likelihood (logit units), weight given to the AI after the reveal)
SIM_READERS = (("SIM-R1", 3, 2.2, 0.6), ("SIM-R2", 8, 1.8, 0.45), ("SIM-R3", 12, 1.4, 0.35), ("SIM-R4", 30, 1.0, 0.25))


def _box_near(rng: np.random.Generator, bbox: str | None, cam: bytes | None, skill: float) -> str | None:
    """A simulated area of concern: the Grad-CAM's hot box, shifted and resized by chance."""
    from ultrasound_reader.study.service import decode_cam

    decoded = decode_cam(cam, bbox, "demo")
    if decoded is None:
        return None
    heat, (x0, y0, x1, y1) = decoded
    h, w = heat.shape
    ys, xs = np.nonzero(heat >= 0.5 * heat.max()) if heat.max() > 0 else (np.arange(h), np.arange(w))
    sx, sy = (x1 - x0) / w, (y1 - y0) / h
    bx0, bx1 = x0 + xs.min() * sx, x0 + (xs.max() + 1) * sx
    by0, by1 = y0 + ys.min() * sy, y0 + (ys.max() + 1) * sy
    bw, bh = bx1 - bx0, by1 - by0
    jitter = (1.2 - skill) * rng.normal(0, 0.5, 4)
    cx, cy = (bx0 + bx1) / 2 + jitter[0] * bw, (by0 + by1) / 2 + jitter[1] * bh
    hw, hh = bw / 2 * np.exp(jitter[2]), bh / 2 * np.exp(jitter[3])
    return f"{max(cx - hw, 0):.0f},{max(cy - hh, 0):.0f},{max(cx + hw, 1):.0f},{max(cy + hh, 1):.0f}"


def make_demo(out: str | Path, n_cases: int = N_CASES, bundle: str | Path | None = None) -> dict[str, Any]:
    from sqlalchemy import select

    from ultrasound_reader.paths import models_dir
    from ultrasound_reader.phantom.generate import generate
    from ultrasound_reader.study.models import Reader, ReaderCase, StudyCase, Truth
    from ultrasound_reader.study.service import SUBTYPE_CHOICES, AnswerInput, StudyDb, add_reader, answer, \
        create_study, reveal

    out = Path(out)
    db = out / "study.db"
    if db.exists():
        raise UserError(f"--out: {out} already holds a demo study ({db}); choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    bundle = Path(bundle) if bundle else models_dir() / "soft-tissue-demo"
    cases_dir = out / "cases"
    generate("soft-tissue", n_cases, SEED, cases_dir, workers=1)
    create_study(str(db), "DEMO study (SIMULATED readers)", cases_dir, cases_dir / "truth.csv", bundle,
                 design="sequential", seed=SEED, simulated=True)
    rng = np.random.default_rng(SEED)
    for code, years, _, _ in SIM_READERS:
        add_reader(str(db), code, years, name=f"simulated reader, {years} years", simulated=True)
    with StudyDb.open(str(db), write=False) as sdb, sdb.session() as s:
        order = {}
        for rd in s.scalars(select(Reader)):
            order[rd.code] = [
                (rc.position, sc, t) for rc, sc, t in s.execute(
                    select(ReaderCase, StudyCase, Truth).join(StudyCase, StudyCase.id == ReaderCase.case_pk)
                    .join(Truth, Truth.case_pk == StudyCase.id).where(ReaderCase.reader_id == rd.id)
                    .order_by(ReaderCase.position))]
    benign_types = [t for t in SUBTYPE_CHOICES]
    for code, years, noise, w_ai in SIM_READERS:
        skill = 1.0 - noise / 2
        for pos, sc, t in order[code]:
            logit = (1.2 if t.malignant else -1.2) + rng.normal(0, noise)
            pre = float(100 / (1 + np.exp(-logit)))
            ai = 100 * float(sc.ai_score if sc.ai_score is not None else 0.5)
            post = (1 - w_ai) * pre + w_ai * ai
            truth_sub = t.subtype if t.subtype in benign_types else "other"
            sub_pre = truth_sub if rng.random() < 0.35 + 0.4 * skill else str(rng.choice(benign_types))
            sub_post = sc.ai_subtype if (sc.ai_subtype and rng.random() < w_ai) else sub_pre
            concern = _box_near(rng, sc.cam_bbox, sc.cam, skill)
            lp, lq = int(round(pre)), int(round(post))
            answer(str(db), code, pos, AnswerInput("pre", lp >= 50, lp, None if lp >= 50 else sub_pre,
                                                   int(np.clip(round(1 + 4 * abs(pre - 50) / 50), 1, 5)),
                                                   "SIMULATED answer", _tuple(concern)))
            reveal(str(db), code, pos)
            answer(str(db), code, pos, AnswerInput("post", lq >= 50, lq, None if lq >= 50 else sub_post,
                                                   int(np.clip(round(1 + 4 * abs(post - 50) / 50), 1, 5)),
                                                   "SIMULATED answer"))
    (out / "README.txt").write_text(
        "DEMO reader study with SIMULATED readers (generated by 'ultrasound-reader study demo').\n"
        "The cases are synthetic phantoms and the readers' answers were produced by a program,\n"
        "not by people: the results show how the study tools work, nothing about real readers.\n"
        "Research software, not for clinical use.\n", encoding="utf-8")
    return {"out": str(out), "db": str(db), "cases": n_cases, "readers": [r[0] for r in SIM_READERS],
            "simulated": True, "bundle": str(bundle)}


def _tuple(box: str | None) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    a, b, c, d = (float(v) for v in box.split(","))
    return (a, b, c, d)
