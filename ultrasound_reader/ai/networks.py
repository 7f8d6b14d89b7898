"""The published networks, built from a bundle manifest's ``architecture`` section.

Every network is split into a convolutional *trunk* (whose last feature map is what
Grad-CAM explains) and a *head* that starts with global average pooling. Keeping
that split explicit is what makes the fast Grad-CAM exact: after GAP, the Grad-CAM
channel weights are the gradient of the output with respect to the pooled features
divided by the map size, so only the head needs a backward pass (see gradcam.py).

* FLL Model^L (Yang et al. 2020): torchvision ResNet-18 trunk, head dropout ->
  BatchNorm1d(512) -> Linear(512, 1); the 512-d pooled embedding is what the
  batch-hard triplet loss is applied to during training.
* FLL Model^LB: a lesion branch and a liver-background (LB) branch, each a ResNet-18
  trunk with its own weights; pooled features concatenated (1024-d) -> Linear(1024, 1)
  for benign/malignant, plus the LB branch's own head for the LB type (normal /
  steatosis / fibrosis).
* Soft tissue DLM-1 and SM-1..SM-5 (Long et al. 2023): torchvision ConvNeXt (a named
  variant, e.g. ``tiny``, or an explicit block setting) with the classifier's final
  Linear replaced by a single logit.

torch is imported here at module level: this module is only imported lazily, by
the analysis pipelines and training, never at GUI start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

from ultrasound_reader.case import LB_TYPES
from ultrasound_reader.errors import UserError

log = logging.getLogger(__name__)

EMBED_DIM = 512  # ResNet-18's last stage width

# Named ConvNeXt block settings: (input channels, output channels or None, blocks).
# "tiny" is torchvision's convnext_tiny (the paper's family); "small-demo" and "micro"
# are reduced configurations of the same architecture for a small demo bundle and
# for fast tests. A manifest may also give its own "block_setting".
CONVNEXT_VARIANTS: dict[str, list[tuple[int, int | None, int]]] = {
    "tiny": [(96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)],
    "small-demo": [(32, 64, 2), (64, 128, 2), (128, 256, 4), (256, None, 2)],
    "micro": [(8, 16, 1), (16, 32, 1), (32, 64, 1), (64, None, 1)],
}


# -- trunks ---------------------------------------------------------------------------
class ResNetTrunk(nn.Module):
    """torchvision ResNet-18 without its pooling and FC: image -> (B, 512, h, w)."""

    def __init__(self) -> None:
        super().__init__()
        r = torchvision.models.resnet18(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4
        self.out_channels = EMBED_DIM

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ConvNeXtTrunk(nn.Module):
    """torchvision ConvNeXt ``features``: image -> (B, C, h, w) of the last stage."""

    def __init__(self, features: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.features = features
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


# -- heads (take pooled features) -----------------------------------------------------
class BinaryHead(nn.Module):
    """Model^L head: dropout -> BatchNorm1d(512) -> Linear(512, n_out)."""

    def __init__(self, dim: int = EMBED_DIM, n_out: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.bn = nn.BatchNorm1d(dim)
        self.fc = nn.Linear(dim, n_out)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.fc(self.bn(self.dropout(pooled)))


class ConvNeXtHead(nn.Module):
    """torchvision's ConvNeXt classifier (LayerNorm2d -> Flatten -> Linear) with one logit."""

    def __init__(self, norm: nn.Module, dim: int) -> None:
        super().__init__()
        self.norm = norm
        self.fc = nn.Linear(dim, 1)
        nn.init.trunc_normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.fc(self.norm(pooled[:, :, None, None]).flatten(1))


def gap(fmap: Tensor) -> Tensor:
    """Global average pooling (B, C, h, w) -> (B, C)."""
    return fmap.mean(dim=(2, 3))


