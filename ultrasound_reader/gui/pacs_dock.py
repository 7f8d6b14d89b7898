"""The PACS face of the window: a Query/Retrieve dock, PACS node preferences, Export and Send to PACS.

:class:`PacsController` adds, through the narrow shell, the "Query/Retrieve" dock
(File ▸ Query/Retrieve…, Ctrl+Shift+Q), File ▸ PACS Nodes…, File ▸ Export… and
File ▸ Send to PACS… (also offered on the results panel). Every PACS call runs in the
window's worker pool on its own channel (``pacs-query``, ``pacs-thumbs``,
``pacs-retrieve``, ``export``) with progress and Cancel; the logic is
:mod:`ultrasound_reader.dicom.pacs` and :mod:`ultrasound_reader.export`, this module
only shows it. A retrieved study or series lands in the cache (atomically) and opens
in the reading window like a folder the reader opened.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.dicom import pacs
from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme
from ultrasound_reader.gui.export_dialog import ExportChoice, ExportDialog, ExportDone, export_job
from ultrasound_reader.gui.session import ReadingSession, SessionState

if TYPE_CHECKING:
    from ultrasound_reader.gui.shell import Shell

log = logging.getLogger(__name__)

STUDY_COLUMNS = ("Patient / series", "Images", "Series", "Date", "Modality", "Accession", "Description")
UID_ROLE = Qt.ItemDataRole.UserRole
THUMB_PX = 48


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)


# -- worker functions (no Qt) ----------------------------------------------------------------
def query_job(job: Any, node_name: str, q: pacs.Query) -> list[pacs.Study]:
    job.progress(0, 0, f"Searching {node_name}")
    node = pacs.resolve(node_name)
    return pacs.query(node, q, with_series=True, cancel=lambda: job.cancelled)


def thumbs_job(job: Any, node_name: str, series: list[pacs.Series]) -> list[tuple[str, bytes]]:
    node = pacs.resolve(node_name)
    if node.kind != "dicomweb":
        return []
    out = []
    for s in series:
        job.check()
        try:
            data = pacs.thumbnail(node, s, THUMB_PX)
        except UserError:  # a thumbnail is a nicety: the series is listed anyway
            data = None
        if data:
            out.append((s.series_uid, data))
    return out


def retrieve_job(job: Any, node_name: str, study_uid: str, series_uid: str | None) -> pacs.RetrieveResult:
    node = pacs.resolve(node_name)

    def progress(p: pacs.Progress) -> None:
        job.progress(p.done, p.total or 0, f"{p.done}/{_count(p.total)} file(s), {p.bytes / 1e6:.1f} MB")

    return pacs.retrieve(node, study_uid, series_uid, progress=progress, cancel=lambda: job.cancelled)


class QueryRetrieveDock(QDockWidget):
    """Search keys, the node, studies with their series (counts, thumbnails), Retrieve and Cancel."""

    searchRequested = Signal()
    retrieveRequested = Signal()
    cancelRequested = Signal()
    nodesRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Query/Retrieve", parent)
        self.setObjectName("pacsDock")
        body = QWidget(self)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(6, 6, 6, 6)
        row = QHBoxLayout()
        self.node = QComboBox(body)
        self.node.setObjectName("pacsNode")
        self.node.setMinimumWidth(120)
        self.nodes_button = QPushButton("Nodes…", body)
        self.nodes_button.setObjectName("pacsNodesButton")
        row.addWidget(QLabel("PACS", body))
        row.addWidget(self.node, 1)
        row.addWidget(self.nodes_button)
        lay.addLayout(row)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.patient_id = QLineEdit(body)
        self.patient_id.setObjectName("qPatientId")
        self.patient_name = QLineEdit(body)
        self.patient_name.setObjectName("qPatientName")
        self.patient_name.setPlaceholderText("wildcards * ?")
        self.accession = QLineEdit(body)
        self.accession.setObjectName("qAccession")
        self.dates = QLineEdit(body)
        self.dates.setObjectName("qDates")
        self.dates.setPlaceholderText("YYYY-MM-DD or FROM..TO")
        self.modality = QLineEdit("US", body)
        self.modality.setObjectName("qModality")
        self.modality.setPlaceholderText("empty: any")
        for label, w in (("Patient ID", self.patient_id), ("Name", self.patient_name),
                         ("Accession", self.accession), ("Study date", self.dates), ("Modality", self.modality)):
            form.addRow(label, w)
            w.returnPressed.connect(self.searchRequested.emit)
        lay.addLayout(form)
        buttons = QHBoxLayout()
        self.search_button = QPushButton("Search", body)
        self.search_button.setObjectName("pacsSearch")
        self.retrieve_button = QPushButton("Retrieve && Open", body)
        self.retrieve_button.setObjectName("pacsRetrieve")
        self.retrieve_button.setToolTip("Retrieve the selected study or series into the cache and open it")
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setObjectName("pacsCancel")
        for b in (self.search_button, self.retrieve_button, self.cancel_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.tree = QTreeWidget(body)
        self.tree.setObjectName("pacsResults")
        self.tree.setColumnCount(len(STUDY_COLUMNS))
        self.tree.setHeaderLabels(list(STUDY_COLUMNS))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setAlternatingRowColors(True)
        self.tree.setMinimumHeight(200)
        lay.addWidget(self.tree, 1)
        self.progress = QProgressBar(body)
        self.progress.setObjectName("pacsProgress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.progress.hide()
        lay.addWidget(self.progress)
        self.status = QLabel("Choose a PACS node and search", body)
        self.status.setObjectName("pacsStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {theme.TEXT_DIM};")
        lay.addWidget(self.status)
        self.setWidget(body)
        self.setMinimumWidth(300)
        self.search_button.clicked.connect(self.searchRequested.emit)
        self.retrieve_button.clicked.connect(self.retrieveRequested.emit)
        self.cancel_button.clicked.connect(self.cancelRequested.emit)
        self.nodes_button.clicked.connect(self.nodesRequested.emit)
        self.tree.itemDoubleClicked.connect(lambda *_: self.retrieveRequested.emit())
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.busy = False
        self._update_buttons()

    # -- what the user asked ------------------------------------------------------------------
    def query(self) -> pacs.Query:
        """The search keys as a Query (UserError naming the field when one is not acceptable)."""
        start, end = pacs.parse_date_range(self.dates.text())
        return pacs.Query(patient_id=self.patient_id.text(), patient_name=self.patient_name.text(),
                          accession=self.accession.text(), date_from=start, date_to=end,
                          modality=self.modality.text())

    def selected(self) -> tuple[str, str | None] | None:
        """(study UID, series UID or None for the whole study) of the selected row."""
        items = self.tree.selectedItems()
        if not items:
            return None
        item = items[0]
        parent = item.parent()
        if parent is None:
            return str(item.data(0, UID_ROLE)), None
        return str(parent.data(0, UID_ROLE)), str(item.data(0, UID_ROLE))

    # -- showing ------------------------------------------------------------------------------
    def set_nodes(self, names: list[str], keep: str | None = None) -> None:
        current = keep or self.node.currentText()
        self.node.clear()
        self.node.addItems(names)
        if current in names:
            self.node.setCurrentText(current)
        if not names:
            self.say("No PACS node configured: File ▸ PACS Nodes… (or the Nodes… button)")
        self._update_buttons()

    def show_studies(self, studies: list[pacs.Study]) -> None:
        self.tree.clear()
        for st in studies:
            name = st.patient_name.replace("^", " ").strip()
            top = QTreeWidgetItem([f"{st.patient_id}  {name}".strip(), _count(st.n_instances), _count(st.n_series),
                                   _date(st.date), "/".join(st.modalities), st.accession, st.description])
            top.setData(0, UID_ROLE, st.study_uid)
            top.setToolTip(0, f"Study {st.study_uid}")
            for se in sorted(st.series, key=lambda s: (s.number is None, s.number or 0)):
                child = QTreeWidgetItem([f"#{se.number if se.number is not None else '?'}  {se.description}".strip(),
                                         _count(se.n_instances), "", "", se.modality, "", ""])
                child.setData(0, UID_ROLE, se.series_uid)
                child.setToolTip(0, f"Series {se.series_uid}")
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        if studies:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._update_buttons()

    def set_thumbnail(self, series_uid: str, data: bytes) -> bool:
        pix = QPixmap()
        if not pix.loadFromData(data):
            return False
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for k in range(top.childCount()):
                child = top.child(k)
                if child.data(0, UID_ROLE) == series_uid:
                    child.setIcon(0, QIcon(pix.scaled(THUMB_PX, THUMB_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                                      Qt.TransformationMode.SmoothTransformation)))
                    return True
        return False

    def series_rows(self) -> list[tuple[str, str]]:
        """(study row text, series row text) of every series shown: what the reader sees."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for k in range(top.childCount()):
                out.append((top.text(0), top.child(k).text(0)))
        return out

    def set_busy(self, busy: bool, message: str = "") -> None:
        self.busy = busy
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
        if message:
            self.say(message)
        self._update_buttons()

    def set_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        if message:
            self.say(message)

    def say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.ERROR if error else theme.TEXT_DIM};")

    def _update_buttons(self) -> None:
        has_node = self.node.count() > 0
        self.search_button.setEnabled(has_node and not self.busy)
        self.retrieve_button.setEnabled(has_node and not self.busy and bool(self.tree.selectedItems()))
        self.cancel_button.setEnabled(self.busy)


