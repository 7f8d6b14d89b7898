"""Seeded mutation campaign over case files and manifests: a mutant is accepted or refused with a
UserError (one line, capped, printable), never a foreign exception.

Each mutant replaces one value (leaf or container) of a valid document by a hostile one:
wrong types, huge and negative numbers, deep nesting, long and control-character
strings, or the raw tokens NaN / Infinity / 1e999 written into the file text.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from ultrasound_reader.ai.bundle import default_manifest
from ultrasound_reader.ai.manifest import validate
from ultrasound_reader.case import Case, ClinicalFactors, ImageRef, Roi
from ultrasound_reader.errors import UserError

N_MUTANTS = 150
RAW_TOKENS = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")


def _hostile(rng: random.Random) -> Any:
    return rng.choice([
        None, True, False, 0, -1, 1e300, -1e300, 2**64, 3.5, "", "x" * 5000, "\x1b[2J\x00\n",
        "sixty", [], {}, [[1, 2]], {"a": 1}, [None] * 3, [[[[[[[[[[[]]]]]]]]]]],
        rng.randint(-10**6, 10**6), rng.random() * 10**rng.randint(0, 12),
    ])


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            out += _paths(v, prefix + (i,))
    return out


def _mutant(doc: Any, rng: random.Random) -> str:
    """JSON text of ``doc`` with one value replaced (or a raw non-JSON number token in its place)."""
    d = copy.deepcopy(doc)
    path = rng.choice(_paths(d))
    parent = d
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.2:
        parent[path[-1]] = "@@TOKEN@@"
        return json.dumps(d).replace('"@@TOKEN@@"', rng.choice(RAW_TOKENS))
    parent[path[-1]] = _hostile(rng)
    return json.dumps(d)


def _check_refusal(exc: UserError) -> None:
    text = str(exc)
    assert "\n" not in text and "\x1b" not in text and "\x00" not in text
    assert len(text) < 600, text[:200]


def _case_doc() -> dict[str, Any]:
    return Case("liver-fll", "PHANTOM-m", images=[ImageRef("a.dcm", frame=2), ImageRef("b.dcm", role="cdfi")],
                rois=[Roi("lesion", "polygon", [(10, 10), (60, 15), (30, 50)], frame=2, id="l1"),
                      Roi("background", "rectangle", [(70, 70), (120, 110)], image=1, id="b1")],
                factors=ClinicalFactors(age=55, sex="M", hepatitis=1, tumour_history=False, halo=True,
                                        vascularity=False, afp=12.0)).to_dict()


@pytest.mark.parametrize("seed", range(3))
def test_case_file_mutants(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    doc, accepted, refused = _case_doc(), 0, 0
    path = tmp_path / "case.json"
    for _ in range(N_MUTANTS):
        path.write_text(_mutant(doc, rng))
        try:
            case = Case.load(path)
        except UserError as exc:
            _check_refusal(exc)
            refused += 1
            continue
        accepted += 1
        # What was accepted is a sound case: it writes strict JSON and reads back equal.
        case.save(tmp_path / "again.json")
        assert Case.load(tmp_path / "again.json") == case
    assert refused > N_MUTANTS // 3 and accepted > 0  # the campaign exercised both outcomes


def _manifest_doc() -> dict[str, Any]:
    m = default_manifest("liver-fll", small=True)
    m["files"] = {"L.safetensors": "0" * 64, "LB.safetensors": "0" * 64, "MODEL_CARD.md": "0" * 64}
    return m


@pytest.mark.parametrize("seed", range(2))
def test_manifest_mutants(tmp_path: Path, seed: int) -> None:
    from ultrasound_reader.ai.manifest import read

    rng = random.Random(100 + seed)
    doc, refused = _manifest_doc(), 0
    validate(doc)
    path = tmp_path / "manifest.json"
    for _ in range(N_MUTANTS):
        path.write_text(_mutant(doc, rng))
        try:
            data, _ = read(path)
            validate(data, str(path))
        except UserError as exc:
            _check_refusal(exc)
            refused += 1
            continue
        json.dumps(data, allow_nan=False)  # accepted means strict JSON, every number finite
    assert refused > N_MUTANTS // 3
