"""Soft-tissue training (Long et al. 2023): DLM-1 and DLM-2 = SM-1..SM-5, one ConvNeXt each.

Same recipe for all six: AdamW (the config's optimiser), random scaling / cropping /
flipping of the ROI, the ROI resized to the input size, BCE on one logit, and the
epoch with the best validation-cohort AUC kept. DLM-1 learns benign vs malignant on
every lesion; SM-k learns "benign subtype k" against the other benign subtypes, on
benign lesions only (it is asked only after DLM-1 said benign). Every mass ROI
image (grayscale and CDFI) is a training sample with its lesion's label; a lesion's
score is combined from its images exactly as :mod:`ultrasound_reader.ai.soft_tissue`
does (mean probability per image role, roles weighted equally).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ultrasound_reader.ai.networks import build_model
from ultrasound_reader.ai.soft_tissue import MASS_KINDS
from ultrasound_reader.case import SOFT_TISSUE_SUBTYPES
from ultrasound_reader.errors import UserError
from ultrasound_reader.training.config import RunConfig
from ultrasound_reader.training.crops import ContextGeometry, augment, case_crops, normalise
from ultrasound_reader.training.dataset import DataSet
from ultrasound_reader.training.loop import StageResult, StageSpec, run_stage
from ultrasound_reader.training.runtime import worker_init

if TYPE_CHECKING:
    from ultrasound_reader.training.tasks import TaskRun

SUBTYPE_OF = {f"SM-{i + 1}": s for i, s in enumerate(SOFT_TISSUE_SUBTYPES)}


@dataclass
class STCrops:
    """Per lesion: its mass-ROI crops (eval and context, 3-channel uint8) and their image roles."""

    data: DataSet
    eval: list[list[np.ndarray]]
    context: list[list[np.ndarray]]
    roles: list[list[str]]

    def subset(self, index: Any) -> STCrops:
        pick = lambda xs: [xs[i] for i in index]  # noqa: E731
        return STCrops(self.data.subset(index), pick(self.eval), pick(self.context), pick(self.roles))

    @property
    def labels(self) -> np.ndarray:
        return self.data.labels

    @property
    def subtypes(self) -> list[str | None]:
        return [s.truth.subtype for s in self.data.samples]


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a


def prepare(data: DataSet, spec: dict[str, Any], geometry: ContextGeometry, cache: Path | None,
            note: Any = None) -> STCrops:
    ev, cx, roles = [], [], []
    needed = set(spec["color"])
    for n, s in enumerate(data.samples):
        c = case_crops(s.case, spec, geometry, cache)
        e, x, r = [], [], []
        for kind in MASS_KINDS:
            for roi, a, b in zip(c.rois.get(kind, []), c.eval.get(kind, []), c.context.get(kind, [])):
                e.append(_rgb(a))
                x.append(_rgb(b))
                r.append(s.case.images[roi.image].role)
        missing = needed - set(r)
        if missing:
            raise UserError(f"case {s.case.case_id}: no mass ROI on a {'/'.join(sorted(missing))} image "
                            f"(each lesion needs one on {' and '.join(sorted(needed))})")
        ev.append(e)
        cx.append(x)
        roles.append(r)
        if note and (n + 1) % 50 == 0:
            note(f"ROI crops: {n + 1}/{len(data)} cases")
    return STCrops(data, ev, cx, roles)


def targets(name: str, crops: STCrops) -> tuple[np.ndarray, np.ndarray]:
    """(lesion indices the model learns from, their 0/1 targets)."""
    y = crops.labels
    if name == "DLM-1":
        return np.arange(y.size), y.astype(np.int64)
    benign = np.flatnonzero(y == 0)
    want = SUBTYPE_OF[name]
    sub = crops.subtypes
    return benign, np.array([int(sub[i] == want) for i in benign], dtype=np.int64)


class STTrainSet(torch.utils.data.Dataset):
    """Item = one mass-ROI image of one lesion, augmented, with the model's target."""

    def __init__(self, crops: STCrops, lesions: np.ndarray, y: np.ndarray, cfg: RunConfig,
                 spec: dict[str, Any], geometry: ContextGeometry) -> None:
        self.crops, self.cfg, self.spec, self.geometry = crops, cfg, spec, geometry
        self.items = [(int(i), j, float(t)) for i, t in zip(lesions, y) for j in range(len(crops.context[i]))]
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        i, j, t = self.items[index]
        rng = np.random.default_rng([self.cfg.seed, self.epoch, index])
        view = augment(self.crops.context[i][j], tuple(self.cfg.model.input_size), self.geometry, rng,
                       self.cfg.augment, int(self.spec.get("pad_value", 0)), self.spec.get("pad", "constant"))
        return {"image": torch.from_numpy(normalise(view, self.spec)), "label": torch.tensor(t)}


