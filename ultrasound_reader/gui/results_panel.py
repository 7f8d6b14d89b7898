"""The results panel: what an analysis said, and how far to trust it.

It shows an :class:`~ultrasound_reader.case.AnalysisResult` as it is: the models'
probabilities as bars with the cut-off marked, which model decided and how, the
per-image scores, lesion size and its stratum, the liver-background type, and the
warnings (intended use, missing factors) above the details, where they are read.
A demo bundle carries a "not for clinical use" banner that cannot be missed, shown
from the moment the bundle is loaded (:meth:`ResultsPanel.set_bundle`), not only with
a result. Each output is named in plain words beside the paper's notation, and a
caution stands under a probability whose stored external calibration is poor
(thresholds in caution.py); subtype scores are said not to be probabilities of one
choice.

States besides "showing a result": empty, running (progress), cancelled, error,
and stale (the ROIs changed after the analysis: the numbers are greyed out, not
hidden, so the reader sees what will be replaced). While an analysis runs, its
outputs so far are shown as they come (:meth:`ResultsPanel.set_partial`) with
"n of m models — computing <name>…" for the rest; the final result replaces them, and
a cancel or a failure takes them away again (what was shown before comes back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QGraphicsOpacityEffect,
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.case import AnalysisResult
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.caution import SUBTYPE_NOTE, calibration_caution, demo_status, plain_words

FLL_ORDER = ("L", "LB", "LBC")
SOFT_MAIN = "DLM-1"
SHORT_NAMES = {"L": "Model^L", "LB": "Model^LB", "LBC": "Model^LBC"}
BAR_COLOUR = "#5b7fa6"  # a muted blue: the decisive model gets the accent instead
DEMO_TEXT = "NOT FOR CLINICAL USE — demo model trained on synthetic phantoms"
RESEARCH_TEXT = "NOT FOR CLINICAL USE — research model"
GENERIC_NCU_TEXT = "NOT FOR CLINICAL USE"
STALE_TEXT = "ROIs changed since this analysis — analyse again"
EMPTY_TEXT = "No analysis yet. Draw the ROIs, enter the factors and press Analyse."
COMPUTING_TEXT = "computing…"
WAITING_TEXT = "waiting"


def model_title(name: str, result: AnalysisResult | None = None) -> str:
    """Short display name of an output: Model^LBC, DLM-1, SM-2 lipoma, ..."""
    if name in SHORT_NAMES:
        return SHORT_NAMES[name]
    if result is not None and name.startswith("SM-") and name in result.model_labels:
        return result.model_labels[name].replace("_", " ")
    return name


def fmt_prob(p: float | None) -> str:
    return "—" if p is None or not math.isfinite(p) else f"{p:.3f}"


class ProbabilityBar(QWidget):
    """A horizontal 0–1 bar with the value filled and the cut-off as a tick."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value: float | None = None
        self.cutoff: float | None = None
        self.highlight = False
        self.setMinimumWidth(80)

    def set(self, value: float | None, cutoff: float | None = None, highlight: bool = False) -> None:
        self.value, self.cutoff, self.highlight = value, cutoff, highlight
        tip = f"probability {fmt_prob(value)}" + ("" if cutoff is None else f", cut-off {cutoff:.3f}")
        self.setToolTip(tip)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(160, 16)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 3, -1, -3)
        enabled = self.isEnabled()
        p.setPen(QPen(QColor(theme.BORDER), 1))
        p.setBrush(QColor(theme.BASE))
        p.drawRoundedRect(r, 2, 2)
        if self.value is not None and math.isfinite(self.value):
            fill = QRectF(r.left(), r.top(), r.width() * min(max(self.value, 0.0), 1.0), r.height())
            colour = QColor(theme.ACCENT if self.highlight else BAR_COLOUR)
            if not enabled:
                colour = QColor("#454a52")
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRoundedRect(fill, 2, 2)
        if self.cutoff is not None:
            x = r.left() + r.width() * min(max(self.cutoff, 0.0), 1.0)
            p.setPen(QPen(QColor(theme.TEXT if enabled else theme.TEXT_DIM), 2))
            p.drawLine(int(x), int(r.top() - 3), int(x), int(r.bottom() + 3))
        p.end()


def _label(text: str = "", name: str = "", parent: QWidget | None = None, *, wrap: bool = False,
           style: str = "") -> QLabel:
    label = QLabel(text, parent)
    if name:
        label.setObjectName(name)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


