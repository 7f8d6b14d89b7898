"""``ultrasound-reader evaluate PRED.csv --truth COL --score COL [...]``: the papers' statistics."""

from __future__ import annotations

import argparse
import json

from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", metavar="PRED.csv", help="one row per case: truth and score columns")
    p.add_argument("--truth", required=True, metavar="COL", help="0/1 truth column (1 = positive, e.g. malignant)")
    p.add_argument("--score", required=True, action="append", metavar="COL",
                   help="score column, higher = more likely positive; repeat to compare scores")
    p.add_argument("--by", action="append", default=[], metavar="COL",
                   help="also report within strata of this column (repeatable)")
    p.add_argument("--size-band", metavar="COL",
                   help="stratify by the FLL size bands of this column of maximal diameters in cm")
    p.add_argument("--boot", type=int, default=2000, metavar="B",
                   help="bootstrap replicates for the AUC and F1 CIs (default 2000; 0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--conf-level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plots", metavar="DIR", help="write roc.png, calibration.png, decision_curve.png here")


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.stats.evaluate import evaluate_scores, format_report, write_plots
    from ultrasound_reader.stats.inputs import library_warnings, read_table
    from ultrasound_reader.stats.jsonutil import jsonable

    if args.boot < 0:
        raise UserError("--boot must be 0 or more")
    if not 0 < args.conf_level < 1:
        raise UserError("--conf-level must lie between 0 and 1")
    df = read_table(args.table)
    with library_warnings() as caught:
        result = evaluate_scores(df, args.truth, args.score, args.by, args.size_band, args.boot, args.seed,
                                 args.conf_level, band=bool(args.plots), source=args.table)
        if args.plots:
            result["plots"] = [str(p) for p in write_plots(result, args.plots)]
    result["warnings"] = caught
    if args.json:
        print(json.dumps(jsonable(result), allow_nan=False))
    else:
        print(format_report(result))
        for w in caught:
            print(f"warning: {w}")
        for p in result.get("plots", []):
            print(f"wrote {p}")
    return 0
