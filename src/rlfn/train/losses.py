"""Training losses: L1, L2 and the RLFN paper's contrastive loss, combined with configurable weights.

The contrastive loss (paper, Sec. 3.3): CL = Σᵢ λᵢ · d(φᵢ(SR), φᵢ(HR)) / d(φᵢ(SR), φᵢ(neg)), d = mean L1,
anchor = SR output, positive = HR, negative = the bicubic-upsampled LR. φ is a shallow, frozen, *randomly
initialised* extractor, conv3×3 → Tanh → conv3×3, with features after the Tanh and after the second conv.
Its weights come from a private generator with a fixed seed, so they are identical in every run and every
process without being saved anywhere.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import LossConfig


class RandomShallowExtractor(nn.Module):
    """conv3×3 → Tanh → conv3×3 with frozen weights drawn from ``seed`` (PyTorch's default conv init law)."""

    def __init__(self, channels: int = 16, seed: int = 0, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2):
                # kaiming_uniform(a=√5) as nn.Conv2d does, but from our generator, not the global one
                bound = 1.0 / math.sqrt(conv.in_channels * 9)
                conv.weight.copy_((torch.rand(conv.weight.shape, generator=g) * 2 - 1) * bound)
                conv.bias.copy_((torch.rand(conv.bias.shape, generator=g) * 2 - 1) * bound)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "RandomShallowExtractor":
        return super().train(False)  # always frozen

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f1 = torch.tanh(self.conv1(x))
        return [f1, self.conv2(f1)]


class ContrastiveLoss(nn.Module):
    def __init__(self, layer_weights: list[float], channels: int = 16, seed: int = 0, eps: float = 1e-7):
        super().__init__()
        self.extractor = RandomShallowExtractor(channels, seed)
        self.layer_weights = list(layer_weights)
        if len(self.layer_weights) != 2:
            raise ValueError("the extractor has two feature layers; give two weights")
        self.eps = eps

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        fs = self.extractor(sr)
        with torch.no_grad():  # only the anchor needs gradients
            fh = self.extractor(hr)
            fn = self.extractor(neg)
        loss = sr.new_zeros(())
        for w, a, p, n in zip(self.layer_weights, fs, fh, fn):
            if w:
                loss = loss + w * F.l1_loss(a, p) / (F.l1_loss(a, n) + self.eps)
        return loss


class SRLoss(nn.Module):
    """Weighted sum of L1, L2 and contrastive terms; returns (total, {term: value}) for logging."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.contrastive = (
            ContrastiveLoss(cfg.contrastive_layers, cfg.contrastive_channels, cfg.contrastive_seed)
            if cfg.contrastive > 0 else None
        )

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, neg: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.cfg
        sr = sr.float()  # losses in fp32 under autocast
        parts: dict[str, torch.Tensor] = {}
        if c.l1 > 0:
            parts["l1"] = F.l1_loss(sr, hr)
        if c.l2 > 0:
            parts["l2"] = F.mse_loss(sr, hr)
        if self.contrastive is not None:
            if neg is None:
                raise ValueError("the contrastive loss needs the negative (bicubic-upsampled LR)")
            parts["contrastive"] = self.contrastive(sr, hr, neg)
        weights = {"l1": c.l1, "l2": c.l2, "contrastive": c.contrastive}
        total = sum(weights[k] * v for k, v in parts.items())
        return total, parts
