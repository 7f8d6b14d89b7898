"""Manifests are untrusted: every number finite and in range, parsing bounded, refusals one line."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader.ai import bundle as B
from ultrasound_reader.ai.manifest import validate
from ultrasound_reader.errors import UserError


@pytest.fixture
def soft_copy(soft_bundle_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "soft"
    shutil.copytree(soft_bundle_dir, dst)
    return dst


def _patch(folder: Path, old: str, new: str) -> None:
    """Edit the manifest text (NaN and Infinity cannot be written by json.dumps(allow_nan=False))."""
    p = folder / "manifest.json"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old, new, message", [
    ('"value": 0.5', '"value": NaN', "NaN is not a JSON number"),
    ('"value": 0.5', '"value": Infinity', "Infinity is not a JSON number"),
    ('"value": 0.5', '"value": 1e999', "not finite"),
    ('"value": 0.5', '"value": 1.5', r"thresholds/DLM-1/value: 1.5 is greater than the maximum of 1"),
    ('"width": 94', '"width": 100000', r"input/width: 100000 is greater than the maximum of 2048"),
    ('"layer_scale": 1e-06', '"layer_scale": -1', r"architecture/layer_scale: -1 is less than the minimum of 0"),
])
def test_bad_numbers_are_refused_before_weights(soft_copy: Path, old: str, new: str, message: str) -> None:
    _patch(soft_copy, old, new)
    with pytest.raises(UserError, match=message) as info:
        B.load_bundle(soft_copy)
    assert str(soft_copy / "manifest.json") in str(info.value)


def test_fusion_coefficients_are_finite_and_ranged() -> None:
    m = B.default_manifest("liver-fll", small=True)
    m["files"] = {"L.safetensors": "0" * 64, "LB.safetensors": "0" * 64, "MODEL_CARD.md": "0" * 64}
    validate(m)
    for value, message in ((float("nan"), "NaN or Infinity"), (float("inf"), "greater than the maximum"),
                           (1e5, "greater than the maximum of 100")):
        bad = copy.deepcopy(m)
        bad["fusion"]["terms"][0]["coef"] = value
        with pytest.raises(UserError, match=message):
            validate(bad)
    bad = copy.deepcopy(m)
    bad["fusion"]["intercept"] = -1e9
    with pytest.raises(UserError, match="fusion/intercept: .* less than the minimum of -100"):
        validate(bad)
    bad = copy.deepcopy(m)
    bad["metrics"] = {"auc": float("nan")}  # free-form sections are not exempt
    with pytest.raises(UserError, match="NaN or Infinity"):
        validate(bad)


def test_deep_manifest_is_one_line_exit_1(soft_copy: Path, soft_case) -> None:
    (soft_copy / "manifest.json").write_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(UserError, match="nested too deeply"):
        B.load_bundle(soft_copy)
    case = soft_case()
    out = subprocess.run([sys.executable, "-m", "ultrasound_reader", "analyze", str(case.root), "--bundle",
                          str(soft_copy), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == "" and out.stderr.count("\n") == 1
    assert "nested too deeply" in out.stderr


def test_saved_manifest_is_strict_json(soft_bundle_dir: Path) -> None:
    text = (soft_bundle_dir / "manifest.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in a written manifest"))
