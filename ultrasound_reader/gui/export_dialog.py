"""File ▸ Export: the analysed case as DICOM SR, secondary captures and a PDF report, and Send to PACS.

The dialog only gathers choices (:class:`ExportChoice`); :func:`export_job` does the
work in a worker with :class:`ultrasound_reader.export.Export` — the same code the
``export`` CLI runs — and, when asked, sends the DICOM outputs (SR, SCs) to a PACS
node with :func:`ultrasound_reader.dicom.pacs.send`. De-identification (PS3.15 basic
profile) is on by default; turning it off is a visible switch with a warning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ultrasound_reader.errors import UserError
from ultrasound_reader.gui import theme

DEID_OFF_WARNING = ("Identified export: the files keep the patient's name, ID, dates and UIDs. "
                    "Only for a PACS of the same hospital.")


@dataclass
class ExportChoice:
    folder: Path
    sr: bool = True
    sc: bool = True
    pdf: bool = True
    deid: bool = True
    send_to: str | None = None  # a PACS node name
    images: bool = False  # also copies of the case's images (de-identified with the same UID map), sent too

    def names(self, label: str) -> dict[str, Path]:
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40] or "case"
        out = {}
        if self.sr:
            out["sr"] = self.folder / f"{stem}_sr.dcm"
        if self.sc:
            out["sc"] = self.folder / f"{stem}_sc.dcm"
        if self.pdf:
            out["pdf"] = self.folder / f"{stem}_report.pdf"
        return out


@dataclass
class ExportDone:
    outputs: Any  # export.Outputs
    label: str
    sent: Any = None  # pacs.SendResult
    node: str = ""
    notes: list[str] = field(default_factory=list)


def default_folder() -> Path:
    from ultrasound_reader.paths import cache_dir

    return cache_dir() / "exports" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def export_job(job: Any, case: Any, result: Any, bundle: Any, choice: ExportChoice) -> ExportDone:
    """Worker: write the chosen outputs, then send the DICOM ones when a node is chosen."""
    from ultrasound_reader.export import Export

    if not (choice.sr or choice.sc or choice.pdf or choice.images):
        raise UserError("nothing to export: tick SR, secondary capture, PDF and/or image copies")
    choice.folder.mkdir(parents=True, exist_ok=True)
    exp = Export(case, result, bundle, deid=choice.deid)
    names = choice.names(exp.case_label)
    steps = len(names) + (1 if choice.send_to else 0) + (1 if choice.images else 0)
    done = 0
    for what, path in names.items():
        job.check()
        job.progress(done, steps, f"Writing the {what.upper()}")
        getattr(exp, what)(path)
        done += 1
    if choice.images:
        job.check()
        job.progress(done, steps, "Writing the image copies")
        exp.images(choice.folder / "images")
        done += 1
    out = ExportDone(exp.outputs, exp.case_label)
    if choice.send_to:
        from ultrasound_reader.dicom import pacs

        files = ([exp.outputs.sr] if exp.outputs.sr else []) + list(exp.outputs.sc) + list(exp.outputs.images)
        if not files:
            raise UserError("nothing to send: the PDF is not a DICOM object; tick SR and/or secondary capture")
        node = pacs.resolve(choice.send_to)
        job.progress(done, steps, f"Sending {len(files)} file(s) to {node.name}")
        out.sent = pacs.send(node, files, cancel=lambda: job.cancelled)
        out.node = node.name
        if out.sent.failed:
            raise UserError(f"PACS {node.name} refused {len(out.sent.failed)} of {len(files)} file(s): "
                            f"{out.sent.failed[0][1]} (the files are in {choice.folder})")
    return out


class ExportDialog(QDialog):
    """What to export, where, de-identified or not, and whether to send it to a PACS node."""

    def __init__(self, nodes: list[str], parent: QWidget | None = None, *, send: bool = False,
                 demo: bool = False, summary: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Send results to PACS" if send else "Export results")
        lay = QVBoxLayout(self)
        if summary:
            head = QLabel(summary, self)
            head.setObjectName("exportSummary")
            head.setWordWrap(True)
            lay.addWidget(head)
        box = QGroupBox("Outputs", self)
        b = QVBoxLayout(box)
        self.sr = QCheckBox("DICOM Structured Report (TID 1500): ROIs, sizes, probabilities, decision", box)
        self.sr.setObjectName("exportSr")
        self.sc = QCheckBox("Secondary captures: image with Grad-CAM and result, nomogram", box)
        self.sc.setObjectName("exportSc")
        self.pdf = QCheckBox("PDF report (one page)", box)
        self.pdf.setObjectName("exportPdf")
        self.images = QCheckBox("Copies of the case's images (the SR refers to them; de-identified alike)", box)
        self.images.setObjectName("exportImages")
        for w in (self.sr, self.sc, self.pdf, self.images):
            w.setChecked(w is not self.images)
            b.addWidget(w)
        if send:
            self.pdf.setChecked(False)
        lay.addWidget(box)
        if demo:
            ncu = QLabel("The demo model is in use: every output is marked NOT FOR CLINICAL USE.", self)
            ncu.setObjectName("exportDemoNote")
            ncu.setWordWrap(True)
            ncu.setStyleSheet("background: #7a1f1f; color: #ffffff; font-weight: bold; padding: 4px 6px;")
            lay.addWidget(ncu)

        form = QFormLayout()
        row = QHBoxLayout()
        self.folder = QLineEdit(str(default_folder()), self)
        self.folder.setObjectName("exportFolder")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.deid = QCheckBox("De-identify (PS3.15 basic profile: names and IDs removed, UIDs remapped, "
                              "dates shifted)", self)
        self.deid.setObjectName("exportDeid")
        self.deid.setChecked(True)
        form.addRow("", self.deid)
        self.deid_warning = QLabel(DEID_OFF_WARNING, self)
        self.deid_warning.setObjectName("deidWarning")
        self.deid_warning.setWordWrap(True)
        self.deid_warning.setStyleSheet(f"color: {theme.ACCENT}; font-weight: bold;")
        self.deid_warning.setVisible(False)
        form.addRow("", self.deid_warning)
        self.deid.toggled.connect(lambda on: self.deid_warning.setVisible(not on))
        send_row = QHBoxLayout()
        self.send = QCheckBox("Send the DICOM outputs to", self)
        self.send.setObjectName("exportSend")
        self.node = QComboBox(self)
        self.node.setObjectName("exportNode")
        self.node.addItems(nodes)
        self.send.setEnabled(bool(nodes))
        self.send.setChecked(send and bool(nodes))
        # A de-identified SR sent alone would refer to images the PACS does not have under those UIDs.
        self.images.setChecked(self.send.isChecked())
        self.send.toggled.connect(lambda on: on and self.deid.isChecked() and self.images.setChecked(True))
        if not nodes:
            self.send.setToolTip("No PACS node configured (File ▸ PACS Nodes…)")
        send_row.addWidget(self.send)
        send_row.addWidget(self.node, 1)
        form.addRow("PACS", send_row)
        lay.addLayout(form)
        self.message = QLabel("", self)
        self.message.setObjectName("exportMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {theme.ACCENT};")
        lay.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("exportOk")
        self.ok_button.setText("Send" if send else "Export")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def choice(self) -> ExportChoice:
        text = self.folder.text().strip()
        if not text:
            raise UserError("choose a folder to export to")
        folder = Path(text).expanduser()
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder}: not a folder")
        return ExportChoice(folder, self.sr.isChecked(), self.sc.isChecked(), self.pdf.isChecked(),
                            self.deid.isChecked(), self.node.currentText() if self.send.isChecked() else None,
                            self.images.isChecked())

    def _accept(self) -> None:
        try:
            c = self.choice()
            if not (c.sr or c.sc or c.pdf or c.images):
                raise UserError("nothing to export: tick at least one output")
            if c.send_to and not (c.sr or c.sc):
                raise UserError("nothing to send: the PDF is not a DICOM object; tick SR and/or secondary capture")
        except UserError as exc:
            self.message.setText(str(exc))
            return
        self.accept()
