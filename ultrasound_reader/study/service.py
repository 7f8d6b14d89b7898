"""Reader-study operations: create, add readers, answer, reveal, status.

Every operation is one database transaction. An answer and its audit row commit
together; a refused attempt is audited in a transaction of its own (after the
refused one rolled back) and then raised as a :class:`UserError` (one line).

Reading rules (sequential design, the default): the pre-AI answer is committed, then
the AI output is revealed (which locks the pre-AI answer), then the post-AI answer.
Crossover design: each case is read once unaided ("pre") and once aided ("post"),
in two sessions separated by a washout; half the cases (arm A) are read unaided in
session 1 by odd-numbered readers and aided by even-numbered ones (counterbalanced),
the other half the other way round. Session 2 opens when the reader has finished
session 1 and the washout has passed since their last session-1 answer.

Case positions are 1-based positions in the reader's own randomised order
(``numpy.random.default_rng(order_seed).permutation``, ``order_seed`` derived from
the study seed and the reader id and stored with the reader).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ultrasound_reader import __version__
from ultrasound_reader.case import SOFT_TISSUE_SUBTYPES, Case
from ultrasound_reader.case import Truth as TruthRow
from ultrasound_reader.errors import UserError
from ultrasound_reader.study import db as dbm
from ultrasound_reader.study.models import (
    DESIGNS,
    PHASES,
    QUESTION_SETS,
    Answer,
    Audit,
    Reader,
    ReaderCase,
    Reveal,
    Study,
    StudyCase,
    Truth,
    experience_group,
    utcnow,
)

SUBTYPE_CHOICES: tuple[str, ...] = (*SOFT_TISSUE_SUBTYPES, "other")
TASK_QUESTIONS = {"liver-fll": "liver", "soft-tissue": "soft-tissue"}
CAM_MAX_SIDE = 96  # the stored Grad-CAM map is downsampled to at most this many pixels a side
READER_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
DEFAULT_WASHOUT_DAYS = 28.0


# -- opening -------------------------------------------------------------------------------
@dataclass
class StudyDb:
    """An open study database: where it is, its engine, sessions."""

    target: dbm.Target
    engine: Engine

    @classmethod
    def open(cls, db: str | None, *, create: bool = False, write: bool = True) -> StudyDb:
        target = dbm.parse_db(db)
        return cls(target, dbm.open_engine(target, create=create, write=write))

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StudyDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def study(self, s: Session) -> Study:
        st = s.scalars(select(Study)).first()
        if st is None:
            raise dbm.NoStudy(f"study database {self.target.label} holds no study yet (run 'study create')")
        return st

    def audit(self, s: Session, actor: str, action: str, outcome: str, position: int | None,
              detail: dict[str, Any], now: datetime | None = None) -> None:
        """One audit row: who (actor, and the workstation and OS user it came from), what, when."""
        detail = {**detail, **_origin()}
        s.add(Audit(at=now or utcnow(), actor=actor[:200], action=action, outcome=outcome,
                    case_position=position, detail=json.dumps(detail, sort_keys=True, default=str)))

    def refuse(self, actor: str, action: str, position: int | None, reason: str,
               detail: dict[str, Any] | None = None) -> UserError:
        """Audit a refused attempt in its own transaction; return the error to raise."""
        try:
            with dbm.translate_errors(self.target), self.session() as s, s.begin():
                self.audit(s, actor, action, "refused", position, {"reason": reason, **(detail or {})})
        except UserError:
            pass  # the database itself is the problem (locked, read-only): the reason still goes out
        return UserError(reason)


def _origin() -> dict[str, str]:
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return {"workstation": socket.gethostname(), "os_user": user, "pid": str(os.getpid())}


# -- create --------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def list_cases(cases_dir: Path) -> list[Case]:
    """The case folders (each with case.json) directly under ``cases_dir``, sorted by folder name."""
    if not cases_dir.is_dir():
        raise UserError(f"--cases: {cases_dir} is not a folder")
    folders = sorted(p for p in cases_dir.iterdir() if (p / "case.json").is_file())
    if not folders:
        raise UserError(f"--cases: {cases_dir} holds no case folders (folders with a case.json)")
    cases = [Case.load(p) for p in folders]
    ids = [c.case_id for c in cases]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise UserError(f"--cases: case id(s) {', '.join(dup[:5])} appear in more than one folder")
    tasks = sorted({c.task for c in cases})
    if len(tasks) > 1:
        raise UserError(f"--cases: {cases_dir} mixes tasks ({', '.join(tasks)}); a study reads one task")
    return cases


def cam_map(result: Any) -> tuple[str | None, bytes | None]:
    """The Grad-CAM of the decision network on the first image, as (bbox "x0,y0,x1,y1", uint8 .npy).

    Maps of several ROIs on image 0 (e.g. the four FLL lesion frames) are combined by
    their maximum; liver uses Model^L's map (Model^LBC has none), soft tissue DLM-1's.
    """
    cams = [c for c in result.cams if c.image == 0]
    if not cams:
        return None, None
    models = [m for m in (result.decision_model, "L", "DLM-1") if m] + [cams[0].model]
    model = next(m for m in models if any(c.model == m for c in cams))
    cams = [c for c in cams if c.model == model]
    x0 = min(c.bbox[0] for c in cams)
    y0 = min(c.bbox[1] for c in cams)
    x1 = max(c.bbox[2] for c in cams)
    y1 = max(c.bbox[3] for c in cams)
    canvas = np.zeros((y1 - y0, x1 - x0), np.float32)
    for c in cams:
        bx0, by0, bx1, by1 = c.bbox
        heat = np.asarray(c.heat, np.float32)
        if heat.shape != (by1 - by0, bx1 - bx0):
            from ultrasound_reader.imageops import resize

            heat = resize(heat, (bx1 - bx0, by1 - by0), "linear")
        sub = canvas[by0 - y0: by1 - y0, bx0 - x0: bx1 - x0]
        np.maximum(sub, heat, out=sub)
    scale = max(canvas.shape) / CAM_MAX_SIDE
    if scale > 1:
        from ultrasound_reader.imageops import resize

        size = (max(int(round(canvas.shape[1] / scale)), 1), max(int(round(canvas.shape[0] / scale)), 1))
        canvas = resize(canvas, size, "area")
    q = np.clip(np.round(canvas * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    np.save(buf, q, allow_pickle=False)
    return f"{x0},{y0},{x1},{y1}", buf.getvalue()


def decode_cam(blob: bytes | None, bbox: str | None, where: str) -> tuple[np.ndarray, tuple[float, ...]] | None:
    """The stored Grad-CAM map (float32 in [0, 1]) and its image box, validated (the database is untrusted)."""
    if blob is None or bbox is None:
        return None
    if len(blob) > 1 << 20:
        raise UserError(f"{where}: stored Grad-CAM map is too large ({len(blob)} bytes)")
    fmt = np.lib.format
    try:
        # The header is checked before any array is made: np.load would allocate whatever shape it claims.
        fh = io.BytesIO(blob)
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        box = tuple(float(v) for v in bbox.split(","))
    except (ValueError, EOFError, OSError, TypeError) as exc:
        raise UserError(f"{where}: stored Grad-CAM map is corrupt ({exc})") from None
    if (dtype != np.uint8 or fortran or len(shape) != 2 or not 0 < max(shape) <= CAM_MAX_SIDE
            or min(shape) < 1):
        raise UserError(f"{where}: stored Grad-CAM map is not a {CAM_MAX_SIDE}-pixel uint8 map")
    data = blob[fh.tell():]
    if len(data) != shape[0] * shape[1]:
        raise UserError(f"{where}: stored Grad-CAM map is corrupt (truncated)")
    heat = np.frombuffer(data, np.uint8).reshape(shape)
    if len(box) != 4 or not all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise UserError(f"{where}: stored Grad-CAM box {bbox!r} is not x0,y0,x1,y1")
    return heat.astype(np.float32) / 255.0, box


def reader_view_of(result: Any) -> dict[str, Any]:
    """The AI output as stored and shown: no case id, no request id, no timings."""
    d = result.to_dict()
    for key in ("case_id", "request_id", "timings"):
        d.pop(key, None)
    for item in d.get("per_image", []) + d.get("cams", []):
        item.pop("roi_id", None)
    return d


def _questions_for(task: str, questions: str | None) -> str:
    expected = TASK_QUESTIONS[task]
    if questions is None:
        return expected
    if questions not in QUESTION_SETS:
        raise UserError(f"--questions: {questions!r} is not liver or soft-tissue")
    if questions != expected:
        raise UserError(f"--questions {questions} does not fit {task} cases (use --questions {expected})")
    return questions


def create_study(db: str, name: str, cases_dir: str | Path, truth_csv: str | Path, bundle_dir: str | Path, *,
                 design: str = "sequential", seed: int = 0, questions: str | None = None,
                 washout_days: float | None = None, simulated: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Make a study: cases, truth, and the AI output of every case computed once with the bundle."""
    if not name or not name.strip() or len(name) > 200:
        raise UserError("--name: give the study a name (1-200 characters)")
    if seed < 0 or seed >= 2**31:
        raise UserError(f"--seed: {seed} must be 0 to 2147483647")
    if design not in DESIGNS:
        raise UserError(f"--design: {design!r} is not sequential or crossover")
    if washout_days is None:
        washout_days = DEFAULT_WASHOUT_DAYS if design == "crossover" else 0.0
    if washout_days < 0:
        raise UserError(f"--washout-days: {washout_days} must be >= 0")
    cases_dir, truth_csv, bundle_dir = Path(cases_dir), Path(truth_csv), Path(bundle_dir)
    cases = list_cases(cases_dir)
    task = cases[0].task
    questions = _questions_for(task, questions)
    if not truth_csv.is_file():
        raise UserError(f"--truth: {truth_csv}: no such file")
    truths = TruthRow.read_csv(truth_csv)
    missing = [c.case_id for c in cases if c.case_id not in truths]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise UserError(f"--truth: {truth_csv} has no row for case(s) {', '.join(missing[:5])}{more}")
    classes = {truths[c.case_id].malignant for c in cases}
    if len(classes) < 2:
        raise UserError(f"--truth: every case is {'malignant' if True in classes else 'benign'}; "
                        "a reader study needs both benign and malignant cases")

    from ultrasound_reader.ai import Analyzer
    from ultrasound_reader.ai.onnx_runtime import load_for_runtime

    bundle = load_for_runtime(bundle_dir)  # ONNX Runtime for a bundle with graphs, else torch if installed
    if bundle.task != task:
        raise UserError(f"--bundle: {bundle.path} is a {bundle.task} bundle, but the cases are {task} cases")

    with StudyDb.open(db, create=True) as sdb:
        with dbm.translate_errors(sdb.target), sdb.session() as s:
            existing = s.scalars(select(Study)).first()
            if existing is not None:
                raise UserError(f"study database {sdb.target.label} already holds study {existing.name!r} "
                                "(one study per database)")
        analyzer = Analyzer(bundle, threads=2)
        rows = []
        for i, case in enumerate(cases):
            result = analyzer.run(case)
            bbox, cam = cam_map(result)
            score = result.probabilities.get(result.decision_model) if result.decision_model else None
            rows.append((case, result, bbox, cam, score))
            if progress:
                progress(i + 1, len(cases))
        rng = np.random.default_rng(seed)
        arms = np.array(["A"] * ((len(cases) + 1) // 2) + ["B"] * (len(cases) // 2))
        arms = arms[rng.permutation(len(cases))]
        now = utcnow()
        one_study = (f"study database {sdb.target.label} already holds a study (one study per database; "
                     "another 'study create' finished first)")
        with dbm.translate_errors(sdb.target):
            try:
                with sdb.session() as s, s.begin():
                    existing = s.scalars(select(Study)).first()  # again, inside the insert's transaction
                    if existing is not None:
                        raise UserError(f"study database {sdb.target.label} already holds study {existing.name!r} "
                                        "(one study per database)")
                    st = Study(name=name.strip(), task=task, design=design, questions=questions, seed=int(seed),
                               washout_days=float(washout_days), created_at=now, bundle_name=bundle.name,
                               bundle_version=bundle.version, bundle_sha256=bundle.manifest_sha256,
                               bundle_path=str(bundle.path), cases_dir=str(cases_dir.resolve()),
                               truth_sha256=_sha256(truth_csv), simulated=simulated, software_version=__version__)
                    s.add(st)
                    s.flush()
                    for pos, (case, result, bbox, cam, score) in enumerate(rows, start=1):
                        sc = StudyCase(study_id=st.id, position=pos, case_id=case.case_id, folder=str(case.root),
                                       arm=str(arms[pos - 1]) if design == "crossover" else "A",
                                       ai_json=json.dumps(reader_view_of(result), sort_keys=True),
                                       ai_model=result.decision_model, ai_score=score, ai_cutoff=result.cutoff,
                                       ai_decision=result.decision, ai_subtype=result.subtype, cam_bbox=bbox, cam=cam)
                        s.add(sc)
                        s.flush()
                        t = truths[case.case_id]
                        s.add(Truth(case_pk=sc.id, malignant=bool(t.malignant), subtype=t.subtype,
                                    row_json=json.dumps({k: v for k, v in t.__dict__.items()}, sort_keys=True)))
                    sdb.audit(s, "coordinator", "create", "ok", None,
                              {"name": st.name, "cases": len(rows), "design": design, "seed": int(seed),
                               "bundle": bundle.name, "bundle_version": bundle.version,
                               "bundle_sha256": bundle.manifest_sha256, "simulated": simulated}, now)
            except IntegrityError:
                # the database's one-study index: a concurrent create inserted its study first
                raise UserError(one_study) from None
        return {"study": st.name, "task": task, "design": design, "questions": questions, "cases": len(rows),
                "seed": int(seed), "washout_days": float(washout_days), "bundle": bundle.name,
                "bundle_version": bundle.version, "bundle_sha256": bundle.manifest_sha256,
                "db": sdb.target.label, "simulated": simulated}


# -- readers -------------------------------------------------------------------------------
def order_seed(study_seed: int, code: str) -> int:
    return int(np.random.SeedSequence([int(study_seed) & 0xFFFFFFFF, zlib.crc32(code.encode())]).generate_state(1)[0]
               % (2**31))


def add_reader(db: str, code: str, years: float, name: str | None = None, simulated: bool = False) -> dict[str, Any]:
    if not code or not READER_CODE.match(code):
        raise UserError(f"--id: {code!r} is not a reader id (letters, digits, '_', '.', '-'; at most 50)")
    if not 0 <= years <= 70:
        raise UserError(f"--years: {years:g} is not an experience in years (0-70)")
    if name is not None and len(name) > 200:
        raise UserError("--name: at most 200 characters")
    with StudyDb.open(db) as sdb:
        try:
            return _add_reader(sdb, code, years, name, simulated)
        except UserError as exc:
            if isinstance(exc, (dbm.DatabaseUnavailable, dbm.NoStudy)):
                raise
            raise sdb.refuse("coordinator", "reader-add", None, str(exc), {"reader": code}) from None


def _add_reader(sdb: StudyDb, code: str, years: float, name: str | None, simulated: bool) -> dict[str, Any]:
    with dbm.translate_errors(sdb.target), sdb.session() as s, s.begin():
        st = sdb.study(s)
        if s.scalars(select(Reader).where(Reader.study_id == st.id, Reader.code == code)).first():
            raise UserError(f"--id: reader {code} is already in study {st.name!r}")
        n_readers = s.scalar(select(func.count()).select_from(Reader).where(Reader.study_id == st.id)) or 0
        seed = order_seed(st.seed, code)
        first_arm = "A" if n_readers % 2 == 0 else "B"
        rd = Reader(study_id=st.id, code=code, name=name, years=float(years), simulated=simulated,
                    order_seed=seed, first_unaided_arm=first_arm, created_at=utcnow())
        s.add(rd)
        s.flush()
        cases = list(s.scalars(select(StudyCase).where(StudyCase.study_id == st.id).order_by(StudyCase.position)))
        perm = np.random.default_rng(seed).permutation(len(cases))
        for pos, k in enumerate(perm, start=1):
            c = cases[int(k)]
            if st.design == "crossover":
                pre_s = 1 if c.arm == first_arm else 2
            else:
                pre_s = 1
            post_s = (3 - pre_s) if st.design == "crossover" else 1
            s.add(ReaderCase(reader_id=rd.id, position=pos, case_pk=c.id, pre_session=pre_s, post_session=post_s))
        sdb.audit(s, "coordinator", "reader-add", "ok", None,
                  {"reader": code, "years": float(years), "simulated": simulated, "order_seed": seed})
        return {"reader": code, "name": name, "years": float(years), "group": experience_group(years),
                "simulated": simulated, "cases": len(cases), "order_seed": seed,
                "first_unaided_arm": first_arm if st.design == "crossover" else None}


# -- reading state -------------------------------------------------------------------------
@dataclass
class ReaderState:
    """One reader's progress, loaded in one query each for answers and reveals."""

    study: Study
    reader: Reader
    order: list[ReaderCase]
    answers: dict[tuple[int, str], Answer]  # (case_pk, phase)
    reveals: dict[int, Reveal]  # case_pk

    @classmethod
    def load(cls, s: Session, st: Study, reader: Reader) -> ReaderState:
        order = list(s.scalars(select(ReaderCase).where(ReaderCase.reader_id == reader.id)
                               .order_by(ReaderCase.position)))
        answers = {(a.case_pk, a.phase): a for a in s.scalars(select(Answer).where(Answer.reader_id == reader.id))}
        reveals = {r.case_pk: r for r in s.scalars(select(Reveal).where(Reveal.reader_id == reader.id))}
        return cls(st, reader, order, answers, reveals)

    def session_of(self, rc: ReaderCase, phase: str) -> int:
        return rc.pre_session if phase == "pre" else rc.post_session

    def session1_done_at(self) -> datetime | None:
        """When the last session-1 read was committed, or None while session 1 is unfinished."""
        last = None
        for rc in self.order:
            for phase in PHASES:
                if self.session_of(rc, phase) == 1:
                    a = self.answers.get((rc.case_pk, phase))
                    if a is None:
                        return None
                    at = _aware(a.committed_at)
                    last = at if last is None or at > last else last
        return last

    def session_open(self, session: int, now: datetime) -> tuple[bool, str]:
        if session == 1:
            return True, ""
        done = self.session1_done_at()
        if done is None:
            return False, "session 2 opens after every session-1 read is committed"
        opens = done + timedelta(days=self.study.washout_days)
        if now < opens:
            return False, f"session 2 opens after the washout, at {opens.isoformat(timespec='minutes')}"
        return True, ""

    def steps(self) -> list[tuple[int, str, int]]:
        """(position, step, session) in reading order; step is pre | reveal | post."""
        out = []
        for session in (1, 2):
            for rc in self.order:
                for phase in PHASES:
                    if self.session_of(rc, phase) != session:
                        continue
                    if phase == "post":
                        out.append((rc.position, "reveal", session))
                    out.append((rc.position, phase, session))
        return out

    def done(self, position: int, step: str) -> bool:
        rc = self.order[position - 1]
        if step == "reveal":
            return rc.case_pk in self.reveals
        return (rc.case_pk, step) in self.answers

    def next_step(self) -> tuple[int, str, int] | None:
        for pos, step, session in self.steps():
            if not self.done(pos, step):
                return pos, step, session
        return None


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def _study_and_reader(sdb: StudyDb, code: str, action: str, position: int | None) -> tuple[Study, Reader]:
    """The study and the reader (a read transaction, closed before any refusal is audited)."""
    with dbm.translate_errors(sdb.target), sdb.session() as s:
        st = sdb.study(s)
        rd = s.scalars(select(Reader).where(Reader.study_id == st.id, Reader.code == code)).first()
    if rd is None:
        raise sdb.refuse(code, action, position, f"--reader: {code!r} is not a reader of study {st.name!r} "
                         "(add one with 'study reader add')")
    return st, rd


def _case(state: ReaderState, code: str, position: int) -> ReaderCase:
    n = len(state.order)
    if not 1 <= position <= n:
        raise UserError(f"--case: {position} is out of range (reader {code} has cases 1-{n})")
    return state.order[position - 1]


# -- answer --------------------------------------------------------------------------------
@dataclass
class AnswerInput:
    phase: str
    malignant: bool
    likelihood: int
    subtype: str | None = None
    confidence: int | None = None
    comment: str | None = None
    concern: tuple[float, float, float, float] | None = None


def parse_concern(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or text == "":
        return None
    parts = text.split(",")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 4 or not all(np.isfinite(vals)):
        raise UserError(f"--concern: {text!r} is not x0,y0,x1,y1 (four numbers, image pixels)")
    x0, y0, x1, y1 = vals
    if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
        raise UserError(f"--concern: {text!r} must have 0 <= x0 < x1 and 0 <= y0 < y1")
    return (x0, y0, x1, y1)


def _check_input(st: Study, a: AnswerInput) -> None:
    if a.phase not in PHASES:
        raise UserError(f"--phase: {a.phase!r} is not pre or post")
    if not isinstance(a.likelihood, int) or not 0 <= a.likelihood <= 100:
        raise UserError(f"--likelihood: {a.likelihood!r} is not an integer 0-100")
    if a.confidence is not None and not 1 <= a.confidence <= 5:
        raise UserError(f"--confidence: {a.confidence} is not 1-5")
    if a.subtype is not None:
        if st.questions != "soft-tissue":
            raise UserError("--subtype: this study does not ask for a subtype (it is for soft-tissue studies)")
        if a.subtype not in SUBTYPE_CHOICES:
            raise UserError(f"--subtype: {a.subtype!r} is not one of {', '.join(SUBTYPE_CHOICES)}")
        if a.malignant:
            raise UserError("--subtype: the benign subtype goes with --malignant no")
    if a.comment is not None and len(a.comment) > 4000:
        raise UserError("--comment: at most 4000 characters")


def answer(db: str, code: str, position: int, a: AnswerInput, *, shown_at: datetime | None = None,
           now: Callable[[], datetime] = utcnow) -> dict[str, Any]:
    """Commit one answer (and its audit row) in one transaction; refusals are audited."""
    detail = {"phase": a.phase, "malignant": a.malignant, "likelihood": a.likelihood}
    with StudyDb.open(db) as sdb:
        st, rd = _study_and_reader(sdb, code, "answer", position)
        try:
            _check_input(st, a)
        except UserError as exc:
            raise sdb.refuse(code, "answer", position, str(exc), detail) from None
        try:
            with dbm.translate_errors(sdb.target), sdb.session() as s, s.begin():
                state = ReaderState.load(s, st, rd)  # after BEGIN IMMEDIATE: the state cannot change under us
                t_now = now()
                rc = _case(state, code, position)
                reason = _answer_refusal(state, rc, position, a.phase, t_now)
                if reason:
                    raise UserError(reason)
                session = state.session_of(rc, a.phase)
                rev = state.reveals.get(rc.case_pk)
                if shown_at is None and a.phase == "post" and rev is not None:
                    shown_at = _aware(rev.revealed_at)
                if shown_at is None and a.phase == "pre":
                    last = s.scalar(select(func.max(Audit.at)).where(
                        Audit.actor == code, Audit.action == "shown", Audit.case_position == position))
                    shown_at = _aware(last) if last is not None else None
                row = Answer(reader_id=rd.id, case_pk=rc.case_pk, phase=a.phase, malignant=a.malignant,
                             likelihood=a.likelihood, subtype=a.subtype, confidence=a.confidence,
                             comment=a.comment, concern=",".join(f"{v:g}" for v in a.concern) if a.concern else None,
                             session=session, shown_at=shown_at, committed_at=t_now,
                             duration_s=(t_now - shown_at).total_seconds() if shown_at else None)
                s.add(row)
                sdb.audit(s, code, "answer", "ok", position, detail | {"session": session}, t_now)
                state.answers[(rc.case_pk, a.phase)] = row
                nxt = state.next_step()
        except UserError as exc:
            if isinstance(exc, dbm.DatabaseUnavailable):
                raise
            raise sdb.refuse(code, "answer", position, str(exc), detail) from None
        return {"reader": code, "case": position, "phase": a.phase, "session": session,
                "committed_at": t_now.isoformat(), "next": _step_dict(nxt)}


def _answer_refusal(state: ReaderState, rc: ReaderCase, position: int, phase: str, now: datetime) -> str | None:
    code = state.reader.code
    revealed = rc.case_pk in state.reveals
    if state.study.design == "sequential" and phase == "pre" and revealed:
        return f"case {position}: the pre-AI answer is locked: the AI output was already revealed"
    if (rc.case_pk, phase) in state.answers:
        return (f"case {position}: the {phase}-AI answer of reader {code} is already committed "
                "and cannot be changed")
    session = state.session_of(rc, phase)
    ok, why = state.session_open(session, now)
    if not ok:
        return f"case {position}: the {phase}-AI read is in session 2; {why}"
    if state.study.design == "sequential":
        if phase == "post" and (rc.case_pk, "pre") not in state.answers:
            return f"case {position}: post-AI answer before the pre-AI answer (commit --phase pre first)"
    if phase == "post" and not revealed:
        return f"case {position}: the AI output is not revealed yet (run 'study reveal' first)"
    return None


def _step_dict(step: tuple[int, str, int] | None) -> dict[str, Any] | None:
    return None if step is None else {"case": step[0], "step": step[1], "session": step[2]}


# -- reveal --------------------------------------------------------------------------------
def reveal(db: str, code: str, position: int, *, now: Callable[[], datetime] = utcnow) -> dict[str, Any]:
    """Record the reveal (locking the pre-AI answer) and return the AI output a reader may see."""
    with StudyDb.open(db) as sdb:
        st, rd = _study_and_reader(sdb, code, "reveal", position)
        try:
            with dbm.translate_errors(sdb.target), sdb.session() as s, s.begin():
                state = ReaderState.load(s, st, rd)
                t_now = now()
                rc = _case(state, code, position)
                again = rc.case_pk in state.reveals
                if not again:
                    ok, why = state.session_open(rc.post_session, t_now)
                    if not ok:
                        raise UserError(f"case {position}: the aided read is in session 2; {why}")
                    if st.design == "sequential" and (rc.case_pk, "pre") not in state.answers:
                        raise UserError(f"case {position}: commit the pre-AI answer before the AI output is "
                                        "revealed")
                    s.add(Reveal(reader_id=rd.id, case_pk=rc.case_pk, revealed_at=t_now))
                sdb.audit(s, code, "reveal", "ok", position, {"again": again}, t_now)
                sc = s.get(StudyCase, rc.case_pk)
                assert sc is not None
                revealed_at = _aware(state.reveals[rc.case_pk].revealed_at) if again else t_now
        except UserError as exc:
            if isinstance(exc, dbm.DatabaseUnavailable):
                raise
            raise sdb.refuse(code, "reveal", position, str(exc)) from None
        return {"study": st.name, "reader": code, "case": position, "revealed_at": revealed_at.isoformat(),
                "bundle": {"name": st.bundle_name, "version": st.bundle_version, "sha256": st.bundle_sha256},
                "ai": _ai_output(sc, sdb.target.label), "not_for_clinical_use": True}


def _ai_output(sc: StudyCase, label: str) -> dict[str, Any]:
    try:
        out = json.loads(sc.ai_json)
    except (TypeError, ValueError):
        out = None
    if not isinstance(out, dict):
        raise UserError(f"study database {label}: the stored AI output of case {sc.position} is corrupt")
    return out


# -- the case a reader sees -----------------------------------------------------------------
def reader_case(db: str, code: str, position: int, *, mark_shown: bool = False,
                now: Callable[[], datetime] = utcnow) -> Case:
    """The case at ``position`` of a reader's order, blinded: its id is the study sequence number.

    For the reader mode: the images and ROIs as stored in the case folder, never the
    truth, never the site's case id. ``mark_shown`` records (audit action ``shown``)
    when the case went on screen: the next pre-AI answer of that case is timed from it.
    """
    with StudyDb.open(db, write=mark_shown) as sdb:
        st, rd = _study_and_reader(sdb, code, "shown", position)
        with dbm.translate_errors(sdb.target), sdb.session() as s, s.begin():
            state = ReaderState.load(s, st, rd)
            rc = _case(state, code, position)
            sc = s.get(StudyCase, rc.case_pk)
            assert sc is not None
            if mark_shown:
                sdb.audit(s, code, "shown", "ok", position, {}, now())
    case = Case.load(Path(sc.folder))
    case.case_id = f"study case {position}"
    case.notes = ""
    # ROI ids often embed the site's case id: renumber them. (case.root still points at the
    # case folder, whose name may be the case id: the reader mode must not display it.)
    case.rois = [dataclasses.replace(r, id=f"roi-{k}") for k, r in enumerate(case.rois, start=1)]
    return case


# -- status --------------------------------------------------------------------------------
def status(db: str) -> dict[str, Any]:
    """Progress per reader (no truth, no answers' content)."""
    with StudyDb.open(db, write=False) as sdb, dbm.translate_errors(sdb.target), sdb.session() as s:
        st = sdb.study(s)
        n = s.scalar(select(func.count()).select_from(StudyCase).where(StudyCase.study_id == st.id)) or 0
        readers = []
        now = utcnow()
        for rd in s.scalars(select(Reader).where(Reader.study_id == st.id).order_by(Reader.id)):
            state = ReaderState.load(s, st, rd)
            pre = sum(1 for (_, p) in state.answers if p == "pre")
            post = sum(1 for (_, p) in state.answers if p == "post")
            nxt = state.next_step()
            entry = {"reader": rd.code, "name": rd.name, "years": rd.years, "group": rd.group,
                     "simulated": rd.simulated, "pre": pre, "revealed": len(state.reveals), "post": post,
                     "complete": nxt is None, "next": _step_dict(nxt)}
            if nxt is not None and nxt[2] == 2:
                ok, why = state.session_open(2, now)
                entry["waiting"] = None if ok else why
            readers.append(entry)
        n_audit = s.scalar(select(func.count()).select_from(Audit)) or 0
        n_refused = s.scalar(select(func.count()).select_from(Audit).where(Audit.outcome == "refused")) or 0
        return {"study": st.name, "task": st.task, "design": st.design, "questions": st.questions,
                "cases": n, "seed": st.seed, "washout_days": st.washout_days, "simulated": st.simulated,
                "bundle": {"name": st.bundle_name, "version": st.bundle_version, "sha256": st.bundle_sha256},
                "readers": readers, "audit_events": n_audit, "refused_attempts": n_refused,
                "db": sdb.target.label}



# -- the reader's own view (GUI reader mode) -----------------------------------------------
def _own_answer(a: Answer | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"phase": a.phase, "malignant": a.malignant, "likelihood": a.likelihood, "subtype": a.subtype,
            "confidence": a.confidence, "comment": a.comment, "concern": a.concern, "session": a.session,
            "committed_at": _aware(a.committed_at).isoformat(), "duration_s": a.duration_s}


def reader_view(db: str, code: str, position: int | None = None) -> dict[str, Any]:
    """What one reader may see of the study: progress, the next step, and one case of their own list.

    ``position``: the case to describe (default: the case of the next step). Never the
    truth, never another reader's answers, never the case id (blinding); the reader's own
    committed answers are given so a face can show them locked. The Grad-CAM map is
    given (decoded and validated) only once this reader's AI output for the case is revealed.
    """
    with StudyDb.open(db, write=False) as sdb:
        st, rd = _study_and_reader(sdb, code, "view", position)
        with dbm.translate_errors(sdb.target), sdb.session() as s:
            state = ReaderState.load(s, st, rd)
            n = len(state.order)
            nxt = state.next_step()
            waiting = None
            if nxt is not None and nxt[2] == 2:
                ok, why = state.session_open(2, utcnow())
                waiting = None if ok else why
            out: dict[str, Any] = {
                "study": st.name, "task": st.task, "design": st.design, "questions": st.questions,
                "simulated": st.simulated, "reader": rd.code, "reader_simulated": rd.simulated, "cases": n,
                "next": _step_dict(nxt), "waiting": waiting,
                "pre_done": sum(1 for (_, p) in state.answers if p == "pre"),
                "post_done": sum(1 for (_, p) in state.answers if p == "post"),
                "subtypes": list(SUBTYPE_CHOICES) if st.questions == "soft-tissue" else [],
                "bundle": {"name": st.bundle_name, "version": st.bundle_version, "sha256": st.bundle_sha256,
                           "path": st.bundle_path},
                "case": None,
            }
            pos = position if position is not None else (nxt[0] if nxt is not None else None)
            if pos is None:
                return out
            rc = _case(state, code, pos)
            sc = s.get(StudyCase, rc.case_pk)
            assert sc is not None
            revealed = rc.case_pk in state.reveals
            cam = decode_cam(sc.cam, sc.cam_bbox, f"study database {sdb.target.label}, case {pos}") \
                if revealed else None
            out["case"] = {"position": pos, "pre_session": rc.pre_session,
                           "post_session": rc.post_session, "revealed": revealed,
                           "pre": _own_answer(state.answers.get((rc.case_pk, "pre"))),
                           "post": _own_answer(state.answers.get((rc.case_pk, "post"))),
                           "cam": cam, "ai_model": sc.ai_model if revealed else None}
            return out
