"""The bundle's signature verdict in the window: the results panel's model line, Help ▸ Model Card,
and a tampered or policy-refused bundle shown as an error (the window keeps running).

Real parts: the small random bundles of tests/gui copied and signed with a fresh EC key
by the trust branch's signer (OpenSSF model-signing), a trust store folder holding its
public key, the real loader in the session's worker. Nothing is stubbed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QTextBrowser

from tests.ai.test_signing import _keypair
from ultrasound_reader.ai import sign_bundle

pytestmark = pytest.mark.gui


@pytest.fixture
def bundles(tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """signed (by the trusted 'site' key), stranger (signed by a key not in the store), unsigned, tampered."""
    priv, pub = _keypair(tmp_path / "keys", "site")
    other, _ = _keypair(tmp_path / "keys", "stranger")
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(pub, store / "site.pub")
    monkeypatch.setenv("ULTRASOUND_READER_TRUST_STORE", str(store))
    monkeypatch.delenv("ULTRASOUND_READER_REQUIRE_SIGNED", raising=False)
    monkeypatch.setenv("ULTRASOUND_READER_MODELS", str(tmp_path / "no-models"))  # nothing loads by itself
    out = {}
    for name, key in (("signed", priv), ("stranger", other), ("unsigned", None), ("tampered", priv)):
        dst = tmp_path / "bundles" / name
        shutil.copytree(tiny_models / "liver-fll-demo", dst)
        if key is not None:
            sign_bundle(dst, key)
        out[name] = dst
    # After signing: the cut-off edited (what turns a malignant decision into benign)
    m = json.loads((out["tampered"] / "manifest.json").read_text())
    for spec in m["thresholds"].values():
        spec["value"] = 0.999
    (out["tampered"] / "manifest.json").write_text(json.dumps(m, indent=2))
    return out


def _load(qtbot, window, path: Path) -> None:  # noqa: ANN001
    s = window.session
    s.load_bundle(path, chosen=True)
    qtbot.waitUntil(lambda: s.loading is None, timeout=60000)


@pytest.mark.parametrize("which,expected", [
    ("signed", "Model: random-liver-fll-small 0.0.0 · ✔ verified (key site)"),
    ("unsigned", "Model: random-liver-fll-small 0.0.0 · ⚠ unsigned (no model.sig)"),
    ("stranger", "Model: random-liver-fll-small 0.0.0 · ⚠ untrusted (key not in the trust store)"),
])
def test_model_line_and_card_say_the_verdict(qtbot, make_window, bundles, which: str, expected: str) -> None:  # noqa: ANN001
    window = make_window()
    _load(qtbot, window, bundles[which])
    s = window.session
    verdicts = {"signed": "verified", "unsigned": "unsigned", "stranger": "untrusted"}
    assert s.bundle is not None and s.bundle.signature.verdict == verdicts[which]
    label = window.reading.model_label
    assert label.text() == expected
    tip = label.toolTip()
    assert s.bundle.signature.text in tip and str(bundles["signed"].parent.parent / "store") in tip
    assert ("#e8a33d" in label.styleSheet()) == (which != "signed")  # not verified: in the warning colour
    dialog = window.show_model_card()
    shown = dialog.findChild(QTextBrowser, "text").toPlainText()
    verdict = s.bundle.signature.verdict
    assert f"Signature: {verdict}" in shown and s.bundle.signature.text in shown
    assert ("Signed with key site" in shown) == (which == "signed")
    assert ("a site may refuse it" in shown) == (which != "signed")
    # the model card itself follows the verdict
    assert "random" in shown.lower()
    if os.environ.get("UR_PACS_SHOTS"):
        dialog.grab().save(str(Path(os.environ["UR_PACS_SHOTS"]) / f"model-card-{which}.png"))
    dialog.close()


def test_tampered_bundle_is_refused_with_a_clear_error(qtbot, make_window, bundles) -> None:  # noqa: ANN001
    window = make_window()
    _load(qtbot, window, bundles["signed"])
    assert window.session.bundle.signature.verdict == "verified"
    with qtbot.waitSignal(window.errorShown, timeout=60000) as shown:
        window.session.load_bundle(bundles["tampered"], chosen=True)
    message = shown.args[0]
    assert message.startswith("Model bundle tampered not loaded:") and "tampered" in message[30:]
    assert "changed: manifest.json" in message and "refused" in message
    assert window.error_box.isVisible() and window.isVisible()
    qtbot.waitUntil(lambda: window.session.loading is None, timeout=5000)
    assert window.session.failure is not None and window.session.failure.title == "Model bundle not loaded"
    assert window.reading.results.state == "error"
    folder = os.environ.get("UR_PACS_SHOTS")
    if folder:
        window.grab().save(str(Path(folder) / "window-tampered.png"))
        window.error_box.grab().save(str(Path(folder) / "tampered-error.png"))


def test_signed_only_policy_refuses_the_rest(qtbot, make_window, bundles, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ULTRASOUND_READER_REQUIRE_SIGNED", "1")
    window = make_window()
    with qtbot.waitSignal(window.errorShown, timeout=60000) as shown:
        window.session.load_bundle(bundles["unsigned"], chosen=True)
    assert "site policy accepts signed bundles only" in shown.args[0] and "unsigned" in shown.args[0]
    qtbot.waitUntil(lambda: window.session.loading is None, timeout=5000)
    assert window.session.bundle is None and window.isVisible()
    _load(qtbot, window, bundles["signed"])  # a verified one still loads under the policy
    assert window.session.bundle is not None and "✔ verified (key site)" in window.reading.model_label.text()
