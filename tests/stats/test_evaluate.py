"""The whole evaluation on awkward inputs: tiny n, perfect separation, ties, missing values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ultrasound_reader.stats.evaluate import evaluate_scores, format_report
from ultrasound_reader.stats.jsonutil import jsonable


def test_small_separated_tied_and_missing():
    df = pd.DataFrame({
        "truth": ["benign", "malignant", "benign", "malignant", "benign", "malignant", None, "benign"],
        "p": [0.1, 0.9, 0.2, 0.8, 0.2, 0.95, 0.5, np.nan],
        "q": [0.3, 0.4, 0.3, 0.9, 0.6, 0.7, 0.1, 0.2],
        "centre": ["A", "A", "B", "B", "B", "A", "A", "B"],
    })
    out = evaluate_scores(df, "truth", ["p", "q"], by=["centre"], n_boot=50)
    p = out["scores"]["p"]
    assert p["n"] == 6 and p["n_missing"] == 2 and p["auc"] == 1.0
    notes = " | ".join(p["notes"])
    assert "perfect separation" in notes and "only 6 cases" in notes and "ties" in notes
    assert "2 row(s) with missing truth or p dropped" in notes
    assert p["calibration"]["hosmer_lemeshow"] is not None or any("Hosmer" in n for n in p["notes"])
    (cmp,) = out["comparisons"]
    assert cmp["n"] == 6 and cmp["n_missing"] == 2
    assert [r["stratum"] for r in out["strata"]["centre"]["p"]] == ["A", "B"]
    text = json.dumps(jsonable(out), allow_nan=False)  # strict JSON despite NaN/inf inside
    assert '"Infinity"' in text  # the ROC's end thresholds, spelled out
    assert "perfect separation" in format_report(out)
