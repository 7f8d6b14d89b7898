"""FLL training (Yang et al. 2020): Model^L, then Model^LB; predictions as the analyzer makes them.

Model^L: ResNet-18 on lesion ROIs, BCE on benign/malignant plus the batch-hard
triplet loss on the 512-d pooled embedding, with P lesions x K ROI views per batch.
Model^LB: its lesion branch starts from the selected Model^L weights; a second
ResNet-18 on the paired liver-background ROI is supervised by the LB type (BCE on
one-hot normal / steatosis / fibrosis), and the fused 1024-d output by
benign/malignant; the lesion branch keeps its own BCE and triplet terms.

Validation, cut-offs and metrics use :func:`predict`, which aggregates exactly as
:mod:`ultrasound_reader.ai.fll` does at analysis time (mean of the image
probabilities; background ROI paired by :func:`~ultrasound_reader.ai.fll.pair_backgrounds`),
on crops cut by the same ``crop_roi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ultrasound_reader.ai.fll import pair_backgrounds
from ultrasound_reader.ai.networks import LesionBackgroundNet, LesionNet, build_model, gap
from ultrasound_reader.case import LB_TYPES
from ultrasound_reader.errors import UserError
from ultrasound_reader.training.config import RunConfig
from ultrasound_reader.training.crops import ContextGeometry, augment, case_crops, normalise
from ultrasound_reader.training.dataset import DataSet
from ultrasound_reader.training.losses import batch_hard_triplet_loss, multilabel_bce
from ultrasound_reader.training.loop import StageResult, StageSpec, run_stage
from ultrasound_reader.training.runtime import Runtime, worker_init
from ultrasound_reader.training.sampler import PKBatchSampler

if TYPE_CHECKING:
    from ultrasound_reader.training.tasks import TaskRun


@dataclass
class FLLCrops:
    """Crops of one cohort, per lesion: lesion and background ROIs, eval and context versions."""

    data: DataSet
    lesion_eval: list[np.ndarray]  # (n_i, C, H, W) uint8
    lesion_ctx: list[np.ndarray]
    bg_eval: list[np.ndarray]  # (m_i, C, H, W) uint8, m_i may be 0
    bg_ctx: list[np.ndarray]
    pairs: list[list[int]]  # background index paired with each lesion ROI

    @property
    def labels(self) -> np.ndarray:
        return self.data.labels

    def subset(self, index: Any) -> FLLCrops:
        pick = lambda xs: [xs[i] for i in index]  # noqa: E731
        return FLLCrops(self.data.subset(index), pick(self.lesion_eval), pick(self.lesion_ctx), pick(self.bg_eval),
                        pick(self.bg_ctx), pick(self.pairs))

    @property
    def has_background(self) -> np.ndarray:
        return np.array([x.shape[0] > 0 for x in self.bg_eval], dtype=bool)

    @property
    def lb_index(self) -> np.ndarray:
        return np.array([LB_TYPES.index(s.truth.lb_type) if s.truth.lb_type in LB_TYPES else -1
                         for s in self.data.samples], dtype=np.int64)


def prepare(data: DataSet, spec: dict[str, Any], geometry: ContextGeometry, cache: Path | None,
            note: Any = None) -> FLLCrops:
    """Cut (or load from the cache) the crops of every lesion of ``data``."""
    le, lc, be, bc, pairs = [], [], [], [], []
    for n, s in enumerate(data.samples):
        c = case_crops(s.case, spec, geometry, cache)
        lesions, backgrounds = c.rois.get("lesion", []), c.rois.get("background", [])
        if not lesions:
            raise UserError(f"case {s.case.case_id}: no lesion ROI (a training case needs 1-4)")
        le.append(np.stack(c.eval["lesion"]))
        lc.append(np.stack(c.context["lesion"]))
        be.append(np.stack(c.eval["background"]) if backgrounds else np.zeros((0,) + le[-1].shape[1:], np.uint8))
        bc.append(np.stack(c.context["background"]) if backgrounds else np.zeros((0,) + lc[-1].shape[1:], np.uint8))
        pairs.append(pair_backgrounds(lesions, backgrounds) if backgrounds else [])
        if note and (n + 1) % 50 == 0:
            note(f"ROI crops: {n + 1}/{len(data)} cases")
    return FLLCrops(data, le, lc, be, bc, pairs)


class FLLTrainSet(torch.utils.data.Dataset):
    """Item = one lesion: K augmented lesion views (+ their paired background views), label, LB type.

    The K views are the lesion's ROIs in a random order, repeated when it has fewer
    than K. Randomness comes from a generator seeded by (seed, epoch, index), so
    the batches do not depend on the number of loader workers. With backgrounds
    (Model^LB) only lesions that have a liver-background ROI take part, as only they
    get an LB output at analysis time.
    """

    def __init__(self, crops: FLLCrops, cfg: RunConfig, spec: dict[str, Any], geometry: ContextGeometry,
                 with_background: bool) -> None:
        self.c, self.cfg, self.spec, self.geometry = crops, cfg, spec, geometry
        self.k = cfg.model.images_per_lesion
        self.with_background = with_background
        self.members = np.flatnonzero(crops.has_background) if with_background else np.arange(len(crops.lesion_ctx))
        self.labels = crops.labels[self.members].astype(np.float32)
        self.lb = crops.lb_index[self.members]
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.members)

    def _view(self, ctx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment(ctx, tuple(self.cfg.model.input_size), self.geometry, rng, self.cfg.augment,
                       int(self.spec.get("pad_value", 0)), self.spec.get("pad", "constant"))

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.cfg.seed, self.epoch, index])
        lesion_no = int(self.members[index])
        n = self.c.lesion_ctx[lesion_no].shape[0]
        order = np.concatenate([rng.permutation(n) for _ in range(-(-self.k // n))])[: self.k]
        lesion = np.stack([self._view(self.c.lesion_ctx[lesion_no][j], rng) for j in order])
        item: dict[str, Any] = {
            "lesion": torch.from_numpy(normalise(lesion, self.spec)),
            "label": torch.tensor(self.labels[index]).repeat(self.k),
            "lesion_id": torch.full((self.k,), lesion_no, dtype=torch.int64),
        }
        if self.with_background:
            pair = self.c.pairs[lesion_no]
            bg = np.stack([self._view(self.c.bg_ctx[lesion_no][pair[j]], rng) for j in order])
            item["background"] = torch.from_numpy(normalise(bg, self.spec))
            item["lb"] = torch.full((self.k,), int(self.lb[index]), dtype=torch.int64)
        return item


def _flatten(batch: dict[str, Any]) -> dict[str, Any]:
    # (P, K, ...) -> (P*K, ...): the loss sees images, the sampler thinks in lesions.
    return {k: v.flatten(0, 1) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class LTrain(nn.Module):
    """Model^L for training: image -> (logit, pooled embedding)."""

    def __init__(self, net: LesionNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pooled = gap(self.net.trunk(batch["lesion"]))
        return {"logit": self.net.head(pooled)[:, 0], "embedding": pooled}


class LBTrain(nn.Module):
    """Model^LB for training: (lesion, background) -> lesion logit, embedding, fused logit, LB logits."""

    def __init__(self, net: LesionBackgroundNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pl = gap(self.net.lesion.trunk(batch["lesion"]))
        pb = gap(self.net.background(batch["background"]))
        return {"logit": self.net.lesion.head(pl)[:, 0], "embedding": pl, "fused": self.net.fuse(pl, pb),
                "lb_logits": self.net.lb_head(pb)}


def _triplet(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], cfg: RunConfig) -> torch.Tensor:
    emb = out["embedding"]
    emb = nn.functional.normalize(emb, dim=1) if cfg.train.triplet_normalize else emb
    labels = batch["lesion_id"] if cfg.train.triplet_labels == "lesion" else batch["label"].long()
    return batch_hard_triplet_loss(emb, labels, cfg.train.triplet_margin)


def loss_l(cfg: RunConfig):
    def f(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        bce = nn.functional.binary_cross_entropy_with_logits(out["logit"], batch["label"])
        trip = _triplet(out, batch, cfg)
        return bce + cfg.train.triplet_weight * trip, {"bce": float(bce.detach()), "triplet": float(trip.detach())}
    return f


def loss_lb(cfg: RunConfig):
    def f(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        y = batch["label"]
        bce_l = nn.functional.binary_cross_entropy_with_logits(out["logit"], y)
        bce_f = nn.functional.binary_cross_entropy_with_logits(out["fused"], y)
        lb = multilabel_bce(out["lb_logits"], batch["lb"], len(LB_TYPES))
        trip = _triplet(out, batch, cfg)
        loss = bce_f + bce_l + cfg.train.triplet_weight * trip + cfg.train.lb_weight * lb
        return loss, {k: float(v.detach()) for k, v in (("bce_fused", bce_f), ("bce_lesion", bce_l), ("lb", lb), ("triplet", trip))}
    return f


# -- prediction, as ai.fll computes it ---------------------------------------------------
@torch.no_grad()
def _logits(fn, images: list[np.ndarray], spec: dict[str, Any], device: torch.device, batch: int = 128) -> np.ndarray:
    flat = np.concatenate(images) if images else np.zeros((0,))
    out = []
    for i in range(0, len(flat), batch):
        x = torch.from_numpy(normalise(flat[i:i + batch], spec)).to(device)
        out.append(fn(x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0,))


@torch.no_grad()
def predict(model: nn.Module, name: str, crops: FLLCrops, spec: dict[str, Any],
            device: torch.device) -> dict[str, Any]:
    """Lesion-level probabilities (mean of image probabilities) of Model^L or Model^LB.

    For LB also the mean LB-type probabilities per lesion (sigmoid, as trained); NaN
    for lesions without a background ROI.
    """
    model.eval()
    sizes = [x.shape[0] for x in crops.lesion_eval]
    split = np.cumsum(sizes)[:-1]
    if name == "L":
        logit = _logits(lambda x: model(x), crops.lesion_eval, spec, device)
        probs = [float(np.mean(1 / (1 + np.exp(-v)))) for v in np.split(logit, split)]
        return {"prob": np.array(probs)}
    net: LesionBackgroundNet = model  # type: ignore[assignment]
    pl = _logits(lambda x: gap(net.lesion.trunk(x)), crops.lesion_eval, spec, device)
    pb = _logits(lambda x: gap(net.background(x)), crops.bg_eval, spec, device)
    bsizes = [x.shape[0] for x in crops.bg_eval]
    pb_split = np.split(pb, np.cumsum(bsizes)[:-1])
    probs, lbt = [], []
    for i, lesion_feats in enumerate(np.split(pl, split)):
        if not bsizes[i]:  # no background ROI: the analyzer computes no LB either
            probs.append(float("nan"))
            lbt.append(np.full(len(LB_TYPES), np.nan))
            continue
        bgf = pb_split[i][crops.pairs[i]]
        fused = net.fuse(torch.from_numpy(lesion_feats).to(device), torch.from_numpy(bgf).to(device))
        probs.append(float(torch.sigmoid(fused.float()).mean()))
        lbt.append(torch.sigmoid(net.lb_head(torch.from_numpy(pb_split[i]).to(device)).float()).mean(0).cpu().numpy())
    return {"prob": np.array(probs), "lb_type_prob": np.stack(lbt)}


def validation_auc(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """AUC for model selection; None when the cohort lacks a class."""
    from ultrasound_reader.stats.roc import roc_auc

    ok = ~np.isnan(probs)
    if len(np.unique(labels[ok])) < 2:
        return None
    return float(roc_auc(labels[ok], probs[ok]))


# -- the two stages ----------------------------------------------------------------------
def _loader(ds: FLLTrainSet, cfg: RunConfig, rt: Runtime) -> tuple[Any, PKBatchSampler]:
    sampler = PKBatchSampler(ds.labels.astype(np.int64), cfg.train.batch_lesions, seed=cfg.seed, rank=rt.rank, world=rt.world)
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=sampler, num_workers=cfg.train.num_workers, worker_init_fn=worker_init,
        pin_memory=rt.device.type == "cuda")
    return loader, sampler


class _Flat:
    """Iterate a loader yielding (P, K, ...) batches as (P*K, ...) batches."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __iter__(self):
        return (_flatten(b) for b in self.loader)


