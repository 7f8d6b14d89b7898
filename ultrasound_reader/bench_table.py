"""The README's benchmark table: ``ultrasound-reader bench --quick --markdown README.md``.

Turns the suites' results (each suite's own keys, see its ``bench`` module) into one
Markdown table, figure / ours / baseline / ratio, with the date, the machine and the
command it came from, and writes it between the ``<!-- bench-table:start -->`` and
``<!-- bench-table:end -->`` lines of a file (or prints it). Every ratio is ours over
the baseline measured in the same run, both times, so lower is better. A figure whose
keys a suite did not report is left out, and a suite that failed or skipped is named
under the table with its reason, never filled in.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ultrasound_reader.errors import UserError

START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"

Getter = Callable[[Mapping[str, Any]], float]


def _key(path: str) -> Getter:
    def get(result: Mapping[str, Any]) -> float:
        value: Any = result
        for part in path.split("/"):
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise KeyError(path)
        return float(value)

    return get


def _ms_per_frame(fps_path: str) -> Getter:
    fps = _key(fps_path)
    return lambda result: 1000.0 / fps(result)


@dataclass(frozen=True)
class Row:
    figure: str
    unit: str
    ours: Getter
    baseline: Getter
    baseline_name: str


def _cine_rows(prefix: str, first_key: str, fps_key: str, what: str) -> list[Row]:
    rows = []
    for name, label in (("jpeg_ybr422", "JPEG 4:2:2 cine"), ("uncompressed_rgb", "uncompressed RGB cine")):
        rows += [
            Row(f"{what}: open to first frame, {label}", "ms", _key(f"{name}/{first_key}"),
                _key(f"{name}/naive_whole_file_ms"), "pydicom whole-file decode"),
            Row(f"{what}: stepping, per frame, {label}", "ms", _ms_per_frame(f"{name}/{fps_key}"),
                _key(f"{name}/naive_ms_per_frame") if prefix == "dicom"
                else (lambda r, n=name: _key(f"{n}/naive_whole_file_ms")(r) / _key("frames")(r)),
                "pydicom whole-file decode / frames"),
        ]
    return rows


def _ai_rows(result: Mapping[str, Any]) -> list[Row]:
    rows = []
    for name, figures in result.items():
        if isinstance(figures, Mapping) and "analysis_with_cams_s" in figures:
            label = f"analysis + {figures.get('cams', '?')} Grad-CAMs, {name}"
            rows += [
                Row(label, "s", _key(f"{name}/analysis_with_cams_s"),
                    _key(f"{name}/naive_one_by_one_autograd_cam_s"), "one image at a time, autograd CAMs"),
                Row(label, "s", _key(f"{name}/analysis_with_cams_s"),
                    _key(f"{name}/reference_resnet18_b8_224_forward_s"), "ResNet-18 forward, batch 8 at 224"),
            ]
    return rows


def _onnx_rows(result: Mapping[str, Any]) -> list[Row]:
    return [Row(f"analysis + {figures.get('cams', '?')} Grad-CAMs on ONNX Runtime, {result.get('threads', '?')} threads, "
                f"{name}", "s", _key(f"{name}/onnxruntime_s"), _key(f"{name}/torch_eager_s"),
                "torch eager, same bundle and threads")
            for name, figures in result.items() if isinstance(figures, Mapping) and "onnxruntime_s" in figures]


def _pacs_rows() -> list[Row]:
    return [Row(f"PACS round trip (send, query, retrieve, open), {route}", "s", _key(f"{key}_total_s"),
                _key("baseline_local_copy_open_s"), "local copy + open")
            for route, key in (("DIMSE C-GET", "c-get"), ("DIMSE C-MOVE", "c-move"), ("DICOMweb", "dicomweb"))]


def _progressive_rows(prefix: str) -> list[Row]:
    """Progressive soft-tissue results (gui/analysis_bench.progressive) vs everything shown at the end."""
    base = "torch, window's threads, everything shown at the end"
    net = "soft tissue, 6 ConvNeXt-T models × 2 images at 470×280"
    return [Row(f"{net}: {what}", unit, _key(f"{prefix}/ours/{key}"), _key(f"{prefix}/baseline/{key}"), base)
            for what, unit, key in (("Analyse to first output on screen", "s", "first_output_shown_s"),
                                    ("Analyse to whole cascade on screen", "s", "cascade_shown_s"),
                                    ("longest GUI stall during the analysis", "ms", "longest_stall_ms"))]


def _imageops_rows(result: Mapping[str, Any]) -> list[Row]:
    """The reading path's numpy ports against the OpenCV calls they replace (same run, same inputs)."""
    rows = []
    for key, label in (("area_300x300x3_to_224", "resize AREA, AI crop 300×300×3 → 224"),
                       ("linear_150x150x3_to_224", "resize LINEAR, AI crop 150×150×3 → 224"),
                       ("linear_7x7_f32_to_300", "resize LINEAR, Grad-CAM 7×7 float → 300"),
                       ("thumbnail_600x800x3_to_128", "thumbnail 600×800×3 → 128"),
                       ("lut_600x800x3", "window/level LUT, 600×800×3 frame")):
        entry = result.get(key)
        if not isinstance(entry, Mapping):
            continue
        same = "output identical" if entry.get("identical") is True else "OUTPUT DIFFERS"
        rows.append(Row(f"{label} (numpy port; {same})", "ms", _key(f"{key}/ours_ms"), _key(f"{key}/cv2_ms"),
                        "the OpenCV call it replaces"))
    return rows


