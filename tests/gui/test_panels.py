"""The reading-workflow panels on their own: factors form, results, nomogram, curves, Grad-CAM controls.

Real parts throughout: the nomogram and the fusion are fitted by the stats layer on
simulated PHANTOM patients, the bundles are real (random-weight) bundles carrying
them, and the results come from ``Analyzer(bundle).run(case)``. The tests check what
the reader sees and the wiring; the arithmetic is the stats and ai layers' (and is
compared with them here, not re-derived).

Set ``UR_PANEL_SHOTS=/some/folder`` to keep the screenshots the last test takes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget  # noqa: E402

from ultrasound_reader.case import Case, ClinicalFactors, ImageRef, Roi  # noqa: E402
from ultrasound_reader.errors import UserError  # noqa: E402

pytestmark = pytest.mark.gui

FACTORS = ClinicalFactors(age=62, sex="M", hepatitis=1, tumour_history=False, halo=True, vascularity=False)


# -- fixtures: a fitted LBC fusion + nomogram, bundles carrying them, real analyses -------------------
@pytest.fixture(scope="module")
def fitted() -> dict:
    """Fusion spec and nomogram fitted (stats.fit_logistic, Nomogram.from_fit) on simulated patients."""
    import pandas as pd

    from ultrasound_reader.ai.fusion import PUBLISHED_FLL_FUSION, encode_term, sigmoid
    from ultrasound_reader.stats.calibration import brier_score, calibration_curve, calibration_intercept_slope
    from ultrasound_reader.stats.decision_curve import net_benefit
    from ultrasound_reader.stats.logistic import INTERCEPT, fit_logistic
    from ultrasound_reader.stats.nomogram import Nomogram

    rng = np.random.default_rng(7)
    terms = PUBLISHED_FLL_FUSION["terms"]
    rows, truth = [], []
    for _ in range(400):
        f = ClinicalFactors(age=float(rng.integers(25, 85)), sex=str(rng.choice(["M", "F"])),
                            hepatitis=int(rng.integers(0, 4)), tumour_history=bool(rng.random() < 0.3),
                            halo=bool(rng.random() < 0.3), vascularity=bool(rng.random() < 0.5))
        x = {t["name"]: encode_term(t, f, {"LB": float(rng.uniform(0.02, 0.98))}) for t in terms}
        lp = PUBLISHED_FLL_FUSION["intercept"] + sum(t["coef"] * x[t["name"]] for t in terms)
        truth.append(int(rng.random() < sigmoid(lp)))
        rows.append(x)
    df = pd.DataFrame(rows)
    names = list(df.columns)
    df["malignant"] = truth
    fit = fit_logistic(df, "malignant", names)
    coefs = fit.coefficients()
    spec = {"model": "LBC", "intercept": coefs[INTERCEPT], "terms": [dict(t, coef=coefs[t["name"]]) for t in terms]}
    nomogram = Nomogram.from_fit(fit, data=df[names])
    p = np.asarray(fit.predict_proba(df), dtype=float)
    cal = calibration_intercept_slope(truth, p)
    metrics = {"external": {"LBC": {
        "n": len(truth), "auc": {"value": 0.9},
        "calibration": {"slope": cal.slope, "intercept": cal.intercept, "brier": brier_score(truth, p),
                        "curve": calibration_curve(truth, p, bins=8)},
        "decision_curve": net_benefit(truth, p).to_dict()}}}
    return {"fusion": spec, "nomogram": nomogram, "spec": nomogram.to_dict(), "metrics": metrics}


@pytest.fixture(scope="module")
def fll_bundle(fitted: dict, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    import torch

    from ultrasound_reader.ai.bundle import load_bundle, make_random_bundle

    torch.set_num_threads(2)
    folder = make_random_bundle(tmp_path_factory.mktemp("bundles") / "fll", "liver-fll", seed=4,
                                manifest_overrides={"fusion": fitted["fusion"], "nomogram": fitted["spec"],
                                                    "metrics": fitted["metrics"]})
    return load_bundle(folder)


def _speckle(seed: int, color: bool = False) -> np.ndarray:
    img = np.clip(np.random.default_rng(seed).rayleigh(60.0, (200, 260)), 0, 255).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2) if color else img


def _frames(images: list[np.ndarray]):  # noqa: ANN202
    from ultrasound_reader.dicom.calibration import Calibration

    cal = Calibration("pixel_spacing", spacing_mm=(0.2, 0.2))  # PHANTOM: 0.2 mm per pixel
    return lambda image, frame: (images[image], cal)


def _fll_case(factors: ClinicalFactors) -> Case:
    rois = [Roi("lesion", "ellipse", [(20, 30), (120, 110)]), Roi("lesion", "rectangle", [(40, 40), (130, 120)]),
            Roi("background", "rectangle", [(150, 100), (250, 180)])]
    return Case("liver-fll", "PHANTOM-fll-1", images=[ImageRef("liver.png")], rois=rois, factors=factors)


@pytest.fixture(scope="module")
def fll_result(fll_bundle):  # noqa: ANN001, ANN201
    from ultrasound_reader.ai.analyzer import Analyzer

    return Analyzer(fll_bundle).run(_fll_case(FACTORS), frame_source=_frames([_speckle(1)]))


@pytest.fixture(scope="module")
def soft_setup(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from ultrasound_reader.ai.analyzer import Analyzer
    from ultrasound_reader.ai.bundle import load_bundle, make_random_bundle

    # A cut-off above the random model's DLM-1 output, so the cascade goes on to the benign subtype.
    bundle = load_bundle(make_random_bundle(tmp_path_factory.mktemp("bundles") / "soft", "soft-tissue", seed=3,
                                            manifest_overrides={"thresholds": {"DLM-1": {"value": 0.9,
                                                                                          "method": "fixed"}}}))
    case = Case("soft-tissue", "PHANTOM-soft-1", images=[ImageRef("g.png"), ImageRef("c.png", role="cdfi")],
                rois=[Roi("mass", "ellipse", [(30, 20), (150, 110)], image=0),
                      Roi("mass", "rectangle", [(30, 20), (150, 110)], image=1)])
    result = Analyzer(bundle).run(case, frame_source=_frames([_speckle(2), _speckle(3, color=True)]))
    return bundle, result


@pytest.fixture
def themed(qapp):  # noqa: ANN001, ANN201
    from ultrasound_reader.gui import theme

    theme.apply(qapp)
    return qapp


# -- factors form -------------------------------------------------------------------------------------
def test_form_round_trip_keeps_unknown_apart_from_no(qtbot, themed) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.factors_form import FactorsForm

    form = FactorsForm()
    qtbot.addWidget(form)
    full = ClinicalFactors(age=71.5, sex="F", hepatitis=3, tumour_history=True, afp=250.0, halo=False,
                           vascularity=True, shape="irregular", margin="not_smooth", echogenicity="heterogeneous",
                           posterior_enhancement=False, satellite=True, site="trunk", depth_mm=12.5)
    with qtbot.waitSignal(form.factorsChanged) as sig:
        form.set_factors(full)
    assert sig.args[0] == full
    assert form.factors() == full
    assert form.widgets["halo"].currentText() == "No" and form.widgets["satellite"].currentText() == "Yes"
    assert form.afp_band.text() == "> 200"
    sparse = ClinicalFactors(sex="M", hepatitis=0, halo=None, vascularity=False)
    form.set_factors(sparse)
    assert form.factors() == sparse
    assert form.widgets["halo"].currentText() == "Unknown" and form.widgets["vascularity"].currentText() == "No"
    assert form.widgets["hepatitis"].currentText() == "None"  # hepatitis 0 (none) is not unknown
    assert form.widgets["age"].text() == "" and form.afp_band.text() == ""


def test_form_modes_tab_order_and_mnemonics(qtbot, themed) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.factors_form import FLL_FIELDS, SOFT_TISSUE_FIELDS, FactorsForm

    form = FactorsForm("soft-tissue")
    qtbot.addWidget(form)
    form.show()
    qtbot.waitExposed(form)
    assert [n for n, w in form.widgets.items() if w.isVisible()] == list(SOFT_TISSUE_FIELDS)
    form.set_task("liver-fll")
    assert [n for n, w in form.widgets.items() if w.isVisible()] == list(FLL_FIELDS)
    # every label's Alt letter is unique and leads to its field
    letters = [form.labels[n].text().split("&")[1][0].lower() for n in form.widgets]
    assert len(set(letters)) == len(letters)
    assert all(form.labels[n].buddy() is form.widgets[n] for n in form.widgets)
    # Tab walks the fields in reading order; typing picks a choice
    form.activateWindow()
    form.widgets["age"].setFocus()
    qtbot.waitUntil(lambda: form.widgets["age"].hasFocus())
    qtbot.keyClicks(form.widgets["age"], "58")
    qtbot.keyClick(form.widgets["age"], Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is form.widgets["sex"]
    qtbot.keyClicks(form.widgets["sex"], "f")
    qtbot.keyClick(form.widgets["sex"], Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is form.widgets["hepatitis"]
    f = form.factors()
    assert f.age == 58 and f.sex == "F" and f.hepatitis is None


def test_form_validation_messages(qtbot, themed) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.factors_form import FactorsForm

    form = FactorsForm()
    qtbot.addWidget(form)
    form.show()
    qtbot.keyClicks(form.widgets["age"], "130")
    msg = form.messages["age"]
    assert msg.isVisible() and msg.text() == "130 is outside 0-120 years"
    assert form.factors().age is None and "age" in form.errors()
    with pytest.raises(UserError, match="age: 130"):
        form.factors(strict=True)
    form.widgets["age"].clear()
    qtbot.keyClicks(form.widgets["age"], "4O")  # letter O, not zero
    assert "not a number" in form.messages["age"].text()
    form.widgets["age"].setText("40")
    assert not form.messages["age"].isVisible() and form.factors(strict=True).age == 40
    form.widgets["afp"].setText("-3")
    assert "negative" in form.messages["afp"].text()
    form.widgets["afp"].setText("200")
    assert form.afp_band.text() == "≤ 200" and not form.errors()


def test_form_required_factors_from_the_bundle_fusion(qtbot, themed, fll_bundle) -> None:  # noqa: ANN001
    from ultrasound_reader.ai.fusion import required_factors
    from ultrasound_reader.gui.factors_form import FactorsForm, required_from_fusion

    form = FactorsForm()
    qtbot.addWidget(form)
    names = required_from_fusion(fll_bundle.fusion)
    assert names == required_factors(fll_bundle.fusion)  # no derived fields in this fusion
    form.set_required(names)
    assert form.labels["halo"].text().endswith(" *") and not form.labels["afp"].text().endswith(" *")
    assert "hypoechoic halo" in form.required_note.text() and "not recorded" in form.required_note.text()
    form.set_factors(FACTORS)
    assert form.missing_required() == [] and "all factors" in form.required_note.text()
    assert required_from_fusion({"terms": [{"source": "factor", "field": "afp_high"}]}) == ["afp"]


def test_form_prefills_sex_and_age_from_dicom(qtbot, themed, tmp_path: Path) -> None:  # noqa: ANN001
    from ultrasound_reader.dicom import open_cine
    from ultrasound_reader.dicom.synth import write_dicom
    from ultrasound_reader.gui.factors_form import FactorsForm, parse_dicom_age

    path = write_dicom(tmp_path / "phantom.dcm", _speckle(5)[None], extra={"PatientSex": "F", "PatientAge": "047Y"})
    with open_cine(path) as cine:
        metadata = cine.metadata
    form = FactorsForm()
    qtbot.addWidget(form)
    assert form.prefill_from_metadata(metadata) == ["sex", "age"]
    f = form.factors()
    assert (f.sex, f.age) == ("F", 47)
    assert "047Y" in form.prefill_note.text()
    # what the reader entered wins over the header
    form.set_factors(ClinicalFactors(age=60))
    assert form.prefill_from_metadata(metadata) == ["sex"] and form.factors().age == 60
    assert parse_dicom_age("006M") == 0.5 and parse_dicom_age("52W") == 1.0 and parse_dicom_age("x") is None
    assert form.prefill_from_metadata({"patient_sex": "O", "patient_age": None}) == []


# -- results panel -------------------------------------------------------------------------------------
def test_results_panel_shows_an_fll_analysis(qtbot, themed, fll_bundle, fll_result) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.results_panel import DEMO_TEXT, ResultsPanel

    r = fll_result
    assert set(r.probabilities) == {"L", "LB", "LBC"} and r.decision_model == "LBC"
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_result(r, fll_bundle.manifest)
    text = panel.visible_text()
    assert DEMO_TEXT in text
    for name, title in (("L", "Model^L"), ("LB", "Model^LB"), ("LBC", "Model^LBC")):
        assert f"{title}  {r.probabilities[name]:.3f}" in text
    assert panel.decision.text() == r.decision.capitalize()
    assert f"decided by Model^LBC: {r.probabilities['LBC']:.3f}" in text and f"cut-off {r.cutoff:.3f}" in text
    assert f"{r.lesion_size_cm:.2f} cm (size band {r.size_band})" in text
    assert f"Liver background: {r.lb_type}" in text and f"{r.total_points:.1f} total points" in text
    for w in r.warnings:
        assert f"⚠ {w}" in text
    assert panel.table.rowCount() == len(r.per_image) == 3
    first = r.per_image[0]
    assert f"{first['L']:.3f}" in text and f"{first['LB']:.3f}" in text
    assert f"{r.bundle_name} {r.bundle_version}" in text
    assert panel.rows["LBC"][1].highlight and panel.rows["LBC"][1].cutoff == r.cutoff
    with qtbot.waitSignal(panel.roiActivated) as sig:
        panel._on_row(1, 0)
    assert sig.args == [r.per_image[1]["roi_id"], 0, 0]


def test_results_panel_cautions_beside_a_poorly_calibrated_probability(qtbot, themed, fll_bundle, fll_result) -> None:  # noqa: ANN001
    """Item 11: the bundle's own external calibration (manifest metrics) words a caution under the deciding bar."""
    import copy

    from ultrasound_reader.gui.results_panel import ResultsPanel

    r = fll_result
    poor = copy.deepcopy(fll_bundle.manifest)
    poor["metrics"] = {"external": {"LBC": {"calibration": {"slope": 0.4936, "hosmer_lemeshow_p": 0.0001}},
                                    "L": {"calibration": {"slope": 1.66, "hosmer_lemeshow_p": 0.11}}}}
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_result(r, poor)
    lines = panel.visible_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Model^LBC  "))
    caution = next(line for line in lines[at + 1:at + 3] if line.startswith("⚠ Calibration"))
    assert "external cohort" in caution and "slope 0.49" in caution and "p < 0.001" in caution
    assert sum(line.startswith("⚠ Calibration") for line in lines) == 1  # only beside the deciding probability
    good = copy.deepcopy(fll_bundle.manifest)
    good["metrics"] = {"external": {"LBC": {"calibration": {"slope": 0.97, "hosmer_lemeshow_p": 0.4}}}}
    panel.set_result(r, good)
    assert "⚠ Calibration" not in panel.visible_text()
    # The banner follows the bundle before any result; a result keeps it.
    panel.clear()
    panel.set_bundle(fll_bundle.manifest)
    assert panel.banner.isVisibleTo(panel) and "NOT FOR CLINICAL USE" in panel.banner.text()
    panel.set_bundle(None)
    assert not panel.banner.isVisibleTo(panel)


