"""The LBC fusion spec and the network shapes/contracts."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from ultrasound_reader.ai import fusion as F
from ultrasound_reader.ai.networks import (CONVNEXT_VARIANTS, ConvNeXtClassifier, LesionBackgroundNet, LesionNet,
                                           build_model, imagenet_cache_path, init_from_imagenet)
from ultrasound_reader.case import ClinicalFactors
from ultrasound_reader.errors import UserError

SPEC = {
    "model": "LBC",
    "intercept": -1.5,
    "terms": [
        {"name": "LB", "source": "model", "model": "LB", "encoding": "logit", "coef": 0.8},
        {"name": "male", "source": "factor", "field": "sex", "encoding": "equals", "value": "M", "coef": 0.5},
        {"name": "age>=55", "source": "factor", "field": "age", "encoding": "at_least", "value": 55, "coef": 1.2},
        {"name": "HBV", "source": "factor", "field": "hepatitis", "encoding": "equals", "value": 1, "coef": 2.0},
        {"name": "HCV", "source": "factor", "field": "hepatitis", "encoding": "equals", "value": 2, "coef": 1.0},
        {"name": "age", "source": "factor", "field": "age", "encoding": "linear", "center": 50, "scale": 10,
         "coef": 0.1},
        {"name": "AFP>200", "source": "factor", "field": "afp_high", "encoding": "boolean", "coef": 0.7},
    ],
}


def test_fused_probability_by_hand() -> None:
    f = ClinicalFactors(age=60, sex="F", hepatitis=2, afp=350)
    p, values, missing = F.fused_probability(SPEC, f, {"LB": 0.7})
    assert missing == []
    assert values == {"LB": pytest.approx(math.log(0.7 / 0.3)), "male": 0.0, "age>=55": 1.0, "HBV": 0.0,
                      "HCV": 1.0, "age": 1.0, "AFP>200": 1.0}
    z = -1.5 + 0.8 * math.log(0.7 / 0.3) + 1.2 + 1.0 + 0.1 + 0.7
    assert p == pytest.approx(1 / (1 + math.exp(-z)))


def test_missing_inputs_are_reported_not_imputed() -> None:
    p, _, missing = F.fused_probability(SPEC, ClinicalFactors(age=40), {})
    assert p is None and missing == ["LB", "sex", "hepatitis", "afp_high"]
    assert F.required_factors(SPEC) == ["sex", "age", "hepatitis", "afp_high"]


def test_published_coefficients_are_the_papers_odds_ratios() -> None:
    ors = {t["name"]: math.exp(t["coef"]) for t in F.PUBLISHED_FLL_FUSION["terms"] if t["source"] == "factor"}
    assert ors == pytest.approx({"hypoechoic halo": 18.4, "extrahepatic tumour history": 16.2,
                                 "hepatitis history": 11.7, "age >= 55": 3.3, "male": 2.3,
                                 "intratumoural vascularity": 1.9}, rel=1e-3)


def test_lesion_net_exposes_embedding_and_feature_map() -> None:
    net = LesionNet().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert net.feature_map(x).shape == (2, 512, 2, 2)
        assert net.embedding(x).shape == (2, 512)
        assert net(x).shape == (2,)
    h = net.head
    assert isinstance(h.dropout, torch.nn.Dropout) and h.bn.num_features == 512
    assert (h.fc.in_features, h.fc.out_features) == (512, 1)


def test_lb_net_two_branches_fused_by_1024_linear() -> None:
    net = LesionBackgroundNet().eval()
    assert (net.fusion.in_features, net.fusion.out_features) == (1024, 1)
    assert net.lb_head.fc.out_features == 3
    assert net.lesion.trunk.conv1.weight.data_ptr() != net.background.conv1.weight.data_ptr()  # own weights
    with torch.no_grad():
        fused, lb = net(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64))
    assert fused.shape == (2,) and lb.shape == (2, 3)


def test_convnext_variants_and_explicit_block_setting() -> None:
    tiny = build_model("soft-tissue", "DLM-1", {"variant": "tiny"})
    n_tiny = sum(p.numel() for p in tiny.parameters())
    assert 27e6 < n_tiny < 29e6  # torchvision convnext_tiny is 28.6 M with 1000 classes; ours has 1 output
    custom = build_model("soft-tissue", "SM-2", {"block_setting": [[8, 16, 1], [16, None, 1]]})
    with torch.no_grad():
        assert custom(torch.randn(1, 3, 56, 94)).shape == (1,)
    assert isinstance(custom, ConvNeXtClassifier) and custom.trunk.out_channels == 16
    with pytest.raises(UserError, match="unknown ConvNeXt variant"):
        build_model("soft-tissue", "DLM-1", {"variant": "huge"})
    with pytest.raises(UserError, match="no network"):
        build_model("liver-fll", "DLM-1", {})
    assert CONVNEXT_VARIANTS["tiny"][2] == (384, 768, 9)


def test_imagenet_init_never_downloads(tmp_path) -> None:
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))  # an empty hub cache
    try:
        assert not imagenet_cache_path("resnet18").exists()
        net = LesionNet()
        before = net.trunk.conv1.weight.clone()
        with pytest.raises(UserError, match="not in the torch hub cache.*never downloads"):
            init_from_imagenet(net)
        assert init_from_imagenet(net, allow_scratch=True) is False
        assert torch.equal(before, net.trunk.conv1.weight)
        # With the file in the cache it is used (here: a stand-in with torchvision's key names).
        import torchvision

        ref = torchvision.models.resnet18(weights=None).state_dict()
        path = imagenet_cache_path("resnet18")
        path.parent.mkdir(parents=True)
        torch.save(ref, path)
        assert init_from_imagenet(net) is True
        assert torch.equal(net.trunk.conv1.weight, ref["conv1.weight"])
    finally:
        torch.hub.set_dir(old)


def test_importing_the_ai_package_does_not_import_torch() -> None:
    code = ("import sys, ultrasound_reader.ai as ai, ultrasound_reader.ai.bundle, ultrasound_reader.ai.analyzer,"
            " ultrasound_reader.ai.cli, ultrasound_reader.ai.fusion; from ultrasound_reader.ai.gradcam import"
            " overlay_rgba, colorize; colorize(__import__('numpy').zeros((2, 2)), 'jet'); assert 'torch' not in sys.modules, 'torch imported';"
            " ai.load_bundle; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
