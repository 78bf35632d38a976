"""Tiled inference with bounded memory and blended seams.

The image is cut into a grid of *cores* that partition it. Each tile runs the model on its core grown by
``pad`` pixels of context on every side (clipped at the image border), so the network sees enough of the
neighbourhood that its output over the core is practically the whole-image output. Neighbouring tiles
overlap by ``blend`` pixels on each side of a core boundary; there their outputs are mixed with linear
ramps whose weights sum to one, which hides what small difference remains.

A network that is not purely local needs more: RLFN's ESA resizes a pooled map with a ratio that depends on
the *whole* image's size. ``forward`` therefore receives each tile's :class:`Window`, and the plan can
start windows on a grid (``align``); :class:`rlfn.models.descriptor.SRModel` says what its model needs
(``tile_align``, ``in_window``), and :mod:`rlfn.models.esa` makes the ESA tile-exact with them. Tiles then
differ from the whole image only through the context cut off at their edges, which ``pad`` makes negligible.

Finished output goes to ``sink`` block by block (typically quantised straight into a uint8 array); floats
are kept only for one tile and the thin blend stripes still waiting for a neighbour. No full-size float
buffer exists at any point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Window:
    """Where a tile's input sits in the whole image (input pixels)."""

    y0: int
    x0: int
    height: int  # of the whole image
    width: int


Forward = Callable[[torch.Tensor, Window], torch.Tensor]  # 1×C×h×w in [0, 1] → 1×C×(h·s)×(w·s)
Sink = Callable[[int, int, torch.Tensor], None]  # (output row, output column, C×h×w float32 block in [0, 1])


@dataclass(frozen=True)
class TilePlan:
    """How one image is cut: core boundaries along each axis, context and blend widths (input pixels)."""

    rows: tuple[int, ...]  # core boundaries along y: 0 = b0 < b1 < ... < bn = H
    cols: tuple[int, ...]
    pad: int
    blend: int
    align: int = 1  # tile windows start at multiples of this (RLFN: its ESA's grid, 6)

    @property
    def count(self) -> int:
        return (len(self.rows) - 1) * (len(self.cols) - 1)


def split(n: int, tile: int) -> tuple[int, ...]:
    """Boundaries of ceil(n / tile) near-equal cores covering [0, n) (equal sizes avoid a sliver at the end)."""
    k = max(1, math.ceil(n / tile))
    return tuple(round(i * n / k) for i in range(k + 1))


DEFAULT_PAD = 32  # context around each tile, input pixels: ≥ 61 dB to the untiled output (Set14 ÷4, 32-px tiles)
DEFAULT_BLEND = 8  # half-width of the blend ramp across a core boundary, in input pixels


def plan_tiles(height: int, width: int, tile: int | None, pad: int = DEFAULT_PAD, blend: int = DEFAULT_BLEND,
               align: int = 1) -> TilePlan:
    """A plan with cores of at most ``tile`` pixels; ``tile=None`` (or one larger than the image) means one tile."""
    if tile is None or tile <= 0:
        tile = max(height, width)
    if blend > pad:
        raise ValueError(f"blend ({blend}) must not exceed pad ({pad}): the blend zone needs tile output")
    # Ramps of two neighbouring boundaries must not overlap inside one core.
    tile = max(tile, 4 * blend, 1)
    return TilePlan(split(height, tile), split(width, tile), pad, blend, max(1, align))


def _ramp(n: int, start: int, lo: int | None, hi: int | None, width: int, device: torch.device) -> torch.Tensor:
    """Weights for output positions start..start+n: rising across ``lo``, falling across ``hi``.

    Each ramp is linear over [edge - width/2, edge + width/2) sampled at pixel centres, so the rising ramp
    of one tile and the falling ramp of its neighbour sum to exactly one.
    """
    t = torch.arange(start, start + n, device=device, dtype=torch.float32) + 0.5
    w = torch.ones(n, device=device)
    if lo is not None and width > 0:
        w = w * ((t - (lo - width / 2)) / width).clamp(0, 1)
    if hi is not None and width > 0:
        w = w * (1 - ((t - (hi - width / 2)) / width).clamp(0, 1))
    return w


