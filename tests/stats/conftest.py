"""Fixtures of the stats tests: the R reference data set (pROC's aSAH) and its values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def asah_csv(stats_ref: Path) -> Path:
    return stats_ref / "dev-asah.csv"


@pytest.fixture(scope="session")
def asah(asah_csv: Path) -> pd.DataFrame:
    return pd.read_csv(asah_csv)


@pytest.fixture(scope="session")
def ref(stats_ref: Path) -> dict:
    return json.loads((stats_ref / "dev-asah-ref.json").read_text())


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)
