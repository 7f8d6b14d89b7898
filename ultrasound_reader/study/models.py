"""SQLAlchemy 2 models of a reader study.

One database holds one study. The tables mirror the Alembic migrations in
``migrations/versions`` (the migrations are the source of truth for the schema;
these classes are how the code reads and writes it):

* ``study``: name, task, design (sequential | crossover), questions, the seed the
  reading orders derive from, the bundle (name, version, manifest SHA-256) whose
  output every reader sees.
* ``study_case``: the cases in their canonical order (position 1..n), the case
  folder, and the AI output computed once at creation (JSON, decision score,
  decision, subtype, a downsampled Grad-CAM map for the area-of-concern overlap).
* ``truth``: the reference standard, in its own table; nothing a reader calls reads it.
* ``reader`` / ``reader_case``: readers (experience in years, simulated or not) and
  each reader's randomised order; for crossover, the session of each phase.
* ``reveal``: when the AI output was shown to a reader for a case (locks the pre-AI
  answer).
* ``answer``: one row per reader x case x phase (pre | post), insert-only.
* ``audit``: append-only log of every action and every refused attempt.

Database triggers (in the migration) keep answers, reveals and the audit log
append-only, refuse a pre-AI answer after the reveal in a sequential study and a
post-AI answer before it, whatever client writes to the database.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

PHASES = ("pre", "post")
DESIGNS = ("sequential", "crossover")
QUESTION_SETS = ("liver", "soft-tissue")
# Experience groups of the FLL paper (Yang et al. 2020), years: (label, lower exclusive, upper inclusive).
EXPERIENCE_GROUPS: tuple[tuple[str, float, float], ...] = (
    ("1-5 years", -1.0, 5.0),
    ("5-10 years", 5.0, 10.0),
    ("10-15 years", 10.0, 15.0),
    (">15 years", 15.0, float("inf")),
)


def experience_group(years: float) -> str:
    """The FLL paper's experience group of a reader (1-5, 5-10, 10-15, >15 years)."""
    for label, low, high in EXPERIENCE_GROUPS:
        if low < years <= high:
            return label
    return EXPERIENCE_GROUPS[0][0]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(20))
    design: Mapped[str] = mapped_column(String(20))
    questions: Mapped[str] = mapped_column(String(20))
    seed: Mapped[int] = mapped_column(Integer)
    washout_days: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bundle_name: Mapped[str] = mapped_column(String(200))
    bundle_version: Mapped[str] = mapped_column(String(50))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    bundle_path: Mapped[str] = mapped_column(Text)
    cases_dir: Mapped[str] = mapped_column(Text)
    truth_sha256: Mapped[str] = mapped_column(String(64))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    software_version: Mapped[str] = mapped_column(String(50))

    cases: Mapped[list[StudyCase]] = relationship(back_populates="study", order_by="StudyCase.position")
    readers: Mapped[list[Reader]] = relationship(back_populates="study", order_by="Reader.id")


class StudyCase(Base):
    __tablename__ = "study_case"
    __table_args__ = (UniqueConstraint("study_id", "position"), UniqueConstraint("study_id", "case_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    position: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(Text)
    arm: Mapped[str] = mapped_column(String(1))  # crossover arm A / B (sequential: A)
    ai_json: Mapped[str] = mapped_column(Text)
    ai_model: Mapped[str | None] = mapped_column(String(50))
    ai_score: Mapped[float | None] = mapped_column(Float)
    ai_cutoff: Mapped[float | None] = mapped_column(Float)
    ai_decision: Mapped[str | None] = mapped_column(String(20))
    ai_subtype: Mapped[str | None] = mapped_column(String(50))
    cam_bbox: Mapped[str | None] = mapped_column(String(100))  # "x0,y0,x1,y1" image pixels of the map
    cam: Mapped[bytes | None] = mapped_column(LargeBinary)  # uint8 .npy, heat * 255

    study: Mapped[Study] = relationship(back_populates="cases")


class Truth(Base):
    __tablename__ = "truth"

    case_pk: Mapped[int] = mapped_column(ForeignKey("study_case.id"), primary_key=True)
    malignant: Mapped[bool] = mapped_column(Boolean)
    subtype: Mapped[str | None] = mapped_column(String(100))
    row_json: Mapped[str] = mapped_column(Text)


class Reader(Base):
    __tablename__ = "reader"
    __table_args__ = (UniqueConstraint("study_id", "code"), CheckConstraint("years >= 0 AND years <= 70"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str | None] = mapped_column(String(200))
    years: Mapped[float] = mapped_column(Float)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    order_seed: Mapped[int] = mapped_column(Integer)
    first_unaided_arm: Mapped[str] = mapped_column(String(1))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    study: Mapped[Study] = relationship(back_populates="readers")

    @property
    def group(self) -> str:
        return experience_group(self.years)


class ReaderCase(Base):
    __tablename__ = "reader_case"
    __table_args__ = (UniqueConstraint("reader_id", "case_pk"),)

    reader_id: Mapped[int] = mapped_column(ForeignKey("reader.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("study_case.id"))
    pre_session: Mapped[int] = mapped_column(Integer)  # 1 or 2 (sequential: 1)
    post_session: Mapped[int] = mapped_column(Integer)


class Reveal(Base):
    __tablename__ = "reveal"
    __table_args__ = (UniqueConstraint("reader_id", "case_pk"),
                      ForeignKeyConstraint(["reader_id", "case_pk"], ["reader_case.reader_id", "reader_case.case_pk"]))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("reader.id"))
    case_pk: Mapped[int] = mapped_column(ForeignKey("study_case.id"))
    revealed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (
        UniqueConstraint("reader_id", "case_pk", "phase"),
        ForeignKeyConstraint(["reader_id", "case_pk"], ["reader_case.reader_id", "reader_case.case_pk"]),
        CheckConstraint("phase IN ('pre', 'post')"),
        CheckConstraint("likelihood >= 0 AND likelihood <= 100"),
        CheckConstraint("confidence IS NULL OR (confidence >= 1 AND confidence <= 5)"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("reader.id"))
    case_pk: Mapped[int] = mapped_column(ForeignKey("study_case.id"))
    phase: Mapped[str] = mapped_column(String(4))
    malignant: Mapped[bool] = mapped_column(Boolean)
    likelihood: Mapped[int] = mapped_column(Integer)
    subtype: Mapped[str | None] = mapped_column(String(50))
    confidence: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    concern: Mapped[str | None] = mapped_column(String(100))  # "x0,y0,x1,y1" image pixels of image 1
    session: Mapped[int] = mapped_column(Integer)
    shown_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)


class Audit(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    outcome: Mapped[str] = mapped_column(String(10))  # ok | refused
    case_position: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
