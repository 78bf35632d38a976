"""A loaded model that knows what it is: :class:`SRModel` (in the manner of spandrel's ModelDescriptor).

Callers pass images in [0, 1] and get images in [0, 1]; the pixel range the weights expect (the official
ones want [0, 255]), the minimum input size and the batch/channel layout are handled here, and what tiling
needs to know about the model (:attr:`SRModel.tile_align`, :meth:`SRModel.in_window`) is stated here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ContextManager

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from . import esa


def in_unit_range(module: nn.Module, x: torch.Tensor, pixel_range: float) -> torch.Tensor:
    """``module`` applied to [0, 1] images ``x``: scaled to the weights' pixel range on the way in, back to
    [0, 1] on the way out, and clamped there. The one place where the pixel range is applied (the fast path
    folds the same factors into its first and last convolutions instead)."""
    y = module(x * pixel_range) / pixel_range if pixel_range != 1 else module(x)
    return y.clamp(0, 1)


class UnitRange(nn.Module):
    """:func:`in_unit_range` as a module (for export: the pixel range and the clamp become part of the graph)."""

    def __init__(self, module: nn.Module, pixel_range: float):
        super().__init__()
        self.module = module
        self.pixel_range = float(pixel_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_unit_range(self.module, x, self.pixel_range)


def prepare_input(x: torch.Tensor, min_size: int) -> tuple[torch.Tensor, bool, int, int]:
    """Batch a 3×H×W image, check the layout, and pad inputs below ``min_size`` (replicating the edge).

    Returns (N×3×H'×W' tensor, whether the input was a single image, the original H and W) so that the
    caller can crop the output back to (H·s, W·s).
    """
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected an RGB tensor N×3×H×W or 3×H×W, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    # RLFN's ESA needs at least esa.MIN_SIZE (15) pixels; pad tiny inputs and crop after.
    ph, pw = max(0, min_size - h), max(0, min_size - w)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, single, h, w


@dataclass(eq=False)
class SRModel:
    module: nn.Module
    variant: str  # "rlfn", "rlfn_s", "rlfn_ntire" or "rlfn_custom"; another network: its spandrel id ("SPAN")
    scale: int
    pixel_range: float = 255.0
    channels: int = 0
    mid_channels: int = 0
    blocks: int = 0
    source: str = ""  # "official", "ours", a file path, or "" for random weights
    min_size: int = esa.MIN_SIZE
    # fp16/bf16 are fine on GPUs for this small conv net, but the caller still checks for non-finite output
    supports_half: bool = True
    supports_bfloat16: bool = True
    # Tiles with overlap reproduce the whole-image output: RLFN's convolutions are local, and its ESA (the one
    # non-local part) is made tile-exact by in_window with windows starting on tile_align.
    tileable: bool = True
    tile_align: int = esa.GRID
    metadata: dict[str, str] = field(default_factory=dict)
    # Another network (loaded through spandrel): its architecture's name; it knows nothing of tile windows.
    architecture: str = "RLFN"

    @property
    def is_rlfn(self) -> bool:
        return self.architecture == "RLFN"

    @property
    def name(self) -> str:
        return f"{self.variant}_x{self.scale}"

    def _first_tensor(self) -> torch.Tensor | None:
        """A parameter or buffer of the module, if it has any (a wrapped network may have none)."""
        t = next(iter(self.module.parameters()), None)
        return t if t is not None else next(iter(self.module.buffers()), None)

    @property
    def device(self) -> torch.device:
        t = self._first_tensor()
        return t.device if t is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        t = self._first_tensor()
        return t.dtype if t is not None else torch.float32

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "SRModel":
        self.module.to(device=device, dtype=dtype)
        return self

    def eval(self) -> "SRModel":
        self.module.eval()
        return self

    def describe(self) -> str:
        src = f", weights: {self.source}" if self.source else ""
        if not self.is_rlfn:
            return (f"{self.variant} x{self.scale} ({self.architecture} through spandrel, "
                    f"{self.num_parameters:,} parameters{src})")
        return (
            f"{self.variant} x{self.scale} ({self.channels}/{self.mid_channels} channels, {self.blocks} blocks, "
            f"{self.num_parameters:,} parameters, input range [0, {self.pixel_range:g}]{src})"
        )

    def in_window(self, win: esa.Placement) -> ContextManager[None]:
        """Run the calls inside this context as for the part ``win`` of a larger image (for tiling)."""
        return esa.image_window(win) if self.is_rlfn else contextlib.nullcontext()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``x`` (N×3×H×W or 3×H×W, values in [0, 1]); returns the same layout, clamped to [0, 1]."""
        x, single, h, w = prepare_input(x, self.min_size)
        x = x.to(device=self.device, dtype=self.dtype)
        with torch.inference_mode():
            y = in_unit_range(self.module, x, self.pixel_range)[..., : h * self.scale, : w * self.scale]
        return y[0] if single else y
