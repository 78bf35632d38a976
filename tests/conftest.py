"""Shared fixtures. Tests read ../shared in place and skip, saying why, when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))
OFFICIAL = SHARED / "weights" / "official"
BENCHMARKS = SHARED / "data" / "benchmarks"
TRAIN_DATA = SHARED / "data" / "train"

torch.set_num_threads(min(2, os.cpu_count() or 1))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (the project's shared/ folder is not beside the checkout)")
    return path


@pytest.fixture
def official_dir() -> Path:
    return need(OFFICIAL)


@pytest.fixture
def benchmarks_dir() -> Path:
    return need(BENCHMARKS)


@pytest.fixture
def train_data_dir() -> Path:
    return need(TRAIN_DATA)
