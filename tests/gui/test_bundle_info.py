"""The bundle list reads manifests it has not loaded yet: hostile ones are passed over."""

from pathlib import Path

from ultrasound_reader.gui.bundles import read_info
from ultrasound_reader.paths import models_dir


def test_a_deeply_nested_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert read_info(tmp_path) is None


def test_a_manifest_with_nan_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"name": "x", "task": "liver-fll", "version": NaN}')
    assert read_info(tmp_path) is None


def test_the_demo_bundle_is_listed() -> None:
    info = read_info(models_dir() / "liver-fll-demo")
    assert info is not None and info.task == "liver-fll"
