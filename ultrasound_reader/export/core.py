"""Export a case's results: DICOM SR (TID 1500), secondary captures, a PDF report, image copies.

One :class:`Export` per case and analysis. De-identification is on by default: every
output is built from de-identified copies of the source headers, and every reference
to a source UID goes through the same :class:`Deidentifier`, so the SR's references,
the SCs' source references and de-identified image copies (``images``) all agree.
The case ID (free text a user typed) is replaced by the patient pseudonym.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ultrasound_reader.case import AnalysisResult, Case
from ultrasound_reader.errors import UserError


def is_demo(result: AnalysisResult | None, manifest: dict[str, Any] | None) -> bool:
    """Demo model in use: the result or the bundle's intended use says NOT FOR CLINICAL USE."""
    iu = (manifest or {}).get("intended_use") or {}
    return bool((result.not_for_clinical_use if result is not None else False)
                or iu.get("not_for_clinical_use", False))


def signature_status(bundle: Any) -> str:
    """The bundle's signature verdict as its short human line (``ai.signing.SignatureStatus.text``)."""
    status = getattr(bundle, "signature", None)
    return status.text if status is not None else "not checked"


@dataclass
class Outputs:
    sr: Path | None = None
    sc: list[Path] = field(default_factory=list)
    pdf: Path | None = None
    images: list[Path] = field(default_factory=list)
    deidentified: bool = True
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"sr": str(self.sr) if self.sr else None, "sc": [str(p) for p in self.sc],
                "pdf": str(self.pdf) if self.pdf else None, "images": [str(p) for p in self.images],
                "deidentified": self.deidentified, "warnings": self.warnings}


