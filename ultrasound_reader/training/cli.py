"""``ultrasound-reader train CONFIG.toml [--resume] [--json]``: train, validate and export a bundle.

The same command runs on one CPU, one GPU, or many GPUs / nodes under ``torchrun``
(``torchrun --nproc_per_node 4 -m ultrasound_reader train CONFIG.toml``); see
runtime.py. Progress goes to stderr; the result (human text, or one JSON object
with ``--json``) to stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG.toml",
                   help="training config (examples: ultrasound_reader/training/configs/*.toml)")
    p.add_argument("--resume", action="store_true", help="continue the run in the config's run folder "
                   "from its last checkpoints (finished stages are not retrained)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set data.root=/data/liver --set train.epochs=5 "
                        "(repeatable)")
    p.add_argument("--stop-after-epochs", type=int, default=None, metavar="N",
                   help="checkpoint and stop after N epochs of this invocation (for time-limited job slots); "
                        "continue with --resume")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object with the run summary")
    p.add_argument("--sign-key", metavar="KEY.pem",
                   help="sign the exported bundle with this EC private key (PEM; default "
                        "$ULTRASOUND_READER_SIGNING_KEY; password from $ULTRASOUND_READER_SIGNING_KEY_PASSWORD)")


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.errors import UserError
    from ultrasound_reader.training.config import load_config

    if args.stop_after_epochs is not None and args.stop_after_epochs < 1:
        raise UserError("--stop-after-epochs: must be >= 1")
    cfg = load_config(args.config, args.overrides)
    if args.sign_key:  # checked now, not after hours of training; the export reads it from the environment
        import os

        from ultrasound_reader.ai.signing import ENV_SIGNING_KEY, load_signing_key

        load_signing_key(args.sign_key)
        os.environ[ENV_SIGNING_KEY] = str(Path(args.sign_key).expanduser().resolve())
    from ultrasound_reader.training.run import train  # torch only after the config is known to be valid

    result = train(cfg, resume=args.resume, stop_after_epochs=args.stop_after_epochs, progress=not args.quiet)
    if "rank" in result:  # a non-zero rank of a distributed run: rank 0 reports
        return 0
    check = result.get("bundle_check")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return _check_status(check)
    if result.get("stopped"):
        print(f"{result['message']}; run folder {result['run_dir']}; continue with --resume")
        return 0
    print(f"run folder: {result['run_dir']}")
    print(f"bundle:     {result['bundle'] or 'not exported'}")
    for cohort, outputs in result["summary"].items():
        for name, row in outputs.items():
            auc = row.get("auc") or {}
            if auc.get("value") is None:
                continue
            sens = (row.get("sensitivity") or {}).get("value")
            spec = (row.get("specificity") or {}).get("value")
            ci = f" ({auc['ci_low']:.3f}-{auc['ci_high']:.3f})" if auc.get("ci_low") is not None else ""
            extra = "" if sens is None else f"  sensitivity {sens:.3f}  specificity {spec:.3f}"
            print(f"{cohort:>9} {name:>5}: n={row['n']:4d}  AUC {auc['value']:.3f}{ci}{extra}")
    if check and check.get("consistent"):
        print(f"bundle check: Analyzer on {len(check['cases'])} case(s), max |difference| "
              f"{check['max_abs_difference']:.2e} (consistent)")
    return _check_status(check)


def _check_status(check: dict | None) -> int:
    """Exit 2 when the exported bundle does not reproduce the run's own evaluation."""
    if check and not check.get("consistent", False):
        import sys

        print(f"ultrasound-reader train: internal error: the exported bundle does not reproduce the training "
              f"evaluation ({check.get('error') or check.get('max_abs_difference')}); see metrics.json",
              file=sys.stderr)
        return 2
    return 0
