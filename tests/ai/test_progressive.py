"""Progressive results: each output handed out as it is computed, the final result unchanged."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ultrasound_reader.ai.analyzer import Analyzer
from ultrasound_reader.ai.bundle import load_bundle
from ultrasound_reader.ai.context import PartialResult
from ultrasound_reader.ai.manifest import SOFT_TISSUE_MODELS
from ultrasound_reader.case import AnalysisResult, ClinicalFactors
from ultrasound_reader.errors import CancelledError



@pytest.fixture(scope="module")
def onnx_dirs(fll_bundle_dir: Path, soft_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unsigned copies of the small random bundles with their ONNX graphs."""
    from ultrasound_reader.ai.onnx_runtime import export_onnx

    root = tmp_path_factory.mktemp("progressive-onnx")
    out = {}
    for task, src in (("liver-fll", fll_bundle_dir), ("soft-tissue", soft_bundle_dir)):
        dst = root / task
        shutil.copytree(src, dst)
        export_onnx(dst)
        out[task] = dst
    return out


def _bundle(runtime: str, task: str, torch_dir: Path, onnx_dirs_: Any) -> Any:
    if runtime == "torch":
        return load_bundle(torch_dir)
    from ultrasound_reader.ai.onnx_runtime import load_onnx_bundle

    return load_onnx_bundle(onnx_dirs_[task], threads=2, require_signed=False)


def _same(a: AnalysisResult, b: AnalysisResult) -> None:
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("timings")
    assert da == db
    assert len(a.cams) == len(b.cams)
    for x, y in zip(a.cams, b.cams):
        np.testing.assert_array_equal(x.heat, y.heat)


RUNTIMES = ["torch", "onnx"]  # onnxruntime comes with the test extra: a missing one fails, not skips


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_soft_tissue_partials_dlm1_first_then_subtypes(runtime: str, soft_bundle_dir: Path, soft_case,
                                                       request: pytest.FixtureRequest) -> None:
    dirs = request.getfixturevalue("onnx_dirs") if runtime == "onnx" else None
    b = _bundle(runtime, "soft-tissue", soft_bundle_dir, dirs)
    case = soft_case()
    plain = Analyzer(b).run(case, request_id="r1")
    got: list[PartialResult] = []
    events: list[str] = []
    final = Analyzer(b).run(case, request_id="r1", partial=lambda p: (got.append(p), events.append("partial")),
                            progress=lambda _f, m: events.append(m))
    _same(plain, final)
    models = list(SOFT_TISSUE_MODELS)
    assert [p.done for p in got] == [tuple(models[:k]) for k in range(1, len(models))]
    assert [p.remaining for p in got] == [tuple(models[k:]) for k in range(1, len(models))]
    assert got[0].computing == "SM-1" and got[0].total == 6
    for p in got:
        r = p.result
        assert not r.complete and r.request_id == "r1" and r.subtype is None
        assert list(r.probabilities) == list(p.done)
        # Outputs so far equal the final ones; DLM-1 decides from the first partial on.
        assert all(r.probabilities[k] == final.probabilities[k] for k in p.done)
        assert (r.decision, r.decision_model, r.cutoff) == (final.decision, final.decision_model, final.cutoff)
        assert {c.model for c in r.cams} == set(p.done) and len(r.cams) == 2 * len(p.done)
        assert all(set(p.done) <= set(row) for row in r.per_image)
        assert not any(k in row for row in r.per_image for k in p.remaining)
    # Each partial comes before the next model's progress step (shown before it is computed).
    assert events.index("partial") < events.index("SM-1") < events.index("SM-2")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_fll_partials_l_then_lb_then_final_lbc(runtime: str, fll_bundle_dir: Path, fll_case,
                                               request: pytest.FixtureRequest) -> None:
    dirs = request.getfixturevalue("onnx_dirs") if runtime == "onnx" else None
    b = _bundle(runtime, "liver-fll", fll_bundle_dir, dirs)
    case = fll_case()
    plain = Analyzer(b).run(case, request_id="r2")
    got: list[PartialResult] = []
    final = Analyzer(b).run(case, request_id="r2", partial=got.append)
    _same(plain, final)
    assert [(p.done, p.remaining) for p in got] == [(("L",), ("LB", "LBC")), (("L", "LB"), ("LBC",))]
    assert set(final.probabilities) == {"L", "LB", "LBC"} and final.complete
    first, second = got[0].result, got[1].result
    assert list(first.probabilities) == ["L"] and first.probabilities["L"] == final.probabilities["L"]
    assert {c.model for c in first.cams} == {"L"} and first.lb_type is None
    assert list(second.probabilities) == ["L", "LB"] and second.lb_type == final.lb_type
    assert {c.model for c in second.cams} == {"L", "LB", "LB-type"}
    # LBC decides in the end: no provisional decision from L or LB that it might overturn.
    assert all(p.result.decision is None and p.result.decision_model is None for p in got)
    assert final.decision_model == "LBC"


def test_fll_partials_follow_what_can_be_computed(fll_bundle_dir: Path, fll_case) -> None:
    b = load_bundle(fll_bundle_dir)
    got: list[PartialResult] = []
    r = Analyzer(b).run(fll_case(n_background=0), partial=got.append)
    assert got == [] and set(r.probabilities) == {"L"}  # nothing after L: the final result is the only one
    got.clear()
    r = Analyzer(b).run(fll_case(factors=ClinicalFactors(age=70, sex="F")), partial=got.append)
    # LBC was announced but cannot be computed: the final result says so (complete=False, a warning).
    assert [p.done for p in got] == [("L",), ("L", "LB")] and set(r.probabilities) == {"L", "LB"}
    assert not r.complete and r.decision_model == "LB"


def test_cancel_after_the_first_partial_leaves_no_result(soft_bundle_dir: Path, soft_case) -> None:
    b = load_bundle(soft_bundle_dir)
    cancel = threading.Event()
    got: list[PartialResult] = []

    def on_partial(p: PartialResult) -> None:
        got.append(p)
        cancel.set()

    with pytest.raises(CancelledError):
        Analyzer(b).run(soft_case(), partial=on_partial, cancel=cancel)
    assert [p.done for p in got] == [("DLM-1",)]  # no partial after the cancel


def test_runtime_for_bundle_prefers_the_bundles_onnx_graphs(fll_bundle_dir: Path, onnx_dirs,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from ultrasound_reader.ai.onnx_runtime import RUNTIME_ENV, runtime_for_bundle

    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    assert runtime_for_bundle(onnx_dirs["soft-tissue"]) == "onnx"
    assert runtime_for_bundle(fll_bundle_dir) == "torch"  # no graphs: torch, which is importable here
    assert runtime_for_bundle(onnx_dirs["liver-fll"], "torch") == "torch"
    monkeypatch.setenv(RUNTIME_ENV, "torch")  # the environment still decides when set
    assert runtime_for_bundle(onnx_dirs["soft-tissue"]) == "torch"
