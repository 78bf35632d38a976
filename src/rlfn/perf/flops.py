"""Model complexity as the NTIRE efficient-SR challenge counts it.

- parameters: every element of ``module.parameters()``;
- FLOPs: multiply-accumulate operations ("multiply-adds"), counted by PyTorch's own
  :class:`torch.utils.flop_counter.FlopCounterMode` (which reports 2 FLOPs per multiply-add) and halved;
- activations: the number of elements of every convolution's output;
- convolutions: how many convolution layers run in one forward pass.

All on one LR input, 256×256 by default (the challenge's). The counting forward runs on the ``meta``
device when the module allows it, so no arithmetic is done and a count takes milliseconds.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.utils.flop_counter import FlopCounterMode

CHALLENGE_INPUT = (256, 256)


@dataclass(frozen=True)
class Counts:
    params: int
    flops: int  # multiply-adds
    activations: int
    convs: int
    input_size: tuple[int, int]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    def summary(self) -> str:
        h, w = self.input_size
        return (f"{self.params / 1e6:.3f} M params, {self.flops / 1e9:.2f} G FLOPs (multiply-adds), "
                f"{self.activations / 1e6:.2f} M activations, {self.convs} convs on a {h}×{w} input")


def _forward_counts(module: nn.Module, x: torch.Tensor) -> tuple[int, int, int]:
    activations = 0
    convs = 0

    def hook(_mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal activations, convs
        activations += out.numel()
        convs += 1

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, _ConvNd)]
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return counter.get_total_flops() // 2, activations, convs


def count(module: nn.Module, input_size: tuple[int, int] = CHALLENGE_INPUT, in_channels: int = 3) -> Counts:
    """Parameters, multiply-adds, activations and convolutions of ``module`` on one
    ``in_channels``×H×W input (values do not matter: every count depends on shapes only)."""
    h, w = input_size
    params = sum(p.numel() for p in module.parameters())
    was_training = module.training
    try:
        meta = copy.deepcopy(module).to("meta").eval()
        result = _forward_counts(meta, torch.zeros(1, in_channels, h, w, device="meta"))
    except (NotImplementedError, RuntimeError, TypeError):
        # Some operations have no meta kernel: count with a real forward pass on the module's device.
        try:
            device = next(module.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
        module.eval()
        result = _forward_counts(module, torch.rand(1, in_channels, h, w, device=device))
        module.train(was_training)
    return Counts(params, *result, input_size=(h, w))
