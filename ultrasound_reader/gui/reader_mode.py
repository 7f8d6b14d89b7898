"""Reader mode (``ultrasound-reader study read --db URL --reader R1``): blinded reads, before and after the AI.

A second face over the same :class:`~ultrasound_reader.gui.session.ReadingSession` as the
reading window: the session holds the case document, the image on screen and its frame,
and loads the study's model bundle (its manifest words the results panel's banner and
gives the nomogram's axes). Everything the reader sees and answers goes through the
study API (``study.service``): :func:`reader_view` says which case and step come next
and gives the reader's own committed answers, :func:`answer` commits one answer in one
transaction (before the next screen appears), :func:`reveal` locks the pre-AI answer and
gives the stored AI output. Nothing is kept here between screens, so closing the window
and opening it again resumes at the step the database says.

Blinding: the case is named by its position in this reader's order ("Case 3 of 20");
the corner text shows no patient name, ID or dates (nor the case id); the truth and
other readers' answers are never asked for. The AI panel (probabilities, the stored
Grad-CAM over image 1, the nomogram where the bundle has one) stays hidden until the
pre-AI answer is committed and revealed.

Soft-tissue cases have two images (grey-scale and CDFI): the 1x2 linked viewport is
being built elsewhere, so here one image is shown at a time and **V** switches.

Keys: Y / N malignant yes / no; L likelihood; S subtype; K confidence; M comment;
R draw the area of concern (drag on image 1), Shift+R clear it; Space play / pause;
V other image; Ctrl+Enter commit; Ctrl+Right next case.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.case import AnalysisResult, CamMap, Case, ClinicalFactors
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.image_view import Z_MEASURE, ImageView
from ultrasound_reader.gui.overlay_text import frame_text
from ultrasound_reader.gui.player import Player
from ultrasound_reader.gui.session import ImageOnScreen, ReadingSession
from ultrasound_reader.gui.shell import make_action
from ultrasound_reader.gui.tools import Tool

log = logging.getLogger(__name__)

KEYS_HINT = ("Y / N malignant · L likelihood · S subtype · K confidence · M comment · R draw area (Shift+R clear) · "
             "Space play · V other image · Ctrl+Enter commit · Ctrl+→ next case")
LOCK = "LOCKED:"


# -- the area of concern ---------------------------------------------------------------------
class ConcernTool(Tool):
    """Left-drag draws the reader's area of concern (one rectangle, image pixels of image 1)."""

    name = "concern"
    label = "Area of concern"
    cursor = Qt.CursorShape.CrossCursor
    drawn = Signal(object)  # (x0, y0, x1, y1) | None

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._start: QPointF | None = None

    def drag(self, ev, pos: QPointF) -> bool:  # noqa: ANN001
        view = self.view
        if view is None or view.raw is None:
            return False
        if ev.isStart():
            self._start = view.view.mapSceneToView(ev.buttonDownScenePos(Qt.MouseButton.LeftButton))
        if self._start is None:
            return True
        box = clip_box(self._start, pos, view.raw.shape[1], view.raw.shape[0])
        self.drawn.emit(box)
        if ev.isFinish():
            self._start = None
        return True


def region_mask(calibration: Any, height: int, width: int) -> np.ndarray | None:
    """Where the scanner's spatial US regions are (True), or None when the file gives none.

    The reader sees only these pixels: the scanner burns the patient's name, ID and the
    date into the screen around the image, outside its regions.
    """
    regions = [r for r in getattr(calibration, "regions", ()) if r.is_spatial]
    if not regions:
        return None
    mask = np.zeros((height, width), bool)
    for r in regions:
        mask[max(r.y0, 0): min(r.y1 + 1, height), max(r.x0, 0): min(r.x1 + 1, width)] = True
    return mask if mask.any() else None