def test_results_panel_says_subtype_scores_are_not_one_choice(qtbot, themed, soft_setup) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.caution import SUBTYPE_NOTE
    from ultrasound_reader.gui.results_panel import ResultsPanel

    bundle, result = soft_setup[0], soft_setup[1]
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_result(result, bundle.manifest)
    text = panel.visible_text()
    assert SUBTYPE_NOTE in text and "need not sum to 1" in text


def test_results_panel_lbc_not_computed(qtbot, themed, fll_bundle) -> None:  # noqa: ANN001
    from ultrasound_reader.ai.analyzer import Analyzer
    from ultrasound_reader.gui.results_panel import ResultsPanel

    r = Analyzer(fll_bundle, cam=False).run(_fll_case(dataclasses.replace(FACTORS, halo=None)),
                                             frame_source=_frames([_speckle(1)]))
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_result(r, fll_bundle.manifest)
    text = panel.visible_text()
    assert "Model^LBC  not computed" in text and "halo" in panel.warnings.text()
    assert r.decision_model == "LB" and f"decided by Model^LB: {r.probabilities['LB']:.3f}" in text
    assert "Incomplete" in text


def test_results_panel_states(qtbot, themed, fll_bundle, fll_result) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.results_panel import EMPTY_TEXT, STALE_TEXT, ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert EMPTY_TEXT in panel.visible_text()
    panel.set_running(0.4, "Model^LB")
    assert "Analysing… 40 % — Model^LB" in panel.visible_text() and panel.progress.isVisible()
    panel.set_result(fll_result, fll_bundle.manifest)
    assert panel.body.isEnabled() and not panel.progress.isVisible() and STALE_TEXT not in panel.visible_text()
    panel.set_stale(True)
    assert STALE_TEXT in panel.visible_text() and not panel.body.isEnabled()
    assert f"{fll_result.probabilities['LBC']:.3f}" in panel.visible_text()  # greyed out, still readable
    panel.set_running(0.1)
    panel.set_cancelled()
    assert "cancelled" in panel.visible_text() and not panel.body.isEnabled()  # still stale
    panel.set_error("case PHANTOM-fll-1: no lesion ROI")
    assert "Analysis failed: case PHANTOM-fll-1: no lesion ROI" in panel.visible_text()
    panel.clear()
    assert panel.visible_text() == EMPTY_TEXT and panel.result is None


