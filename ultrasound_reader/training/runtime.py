"""Where and how a run executes: seeds, device, threads, and DistributedDataParallel.

The same ``ultrasound-reader train CONFIG`` command runs on one CPU, one GPU, or under
``torchrun`` on many GPUs / nodes: ``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT, and :func:`setup` reads them (``env://``), picks NCCL on
CUDA and gloo on CPU, and pins each process to its local GPU. Only rank 0 logs,
evaluates and exports; the others train their share of each epoch.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    distributed: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def broadcast_from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (picklable; also a barrier)."""
        if not self.distributed:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the optimiser should see it: DDP-wrapped when distributed."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # Branch heads not used by every loss term (e.g. the LB head in Model^L) stay idle.
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def all_reduce_mean(self, value: float) -> float:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world

    def close(self) -> None:
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def setup(device: str = "auto", threads: int = 2) -> Runtime:
    """Pick the device and, under torchrun, join the process group."""
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        from ultrasound_reader.errors import UserError

        raise UserError("train.device: 'cuda' was asked for but no CUDA device is available")
    if not want_cuda:
        torch.set_num_threads(max(1, threads))
    if launched_by_torchrun():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if want_cuda:
            torch.cuda.set_device(local)
            dev = torch.device("cuda", local)
        else:
            dev = torch.device("cpu")
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if want_cuda else "gloo", init_method="env://")
        return Runtime(dev, rank, world, local, True)
    return Runtime(torch.device("cuda", 0) if want_cuda else torch.device("cpu"))


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch; make cuDNN deterministic (same seed -> same run on CPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def worker_init(worker_id: int) -> None:
    """DataLoader worker seeding: numpy/random follow torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    torch.set_num_threads(1)
