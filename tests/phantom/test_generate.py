"""Generated cases: DICOM as scanners write it, reopened by the project's loader,
ROIs where the lesion is and as large as the truth says, determinism per seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ultrasound_reader.case import Case, Truth
from ultrasound_reader.dicom import open_cine
from ultrasound_reader.phantom.generate import Options, generate

# seed 5, case 3: a hypoechoic HCC with intratumoural vascularity (see test_labels for the model)
SEED, FIRST, FRAMES = 5, 3, 6


@pytest.fixture(scope="module")
def liver(tmp_path_factory) -> tuple[Path, Case, Truth]:
    out = tmp_path_factory.mktemp("liver")
    cases, truths = generate("liver", 1, SEED, out, first=FIRST, options=Options(frames=FRAMES))
    return out, cases[0], truths[0]


@pytest.fixture(scope="module")
def soft(tmp_path_factory) -> tuple[Path, Case, Truth]:
    out = tmp_path_factory.mktemp("soft")
    cases, truths = generate("soft-tissue", 2, SEED, out, first=FIRST)
    return out, cases[0], truths[0]


def _pixels(path: Path) -> bytes:
    return pydicom.dcmread(path).PixelData


def test_liver_case_layout(liver):
    out, case, truth = liver
    folder = out / case.case_id
    assert sorted(p.name for p in folder.iterdir()) == ["bmode.dcm", "case.json", "cdfi.dcm"]
    loaded = Case.load(folder)
    assert loaded.to_dict() == case.to_dict()
    assert case.task == "liver-fll"
    assert [(i.file, i.role) for i in case.images] == [("bmode.dcm", "bmode"), ("cdfi.dcm", "cdfi")]
    lesions = case.rois_of("lesion")
    assert len(lesions) == 4 and len({r.frame for r in lesions}) == 4
    assert all(r.image == 0 and 0 <= r.frame < FRAMES for r in lesions)
    assert len(case.rois_of("background")) == 1
    f = case.factors
    assert f.echogenicity == "hypo" and f.age is not None and f.sex in ("M", "F")
    assert f.hepatitis in (0, 1, 2, 3) and f.halo is not None and f.vascularity is not None
    truths = Truth.read_csv(out / "truth.csv")
    assert truths == {truth.case_id: truth}
    assert truth.lb_type in ("normal", "steatosis", "fibrosis") and truth.centre in ("C1", "C2", "C3", "C4")
    assert json.loads((out / "phantom.json").read_text())["seed"] == SEED
    # the case file never carries the truth
    text = (folder / "case.json").read_text()
    assert "malignant" not in text and truth.subtype not in text


def test_liver_dicom_is_scanner_like(liver):
    out, case, _ = liver
    cine = pydicom.dcmread(case.image_path(0))
    still = pydicom.dcmread(case.image_path(1))
    assert cine.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    assert still.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6.1"  # US Image
    for ds in (cine, still):
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"  # JPEG baseline
        assert ds.PhotometricInterpretation == "YBR_FULL_422" and ds.PlanarConfiguration == 0
        assert ds.Modality == "US" and ds.BurnedInAnnotation == "YES"
        assert str(ds.PatientName).startswith("PHANTOM^LIVER^") and ds.PatientSex == case.factors.sex
        assert ds.PatientAge == f"{int(case.factors.age):03d}Y"
        assert "PHANTOM" in ds.InstitutionName
        assert ds.pixel_array.shape[-3:] == (480, 640, 3)
    assert cine.NumberOfFrames == FRAMES and cine.FrameIncrementPointer == 0x00181063
    assert float(cine.FrameTime) > 0 and int(cine.CineRate) == round(1000 / float(cine.FrameTime))
    assert cine.StudyInstanceUID == still.StudyInstanceUID  # one study per case
    assert cine.SeriesInstanceUID != still.SeriesInstanceUID
    regions = still.SequenceOfUltrasoundRegions
    assert [r.RegionDataType for r in regions] == [1, 2]
    tissue, colour = regions
    assert tissue.PhysicalUnitsXDirection == 3 and tissue.RegionSpatialFormat == 1
    assert tissue.PhysicalDeltaX == tissue.PhysicalDeltaY == colour.PhysicalDeltaX
    # the colour box lies inside the B-mode region
    assert tissue.RegionLocationMinX0 <= colour.RegionLocationMinX0 <= colour.RegionLocationMaxX1 \
        <= tissue.RegionLocationMaxX1
    assert len(cine.SequenceOfUltrasoundRegions) == 1


def test_liver_files_reopen_through_open_cine_with_calibration(liver):
    out, case, truth = liver
    ds = pydicom.dcmread(case.image_path(0))
    delta_mm = ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX * 10
    with open_cine(case.image_path(0)) as cine:
        assert cine.n_frames == FRAMES
        assert cine.fps == pytest.approx(1000 / float(ds.FrameTime), rel=1e-3)
        for roi in case.rois_of("lesion"):
            x0, y0, x1, y1 = roi.bbox()
            mm = cine.calibration.mm_per_pixel((x0 + x1) / 2, (y0 + y1) / 2)
            assert mm == pytest.approx((delta_mm, delta_mm))
            # the ROI measures the generated size, within a pixel or two
            assert abs(roi.max_diameter(mm) - truth.lesion_size_cm * 10) < 2 * delta_mm
        frame = cine.frame(case.rois[0].frame)
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    with open_cine(case.image_path(1)) as still:
        assert still.n_frames == 1
        assert still.calibration.mm_per_pixel(320, 240) == pytest.approx((delta_mm, delta_mm))


def test_liver_rois_sit_on_the_lesion_in_every_frame(liver):
    _, case, _ = liver
    bg = case.rois_of("background")[0]
    with open_cine(case.image_path(0)) as cine:
        for roi in case.rois_of("lesion"):
            grey = cine.frame(roi.frame).astype(float).mean(axis=2)
            inside = roi.mask(*grey.shape)
            # the ring just outside the lesion: liver
            x0, y0, x1, y1 = roi.bbox()
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            big = np.array(roi.outline())
            big = (big - [cx, cy]) * 1.6 + [cx, cy]
            from ultrasound_reader.case import Roi

            ring = Roi("lesion", "polygon", [tuple(p) for p in big]).mask(*grey.shape) & ~inside
            # hypoechoic lesion: clearly darker than the liver around it
            assert grey[inside].mean() < grey[ring].mean() - 15
        frame = cine.frame(bg.frame).astype(float).mean(axis=2)
        bmask = bg.mask(*frame.shape)
        assert bmask.sum() > 400  # a real patch of liver
        lesion_mask = case.rois_of("lesion")[0].mask(*frame.shape)
        assert not (bmask & lesion_mask).any()
        assert frame[bmask].mean() > 40  # liver, not the black surround


def test_liver_lesion_moves_across_the_cine(liver):
    _, case, _ = liver
    centres = [np.mean(r.outline(), axis=0) for r in case.rois_of("lesion")]
    spread = max(np.linalg.norm(c - centres[0]) for c in centres)
    assert 0.5 < spread < 40  # breathing: visible, but the lesion stays in view


def test_cdfi_shows_colour_inside_the_colour_box(liver):
    _, case, _ = liver
    ds = pydicom.dcmread(case.image_path(1))
    colour = ds.SequenceOfUltrasoundRegions[1]
    with open_cine(case.image_path(1)) as still:
        rgb = still.frame(0).astype(int)
    sat = rgb.max(axis=2) - rgb.min(axis=2)
    box = np.zeros(sat.shape, bool)
    box[colour.RegionLocationMinY0 : colour.RegionLocationMaxY1 + 1,
        colour.RegionLocationMinX0 : colour.RegionLocationMaxX1 + 1] = True
    coloured = sat > 80
    fov = np.zeros(sat.shape, bool)
    t = ds.SequenceOfUltrasoundRegions[0]
    fov[t.RegionLocationMinY0 : t.RegionLocationMaxY1 + 1, t.RegionLocationMinX0 : t.RegionLocationMaxX1 + 1] = True
    assert (coloured & box).sum() > 30  # intratumoural vascularity was drawn
    assert (coloured & fov & ~box).sum() < 0.05 * (coloured & box).sum()  # none outside the box
    # the cine itself is grey inside the field of view
    with open_cine(case.image_path(0)) as cine:
        f = cine.frame(0).astype(int)
    assert ((f.max(axis=2) - f.min(axis=2)) > 80)[fov].mean() < 0.001


def test_soft_tissue_case(soft):
    out, case, truth = soft
    assert case.task == "soft-tissue"
    assert [i.role for i in case.images] == ["bmode", "cdfi"]
    masses = case.rois_of("mass")
    assert [r.image for r in masses] == [0, 1]
    assert case.factors.site and case.factors.depth_mm is not None
    assert truth.lb_type is None and truth.subtype
    for i, roi in enumerate(masses):
        with open_cine(case.image_path(i)) as img:
            assert img.n_frames == 1
            x0, y0, x1, y1 = roi.bbox()
            mm = img.calibration.mm_per_pixel((x0 + x1) / 2, (y0 + y1) / 2)
            assert mm is not None
            assert abs(roi.max_diameter(mm) - truth.lesion_size_cm * 10) < 2 * mm[0]
    ds = pydicom.dcmread(case.image_path(0))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6.1"
    assert ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX < 0.02  # linear probe: < 0.2 mm/px
    assert str(ds.PatientName).startswith("PHANTOM^SOFT^")
    assert len(Truth.read_csv(out / "truth.csv")) == 2


def test_same_seed_same_bytes_other_seed_other_bytes(liver, tmp_path):
    out, case, _ = liver
    again, _ = generate("liver", 1, SEED, tmp_path / "a", first=FIRST, options=Options(frames=FRAMES))
    folder = tmp_path / "a" / case.case_id
    for name in ("bmode.dcm", "cdfi.dcm", "case.json"):
        assert (folder / name).read_bytes() == (out / case.case_id / name).read_bytes(), name
    other, _ = generate("liver", 1, SEED + 1, tmp_path / "b", first=FIRST, options=Options(frames=FRAMES))
    assert _pixels(tmp_path / "b" / other[0].case_id / "bmode.dcm") != _pixels(folder / "bmode.dcm")
    assert other[0].case_id != case.case_id


def test_lossless_options_reopen(tmp_path):
    for compression in ("rle", "none"):
        cases, _ = generate("soft-tissue", 1, 2, tmp_path / compression, options=Options(compression=compression))
        path = cases[0].image_path(1)
        ds = pydicom.dcmread(path)
        assert ds.PhotometricInterpretation == "RGB"
        with open_cine(path) as img:
            assert np.array_equal(img.frame(0), ds.pixel_array)
