"""Nomogram axes a reader can use (issue 14, item 4), on the demo liver bundle's own nomogram spec.

The probability axis reaches the probabilities a case can get (not only the spec's
0.1-0.9), yes/no axes show both words, and a what-if (which shows "Reset to case")
neither widens the widget nor pushes the points column out of view.
"""

from __future__ import annotations

import json
import math

import pytest

from PySide6.QtGui import QFontMetricsF

from ultrasound_reader.paths import models_dir
from ultrasound_reader.stats.nomogram import Nomogram

pytestmark = pytest.mark.gui

# A confident case: LB 0.9 from the model, male, >= 55, hepatitis, halo (p ~ 0.999).
CONFIDENT = {"LB score": 2.2, "male": 1.0, "age >= 55": 1.0, "extrahepatic tumour history": 0.0,
             "hepatitis history": 1.0, "hypoechoic halo": 1.0, "AFP > 200 ng/mL": 0.0}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((models_dir() / "liver-fll-demo" / "manifest.json").read_text())


def _view(qtbot, manifest, width: int):  # noqa: ANN001, ANN202
    from ultrasound_reader.gui.nomogram_view import NomogramView, fusion_display

    view = NomogramView(manifest["nomogram"], fusion_display(manifest["fusion"]))
    qtbot.addWidget(view)
    view.resize(width, 520)
    view.show()
    qtbot.waitExposed(view)
    view.set_values(CONFIDENT)
    return view


def test_probability_axis_reaches_the_case(manifest) -> None:  # noqa: ANN001
    from ultrasound_reader.stats.nomogram import probability_axis, total_axis_ticks

    nomo = Nomogram.from_dict(manifest["nomogram"])
    assert max(nomo.prob_ticks) <= 0.9 + 1e-9  # the spec alone stops at 0.9 ...
    score = nomo.score(CONFIDENT)
    assert score.probability > 0.99  # ... where this case is far beyond it
    totals = total_axis_ticks(nomo)
    most = sum(max(ax.points) for ax in nomo.predictors)
    assert totals[-1] >= most > max(nomo.total_points_ticks)  # every possible total fits on the axis
    ticks = probability_axis(nomo, totals[-1])
    probs = {round(p, 6) for _, p in ticks}
    assert {0.01, 0.1, 0.5, 0.9, 0.99, 0.999} <= probs
    for pts, pr in ticks:  # each tick sits where the model gives that probability
        assert 0 <= pts <= totals[-1]
        lp = nomo.lp0 + pts / nomo.sc
        assert 1 / (1 + math.exp(-lp)) == pytest.approx(pr, abs=2e-3)
    # the case's total lies between the ticks that bracket its probability
    below = max(pts for pts, pr in ticks if pr <= score.probability)
    above = [pts for pts, pr in ticks if pr > score.probability]
    assert below <= score.total_points and all(score.total_points <= a for a in above)


def test_confident_probability_is_not_rounded_to_one(qtbot, manifest) -> None:  # noqa: ANN001
    from ultrasound_reader.gui.nomogram_view import format_probability

    assert format_probability(0.99962) == "> 0.999" and format_probability(0.99926) == "0.999"
    assert format_probability(0.00031) == "< 0.001"
    assert format_probability(0.4567) == "0.457"
    view = _view(qtbot, manifest, 760)
    assert view.prob_label.text() == f"Probability {view.score.probability:.3f}" == "Probability 0.999"
    view.set_value("AFP > 200 ng/mL", 1.0)
    assert view.score.probability > 0.9995 and view.prob_label.text() == "Probability > 0.999"
    # the marker sits on the drawn axis (not clamped to its end)
    assert 0 < view.marker_x("__prob") < 100
    assert view.marker_x("__prob") == pytest.approx(view.score.total_points * 100 / view.total_max)


def _label_rect(view, item):  # noqa: ANN001, ANN202
    return view.plot.mapFromScene(item.sceneBoundingRect()).boundingRect()


@pytest.mark.parametrize("width", [420, 760])
def test_yes_no_axes_show_both_words(qtbot, manifest, width: int) -> None:  # noqa: ANN001
    view = _view(qtbot, manifest, width)
    assert view._pairs, "the binary axes are laid out as pairs"
    for a, _pa, b, _pb, _y in view._pairs:
        assert a.isVisible() and b.isVisible()
        ra, rb = _label_rect(view, a), _label_rect(view, b)
        assert ra.right() < rb.left() + 1, (a.toPlainText(), b.toPlainText())  # side by side, no overlap
    words = {(a.toPlainText(), b.toPlainText()) for a, _, b, _, _ in view._pairs}
    assert ("female", "male") in words and ("no", "yes") in words


def test_what_if_keeps_width_and_points_column(qtbot, manifest) -> None:  # noqa: ANN001
    view = _view(qtbot, manifest, 420)
    before = view.minimumSizeHint().width()
    assert not view.reset_button.isVisible()
    view.drag_marker("AFP > 200 ng/mL", 100.0)
    assert view.what_if == {"AFP > 200 ng/mL"} and view.reset_button.isVisible()
    qtbot.wait(10)
    assert view.minimumSizeHint().width() == before
    assert view.width() == 420
    viewport = view.plot.viewport().rect()
    fm = QFontMetricsF(view.tick_font)
    for name, label in view._row_points.items():  # every row's points are fully on screen
        left = view.plot.mapFromScene(label.sceneBoundingRect().topLeft())
        assert left.x() + fm.horizontalAdvance(label.toPlainText()) <= viewport.right() + 1, name
    assert view._row_points["AFP > 200 ng/mL"].toPlainText().strip() != "—"
    view.reset_button.click()
    assert not view.what_if and not view.reset_button.isVisible()
    assert view.marker_x("AFP > 200 ng/mL") == pytest.approx(0.0)