def test_results_panel_soft_tissue_ranks_the_subtypes(qtbot, themed, soft_setup) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.results_panel import ResultsPanel

    bundle, r = soft_setup
    assert r.decision == "benign" and r.subtype
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_result(r, bundle.manifest)
    lines = panel.visible_text().splitlines()
    assert f"DLM-1  {r.probabilities['DLM-1']:.3f}" in lines
    ranked = sorted((n for n in r.probabilities if n.startswith("SM-")), key=lambda n: -r.probabilities[n])
    shown = [i for n in ranked for i, line in enumerate(lines)
             if line == f"{r.model_labels[n].replace('_', ' ')}  {r.probabilities[n]:.3f}"]
    assert len(shown) == 5 and shown == sorted(shown)  # best first
    assert panel.decision.text() == f"Benign — {r.subtype.replace('_', ' ')}"
    assert panel.rows[ranked[0]][1].highlight and not panel.rows[ranked[1]][1].highlight
    assert panel.table.horizontalHeaderItem(2).text() == "role" and panel.table.rowCount() == 2


# -- nomogram -------------------------------------------------------------------------------------------
def _marker_pixel(view, name: str) -> QPointF:  # noqa: ANN001
    scene = view.vb.mapViewToScene(QPointF(view.marker_x(name), view.row_y(name)))
    return QPointF(view.plot.mapFromScene(scene))


