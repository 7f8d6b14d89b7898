"""The bundle manifest: its JSON schema and validation.

A manifest says everything needed to run and to judge a model: what it is for and
not for, what it was trained on, how its networks are built, how ROIs are turned
into network inputs, where its decision threshold sits and with what operating
point, how LBC fuses clinical factors (fusion.py), the nomogram, validation metrics
and the SHA-256 of every file of the bundle. Schema validation happens before any
weight is read, so a bad manifest is refused with the offending key named.
"""

from __future__ import annotations

from typing import Any

from ultrasound_reader import safejson
from ultrasound_reader.ai.fusion import ENCODINGS_FACTOR, ENCODINGS_MODEL, FACTOR_FIELDS
from ultrasound_reader.case import TASKS
from ultrasound_reader.errors import UserError

FORMAT = "ultrasound-reader-bundle"
FORMAT_VERSION = 1

FLL_MODELS = ("L", "LB")
SOFT_TISSUE_MODELS = ("DLM-1", "SM-1", "SM-2", "SM-3", "SM-4", "SM-5")
FLL_OUTPUTS = ("L", "LB", "LBC")

# Every number has a range. Non-finite numbers (NaN, Infinity, 1e400) never get this far: the
# strict parser (safejson) refuses them. The ranges also bound what sizes memory before any
# weight is read: input size, block widths and depths, images per lesion.
MAX_MANIFEST_BYTES = 4 << 20
MAX_INPUT_SIDE = 2048  # px; the papers use 224 and 470
MAX_DEPTH = 32  # nesting levels; a manifest needs ~8
MAX_COEF = 100.0  # |logistic coefficient| or intercept: an odds ratio of e^100 is no model
_num = {"type": "number", "minimum": -1e6, "maximum": 1e6}
_coef = {"type": "number", "minimum": -MAX_COEF, "maximum": MAX_COEF}
_prob = {"type": "number", "minimum": 0, "maximum": 1}
_str = {"type": "string", "minLength": 1}
_sha = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

_threshold = {
    "type": "object",
    "required": ["value", "method"],
    "properties": {
        "value": _prob,
        "method": {"enum": ["youden", "fixed", "sensitivity", "specificity"]},
        "cohort": {"type": "string"},
        "operating_point": {
            "type": "object",
            "properties": {"sensitivity": _prob, "specificity": _prob,
                           "youden": {"type": "number", "minimum": -1, "maximum": 1},
                           "n": {"type": "integer", "minimum": 0}},
            "additionalProperties": True,
        },
    },
    "additionalProperties": False,
}

_term = {
    "type": "object",
    "required": ["name", "source", "encoding", "coef"],
    "properties": {
        "name": _str,
        "source": {"enum": ["model", "factor"]},
        "model": {"enum": list(FLL_MODELS)},
        "field": {"enum": list(FACTOR_FIELDS)},
        "encoding": {"enum": list(ENCODINGS_MODEL + ENCODINGS_FACTOR)},
        "value": {"anyOf": [_num, {"type": ["string", "boolean"]}]},
        "center": _num,
        "scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e6},
        "coef": _coef,
    },
    "allOf": [
        {"if": {"properties": {"source": {"const": "model"}}},
         "then": {"required": ["model"], "properties": {"encoding": {"enum": list(ENCODINGS_MODEL)}}}},
        {"if": {"properties": {"source": {"const": "factor"}}},
         "then": {"required": ["field"], "properties": {"encoding": {"enum": list(ENCODINGS_FACTOR)}}}},
        {"if": {"properties": {"encoding": {"enum": ["equals", "at_least"]}}}, "then": {"required": ["value"]}},
    ],
    "additionalProperties": False,
}

