"""Untrusted case files: each malformed one is refused with one line naming the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ultrasound_reader import safejson
from ultrasound_reader.case import MAX_CASE_BYTES, Case, ClinicalFactors, ImageRef, Roi
from ultrasound_reader.errors import UserError


def _good() -> dict:
    case = Case("liver-fll", "PHANTOM-v", images=[ImageRef("a.dcm", frame=1)],
                rois=[Roi("lesion", "rectangle", [(10, 10), (50, 40)], frame=1, id="r1")],
                factors=ClinicalFactors(age=60, sex="F", hepatitis=2, halo=False))
    return case.to_dict()


def _write(tmp_path: Path, data: object = None, raw: str | None = None) -> Path:
    path = tmp_path / "case.json"
    path.write_text(raw if raw is not None else json.dumps(data))
    return path


def _edit(change) -> dict:
    d = _good()
    change(d)
    return d


@pytest.mark.parametrize("data, message", [
    (_edit(lambda d: d["rois"][0].__setitem__("points", [["a", "b"], ["c", "d"]])),
     r"rois/0/points/\d/\d: '[a-d]' is not of type number"),
    (_edit(lambda d: d["factors"].__setitem__("age", "sixty")), r"factors/age: 'sixty' is not of type number"),
    (_edit(lambda d: d["factors"].__setitem__("age", 300)), r"factors/age: 300 is greater than the maximum of 120"),
    (_edit(lambda d: d["rois"][0].__setitem__("points", [[10, 10], [1e300, 1e300]])),
     r"rois/0/points/1/\d: 1e\+300 is greater than the maximum of 100000"),
    (_edit(lambda d: d["factors"].__setitem__("halo", "yes")), r"factors/halo: 'yes' is not of type boolean"),
    (_edit(lambda d: d["factors"].__setitem__("hepatitis", True)), r"factors/hepatitis: True is not one of"),
    (_edit(lambda d: d["images"][0].__setitem__("frame", -1)), r"images/0/frame: -1 is less than the minimum of 0"),
    (_edit(lambda d: d["rois"][0].__setitem__("image", "0")), r"rois/0/image: '0' is not of type integer"),
    (_edit(lambda d: d["rois"][0].__setitem__("colour", "red")), r"rois/0: unexpected key\(s\) 'colour'"),
    (_edit(lambda d: d.__setitem__("rois", [d["rois"][0]] * 300)), r"rois: has 300 item"),
    (_edit(lambda d: d["rois"][0].__setitem__("id", "\x1b[31m" + "x" * 500)), r"rois/0/id: has 505"),
    (_edit(lambda d: d.__setitem__("task", "brain\x1b[2J")), r"task: 'brain\\x1b\[2J' is not one of"),
])
def test_malformed_field_is_named(tmp_path: Path, data: dict, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(UserError, match=message) as info:
        Case.load(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text and "\x1b" not in text and len(text) < 400


@pytest.mark.parametrize("raw, message", [
    ('{"task": "liver-fll", "case_id": "x", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"task": "liver-fll", "case_id": "x", "notes": ' + "[" * 20 + "]" * 20 + "}", "nested too deeply"),
    ('{"task": "liver-fll", "case_id": "x", "factors": {"age": NaN}}', "NaN is not a JSON number"),
    ('{"task": "liver-fll", "case_id": "x", "factors": {"age": 1e400}}', "not finite"),
    ('{"task": "liver-fll", "case_id": "x", "factors": {"afp": -Infinity}}', "-Infinity is not a JSON number"),
    ("\xff\xfe", "not a readable case file"),
])
def test_hostile_json_is_refused(tmp_path: Path, raw: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Case.load(_write(tmp_path, raw=raw))


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    with path.open("wb") as fh:
        fh.truncate(MAX_CASE_BYTES + 1)  # sparse: the size alone must refuse it
    with pytest.raises(UserError, match=f"case file is {MAX_CASE_BYTES + 1:,} bytes, more than"):
        Case.load(path)


def test_constructors_refuse_bad_types_too() -> None:
    with pytest.raises(UserError, match="points must be .x, y. pairs of numbers"):
        Roi("lesion", "polygon", [("a", 1), (2, 3), (4, 5)])
    with pytest.raises(UserError, match="clinical factor age: 'sixty' is not a number"):
        ClinicalFactors(age="sixty")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="more than 100,000 px"):
        Roi("lesion", "rectangle", [(0, 0), (1e300, 1)])


def test_a_valid_case_still_round_trips(tmp_path: Path) -> None:
    path = _write(tmp_path, _good())
    assert Case.load(path).to_dict() == _good()


def test_saving_never_writes_nan(tmp_path: Path) -> None:
    case = Case.from_dict(_good())
    case.factors.afp = float("nan")  # set behind the constructor's back
    with pytest.raises(ValueError):
        case.save(tmp_path / "x.json")
    with pytest.raises(ValueError):
        safejson.dumps({"cutoff": float("nan")})


@pytest.mark.parametrize("raw", [
    '{"task": "liver-fll", "case_id": "x", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}",
    json.dumps(_edit(lambda d: d["rois"][0].__setitem__("points", [["a", "b"], ["c", "d"]]))),
    json.dumps(_edit(lambda d: d["factors"].__setitem__("age", "sixty"))),
    json.dumps(_edit(lambda d: d["rois"][0].__setitem__("points", [[10, 10], [1e300, 1e300]]))),
])
def test_cli_answers_exit_1_with_one_line(tmp_path: Path, raw: str) -> None:
    path = _write(tmp_path, raw=raw)
    out = subprocess.run([sys.executable, "-m", "ultrasound_reader", "analyze", str(path), "--no-cam"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert out.stdout == "" and out.stderr.count("\n") == 1 and str(path) in out.stderr
