"""How a loaded bundle's signature verdict is said in the window.

The verdict itself is :class:`ultrasound_reader.ai.signing.SignatureStatus`
(``bundle.signature``: verified / unsigned / untrusted / tampered, with a reason).
The results panel's model line and Help ▸ Model Card say it with these words; a
tampered bundle, or one the "signed bundles only" policy refuses, never loads (the
loader refuses it), so the window shows that refusal as an error instead.
"""

from __future__ import annotations

from typing import Any

from ultrasound_reader.gui import theme

MARKS = {"verified": "✔", "unsigned": "⚠", "untrusted": "⚠", "tampered": "✖"}


def status_of(bundle: Any) -> Any:
    """The bundle's SignatureStatus, or None when it was loaded without a signature check."""
    status = getattr(bundle, "signature", None)
    return status if status is not None and hasattr(status, "verdict") else None


def short(bundle: Any) -> str:
    """The verdict with a short reason, for a one-line place: '✔ verified (key demo)',
    '⚠ unsigned (no model.sig)', '⚠ untrusted (key not in the trust store)', or 'signature not checked'."""
    status = status_of(bundle)
    if status is None:
        return "signature not checked"
    reason = {"verified": f"key {status.key_name}" if status.key_name else "",
              "unsigned": status.detail or "no signature",
              "untrusted": "key not in the trust store",
              "tampered": "changed after signing"}.get(status.verdict, status.detail)
    return f"{MARKS.get(status.verdict, '?')} {status.verdict}" + (f" ({reason})" if reason else "")


def tooltip(bundle: Any) -> str:
    """The full verdict line and the trust store it was judged against."""
    status = status_of(bundle)
    if status is None:
        return "The bundle was loaded without a signature check"
    where = f"\nTrust store: {status.trust_store}" if status.trust_store else ""
    return f"Signature: {status.text}{where}"


def colour(bundle: Any) -> str:
    status = status_of(bundle)
    if status is None or status.verdict in ("unsigned", "untrusted"):
        return theme.ACCENT
    return theme.ERROR if status.verdict == "tampered" else theme.TEXT_DIM


def card_header(bundle: Any) -> str:
    """Markdown put above a model card: the verdict, its reason, the key and the trust store."""
    status = status_of(bundle)
    if status is None:
        return "> **Signature:** not checked\n\n"
    lines = [f"> **Signature: {status.verdict}** — {status.text}"]
    if status.key_name:
        lines.append(f"> Signed with key `{status.key_name}`")
    elif status.key_id:
        lines.append(f"> Signing key id `{status.key_id[:16]}…` (not in the trust store)")
    if status.trust_store:
        lines.append(f"> Trust store: `{status.trust_store}`")
    if status.verdict != "verified":
        lines.append("> The model's files cannot be shown to come from a trusted signer: "
                     "a site may refuse it (signed bundles only).")
    return "\n>\n".join(lines) + "\n\n"
