"""Reader mode and coordinator window on a tiny real study (phantom cases, a small random bundle, SQLite).

The study is created once per session through the study API (the AI runs on each case);
each test works on a copy of its database. The reader mode is driven by keys and the
mouse; every check of what was stored goes back through the study API or plain SQL.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

SHOTS = Path("/tmp/reader-gui-shots")


@pytest.fixture(scope="session")
def study_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from ultrasound_reader.ai.bundle import make_random_bundle
    from ultrasound_reader.phantom.generate import generate
    from ultrasound_reader.study.service import add_reader, create_study

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("reader-study")
    cases = root / "cases"
    generate("soft-tissue", 3, 3, cases, workers=1)
    bundle = make_random_bundle(root / "bundle", "soft-tissue", small=True, seed=2)
    db = root / "study.db"
    create_study(str(db), "tiny reader study", cases, cases / "truth.csv", bundle, seed=4)
    add_reader(str(db), "R1", 8)
    add_reader(str(db), "R2", 30)
    return root


@pytest.fixture
def db(tmp_path: Path, study_template: Path) -> str:
    dst = tmp_path / "study.db"
    shutil.copy(study_template / "study.db", dst)
    return str(dst)


@pytest.fixture
def truth(study_template: Path) -> list[dict[str, str]]:
    with open(study_template / "cases" / "truth.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def open_reader(qtbot, qapp):  # noqa: ANN001, ANN201
    from ultrasound_reader.gui import theme
    from ultrasound_reader.gui.reader_mode import ReaderWindow

    theme.apply(qapp)
    windows = []

    def make(db: str, reader: str = "R1") -> ReaderWindow:
        w = ReaderWindow(db, reader)
        qtbot.addWidget(w)
        w.resize(1280, 820)
        w.show()
        qtbot.waitExposed(w)
        w.activateWindow()
        qtbot.waitUntil(lambda: w.session.bundle is not None, timeout=30000)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def key(qtbot, widget, k: Qt.Key, mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:  # noqa: ANN001
    """A key press as the reader types it: to the widget with focus (shortcuts resolve from there)."""
    target = QApplication.focusWidget() or widget
    qtbot.keyClick(target, k, mod)
    QApplication.processEvents()


def typed(qtbot, widget, text: str) -> None:  # noqa: ANN001
    qtbot.keyClicks(QApplication.focusWidget() or widget, text)


def rows(db: str, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def blinded(w, truth: list[dict[str, str]]) -> None:  # noqa: ANN001
    """No case id, header patient field, date or truth-only value is in any widget text."""
    text = w.visible_text()
    for t in truth:
        assert t["case_id"] not in text
        assert t["centre"] not in text.split()  # truth-only columns (C1..C4, cohort)
        assert t["cohort"] not in text
    meta = w.session.image.metadata or {}
    for k in ("patient_name", "patient_id", "study_date", "series_date", "patient_birth_date"):
        v = str(meta.get(k) or "")
        if v:
            assert v not in text, k
    assert "truth" not in text.lower()


def test_full_loop_by_keyboard_and_mouse(qtbot, open_reader, db: str, truth, ui) -> None:  # noqa: ANN001
    from ultrasound_reader.study.service import status

    w = open_reader(db)
    assert w.progress_label.text() == "Case 1 of 3"
    assert w.phase_label.text() == "Before the AI"
    assert not w.results.isVisibleTo(w) and w.ai_hidden.isVisibleTo(w) and not w.post_form.isVisibleTo(w)
    assert "Case 1" in w.image_view.overlay_text()["tl"]
    # The screen outside the scanner's US region (where the name, ID and date are burned in) is black.
    assert w.mask is not None and not w.mask.all()
    raw = w.image_view.raw
    assert raw[~w.mask].max() == 0 and raw[w.mask].max() > 0
    blinded(w, truth)

    # Commit without a likelihood: refused, said, nothing stored.
    key(qtbot, w, Qt.Key.Key_Y)
    assert w.pre_form.yes.isChecked()
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "likelihood" in w.message.text().lower()
    assert status(db)["readers"][0]["pre"] == 0

    key(qtbot, w, Qt.Key.Key_L)
    assert QApplication.focusWidget() is w.pre_form.likelihood
    w.pre_form.likelihood.selectAll()
    typed(qtbot, w, "72")
    assert w.pre_form.likelihood.value() == 72
    key(qtbot, w, Qt.Key.Key_K)
    key(qtbot, w, Qt.Key.Key_Down)
    key(qtbot, w, Qt.Key.Key_Down)
    key(qtbot, w, Qt.Key.Key_Down)  # "—", 1, 2, 3
    assert w.pre_form.confidence.currentData() == 3
    key(qtbot, w, Qt.Key.Key_M)
    typed(qtbot, w, "irregular margin")  # typing in the comment: its letters are not shortcuts
    assert w.pre_form.comment.text() == "irregular margin" and w.pre_form.yes.isChecked()
    w.image_view.setFocus()

    # The area of concern: R, then a drag on image 1.
    key(qtbot, w, Qt.Key.Key_R)
    assert w.image_view.tool is w.concern_tool
    vp = w.image_view.viewport()
    ui.mouse_drag(vp, w.image_view.map_to_widget(200, 150), w.image_view.map_to_widget(300, 260),
                  Qt.MouseButton.LeftButton)
    box = w.pre_form.concern
    assert box is not None and abs(box[0] - 200) <= 3 and abs(box[3] - 260) <= 3
    assert w.concern_item.isVisible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(SHOTS / "reader-pre.png"))

    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    # Committed in its own transaction, then revealed: the pre-AI answer is locked, visibly.
    stored = rows(db, "SELECT phase, malignant, likelihood, confidence, comment, concern, duration_s FROM answer")
    assert len(stored) == 1 and stored[0][:5] == ("pre", 1, 72, 3, "irregular margin")
    assert [float(v) for v in stored[0][5].split(",")] == list(box)
    assert stored[0][6] is not None and stored[0][6] >= 0  # time shown -> committed, from the study API
    assert rows(db, "SELECT count(*) FROM audit WHERE action = 'shown' AND case_position = 1") == [(1,)]
    assert rows(db, "SELECT count(*) FROM reveal") == [(1,)]
    assert w.phase_label.text() == "After the AI"
    assert w.pre_form.locked and w.pre_form.lock_label.isVisibleTo(w) and "locked" in w.pre_form.lock_label.text()
    assert not w.pre_form.likelihood.isEnabled() and not w.pre_form.yes.isEnabled()
    assert w.results.isVisibleTo(w) and not w.ai_hidden.isVisibleTo(w)
    ai_text = w.results.visible_text()
    assert "DLM-1" in ai_text or "malignan" in ai_text.lower()
    assert w.cam_layer.isVisible() and w.cam_layer.overlay is not None  # the stored Grad-CAM over image 1
    assert w.concern_item.isVisible()  # the reader's own locked area stays, to compare with the Grad-CAM
    # Both images of a soft-tissue case: V shows the colour Doppler one (no Grad-CAM there), V again image 1.
    key(qtbot, w, Qt.Key.Key_V)
    assert w.image_index == 1 and "Image 2 of 2 (colour Doppler" in w.image_label.text()
    assert not w.cam_layer.isVisible() and w.session.image.index == 1
    key(qtbot, w, Qt.Key.Key_V)
    assert w.image_index == 0 and w.cam_layer.isVisible()
    blinded(w, truth)
    w.grab().save(str(SHOTS / "reader-after-reveal.png"))

    # The locked answer cannot be edited: keys go to the post-AI form; the pre form keeps its values.
    key(qtbot, w, Qt.Key.Key_N)
    assert w.pre_form.yes.isChecked() and w.post_form.no.isChecked()
    qtbot.keyClicks(w.pre_form.likelihood, "5")
    assert w.pre_form.likelihood.value() == 72
    w.pre_form.set_malignant(False)
    assert w.pre_form.yes.isChecked()

    # Post-AI: benign, subtype, likelihood; commit, then the next case.
    key(qtbot, w, Qt.Key.Key_L)
    w.post_form.likelihood.selectAll()
    typed(qtbot, w, "30")
    key(qtbot, w, Qt.Key.Key_S)
    assert QApplication.focusWidget() is w.post_form.subtype
    key(qtbot, w, Qt.Key.Key_Down)
    sub = w.post_form.subtype.currentData()
    assert sub is not None
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    post = rows(db, "SELECT malignant, likelihood, subtype FROM answer WHERE phase = 'post'")
    assert post == [(0, 30, sub)]
    assert w.post_form.locked and w.next_button.isEnabled()
    assert rows(db, "SELECT likelihood FROM answer WHERE phase = 'pre'") == [(72,)]  # untouched

    key(qtbot, w, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert w.progress_label.text() == "Case 2 of 3" and w.phase_label.text() == "Before the AI"
    assert not w.pre_form.locked and w.pre_form.likelihood.value() == -1 and w.pre_form.concern is None
    assert not w.results.isVisibleTo(w) and not w.cam_layer.isVisible()
    assert w.progress.value() == 2
    blinded(w, truth)


def test_resume_after_closing(qtbot, open_reader, db: str) -> None:  # noqa: ANN001
    from ultrasound_reader.study.service import AnswerInput, answer

    w = open_reader(db)
    w.pre_form.set_malignant(False)
    w.pre_form.likelihood.setValue(15)
    assert w.commit()
    assert w.step == "post"
    w.close()  # closed between the reveal and the post-AI answer

    again = open_reader(db)
    assert again.progress_label.text() == "Case 1 of 3" and again.phase_label.text() == "After the AI"
    assert again.pre_form.locked and again.pre_form.no.isChecked() and again.pre_form.likelihood.value() == 15
    assert again.results.isVisibleTo(again)
    assert rows(db, "SELECT count(*) FROM reveal") == [(1,)]  # shown again, revealed once
    again.post_form.set_malignant(False)
    again.post_form.likelihood.setValue(20)
    assert again.commit()
    again.close()

    # Another process (a second workstation) answers case 2 headless; the window resumes at case 2's reveal.
    answer(db, "R1", 2, AnswerInput("pre", True, 90))
    third = open_reader(db)
    assert third.progress_label.text() == "Case 2 of 3" and third.phase_label.text() == "After the AI"
    assert third.pre_form.yes.isChecked() and third.pre_form.likelihood.value() == 90


def test_every_case_and_the_end(qtbot, open_reader, db: str) -> None:  # noqa: ANN001
    w = open_reader(db, "R2")
    seen = []
    for _ in range(3):
        seen.append(w.position)
        for form in (w.pre_form, w.post_form):
            form.set_malignant(True)
            form.likelihood.setValue(60)
            assert w.commit(), w.errors
        w.next_case()
    assert sorted(seen) == [1, 2, 3]
    assert w.progress_label.text() == "All 3 cases done" and not w.commit_button.isEnabled()
    assert rows(db, "SELECT count(*) FROM answer a JOIN reader r ON r.id = a.reader_id WHERE r.code = 'R2'") == [(6,)]


def test_unknown_reader_and_bad_database_are_one_line(db: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    for extra in (["--db", db, "--reader", "NOPE"], ["--db", str(tmp_path / "missing.db"), "--reader", "R1"]):
        p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "study", "read", *extra],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 1, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "NOPE" in lines[0] or "missing.db" in lines[0]


def test_cli_windows_screenshot(db: str, tmp_path: Path) -> None:
    """``study read`` and ``study coordinate`` open their windows (here: save a picture and exit 0)."""
    import subprocess
    import sys

    from PySide6.QtGui import QImage

    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for action, extra in (("read", ["--reader", "R2"]), ("coordinate", [])):
        png = tmp_path / f"{action}.png"
        p = subprocess.run([sys.executable, "-m", "ultrasound_reader", "study", action, "--db", db, *extra,
                            "--screenshot", str(png)], capture_output=True, text=True, env=env, timeout=180)
        assert p.returncode == 0, p.stderr
        img = QImage(str(png))
        assert not img.isNull() and img.width() >= 1000
    from ultrasound_reader.study.service import status

    assert status(db)["readers"][1]["pre"] == 0  # opening the reader mode answered nothing


def test_coordinator_creates_adds_exports_analyses(qtbot, qapp, study_template: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.coordinator import CoordinatorWindow
    from ultrasound_reader.study.service import AnswerInput, answer, reveal

    from ultrasound_reader.gui import theme

    theme.apply(qapp)
    db = str(tmp_path / "new.db")
    w = CoordinatorWindow(db)
    qtbot.addWidget(w)
    w.resize(1200, 820)
    w.show()
    assert w.status_data is None and w.create_box.isEnabled()
    w.name_edit.setText("coordinated")
    w.cases_edit.setText(str(study_template / "cases"))
    w.truth_edit.setText(str(study_template / "cases" / "truth.csv"))
    w.bundle_edit.setText(str(study_template / "bundle"))
    with qtbot.waitSignal(w.refreshed, timeout=120000):
        qtbot.mouseClick(w.create_button, Qt.MouseButton.LeftButton)
    assert w.status_data["study"] == "coordinated" and w.status_data["cases"] == 3
    assert not w.create_box.isEnabled()

    for code, years in (("A", 3), ("B", 20)):
        w.reader_id.setText(code)
        w.reader_years.setValue(years)
        qtbot.mouseClick(w.add_button, Qt.MouseButton.LeftButton)
    assert w.table.rowCount() == 2 and w.table.item(1, 0).text() == "B"
    w.reader_id.setText("A")
    assert not w.add_reader() and "already" in w.errors[-1]

    for code, base in (("A", 30), ("B", 60)):
        for pos in (1, 2, 3):
            answer(db, code, pos, AnswerInput("pre", base + pos >= 50, base + pos))
            reveal(db, code, pos)
            answer(db, code, pos, AnswerInput("post", base + 10 * pos >= 50, min(base + 10 * pos, 100)))
    w.refresh()
    assert [w.table.item(i, 5).text() for i in range(2)] == ["3/3", "3/3"]
    assert w.table.item(0, 6).text() == "complete"

    out = tmp_path / "long.csv"
    w.export_out.setText(str(out))
    qtbot.mouseClick(w.export_button, Qt.MouseButton.LeftButton)
    with open(out, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 12  # 2 readers x 3 cases x pre/post
    assert "12 rows" in w.export_result.text()

    w.results_dir.setText(str(tmp_path / "results"))
    with qtbot.waitSignal(w.analysed, timeout=120000):
        qtbot.mouseClick(w.analyse_button, Qt.MouseButton.LeftButton)
    report = w.report.toPlainText()
    from ultrasound_reader.study.analysis import analyze, format_report

    assert report.startswith(format_report(analyze(db)))  # the report 'study analyze' prints, then the files kept
    assert (tmp_path / "results" / "report.txt").is_file()
    plots = w.plots.findChildren(type(w.message), "plot")
    assert plots and all(not p.pixmap().isNull() for p in plots)
    SHOTS.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(SHOTS / "coordinator-analysis.png"))
    w.tabs.setCurrentIndex(1)
    w.table.selectRow(0)
    reader = w.open_reader_mode()
    assert reader is not None and reader.progress_label.text() == "All 3 cases done"
    w.tabs.setCurrentIndex(1)
    w.grab().save(str(SHOTS / "coordinator-readers.png"))
    w.close()


@pytest.fixture(scope="session")
def liver_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrasound_reader.ai.bundle import make_random_bundle
    from ultrasound_reader.phantom.generate import Options, generate
    from ultrasound_reader.study.service import add_reader, create_study

    root = tmp_path_factory.mktemp("reader-liver")
    cases = root / "cases"
    generate("liver", 2, 2, cases, workers=1, options=Options(frames=4))
    bundle = make_random_bundle(root / "bundle", "liver-fll", small=True, seed=1)
    create_study(str(root / "study.db"), "tiny liver study", cases, cases / "truth.csv", bundle, seed=1)
    add_reader(str(root / "study.db"), "R1", 12)
    return root


def test_liver_cine_plays_and_the_nomogram_comes_with_the_ai(qtbot, open_reader, liver_study: Path,  # noqa: ANN001
                                                              tmp_path: Path) -> None:
    db = tmp_path / "liver.db"
    shutil.copy(liver_study / "study.db", db)
    w = open_reader(str(db))
    cine = w.cines[0]
    assert cine.n_frames == 4
    assert not w.pre_form.subtype.isVisibleTo(w)  # liver questions: no subtype
    painted: list[int] = []
    w.player.frameReady.connect(lambda i, _f: painted.append(i))
    key(qtbot, w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(set(painted)) >= 3, timeout=10000)
    key(qtbot, w, Qt.Key.Key_Space)
    assert not w.player.playing
    assert w.image_view.overlay_text()["tl"] == "Case 1"
    assert not w.nomogram_box.isVisibleTo(w)
    w.pre_form.set_malignant(True)
    w.pre_form.likelihood.setValue(80)
    assert w.commit()
    assert w.nomogram is not None and w.nomogram_box.isVisibleTo(w)
    # Laid out one under the other, never over each other.
    assert w.nomogram_box.geometry().top() >= w.ai_box.geometry().bottom()
    assert w.results.isVisibleTo(w) and "L" in w.results.visible_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(SHOTS / "reader-liver-after-reveal.png"))


def test_crossover_waits_for_the_washout(qtbot, open_reader, study_template: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.study.service import add_reader, create_study, reader_view

    db = str(tmp_path / "cross.db")
    cases = study_template / "cases"
    create_study(db, "crossover", cases, cases / "truth.csv", study_template / "bundle", design="crossover",
                 seed=2, washout_days=28)
    add_reader(db, "R1", 5)
    w = open_reader(db)
    kinds = []
    for _ in range(3):  # session 1: each case once, unaided or aided by its arm
        kinds.append(w.phase_label.text())
        if w.phase_label.text() == "After the AI":
            assert not w.pre_form.isVisibleTo(w) and w.results.isVisibleTo(w)
        else:
            assert not w.results.isVisibleTo(w) and not w.post_form.isVisibleTo(w)
        w.form_now().set_malignant(False)
        w.form_now().likelihood.setValue(10)
        assert w.commit(), w.errors
        w.next_case()
    assert set(kinds) == {"Before the AI", "After the AI"}
    assert "washout" in w.message.text() and not w.commit_button.isEnabled()
    assert reader_view(db, "R1")["waiting"]


def test_a_locked_database_refuses_the_commit_and_the_answer_stays(qtbot, open_reader, db: str,  # noqa: ANN001
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from ultrasound_reader.study import db as dbm

    monkeypatch.setenv(dbm.BUSY_TIMEOUT_ENV, "0.2")
    w = open_reader(db)
    w.pre_form.set_malignant(True)
    w.pre_form.likelihood.setValue(66)
    other = sqlite3.connect(db, timeout=0.1)  # another workstation holds the write lock
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert not w.commit()
        assert "locked" in w.message.text() and w.errors
        assert not w.pre_form.locked and w.pre_form.likelihood.value() == 66  # nothing lost, still editable
        assert w.phase_label.text() == "Before the AI" and not w.results.isVisibleTo(w)
    finally:
        other.rollback()
        other.close()
    assert w.commit()  # the same answer, once the database is free
    assert rows(db, "SELECT likelihood FROM answer") == [(66,)]
    assert w.results.isVisibleTo(w)


def test_coordinator_bad_input_is_said_and_the_window_stays(qtbot, qapp, study_template: Path,  # noqa: ANN001
                                                            tmp_path: Path) -> None:
    from ultrasound_reader.gui.coordinator import CoordinatorWindow

    w = CoordinatorWindow(str(tmp_path / "x.db"))
    qtbot.addWidget(w)
    w.show()
    w.name_edit.setText("bad")
    w.cases_edit.setText(str(tmp_path / "no-such-folder"))
    w.truth_edit.setText(str(study_template / "cases" / "truth.csv"))
    w.bundle_edit.setText(str(study_template / "bundle"))
    with qtbot.waitSignal(w.failed, timeout=60000) as sig:
        w.create()
    assert "--cases" in sig.args[0] and "no-such-folder" in sig.args[0]
    assert w.create_button.isEnabled() and w.isVisible()
    w.db_edit.setText("")
    assert not w.add_reader() and "database" in w.errors[-1]
    shutil.copy(study_template / "study.db", tmp_path / "copy.db")
    w.db_edit.setText(str(tmp_path / "copy.db"))
    w.refresh()
    assert w.status_data is not None and w.table.rowCount() == 2
    w.export_out.setText("")
    assert not w.export() and w.errors[-1]
    w.close()
