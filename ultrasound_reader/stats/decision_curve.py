"""Decision curve analysis (Vickers & Elkin 2006).

Net benefit at threshold probability t: TP/n - FP/n * t / (1 - t), treating a case
when its predicted probability is >= t. Treat-all uses everyone as positive; treat-
none is 0 by definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ultrasound_reader.errors import UserError
from ultrasound_reader.stats.calibration import check_probabilities
from ultrasound_reader.stats.inputs import complete_cases

DEFAULT_THRESHOLDS = tuple(np.round(np.arange(1, 20) * 0.05, 2).tolist())  # 0.05 ... 0.95


@dataclass(frozen=True)
class DecisionCurve:
    thresholds: list[float]
    model: list[float]
    treat_all: list[float]
    treat_none: list[float]
    n: int
    prevalence: float

    def to_dict(self) -> dict:
        return asdict(self)


def net_benefit(truth: object, prob: object, thresholds: object = DEFAULT_THRESHOLDS) -> DecisionCurve:
    c = complete_cases(truth, prob, need_both_classes=False)
    y, p = c.truth.astype(bool), c.scores[0]
    check_probabilities(p)
    t = np.asarray(thresholds, dtype=float)
    if t.size == 0 or np.any((t <= 0) | (t >= 1)):
        raise UserError("decision curve thresholds must lie strictly between 0 and 1")
    n = y.size
    treat = p[None, :] >= t[:, None]
    tp = (treat & y[None, :]).sum(axis=1)
    fp = (treat & ~y[None, :]).sum(axis=1)
    w = t / (1 - t)
    model = tp / n - fp / n * w
    prev = y.mean()
    all_ = prev - (1 - prev) * w
    return DecisionCurve(t.tolist(), model.tolist(), all_.tolist(), [0.0] * t.size, n, float(prev))
