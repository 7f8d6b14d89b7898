"""Bundle signatures: real EC keys, real model-signing signatures, every verdict and the site policy."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ultrasound_reader.ai import bundle as B
from ultrasound_reader.ai import signing as S
from ultrasound_reader.errors import UserError
from ultrasound_reader.paths import models_dir


def _keypair(folder: Path, name: str, curve: ec.EllipticCurve | None = None) -> tuple[Path, Path]:
    """(private key PEM, public key PEM) written under ``folder``."""
    key = ec.generate_private_key(curve or ec.SECP256R1())
    folder.mkdir(parents=True, exist_ok=True)
    priv, pub = folder / f"{name}.key", folder / f"{name}.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    priv, pub = _keypair(tmp_path / "keys", "site")
    other, _ = _keypair(tmp_path / "keys", "stranger")
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(pub, store / "site.pub")
    return {"private": priv, "stranger": other, "store": store}


@pytest.fixture
def signed(soft_bundle_dir: Path, tmp_path: Path, keys: dict[str, Path]) -> Path:
    dst = tmp_path / "signed"
    shutil.copytree(soft_bundle_dir, dst)
    S.sign_bundle(dst, keys["private"])
    return dst


def _rehash(folder: Path, rel: str) -> None:
    """Update the manifest's SHA-256 of ``rel``: what someone would do to slip a changed file past the hashes."""
    m = json.loads((folder / "manifest.json").read_text())
    m["files"][rel] = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m, indent=2))


def test_signed_bundle_is_verified_and_says_so(signed: Path, keys: dict[str, Path]) -> None:
    b = B.load_bundle(signed, trust_store=keys["store"], require_signed=True)
    assert b.signature.verdict == "verified" and b.signature.verified
    assert b.signature.key_name == "site"
    assert "verified" in b.signature.text and "site" in b.signature.text
    assert (signed / S.SIGNATURE_FILE).is_file()


