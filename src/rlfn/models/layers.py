"""Layers shared by RLFN's blocks: the plain convolution, and its fused form for the fast path.

:class:`FusedConv` is one convolution with the element-wise step that follows it (LeakyReLU, sigmoid, a
residual addition), run as one oneDNN kernel on the CPU (``torch.ops.mkldnn._convolution_pointwise``, what
``torch.compile`` emits there), or as ``F.conv2d`` followed by the step in place.
"""
from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import nn

NEG_SLOPE = 0.05  # the released code uses LeakyReLU(0.05); the paper's figure draws ReLU


def conv(cin: int, cout: int, k: int, stride: int = 1, padding: int | None = None) -> nn.Conv2d:
    """A k×k convolution, "same" padded unless ``padding`` says otherwise."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2 if padding is None else padding)


def fused_ops_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


@functools.cache
def onednn_bf16_available() -> bool:
    """Whether oneDNN's convolutions take bfloat16 here. Without AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT, as on an
    AVX2-only CPU, ``_convolution_pointwise`` refuses bfloat16 with an error where ``F.conv2d`` still runs it."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(probe is not None and probe())


ACTIVATIONS = {
    "none": lambda y: y,
    "leaky_relu": lambda y: F.leaky_relu(y, NEG_SLOPE),
    "sigmoid": torch.sigmoid,
}
# In place: each full-size allocation avoided saves the page faults of a fresh tens-of-MB buffer.
ACTIVATIONS_INPLACE = {
    "none": lambda y: y,
    "leaky_relu": lambda y: F.leaky_relu_(y, NEG_SLOPE),
    "sigmoid": torch.sigmoid_,
}


class FusedConv(nn.Module):
    """One convolution with its following element-wise step: fused into oneDNN's convolution
    (``onednn=True``), or ``F.conv2d`` then the step in place; out of place when autograd records.
    ``weight_scale`` and ``bias_scale`` fold a constant factor into the weights (the pixel range)."""

    def __init__(self, conv: nn.Conv2d, weight_scale: float = 1.0, bias_scale: float = 1.0, onednn: bool = True,
                 dtype: torch.dtype | None = None):
        super().__init__()
        self.onednn = onednn
        # channels-last weights too: with NCHW weights, oneDNN picks kernels for the NCHW layout. The scale is
        # applied in the source precision, then the weights are cast (``dtype``: e.g. bfloat16).
        w = (conv.weight.detach() * weight_scale).to(dtype=dtype).contiguous(memory_format=torch.channels_last)
        self.weight = nn.Parameter(w, requires_grad=False)
        self.bias = nn.Parameter((conv.bias.detach() * bias_scale).to(dtype=dtype), requires_grad=False)
        self.stride = list(conv.stride)
        self.padding = list(conv.padding)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups

    def _use_onednn(self, x: torch.Tensor) -> bool:
        return (self.onednn and x.device.type == "cpu" and x.dtype == self.weight.dtype and not torch.is_grad_enabled()
                and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and onednn_bf16_available())))

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x: torch.Tensor, act: str = "none") -> torch.Tensor:
        """act(conv(x))"""
        if self._use_onednn(x):
            scalars = [NEG_SLOPE] if act == "leaky_relu" else []
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups, act, scalars, ""
            )
        y = self._conv(x)
        return (ACTIVATIONS_INPLACE if not torch.is_grad_enabled() else ACTIVATIONS)[act](y)

    def add(self, x: torch.Tensor, other: torch.Tensor, act: str = "none") -> torch.Tensor:
        """act(conv(x) + other)"""
        if self._use_onednn(x):
            return torch.ops.mkldnn._convolution_pointwise(
                x, other, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups,
                "add", None, None if act == "none" else act, [], "",
            )
        y = self._conv(x)
        if not torch.is_grad_enabled():
            return ACTIVATIONS_INPLACE[act](y.add_(other))
        return ACTIVATIONS[act](y + other)


# ---- mixed precision: the parts that stay in float32 under autocast --------------------------------------------


def autocast_on(x: torch.Tensor) -> bool:
    """Whether autocast (bf16/fp16) is active for ``x``'s device."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_cpu_enabled() if x.device.type == "cpu" else torch.is_autocast_enabled()


def float32_region(x: torch.Tensor, mixed: bool) -> contextlib.AbstractContextManager:
    """Autocast off inside (give it float32 inputs) when ``mixed``; nothing otherwise."""
    return torch.autocast(x.device.type, enabled=False) if mixed else contextlib.nullcontext()
