"""``ultrasound-reader inspect FILE [--json] [--frame N --out PNG]``.

Prints what a reader needs to know before trusting a file: what it is, how it is
encoded, how many frames at what rate, and whether (and where) it is calibrated.
Only the header is read, plus the one frame asked for with ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ultrasound_reader.dicom.calibration import describe
from ultrasound_reader.dicom.cine import Cine, open_cine
from ultrasound_reader.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="DICOM file (or PNG/JPEG image)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--frame", type=int, default=None, metavar="N", help="frame to write with --out (default 0)")
    p.add_argument("--out", type=Path, default=None, metavar="PNG", help="write the frame as a PNG file")


def summary(cine: Cine) -> dict[str, Any]:
    """The inspect report as a dict (the --json output)."""
    md = dict(cine.metadata)
    md["path"] = str(cine.path)
    md["frames"] = cine.n_frames
    md["calibrated"] = cine.calibration is not None
    md["calibration_text"] = describe(cine.calibration)
    return md


def _text(info: dict[str, Any]) -> str:
    def v(key: str) -> Any:
        value = info.get(key)
        return "-" if value in (None, "") else value

    lines = [
        f"file:            {info['path']}",
        f"format:          {v('format')}",
        f"modality:        {v('modality')}",
        f"SOP class:       {v('sop_class')}",
        f"transfer syntax: {v('transfer_syntax')}",
        f"photometric:     {v('photometric')}",
        f"size:            {v('columns')} x {v('rows')} (columns x rows)",
        f"frames:          {info['frames']}",
        f"bits:            {v('bits_stored')} stored / {v('bits_allocated')} allocated",
        f"display:         {v('display')}",
    ]
    if info.get("fps"):
        lines.append(f"frame time:      {info['frame_time_ms']:.3f} ms ({info['fps']:.2f} fps, "
                     f"from {info['timing_source']})")
    else:
        lines.append("frame time:      - (the file gives no frame rate)")
    lines.append(f"calibration:     {info['calibration_text']}")
    cal = info.get("calibration")
    for k, region in enumerate((cal or {}).get("regions", [])):
        mm = region["mm_per_pixel"]
        scale = f"{mm[0]:.5g} x {mm[1]:.5g} mm/px" if mm else "no mm/px (axes are not both lengths)"
        lines.append(f"  region {k}: {region['data_type']} ({region['spatial_format']}) bounds "
                     f"{region['bounds']}, delta {region['physical_delta_x']:.6g} {region['units_x']} x "
                     f"{region['physical_delta_y']:.6g} {region['units_y']}: {scale}")
    lines.append(f"patient:         sex {v('patient_sex')}, age {v('patient_age')}")
    for key, label in (("study_description", "study"), ("series_description", "series"),
                       ("manufacturer", "manufacturer")):
        if info.get(key):
            lines.append(f"{label + ':':<17}{info[key]}")
    return "\n".join(lines)


def _write_png(cine: Cine, index: int, out: Path) -> None:
    from ultrasound_reader.dicom.still import write_png

    if not 0 <= index < cine.n_frames:
        raise UserError(f"--frame {index}: out of range, {cine.path} has frames 0..{cine.n_frames - 1}")
    img = cine.frame(index)
    if out.parent and not out.parent.exists():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    write_png(out.with_suffix(".png") if out.suffix.lower() != ".png" else out, img)


def run(args: argparse.Namespace) -> int:
    if args.frame is not None and args.out is None:
        raise UserError("--frame needs --out PNG (where to write the frame)")
    with open_cine(args.file, cache_mib=64) as cine:
        info = summary(cine)
        if args.out is not None:
            index = 0 if args.frame is None else args.frame
            _write_png(cine, index, args.out)
            info["written"] = {"frame": index, "path": str(args.out)}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(_text(info))
        if "written" in info:
            print(f"wrote frame {info['written']['frame']} to {info['written']['path']}")
    return 0
