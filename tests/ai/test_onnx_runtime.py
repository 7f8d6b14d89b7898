"""ONNX Runtime path: graphs exported from the demo bundles give torch's probabilities and Grad-CAMs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (the test extra installs it: a missing one fails, not skips)
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ultrasound_reader.ai import signing  # noqa: E402
from ultrasound_reader.ai.analyzer import Analyzer  # noqa: E402
from ultrasound_reader.ai.bundle import load_bundle  # noqa: E402
from ultrasound_reader.ai.onnx_runtime import choose_runtime, export_onnx, load_onnx_bundle  # noqa: E402
from ultrasound_reader.case import Case  # noqa: E402
from ultrasound_reader.errors import UserError  # noqa: E402
from ultrasound_reader.paths import models_dir, resources_dir  # noqa: E402

DEMOS = [("liver-fll-demo", "liver"), ("soft-tissue-demo", "soft-tissue")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Copies of both demo bundles with ONNX graphs, re-signed with a fresh key: {name: (bundle, store)}."""
    root = tmp_path_factory.mktemp("onnx")
    key = ec.generate_private_key(ec.SECP256R1())
    store = root / "store"
    store.mkdir()
    priv = root / "k.key"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    (store / "k.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    out = {}
    for name, _ in DEMOS:
        dst = root / name
        shutil.copytree(models_dir() / name, dst)
        written = export_onnx(dst, key=priv)
        assert written and all(dst.joinpath(f).is_file() for f in written)
        out[name] = (dst, store)
    return out


def _cases(folder: str) -> list[Path]:
    found = sorted((resources_dir() / "demo" / folder).glob("*/case.json"))
    assert len(found) >= 2
    return found[:2]


@pytest.mark.parametrize("name,folder", DEMOS)
def test_onnx_matches_torch_on_demo_cases(exported, name: str, folder: str) -> None:
    path, store = exported[name]
    ob = load_onnx_bundle(path, trust_store=store, require_signed=True)
    assert ob.signature.verified
    tb = load_bundle(path, trust_store=store)
    for case_file in _cases(folder):
        case = Case.load(case_file)
        rt = Analyzer(tb, threads=2).run(case)
        ro = Analyzer(ob, threads=2).run(case)
        assert set(rt.probabilities) == set(ro.probabilities) and rt.probabilities
        for k, v in rt.probabilities.items():
            assert abs(ro.probabilities[k] - v) <= 1e-5, (case_file, k, v, ro.probabilities[k])
        assert ro.decision == rt.decision and ro.subtype == rt.subtype and ro.lb_type == rt.lb_type
        for a, b in zip(rt.per_image, ro.per_image):
            for k, v in a.items():
                if isinstance(v, float):
                    assert abs(b[k] - v) <= 1e-5
        assert len(rt.cams) == len(ro.cams) > 0
        assert sum(c.heat.max() > 0 for c in rt.cams) > 0  # not only all-zero (ReLU'd) maps
        for ct, co in zip(rt.cams, ro.cams):
            assert (ct.roi_id, ct.model, ct.bbox) == (co.roi_id, co.model, co.bbox)
            np.testing.assert_allclose(co.heat, ct.heat, atol=1e-3)


def test_onnx_graph_tampering_is_refused(exported, tmp_path: Path) -> None:
    path, store = exported["liver-fll-demo"]
    bad = tmp_path / "b"
    shutil.copytree(path, bad)
    onnx_file = bad / "L.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-10] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(UserError, match="tamper|SHA-256"):
        load_onnx_bundle(bad, trust_store=store)


def test_bundle_without_graphs_says_how_to_export() -> None:
    store = signing.trust_store(None)
    with pytest.raises(UserError, match="export-onnx"):
        load_onnx_bundle(models_dir() / "liver-fll-demo", trust_store=store)


def test_runtime_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRASOUND_READER_RUNTIME", "onnx")
    assert choose_runtime() == "onnx"
    assert choose_runtime("torch") == "torch"
    monkeypatch.delenv("ULTRASOUND_READER_RUNTIME")
    assert choose_runtime() == "torch"  # torch is importable here
    with pytest.raises(UserError, match="runtime 'tf'"):
        choose_runtime("tf")


@pytest.mark.slow
def test_bench_suite_reports_ratio_and_agreement() -> None:
    from ultrasound_reader.ai import onnx_bench

    out = onnx_bench.run(quick=True)
    for key in ("fll_224_resnet18", "soft_tissue_470x280_convnext_small-demo"):
        fig = out[key]
        assert fig["torch_eager_s"] > 0 and fig["onnxruntime_s"] > 0 and fig["cams"] > 0
        assert fig["speedup_onnx_vs_torch"] == round(fig["torch_eager_s"] / fig["onnxruntime_s"], 2)
        assert fig["max_probability_difference"] <= 1e-5


_NO_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'torchvision'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from ultrasound_reader.ai.analyzer import Analyzer
from ultrasound_reader.ai.onnx_runtime import choose_runtime
from ultrasound_reader.case import Case
assert choose_runtime() == 'onnx'  # auto: torch not importable
r = Analyzer(sys.argv[1], threads=2).run(Case.load(sys.argv[2]))
assert 'torch' not in sys.modules
print(repr(r.probabilities))
"""


@pytest.mark.parametrize("name,folder", DEMOS)
def test_onnx_analysis_runs_without_torch(exported, name: str, folder: str) -> None:
    import ast
    import os
    import subprocess
    import sys

    path, store = exported[name]
    case_file = _cases(folder)[0]
    env = os.environ | {"ULTRASOUND_READER_TRUST_STORE": str(store), "ULTRASOUND_READER_RUNTIME": "auto"}
    out = subprocess.run([sys.executable, "-c", _NO_TORCH, str(path), str(case_file)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    probs = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    ref = Analyzer(load_bundle(path, trust_store=store), threads=2).run(Case.load(case_file)).probabilities
    assert probs.keys() == ref.keys()
    assert all(abs(probs[k] - ref[k]) <= 1e-5 for k in ref)


def test_graphs_read_their_weights_from_the_signed_safetensors(exported) -> None:
    """The default export keeps no float32 copy of the weights: each graph's parameters are
    external data at their byte ranges in the bundle's own safetensors (covered by the signature)."""
    import onnx

    path, _ = exported["liver-fll-demo"]
    for graph in sorted(path.glob("*.onnx")):
        assert graph.stat().st_size < 1_000_000, graph  # the trunk's weights would be ~45 MB
        m = onnx.load(str(graph), load_external_data=False)
        places = {e.value for t in m.graph.initializer for e in t.external_data if e.key == "location"}
        assert places and places <= {p.name for p in path.glob("*.safetensors")}, (graph, places)


def test_a_malformed_manifest_leaves_the_runtime_choice_to_the_loader(tmp_path):
    """``files``/``models`` of the wrong type: no TypeError here; the loader refuses the schema."""
    import json

    from ultrasound_reader.ai.onnx_runtime import choose_runtime, has_onnx_graphs, runtime_for_bundle

    for bad in ({"task": "liver-fll", "models": {"L": {}}, "files": 5}, {"task": "liver-fll", "models": 5}):
        assert has_onnx_graphs(bad) is False
        (tmp_path / "manifest.json").write_text(json.dumps(bad))
        assert runtime_for_bundle(tmp_path) == choose_runtime()
