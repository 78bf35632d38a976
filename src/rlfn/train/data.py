"""Training data: random (LR, HR) patch pairs from folders of HR images (or paired HR/LR folders).

Every sample is a pure function of (seed, stage, sample index): the image, the crop position and the
flip/rotation come from a generator seeded with those numbers. A run therefore sees the same batches
whether it is interrupted and resumed or not, whatever the number of loader workers, and the processes of
a distributed run draw disjoint index ranges (see :class:`StepBatchSampler`).

LR images are made by the MATLAB-compatible bicubic, either once per whole image at start ("cached",
the default: faster, and LR border pixels see their real neighbours) or per HR patch ("on_the_fly").
With ``data.degradation: realworld`` the HR patch is cropped, flipped/rotated, and then degraded by
:mod:`rlfn.quality.realworld` with a generator made from the same (seed, stage, sample index).
With ``data.hr_scales`` each image is also held at smaller sizes (a MATLAB-bicubic downscale, its LR made
from that). Images live in memory as uint8 (DIV2K's 800 HR images take about 5 GB; use fewer or paired LR
folders beyond that; ``hr_scales: [1.0, 0.75, 0.5]`` adds 81 % to that). With ``data.min_detail`` a flat
patch is drawn again (image, position) from the same generator, up to ``DETAIL_TRIES`` draws in all.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..errors import ConfigError, ImageError
from ..io.images import list_images
from ..quality.degradation import make_lr, modcrop, read_pair
from ..quality.imresize import imresize
from ..quality.realworld import RealWorldDegradation, sample_generator
from ..signals import STOP_SIGNALS
from .config import Config, ValConfig


@dataclass
class _Image:
    path: Path
    hr: torch.Tensor  # 3×H×W uint8
    lr: torch.Tensor | None  # 3×(H/s)×(W/s) uint8 (cached or paired), else None
    hr_scale: float = 1.0  # a downscaled copy of the image at path when < 1


def _u8(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp(0, 255).to(torch.uint8)


def load_images(hr_dirs: list[str], lr_dirs: list[str] | None, scale: int, lr_mode: str,
                key: str = "data", hr_scales: tuple[float, ...] = (1.0,)) -> list[_Image]:
    """Read every training image once, at each of ``hr_scales``; refuse folders that are missing or empty."""
    cached = lr_mode == "cached"
    images: list[_Image] = []
    for i, d in enumerate(hr_dirs):
        folder = Path(d)
        if not folder.is_dir():
            raise ConfigError(f"{key}.hr_dirs: {folder}: no such folder")
        try:
            files = list_images(folder)
        except ImageError as e:
            raise ConfigError(f"{key}.hr_dirs: {e}") from None
        lr_dir = Path(lr_dirs[i]) if lr_dirs else None
        if lr_dir is not None and not lr_dir.is_dir():
            raise ConfigError(f"{key}.lr_dirs: {lr_dir}: no such folder")
        for f in files:
            try:
                hr, lr = read_pair(f, lr_dir, scale, bicubic_lr=cached and 1.0 in hr_scales)
            except ImageError as e:
                raise ConfigError(str(e)) from None
            for factor in hr_scales:
                if factor == 1.0:
                    images.append(_Image(f, _u8(hr), None if lr is None else _u8(lr)))
                    continue
                small = modcrop(imresize(hr, scale=factor).round().clamp(0, 255), scale)
                if min(small.shape[1:]) >= scale:
                    images.append(_Image(f, _u8(small), _u8(make_lr(small, scale)) if cached else None, factor))
    return images


DETAIL_TRIES = 8  # draws per sample under data.min_detail; the last is kept whatever its detail


def patch_detail(hr: torch.Tensor) -> float:
    """How much a 3×H×W uint8 patch has for super-resolution to restore: the mean absolute difference between
    horizontally and vertically neighbouring pixels of its gray (the RGB mean), in 8-bit levels; 0 when flat."""
    g = hr.float().mean(0)
    return float(((g[1:] - g[:-1]).abs().mean() + (g[:, 1:] - g[:, :-1]).abs().mean()) / 2)


def orient(x: torch.Tensor, code: int) -> torch.Tensor:
    """One of the 8 flips/rotations (dihedral group), numbered 0–7."""
    if code & 1:
        x = x.flip(-1)
    if code & 2:
        x = x.flip(-2)
    if code & 4:
        x = x.transpose(-1, -2)
    return x.contiguous()


def augment(lr: torch.Tensor, hr: torch.Tensor, code: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 flips/rotations (dihedral group), applied identically to both patches."""
    return orient(lr, code), orient(hr, code)


def check_patch(images: list[_Image], scale: int, patch: int, key: str = "data.patch_size") -> list[_Image]:
    """The images that hold one HR patch of (patch × scale)² pixels: every image as read must, a downscaled
    copy that does not is left out."""
    need = patch * scale
    for im in images:
        if im.hr_scale == 1.0 and min(im.hr.shape[1:]) < need:
            raise ConfigError(
                f"{im.path}: {im.hr.shape[2]}×{im.hr.shape[1]} pixels is smaller than the HR patch {need}×{need} "
                f"({key} {patch} × scale {scale}); lower {key} or remove the image"
            )
    return [im for im in images if min(im.hr.shape[1:]) >= need]