def blind(frame: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``frame`` with everything outside ``mask`` black (the frame itself when there is no mask)."""
    if mask is None or mask.shape != frame.shape[:2]:
        return frame
    return np.where(mask[..., None] if frame.ndim == 3 else mask, frame, 0).astype(frame.dtype, copy=False)


def clip_box(p0: QPointF, p1: QPointF, width: int, height: int) -> tuple[float, float, float, float] | None:
    """The rectangle between two image points, clipped to the image, whole pixels; None when empty."""
    x0, x1 = sorted((p0.x(), p1.x()))
    y0, y1 = sorted((p0.y(), p1.y()))
    x0, y0 = max(round(x0), 0), max(round(y0), 0)
    x1, y1 = min(round(x1), width), min(round(y1), height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (float(x0), float(y0), float(x1), float(y1))


class ConcernItem(pg.QtWidgets.QGraphicsRectItem):  # type: ignore[name-defined,misc]
    def __init__(self) -> None:
        super().__init__()
        pen = QPen(QColor(theme.ACCENT))
        pen.setCosmetic(True)
        pen.setWidth(2)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        self.setZValue(Z_MEASURE)
        self.setVisible(False)

    def show_box(self, box: tuple[float, float, float, float] | None) -> None:
        if box is None:
            self.setVisible(False)
            return
        x0, y0, x1, y1 = box
        self.setRect(QRectF(x0 - 0.5, y0 - 0.5, x1 - x0, y1 - y0))
        self.setVisible(True)


# -- the questions ---------------------------------------------------------------------------
class QuestionForm(QGroupBox):
    """Malignant yes/no, likelihood 0-100, subtype (soft tissue), confidence 1-5, comment, area of concern."""

    concernRequested = Signal()
    concernCleared = Signal()

    def __init__(self, title: str, subtypes: list[str], key: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.setObjectName(key)
        self.locked = False
        self.concern: tuple[float, float, float, float] | None = None
        form = QFormLayout(self)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.lock_label = QLabel("")
        self.lock_label.setObjectName("lockLabel")
        self.lock_label.setWordWrap(True)
        self.lock_label.setStyleSheet(f"color: {theme.ACCENT}; font-weight: bold;")
        self.lock_label.setVisible(False)
        form.addRow(self.lock_label)
        row = QHBoxLayout()
        self.yes = QRadioButton("&Yes (Y)")
        self.no = QRadioButton("&No (N)")
        self.yes.setObjectName("malignantYes")
        self.no.setObjectName("malignantNo")
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        for b in (self.yes, self.no):
            self.group.addButton(b)
            row.addWidget(b)
        row.addStretch(1)
        form.addRow("Malignant?", row)
        lk = QHBoxLayout()
        self.likelihood = QSpinBox()
        self.likelihood.setObjectName("likelihood")
        self.likelihood.setRange(-1, 100)
        self.likelihood.setSpecialValueText("—")  # -1: not given yet
        self.likelihood.setValue(-1)
        self.likelihood.setSuffix(" %")
        self.likelihood.installEventFilter(self)  # letters stay the window's keys (Y, N, K...) in this field
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self._from_slider)
        self.likelihood.valueChanged.connect(lambda v: v >= 0 and self.slider.setValue(v))
        lk.addWidget(self.likelihood)
        lk.addWidget(self.slider, 1)
        form.addRow("Likelihood (0–100)", lk)
        self.subtype = QComboBox()
        self.subtype.setObjectName("subtype")
        self.subtype.addItem("—", None)
        for s in subtypes:
            self.subtype.addItem(s, s)
        self.subtype.setVisible(bool(subtypes))
        self.subtype_label = QLabel("Benign subtype")
        self.subtype_label.setVisible(bool(subtypes))
        form.addRow(self.subtype_label, self.subtype)
        self.confidence = QComboBox()
        self.confidence.setObjectName("confidence")
        self.confidence.addItem("— (optional)", None)
        for i in range(1, 6):
            self.confidence.addItem(str(i), i)
        form.addRow("Confidence 1–5", self.confidence)
        self.comment = QLineEdit()
        self.comment.setObjectName("comment")
        self.comment.setPlaceholderText("optional")
        self.comment.setMaxLength(4000)
        form.addRow("Comment", self.comment)
        cr = QHBoxLayout()
        self.concern_label = QLabel("none (R, then drag on image 1)")
        self.concern_label.setObjectName("concernLabel")
        self.draw_button = QPushButton("Draw")
        self.clear_button = QPushButton("Clear")
        for b in (self.draw_button, self.clear_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.draw_button.clicked.connect(self.concernRequested.emit)
        self.clear_button.clicked.connect(self.concernCleared.emit)
        cr.addWidget(self.concern_label, 1)
        cr.addWidget(self.draw_button)
        cr.addWidget(self.clear_button)
        form.addRow("Area of concern", cr)
        self.group.buttonToggled.connect(self._on_malignant)
        self._on_malignant()

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt API
        if (obj is self.likelihood and event.type() == QEvent.Type.ShortcutOverride
                and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier)
                and event.text().isalpha()):
            event.ignore()  # not the spin box's: the shortcut of that letter runs
            return True
        return super().eventFilter(obj, event)

    def _from_slider(self, v: int) -> None:
        if self.likelihood.value() != v and (self.likelihood.value() >= 0 or self.slider.hasFocus()
                                              or self.slider.isSliderDown()):
            self.likelihood.setValue(v)

    def _on_malignant(self, *_: object) -> None:
        benign = self.no.isChecked()
        self.subtype.setEnabled(benign and not self.locked)
        if not benign:
            self.subtype.setCurrentIndex(0)

    def set_malignant(self, yes: bool) -> None:
        if not self.locked:
            (self.yes if yes else self.no).setChecked(True)

    def set_concern(self, box: tuple[float, float, float, float] | None) -> None:
        self.concern = box
        self.concern_label.setText("none (R, then drag on image 1)" if box is None else
                                   "x {:.0f}–{:.0f}, y {:.0f}–{:.0f} px (image 1)".format(box[0], box[2], box[1], box[3]))

    def values(self, phase: str) -> Any:
        """The answer as the study API takes it; UserError naming the missing question."""
        from ultrasound_reader.study.service import AnswerInput

        if not (self.yes.isChecked() or self.no.isChecked()):
            raise UserError("Answer 'Malignant?' (Y or N) before committing")
        if self.likelihood.value() < 0:
            raise UserError("Give the likelihood of malignancy (0–100, L) before committing")
        malignant = self.yes.isChecked()
        return AnswerInput(phase=phase, malignant=malignant, likelihood=int(self.likelihood.value()),
                           subtype=None if malignant else self.subtype.currentData(),
                           confidence=self.confidence.currentData(), comment=self.comment.text().strip() or None,
                           concern=self.concern)

    def show_answer(self, a: dict[str, Any]) -> None:
        """Fill in a committed answer and lock the form (visibly)."""
        self.locked = False
        (self.yes if a["malignant"] else self.no).setChecked(True)
        self.likelihood.setValue(int(a["likelihood"]))
        i = self.subtype.findData(a.get("subtype"))
        self.subtype.setCurrentIndex(max(i, 0))
        i = self.confidence.findData(a.get("confidence"))
        self.confidence.setCurrentIndex(max(i, 0))
        self.comment.setText(a.get("comment") or "")
        box = a.get("concern")
        self.set_concern(tuple(float(v) for v in box.split(",")) if box else None)  # type: ignore[arg-type]
        at = str(a.get("committed_at", ""))[11:16]
        self.set_locked(True, f"{LOCK} Committed{' at ' + at + ' UTC' if at else ''} — locked, cannot be changed")

    def set_locked(self, locked: bool, text: str = "") -> None:
        self.locked = locked
        for w in (self.yes, self.no, self.likelihood, self.slider, self.confidence, self.comment,
                  self.draw_button, self.clear_button):
            w.setEnabled(not locked)
        self._on_malignant()
        self.lock_label.setText(text)
        self.lock_label.setVisible(locked)
        self.setProperty("locked", locked)
        self.setStyleSheet(f"QGroupBox#{self.objectName()} {{ border: 2px solid {theme.ACCENT}; }}" if locked else "")

    def reset(self) -> None:
        self.set_locked(False)
        self.group.setExclusive(False)
        self.yes.setChecked(False)
        self.no.setChecked(False)
        self.group.setExclusive(True)
        self.likelihood.setValue(-1)
        self.slider.setValue(0)
        self.subtype.setCurrentIndex(0)
        self.confidence.setCurrentIndex(0)
        self.comment.clear()
        self.set_concern(None)
        self._on_malignant()


class _CaseFactors(QWidget):
    """What NomogramLink reads from a form: the case's recorded clinical factors (read-only here)."""

    factorsChanged = Signal(object)

    def __init__(self, factors: ClinicalFactors) -> None:
        super().__init__()
        self._factors = factors

    def factors(self) -> ClinicalFactors:
        return self._factors


def result_of(ai: dict[str, Any], position: int) -> AnalysisResult:
    """The stored AI output (``study reveal``'s "ai") as an AnalysisResult named by study position only."""
    names = {f.name for f in fields(AnalysisResult)} - {"case_id", "cams", "request_id", "timings"}
    return AnalysisResult(case_id=f"study case {position}", **{k: v for k, v in ai.items() if k in names})


# -- the window ------------------------------------------------------------------------------
class ReaderWindow(QMainWindow):
    """See the module docstring. ``db``: the study database URL; ``reader``: the reader's id."""

    stepShown = Signal(object)  # the reader view dict of the screen now shown

    def __init__(self, db: str, reader: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ultrasound_reader.study.service import reader_view

        self.db, self.reader = db, reader
        self.setObjectName("readerWindow")
        self.view_data: dict[str, Any] = reader_view(db, reader)  # a bad db or reader fails before any window
        self.session = ReadingSession({})  # no QSettings: nothing of a study is kept outside its database
        self.session.memory[f"bundle/{self.view_data['task']}"] = str(self.view_data["bundle"]["path"])
        self.session.error.connect(lambda m: log.info("reader mode: %s", m))
        self.player = Player(self)
        self.case: Case | None = None
        self.cines: list[Any] = []
        self.image_index = 0
        self.mask: np.ndarray | None = None
        self.position: int | None = None
        self.step: str | None = None
        self.ai: dict[str, Any] | None = None
        self.nomogram: Any = None
        self._nomogram_link: Any = None
        self.errors: list[str] = []  # what the reader was told went wrong (tests read it)
        self.setWindowTitle(f"Reader study — reader {reader}")
        self._build()
        self._actions()
        self.player.frameReady.connect(self._on_player_frame)
        self.session.bundleChanged.connect(self._on_bundle)
        self.show_next()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        v = self.view_data
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(8, 6, 8, 6)
        top = QHBoxLayout()
        sim = " — SIMULATED demo study" if v.get("simulated") else ""
        self.title = QLabel(f"<b>Reader {self.reader}</b> · {v['study']}{sim}")
        self.title.setObjectName("readerTitle")
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("progressLabel")
        self.progress_label.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.phase_label = QLabel("")
        self.phase_label.setObjectName("phaseLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.phase_label)
        top.addSpacing(16)
        top.addWidget(self.progress_label)
        top.addWidget(self.progress)
        outer.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.image_view = ImageView()
        self.image_view.setObjectName("readerImage")
        self.image_view.set_placeholder("")
        self.concern_item = ConcernItem()
        self.image_view.add_layer(self.concern_item, Z_MEASURE)
        from ultrasound_reader.gui.cam_view import CamLayer

        self.cam_layer = CamLayer()
        self.image_view.view.addItem(self.cam_layer)
        self.concern_tool = ConcernTool(self)
        self.concern_tool.drawn.connect(self._on_concern_drawn)
        lv.addWidget(self.image_view, 1)
        bar = QHBoxLayout()
        self.play_button = QPushButton("Play (Space)")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.toggle_play)
        self.image_label = QLabel("")
        self.image_label.setObjectName("imageLabel")
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cam_note = QLabel("")
        self.cam_note.setObjectName("camNote")
        self.cam_note.setStyleSheet(f"color: {theme.TEXT_DIM};")
        bar.addWidget(self.play_button)
        bar.addWidget(self.image_label, 1)
        bar.addWidget(self.cam_note)
        lv.addLayout(bar)
        split.addWidget(left)

        col = QWidget()
        cv = QVBoxLayout(col)
        cv.setContentsMargins(4, 0, 4, 0)
        subtypes = list(v.get("subtypes") or [])
        self.pre_form = QuestionForm("Your answer before the AI", subtypes, "preForm")
        self.post_form = QuestionForm("Your answer after seeing the AI", subtypes, "postForm")
        for f in (self.pre_form, self.post_form):
            f.concernRequested.connect(self.start_concern)
            f.concernCleared.connect(self.clear_concern)
        self.ai_box = QGroupBox("AI result")
        self.ai_box.setObjectName("aiBox")
        av = QVBoxLayout(self.ai_box)
        self.ai_hidden = QLabel("The AI result is shown once your answer before the AI is committed.")
        self.ai_hidden.setObjectName("aiHidden")
        self.ai_hidden.setWordWrap(True)
        self.ai_hidden.setStyleSheet(f"color: {theme.TEXT_DIM}; padding: 8px;")
        from ultrasound_reader.gui.results_panel import ResultsPanel

        self.results = ResultsPanel()
        self.results.setObjectName("readerResults")
        self.results.setVisible(False)
        self.results.setMinimumHeight(380)  # its own scroll area: room for the decision, the bars and the table
        av.addWidget(self.ai_hidden)
        av.addWidget(self.results)
        self.nomogram_box = QGroupBox("Nomogram (the case's recorded factors and the AI's scores)")
        self.nomogram_box.setObjectName("nomogramBox")
        self.nomogram_holder = QVBoxLayout(self.nomogram_box)
        self.nomogram_box.setVisible(False)
        self.message = QLabel("")
        self.message.setObjectName("readerMessage")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        self.commit_button = QPushButton("Commit answer (Ctrl+Enter)")
        self.commit_button.setObjectName("commitButton")
        self.commit_button.clicked.connect(self.commit)
        self.next_button = QPushButton("Next case (Ctrl+→)")
        self.next_button.setObjectName("nextButton")
        self.next_button.clicked.connect(self.next_case)
        buttons.addWidget(self.commit_button)
        buttons.addWidget(self.next_button)
        cv.addWidget(self.pre_form)
        cv.addWidget(self.ai_box)
        cv.addWidget(self.nomogram_box)
        cv.addWidget(self.post_form)
        cv.addWidget(self.message)
        cv.addLayout(buttons)
        cv.addStretch(1)
        scroll = self.column = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(col)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(460)
        split.addWidget(scroll)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 520])
        outer.addWidget(split, 1)
        hint = QLabel(KEYS_HINT)
        hint.setObjectName("keysHint")
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 11px;")
        outer.addWidget(hint)
        self.setCentralWidget(root)

    def _actions(self) -> None:
        a = lambda *args, **kw: make_action(self, *args, **kw)  # noqa: E731
        a("malignantYes", "Malignant: yes", "Y", lambda: self.form_now().set_malignant(True))
        a("malignantNo", "Malignant: no", "N", lambda: self.form_now().set_malignant(False))
        a("likelihood", "Likelihood", "L", lambda: self._focus(self.form_now().likelihood))
        a("subtype", "Subtype", "S", lambda: self._focus(self.form_now().subtype))
        a("confidence", "Confidence", "K", lambda: self._focus(self.form_now().confidence))
        a("comment", "Comment", "M", lambda: self._focus(self.form_now().comment))
        a("drawConcern", "Draw area of concern", "R", self.start_concern)
        a("clearConcern", "Clear area of concern", "Shift+R", self.clear_concern)
        a("play", "Play / pause", "Space", self.toggle_play)
        a("otherImage", "Other image", "V", self.other_image)
        a("commit", "Commit answer", ["Ctrl+Return", "Ctrl+Enter"], self.commit)
        a("next", "Next case", ["Ctrl+Right"], self.next_case)

    def _focus(self, w: QWidget) -> None:
        if w.isEnabled() and w.isVisible():
            w.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def form_now(self) -> QuestionForm:
        return self.post_form if self.step in ("post", "reveal") else self.pre_form

    # -- steps -------------------------------------------------------------------------------
    def refresh(self, position: int | None = None) -> dict[str, Any]:
        from ultrasound_reader.study.service import reader_view

        self.view_data = reader_view(self.db, self.reader, position)
        return self.view_data

    def show_next(self) -> None:
        """Show the step the database says comes next (the start, and resuming after a restart)."""
        try:
            v = self.refresh()
        except UserError as exc:
            self._error(str(exc))
            return
        self._show(v)

    def _show(self, v: dict[str, Any]) -> None:
        n = v["cases"]
        nxt = v["next"]
        self.progress.setRange(0, 2 * n)
        self.progress.setValue(v["pre_done"] + v["post_done"])
        self.next_button.setEnabled(False)
        if nxt is None:
            self._finished(v)
            return
        if v.get("waiting"):
            self._waiting(v)
            return
        pos, step = nxt["case"], nxt["step"]
        new_case = pos != self.position or self.case is None
        self.position, self.step = pos, step
        self.progress_label.setText(f"Case {pos} of {n}")
        if new_case and not self._load_case(v["case"]):
            return
        c = v["case"]
        self.ai = None
        if step == "pre":
            self.phase_label.setText("Before the AI")
            self.pre_form.reset()
            self.pre_form.setVisible(True)
            self.post_form.setVisible(False)
            self._hide_ai()
        else:  # reveal or post: the AI output is shown (revealing it first locks the pre-AI answer)
            self.phase_label.setText("After the AI")
            if c["pre"] is not None:
                self.pre_form.show_answer(c["pre"])
                self.pre_form.setVisible(True)
            else:
                self.pre_form.setVisible(False)  # crossover: the aided read of a case read unaided elsewhere
            if not self._reveal(pos):
                return
            self.post_form.reset()
            self.post_form.setVisible(True)
            self.step = "post"
        self.commit_button.setEnabled(True)
        self._say("")
        self._show_concern(self.form_now().concern)
        QTimer.singleShot(0, lambda: self.column.ensureWidgetVisible(self.form_now(), 0, 0))
        self.stepShown.emit(v)

    def _load_case(self, c: dict[str, Any]) -> bool:
        """Open the blinded case (``reader_case``: named by its position); a pre-AI read is marked shown now."""
        from ultrasound_reader.dicom import open_cine
        from ultrasound_reader.study.service import reader_case

        self._close_cines()
        self.clear_concern()
        cines: list[Any] = []
        try:
            case = reader_case(self.db, self.reader, c["position"], mark_shown=self.step == "pre")
            for i in range(len(case.images)):
                cines.append(open_cine(case.image_path(i)))
        except (UserError, OSError, ValueError) as exc:
            for cine in cines:
                cine.close()
            self._error(f"Case {c['position']} cannot be shown: {exc}")
            self.commit_button.setEnabled(False)
            return False
        self.case, self.cines = case, cines
        self.session.doc.set_case(case, None)
        self.image_index = 0
        self._show_image(0)
        return True

    def _show_image(self, index: int) -> None:
        if not self.cines:
            return
        self.player.pause()
        self.image_index = index
        cine = self.cines[index]
        assert self.case is not None
        self.session.set_image(ImageOnScreen(str(self.case.image_path(index)), cine, index))
        self.mask = region_mask(cine.calibration, int(cine.shape[0]), int(cine.shape[1]))
        self.player.set_cine(cine)
        self.play_button.setEnabled(cine.n_frames > 1)
        self.play_button.setText("Play (Space)")
        self._paint(0, cine.frame(0))
        self._show_concern(self.form_now().concern)
        if index != 0 and self.image_view.tool is self.concern_tool:
            self.image_view.set_tool(None)
        role = self.case.images[index].role
        role_text = {"bmode": "grey-scale", "cdfi": "colour Doppler (CDFI)"}.get(role, role)
        more = f" — V shows image {2 - index if len(self.cines) == 2 else (index + 1) % len(self.cines) + 1}" \
            if len(self.cines) > 1 else ""
        unmasked = "" if self.mask is not None else " — no US regions in the file: burned-in text is not hidden"
        self.image_label.setText(f"Image {index + 1} of {len(self.cines)} ({role_text}){more}{unmasked}")
        self._show_cam()

    def _paint(self, index: int, frame: np.ndarray) -> None:
        self.image_view.set_frame(blind(frame, self.mask), index)
        self.session.set_frame(index)
        cine = self.cines[self.image_index]
        # Blinded corner text: the study position and the frame, never the header's patient/study fields.
        self.image_view.set_overlay_text(
            tl=f"Case {self.position}", tr="",
            bl=frame_text(index, cine.n_frames, cine.frame_time_ms(index), cine.fps, self.image_view.window_level.label(),
                          self.image_view.zoom_factor(), self.image_view.inverted),
            br="")

    def _on_player_frame(self, index: int, frame: np.ndarray) -> None:
        if self.cines:
            self._paint(index, frame)

    def toggle_play(self) -> None:
        self.player.toggle()
        self.play_button.setText("Pause (Space)" if self.player.playing else "Play (Space)")

    def other_image(self) -> None:
        if len(self.cines) > 1:
            self._show_image((self.image_index + 1) % len(self.cines))

    # -- the AI ------------------------------------------------------------------------------
    def _hide_ai(self) -> None:
        self.ai = None
        self.results.clear()
        self.results.setVisible(False)
        self.ai_hidden.setVisible(True)
        self.cam_layer.show_overlay(None)
        self.cam_note.setText("")
        self.nomogram_box.setVisible(False)

    def _reveal(self, position: int) -> bool:
        from ultrasound_reader.study.service import reveal

        try:
            out = reveal(self.db, self.reader, position)
            v = self.refresh(position)
        except UserError as exc:
            self._error(f"{exc} (Ctrl+→ tries again)")
            self.commit_button.setEnabled(False)
            self.next_button.setEnabled(True)  # show_next retries the step the database says is next
            return False
        self.ai = out["ai"]
        self.view_data["case"] = v["case"]
        result = result_of(out["ai"], position)
        self.results.set_result(result, self.session.manifest if self._bundle_matches() else None)
        self.results.setVisible(True)
        self.ai_hidden.setVisible(False)
        self._show_cam()
        self._show_nomogram(result)
        return True

    def _on_bundle(self, _bundle: Any) -> None:
        """The study's bundle finished loading: its manifest words the banner and gives the nomogram."""
        if self.ai is not None and self.position is not None:
            result = result_of(self.ai, self.position)
            self.results.set_result(result, self.session.manifest if self._bundle_matches() else None)
            self._show_nomogram(result)

    def _bundle_matches(self) -> bool:
        b = self.session.bundle
        return b is not None and getattr(b, "manifest_sha256", None) == self.view_data["bundle"]["sha256"]

    def _show_cam(self) -> None:
        from ultrasound_reader.gui.cam_controls import CamSettings
        from ultrasound_reader.gui.cam_view import make_overlay

        c = self.view_data.get("case") or {}
        cam = c.get("cam") if self.ai is not None else None
        if cam is None or self.image_index != 0 or self.image_view.raw is None:
            self.cam_layer.show_overlay(None)
            self.cam_note.setText("Grad-CAM: on image 1" if cam is not None else "")
            return
        heat, (x0, y0, x1, y1) = cam
        bbox = (int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))
        from ultrasound_reader.imageops import resize

        heat = resize(heat, (bbox[2] - bbox[0], bbox[3] - bbox[1]), "linear")
        model = c.get("ai_model") or "AI"
        h, w = self.image_view.raw.shape[:2]
        overlay = make_overlay([CamMap("", model, 0, 0, bbox, heat)], h, w,
                               CamSettings(enabled=True, opacity=0.45, model=model))
        self.cam_layer.show_overlay(overlay)
        self.cam_note.setText(f"Grad-CAM of {model} shown")

    def _show_nomogram(self, result: AnalysisResult) -> None:
        manifest = self.session.manifest if self._bundle_matches() else None
        spec = (manifest or {}).get("nomogram")
        if not spec or self.case is None:
            return
        from ultrasound_reader.gui.nomogram_view import NomogramView, connect_form_to_nomogram

        if self.nomogram is None:
            self.nomogram = NomogramView()
            self.nomogram.setObjectName("readerNomogram")
            self.nomogram_holder.addWidget(self.nomogram)
        self.nomogram.set_spec(spec)
        self._nomogram_link = connect_form_to_nomogram(_CaseFactors(self.case.factors), self.nomogram,
                                                       self.session.bundle.fusion)
        self._nomogram_link.set_model_probabilities(result.probabilities)
        self.nomogram_box.setVisible(True)
        self.column.widget().adjustSize()

    # -- the area of concern -----------------------------------------------------------------
    def start_concern(self) -> None:
        form = self.form_now()
        if form.locked or not form.isVisible():
            return
        if self.image_index != 0:
            self._show_image(0)
        self.image_view.set_tool(self.concern_tool)
        self._say("Drag a rectangle on image 1 around your area of concern")

    def clear_concern(self) -> None:
        form = self.form_now()
        if form.locked:
            return
        form.set_concern(None)
        self._show_concern(None)

    def _on_concern_drawn(self, box: tuple[float, float, float, float] | None) -> None:
        form = self.form_now()
        if form.locked:
            return
        form.set_concern(box)
        self._show_concern(box)

    def _show_concern(self, box: tuple[float, float, float, float] | None) -> None:
        """The area being drawn; after the reveal, the reader's own locked pre-AI area until a new one is drawn."""
        if box is None and self.form_now() is self.post_form and self.pre_form.locked:
            box = self.pre_form.concern
        self.concern_item.show_box(box if self.image_index == 0 else None)

    # -- committing --------------------------------------------------------------------------
    def commit(self) -> bool:
        """Commit the answer on screen through the study API (one transaction), then go on."""
        from ultrasound_reader.study.service import answer

        if self.position is None or self.step not in ("pre", "post") or not self.commit_button.isEnabled():
            return False
        form = self.form_now()
        if form.locked:
            return False
        try:
            a = form.values(self.step)
            out = answer(self.db, self.reader, self.position, a)  # timed by the study API from "shown"/reveal
        except UserError as exc:
            self._error(str(exc))
            return False
        self.image_view.set_tool(None)
        self.commit_button.setEnabled(False)
        nxt = out["next"]
        try:
            v = self.refresh(self.position)
        except UserError as exc:
            self._error(str(exc))
            return False
        committed = v["case"][self.step]
        form.show_answer(committed)
        if nxt is not None and nxt["case"] == self.position:
            # The same case goes on (sequential: the AI is revealed and the post-AI questions follow).
            self._show(self.refresh())
            self._say("Answer committed and locked. The AI result is shown: answer again after seeing it.")
            return True
        self.next_button.setEnabled(True)
        self.next_button.setFocus()
        self._say("Answer committed and locked." + (" Next case: Ctrl+→." if nxt is not None else
                                                    " That was the last one."))
        return True

    def next_case(self) -> None:
        if not self.next_button.isEnabled():
            return
        self.show_next()

    def _finished(self, v: dict[str, Any]) -> None:
        self.player.pause()
        self.progress_label.setText(f"All {v['cases']} cases done")
        self.phase_label.setText("")
        self.commit_button.setEnabled(False)
        self.pre_form.setVisible(False)
        self.post_form.setVisible(False)
        self._hide_ai()
        self.ai_hidden.setText("Every case is read. Thank you — you may close this window.")
        self._close_cines()
        self.case, self.position, self.step = None, None, None
        self.image_view.clear()
        self.image_view.set_placeholder("Reading complete")
        self._say("")

    def _waiting(self, v: dict[str, Any]) -> None:
        self.progress_label.setText(f"Session 1 done ({v['pre_done'] + v['post_done']} reads)")
        self.commit_button.setEnabled(False)
        self.pre_form.setVisible(False)
        self.post_form.setVisible(False)
        self._hide_ai()
        self._close_cines()
        self.case, self.position, self.step = None, None, None
        self.image_view.clear()
        self.image_view.set_placeholder("Washout")
        self._say(f"Come back later: {v['waiting']}.")

    # -- messages and closing ----------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ERROR if error else theme.TEXT};")

    def _error(self, text: str) -> None:
        self.errors.append(text)
        self._say(text, error=True)

    def _close_cines(self) -> None:
        self.player.set_cine(None)
        for cine in self.cines:
            cine.close()
        self.cines = []
        self.session.set_image(None)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.player.pause()
        self._close_cines()
        self.session.shutdown()
        super().closeEvent(event)

    def visible_text(self) -> str:
        """Every text a widget of the window shows (tests check blinding with it)."""
        out: list[str] = [self.windowTitle()]
        for w in self.findChildren(QWidget):
            if not w.isVisibleTo(self):
                continue
            if isinstance(w, (QLabel, QAbstractButton, QGroupBox)):
                out.append(w.title() if isinstance(w, QGroupBox) else w.text())
            elif isinstance(w, QLineEdit):
                out.append(w.text())
            elif isinstance(w, QComboBox):
                out.append(w.currentText())
        out.append(self.results.visible_text() if self.results.isVisibleTo(self) else "")
        out.extend(self.image_view.overlay_text().values())
        return "\n".join(t for t in out if t)
