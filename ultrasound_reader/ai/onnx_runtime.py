"""ONNX Runtime inference: the bundle's trunks as ONNX graphs, the heads and Grad-CAM in numpy.

Why: the frozen application and a light install should not carry torch (and its CUDA
libraries). The ONNX graphs are exported from the same weights (``export_onnx``,
CLI ``ultrasound-reader bundle export-onnx DIR``): one graph per convolutional trunk,
image -> last feature map, the layer Grad-CAM explains. Everything after global
average pooling is computed here in numpy from the bundle's own safetensors (read
with ``safetensors.numpy``, no torch): the heads are affine maps of the pooled
features (BatchNorm in eval mode folds into the Linear) or, for ConvNeXt, LayerNorm
then Linear, so the gradient of each output w.r.t. the pooled features - all that
exact Grad-CAM needs (gradcam.py) - is analytic.

Trust: the ``*.onnx`` files are written next to the safetensors and listed with their
SHA-256 in the manifest's ``files``, so the bundle signature (ai.signing) covers them;
exporting changes the manifest, so the bundle must be signed again (``--key``), else
it loads as unsigned/untrusted like any unsigned bundle. The committed demo bundles
carry no ONNX files: they are signed by the trust helper's demo key and re-signing
them here would race that work; the frozen build exports and signs its own copy.
By default the graphs carry no weights: their parameters are external data pointing at
the byte ranges of the (signed) safetensors (``weights_from_safetensors``), so the
ONNX files add tens of kB to a bundle, not a float32 copy of every trunk.

Runtime choice (``choose_runtime``): ``ULTRASOUND_READER_RUNTIME`` = ``torch`` /
``onnx`` / ``auto`` (default: torch when importable, else onnxruntime). The reading
window asks ``runtime_for_bundle``: in ``auto``, a bundle that carries a graph for
every trunk runs on ONNX Runtime when it is importable (faster, and torch need not load).
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ultrasound_reader.ai.context import RunContext, decide, lesion_size, looks_cystic
from ultrasound_reader.ai.gradcam import normalise
from ultrasound_reader.ai.manifest import SOFT_TISSUE_MODELS
from ultrasound_reader.ai.manifest import read as read_manifest
from ultrasound_reader.ai.preprocess import Crop, crop_roi, map_to_box, stack
from ultrasound_reader.case import LB_TYPES, AnalysisResult, CamMap, Roi
from ultrasound_reader.errors import UserError

RUNTIMES = ("auto", "torch", "onnx")
RUNTIME_ENV = "ULTRASOUND_READER_RUNTIME"
OPSET = 17
BN_EPS = 1e-5  # torch BatchNorm1d default
LN_EPS = 1e-6  # torchvision ConvNeXt LayerNorm2d


def choose_runtime(requested: str | None = None) -> str:
    """``torch`` or ``onnx``: the requested one, else $ULTRASOUND_READER_RUNTIME, else torch if importable."""
    want = (requested or os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    if want not in RUNTIMES:
        raise UserError(f"runtime {want!r} (from {'the option' if requested else RUNTIME_ENV}) is not one of "
                        f"{', '.join(RUNTIMES)}")
    if want == "auto":
        try:
            return "torch" if importlib.util.find_spec("torch") is not None else "onnx"
        except ImportError:  # an import hook (or a frozen app) that refuses torch
            return "onnx"
    return want


def has_onnx_graphs(manifest: dict[str, Any]) -> bool:
    """Whether the manifest lists an ONNX graph for every trunk of every model."""
    files = manifest.get("files") or {}
    models = manifest.get("models") or {}
    if not (isinstance(files, dict) and isinstance(models, dict)):
        return False  # not a valid manifest: the loader refuses it with the schema's reason
    return bool(models) and all(f in files for name in models
                                for f in trunk_files(str(manifest.get("task")), name).values())


def runtime_for_bundle(folder: str | Path, requested: str | None = None) -> str:
    """The runtime to analyse the bundle in ``folder`` with: an explicit request (or $ULTRASOUND_READER_RUNTIME)
    wins; in ``auto``, ONNX Runtime when the bundle has its graphs and onnxruntime is importable, else
    :func:`choose_runtime`. Reads only the manifest (the loader verifies it)."""
    want = (requested or os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    if want != "auto":
        return choose_runtime(requested)
    try:  # the strict reader: a bad manifest is refused by the loader, with its reason
        manifest, _ = read_manifest(Path(folder) / "manifest.json")
        graphs = isinstance(manifest, dict) and has_onnx_graphs(manifest)
    except (OSError, UserError):
        graphs = False
    if graphs and importlib.util.find_spec("onnxruntime") is not None:
        return "onnx"
    return choose_runtime(requested)


def trunk_files(task: str, name: str) -> dict[str, str]:
    """ONNX file of each trunk of model ``name``: {trunk key: file name}."""
    if task == "liver-fll" and name == "LB":
        return {"lesion": "LB.lesion.onnx", "background": "LB.background.onnx"}
    return {"trunk": f"{name}.onnx"}


# -- export (needs torch) ----------------------------------------------------------------
def export_onnx(folder: str | Path, *, key: str | Path | None = None, weights: str = "safetensors") -> dict[str, str]:
    """Export every trunk of the bundle at ``folder`` to ONNX beside its safetensors.

    Adds the files with their SHA-256 to the manifest and, with ``key``, signs the
    bundle again. Returns {file: sha256}. The bundle must load (hashes, signature
    policy) before anything is written.

    ``weights="safetensors"`` (default): the graphs hold no weights of their own; each
    parameter is ONNX external data pointing at its bytes in the bundle's (signed,
    fp16) safetensors, cast to float32 in the graph (:func:`weights_from_safetensors`),
    so a graph is a few tens of kB instead of a float32 copy of the trunk (the liver
    demo: 128 MB). ``weights="inline"``: the exporter's own graphs, BatchNorm folded
    into the convolutions, weights inside.
    """
    import json

    import torch

    from ultrasound_reader.ai import signing
    from ultrasound_reader.ai.bundle import MANIFEST, load_bundle, sha256_file

    if weights not in ("safetensors", "inline"):
        raise UserError(f"ONNX weights {weights!r}: expected 'safetensors' or 'inline'")
    folder = Path(folder).expanduser().resolve()
    b = load_bundle(folder)
    h, w = int(b.manifest["input"]["height"]), int(b.manifest["input"]["width"])
    written: dict[str, str] = {}
    for name, model in b.models.items():
        mods = {"lesion": model.lesion.trunk, "background": model.background} if (
            b.task == "liver-fll" and name == "LB") else {"trunk": model.trunk}
        for part, fname in trunk_files(b.task, name).items():
            trunk = mods[part].to(memory_format=torch.contiguous_format)
            dummy = torch.zeros(1, 3, h, w)
            out = folder / fname
            external = weights == "safetensors"
            # Unfolded (BatchNorm kept, no constant folding), the graph's parameters are the
            # module's own, by name: what weights_from_safetensors maps to the file's bytes.
            extra = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False} if external else {}
            with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
                warnings.simplefilter("ignore")
                torch.onnx.export(trunk, (dummy,), str(out), input_names=["image"], output_names=["fmap"],
                                  dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                                "fmap": {0: "n", 2: "fh", 3: "fw"}},
                                  opset_version=OPSET, dynamo=False, **extra)
            trunk.to(memory_format=torch.channels_last)
            if external:
                prefix = next(n for n, m in model.named_modules() if m is mods[part])
                weights_from_safetensors(out, folder / b.manifest["models"][name]["file"], prefix)
            written[fname] = sha256_file(out)
    mpath = folder / MANIFEST
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m["files"] = dict(sorted((m["files"] | written).items()))
    mpath.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    (folder / signing.SIGNATURE_FILE).unlink(missing_ok=True)
    if key is not None:
        signing.sign_bundle(folder, key)
    return written


def weights_from_safetensors(graph: Path, weights: Path, prefix: str) -> int:
    """Rewrite the ONNX ``graph`` so that its parameters are read from ``weights`` (safetensors).

    Each float32 initializer ``name`` whose value is exactly the safetensors tensor
    ``prefix.name`` (fp16, upcast) becomes an FLOAT16 external-data tensor at that
    tensor's byte range in the file, followed by a Cast to float32: ONNX Runtime reads
    the very bytes the bundle signature covers, folds the casts at session start and
    computes as before. Initializers without such a twin stay inline. Returns the
    number moved out. Needs the ``onnx`` package (export time only).
    """
    import json
    import struct

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    raw = weights.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    m = onnx.load(str(graph))
    inits, casts, moved = [], [], 0
    for init in m.graph.initializer:
        meta = header.get(f"{prefix}.{init.name}" if prefix else init.name)
        if not meta or meta.get("dtype") != "F16" or init.data_type != TensorProto.FLOAT:
            inits.append(init)
            continue
        start, end = meta["data_offsets"]
        stored = np.frombuffer(raw[base + start:base + end], dtype="<f2").reshape(meta["shape"])
        if not np.array_equal(stored.astype(np.float32), numpy_helper.to_array(init)):
            inits.append(init)
            continue
        t = TensorProto()
        t.name, t.data_type, t.data_location = f"{init.name}.f16", TensorProto.FLOAT16, TensorProto.EXTERNAL
        t.dims.extend(meta["shape"])
        for k, v in (("location", weights.name), ("offset", str(base + start)), ("length", str(end - start))):
            entry = t.external_data.add()
            entry.key, entry.value = k, v
        inits.append(t)
        casts.append(helper.make_node("Cast", [t.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}.cast"))
        moved += 1
    nodes = list(m.graph.node)
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    del m.graph.node[:]
    m.graph.node.extend(casts + nodes)
    onnx.save(m, str(graph))
    return moved


# -- loading (no torch) --------------------------------------------------------------------
@dataclass
class OnnxNet:
    """One model: its trunk sessions and its head parameters (numpy, float64)."""

    name: str
    sessions: dict[str, Any]
    params: dict[str, np.ndarray] = field(repr=False)

    def fmap(self, part: str, crops: list[Crop]) -> np.ndarray:
        x = np.ascontiguousarray(stack(crops), dtype=np.float32)
        return self.sessions[part].run(["fmap"], {"image": x})[0]


@dataclass
class OnnxBundle:
    """A verified bundle whose networks run on ONNX Runtime (duck-types ai.bundle.Bundle)."""

    path: Path
    manifest: dict[str, Any]
    models: dict[str, OnnxNet] = field(repr=False)
    manifest_sha256: str = ""
    nomogram: Any = field(default=None, repr=False)
    signature: Any = None
    runtime: str = "onnx"

    name = property(lambda self: self.manifest["name"])
    version = property(lambda self: self.manifest["version"])
    task = property(lambda self: self.manifest["task"])
    input_spec = property(lambda self: self.manifest["input"])
    fusion = property(lambda self: self.manifest.get("fusion"))


def load_onnx_bundle(path: str | Path, *, threads: int | None = None, trust_store: Any = None,
                     require_signed: bool | None = None) -> OnnxBundle:
    """Verify the bundle like ``load_bundle`` (schema, signature, every file's SHA-256), then open its graphs."""
    import hashlib

    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("the ONNX runtime is not installed (pip install 'ultrasound-reader[onnx]')") from None
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from ultrasound_reader.ai import bundle as _b
    from ultrasound_reader.ai import manifest as _manifest
    from ultrasound_reader.ai import signing

    folder = Path(path).expanduser().resolve()
    data, raw = _b._read_manifest(folder)
    _manifest.validate(data, source=str(folder / _b.MANIFEST))
    _b._refuse_pickles(folder)
    _b._refuse_unlisted_weights(folder, data["files"])
    for p in sorted(folder.glob("*.onnx")):
        if p.name not in data["files"]:
            raise UserError(f"{p}: ONNX graph not listed in the manifest; refused")
    store = trust_store if isinstance(trust_store, signing.TrustStore) else signing.trust_store(trust_store)
    require = signing.require_signed_default() if require_signed is None else bool(require_signed)
    status = signing.verify_bundle(folder, store)
    if status.verified and status.manifest_sha256 != hashlib.sha256(raw).hexdigest():
        # The manifest read above is not the one the signature check hashed (swapped meanwhile).
        status = signing.SignatureStatus("tampered", "manifest.json changed while the bundle was being verified",
                                         status.key_name, status.key_id, status.trust_store)
    signing.enforce(status, folder, require)
    for rel, digest in data["files"].items():
        p = (folder / rel).resolve()
        if folder not in p.parents or not p.is_file():
            raise UserError(f"{folder / _b.MANIFEST}: files: {rel!r} is missing or outside the bundle")
        if _b.sha256_file(p) != digest:
            raise UserError(f"{p}: SHA-256 does not match the manifest (file changed or tampered with); refused")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    models: dict[str, OnnxNet] = {}
    for name, spec in data["models"].items():
        files = trunk_files(data["task"], name)
        missing = [f for f in files.values() if f not in data["files"]]
        if missing:
            raise UserError(f"{folder}: no ONNX graph {', '.join(missing)} for model {name}; run "
                            f"'ultrasound-reader bundle export-onnx {folder}' (needs torch)")
        wpath = folder / spec["file"]
        try:
            state = load_file(str(wpath))
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{wpath}: corrupt weights ({exc})") from None
        bad = next((k for k, v in state.items() if v.dtype.kind == "f" and not np.isfinite(v).all()), None)
        if bad is not None:
            raise UserError(f"{wpath}: tensor {bad!r} holds NaN or infinite values; refused")
        params = {k: v.astype(np.float64) for k, v in state.items()
                  if "trunk." not in k and not k.startswith(("background.", "features.")) and v.dtype.kind == "f"}
        sessions = {}
        for part, fname in files.items():
            try:
                sessions[part] = ort.InferenceSession(str(folder / fname), opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise UserError(f"{folder / fname}: not a usable ONNX graph ({str(exc).splitlines()[0]})") from None
        models[name] = OnnxNet(name, sessions, params)
    nomogram = None
    if data.get("nomogram"):
        from ultrasound_reader.stats.nomogram import Nomogram

        nomogram = Nomogram.from_dict(data["nomogram"])
    return OnnxBundle(folder, data, models, hashlib.sha256(raw).hexdigest(), nomogram, status)


def load_for_runtime(path: str | Path, task: str | None = None, *, runtime: str | None = None,
                     threads: int | None = None, trust_store: Any = None,
                     require_signed: bool | None = None) -> Any:
    """The bundle at ``path`` loaded for the chosen runtime (``runtime_for_bundle``): a torch
    ``Bundle`` or an :class:`OnnxBundle`, verified the same way. ``task``, when given, must
    match. What the CLI, the GUI and the self-test load with, so that a build without torch
    (the frozen application) analyses through ONNX Runtime.
    """
    if runtime_for_bundle(path, runtime) == "torch":
        from ultrasound_reader.ai.bundle import load_bundle

        return load_bundle(path, task, trust_store=trust_store, require_signed=require_signed)
    if task is not None:
        from ultrasound_reader.ai import bundle as _b

        data, _ = _b._read_manifest(Path(path).expanduser().resolve())
        if isinstance(data, dict) and data.get("task") != task:
            raise UserError(f"{Path(path).expanduser().resolve()}: bundle is for task {data.get('task')!r}, "
                            f"not {task!r}")
    return load_onnx_bundle(path, threads=threads, trust_store=trust_store, require_signed=require_signed)


# -- heads and their gradients (numpy) --------------------------------------------------------
def bn_linear(params: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of dropout -> BatchNorm1d (eval) -> Linear folded into one affine map."""
    s = params[f"{prefix}.bn.weight"] / np.sqrt(params[f"{prefix}.bn.running_var"] + BN_EPS)
    c = params[f"{prefix}.bn.bias"] - params[f"{prefix}.bn.running_mean"] * s
    W = params[f"{prefix}.fc.weight"]
    return W * s[None, :], W @ c + params[f"{prefix}.fc.bias"]


def convnext_head(params: dict[str, np.ndarray], p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ConvNeXt head LayerNorm -> Linear(·, 1): outputs (B,) and d output / d p (B, C)."""
    mu = p.mean(1, keepdims=True)
    sigma = np.sqrt(((p - mu) ** 2).mean(1, keepdims=True) + LN_EPS)
    xh = (p - mu) / sigma
    w, g = params["head.fc.weight"][0], params["head.norm.weight"]
    out = (xh * g + params["head.norm.bias"]) @ w + params["head.fc.bias"][0]
    v = (w * g)[None, :]
    grad = (v - v.mean(1, keepdims=True) - xh * (v * xh).mean(1, keepdims=True)) / sigma
    return out, grad


def cam_maps_np(fmap: np.ndarray, pooled_grad: np.ndarray, crops: list[Crop], rois: list[Roi], model: str,
                method: str = "gradcam") -> list[CamMap]:
    """gradcam.cam_from_pooled_grad + inference.cam_maps, in numpy."""
    f = fmap.astype(np.float64)
    h, w = f.shape[-2:]
    g = pooled_grad / (h * w)
    if method == "gradcam":
        weights = g
    else:
        g2, g3 = g**2, g**3
        denom = 2 * g2 + f.sum(axis=(2, 3)) * g3
        weights = g2 / np.where(denom != 0, denom, 1.0) * np.maximum(g, 0) * (h * w)
    raw = np.maximum(np.einsum("bk,bkhw->bhw", weights, f), 0).astype(np.float32)
    out = []
    for heat, crop, roi in zip(normalise(raw), crops, rois):
        bbox, full = map_to_box(heat, crop)
        out.append(CamMap(roi_id=roi.id, model=model, image=roi.image, frame=roi.frame, bbox=bbox,
                          heat=np.clip(full, 0.0, 1.0).astype(np.float32)))
    return out


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# -- pipelines (the same steps as fll.py / soft_tissue.py, numpy instead of torch) ----------------
def run_fll_onnx(ctx: RunContext) -> AnalysisResult:
    from ultrasound_reader.ai import fll

    case, b = ctx.case, ctx.bundle
    spec, arch = b.manifest["input"], b.manifest["architecture"]
    lesions, backgrounds = case.rois_of("lesion"), case.rois_of("background")
    fll._check_counts(ctx, lesions, backgrounds)
    ctx.step(0.05, "reading frames")
    frames = {r.id: ctx.frame_of(r)[0] for r in lesions + backgrounds}
    ctx.lap("frames_s")
    ctx.step(0.15, "preparing ROI crops")
    role = lambda r: case.images[r.image].role  # noqa: E731
    where = lambda r: f"image {r.image} ({case.images[r.image].file}) frame {r.frame}"  # noqa: E731
    crops_l = [crop_roi(frames[r.id], r, spec, role(r), where(r)) for r in lesions]
    crops_b = [crop_roi(frames[r.id], r, spec, role(r), where(r)) for r in backgrounds]
    for r in lesions:
        if looks_cystic(frames[r.id], r):
            ctx.warn(f"lesion ROI {r.id} looks cystic (anechoic, homogeneous): cystic lesions are outside "
                     "the intended use")
    ctx.lap("preprocess_s")
    L, LB = b.models["L"], b.models["LB"]
    have_lb = bool(backgrounds)
    ctx.step(0.3, "Model^L")
    fmap_l = L.fmap("trunk", crops_l)
    ctx.lap("forward_s")
    W, c = bn_linear(L.params, "head")
    pl = fmap_l.astype(np.float64).mean(axis=(2, 3))
    out_l = pl @ W[0] + c[0]
    g_l = np.broadcast_to(W[0], pl.shape)
    probs: dict[str, float] = {}
    p_l = [float(v) for v in _sig(out_l)]
    probs["L"] = sum(p_l) / len(p_l)
    cams = cam_maps_np(fmap_l, g_l, crops_l, lesions, "L", ctx.cam_method) if ctx.cam else []
    per_image: list[dict[str, Any]] = [
        {"roi_id": r.id, "kind": "lesion", "image": r.image, "frame": r.frame, "box": list(cr.box), "L": p}
        for r, cr, p in zip(lesions, crops_l, p_l)]
    ctx.lap("cam_s")
    rest = fll.pending_outputs(ctx, have_lb, "L")
    ctx.emit_partial(["L"], rest, lambda: fll.partial_result(ctx, probs, per_image, cams, rest))
    lb_type, lb_type_probs = None, {}
    if have_lb:
        ctx.step(0.55, "Model^LB")
        fmap_ll = LB.fmap("lesion", crops_l)
        fmap_b = LB.fmap("background", crops_b)
        ctx.lap("forward_s")
        pair = fll.pair_backgrounds(lesions, backgrounds)
        pb = fmap_b.astype(np.float64).mean(axis=(2, 3))
        pll = fmap_ll.astype(np.float64).mean(axis=(2, 3))
        fw, fb = LB.params["fusion.weight"][0], LB.params["fusion.bias"][0]
        d = pll.shape[1]
        out_lb = pll @ fw[:d] + pb[pair] @ fw[d:] + fb
        p_lb = [float(v) for v in _sig(out_lb)]
        probs["LB"] = sum(p_lb) / len(p_lb)
        for row, j, p in zip(per_image, pair, p_lb):
            row["LB"], row["paired_background"] = p, backgrounds[j].id
        g_ll = np.broadcast_to(fw[:d], pll.shape)
        counts = np.bincount(pair, minlength=len(backgrounds))
        g_b = (counts[:, None] > 0) * np.broadcast_to(fw[d:], pb.shape)  # mean of identical rows
        lb_names = list(arch.get("lb_types", LB_TYPES))
        Wt, ct = bn_linear(LB.params, "lb_head")
        lb_logits = pb @ Wt.T + ct
        predicted = lb_logits.argmax(1)
        g_t = Wt[predicted]
        if arch.get("lb_activation", "softmax") == "softmax":
            e = np.exp(lb_logits - lb_logits.max(1, keepdims=True))
            act = e / e.sum(1, keepdims=True)
        else:
            act = _sig(lb_logits)
        mean_t = act.mean(0)
        lb_type_probs = {n: float(v) for n, v in zip(lb_names, mean_t)}
        lb_type = lb_names[int(mean_t.argmax())]
        for r, cr, a in zip(backgrounds, crops_b, act):
            per_image.append({"roi_id": r.id, "kind": "background", "image": r.image, "frame": r.frame,
                              "box": list(cr.box), "lb_type": lb_names[int(a.argmax())],
                              "lb_type_probabilities": {n: float(v) for n, v in zip(lb_names, a)}})
        if ctx.cam:
            cams += cam_maps_np(fmap_ll, g_ll, crops_l, lesions, "LB", ctx.cam_method)
            cams += cam_maps_np(fmap_b, g_b, crops_b, backgrounds, "LB", ctx.cam_method)
            cams += cam_maps_np(fmap_b, g_t, crops_b, backgrounds, "LB-type", ctx.cam_method)
        ctx.lap("cam_s")
        rest = fll.pending_outputs(ctx, have_lb, "LB")
        ctx.emit_partial(["L", "LB"], rest, lambda: fll.partial_result(ctx, probs, per_image, cams, rest,
                                                                       lb_type, lb_type_probs))
    else:
        ctx.warn("no liver-background ROI: Model^LB and Model^LBC not computed (Model^L shown)")
    ctx.step(0.85, "fusion and size")
    from ultrasound_reader.ai import fusion as _fusion

    complete = have_lb
    points: dict[str, float] = {}
    total = None
    if b.fusion:
        p_lbc, values, missing = _fusion.fused_probability(b.fusion, case.factors, probs)
        if p_lbc is not None:
            probs["LBC"] = p_lbc
            points, total = fll._nomogram_points(ctx, values)
        else:
            complete = False
            factors = [x for x in missing if x not in b.manifest["models"]]
            if factors:
                ctx.warn(f"clinical factor(s) not recorded: {', '.join(factors)}: Model^LBC not computed "
                         "(the LB result is shown)")
    size_cm, band = lesion_size(ctx, lesions)
    model, cut, decision = decide(ctx, probs)
    ctx.lap("fusion_s")
    return AnalysisResult(
        case_id=case.case_id, task=case.task, bundle_name=b.name, bundle_version=b.version,
        probabilities=probs, cutoff=cut, decision_model=model, decision=decision, per_image=per_image,
        nomogram_points=points, total_points=total, lesion_size_cm=size_cm, size_band=band,
        complete=complete, cams=cams, lb_type=lb_type, lb_type_probabilities=lb_type_probs,
        model_labels={k: v for k, v in fll.LABELS.items() if k in probs} | {"LB-type": "liver background type"},
    )


def run_soft_tissue_onnx(ctx: RunContext) -> AnalysisResult:
    from ultrasound_reader.ai import soft_tissue as st

    case, b = ctx.case, ctx.bundle
    spec, arch = b.manifest["input"], b.manifest["architecture"]
    by_role = st._rois_by_role(ctx)
    rois = [r for lst in by_role.values() for r in lst]
    roles = [case.images[r.image].role for r in rois]
    ctx.step(0.05, "reading frames")
    frames = {r.id: ctx.frame_of(r)[0] for r in rois}
    ctx.lap("frames_s")
    ctx.step(0.1, "preparing ROI crops")
    crops = [crop_roi(frames[r.id], r, spec, role, f"image {r.image} ({case.images[r.image].file}) frame {r.frame}")
             for r, role in zip(rois, roles)]
    ctx.lap("preprocess_s")
    probs: dict[str, float] = {}
    per_image: list[dict[str, Any]] = [
        {"roi_id": r.id, "kind": r.kind, "image": r.image, "frame": r.frame, "role": role, "box": list(c.box)}
        for r, c, role in zip(rois, crops, roles)]
    cams = []
    groups = sorted(set(roles))
    for k, name in enumerate(SOFT_TISSUE_MODELS):
        ctx.step(0.15 + 0.8 * k / len(SOFT_TISSUE_MODELS), f"{name}")
        net = b.models[name]
        fmap = net.fmap("trunk", crops)
        ctx.lap("forward_s")
        out, g = convnext_head(net.params, fmap.astype(np.float64).mean(axis=(2, 3)))
        idx = [[i for i, r in enumerate(roles) if r == gr] for gr in groups]
        if arch["combine"] == "mean_logit":
            probs[name] = 1.0 / (1.0 + math.exp(-sum(float(out[i].mean()) for i in idx) / len(groups)))
        else:
            p = _sig(out)
            probs[name] = sum(float(p[i].mean()) for i in idx) / len(groups)
        for row, p in zip(per_image, _sig(out)):
            row[name] = float(p)
        if ctx.cam:
            cams += cam_maps_np(fmap, g, crops, rois, name, ctx.cam_method)
        ctx.lap("cam_s")
        rest = list(SOFT_TISSUE_MODELS[k + 1:])
        ctx.emit_partial(list(SOFT_TISSUE_MODELS[:k + 1]), rest,
                         lambda: st.partial_result(ctx, probs, per_image, cams, rest))
    ctx.step(0.95, "cascade")
    model, cut, decision = decide(ctx, probs)
    subtypes = arch["subtypes"]
    subtype = None
    if decision == "benign":
        subtype = subtypes[max(SOFT_TISSUE_MODELS[1:], key=lambda n: probs[n])]
    size_cm, band = lesion_size(ctx, by_role.get("bmode") or rois)
    ctx.lap("fusion_s")
    return AnalysisResult(
        case_id=case.case_id, task=case.task, bundle_name=b.name, bundle_version=b.version,
        probabilities=probs, cutoff=cut, decision_model=model, decision=decision, subtype=subtype,
        per_image=per_image, lesion_size_cm=size_cm, size_band=band, complete=True, cams=cams,
        model_labels=st.model_labels(subtypes),
    )


PIPELINES = {"liver-fll": run_fll_onnx, "soft-tissue": run_soft_tissue_onnx}
