"""The reading session without widgets: states, staleness by input kind, auto-analyse, refusals.

Real parts: copies of the demo phantom cases, small random-weight bundles (verified
and loaded by the real loader in the session's worker) and the real Analyzer. No
window or panel is made: the session is what a second face (the reader-study
window) would drive.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ultrasound_reader.case import Case
from ultrasound_reader.gui import caution
from ultrasound_reader.gui.session import (
    BUNDLE,
    FACTORS,
    IMAGES,
    ROIS,
    TASK,
    ReadingSession,
    SessionState,
    stale_text,
)

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"
S = SessionState


def _case(tmp_path: Path, name: str = "liver-s136-0000", strip_rois: bool = False) -> tuple[Case, Path]:
    src = DEMO / ("liver" if name.startswith("liver") else "soft-tissue") / name
    out = tmp_path / name
    shutil.copytree(src, out)
    if strip_rois:
        data = json.loads((out / "case.json").read_text())
        data["rois"] = []
        (out / "case.json").write_text(json.dumps(data))
    case = Case.load(out / "case.json")
    case.root = out.resolve()
    return case, out / "case.json"


@pytest.fixture
def session(qapp, tiny_models: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tiny_models))
    s = ReadingSession({})
    s.analysis.threads = 1
    states: list[SessionState] = []
    s.stateChanged.connect(states.append)
    s.states = states  # type: ignore[attr-defined]
    yield s
    s.shutdown()


def _ready(qtbot, s: ReadingSession) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: s.state not in (S.LOADING, S.NO_BUNDLE) or s.no_bundle_task is not None, timeout=60000)


def _analysed(qtbot, s: ReadingSession) -> None:  # noqa: ANN001
    with qtbot.waitSignal(s.stallMeasured, timeout=60000):
        assert s.analyse() is not None
        assert s.state is S.ANALYSING


def test_states_from_no_bundle_to_result_and_a_new_case(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    s = session
    assert s.state is S.NO_BUNDLE and s.run is None and s.stale_reasons == ()
    case, path = _case(tmp_path)
    s.doc.set_case(case, path)  # the bundle of the case's task loads in the worker
    assert s.state is S.LOADING and s.loading is not None and s.loading.task == "liver-fll"
    _ready(qtbot, s)
    assert s.state is S.READY and s.bundle.task == "liver-fll" and s.bundle_info.name == "random-liver-fll-small"
    _analysed(qtbot, s)
    assert s.state is S.RESULT and s.run is not None and s.run.result.case_id == "liver-s136-0000"
    assert s.states == [S.LOADING, S.READY, S.ANALYSING, S.RESULT]
    results: list[object] = []
    s.resultChanged.connect(results.append)
    other, other_path = _case(tmp_path, "liver-s136-0001")
    s.doc.set_case(other, other_path)  # another case: the result goes, the same bundle stays
    assert results == [None] and s.run is None and s.state is S.READY
    assert s.states[-1] is S.READY


def test_staleness_names_each_input_that_changed(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    s = session
    case, path = _case(tmp_path)
    s.doc.set_case(case, path)
    _ready(qtbot, s)
    _analysed(qtbot, s)
    seen: list[tuple[str, ...]] = []
    s.staleChanged.connect(seen.append)

    # ROIs: moving one makes the result stale; undo makes it current again.
    roi = case.rois_of("background")[0]
    s.doc.set_points(roi.id, [(x + 3, y) for x, y in roi.points], "Move ROI")
    assert s.state is S.STALE and s.stale_reasons == (ROIS,)
    s.doc.undo_stack.undo()
    assert s.state is S.RESULT and s.stale_reasons == ()

    # Clinical factors.
    factors = case.factors
    s.set_factors(replace(factors, halo=not factors.halo))
    assert s.state is S.STALE and s.stale_reasons == (FACTORS,)
    assert stale_text(s.stale_reasons) == "Clinical factors changed since this analysis — analyse again"
    s.set_factors(factors)
    assert s.state is S.RESULT

    # Images: the role of an image (what the analysis reads it as).
    s.doc.set_role(1, "bmode" if case.images[1].role == "cdfi" else "cdfi")
    assert s.stale_reasons == (IMAGES,)
    s.doc.undo_stack.undo()
    assert s.stale_reasons == ()

    # Two at once, in the banner's order.
    s.doc.set_points(roi.id, [(x + 3, y) for x, y in roi.points], "Move ROI")
    s.set_factors(replace(factors, halo=not factors.halo))
    assert s.stale_reasons == (ROIS, FACTORS)
    assert stale_text(s.stale_reasons).startswith("ROIs changed and clinical factors changed since")
    s.doc.undo_stack.undo()
    s.set_factors(factors)
    assert s.state is S.RESULT
    assert seen == [(ROIS,), (), (FACTORS,), (), (IMAGES,), (), (ROIS,), (ROIS, FACTORS), (FACTORS,), ()]


def test_another_bundle_makes_the_result_stale(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.ai import make_random_bundle

    s = session
    case, path = _case(tmp_path)
    s.doc.set_case(case, path)
    _ready(qtbot, s)
    _analysed(qtbot, s)
    second = make_random_bundle(tmp_path / "liver-other", "liver-fll", small=True, seed=5)
    s.load_bundle(second, chosen=True)
    assert s.state is S.LOADING
    qtbot.waitUntil(lambda: s.state is not S.LOADING, timeout=60000)
    assert s.state is S.STALE and s.stale_reasons == (BUNDLE,) and s.bundle_info.path == Path(second)
    assert s.memory["bundle/liver-fll"] == str(second)  # the reader's choice is remembered per task


def test_task_change_is_named_and_a_bundle_follows_it(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.analysis import Inputs

    s = session
    case, path = _case(tmp_path, strip_rois=True)
    s.doc.set_case(case, path)
    _ready(qtbot, s)
    then = s.current_inputs()
    assert s.set_task("soft-tissue")  # no ROIs: the task may change
    now = s.current_inputs()
    assert ReadingSession.changes_since(then, now) == (TASK,)
    assert ReadingSession.changes_since(then, Inputs(now.generation, then.rois, then.factors, "other")) == (BUNDLE,)
    qtbot.waitUntil(lambda: s.bundle is not None and s.bundle.task == "soft-tissue" and not s.busy, timeout=60000)
    assert s.memory["case/task"] == "soft-tissue"


def test_refusal_is_a_failure_that_goes_with_its_reason(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.case import Roi

    s = session
    case, path = _case(tmp_path, strip_rois=True)
    s.doc.set_case(case, path)
    _ready(qtbot, s)
    s.analyse()  # the analyzer itself checks the ROIs (in the worker) and says what is missing
    qtbot.waitUntil(lambda: s.state is S.FAILED, timeout=30000)
    assert s.failure.user_error and s.failure.title == "Cannot analyse" and "no lesion ROI" in s.failure.message
    s.doc.add_roi(Roi(kind="lesion", shape="rectangle", points=[(255, 206), (338, 278)], image=0, frame=2))
    assert s.state is S.READY and s.failure is None
    # A form that refuses its entries refuses the analysis, naming the field.
    from ultrasound_reader.errors import UserError

    def bad_factors():  # noqa: ANN202
        raise UserError("age: 130 is not a plausible age (0-120)")

    s.read_factors = bad_factors
    assert s.analyse() is None and s.failure_field == "factors" and "age" in s.failure.message


def test_auto_analyse_runs_once_case_and_bundle_are_in(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    s = session
    s.request_auto_analyse()  # the demo start: asked before anything is open
    assert s.state is S.NO_BUNDLE and s.busy is False
    case, path = _case(tmp_path)
    s.doc.set_case(case, path)
    qtbot.waitUntil(lambda: s.state is S.RESULT, timeout=90000)
    assert s.run is not None and s.run.result.case_id == case.case_id and not s.auto_analyse
    assert s.states == [S.LOADING, S.READY, S.ANALYSING, S.RESULT]


def test_a_bundle_that_does_not_load_is_a_failure(qtbot, session, tmp_path: Path) -> None:  # noqa: ANN001
    s = session
    broken = tmp_path / "broken-bundle"
    shutil.copytree(_tiny(), broken)
    (broken / "L.safetensors").write_bytes(b"not weights")
    errors: list[str] = []
    s.error.connect(errors.append)
    s.load_bundle(broken)
    qtbot.waitUntil(lambda: s.state is not S.LOADING, timeout=60000)
    assert s.state is S.FAILED and s.failure.title == "Model bundle not loaded" and s.bundle is None
    assert errors and "broken-bundle" in errors[0]


def _tiny() -> Path:
    import os

    return Path(os.environ["ULTRASOUND_READER_MODELS"]) / "liver-fll-demo"


def test_no_bundle_for_the_task_is_its_own_state(qapp, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tmp_path / "none"))
    s = ReadingSession({})
    messages: list[str] = []
    s.message.connect(lambda text, _ms: messages.append(text))
    case, path = _case(tmp_path)
    s.doc.set_case(case, path)
    assert s.state is S.NO_BUNDLE and s.no_bundle_task == "liver-fll"
    assert messages and "no model bundle for task liver-fll" in messages[-1]
    assert s.analyse() is None and s.state is S.FAILED
    s.shutdown()


# ----------------------------------------------------------------------------- what the reader is told
def test_calibration_caution_reads_the_bundles_external_metrics() -> None:
    manifest = json.loads((REPO / "models" / "liver-fll-demo" / "manifest.json").read_text())
    external = manifest["metrics"]["external"]
    # The demo bundle's own figures: LBC slope 0.49 and HL p < 0.001 (poor), LB slope 1.12, p 0.32 (fine).
    assert external["LBC"]["calibration"]["slope"] < caution.SLOPE_LOW
    text = caution.calibration_caution(manifest, "LBC")
    assert "external cohort" in text and "slope 0.49" in text and "p < 0.001" in text
    assert caution.calibration_caution(manifest, "LB") == ""
    assert caution.calibration_caution(manifest, "nope") == "" and caution.calibration_caution(None, "LBC") == ""
    # Garbage in the metrics is no caution, not a crash.
    assert caution.calibration_caution({"metrics": {"external": {"LBC": {"calibration": {"slope": "x"}}}}}, "LBC") == ""
    assert caution.demo_status(manifest).startswith("NOT FOR CLINICAL USE — demo model")
    assert caution.demo_status({"training_data": {"synthetic": False}, "intended_use": {}}) == ""
    assert caution.plain_words("LBC") == "image + background + clinical factors"
