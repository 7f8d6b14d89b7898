"""ROIs in the reading window, driven with the mouse and keyboard (pytest-qt, offscreen).

Cases are real files: phantom cases (ultrasound_reader.phantom) and a calibrated
DICOM cine from the shared samples. Points are checked in image pixels against
what the mouse did, within a pixel; undo/redo against the stored points, exactly.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from ultrasound_reader import case_rules
from ultrasound_reader.case import Case, Truth, size_band
from ultrasound_reader.dicom import open_cine

pytestmark = pytest.mark.gui

LEFT = Qt.MouseButton.LeftButton


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.phantom.generate import generate

    root = tmp_path_factory.mktemp("phantom")
    generate("liver", 1, 1, root / "liver")
    generate("soft-tissue", 1, 1, root / "soft")
    return root


def _copy_case(root: Path, dest: Path) -> Path:
    src = next(p for p in root.iterdir() if (p / "case.json").is_file())
    out = dest / src.name
    shutil.copytree(src, out)
    return out


@pytest.fixture
def liver_case(phantom_root: Path, tmp_path: Path) -> Path:
    return _copy_case(phantom_root / "liver", tmp_path)


@pytest.fixture
def soft_case(phantom_root: Path, tmp_path: Path) -> Path:
    return _copy_case(phantom_root / "soft", tmp_path)


@pytest.fixture
def exam(dicom_samples: Path, tmp_path: Path) -> Path:
    """A folder holding a copy of the calibrated 30-frame cine (a case gets saved beside it)."""
    folder = tmp_path / "exam"
    folder.mkdir()
    out = folder / "examples_ybr_color.dcm"
    shutil.copyfile(dicom_samples / "examples_ybr_color.dcm", out)
    out.chmod(0o644)
    return out


# ----------------------------------------------------------------------------- input helpers
def _send(widget: QWidget, kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
    event = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos.toPoint())), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def click(widget: QWidget, pos: QPointF) -> None:
    time.sleep(0.012)
    _send(widget, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    _send(widget, QEvent.Type.MouseButtonPress, pos, LEFT, LEFT)
    _send(widget, QEvent.Type.MouseButtonRelease, pos, LEFT, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def double_click(widget: QWidget, pos: QPointF) -> None:
    click(widget, pos)
    _send(widget, QEvent.Type.MouseButtonDblClick, pos, LEFT, LEFT)
    _send(widget, QEvent.Type.MouseButtonRelease, pos, LEFT, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def drag_path(widget: QWidget, points: list[QPointF]) -> None:
    """Press at the first point, move through the others (paced like a hand), release at the last."""
    _send(widget, QEvent.Type.MouseMove, points[0], Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    _send(widget, QEvent.Type.MouseButtonPress, points[0], LEFT, LEFT)
    for p in points[1:]:
        time.sleep(0.012)
        _send(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, LEFT)
        QApplication.processEvents()
    _send(widget, QEvent.Type.MouseButtonRelease, points[-1], LEFT, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def key(qtbot, window, k: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:  # noqa: ANN001
    qtbot.keyClick(window, k, modifiers)


CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def near(points, expected, tol: float = 1.0) -> bool:  # noqa: ANN001
    return len(points) == len(expected) and all(
        abs(p[0] - q[0]) <= tol and abs(p[1] - q[1]) <= tol for p, q in zip(points, expected))


def _dist_to_polyline(p: tuple[float, float], line: list[tuple[float, float]]) -> float:
    best = math.inf
    for a, b in zip(line, line[1:]):
        ax, ay, bx, by = *a, *b
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(ax + t * dx - p[0], ay + t * dy - p[1]))
    return best


def _open_new_case(ui, qtbot, window, path: Path):  # noqa: ANN001, ANN202
    ui.open_and_wait(qtbot, window, path)
    ctl = window.case_ctl
    qtbot.waitUntil(lambda: ctl.doc.case is not None and ctl.image_index == 0, timeout=5000)
    return ctl


def _goto(ui, qtbot, window, frame: int) -> None:  # noqa: ANN001
    window.show_frame(frame)
    ui.wait_frame(qtbot, window, frame)


# ----------------------------------------------------------------------------- tests
def test_case_folder_opens_images_rois_list_and_strip(ui, qtbot, window, liver_case):
    with qtbot.waitSignal(window.caseChanged, timeout=10000):
        window.open_paths([liver_case])
    ctl = window.case_ctl
    case = Case.load(liver_case)
    first = min(r.frame for r in case.rois)
    ui.wait_frame(qtbot, window, first)  # the first image with ROIs, at its first ROI frame
    assert ctl.doc.case == case and ctl.doc.path == liver_case / "case.json" and not ctl.doc.dirty
    assert Path(window.current_path).resolve() == case.image_path(0).resolve()
    assert sorted(Path(p).resolve() for p in window.browser.paths()) == sorted(
        case.image_path(i).resolve() for i in range(len(case.images)))

    on_image = [r for r in case.rois if r.image == 0]
    assert set(ctl.items) == {r.id for r in on_image}
    for r in on_image:
        assert case_rules.same_points(ctl.items[r.id][0].points(), r.points, tol=1e-6)
    assert {rid for rid, (item, _) in ctl.items.items() if item.isVisible()} == {
        r.id for r in on_image if r.frame == first}

    # The list: sizes in mm through the file's own calibration, and the size band of the largest.
    with open_cine(case.image_path(0)) as cine:
        calibration = cine.calibration
    assert calibration is not None

    def mm(roi):  # noqa: ANN001, ANN202
        x0, y0, x1, y1 = roi.bbox()
        return roi.max_diameter(calibration.mm_per_pixel((x0 + x1) / 2, (y0 + y1) / 2))

    rows = {row[0]: row for row in ctl.panel.rows()}
    lesions = sorted(case.rois_of("lesion"), key=lambda r: r.frame)
    assert set(rows) == {"L1", "L2", "L3", "L4", "B1"}
    for k, roi in enumerate(lesions, start=1):
        assert rows[f"L{k}"][1:4] == ["lesion", str(roi.frame + 1), roi.shape]
        assert rows[f"L{k}"][4] == f"{mm(roi):.1f} mm"
    tips = dict(zip([r[0] for r in ctl.panel.rows()], ctl.panel.tooltips()))
    x0, y0, x1, y1 = lesions[0].bbox()
    dx, dy = calibration.mm_per_pixel((x0 + x1) / 2, (y0 + y1) / 2)
    assert f"area {lesions[0].area_px() * dx * dy:.0f} mm²" in tips["L1"]
    diameter = max(mm(r) for r in lesions)
    assert f"{diameter:.1f} mm" in ctl.panel.size_label.text()
    assert f"size band {size_band(diameter / 10)}" in ctl.panel.size_label.text()
    assert ctl.panel.status_label.text() == "ROIs complete for analysis"

    # The strip marks each ROI frame; a click there jumps to it.
    assert ctl.strip.marks == case_rules.roi_frames(case, 0)
    target = lesions[2].frame
    qtbot.mouseClick(ctl.strip, LEFT, pos=QPoint(ctl.strip.x_of(target), 4))
    ui.wait_frame(qtbot, window, target)
    assert ctl.items[lesions[2].id][0].isVisible() and not ctl.items[lesions[0].id][0].isVisible()

    # Picking a row shows its frame with the ROI selected.
    ctl.panel.table.selectRow(ctl.panel.row_ids().index(lesions[3].id))
    ui.wait_frame(qtbot, window, lesions[3].frame)
    assert ctl.selected_id == lesions[3].id and ctl.items[lesions[3].id][0].selected


def test_phantom_lesion_size_matches_its_truth(phantom_root, ui, qtbot, window, liver_case):
    """The list's lesion diameter agrees with the size the phantom was made with."""
    ui.open_and_wait(qtbot, window, liver_case)
    ctl = window.case_ctl
    qtbot.waitUntil(lambda: ctl.image_index == 0, timeout=5000)
    truth = Truth.read_csv(phantom_root / "liver" / "truth.csv")[ctl.doc.case.case_id]
    size = case_rules.lesion_size(ctl.doc.case, ctl.calibrations())
    assert size.diameter_mm is not None and abs(size.diameter_mm / 10 - truth.lesion_size_cm) < 0.1
    assert size.band == size_band(truth.lesion_size_cm)


