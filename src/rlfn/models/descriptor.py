"""A loaded model that knows what it is: :class:`SRModel` (in the manner of spandrel's ModelDescriptor).

Callers pass images in [0, 1] and get images in [0, 1]; the pixel range the weights expect (the official
ones want [0, 255]), the minimum input size and the batch/channel layout are handled here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .rlfn import MIN_INPUT_SIZE


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
    # The ESA's strided conv and 7×7 pool need at least 15 pixels; pad tiny inputs and crop after.
    ph, pw = max(0, min_size - h), max(0, min_size - w)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, single, h, w


@dataclass(eq=False)
class SRModel:
    module: nn.Module
    variant: str  # "rlfn", "rlfn_s", "rlfn_ntire" or "rlfn_custom"
    scale: int
    pixel_range: float = 255.0
    channels: int = 0
    mid_channels: int = 0
    blocks: int = 0
    source: str = ""  # "official", "ours", a file path, or "" for random weights
    min_size: int = MIN_INPUT_SIZE
    # fp16/bf16 are fine on GPUs for this small conv net, but the caller still checks for non-finite output
    supports_half: bool = True
    tileable: bool = True  # a purely local network: tiles with overlap reproduce the whole-image output
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.variant}_x{self.scale}"

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

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
        return (
            f"{self.variant} x{self.scale} ({self.channels}/{self.mid_channels} channels, {self.blocks} blocks, "
            f"{self.num_parameters:,} parameters, input range [0, {self.pixel_range:g}]{src})"
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``x`` (N×3×H×W or 3×H×W, values in [0, 1]); returns the same layout, clamped to [0, 1]."""
        x, single, h, w = prepare_input(x, self.min_size)
        x = x.to(device=self.device, dtype=self.dtype)
        with torch.inference_mode():
            y = self.module(x * self.pixel_range) if self.pixel_range != 1 else self.module(x)
            if self.pixel_range != 1:
                y = y / self.pixel_range
            y = y[..., : h * self.scale, : w * self.scale].clamp_(0, 1)
        return y[0] if single else y
