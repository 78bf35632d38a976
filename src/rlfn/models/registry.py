"""Named RLFN variants and the weights published for them.

Architecture (a :class:`Variant`) is kept apart from weights (a :class:`Weights` record: where they come
from, their hash, the pixel range they expect), in the manner of timm's ``PretrainedCfg``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import UnknownModelError
from .rlfn import RLFN


@dataclass(frozen=True)
class Variant:
    name: str
    channels: int
    mid_channels: int
    blocks: int
    scales: tuple[int, ...]
    description: str

    def build(self, scale: int) -> RLFN:
        return RLFN(scale=scale, channels=self.channels, mid_channels=self.mid_channels, blocks=self.blocks)


@dataclass(frozen=True)
class Weights:
    """One published set of weights for a variant at one scale."""

    variant: str
    scale: int
    tag: str  # "official" or "ours"
    pixel_range: float  # the input range the weights expect: 255.0 or 1.0
    url: str | None = None  # remote weights: fetched on first use (rlfn.hub)
    sha256: str | None = None
    filename: str | None = None
    license: str | None = None
    notes: str = field(default="", compare=False)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("rlfn", 52, 52, 6, (2, 3, 4), "RLFN: 52 channels, 6 RLFBs (the paper's main model)"),
        Variant("rlfn_s", 48, 48, 6, (2, 3, 4), "RLFN-S: 48 channels, 6 RLFBs (the small model)"),
        Variant("rlfn_ntire", 46, 48, 4, (2, 3, 4), "RLFN-ntire: 46 trunk / 48 inner channels, 4 RLFBs (NTIRE 2022 winner)"),
    )
}

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
        pixel_range=255.0,
        url=OFFICIAL_URL.format(name=f"{variant}_x{scale}"),
        sha256=sha,
        filename=f"{variant}_x{scale}.pth",
        license="Apache-2.0 (bytedance/RLFN)",
    )
    for (variant, scale), sha in _OFFICIAL_SHA256.items()
}

_NAME_RE = re.compile(r"^(?P<variant>[a-z_]+?)(?:[_-]?x(?P<scale>\d+))?$")


def list_models() -> list[str]:
    return sorted(VARIANTS)


def parse_name(name: str, scale: int | None = None) -> tuple[Variant, int | None]:
    """``"rlfn_s"`` or ``"rlfn_s_x4"`` (also ``RLFN-S``) → (variant, scale). A scale in the name must agree."""
    key = name.strip().lower().replace("-", "_")
    m = _NAME_RE.match(key)
    variant = VARIANTS.get(m.group("variant")) if m else None
    if variant is None:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    named_scale = int(m.group("scale")) if m.group("scale") else None
    if named_scale is not None and scale is not None and named_scale != scale:
        raise UnknownModelError(f"model name {name!r} says x{named_scale} but scale {scale} was asked")
    return variant, named_scale if named_scale is not None else scale


def create_model(name: str, scale: int | None = None) -> RLFN:
    """A freshly initialised RLFN of the named variant (weights: see :func:`rlfn.load_model`)."""
    variant, scale = parse_name(name, scale)
    scale = 4 if scale is None else scale
    if scale < 1 or scale > 8:
        raise UnknownModelError(f"scale must be between 1 and 8, got {scale}")
    return variant.build(scale)


def identify(channels: int, mid_channels: int, blocks: int) -> str | None:
    """The variant name of an architecture, or None if it is not one of the named ones."""
    for v in VARIANTS.values():
        if (v.channels, v.mid_channels, v.blocks) == (channels, mid_channels, blocks):
            return v.name
    return None
