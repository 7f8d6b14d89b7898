"""A case's ROIs and AI results as a DICOM Comprehensive SR (TID 1500 Measurement Report), and back.

Written with ``highdicom``. The report holds:

* one TID 1410 planar-ROI group per case ROI: its outline as SCOORD (closed POLYLINE, or
  ELLIPSE for ellipses) on its source image and frame, tracking identifier
  ``roi:<id>``, finding type (lesion / mass / liver), the ROI kind and shape (so the
  outline comes back exactly), its maximal diameter and area in mm when the image is
  calibrated, and the per-image AI scores of that ROI;
* one TID 1501 group "AI result": the probability of every output, the decision and
  its cut-off and model, subtype / liver-background type when given, lesion size,
  nomogram points, each carrying the algorithm identification (bundle name, version,
  and as parameters: task, signature status, "NOT FOR CLINICAL USE" for a demo);
* one TID 1501 group "Clinical factors": every factor that was recorded.

Codes: SNOMED CT / DCM / UCUM where a standard one exists, otherwise the private
scheme ``99USR`` (values <= 16 characters). Coordinates: SCOORD puts pixel centres at
+0.5 (PS3.3 C.10.5.1.2); the case model at integers, hence the 0.5 shift both ways.

:func:`read_sr` turns such a report back into ROIs and values (:class:`SrContent`), and
:func:`case_from_sr` into a :class:`Case` whose images are the DICOM files it references.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import generate_uid

from ultrasound_reader.case import AnalysisResult, Case, ClinicalFactors, ImageRef, Roi
from ultrasound_reader.errors import UserError

PRIVATE = "99USR"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
ROI_PREFIX = "roi:"
AI_GROUP = "AI result"
FACTORS_GROUP = "Clinical factors"


def _code(value: str, scheme: str, meaning: str) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value, scheme, meaning)


def _p(value: str, meaning: str) -> Any:
    if len(value) > 16:
        raise ValueError(f"private code value {value!r} is longer than 16 characters")
    return _code(value, PRIVATE, meaning[:64])


# Standard codes
SCT_LESION = ("52988006", "SCT", "Lesion")
SCT_MASS = ("4147007", "SCT", "Mass")
SCT_LIVER = ("10200004", "SCT", "Liver")
SCT_DIAMETER = ("81827009", "SCT", "Diameter")
SCT_AREA = ("42798000", "SCT", "Area")
SCT_MAXIMUM = ("56851009", "SCT", "Maximum")
SCT_AGE = ("397669002", "SCT", "Age")
SCT_SEX = ("263495000", "SCT", "Gender")
SCT_MALE = ("248153007", "SCT", "Male")
SCT_FEMALE = ("248152002", "SCT", "Female")
SCT_YES = ("373066001", "SCT", "Yes")
SCT_NO = ("373067005", "SCT", "No")
SCT_MALIGNANT = ("363346000", "SCT", "Malignant neoplastic disease")
SCT_BENIGN = ("3898006", "SCT", "Neoplasm, benign")
SCT_ULTRASONOGRAPHY = ("16310003", "SCT", "Ultrasonography")
UCUM_MM = ("mm", "UCUM", "millimeter")
UCUM_MM2 = ("mm2", "UCUM", "square millimeter")
UCUM_ONE = ("1", "UCUM", "no units")
UCUM_YEAR = ("a", "UCUM", "year")
UCUM_POINTS = ("{points}", "UCUM", "points")
UCUM_NG_ML = ("ng/mL", "UCUM", "nanogram per milliliter")

FINDING_BY_KIND = {"lesion": SCT_LESION, "mass": SCT_MASS, "background": SCT_LIVER}
# Private concept names
ROI_KIND, ROI_SHAPE, IMAGE_ROLE = "ROIKIND", "ROISHAPE", "IMGROLE"
DECISION, DECISION_MODEL, CUTOFF = "DECISION", "DECMODEL", "CUTOFF"
SUBTYPE, LB_TYPE, TOTAL_POINTS, LESION_SIZE = "SUBTYPE", "LBTYPE", "NOMOPOINTS", "LESIONSIZE"
PROB_PREFIX, SCORE_PREFIX = "P:", "S:"
NUMERIC_FACTORS = {"age": (SCT_AGE, UCUM_YEAR), "afp": (("AFP", PRIVATE, "Alpha-fetoprotein"), UCUM_NG_ML),
                   "depth_mm": (("DEPTH", PRIVATE, "Depth of the mass"), UCUM_MM)}
BOOL_FACTORS = {"tumour_history": "Extrahepatic tumour history", "halo": "Hypoechoic halo",
                "vascularity": "Intratumoural vascularity", "posterior_enhancement": "Posterior enhancement",
                "satellite": "Satellite nodules"}
CATEGORY_FACTORS = {"hepatitis": "Hepatitis history", "shape": "Lesion shape", "margin": "Lesion margin",
                    "echogenicity": "Echogenicity", "site": "Body site"}
_BOOL_CODE = {"tumour_history": "TUMHIST", "halo": "HALO", "vascularity": "VASC",
              "posterior_enhancement": "POSTENH", "satellite": "SATELLITE"}
_CAT_CODE = {"hepatitis": "HEPATITIS", "shape": "SHAPE", "margin": "MARGIN", "echogenicity": "ECHO",
             "site": "SITE"}


@dataclass
class Algorithm:
    """Algorithm identification of the AI results (from the bundle's manifest)."""

    name: str
    version: str
    task: str = ""
    signature: str = "unknown"  # e.g. "verified", "unsigned", "not checked"
    demo: bool = True

    def parameters(self) -> list[str]:
        out = [f"task={self.task}", f"signature={self.signature}"]
        if self.demo:
            out.append("NOT FOR CLINICAL USE (demo model)")
        return out


@dataclass
class SourceImage:
    """One case image as the SR references it (header only; pixels not needed)."""

    header: Dataset

    @property
    def sop_instance_uid(self) -> str:
        return str(self.header.SOPInstanceUID)

    @property
    def sop_class_uid(self) -> str:
        return str(self.header.SOPClassUID)

    @property
    def n_frames(self) -> int:
        try:
            return int(self.header.get("NumberOfFrames", 1) or 1)
        except (TypeError, ValueError):
            return 1


def load_source(path: Path) -> Dataset:
    """A case image's header, refusing what is not DICOM (an SR can only reference DICOM)."""
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise UserError(f"{path}: an SR or secondary capture needs DICOM source images ({exc})") from None
    for key in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID"):
        if key not in ds:
            raise UserError(f"{path}: lacks {key}; cannot reference it from an SR")
    # Type 2 patient / study attributes the SR and SC inherit: present, empty when unknown.
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        if key not in ds:
            setattr(ds, key, "")
    return ds


# -- writing --------------------------------------------------------------------------
def _graphic(roi: Roi) -> tuple[str, np.ndarray]:
    if roi.shape == "ellipse":
        x0, y0, x1, y1 = roi.bbox()
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        if rx >= ry:
            pts = [(cx - rx, cy), (cx + rx, cy), (cx, cy - ry), (cx, cy + ry)]
        else:
            pts = [(cx, cy - ry), (cx, cy + ry), (cx - rx, cy), (cx + rx, cy)]
        return "ELLIPSE", np.asarray(pts) + 0.5
    o = roi.outline()
    closed = np.vstack([o, o[:1]])
    return "POLYLINE", closed + 0.5  # closed: the last vertex repeats the first (PS3.3 C.18.6.1.2)


def build_sr(case: Case, result: AnalysisResult | None, sources: Sequence[SourceImage], algorithm: Algorithm | None,
             *, roi_sizes: Mapping[str, tuple[float, float]] | None = None, uid: Any = None,
             series_number: int = 990, content_date: dt.datetime | None = None) -> Dataset:
    """The SR dataset. ``sources[i]`` is case image i (its header, de-identified or not);
    ``roi_sizes`` the (max diameter mm, area mm2) of the ROIs on calibrated images;
    ``uid`` maps a source UID to the UID to reference (identity, or the de-identifier's
    remapping, so that headers and references stay consistent)."""
    from highdicom.sr import (
        AlgorithmIdentification,
        ComprehensiveSR,
        DeviceObserverIdentifyingAttributes,
        GraphicTypeValues,
        ImageRegion,
        Measurement,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
        PlanarROIMeasurementsAndQualitativeEvaluations,
        QualitativeEvaluation,
        SourceImageForRegion,
        TrackingIdentifier,
    )
    from pydicom.sr.codedict import codes

    remap = uid or (lambda u: u)
    if len(sources) != len(case.images):
        raise ValueError("one source header per case image is needed")
    algo = (AlgorithmIdentification(name=algorithm.name[:64], version=algorithm.version[:64],
                                    parameters=algorithm.parameters()) if algorithm else None)
    c = lambda t: _code(*t)  # noqa: E731
    groups: list[Any] = []
    per_roi = {row.get("roi_id"): row for row in (result.per_image if result else [])}
    for roi in case.rois:
        src = sources[roi.image]
        if not 0 <= roi.frame < src.n_frames:
            raise UserError(f"case {case.case_id}: ROI {roi.id} is on frame {roi.frame}, but image {roi.image} "
                            f"has {src.n_frames} frame(s)")
        role = case.images[roi.image].role
        gtype, data = _graphic(roi)
        frames = [roi.frame + 1] if "NumberOfFrames" in src.header else None
        region = ImageRegion(graphic_type=GraphicTypeValues[gtype], graphic_data=data,
                             source_image=SourceImageForRegion(
                                 referenced_sop_class_uid=src.sop_class_uid,
                                 referenced_sop_instance_uid=remap(src.sop_instance_uid),
                                 referenced_frame_numbers=frames))
        measurements = []
        size = (roi_sizes or {}).get(roi.id)
        if size is not None:
            measurements.append(Measurement(name=c(SCT_DIAMETER), value=float(size[0]), unit=c(UCUM_MM),
                                            derivation=c(SCT_MAXIMUM)))
            measurements.append(Measurement(name=c(SCT_AREA), value=float(size[1]), unit=c(UCUM_MM2)))
        row = per_roi.get(roi.id, {})
        for key, value in row.items():
            if isinstance(value, float) and math.isfinite(value):
                measurements.append(Measurement(name=_p(f"{SCORE_PREFIX}{key}"[:16], f"AI image score {key}"),
                                                value=value, unit=c(UCUM_ONE), algorithm_id=algo))
        groups.append(PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=remap(_roi_uid(case, roi)), identifier=ROI_PREFIX + roi.id),
            referenced_region=region, finding_type=c(FINDING_BY_KIND[roi.kind]),
            measurements=measurements or None,
            qualitative_evaluations=[
                QualitativeEvaluation(_p(ROI_KIND, "ROI kind"), _p(roi.kind, roi.kind)),
                QualitativeEvaluation(_p(ROI_SHAPE, "ROI shape"), _p(roi.shape, roi.shape)),
                QualitativeEvaluation(_p(IMAGE_ROLE, "Image role"), _p(role, role)),
            ]))
    if result is not None:
        groups.append(_ai_group(case, result, algo, remap))
    factors = _factors_group(case, remap)
    if factors is not None:
        groups.append(factors)
    observer = ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=str(generate_uid()), name="ultrasound-reader",
            model_name=(algorithm.name[:64] if algorithm else None)))
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=c(SCT_ULTRASONOGRAPHY), imaging_measurements=groups)
    from ultrasound_reader import __version__

    sr = ComprehensiveSR(
        evidence=[s.header for s in sources], content=report, series_instance_uid=str(generate_uid()),
        series_number=series_number, sop_instance_uid=str(generate_uid()), instance_number=1,
        manufacturer="ultrasound-reader", is_complete=True, is_final=False, is_verified=False,
        series_description="AI measurement report (research, not for clinical use)")
    sr.SoftwareVersions = f"ultrasound-reader {__version__}"
    # Declare the private coding scheme (PS3.3 C.12.1.1.5) next to any highdicom declared.
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE
    scheme.CodingSchemeName = "ultrasound-reader private codes"
    scheme.CodingSchemeResponsibleOrganization = "ultrasound-reader project"
    schemes = list(sr.get("CodingSchemeIdentificationSequence", []))
    sr.CodingSchemeIdentificationSequence = [*schemes, scheme]
    if content_date is not None:
        sr.ContentDate = content_date.strftime("%Y%m%d")
        sr.ContentTime = content_date.strftime("%H%M%S")
        if "InstanceCreationDate" in sr:
            sr.InstanceCreationDate = sr.ContentDate
    return sr


