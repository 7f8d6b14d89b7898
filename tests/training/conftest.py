"""Phantom data sets for the training tests, made once per session (small, few frames)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _phantom(task: str, n: int, seed: int, out: Path) -> Path:
    from ultrasound_reader.phantom.generate import Options, generate

    generate(task, n, seed, out, options=Options(frames=4) if task == "liver" else Options())
    return out


@pytest.fixture(scope="session")
def liver_phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _phantom("liver", 24, 7, tmp_path_factory.mktemp("liver-phantom"))


@pytest.fixture(scope="session")
def soft_phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _phantom("soft-tissue", 48, 7, tmp_path_factory.mktemp("soft-phantom"))


@pytest.fixture(scope="session")
def crop_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crop-cache")
