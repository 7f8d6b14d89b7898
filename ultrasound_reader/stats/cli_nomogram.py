"""``ultrasound-reader nomogram fit DATA.csv --outcome COL --predictors A,B,...``.

Fits the logistic model (optionally after univariable screening, as the FLL paper),
prints coefficients, ORs with Wald CIs and the rms-style nomogram tables, and can
write the nomogram spec (``Nomogram.to_dict()``) for a model bundle's manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="fit a logistic model and its nomogram",
                       description="fit a logistic model and its nomogram (rms conventions)")
    f.add_argument("table", metavar="DATA.csv", help="one row per case")
    f.add_argument("--outcome", required=True, metavar="COL", help="0/1 outcome column")
    f.add_argument("--predictors", required=True, metavar="A,B,...", help="comma-separated predictor columns")
    f.add_argument("--categorical", default="", metavar="A,...",
                   help="predictors to treat as categorical (dummy-coded against their lowest level)")
    f.add_argument("--screen", type=float, metavar="P",
                   help="keep only predictors with univariable p < P (e.g. 0.05) before the multivariable fit")
    f.add_argument("--spec-out", metavar="JSON", help="write the nomogram spec (for a bundle manifest) here")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--plot", metavar="PNG", help="draw the nomogram into this PNG file")


def _split(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.stats.inputs import library_warnings, read_table, require_columns
    from ultrasound_reader.stats.jsonutil import jsonable
    from ultrasound_reader.stats.logistic import fit_logistic, screen_and_fit
    from ultrasound_reader.stats.nomogram import Nomogram, datadist
    from ultrasound_reader.stats.texttable import aligned, number

    predictors = _split(args.predictors)
    categorical = _split(args.categorical)
    if not predictors:
        raise UserError("--predictors: no column named")
    stray = [c for c in categorical if c not in predictors]
    if stray:
        raise UserError(f"--categorical: {', '.join(stray)} not among --predictors")
    df = read_table(args.table)
    require_columns(df, [args.outcome, *predictors], args.table)
    with library_warnings() as caught:
        screening = None
        if args.screen is not None:
            if not 0 < args.screen <= 1:
                raise UserError("--screen must be a p-value threshold in (0, 1]")
            screening = screen_and_fit(df, args.outcome, predictors, categorical, args.screen)
            if screening.multivariable is None:
                raise UserError(f"no predictor reached univariable p < {args.screen}; nothing to fit")
            fit = screening.multivariable
        else:
            fit = fit_logistic(df, args.outcome, predictors, categorical)
        used = fit.predictors
        # datadist on the rows the model was fitted on (complete cases), as rms does
        rows = df.dropna(subset=[args.outcome, *used])
        nomo = Nomogram.from_fit(fit, datadist(rows, used, [c for c in categorical if c in used]))
        spec = nomo.to_dict()
        if args.spec_out:
            out = Path(args.spec_out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(jsonable(spec), indent=2, allow_nan=False) + "\n")
        if args.plot:
            from ultrasound_reader.stats.plots import plot_nomogram

            plot_nomogram(spec, args.plot)
    result = {"model": fit.to_dict(), "screening": None if screening is None else screening.to_dict(),
              "nomogram_tables": nomo.tables(), "nomogram": spec, "warnings": caught}
    if args.json:
        print(json.dumps(jsonable(result), allow_nan=False))
        return 0
    print(f"logistic regression of {fit.outcome} on {', '.join(fit.terms[1:])}: n = {fit.n} "
          f"({fit.n_events} events, {fit.n_missing} rows with missing values dropped)")
    if screening is not None:
        print(f"univariable screening (p < {screening.p_threshold}): "
              + ", ".join(f"{k} p={screening.univariable_p(k):.3g}" for k in screening.univariable)
              + f" -> selected {', '.join(screening.selected)}")
    level = f"{100 * fit.conf_level:g}%"
    rows = [[r["term"], number(r["coef"]), number(r["se"]), number(r["or"], 3),
             f"{number(r['or_ci_low'], 3)} to {number(r['or_ci_high'], 3)}", f"{r['p']:.4g}"]
            for r in fit.table()]
    print("\n".join(aligned(["term", "coef", "SE", "OR", f"{level} CI of OR", "p"], rows, indent="")))
    for w in fit.warnings:
        print(f"warning: {w}")
    for w in caught:
        print(f"warning: {w}")
    print()
    print(nomo.format_tables())
    if args.spec_out:
        print(f"wrote {args.spec_out}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
