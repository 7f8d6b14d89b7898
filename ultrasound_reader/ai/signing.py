"""Bundle signatures (OpenSSF model-signing, elliptic-curve keys) and the trust store that judges them.

A signed bundle holds ``model.sig`` beside its files: a Sigstore bundle whose DSSE
envelope carries the SHA-256 of every file in the folder (the signature file itself
and git metadata excepted), signed with a private EC key (P-256/384/521). Signing
and verifying run offline; no transparency log is involved.

The trust store is a folder of PEM public keys (``*.pub`` / ``*.pem``; a key's name
is its file name without the suffix). Which one: the ``--trust-store`` flag, else
``ULTRASOUND_READER_TRUST_STORE``, else the bundled ``models/trust`` folder, which
holds the demo public key the demo bundles are signed with.

Verdicts (:class:`SignatureStatus`):

* ``verified``  - signed by a key in the trust store, and every file is as signed;
* ``unsigned``  - no ``model.sig``;
* ``untrusted`` - signed, but by a key the trust store does not hold (its content
  cannot be checked without that key);
* ``tampered``  - signed by a trusted key, but a file was changed, added or removed
  after signing, or the signature itself does not verify or cannot be read.

A tampered bundle is always refused. Site policy "signed bundles only" (the
``--require-signed`` flag or ``ULTRASOUND_READER_REQUIRE_SIGNED=1``) refuses
unsigned and untrusted ones as well (:func:`enforce`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ultrasound_reader import safejson
from ultrasound_reader.errors import UserError

log = logging.getLogger(__name__)

SIGNATURE_FILE = "model.sig"
VERDICTS = ("verified", "unsigned", "untrusted", "tampered")
ENV_TRUST_STORE = "ULTRASOUND_READER_TRUST_STORE"
ENV_REQUIRE_SIGNED = "ULTRASOUND_READER_REQUIRE_SIGNED"
ENV_SIGNING_KEY = "ULTRASOUND_READER_SIGNING_KEY"
ENV_SIGNING_KEY_PASSWORD = "ULTRASOUND_READER_SIGNING_KEY_PASSWORD"
KEY_SUFFIXES = (".pub", ".pem")
MAX_SIGNATURE_BYTES = 1 << 20
MAX_KEY_BYTES = 64 << 10
MAX_KEYS = 256

_TEXT = {
    "verified": "signature verified",
    "unsigned": "not signed",
    "untrusted": "signed by a key that is not trusted here",
    "tampered": "TAMPERED: changed after signing",
}


@dataclass(frozen=True)
class SignatureStatus:
    """The verdict on a bundle's signature, with the key and the reason.

    ``text`` is the short human line for a results panel or model card view.
    """

    verdict: str
    detail: str = ""
    key_name: str | None = None  # the trust-store key that verified it
    key_id: str | None = None  # SHA-256 of the signing public key (PEM), as the signature names it
    trust_store: str | None = None
    # SHA-256 of manifest.json as the verified signature covers it (from the very bytes verified)
    manifest_sha256: str | None = None

    @property
    def verified(self) -> bool:
        return self.verdict == "verified"

    @property
    def text(self) -> str:
        base = _TEXT[self.verdict]
        if self.verdict == "verified" and self.key_name:
            return f"{base} (key {self.key_name})"
        return f"{base} ({self.detail})" if self.detail else base

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "text": self.text, "detail": self.detail, "key_name": self.key_name,
                "key_id": self.key_id, "trust_store": self.trust_store}


def key_id(public_key: Any) -> str:
    """The id model-signing records for a public key: SHA-256 (hex) of its PEM SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(encoding=serialization.Encoding.PEM,
                                  format=serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


@dataclass(frozen=True)
class TrustStore:
    """Public keys trusted to sign bundles, by key id."""

    folder: Path | None
    keys: dict[str, tuple[str, Path]] = field(default_factory=dict)  # key id -> (name, file)

    @classmethod
    def from_dir(cls, folder: str | Path | None) -> TrustStore:
        """Read every ``*.pub``/``*.pem`` public key of ``folder``; a missing folder is an empty store."""
        if folder is None:
            return cls(None)
        folder = Path(folder).expanduser()
        if not folder.exists():
            return cls(folder)
        if not folder.is_dir():
            raise UserError(f"{folder}: trust store is not a folder of public keys")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in KEY_SUFFIXES and p.is_file())
        if len(files) > MAX_KEYS:
            raise UserError(f"{folder}: trust store holds {len(files)} keys, more than {MAX_KEYS}")
        keys: dict[str, tuple[str, Path]] = {}
        for p in files:
            raw = safejson.read_bytes(p, max_bytes=MAX_KEY_BYTES, what="public key")
            try:
                key = serialization.load_pem_public_key(raw)
            except (ValueError, TypeError):
                raise UserError(f"{p}: not a PEM public key (a trust store holds public keys only)") from None
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
                    "secp256r1", "secp384r1", "secp521r1"):
                raise UserError(f"{p}: not an elliptic-curve P-256/P-384/P-521 public key")
            keys[key_id(key)] = (p.stem, p)
        return cls(folder, keys)

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        return (str(self.folder), tuple(sorted(self.keys)))


