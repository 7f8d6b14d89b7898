"""Model bundles: folders of ``manifest.json`` + ``*.safetensors`` + ``MODEL_CARD.md``.

Loading verifies, before any weight is deserialised, that the manifest matches its
schema and that every file's SHA-256 is the one the manifest records; pickled
weights (``.pt``/``.pth``/...) are refused because unpickling can run code. A bundle
is loaded once and cached, keyed by its folder, the manifest's hash and the files'
sizes and modification times (so an edited bundle is re-verified, an unchanged one
is not re-read).

Writing (``save_bundle``) is here too, so the training export and the random test
bundles produce exactly what loading accepts. ``make_random_bundle`` writes small
randomly initialised bundles of either task for tests, the GUI and benchmarks.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ultrasound_reader.ai import manifest as _manifest
from ultrasound_reader.ai import signing as _signing
from ultrasound_reader.case import LB_TYPES, SOFT_TISSUE_SUBTYPES
from ultrasound_reader.errors import UserError

if TYPE_CHECKING:
    from torch import nn

MANIFEST = "manifest.json"
MODEL_CARD = "MODEL_CARD.md"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass
class Bundle:
    """A verified, loaded bundle: its manifest and its networks (eval mode, on CPU)."""

    path: Path
    manifest: dict[str, Any]
    models: dict[str, nn.Module] = field(repr=False)
    manifest_sha256: str = ""
    nomogram: Any = field(default=None, repr=False)  # stats.nomogram.Nomogram or None
    # The signature verdict against the trust store it was loaded with (ai.signing):
    # ``bundle.signature.verdict`` (verified / unsigned / untrusted) and ``.text`` for display.
    signature: _signing.SignatureStatus | None = None

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def input_spec(self) -> dict[str, Any]:
        return self.manifest["input"]

    @property
    def fusion(self) -> dict[str, Any] | None:
        return self.manifest.get("fusion")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- loading ----------------------------------------------------------------------------
_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], Bundle]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _read_manifest(folder: Path) -> tuple[dict[str, Any], bytes]:
    if not folder.is_dir():
        raise UserError(f"{folder}: no such bundle folder")
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise UserError(f"{folder}: not a model bundle (no {MANIFEST})")
    return _manifest.read(mpath)


def _refuse_pickles(folder: Path) -> None:
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in PICKLE_SUFFIXES:
            raise UserError(
                f"{p}: pickled weights are refused (unpickling can run code); convert them with "
                f"'python -m ultrasound_reader.ai.convert {p.name} OUT.safetensors' and export the bundle again")


def _fingerprint(folder: Path, raw_manifest: bytes, files: dict[str, str]) -> tuple[Any, ...]:
    stats = []
    # Every file of the folder (the signature covers them all), listed or not.
    for rel in sorted(set(files) | {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}):
        p = folder / rel
        st = p.stat() if p.is_file() else None
        stats.append((rel, st.st_size if st else -1, st.st_mtime_ns if st else -1))
    return (hashlib.sha256(raw_manifest).hexdigest(), tuple(stats))


def load_bundle(path: str | Path, task: str | None = None, *,
                trust_store: str | Path | _signing.TrustStore | None = None,
                require_signed: bool | None = None) -> Bundle:
    """Verify and load a bundle folder (cached). ``task``, when given, must match the manifest's.

    The signature is checked against ``trust_store`` (a folder of public keys or a
    :class:`~ultrasound_reader.ai.signing.TrustStore`; default: the configured one)
    before any weight is read: a tampered bundle is refused, and with
    ``require_signed`` (default: ``ULTRASOUND_READER_REQUIRE_SIGNED``) so is one
    that is not verified. The verdict is ``bundle.signature``.
    """
    folder = Path(path).expanduser().resolve()
    data, raw = _read_manifest(folder)
    _manifest.validate(data, source=str(folder / MANIFEST))
    if task is not None and data["task"] != task:
        raise UserError(f"{folder}: bundle is for task {data['task']!r}, not {task!r}")
    # Checked on every call, cache hit or not: a pickle dropped in later is still refused.
    _refuse_pickles(folder)
    _refuse_unlisted_weights(folder, data["files"])
    store = trust_store if isinstance(trust_store, _signing.TrustStore) else _signing.trust_store(trust_store)
    require = _signing.require_signed_default() if require_signed is None else bool(require_signed)
    # One entry per folder and trust store: the verdict is part of the loaded bundle.
    key = (str(folder), store.fingerprint)
    fp = _fingerprint(folder, raw, data["files"])
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == fp:
        bundle = hit[1]
        _signing.enforce(bundle.signature, folder, require)  # the policy of this call
        return bundle
    # Before any weight is read: a tampered bundle is refused, and under the policy an unverified one.
    status = _signing.verify_bundle(folder, store)
    if status.verified and status.manifest_sha256 != hashlib.sha256(raw).hexdigest():
        # The manifest read above is not the one the signature check hashed (swapped meanwhile).
        status = _signing.SignatureStatus("tampered", "manifest.json changed while the bundle was being verified",
                                          status.key_name, status.key_id, status.trust_store)
    _signing.enforce(status, folder, require)
    bundle = _load_verified(folder, data, raw)
    bundle.signature = status
    with _lock:
        _cache[key] = (fp, bundle)
    return bundle


def _refuse_unlisted_weights(folder: Path, files: dict[str, str]) -> None:
    listed = {(folder / rel).resolve() for rel in files}
    for p in sorted(folder.glob("*.safetensors")):
        if p.resolve() not in listed:
            raise UserError(f"{p}: weights file not listed in the manifest; refused")


def _load_verified(folder: Path, data: dict[str, Any], raw: bytes) -> Bundle:
    if MODEL_CARD not in data["files"]:
        raise UserError(f"{folder / MANIFEST}: files: {MODEL_CARD} is not listed")
    for rel, digest in data["files"].items():
        p = (folder / rel).resolve()
        if folder not in p.parents:
            raise UserError(f"{folder / MANIFEST}: files: {rel!r} points outside the bundle")
        if not p.is_file():
            raise UserError(f"{p}: missing (listed in the bundle manifest)")
        if sha256_file(p) != digest:
            raise UserError(f"{p}: SHA-256 does not match the manifest (file changed or tampered with); refused")

    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ultrasound_reader.ai.networks import build_model

    models: dict[str, nn.Module] = {}
    for name, spec in data["models"].items():
        wpath = folder / spec["file"]
        try:
            state = load_file(str(wpath), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{wpath}: corrupt weights ({exc})") from None
        model = build_model(data["task"], name, data["architecture"])
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "mismatch"
            raise UserError(f"{wpath}: weights do not fit the architecture in the manifest ({first})") from None
        model.eval()
        model.requires_grad_(False)
        model.to(memory_format=torch.channels_last)  # see inference.trunk_forward
        if any(not torch.isfinite(p).all() for p in model.parameters()):
            raise UserError(f"{wpath}: weights contain NaN or infinity")
        models[name] = model
    nomogram = None
    if data.get("nomogram"):
        try:
            from ultrasound_reader.stats.nomogram import Nomogram
        except ImportError:
            raise UserError(f"{folder / MANIFEST}: has a nomogram, but this build lacks stats.nomogram") from None
        try:
            nomogram = Nomogram.from_dict(data["nomogram"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{folder / MANIFEST}: nomogram: not a valid nomogram ({exc})") from None
    return Bundle(folder, data, models, hashlib.sha256(raw).hexdigest(), nomogram)


# -- writing ----------------------------------------------------------------------------
def render_model_card(m: dict[str, Any]) -> str:
    """MODEL_CARD.md from the manifest: the human-readable face of the same facts."""
    iu, td, arch = m["intended_use"], m["training_data"], m["architecture"]
    lines = [
        f"# {m['name']} {m['version']}",
        "",
        f"Task: **{m['task']}**. " + ("**Not for clinical use.**" if iu.get("not_for_clinical_use", True) else ""),
        "",
        "## Intended use",
        iu["statement"],
        "",
    ]
    if iu.get("min_lesion_cm") is not None:
        lines += [f"Lesions larger than {iu['min_lesion_cm']} cm only.", ""]
    contra = [f"- {c}" for c in iu["contraindications"]] or ["- none stated"]
    lines += ["Contraindications:", *contra, ""]
    lines += ["## Training data", td["statement"], f"Synthetic: {'yes' if td['synthetic'] else 'no'}.", ""]
    lines += ["## Architecture", "```json", json.dumps(arch, indent=2), "```", ""]
    inp = m["input"]
    lines += ["## Input", f"ROI crop resized to {inp['width']}x{inp['height']}, mean {inp['mean']}, "
              f"std {inp['std']}, colour {inp['color']}, padding {inp.get('pad', 'constant')}.",
              f"Images per lesion: {m['images_per_lesion']}.", ""]
    lines += ["## Cut-offs", "| output | cut-off | method | operating point |", "|---|---|---|---|"]
    for k, t in m["thresholds"].items():
        lines.append(f"| {k} | {t['value']:.4f} | {t['method']} | {json.dumps(t.get('operating_point', {}))} |")
    lines += ["", f"Decision by the first computable of: {', '.join(m['decision_models'])}.", ""]
    fusion = m.get("fusion")
    if fusion:
        lines += ["## Model^LBC fusion (logistic regression)", f"Intercept {fusion['intercept']:.4f}.", "",
                  "| term | input | encoding | coefficient | odds ratio |", "|---|---|---|---|---|"]
        for t in fusion["terms"]:
            src = t.get("model") or t.get("field")
            enc = t["encoding"] + (f" {t['value']}" if "value" in t else "")
            lines.append(f"| {t['name']} | {src} | {enc} | {t['coef']:.4f} | {math.exp(t['coef']):.3g} |")
        lines.append("")
    lines += ["## Validation metrics", "```json", json.dumps(m.get("metrics", {}), indent=2), "```", ""]
    return "\n".join(lines)


def save_bundle(folder: str | Path, manifest: dict[str, Any], weights: dict[str, Any], *,
                model_card: str | None = None, fp16: bool = False, overwrite: bool = False) -> Path:
    """Write a bundle: weights as safetensors, MODEL_CARD.md, manifest.json with SHA-256 of each file.

    ``manifest`` is everything but ``files`` (filled in here); ``weights`` maps each
    model name of ``manifest["models"]`` to an ``nn.Module`` or a state dict. The
    folder is written next to its final place and renamed into it, so a crash never
    leaves half a bundle. The result is validated exactly as loading would.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder).expanduser().resolve()
    m = copy.deepcopy(manifest)
    m.setdefault("format", _manifest.FORMAT)
    m.setdefault("format_version", _manifest.FORMAT_VERSION)
    m.setdefault("created", _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    m["files"] = {}
    names = list(m.get("models", {}))
    if sorted(names) != sorted(weights):
        raise UserError(f"save_bundle: weights for {sorted(weights)} but the manifest lists {sorted(names)}")
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise UserError(f"{folder}: exists and is not empty (pass overwrite to replace it)")
        if not (folder / MANIFEST).is_file():
            raise UserError(f"{folder}: not empty and not a bundle; refusing to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name in names:
            w = weights[name]
            state = w.state_dict() if hasattr(w, "state_dict") else dict(w)
            out = {}
            for k, v in state.items():
                v = v.detach().to("cpu")
                if fp16 and v.is_floating_point():
                    v = v.to(torch.float16)
                out[k] = v.contiguous().clone()
            rel = m["models"][name]["file"]
            save_file(out, str(tmp / rel), metadata={"model": name, "task": str(m.get("task"))})
        m["files"] = {m["models"][n]["file"]: "0" * 64 for n in names} | {MODEL_CARD: "0" * 64}
        _manifest.validate(m, source=f"{folder / MANIFEST} (being written)")
        (tmp / MODEL_CARD).write_text(model_card or render_model_card(m), encoding="utf-8")
        m["files"] = {rel: sha256_file(tmp / rel) for rel in sorted(m["files"])}
        (tmp / MANIFEST).write_text(json.dumps(m, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        # mkdtemp and safetensors make owner-only files; a bundle is shared read-only data.
        umask = os.umask(0)
        os.umask(umask)
        for path in tmp.iterdir():
            path.chmod(0o666 & ~umask)
        tmp.chmod(0o777 & ~umask)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.replace(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


# -- random bundles for tests, demos and benchmarks ------------------------------------
def default_manifest(task: str, *, small: bool = True, variant: str | None = None,
                     name: str | None = None) -> dict[str, Any]:
    """A complete manifest (less ``files``) for a randomly initialised bundle of ``task``.

    ``small`` shrinks the input (64x64 ResNet-18 crops; a micro ConvNeXt at 94x56)
    so tests run in seconds; otherwise the paper's sizes are used (224x224; 470x280
    with ``variant``, default convnext ``tiny``).
    """
    random_note = ("Randomly initialised weights (PHANTOM / test bundle): the outputs carry no "
                   "diagnostic information.")
    common = {
        "format": _manifest.FORMAT,
        "format_version": _manifest.FORMAT_VERSION,
        "name": name or f"random-{task}{'-small' if small else ''}",
        "version": "0.0.0",
        "task": task,
        "description": "Randomly initialised bundle for tests, demos and benchmarks.",
        "training_data": {"statement": "None: " + random_note, "synthetic": True},
        "metrics": {"note": "not validated: random weights"},
        "nomogram": None,
    }
    if task == "liver-fll":
        side = 64 if small else 224
        return common | {
            "intended_use": {
                "statement": "Research demonstration of the DCNN-US pipeline (Yang et al. 2020): "
                             "benign vs malignant focal liver lesion on B-mode ROIs. " + random_note,
                "population": "adults with a solid focal liver lesion",
                "contraindications": ["lesion <= 1.0 cm", "cystic lesion", "previous local therapy of the lesion"],
                "min_lesion_cm": 1.0,
                "not_for_clinical_use": True,
            },
            "architecture": {"backbone": "resnet18", "imagenet_init": False, "dropout": 0.5,
                             "lb_types": list(LB_TYPES), "lb_activation": "softmax"},
            "models": {"L": {"file": "L.safetensors", "description": "Model^L, lesion ROI"},
                       "LB": {"file": "LB.safetensors", "description": "Model^LB, lesion + liver background"}},
            "input": {"width": side, "height": side, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                      "color": {"bmode": "gray3"}, "pad": "constant", "pad_value": 0,
                      "mask_outside": False, "roi_margin": 0.0, "interpolation": "area"},
            "images_per_lesion": {"min": 1, "max": 4, "recommended": 4},
            "thresholds": {k: {"value": 0.5, "method": "fixed"} for k in ("L", "LB", "LBC")},
            "decision_models": ["LBC", "LB", "L"],
            "fusion": copy.deepcopy(_fusion_default()),
        }
    if task == "soft-tissue":
        variant = variant or ("micro" if small else "tiny")
        w, h = (94, 56) if small else (470, 280)
        return common | {
            "intended_use": {
                "statement": "Research demonstration of DLM-1/DLM-2 (Long et al. 2023): benign vs malignant "
                             "superficial soft-tissue mass and benign subtype from grayscale + CDFI ROIs. "
                             + random_note,
                "population": "superficial soft-tissue masses",
                "contraindications": ["deep (intramuscular or deeper) masses not studied",
                                      "subtypes other than the five are not recognised"],
                "min_lesion_cm": None,
                "not_for_clinical_use": True,
            },
            "architecture": {"backbone": "convnext", "variant": variant, "imagenet_init": False,
                             "stochastic_depth_prob": 0.0, "layer_scale": 1e-6, "combine": "mean_probability",
                             "subtypes": {f"SM-{i + 1}": s for i, s in enumerate(SOFT_TISSUE_SUBTYPES)}},
            "models": {n: {"file": f"{n}.safetensors"} for n in _manifest.SOFT_TISSUE_MODELS},
            "input": {"width": w, "height": h, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                      "color": {"bmode": "gray3", "cdfi": "rgb"}, "pad": "constant", "pad_value": 0,
                      "mask_outside": False, "roi_margin": 0.0, "interpolation": "area"},
            "images_per_lesion": {"min": 1, "max": 1, "recommended": 1},
            "thresholds": {"DLM-1": {"value": 0.5, "method": "fixed"}},
            "decision_models": ["DLM-1"],
            "fusion": None,
        }
    raise UserError(f"unknown task {task!r}")


def _fusion_default() -> dict[str, Any]:
    from ultrasound_reader.ai.fusion import PUBLISHED_FLL_FUSION

    return PUBLISHED_FLL_FUSION


def fusion_nomogram(spec: dict[str, Any], logit_range: tuple[float, float] = (-4.0, 4.0)) -> dict[str, Any]:
    """The nomogram (stats.nomogram, rms conventions) of a fusion spec whose data are not at hand.

    Predictors are the fusion terms: indicator terms take 0/1, the LB logit spans
    ``logit_range``; a trained bundle has the nomogram fitted on its cohort instead.
    """
    from ultrasound_reader.stats.nomogram import Nomogram, PredictorRange
    from ultrasound_reader.stats.rfuncs import pretty

    ranges, coefs = {}, {}
    lo, hi = float(spec["intercept"]), float(spec["intercept"])
    for t in spec["terms"]:
        if t["encoding"] in ("logit", "linear"):
            vals = tuple(float(v) for v in pretty(list(logit_range), 10))
            ranges[t["name"]] = PredictorRange(t["name"], "continuous", vals, logit_range[0], logit_range[1])
            a, z = t["coef"] * logit_range[0], t["coef"] * logit_range[1]
        else:
            ranges[t["name"]] = PredictorRange(t["name"], "discrete", (0.0, 1.0), 0.0, 1.0)
            a, z = 0.0, t["coef"]
        coefs[t["name"]] = float(t["coef"])
        lo, hi = lo + min(a, z), hi + max(a, z)
    return Nomogram.from_coefficients("malignant", float(spec["intercept"]), coefs, ranges, (lo, hi)).to_dict()


def make_random_bundle(folder: str | Path, task: str, *, small: bool = True, seed: int = 0,
                       variant: str | None = None, overwrite: bool = True,
                       manifest_overrides: dict[str, Any] | None = None) -> Path:
    """Write a randomly initialised bundle of ``task`` (see :func:`default_manifest`)."""
    import torch

    from ultrasound_reader.ai.networks import build_model

    m = default_manifest(task, small=small, variant=variant)
    if task == "liver-fll":
        m["nomogram"] = fusion_nomogram(m["fusion"])
    m.update(manifest_overrides or {})
    torch.manual_seed(seed)
    weights = {name: build_model(task, name, m["architecture"]) for name in m["models"]}
    return save_bundle(folder, m, weights, overwrite=overwrite)