def test_draw_each_shape_with_the_mouse(ui, qtbot, window, exam):
    ctl = _open_new_case(ui, qtbot, window, exam)
    case = ctl.doc.case
    assert case.task == "liver-fll" and ctl.doc.path is None and not ctl.doc.dirty
    assert [Path(i.file) for i in case.images] == [exam.resolve()]
    view = window.image_view
    vp, m = view.viewport(), view.map_to_widget

    key(qtbot, window, Qt.Key.Key_B)
    assert view.tool is ctl.tools["roi_rectangle"]
    ui.mouse_drag(vp, m(120, 100), m(60, 50), LEFT)  # corners in either order
    roi = case.rois[-1]
    assert (roi.kind, roi.shape, roi.frame, roi.image) == ("lesion", "rectangle", 0, 0)
    assert near(roi.points, [(60, 50), (120, 100)]) and ctl.doc.dirty

    _goto(ui, qtbot, window, 1)
    ctl.panel.kind.setCurrentIndex(ctl.panel.kind.findData("background"))
    ctl.panel.kind.activated.emit(ctl.panel.kind.currentIndex())
    assert ctl.kind == "background"
    key(qtbot, window, Qt.Key.Key_E)
    ui.mouse_drag(vp, m(200, 60), m(260, 120), LEFT)
    roi = case.rois[-1]
    assert (roi.kind, roi.shape, roi.frame) == ("background", "ellipse", 1)
    assert near(roi.points, [(200, 60), (260, 120)])

    ctl.set_kind("lesion")
    _goto(ui, qtbot, window, 2)
    key(qtbot, window, Qt.Key.Key_P)
    clicks = [(80, 150), (140, 140), (150, 200)]
    for x, y in clicks:
        click(vp, m(x, y))
    assert len(ctl.tools["roi_polygon"].vertices) == 3 and len(case.rois) == 2
    double_click(vp, m(110, 210))  # the last vertex, and done
    roi = case.rois[-1]
    assert (roi.shape, roi.frame) == ("polygon", 2)
    assert near(roi.points, clicks + [(110, 210)])

    _goto(ui, qtbot, window, 3)
    polygon = ctl.tools["roi_polygon"]
    click(vp, m(30, 30))
    click(vp, m(60, 35))
    qtbot.keyClick(view, Qt.Key.Key_Backspace)  # takes back the last vertex (not "delete ROI")
    assert len(polygon.vertices) == 1 and len(case.rois) == 3
    qtbot.keyClick(view, Qt.Key.Key_Escape)  # abandons the polygon
    assert polygon.vertices == [] and polygon.preview is None and len(case.rois) == 3
    for x, y in clicks:
        click(vp, m(x + 100, y - 90))
    qtbot.keyClick(view, Qt.Key.Key_Return)  # Enter closes the polygon
    roi = case.rois[-1]
    assert (roi.shape, roi.frame) == ("polygon", 3) and near(roi.points, [(x + 100, y - 90) for x, y in clicks])

    _goto(ui, qtbot, window, 4)
    key(qtbot, window, Qt.Key.Key_D)
    trace = [(220 + 30 * math.cos(t), 170 + 25 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 48)]
    drag_path(vp, [m(x, y) for x, y in trace])
    roi = case.rois[-1]
    assert (roi.shape, roi.frame, roi.kind) == ("freehand", 4, "lesion")
    assert 8 <= len(roi.points) < len(trace)  # thinned, still an outline
    assert max(_dist_to_polyline(p, trace) for p in roi.points) <= 1.0
    x0, y0, x1, y1 = roi.bbox()
    assert abs(x0 - 190) <= 1.5 and abs(x1 - 250) <= 1.5 and abs(y0 - 145) <= 1.5 and abs(y1 - 195) <= 1.5

    # Each ROI is drawn only on its own frame.
    assert {rid for rid, (item, _) in ctl.items.items() if item.isVisible()} == {roi.id}
    assert [r.frame for r in case.rois] == [0, 1, 2, 3, 4]
    assert ctl.strip.marks == {0: ["lesion"], 1: ["background"], 2: ["lesion"], 3: ["lesion"], 4: ["lesion"]}
    assert "*" in window.windowTitle()


