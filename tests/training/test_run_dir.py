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


def _rank(rank: int, port: int, fresh: str, filled: str, report: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch.distributed as dist

    from ultrasound_reader.errors import UserError
    from ultrasound_reader.training.config import load_config
    from ultrasound_reader.training.run import prepare_run_dir
    from ultrasound_reader.training.runtime import setup

    dist.init_process_group("gloo", init_method="env://", timeout=datetime.timedelta(seconds=20))
    rt = setup("cpu", 1)
    outcomes = []
    for run_dir, hold_back in ((fresh, True), (filled, False)):
        cfg = load_config(CONFIGS / "tiny-soft-tissue.toml", [f"output.run_dir={run_dir}"])
        if rank == 1 and hold_back:  # the order that made rank 1 refuse before the fix
            deadline = time.monotonic() + 20
            while not (Path(run_dir) / "config.toml").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        try:
            prepare_run_dir(cfg, rt, resume=False)
            outcomes.append({"ok": True})
        except UserError as exc:
            outcomes.append({"ok": False, "error": str(exc)})
        except Exception as exc:  # e.g. the other rank never reached the barrier
            outcomes.append({"ok": False, "crash": f"{type(exc).__name__}: {exc}"[:300]})
            break
    Path(report).write_text(json.dumps(outcomes))
    rt.close()


def test_run_folder_under_two_ranks(tmp_path):
    fresh, filled = tmp_path / "fresh", tmp_path / "filled"
    filled.mkdir()
    (filled / "something.txt").write_text("earlier run")
    ctx = mp.get_context("spawn")
    port = _free_port()
    reports = [tmp_path / f"rank{r}.json" for r in (0, 1)]
    procs = [ctx.Process(target=_rank, args=(r, port, str(fresh), str(filled), str(reports[r]))) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        if p.is_alive():
            p.kill()
    rank0, rank1 = (json.loads(r.read_text()) if r.is_file() else [{"ok": False, "missing": True}] for r in reports)
    # 1. rank 1 looks only after rank 0 wrote config.toml: it must not refuse the folder
    assert rank0[0] == {"ok": True} and rank1[0] == {"ok": True}, (rank0, rank1)
    assert (fresh / "config.toml").read_text().startswith("# as run by ultrasound-reader train")
    # 2. rank 0 refuses a non-empty folder: every rank refuses with its message, nobody hangs
    assert rank0[1]["ok"] is False and rank1[1] == rank0[1], (rank0, rank1)
    assert "run folder exists and is not empty" in rank0[1]["error"]
    assert not (filled / "config.toml").exists()


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
