"""The run folder under torchrun-style ranks: rank 0 alone checks and creates it.

Two real processes join a gloo group on 127.0.0.1. Rank 1 is held back until rank 0
has written ``config.toml`` -- the order that made ``test_distributed`` fail 4 runs
in 5 when every rank checked "exists and is not empty" itself.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing as mp
import os
import socket
import time
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "ultrasound_reader" / "training" / "configs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, run_dir: str, report: str, wait_for_config: bool) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch.distributed as dist

    from ultrasound_reader.errors import UserError
    from ultrasound_reader.training.config import load_config
    from ultrasound_reader.training.run import prepare_run_dir
    from ultrasound_reader.training.runtime import setup

    dist.init_process_group("gloo", init_method="env://", timeout=datetime.timedelta(seconds=20))
    rt = setup("cpu", 1)
    cfg = load_config(CONFIGS / "tiny-soft-tissue.toml", [f"output.run_dir={run_dir}"])
    if rank == 1 and wait_for_config:
        deadline = time.monotonic() + 20
        while not (Path(run_dir) / "config.toml").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    try:
        prepare_run_dir(cfg, rt, resume=False)
        outcome = {"ok": True}
    except UserError as exc:
        outcome = {"ok": False, "error": str(exc)}
    except Exception as exc:  # e.g. the other rank never reached the barrier
        outcome = {"ok": False, "crash": f"{type(exc).__name__}: {exc}"[:300]}
    Path(report).write_text(json.dumps(outcome))
    rt.close()


def _run_two_ranks(tmp_path: Path, run_dir: Path, wait_for_config: bool) -> list[dict]:
    ctx = mp.get_context("spawn")
    port = _free_port()
    reports = [tmp_path / f"rank{r}.json" for r in (0, 1)]
    procs = [ctx.Process(target=_rank, args=(r, port, str(run_dir), str(reports[r]), wait_for_config))
             for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        if p.is_alive():
            p.kill()
    return [json.loads(r.read_text()) if r.is_file() else {"ok": False, "missing": True} for r in reports]


def test_other_ranks_do_not_refuse_the_folder_rank_0_just_filled(tmp_path):
    run_dir = tmp_path / "run"
    outcomes = _run_two_ranks(tmp_path, run_dir, wait_for_config=True)
    assert outcomes == [{"ok": True}, {"ok": True}]
    assert (run_dir / "config.toml").read_text().startswith("# as run by ultrasound-reader train")


def test_rank_0_refusal_reaches_every_rank(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "something.txt").write_text("earlier run")
    outcomes = _run_two_ranks(tmp_path, run_dir, wait_for_config=False)
    assert [o["ok"] for o in outcomes] == [False, False], outcomes
    assert outcomes[0]["error"] == outcomes[1]["error"]
    assert "run folder exists and is not empty" in outcomes[0]["error"]
    assert not (run_dir / "config.toml").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_single_process_run_dir(tmp_path, resume):
    from ultrasound_reader.errors import UserError
    from ultrasound_reader.training.config import load_config
    from ultrasound_reader.training.run import prepare_run_dir
    from ultrasound_reader.training.runtime import Runtime

    import torch

    cfg = load_config(CONFIGS / "tiny-soft-tissue.toml", [f"output.run_dir={tmp_path / 'run'}"])
    rt = Runtime(torch.device("cpu"))
    if resume:
        with pytest.raises(UserError, match="nothing to resume"):
            prepare_run_dir(cfg, rt, resume=True)
        return
    assert prepare_run_dir(cfg, rt, resume=False) == tmp_path / "run"
    assert prepare_run_dir(cfg, rt, resume=True) == tmp_path / "run"  # same config resumes
    with pytest.raises(UserError, match="exists and is not empty"):
        prepare_run_dir(cfg, rt, resume=False)
