"""Initial study schema, with the triggers that keep answers append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

# Messages raised by the triggers (the code translates them into one clear line).
LOCKED = "study: the pre-AI answer is locked: the AI output was revealed"
APPEND_ONLY = "study: answers are append-only: a committed answer cannot be changed or deleted"
POST_BEFORE_REVEAL = "study: a post-AI answer needs the AI output revealed first"
REVEAL_BEFORE_PRE = "study: the AI output is revealed only after the pre-AI answer is committed"
REVEAL_FIXED = "study: reveals are append-only"
AUDIT_FIXED = "study: the audit log is append-only"

_REVEALED_OLD = "EXISTS (SELECT 1 FROM reveal r WHERE r.reader_id = OLD.reader_id AND r.case_pk = OLD.case_pk)"
_REVEALED_NEW = "EXISTS (SELECT 1 FROM reveal r WHERE r.reader_id = NEW.reader_id AND r.case_pk = NEW.case_pk)"
_PRE_NEW = ("EXISTS (SELECT 1 FROM answer a WHERE a.reader_id = NEW.reader_id AND a.case_pk = NEW.case_pk "
            "AND a.phase = 'pre')")
_SEQUENTIAL_NEW = ("(SELECT s.design FROM study s JOIN reader rd ON rd.study_id = s.id "
                   "WHERE rd.id = NEW.reader_id) = 'sequential'")


def _sqlite_triggers() -> list[str]:
    out = []
    for event in ("UPDATE", "DELETE"):
        e = event.lower()
        out.append(f"""CREATE TRIGGER answer_locked_{e} BEFORE {event} ON answer
            WHEN OLD.phase = 'pre' AND {_REVEALED_OLD}
            BEGIN SELECT RAISE(ABORT, '{LOCKED}'); END""")
        out.append(f"""CREATE TRIGGER answer_fixed_{e} BEFORE {event} ON answer
            WHEN NOT (OLD.phase = 'pre' AND {_REVEALED_OLD})
            BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""")
        out.append(f"""CREATE TRIGGER reveal_fixed_{e} BEFORE {event} ON reveal
            BEGIN SELECT RAISE(ABORT, '{REVEAL_FIXED}'); END""")
        out.append(f"""CREATE TRIGGER audit_fixed_{e} BEFORE {event} ON audit
            BEGIN SELECT RAISE(ABORT, '{AUDIT_FIXED}'); END""")
    out.append(f"""CREATE TRIGGER answer_post_needs_reveal BEFORE INSERT ON answer
        WHEN NEW.phase = 'post' AND NOT {_REVEALED_NEW}
        BEGIN SELECT RAISE(ABORT, '{POST_BEFORE_REVEAL}'); END""")
    out.append(f"""CREATE TRIGGER answer_pre_after_reveal BEFORE INSERT ON answer
        WHEN NEW.phase = 'pre' AND {_REVEALED_NEW} AND {_SEQUENTIAL_NEW}
        BEGIN SELECT RAISE(ABORT, '{LOCKED}'); END""")
    out.append(f"""CREATE TRIGGER reveal_needs_pre BEFORE INSERT ON reveal
        WHEN {_SEQUENTIAL_NEW} AND NOT {_PRE_NEW}
        BEGIN SELECT RAISE(ABORT, '{REVEAL_BEFORE_PRE}'); END""")
    return out


def _postgresql_triggers() -> list[str]:
    return [
        f"""CREATE FUNCTION study_answer_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                RAISE EXCEPTION '{APPEND_ONLY}';
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                IF OLD.phase = 'pre' AND {_REVEALED_OLD} THEN
                    RAISE EXCEPTION '{LOCKED}';
                END IF;
                RAISE EXCEPTION '{APPEND_ONLY}';
            END IF;
            IF NEW.phase = 'post' AND NOT {_REVEALED_NEW} THEN
                RAISE EXCEPTION '{POST_BEFORE_REVEAL}';
            END IF;
            IF NEW.phase = 'pre' AND {_REVEALED_NEW} AND {_SEQUENTIAL_NEW} THEN
                RAISE EXCEPTION '{LOCKED}';
            END IF;
            RETURN NEW;
        END $$""",
        f"""CREATE FUNCTION study_reveal_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                RAISE EXCEPTION '{REVEAL_FIXED}';
            END IF;
            IF {_SEQUENTIAL_NEW} AND NOT {_PRE_NEW} THEN
                RAISE EXCEPTION '{REVEAL_BEFORE_PRE}';
            END IF;
            RETURN NEW;
        END $$""",
        f"""CREATE FUNCTION study_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{AUDIT_FIXED}';
        END $$""",
        "CREATE TRIGGER answer_guard BEFORE INSERT OR UPDATE OR DELETE ON answer "
        "FOR EACH ROW EXECUTE FUNCTION study_answer_guard()",
        "CREATE TRIGGER answer_no_truncate BEFORE TRUNCATE ON answer "
        "FOR EACH STATEMENT EXECUTE FUNCTION study_answer_guard()",
        "CREATE TRIGGER reveal_guard BEFORE INSERT OR UPDATE OR DELETE ON reveal "
        "FOR EACH ROW EXECUTE FUNCTION study_reveal_guard()",
        "CREATE TRIGGER reveal_no_truncate BEFORE TRUNCATE ON reveal "
        "FOR EACH STATEMENT EXECUTE FUNCTION study_reveal_guard()",
        "CREATE TRIGGER audit_guard BEFORE UPDATE OR DELETE ON audit "
        "FOR EACH ROW EXECUTE FUNCTION study_audit_guard()",
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION study_audit_guard()",
    ]


def upgrade() -> None:
    op.create_table(
        "study",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("task", sa.String(20), nullable=False),
        sa.Column("design", sa.String(20), nullable=False),
        sa.Column("questions", sa.String(20), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("washout_days", sa.Float, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("bundle_name", sa.String(200), nullable=False),
        sa.Column("bundle_version", sa.String(50), nullable=False),
        sa.Column("bundle_sha256", sa.String(64), nullable=False),
        sa.Column("bundle_path", sa.Text, nullable=False),
        sa.Column("cases_dir", sa.Text, nullable=False),
        sa.Column("truth_sha256", sa.String(64), nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False),
        sa.Column("software_version", sa.String(50), nullable=False),
        sa.CheckConstraint("design IN ('sequential', 'crossover')", name="ck_study_design"),
    )
    op.create_table(
        "study_case",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("study.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("arm", sa.String(1), nullable=False),
        sa.Column("ai_json", sa.Text, nullable=False),
        sa.Column("ai_model", sa.String(50)),
        sa.Column("ai_score", sa.Float),
        sa.Column("ai_cutoff", sa.Float),
        sa.Column("ai_decision", sa.String(20)),
        sa.Column("ai_subtype", sa.String(50)),
        sa.Column("cam_bbox", sa.String(100)),
        sa.Column("cam", sa.LargeBinary),
        sa.UniqueConstraint("study_id", "position", name="uq_case_position"),
        sa.UniqueConstraint("study_id", "case_id", name="uq_case_id"),
    )
    op.create_table(
        "truth",
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("study_case.id"), primary_key=True),
        sa.Column("malignant", sa.Boolean, nullable=False),
        sa.Column("subtype", sa.String(100)),
        sa.Column("row_json", sa.Text, nullable=False),
    )
    op.create_table(
        "reader",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("study.id"), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("years", sa.Float, nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False),
        sa.Column("order_seed", sa.Integer, nullable=False),
        sa.Column("first_unaided_arm", sa.String(1), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("study_id", "code", name="uq_reader_code"),
        sa.CheckConstraint("years >= 0 AND years <= 70", name="ck_reader_years"),
    )
    op.create_table(
        "reader_case",
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("reader.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("study_case.id"), nullable=False),
        sa.Column("pre_session", sa.Integer, nullable=False),
        sa.Column("post_session", sa.Integer, nullable=False),
        sa.UniqueConstraint("reader_id", "case_pk", name="uq_reader_case"),
    )
    op.create_table(
        "reveal",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("reader.id"), nullable=False),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("study_case.id"), nullable=False),
        sa.Column("revealed_at", TZ, nullable=False),
        sa.UniqueConstraint("reader_id", "case_pk", name="uq_reveal"),
        sa.ForeignKeyConstraint(["reader_id", "case_pk"], ["reader_case.reader_id", "reader_case.case_pk"],
                                name="fk_reveal_reader_case"),
    )
    op.create_table(
        "answer",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("reader.id"), nullable=False),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("study_case.id"), nullable=False),
        sa.Column("phase", sa.String(4), nullable=False),
        sa.Column("malignant", sa.Boolean, nullable=False),
        sa.Column("likelihood", sa.Integer, nullable=False),
        sa.Column("subtype", sa.String(50)),
        sa.Column("confidence", sa.Integer),
        sa.Column("comment", sa.Text),
        sa.Column("concern", sa.String(100)),
        sa.Column("session", sa.Integer, nullable=False),
        sa.Column("shown_at", TZ),
        sa.Column("committed_at", TZ, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.UniqueConstraint("reader_id", "case_pk", "phase", name="uq_answer"),
        # An answer belongs to a case in that reader's own list (nothing crossed between readers).
        sa.ForeignKeyConstraint(["reader_id", "case_pk"], ["reader_case.reader_id", "reader_case.case_pk"],
                                name="fk_answer_reader_case"),
        sa.CheckConstraint("phase IN ('pre', 'post')", name="ck_answer_phase"),
        sa.CheckConstraint("likelihood >= 0 AND likelihood <= 100", name="ck_answer_likelihood"),
        sa.CheckConstraint("confidence IS NULL OR (confidence >= 1 AND confidence <= 5)",
                           name="ck_answer_confidence"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("case_position", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = _sqlite_triggers()
    elif dialect == "postgresql":
        statements = _postgresql_triggers()
    else:
        raise RuntimeError(f"study databases are SQLite or PostgreSQL, not {dialect}")
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    raise RuntimeError("a study database is never downgraded (its answers are append-only)")
