"""One concept, one place (review items of issue 15): the training recipes' interface,
no private imports across modules, one pooling function, one JSON converter."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

PACKAGE = Path(__file__).resolve().parents[2] / "ultrasound_reader"


def _modules(*folders: str):
    for folder in folders:
        for f in sorted((PACKAGE / folder).rglob("*.py")):
            yield f, ast.parse(f.read_text(encoding="utf-8"), str(f))


def test_recipes_take_a_task_run_and_the_cohorts():
    from ultrasound_reader.case import TASKS
    from ultrasound_reader.training.tasks import TASK_RUNNERS, TaskRun

    assert set(TASK_RUNNERS) == set(TASKS)
    for runner in TASK_RUNNERS.values():
        assert list(inspect.signature(runner).parameters) == ["job", "cohorts"]
    from ultrasound_reader.training import fll, soft_tissue

    for stage in (fll.train_stage, soft_tissue.train_model):
        params = inspect.signature(stage).parameters
        assert list(params)[:5] == ["name", "job", "train", "internal", "ckpt"]
        assert all(p.kind is p.KEYWORD_ONLY for p in list(params.values())[5:])
    fields = {f.name for f in dataclasses.fields(TaskRun)}
    assert {"cfg", "rt", "spec", "geometry", "cache", "checkpoints", "resume", "progress", "stop", "say"} == fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        TaskRun(cfg=None, rt=None, spec={}, geometry=None, cache=Path("."), checkpoints=Path(".")).resume = True


@pytest.mark.parametrize("folder", ["training", "stats"])
def test_no_private_names_are_imported_across_modules(folder):
    offenders = []
    for f, tree in _modules(folder):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ultrasound_reader"):
                offenders += [f"{f.name}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offenders


def test_global_average_pooling_is_defined_once():
    from ultrasound_reader.ai import inference, networks

    definitions = []
    for f, tree in _modules("ai", "training"):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and len(node.body) >= 1:
                src = ast.unparse(node.body[-1])
                if src.replace(" ", "") in ("returnfmap.mean(dim=(2,3))",):
                    definitions.append(f"{f.name}:{node.name}")
    assert definitions == ["networks.py:gap"]
    assert inference.pooled is networks.gap
    fmap = torch.arange(24.0).reshape(1, 2, 3, 4)
    assert torch.equal(networks.gap(fmap), torch.tensor([[5.5, 17.5]]))


def test_one_json_converter_for_results():
    import ultrasound_reader.training.evaluate as tevaluate
    from ultrasound_reader.stats.jsonutil import jsonable

    assert not hasattr(tevaluate, "_clean")

    @dataclasses.dataclass
    class Point:
        x: float

    value = {"a": np.float32("nan"), "b": (np.int64(3), np.bool_(True)), "c": np.array([1.5, np.inf]),
             "d": np.str_("LB"), "e": Point(np.float64(2.0)), 4: [math.inf, None, "x"]}
    out = jsonable(value)
    assert out == {"a": None, "b": [3, True], "c": [1.5, None], "d": "LB", "e": {"x": 2.0}, "4": [None, None, "x"]}
    assert type(out["d"]) is str and type(out["b"][0]) is int
    json.dumps(out, allow_nan=False)


def test_round_fp16_is_what_a_fp16_bundle_stores():
    from ultrasound_reader.training.export import round_fp16

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.BatchNorm1d(5))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert round_fp16(net) is net
    for k, v in net.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(v, before[k].half().float()), k
        else:
            assert torch.equal(v, before[k]), k  # num_batches_tracked untouched
    assert not torch.equal(net[0].weight, before["0.weight"])  # the rounding did change something
