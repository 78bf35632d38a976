"""The weights catalogue: every published set of weights for a variant at a scale, official and ours.

Official weights (bytedance/RLFN) are downloaded on first use and SHA-256 verified (:mod:`rlfn.models.hub`);
ours, trained by this project, ship inside the package: ``rlfn/weights/<variant>_x<scale>.safetensors`` trained on
bicubic downscales ("ours"), and ``<variant>_x<scale>_real.safetensors`` trained on the real-world degradations
("real": JPEG, noise and blur cleaned while upscaling).
Each record says which pixel range the weights expect.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..errors import UnknownModelError
from .registry import VARIANTS

OFFICIAL_PIXEL_RANGE = 255.0  # the official code works on [0, 255]; also assumed for files that do not say
OURS_PIXEL_RANGE = 1.0  # we train on [0, 1]
TAGS = ("auto", "ours", "official", "real")  # auto: ours where the package ships them, else the official ones
_SHIPPED_SUFFIX = {"ours": "", "real": "_real"}  # tag → file name suffix of the weights in the package


@dataclass(frozen=True)
class Weights:
    """One published set of weights for a variant at one scale."""

    variant: str
    scale: int
    tag: str  # "official", "ours" or "real"
    pixel_range: float  # the input range the weights expect: 255.0 or 1.0
    url: str | None = None  # remote weights: fetched on first use (rlfn.models.hub)
    sha256: str | None = None
    filename: str | None = None
    path: Path | None = None  # weights shipped in the package
    run: str | None = None  # ours: the training run that wrote the file (training/<run_dir>/, MANIFEST.yaml)
    licence: str | None = None  # SPDX

    @property
    def name(self) -> str:
        return f"{self.variant}_x{self.scale}"


OFFICIAL_URL = "https://github.com/bytedance/RLFN/raw/main/model_zoo/{name}.pth"
_OFFICIAL_SHA256 = {
    ("rlfn_ntire", 4): "3c9be7b9d7a4bece9b68c83a56a1ffb38010f76413d5f215be6b4be842e18fb2",
    ("rlfn_s", 2): "f5175f499f869c1b884c2552a1bcd6abd07ab352e3d8c8c9abe31b1deb60fe45",
    ("rlfn_s", 4): "f769c5a88433786b2db0c2b24da6ca6c92a24c62344b9354a390f8a74388e89d",
    ("rlfn", 2): "eafe5d5feeb122022453595c06d79160facdc157ae88deb02a44c50f5eba2d41",
    ("rlfn", 4): "8c7edb57dfc89048bafba29d591d4c27d4099964b4a9e22df23d6dc257a637c0",
}

OFFICIAL_WEIGHTS: dict[tuple[str, int], Weights] = {
    (variant, scale): Weights(
        variant=variant,
        scale=scale,
        tag="official",
        pixel_range=OFFICIAL_PIXEL_RANGE,
        url=OFFICIAL_URL.format(name=f"{variant}_x{scale}"),
        sha256=sha,
        filename=f"{variant}_x{scale}.pth",
        licence="Apache-2.0",  # bytedance/RLFN's LICENSE
    )
    for (variant, scale), sha in _OFFICIAL_SHA256.items()
}


def bundled_weights_path(variant: str, scale: int, tag: str = "ours") -> Path | None:
    """The weights this project trained and ships inside the package, if any for (variant, scale, tag)."""
    ref = resources.files("rlfn") / "weights" / f"{variant}_x{scale}{_SHIPPED_SUFFIX[tag]}.safetensors"
    return Path(str(ref)) if ref.is_file() else None


@functools.lru_cache(maxsize=1)
def manifest() -> dict:
    """``rlfn/weights/MANIFEST.yaml``: for each file we ship, its sha256, run, parent runs, data and steps."""
    ref = resources.files("rlfn") / "weights" / "MANIFEST.yaml"
    if not ref.is_file():
        return {"files": {}}
    return yaml.safe_load(ref.read_text(encoding="utf-8")) or {"files": {}}


def soups() -> dict[str, list[str]]:
    """Every weight soup the manifest names, run → the runs it is the mean of: those shipped (a file's
    ``mean_of``) and those only named as a parent (its ``soups:``), which have no log of their own to trace."""
    doc = manifest()
    shipped = {e["run"]: list(e["mean_of"]) for e in (doc.get("files") or {}).values() if e.get("mean_of")}
    return {**{k: list(v) for k, v in (doc.get("soups") or {}).items()}, **shipped}


def our_weights(tag: str = "ours") -> dict[tuple[str, int], Weights]:
    """Ours (``tag`` "ours", bicubic-trained, or "real", real-world): whatever the package ships."""
    out = {}
    doc = manifest()
    for v in VARIANTS.values():
        for scale in v.scales:
            path = bundled_weights_path(v.name, scale, tag)
            if path is not None:
                entry = (doc.get("files") or {}).get(path.name) or {}
                out[(v.name, scale)] = Weights(v.name, scale, tag, OURS_PIXEL_RANGE, sha256=entry.get("sha256"),
                                               filename=path.name, path=path, run=entry.get("run"),
                                               licence=doc.get("licence"))
    return out


def available_weights() -> list[Weights]:
    """The whole catalogue, sorted by variant, scale and tag."""
    out = [*OFFICIAL_WEIGHTS.values(), *our_weights("ours").values(), *our_weights("real").values()]
    return sorted(out, key=lambda w: (w.variant, w.scale, w.tag))


def find_weights(variant: str, scale: int, tag: str = "auto") -> Weights:
    """The record of ``tag``'s weights for ``variant`` at ``scale``; an UnknownModelError listing what exists.

    ``auto`` gives ours where the package ships them and the official ones elsewhere, so that a model name
    means the same weights in every subcommand and every name with published weights works."""
    tag = tag.lower()
    if tag not in TAGS:
        raise UnknownModelError(f"unknown pretrained weights {tag!r}; choose {', '.join(TAGS)}")
    if tag == "auto":
        tag = "ours" if (variant, scale) in our_weights() or (variant, scale) not in OFFICIAL_WEIGHTS else "official"
    records = OFFICIAL_WEIGHTS if tag == "official" else our_weights(tag)
    if (variant, scale) in records:
        return records[(variant, scale)]
    if tag in ("ours", "real"):
        have = [f"{w.variant} x{w.scale} ({w.tag})" for w in available_weights()]
        what = "weights of ours" if tag == "ours" else "real-world weights"
        raise UnknownModelError(f"no {what} for {variant} x{scale}; available: {', '.join(have)}; "
                                "or pass --weights PATH")
    have_official = ", ".join(f"{v} x{s}" for v, s in sorted(OFFICIAL_WEIGHTS))
    raise UnknownModelError(f"no official weights for {variant} x{scale}; official ones exist for {have_official}")
