"""Grad-CAM: the head-only maps equal textbook autograd Grad-CAM, and they localise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ultrasound_reader.ai.gradcam import (autograd_cam, blend, cam_from_pooled_grad, head_gradients, normalise,
                                         overlay_rgba)
from ultrasound_reader.ai.inference import cam_maps, pooled, trunk_forward
from ultrasound_reader.ai.networks import ConvNeXtClassifier, LesionBackgroundNet, LesionNet, CONVNEXT_VARIANTS
from ultrasound_reader.ai.preprocess import crop_roi
from ultrasound_reader.case import CamMap, Roi

TOL = 1e-5


def _randomise_bn(model: nn.Module, seed: int) -> None:
    """Non-trivial running statistics, so the head is not close to the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _compare(fast: torch.Tensor, ref: torch.Tensor) -> None:
    assert fast.shape == ref.shape
    assert float(ref.max()) > 0  # a map that is all zero would prove nothing
    scale = float(ref.abs().max())
    assert float((fast - ref).abs().max()) <= TOL * scale
    np.testing.assert_allclose(normalise(fast.numpy()), normalise(ref.numpy()), atol=TOL)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_head_only_equals_autograd_resnet(method: str) -> None:
    torch.manual_seed(0)
    net = LesionNet().eval()
    _randomise_bn(net, 0)
    x = torch.randn(3, 3, 96, 96)
    head = lambda p: net.head(p)[:, 0]  # noqa: E731
    with torch.no_grad():
        fmap = net.trunk(x)
    out, (g,) = head_gradients(head, [pooled(fmap)])
    fast = cam_from_pooled_grad(fmap, g, method)
    if method == "gradcam":
        ref_out, ref = autograd_cam(net.trunk, lambda f: head(f.mean((2, 3))), x)
    else:
        # Grad-CAM++ from the full per-position gradients (Chattopadhay et al., exp approximation).
        xx = x.clone().requires_grad_(True)
        f = net.trunk(xx)
        f.retain_grad()
        ref_out = head(f.mean((2, 3)))
        ref_out.sum().backward()
        gr = f.grad
        alpha = gr**2 / (2 * gr**2 + f.sum((2, 3), keepdim=True) * gr**3)
        alpha = torch.where(torch.isfinite(alpha), alpha, torch.zeros_like(alpha))
        w = (alpha * torch.relu(gr)).sum((2, 3))
        ref = torch.relu(torch.einsum("bk,bkhw->bhw", w, f)).detach()
    torch.testing.assert_close(out, ref_out.detach(), atol=1e-5, rtol=1e-5)
    _compare(fast, ref)


def test_head_only_equals_autograd_lb_both_branches() -> None:
    torch.manual_seed(1)
    net = LesionBackgroundNet().eval()
    _randomise_bn(net, 1)
    xl, xb = torch.randn(3, 3, 96, 96), torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        fl, fb = net.lesion.trunk(xl), net.background(xb)
    out, (gl, gb) = head_gradients(net.fuse, [pooled(fl), pooled(fb)])
    # Textbook: one graph through both trunks and the fusion layer.
    al, ab = net.lesion.trunk(xl.requires_grad_(True)), net.background(xb.requires_grad_(True))
    al.retain_grad()
    ab.retain_grad()
    ref_out = net.fuse(al.mean((2, 3)), ab.mean((2, 3)))
    ref_out.sum().backward()
    torch.testing.assert_close(out, ref_out.detach(), atol=1e-5, rtol=1e-5)
    for fmap, grad, a in ((fl, gl, al), (fb, gb, ab)):
        ref = torch.relu((a.grad.mean((2, 3))[:, :, None, None] * a).sum(1)).detach()
        _compare(cam_from_pooled_grad(fmap, grad), ref)


def test_head_only_equals_autograd_convnext() -> None:
    torch.manual_seed(2)
    net = ConvNeXtClassifier(CONVNEXT_VARIANTS["micro"]).eval()
    x = torch.randn(2, 3, 56, 94)
    head = lambda p: net.head(p)[:, 0]  # noqa: E731
    with torch.no_grad():
        fmap = net.trunk(x)
    out, (g,) = head_gradients(head, [pooled(fmap)])
    ref_out, ref = autograd_cam(net.trunk, lambda f: head(f.mean((2, 3))), x)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    _compare(cam_from_pooled_grad(fmap, g), ref)


