"""ai layer (see DESIGN.md): networks, model bundles, preprocessing, Grad-CAM, pipelines.

Public API::

    from ultrasound_reader.ai import load_bundle, Analyzer
    result = Analyzer(load_bundle("models/demo-fll")).run(case)

Nothing here imports torch at import time (the GUI imports this package at start-up);
the names below are resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_bundle": "ultrasound_reader.ai.bundle",
    "save_bundle": "ultrasound_reader.ai.bundle",
    "make_random_bundle": "ultrasound_reader.ai.bundle",
    "clear_cache": "ultrasound_reader.ai.bundle",
    "Bundle": "ultrasound_reader.ai.bundle",
    "Analyzer": "ultrasound_reader.ai.analyzer",
    "SignatureStatus": "ultrasound_reader.ai.signing",
    "verify_bundle": "ultrasound_reader.ai.signing",
    "sign_bundle": "ultrasound_reader.ai.signing",
    "overlay_rgba": "ultrasound_reader.ai.gradcam",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