def _roi_uid(case: Case, roi: Roi) -> str:
    return str(generate_uid(prefix="2.25.", entropy_srcs=["roi", case.case_id, roi.id]))


def _ai_group(case: Case, r: AnalysisResult, algo: Any, remap: Any) -> Any:
    from highdicom.sr import Measurement, MeasurementsAndQualitativeEvaluations, QualitativeEvaluation, \
        TrackingIdentifier

    c = lambda t: _code(*t)  # noqa: E731
    ms = []
    for key, value in r.probabilities.items():
        label = r.model_labels.get(key, key)
        ms.append(Measurement(name=_p(f"{PROB_PREFIX}{key}"[:16], f"AI probability {key}: {label}"),
                              value=float(value), unit=c(UCUM_ONE), algorithm_id=algo))
    if r.cutoff is not None:
        ms.append(Measurement(name=_p(CUTOFF, f"Decision cut-off of {r.decision_model}"), value=float(r.cutoff),
                              unit=c(UCUM_ONE), algorithm_id=algo))
    if r.lesion_size_cm is not None:
        ms.append(Measurement(name=_p(LESION_SIZE, "Lesion size (maximal diameter)"),
                              value=float(r.lesion_size_cm) * 10.0, unit=c(UCUM_MM), derivation=c(SCT_MAXIMUM)))
    if r.total_points is not None:
        ms.append(Measurement(name=_p(TOTAL_POINTS, "Nomogram total points"), value=float(r.total_points),
                              unit=c(UCUM_POINTS), algorithm_id=algo))
    qs = []
    if r.decision in ("malignant", "benign"):
        qs.append(QualitativeEvaluation(_p(DECISION, "AI decision"),
                                        c(SCT_MALIGNANT if r.decision == "malignant" else SCT_BENIGN)))
    if r.decision_model:
        qs.append(QualitativeEvaluation(_p(DECISION_MODEL, "Decision model"),
                                        _p(r.decision_model[:16], r.decision_model)))
    if r.subtype:
        qs.append(QualitativeEvaluation(_p(SUBTYPE, "Benign subtype"), _p(r.subtype[:16], r.subtype)))
    if r.lb_type:
        qs.append(QualitativeEvaluation(_p(LB_TYPE, "Liver background type"), _p(r.lb_type[:16], r.lb_type)))
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=remap(str(generate_uid(
            prefix="2.25.", entropy_srcs=["ai", case.case_id]))), identifier=AI_GROUP),
        algorithm_id=algo, measurements=ms or None, qualitative_evaluations=qs or None)