class _TinyNet(nn.Module):
    """A small fully convolutional net with GAP + linear head, like the real ones."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1, stride=2),
                                   nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x).mean((2, 3)))[:, 0]


SPEC = {"width": 32, "height": 32, "mean": [0.5] * 3, "std": [0.25] * 3, "color": {"bmode": "gray3"}}


def _scene(rng: np.random.Generator, square: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """100x100 speckle with, inside the ROI box (20..83, 30..93), maybe a bright 12x12 square."""
    img = np.clip(rng.normal(70, 20, (100, 100)), 0, 255).astype(np.uint8)
    x, y = int(rng.integers(22, 70)), int(rng.integers(32, 80))
    if square:
        img[y: y + 12, x: x + 12] = 240
    return img, (x, y)


ROI = Roi("lesion", "rectangle", [(20, 30), (83, 93)], id="box")


def test_cam_peaks_on_the_bright_square() -> None:
    """Train a tiny net to detect a bright square; its Grad-CAM, mapped into the image, peaks on it."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = _TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        labels = rng.integers(0, 2, 32)
        x = torch.from_numpy(np.stack([crop_roi(_scene(rng, bool(k))[0], ROI, SPEC).pixels for k in labels]))
        loss = nn.functional.binary_cross_entropy_with_logits(net(x), torch.from_numpy(labels).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    hits, n = 0, 30
    scenes = [_scene(rng, True) for _ in range(n)]
    crops = [crop_roi(img, ROI, SPEC) for img, _ in scenes]
    fmap = trunk_forward(net.trunk, crops)
    out, (g,) = head_gradients(lambda p: net.head(p)[:, 0], [pooled(fmap)])
    assert float(torch.sigmoid(out).mean()) > 0.9  # it did learn the square
    maps = cam_maps(fmap, g, crops, [ROI] * n, "tiny")
    for cam, (_, (x, y)) in zip(maps, scenes):
        assert cam.bbox == (20, 30, 84, 94) and cam.heat.shape == (64, 64)
        py, px = np.unravel_index(int(cam.heat.argmax()), cam.heat.shape)
        px, py = px + cam.bbox[0], py + cam.bbox[1]  # back to image pixels
        hits += (x - 3 <= px < x + 15) and (y - 3 <= py < y + 15)
    assert hits >= 0.9 * n


def test_overlay_places_maps_in_the_full_image() -> None:
    heat = np.zeros((10, 20), np.float32)
    heat[5, 15] = 1.0
    cam = CamMap("r", "L", 0, 0, (30, 40, 50, 50), heat)
    rgba = overlay_rgba([cam], 100, 120, opacity=0.8)
    assert rgba.shape == (100, 120, 4) and rgba.dtype == np.uint8
    assert rgba[:40, :, 3].max() == 0 and rgba[:, :30, 3].max() == 0  # nothing outside the box
    assert np.unravel_index(int(rgba[:, :, 3].argmax()), (100, 120)) == (45, 45)
    assert rgba[45, 45, 3] == round(0.8 * 255)
    assert tuple(rgba[45, 45, :3]) == (128, 0, 0) or rgba[45, 45, 0] > rgba[45, 45, 2]  # hot end of jet is red
    # A map partly outside the image keeps its in-image part, in place.
    edge = overlay_rgba([CamMap("e", "L", 0, 0, (-5, -5, 5, 5), np.eye(10, dtype=np.float32))], 20, 20)
    assert edge[0, 0, 3] > 0 and edge[1, 0, 3] == 0 and edge[4, 4, 3] > 0 and edge[5, 5, 3] == 0
    out = blend(np.full((100, 120), 50, np.uint8), rgba)
    assert out.shape == (100, 120, 3) and (out[0, 0] == 50).all() and out[45, 45, 0] > 50