class Export:
    """Builds the outputs of one analysed case."""

    def __init__(self, case: Case, result: AnalysisResult | None, bundle: Any = None, *, deid: bool = True,
                 secret: bytes | None = None, dates: str = "shift") -> None:
        from ultrasound_reader.dicom.deid import Deidentifier

        self.case = case
        self.result = result
        self.bundle = bundle
        self.manifest: dict[str, Any] = dict(getattr(bundle, "manifest", None) or {})
        self.demo = is_demo(result, self.manifest) if (result or bundle) else True
        self.deid = (Deidentifier(secret=secret, dates=dates) if secret is not None else Deidentifier(dates=dates)) \
            if deid else None
        self.outputs = Outputs(deidentified=deid)
        self._headers: list[Any] | None = None

    # -- sources ---------------------------------------------------------------------------
    def source_headers(self) -> list[Any]:
        """Each case image's header, de-identified when exporting de-identified (cached)."""
        from ultrasound_reader.dicom.sr import load_source

        if self._headers is None:
            raw = [load_source(self.case.image_path(i)) for i in range(len(self.case.images))]
            if not raw:
                raise UserError(f"case {self.case.case_id}: no image to export")
            from ultrasound_reader.dicom.deid import Deidentifier

            self._patient_id = Deidentifier.patient_key(raw[0])
            self._headers = [self.deid.dataset(h) for h in raw] if self.deid else raw
            if self.deid:
                for w in self.deid.warnings:
                    self._warn(w)
        return self._headers

    def uid(self, value: str) -> str:
        return self.deid.uid(value) if self.deid else value

    def _warn(self, message: str) -> None:
        if message not in self.outputs.warnings:
            self.outputs.warnings.append(message)

    @property
    def case_label(self) -> str:
        """The case ID, or the patient pseudonym when de-identifying (a case ID is free text)."""
        if not self.deid:
            return self.case.case_id
        self.source_headers()
        return self.deid.pseudonym(self._patient_id)

    def _public_roi_ids(self) -> dict[str, str]:
        """ROI ID -> the ID written when de-identifying: ROIs are renumbered ``roi-1``, ...
        (an ROI ID is free text that may carry the case ID or a name)."""
        return {r.id: f"roi-{i + 1}" for i, r in enumerate(self.case.rois)}

    def _public_case(self) -> Case:
        """The case with renumbered ROI IDs when de-identifying."""
        if not self.deid:
            return self.case
        rois = [replace(r, id=f"roi-{i + 1}") for i, r in enumerate(self.case.rois)]
        return replace(self.case, case_id=self.case_label, rois=rois)

    def _public_result(self) -> AnalysisResult | None:
        """The result with the per-image rows pointing at the public ROI IDs."""
        r = self.result
        if r is None or not self.deid:
            return r
        ids = self._public_roi_ids()
        rows = [{**row, "roi_id": ids.get(str(row.get("roi_id", "")), self.scrub(str(row.get("roi_id", ""))))}
                for row in r.per_image]
        return replace(r, case_id=self.case_label, per_image=rows)

    def scrub(self, text: str) -> str:
        """Free text for an output: when de-identifying, the case ID and the images' file
        names (which may name the patient) are replaced by neutral labels."""
        if not self.deid:
            return text
        import re

        def whole(token: str, label: str, text: str) -> str:
            # whole tokens only: a short case ID must not mangle the words that contain it
            return re.sub(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])", label, text)

        names = []
        for i, ref in enumerate(self.case.images):
            names += [(name, f"image-{i}") for name in {str(self.case.image_path(i)), ref.file, Path(ref.file).name}
                      if name]
        for name, label in sorted(names, key=lambda n: -len(n[0])):  # full paths before bare names
            text = whole(name, label, text)
        if self.case.case_id:
            text = whole(self.case.case_id, "case", text)
        return text

    def now(self) -> dt.datetime:
        t = dt.datetime.now().replace(microsecond=0)
        if self.deid and self.deid.dates == "shift":
            self.source_headers()
            t = t + self.deid.date_offset(self._patient_id)
        return t

    def _mark(self, ds: Any) -> Any:
        """Copy the de-identification statement of the source headers onto a new object."""
        if self.deid:
            h = self.source_headers()[0]
            for key in ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
                        "LongitudinalTemporalInformationModified"):
                if key in h:
                    setattr(ds, key, h[key].value)
        return ds

    def roi_sizes(self) -> dict[str, tuple[float, float]]:
        """(max diameter mm, area mm2) of each ROI on a calibrated image."""
        from ultrasound_reader.case_rules import roi_size
        from ultrasound_reader.dicom import open_cine

        out: dict[str, tuple[float, float]] = {}
        cals: dict[int, Any] = {}
        for roi in self.case.rois:
            if roi.image not in cals:
                with open_cine(self.case.image_path(roi.image)) as cine:
                    cals[roi.image] = cine.calibration
            s = roi_size(roi, cals[roi.image])
            if s.diameter_mm is not None and s.area_mm2 is not None:
                out[roi.id] = (float(s.diameter_mm), float(s.area_mm2))
        return out

    def algorithm(self) -> Any:
        from ultrasound_reader.dicom.sr import Algorithm

        r = self.result
        name = r.bundle_name if r else self.manifest.get("name", "unknown")
        version = r.bundle_version if r else self.manifest.get("version", "unknown")
        return Algorithm(name=name, version=version, task=self.case.task,
                         signature=signature_status(self.bundle), demo=self.demo)

    # -- outputs ---------------------------------------------------------------------------
    def sr(self, path: Path) -> Path:
        from ultrasound_reader.dicom.sr import SourceImage, build_sr, write_sr

        headers = self.source_headers()
        sizes = self.roi_sizes()
        case = self._public_case()
        sizes = {case.rois[i].id: sizes[r.id] for i, r in enumerate(self.case.rois) if r.id in sizes}
        ds = build_sr(case, self._public_result(), [SourceImage(h) for h in headers],
                      self.algorithm() if self.result else None, roi_sizes=sizes,
                      content_date=self.now())
        self.outputs.sr = write_sr(path, self._mark(ds))
        return self.outputs.sr

    def sc(self, path: Path) -> list[Path]:
        """The overlay picture at ``path``; the nomogram (when the bundle has one and the
        case has points) beside it as ``<stem>_nomogram<suffix>``; one series."""
        from pydicom.uid import generate_uid

        from ultrasound_reader.dicom.sc import build_sc, write_dataset
        from ultrasound_reader.export.render import nomogram_picture, overlay_picture

        headers = self.source_headers()
        pic, image, frame = overlay_picture(self.case, self.result, self.demo)
        ref = headers[image]
        multi = "NumberOfFrames" in ref
        src = [(str(ref.SOPClassUID), str(ref.SOPInstanceUID), frame if multi else None)]
        series = str(generate_uid())
        what = "AI result with Grad-CAM overlay" + (" - NOT FOR CLINICAL USE" if self.demo else "")
        paths = [write_dataset(path, self._mark(build_sc(pic, ref, description=what, series_uid=series,
                                                          source_refs=src)))]
        spec = self.manifest.get("nomogram")
        if self.result is not None and spec and self.result.total_points is not None:
            nomo = nomogram_picture(spec, self.result, self.demo)
            p2 = Path(path).with_name(Path(path).stem + "_nomogram" + (Path(path).suffix or ".dcm"))
            paths.append(write_dataset(p2, self._mark(build_sc(
                nomo, ref, description="Nomogram with the case's points" + (
                    " - NOT FOR CLINICAL USE" if self.demo else ""), series_uid=series, instance_number=2))))
        else:
            self._warn("no nomogram secondary capture: the bundle has no nomogram or the case no nomogram points")
        self.outputs.sc = paths
        return paths

    def images(self, folder: Path) -> list[Path]:
        """Copies of the case's DICOM images (de-identified unless exporting identified)."""
        import shutil

        from ultrasound_reader.dicom.deid import deidentify_file
        from ultrasound_reader.paths import atomic_write

        folder = Path(folder)
        if not folder.parent.is_dir():
            raise UserError(f"cannot create {folder}: folder {folder.parent} does not exist")
        try:
            folder.mkdir(exist_ok=True)
        except FileExistsError:
            raise UserError(f"cannot create {folder}: a file of that name exists") from None
        except OSError as exc:
            raise UserError(f"cannot create {folder} ({exc.strerror or exc})") from None
        out = []
        for i in range(len(self.case.images)):
            src = self.case.image_path(i)
            dst = folder / f"image-{i}.dcm"
            if self.deid:
                deidentify_file(src, dst, self.deid)
            else:
                atomic_write(dst, lambda tmp, src=src: shutil.copyfile(src, tmp))
            out.append(dst)
        self.outputs.images = out
        return out

    def pdf(self, path: Path) -> Path:
        from ultrasound_reader.export.report import write_pdf

        self.outputs.pdf = write_pdf(self, path)
        return self.outputs.pdf
