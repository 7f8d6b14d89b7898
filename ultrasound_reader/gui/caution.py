"""What the reader is told next to a probability: plain names, calibration cautions, the demo status.

Pure functions over a bundle manifest (no Qt): the results panel and the reading
controller show what they return.

Calibration caution: a bundle's manifest stores, per cohort and output, the
calibration the training run measured (``metrics.<cohort>.<output>.calibration``:
``slope``, ``intercept``, ``brier``, ``hosmer_lemeshow_p``). The external cohort is
the one that says how the probability transfers to new data; when it is poor the
probability should be read as a ranking, not as a risk. Thresholds chosen here:

* calibration slope outside 0.8–1.25 (a slope of 1 is perfect; below 0.8 the
  probabilities are too extreme, above 1.25 too timid — the common "clinically
  relevant miscalibration" band), or
* Hosmer–Lemeshow p < 0.05 (the observed and predicted proportions differ beyond chance).

If the manifest has no external cohort the internal one is used, and the caution says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SLOPE_LOW, SLOPE_HIGH = 0.8, 1.25
HL_P_MIN = 0.05

PLAIN_WORDS = {
    "L": "image (lesion) only",
    "LB": "image + liver background",
    "LBC": "image + background + clinical factors",
    "DLM-1": "benign vs malignant, grayscale + colour Doppler",
}
SUBTYPE_WORDS = "benign subtype score"
SUBTYPE_NOTE = ("Subtype scores are independent 0–1 scores, one per subtype (a sigmoid each): they are not "
                "probabilities of one choice and need not sum to 1.")


def plain_words(output: str) -> str:
    """What an output looks at, in plain words ("image + background + clinical factors")."""
    if output in PLAIN_WORDS:
        return PLAIN_WORDS[output]
    if output.startswith("SM-"):
        return SUBTYPE_WORDS
    return ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def calibration_of(manifest: Mapping[str, Any] | None, output: str) -> tuple[str, float | None, float | None] | None:
    """(cohort, slope, Hosmer–Lemeshow p) of ``output`` on the external cohort (else internal); None if absent."""
    metrics = (manifest or {}).get("metrics")
    if not isinstance(metrics, Mapping):
        return None
    for cohort in ("external", "internal"):
        entry = metrics.get(cohort)
        row = entry.get(output) if isinstance(entry, Mapping) else None
        cal = row.get("calibration") if isinstance(row, Mapping) else None
        if isinstance(cal, Mapping):
            slope, p = _number(cal.get("slope")), _number(cal.get("hosmer_lemeshow_p"))
            if slope is not None or p is not None:
                return cohort, slope, p
    return None


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def calibration_caution(manifest: Mapping[str, Any] | None, output: str) -> str:
    """A one-line caution when ``output``'s stored calibration is poor (see the thresholds above); "" when not."""
    found = calibration_of(manifest, output)
    if found is None:
        return ""
    cohort, slope, p = found
    problems = []
    if slope is not None and not SLOPE_LOW <= slope <= SLOPE_HIGH:
        problems.append(f"slope {slope:.2f}")
    if p is not None and p < HL_P_MIN:
        problems.append(f"Hosmer–Lemeshow {_fmt_p(p)}")
    if not problems:
        return ""
    return (f"Calibration on the {cohort} cohort is poor ({', '.join(problems)}): read this probability as a "
            "ranking, not as the risk for this patient.")


def demo_status(manifest: Mapping[str, Any] | None) -> str:
    """The not-for-clinical-use line a bundle calls for ("" when it does not)."""
    if manifest is None:
        return ""
    synthetic = bool((manifest.get("training_data") or {}).get("synthetic"))
    ncu = bool((manifest.get("intended_use") or {}).get("not_for_clinical_use"))
    if synthetic:
        return "NOT FOR CLINICAL USE — demo model trained on synthetic phantoms"
    if ncu:
        return "NOT FOR CLINICAL USE — research model"
    return ""