def test_move_resize_and_vertex_edit_undo_redo_exactly(ui, qtbot, window, exam):
    ctl = _open_new_case(ui, qtbot, window, exam)
    doc = ctl.doc
    view = window.image_view
    vp, m = view.viewport(), view.map_to_widget
    rect = ctl.add_roi("rectangle", [(60.25, 50.5), (120.75, 100.0)])
    original = list(rect.points)
    assert ctl.selected_id == rect.id
    key(qtbot, window, Qt.Key.Key_N)

    ui.mouse_drag(vp, m(90, 75), m(110, 85), LEFT)  # drag the inside: move
    moved = list(doc.roi(rect.id).points)
    assert near(moved, case_rules.translated(original, 20, 10)) and doc.undo_stack.undoText() == "Move ROI"
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert doc.roi(rect.id).points == original
    assert case_rules.same_points(ctl.items[rect.id][0].points(), original, tol=1e-9)
    key(qtbot, window, Qt.Key.Key_Z, CTRL_SHIFT)
    assert doc.roi(rect.id).points == moved

    (x0, y0), (x1, y1) = moved
    ui.mouse_drag(vp, m(x1, y1), m(x1 + 15, y1 + 12), LEFT)  # the bottom-right handle: resize
    resized = list(doc.roi(rect.id).points)
    assert near(resized, [(x0, y0), (x1 + 15, y1 + 12)]) and doc.undo_stack.undoText() == "Resize ROI"
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert doc.roi(rect.id).points == moved
    key(qtbot, window, Qt.Key.Key_Y, CTRL)
    assert doc.roi(rect.id).points == resized

    poly = ctl.add_roi("polygon", [(190.0, 60.0), (240.0, 70.0), (230.0, 130.0), (195.5, 120.0)], kind="background")
    before = list(poly.points)
    ui.mouse_drag(vp, m(240, 70), m(262, 58), LEFT)  # its second vertex
    after = doc.roi(poly.id).points
    assert near([after[1]], [(262, 58)]) and after[:1] + after[2:] == before[:1] + before[2:]
    assert doc.undo_stack.undoText() == "Edit ROI vertices"
    ui.mouse_drag(vp, m(215, 100), m(205, 110), LEFT)  # inside: the whole polygon moves
    assert near(doc.roi(poly.id).points, case_rules.translated(after, -10, 10))
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert doc.roi(poly.id).points == before and doc.roi(rect.id).points == resized
    assert case_rules.same_points(ctl.items[poly.id][0].points(), before, tol=1e-9)

    # Double-clicking the selected outline inserts a vertex; a vertex's menu removes one.
    double_click(vp, m(214, 65))  # just inside the first edge
    inserted = doc.roi(poly.id).points
    assert len(inserted) == 5 and near([inserted[1]], [(214, 65)]) and doc.undo_stack.undoText() == "Edit ROI vertices"
    item = ctl.items[poly.id][0]
    item.handles[3]["item"].removeClicked()
    qtbot.waitUntil(lambda: len(doc.roi(poly.id).points) == 4, timeout=2000)
    assert doc.roi(poly.id).points == inserted[:3] + inserted[4:]
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert doc.roi(poly.id).points == before