# -- models ---------------------------------------------------------------------------
class LesionNet(nn.Module):
    """FLL Model^L: one logit per lesion-ROI image (benign 0 / malignant 1)."""

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__()
        self.trunk = ResNetTrunk()
        self.head = BinaryHead(EMBED_DIM, 1, dropout)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last convolutional feature map (B, 512, h, w), which Grad-CAM explains."""
        return self.trunk(x)

    def embedding(self, x: Tensor) -> Tensor:
        """The 512-d pooled embedding (input of the triplet loss)."""
        return gap(self.trunk(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(gap(self.trunk(x)))[:, 0]


class LesionBackgroundNet(nn.Module):
    """FLL Model^LB: lesion branch + liver-background branch, fused by Linear(1024, 1).

    ``forward(lesion, background)`` returns ``(fused logit (B,), LB-type logits (B, 3))``.
    The background branch's own head (dropout -> BN -> Linear(512, 3)) is supervised
    by the LB type; the fused output and (during training) the lesion branch by
    benign/malignant.
    """

    def __init__(self, dropout: float = 0.5, n_lb_types: int = 3) -> None:
        super().__init__()
        self.lesion = LesionNet(dropout)
        self.background = ResNetTrunk()
        self.lb_head = BinaryHead(EMBED_DIM, n_lb_types, dropout)
        self.fusion = nn.Linear(2 * EMBED_DIM, 1)

    def fuse(self, pooled_lesion: Tensor, pooled_background: Tensor) -> Tensor:
        """Fused benign/malignant logit from the two pooled 512-d features."""
        return self.fusion(torch.cat([pooled_lesion, pooled_background], dim=1))[:, 0]

    def forward(self, lesion: Tensor, background: Tensor) -> tuple[Tensor, Tensor]:
        pl, pb = gap(self.lesion.trunk(lesion)), gap(self.background(background))
        return self.fuse(pl, pb), self.lb_head(pb)


class ConvNeXtClassifier(nn.Module):
    """Soft tissue DLM-1 / SM-k: ConvNeXt with the classifier's Linear replaced by one logit."""

    def __init__(self, block_setting: list[tuple[int, int | None, int]], stochastic_depth_prob: float = 0.0,
                 layer_scale: float = 1e-6) -> None:
        super().__init__()
        cfg = [CNBlockConfig(i, o, n) for i, o, n in block_setting]
        net = ConvNeXt(cfg, stochastic_depth_prob=stochastic_depth_prob, layer_scale=layer_scale, num_classes=1)
        last = block_setting[-1]
        dim = last[1] if last[1] is not None else last[0]
        self.trunk = ConvNeXtTrunk(net.features, dim)
        self.head = ConvNeXtHead(net.classifier[0], dim)  # torchvision's LayerNorm2d, then our Linear

    def feature_map(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(gap(self.trunk(x)))[:, 0]


# -- construction from a manifest -----------------------------------------------------
def convnext_block_setting(arch: dict[str, Any]) -> list[tuple[int, int | None, int]]:
    """The ConvNeXt block setting a manifest's architecture names (variant or explicit)."""
    if "block_setting" in arch:
        return [(int(i), None if o is None else int(o), int(n)) for i, o, n in arch["block_setting"]]
    variant = arch.get("variant", "tiny")
    if variant not in CONVNEXT_VARIANTS:
        raise UserError(f"architecture: unknown ConvNeXt variant {variant!r} "
                        f"(known: {', '.join(CONVNEXT_VARIANTS)}; or give block_setting)")
    return CONVNEXT_VARIANTS[variant]


def build_model(task: str, name: str, arch: dict[str, Any]) -> nn.Module:
    """A freshly initialised network ``name`` ("L", "LB", "DLM-1", "SM-3", ...) of ``task``."""
    if task == "liver-fll":
        dropout = float(arch.get("dropout", 0.5))
        if name == "L":
            return LesionNet(dropout)
        if name == "LB":
            return LesionBackgroundNet(dropout, len(arch.get("lb_types", LB_TYPES)))
    elif task == "soft-tissue" and (name == "DLM-1" or name.startswith("SM-")):
        return ConvNeXtClassifier(convnext_block_setting(arch), float(arch.get("stochastic_depth_prob", 0.0)),
                                  float(arch.get("layer_scale", 1e-6)))
    raise UserError(f"architecture: no network {name!r} for task {task!r}")


# -- ImageNet initialisation ----------------------------------------------------------
def _imagenet_weights(kind: str) -> Any:
    if kind == "resnet18":
        return torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    if kind == "convnext_tiny":
        return torchvision.models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1
    raise UserError(f"no ImageNet weights are published for backbone {kind!r}")


def imagenet_cache_path(kind: str) -> Path:
    """Where torch hub keeps torchvision's ImageNet weights for ``kind`` (may not exist)."""
    url = _imagenet_weights(kind).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def init_from_imagenet(model: nn.Module, *, allow_scratch: bool = False) -> bool:
    """Copy torchvision's ImageNet weights into the model's trunk(s), from the local cache only.

    Never downloads. When the weights are not cached: raise a UserError that says so,
    or, with ``allow_scratch``, log it plainly and keep the random initialisation.
    Returns True when ImageNet weights were used.
    """
    trunks: list[tuple[str, nn.Module]] = []
    for mod_name, mod in model.named_modules():
        if isinstance(mod, ResNetTrunk):
            trunks.append(("resnet18", mod))
        elif isinstance(mod, ConvNeXtTrunk):
            trunks.append(("convnext_tiny", mod))
    used = False
    for kind, trunk in trunks:
        path = imagenet_cache_path(kind)
        if not path.is_file():
            msg = (f"ImageNet weights for {kind} are not in the torch hub cache ({path}); "
                   "this program never downloads them")
            if not allow_scratch:
                raise UserError(msg + " - put the file there or train from scratch explicitly")
            log.warning("%s; training from random initialisation as asked", msg)
            continue
        # torchvision's own checkpoint: a plain tensor dict, loaded without unpickling code.
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(trunk, ConvNeXtTrunk):
            state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
            try:
                trunk.features.load_state_dict(state)
            except RuntimeError as exc:
                raise UserError(f"ImageNet weights are for convnext_tiny; this ConvNeXt variant differs ({exc})") from None
        else:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            trunk.load_state_dict(state)
        used = True
    return used
