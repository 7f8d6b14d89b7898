"""Config validation: every bad value is one line naming the file and the key; the CLI exits 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader.errors import UserError
from ultrasound_reader.training.config import dump_toml, load_config, parse

CONFIGS = Path(__file__).resolve().parents[2] / "ultrasound_reader" / "training" / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name and cfg.task in ("liver-fll", "soft-tissue")
    # The run folder's copy reads back to the same config.
    import tomllib

    assert parse(tomllib.loads(dump_toml(cfg.raw)), "copy") == parse(cfg.raw, "copy")


BASE = {"name": "x", "task": "liver-fll", "data": {"root": "/data"}}


@pytest.mark.parametrize("table,key", [
    ({**BASE, "train": {"epocs": 3}}, "train.epocs: unknown key"),
    ({**BASE, "train": {"epochs": "three"}}, "train.epochs: must be an integer"),
    ({**BASE, "train": {"epochs": 0}}, "train.epochs: must be an integer >= 1"),
    ({**BASE, "train": {"lr": -1.0}}, "train.lr:"),
    ({**BASE, "train": {"optimizer": "rmsprop"}}, "train.optimizer: must be one of"),
    ({**BASE, "model": {"input_size": [64]}}, "model.input_size: must be a list of 2"),
    ({**BASE, "model": {"stages": ["LB"]}}, "model.stages:"),
    ({**BASE, "model": {"backbone": "convnext"}}, "model.backbone:"),
    ({**BASE, "split": {"method": "centre"}}, "split.external_centres:"),
    ({**BASE, "split": {"validation_fraction": 1.5}}, "split.validation_fraction:"),
    ({**BASE, "fusion": {"factors": ["shoe_size"]}}, "fusion.factors:"),
    ({**BASE, "fusion": {"fit_on": "cv"}}, "fusion.fit_on: 'cv' needs split.cv_folds"),
    ({**BASE, "task": "kidney"}, "task: must be one of"),
    ({"name": "x", "task": "liver-fll"}, "data.root: missing"),
    ({**BASE, "data": "nope"}, "data: must be a table"),
    ({**BASE, "name": "bad name!"}, "name:"),
    ({**BASE, "task": "soft-tissue", "model": {"backbone": "convnext", "variant": "huge"}}, "model.variant:"),
])
def test_bad_values_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(UserError) as err:
        parse(table, "cfg.toml")
    msg = str(err.value)
    assert msg.startswith("cfg.toml: ") and key in msg and "\n" not in msg


def test_overrides_apply_and_are_validated() -> None:
    cfg = parse(BASE, "cfg.toml", ["train.epochs=7", "data.root=/elsewhere", 'model.stages=["L"]'])
    assert cfg.train.epochs == 7 and str(cfg.data.root) == "/elsewhere" and cfg.model.stages == ("L",)
    with pytest.raises(UserError, match="train.epochs"):
        parse(BASE, "cfg.toml", ["train.epochs=zero"])
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse(BASE, "cfg.toml", ["train.epochs"])


def test_cli_bad_config_exits_1_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntask = "liver-fll"\n[data]\nroot = "/data"\n[train]\nepocs = 3\n')
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "train", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.epocs" in lines[0] and "bad.toml" in lines[0]
    p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "train", str(tmp_path / "none.toml")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "no such config file" in p.stderr and len(p.stderr.strip().splitlines()) == 1
