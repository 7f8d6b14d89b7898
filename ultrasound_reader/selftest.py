"""``ultrasound-reader --self-test`` (also ``ultrasound-reader self-test``): is this installation whole?

Headless (no window): opens every bundled demo case (``resources/demo/*/*/case.json``),
loads the bundled demo bundle of its task with the installation's runtime (ONNX Runtime
in the frozen application, which has no torch; ``choose_runtime`` elsewhere), requires
the bundle's signature to be *verified*, analyses the case and compares every output
probability with the reference: the probabilities the source install (torch) computed
at build time, stored in the build as ``selftest/reference.json`` (found like
``resources/``; ``--reference FILE`` or ``ULTRASOUND_READER_SELFTEST_REFERENCE``
overrides). Outputs must agree within ``TOLERANCE`` (absolute).

Without a stored reference (a source install) the reference is computed here with
torch first, so the check compares this installation's runtime with torch in the same
run. ``--write-reference FILE`` writes the reference JSON instead of checking (the
build script runs it in the source install).

Prints a short report; exit 0 when everything agrees, 1 on the first mismatch or
unverified bundle (one line naming the case, the output and both values).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ultrasound_reader.errors import UserError

TOLERANCE = 1e-5
REFERENCE_ENV = "ULTRASOUND_READER_SELFTEST_REFERENCE"
REFERENCE_NAME = "reference.json"
DEMO_TASKS = {"liver": "liver-fll", "soft-tissue": "soft-tissue"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference", metavar="JSON",
                   help=f"reference probabilities (default: ${REFERENCE_ENV}, else the build's "
                        f"selftest/{REFERENCE_NAME}, else computed now with torch)")
    p.add_argument("--write-reference", metavar="JSON",
                   help="compute the probabilities (torch runtime by default) and write them as the reference")
    p.add_argument("--runtime", choices=("auto", "torch", "onnx"), default=None,
                   help="runtime to test (default: $ULTRASOUND_READER_RUNTIME, else torch when installed, else onnx)")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="CPU threads (default 2)")


def default_reference() -> Path | None:
    """The stored reference: the env variable, else ``selftest/reference.json`` of the build (None if absent)."""
    env = os.environ.get(REFERENCE_ENV)
    if env:
        return Path(env)
    from ultrasound_reader.paths import _bundled

    path = _bundled("selftest") / REFERENCE_NAME
    return path if path.is_file() else None


def demo_cases() -> list[tuple[str, Path]]:
    """(task, case.json) of every bundled demo case, liver first."""
    from ultrasound_reader.paths import resources_dir

    root = resources_dir() / "demo"
    found = [(task, f) for folder, task in DEMO_TASKS.items() for f in sorted((root / folder).glob("*/case.json"))]
    missing = [folder for folder, task in DEMO_TASKS.items() if not any(t == task for t, _ in found)]
    if missing:
        raise UserError(f"no demo case for {', '.join(missing)} in {root} (incomplete installation)")
    return found


def analyse_demo(runtime: str | None, threads: int = 2) -> dict[str, Any]:
    """Analyse every demo case: {"runtime", "bundles": {name: verdict}, "cases": {case_id: {...}}}."""
    from ultrasound_reader.ai.analyzer import Analyzer
    from ultrasound_reader.ai.cli import default_bundle
    from ultrasound_reader.ai.onnx_runtime import choose_runtime, load_for_runtime
    from ultrasound_reader.case import Case

    chosen = choose_runtime(runtime)
    analyzers: dict[str, Any] = {}
    out: dict[str, Any] = {"runtime": chosen, "bundles": {}, "cases": {}}
    for task, case_file in demo_cases():
        if task not in analyzers:
            folder = default_bundle(task)
            bundle = load_for_runtime(folder, task, runtime=chosen, threads=threads)
            verdict = bundle.signature.verdict if bundle.signature else "unsigned"
            out["bundles"][bundle.name] = {"version": bundle.version, "signature": verdict,
                                           "key": getattr(bundle.signature, "key_name", None)}
            if verdict != "verified":
                raise UserError(f"bundle {bundle.name} ({folder}): signature {verdict}, not verified")
            analyzers[task] = Analyzer(bundle, threads=threads, cam=True)
        a = analyzers[task]
        t0 = time.perf_counter()
        r = a.run(Case.load(case_file))
        out["cases"][r.case_id] = {"task": task, "bundle": a.bundle.name,
                                   "probabilities": dict(r.probabilities),
                                   "seconds": round(time.perf_counter() - t0, 3)}
    return out


def compare(got: dict[str, Any], ref: dict[str, Any], tol: float = TOLERANCE) -> tuple[float, str | None]:
    """(largest absolute difference, first mismatch line or None)."""
    worst = 0.0
    for case_id, want in ref["cases"].items():
        have = got["cases"].get(case_id)
        if have is None:
            return worst, f"case {case_id}: in the reference, not analysed here"
        for name, p_ref in want["probabilities"].items():
            p = have["probabilities"].get(name)
            if p is None:
                return worst, f"case {case_id} output {name}: missing here, {p_ref:.8f} in the reference"
            d = abs(float(p) - float(p_ref))
            worst = max(worst, d)
            if not d <= tol:
                return worst, (f"case {case_id} output {name}: p = {p:.8f} here, {p_ref:.8f} in the reference "
                               f"(|difference| {d:.2e} > {tol:g})")
        extra = sorted(set(have["probabilities"]) - set(want["probabilities"]))
        if extra:
            return worst, f"case {case_id}: output(s) {', '.join(extra)} computed here, not in the reference"
    extra_cases = sorted(set(got["cases"]) - set(ref["cases"]))
    if extra_cases:
        return worst, f"case(s) {', '.join(extra_cases)} analysed here, not in the reference"
    return worst, None


def _read_reference(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the reference ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UserError(f"{path}: not a self-test reference (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), dict):
        raise UserError(f"{path}: not a self-test reference (no 'cases')")
    for case_id, case in data["cases"].items():
        probs = case.get("probabilities") if isinstance(case, dict) else None
        if not isinstance(probs, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in probs.values()):
            raise UserError(f"{path}: cases/{case_id}: not a self-test reference case "
                            "('probabilities' must map outputs to numbers in [0, 1])")
    return data


def run(args: argparse.Namespace) -> int:
    from ultrasound_reader import __version__
    from ultrasound_reader.paths import models_dir, resources_dir

    if args.threads < 1:
        raise UserError(f"--threads: must be >= 1, got {args.threads}")
    t0 = time.perf_counter()
    if args.write_reference:
        out_path = Path(args.write_reference)
        if not out_path.parent.is_dir():
            raise UserError(f"--write-reference: folder {out_path.parent} does not exist")
        ref = analyse_demo(args.runtime or "torch", args.threads)
        ref["tolerance"] = TOLERANCE
        out_path.write_text(json.dumps(ref, indent=2) + "\n", encoding="utf-8")
        print(f"self-test reference: {len(ref['cases'])} demo cases with {ref['runtime']} -> {out_path}")
        return 0
    frozen = bool(getattr(sys, "frozen", False))
    ref_path = Path(args.reference) if args.reference else default_reference()
    if ref_path is not None:
        ref = _read_reference(ref_path)
        ref_label = f"{ref_path} ({ref.get('runtime', '?')}, stored at build time)"
    elif frozen:
        raise UserError("no self-test reference in this build (selftest/reference.json is missing)")
    else:
        ref = analyse_demo("torch", args.threads)
        ref_label = "torch, computed now (no stored reference)"
    got = analyse_demo(args.runtime, args.threads)
    worst, mismatch = compare(got, ref)
    print(f"ultrasound-reader {__version__} self-test ({'frozen application' if frozen else 'source install'}, "
          f"Python {sys.version.split()[0]})")
    print(f"  resources: {resources_dir()}")
    print(f"  models:    {models_dir()}")
    print(f"  runtime:   {got['runtime']}   reference: {ref_label}")
    for name, b in got["bundles"].items():
        print(f"  bundle {name} {b['version']}: {b['signature']} (key {b['key']})")
    for case_id, c in got["cases"].items():
        probs = ", ".join(f"{k} {v:.6f}" for k, v in c["probabilities"].items())
        print(f"  {case_id} ({c['task']}, {c['seconds']:.2f} s): {probs}")
    print(f"  largest |difference| to the reference: {worst:.2e} (tolerance {TOLERANCE:g})")
    if mismatch:
        raise UserError(mismatch)
    torch_loaded = "torch" in sys.modules
    print(f"  torch imported: {'yes' if torch_loaded else 'no'}")
    print(f"self-test passed: {len(got['cases'])} demo cases in {time.perf_counter() - t0:.1f} s")
    return 0
