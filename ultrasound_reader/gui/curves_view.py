"""Calibration and decision curves that a bundle's manifest stores with its metrics.

Nothing is computed here: the training run measured the curves on its cohorts
(``stats.calibration.calibration_curve``, ``stats.decision_curve.net_benefit``) and
wrote them into ``manifest["metrics"]``. The view finds them wherever they sit in
that block (per cohort and output), lets the reader pick one, and says plainly
"not stored in this bundle" when a bundle has none (summary figures such as the
calibration slope or Brier score are still shown when present).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ultrasound_reader.gui import theme

NOT_STORED = "not stored in this bundle"
MODEL_COLOUR = theme.ACCENT
ALL_COLOUR = "#7fa7d4"
NONE_COLOUR = "#8c939c"


@dataclass
class StoredCurves:
    """What a manifest holds for one (cohort, output)."""

    cohort: str
    output: str
    calibration: list[dict[str, Any]] | None = None  # rows: mean_predicted, observed[, _low, _high, n]
    calibration_summary: dict[str, Any] = field(default_factory=dict)  # slope, intercept, brier, HL p
    decision_curve: dict[str, Any] | None = None  # thresholds, model, treat_all[, treat_none, n, prevalence]

    @property
    def key(self) -> str:
        return f"{self.cohort} · {self.output}"


def _is_cal_rows(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(r, Mapping) and "mean_predicted" in r
                                                  and "observed" in r for r in x)


def _is_dca(x: Any) -> bool:
    return isinstance(x, Mapping) and all(isinstance(x.get(k), list) for k in ("thresholds", "model"))


def _summary(cal: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: cal[k] for k in ("slope", "intercept", "citl", "brier") if isinstance(cal.get(k), (int, float))}
    hl = cal.get("hosmer_lemeshow")
    p = hl.get("p") if isinstance(hl, Mapping) else cal.get("hosmer_lemeshow_p")
    if isinstance(p, (int, float)):
        out["hosmer_lemeshow_p"] = p
    return out


def find_curves(metrics: Mapping[str, Any] | None) -> list[StoredCurves]:
    """Every (cohort, output) of a manifest's metrics that has calibration or decision-curve data.

    Accepts the layouts the training export writes (``metrics[cohort][output]`` and
    ``metrics["cohorts"][cohort][output]``): a node with a ``calibration`` or
    ``decision_curve`` key is one output; its two parent keys name output and cohort.
    """
    found: list[StoredCurves] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, Mapping):
            return
        cal, dca = node.get("calibration"), node.get("decision_curve")
        if isinstance(cal, Mapping) or _is_cal_rows(cal) or _is_dca(dca):
            names = [p for p in path if p not in ("cohorts", "metrics")]
            output = names[-1] if names else "model"
            cohort = names[-2] if len(names) >= 2 else "validation"
            rows = cal if _is_cal_rows(cal) else (cal.get("curve") if isinstance(cal, Mapping) else None)
            found.append(StoredCurves(cohort, output, rows if _is_cal_rows(rows) else None,
                                      _summary(cal) if isinstance(cal, Mapping) else {},
                                      dict(dca) if _is_dca(dca) else None))
            return
        for k, v in node.items():
            if k in ("strata",):  # per-stratum figures are not curves to pick from here
                continue
            walk(v, (*path, str(k)))

    walk(metrics or {}, ())
    return found


def _finite(values: Any) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


class CurvesView(QWidget):
    """Calibration (observed vs predicted) and decision (net benefit vs threshold) curves of a bundle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("curvesView")
        self.curves: list[StoredCurves] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(4)
        row = QHBoxLayout()
        pick = QLabel("&Curves of", self)
        self.choice = QComboBox(self)
        self.choice.setObjectName("curveChoice")
        pick.setBuddy(self.choice)
        self.choice.currentIndexChanged.connect(self._show)
        row.addWidget(pick)
        row.addWidget(self.choice, 1)
        outer.addLayout(row)
        self.status = QLabel("", self)
        self.status.setObjectName("curvesStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {theme.TEXT_DIM};")
        outer.addWidget(self.status)

        self.cal_plot = self._plot("Calibration", "predicted probability", "observed proportion")
        self.cal_note = QLabel("", self)
        self.cal_note.setObjectName("calibrationNote")
        self.cal_note.setWordWrap(True)
        self.cal_note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.dca_plot = self._plot("Decision curve", "threshold probability", "net benefit")
        self.dca_legend = QLabel("", self)
        self.dca_legend.setObjectName("decisionLegend")
        self.dca_legend.setTextFormat(Qt.TextFormat.RichText)
        self.dca_note = QLabel("", self)
        self.dca_note.setObjectName("decisionNote")
        self.dca_note.setWordWrap(True)
        self.dca_note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        for w in (self.cal_plot, self.cal_note, self.dca_plot, self.dca_legend, self.dca_note):
            outer.addWidget(w, 1 if isinstance(w, pg.PlotWidget) else 0)
        self.set_metrics(None)

    def _plot(self, title: str, x: str, y: str) -> pg.PlotWidget:
        p = pg.PlotWidget(self, background=theme.BASE)
        p.setTitle(title, color=theme.TEXT, size="10pt")
        for side, text in (("bottom", x), ("left", y)):
            ax = p.getAxis(side)
            ax.setLabel(text, color=theme.TEXT_DIM)
            ax.setPen(pg.mkPen(theme.BORDER))
            ax.setTextPen(pg.mkPen(theme.TEXT_DIM))
            ax.enableAutoSIPrefix(False)  # probabilities stay probabilities, never "x0.001"
        p.showGrid(x=True, y=True, alpha=0.15)
        p.setMenuEnabled(False)
        p.hideButtons()
        p.getViewBox().setMouseEnabled(False, False)
        p.setMinimumHeight(170)
        return p

    def set_manifest(self, manifest: Mapping[str, Any] | None) -> None:
        """Show the curves of a bundle manifest (``Bundle.manifest``)."""
        self.set_metrics((manifest or {}).get("metrics"))

    def set_metrics(self, metrics: Mapping[str, Any] | None) -> None:
        self.curves = find_curves(metrics)
        self.choice.blockSignals(True)
        self.choice.clear()
        for c in self.curves:
            self.choice.addItem(c.key)
        # Prefer an external / validation cohort and the fused output, as the paper reports.
        best = max(range(len(self.curves)), default=-1, key=lambda i: _preference(self.curves[i]))
        self.choice.setCurrentIndex(best)
        self.choice.blockSignals(False)
        self.choice.setEnabled(len(self.curves) > 1)
        self._show()

    def select(self, cohort: str, output: str) -> bool:
        for i, c in enumerate(self.curves):
            if c.cohort == cohort and c.output == output:
                self.choice.setCurrentIndex(i)
                return True
        return False

    @property
    def current(self) -> StoredCurves | None:
        i = self.choice.currentIndex()
        return self.curves[i] if 0 <= i < len(self.curves) else None

    def _show(self, *_: object) -> None:
        c = self.current
        self.status.setText("" if self.curves else f"Calibration and decision curves: {NOT_STORED}.")
        self.status.setVisible(not self.curves)
        self._show_calibration(c)
        self._show_decision(c)

    def _show_calibration(self, c: StoredCurves | None) -> None:
        p = self.cal_plot
        p.clear()
        p.addItem(pg.PlotCurveItem([0, 1], [0, 1], pen=pg.mkPen(NONE_COLOUR, width=1, style=Qt.PenStyle.DashLine)))
        p.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.04)
        summary = _format_summary(c.calibration_summary) if c else ""
        if c is None or not c.calibration:
            self.cal_note.setText(f"Calibration curve: {NOT_STORED}" + (f" ({summary})" if summary else "") + ".")
            return
        rows = c.calibration
        x, y = _finite(r["mean_predicted"] for r in rows), _finite(r["observed"] for r in rows)
        lo = _finite(r.get("observed_low", r["observed"]) for r in rows)
        hi = _finite(r.get("observed_high", r["observed"]) for r in rows)
        p.addItem(pg.ErrorBarItem(x=x, y=y, top=hi - y, bottom=y - lo, beam=0.012,
                                  pen=pg.mkPen(theme.TEXT_DIM, width=1)))
        p.plot(x, y, pen=pg.mkPen(MODEL_COLOUR, width=2), symbol="o", symbolSize=6,
               symbolBrush=MODEL_COLOUR, symbolPen=None)
        n = sum(int(r.get("n", 0) or 0) for r in rows)
        self.cal_note.setText(f"{c.key}: {len(rows)} groups" + (f", n = {n}" if n else "")
                              + (f"; {summary}" if summary else "") + ". Dashed: perfect calibration.")

    def _show_decision(self, c: StoredCurves | None) -> None:
        p = self.dca_plot
        p.clear()
        if c is None or not c.decision_curve:
            p.setRange(xRange=(0, 1), yRange=(-0.05, 0.5), padding=0.04)
            self.dca_note.setText(f"Decision curve: {NOT_STORED}.")
            self.dca_legend.setVisible(False)
            return
        d = c.decision_curve
        t = _finite(d["thresholds"])
        model = _finite(d["model"])
        series = [("model", model, MODEL_COLOUR, Qt.PenStyle.SolidLine)]
        if isinstance(d.get("treat_all"), list):
            series.append(("treat all", _finite(d["treat_all"]), ALL_COLOUR, Qt.PenStyle.SolidLine))
        series.append(("treat none", _finite(d.get("treat_none") or [0.0] * len(t)), NONE_COLOUR,
                       Qt.PenStyle.DashLine))
        for name, y, colour, style in series:
            p.plot(t, y, pen=pg.mkPen(colour, width=2, style=style))
        # A legend under the plot: inside it would hide the curves where they matter.
        self.dca_legend.setText("&nbsp;&nbsp;".join(
            f'<span style="color:{colour}">{"╌╌" if style == Qt.PenStyle.DashLine else "━━"}</span> '
            f'<span style="color:{theme.TEXT}">{c.output if name == "model" else name}</span>'
            for name, _, colour, style in series))
        self.dca_legend.setVisible(True)
        top = np.nanmax(np.concatenate([s[1] for s in series])) if len(t) else 0.5
        top = top if math.isfinite(top) and top > 0 else 0.5
        p.setRange(xRange=(float(np.nanmin(t)), float(np.nanmax(t))), yRange=(-0.05 * top - 0.02, top * 1.1),
                   padding=0.02)
        prev = d.get("prevalence")
        extra = f", prevalence {prev:.2f}" if isinstance(prev, (int, float)) else ""
        n = d.get("n")
        self.dca_note.setText(f"{c.key}: net benefit of treating when the predicted probability ≥ threshold"
                              + (f" (n = {n}{extra})" if n else "") + ".")


def _preference(c: StoredCurves) -> tuple[int, int, int]:
    cohort = c.cohort.lower()
    rank = 2 if "external" in cohort else 1 if ("internal" in cohort or "valid" in cohort or "test" in cohort) else 0
    out = {"LBC": 3, "DLM-1": 3, "LB": 2, "L": 1}.get(c.output, 0)
    return (int(bool(c.calibration or c.decision_curve)), rank, out)


def _format_summary(s: Mapping[str, Any]) -> str:
    parts = []
    for key, label, fmt in (("slope", "slope", "{:.2f}"), ("intercept", "intercept", "{:.2f}"),
                            ("brier", "Brier", "{:.3f}"), ("hosmer_lemeshow_p", "Hosmer–Lemeshow p", "{:.3f}")):
        v = s.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts.append(f"{label} {fmt.format(v + 0.0).replace('-0.00', '0.00')}")
    return ", ".join(parts)
