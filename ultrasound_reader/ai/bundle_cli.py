"""``ultrasound-reader bundle verify DIR`` / ``bundle sign DIR --key KEY.pem``: bundle signatures.

``verify`` prints the signature verdict (verified / unsigned / untrusted / tampered,
see ai.signing) against the trust store; it exits 0 only when the bundle is verified,
else 1 with one line on stderr. ``sign`` writes ``model.sig`` with an EC private key
(PEM; password from ``ULTRASOUND_READER_SIGNING_KEY_PASSWORD``) after checking the
bundle loads, and prints the key id; the weights and manifest are not changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ultrasound_reader import safejson
from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    v = sub.add_parser("verify", help="check a bundle's signature against the trust store")
    v.add_argument("bundle", metavar="DIR", help="model bundle folder")
    v.add_argument("--trust-store", metavar="DIR", help="folder of trusted public keys (*.pub) (default: "
                   "$ULTRASOUND_READER_TRUST_STORE, else the bundled models/trust)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    s = sub.add_parser("sign", help="sign a bundle (writes DIR/model.sig)")
    s.add_argument("bundle", metavar="DIR", help="model bundle folder")
    s.add_argument("--key", required=True, metavar="KEY.pem", help="EC private key (P-256/384/521, PEM)")
    s.add_argument("--trust-store", metavar="DIR", help="trust store to report the new verdict against")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    e = sub.add_parser("export-onnx", help="write ONNX graphs of the trunks beside the weights (needs torch)")
    e.add_argument("bundle", metavar="DIR", help="model bundle folder (changed in place)")
    e.add_argument("--key", metavar="KEY.pem", help="EC private key to sign the changed bundle again")
    e.add_argument("--inline-weights", action="store_true",
                   help="put a float32 copy of the weights inside each graph (default: the graphs read them "
                        "from the bundle's safetensors)")
    e.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.ai import signing

    folder = Path(args.bundle).expanduser().resolve()
    if not (folder / "manifest.json").is_file():
        raise UserError(f"{folder}: not a model bundle (no manifest.json)")
    if args.action == "export-onnx":
        from ultrasound_reader.ai.onnx_runtime import export_onnx

        written = export_onnx(folder, key=args.key, weights="inline" if args.inline_weights else "safetensors")
        if args.json:
            print(safejson.dumps({"bundle": str(folder), "onnx": written, "signed": bool(args.key)}, indent=2))
        else:
            for f, h in written.items():
                print(f"{folder / f}  sha256 {h}")
            if not args.key:
                print(f"{folder}: manifest changed; sign it again (bundle sign {folder} --key KEY.pem)")
        return 0
    store = signing.trust_store(args.trust_store)
    out: dict[str, object] = {"bundle": str(folder)}
    if args.action == "sign":
        from ultrasound_reader.ai.onnx_runtime import choose_runtime, load_for_runtime

        # Only a bundle that loads (schema, hashes, weights) is worth a signature; an existing
        # signature is replaced, so a tampered one does not stop re-signing. The torch loader
        # where torch is installed (it also checks the weights fit the architecture), even when
        # the bundle carries ONNX graphs.
        (folder / signing.SIGNATURE_FILE).unlink(missing_ok=True)
        load_for_runtime(folder, runtime=choose_runtime(), trust_store=store, require_signed=False)
        out["key_id"] = signing.sign_bundle(folder, args.key)
    status = signing.verify_bundle(folder, store)
    out["signature"] = status.to_dict()
    if args.json:
        print(safejson.dumps(out, indent=2))
    else:
        if "key_id" in out:
            print(f"signed {folder} (key id {out['key_id']})")
        print(f"{folder}: {status.verdict} - {status.text}")
    if args.action == "verify" and not status.verified:
        print(f"ultrasound-reader bundle: error: {folder}: not verified ({status.verdict})", file=sys.stderr)
        return 1
    return 0