class PatchDataset(Dataset):
    """Index ``i`` → one (LR, HR) uint8 patch pair, deterministic in (seed, stage, i).

    ``degrade``: None for the bicubic LR, or a :class:`RealWorldDegradation` that makes the LR from the
    (augmented) HR patch with the generator ``sample_generator(seed, stage, i)``.
    """

    def __init__(self, images: list[_Image], scale: int, patch: int, augment: bool = True, seed: int = 0,
                 stage: int = 0, degrade: RealWorldDegradation | None = None, weighting: str = "image",
                 min_detail: float = 0.0):
        self.images, self.scale, self.patch = images, scale, patch
        self.augment, self.seed, self.stage, self.degrade = augment, seed, stage, degrade
        self.min_detail = min_detail
        # "area": an image is drawn in proportion to its patch positions, so every HR pixel is equally likely
        # (what cutting images into equal sub-images gives); "image": every image equally often
        self.cum_area = None
        if weighting == "area":
            area = [(im.hr.shape[1] // scale - patch + 1) * (im.hr.shape[2] // scale - patch + 1) for im in images]
            self.cum_area = np.cumsum(area, dtype=np.float64)

    def _pick(self, rng: np.random.Generator) -> _Image:
        if self.cum_area is None:
            return self.images[int(rng.integers(len(self.images)))]
        i = int(np.searchsorted(self.cum_area, rng.random() * self.cum_area[-1], side="right"))
        return self.images[min(i, len(self.images) - 1)]

    def __len__(self) -> int:  # samples are drawn by index from an unbounded stream
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.stage, int(index)])
        s, p = self.scale, self.patch
        # without min_detail this is one draw, in the order every earlier run drew, so they replay unchanged
        for _ in range(DETAIL_TRIES if self.min_detail > 0 else 1):
            im = self._pick(rng)
            h, w = im.hr.shape[1] // s, im.hr.shape[2] // s
            y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
            hr = im.hr[:, y * s: (y + p) * s, x * s: (x + p) * s]
            if self.min_detail <= 0 or patch_detail(hr) >= self.min_detail:
                break
        if self.degrade is not None:
            if self.augment:
                hr = orient(hr, int(rng.integers(8)))
            return self.degrade(hr, sample_generator(self.seed, self.stage, int(index))), hr.contiguous()
        if im.lr is not None:
            lr = im.lr[:, y: y + p, x: x + p]
        else:
            lr = _u8(make_lr(hr.to(torch.float64), s))
        if self.augment:
            lr, hr = augment(lr, hr, int(rng.integers(8)))
        return lr, hr


class StepBatchSampler(Sampler[list[int]]):
    """Batches of sample indices for steps ``start … end-1``; process ``rank`` of ``world`` takes its slice.

    Step t, rank r gets indices ((t·world + r)·B … +B): disjoint across processes (what a
    DistributedSampler gives) and resumable at any step without replaying the loader.
    """

    def __init__(self, batch_size: int, start: int, end: int, rank: int = 0, world: int = 1):
        self.batch_size, self.start, self.end, self.rank, self.world = batch_size, start, end, rank, world

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        b = self.batch_size
        for t in range(self.start, self.end):
            first = (t * self.world + self.rank) * b
            yield list(range(first, first + b))


def _leave_stops_to_the_trainer(_worker_id: int) -> None:
    """Loader workers ignore stop signals. Sent to the whole process group (Ctrl-C, ``timeout``, ``kill --
    -PGID``), a signal would otherwise end a worker before the trainer finishes its step and writes
    ``last.pt``; the trainer then shuts its workers down itself, and they also end when it dies."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def make_loader(dataset: PatchDataset, batch_size: int, start: int, end: int, rank: int = 0, world: int = 1,
                workers: int = 0, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    sampler = StepBatchSampler(batch_size, start, end, rank, world)
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory,
        persistent_workers=False, prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_leave_stops_to_the_trainer if workers > 0 else None,
    )


def stage_datasets(cfg: Config, scale: int) -> list[PatchDataset]:
    """One dataset per stage; stages with the same folders share the images in memory."""
    cache: dict[tuple, list[_Image]] = {}
    datasets = []
    for i, st in enumerate(cfg.stages):
        d = st.data
        realworld = d.degradation.kind == "realworld"
        lr_mode = "on_the_fly" if realworld else d.lr_mode  # on_the_fly reads no LR: the pipeline makes it
        key = (tuple(d.hr_dirs), tuple(d.lr_dirs or ()), lr_mode, tuple(d.hr_scales))
        if key not in cache:
            cache[key] = load_images(d.hr_dirs, d.lr_dirs, scale, lr_mode, key="data", hr_scales=tuple(d.hr_scales))
        images = check_patch(cache[key], scale, d.patch_size, key=f"stages[{i}].data.patch_size")
        degrade = RealWorldDegradation(scale, d.degradation.realworld) if realworld else None
        datasets.append(PatchDataset(images, scale, d.patch_size, d.augment, cfg.train.seed, i, degrade,
                                     d.weighting, d.min_detail))
    return datasets


def check_val_dirs(val: ValConfig) -> None:
    """Every validation folder exists and holds images."""
    for d in val.hr_dirs:
        if not Path(d).is_dir():
            raise ConfigError(f"val.hr_dirs: {d}: no such folder")
        try:
            list_images(d)
        except ImageError as e:  # an empty folder
            raise ConfigError(f"val.hr_dirs: {e}") from None
