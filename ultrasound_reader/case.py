"""The domain model every layer shares: a case, its images, ROIs and clinical factors.

Plain dataclasses with an exact JSON round trip. A case on disk is a folder holding
``case.json`` (or a ``*.case.json`` sidecar file); image paths in it are relative to
the folder the JSON lives in. Truth (pathology) is never part of a case: it lives in a
separate file (:class:`Truth`, one row of ``truth.csv``) so a reader study stays blind.

Coordinates: ROI points are image pixel coordinates ``(x, y)`` of the referenced
frame, x to the right, y down, pixel centres at integers. Physical sizes are mm.
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ultrasound_reader.errors import UserError

SCHEMA_VERSION = 1
# Limits checked before a case file's content sizes anything (file size, counts, coordinates).
MAX_CASE_BYTES = 8 << 20  # bytes; a case with 16 freehand ROIs of 10,000 points is ~ 0.6 MB
MAX_IMAGES = 64
MAX_ROIS = 256
MAX_ROI_POINTS = 100_000
MAX_FRAME = (1 << 31) - 1
COORD_LIMIT = 100_000.0  # px; DICOM Rows/Columns stop at 65,535, so an ROI never needs more
MIN_ROI_PX = 3.0  # an ROI narrower or lower than this (bbox, px) is a slip of the mouse, not an ROI

Task = Literal["liver-fll", "soft-tissue"]
TASKS: tuple[str, ...] = ("liver-fll", "soft-tissue")

RoiKind = Literal["lesion", "background", "mass"]
ROI_KINDS: tuple[str, ...] = ("lesion", "background", "mass")
RoiShape = Literal["rectangle", "ellipse", "polygon", "freehand"]
ROI_SHAPES: tuple[str, ...] = ("rectangle", "ellipse", "polygon", "freehand")

ImageRole = Literal["bmode", "cdfi"]
IMAGE_ROLES: tuple[str, ...] = ("bmode", "cdfi")

# Hepatitis history coding of the FLL nomogram (Yang et al. 2020).
HEPATITIS_LEVELS = {0: "none", 1: "HBV", 2: "HCV", 3: "HBV+HCV"}
LB_TYPES: tuple[str, ...] = ("normal", "steatosis", "fibrosis")
SOFT_TISSUE_SUBTYPES: tuple[str, ...] = (
    "lipoma",
    "hemangioma",
    "schwannoma",
    "epidermal_cyst",
    "pilomatricoma",
)
# Lesion size strata of the FLL paper, in cm: (label, lower exclusive, upper inclusive).
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<=1.0 cm", 0.0, 1.0),
    ("1.1-2.0 cm", 1.0, 2.0),
    ("2.1-5.0 cm", 2.0, 5.0),
    (">5.0 cm", 5.0, math.inf),
)


def size_band(diameter_cm: float) -> str:
    """The paper's lesion size stratum for a maximal diameter in cm."""
    for label, low, high in SIZE_BANDS:
        if low < diameter_cm <= high or (low == 0.0 and diameter_cm <= high):
            return label
    raise ValueError(f"invalid lesion diameter {diameter_cm!r} cm")


@dataclass
class ImageRef:
    """One image of a case: a file (relative to the case folder) and, for cines, a frame.

    ``role`` tells the B-mode (grayscale) image from the colour-Doppler (CDFI) one,
    which the soft-tissue models take as a pair.
    """

    file: str
    frame: int = 0
    role: ImageRole = "bmode"

    def __post_init__(self) -> None:
        if self.role not in IMAGE_ROLES:
            raise UserError(f"image {self.file}: role {self.role!r} is not one of {IMAGE_ROLES}")
        try:
            frame = int(self.frame)
        except (TypeError, ValueError):
            raise UserError(f"image {self.file}: frame {self.frame!r} is not a whole number") from None
        if frame < 0:
            raise UserError(f"image {self.file}: frame {self.frame} is negative")
        self.frame = frame