class ResultsPanel(QWidget):
    """Shows one AnalysisResult; ``set_result``, ``set_running``, ``set_stale``, ``clear``..."""

    # The reader clicked a per-image row: (roi id, image index, frame) to jump to.
    roiActivated = Signal(str, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsPanel")
        self.result: AnalysisResult | None = None
        self.roi_labels: dict[str, str] = {}
        self.manifest: Mapping[str, Any] | None = None
        self.bundle_manifest: Mapping[str, Any] | None = None  # the loaded bundle's (the banner follows it)
        self.cautions: dict[str, str] = {}  # output -> calibration caution shown under its bar
        self.state = "empty"  # empty | result | running | cancelled | error
        self.stale = False
        self.partial: Any = None  # the ai.context.PartialResult on screen while an analysis runs
        # What was on screen before the first partial (result, manifest, labels, stale): back on a cancel.
        self._before: tuple[Any, ...] | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        self.banner = _label("", "clinicalUseBanner", self, wrap=True,
                             style="background: #7a1f1f; color: #ffffff; font-weight: bold; padding: 5px 8px;")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setVisible(False)
        outer.addWidget(self.banner)

        self.status = _label("", "statusLabel", self, wrap=True)
        self.status.setVisible(False)
        outer.addWidget(self.status)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        outer.addWidget(self.progress)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll, 1)
        self.body = QWidget(scroll)
        self.body.setObjectName("resultsBody")
        scroll.setWidget(self.body)
        lay = QVBoxLayout(self.body)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)

        self.placeholder = _label(EMPTY_TEXT, "placeholder", self.body, wrap=True,
                                  style=f"color: {theme.TEXT_DIM};")
        lay.addWidget(self.placeholder)

        self.decision = _label("", "decisionLabel", self.body)
        f = QFont(self.decision.font())
        f.setPointSizeF(f.pointSizeF() * 1.6)
        f.setBold(True)
        self.decision.setFont(f)
        lay.addWidget(self.decision)
        self.decision_detail = _label("", "decisionDetail", self.body, wrap=True, style=f"color: {theme.TEXT_DIM};")
        lay.addWidget(self.decision_detail)

        self.warnings = _label("", "warningsLabel", self.body, wrap=True,
                               style=f"color: {theme.ACCENT}; border: 1px solid {theme.ACCENT}; "
                                     "border-radius: 3px; padding: 4px 6px; background: #2a2317;")
        lay.addWidget(self.warnings)

        self.bars_box = QWidget(self.body)
        self.bars_box.setObjectName("barsBox")
        self.bars = QGridLayout(self.bars_box)
        self.bars.setContentsMargins(0, 0, 0, 0)
        self.bars.setHorizontalSpacing(8)
        self.bars.setVerticalSpacing(3)
        self.bars.setColumnStretch(1, 1)
        lay.addWidget(self.bars_box)
        # (label, bar, value) rows of the last result, by output name: what the reader sees.
        self.rows: dict[str, tuple[QLabel, ProbabilityBar, QLabel]] = {}
        self.sections: list[QLabel] = []

        self.details = _label("", "detailsLabel", self.body, wrap=True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.details)

        self.table_title = _label("Per-image scores", "tableTitle", self.body,
                                  style=f"color: {theme.TEXT_DIM}; font-weight: bold;")
        lay.addWidget(self.table_title)
        self.table = QTableWidget(0, 0, self.body)
        self.table.setObjectName("perImageTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setStyleSheet(f"QTableWidget {{ background: {theme.BASE}; color: {theme.TEXT}; "
                                 f"gridline-color: {theme.BORDER}; border: 1px solid {theme.BORDER}; }} "
                                 f"QTableWidget:disabled, QTableWidget::item:disabled {{ color: {theme.TEXT_DIM}; }} "
                                 f"QHeaderView::section:disabled {{ color: {theme.TEXT_DIM}; }}")
        self.table.cellActivated.connect(self._on_row)
        self.table.cellDoubleClicked.connect(self._on_row)
        lay.addWidget(self.table)

        self.footer = _label("", "modelLabel", self.body, wrap=True, style=f"color: {theme.TEXT_DIM};")
        lay.addWidget(self.footer)
        lay.addStretch(1)
        self.clear()

    # -- states ------------------------------------------------------------------------
    def clear(self) -> None:
        """Back to the empty state (a new case, or no bundle)."""
        self.result = None
        self.state = "empty"
        self.stale = False
        self.partial, self._before = None, None
        self._bundle_banner()
        self._status("", None)
        self._fill_bars([])
        for w in (self.decision, self.decision_detail, self.warnings, self.bars_box, self.details,
                  self.table_title, self.table, self.footer):
            w.setVisible(False)
        self.placeholder.setVisible(True)
        self._dim(False)

    def set_bundle(self, manifest: Mapping[str, Any] | None) -> None:
        """The loaded bundle: its not-for-clinical-use status shows now, analysed or not."""
        self.bundle_manifest = manifest
        if self.result is None:
            self._bundle_banner()

    def _bundle_banner(self) -> None:
        text = demo_status(self.bundle_manifest)
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def set_running(self, fraction: float = 0.0, message: str = "") -> None:
        """An analysis is under way; the last result (if any) stays, greyed out."""
        self.state = "running"
        self.progress.setValue(int(round(1000 * min(max(fraction, 0.0), 1.0))))
        self.progress.setVisible(True)
        pct = f"{100 * min(max(fraction, 0.0), 1.0):.0f} %"
        if self.partial is not None:  # the outputs so far stay readable; the status says what is left
            self._status(f"Analysing… {pct} — {self._partial_text()}", theme.TEXT)
            return
        self._status(f"Analysing… {pct}" + (f" — {message}" if message else ""), theme.TEXT)
        self.progress.setVisible(True)
        self._dim(True)

    def _partial_text(self) -> str:
        p = self.partial
        text = f"{len(p.done)} of {p.total} models"
        return text + (f" — computing {model_title(p.computing, p.result)}…" if p.computing else "")

    def set_partial(self, partial: Any, manifest: Mapping[str, Any] | None = None,
                    roi_labels: Mapping[str, str] | None = None) -> None:
        """Show the outputs of a running analysis so far (an ai.context.PartialResult), the rest as pending."""
        before = (self.result, self.manifest, self.roi_labels, self.stale) if self.partial is None else self._before
        r = partial.result
        self._render(r, manifest, roi_labels, pending=partial.remaining)
        self.partial, self._before, self.state = partial, before, "running"
        for key in partial.remaining:
            if key in self.rows:
                self.rows[key][2].setText(COMPUTING_TEXT if key == partial.computing else WAITING_TEXT)
        if r.decision is None:
            nxt = next((n for n in (manifest or {}).get("decision_models", []) if n in partial.remaining), None)
            self.decision.setText("Decision pending")
            self.decision_detail.setText(f"{model_title(nxt or partial.computing or '?', r)} decides once computed")
        elif r.task == "soft-tissue" and r.decision == "benign" and r.subtype is None:
            self.decision.setText("Benign — subtype pending")
        self.details.setVisible(False)  # size and background type come with the final result
        self.progress.setValue(int(round(1000 * len(partial.done) / max(partial.total, 1))))
        self.progress.setVisible(True)
        self._status(f"Analysing… {self._partial_text()}", theme.TEXT)

    def _drop_partial(self) -> None:
        """A cancel or failure while partial outputs are shown: back to what was shown before them."""
        if self.partial is None:
            return
        before, self.partial, self._before = self._before, None, None
        result, manifest, labels, stale = before if before is not None else (None, None, {}, False)
        if result is None:
            self.clear()
        else:
            self.set_result(result, manifest, labels)
            self.stale = stale

    def set_cancelled(self, reason: str = "Analysis cancelled") -> None:
        """No new result; ``reason`` says why (the user cancelled, the ROIs changed meanwhile...)."""
        self._drop_partial()
        self.state = "cancelled"
        self.progress.setVisible(False)
        self._status(f"{reason} — no new result" + (" (the one below is older)" if self.result else ""),
                     theme.TEXT_DIM)
        self._dim(self.stale)

    def set_error(self, message: str, title: str = "Analysis failed") -> None:
        """An analysis that could not run or failed; ``title`` words it ("Cannot analyse" for bad input)."""
        self._drop_partial()
        self.state = "error"
        self.progress.setVisible(False)
        self._status(f"{title}: {message}", theme.ERROR)
        self._dim(self.stale)

    def _dim(self, dim: bool) -> None:
        """Grey the result out (explicit colours included) while keeping it readable.

        Each part gets its own opacity effect; the per-image table gets none (an effect over a
        table makes Qt paint its first row over its header) and greys by its disabled colours."""
        self.body.setEnabled(not dim)
        for w in (self.placeholder, self.decision, self.decision_detail, self.warnings, self.bars_box,
                  self.details, self.table_title, self.footer):
            if dim and w.graphicsEffect() is None:
                effect = QGraphicsOpacityEffect(w)
                effect.setOpacity(0.45)
                w.setGraphicsEffect(effect)
            elif not dim and w.graphicsEffect() is not None:
                w.setGraphicsEffect(None)

    @property
    def dimmed(self) -> bool:
        return self.decision.graphicsEffect() is not None

    def set_stale(self, stale: bool = True, reason: str = STALE_TEXT) -> None:
        """Grey the shown result out (the ROIs or factors it was computed from have changed)."""
        if self.partial is not None and self._before is not None:
            # partial outputs are on screen: a cancel brings back the earlier result, stale as it is now
            result, manifest, labels, _ = self._before
            self._before = (result, manifest, labels, bool(stale) and result is not None)
        self.stale = bool(stale) and self.result is not None
        if self.state in ("running",):
            return
        if self.stale:
            self._status(reason, theme.ACCENT)
        elif self.state == "result":
            self._status("", None)
        self._dim(self.stale)

    def _status(self, text: str, colour: str | None) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        if colour:
            self.status.setStyleSheet(f"color: {colour}; padding: 4px 8px; background: {theme.PANEL}; "
                                      f"border-bottom: 1px solid {theme.BORDER}; font-weight: bold;")
        if not text or self.state != "running":
            self.progress.setVisible(self.state == "running")

    # -- showing a result -----------------------------------------------------------------
    def set_result(self, result: AnalysisResult, manifest: Mapping[str, Any] | None = None,
                   roi_labels: Mapping[str, str] | None = None) -> None:
        """Show ``result``; ``manifest`` (the bundle's) words the not-for-clinical-use banner.

        ``roi_labels`` names the ROIs as the ROI list does (L1, B1, M1...); without it
        the table shows the start of each ROI id.
        """
        self.partial, self._before = None, None
        self._render(result, manifest, roi_labels)

    def _render(self, result: AnalysisResult, manifest: Mapping[str, Any] | None,
                roi_labels: Mapping[str, str] | None, pending: tuple[str, ...] = ()) -> None:
        """Show ``result``; ``pending`` outputs (of a partial result) get rows without a value."""
        self.result = result
        self.roi_labels = dict(roi_labels or {})
        self.manifest = manifest
        self.state = "result"
        self.stale = False
        self._status("", None)
        self._dim(False)
        self.placeholder.setVisible(False)
        m = manifest or {}
        ncu = result.not_for_clinical_use or bool((m.get("intended_use") or {}).get("not_for_clinical_use", False))
        synthetic = (m.get("training_data") or {}).get("synthetic")
        self.banner.setText(GENERIC_NCU_TEXT if manifest is None else DEMO_TEXT if synthetic else RESEARCH_TEXT)
        self.banner.setVisible(ncu)
        if not ncu:
            self._bundle_banner()
        self.cautions = {name: c for name in result.probabilities
                         if (c := calibration_caution(manifest, name))}
        self._show_decision(result)
        self._show_warnings(result)
        if result.task == "soft-tissue":
            self._show_soft_tissue(result, pending)
        else:
            self._show_fll(result)
        self._show_details(result)
        self._show_table(result)
        self.footer.setText(f"Model: {result.bundle_name} {result.bundle_version} · case {result.case_id}")
        self.footer.setVisible(True)

    def _show_decision(self, r: AnalysisResult) -> None:
        if r.decision is None:
            self.decision.setText("No decision")
            self.decision_detail.setText("no decision model could be computed for this case")
        else:
            text = r.decision.capitalize()
            if r.task == "soft-tissue" and r.decision == "benign" and r.subtype:
                text += f" — {r.subtype.replace('_', ' ')}"
            self.decision.setText(text)
            p = r.probabilities.get(r.decision_model or "")
            cmp = "≥" if r.decision == "malignant" else "<"
            cut = "—" if r.cutoff is None else f"{r.cutoff:.3f}"
            self.decision_detail.setText(f"decided by {model_title(r.decision_model or '?')}: "
                                         f"{fmt_prob(p)} {cmp} cut-off {cut}")
        self.decision.setStyleSheet(f"color: {theme.ACCENT if r.decision == 'malignant' else theme.TEXT};")
        self.decision.setVisible(True)
        self.decision_detail.setVisible(True)

    def _show_warnings(self, r: AnalysisResult) -> None:
        self.warnings.setText("\n".join(f"⚠ {w}" for w in r.warnings))
        self.warnings.setVisible(bool(r.warnings))

    def _fill_bars(self, sections: list[tuple[str, list[tuple[str, str, float | None, float | None, bool]]]]) -> None:
        """One grid for every section, so all bars line up: [(title, [(key, name, p, cut-off, highlight)])]."""
        grid = self.bars
        while grid.count():
            item = grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.rows.clear()
        self.sections = []
        i = 0
        for title, rows in sections:
            head = _label(title, f"section_{len(self.sections)}", self.bars_box, wrap=True,
                          style=f"color: {theme.TEXT_DIM}; font-weight: bold; margin-top: 4px;")
            head.setIndent(0)
            grid.addWidget(head, i, 0, 1, 3)
            self.sections.append(head)
            i += 1
            for key, title_, p, cut, highlight in rows:
                name = _label(title_, f"name_{key}", self.bars_box)
                bar = ProbabilityBar(self.bars_box)
                bar.setObjectName(f"bar_{key}")
                bar.set(p, cut, highlight)
                value = _label(fmt_prob(p) if p is not None else "not computed", f"value_{key}", self.bars_box)
                value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if highlight:
                    name.setStyleSheet(f"color: {theme.ACCENT}; font-weight: bold;")
                    value.setStyleSheet(f"color: {theme.ACCENT}; font-weight: bold;")
                elif p is None:
                    value.setStyleSheet(f"color: {theme.TEXT_DIM};")
                grid.addWidget(name, i, 0)
                grid.addWidget(bar, i, 1)
                grid.addWidget(value, i, 2)
                self.rows[key] = (name, bar, value)
                i += 1
                words = plain_words(key)
                if words and not key.startswith("SM-"):
                    plain = _label(words, f"plain_{key}", self.bars_box, wrap=True,
                                   style=f"color: {theme.TEXT_DIM}; font-size: 9pt; margin-left: 6px;")
                    grid.addWidget(plain, i, 0, 1, 3)
                    i += 1
                caution = self.cautions.get(key, "") if highlight else ""  # beside the probability that decides
                if caution and p is not None:
                    note = _label(f"⚠ {caution}", f"caution_{key}", self.bars_box, wrap=True,
                                  style=f"color: {theme.ACCENT}; font-size: 9pt; margin-left: 6px;")
                    note.setToolTip("From the bundle's own metrics (manifest): calibration slope outside "
                                    "0.8–1.25 or Hosmer–Lemeshow p < 0.05 on its external cohort")
                    grid.addWidget(note, i, 0, 1, 3)
                    i += 1
        self.bars_box.setVisible(bool(sections))

    def _cutoff(self, name: str) -> float | None:
        """The output's own cut-off: the result's for the deciding model, else the manifest's."""
        r = self.result
        if r is not None and name == r.decision_model:
            return r.cutoff
        t = ((self.manifest or {}).get("thresholds") or {}).get(name)
        return float(t["value"]) if isinstance(t, Mapping) and "value" in t else None

    def _show_fll(self, r: AnalysisResult) -> None:
        names = [*FLL_ORDER, *(n for n in r.probabilities if n not in FLL_ORDER)]
        rows = [(n, model_title(n), r.probabilities.get(n), self._cutoff(n), n == r.decision_model) for n in names]
        self._fill_bars([("Probability of malignancy (| = cut-off)", rows)])

    def _show_soft_tissue(self, r: AnalysisResult, pending: tuple[str, ...] = ()) -> None:
        main = [(SOFT_MAIN, "DLM-1", r.probabilities.get(SOFT_MAIN), self._cutoff(SOFT_MAIN),
                 r.decision_model == SOFT_MAIN)]
        subs = sorted((n for n in r.probabilities if n.startswith("SM-")), key=lambda n: -r.probabilities[n])
        top = subs[0] if subs and r.decision == "benign" and not pending else None
        subs += [n for n in pending if n.startswith("SM-")]  # still to come, in cascade order
        sections = [("DLM-1: probability of malignancy (| = cut-off)", main)]
        if subs:
            sections.append((("DLM-2 benign subtype scores, ranked (SM-1…SM-5). " if r.decision == "benign" else
                              "DLM-2 subtype scores (for information: DLM-1 did not say benign). ") + SUBTYPE_NOTE,
                             [(n, model_title(n, r), r.probabilities.get(n), None, n == top) for n in subs]))
        self._fill_bars(sections)

    def _show_details(self, r: AnalysisResult) -> None:
        lines = []
        if r.lesion_size_cm is not None:
            lines.append(f"Lesion size: {r.lesion_size_cm:.2f} cm (size band {r.size_band})")
        else:
            lines.append("Lesion size: unknown (uncalibrated image)")
        if r.lb_type:
            probs = " / ".join(f"{k} {v:.2f}" for k, v in r.lb_type_probabilities.items())
            lines.append(f"Liver background: {r.lb_type}" + (f" ({probs})" if probs else ""))
        if r.total_points is not None:
            lines.append(f"Nomogram: {r.total_points:.1f} total points")
        if not r.complete:
            lines.append("Incomplete: some outputs could not be computed (see the warnings)")
        self.details.setText("\n".join(lines))
        self.details.setVisible(bool(lines))

    def _show_table(self, r: AnalysisResult) -> None:
        keys = [k for k in (*FLL_ORDER, SOFT_MAIN, *(f"SM-{i}" for i in range(1, 6)))
                if any(k in row for row in r.per_image)]
        extra = ["lb_type"] if any("lb_type" in row for row in r.per_image) else []
        role = ["role"] if any("role" in row for row in r.per_image) else []
        # Image and frame numbered from 1, as the ROI list and the frame counter show them.
        headers = ["ROI", "kind", *role, "img·fr", *keys, *(["LB type"] if extra else [])]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(r.per_image))
        for i, row in enumerate(r.per_image):
            rid = str(row.get("roi_id", ""))
            cells = [self.roi_labels.get(rid, rid[:6]), str(row.get("kind", "")),
                     *(str(row.get("role", "")) for _ in role),
                     f"{int(row.get('image', 0)) + 1}·{int(row.get('frame', 0)) + 1}",
                     *(fmt_prob(row[k]) if k in row else "" for k in keys),
                     *(str(row.get("lb_type", "")) for _ in extra)]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= len(headers) - len(keys) - len(extra) and text and text[0].isdigit():
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setData(Qt.ItemDataRole.UserRole, row.get("roi_id"))
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader().sizeHint().height()
        rows = sum(self.table.rowHeight(i) for i in range(len(r.per_image)))
        scroll = self.table.horizontalScrollBar().sizeHint().height()  # room for it when columns overflow
        self.table.setFixedHeight(min(header + rows + scroll + 4, 240))
        self.table_title.setVisible(bool(r.per_image))
        self.table.setVisible(bool(r.per_image))

    def _on_row(self, row: int, _column: int) -> None:
        if self.result is None or not 0 <= row < len(self.result.per_image):
            return
        d = self.result.per_image[row]
        self.roiActivated.emit(str(d.get("roi_id", "")), int(d.get("image", 0)), int(d.get("frame", 0)))

    # -- for tests and screen readers -------------------------------------------------------
    def visible_text(self) -> str:
        """Every text the panel shows, top to bottom (hidden parts left out), one item a line."""
        def shown(w: QWidget) -> bool:
            return not w.isHidden()

        out = [w.text() for w in (self.banner, self.status, self.placeholder, self.decision, self.decision_detail,
                                  self.warnings) if shown(w)]
        if shown(self.bars_box):
            grid = self.bars
            for i in range(grid.rowCount()):
                cells = [grid.itemAtPosition(i, c) for c in (0, 2)]
                texts = list(dict.fromkeys(c.widget().text() for c in cells if c is not None and c.widget()))
                if texts:
                    out.append("  ".join(texts))
        if shown(self.details):
            out.append(self.details.text())
        if shown(self.table):
            out.append(" | ".join(self.table.horizontalHeaderItem(j).text() for j in range(self.table.columnCount())))
            for i in range(self.table.rowCount()):
                out.append(" | ".join(self.table.item(i, j).text() for j in range(self.table.columnCount())
                                      if self.table.item(i, j) is not None))
        if shown(self.footer):
            out.append(self.footer.text())
        return "\n".join(t for t in out if t)