_colour = {"enum": ["gray3", "rgb"]}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Ultrasound Reader model bundle manifest",
    "type": "object",
    "required": ["format", "format_version", "name", "version", "task", "intended_use", "training_data",
                 "architecture", "models", "input", "images_per_lesion", "thresholds", "decision_models",
                 "metrics", "files"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "name": _str,
        "version": _str,
        "task": {"enum": list(TASKS)},
        "created": {"type": "string"},
        "description": {"type": "string"},
        "intended_use": {
            "type": "object",
            "required": ["statement", "contraindications", "not_for_clinical_use"],
            "properties": {
                "statement": _str,
                "population": {"type": "string"},
                "contraindications": {"type": "array", "items": _str},
                "min_lesion_cm": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                "not_for_clinical_use": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
        "training_data": {
            "type": "object",
            "required": ["statement", "synthetic"],
            "properties": {
                "statement": _str,
                "synthetic": {"type": "boolean"},
                "cohorts": {"type": "object"},
                "source": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "architecture": {
            "type": "object",
            "required": ["backbone", "imagenet_init"],
            "properties": {
                "backbone": {"enum": ["resnet18", "convnext"]},
                "imagenet_init": {"type": "boolean"},
                "dropout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                "lb_types": {"type": "array", "items": _str, "minItems": 2},
                "lb_activation": {"enum": ["softmax", "sigmoid"]},
                "variant": {"type": "string"},
                "block_setting": {
                    "type": "array", "minItems": 1,
                    "items": {"type": "array", "prefixItems": [
                        {"type": "integer", "minimum": 1, "maximum": 4096},
                        {"type": ["integer", "null"], "minimum": 1, "maximum": 4096},
                        {"type": "integer", "minimum": 1, "maximum": 64}], "minItems": 3, "maxItems": 3},
                },
                "stochastic_depth_prob": {"type": "number", "minimum": 0, "maximum": 1},
                "layer_scale": {"type": "number", "minimum": 0, "maximum": 10},
                "combine": {"enum": ["mean_probability", "mean_logit"]},
                "subtypes": {"type": "object", "additionalProperties": _str},
            },
            "additionalProperties": True,
        },
        "models": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "pattern": r"^[^/\\]+\.safetensors$"},
                               "description": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "input": {
            "type": "object",
            "required": ["width", "height", "mean", "std", "color"],
            "properties": {
                "width": {"type": "integer", "minimum": 8, "maximum": MAX_INPUT_SIDE},
                "height": {"type": "integer", "minimum": 8, "maximum": MAX_INPUT_SIDE},
                # pixels are scaled to [0, 1] before normalisation (preprocess.crop_roi)
                "mean": {"type": "array", "items": _prob, "minItems": 3, "maxItems": 3},
                "std": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                        "minItems": 3, "maxItems": 3},
                "color": {"type": "object", "properties": {"bmode": _colour, "cdfi": _colour},
                          "required": ["bmode"], "additionalProperties": False},
                "pad": {"enum": ["constant", "edge", "clip"]},
                "pad_value": {"type": "integer", "minimum": 0, "maximum": 255},
                "mask_outside": {"type": "boolean"},
                "roi_margin": {"type": "number", "minimum": 0, "maximum": 2},
                "interpolation": {"enum": ["area", "linear"]},
            },
            "additionalProperties": False,
        },
        "images_per_lesion": {
            "type": "object",
            "required": ["min", "max", "recommended"],
            "properties": {"min": {"type": "integer", "minimum": 1, "maximum": 64},
                           "max": {"type": "integer", "minimum": 1, "maximum": 64},
                           "recommended": {"type": "integer", "minimum": 1, "maximum": 64}},
            "additionalProperties": False,
        },
        "thresholds": {"type": "object", "minProperties": 1, "additionalProperties": _threshold},
        "decision_models": {"type": "array", "items": _str, "minItems": 1},
        "fusion": {
            "type": ["object", "null"],
            "required": ["model", "intercept", "terms"],
            "properties": {"model": {"const": "LBC"}, "intercept": _coef,
                           "terms": {"type": "array", "items": _term, "minItems": 1}},
            "additionalProperties": False,
        },
        "nomogram": {"type": ["object", "null"]},
        "metrics": {"type": "object"},
        "files": {"type": "object", "minProperties": 1, "additionalProperties": _sha},
    },
    "allOf": [
        {"if": {"properties": {"task": {"const": "liver-fll"}}},
         "then": {"properties": {"architecture": {"properties": {"backbone": {"const": "resnet18"}}},
                                 "models": {"required": list(FLL_MODELS),
                                            "propertyNames": {"enum": list(FLL_MODELS)}},
                                 "thresholds": {"propertyNames": {"enum": list(FLL_OUTPUTS)}}}}},
        {"if": {"properties": {"task": {"const": "soft-tissue"}}},
         "then": {"properties": {"architecture": {"properties": {"backbone": {"const": "convnext"}},
                                                  "required": ["combine", "subtypes"]},
                                 "input": {"properties": {"color": {"required": ["bmode", "cdfi"]}}},
                                 "models": {"required": list(SOFT_TISSUE_MODELS),
                                            "propertyNames": {"enum": list(SOFT_TISSUE_MODELS)}},
                                 "thresholds": {"required": ["DLM-1"]}}}},
    ],
    "additionalProperties": False,
}


def validate(manifest: Any, source: str = "manifest.json") -> None:
    """Raise a UserError naming the first offending key when the manifest is not valid.

    Also refuses non-finite numbers anywhere (a manifest built in memory never went
    through the strict parser).
    """
    safejson.validate(manifest, SCHEMA, source)
    try:
        safejson.dumps(manifest)
    except ValueError:
        raise UserError(f"{source}: contains NaN or Infinity; every number must be finite") from None
    _check_consistency(manifest, source)


def read(path: Any) -> tuple[Any, bytes]:
    """(parsed, raw bytes) of a manifest file, parsed strictly (size, depth, no NaN/Infinity).

    The schema is checked by :func:`validate`.
    """
    raw = safejson.read_bytes(path, max_bytes=MAX_MANIFEST_BYTES, what="bundle manifest")
    return safejson.loads(raw, str(path), max_depth=MAX_DEPTH), raw


def _check_consistency(m: dict[str, Any], source: str) -> None:
    """Checks the schema cannot express (cross-references between sections)."""
    ipl = m["images_per_lesion"]
    if not ipl["min"] <= ipl["recommended"] <= ipl["max"]:
        raise UserError(f"{source}: images_per_lesion: need min <= recommended <= max, got {ipl}")
    outputs = set(m["models"]) | ({"LBC"} if m.get("fusion") else set())
    for name in m["decision_models"]:
        if name not in outputs:
            raise UserError(f"{source}: decision_models: {name!r} is not an output of this bundle")
        if name not in m["thresholds"]:
            raise UserError(f"{source}: thresholds: no cut-off for decision model {name!r}")
    for name in m["thresholds"]:
        if name not in outputs:
            raise UserError(f"{source}: thresholds: {name!r} is not an output of this bundle")
    for name, spec in m["models"].items():
        if spec["file"] not in m["files"]:
            raise UserError(f"{source}: models/{name}: file {spec['file']} has no SHA-256 in files")
    if m["task"] == "liver-fll" and "LBC" in m["decision_models"] and not m.get("fusion"):
        raise UserError(f"{source}: decision model LBC needs a fusion section")
    if m["task"] == "soft-tissue":
        subs = m["architecture"]["subtypes"]
        missing = [s for s in SOFT_TISSUE_MODELS[1:] if s not in subs]
        if missing:
            raise UserError(f"{source}: architecture/subtypes: no subtype named for {', '.join(missing)}")