@dataclass
class Roi:
    """A region of interest drawn on one frame of one image of the case.

    ``points`` depend on ``shape``: rectangle and ellipse are given by two opposite
    corners of their bounding box; polygon and freehand by their vertices (closed
    implicitly).
    """

    kind: RoiKind
    shape: RoiShape
    points: list[tuple[float, float]]
    image: int = 0  # index into Case.images
    frame: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.kind not in ROI_KINDS:
            raise UserError(f"ROI {self.id}: kind {self.kind!r} is not one of {ROI_KINDS}")
        if self.shape not in ROI_SHAPES:
            raise UserError(f"ROI {self.id}: shape {self.shape!r} is not one of {ROI_SHAPES}")
        try:
            self.points = [(float(x), float(y)) for x, y in self.points]
        except (TypeError, ValueError):
            raise UserError(f"ROI {self.id}: points must be (x, y) pairs of numbers") from None
        if any(not (math.isfinite(x) and math.isfinite(y)) for x, y in self.points):
            raise UserError(f"ROI {self.id}: points must be finite numbers")
        if any(abs(x) > COORD_LIMIT or abs(y) > COORD_LIMIT for x, y in self.points):
            raise UserError(f"ROI {self.id}: a point lies more than {COORD_LIMIT:,.0f} px from the image origin")
        need = 2 if self.shape in ("rectangle", "ellipse") else 3
        if len(self.points) < need:
            raise UserError(
                f"ROI {self.id}: a {self.shape} needs at least {need} points, got {len(self.points)}"
            )
        try:
            self.frame, self.image = int(self.frame), int(self.image)
        except (TypeError, ValueError):
            raise UserError(f"ROI {self.id}: image and frame must be whole numbers") from None

    # -- geometry (image pixels) ------------------------------------------------
    def outline(self, n_ellipse: int = 64) -> np.ndarray:
        """The closed outline as an (N, 2) float array of (x, y) vertices."""
        pts = np.asarray(self.points, dtype=float)
        if self.shape == "rectangle":
            (x0, y0), (x1, y1) = pts[0], pts[1]
            return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        if self.shape == "ellipse":
            (x0, y0), (x1, y1) = pts[0], pts[1]
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
            t = np.linspace(0, 2 * np.pi, n_ellipse, endpoint=False)
            return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
        return pts

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the outline, x0 <= x1, y0 <= y1."""
        o = self.outline()
        return float(o[:, 0].min()), float(o[:, 1].min()), float(o[:, 0].max()), float(o[:, 1].max())

    def area_px(self) -> float:
        """Enclosed area in square pixels (exact for rectangle and ellipse)."""
        x0, y0, x1, y1 = self.bbox()
        if self.shape == "rectangle":
            return (x1 - x0) * (y1 - y0)
        if self.shape == "ellipse":
            return math.pi * (x1 - x0) * (y1 - y0) / 4
        o = self.outline()
        x, y = o[:, 0], o[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)

    def mask(self, height: int, width: int) -> np.ndarray:
        """Boolean (height, width) mask of the pixels whose centres lie inside the ROI or on its outline.

        Pixel centres are at integer coordinates; the outline is closed implicitly and
        filled even-odd, whichever way round it was drawn.
        """
        return outline_mask(self.outline(), height, width)

    def max_diameter(self, mm_per_px: tuple[float, float] = (1.0, 1.0)) -> float:
        """Largest distance between two outline points, in mm when given (dx, dy) mm/px.

        This is the maximal lesion diameter a sonographer would measure with calipers
        across the drawn outline.
        """
        o = self.outline() * np.asarray(mm_per_px, dtype=float)
        d = o[:, None, :] - o[None, :, :]
        return float(np.sqrt((d**2).sum(-1)).max())


_ON_EDGE = 1e-9  # pixel centres this close to the outline count as inside


def outline_mask(outline: np.ndarray, height: int, width: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Boolean (height, width) mask of the pixel centres inside a closed outline or on it (see Roi.mask).

    ``outline`` is (N, 2) image (x, y) vertices; ``origin`` is the image pixel of element [0, 0].
    """
    out = np.zeros((max(height, 0), max(width, 0)), dtype=bool)
    pts = np.asarray(outline, dtype=float).reshape(-1, 2)
    if not len(pts) or height <= 0 or width <= 0:
        return out
    ox, oy = origin
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    c0, r0 = max(int(math.floor(x0)), ox), max(int(math.floor(y0)), oy)
    c1, r1 = min(int(math.ceil(x1)), ox + width - 1), min(int(math.ceil(y1)), oy + height - 1)
    if c1 < c0 or r1 < r0:
        return out
    out[r0 - oy : r1 - oy + 1, c0 - ox : c1 - ox + 1] = _fill_outline(pts, r0, r1, c0, c1)
    return out


