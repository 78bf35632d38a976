"""Named RLFN variants: names, architectures and creation (``create_model``).

Architecture (a :class:`Variant`) is kept apart from weights (:mod:`rlfn.models.weights`: where they come
from, their hash, the pixel range they expect), in the manner of timm's ``PretrainedCfg``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from typing import TYPE_CHECKING

from ..errors import UnknownModelError

if TYPE_CHECKING:
    from .rlfn import RLFN

DEFAULT_MODEL = "rlfn_s"
DEFAULT_SCALE = 4


@dataclass(frozen=True)
class Variant:
    name: str
    channels: int
    mid_channels: int
    blocks: int
    scales: tuple[int, ...]
    description: str

    def build(self, scale: int) -> RLFN:
        from .rlfn import RLFN  # torch: only when a network is built

        return RLFN(scale=scale, channels=self.channels, mid_channels=self.mid_channels, blocks=self.blocks)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("rlfn", 52, 52, 6, (2, 3, 4), "RLFN: 52 channels, 6 RLFBs (the paper's main model)"),
        Variant("rlfn_s", 48, 48, 6, (2, 3, 4), "RLFN-S: 48 channels, 6 RLFBs (the small model)"),
        Variant("rlfn_ntire", 46, 48, 4, (2, 3, 4), "RLFN-ntire: 46 trunk / 48 inner channels, 4 RLFBs (NTIRE 2022 winner)"),
    )
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
