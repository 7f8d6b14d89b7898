"""Bundles: round trip, cache, and every way a bundle is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from ultrasound_reader.ai import bundle as B
from ultrasound_reader.ai.manifest import validate
from ultrasound_reader.errors import UserError


@pytest.fixture
def fll_copy(fll_bundle_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(fll_bundle_dir, dst)
    return dst


def _rewrite_manifest(folder: Path, **changes: object) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    m.update(changes)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    from ultrasound_reader.ai.networks import build_model

    m = B.default_manifest("liver-fll", small=True)
    torch.manual_seed(3)
    nets = {n: build_model("liver-fll", n, m["architecture"]).eval() for n in m["models"]}
    folder = B.save_bundle(tmp_path / "b", m, nets)
    assert sorted(p.name for p in folder.iterdir()) == ["L.safetensors", "LB.safetensors", "MODEL_CARD.md",
                                                        "manifest.json"]
    saved = json.loads((folder / "manifest.json").read_text())
    assert set(saved["files"]) == {"L.safetensors", "LB.safetensors", "MODEL_CARD.md"}
    assert all(saved["files"][f] == B.sha256_file(folder / f) for f in saved["files"])
    b = B.load_bundle(folder)
    x, xb = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    for name in ("L", "LB"):  # the very same numbers ...
        loaded, orig = b.models[name].state_dict(), nets[name].state_dict()
        assert loaded.keys() == orig.keys() and all(torch.equal(loaded[k], orig[k]) for k in orig)
    with torch.no_grad():  # ... so the same outputs (up to the channels-last kernels' rounding)
        torch.testing.assert_close(b.models["L"](x), nets["L"](x), atol=1e-5, rtol=1e-5)
        for a, c in zip(b.models["LB"](x, xb), nets["LB"](x, xb)):
            torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)
    card = (folder / "MODEL_CARD.md").read_text()
    assert "Not for clinical use" in card and "hypoechoic halo" in card and "18.4" in card


def test_fp16_weights_load_as_float32(tmp_path: Path) -> None:
    from ultrasound_reader.ai.networks import build_model

    m = B.default_manifest("soft-tissue", small=True)
    torch.manual_seed(4)
    nets = {n: build_model("soft-tissue", n, m["architecture"]).eval() for n in m["models"]}
    b = B.load_bundle(B.save_bundle(tmp_path / "b", m, nets, fp16=True))
    p = next(b.models["SM-3"].parameters())
    assert p.dtype == torch.float32
    ref = next(nets["SM-3"].parameters())
    assert torch.allclose(p, ref, atol=1e-3) and not torch.equal(p, ref)  # rounded through float16


def test_loaded_once_and_cached_until_changed(fll_copy: Path) -> None:
    a = B.load_bundle(fll_copy)
    assert B.load_bundle(fll_copy) is a
    card = fll_copy / "MODEL_CARD.md"
    card.write_text(card.read_text() + "\nedited\n")
    with pytest.raises(UserError, match="MODEL_CARD.md: SHA-256 does not match"):
        B.load_bundle(fll_copy)


def test_tampered_weights_are_refused(fll_copy: Path) -> None:
    B.clear_cache()
    w = fll_copy / "L.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte in a weight
    w.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"L\.safetensors: SHA-256 does not match the manifest"):
        B.load_bundle(fll_copy)


def test_corrupt_weights_with_matching_hash_are_refused(fll_copy: Path) -> None:
    """A file whose hash was updated (so not tampering) but is not safetensors: corrupt weights."""
    w = fll_copy / "L.safetensors"
    w.write_bytes(b"\x00" * 64)
    m = json.loads((fll_copy / "manifest.json").read_text())
    m["files"]["L.safetensors"] = B.sha256_file(w)
    (fll_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="corrupt weights"):
        B.load_bundle(fll_copy)


def test_weights_of_another_architecture_are_refused(fll_copy: Path, soft_bundle_dir: Path) -> None:
    shutil.copy(soft_bundle_dir / "DLM-1.safetensors", fll_copy / "L.safetensors")
    m = json.loads((fll_copy / "manifest.json").read_text())
    m["files"]["L.safetensors"] = B.sha256_file(fll_copy / "L.safetensors")
    (fll_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="do not fit the architecture"):
        B.load_bundle(fll_copy)


def test_missing_file_and_unlisted_weights(fll_copy: Path) -> None:
    (fll_copy / "extra.safetensors").write_bytes((fll_copy / "L.safetensors").read_bytes())
    with pytest.raises(UserError, match="extra.safetensors: weights file not listed"):
        B.load_bundle(fll_copy)
    (fll_copy / "extra.safetensors").unlink()
    (fll_copy / "LB.safetensors").unlink()
    with pytest.raises(UserError, match=r"LB\.safetensors: missing"):
        B.load_bundle(fll_copy)


def test_wrong_task_is_refused(fll_bundle_dir: Path) -> None:
    with pytest.raises(UserError, match="bundle is for task 'liver-fll', not 'soft-tissue'"):
        B.load_bundle(fll_bundle_dir, task="soft-tissue")


def test_pickles_are_refused_and_convert_explicitly(fll_copy: Path, tmp_path: Path) -> None:
    from ultrasound_reader.ai.convert import convert_pickle

    state = B.load_bundle(fll_copy).models["L"].state_dict()
    torch.save(state, fll_copy / "L.pt")
    with pytest.raises(UserError, match=r"L\.pt: pickled weights are refused"):
        B.load_bundle(fll_copy)
    out = convert_pickle(fll_copy / "L.pt", tmp_path / "L.safetensors")
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(out))["head.fc.weight"], state["head.fc.weight"])
    # A pickle that would run code is not unpickled even by the explicit converter.
    import pickle

    class Evil:
        def __reduce__(self):  # noqa: D105
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(UserError, match="not a tensor-only PyTorch file"):
        convert_pickle(tmp_path / "evil.pt", tmp_path / "evil.safetensors")


def test_schema_errors_name_the_key(fll_copy: Path) -> None:
    _rewrite_manifest(fll_copy, task="kidney")
    with pytest.raises(UserError, match="manifest.json: task: 'kidney' is not one of"):
        B.load_bundle(fll_copy)
    m = B.default_manifest("liver-fll")
    m["files"] = {"L.safetensors": "0" * 64, "LB.safetensors": "0" * 64, "MODEL_CARD.md": "0" * 64}
    validate(m)  # the default manifest is valid
    bad = json.loads(json.dumps(m))
    bad["input"]["std"] = [0.2, 0.0, 0.2]
    with pytest.raises(UserError, match="input/std/1"):
        validate(bad)
    bad = json.loads(json.dumps(m))
    bad["fusion"]["terms"][1]["encoding"] = "logit"  # a factor cannot be a logit
    with pytest.raises(UserError, match="fusion/terms/1"):
        validate(bad)
    bad = json.loads(json.dumps(m))
    bad["decision_models"] = ["LBC", "XYZ"]
    with pytest.raises(UserError, match="decision_models: 'XYZ' is not an output"):
        validate(bad)
    bad = json.loads(json.dumps(m))
    del bad["intended_use"]
    with pytest.raises(UserError, match="'intended_use' is a required property"):
        validate(bad)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such bundle folder"):
        B.load_bundle(tmp_path / "nope")
    with pytest.raises(UserError, match="not a model bundle"):
        B.load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        B.load_bundle(tmp_path)


def test_save_refuses_to_clobber(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty"):
        B.make_random_bundle(tmp_path / "data", "soft-tissue", overwrite=False)
    with pytest.raises(UserError, match="not a bundle"):
        B.make_random_bundle(tmp_path / "data", "soft-tissue", overwrite=True)
    assert (tmp_path / "data" / "x.txt").read_text() == "keep me"
