"""The same study on a real PostgreSQL server (a temporary cluster on 127.0.0.1).

Skipped only when the PostgreSQL server binaries are absent (.ci/run installs them).
"""

from __future__ import annotations

import psycopg
import pytest

from ultrasound_reader.cli import main
from ultrasound_reader.study.service import AnswerInput, add_reader, answer, reveal, status

from .test_reliability import kill_campaign, two_readers_at_once


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_postgresql_reading_flow_and_triggers(pg_db, capsys):
    add_reader(pg_db, "R1", 8)
    answer(pg_db, "R1", 1, AnswerInput("pre", False, 20))
    answer(pg_db, "R1", 2, AnswerInput("pre", True, 80))
    reveal(pg_db, "R1", 1)
    with pytest.raises(Exception, match="locked"):
        answer(pg_db, "R1", 1, AnswerInput("pre", True, 90))
    assert main(["study", "answer", "--db", pg_db, "--reader", "R1", "--case", "2", "--phase", "post",
                 "--malignant", "yes", "--likelihood", "70"]) == 1
    assert "not revealed yet" in capsys.readouterr().err
    with psycopg.connect(_psycopg_url(pg_db), autocommit=True) as c:
        pk1 = c.execute("SELECT case_pk FROM reader_case WHERE position = 1").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException, match="pre-AI answer is locked"):
            c.execute("UPDATE answer SET likelihood = 99 WHERE case_pk = %s", (pk1,))
        with pytest.raises(psycopg.errors.RaiseException, match="pre-AI answer is locked"):
            c.execute("DELETE FROM answer WHERE case_pk = %s", (pk1,))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            c.execute("UPDATE answer SET likelihood = 99 WHERE case_pk <> %s", (pk1,))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            c.execute("TRUNCATE answer CASCADE")
        with pytest.raises(psycopg.errors.RaiseException, match="audit log is append-only"):
            c.execute("DELETE FROM audit")
        rid = c.execute("SELECT id FROM reader").fetchone()[0]
        pk3 = c.execute("SELECT case_pk FROM reader_case WHERE position = 3").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException, match="post-AI answer needs the AI output revealed"):
            c.execute("INSERT INTO answer (reader_id, case_pk, phase, malignant, likelihood, session, committed_at) "
                      "VALUES (%s, %s, 'post', true, 50, 1, now())", (rid, pk3))
        assert c.execute("SELECT likelihood FROM answer WHERE case_pk = %s", (pk1,)).fetchone()[0] == 20
        refused = c.execute("SELECT count(*) FROM audit WHERE outcome = 'refused'").fetchone()[0]
    assert refused == 2
    r1 = status(pg_db)["readers"][0]
    assert (r1["pre"], r1["revealed"], r1["next"]) == (2, 1, {"case": 1, "step": "post", "session": 1})


def test_postgresql_two_readers_at_once(pg_db):
    two_readers_at_once(pg_db)


def test_postgresql_sigkill_while_answering(pg_db):
    for r in ("P1", "P2", "P3"):
        add_reader(pg_db, r, 5)
    res = kill_campaign(pg_db, ["P1", "P2", "P3"], 5, seed=3)
    assert res["kills"] == 5


def test_postgresql_unreachable_server_is_one_line(capsys):
    assert main(["study", "status", "--db", "postgresql://study@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be reached" in err[0]