def _factors_group(case: Case, remap: Any) -> Any:
    from highdicom.sr import Measurement, MeasurementsAndQualitativeEvaluations, QualitativeEvaluation, \
        TrackingIdentifier

    f = case.factors
    c = lambda t: _code(*t)  # noqa: E731
    ms, qs = [], []
    for name, (concept, unit) in NUMERIC_FACTORS.items():
        v = getattr(f, name)
        if v is not None:
            ms.append(Measurement(name=c(concept), value=float(v), unit=c(unit)))
    if f.sex is not None:
        qs.append(QualitativeEvaluation(c(SCT_SEX), c(SCT_MALE if f.sex == "M" else SCT_FEMALE)))
    for name, meaning in BOOL_FACTORS.items():
        v = getattr(f, name)
        if v is not None:
            qs.append(QualitativeEvaluation(_p(_BOOL_CODE[name], meaning), c(SCT_YES if v else SCT_NO)))
    for name, meaning in CATEGORY_FACTORS.items():
        v = getattr(f, name)
        if v is not None:
            text = str(v)
            qs.append(QualitativeEvaluation(_p(_CAT_CODE[name], meaning), _p(text[:16], text)))
    if not ms and not qs:
        return None
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=remap(str(generate_uid(
            prefix="2.25.", entropy_srcs=["factors", case.case_id]))), identifier=FACTORS_GROUP),
        measurements=ms or None, qualitative_evaluations=qs or None)


