"""Reliability: SIGKILL at random points while answering, and two readers answering at once.

The answering process is ``driver.py`` in a subprocess. After every kill the study
must hold every answer the driver reported committed, exactly once, with exactly
the content it wrote (nothing half-written), the steps done must be a gap-free
prefix of the reader's reading order, and the next run must resume at the right
case. ``-m slow`` runs the 50-kill campaign; the default run does 5 kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ultrasound_reader.study.service import StudyDb, add_reader, status

from .conftest import REPO
from .driver import content

DRIVER = Path(__file__).with_name("driver.py")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")


def start_driver(db: str, *readers: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), db, *readers], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def canonical_steps(db: str, reader: str) -> list[tuple[int, str]]:
    from ultrasound_reader.study.service import ReaderState
    from sqlalchemy import select
    from ultrasound_reader.study.models import Reader

    with StudyDb.open(db, write=False) as sdb, sdb.session() as s:
        st = sdb.study(s)
        rd = s.scalars(select(Reader).where(Reader.code == reader)).one()
        return [(p, step) for p, step, _ in ReaderState.load(s, st, rd).steps()]


def db_steps(db: str) -> dict[str, list[tuple[int, str, tuple]]]:
    """Per reader: (position, step, content) of every committed answer and reveal."""
    con = sqlite3.connect(db) if "://" not in db else None
    q_ans = ("SELECT r.code, rc.position, a.phase, a.malignant, a.likelihood, a.confidence, a.comment "
             "FROM answer a JOIN reader r ON r.id = a.reader_id "
             "JOIN reader_case rc ON rc.reader_id = a.reader_id AND rc.case_pk = a.case_pk")
    q_rev = ("SELECT r.code, rc.position FROM reveal v JOIN reader r ON r.id = v.reader_id "
             "JOIN reader_case rc ON rc.reader_id = v.reader_id AND rc.case_pk = v.case_pk")
    if con is not None:
        ans, rev = con.execute(q_ans).fetchall(), con.execute(q_rev).fetchall()
        con.close()
    else:
        with StudyDb.open(db, write=False) as sdb, sdb.engine.connect() as c:
            ans = [tuple(r) for r in c.exec_driver_sql(q_ans)]
            rev = [tuple(r) for r in c.exec_driver_sql(q_rev)]
    out: dict[str, list] = {}
    for code, pos, phase, mal, lik, conf, comment in ans:
        out.setdefault(code, []).append((pos, phase, (bool(mal), lik, conf, comment)))
    for code, pos in rev:
        out.setdefault(code, []).append((pos, "reveal", ()))
    return out


def check_consistent(db: str, readers: list[str], reported: set[tuple[str, int, str]]) -> int:
    """Every reported step is in the database once with its exact content; the done steps are a prefix."""
    found = db_steps(db)
    total = 0
    for reader in readers:
        rows = found.get(reader, [])
        keys = [(p, s) for p, s, _ in rows]
        assert len(keys) == len(set(keys)), f"{reader}: a step recorded twice"
        for p, s, c in rows:
            if s != "reveal":
                e = content(reader, p, s)
                assert c == (e.malignant, e.likelihood, e.confidence, e.comment), f"{reader} {p} {s}: content differs"
        order = canonical_steps(db, reader)
        assert set(keys) == set(order[:len(keys)]), f"{reader}: the committed steps are not a prefix of the order"
        for r, p, s in reported:
            if r == reader:
                assert (p, s) in keys, f"{reader} {p} {s} was reported committed but is missing"
        total += len(keys)
    # An answer and its audit row commit in one transaction: after any kill the counts still match.
    q = ("SELECT (SELECT count(*) FROM answer), (SELECT count(*) FROM audit WHERE action = 'answer' AND "
         "outcome = 'ok'), (SELECT count(*) FROM reveal), (SELECT count(*) FROM audit WHERE action = 'reveal' AND "
         "outcome = 'ok' AND detail LIKE '%\"again\": false%')")
    if "://" not in db:
        with sqlite3.connect(db) as con:
            n_ans, n_ans_audit, n_rev, n_rev_audit = con.execute(q).fetchone()
    else:
        with StudyDb.open(db, write=False) as sdb, sdb.engine.connect() as c:
            n_ans, n_ans_audit, n_rev, n_rev_audit = c.exec_driver_sql(q.replace("%", "%%")).one()
    assert (n_ans, n_rev) == (n_ans_audit, n_rev_audit)
    return total


def kill_campaign(db: str, readers: list[str], kills: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    readers = list(readers)
    reported: set[tuple[str, int, str]] = set()
    n_kills = 0
    resumed_ok = 0
    while n_kills < kills:
        before = check_consistent(db, readers, reported)
        expected_next = next((r["reader"], r["next"]["case"], r["next"]["step"])
                             for r in status(db)["readers"] if r["reader"] in readers and r["next"])
        proc = start_driver(db, *readers)
        assert proc.stdout.readline().strip() == "ready"
        first = proc.stdout.readline().split()
        assert first[0] == "start"
        # The driver resumes exactly where the last run stopped.
        assert (first[1], int(first[2]), first[3]) == expected_next
        resumed_ok += 1
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL or "finished" in out
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "done":
                reported.add((parts[1], int(parts[2]), parts[3]))
        if proc.returncode == -signal.SIGKILL:
            n_kills += 1
        after = check_consistent(db, readers, reported)
        assert after >= before
        if all(r["complete"] for r in status(db)["readers"] if r["reader"] in readers):
            # A fast machine finishes the work before enough kills: give the driver another reader.
            extra = f"{readers[0][0]}X{len(readers) + 1}"
            add_reader(db, extra, 5)
            readers = [*readers, extra]
    if "://" not in db:
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return {"kills": n_kills, "resumed_ok": resumed_ok, "readers": len(readers),
            "steps": check_consistent(db, readers, reported)}


READERS = [f"K{i}" for i in range(1, 5)]  # 4 readers x 8 cases x 3 steps; more are added when they are done


def _kill_test(db: str, kills: int, seed: int) -> dict[str, int]:
    for r in READERS:
        add_reader(db, r, 5)
    res = kill_campaign(db, READERS, kills, seed)
    print(f"kill campaign: {json.dumps(res)}")
    assert res["kills"] == kills, res
    return res


def test_sigkill_while_answering_5_times(soft_db):
    _kill_test(soft_db, 5, seed=1)


@pytest.mark.slow
def test_sigkill_while_answering_50_times(soft_db):
    _kill_test(soft_db, 50, seed=2)


def two_readers_at_once(db: str) -> None:
    for r in ("A1", "A2"):
        add_reader(db, r, 10)
    procs = [start_driver(db, "A1"), start_driver(db, "A2")]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip().endswith("finished")
    reported = {(line.split()[1], int(line.split()[2]), line.split()[3])
                for out, _ in outs for line in out.splitlines() if line.startswith("done")}
    assert len(reported) == 2 * 8 * 3
    assert check_consistent(db, ["A1", "A2"], reported) == 2 * 8 * 3
    st = {r["reader"]: r for r in status(db)["readers"]}
    assert st["A1"]["complete"] and st["A2"]["complete"]


def test_two_readers_answering_at_once_sqlite(soft_db):
    two_readers_at_once(soft_db)
