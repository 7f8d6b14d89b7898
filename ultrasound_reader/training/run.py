"""A whole training run: data, splits, stages, metrics, plots, bundle, and its self-check.

Run folder layout (``output.run_dir``, default ``runs/<name>``)::

    config.toml        the config as run (overrides applied)
    cohorts.json       case ids of the training / internal / external cohorts
    checkpoints/       one resumable checkpoint per stage (L, LB, DLM-1, SM-k)
    predictions.csv    per lesion: cohort, truth, every output's probability
    metrics.json       everything measured (see evaluate.py), plus the bundle check
    *.png              ROC / calibration / decision curve per validation cohort
    bundle/            the exported model bundle (or output.bundle_dir)

After export the bundle is loaded with ``ai.load_bundle`` and the ``Analyzer`` is run
on validation cases; its probabilities must equal the ones the metrics were computed
from (same crops, same fp16-rounded weights), which is recorded as ``bundle_check``.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.jsonutil import jsonable
from ultrasound_reader.training import evaluate, export
from ultrasound_reader.training.config import RunConfig, dump_toml, parse, tomllib
from ultrasound_reader.training.crops import ContextGeometry
from ultrasound_reader.training.dataset import Cohorts, DataSet, make_cohorts
from ultrasound_reader.training.loop import StopRequested
from ultrasound_reader.training.runtime import Runtime, seed_everything, setup

log = logging.getLogger(__name__)

# Keys that may change between a run and its resumption (where and how, not what).
_RESUME_FREE = {"output", "train.num_workers", "train.threads", "train.device", "train.checkpoint_every"}


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[prefix + k] = v
    return out


def _free(key: str) -> bool:
    return any(key == f or key.startswith(f + ".") for f in _RESUME_FREE)


def prepare_run_dir(cfg: RunConfig, rt: Runtime, resume: bool) -> Path:
    """Check and set up the run folder: rank 0 alone, then every rank learns the outcome.

    Only rank 0 looks at the folder: another rank checking "exists and is not empty"
    could see the ``config.toml`` rank 0 has just written and refuse, leaving rank 0
    alone at the barrier. Rank 0's refusal reaches the other ranks, which refuse the
    same way instead of waiting for it forever.
    """
    error = None
    if rt.is_main:
        try:
            _set_up_run_dir(cfg, resume)
        except UserError as exc:
            error = str(exc)
    error = rt.broadcast_from_main(error)
    if error is not None:
        raise UserError(error)
    return cfg.run_dir


def _set_up_run_dir(cfg: RunConfig, resume: bool) -> None:
    run_dir = cfg.run_dir
    saved = run_dir / "config.toml"
    if resume:
        if not saved.is_file():
            raise UserError(f"{run_dir}: nothing to resume (no config.toml there); start without --resume")
        old = _flat(tomllib.loads(saved.read_text(encoding="utf-8")))
        new = _flat(cfg.raw)
        for key in sorted(set(old) | set(new)):
            if not _free(key) and old.get(key) != new.get(key):
                raise UserError(f"{key}: differs from the run's {saved} ({old.get(key)!r} there, "
                                f"{new.get(key)!r} now); resume needs the same config")
    elif run_dir.exists() and any(run_dir.iterdir()):
        if not cfg.output.overwrite:
            raise UserError(f"{run_dir}: run folder exists and is not empty; continue it with --resume, or set "
                            "output.overwrite = true (or choose another output.run_dir)")
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(f"# as run by ultrasound-reader train (from {cfg.source})\n" + dump_toml(cfg.raw),
                     encoding="utf-8")


def _cohort_dict(c: Cohorts) -> dict[str, Any]:
    out = {"training": [s.case.case_id for s in c.train.samples],
           "internal": [s.case.case_id for s in c.internal.samples]}
    if c.external is not None:
        out["external"] = [s.case.case_id for s in c.external.samples]
    return out


class Reporter:
    """Status lines on stderr (rank 0 only)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[train {time.perf_counter() - self.t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def train(cfg: RunConfig, *, resume: bool = False, stop_after_epochs: int | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the training the config describes; returns the run summary."""
    rt = setup(cfg.train.device, cfg.train.threads)
    try:
        return _train(cfg, rt, resume, stop_after_epochs, progress)
    finally:
        rt.close()


def _train(cfg: RunConfig, rt: Runtime, resume: bool, stop_after_epochs: int | None,
           progress: bool) -> dict[str, Any]:
    from ultrasound_reader.paths import cache_dir

    say = Reporter(progress and rt.is_main)
    run_dir = prepare_run_dir(cfg, rt, resume)
    seed_everything(cfg.seed)
    say(f"{cfg.name}: task {cfg.task}, device {rt.device}"
        + (f", {rt.world} processes" if rt.distributed else "") + f", run folder {run_dir}")
    data = DataSet.load(cfg.data.root, cfg.truth_path, cfg.task, cfg.data.limit)
    extra = (DataSet.load(cfg.data.external, cfg.external_truth_path, cfg.task)
             if cfg.data.external is not None else None)
    cohorts = make_cohorts(data, cfg.split.method, cfg.split.validation_fraction, cfg.seed, cfg.split.stratify,
                           cfg.split.external_centres, extra)
    sizes = cohorts.summary()
    say("cohorts: " + ", ".join(f"{k} {v['lesions']} ({v['malignant']} malignant)" for k, v in sizes.items()))
    if rt.is_main:
        (run_dir / "cohorts.json").write_text(json.dumps(_cohort_dict(cohorts), indent=1) + "\n", encoding="utf-8")
    spec = export.input_spec(cfg)
    geometry = ContextGeometry.for_augment(cfg.augment.scale, cfg.augment.shift)
    cache = cfg.data.cache or cache_dir() / "training-crops"
    stop = [stop_after_epochs] if stop_after_epochs else None
    ckdir = run_dir / "checkpoints"
    from ultrasound_reader.training.tasks import TASK_RUNNERS, TaskRun

    job = TaskRun(cfg=cfg, rt=rt, spec=spec, geometry=geometry, cache=cache, checkpoints=ckdir, resume=resume,
                  progress=progress, stop=stop, say=say)
    try:
        result = TASK_RUNNERS[cfg.task](job, cohorts)
    except StopRequested as exc:
        say(f"{exc}; continue with: ultrasound-reader train {cfg.source} --resume")
        return {"name": cfg.name, "run_dir": str(run_dir), "stopped": True, "message": str(exc)}
    if not rt.is_main:
        return {"name": cfg.name, "rank": rt.rank}
    metrics = result["metrics"]
    metrics["cohort_sizes"] = sizes
    metrics["config"] = str(cfg.source) if cfg.source else None
    metrics["seed"] = cfg.seed
    _write_predictions(run_dir / "predictions.csv", result["predictions"])
    pngs: list[str] = []
    for cohort in ("internal", "external"):
        if cohort in result["predictions"]:
            rows = result["predictions"][cohort]
            truth = [r["malignant"] for r in rows]
            outs = {k: [r[k] if r[k] is not None else np.nan for r in rows] for k in result["primary_outputs"]}
            pngs += evaluate.plots(run_dir, cohort, truth, outs, result["cutoffs"])
    metrics["plots"] = pngs
    bundle_dir = None
    if result.get("export"):
        m = export.manifest(cfg, metrics=metrics, **result["export"]["manifest"])
        card = export.model_card(m, metrics, cfg)
        bundle_dir = export.write_bundle(cfg.bundle_dir, m, result["export"]["weights"], card, cfg.output.fp16)
        metrics["bundle_check"] = _check_bundle(bundle_dir, cohorts, result["predictions"], say)
        say(f"bundle written to {bundle_dir}")
    else:
        metrics["bundle_note"] = result.get("export_note", "not exported")
    (run_dir / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    say(f"metrics in {run_dir / 'metrics.json'}")
    return {"name": cfg.name, "task": cfg.task, "run_dir": str(run_dir),
            "bundle": None if bundle_dir is None else str(bundle_dir), "stopped": False,
            "summary": export.summary(metrics), "bundle_check": metrics.get("bundle_check"),
            "stages": metrics.get("stages")}


def _write_predictions(path: Path, predictions: dict[str, list[dict[str, Any]]]) -> None:
    rows = [dict(r, cohort=c) for c, rs in predictions.items() for r in rs]
    if not rows:
        return
    keys = ["cohort"] + [k for k in rows[0] if k != "cohort"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})


def _check_bundle(folder: Path, cohorts: Cohorts, predictions: dict[str, list[dict[str, Any]]], say: Any,
                  n_cases: int = 3) -> dict[str, Any]:
    """Load the bundle and let the Analyzer score a few validation cases; compare with our predictions."""
    from ultrasound_reader.ai.analyzer import Analyzer
    from ultrasound_reader.ai.bundle import load_bundle

    bundle = load_bundle(folder)
    analyzer = Analyzer(bundle, cam=False)
    cohort = cohorts.internal if len(cohorts.internal) else cohorts.train
    ours = {r["case_id"]: r for rows in predictions.values() for r in rows}
    worst, checked = 0.0, []
    for s in cohort.samples[:n_cases]:
        try:
            res = analyzer.run(s.case)
        except Exception as exc:  # the bundle does not run: say so in the metrics, keep the run's results
            say(f"WARNING: the Analyzer failed on case {s.case.case_id}: {type(exc).__name__}: {exc}")
            return {"cases": checked, "error": f"{type(exc).__name__}: {exc}", "consistent": False}
        mine = ours[s.case.case_id]
        for k, p in res.probabilities.items():
            if k in mine and mine[k] is not None:
                worst = max(worst, abs(float(p) - float(mine[k])))
        checked.append(s.case.case_id)
    ok = worst < 1e-4
    if not ok:
        say(f"WARNING: the Analyzer's probabilities differ from the training evaluation by {worst:.2e}")
    return {"cases": checked, "max_abs_difference": worst, "consistent": ok}


def load_and_train(path: str | Path, overrides: list[str] | tuple[str, ...] = (), **kw: Any) -> dict[str, Any]:
    from ultrasound_reader.training.config import load_config

    return train(load_config(path, overrides), **kw)


__all__ = ["train", "load_and_train", "parse"]