def default_trust_store_dir() -> Path:
    """``ULTRASOUND_READER_TRUST_STORE`` if set, else the bundled ``models/trust`` folder."""
    from ultrasound_reader.paths import trust_store_dir

    return trust_store_dir()


def require_signed_default() -> bool:
    """Site policy from ``ULTRASOUND_READER_REQUIRE_SIGNED`` (1/true/yes/on)."""
    return os.environ.get(ENV_REQUIRE_SIGNED, "").strip().lower() in ("1", "true", "yes", "on")


def trust_store(folder: str | Path | None = None) -> TrustStore:
    """The trust store in ``folder``, or the default one."""
    return TrustStore.from_dir(default_trust_store_dir() if folder is None else folder)


def _signature_key_id(sig: Path) -> str:
    data = safejson.loads(safejson.read_bytes(sig, max_bytes=MAX_SIGNATURE_BYTES, what="bundle signature"),
                          str(sig), max_depth=16)
    try:
        hint = data["verificationMaterial"]["publicKey"]["hint"]
    except (KeyError, TypeError):
        raise UserError(f"{sig}: not a model-signing key signature (no public key hint)") from None
    if not isinstance(hint, str) or len(hint) != 64:
        raise UserError(f"{sig}: not a model-signing key signature (bad public key hint)")
    return hint.lower()


def _mismatch_summary(message: str) -> str:
    """model-signing's diff, without the digests: which files were changed, added or missing."""
    parts = [f"changed: {', '.join(names)}"] if (names := re.findall(r"Hash mismatch for \\*'([^'\\]+)", message)) \
        else []
    for label, pattern in (("added", r"Extra files found in model [^:]*: ([^'\"\]\\]+)"),
                           ("missing", r"Missing files in model [^:]*: ([^'\"\]\\]+)")):
        found = re.search(pattern, message)
        if found:
            parts.append(f"{label}: {found.group(1).strip()}")
    return safejson.printable("; ".join(parts) or message, 300)


def _signed_digest(sig_bytes: bytes, name: str) -> str | None:
    """The SHA-256 the signature's statement gives for the file ``name`` (None if it lists none)."""
    import base64

    try:
        envelope = safejson.loads(sig_bytes, "bundle signature", max_depth=16)["dsseEnvelope"]
        statement = safejson.loads(base64.b64decode(envelope["payload"], validate=True), "signature payload",
                                   max_depth=16)
        for res in statement["predicate"]["resources"]:
            if res.get("name") == name and res.get("algorithm") == "sha256" and isinstance(res.get("digest"), str):
                return res["digest"].lower()
    except (KeyError, TypeError, ValueError, AttributeError, UserError):
        return None
    return None


