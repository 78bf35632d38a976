"""Tiny image sets and configs for the trainer tests (seconds each on 2 CPU cores)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rlfn.train.config import build_config


def make_images(folder: Path, n: int = 4, size: tuple[int, int] = (48, 40), seed: int = 0) -> Path:
    """Smooth random colour images (learnable: mostly low frequencies, a little texture)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(n):
        coarse = rng.uniform(0, 255, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
        img = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
        arr = np.asarray(img).astype(np.float64) + rng.normal(0, 4, (h, w, 3))
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


def tiny_config(tmp_path: Path, stages: list[dict] | None = None, **sections) -> "object":
    data = make_images(tmp_path / "train") if not (tmp_path / "train").exists() else tmp_path / "train"
    val = make_images(tmp_path / "val", n=2, size=(40, 36), seed=1) if not (tmp_path / "val").exists() else tmp_path / "val"
    raw = {
        "name": "tiny",
        "out_dir": str(tmp_path / "run"),
        "model": {"variant": "rlfn_s", "scale": 2},
        "data": {"hr_dirs": [str(data)], "patch_size": 16, "batch_size": 4},
        "loss": {"l1": 1.0},
        "optim": {"lr": 2e-3, "schedule": "constant"},
        "val": {"hr_dirs": [str(val)], "every": 1000, "images": 0},
        "train": {"steps": 10, "seed": 0, "log_every": 1, "checkpoint_every": 1000, "tensorboard": False},
    }
    for k, v in sections.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) else v
    if stages is not None:
        raw["stages"] = stages
    return build_config(raw)