def run_tiled(forward: Forward, image: torch.Tensor, scale: int, plan: TilePlan, sink: Sink,
              on_tile: Callable[[], None] | None = None) -> None:
    """Upscale ``image`` (C×H×W float in [0, 1]) tile by tile, handing finished output blocks to ``sink``.

    ``forward`` is called once per tile with a 1×C×h×w tensor and its :class:`Window`, and must return
    1×C×(h·s)×(w·s); the result is scaled in place, so it must not be a view of anything the caller keeps.
    ``sink(row, col, block)`` receives every output pixel exactly once, in C×h×w blocks it may modify.

    Only the blend zones need float accumulation: the horizontal stripe shared with the next row of tiles
    (kept for the whole width) and the vertical strip shared with the next tile in the row. Everything
    else goes to ``sink`` as soon as its tile is done, so floats never cover more than a tile and two
    thin stripes.
    """
    c, h, w = image.shape
    s = scale
    wo = w * s
    pad, blend = plan.pad, plan.blend
    bw = 2 * blend * s  # ramp width in output pixels
    top: torch.Tensor | None = None  # the previous row's bottom stripe, completed by this row
    nrows, ncols = len(plan.rows) - 1, len(plan.cols) - 1
    for ri in range(nrows):
        r0, r1 = plan.rows[ri], plan.rows[ri + 1]
        first_row, last_row = ri == 0, ri == nrows - 1
        # Output rows: [o0, top_hi) shared with the row above, [top_hi, bot_lo) this row's own,
        # [bot_lo, o1) shared with the row below.
        o0, top_hi = (r0 * s, r0 * s) if first_row else ((r0 - blend) * s, (r0 + blend) * s)
        bot_lo, o1 = (r1 * s, r1 * s) if last_row else ((r1 - blend) * s, (r1 + blend) * s)
        bottom = torch.zeros(c, o1 - bot_lo, wo)
        wy = _ramp(o1 - o0, o0, None if first_row else r0 * s, None if last_row else r1 * s, bw, bottom.device)
        carry: torch.Tensor | None = None  # the previous tile's right blend zone, own rows only
        for ci in range(ncols):
            c0, c1 = plan.cols[ci], plan.cols[ci + 1]
            first_col, last_col = ci == 0, ci == ncols - 1
            # Input window: core plus context, clipped to the image, starting on the alignment grid.
            y0, y1 = max(0, r0 - pad) // plan.align * plan.align, min(h, r1 + pad)
            x0, x1 = max(0, c0 - pad) // plan.align * plan.align, min(w, c1 + pad)
            out = forward(image[None, :, y0:y1, x0:x1], Window(y0, x0, h, w))[0].float().cpu()
            p0, left_hi = (c0 * s, c0 * s) if first_col else ((c0 - blend) * s, (c0 + blend) * s)
            right_lo, p1 = (c1 * s, c1 * s) if last_col else ((c1 - blend) * s, (c1 + blend) * s)
            wx = _ramp(p1 - p0, p0, None if first_col else c0 * s, None if last_col else c1 * s, bw, bottom.device)
            piece = out[:, o0 - y0 * s : o1 - y0 * s, p0 - x0 * s : p1 - x0 * s]
            piece.mul_(wy[:, None]).mul_(wx[None, :])  # in place: no tile-sized temporaries
            if top is not None:
                top[:, :, p0:p1].add_(piece[:, : top_hi - o0])
            bottom[:, :, p0:p1].add_(piece[:, bot_lo - o0 :])
            own = piece[:, top_hi - o0 : bot_lo - o0]
            if carry is not None:
                sink(top_hi, p0, own[:, :, : left_hi - p0].add_(carry))
            sink(top_hi, left_hi, own[:, :, left_hi - p0 : right_lo - p0])
            carry = None if last_col else own[:, :, right_lo - p0 :].clone()
            del out, piece, own
            if on_tile is not None:
                on_tile()
        if top is not None:
            sink(o0, 0, top)
        top = bottom