def train_stage(name: str, job: TaskRun, train: FLLCrops, internal: FLLCrops, ckpt: Path, *,
                init_from: dict[str, torch.Tensor] | None = None) -> StageResult:
    """Train Model^L (``name = "L"``) or Model^LB (``"LB"``, lesion branch from ``init_from``)."""
    cfg, rt, spec, geometry = job.cfg, job.rt, job.spec, job.geometry
    arch = architecture(cfg)
    torch.manual_seed(cfg.seed + (0 if name == "L" else 1))  # same init for a fresh and a resumed run
    net = build_model("liver-fll", name, arch)
    if cfg.model.pretrained:
        from ultrasound_reader.ai.networks import init_from_imagenet

        init_from_imagenet(net, allow_scratch=False)
    if name == "LB" and init_from is not None:
        net.lesion.load_state_dict(init_from)
    ds = FLLTrainSet(train, cfg, spec, geometry, with_background=name == "LB")
    loader, sampler = _loader(ds, cfg, rt)

    def set_epoch(epoch: int) -> None:
        ds.epoch = epoch
        sampler.set_epoch(epoch)

    def validate(model: nn.Module) -> float | None:
        return validation_auc(predict(model, name, internal, spec, rt.device)["prob"], internal.labels)

    stage = StageSpec(
        name=name, model=net, train_module=LTrain(net) if name == "L" else LBTrain(net),
        loss=loss_l(cfg) if name == "L" else loss_lb(cfg), loader=_Flat(loader), n_batches=len(sampler),
        validate=validate, epochs=cfg.train.epochs if name == "L" else cfg.train.lb_epochs,
        optimizer=cfg.train.optimizer,
        lr=cfg.train.lr if name == "L" or cfg.train.lb_lr is None else cfg.train.lb_lr,
        weight_decay=cfg.train.weight_decay,
        schedule=cfg.train.lr_schedule, set_epoch=set_epoch)
    return run_stage(stage, rt, ckpt, select_on=cfg.train.select_on, checkpoint_every=cfg.train.checkpoint_every,
                     resume=job.resume, progress_enabled=job.progress, stop_after=job.stop)


def architecture(cfg: RunConfig) -> dict[str, Any]:
    """The manifest's architecture section for this config."""
    return {"backbone": "resnet18", "imagenet_init": bool(cfg.model.pretrained), "dropout": cfg.model.dropout,
            "lb_types": list(LB_TYPES), "lb_activation": "sigmoid",
            "training_losses": {"L": "BCE + batch-hard triplet", "LB": "BCE (fused) + BCE (lesion) + batch-hard "
                                "triplet (lesion) + BCE on one-hot LB type"}}