class PacsController(QObject):
    """Adds the dock and the File menu actions; runs queries, retrieves, exports and sends in workers."""

    retrieved = Signal(object)  # RetrieveResult, after it was handed to the window to open
    exported = Signal(object)  # ExportDone

    def __init__(self, shell: Shell, session: ReadingSession) -> None:
        super().__init__(session)
        self.shell = shell
        self.session = session
        self.channel: str | None = None  # the dock's running job
        self.last_studies: list[pacs.Study] = []
        self.last_export: ExportDone | None = None
        self.export_running = False
        # Replaceable in tests: how the export dialog is asked (returns a choice or None).
        self.ask_export = self._ask_export_dialog
        self.dock = QueryRetrieveDock(shell.dialog_parent())
        self.dock.hide()
        shell.add_panel(self.dock, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.dock.setFloating(False)
        self.act_dock = self.dock.toggleViewAction()
        self.act_dock.setText("&Query/Retrieve (PACS)")
        self.act_dock.setShortcut("Ctrl+Shift+Q")
        # File menu, before Close: Query/Retrieve, PACS Nodes…, Export…, Send to PACS…
        shell.register_action("pacs_query", self.act_dock)
        self.act_nodes = shell.add_action("pacs_nodes", "PACS &Nodes…", None, lambda _=False: self.edit_nodes(),
                                          menu="file", before="close",
                                          tip="Add or edit the PACS nodes (DIMSE or DICOMweb)")
        shell.menu("file").insertAction(self.act_nodes, self.act_dock)
        self.act_export = shell.add_action("export", "&Export Results…", "Ctrl+E", lambda _=False: self.export(),
                                           menu="file", before="close",
                                           tip="The analysed case as DICOM SR, secondary captures and a PDF report")
        self.act_send = shell.add_action("send_to_pacs", "Send Results to &PACS…", None,
                                         lambda _=False: self.export(send=True), menu="file", before="close",
                                         tip="Export SR and secondary captures (de-identified) and send them to a PACS")
        shell.add_separator("file", before="close")
        self.result_actions: list[QAction] = [self.act_export, self.act_send]
        d = self.dock
        d.searchRequested.connect(self.search)
        d.retrieveRequested.connect(self.retrieve_selected)
        d.cancelRequested.connect(self.cancel)
        d.nodesRequested.connect(self.edit_nodes)
        session.stateChanged.connect(lambda _s: self._update_enabled())
        self.reload_nodes()
        self._update_enabled()

    # -- nodes ------------------------------------------------------------------------------
    def node_names(self) -> list[str]:
        try:
            return sorted(pacs.load_nodes())
        except UserError as exc:
            self.shell.report_error(str(exc))
            return []

    def reload_nodes(self) -> None:
        self.dock.set_nodes(self.node_names())

    def edit_nodes(self) -> Any:
        from ultrasound_reader.gui.pacs_nodes_dialog import NodesDialog

        dialog = NodesDialog(self.shell.dialog_parent(), submit=self.shell.submit)
        dialog.nodesChanged.connect(self.reload_nodes)
        dialog.show()
        self.nodes_dialog = dialog
        return dialog

    # -- query / retrieve -------------------------------------------------------------------
    def _submit(self, channel: str, fn: Any, *args: Any, on_done: Any, message: str) -> int:
        self.channel = channel
        self.dock.set_busy(True, message)
        return self.shell.submit(channel, fn, *args, on_done=lambda r: self._done(channel, on_done, r),
                                 on_error=lambda m, _u: self._failed(channel, m),
                                 on_progress=lambda d, t, m: self.dock.set_progress(d, t, m))

    def _done(self, channel: str, then: Any, result: Any) -> None:
        if self.channel == channel:
            self.channel = None
            self.dock.set_busy(False)
        then(result)

    def _failed(self, channel: str, message: str) -> None:
        if self.channel == channel:
            self.channel = None
            self.dock.set_busy(False)
        self.dock.say(message, error=True)
        self.shell.status(message, 10000)

    def search(self) -> int:
        node = self.dock.node.currentText()
        if not node:
            self.dock.say("No PACS node configured: File ▸ PACS Nodes…", error=True)
            return 0
        try:
            q = self.dock.query()
        except UserError as exc:
            self.dock.say(str(exc), error=True)
            return 0
        return self._submit("pacs-query", query_job, node, q, on_done=lambda r, n=node: self._on_studies(n, r),
                            message=f"Searching {node}…")

    def _on_studies(self, node: str, studies: list[pacs.Study]) -> None:
        self.last_studies = studies
        self.dock.show_studies(studies)
        n_series = sum(len(s.series) for s in studies)
        self.dock.say(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {n_series} series on {node}"
                      if studies else f"No study on {node} matches")
        series = [se for st in studies for se in st.series]
        if series:
            self.shell.submit("pacs-thumbs", thumbs_job, node, series, on_done=self._on_thumbs)

    def _on_thumbs(self, thumbs: list[tuple[str, bytes]]) -> None:
        for uid, data in thumbs:
            self.dock.set_thumbnail(uid, data)

    def retrieve_selected(self) -> int:
        picked = self.dock.selected()
        node = self.dock.node.currentText()
        if picked is None or not node:
            self.dock.say("Select a study or a series first", error=True)
            return 0
        study, series = picked
        what = "series" if series else "study"
        return self._submit("pacs-retrieve", retrieve_job, node, study, series, on_done=self._on_retrieved,
                            message=f"Retrieving the {what} from {node}…")

    def _on_retrieved(self, result: pacs.RetrieveResult) -> None:
        self.dock.say(f"Retrieved {len(result.files)} file(s), {result.bytes / 1e6:.1f} MB in {result.seconds:.1f} s "
                      f"({result.method}); opening")
        where = result.folders[0].parent if result.folders else None
        if not result.files:
            self.dock.say(f"The PACS sent no file for this {'series' if result.series_uid else 'study'}", error=True)
        elif not self.shell.open_paths([str(f) for f in result.folders] or [str(result.files[0])]):
            # The reader kept the case on screen (unsaved changes): the files stay in the cache.
            self.dock.say(f"Retrieved {len(result.files)} file(s) into {where}; not opened")
        self.retrieved.emit(result)

    def cancel(self) -> None:
        if self.channel is None:
            return
        self.shell.cancel(self.channel)
        self.channel = None
        self.dock.set_busy(False, "Cancelled: nothing was kept in the cache")

    # -- export / send ------------------------------------------------------------------------
    def _update_enabled(self) -> None:
        ok = self.session.state is SessionState.RESULT and not self.export_running
        for a in (self.act_export, self.act_send):
            a.setEnabled(ok)
            a.setToolTip(a.statusTip() if ok else "Analyse the case first: an export holds a current result")

    def _ask_export_dialog(self, send: bool) -> ExportChoice | None:
        s = self.session
        case = s.case
        summary = (f"Case {case.case_id}: {s.run.result.decision or 'no decision'} "
                   f"({s.bundle.name} {s.bundle.version})") if case is not None and s.run is not None else ""
        dialog = ExportDialog(self.node_names(), self.shell.dialog_parent(), send=send, demo=s.is_demo_bundle,
                              summary=summary)
        self.export_dialog = dialog
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return None
        return dialog.choice()

    def export(self, send: bool = False) -> int:
        """Export (and optionally send) the case's current result; 0 when refused or not asked."""
        s = self.session
        if s.case is None or s.run is None:
            self.shell.report_error("Nothing to export: open a case and analyse it first (F5)")
            return 0
        if s.state is not SessionState.RESULT:
            reason = ", ".join(s.stale_reasons) or s.state.value
            self.shell.report_error(f"Nothing current to export ({reason}): analyse again first (F5)")
            return 0
        choice = self.ask_export(send)
        if choice is None:
            return 0
        import copy

        case = copy.deepcopy(s.case)
        self.export_running = True
        self._update_enabled()
        self.shell.status(f"Exporting to {choice.folder}…", 10000)
        return self.shell.submit("export", export_job, case, s.run.result, s.bundle, choice,
                                 on_done=self._on_exported, on_error=self._on_export_failed)

    def _on_exported(self, done: ExportDone) -> None:
        self.export_running = False
        self._update_enabled()
        self.last_export = done
        o = done.outputs
        n = (1 if o.sr else 0) + len(o.sc) + (1 if o.pdf else 0) + len(o.images)
        first = o.pdf or o.sr or (o.sc[0] if o.sc else None)
        folder = Path(first).parent if first else Path(o.images[0]).parent.parent if o.images else None
        text = f"Exported {n} file(s) ({'de-identified' if o.deidentified else 'IDENTIFIED'}) to {folder}"
        if done.sent is not None:
            text += f"; sent {len(done.sent.sent)} to {done.node} ({done.sent.method})"
        self.shell.status(text, 15000)
        self.exported.emit(done)

    def _on_export_failed(self, message: str, _user: bool) -> None:
        self.export_running = False
        self._update_enabled()
        self.shell.report_error(f"Export failed: {message}")

    def shutdown(self) -> None:
        for channel in ("pacs-query", "pacs-thumbs", "pacs-retrieve", "export"):
            self.shell.cancel(channel)