def _fill_outline(outline: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Pixel centres (rows r0..r1, columns c0..c1) inside a closed polygon or on its edges.

    A scanline fill: row y meets each non-horizontal edge (half-open in y, so a vertex
    is counted once) at most once, and a centre is inside when an odd number of those
    crossings lie to its right (even-odd rule). Centres on an edge (within
    ``_ON_EDGE``) are inside too, so the result does not depend on the outline's
    orientation.
    """
    a = np.asarray(outline, dtype=float)
    b = np.roll(a, -1, axis=0)
    n_rows, n_cols = r1 - r0 + 1, c1 - c0 + 1
    y = np.arange(r0, r1 + 1, dtype=float)[:, None]  # (rows, 1) against (edges,)
    slanted = a[:, 1] != b[:, 1]
    ax, ay, bx, by = a[slanted, 0], a[slanted, 1], b[slanted, 0], b[slanted, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        x = ax + (y - ay) * (bx - ax) / (by - ay)  # (rows, edges): where row y meets each edge's line
    lo, hi = np.minimum(ay, by), np.maximum(ay, by)
    # each crossing adds one to the count of every centre left of it: a difference array per row
    row, edge = np.nonzero((lo <= y) & (y < hi))
    first_right = np.searchsorted(np.arange(c0, c1 + 1, dtype=float), x[row, edge], side="left")
    diff = np.zeros((n_rows, n_cols + 1), dtype=np.int32)
    np.add.at(diff, (row, 0), 1)
    np.add.at(diff, (row, first_right), -1)
    inside = np.cumsum(diff[:, :-1], axis=1) % 2 == 1
    # centres on a slanted edge
    row, edge = np.nonzero((lo - _ON_EDGE <= y) & (y <= hi + _ON_EDGE))
    xs = x[row, edge]
    col = np.round(xs)
    hit = (np.abs(xs - col) <= _ON_EDGE) & (col >= c0) & (col <= c1)
    inside[row[hit], (col[hit] - c0).astype(int)] = True
    # centres on a horizontal edge
    cols = np.arange(c0, c1 + 1, dtype=float)
    for (px, py), (qx, qy) in zip(a[~slanted], b[~slanted]):
        i = int(round(py)) - r0
        if abs(py - round(py)) <= _ON_EDGE and 0 <= i < n_rows:
            inside[i] |= (min(px, qx) - _ON_EDGE <= cols) & (cols <= max(px, qx) + _ON_EDGE)
    return inside


MEASUREMENT_KINDS: tuple[str, ...] = ("distance", "ellipse")


@dataclass
class Measurement:
    """A reader's caliper on one frame of one image: geometry only, values come from the calibration.

    ``distance``: the two ends of a line; ``ellipse``: two opposite corners of the
    (axis-aligned) ellipse's bounding box. Image pixel coordinates, as for ROIs.
    """

    kind: str
    points: list[tuple[float, float]]
    image: int = 0
    frame: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.kind not in MEASUREMENT_KINDS:
            raise UserError(f"measurement {self.id}: kind {self.kind!r} is not one of {MEASUREMENT_KINDS}")
        try:
            self.points = [(float(x), float(y)) for x, y in self.points]
        except (TypeError, ValueError):
            raise UserError(f"measurement {self.id}: points must be [x, y] pairs of numbers") from None
        if len(self.points) != 2:
            raise UserError(f"measurement {self.id}: a {self.kind} needs 2 points, got {len(self.points)}")
        if any(not (math.isfinite(x) and math.isfinite(y)) for x, y in self.points):
            raise UserError(f"measurement {self.id}: points must be finite numbers")
        self.frame = int(self.frame)
        self.image = int(self.image)
        if self.frame < 0 or self.image < 0:
            raise UserError(f"measurement {self.id}: image and frame must be >= 0")


@dataclass
class ClinicalFactors:
    """Clinical and ultrasonic factors a reader enters. ``None`` means not recorded.

    FLL factors follow Yang et al. 2020 (nomogram: score, sex, age, extrahepatic
    tumour history, hepatitis, halo, vascularity); soft-tissue ones Long et al. 2023.
    """

    age: float | None = None  # years
    sex: Literal["M", "F"] | None = None
    # liver
    hepatitis: int | None = None  # 0 none, 1 HBV, 2 HCV, 3 HBV+HCV
    tumour_history: bool | None = None  # extrahepatic primary tumour history
    afp: float | None = None  # ng/mL
    halo: bool | None = None  # hypoechoic halo
    vascularity: bool | None = None  # intratumoural vascularity on CDFI
    shape: Literal["round", "ellipse", "irregular"] | None = None
    margin: Literal["smooth", "not_smooth"] | None = None
    echogenicity: Literal["hypo", "iso", "hyper", "heterogeneous"] | None = None
    posterior_enhancement: bool | None = None
    satellite: bool | None = None
    # soft tissue
    site: str | None = None  # body site, free text (e.g. "trunk", "thigh")
    depth_mm: float | None = None

    def __post_init__(self) -> None:
        for name in ("age", "afp", "depth_mm"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise UserError(f"clinical factor {name}: {v!r} is not a number")
        if self.age is not None and not (0 <= float(self.age) <= 120):
            raise UserError(f"clinical factor age: {self.age} is outside 0-120 years")
        if self.sex not in (None, "M", "F"):
            raise UserError(f"clinical factor sex: {self.sex!r} is not 'M' or 'F'")
        if self.hepatitis is not None and self.hepatitis not in HEPATITIS_LEVELS:
            raise UserError(f"clinical factor hepatitis: {self.hepatitis!r} is not one of 0-3")
        if self.afp is not None and float(self.afp) < 0:
            raise UserError(f"clinical factor afp: {self.afp} ng/mL is negative")
        if self.depth_mm is not None and float(self.depth_mm) < 0:
            raise UserError(f"clinical factor depth_mm: {self.depth_mm} is negative")

    @property
    def afp_high(self) -> bool | None:
        """AFP > 200 ng/mL, the paper's dichotomy."""
        return None if self.afp is None else self.afp > 200

    def missing(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Those of ``names`` that are not recorded."""
        return [n for n in names if getattr(self, n) is None]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}


_coord = {"type": "number", "minimum": -COORD_LIMIT, "maximum": COORD_LIMIT}
_index = {"type": "integer", "minimum": 0, "maximum": MAX_FRAME}
_bool = _nullable({"type": "boolean"})

# What a case file may hold, checked before any of it is used (Case.from_dict).
CASE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Ultrasound Reader case",
    "type": "object",
    "required": ["task", "case_id"],
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "task": {"enum": list(TASKS)},
        "case_id": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 256},
                              {"type": "integer", "minimum": 0}]},
        "images": {
            "type": "array", "maxItems": MAX_IMAGES,
            "items": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "minLength": 1, "maxLength": 4096},
                               "frame": _index, "role": {"enum": list(IMAGE_ROLES)}},
                "additionalProperties": False,
            },
        },
        "rois": {
            "type": "array", "maxItems": MAX_ROIS,
            "items": {
                "type": "object", "required": ["kind", "shape", "points"],
                "properties": {
                    "kind": {"enum": list(ROI_KINDS)},
                    "shape": {"enum": list(ROI_SHAPES)},
                    "points": {"type": "array", "minItems": 2, "maxItems": MAX_ROI_POINTS,
                               "items": {"type": "array", "prefixItems": [_coord, _coord],
                                         "minItems": 2, "maxItems": 2}},
                    "image": {"type": "integer", "minimum": 0, "maximum": MAX_IMAGES - 1},
                    "frame": _index,
                    "id": {"type": "string", "minLength": 1, "maxLength": 128},
                },
                "additionalProperties": False,
            },
        },
        "factors": {
            "type": "object",
            "properties": {
                "age": _nullable({"type": "number", "minimum": 0, "maximum": 120}),
                "sex": {"enum": [None, "M", "F"]},
                "hepatitis": {"enum": [None, *HEPATITIS_LEVELS]},
                "tumour_history": _bool, "halo": _bool, "vascularity": _bool,
                "posterior_enhancement": _bool, "satellite": _bool,
                "afp": _nullable({"type": "number", "minimum": 0, "maximum": 1e7}),
                "shape": {"enum": [None, "round", "ellipse", "irregular"]},
                "margin": {"enum": [None, "smooth", "not_smooth"]},
                "echogenicity": {"enum": [None, "hypo", "iso", "hyper", "heterogeneous"]},
                "site": _nullable({"type": "string", "maxLength": 200}),
                "depth_mm": _nullable({"type": "number", "minimum": 0, "maximum": 1000}),
            },
            "additionalProperties": False,
        },
        "notes": {"type": "string", "maxLength": 100_000},
    },
}


@dataclass
class Case:
    """A case to read: its task, images, ROIs and clinical factors (never its truth)."""

    task: Task
    case_id: str
    images: list[ImageRef] = field(default_factory=list)
    rois: list[Roi] = field(default_factory=list)
    factors: ClinicalFactors = field(default_factory=ClinicalFactors)
    notes: str = ""
    measurements: list[Measurement] = field(default_factory=list)  # calipers; absent in older case files
    # Folder the relative image paths are resolved against; not serialised.
    root: Path | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UserError(f"case {self.case_id}: task {self.task!r} is not one of {TASKS}")
        for roi in self.rois:
            if not 0 <= roi.image < max(len(self.images), 1):
                raise UserError(
                    f"case {self.case_id}: ROI {roi.id} refers to image {roi.image}, "
                    f"but the case has {len(self.images)} image(s)"
                )
        for m in self.measurements:
            if not 0 <= m.image < max(len(self.images), 1):
                raise UserError(
                    f"case {self.case_id}: measurement {m.id} refers to image {m.image}, "
                    f"but the case has {len(self.images)} image(s)"
                )

    def image_path(self, index: int) -> Path:
        """Absolute path of image ``index``."""
        p = Path(self.images[index].file)
        return p if p.is_absolute() or self.root is None else self.root / p

    def rois_of(self, kind: str) -> list[Roi]:
        return [r for r in self.rois if r.kind == kind]

    # -- JSON ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema": SCHEMA_VERSION,
            "task": self.task,
            "case_id": self.case_id,
            "images": [asdict(i) for i in self.images],
            "rois": [
                {**asdict(r), "points": [[x, y] for x, y in r.points]} for r in self.rois
            ],
            "factors": {k: v for k, v in asdict(self.factors).items() if v is not None},
            "notes": self.notes,
            "measurements": [
                {**asdict(m), "points": [[x, y] for x, y in m.points]} for m in self.measurements
            ],
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], root: Path | None = None, source: str = "case") -> Case:
        from ultrasound_reader import safejson

        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a JSON object")
        schema = d.get("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise UserError(f"{source}: schema version {safejson.short(schema)} is not supported "
                            f"(expected {SCHEMA_VERSION})")
        factor_names = {f.name for f in fields(ClinicalFactors)}
        factors = d.get("factors", {})
        unknown = set(factors) - factor_names if isinstance(factors, dict) else set()
        if unknown:
            raise UserError(f"{source}: unknown clinical factor(s) "
                            f"{', '.join(safejson.short(k, 40) for k in sorted(unknown)[:5])}")
        safejson.validate(d, CASE_SCHEMA, source)
        try:
            return cls(
                task=d["task"],
                case_id=str(d["case_id"]),
                images=[ImageRef(**i) for i in d.get("images", [])],
                rois=[Roi(**{**r, "points": [tuple(p) for p in r["points"]]}) for r in d.get("rois", [])],
                factors=ClinicalFactors(**d.get("factors", {})),
                notes=d.get("notes", ""),
                measurements=[Measurement(**m) for m in _objects(d.get("measurements", []), source, "measurements")],
                root=root,
            )
        except KeyError as exc:
            raise UserError(f"{source}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise UserError(f"{source}: {safejson.printable(str(exc))}") from None
        except UserError as exc:
            raise UserError(f"{source}: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write ``case.json`` into a folder, or to the given ``*.json`` path."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path / "case.json"
        from ultrasound_reader.paths import atomic_write

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create case folder {path.parent} ({exc.strerror or exc})") from None
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        # atomic: a crash never leaves half a case file
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        self.root = path.parent
        return path

    @classmethod
    def load(cls, path: str | Path) -> Case:
        """Read a case from a folder holding ``case.json`` or from a ``.json`` file."""
        path = Path(path)
        if path.is_dir():
            path = path / "case.json"
        if not path.is_file():
            raise UserError(f"{path}: no such case file")
        from ultrasound_reader.safejson import read_json

        try:
            data = read_json(path, max_bytes=MAX_CASE_BYTES, what="case file", max_depth=8)
        except UserError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            raise UserError(f"{path}: not a readable case file ({reason})") from None
        return cls.from_dict(data, root=path.parent, source=str(path))


def _objects(value: Any, source: str, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise UserError(f"{source}: {name} must be a list of objects")
    return value


@dataclass
class Truth:
    """Reference standard of one case (a row of ``truth.csv``), kept apart from the case."""

    case_id: str
    malignant: bool
    subtype: str | None = None  # soft tissue benign subtype, or a liver diagnosis
    lb_type: str | None = None  # liver background: normal / steatosis / fibrosis
    lesion_size_cm: float | None = None
    centre: str | None = None
    cohort: str | None = None  # e.g. training / internal / external

    @staticmethod
    def read_csv(path: str | Path) -> dict[str, Truth]:
        """All truths of a CSV file, by case id."""
        path = Path(path)
        out: dict[str, Truth] = {}
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                for line, row in enumerate(csv.DictReader(fh), start=2):
                    try:
                        t = Truth(
                            case_id=row["case_id"],
                            malignant=row["malignant"].strip().lower() in ("1", "true", "yes"),
                            subtype=row.get("subtype") or None,
                            lb_type=row.get("lb_type") or None,
                            lesion_size_cm=float(row["lesion_size_cm"]) if row.get("lesion_size_cm") else None,
                            centre=row.get("centre") or None,
                            cohort=row.get("cohort") or None,
                        )
                    except (KeyError, ValueError) as exc:
                        raise UserError(f"{path}, line {line}: bad truth row ({exc})") from None
                    out[t.case_id] = t
        except OSError as exc:
            raise UserError(f"{path}: cannot read truth file ({exc.strerror})") from None
        return out

    @staticmethod
    def write_csv(path: str | Path, truths: list[Truth]) -> None:
        names = [f.name for f in fields(Truth)]
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=names)
            w.writeheader()
            for t in truths:
                row = asdict(t)
                row["malignant"] = int(t.malignant)
                w.writerow({k: ("" if v is None else v) for k, v in row.items()})


@dataclass
class CamMap:
    """A Grad-CAM map of one ROI crop: float32 values in [0, 1], shaped like the ROI bbox."""

    roi_id: str
    model: str  # which output it explains, e.g. "L", "LB", "DLM-1", "SM-2"
    image: int
    frame: int
    bbox: tuple[int, int, int, int]  # (x0, y0, x1, y1) in image pixels, x1/y1 exclusive
    heat: np.ndarray = field(repr=False)


@dataclass
class AnalysisResult:
    """What an analysis of a case gives. JSON-serialisable except the CAM arrays.

    ``probabilities`` holds lesion-level outputs by model name (FLL: ``L``, ``LB``,
    ``LBC``; soft tissue: ``DLM-1``, ``SM-1`` … ``SM-5``). ``complete`` is False when
    some output could not be computed (e.g. LBC without clinical factors); the
    ``warnings`` then say why.
    """

    case_id: str
    task: Task
    bundle_name: str
    bundle_version: str
    probabilities: dict[str, float] = field(default_factory=dict)
    cutoff: float | None = None
    decision_model: str | None = None
    decision: str | None = None  # "malignant" / "benign"
    subtype: str | None = None
    per_image: list[dict[str, Any]] = field(default_factory=list)
    nomogram_points: dict[str, float] = field(default_factory=dict)
    total_points: float | None = None
    lesion_size_cm: float | None = None
    size_band: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    not_for_clinical_use: bool = True
    complete: bool = True
    request_id: str | None = None
    # FLL: the liver-background type from Model^LB's LB head (normal / steatosis / fibrosis).
    lb_type: str | None = None
    lb_type_probabilities: dict[str, float] = field(default_factory=dict)
    # Human label of each output key (e.g. "SM-1": "lipoma", "LBC": "Model^LBC ...").
    model_labels: dict[str, str] = field(default_factory=dict)
    cams: list[CamMap] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cams"] = [
            {k: v for k, v in asdict(c).items() if k != "heat"} | {"shape": list(c.heat.shape)}
            for c in self.cams
        ]
        return d