def test_delete_undo_copy_to_frame_and_paste(ui, qtbot, window, exam):
    ctl = _open_new_case(ui, qtbot, window, exam)
    doc = ctl.doc
    roi = ctl.add_roi("ellipse", [(70.0, 60.0), (130.0, 110.0)])
    assert ctl.items[roi.id][0].isVisible()
    key(qtbot, window, Qt.Key.Key_Delete)
    assert doc.case.rois == [] and roi.id not in ctl.items and ctl.selected_id is None
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert [r.id for r in doc.case.rois] == [roi.id] and doc.case.rois[0].points == roi.points
    assert roi.id in ctl.items

    copy = ctl.copy_to_frame(roi.id, 5)
    assert copy is not None and copy.id != roi.id and (copy.frame, copy.points, copy.kind) == (5, roi.points, "lesion")
    ui.wait_frame(qtbot, window, 5)  # the copy is shown where it went
    assert ctl.selected_id == copy.id and ctl.items[copy.id][0].isVisible()
    assert ctl.copy_to_frame(roi.id, 5) is None and "different frame" in ctl.last_message
    assert ctl.copy_to_frame(roi.id, 30) is None and "does not exist" in ctl.last_message

    key(qtbot, window, Qt.Key.Key_C, CTRL)
    _goto(ui, qtbot, window, 7)
    key(qtbot, window, Qt.Key.Key_V, CTRL)
    pasted = doc.case.rois[-1]
    assert (pasted.frame, pasted.points) == (7, roi.points) and len(doc.case.rois) == 3
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert [r.frame for r in doc.case.rois] == [0, 5]