def _pixel_of(view, name: str, x: float) -> QPointF:  # noqa: ANN001
    return QPointF(view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(x, view.row_y(name)))))


def test_nomogram_mouse_drag_rescores(qtbot, themed, fitted, ui) -> None:  # noqa: ANN001
    from ultrasound_reader.ai.fusion import encode
    from ultrasound_reader.gui.nomogram_view import NomogramView, fusion_display

    nomo = fitted["nomogram"]
    view = NomogramView(fitted["spec"], fusion_display(fitted["fusion"]))
    qtbot.addWidget(view)
    view.resize(760, 520)
    view.show()
    qtbot.waitExposed(view)
    values, missing = encode(fitted["fusion"], dataclasses.replace(FACTORS, halo=False), {"LB": 0.3})
    assert not missing
    view.set_values(values)
    assert view.total_label.text() == f"Total points {nomo.score(values).total_points:.1f}"
    halo = next(ax for ax in nomo.predictors if ax.name == "hypoechoic halo")
    assert view.marker_x("hypoechoic halo") == pytest.approx(halo.points[0])
    with qtbot.waitSignal(view.valueChanged) as sig:
        # dragged most of the way towards "yes": it snaps onto that level
        ui.mouse_drag(view.plot.viewport(), _marker_pixel(view, "hypoechoic halo"),
                      _pixel_of(view, "hypoechoic halo", halo.points[1] * 0.8), Qt.MouseButton.LeftButton)
    assert sig.args == ["hypoechoic halo", 1.0]
    expected = nomo.score(values | {"hypoechoic halo": 1.0})
    assert view.score.total_points == pytest.approx(expected.total_points)
    assert view.score.probability == pytest.approx(expected.probability)
    assert view.total_label.text() == f"Total points {expected.total_points:.1f}"
    assert view.prob_label.text() == f"Probability {expected.probability:.3f}"
    assert view.marker_x("hypoechoic halo") == pytest.approx(halo.points[1])
    assert view.marker_x("__total") == pytest.approx(expected.total_points * 100 / view.total_max)
    assert "What-if" in view.note.text() and view.reset_button.isVisible()
    view.reset_to_case()
    assert view.score.total_points == pytest.approx(nomo.score(values).total_points)


