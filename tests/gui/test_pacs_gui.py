"""The PACS face of the window against a real Orthanc: Query/Retrieve dock, nodes dialog, Export / Send.

Real parts: the tests/pacs Orthanc (Debian's orthanc + orthanc-dicomweb on 127.0.0.1,
basic auth, AE checks) with its PHANTOM studies, nodes written by the nodes dialog or
the nodes module into a tmp config folder, the window's worker pool, the cache, the
real exporter and the small random bundles of tests/gui. Set ``UR_PACS_SHOTS=/folder``
to keep screenshots of the dock and the export dialog.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.pacs.conftest import _private_dirs, orthanc, studies  # noqa: F401 - the tests/pacs fixtures, reused
from ultrasound_reader.dicom import open_cine, pacs
from ultrasound_reader.dicom.pacs import nodes as pacs_nodes
from ultrasound_reader.dicom.pacs.testserver import PASSWORD, free_port

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"


def _shot(widget, name: str) -> None:  # noqa: ANN001
    folder = os.environ.get("UR_PACS_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(folder) / name))


def _add_nodes(server) -> None:  # noqa: ANN001
    web = server.web_node()
    web.secret = None
    pacs_nodes.add_node(server.dimse_node())
    pacs_nodes.add_node(web, PASSWORD)


@pytest.fixture
def pacs_window(make_window, orthanc, tiny_models: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN001, ANN201, F811
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tiny_models))
    _add_nodes(orthanc)
    window = make_window(tmp_path / "pacs-settings.ini")
    window.resize(1400, 900)
    window.reading.analysis.threads = 1
    window.pacs.reload_nodes()
    window.pacs.act_dock.trigger()
    return window


def _search(qtbot, window, node: str, **keys: str) -> None:  # noqa: ANN001
    d = window.pacs.dock
    d.node.setCurrentText(node)
    for field, value in keys.items():
        getattr(d, field).setText(value)
    d.search_button.click()
    assert d.busy
    qtbot.waitUntil(lambda: not d.busy, timeout=20000)


def _cache_files() -> list[Path]:
    root = Path(os.environ["ULTRASOUND_READER_CACHE"]) / "pacs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_query_then_retrieve_a_series_opens_it(qtbot, pacs_window, studies, kind: str) -> None:  # noqa: ANN001, F811
    window, d = pacs_window, pacs_window.pacs.dock
    node = "test-dimse" if kind == "dimse" else "test-web"
    assert d.node.count() == 2 and d.modality.text() == "US"  # US by default
    _search(qtbot, window, node, patient_id="PH-PACS-1")
    assert d.tree.topLevelItemCount() == 1, d.status.text()
    top = d.tree.topLevelItem(0)
    assert top.text(0) == "PH-PACS-1  PHANTOM ALPHA" and top.text(3) == "2020-05-12" and top.text(5) == "ACC-A"
    assert (top.text(1), top.text(2), top.text(4)) == ("4", "2", "US")  # images, series, modality
    assert sorted(top.child(k).text(1) for k in range(top.childCount())) == ["1", "3"]
    assert d.status.text() == f"1 study, 2 series on {node}"
    if kind == "dicomweb":  # the server renders thumbnails; DIMSE has none
        qtbot.waitUntil(lambda: all(not top.child(k).icon(0).isNull() for k in range(2)), timeout=15000)
    _shot(window.pacs.dock, f"dock-{kind}.png")
    # the three-image series: into the cache, then opened like a folder
    uid3 = next(u for u, fs in studies.a.series.items() if len(fs) == 3)
    row = next(top.child(k) for k in range(2) if top.child(k).data(0, 0x0100) == uid3)
    d.tree.setCurrentItem(row)
    with qtbot.waitSignal(window.pacs.retrieved, timeout=30000) as got:
        d.retrieve_button.click()
    result = got.args[0]
    assert len(result.files) == 3 and all(str(f).startswith(os.environ["ULTRASOUND_READER_CACHE"])
                                          for f in result.files)
    qtbot.waitUntil(lambda: window.current_path is not None and Path(window.current_path) in result.files
                    and not window.runner.busy, timeout=20000)
    assert len(window.session.series_paths()) == 3
    # what is on screen is what was stored on the PACS
    by_uid = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in studies.a.series[uid3]}
    shown = Path(window.current_path)
    source = by_uid[str(pydicom.dcmread(shown, stop_before_pixels=True).SOPInstanceUID)]
    with open_cine(source) as cine:
        assert np.array_equal(np.asarray(window.cine.frame(0)), np.asarray(cine.frame(0)))
    assert "Retrieved 3 file(s)" in d.status.text() and not d.busy
    _shot(window, f"window-retrieved-{kind}.png")


def test_search_keys_dates_and_modality(qtbot, pacs_window, studies) -> None:  # noqa: ANN001, F811
    window, d = pacs_window, pacs_window.pacs.dock
    _search(qtbot, window, "test-web", patient_id="PH-PACS-2", dates="2021-01-01..2021-12-31")
    assert [d.tree.topLevelItem(i).text(5) for i in range(d.tree.topLevelItemCount())] == ["ACC-B"]  # C is OT
    _search(qtbot, window, "test-web", patient_id="PH-PACS-2", modality="")
    assert sorted(d.tree.topLevelItem(i).text(5) for i in range(d.tree.topLevelItemCount())) == ["ACC-B", "ACC-C"]
    _search(qtbot, window, "test-dimse", patient_id="", patient_name="PHANTOM^AL*", modality="US", dates="")
    assert [d.tree.topLevelItem(i).text(5) for i in range(d.tree.topLevelItemCount())] == ["ACC-A"]
    # a bad key is refused in the dock, naming it; nothing is sent
    d.dates.setText("2021-13-45")
    assert window.pacs.search() == 0
    assert "--date" in d.status.text() or "date" in d.status.text().lower()
    assert not d.busy and d.tree.topLevelItemCount() == 1


def test_cancel_leaves_nothing_and_a_retry_works(qtbot, pacs_window, studies) -> None:  # noqa: ANN001, F811
    window, d = pacs_window, pacs_window.pacs.dock
    _search(qtbot, window, "test-dimse", patient_id="PH-PACS-1")
    d.tree.setCurrentItem(d.tree.topLevelItem(0))  # the whole study
    assert window.pacs.retrieve_selected() > 0 and d.cancel_button.isEnabled()
    d.cancel_button.click()
    assert "Cancelled" in d.status.text() and not d.busy and d.retrieve_button.isEnabled()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20000)
    assert _cache_files() == [] and window.current_path is None  # nothing half-written, nothing opened
    with qtbot.waitSignal(window.pacs.retrieved, timeout=30000) as got:
        d.retrieve_button.click()
    assert len(got.args[0].files) == 4 and len(_cache_files()) == 4
    qtbot.waitUntil(lambda: window.current_path is not None and not window.runner.busy, timeout=20000)
    assert len(window.session.series_paths()) == 4  # both series of the study


def test_pacs_down_is_said_in_the_dock(qtbot, pacs_window, monkeypatch) -> None:  # noqa: ANN001
    window, d = pacs_window, pacs_window.pacs.dock
    pacs_nodes.add_node(pacs_nodes.Node(name="nowhere", kind="dimse", ae_title="ORTHANC", host="127.0.0.1",
                                        port=free_port(), timeout=3))
    window.pacs.reload_nodes()
    _search(qtbot, window, "nowhere", patient_id="X")
    assert d.status.text().startswith("PACS nowhere (ORTHANC@127.0.0.1:") and "cannot connect" in d.status.text()
    assert d.tree.topLevelItemCount() == 0 and window.isVisible() and d.search_button.isEnabled()


def test_nodes_dialog_saves_checks_and_keeps_the_secret_out(qtbot, pacs_window, orthanc) -> None:  # noqa: ANN001, F811
    window = pacs_window
    dialog = window.pacs.edit_nodes()
    assert dialog.list.count() == 2
    dialog.new_node()
    dialog.name.setText("site-web")
    dialog.kind.setCurrentIndex(1)
    dialog.url.setText(orthanc.dicomweb_url)
    dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))
    dialog.username.setText("reader")
    assert not dialog.save() and "needs a password" in dialog.message.text()  # no secret yet
    dialog.secret.setText("wrong-password")
    with qtbot.waitSignal(dialog.tested, timeout=20000) as tested:  # Test Connection before saving
        assert dialog.test_connection() > 0
    assert tested.args == [False] and "refused our credentials (HTTP 401)" in dialog.message.text()
    assert "wrong-password" not in dialog.message.text()
    dialog.secret.setText(PASSWORD)
    with qtbot.waitSignal(dialog.tested, timeout=20000) as tested:
        dialog.test_button.click()
    assert tested.args == [True] and dialog.message.text().startswith("site-web (http://127.0.0.1:")
    assert "answered in" in dialog.message.text()
    assert dialog.save(), dialog.message.text()
    text = pacs_nodes.nodes_path().read_text()
    assert PASSWORD not in text and json.loads(text)["nodes"][-1]["name"] == "site-web"
    assert pacs_nodes.load_secret("site-web") == PASSWORD
    assert window.pacs.dock.node.findText("site-web") >= 0  # the dock follows
    _search(qtbot, window, "site-web", patient_id="PH-PACS-1")  # the saved node works
    assert window.pacs.dock.tree.topLevelItemCount() == 1, window.pacs.dock.status.text()
    # a bad AE title is refused in the dialog, with the field named; nothing is written
    dialog.new_node()
    dialog.name.setText("bad")
    dialog.kind.setCurrentIndex(0)
    dialog.ae_title.setText("WAY-TOO-LONG-AE-TITLE")
    dialog.host.setText("127.0.0.1")
    assert not dialog.save() and "AE title" in dialog.message.text()
    assert "bad" not in pacs_nodes.load_nodes()
    _shot(dialog, "nodes-dialog.png")
    dialog.list.setCurrentRow(sorted(pacs_nodes.load_nodes()).index("site-web"))
    dialog.remove_current()
    assert "site-web" not in pacs_nodes.load_nodes() and pacs_nodes.load_secret("site-web") is None
    dialog.close()


# ----------------------------------------------------------------------------- export / send
def _analysed_case(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    case_dir = tmp_path / "liver-s136-0000"
    shutil.copytree(DEMO / "liver" / "liver-s136-0000", case_dir)
    window.open_paths([case_dir])
    r = window.reading
    qtbot.waitUntil(lambda: window.session.case is not None and window.cine is not None
                    and r.bundle is not None and not r.busy and not window.runner.busy, timeout=60000)
    with qtbot.waitSignal(window.session.stallMeasured, timeout=60000):
        assert r.analyse() is not None


def test_export_and_send_to_pacs(qtbot, pacs_window, orthanc, tmp_path: Path) -> None:  # noqa: ANN001, F811
    from ultrasound_reader.gui.export_dialog import ExportChoice

    window, ctl = pacs_window, pacs_window.pacs
    assert not ctl.act_export.isEnabled()  # nothing analysed yet
    assert ctl.export() == 0 and "analyse it first" in window.last_error
    _analysed_case(qtbot, window, tmp_path)
    assert ctl.act_export.isEnabled() and ctl.act_send.isEnabled()
    # the buttons under the results are the same actions
    from PySide6.QtWidgets import QToolButton

    buttons = [b.defaultAction() for b in window.reading.result_actions_row.findChildren(QToolButton)]
    assert ctl.act_export in buttons and ctl.act_send in buttons
    out = tmp_path / "out"
    ctl.ask_export = lambda send: ExportChoice(out, sr=True, sc=True, pdf=True, deid=True, send_to="test-dimse",
                                               images=True)
    with qtbot.waitSignal(ctl.exported, timeout=120000) as got:
        assert ctl.export(send=True) > 0
    done = got.args[0]
    o = done.outputs
    assert o.deidentified and o.sr and o.pdf and len(o.sc) == 2 and done.node == "test-dimse"
    n_images = len(window.session.case.images)
    assert len(o.images) == n_images and len(done.sent.sent) == 3 + n_images and not done.sent.failed
    source = pydicom.dcmread(window.session.case.image_path(0), stop_before_pixels=True)
    sr = pydicom.dcmread(o.sr)
    assert sr.Modality == "SR" and str(sr.PatientID) != str(source.PatientID)
    assert str(source.PatientName) not in str(sr.PatientName)
    assert o.pdf.read_bytes()[:5] == b"%PDF-"
    # the sent objects are on the PACS, under the de-identified patient
    found = pacs.query(orthanc.dimse_node(), pacs.Query(study_uid=str(sr.StudyInstanceUID), modality=""),
                       with_series=True)
    assert len(found) == 1 and found[0].patient_id == str(sr.PatientID) and found[0].n_instances == 3 + n_images
    # the SR's references resolve on the PACS: the de-identified image copies carry the UIDs it names
    copies = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in o.images}
    refs = {str(r.ReferencedSOPInstanceUID) for item in sr.CurrentRequestedProcedureEvidenceSequence
            for se in item.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}
    assert refs and refs <= copies
    assert f"sent {3 + n_images} to test-dimse" in window.statusBar().currentMessage()
    _shot(window, "window-exported.png")
    if os.environ.get("UR_PACS_SHOTS"):  # the outputs, to look at (pdftoppm, an SC viewer)
        for f in [o.pdf, *o.sc]:
            shutil.copyfile(f, Path(os.environ["UR_PACS_SHOTS"]) / f.name)
    # the real dialog: Export, identified this time (the switch off), no send
    from PySide6.QtCore import QTimer

    out2 = tmp_path / "out2"

    def answer() -> None:
        dlg = ctl.export_dialog
        assert dlg.deid.isChecked() and not dlg.send.isChecked() and not dlg.images.isChecked()  # the defaults
        assert "NOT FOR CLINICAL USE" in dlg.findChild(type(dlg.deid_warning), "exportDemoNote").text()
        dlg.folder.setText(str(out2))
        dlg.pdf.setChecked(False)
        dlg.deid.setChecked(False)
        dlg.ok_button.click()

    ctl.ask_export = ctl._ask_export_dialog
    QTimer.singleShot(300, answer)
    with qtbot.waitSignal(ctl.exported, timeout=120000) as got:
        assert ctl.export() > 0
    o2 = got.args[0].outputs
    assert not o2.deidentified and o2.pdf is None and o2.sr.parent == out2 and got.args[0].sent is None
    assert str(pydicom.dcmread(o2.sr).PatientID) == str(source.PatientID)
    # a stale result is not exported
    case = window.session.case
    window.session.set_factors(dataclasses.replace(case.factors, age=(case.factors.age or 50) + 7))
    qtbot.waitUntil(lambda: not ctl.act_export.isEnabled(), timeout=5000)
    assert ctl.export() == 0 and "analyse again" in window.last_error
    # a retrieve while the edited case stays (the reader answers Cancel to "unsaved changes"): kept in the cache
    assert window.session.doc.dirty
    window.case_ctl.ask_unsaved = lambda _message: "cancel"
    _search(qtbot, window, "test-web", patient_id="PH-PACS-2")
    ctl.dock.tree.setCurrentItem(ctl.dock.tree.topLevelItem(0))
    with qtbot.waitSignal(ctl.retrieved, timeout=30000):
        ctl.dock.retrieve_button.click()
    assert ctl.dock.status.text().endswith("; not opened") and window.session.case is case
    window.case_ctl.ask_unsaved = lambda _message: "discard"


def test_export_dialog_defaults_to_deidentified(qtbot, pacs_window) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.export_dialog import DEID_OFF_WARNING, ExportDialog

    dialog = ExportDialog(["test-dimse", "test-web"], pacs_window, demo=True, summary="Case X: malignant")
    qtbot.addWidget(dialog)
    dialog.show()
    c = dialog.choice()
    assert c.deid and c.sr and c.sc and c.pdf and c.send_to is None
    assert not dialog.deid_warning.isVisible()
    _shot(dialog, "export-dialog.png")
    dialog.deid.setChecked(False)
    assert dialog.deid_warning.isVisible() and dialog.deid_warning.text() == DEID_OFF_WARNING
    assert not dialog.choice().deid
    dialog.deid.setChecked(True)
    assert not dialog.images.isChecked()
    dialog.send.setChecked(True)  # sending de-identified: the image copies go too, or the SR's references dangle
    dialog.node.setCurrentText("test-web")
    assert dialog.choice().send_to == "test-web" and dialog.choice().images
    for box in (dialog.sr, dialog.sc, dialog.pdf, dialog.images):
        box.setChecked(False)
    dialog._accept()
    assert dialog.isVisible() and "nothing to export" in dialog.message.text()
    send = ExportDialog([], pacs_window, send=True)
    qtbot.addWidget(send)
    assert not send.send.isEnabled() and not send.pdf.isChecked()  # no node: says where to add one
    assert "PACS Nodes" in send.send.toolTip()


def test_a_broken_nodes_file_is_said_and_the_window_runs(qtbot, make_window) -> None:  # noqa: ANN001
    path = pacs_nodes.nodes_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"nodes": [{"name": "x", "kind": "dimse", "ae_title": "A\\\\B", "host": "h", "port": 104}]}')
    window = make_window()
    assert str(path) in window.last_error and "AE title" in window.last_error
    d = window.pacs.dock
    assert d.node.count() == 0 and not d.search_button.isEnabled() and "No PACS node" in d.status.text()
    path.write_text("{not json")
    dialog = window.pacs.edit_nodes()
    assert "not a readable PACS nodes file" in dialog.message.text() and dialog.list.count() == 0
    dialog.name.setText("new")
    dialog.ae_title.setText("PACS")
    dialog.host.setText("127.0.0.1")
    assert not dialog.save() and path.read_text() == "{not json"  # the reader's file is not overwritten
    dialog.close()