def test_unsigned_loads_but_policy_refuses(soft_bundle_dir: Path, keys: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    b = B.load_bundle(soft_bundle_dir, trust_store=keys["store"])
    assert b.signature.verdict == "unsigned"
    with pytest.raises(UserError, match="bundle is unsigned .*site policy accepts signed bundles only"):
        B.load_bundle(soft_bundle_dir, trust_store=keys["store"], require_signed=True)
    monkeypatch.setenv(S.ENV_REQUIRE_SIGNED, "1")
    with pytest.raises(UserError, match="site policy"):
        B.load_bundle(soft_bundle_dir, trust_store=keys["store"])


def test_unknown_key_is_untrusted(soft_bundle_dir: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    dst = tmp_path / "stranger"
    shutil.copytree(soft_bundle_dir, dst)
    S.sign_bundle(dst, keys["stranger"])
    b = B.load_bundle(dst, trust_store=keys["store"])
    assert b.signature.verdict == "untrusted" and "not in the trust store" in b.signature.detail
    with pytest.raises(UserError, match="bundle is untrusted"):
        B.load_bundle(dst, trust_store=keys["store"], require_signed=True)


def test_tampered_weight_is_refused_even_with_its_hash_updated(signed: Path, keys: dict[str, Path]) -> None:
    w = signed / "SM-2.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    _rehash(signed, "SM-2.safetensors")  # the manifest's own hashes now agree with the edit
    status = S.verify_bundle(signed, S.trust_store(keys["store"]))
    assert status.verdict == "tampered" and "SM-2.safetensors" in status.detail and "manifest.json" in status.detail
    with pytest.raises(UserError, match=r"tampered \(changed: .*SM-2\.safetensors"):
        B.load_bundle(signed, trust_store=keys["store"])  # refused without any policy


def test_tampered_threshold_is_refused(signed: Path, keys: dict[str, Path]) -> None:
    B.load_bundle(signed, trust_store=keys["store"])  # cached as verified first
    m = json.loads((signed / "manifest.json").read_text())
    m["thresholds"]["DLM-1"]["value"] = 0.99  # a malignant call turned benign
    (signed / "manifest.json").write_text(json.dumps(m, indent=2))
    with pytest.raises(UserError, match=r"tampered \(changed: manifest\.json\); refused"):
        B.load_bundle(signed, trust_store=keys["store"])


def test_added_or_removed_file_and_bad_signature_are_tampering(signed: Path, tmp_path: Path,
                                                               keys: dict[str, Path]) -> None:
    store = S.trust_store(keys["store"])
    (signed / "notes.txt").write_text("slipped in")
    assert S.verify_bundle(signed, store).detail == "added: notes.txt"
    (signed / "notes.txt").unlink()
    assert S.verify_bundle(signed, store).verdict == "verified"
    sig = json.loads((signed / S.SIGNATURE_FILE).read_text())
    sig["dsseEnvelope"]["signatures"][0]["sig"] = sig["dsseEnvelope"]["signatures"][0]["sig"][::-1]
    (signed / S.SIGNATURE_FILE).write_text(json.dumps(sig))
    assert S.verify_bundle(signed, store).verdict == "tampered"
    (signed / S.SIGNATURE_FILE).write_text("[" * 10000 + "]" * 10000)
    status = S.verify_bundle(signed, store)
    assert status.verdict == "tampered" and "unreadable" in status.detail


def test_trust_store_refuses_what_is_not_a_public_key(tmp_path: Path, keys: dict[str, Path]) -> None:
    bad = tmp_path / "bad-store"
    bad.mkdir()
    shutil.copy(keys["private"], bad / "oops.pem")  # a private key is not a trust anchor
    with pytest.raises(UserError, match="oops.pem: not a PEM public key"):
        S.trust_store(bad)
    assert S.trust_store(tmp_path / "absent").keys == {}


def test_signing_key_errors_are_one_line(tmp_path: Path, soft_bundle_dir: Path) -> None:
    enc = ec.generate_private_key(ec.SECP256R1())
    p = tmp_path / "enc.key"
    p.write_bytes(enc.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(UserError, match="wrong or missing password"):
        S.load_signing_key(p)
    assert S.load_signing_key(p, "secret").curve.name == "secp256r1"
    (tmp_path / "junk.key").write_text("not a key")
    with pytest.raises(UserError, match="junk.key: cannot use as a signing key"):
        S.load_signing_key(tmp_path / "junk.key")


def test_demo_bundles_are_signed_with_the_shipped_demo_key() -> None:
    store = S.trust_store()
    assert any(name == "ultrasound-reader-demo" for name, _ in store.keys.values())
    for name in ("liver-fll-demo", "soft-tissue-demo"):
        status = S.verify_bundle(models_dir() / name, store)
        assert status.verdict == "verified", (name, status)
        assert status.key_name == "ultrasound-reader-demo"
    # No private key is shipped: the trust store holds public keys only.
    assert not list(models_dir().rglob("*.key"))


def test_training_export_signs_when_given_a_key(tmp_path: Path, keys: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ultrasound_reader.ai.networks import build_model
    from ultrasound_reader.training import export

    m = B.default_manifest("soft-tissue", small=True)
    weights = {n: build_model("soft-tissue", n, m["architecture"]) for n in m["models"]}
    out = export.write_bundle(tmp_path / "exported", m, weights, "# card\n", fp16=False, sign_key=keys["private"])
    assert S.verify_bundle(out, S.trust_store(keys["store"])).verdict == "verified"
    monkeypatch.setenv(S.ENV_SIGNING_KEY, str(keys["stranger"]))
    out = export.write_bundle(tmp_path / "exported2", m, weights, "# card\n", fp16=False)
    assert S.verify_bundle(out, S.trust_store(keys["store"])).verdict == "untrusted"
    monkeypatch.delenv(S.ENV_SIGNING_KEY)
    out = export.write_bundle(tmp_path / "exported3", m, weights, "# card\n", fp16=False)
    assert S.verify_bundle(out, S.trust_store(keys["store"])).verdict == "unsigned"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ultrasound_reader", *args], capture_output=True, text=True,
                          timeout=180)


def test_cli_shows_the_verdict_and_applies_the_policy(signed: Path, soft_bundle_dir: Path, soft_case,
                                                      keys: dict[str, Path]) -> None:
    case = soft_case()
    out = _cli("analyze", str(case.root), "--bundle", str(signed), "--trust-store", str(keys["store"]),
               "--json", "--no-cam")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["bundle_signature"]["verdict"] == "verified" and d["bundle_signature"]["key_name"] == "site"
    out = _cli("analyze", str(case.root), "--bundle", str(soft_bundle_dir), "--trust-store", str(keys["store"]),
               "--no-cam")
    assert out.returncode == 0 and "bundle: unsigned" in out.stdout
    out = _cli("analyze", str(case.root), "--bundle", str(soft_bundle_dir), "--require-signed", "--no-cam")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "site policy accepts signed bundles only" in out.stderr
    out = _cli("bundle", "verify", str(signed), "--trust-store", str(keys["store"]), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["signature"]["verdict"] == "verified"
    out = _cli("bundle", "verify", str(signed))  # default store: the demo key only
    assert out.returncode == 1 and "untrusted" in out.stdout and out.stderr.count("\n") == 1


def _alter_manifest_then_swap_it_back_during_the_check(folder: Path, monkeypatch: pytest.MonkeyPatch):
    """The loader reads an altered manifest; the signature check (real) sees the signed one put back.
    Returns (the signed manifest's bytes, the real verify_bundle)."""
    good = (folder / "manifest.json").read_bytes()
    m = json.loads(good)
    m["description"] = "altered after signing"
    (folder / "manifest.json").write_text(json.dumps(m, indent=2))
    real = S.verify_bundle

    def swap_back_during_check(f, store=None):
        (folder / "manifest.json").write_bytes(good)
        return real(f, store)

    monkeypatch.setattr(S, "verify_bundle", swap_back_during_check)
    return good, real


def test_manifest_swapped_during_verification_is_refused(signed: Path, keys: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """TOCTOU: load_bundle reads an altered manifest, the signature check (real, model-signing)
    sees the signed one put back for it; the manifest used must be the one the signature covers."""
    good, real = _alter_manifest_then_swap_it_back_during_the_check(signed, monkeypatch)
    with pytest.raises(UserError, match="tampered.*manifest.json changed while"):
        B.load_bundle(signed, trust_store=keys["store"])
    # the signed manifest itself (now in place) loads and is verified
    monkeypatch.setattr(S, "verify_bundle", real)
    b = B.load_bundle(signed, trust_store=keys["store"], require_signed=True)
    assert b.signature.verified and b.signature.manifest_sha256 == hashlib.sha256(good).hexdigest()


def test_onnx_loader_refuses_a_manifest_swapped_during_verification(soft_bundle_dir: Path, tmp_path: Path,
                                                                    keys: dict[str, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same TOCTOU check on the ONNX Runtime loader (the frozen app's and the window's for graphs)."""
    pytest.importorskip("onnxruntime")
    from ultrasound_reader.ai.onnx_runtime import export_onnx, load_onnx_bundle

    folder = tmp_path / "onnx-signed"
    shutil.copytree(soft_bundle_dir, folder)
    export_onnx(folder, key=keys["private"])
    _, real = _alter_manifest_then_swap_it_back_during_the_check(folder, monkeypatch)
    with pytest.raises(UserError, match="tampered.*manifest.json changed while"):
        load_onnx_bundle(folder, trust_store=keys["store"])
    monkeypatch.setattr(S, "verify_bundle", real)
    assert load_onnx_bundle(folder, trust_store=keys["store"], require_signed=True).signature.verified
