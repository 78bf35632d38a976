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


@pytest.fixture(autouse=True, scope="session")
def _float32_unless_asked():
    """``--precision auto`` is bf16 on CPUs that compute it natively: the suite's exact comparisons are made in
    float32 on every machine, and the bf16 tests (tests/test_bf16.py) set RLFN_CPU_BF16 themselves."""
    saved = os.environ.get("RLFN_CPU_BF16")
    os.environ["RLFN_CPU_BF16"] = "0"
    yield
    if saved is None:
        os.environ.pop("RLFN_CPU_BF16", None)
    else:
        os.environ["RLFN_CPU_BF16"] = saved


@pytest.fixture(autouse=True, scope="session")
def _no_downloads(tmp_path_factory):
    """Nothing downloads in the tests: "official" weights come from ../shared in place (a file:// mirror),
    or, where it is absent, from an empty folder, so that a fetch fails at once instead of going online."""
    source = OFFICIAL if OFFICIAL.is_dir() else tmp_path_factory.mktemp("no-weights")
    saved = {k: os.environ.get(k) for k in ("RLFN_WEIGHTS_URL", "RLFN_CACHE")}
    os.environ["RLFN_WEIGHTS_URL"] = source.resolve().as_uri()
    os.environ["RLFN_CACHE"] = str(tmp_path_factory.mktemp("weights-cache"))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


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
