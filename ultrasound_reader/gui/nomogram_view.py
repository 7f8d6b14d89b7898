"""The interactive nomogram, drawn from a bundle's nomogram spec alone.

Rows from top to bottom, as in the paper's figure: a Points scale (0–100), one axis
per predictor with its value ticks at their point positions, Total points and the
probability axis. Every number comes from the spec (``Nomogram.to_dict()``) and
from :meth:`Nomogram.score`: the view does no statistics of its own.

The current case's values are marked. Dragging a marker is a what-if: it moves along
its own axis (snapping to the levels of a categorical or few-valued predictor),
re-scores at once and emits ``valueChanged``; it never edits the case. The predictors
fed by a model (the image score) are locked: their value comes from the last
analysis. :func:`connect_form_to_nomogram` keeps the view in step with the clinical
factors form, coding the factors exactly as the bundle's LBC fusion does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ultrasound_reader.case import ClinicalFactors
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme
from ultrasound_reader.stats.nomogram import Nomogram, NomogramScore, PredictorAxis, probability_axis, total_axis_ticks

ROW = 1.0  # vertical distance between axes, in view units
TICK = 0.13  # tick mark height, in view units
LOCKED_COLOUR = "#7fa7d4"
LABEL_GAP_PX = 6.0  # between two level labels of one axis


@dataclass(frozen=True)
class AxisDisplay:
    """How one predictor axis is titled and its tick values worded (the spec keeps the numbers)."""

    title: str
    levels: Mapping[str, str] = field(default_factory=dict)  # spec label -> shown text
    fmt: Callable[[float], str] | None = None  # numeric tick value -> shown text

    def text(self, label: str, value: object) -> str:
        if label in self.levels:
            return self.levels[label]
        if self.fmt is not None:
            try:
                return self.fmt(float(value))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass
        return label


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def fusion_display(spec: Mapping[str, Any] | None) -> dict[str, AxisDisplay]:
    """Readable axes for a nomogram whose predictors are a bundle's LBC fusion terms.

    The fusion codes factors as numbers (0/1 dummies, a model's logit); the axes keep
    those positions but say "no / yes", "female / male" or the probability.
    """
    out: dict[str, AxisDisplay] = {}
    for t in (spec or {}).get("terms", []):
        name, enc = t["name"], t["encoding"]
        if t["source"] == "model":
            if enc == "logit":
                out[name] = AxisDisplay(f"{name} (Model^{t['model']} prob.)", fmt=lambda z: f"{_sigmoid(z):.2g}")
            else:
                out[name] = AxisDisplay(f"{name} (Model^{t['model']} prob.)")
        elif enc == "boolean":
            out[name] = AxisDisplay(name, {"0": "no", "1": "yes"})
        elif enc == "equals":
            v = t["value"]
            other = {"M": "female", "F": "male"}.get(v, "other") if t.get("field") == "sex" else "other"
            shown = {"M": "male", "F": "female"}.get(v, str(v)) if t.get("field") == "sex" else str(v)
            out[name] = AxisDisplay(name, {"0": other, "1": shown})
        elif enc == "at_least":
            v = t["value"]
            if t.get("field") == "hepatitis" and float(v) == 1:
                out[name] = AxisDisplay(name, {"0": "none", "1": "HBV/HCV"})
            else:
                out[name] = AxisDisplay(name, {"0": f"< {v:g}" if isinstance(v, (int, float)) else f"< {v}",
                                               "1": f"≥ {v:g}" if isinstance(v, (int, float)) else f"≥ {v}"})
        elif enc == "linear":
            c, s = float(t.get("center", 0.0)), float(t.get("scale", 1.0))
            out[name] = AxisDisplay(name, fmt=lambda x, c=c, s=s: f"{x * s + c:g}")
    return out


def format_probability(p: float) -> str:
    """Three decimals, without rounding a confident probability to 1.000 or 0.000."""
    if p >= 0.9995:
        return "> 0.999"
    if p < 0.0005:
        return "< 0.001"
    return f"{p:.3f}"


def _zero_level(ax: PredictorAxis) -> object:
    """A value of the axis worth 0 points (stands in for a missing one when scoring the others)."""
    return ax.values[min(range(len(ax.points)), key=lambda i: ax.points[i])]


class _Marker(pg.TargetItem):
    """A marker that moves along its own axis only; the view decides where it lands."""

    def __init__(self, name: str, y: float, on_drag: Callable[[str, float, bool], None], movable: bool) -> None:
        colour = theme.ACCENT if movable else LOCKED_COLOUR
        super().__init__(pos=(0.0, y), size=13, symbol="o", movable=movable,
                         pen=pg.mkPen(colour, width=2), brush=pg.mkBrush(colour),
                         hoverPen=pg.mkPen("#ffffff", width=2), hoverBrush=pg.mkBrush(colour))
        self.name = name
        self._on_drag = on_drag
        self._offset = 0.0
        self.setZValue(10)

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 - pyqtgraph API
        if not self.movable or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self._offset = self.pos().x() - self.mapToView(ev.buttonDownPos()).x()
            self.moving = True
        if not self.moving:
            return
        self._on_drag(self.name, self._offset + self.mapToView(ev.pos()).x(), ev.isFinish())
        if ev.isFinish():
            self.moving = False


class NomogramView(QWidget):
    """The nomogram of one bundle; ``set_values`` marks a case, drags explore what-ifs.

    Signals: ``valueChanged(name, value)`` after a drag moved a marker to a new value;
    ``scoreChanged(NomogramScore | None)`` whenever the points change (None while a
    predictor is missing).
    """

    valueChanged = Signal(str, object)
    scoreChanged = Signal(object)

    def __init__(self, spec: Mapping[str, Any] | None = None, display: Mapping[str, AxisDisplay] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nomogramView")
        self.nomogram: Nomogram | None = None
        self.display: dict[str, AxisDisplay] = {}
        self._values: dict[str, object] = {}
        self._case_values: dict[str, object] = {}
        self._locked: set[str] = set()
        self._lock_reason = ""
        self._missing_reason: dict[str, str] = {}
        self.what_if: set[str] = set()
        self.score: NomogramScore | None = None
        self.points: dict[str, float] = {}
        self.markers: dict[str, _Marker] = {}
        self._rows: dict[str, float] = {}
        self._ticks: list[tuple[pg.TextItem, float, str]] = []  # (item, x, row key), by priority, for thinning
        self._pairs: list[tuple[pg.TextItem, float, pg.TextItem, float, float]] = []  # two-level axes
        self.total_max = 100.0  # total points at the right end of the drawing
        self._row_points: dict[str, pg.TextItem] = {}
        self._left_px = 120.0
        self._right_px = 64.0

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(4)
        head = QHBoxLayout()
        self.total_label = QLabel("", self)
        self.total_label.setObjectName("totalPoints")
        self.prob_label = QLabel("", self)
        self.prob_label.setObjectName("probability")
        for w in (self.total_label, self.prob_label):
            f = QFont(w.font())
            f.setPointSizeF(f.pointSizeF() * 1.3)
            f.setBold(True)
            w.setFont(f)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Room for the widest text each can show, so the widget's width never follows a drag.
        for w, widest in ((self.total_label, "Total points 888.8"), (self.prob_label, "Probability > 0.999")):
            w.setMinimumWidth(int(QFontMetricsF(w.font()).horizontalAdvance(widest)) + 4)
        self.prob_label.setStyleSheet(f"color: {theme.ACCENT};")
        head.addWidget(self.total_label)
        head.addSpacing(12)
        head.addWidget(self.prob_label)
        head.addStretch(1)
        outer.addLayout(head)
        # The note and "Reset to case" share a row whose space is always kept: a what-if that
        # shows them must not widen the widget (the points column went off the dock) nor move
        # the axes under the mouse in mid-drag.
        notes = QHBoxLayout()
        self.note = QLabel("", self)
        self.note.setObjectName("nomogramNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        self.note.setMinimumWidth(60)
        notes.addWidget(self.note, 1)
        self.reset_button = QPushButton("&Reset to case", self)
        self.reset_button.setToolTip("Put every marker back on the case's own values")
        self.reset_button.clicked.connect(self.reset_to_case)
        policy = self.reset_button.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.reset_button.setSizePolicy(policy)
        self.reset_button.setVisible(False)
        notes.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignTop)
        outer.addLayout(notes)

        self.plot = pg.PlotWidget(self, background=theme.BASE)
        self.plot.setObjectName("nomogramPlot")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.vb = self.plot.getViewBox()
        self.vb.setMouseEnabled(False, False)
        self.vb.sigResized.connect(self._fit_range)
        outer.addWidget(self.plot, 1)
        self.tick_font = QFont(self.font())
        self.tick_font.setPointSizeF(max(self.tick_font.pointSizeF() * 0.85, 7.0))
        self.title_font = QFont(self.font())
        self.set_spec(spec, display)

    # -- spec ----------------------------------------------------------------------------
    def set_spec(self, spec: Mapping[str, Any] | None, display: Mapping[str, AxisDisplay] | None = None) -> None:
        """Draw the nomogram of ``spec`` (None: "no nomogram in this bundle")."""
        self.nomogram = None if spec is None else Nomogram.from_dict(spec)
        self.display = dict(display or {})
        self._values.clear()
        self._case_values.clear()
        self.what_if.clear()
        self._draw()
        self._rescore()

    def set_display(self, display: Mapping[str, AxisDisplay]) -> None:
        """Reword the axes (titles, level names) without touching the values."""
        self.display = dict(display)
        self._draw()
        self._rescore()

    def set_locked(self, names: Iterable[str], reason: str = "from the last analysis") -> None:
        """Make these predictors' markers fixed (their value is not the reader's to choose)."""
        self._locked = set(names)
        self._lock_reason = reason
        self._draw()
        self._rescore()

    def title(self, name: str) -> str:
        d = self.display.get(name)
        return d.title if d else name

    def _draw(self) -> None:
        self.plot.clear()
        self.markers.clear()
        self._ticks.clear()
        self._pairs.clear()
        self._row_points.clear()
        self._rows.clear()
        nomo = self.nomogram
        if nomo is None:
            self.plot.setVisible(False)
            return
        self.plot.setVisible(True)
        totals = total_axis_ticks(nomo)
        self.total_max = t_max = max(totals) or 1.0
        k = 100.0 / t_max  # total-points units -> drawing x
        rows: list[tuple[str, str, list[tuple[float, str]]]] = []
        pts = [round(v, 6) for v in _pretty_points(nomo.maxscale)]
        rows.append(("__points", "Points", [(p, f"{p:g}") for p in pts]))
        for ax in nomo.predictors:
            d = self.display.get(ax.name) or AxisDisplay(ax.name)
            rows.append((ax.name, d.title, [(p, d.text(lab, v)) for p, lab, v in zip(ax.points, ax.labels, ax.values)]))
        rows.append(("__total", "Total points", [(t * k, f"{t:g}") for t in totals]))
        rows.append(("__prob", "Probability", [(p * k, f"{pr:g}") for p, pr in probability_axis(nomo, t_max)]))

        xs: list[float] = []
        ys: list[float] = []
        fm = QFontMetricsF(self.title_font)
        self._left_px = max(fm.horizontalAdvance(title) for _, title, _ in rows) + 16
        tick_fm = QFontMetricsF(self.tick_font)  # the points column: wide enough for its longest text
        self._right_px = max(tick_fm.horizontalAdvance(t) for t in ("  100.0 pts", "  > 0.999", "  888.8")) + 10
        dim, text = theme.TEXT_DIM, theme.TEXT
        for i, (key, title, ticks) in enumerate(rows):
            y = -i * ROW
            self._rows[key] = y
            positions = [p for p, _ in ticks]
            xs += [min(positions), max(positions)]
            ys += [y, y]
            items = []
            for p, lab in ticks:
                xs += [p, p]
                ys += [y, y + TICK]
                item = pg.TextItem(lab, color=dim if key.startswith("__") else text, anchor=(0.5, 1.0))
                item.setFont(self.tick_font)
                item.setPos(p, y + TICK)
                self.plot.addItem(item)
                items.append((item, p))
            if len(items) == 2 and not key.startswith("__"):
                # A yes/no axis: both words always shown, pushed apart when the ticks are close.
                (a, pa), (b, pb) = sorted(items, key=lambda t: t[1])
                self._pairs.append((a, pa, b, pb, y + TICK))
            else:
                self._ticks += [(item, p, key) for item, p in items]
            colour = theme.ACCENT if key in ("__total", "__prob") else dim if key == "__points" else text
            head = pg.TextItem(title + "  ", color=colour, anchor=(1.0, 0.5))
            head.setFont(self.title_font)
            head.setPos(0.0, y)
            self.plot.addItem(head)
            if not key.startswith("__points"):
                val = pg.TextItem("", color=dim, anchor=(0.0, 0.5))
                val.setFont(self.tick_font)
                val.setPos(100.0, y)
                self.plot.addItem(val)
                self._row_points[key] = val
        lines = pg.PlotCurveItem(xs, ys, connect="pairs", pen=pg.mkPen(dim, width=1))
        self.plot.addItem(lines)
        self.guide = pg.PlotCurveItem([], [], pen=pg.mkPen(theme.ACCENT, width=1, style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.guide)
        for ax in nomo.predictors:
            m = _Marker(ax.name, self._rows[ax.name], self._on_drag, movable=ax.name not in self._locked)
            m.setToolTip(f"{self.title(ax.name)}: " + (self._lock_reason if ax.name in self._locked
                                                       else "drag to explore (what-if; the case is not changed)"))
            self.plot.addItem(m)
            self.markers[ax.name] = m
        for key in ("__total", "__prob"):
            m = _Marker(key, self._rows[key], self._on_drag, movable=False)
            self.plot.addItem(m)
            self.markers[key] = m
        self.setMinimumHeight(int(70 + 34 * len(rows)))
        self._fit_range()

    def _fit_range(self, *_: object) -> None:
        """Keep titles and points columns a fixed number of pixels wide whatever the widget's width."""
        if self.nomogram is None:
            return
        width = max(self.vb.width(), 200.0)
        ppu = max((width - self._left_px - self._right_px) / 100.0, 0.5)
        n = len(self._rows)
        self.vb.setRange(xRange=(-self._left_px / ppu, 100.0 + self._right_px / ppu),
                         yRange=(-(n - 1) * ROW - 0.45, 0.55), padding=0.0)
        self._thin_labels(ppu)
        self._spread_pairs(ppu)

    def _thin_labels(self, ppu: float) -> None:
        """Hide tick labels that would overlap one already kept (in priority order, per row)."""
        fm = QFontMetricsF(self.tick_font)
        kept: dict[str, list[tuple[float, float]]] = {}
        for item, x, key in self._ticks:
            w = fm.horizontalAdvance(item.toPlainText())
            left, right = x * ppu - w / 2, x * ppu + w / 2
            spans = kept.setdefault(key, [])
            keep = all(right + 4 <= a or left >= b + 4 for a, b in spans)
            item.setVisible(keep)
            if keep:
                spans.append((left, right))

    def _spread_pairs(self, ppu: float) -> None:
        """Place the two words of a two-level axis over their ticks, apart when the ticks are close."""
        fm = QFontMetricsF(self.tick_font)
        for a, pa, b, pb, y in self._pairs:
            wa, wb = fm.horizontalAdvance(a.toPlainText()), fm.horizontalAdvance(b.toPlainText())
            xa, xb = pa * ppu, pb * ppu  # pixel centres
            overlap = (xa + wa / 2 + LABEL_GAP_PX) - (xb - wb / 2)
            if overlap > 0:
                xa -= overlap / 2
                xb += overlap / 2
                shift = max(0.0, -4.0 - (xa - wa / 2))  # never into the titles' column
                xa += shift
                xb += shift
            a.setPos(xa / ppu, y)
            b.setPos(xb / ppu, y)
            a.setVisible(True)
            b.setVisible(True)

    # -- values and scoring ------------------------------------------------------------------
    def set_values(self, values: Mapping[str, object], missing_reason: Mapping[str, str] | None = None) -> None:
        """The case's values by predictor name (absent/None = not recorded); drops what-ifs."""
        self._case_values = {k: v for k, v in values.items() if v is not None}
        self._values = dict(self._case_values)
        self._missing_reason = dict(missing_reason or {})
        self.what_if.clear()
        self._rescore()

    def set_value(self, name: str, value: object) -> None:
        """Move one marker to ``value`` (a what-if when it differs from the case)."""
        if self.nomogram is None or name not in self.nomogram.names:
            raise UserError(f"nomogram: no predictor named {name!r}")
        self._values[name] = value
        if self._case_values.get(name) != value:
            self.what_if.add(name)
        else:
            self.what_if.discard(name)
        self._rescore()

    def values(self) -> dict[str, object]:
        return dict(self._values)

    def reset_to_case(self) -> None:
        self._values = dict(self._case_values)
        self.what_if.clear()
        self._rescore()

    def _axis(self, name: str) -> PredictorAxis:
        assert self.nomogram is not None
        return next(ax for ax in self.nomogram.predictors if ax.name == name)

    def value_at(self, name: str, x: float) -> object:
        """The axis value under drawing position ``x`` (points): snapped to a level when it has levels."""
        ax = self._axis(name)
        if ax.kind in ("categorical", "discrete") or not ax.coef:
            i = min(range(len(ax.points)), key=lambda j: (abs(ax.points[j] - x), j))
            return ax.values[i]
        assert self.nomogram is not None
        v = (x / self.nomogram.sc + ax.xbeta_min) / ax.coef
        lo, hi = min(ax.values), max(ax.values)
        v = min(max(v, lo), hi)
        step = (hi - lo) / 200.0  # a drag resolves half a percent of the axis
        return round(lo + round((v - lo) / step) * step, 10) if step > 0 else v

    def drag_marker(self, name: str, x: float, finished: bool = True) -> object:
        """What a mouse drag of ``name``'s marker to drawing position ``x`` does; returns the new value."""
        if name in self._locked or name.startswith("__"):
            return self._values.get(name)
        value = self.value_at(name, x)
        changed = value != self._values.get(name)
        if changed:
            self.set_value(name, value)
            self.valueChanged.emit(name, value)
        else:
            self._place_markers()  # snap back onto the level
        return value

    def _on_drag(self, name: str, x: float, finished: bool) -> None:
        self.drag_marker(name, x, finished)

    def _rescore(self) -> None:
        nomo = self.nomogram
        self.score, self.points = None, {}
        if nomo is None:
            self.total_label.setText("No nomogram in this bundle")
            self.prob_label.setText("")
            self.note.setText("")
            self.reset_button.setVisible(False)
            self.scoreChanged.emit(None)
            return
        present, bad = {}, {}
        for ax in nomo.predictors:
            if ax.name in self._values:
                try:
                    nomo.score({a.name: (self._values[ax.name] if a is ax else _zero_level(a))
                                for a in nomo.predictors})
                    present[ax.name] = self._values[ax.name]
                except UserError as exc:
                    bad[ax.name] = str(exc)
        filled = {ax.name: present.get(ax.name, _zero_level(ax)) for ax in nomo.predictors}
        partial = nomo.score(filled)
        self.points = {k: v for k, v in partial.points.items() if k in present}
        missing = [ax.name for ax in nomo.predictors if ax.name not in present]
        if not missing:
            self.score = partial
        self._show(missing, bad)
        self.scoreChanged.emit(self.score)

    def _show(self, missing: list[str], bad: Mapping[str, str]) -> None:
        s = self.score
        if s is not None:
            self.total_label.setText(f"Total points {s.total_points:.1f}")
            self.prob_label.setText(f"Probability {format_probability(s.probability)}")
        else:
            self.total_label.setText("Total points —")
            self.prob_label.setText("Probability —")
        notes = []
        if missing:
            reasons = [f"{n} ({self._missing_reason.get(n) or bad.get(n) or 'not recorded'})"
                       for n in missing]
            notes.append("Needs: " + "; ".join(reasons))
        if self.what_if:
            notes.append("What-if (not the case's values): " + ", ".join(self.title(n) for n in sorted(self.what_if)))
        if s is not None and s.out_of_range:
            notes.append("Beyond the axis range: " + ", ".join(self.title(n) for n in s.out_of_range))
        self.note.setText("\n".join(notes))
        self.note.setStyleSheet(f"color: {theme.ACCENT if self.what_if else theme.TEXT_DIM};")
        self.reset_button.setVisible(bool(self.what_if))
        self._place_markers()

    def _place_markers(self) -> None:
        nomo = self.nomogram
        if nomo is None:
            return
        for ax in nomo.predictors:
            m = self.markers[ax.name]
            label = self._row_points[ax.name]
            if ax.name in self.points:
                p = self.points[ax.name]
                m.setPos(QPointF(min(max(p, min(ax.points)), max(ax.points)), self._rows[ax.name]))
                m.setVisible(True)
                label.setText(f"  {p:.1f} pts")
            else:
                m.setVisible(False)
                label.setText("  —")
        s = self.score
        t_max = self.total_max
        for key in ("__total", "__prob"):
            self.markers[key].setVisible(s is not None)
        if s is None:
            self._row_points["__total"].setText("  —")
            self._row_points["__prob"].setText("  —")
            self.guide.setData([], [])
            return
        x = min(max(s.total_points * 100.0 / t_max, 0.0), 100.0)
        self.markers["__total"].setPos(QPointF(x, self._rows["__total"]))
        self.markers["__prob"].setPos(QPointF(x, self._rows["__prob"]))
        self._row_points["__total"].setText(f"  {s.total_points:.1f}")
        self._row_points["__prob"].setText(f"  {format_probability(s.probability)}")
        self.guide.setData([x, x], [self._rows["__total"], self._rows["__prob"]])

    def marker_x(self, name: str) -> float:
        """Drawing x of a marker (points units), for tests and accessibility."""
        return float(self.markers[name].pos().x())

    def row_y(self, name: str) -> float:
        return self._rows[name]


