"""``ultrasound-reader bench``: the speed benchmarks.

Each layer owns its benchmarks in a ``bench`` module exposing
``run(quick: bool) -> dict`` (figures plus the baseline measured in the same run,
so results read as ratios on a noisy machine). This module only dispatches and
prints them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

SUITES: dict[str, tuple[str, str]] = {
    "dicom": ("ultrasound_reader.dicom.bench", "cine opening and frame decoding vs pydicom's whole-file decode"),
    "viewer": ("ultrasound_reader.gui.bench", "first frame drawn and playback in the viewer (offscreen Qt)"),
    "ai": ("ultrasound_reader.ai.bench", "FLL and soft-tissue analysis with Grad-CAM vs a naive baseline"),
    "stats": ("ultrasound_reader.stats.bench", "fast DeLong vs the naive O(n^2) computation"),
    "phantom": ("ultrasound_reader.phantom.bench", "phantom case generation vs writing the files alone"),
    "pacs": ("ultrasound_reader.dicom.pacs.bench", "PACS round trip (send, query, retrieve, open) vs a local copy"),
    "onnx": ("ultrasound_reader.ai.onnx_bench", "analysis on ONNX Runtime vs torch eager, same bundle, 2 threads"),
    "study": ("ultrasound_reader.study.bench", "reader-study answer commit latency, SQLite synchronous FULL vs OFF"),
    "startup": ("ultrasound_reader.startup_bench", "CLI start-up (inspect, --version) vs a bare import pydicom"),
    "gui-startup": ("ultrasound_reader.gui.cold_start_bench", "GUI cold start: window, first image vs a bare Qt window"),
    "imageops": ("ultrasound_reader.imageops_bench", "numpy image ops of the reading path vs the OpenCV calls they replace"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suites", nargs="*", metavar="SUITE",
                   help=f"which to run (default: all available): {', '.join(SUITES)}")
    p.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", nargs="?", const="-", default=None, metavar="FILE",
                   help="print the results as the README's Markdown table (figure, ours, baseline, ratio), "
                   "or write it between the bench-table markers of FILE")


def _available() -> dict[str, object]:
    """Suite -> its module; or the UserError saying why the packaged application cannot run it."""
    from ultrasound_reader.errors import left_out_of_packaged_app

    out: dict[str, object] = {}
    for name, (module_name, _) in SUITES.items():
        try:
            out[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            left_out = left_out_of_packaged_app(exc)
            if left_out is not None:
                out[name] = left_out
            elif not (exc.name or "").startswith("ultrasound_reader"):
                raise
    return out


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader.errors import UserError

    found = _available()
    available = {name: m for name, m in found.items() if not isinstance(m, UserError)}
    names = args.suites or list(available)
    for name in names:
        if isinstance(found.get(name), UserError):
            raise UserError(f"{name}: {found[name]}")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UserError(f"unknown or unavailable benchmark suite(s): {', '.join(unknown)} "
                        f"(available: {', '.join(available) or 'none'})")
    results: dict[str, object] = {}
    failures: dict[str, str] = {}
    markdown = getattr(args, "markdown", None)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else None
    for name in names:
        t0 = time.perf_counter()
        try:
            results[name] = available[name].run(quick=args.quick)  # type: ignore[attr-defined]
        except Exception as exc:
            if markdown is None:
                raise
            # the table names a suite that failed, with why, and the others still run
            failures[name] = f"failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            continue
        results[name]["wall_s"] = round(time.perf_counter() - t0, 3)  # type: ignore[index]
    if markdown is not None:
        from pathlib import Path

        from ultrasound_reader import bench_table

        command = " ".join(["ultrasound-reader bench", *args.suites, *(["--quick"] if args.quick else []),
                            "--markdown"] + ([markdown] if markdown != "-" else []))
        table = bench_table.markdown(results, failures, command, load=load)
        if markdown == "-":
            print(table, end="")
        else:
            bench_table.replace_block(Path(markdown), table)
            print(f"wrote the benchmark table into {markdown}")
        for name, why in failures.items():  # an internal error: said once per suite, exit 2
            print(f"ultrasound-reader bench: {name} {why}", file=sys.stderr)
        return 2 if failures else 0
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, figures in results.items():
            print(f"== {name}: {SUITES[name][1]}")
            for key, value in figures.items():  # type: ignore[union-attr]
                print(f"  {key}: {value}")
    return 0