def test_nomogram_drag_path_continuous_and_locked(qtbot, themed, fitted) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.nomogram_view import NomogramView

    nomo = fitted["nomogram"]
    view = NomogramView(fitted["spec"])
    qtbot.addWidget(view)
    values = {ax.name: ax.values[0] for ax in nomo.predictors}
    view.set_values(values)
    lb = next(ax for ax in nomo.predictors if ax.name == "LB score")
    mid = (lb.points[0] + lb.points[-1]) / 2
    v = view.drag_marker("LB score", mid)
    assert min(lb.values) < v < max(lb.values)
    assert view.score.points["LB score"] == pytest.approx(nomo.score(values | {"LB score": v}).points["LB score"])
    assert view.score.points["LB score"] == pytest.approx(mid, abs=0.5 * 100 / 200 + 1e-9)
    assert view.drag_marker("LB score", 1e6) == max(lb.values)  # clamped to the axis
    view.set_locked(["LB score"])
    assert view.drag_marker("LB score", 0.0) == max(lb.values) and not view.markers["LB score"].movable
    with pytest.raises(UserError):
        view.set_value("no such predictor", 1)
    view.set_spec(None)
    assert view.total_label.text() == "No nomogram in this bundle" and view.plot.isHidden()


def test_form_drives_the_nomogram_live(qtbot, themed, fitted, fll_bundle, fll_result) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.factors_form import FactorsForm
    from ultrasound_reader.gui.nomogram_view import NomogramView, connect_form_to_nomogram

    form = FactorsForm()
    view = NomogramView(fll_bundle.manifest["nomogram"])
    qtbot.addWidget(form)
    qtbot.addWidget(view)
    link = connect_form_to_nomogram(form, view, fll_bundle.fusion)
    assert view.title("LB score").startswith("LB score (Model^LB") and not view.markers["LB score"].movable
    form.set_factors(dataclasses.replace(FACTORS, halo=None))
    assert view.score is None and view.total_label.text() == "Total points —"
    assert view.note.text() == "Needs: LB score (run the analysis); hypoechoic halo (not recorded)"
    link.set_model_probabilities(fll_result.probabilities)
    form.set_field("halo", True)  # as if the reader picked "Yes"
    # the live nomogram agrees with the analysis of the same case: same points, same LBC probability
    assert view.score.total_points == pytest.approx(fll_result.total_points)
    assert view.score.probability == pytest.approx(fll_result.probabilities["LBC"], rel=1e-9)
    assert view.points == pytest.approx(fll_result.nomogram_points)
    before = view.score.total_points
    form.widgets["halo"].setCurrentIndex(1)  # "No"
    halo = next(ax for ax in fitted["nomogram"].predictors if ax.name == "hypoechoic halo")
    assert before - view.score.total_points == pytest.approx(halo.points[1] - halo.points[0])
    assert view.marker_x("hypoechoic halo") == pytest.approx(halo.points[0])


