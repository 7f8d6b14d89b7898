"""The fault campaign (ultrasound_reader.dicom.fuzz): the harness tells each outcome apart,
and mutated files give no crash, hang, memory blow-up, foreign exception or noisy stderr.

The default run tries a few hundred files; ``-m slow`` runs 10,000.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import ultrasound_reader
from ultrasound_reader.dicom.fuzz import BAD, Worker, mutate, run_campaign

CODE_ROOT = Path(ultrasound_reader.__file__).resolve().parents[1]

_FAKE_OPEN = '''
import os, time
from ultrasound_reader.errors import UserError

class _Cine:
    n_frames = 1
    def frame(self, i): return None
    def __enter__(self): return self
    def __exit__(self, *a): pass

def open_cine(path):
    name = os.path.basename(str(path))
    if name.startswith("abort"):
        os.abort()
    if name.startswith("sleep"):
        time.sleep(60)
    if name.startswith("eat"):
        blocks = []
        while True:
            blocks.append(bytearray(64 << 20))
    if name.startswith("key"):
        raise KeyError("foreign")
    if name.startswith("refuse"):
        raise UserError(f"{path}: refused")
    return _Cine()
'''

_FAKE_CLI = '''
import sys
def main(argv):
    print("one line\\n" * (3 if "noisy" in argv[1] else 0), end="", file=sys.stderr)
    return 1 if "refuse" in argv[1] else 0
'''


def test_harness_tells_outcomes_apart(tmp_path):
    """A stand-in package whose open_cine aborts, sleeps, eats memory, raises or refuses."""
    pkg = tmp_path / "code" / "ultrasound_reader"
    (pkg / "dicom").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("class UserError(Exception):\n    pass\n")
    (pkg / "cli.py").write_text(textwrap.dedent(_FAKE_CLI))
    (pkg / "dicom" / "__init__.py").write_text(textwrap.dedent(_FAKE_OPEN))
    worker = Worker(tmp_path / "code", mem_mib=512, timeout=3)
    try:
        got = {}
        for name in ("abort", "sleep", "eat", "key", "refuse", "fine", "noisy", "fine2"):
            path = tmp_path / f"{name}.dcm"
            path.write_bytes(b"x")
            got[name] = worker.run(path)
    finally:
        worker.close()
    assert got["abort"] == {"outcome": "crash", "detail": "SIGABRT"}
    assert got["sleep"]["outcome"] == "hang"
    assert got["eat"]["outcome"] == "memory"
    assert got["key"]["outcome"] == "foreign" and "KeyError" in got["key"]["detail"]
    assert got["refuse"]["outcome"] == "refused" and got["refuse"]["inspect_rc"] == 1
    assert got["fine"]["outcome"] == got["fine2"]["outcome"] == "opened"
    assert got["noisy"]["stderr_lines"] == 3
    assert worker.starts == 3  # restarted after the crash and the hang, not per file


def test_mutations_are_reproducible():
    import random

    seed = bytes(range(256)) * 8
    a = mutate(seed, random.Random(5))
    b = mutate(seed, random.Random(5))
    assert a == b and a[0] != seed


def _check(campaign) -> None:
    bad = {o: campaign.outcomes.get(o, 0) for o in BAD}
    assert not any(bad.values()), (campaign.table(), campaign.examples)
    assert campaign.noisy == 0, campaign.examples.get("noisy")
    # The mutators reach both sides: some files still open, most are refused.
    assert campaign.outcomes["opened"] > 0 and campaign.outcomes["refused"] > 0


def test_campaign_few_hundred_files():
    campaign = run_campaign(300, seed=15, timeout=30, mem_mib=3072, code_root=CODE_ROOT)
    assert campaign.tried == 300
    _check(campaign)


@pytest.mark.slow
def test_campaign_ten_thousand_files():
    campaign = run_campaign(10_000, seed=2026, jobs=2, timeout=30, mem_mib=3072, code_root=CODE_ROOT)
    print(campaign.table())
    _check(campaign)
