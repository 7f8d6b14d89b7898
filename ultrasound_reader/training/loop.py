"""One training stage: epochs of batches, validation, model selection, checkpoints, resume.

Shared by every model of both tasks (Model^L, Model^LB, DLM-1, SM-1..5). The task
modules supply the network (wrapped so that its ``forward`` returns everything the
loss needs, which keeps DistributedDataParallel's gradient hooks in play), the loss,
the data loader and a validation function returning the cohort AUC.

Model selection: the weights of the epoch with the best validation AUC are kept
(``select_on = "validation"``; ties keep the earlier epoch), or simply the last
epoch's. A finished stage writes its selected weights into its checkpoint with
``done = True``; resuming skips it and reloads them, and an unfinished stage
continues after its last saved epoch with the optimiser, scheduler and RNG states
it had, so a resumed run computes what an uninterrupted one would.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ultrasound_reader.training.checkpoint import load_checkpoint, save_checkpoint
from ultrasound_reader.training.progress import Progress
from ultrasound_reader.training.runtime import Runtime

log = logging.getLogger(__name__)


class StopRequested(Exception):
    """The run was asked to stop after a number of epochs (``--stop-after-epochs``); resumable."""


@dataclass
class StageResult:
    name: str
    best_epoch: int  # 1-based
    best_auc: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    state: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # selected weights

    def to_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_validation_auc": self.best_auc, "history": self.history}


@dataclass
class StageSpec:
    name: str
    model: torch.nn.Module  # the bare network (what is exported)
    train_module: torch.nn.Module  # wraps ``model``; forward(batch tensors...) -> outputs for the loss
    loss: Callable[[Any, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]
    loader: Iterable[dict[str, torch.Tensor]]
    n_batches: int
    validate: Callable[[torch.nn.Module], float | None]  # AUC on the IV cohort (None: undefined)
    epochs: int
    optimizer: str
    lr: float
    weight_decay: float
    schedule: str
    set_epoch: Callable[[int], None] = lambda epoch: None


def make_optimizer(params: Iterable[torch.nn.Parameter], kind: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)


def _make_scheduler(opt: torch.optim.Optimizer, kind: str, total_steps: int) -> Any:
    if kind == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps))))
    return None


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def run_stage(spec: StageSpec, rt: Runtime, ckpt: Path, *, select_on: str, checkpoint_every: int,
              resume: bool, progress_enabled: bool, stop_after: list[int] | None = None) -> StageResult:
    """Train one stage to the end (or resume it) and return its selected weights.

    ``stop_after`` is a one-element countdown of epochs this invocation may still run,
    shared across stages; at 0 a checkpoint is written and :class:`StopRequested` raised.
    """
    model = spec.model.to(rt.device)
    train_module = rt.wrap(spec.train_module.to(rt.device))
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], spec.optimizer, spec.lr,
                         spec.weight_decay)
    sched = _make_scheduler(opt, spec.schedule, spec.epochs * spec.n_batches)
    start = 0
    best: dict[str, Any] = {"auc": None, "epoch": 0, "state": None, "history": []}
    if resume and ckpt.is_file():
        state = load_checkpoint(ckpt, model=model, optimizer=opt, scheduler=sched)
        best = state["best"]
        if state["extra"].get("done"):
            if rt.is_main:
                log.info("stage %s already finished; reusing its weights", spec.name)
            weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return StageResult(spec.name, best["epoch"], best["auc"], best["history"], weights)
        start = state["epoch"] + 1
    bar = Progress(spec.name, spec.epochs, spec.n_batches, enabled=progress_enabled and rt.is_main,
                   start_epoch=start)
    if start:
        bar.note(f"resuming after epoch {start}/{spec.epochs}")
    for epoch in range(start, spec.epochs):
        spec.set_epoch(epoch)
        train_module.train()
        total, count = 0.0, 0
        for i, batch in enumerate(spec.loader, start=1):
            batch = _to(batch, rt.device)
            outputs = train_module(batch)
            loss, parts = spec.loss(outputs, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"stage {spec.name}: loss became {value} at epoch {epoch + 1}, "
                                         f"batch {i}; lower train.lr")
            total, count = total + value, count + 1
            bar.step(epoch, i, total / count)
        mean_loss = rt.all_reduce_mean(total / max(count, 1))
        model.eval()
        auc = spec.validate(model)
        record = {"epoch": epoch + 1, "loss": round(mean_loss, 6),
                  "validation_auc": None if auc is None else round(float(auc), 6)}
        best["history"].append(record)
        better = (select_on == "last" or best["state"] is None
                  or (auc is not None and (best["auc"] is None or auc > best["auc"])))
        if better:
            best.update(auc=None if auc is None else float(auc), epoch=epoch + 1,
                        state=copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}))
        bar.end_epoch(epoch, extra="" if auc is None else f"IV AUC {auc:.3f} (best {best['auc']:.3f} "
                                                          f"@ {best['epoch']})")
        last = epoch + 1 == spec.epochs
        if stop_after is not None:
            stop_after[0] -= 1
        stopping = stop_after is not None and stop_after[0] <= 0 and not last
        # The last epoch is followed by the finished-stage checkpoint below.
        if rt.is_main and not last and (stopping or (epoch + 1) % checkpoint_every == 0):
            save_checkpoint(ckpt, model=model, optimizer=opt, scheduler=sched, epoch=epoch, best=best,
                            extra={"done": False})
        rt.barrier()
        if stopping:
            raise StopRequested(f"stopped after epoch {epoch + 1}/{spec.epochs} of stage {spec.name}")
    model.load_state_dict(best["state"])
    if rt.is_main:  # the selected weights are the model now; best["state"] need not be stored twice
        save_checkpoint(ckpt, model=model, optimizer=None, scheduler=None, epoch=spec.epochs - 1,
                        best=dict(best, state=None), extra={"done": True})
    rt.barrier()
    return StageResult(spec.name, best["epoch"], best["auc"], best["history"], best["state"])