# -- curves and Grad-CAM controls -------------------------------------------------------------------------
def test_curves_view_shows_stored_curves_or_says_none(qtbot, themed, fll_bundle, soft_setup) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.curves_view import NOT_STORED, CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.set_manifest(fll_bundle.manifest)
    stored = fll_bundle.manifest["metrics"]["external"]["LBC"]
    assert view.current is not None and view.current.key == "external · LBC"
    cal_curves = [i for i in view.cal_plot.listDataItems() if i.opts.get("symbol") == "o"]
    assert len(cal_curves) == 1
    assert np.allclose(cal_curves[0].getData()[1], [r["observed"] for r in stored["calibration"]["curve"]])
    assert f"slope {stored['calibration']['slope']:.2f}" in view.cal_note.text()
    dca = view.dca_plot.listDataItems()
    assert len(dca) == 3 and np.allclose(dca[0].getData()[1], stored["decision_curve"]["model"])
    assert NOT_STORED not in view.cal_note.text() + view.dca_note.text()
    view.set_manifest(soft_setup[0].manifest)  # a random bundle: metrics hold a note only
    assert NOT_STORED in view.status.text() and NOT_STORED in view.cal_note.text()
    view.set_metrics({"internal": {"LB": {"auc": {"value": 0.8}, "calibration": {"slope": 0.91, "brier": 0.2}}}})
    assert "Calibration curve: not stored in this bundle (slope 0.91, Brier 0.200)" in view.cal_note.text()
    assert NOT_STORED in view.dca_note.text()


