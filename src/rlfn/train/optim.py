"""Optimisers, learning-rate schedules and the weights' moving average (EMA)."""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import nn

from .config import OptimConfig


class EMA:
    """Exponential moving average of a model's weights (buffers copied).

    The decay ramps up as min(decay, (1 + n) / (10 + n)) over the n updates since the last reset, so that a
    short stage's average is not dominated by the weights it started from.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        ema_p = list(self.module.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in model.parameters()], 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        self.module.load_state_dict(model.state_dict())
        self.updates = 0


def lr_factor(cfg: OptimConfig, total: int) -> Callable[[int], float]:
    """Multiplier of the base lr at step t: linear warm-up, then cosine (to min_lr), step or constant."""
    warm = cfg.warmup_steps
    floor = min(1.0, cfg.min_lr / cfg.lr)

    def f(t: int) -> float:
        if warm and t < warm:
            return (t + 1) / warm
        if cfg.schedule == "cosine":
            progress = min(1.0, (t - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if cfg.schedule == "step":
            return cfg.gamma ** sum(t >= m for m in cfg.milestones)
        return 1.0

    return f


def build_optimizer(params, cfg: OptimConfig, total: int):
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    opt = cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, total))
    return opt, sched