def test_lesion_roi_rules_give_clear_messages(ui, qtbot, window, exam):
    ctl = _open_new_case(ui, qtbot, window, exam)
    for frame in range(4):
        assert ctl.add_roi("rectangle", [(60.0, 50.0), (120.0, 100.0)], frame=frame) is not None
    view = window.image_view
    _goto(ui, qtbot, window, 4)
    key(qtbot, window, Qt.Key.Key_B)
    with qtbot.waitSignal(window.errorShown) as shown:
        ui.mouse_drag(view.viewport(), view.map_to_widget(150, 120), view.map_to_widget(200, 160), LEFT)
    assert "already has 4 lesion ROIs (frames 1, 2, 3, 4)" in shown.args[0] and "delete one" in shown.args[0]
    assert len(ctl.doc.case.rois) == 4 and window.error_box.isVisible()
    window.error_box.close()
    ctl.doc.remove_roi(ctl.doc.case.rois[0].id)
    _goto(ui, qtbot, window, 2)
    ui.mouse_drag(view.viewport(), view.map_to_widget(150, 120), view.map_to_widget(200, 160), LEFT)
    assert "frame 3 of examples_ybr_color.dcm already carries a lesion ROI" in window.last_error
    assert len(ctl.doc.case.rois) == 3
    ui.mouse_drag(view.viewport(), view.map_to_widget(150, 120), view.map_to_widget(152, 150), LEFT)
    assert "too small" in window.last_error and len(ctl.doc.case.rois) == 3
    assert "3 of 4 lesion ROIs" in ctl.panel.status_label.text()
    assert "liver-background ROI" in ctl.panel.status_label.text()


def test_save_beside_the_images_and_reopen_equal(ui, qtbot, window, exam):
    ctl = _open_new_case(ui, qtbot, window, exam)
    ctl.add_roi("polygon", [(80.125, 150.5), (140.0, 140.0), (150.0, 200.0)])
    ctl.add_roi("rectangle", [(200.0, 60.0), (260.0, 120.0)], kind="background", frame=3)
    asked: list[str] = []
    ctl.ask_save_path = lambda default: asked.append(default) or default
    key(qtbot, window, Qt.Key.Key_S, CTRL)
    target = exam.parent / "case.json"
    assert asked == [str(target)] and target.is_file()  # the default is beside the images
    assert not ctl.doc.dirty and "*" not in window.windowTitle()
    saved = Case.load(exam.parent)
    assert saved == ctl.doc.case and [i.file for i in saved.images] == ["examples_ybr_color.dcm"]

    ctl.doc.set_points(saved.rois[0].id, [(81.0, 151.0), (141.0, 141.0), (151.0, 201.0)])
    assert ctl.doc.dirty and "*" in window.windowTitle()
    key(qtbot, window, Qt.Key.Key_S, CTRL)  # Save again: its own file, no question
    assert len(asked) == 1 and not ctl.doc.dirty
    expected = Case.load(exam.parent)
    assert expected.rois[0].points == [(81.0, 151.0), (141.0, 141.0), (151.0, 201.0)]

    window.close_all()
    assert ctl.doc.case is None
    with qtbot.waitSignal(window.caseChanged, timeout=10000):
        window.open_paths([exam.parent])
    qtbot.waitUntil(lambda: ctl.image_index == 0, timeout=5000)
    assert ctl.doc.case == expected and ctl.doc.path == target and len(ctl.items) == 2


def test_phantom_case_edit_saves_in_place_exactly(ui, qtbot, window, liver_case):
    before = Case.load(liver_case)
    ui.open_and_wait(qtbot, window, liver_case)
    ctl = window.case_ctl
    qtbot.waitUntil(lambda: ctl.image_index == 0, timeout=5000)
    background = ctl.doc.case.rois_of("background")[0]
    moved = case_rules.translated(background.points, 3.5, -2.25)
    ctl.doc.set_points(background.id, moved)
    assert ctl.save()
    again = Case.load(liver_case)
    assert again == ctl.doc.case and again.rois_of("background")[0].points == moved
    assert again.rois_of("lesion") == before.rois_of("lesion") and again.images == before.images