def test_cam_controls_make_the_ai_overlay(qtbot, themed, fll_result) -> None:  # noqa: ANN001
    from ultrasound_reader.ai import gradcam
    from ultrasound_reader.gui.cam_controls import COLORMAPS, CamControls, select_cams

    assert set(COLORMAPS) == set(gradcam._COLORMAPS)
    ctl = CamControls()
    qtbot.addWidget(ctl)
    assert not ctl.toggle.isEnabled() and ctl.overlay(fll_result.cams, 200, 260) is None
    ctl.set_cams(fll_result.cams)
    assert [ctl.model.itemData(i) for i in range(ctl.model.count())] == ["L", "LB", "LB-type"]
    with qtbot.waitSignal(ctl.settingsChanged) as sig:
        ctl.toggle.setChecked(True)
    assert sig.args[0].enabled and sig.args[0].model == "L"
    ctl.opacity.setValue(80)
    ctl.cmap.setCurrentText("inferno")
    rgba = ctl.overlay(fll_result.cams, 200, 260, image=0, frame=0)
    expected = gradcam.overlay_rgba(select_cams(fll_result.cams, "L", 0, 0), 200, 260, cmap="inferno", opacity=0.8)
    assert rgba is not None and np.array_equal(rgba, expected) and rgba[..., 3].max() > 0
    assert ctl.legend._image is not None and ctl.opacity_label.text() == "80 %"
    assert ctl.overlay(fll_result.cams, 200, 260, image=0, frame=5) is None  # no maps on that frame
    ctl.toggle.setChecked(False)
    assert ctl.overlay(fll_result.cams, 200, 260) is None