def verify_bundle(folder: str | Path, store: TrustStore | None = None) -> SignatureStatus:
    """The signature verdict of the bundle in ``folder`` against ``store`` (default trust store)."""
    folder = Path(folder)
    store = trust_store() if store is None else store
    where = str(store.folder) if store.folder else None
    sig = folder / SIGNATURE_FILE
    if not sig.exists():
        return SignatureStatus("unsigned", f"no {SIGNATURE_FILE}", trust_store=where)
    try:
        kid = _signature_key_id(sig)
    except UserError as exc:
        return SignatureStatus("tampered", f"signature unreadable: {exc}", trust_store=where)
    if kid not in store.keys:
        return SignatureStatus("untrusted", f"key {kid[:16]} is not in the trust store {where or '(none)'}",
                               key_id=kid, trust_store=where)
    name, path = store.keys[kid]
    from cryptography.exceptions import InvalidSignature
    from model_signing import verifying

    # Read the signature once: the library verifies a private copy of these bytes, and the
    # manifest digest is taken from the same bytes (a model.sig swapped meanwhile changes nothing).
    try:
        sig_bytes = safejson.read_bytes(sig, max_bytes=MAX_SIGNATURE_BYTES, what="bundle signature")
    except UserError as exc:
        return SignatureStatus("tampered", f"signature unreadable: {exc}", name, kid, where)
    tmpdir = tempfile.mkdtemp(prefix="bundle-sig-")
    private_sig = Path(tmpdir) / SIGNATURE_FILE
    private_sig.write_bytes(sig_bytes)
    try:
        # model-signing prints compatibility warnings on stdout; keep stdout for our own output.
        with contextlib.redirect_stdout(io.StringIO()):
            verifying.Config().use_elliptic_key_verifier(public_key=path).verify(folder, private_sig)
    except InvalidSignature:
        return SignatureStatus("tampered", "the signature does not match its signed content", name, kid, where)
    except ValueError as exc:
        text = str(exc)
        reason = _mismatch_summary(text) if text.startswith("Signature mismatch") else safejson.printable(text, 200)
        return SignatureStatus("tampered", reason, name, kid, where)
    except Exception as exc:  # a malformed envelope: the library's own parse errors are many
        log.debug("signature of %s failed to verify", folder, exc_info=True)
        return SignatureStatus("tampered", f"signature unreadable ({type(exc).__name__})", name, kid, where)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    digest = _signed_digest(sig_bytes, "manifest.json")
    if digest is None:
        return SignatureStatus("tampered", "the signature does not cover manifest.json", name, kid, where)
    return SignatureStatus("verified", "", name, kid, where, manifest_sha256=digest)


def enforce(status: SignatureStatus, folder: str | Path, require_signed: bool) -> None:
    """Refuse a tampered bundle always; an unsigned or untrusted one under the site policy."""
    if status.verdict == "tampered":
        raise UserError(f"{folder}: bundle signature check failed: tampered ({status.detail}); refused")
    if require_signed and status.verdict != "verified":
        raise UserError(f"{folder}: bundle is {status.verdict} ({status.detail}); site policy accepts signed "
                        f"bundles only (--require-signed / {ENV_REQUIRE_SIGNED})")


def load_signing_key(private_key: str | Path, password: str | None = None) -> Any:
    """The EC private key in a PEM file (checked: curve, password); UserError naming the file otherwise.

    ``password`` decrypts an encrypted key (default: ``ULTRASOUND_READER_SIGNING_KEY_PASSWORD``).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private_key = Path(private_key).expanduser()
    if password is None:
        password = os.environ.get(ENV_SIGNING_KEY_PASSWORD)
    raw = safejson.read_bytes(private_key, max_bytes=MAX_KEY_BYTES, what="signing key")
    try:
        key = serialization.load_pem_private_key(raw, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        text = str(exc).lower()
        reason = "wrong or missing password" if "password" in text or "encrypt" in text else "not a PEM private key"
        raise UserError(f"{private_key}: cannot use as a signing key ({reason})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in (
            "secp256r1", "secp384r1", "secp521r1"):
        raise UserError(f"{private_key}: not an elliptic-curve P-256/P-384/P-521 private key")
    return key


def sign_bundle(folder: str | Path, private_key: str | Path, password: str | None = None) -> str:
    """Sign the bundle in ``folder`` with a PEM EC private key; writes ``model.sig``; returns the key id."""
    from model_signing import hashing, signing

    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise UserError(f"{folder}: not a model bundle (no manifest.json); nothing signed")
    if password is None:
        password = os.environ.get(ENV_SIGNING_KEY_PASSWORD)
    key = load_signing_key(private_key, password)
    sig = folder / SIGNATURE_FILE
    sig.unlink(missing_ok=True)
    hashing_config = hashing.Config().set_ignored_paths(paths=[SIGNATURE_FILE])
    signing.Config().use_elliptic_key_signer(private_key=Path(private_key).expanduser(),
                                             password=password.encode() if password else None) \
        .set_hashing_config(hashing_config).sign(folder, sig)
    return key_id(key.public_key())


def signing_key_from_env() -> Path | None:
    """``ULTRASOUND_READER_SIGNING_KEY`` as a path, if set."""
    value = os.environ.get(ENV_SIGNING_KEY, "").strip()
    return Path(value) if value else None