def test_unsaved_changes_prompt(ui, qtbot, window, exam, dicom_samples, tmp_path):
    ctl = _open_new_case(ui, qtbot, window, exam)
    ctl.add_roi("rectangle", [(60.0, 50.0), (120.0, 100.0)])
    other = dicom_samples / ui.RGB_STILL
    asked: list[str] = []
    ctl.ask_unsaved = lambda message: asked.append(message) or "cancel"
    assert window.open_paths([other]) == 0
    assert window.current_path == str(exam) and len(ctl.doc.case.rois) == 1
    assert "unsaved changes" in asked[0] and ctl.doc.case.case_id in asked[0]
    assert not window.close() and window.isVisible()  # Cancel keeps the window open

    ctl.ask_unsaved = lambda message: "save"
    ctl.ask_save_path = lambda default: str(tmp_path / "saved" / "case.json")
    (tmp_path / "saved").mkdir()
    ui.open_and_wait(qtbot, window, other)
    saved = Case.load(tmp_path / "saved")
    assert len(saved.rois) == 1 and saved.images[0].file == "../exam/examples_ybr_color.dcm"
    assert (saved.root / saved.images[0].file).resolve() == exam.resolve()
    qtbot.waitUntil(lambda: ctl.doc.case is not None and ctl.doc.case.images[0].file == str(other.resolve()),
                    timeout=5000)  # a new case over the other file
    assert ctl.doc.case.rois == [] and not ctl.doc.dirty


def test_soft_tissue_case_takes_one_mass_per_image(ui, qtbot, window, soft_case):
    with qtbot.waitSignal(window.caseChanged, timeout=10000):
        window.open_paths([soft_case])
    ctl = window.case_ctl
    qtbot.waitUntil(lambda: ctl.image_index == 0, timeout=5000)
    case = ctl.doc.case
    assert case.task == "soft-tissue" and ctl.kind == "mass"
    assert [ctl.panel.kind.itemData(i) for i in range(ctl.panel.kind.count())] == ["mass"]
    assert ctl.panel.task.currentData() == "soft-tissue" and ctl.panel.role.currentData() == "bmode"
    assert ctl.add_roi("rectangle", [(300.0, 200.0), (340.0, 240.0)]) is None
    assert "already has a mass ROI on the B-mode image" in ctl.last_message
    assert not ctl.set_task("liver-fll") and "mass" in ctl.last_message and case.task == "soft-tissue"
    assert not ctl.set_role("cdfi") and case.images[0].role == "bmode"
    assert ctl.panel.role.currentData() == "bmode"
    assert ctl.panel.status_label.text() == "ROIs complete for analysis"
    rows = ctl.panel.rows()
    assert [r[0] for r in rows] == ["M1", "M2"] and rows[1][2].endswith("CDFI")


def test_rois_changed_signal_and_roi_tools_shortcuts(ui, qtbot, window, exam):
    ctl = _open_new_case(ui, qtbot, window, exam)
    with qtbot.waitSignal(window.roisChanged, timeout=1000):
        roi = ctl.add_roi("rectangle", [(60.0, 50.0), (120.0, 100.0)])
    with qtbot.waitSignal(window.roisChanged, timeout=1000):
        key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert roi.id not in {r.id for r in ctl.doc.case.rois}
    expected = {"tool_roi_rectangle": "B", "tool_roi_ellipse": "E", "tool_roi_polygon": "P",
                "tool_roi_freehand": "D", "save": "Ctrl+S", "save_as": "Ctrl+Shift+S", "undo": "Ctrl+Z",
                "delete_roi": "Del", "copy_roi": "Ctrl+C", "paste_roi": "Ctrl+V"}
    for name, sequence in expected.items():
        assert window.actions[name].shortcut().toString() == sequence, name
    assert [s.toString() for s in window.actions["redo"].shortcuts()] == ["Ctrl+Shift+Z", "Ctrl+Y"]


def test_uncalibrated_image_gives_sizes_in_pixels(ui, qtbot, window, dicom_samples):
    ctl = _open_new_case(ui, qtbot, window, dicom_samples / ui.RGB_STILL)
    roi = ctl.add_roi("rectangle", [(10.0, 10.0), (50.0, 40.0)])
    assert roi is not None
    assert ctl.panel.rows()[0][4] == "50.0 px (uncalibrated)"
    assert "area 1200 px²" in ctl.panel.tooltips()[0]
    assert "uncalibrated" in ctl.panel.size_label.text() and "mm" not in ctl.panel.size_label.text()
