"""Answers as tables: the long layout, iMRMC's and R MRMCaov's.

* ``long``: one row per reader x case x modality with everything recorded (the
  call, likelihood, subtype, confidence, concern, session, timing), the reader's
  experience and whether the reader is SIMULATED, the truth and the AI output.
* ``imrmc``: iMRMC's data layout (``readerID,caseID,modalityID,score``; the truth as
  rows with ``readerID = -1`` and ``modalityID = truth``), as R ``iMRMC::doIMRMC``
  reads it (the Java program's file is the same rows after a ``BEGIN DATA:`` line).
* ``mrmcaov``: R MRMCaov's layout (``reader,treatment,case,truth,rating``, as its
  ``VanDyke`` example), read by ``mrmc(empirical_auc(truth, rating), treatment,
  reader, case, data = read.csv(...))``.

Modality ``unaided`` is the pre-AI read and ``aided`` the post-AI read; the score is
the likelihood of malignancy (0-100).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from ultrasound_reader.errors import UserError
from ultrasound_reader.paths import atomic_write
from ultrasound_reader.study import db as dbm
from ultrasound_reader.study.models import Answer, Reader, Study, StudyCase, Truth, experience_group
from ultrasound_reader.study.service import StudyDb

FORMATS = ("long", "imrmc", "mrmcaov")
MODALITY = {"pre": "unaided", "post": "aided"}
LONG_COLUMNS = ["reader", "reader_simulated", "years", "experience_group", "case_id", "case_position",
                "truth", "truth_subtype", "modality", "phase", "malignant", "likelihood", "subtype", "confidence",
                "concern", "comment", "session", "shown_at", "committed_at", "duration_s", "ai_model", "ai_score",
                "ai_cutoff", "ai_decision", "ai_subtype"]


def load_frame(sdb: StudyDb) -> tuple[Study, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(study, answers in the long layout, cases with truth and AI output, readers)."""
    with dbm.translate_errors(sdb.target), sdb.session() as s:
        st = sdb.study(s)
        cases = pd.DataFrame([
            {"case_pk": c.id, "case_id": c.case_id, "case_position": c.position, "truth": int(t.malignant),
             "truth_subtype": t.subtype, "ai_model": c.ai_model, "ai_score": c.ai_score, "ai_cutoff": c.ai_cutoff,
             "ai_decision": c.ai_decision, "ai_subtype": c.ai_subtype, "cam_bbox": c.cam_bbox, "cam": c.cam}
            for c, t in s.execute(select(StudyCase, Truth).join(Truth, Truth.case_pk == StudyCase.id)
                                  .where(StudyCase.study_id == st.id).order_by(StudyCase.position))])
        readers = pd.DataFrame([
            {"reader_pk": r.id, "reader": r.code, "reader_simulated": bool(r.simulated), "years": r.years,
             "experience_group": experience_group(r.years)}
            for r in s.scalars(select(Reader).where(Reader.study_id == st.id).order_by(Reader.id))],
            columns=["reader_pk", "reader", "reader_simulated", "years", "experience_group"])
        answers = pd.DataFrame([
            {"reader_pk": a.reader_id, "case_pk": a.case_pk, "phase": a.phase, "modality": MODALITY[a.phase],
             "malignant": int(a.malignant), "likelihood": a.likelihood, "subtype": a.subtype,
             "confidence": a.confidence, "concern": a.concern, "comment": a.comment, "session": a.session,
             "shown_at": a.shown_at, "committed_at": a.committed_at, "duration_s": a.duration_s}
            for a in s.scalars(select(Answer).join(Reader, Reader.id == Answer.reader_id)
                               .where(Reader.study_id == st.id).order_by(Answer.id))],
            columns=["reader_pk", "case_pk", "phase", "modality", "malignant", "likelihood", "subtype",
                     "confidence", "concern", "comment", "session", "shown_at", "committed_at", "duration_s"])
    long = answers.merge(readers, on="reader_pk").merge(cases.drop(columns=["cam", "cam_bbox"]), on="case_pk")
    long = long.sort_values(["reader", "case_position", "phase"], key=lambda c: c.map(_order) if c.name == "phase"
                            else c).reset_index(drop=True)
    return st, long, cases, readers


def _order(phase: str) -> int:
    return 0 if phase == "pre" else 1


def export(db: str, fmt: str, out: str | Path) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise UserError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out: {out} is a folder; give a CSV file name")
    if not out.parent.is_dir():
        raise UserError(f"--out: folder {out.parent} does not exist")
    with StudyDb.open(db, write=False) as sdb:
        st, long, cases, readers = load_frame(sdb)
    if fmt == "long":
        table = long[LONG_COLUMNS]
    elif fmt == "mrmcaov":
        table = pd.DataFrame({"reader": long["reader"], "treatment": long["modality"], "case": long["case_id"],
                              "truth": long["truth"], "rating": long["likelihood"]})
    else:
        truth_rows = pd.DataFrame({"readerID": "-1", "caseID": cases["case_id"], "modalityID": "truth",
                                   "score": cases["truth"]})
        reads = pd.DataFrame({"readerID": long["reader"], "caseID": long["case_id"], "modalityID": long["modality"],
                              "score": long["likelihood"]})
        table = pd.concat([truth_rows, reads], ignore_index=True)
    atomic_write(out, lambda tmp: table.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL), label="--out")
    n_sim = int(readers["reader_simulated"].sum()) if len(readers) else 0
    return {"format": fmt, "out": str(out), "rows": int(len(table)), "readers": int(len(readers)),
            "simulated_readers": n_sim, "study": st.name}
