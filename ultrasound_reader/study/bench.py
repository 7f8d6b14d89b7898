"""Benchmark: answer commit latency on SQLite, synchronous=FULL (the study's setting) vs OFF.

Both runs use the study schema (Alembic head, triggers included) in a fresh file in
the cache folder, the same engine set-up (WAL, BEGIN IMMEDIATE) and the same
transaction as ``study answer``: one answer row plus its audit row, committed. Only
the ``synchronous`` pragma differs, measured in the same run, so the ratio shows
what the durability of every answer costs on this disk. The figures are the
median (p50) and 99th percentile (p99) of the per-answer commit latency.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from ultrasound_reader.paths import cache_dir
from ultrasound_reader.study import db as dbm
from ultrasound_reader.study.models import Answer, Audit, Reader, ReaderCase, Study, StudyCase, utcnow


def _prepare(path: Path, n: int) -> tuple[int, list[int]]:
    target = dbm.parse_db(str(path))
    engine = dbm.open_engine(target, create=True)
    now = utcnow()
    with Session(engine) as s, s.begin():
        st = Study(name="bench", task="soft-tissue", design="sequential", questions="soft-tissue", seed=0,
                   washout_days=0.0, created_at=now, bundle_name="none", bundle_version="0", bundle_sha256="0" * 64,
                   bundle_path="-", cases_dir="-", truth_sha256="0" * 64, simulated=True, software_version="bench")
        s.add(st)
        s.flush()
        cases = [StudyCase(study_id=st.id, position=i + 1, case_id=f"BENCH-{i}", folder="-", arm="A", ai_json="{}")
                 for i in range(n)]
        s.add_all(cases)
        rd = Reader(study_id=st.id, code="BENCH", years=1.0, simulated=True, order_seed=0, first_unaided_arm="A",
                    created_at=now)
        s.add(rd)
        s.flush()
        s.add_all(ReaderCase(reader_id=rd.id, position=i + 1, case_pk=c.id, pre_session=1, post_session=1)
                  for i, c in enumerate(cases))
        ids = (rd.id, [c.id for c in cases])
    engine.dispose()
    return ids


def _commit(engine, reader_id: int, pk: int, i: int) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        now = utcnow()
        s.add(Answer(reader_id=reader_id, case_pk=pk, phase="pre", malignant=bool(i % 2), likelihood=i % 101,
                     session=1, committed_at=now))
        s.add(Audit(at=now, actor="BENCH", action="answer", outcome="ok", case_position=i + 1,
                    detail=json.dumps({"phase": "pre", "likelihood": i % 101})))
    return time.perf_counter() - t0


def _measure(folder: Path, n: int) -> dict[str, np.ndarray]:
    """Commit latencies of n answers in each mode, alternating answer by answer (same machine load)."""
    modes = ("FULL", "OFF")
    setup = {m: _prepare(folder / f"{m.lower()}.db", n) for m in modes}
    engines = {m: dbm.make_engine(dbm.parse_db(str(folder / f"{m.lower()}.db")), synchronous=m) for m in modes}
    times: dict[str, list[float]] = {m: [] for m in modes}
    try:
        for i in range(n):
            for m in modes:
                reader_id, pks = setup[m]
                times[m].append(_commit(engines[m], reader_id, pks[i], i))
        for m in modes:
            with engines[m].connect() as c:
                got = c.exec_driver_sql("PRAGMA synchronous").scalar()
            assert got == {"FULL": 2, "OFF": 0}[m], (m, got)
    finally:
        for e in engines.values():
            e.dispose()
    return {m.lower(): np.array(v) for m, v in times.items()}


def run(quick: bool = False) -> dict:
    n = 60 if quick else 300
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="study-bench-") as tmp:
        t = _measure(Path(tmp), n)
    p = {k: (float(np.percentile(v, 50)), float(np.percentile(v, 99))) for k, v in t.items()}
    return {
        "answers_per_mode": n,
        "full_p50_ms": round(p["full"][0] * 1e3, 3),
        "full_p99_ms": round(p["full"][1] * 1e3, 3),
        "off_p50_ms": round(p["off"][0] * 1e3, 3),
        "off_p99_ms": round(p["off"][1] * 1e3, 3),
        "p50_ratio_full_over_off": round(p["full"][0] / p["off"][0], 2),
        "p99_ratio_full_over_off": round(p["full"][1] / p["off"][1], 2),
    }