def _pretty_points(maxscale: float) -> list[float]:
    """The Points scale ticks: 0, 10, ..., maxscale (rms draws every 10 of 100)."""
    step = maxscale / 10.0
    return [i * step for i in range(11)]


# -- the form -> nomogram wiring ---------------------------------------------------------------
class NomogramLink(QObject):
    """Keeps a NomogramView on the factors of a form and the model scores of the last analysis.

    Values are coded by the bundle's fusion spec (``ai.fusion.encode``), exactly as
    the analysis codes them; without a fusion spec predictors are taken to be
    ClinicalFactors fields of the same name.
    """

    def __init__(self, form: Any, view: NomogramView, fusion_spec: Mapping[str, Any] | None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or view)
        self.form, self.view = form, view
        self.fusion = dict(fusion_spec) if fusion_spec else None
        self.model_probs: dict[str, float] = {}
        model_terms = [t["name"] for t in (self.fusion or {}).get("terms", []) if t["source"] == "model"]
        view.set_locked(model_terms, "from the last analysis (run it to place this marker)")
        form.factorsChanged.connect(self.update)
        self.update()

    def set_model_probabilities(self, probs: Mapping[str, float] | None) -> None:
        """The lesion-level probabilities of the last analysis (``AnalysisResult.probabilities``)."""
        self.model_probs = dict(probs or {})
        self.update()

    def values(self, factors: ClinicalFactors) -> tuple[dict[str, object], dict[str, str]]:
        """(values by predictor name, reason by missing predictor)."""
        if self.fusion is None:
            return ({k: getattr(factors, k) for k in (self.view.nomogram.names if self.view.nomogram else [])
                     if hasattr(factors, k) and getattr(factors, k) is not None}, {})
        from ultrasound_reader.ai.fusion import encode_term

        values: dict[str, object] = {}
        reasons: dict[str, str] = {}
        for t in self.fusion["terms"]:
            x = encode_term(t, factors, self.model_probs)
            if x is not None:
                values[t["name"]] = x
            elif t["source"] == "model":
                reasons[t["name"]] = "run the analysis"
            else:
                reasons[t["name"]] = "not recorded"
        return values, reasons

    def update(self, factors: ClinicalFactors | None = None) -> None:
        factors = factors if isinstance(factors, ClinicalFactors) else self.form.factors()
        values, reasons = self.values(factors)
        self.view.set_values(values, reasons)


def connect_form_to_nomogram(form: Any, view: NomogramView, fusion_spec: Mapping[str, Any] | None = None,
                             display: bool = True) -> NomogramLink:
    """Wire ``form.factorsChanged`` to ``view`` (and, with ``display``, word its axes by the fusion)."""
    if display and fusion_spec and view.nomogram is not None:
        view.set_display(fusion_display(fusion_spec))
    return NomogramLink(form, view, fusion_spec)
