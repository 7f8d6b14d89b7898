"""The study commands as a user runs them: create, reader add, answer, reveal, status; bad input."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ultrasound_reader.cli import main
from ultrasound_reader.study.service import StudyDb

from .conftest import one_line_error


def call(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    rc = main(["study", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(capsys: pytest.CaptureFixture, *args: str) -> str:
    rc, out, err = call(capsys, *args)
    assert rc == 1, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def rows(db: str, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


def test_create_stores_every_case_once_with_the_bundle_identity(soft_db, soft_cohort, soft_bundle):
    from ultrasound_reader.ai import Analyzer, load_bundle
    from ultrasound_reader.case import Case, Truth

    bundle = load_bundle(soft_bundle)
    cases = rows(soft_db, "SELECT position, case_id, ai_json, ai_score, ai_decision, cam FROM study_case ORDER BY position")
    truth = Truth.read_csv(soft_cohort / "truth.csv")
    assert [c[1] for c in cases] == sorted(truth)  # canonical order = case folders sorted
    st = rows(soft_db, "SELECT bundle_name, bundle_version, bundle_sha256, task, design FROM study")[0]
    assert st == (bundle.name, bundle.version, bundle.manifest_sha256, "soft-tissue", "sequential")
    # The stored output is the analyzer's on that case, computed with that bundle.
    pos, case_id, ai_json, score, decision, cam = cases[2]
    again = Analyzer(bundle).run(Case.load(soft_cohort / case_id))
    ai = json.loads(ai_json)
    assert ai["probabilities"] == pytest.approx(again.probabilities, abs=1e-6)
    assert score == pytest.approx(again.probabilities[again.decision_model], abs=1e-6)
    assert decision == again.decision
    assert "case_id" not in ai and case_id not in ai_json  # blinded: no case id in what readers see
    assert cam is not None
    # The truth sits in its own table, one row per case.
    t = dict(rows(soft_db, "SELECT c.case_id, t.malignant FROM truth t JOIN study_case c ON c.id = t.case_pk"))
    assert t == {k: int(v.malignant) for k, v in truth.items()}


def test_create_refuses_a_bundle_of_the_other_task(tmp_path, capsys, soft_cohort, liver_bundle):
    line = error_line(capsys, "create", "--db", str(tmp_path / "x.db"), "--name", "x", "--cases", str(soft_cohort),
                      "--truth", str(soft_cohort / "truth.csv"), "--bundle", str(liver_bundle))
    assert "liver-fll bundle" in line and "soft-tissue cases" in line
    assert not (tmp_path / "x.db").exists()


def test_create_refuses_a_truth_file_missing_cases(tmp_path, capsys, soft_cohort, soft_bundle):
    lines = (soft_cohort / "truth.csv").read_text().splitlines()
    short = tmp_path / "truth.csv"
    short.write_text("\n".join(lines[:-2]) + "\n")
    missing = lines[-1].split(",")[0]
    line = error_line(capsys, "create", "--db", str(tmp_path / "x.db"), "--name", "x", "--cases", str(soft_cohort),
                      "--truth", str(short), "--bundle", str(soft_bundle))
    assert str(short) in line and missing in line


def test_create_refuses_a_second_study_and_bad_options(soft_db, capsys, soft_cohort, soft_bundle):
    base = ["create", "--db", soft_db, "--cases", str(soft_cohort), "--truth", str(soft_cohort / "truth.csv"),
            "--bundle", str(soft_bundle)]
    assert "already holds study" in error_line(capsys, *base, "--name", "again")
    assert "--design" in error_line(capsys, *base, "--name", "y", "--design", "parallel")
    assert "--questions liver does not fit" in error_line(capsys, *base, "--name", "y", "--questions", "liver")
    assert "--seed" in error_line(capsys, *base, "--name", "y", "--seed", "abc")
    assert "--washout-days" in error_line(capsys, *base, "--name", "y", "--washout-days", "soon")
    assert "--washout-days" in error_line(capsys, *base, "--name", "y", "--design", "crossover", "--washout-days", "-1")


def test_reader_orders_are_random_per_reader_and_reproducible(soft_db, capsys):
    for rid, years in (("R1", "8"), ("R2", "30")):
        assert call(capsys, "reader", "add", "--db", soft_db, "--id", rid, "--years", years)[0] == 0
    (seed_study,) = rows(soft_db, "SELECT seed FROM study")[0]
    orders = {}
    for rid, oseed, rdr in rows(soft_db, "SELECT code, order_seed, id FROM reader"):
        order = [pk for (pk,) in rows(soft_db, f"SELECT case_pk FROM reader_case WHERE reader_id={rdr} ORDER BY position")]
        pks = [pk for (pk,) in rows(soft_db, "SELECT id FROM study_case ORDER BY position")]
        assert order == [pks[k] for k in np.random.default_rng(oseed).permutation(len(pks))]
        orders[rid] = order
    assert sorted(orders["R1"]) == sorted(orders["R2"]) and orders["R1"] != orders["R2"]
    assert "already in study" in error_line(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "3")
    assert "--years" in error_line(capsys, "reader", "add", "--db", soft_db, "--id", "R3", "--years", "-2")
    assert "--id" in error_line(capsys, "reader", "add", "--db", soft_db, "--id", "R 3", "--years", "2")


def test_sequential_reading_pre_reveal_post_and_status(soft_db, capsys):
    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    rc, out, _ = call(capsys, "answer", "--db", soft_db, "--reader", "R1", "--case", "1", "--phase", "pre",
                      "--malignant", "no", "--likelihood", "20", "--subtype", "lipoma", "--confidence", "4",
                      "--concern", "10,20,200,180", "--comment", "smooth margin")
    assert rc == 0 and "next: case 1 reveal" in out
    rc, out, _ = call(capsys, "reveal", "--db", soft_db, "--reader", "R1", "--case", "1")
    shown = json.loads(out)
    (case_pk,) = rows(soft_db, "SELECT case_pk FROM reader_case rc JOIN reader r ON r.id = rc.reader_id "
                               "WHERE r.code='R1' AND rc.position=1")[0]
    (ai_json,) = rows(soft_db, f"SELECT ai_json FROM study_case WHERE id={case_pk}")[0]
    assert shown["ai"] == json.loads(ai_json) and shown["bundle"]["sha256"]
    assert "truth" not in out and "malignant\": true" not in out.replace(" ", "")
    rc, out, _ = call(capsys, "answer", "--db", soft_db, "--reader", "R1", "--case", "1", "--phase", "post",
                      "--malignant", "yes", "--likelihood", "70", "--json")
    assert rc == 0 and json.loads(out)["next"] == {"case": 2, "step": "pre", "session": 1}
    rc, out, _ = call(capsys, "status", "--db", soft_db, "--json")
    st = json.loads(out)
    r1 = st["readers"][0]
    assert (r1["pre"], r1["revealed"], r1["post"], r1["next"]["case"]) == (1, 1, 1, 2)
    assert r1["group"] == "5-10 years"
    ans = rows(soft_db, "SELECT phase, malignant, likelihood, subtype, confidence, concern, comment, duration_s "
                        "FROM answer ORDER BY id")
    assert ans[0][:7] == ("pre", 0, 20, "lipoma", 4, "10,20,200,180", "smooth margin")
    assert ans[1][:3] == ("post", 1, 70) and ans[1][7] is not None and ans[1][7] >= 0  # timed from the reveal
    rc, out, _ = call(capsys, "status", "--db", soft_db)
    assert "R1 (8 y, 5-10 years): pre 1/8, revealed 1, post 1/8; next case 2 pre" in out


@pytest.mark.parametrize("args, expect", [
    (["--reader", "R9", "--case", "1", "--phase", "pre"], "'R9' is not a reader"),
    (["--reader", "R1", "--case", "9", "--phase", "pre"], "--case: 9 is out of range"),
    (["--reader", "R1", "--case", "0", "--phase", "pre"], "--case: 0 is out of range"),
    (["--reader", "R1", "--case", "2", "--phase", "post"], "post-AI answer before the pre-AI answer"),
    (["--reader", "R1", "--case", "1", "--phase", "pre"], "locked: the AI output was already revealed"),
    (["--reader", "R1", "--case", "2", "--phase", "pre", "--likelihood", "101"], "--likelihood"),
    (["--reader", "R1", "--case", "2", "--phase", "pre", "--subtype", "sarcoma"], "--subtype"),
    (["--reader", "R1", "--case", "2", "--phase", "pre", "--confidence", "9"], "--confidence"),
])
def test_answer_bad_input_is_refused_and_audited(soft_db, capsys, args, expect):
    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    base = ["answer", "--db", soft_db, "--malignant", "no"]
    call(capsys, *base, "--reader", "R1", "--case", "1", "--phase", "pre", "--likelihood", "10")
    call(capsys, "reveal", "--db", soft_db, "--reader", "R1", "--case", "1")
    n_before = rows(soft_db, "SELECT count(*) FROM answer")[0][0]
    extra = [] if "--likelihood" in args else ["--likelihood", "40"]
    line = error_line(capsys, *base, *args, *extra)
    assert expect in line
    assert rows(soft_db, "SELECT count(*) FROM answer")[0][0] == n_before
    refused = rows(soft_db, "SELECT actor, action, detail FROM audit WHERE outcome='refused'")
    assert len(refused) == 1 and refused[0][1] == "answer" and expect in json.loads(refused[0][2])["reason"]
    import socket

    assert json.loads(refused[0][2])["workstation"] == socket.gethostname()  # who: which workstation


def test_reveal_before_pre_and_cli_argument_errors(soft_db, capsys):
    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    assert "commit the pre-AI answer" in error_line(capsys, "reveal", "--db", soft_db, "--reader", "R1", "--case", "1")
    assert rows(soft_db, "SELECT count(*) FROM reveal")[0][0] == 0
    assert "--malignant" in error_line(capsys, "answer", "--db", soft_db, "--reader", "R1", "--case", "1",
                                       "--phase", "pre", "--malignant", "maybe", "--likelihood", "3")
    assert "--concern" in error_line(capsys, "answer", "--db", soft_db, "--reader", "R1", "--case", "1",
                                     "--phase", "pre", "--malignant", "no", "--likelihood", "3", "--concern", "5,5,1,1")
    assert "--db is required" in error_line(capsys, "status")


def test_raw_sql_cannot_change_a_locked_answer_or_the_audit(soft_db, capsys):
    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    base = ["answer", "--db", soft_db, "--reader", "R1", "--malignant", "no", "--likelihood", "10"]
    call(capsys, *base, "--case", "1", "--phase", "pre")
    call(capsys, *base, "--case", "2", "--phase", "pre")
    call(capsys, "reveal", "--db", soft_db, "--reader", "R1", "--case", "1")
    con = sqlite3.connect(soft_db)
    con.execute("PRAGMA foreign_keys = ON")  # as every study connection sets it
    pk1 = con.execute("SELECT rc.case_pk FROM reader_case rc WHERE rc.position=1").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="pre-AI answer is locked"):
        con.execute(f"UPDATE answer SET likelihood = 90 WHERE case_pk = {pk1}")
    with pytest.raises(sqlite3.IntegrityError, match="pre-AI answer is locked"):
        con.execute(f"DELETE FROM answer WHERE case_pk = {pk1}")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute(f"UPDATE answer SET likelihood = 90 WHERE case_pk <> {pk1}")  # not revealed: still immutable
    with pytest.raises(sqlite3.IntegrityError, match="audit log is append-only"):
        con.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.IntegrityError, match="reveals are append-only"):
        con.execute("DELETE FROM reveal")
    rid = con.execute("SELECT id FROM reader").fetchone()[0]
    pk3 = con.execute("SELECT case_pk FROM reader_case WHERE position=3").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="post-AI answer needs the AI output revealed"):
        con.execute("INSERT INTO answer (reader_id, case_pk, phase, malignant, likelihood, session, committed_at) "
                    f"VALUES ({rid}, {pk3}, 'post', 1, 50, 1, '2026-01-01')")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):  # a case outside the reader's list
        con.execute("INSERT INTO answer (reader_id, case_pk, phase, malignant, likelihood, session, committed_at) "
                    f"VALUES ({rid}, 9999, 'pre', 1, 50, 1, '2026-01-01')")
    with pytest.raises(sqlite3.IntegrityError, match="revealed only after the pre-AI answer"):
        con.execute(f"INSERT INTO reveal (reader_id, case_pk, revealed_at) VALUES ({rid}, {pk3}, '2026-01-01')")
    con.close()
    assert rows(soft_db, f"SELECT likelihood FROM answer WHERE case_pk={pk1}") == [(10,)]


def test_crossover_sessions_washout_and_counterbalance(crossover_db, capsys):
    from ultrasound_reader.study.service import AnswerInput, answer, reveal, status

    for rid in ("R1", "R2"):
        call(capsys, "reader", "add", "--db", crossover_db, "--id", rid, "--years", "12")
    arms = dict(rows(crossover_db, "SELECT code, first_unaided_arm FROM reader"))
    assert arms == {"R1": "A", "R2": "B"}  # counterbalanced
    sessions = rows(crossover_db, "SELECT r.code, c.arm, rc.pre_session, rc.post_session FROM reader_case rc "
                                  "JOIN reader r ON r.id = rc.reader_id JOIN study_case c ON c.id = rc.case_pk")
    for code, arm, pre_s, post_s in sessions:
        assert {pre_s, post_s} == {1, 2}
        assert (pre_s == 1) == (arm == arms[code])
    # R1 reads session 1: unaided reads, and aided reads (reveal first, no pre needed).
    st = status(crossover_db)["readers"][0]
    steps = 0
    while st["next"] is not None and st["next"]["session"] == 1:
        n, step = st["next"]["case"], st["next"]["step"]
        if step == "reveal":
            reveal(crossover_db, "R1", n)
        else:
            answer(crossover_db, "R1", n, AnswerInput(step, True, 60))
        st = status(crossover_db)["readers"][0]
        steps += 1
    assert steps == 8 + 4  # 8 reads, 4 of them aided (each preceded by its reveal)
    # Session 2 would open at once here (washout 0 days); with a washout it waits.
    with StudyDb.open(crossover_db) as sdb, sdb.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE study SET washout_days = 28")
    st = status(crossover_db)["readers"][0]
    assert st["next"]["session"] == 2 and "washout" in st["waiting"]
    n, step = st["next"]["case"], st["next"]["step"]
    with pytest.raises(Exception, match="session 2 opens after the washout"):
        (reveal(crossover_db, "R1", n) if step == "reveal" else answer(crossover_db, "R1", n, AnswerInput(step, True, 5)))


def test_schema_head_constant_is_alembics_head():
    from ultrasound_reader.study import db

    assert db.SCHEMA_HEAD == db.head_revision()


def test_database_problems_give_one_clear_line(tmp_path, soft_db, capsys, cli):
    missing = tmp_path / "nope.db"
    assert "no such file" in error_line(capsys, "status", "--db", str(missing))
    assert not missing.exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    assert "not a study database" in error_line(capsys, "status", "--db", str(junk))
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    assert "not a study database" in error_line(capsys, "status", "--db", str(empty))
    assert "not supported" in error_line(capsys, "status", "--db", "mysql://u@h/db")
    assert "database driver" in error_line(capsys, "status", "--db", "postgresql+nosuchdriver://u@127.0.0.1:1/x")
    # A newer schema is refused, naming the revision.
    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    newer = tmp_path / "newer.db"
    Path(newer).write_bytes(Path(soft_db).read_bytes())
    with sqlite3.connect(newer) as c:
        c.execute("UPDATE alembic_version SET version_num = '9999'")
    line = error_line(capsys, "status", "--db", str(newer))
    assert "'9999'" in line and "newer than this program" in line
    # Read-only: reading works, recording is refused.
    ro = tmp_path / "ro.db"
    Path(ro).write_bytes(Path(soft_db).read_bytes())
    ro.chmod(0o444)
    assert call(capsys, "status", "--db", str(ro))[0] == 0
    line = error_line(capsys, "answer", "--db", str(ro), "--reader", "R1", "--case", "1", "--phase", "pre",
                      "--malignant", "no", "--likelihood", "5")
    assert "read-only" in line and str(ro) in line
    # Locked: another process holds the write lock; the writer waits, then says so.
    holder = sqlite3.connect(soft_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = cli("study", "answer", "--db", soft_db, "--reader", "R1", "--case", "1", "--phase", "pre",
                   "--malignant", "no", "--likelihood", "5", env={"ULTRASOUND_READER_STUDY_BUSY_TIMEOUT": "0.5"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    line = one_line_error(proc)
    assert "locked by another process" in line and soft_db in line
    assert rows(soft_db, "SELECT count(*) FROM answer")[0][0] == 0


def test_liver_study_stores_the_fusion_output_and_asks_no_subtype(tmp_path, capsys, liver_cohort, liver_bundle):
    db = str(tmp_path / "liver.db")
    rc, out, _ = call(capsys, "create", "--db", db, "--name", "fll", "--cases", str(liver_cohort), "--truth",
                      str(liver_cohort / "truth.csv"), "--bundle", str(liver_bundle), "--json")
    assert rc == 0 and json.loads(out)["questions"] == "liver"
    models = {m for (m,) in rows(db, "SELECT ai_model FROM study_case")}
    assert models <= {"LBC", "LB", "L"} and None not in models
    assert all(cam is not None for (cam,) in rows(db, "SELECT cam FROM study_case"))  # Model^L's Grad-CAM
    call(capsys, "reader", "add", "--db", db, "--id", "R1", "--years", "16")
    assert "does not ask for a subtype" in error_line(
        capsys, "answer", "--db", db, "--reader", "R1", "--case", "1", "--phase", "pre", "--malignant", "no",
        "--likelihood", "10", "--subtype", "lipoma")
    assert "already in study" in error_line(capsys, "reader", "add", "--db", db, "--id", "R1", "--years", "3")
    refused = [json.loads(d)["reason"] for (d,) in rows(db, "SELECT detail FROM audit WHERE outcome='refused'")]
    assert len(refused) == 2 and "already in study" in refused[1]
    rc, out, _ = call(capsys, "status", "--db", db, "--json")
    assert json.loads(out)["readers"][0]["group"] == ">15 years"


def test_corrupt_stored_content_is_a_clear_error(soft_db, capsys):
    """The database is untrusted input too: a damaged AI output or Grad-CAM map gives one line."""
    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    call(capsys, "answer", "--db", soft_db, "--reader", "R1", "--case", "1", "--phase", "pre", "--malignant", "no",
         "--likelihood", "10", "--concern", "1,1,50,50")
    import io

    with sqlite3.connect(soft_db) as c:
        c.execute("UPDATE study_case SET ai_json = '[1, 2'")
    assert "stored AI output of case" in error_line(capsys, "reveal", "--db", soft_db, "--reader", "R1", "--case", "1")
    # A map whose header claims an enormous array: refused before anything is allocated.
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**8)})
    with sqlite3.connect(soft_db) as c:
        c.execute("UPDATE study_case SET cam = ?", (buf.getvalue() + b"\0" * 64,))
    assert "Grad-CAM map is not a 96-pixel uint8 map" in error_line(capsys, "analyze", "--db", soft_db)
    with sqlite3.connect(soft_db) as c:
        c.execute("UPDATE study_case SET cam = ?", (b"\x93NUMPY garbage",))
    assert "Grad-CAM map is corrupt" in error_line(capsys, "analyze", "--db", soft_db)


def test_reader_case_is_blinded_by_sequence_number(soft_db, soft_cohort, capsys):
    from ultrasound_reader.case import Case
    from ultrasound_reader.study.service import reader_case

    call(capsys, "reader", "add", "--db", soft_db, "--id", "R1", "--years", "8")
    (case_id,) = rows(soft_db, "SELECT c.case_id FROM reader_case rc JOIN study_case c ON c.id = rc.case_pk "
                               "WHERE rc.position = 3")[0]
    seen = reader_case(soft_db, "R1", 3)
    original = Case.load(soft_cohort / case_id)
    assert seen.case_id == "study case 3" and case_id not in json.dumps(seen.to_dict())
    assert seen.images == original.images
    assert [(r.kind, r.shape, r.points, r.image, r.frame) for r in seen.rois] == [
        (r.kind, r.shape, r.points, r.image, r.frame) for r in original.rois]
    with pytest.raises(Exception, match="out of range"):
        reader_case(soft_db, "R1", 99)
    # Shown on screen, then answered: the pre-AI answer is timed from when it was shown.
    from datetime import datetime, timedelta, timezone

    from ultrasound_reader.study.service import AnswerInput, answer

    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    reader_case(soft_db, "R1", 3, mark_shown=True, now=lambda: t0)
    answer(soft_db, "R1", 3, AnswerInput("pre", True, 77), now=lambda: t0 + timedelta(seconds=42.5))
    assert rows(soft_db, "SELECT duration_s FROM answer WHERE likelihood = 77") == [(42.5,)]


def test_refusal_is_audited_even_when_its_text_sounds_like_database_trouble(soft_db, capsys):
    """Whether a refusal is audited depends on the error's type, not its English text: a study
    named 'read-only pilot (cannot be opened)' still gets its refused reader-add audited."""
    with sqlite3.connect(soft_db) as c:
        c.execute("UPDATE study SET name = 'read-only pilot (cannot be opened)'")
    assert call(capsys, "reader", "add", "--db", soft_db, "--id", "R9", "--years", "3")[0] == 0
    assert "already in study" in error_line(capsys, "reader", "add", "--db", soft_db, "--id", "R9", "--years", "3")
    refused = rows(soft_db, "SELECT action, detail FROM audit WHERE outcome='refused'")
    assert len(refused) == 1 and refused[0][0] == "reader-add", refused


def test_database_trouble_is_a_typed_error_and_not_audited(soft_db):
    from ultrasound_reader.study import db as dbm
    from ultrasound_reader.study.service import add_reader

    os.chmod(soft_db, 0o444)
    try:
        with pytest.raises(dbm.DatabaseUnavailable, match="read-only"):
            add_reader(soft_db, "R8", 2.0)
    finally:
        os.chmod(soft_db, 0o644)
    assert rows(soft_db, "SELECT count(*) FROM audit WHERE outcome='refused'") == [(0,)]


def test_concurrent_creates_leave_one_study(tmp_path, soft_cohort, soft_bundle):
    """Two creates on one new database: the second starts (and passes its "no study yet" check)
    while the first is analysing. The first to insert wins; the other is refused with one line
    and the database holds exactly one study."""
    from ultrasound_reader.errors import UserError
    from ultrasound_reader.study.service import create_study

    db = str(tmp_path / "race.db")
    started: list[bool] = []

    def meanwhile(done: int, total: int) -> None:  # runs during the outer create's analysis
        if not started:
            started.append(True)
            create_study(db, "inner", soft_cohort, soft_cohort / "truth.csv", soft_bundle, seed=1)

    with pytest.raises(UserError, match="already holds study 'inner'"):
        create_study(db, "outer", soft_cohort, soft_cohort / "truth.csv", soft_bundle, seed=1, progress=meanwhile)
    assert rows(db, "SELECT name FROM study") == [("inner",)]
    # and the database itself refuses a second study row (the one-study index of revision 0002)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: index 'uq_study_singleton'"):
        with sqlite3.connect(db) as c:
            c.execute("INSERT INTO study SELECT 99, 'x' || name, task, design, questions, seed, washout_days, "
                      "created_at, bundle_name, bundle_version, bundle_sha256, bundle_path, cases_dir, "
                      "truth_sha256, simulated, software_version FROM study")