# -- how it looks ------------------------------------------------------------------------------------------
def test_panels_screenshots(qtbot, themed, tmp_path: Path, fitted, fll_bundle, fll_result,  # noqa: ANN001
                            soft_setup) -> None:
    """Grab every panel and all of them side by side (kept where UR_PANEL_SHOTS points)."""
    from ultrasound_reader.gui.cam_controls import CamControls
    from ultrasound_reader.gui.curves_view import CurvesView
    from ultrasound_reader.gui.factors_form import FactorsForm, required_from_fusion
    from ultrasound_reader.gui.nomogram_view import NomogramView, connect_form_to_nomogram
    from ultrasound_reader.gui.results_panel import ResultsPanel

    out = Path(os.environ.get("UR_PANEL_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    form = FactorsForm()
    form.set_required(required_from_fusion(fll_bundle.fusion))
    form.set_factors(dataclasses.replace(FACTORS, afp=35.0, shape="round"))
    form.prefill_from_metadata({"patient_sex": "M", "patient_age": "062Y"})
    results = ResultsPanel()
    results.set_result(fll_result, fll_bundle.manifest)
    soft = ResultsPanel()
    soft.set_result(soft_setup[1], soft_setup[0].manifest)
    nomogram = NomogramView(fll_bundle.manifest["nomogram"])
    link = connect_form_to_nomogram(form, nomogram, fll_bundle.fusion)
    link.set_model_probabilities(fll_result.probabilities)
    curves = CurvesView()
    curves.set_manifest(fll_bundle.manifest)
    cam = CamControls()
    cam.set_cams(fll_result.cams)
    cam.toggle.setChecked(True)
    sizes = {"factors": (form, 360, 560), "results": (results, 360, 640), "results_soft": (soft, 360, 600),
             "nomogram": (nomogram, 760, 520), "curves": (curves, 420, 560), "cam": (cam, 300, 240)}
    for name, (w, width, height) in sizes.items():
        qtbot.addWidget(w)
        w.resize(width, height)
        w.show()
        qtbot.waitExposed(w)
        image = w.grab()
        assert (image.width(), image.height()) == (w.width(), w.height()) and w.width() >= width
        assert image.save(str(out / f"panel_{name}.png"))
    # the other states worth a look: stale result, an invalid entry, a what-if on the nomogram
    results.set_stale(True)
    form.widgets["age"].setText("130")
    nomogram.drag_marker("extrahepatic tumour history", 100.0)
    QApplication.processEvents()  # let the layouts take the new labels in before grabbing
    for name, w in (("results_stale", results), ("factors_invalid", form), ("nomogram_whatif", nomogram)):
        assert w.grab().save(str(out / f"panel_{name}.png"))
    results.set_stale(False)
    form.widgets["age"].setText("62")
    nomogram.reset_to_case()
    for w, _, _ in sizes.values():
        w.hide()
    together = QWidget()
    row = QHBoxLayout(together)
    for w in (form, results, nomogram, curves):
        row.addWidget(w)
        w.show()
    together.resize(1900, 720)
    together.setStyleSheet("")
    together.show()
    qtbot.waitExposed(together)
    assert together.grab().save(str(out / "panel_all.png"))
    assert (out / "panel_all.png").stat().st_size > 10_000
    together.close()
    for w in (form, results, nomogram, curves):
        w.setParent(None)  # back to qtbot, which closes them
