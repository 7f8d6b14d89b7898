"""Training configuration: a TOML file read into typed, validated dataclasses.

A run is described entirely by its config (plus the data it names), so the run
folder keeps a copy and a retrain from that copy gives the same bundle. Validation
happens here, once, before anything expensive starts: an unknown key, a value of
the wrong type or out of range is a :class:`UserError` naming the file and the
key (``tiny.toml: train.epochs: must be an integer >= 1, got 0``).

Relative paths are resolved against the current working directory (like every
other ``ultrasound-reader`` path argument). ``overrides`` (``--set key=value`` on
the command line) replace single values before validation, e.g.
``data.root=/data/liver``.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ultrasound_reader.ai.manifest import SOFT_TISSUE_MODELS
from ultrasound_reader.case import TASKS
from ultrasound_reader.errors import UserError

# FLL clinical-ultrasonic factors that may enter the Model^LBC logistic fusion
# (Yang et al. 2020, Table 2); see training/fusion.py for their coding.
FLL_FACTORS: tuple[str, ...] = (
    "sex_male",
    "age_ge_55",
    "tumour_history",
    "hepatitis",
    "halo",
    "vascularity",
    "afp_high",
    "shape_irregular",
    "margin_not_smooth",
    "posterior_enhancement",
    "satellite",
)


@dataclass
class DataConfig:
    """Where the cases and their truth are."""

    root: Path = Path()  # folder holding case folders (case.json) and, by default, truth.csv
    truth: Path | None = None  # truth CSV; default ROOT/truth.csv
    external: Path | None = None  # optional second folder used as (extra) external validation
    external_truth: Path | None = None  # default EXTERNAL/truth.csv
    limit: int = 0  # use at most this many cases of root (0 = all); for quick trials
    synthetic: bool = False  # the cases are phantoms (said plainly on the model card)
    statement: str = ""  # what the training data are, for the manifest and the model card
    cache: Path | None = None  # ROI crop cache folder; default <cache_dir>/training-crops


@dataclass
class SplitConfig:
    """How cases are divided into training, internal (IV) and external (EV) validation.

    ``random``: seeded, stratified ``1 - validation_fraction : validation_fraction``
    split by lesion (4:1 with the default 0.2). ``centre``: whole centres in
    ``external_centres`` are the EV cohort, the rest is split at random. ``cohort``:
    the truth file's ``cohort`` column says ``training`` / ``internal`` / ``external``.
    ``cv_folds`` > 1 adds a seeded, stratified k-fold cross-validation of the training
    cohort (per-fold and pooled out-of-fold AUCs in metrics.json; the exported model
    is still the one trained on the whole training cohort). It costs k extra trainings.
    """

    method: Literal["random", "centre", "cohort"] = "random"
    validation_fraction: float = 0.2
    external_centres: tuple[str, ...] = ()
    cv_folds: int = 0
    stratify: bool = True


@dataclass
class ModelConfig:
    """Network choices; they are written into the bundle manifest."""

    backbone: Literal["resnet18", "convnext"] = "resnet18"  # liver: resnet18; soft tissue: convnext
    variant: str = "tiny"  # ConvNeXt variant (ai.networks.CONVNEXT_VARIANTS); tiny is the paper's
    stochastic_depth_prob: float = 0.0  # ConvNeXt stochastic depth while training
    input_size: tuple[int, int] = (224, 224)  # (width, height) of the ROI crop fed to the net
    images_per_lesion: int = 4  # lesion ROIs per lesion (the paper uses 4)
    pretrained: bool = False  # ImageNet weights, only if cached locally (never downloaded)
    dropout: float = 0.5
    stages: tuple[str, ...] = ("L", "LB", "LBC")  # liver: which models to train (in order)
    models: tuple[str, ...] = SOFT_TISSUE_MODELS  # soft tissue: which models to train
    roi_margin: float = 0.0  # context added around the ROI box, as a fraction of its size


@dataclass
class TrainConfig:
    """Optimisation."""

    epochs: int = 10  # per model (liver: Model^L; soft tissue: each DLM/SM)
    lb_epochs: int = 10  # liver Model^LB stage
    batch_lesions: int = 8  # P lesions per batch; each brings K = images_per_lesion images
    batch_size: int = 16  # soft tissue: images per batch
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    lb_lr: float | None = None  # liver Model^LB stage (its lesion branch starts trained); default lr
    weight_decay: float = 1e-4
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    triplet_margin: float = 0.3
    triplet_weight: float = 1.0
    triplet_labels: Literal["class", "lesion"] = "class"  # what counts as a positive: same class or same lesion
    triplet_normalize: bool = True  # L2-normalise embeddings first, so the margin has a fixed scale
    lb_weight: float = 1.0  # weight of the LB-type BCE in the Model^LB loss
    num_workers: int = 0  # data-loading worker processes
    threads: int = 2  # torch intra-op threads on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = 1  # epochs between checkpoints
    select_on: Literal["validation", "last"] = "validation"  # model selection by IV AUC or last epoch


@dataclass
class AugmentConfig:
    """Random scaling / cropping / flipping of the ROI crop during training."""

    scale: tuple[float, float] = (0.85, 1.15)  # zoom factor range
    shift: float = 0.08  # maximal translation as a fraction of the crop size
    hflip: bool = True
    vflip: bool = False
    brightness: float = 0.1  # maximal relative gain change
    contrast: float = 0.0  # maximal relative contrast change (around the crop mean)
    blur: float = 0.0  # maximal Gaussian blur sigma in pixels (another probe frequency / focus)


@dataclass
class FusionConfig:
    """Model^LBC: logistic fusion of the Model^LB lesion logit with clinical factors.

    ``fit_on = "training"`` is the paper's recipe. A network's scores on its own
    training lesions are over-confident, though, and a regression fitted on them
    gives the score too much weight and the factors too little; ``"internal"`` fits
    on the internal validation cohort instead (whose LBC figures are then not held
    out, which metrics.json and the model card say), leaving the external cohort as
    the held-out test.
    """

    factors: tuple[str, ...] = FLL_FACTORS  # candidates, screened univariably then multivariably
    p_threshold: float = 0.05
    fit_on: Literal["training", "internal", "cv"] = "training"


@dataclass
class CardConfig:
    """What the model card and manifest say about intended use (defaults per task from the papers)."""

    intended_use: str = ""
    population: str = ""
    contraindications: tuple[str, ...] = ()


@dataclass
class OutputConfig:
    """Where the run folder and the exported bundle go."""

    run_dir: Path | None = None  # default runs/<name>
    bundle_dir: Path | None = None  # default <run_dir>/bundle
    fp16: bool = True  # store weights as float16 safetensors
    overwrite: bool = False  # allow a fresh run into a non-empty run folder


@dataclass
class RunConfig:
    """One training run."""

    name: str = ""
    task: Literal["liver-fll", "soft-tissue"] = "liver-fll"
    version: str = "0.1.0"
    seed: int = 0
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    card: CardConfig = field(default_factory=CardConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    source: Path | None = None  # the file it was read from (not a TOML key)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # merged TOML (not a key)

    @property
    def run_dir(self) -> Path:
        return self.output.run_dir or Path("runs") / self.name

    @property
    def bundle_dir(self) -> Path:
        return self.output.bundle_dir or self.run_dir / "bundle"

    @property
    def truth_path(self) -> Path:
        return self.data.truth or self.data.root / "truth.csv"

    @property
    def external_truth_path(self) -> Path | None:
        if self.data.external is None:
            return None
        return self.data.external_truth or self.data.external / "truth.csv"


_NOT_KEYS = {"source", "raw"}


# -- value conversion -------------------------------------------------------------------
def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp in (str, Path):
        return "a string" if tp is str else "a path string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
        return f"a list of {len(args)} numbers"
    return str(tp)


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    def bad() -> UserError:
        return UserError(f"{where}: {key}: must be {_describe(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or value == "":
            return None
        return _convert(value, args[0], key, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise bad()
        return Path(value).expanduser()
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad()
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise bad()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], key, where) for v in value)
        if len(value) != len(args):
            raise bad()
        return tuple(_convert(v, a, key, where) for v, a in zip(value, args))
    raise TypeError(f"unsupported config type {tp!r}")  # a bug here, not user input


def _build(cls: type, table: Any, prefix: str, where: str) -> Any:
    if not isinstance(table, dict):
        raise UserError(f"{where}: {prefix.rstrip('.')}: must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - _NOT_KEYS
    unknown = sorted(set(table) - names)
    if unknown:
        raise UserError(f"{where}: {prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, f"{prefix}{name}.", where)
        else:
            kwargs[name] = _convert(value, tp, prefix + name, where)
    return cls(**kwargs)


# -- range checks (types are already right) ---------------------------------------------
def _check(cfg: RunConfig, where: str) -> None:
    def fail(key: str, why: str, value: Any) -> None:
        raise UserError(f"{where}: {key}: {why}, got {value!r}")

    if not cfg.name or not all(c.isalnum() or c in "-_." for c in cfg.name):
        fail("name", "must be a non-empty name of letters, digits, '-', '_' or '.'", cfg.name)
    if cfg.task not in TASKS:
        fail("task", f"must be one of {TASKS}", cfg.task)
    if cfg.raw.get("data", {}).get("root") in (None, ""):
        raise UserError(f"{where}: data.root: missing (the folder of case folders)")
    if cfg.data.limit < 0:
        fail("data.limit", "must be >= 0", cfg.data.limit)
    s = cfg.split
    if not 0.0 < s.validation_fraction < 1.0:
        fail("split.validation_fraction", "must be between 0 and 1 (exclusive)", s.validation_fraction)
    if s.method == "centre" and not s.external_centres:
        fail("split.external_centres", "must name at least one centre when split.method = 'centre'", [])
    if s.cv_folds == 1 or s.cv_folds < 0:
        fail("split.cv_folds", "must be 0 (no cross-validation) or >= 2", s.cv_folds)
    m = cfg.model
    if any(v < 16 or v > 2048 for v in m.input_size):
        fail("model.input_size", "must be [width, height] between 16 and 2048 pixels", list(m.input_size))
    if not 1 <= m.images_per_lesion <= 16:
        fail("model.images_per_lesion", "must be between 1 and 16", m.images_per_lesion)
    if not 0.0 <= m.dropout < 1.0:
        fail("model.dropout", "must be in [0, 1)", m.dropout)
    if not 0.0 <= m.roi_margin <= 1.0:
        fail("model.roi_margin", "must be in [0, 1]", m.roi_margin)
    if cfg.task == "liver-fll":
        stages = m.stages
        if not stages or any(x not in ("L", "LB", "LBC") for x in stages):
            fail("model.stages", "must be a list of 'L', 'LB', 'LBC'", list(stages))
        if "LBC" in stages and "LB" not in stages:
            fail("model.stages", "'LBC' needs 'LB' (it fuses the Model^LB score)", list(stages))
        if "LB" in stages and "L" not in stages:
            fail("model.stages", "'LB' needs 'L' (its lesion branch starts from Model^L)", list(stages))
        if m.backbone != "resnet18":
            fail("model.backbone", "must be 'resnet18' for task liver-fll (Yang et al. 2020)", m.backbone)
    else:
        from ultrasound_reader.ai.networks import CONVNEXT_VARIANTS

        if m.backbone != "convnext":
            fail("model.backbone", "must be 'convnext' for task soft-tissue (Long et al. 2023)", m.backbone)
        if m.variant not in CONVNEXT_VARIANTS:
            fail("model.variant", f"must be one of {', '.join(CONVNEXT_VARIANTS)}", m.variant)
        if not 0.0 <= m.stochastic_depth_prob < 1.0:
            fail("model.stochastic_depth_prob", "must be in [0, 1)", m.stochastic_depth_prob)
        if not m.models or any(x not in SOFT_TISSUE_MODELS for x in m.models):
            fail("model.models", f"must be a list of {', '.join(SOFT_TISSUE_MODELS)}", list(m.models))
        if len(set(m.models)) != len(m.models):
            fail("model.models", "must not repeat a model", list(m.models))
    t = cfg.train
    for key in ("epochs", "lb_epochs", "checkpoint_every", "threads"):
        if getattr(t, key) < 1:
            fail(f"train.{key}", "must be an integer >= 1", getattr(t, key))
    if t.batch_lesions < 2:
        fail("train.batch_lesions", "must be >= 2 (a batch needs both classes)", t.batch_lesions)
    if t.batch_size < 2:
        fail("train.batch_size", "must be >= 2", t.batch_size)
    if not 0.0 < t.lr < 10.0:
        fail("train.lr", "must be a positive learning rate below 10", t.lr)
    if t.lb_lr is not None and not 0.0 < t.lb_lr < 10.0:
        fail("train.lb_lr", "must be a positive learning rate below 10", t.lb_lr)
    for key in ("weight_decay", "triplet_margin", "triplet_weight", "lb_weight"):
        if getattr(t, key) < 0:
            fail(f"train.{key}", "must be >= 0", getattr(t, key))
    if t.num_workers < 0:
        fail("train.num_workers", "must be >= 0", t.num_workers)
    a = cfg.augment
    if not 0.1 <= a.scale[0] <= a.scale[1] <= 4.0:
        fail("augment.scale", "must be [low, high] with 0.1 <= low <= high <= 4", list(a.scale))
    if not 0.0 <= a.shift <= 0.5:
        fail("augment.shift", "must be in [0, 0.5]", a.shift)
    for key in ("brightness", "contrast"):
        if not 0.0 <= getattr(a, key) <= 1.0:
            fail(f"augment.{key}", "must be in [0, 1]", getattr(a, key))
    if not 0.0 <= a.blur <= 5.0:
        fail("augment.blur", "must be a sigma in [0, 5] pixels", a.blur)
    unknown = [f for f in cfg.fusion.factors if f not in FLL_FACTORS]
    if unknown:
        fail("fusion.factors", f"unknown factor {unknown[0]!r} (known: {', '.join(FLL_FACTORS)})", unknown[0])
    if cfg.fusion.fit_on == "cv" and cfg.task == "liver-fll" and (s.cv_folds < 2 or "LB" not in m.stages):
        fail("fusion.fit_on", "'cv' needs split.cv_folds >= 2 and the LB stage", cfg.fusion.fit_on)
    if not 0.0 < cfg.fusion.p_threshold < 1.0:
        fail("fusion.p_threshold", "must be between 0 and 1", cfg.fusion.p_threshold)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise UserError(f"--set {text}: expected KEY=VALUE, e.g. data.root=/data/liver")
    key, _, value = text.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise UserError(f"--set {text}: empty key")
    try:  # a TOML value (number, bool, list, quoted string); else a bare string
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return path, parsed


def parse(table: dict[str, Any], where: str, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Validate a TOML table (plus ``key=value`` overrides) into a :class:`RunConfig`."""
    import copy

    table = copy.deepcopy(table)
    for text in overrides:
        path, value = _parse_override(text)
        node = table
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {text}: {part} is not a table")
        node[path[-1]] = value
    cfg = _build(RunConfig, table, "", where)
    cfg.raw = table
    _check(cfg, where)
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read and validate a training config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read config ({exc})") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    cfg = parse(table, path.name, overrides)
    cfg.source = path
    return cfg


def dump_toml(table: dict[str, Any]) -> str:
    """Write a (merged, override-applied) config table back as TOML for the run folder.

    Only the value kinds a config can hold occur: strings, numbers, booleans, lists
    of those, and one level of tables.
    """
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a valid TOML basic string
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} to TOML")

    lines = [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"