def write_sr(path: Path, sr: Dataset) -> Path:
    """Save atomically (see :func:`ultrasound_reader.dicom.sc.write_dataset`)."""
    from ultrasound_reader.dicom.sc import write_dataset

    return write_dataset(path, sr)


# -- reading --------------------------------------------------------------------------
@dataclass
class SrRoi:
    roi: Roi  # image index unset (0): see sop_instance_uid
    sop_instance_uid: str
    measurements: dict[str, float] = field(default_factory=dict)  # code value -> value
    image_role: str = "bmode"


@dataclass
class SrContent:
    rois: list[SrRoi]
    probabilities: dict[str, float]
    cutoff: float | None
    decision: str | None
    decision_model: str | None
    subtype: str | None
    lb_type: str | None
    lesion_size_cm: float | None
    total_points: float | None
    factors: ClinicalFactors
    algorithm: dict[str, Any]
    study_uid: str
    patient_id: str


def _cv(concept: Any) -> tuple[str, str]:
    return str(concept.value), str(concept.scheme_designator)


def read_sr(path: Path) -> SrContent:
    """ROIs and values of an SR written by :func:`build_sr` (others: their TID 1410 ROIs)."""
    from highdicom.sr import MeasurementReport

    try:
        ds = dcmread(path)
    except (InvalidDicomError, OSError) as exc:
        raise UserError(f"{path}: not a DICOM file ({exc})") from None
    if str(ds.get("SOPClassUID", "")) not in (COMPREHENSIVE_SR, "1.2.840.10008.5.1.4.1.1.88.34",
                                                  "1.2.840.10008.5.1.4.1.1.88.22"):
        raise UserError(f"{path}: not a structured report (SOP class {ds.get('SOPClassUID', '?')})")
    try:
        report = MeasurementReport.from_sequence([ds])
    except (AttributeError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a TID 1500 measurement report ({type(exc).__name__}: {exc})") from None
    rois: list[SrRoi] = []
    for g in report.get_planar_roi_measurement_groups():
        region = g.roi
        if region is None:
            continue
        ident = g.tracking_identifier or ""
        qual = {_cv(q.name)[0]: q.value for q in g.get_qualitative_evaluations()}
        kind = str(qual[ROI_KIND].value) if ROI_KIND in qual else _kind_from_finding(g.finding_type)
        shape = str(qual[ROI_SHAPE].value) if ROI_SHAPE in qual else None
        gtype = region.graphic_type.value
        pts = np.asarray(region.value, dtype=float) - 0.5
        if gtype == "ELLIPSE":
            xs, ys = pts[:, 0], pts[:, 1]
            points = [(float(xs.min()), float(ys.min())), (float(xs.max()), float(ys.max()))]
            shape = "ellipse"
        else:
            if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
                pts = pts[:-1]
            if shape == "rectangle":
                points = [tuple(pts[0]), tuple(pts[2])]
            else:
                points = [tuple(p) for p in pts]
                shape = shape if shape in ("polygon", "freehand") else "polygon"
        ref = region.ContentSequence[0].ReferencedSOPSequence[0]
        frames = ref.get("ReferencedFrameNumber")
        frame = int(frames if not isinstance(frames, (list, tuple)) and frames is not None
                    else (frames[0] if frames else 1)) - 1
        rid = ident[len(ROI_PREFIX):] if ident.startswith(ROI_PREFIX) else ident or str(len(rois))
        try:
            roi = Roi(kind=kind, shape=shape, points=points, frame=frame, id=rid)  # type: ignore[arg-type]
        except UserError as exc:
            raise UserError(f"{path}: ROI {rid}: {exc}") from None
        ms = {_cv(m.name)[0]: float(m.value) for m in g.get_measurements()}
        role = str(qual[IMAGE_ROLE].value) if IMAGE_ROLE in qual else "bmode"
        rois.append(SrRoi(roi, str(ref.ReferencedSOPInstanceUID), ms, role if role in ("bmode", "cdfi") else "bmode"))
    probs: dict[str, float] = {}
    vals: dict[str, Any] = {}
    algorithm: dict[str, Any] = {}
    factors: dict[str, Any] = {}
    for g in report.get_image_measurement_groups():
        ident = g.tracking_identifier
        for m in g.get_measurements():
            code, scheme = _cv(m.name)
            if ident == AI_GROUP:
                if code.startswith(PROB_PREFIX):
                    probs[code[len(PROB_PREFIX):]] = float(m.value)
                else:
                    vals[code] = float(m.value)
                if not algorithm:
                    algorithm = _algorithm_of(m[0])
            elif ident == FACTORS_GROUP:
                for name, (concept, _) in NUMERIC_FACTORS.items():
                    if (code, scheme) == (concept[0], concept[1]):
                        factors[name] = float(m.value)
        for q in g.get_qualitative_evaluations():
            code, _ = _cv(q.name)
            value = q.value
            if ident == AI_GROUP:
                if code == DECISION:
                    vals[DECISION] = "malignant" if str(value.value) == SCT_MALIGNANT[0] else "benign"
                elif code in (DECISION_MODEL, SUBTYPE, LB_TYPE):
                    vals[code] = str(value.meaning)
            elif ident == FACTORS_GROUP:
                if code == SCT_SEX[0]:
                    factors["sex"] = "M" if str(value.value) == SCT_MALE[0] else "F"
                for name, c in _BOOL_CODE.items():
                    if code == c:
                        factors[name] = str(value.value) == SCT_YES[0]
                for name, c in _CAT_CODE.items():
                    if code == c:
                        text = str(value.meaning)
                        factors[name] = int(text) if name == "hepatitis" else text
    try:
        cf = ClinicalFactors(**{k: v for k, v in factors.items() if k in {f.name for f in fields(ClinicalFactors)}})
    except (UserError, TypeError) as exc:
        raise UserError(f"{path}: clinical factors: {exc}") from None
    return SrContent(
        rois=rois, probabilities=probs, cutoff=vals.get(CUTOFF), decision=vals.get(DECISION),
        decision_model=vals.get(DECISION_MODEL), subtype=vals.get(SUBTYPE), lb_type=vals.get(LB_TYPE),
        lesion_size_cm=None if LESION_SIZE not in vals else vals[LESION_SIZE] / 10.0,
        total_points=vals.get(TOTAL_POINTS), factors=cf, algorithm=algorithm,
        study_uid=str(ds.get("StudyInstanceUID", "")), patient_id=str(ds.get("PatientID", "")))


def _algorithm_of(item: Any) -> dict[str, Any]:
    """Algorithm name / version / parameters (TID 4019) modifying a NUM content item."""
    out: dict[str, Any] = {}
    for sub in item.get("ContentSequence", []):
        name = sub.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in sub else ""
        text = str(sub.get("TextValue", ""))
        if name == "111001":
            out["name"] = text
        elif name == "111003":
            out["version"] = text
        elif name == "111002":
            out.setdefault("parameters", []).append(text)
    return out


def _kind_from_finding(concept: Any) -> str:
    code = str(concept.value) if concept is not None else ""
    return {SCT_MASS[0]: "mass", SCT_LIVER[0]: "background"}.get(code, "lesion")


def case_from_sr(path: Path, images: Sequence[Path], task: str, case_id: str | None = None) -> Case:
    """A case whose images are ``images`` (DICOM files the SR references) and whose ROIs and
    factors come from the SR. Each ROI's image is found by its SOP Instance UID."""
    content = read_sr(path)
    by_uid: dict[str, int] = {}
    refs: list[ImageRef] = []
    for p in images:
        uid = str(load_source(Path(p)).SOPInstanceUID)
        by_uid[uid] = len(refs)
        refs.append(ImageRef(file=str(Path(p).resolve())))
    rois = []
    for r in content.rois:
        if r.sop_instance_uid not in by_uid:
            raise UserError(f"{path}: ROI {r.roi.id} references image {r.sop_instance_uid}, "
                            "which is not among the given images")
        r.roi.image = by_uid[r.sop_instance_uid]
        refs[r.roi.image].role = r.image_role  # type: ignore[assignment]
        rois.append(r.roi)
    return Case(task=task, case_id=case_id or Path(path).stem, images=refs, rois=rois,  # type: ignore[arg-type]
                factors=content.factors)


SR_CLASSES = (COMPREHENSIVE_SR, "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.22")


def is_sr_file(path: str | Path) -> bool:
    """True when ``path`` is a DICOM structured report (header only, never raises)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        ds = dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # noqa: BLE001 - any unreadable file is simply not an SR
        return False
    return str(ds.get("SOPClassUID", "")) in SR_CLASSES


def case_beside_sr(path: str | Path) -> Case:
    """The case an SR describes, its images found among the DICOM files in the SR's folder.

    The task comes from the SR's algorithm parameters (``task=...``, as :func:`build_sr`
    writes them). Files in the folder that are not images the SR references are ignored.
    """
    path = Path(path)
    content = read_sr(path)
    task = next((str(p).split("=", 1)[1] for p in content.algorithm.get("parameters", [])
                 if str(p).startswith("task=")), None)
    if task is None:
        raise UserError(f"{path}: the report does not say which task it is for (no task= parameter)")
    wanted = {r.sop_instance_uid for r in content.rois}
    images: list[Path] = []
    for p in sorted(path.parent.iterdir()):
        if p == path or not p.is_file():
            continue
        try:
            ds = dcmread(p, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        except Exception:  # noqa: BLE001 - not DICOM: not one of the images
            continue
        if str(ds.get("SOPInstanceUID", "")) in wanted:
            images.append(p)
    if not images:
        raise UserError(f"{path}: none of the images the report references is in {path.parent}")
    return case_from_sr(path, images, task)
