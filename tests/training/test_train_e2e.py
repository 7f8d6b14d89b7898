"""Tiny configurations train end to end on phantom cases and export bundles the Analyzer runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ultrasound_reader.ai.analyzer import Analyzer
from ultrasound_reader.ai.bundle import load_bundle
from ultrasound_reader.case import Case
from ultrasound_reader.cli import main
from ultrasound_reader.training.config import load_config
from ultrasound_reader.training.run import train

CONFIGS = Path(__file__).resolve().parents[2] / "ultrasound_reader" / "training" / "configs"


def _run(config: str, data: Path, run_dir: Path, cache: Path, *extra: str) -> int:
    return main(["train", str(CONFIGS / config), "--quiet", "--set", f"data.root={data}",
                 "--set", f"output.run_dir={run_dir}", "--set", f"data.cache={cache}", *extra])


def _check_run(run_dir: Path, task: str) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "config.toml").is_file() and (run_dir / "cohorts.json").is_file()
    assert (run_dir / "roc-internal.png").stat().st_size > 1000
    assert (run_dir / "calibration-internal.png").is_file() and (run_dir / "decision-curve-internal.png").is_file()
    check = metrics["bundle_check"]
    assert check["consistent"] and check["max_abs_difference"] < 1e-4, check
    bundle = load_bundle(run_dir / "bundle", task=task)
    assert bundle.manifest["training_data"]["synthetic"] is True
    card = (run_dir / "bundle" / "MODEL_CARD.md").read_text()
    assert "SYNTHETIC PHANTOM" in card and "NOT FOR CLINICAL USE" in card
    return metrics


def test_liver_tiny_trains_and_exports_a_bundle_the_analyzer_runs(liver_phantom: Path, tmp_path: Path,
                                                                   crop_cache: Path) -> None:
    run_dir = tmp_path / "run"
    assert _run("tiny.toml", liver_phantom, run_dir, crop_cache) == 0
    metrics = _check_run(run_dir, "liver-fll")
    iv = metrics["cohorts"]["internal"]
    for name in ("L", "LB"):
        assert 0.0 <= iv[name]["auc"]["value"] <= 1.0 and "sensitivity" in iv[name]
        assert {"size_band", "lb_type"} <= set(iv[name]["strata"])
    bundle = load_bundle(run_dir / "bundle")
    assert set(bundle.models) == {"L", "LB"} and bundle.manifest["thresholds"]["L"]["method"] == "youden"
    cohorts = json.loads((run_dir / "cohorts.json").read_text())
    case = Case.load(liver_phantom / cohorts["internal"][0])
    result = Analyzer(bundle).run(case)
    assert {"L", "LB"} <= set(result.probabilities) and result.cams


def test_soft_tissue_tiny_trains_and_exports_a_bundle_the_analyzer_runs(soft_phantom: Path, tmp_path: Path,
                                                                        crop_cache: Path) -> None:
    run_dir = tmp_path / "run"
    assert _run("tiny-soft-tissue.toml", soft_phantom, run_dir, crop_cache) == 0
    metrics = _check_run(run_dir, "soft-tissue")
    assert set(metrics["stages"]) == {"DLM-1", "SM-1", "SM-2", "SM-3", "SM-4", "SM-5"}
    bundle = load_bundle(run_dir / "bundle")
    cohorts = json.loads((run_dir / "cohorts.json").read_text())
    result = Analyzer(bundle, cam=False).run(Case.load(soft_phantom / cohorts["internal"][0]))
    assert set(result.probabilities) == set(metrics["stages"])


def test_resume_after_a_stop_equals_an_uninterrupted_run(soft_phantom: Path, tmp_path: Path,
                                                         crop_cache: Path) -> None:
    # The stage loop is shared by every model; the micro ConvNeXt keeps this quick.
    common = [f"data.root={soft_phantom}", f"data.cache={crop_cache}", 'model.models=["DLM-1"]', "train.epochs=2",
              "train.lr_schedule='constant'"]
    a = load_config(CONFIGS / "tiny-soft-tissue.toml", common + [f"output.run_dir={tmp_path / 'a'}"])
    first = train(a, stop_after_epochs=1, progress=False)
    assert first["stopped"]
    state = torch.load(tmp_path / "a" / "checkpoints" / "DLM-1.pt", weights_only=True)
    assert state["epoch"] == 0 and not state["extra"]["done"] and state["optimizer"] is not None
    with pytest.raises(Exception, match="--resume"):
        train(a, progress=False)  # a fresh run must not silently overwrite the stopped one
    resumed = train(a, resume=True, progress=False)
    assert not resumed["stopped"]
    b = load_config(CONFIGS / "tiny-soft-tissue.toml", common + [f"output.run_dir={tmp_path / 'b'}"])
    train(b, progress=False)
    ra = torch.load(tmp_path / "a" / "checkpoints" / "DLM-1.pt", weights_only=True)
    rb = torch.load(tmp_path / "b" / "checkpoints" / "DLM-1.pt", weights_only=True)
    assert ra["extra"]["done"] and len(ra["best"]["history"]) == 2
    assert ra["best"]["history"] == rb["best"]["history"]
    for k, v in rb["model"].items():
        assert torch.equal(ra["model"][k], v), k
    # Resuming with a changed recipe is refused, naming the key.
    with pytest.raises(Exception, match="train.lr"):
        train(load_config(CONFIGS / "tiny-soft-tissue.toml", common + [f"output.run_dir={tmp_path / 'a'}",
                                                                       "train.lr=0.5"]), resume=True, progress=False)


def test_cross_validation_reports_per_fold_and_pooled_out_of_fold_auc(soft_phantom: Path, tmp_path: Path,
                                                                      crop_cache: Path) -> None:
    cfg = load_config(CONFIGS / "tiny-soft-tissue.toml", [
        f"data.root={soft_phantom}", f"data.cache={crop_cache}", 'model.models=["DLM-1"]', "split.cv_folds=2",
        f"output.run_dir={tmp_path / 'cv'}"])
    train(cfg, progress=False)
    cv = json.loads((tmp_path / "cv" / "metrics.json").read_text())["cross_validation"]
    assert cv["folds"] == 2 and [f["fold"] for f in cv["per_fold"]] == [1, 2]
    n_train = len(json.loads((tmp_path / "cv" / "cohorts.json").read_text())["training"])
    assert sum(f["n"] for f in cv["per_fold"]) == n_train  # the folds partition the training cohort
    pooled = cv["pooled"]["DLM-1"]["auc"]
    assert 0.0 <= pooled["value"] <= 1.0 and pooled["method"].startswith("DeLong")
    assert (tmp_path / "cv" / "checkpoints" / "fold2" / "DLM-1.pt").is_file()


@pytest.mark.slow
def test_lbc_fitted_on_out_of_fold_scores(liver_phantom: Path, tmp_path: Path, crop_cache: Path) -> None:
    cfg = load_config(CONFIGS / "tiny.toml", [
        f"data.root={liver_phantom}", f"data.cache={crop_cache}", "split.cv_folds=2", "fusion.fit_on='cv'",
        f"output.run_dir={tmp_path / 'run'}"])
    result = train(cfg, progress=False)
    assert result["bundle_check"]["consistent"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fusion"]["fitted_on"] == "cv" and set(metrics["cross_validation"]["pooled"]) == {"L", "LB"}
    assert load_bundle(tmp_path / "run" / "bundle").manifest["thresholds"]["LBC"]["cohort"].endswith("(out-of-fold)")
