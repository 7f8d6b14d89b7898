"""The coordinator's window (``ultrasound-reader study coordinate [--db URL]``).

Everything goes through the study package's public API, the same functions the
``study`` commands call: :func:`create_study`, :func:`add_reader`, :func:`status`,
:func:`export`, :func:`analyze` (with its plots and report). Creating a study (the AI
runs on every case) and analysing it run in a worker, so the window keeps answering.

Tabs: **Study** (create one, or what the open database holds), **Readers** (add a
reader, progress per reader, open the reader mode for the selected one), **Export**
(long / iMRMC / MRMCaov CSV), **Analysis** (the text report and the plots; they are
also written to the results folder a coordinator keeps). The coordinator sees no
answers' content here, only progress; the analysis is where truth and answers meet.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.workers import TaskRunner

log = logging.getLogger(__name__)

READER_COLUMNS = ("Reader", "Years", "Group", "Pre-AI", "Revealed", "Post-AI", "Next")


def _create_job(job: Any, db: str, name: str, cases: str, truth: str, bundle: str, design: str, seed: int,
                washout: float | None) -> dict[str, Any]:
    from ultrasound_reader.study.service import create_study

    return create_study(db, name, cases, truth, bundle, design=design, seed=seed, washout_days=washout,
                        progress=lambda i, n: job.progress(i, n, f"AI output of case {i} of {n}"))


def _analyze_job(job: Any, db: str, folder: str) -> tuple[dict[str, Any], str]:
    from ultrasound_reader.study.analysis import analyze, format_report

    result = analyze(db, plots=folder)
    return result, format_report(result)


class CoordinatorWindow(QMainWindow):
    """See the module docstring. ``db``: the study database to open (None: choose or create one)."""

    refreshed = Signal(object)  # the status dict (None: no study yet)
    analysed = Signal(object)  # the analysis result dict
    failed = Signal(str)

    def __init__(self, db: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coordinatorWindow")
        self.setWindowTitle("Reader study — coordinator")
        self.runner = TaskRunner(2, self)
        self.status_data: dict[str, Any] | None = None
        self.analysis: dict[str, Any] | None = None
        self.reader_windows: list[QWidget] = []
        self.errors: list[str] = []
        root = QWidget()
        outer = QVBoxLayout(root)
        top = QHBoxLayout()
        self.db_edit = QLineEdit(db or "")
        self.db_edit.setObjectName("dbEdit")
        self.db_edit.setPlaceholderText("study database: a SQLite file path or a SQLAlchemy URL")
        open_button = QPushButton("Open")
        open_button.clicked.connect(self.refresh)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_db)
        top.addWidget(QLabel("Database"))
        top.addWidget(self.db_edit, 1)
        top.addWidget(browse)
        top.addWidget(open_button)
        outer.addLayout(top)
        self.message = QLabel("")
        self.message.setObjectName("coordinatorMessage")
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("coordinatorTabs")
        self.tabs.addTab(self._study_tab(), "Study")
        self.tabs.addTab(self._readers_tab(), "Readers && progress")
        self.tabs.addTab(self._export_tab(), "Export")
        self.tabs.addTab(self._analysis_tab(), "Analysis")
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(root)
        if db:
            self.refresh()

    # -- tabs --------------------------------------------------------------------------------
    def _study_tab(self) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        self.summary = QLabel("No study open.")
        self.summary.setObjectName("studySummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.summary)
        self.create_box = QWidget()
        f = QFormLayout(self.create_box)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("studyName")
        self.cases_edit = QLineEdit()
        self.cases_edit.setObjectName("casesDir")
        self.cases_edit.setPlaceholderText("folder of case folders (as 'phantom' writes)")
        self.truth_edit = QLineEdit()
        self.truth_edit.setObjectName("truthCsv")
        self.truth_edit.setPlaceholderText("truth CSV: stored, never shown to readers")
        self.bundle_edit = QLineEdit()
        self.bundle_edit.setObjectName("bundleDir")
        self.design = QComboBox()
        self.design.addItems(["sequential", "crossover"])
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.washout = QDoubleSpinBox()
        self.washout.setRange(0, 3650)
        self.washout.setValue(28)
        self.washout.setSuffix(" days (crossover)")
        f.addRow("Name", self.name_edit)
        f.addRow("Cases", self.cases_edit)
        f.addRow("Truth", self.truth_edit)
        f.addRow("Model bundle", self.bundle_edit)
        f.addRow("Design", self.design)
        f.addRow("Seed of the case orders", self.seed)
        f.addRow("Washout", self.washout)
        self.create_button = QPushButton("Create study")
        self.create_button.setObjectName("createButton")
        self.create_button.clicked.connect(self.create)
        f.addRow(self.create_button)
        v.addWidget(self.create_box)
        v.addStretch(1)
        return w

    def _readers_tab(self) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        add = QHBoxLayout()
        self.reader_id = QLineEdit()
        self.reader_id.setObjectName("readerId")
        self.reader_id.setPlaceholderText("id, e.g. R1")
        self.reader_name = QLineEdit()
        self.reader_name.setPlaceholderText("name (optional)")
        self.reader_years = QDoubleSpinBox()
        self.reader_years.setObjectName("readerYears")
        self.reader_years.setRange(0, 70)
        self.reader_years.setSuffix(" years")
        self.add_button = QPushButton("Add reader")
        self.add_button.setObjectName("addReaderButton")
        self.add_button.clicked.connect(self.add_reader)
        for x in (self.reader_id, self.reader_name, self.reader_years, self.add_button):
            add.addWidget(x)
        v.addLayout(add)
        self.table = QTableWidget(0, len(READER_COLUMNS))
        self.table.setObjectName("readerTable")
        self.table.setHorizontalHeaderLabels(READER_COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        v.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.audit_label = QLabel("")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.read_button = QPushButton("Open reader mode for the selected reader")
        self.read_button.setObjectName("openReaderButton")
        self.read_button.clicked.connect(self.open_reader_mode)
        row.addWidget(self.audit_label, 1)
        row.addWidget(refresh)
        row.addWidget(self.read_button)
        v.addLayout(row)
        return w

    def _export_tab(self) -> QWidget:
        w = QWidget()
        f = QFormLayout(w)
        self.export_format = QComboBox()
        self.export_format.setObjectName("exportFormat")
        self.export_format.addItems(["long", "imrmc", "mrmcaov"])
        self.export_out = QLineEdit()
        self.export_out.setObjectName("exportOut")
        self.export_out.setPlaceholderText("output CSV file")
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportButton")
        self.export_button.clicked.connect(self.export)
        self.export_result = QLabel("")
        self.export_result.setObjectName("exportResult")
        self.export_result.setWordWrap(True)
        f.addRow("Layout", self.export_format)
        f.addRow("File", self.export_out)
        f.addRow(self.export_button)
        f.addRow(self.export_result)
        return w

    def _analysis_tab(self) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        row = QHBoxLayout()
        self.results_dir = QLineEdit()
        self.results_dir.setObjectName("resultsDir")
        self.results_dir.setPlaceholderText("folder for the report and plots")
        self.analyse_button = QPushButton("Analyse")
        self.analyse_button.setObjectName("analyseButton")
        self.analyse_button.clicked.connect(self.analyse)
        row.addWidget(QLabel("Results folder"))
        row.addWidget(self.results_dir, 1)
        row.addWidget(self.analyse_button)
        v.addLayout(row)
        self.report = QPlainTextEdit()
        self.report.setObjectName("analysisReport")
        self.report.setReadOnly(True)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSize(9)
        self.report.setFont(font)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.plots = QWidget()
        self.plots_layout = QHBoxLayout(self.plots)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.plots)
        scroll.setMinimumHeight(300)
        v.addWidget(self.report, 3)
        v.addWidget(scroll, 2)
        return w

    # -- actions -----------------------------------------------------------------------------
    @property
    def db(self) -> str:
        return self.db_edit.text().strip()

    def _choose_db(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Study database", self.db or str(Path.home() / "study.db"),
                                              "SQLite study database (*.db);;All files (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.db_edit.setText(path)
            self.refresh()

    def _say(self, text: str, error: bool = False) -> None:
        if error:
            self.errors.append(text)
            self.failed.emit(text)
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.ERROR if error else theme.TEXT};")

    def _need_db(self) -> bool:
        if not self.db:
            self._say("Give the study database first (a SQLite file path or a SQLAlchemy URL)", error=True)
            return False
        return True

    def refresh(self) -> None:
        """Read the study and every reader's progress (status: no answers' content)."""
        from ultrasound_reader.study.service import status

        if not self._need_db():
            return
        try:
            st = status(self.db)
        except UserError as exc:
            self.status_data = None
            if "holds no study" in str(exc) or "cannot be opened" in str(exc) or "no such" in str(exc):
                self.summary.setText("This database holds no study yet: create one below.")
                self.create_box.setEnabled(True)
                self._say(str(exc))
            else:
                self._say(str(exc), error=True)
            self._fill_table([])
            self.refreshed.emit(None)
            return
        self.status_data = st
        self.create_box.setEnabled(False)
        sim = " — SIMULATED demo study" if st["simulated"] else ""
        b = st["bundle"]
        self.summary.setText(
            f"<b>{st['study']}</b>{sim}<br>{st['task']} cases: {st['cases']}, {st['design']} design"
            + (f" (washout {st['washout_days']:g} days)" if st["design"] == "crossover" else "")
            + f", seed {st['seed']}<br>AI: {b['name']} {b['version']} (sha256 {b['sha256'][:12]}…)<br>"
            f"Readers: {len(st['readers'])}; database {st['db']}")
        self._fill_table(st["readers"], st["cases"])
        self.audit_label.setText(f"Audit: {st['audit_events']} events, {st['refused_attempts']} refused attempts")
        if not self.results_dir.text() and "://" not in self.db:
            self.results_dir.setText(str(Path(self.db).resolve().parent / "results"))
        self._say(f"Study {st['study']!r} open")
        self.refreshed.emit(st)

    def _fill_table(self, readers: list[dict[str, Any]], n: int = 0) -> None:
        self.table.setRowCount(len(readers))
        for i, r in enumerate(readers):
            nxt = r["next"]
            where = "complete" if nxt is None else f"case {nxt['case']} {nxt['step']}"
            if r.get("waiting"):
                where += f" ({r['waiting']})"
            cells = [r["reader"] + (" [SIMULATED]" if r["simulated"] else ""), f"{r['years']:g}", r["group"],
                     f"{r['pre']}/{n}", f"{r['revealed']}/{n}", f"{r['post']}/{n}", where]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r["reader"])
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()

    def create(self) -> int | None:
        if not self._need_db():
            return None
        args = [self.name_edit.text().strip(), self.cases_edit.text().strip(), self.truth_edit.text().strip(),
                self.bundle_edit.text().strip()]
        for label, value in zip(("Name", "Cases", "Truth", "Model bundle"), args):
            if not value:
                self._say(f"{label}: required to create a study", error=True)
                return None
        design = self.design.currentText()
        washout = float(self.washout.value()) if design == "crossover" else None
        self.create_button.setEnabled(False)
        self._say("Creating the study: the AI runs on every case…")
        return self.runner.submit("create", _create_job, self.db, *args, design, int(self.seed.value()), washout,
                                  on_done=self._created, on_error=self._create_failed,
                                  on_progress=lambda i, n, text: self._say(text))

    def _created(self, out: dict[str, Any]) -> None:
        self.create_button.setEnabled(True)
        self.refresh()
        self._say(f"Study {out['study']!r} created: {out['cases']} cases, AI output of {out['bundle']} stored")

    def _create_failed(self, message: str, _user: bool) -> None:
        self.create_button.setEnabled(True)
        self._say(message, error=True)

    def add_reader(self) -> bool:
        from ultrasound_reader.study.service import add_reader

        if not self._need_db():
            return False
        try:
            out = add_reader(self.db, self.reader_id.text().strip(), float(self.reader_years.value()),
                             name=self.reader_name.text().strip() or None)
        except UserError as exc:
            self._say(str(exc), error=True)
            return False
        self.reader_id.clear()
        self.reader_name.clear()
        self.refresh()
        self._say(f"Reader {out['reader']} added ({out['group']}), {out['cases']} cases in a randomised order")
        return True

    def selected_reader(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def open_reader_mode(self) -> QWidget | None:
        from ultrasound_reader.gui.reader_mode import ReaderWindow

        code = self.selected_reader()
        if code is None:
            self._say("Select a reader in the table first", error=True)
            return None
        try:
            w = ReaderWindow(self.db, code)
        except UserError as exc:
            self._say(str(exc), error=True)
            return None
        w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        w.resize(1280, 820)
        w.show()
        self.reader_windows.append(w)
        return w

    def export(self) -> bool:
        from ultrasound_reader.study.export import export

        if not self._need_db():
            return False
        try:
            out = export(self.db, self.export_format.currentText(), self.export_out.text().strip() or "")
        except UserError as exc:
            self._say(str(exc), error=True)
            return False
        self.export_result.setText(f"{out['rows']} rows ({out['format']} layout) written to {out['out']}")
        self._say(self.export_result.text())
        return True

    def analyse(self) -> int | None:
        if not self._need_db():
            return None
        folder = self.results_dir.text().strip() or tempfile.mkdtemp(prefix="study-results-")
        self.results_dir.setText(folder)
        self.analyse_button.setEnabled(False)
        self._say("Analysing…")
        return self.runner.submit("analyse", _analyze_job, self.db, folder, on_done=self._analysed,
                                  on_error=self._analyse_failed)

    def _analysed(self, out: tuple[dict[str, Any], str]) -> None:
        result, text = out
        self.analyse_button.setEnabled(True)
        self.analysis = result
        self.report.setPlainText(text)
        while self.plots_layout.count():
            item = self.plots_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for p in result.get("plots", []):
            label = QLabel()
            label.setObjectName("plot")
            pix = QPixmap(p)
            if not pix.isNull():
                label.setPixmap(pix.scaledToHeight(270, Qt.TransformationMode.SmoothTransformation))
            label.setToolTip(p)
            self.plots_layout.addWidget(label)
        self.plots_layout.addStretch(1)
        self._say(f"Analysis done; report and plots in {self.results_dir.text()}")
        self.tabs.setCurrentIndex(3)
        self.analysed.emit(result)

    def _analyse_failed(self, message: str, _user: bool) -> None:
        self.analyse_button.setEnabled(True)
        self._say(message, error=True)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        for w in self.reader_windows:
            try:
                w.close()
            except RuntimeError:
                pass  # already deleted
        self.runner.wait(60000)  # a creation or analysis under way finishes (each is one transaction)
        super().closeEvent(event)