class STTrain(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logit": self.net(batch["image"])}


def _loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    bce = nn.functional.binary_cross_entropy_with_logits(out["logit"], batch["label"])
    return bce, {"bce": float(bce.detach())}


@torch.no_grad()
def predict(model: nn.Module, crops: STCrops, spec: dict[str, Any], device: torch.device,
            lesions: np.ndarray | None = None, batch: int = 128) -> np.ndarray:
    """Lesion probabilities: per image role the mean image probability, then the mean over roles."""
    model.eval()
    lesions = np.arange(len(crops.eval)) if lesions is None else lesions
    images = [a for i in lesions for a in crops.eval[i]]
    probs = []
    for k in range(0, len(images), batch):
        x = torch.from_numpy(normalise(np.stack(images[k:k + batch]), spec)).to(device)
        probs.append(torch.sigmoid(model(x).float()).cpu().numpy())
    p = np.concatenate(probs) if probs else np.zeros(0)
    out, pos = [], 0
    for i in lesions:
        by_role: dict[str, list[float]] = {}
        for role in crops.roles[i]:
            by_role.setdefault(role, []).append(float(p[pos]))
            pos += 1
        out.append(sum(np.mean(v) for v in by_role.values()) / len(by_role))
    return np.array(out)


def architecture(cfg: RunConfig) -> dict[str, Any]:
    return {"backbone": "convnext", "variant": cfg.model.variant, "imagenet_init": bool(cfg.model.pretrained),
            "stochastic_depth_prob": cfg.model.stochastic_depth_prob, "layer_scale": 1e-6,
            "combine": "mean_probability", "subtypes": dict(SUBTYPE_OF),
            "training_loss": "BCE, one model per output; SM-k on benign lesions only (k vs other benign)"}


def train_model(name: str, job: TaskRun, train: STCrops, internal: STCrops, ckpt: Path, *, index: int) -> StageResult:
    """Train one of DLM-1, SM-1..SM-5 (``index``: its place in model.models, which seeds it)."""
    cfg, rt, spec, geometry = job.cfg, job.rt, job.spec, job.geometry
    lesions, y = targets(name, train)
    if y.size == 0 or y.min() == y.max():
        raise UserError(f"{name}: the training cohort has {int(y.sum())} positive and {int(y.size - y.sum())} "
                        f"negative lesions for this model; both are needed (more cases, or another split)")
    torch.manual_seed(cfg.seed + 100 + index)
    arch = architecture(cfg)
    net = build_model("soft-tissue", name, arch)
    if cfg.model.pretrained:
        from ultrasound_reader.ai.networks import init_from_imagenet

        init_from_imagenet(net, allow_scratch=False)
    ds = STTrainSet(train, lesions, y, cfg, spec, geometry)
    sampler = torch.utils.data.DistributedSampler(ds, num_replicas=rt.world, rank=rt.rank, shuffle=True,
                                                  seed=cfg.seed + index)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.train.batch_size, sampler=sampler,
                                         num_workers=cfg.train.num_workers, worker_init_fn=worker_init,
                                         pin_memory=rt.device.type == "cuda")
    iv_lesions, iv_y = targets(name, internal)

    def set_epoch(epoch: int) -> None:
        ds.epoch = epoch
        sampler.set_epoch(epoch)

    def validate(model: nn.Module) -> float | None:
        from ultrasound_reader.training.fll import validation_auc

        if iv_y.size == 0:
            return None
        return validation_auc(predict(model, internal, spec, rt.device, iv_lesions), iv_y)

    stage = StageSpec(name=name, model=net, train_module=STTrain(net), loss=_loss, loader=loader,
                      n_batches=len(loader), validate=validate, epochs=cfg.train.epochs,
                      optimizer=cfg.train.optimizer, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                      schedule=cfg.train.lr_schedule, set_epoch=set_epoch)
    return run_stage(stage, rt, ckpt, select_on=cfg.train.select_on, checkpoint_every=cfg.train.checkpoint_every,
                     resume=job.resume, progress_enabled=job.progress, stop_after=job.stop)
