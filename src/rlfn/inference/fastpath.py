"""The fast inference path that ``rlfn upscale`` uses by default.

``optimize(model)`` returns an :class:`SRModel` computing the same function as ``model`` (max difference
≤ 1e-4 in [0, 1] units), arranged for speed on its device. On the CPU, for an RLFN in float32, the default
is :class:`FusedRLFN`:

- channels-last activations *and weights* end to end: oneDNN's convolutions then run on NHWC without the
  layout reorders that every NCHW ``conv2d`` call pays for (with NCHW weights oneDNN falls back to them);
- oneDNN fused convolutions (``torch.ops.mkldnn._convolution_pointwise``, the kernels ``torch.compile``
  emits on the CPU) with LeakyReLU and the ESA's sigmoid as post-ops; the remaining residual additions
  and the ESA's product run in place (each full-size buffer not allocated saves the page faults of a
  fresh tens-of-megabytes allocation);
- the [0, 255] pixel range of the official weights folded into the first and last convolutions;
- freed feature maps kept in the heap for the next layers during the pass (:mod:`rlfn.heap`) rather than
  unmapped and faulted in afresh, page by page, at each allocation.

``pad`` zero-pads the trunk to a multiple of 8 channels (52 → 56; AVX2 kernels work in blocks of 8
channels); the padded network computes the same function (:func:`pad_channels`). It is off by default:
on the 2-core AVX2 machine this was measured on (``benchmarks/cpu_speed.py --options``,
``docs/efficiency.md``) it gave no clear gain.

On other devices (CUDA, MPS) the module is only copied and put in eval mode; ``torch.compile`` is
available on every device with ``compile=True`` (slow to start: it compiles per input size).
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..models.descriptor import SRModel
from ..models.esa import FusedESA
from ..models.layers import FusedConv, fused_ops_available
from ..models.rlfn import RLFB, RLFN
from .heap import retained_heap

CHANNEL_MULTIPLE = 8  # AVX2 oneDNN kernels block channels by 8 (AVX-512 by 16; 8 still avoids a tail)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


# --------------------------------------------------------------------------------------------------
# Zero-padding the channel count


def _pad_conv(conv: nn.Conv2d, cin: int, cout: int) -> nn.Conv2d:
    """``conv`` widened to cin inputs / cout outputs; the added weights and biases are zero, so the
    original outputs are unchanged and the added outputs are exactly 0 (for zero added inputs)."""
    new = nn.Conv2d(cin, cout, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
                    bias=conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[: conv.out_channels, : conv.in_channels].copy_(conv.weight)
        if conv.bias is not None:
            new.bias.zero_()
            new.bias[: conv.out_channels].copy_(conv.bias)
    return new


def pad_channels(module: RLFN, channels: int, mid_channels: int | None = None) -> RLFN:
    """An RLFN with the trunk widened to ``channels`` (and the blocks' inner width to ``mid_channels``)
    that computes the same function as ``module``.

    Why it is exact: every added channel starts at 0 (zero weights and bias in ``conv_1``) and stays 0:
    LeakyReLU(0) = 0, the residual additions add 0 to 0, and the ESA multiplies it by sigmoid(·);
    the layers reading those channels have zero weights for them. The ESA's 16 channels are unchanged.
    """
    mid = mid_channels if mid_channels is not None else _round_up(module.mid_channels, CHANNEL_MULTIPLE)
    if channels < module.channels or mid < module.mid_channels:
        raise ValueError(f"cannot pad {module.channels}/{module.mid_channels} channels down to {channels}/{mid}")
    esa_ch = module.block_1.esa.conv1.out_channels
    out_ch = module.upsampler[0].out_channels // module.scale**2
    new = RLFN(module.scale, channels, mid, module.num_blocks, esa_ch, module.conv_1.in_channels, out_ch)
    new = new.to(device=module.conv_1.weight.device, dtype=module.conv_1.weight.dtype)
    new.conv_1 = _pad_conv(module.conv_1, module.conv_1.in_channels, channels)
    new.conv_2 = _pad_conv(module.conv_2, channels, channels)
    new.upsampler[0] = _pad_conv(module.upsampler[0], channels, module.upsampler[0].out_channels)
    for old_b, new_b in zip(module.blocks, new.blocks):
        new_b.c1_r = _pad_conv(old_b.c1_r, channels, mid)
        new_b.c2_r = _pad_conv(old_b.c2_r, mid, mid)
        new_b.c3_r = _pad_conv(old_b.c3_r, mid, channels)
        new_b.c5 = _pad_conv(old_b.c5, channels, channels)
        new_b.esa.conv1 = _pad_conv(old_b.esa.conv1, channels, esa_ch)
        new_b.esa.conv4 = _pad_conv(old_b.esa.conv4, esa_ch, channels)
        for name in ("conv_f", "conv2", "conv3"):
            setattr(new_b.esa, name, copy.deepcopy(getattr(old_b.esa, name)))
    return new.eval()


# --------------------------------------------------------------------------------------------------
# Fused oneDNN execution


class FusedRLFB(nn.Module):
    """:class:`RLFB` on fused convolutions, the residual addition in place; its ESA is :class:`FusedESA`."""

    def __init__(self, block: RLFB, onednn: bool = True, dtype: torch.dtype | None = None):
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r, self.c5 = (
            FusedConv(c, onednn=onednn, dtype=dtype) for c in (block.c1_r, block.c2_r, block.c3_r, block.c5)
        )
        self.esa = FusedESA(block.esa, onednn, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.c1_r(x, "leaky_relu")
        out = self.c2_r(out, "leaky_relu")
        out = self.c3_r(out, "leaky_relu")
        # LeakyReLU comes before the residual addition, so the addition cannot ride in the conv's post-ops
        inplace = not torch.is_grad_enabled()  # in-place saves a full-size allocation; autograd forbids it
        return self.esa(self.c5(out.add_(x) if inplace else out + x))


class FusedRLFN(nn.Module):
    """An RLFN arranged for fast CPU inference (see the module docstring), on aten's convolutions or, with
    ``onednn=True``, oneDNN's fused ones. Input and output in [0, 1], float32: the pixel range of the source
    weights is folded into the first and last convolutions.

    ``dtype=torch.bfloat16``: the trunk (``conv_2`` and every block) computes in bfloat16, while the first
    and last convolutions stay in float32. They are a twentieth of the work, and they are where bfloat16's
    8-bit mantissa would cost the most: the input pixels (k/255 is not a bfloat16 number) and the output
    (bfloat16 steps by 1/128 near 1, coarser than the 8-bit output's 1/255).
    """

    def __init__(self, module: RLFN, pixel_range: float = 1.0, onednn: bool = True, retain_heap: bool = True,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.scale = module.scale
        self.retain_heap = retain_heap
        self.dtype = dtype
        self.conv_1 = FusedConv(module.conv_1, weight_scale=pixel_range, onednn=onednn)
        self.blocks = nn.ModuleList(FusedRLFB(b, onednn, dtype) for b in module.blocks)
        self.conv_2 = FusedConv(module.conv_2, onednn=onednn, dtype=dtype)
        self.up = FusedConv(module.upsampler[0], 1 / pixel_range, 1 / pixel_range, onednn=onednn)

    def cast_trunk(self, dtype: torch.dtype) -> "FusedRLFN":
        """Compute the trunk in ``dtype`` from now on (in place; the first and last convolutions stay float32)."""
        self.blocks.to(dtype=dtype)
        self.conv_2.to(dtype=dtype)
        self.dtype = dtype
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # freed feature maps are reused by the next layers instead of being unmapped and faulted in again
        with retained_heap(self.retain_heap and x.device.type == "cpu"):
            return self.run(x)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The network itself (``optimize(compile=True)`` compiles this, leaving the heap settings outside)."""
        x = x.contiguous(memory_format=torch.channels_last)
        feat = self.conv_1(x).to(self.dtype)  # no copy in float32; .to keeps channels-last
        out = feat
        for block in self.blocks:
            out = block(out)
        return F.pixel_shuffle(self.up(self.conv_2.add(out, feat).float()), self.scale)


class HeapRetaining(nn.Module):
    """Any module, run with :func:`rlfn.heap.retained_heap` on the CPU: the fast path of networks other
    than RLFN (``rlfn bench`` compares them on equal terms)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with retained_heap(x.device.type == "cpu"):
            return self.module(x)


# --------------------------------------------------------------------------------------------------


def optimize(model: SRModel, *, pad: int | str | None = None, fuse: bool = True, inplace: bool = True,
             retain_heap: bool = True, compile: bool = False, dtype: torch.dtype | None = None) -> SRModel:
    """The fast version of ``model`` (same function within 1e-4 in [0, 1] units; in bfloat16, within the
    figures of ``docs/efficiency.md``).

    ``dtype``: the precision to compute in (default: the model's). ``torch.bfloat16`` on the CPU gives
    :class:`FusedRLFN` with a bfloat16 trunk, still taking and returning float32; other modules are cast.

    On the CPU, for an :class:`RLFN` in float32, the default is :class:`FusedRLFN`: channels-last
    activations and weights, oneDNN convolutions with LeakyReLU/sigmoid fused in (``fuse=False``: aten's
    convolutions with the element-wise steps in place), the pixel range folded into the first and last
    convolutions (``inplace=False, fuse=False``: just the module in channels-last).
    ``pad``: trunk channel count to zero-pad to (``"auto"``: the next multiple of 8; ``None``: none);
    measured (``benchmarks/cpu_speed.py --options``) without a clear gain on the 2-core AVX2 machine.
    ``retain_heap``: keep freed feature maps in the heap during and after the pass (:mod:`rlfn.heap`).
    ``compile``: compile with ``torch.compile`` (for :class:`FusedRLFN`, its ``run``, so that the heap
    settings stay outside the graph); measured no faster than the default here. Other modules get eval mode,
    and on the CPU channels-last and :class:`HeapRetaining`.
    """
    fast = copy.copy(model)
    module = copy.deepcopy(model.module).eval()
    on_cpu = model.device.type == "cpu"
    if isinstance(module, FusedRLFN):  # already optimised: at most another precision for its trunk
        if dtype is not None and dtype != module.dtype:
            module.cast_trunk(dtype)
        fast.module = module
        return fast
    dtype = dtype or model.dtype
    if isinstance(module, RLFN) and on_cpu:
        if pad == "auto":
            pad = _round_up(module.channels, CHANNEL_MULTIPLE)
        if pad is not None and (pad != module.channels or module.mid_channels % CHANNEL_MULTIPLE):
            module = pad_channels(module, int(pad))
        onednn = fuse and fused_ops_available()
        if (inplace or onednn) and model.dtype == torch.float32 and dtype in (torch.float32, torch.bfloat16):
            module = FusedRLFN(module, model.pixel_range, onednn=onednn, retain_heap=retain_heap, dtype=dtype).eval()
            fast = replace(fast, pixel_range=1.0)
        else:
            module = module.to(dtype=dtype, memory_format=torch.channels_last)
    elif on_cpu:
        module = module.to(dtype=dtype, memory_format=torch.channels_last)
        if retain_heap:
            module = HeapRetaining(module).eval()
    else:
        module = module.to(dtype=dtype)
    if compile:
        if isinstance(module, FusedRLFN):
            module.run = torch.compile(module.run)  # an instance attribute, shadowing the method
        elif isinstance(module, HeapRetaining):
            module.module = torch.compile(module.module)
        else:
            module = torch.compile(module)
    fast.module = module
    return fast
