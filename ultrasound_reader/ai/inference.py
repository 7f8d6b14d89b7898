"""Batched trunk forward passes and Grad-CAM maps placed back on the image.

Trunks run without autograd (no graph is kept for the convolutions); each head then
runs on the pooled features with a backward through the head alone, which gives the
outputs and the exact Grad-CAM channel weights (gradcam.py) for the whole batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ultrasound_reader.ai.gradcam import cam_from_pooled_grad, normalise
from ultrasound_reader.ai.networks import gap as pooled  # noqa: F401 - the one global average pooling
from ultrasound_reader.ai.preprocess import Crop, map_to_box, stack
from ultrasound_reader.case import CamMap, Roi


def trunk_forward(trunk: nn.Module, crops: list[Crop]) -> Tensor:
    """(N, C, h, w) last feature map of the crops, one batch, no autograd graph.

    The batch goes in channels-last, as the bundle's networks are stored in memory
    (oneDNN's depthwise and 1x1 convolutions of ConvNeXt run ~2x faster that way on CPU).
    """
    x = torch.from_numpy(stack(crops)).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return trunk(x)


def cam_maps(fmap: Tensor, pooled_grad: Tensor, crops: list[Crop], rois: list[Roi], model: str,
             method: str = "gradcam") -> list[CamMap]:
    """One CamMap per crop: Grad-CAM at feature resolution, normalised, resized to the ROI box."""
    raw = cam_from_pooled_grad(fmap, pooled_grad, method).numpy()
    out = []
    for heat, crop, roi in zip(normalise(raw), crops, rois):
        bbox, full = map_to_box(heat, crop)
        out.append(CamMap(roi_id=roi.id, model=model, image=roi.image, frame=roi.frame, bbox=bbox,
                          heat=np.clip(full, 0.0, 1.0).astype(np.float32)))
    return out