# suite -> its rows (a callable when the rows depend on what the suite reported)
ROWS: dict[str, list[Row] | Callable[[Mapping[str, Any]], list[Row]]] = {
    "startup": [
        Row("`inspect` on the demo cine (process start to exit)", "s", _key("inspect_s"),
            _key("baseline_import_pydicom_s"), "`python -c \"import pydicom\"`"),
        Row("`inspect`, every sub-command imported (the CLI before lazy imports)", "s",
            _key("inspect_eager_s"), _key("baseline_import_pydicom_s"), "`python -c \"import pydicom\"`"),
        Row("`--version`", "s", _key("version_s"), _key("baseline_import_pydicom_s"),
            "`python -c \"import pydicom\"`"),
    ],
    "gui-startup": [
        Row("`ultrasound-reader` (demo): window on screen", "s", _key("window_s"), _key("bare_window_s"),
            "bare PySide6 `QMainWindow` on screen"),
        Row("`ultrasound-reader` (demo): first image drawn", "s", _key("image_s"), _key("bare_window_s"),
            "bare PySide6 `QMainWindow` on screen"),
        Row("window on screen, whole window built before showing (before)", "s", _key("eager_window_s"),
            _key("bare_window_s"), "bare PySide6 `QMainWindow` on screen"),
        Row("first image drawn, whole window built before showing (before)", "s", _key("eager_image_s"),
            _key("bare_window_s"), "bare PySide6 `QMainWindow` on screen"),
        Row("PyInstaller app (packaging/build.sh): window on screen", "s", _key("frozen_window_s"),
            _key("bare_window_s"), "bare PySide6 `QMainWindow` on screen"),
        Row("PyInstaller app (packaging/build.sh): first image drawn", "s", _key("frozen_image_s"),
            _key("bare_window_s"), "bare PySide6 `QMainWindow` on screen"),
        Row("imports alone: PySide6, numpy, pyqtgraph, pydicom (the built viewer's floor)", "s",
            _key("libraries_s"), _key("bare_window_s"), "bare PySide6 `QMainWindow` on screen"),
    ],
    "dicom": _cine_rows("dicom", "open_to_first_frame_ms", "stepping_fps", "decode"),
    "viewer": _cine_rows("viewer", "open_to_first_frame_drawn_ms", "stepping_drawn_fps", "viewer, drawn")
    + _progressive_rows("analysis/progressive"),
    "ai": _ai_rows,
    "onnx": _onnx_rows,
    "stats": [Row("DeLong AUC variance, n = 10,000", "s", _key("fast_delong_s"), _key("naive_on2_s"),
                  "naive O(n²) DeLong")],
    "phantom": [Row("phantom liver case (CPU)", "s", _key("liver_case_cpu_s"), _key("baseline_write_only_cpu_s"),
                    "writing the same frames only")],
    "pacs": lambda result: _pacs_rows(),
    "imageops": _imageops_rows,
    "study": [
        Row("reader-study answer commit, p50", "ms", _key("full_p50_ms"), _key("off_p50_ms"),
            "SQLite synchronous OFF"),
        Row("reader-study answer commit, p99", "ms", _key("full_p99_ms"), _key("off_p99_ms"),
            "SQLite synchronous OFF"),
    ],
}


def _fmt(value: float) -> str:
    """Three significant figures at most, no trailing point (737 ms, 24.6 ms, 0.0764 ms)."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:#.3g}" if value > 0 else "0"


def _ratio(ours: float, base: float) -> str:
    return f"{_fmt(ours / base)}×"


def machine() -> str:
    """One line: CPU model, cores, memory, OS, Python (no host name)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def markdown(results: Mapping[str, Any], failures: Mapping[str, str], command: str,
             when: _dt.datetime | None = None, load: str | None = None) -> str:
    """The table (with its header lines) for these suite results."""
    when = when or _dt.datetime.now(_dt.timezone.utc)
    lines = [f"Measured {when:%Y-%m-%d %H:%M} UTC with `{command}` on {machine()}"
             + (f" (load average {load} at the start)" if load else "") + ".",
             "Ratio = ours / baseline, both measured in the same run (lower is better).", "",
             "| suite | figure | ours | baseline | ratio |", "|---|---|---|---|---|"]
    notes = dict(failures)
    for suite, result in results.items():
        spec = ROWS.get(suite)
        if spec is None:
            notes[suite] = "no table rows defined for this suite"
            continue
        if isinstance(result, Mapping) and "skipped" in result:
            notes[suite] = f"skipped: {result['skipped']}"
            continue
        rows = spec(result) if callable(spec) else spec
        written = 0
        for row in rows:
            try:
                ours, base = row.ours(result), row.baseline(result)
            except (KeyError, TypeError, ZeroDivisionError):
                continue
            if base <= 0:
                continue
            lines.append(f"| {suite} | {row.figure} | {_fmt(ours)} {row.unit} | "
                         f"{_fmt(base)} {row.unit} ({row.baseline_name}) | {_ratio(ours, base)} |")
            written += 1
        if not written:
            notes[suite] = "reported none of the figures this table knows"
    for suite, why in notes.items():
        lines.append("")
        lines.append(f"- `{suite}` not in the table: {why}")
    return "\n".join(lines) + "\n"


def replace_block(path: Path, table: str) -> None:
    """Write ``table`` between the START and END marker lines of ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise UserError(f"{path}: needs exactly one '{START}' line followed by one '{END}' line")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")
