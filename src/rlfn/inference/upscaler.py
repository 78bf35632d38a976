"""The upscaling API: load a model once, then upscale PIL images, NumPy arrays, tensors or files.

>>> from rlfn import Upscaler
>>> up = Upscaler("rlfn_s", 4)               # the project's bundled weights; or weights="file.pth"
>>> big = up.upscale(Image.open("a.png"))    # PIL in, PIL out; arrays and tensors likewise
>>> up.upscale_file("a.png", "a_x4.png")

Every input kind goes through one path: the colour (or grey) channels are run through the model tile by
tile (:mod:`rlfn.inference.tiling`), the alpha channel separately, and the output is quantised band by band into
an array of the input's own type, so memory stays near the size of the output itself.
"""
from __future__ import annotations

import contextlib
import copy
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch
from PIL import Image

from ..errors import DeviceError, ImageError, RLFNError
from ..io.atomic import refuse_existing
from ..io.images import PNG_COMPRESSION, Picture, load_picture, picture_to_pil, pixels_of, save_picture, to_8bit
from ..models.descriptor import SRModel
from . import heap
from .devices import cpu_bf16, default_tile, resolve_device
from .resize import OutputSize, check_output_fits, resize_pixels
from .tiling import DEFAULT_BLEND, DEFAULT_PAD, Window, plan_tiles, run_tiled

Precision = Literal["auto", "fp32", "fp16", "bf16"]
AlphaMode = Literal["model", "bicubic"]
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@runtime_checkable
class ModelLike(Protocol):
    """Anything with a scale that maps N×3×H×W in [0, 1] to N×3×sH×sW in [0, 1] (an ONNX session wrapper...)."""

    scale: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


ImageT = TypeVar("ImageT", Image.Image, np.ndarray, torch.Tensor)


@dataclass
class Stats:
    """What the last call did: tiles run and whether half precision had to fall back to float32."""

    tiles: int = 0
    fell_back: bool = False


def _check_options(threads: int | None, precision: str, alpha: str, tile_pad: int, blend: int) -> None:
    if threads is not None and threads < 1:
        raise RLFNError(f"threads must be at least 1, got {threads}")
    if precision not in ("auto", *_DTYPES):
        raise RLFNError(f"unknown precision {precision!r}; choose auto, fp32, fp16 or bf16")
    if alpha not in ("model", "bicubic"):
        raise RLFNError(f"unknown alpha mode {alpha!r}; choose model or bicubic")
    if tile_pad < 0 or blend < 0 or blend > tile_pad:
        raise RLFNError(f"need 0 ≤ blend ≤ tile_pad, got blend {blend} and tile_pad {tile_pad}")


def _load(model: str | Path | None, scale: int | None, weights: str | Path | None, pretrained: str,
          device: torch.device) -> SRModel:
    """A model by name or path; ``model=None`` with ``weights``: whatever that checkpoint holds."""
    from ..models.loader import DEFAULT_MODEL, load_model

    if model is None and weights is not None:
        return load_model(weights, scale, device=device)
    return load_model(model or DEFAULT_MODEL, scale, weights=weights, pretrained=pretrained, device=device)


class Upscaler:
    """A model loaded once, ready to upscale many images.

    ``model`` is a name (``"rlfn_s"``, ``"rlfn_s_x4"``), a checkpoint path, an :class:`SRModel`, or any
    object with ``scale`` and ``__call__`` (see :class:`ModelLike`; such objects run as they are, on
    their own device, in float32). ``tile`` is the tile size in input pixels: ``"auto"`` picks one for the
    device (512 on the CPU) and runs whole any image of at most that size squared in pixels, whatever its
    shape (a 640×360 video frame: tiles would recompute their overlaps, 20% more work), ``None`` or ``0``
    never tiles. ``precision`` ``auto`` means float16 on CUDA, bfloat16 on a CPU that computes it natively
    (AMX or AVX512-BF16: :func:`rlfn.inference.devices.cpu_bf16`) and float32 elsewhere; ``bf16`` on a CPU
    without it runs, emulated and slow, with a warning; ``fp16`` on the CPU computes in float32.
    :attr:`precision_note` says what was chosen and why. Half-precision output that
    is not finite is recomputed in float32, and float32 is kept from then on. ``fast`` applies
    :func:`rlfn.inference.fastpath.optimize`. ``threads`` sets PyTorch's CPU thread count (process-wide).
    """

    def __init__(
        self,
        model: SRModel | ModelLike | str | Path | None = None,
        scale: int | None = None,
        *,
        weights: str | Path | None = None,
        pretrained: str = "auto",
        device: str | torch.device = "auto",
        precision: Precision = "auto",
        tile: int | Literal["auto"] | None = "auto",
        tile_pad: int = DEFAULT_PAD,
        blend: int = DEFAULT_BLEND,
        alpha: AlphaMode = "model",
        fast: bool = True,
        threads: int | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self._warn_fn = warn or (lambda msg: print(f"rlfn: warning: {msg}", file=sys.stderr))
        self._warned: set[str] = set()
        _check_options(threads, precision, alpha, tile_pad, blend)
        if threads is not None:
            torch.set_num_threads(threads)
        self.alpha = alpha
        self.tile_pad, self.blend = tile_pad, blend
        self.stats = Stats()
        self._nonfinite = False
        self._half_model: SRModel | None = None
        if isinstance(model, (str, Path)) or model is None:
            model = _load(model, scale, weights, pretrained, resolve_device(device))
        elif scale is not None and getattr(model, "scale", scale) != scale:
            raise RLFNError(f"the model is x{model.scale}, but scale {scale} was asked")
        if not isinstance(model, ModelLike):
            raise TypeError(f"expected a model name, path, SRModel or an object with scale and __call__, got {type(model).__name__}")
        self.scale: int = int(model.scale)
        if isinstance(model, SRModel):
            self._set_model(model, device, precision, fast)
        else:  # a model-like object runs as it is, on its own device, in float32
            self.model = model
            self.device = torch.device(getattr(model, "device", "cpu"))
            self.precision, self.precision_why = "fp32", "as the model runs"
        self.tileable = bool(getattr(self.model, "tileable", True))
        self.tile = (default_tile(self.device) if tile == "auto" else tile) or None
        self._whole_if_fits = tile == "auto"  # by area: the memory of one full tile, without its overlaps
        if not self.tileable:
            if tile != "auto" and self.tile:
                self._warn_once(f"{getattr(self.model, 'variant', 'this model')} is not meant to be tiled (it "
                                "needs the whole image); running whole images")
            self.tile = None

    def _set_model(self, model: SRModel, device: str | torch.device, precision: Precision, fast: bool) -> None:
        """A private copy of ``model`` on the device (the caller's stays where it is), fast path applied,
        and its half-precision twin if that precision is chosen."""
        dev = resolve_device(device) if device != "auto" or model.device.type == "cpu" else model.device
        plain = copy.copy(model)
        plain.module = copy.deepcopy(model.module).to(dev)
        moved = plain
        if fast:
            from .fastpath import optimize

            moved = optimize(plain)
        self.model, self.device = moved, dev
        self.precision, self.precision_why = self._resolve_precision(precision, dev, moved)
        if self.precision != "fp32":
            dtype = _DTYPES[self.precision]
            if dev.type == "cpu" and fast:  # the fast path's own bfloat16 form (float32 in and out)
                half = optimize(plain, dtype=dtype)
            else:
                half = copy.copy(moved)
                half.module = copy.deepcopy(moved.module).to(dtype=dtype)
            half.module.register_forward_hook(self._check_finite)
            self._half_model = half

    # ---- precision --------------------------------------------------------------------------------------------

    def _resolve_precision(self, asked: str, device: torch.device, model: SRModel) -> tuple[str, str]:
        """(precision, why): what runs, and the reason shown in the header line."""
        if asked == "fp32":
            return "fp32", "asked"
        if device.type == "cpu":
            if asked == "fp16":  # float16 on a CPU is slower than float32 (measured), where it runs at all
                self._warn_once("fp16 is slow or unsupported on the CPU; computing in float32")
                return "fp32", "fp16 not used on the CPU"
            native = cpu_bf16()
            if asked == "auto":
                return ("bf16", native.reason) if native.native and model.supports_bfloat16 else ("fp32", native.reason)
            if not native.native:
                self._warn_once(f"bf16 on this CPU is emulated ({native.reason}): slower than fp32")
        if asked == "auto":
            return ("fp16", "CUDA") if device.type == "cuda" and model.supports_half else ("fp32", device.type)
        supported = model.supports_half if asked == "fp16" else model.supports_bfloat16 if asked == "bf16" else True
        if not supported:  # as spandrel says of the network: it gives wrong or no output in that precision
            self._warn_once(f"{model.variant} does not support {asked}; computing in float32")
            return "fp32", f"{model.variant} does not support {asked}"
        if asked == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise DeviceError("bfloat16 is not supported by this GPU; use --precision fp16 or fp32")
        return asked, "asked"

    def describe(self) -> str:
        """One line for a header: the model, the device, the precision and why, the tile size."""
        model = getattr(self.model, "describe", lambda: type(self.model).__name__)()
        return f"model: {model}; device {self.device}, {self.precision_note}, tile {self.tile or 'off'}"

    @property
    def precision_note(self) -> str:
        """The precision and why, for header lines: ``bf16 (AMX)``, ``fp32 (no native bf16)``, ``fp32 (asked)``."""
        return f"{self.precision} ({self.precision_why})"

    def _check_finite(self, _module, _inputs, output: torch.Tensor) -> None:
        # NaN and ±inf carry into a float32 sum: one read of the output, where isfinite().all() takes several
        # passes and a mask (measured on a 2-MP output, AMX Xeon: 0.7 ms against 19 ms). A float32 sum of a
        # half output cannot overflow for sane pixels; one that does marks values near 1e38, broken anyway.
        if not math.isfinite(float(output.sum(dtype=torch.float32))):
            self._nonfinite = True

    def _warn_once(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            self._warn_fn(msg)

    def _forward(self, x: torch.Tensor, win: Window) -> torch.Tensor:
        """One tile: 1×3×h×w float32 in [0, 1] → 1×3×sh×sw, float32 on the CPU."""
        whole = (win.y0, win.x0, win.height, win.width) == (0, 0, x.shape[2], x.shape[3])
        in_window = getattr(self.model, "in_window", None)
        with contextlib.nullcontext() if whole or in_window is None else in_window(win):
            y = self._forward_window(x)
        if not whole and self.device.type == "cpu":
            # Tile after tile, smaller buffers fragment the heap and resident memory creeps up (measured:
            # 2.7 GB instead of 1.2 GB for a 2000×1500 ×4 image); trimming costs milliseconds, and the
            # next tile faults its first buffers in again (the fast path reuses them within the pass).
            heap.trim()
        return y

    def _forward_window(self, x: torch.Tensor) -> torch.Tensor:
        if self._half_model is not None:
            self._nonfinite = False
            y = self._half_model(x)
            if not self._nonfinite:
                return y.float().cpu()
            # Overflow in half precision: the "black frame" failure. Redo in float32 and stay there.
            self._warn_once(f"{self.precision} gave non-finite values; falling back to float32")
            self._half_model = None
            self.precision, self.precision_why = "fp32", "fallback"
            self.stats.fell_back = True
        y = self.model(x).float().cpu()
        # NaN and ±inf carry into the sum (and outputs near 1e38 are broken anyway): one read of the tile,
        # where isfinite().all() also writes a mask as large as the output (about 10 ms per 2-MP image here)
        if not math.isfinite(float(y.sum())):  # would be written as a black or speckled image
            raise RLFNError("the model's output is not finite (NaN or infinite values); its weights may be damaged")
        return y

    @property
    def _align(self) -> int:
        return int(getattr(self.model, "tile_align", 1))  # RLFN: its ESA's grid (rlfn.models.esa)

    # ---- the core: H×W×C arrays ---------------------------------------------------------------------------------

    def _run_planes(self, planes: torch.Tensor, write: Callable[[int, int, torch.Tensor], None],
                    on_tile: Callable[[], None] | None) -> None:
        """Upscale a 3×H×W float tensor in [0, 1], handing bands of output rows to ``write``."""
        _, h, w = planes.shape
        plan = plan_tiles(h, w, self._tile_for(h, w), self.tile_pad, self.blend, self._align)
        self.stats.tiles += plan.count

        def counted() -> None:
            if on_tile is not None:
                on_tile()

        with torch.inference_mode():  # the bands are updated in place, tiles are inference tensors
            run_tiled(self._forward, planes, self.scale, plan, write, counted)

    def _tile_for(self, height: int, width: int) -> int | None:
        if self.tile and self._whole_if_fits and height * width <= self.tile**2:
            return None
        return self.tile

    def tiles_for(self, width: int, height: int, alpha: bool = False) -> int:
        """How many model calls an image of this size needs (for a progress bar)."""
        n = plan_tiles(height, width, self._tile_for(height, width), self.tile_pad, self.blend, self._align).count
        return n * (2 if alpha and self.alpha == "model" else 1)

    def upscale_array(self, arr: np.ndarray, on_tile: Callable[[], None] | None = None) -> np.ndarray:
        """Upscale H×W or H×W×C (C = 1, 2, 3, 4) pixels: uint8, uint16, or float in [0, 1]. Same dtype back."""
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"expected a numpy array, got {type(arr).__name__}")
        squeeze = arr.ndim == 2
        a = arr[:, :, None] if squeeze else arr
        if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
            raise ImageError(f"expected H×W or H×W×C pixels with C in 1..4, got shape {arr.shape}")
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ImageError(f"empty image of shape {arr.shape}")
        h, w = a.shape[:2]
        check_output_fits((w, h), self.scale, (w * self.scale, h * self.scale), a.shape[2], a.dtype.itemsize)
        if a.dtype == np.uint8:
            maxval = 255.0
        elif a.dtype == np.uint16:
            maxval = 65535.0
        elif np.issubdtype(a.dtype, np.floating):
            maxval = 1.0
        else:
            raise ImageError(f"unsupported pixel type {a.dtype}; use uint8, uint16 or float in [0, 1]")
        h, w, c = a.shape
        s = self.scale
        out = np.empty((h * s, w * s, c), dtype=a.dtype)
        color = 1 if c in (1, 2) else 3
        self._upscale_channels(a, slice(0, color), out, maxval, on_tile)
        if c in (2, 4):
            self._upscale_alpha(a, c - 1, out, maxval, on_tile)
        return out[:, :, 0] if squeeze else out

    def upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        """Upscale N×H×W×3 RGB frames (a video's), uint8 or uint16; N×sH×sW×3 of the same dtype back.

        Frames that fit in one tile go through the model together, in one call (what a GPU needs to be
        busy); larger ones, and RGBA frames (N×H×W×4, alpha as :attr:`alpha` says), go frame by frame,
        exactly as :meth:`upscale_array` does.
        """
        if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[3] not in (3, 4):
            raise ImageError(f"expected N×H×W×3 (or ×4) frames, got {getattr(frames, 'shape', type(frames).__name__)}")
        if frames.dtype not in (np.uint8, np.uint16):
            raise ImageError(f"unsupported pixel type {frames.dtype} for frames; use uint8 or uint16")
        n, h, w, _ = frames.shape
        s = self.scale
        if n == 0 or h == 0 or w == 0:
            raise ImageError(f"empty frames of shape {frames.shape}")
        if n == 1 or self.tiles_for(w, h) > 1 or frames.shape[3] == 4:
            out = np.empty((n, h * s, w * s, frames.shape[3]), dtype=frames.dtype)
            for i in range(n):
                out[i] = self.upscale_array(frames[i])
            return out
        maxval = 255.0 if frames.dtype == np.uint8 else 65535.0
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(maxval)
        self.stats.tiles += n
        with torch.inference_mode():
            y = self._forward_window(x).clamp_(0, 1).mul_(maxval).round_()  # as _writer quantises
        y = y.to(torch.uint8 if maxval == 255.0 else torch.int32).permute(0, 2, 3, 1).numpy()
        return np.ascontiguousarray(y, dtype=frames.dtype)

    def _to_planes(self, a: np.ndarray, chans: slice, maxval: float) -> torch.Tensor:
        t = torch.from_numpy(a[:, :, chans].astype(np.float32)).permute(2, 0, 1)
        if maxval != 1.0:
            t = t / maxval
        if t.shape[0] == 1:  # grey: the model wants RGB; identical channels stay (near) identical
            t = t.expand(3, -1, -1)
        return t

    def _writer(self, out: np.ndarray, channel: slice | int, maxval: float) -> Callable[[int, int, torch.Tensor], None]:
        """A sink for :func:`run_tiled` that quantises output blocks into ``out[..., channel]``."""
        to_one = isinstance(channel, int) or (channel.stop - channel.start == 1)

        def write(row: int, col: int, block: torch.Tensor) -> None:
            # A few hundred rows at a time, in place where possible: temporaries stay small.
            for r in range(0, block.shape[1], 256):
                b = block[:, r : r + 256]
                b = b.mean(0, keepdim=True) if to_one else b
                b.clamp_(0, 1)
                if maxval != 1.0:
                    b.mul_(maxval).round_()
                    arr = b.to(torch.int32 if maxval > 255 else torch.uint8).permute(1, 2, 0).numpy()
                else:
                    arr = b.permute(1, 2, 0).numpy()
                rows = slice(row + r, row + r + arr.shape[0])
                cols = slice(col, col + arr.shape[1])
                if isinstance(channel, int):
                    out[rows, cols, channel] = arr[:, :, 0]
                else:
                    out[rows, cols, channel] = arr

        return write

    def _upscale_channels(self, a: np.ndarray, chans: slice, out: np.ndarray, maxval: float,
                          on_tile: Callable[[], None] | None) -> None:
        self._run_planes(self._to_planes(a, chans, maxval), self._writer(out, chans, maxval), on_tile)

    def _upscale_alpha(self, a: np.ndarray, idx: int, out: np.ndarray, maxval: float,
                       on_tile: Callable[[], None] | None) -> None:
        alpha = a[:, :, idx]
        if alpha.size and alpha.min() == alpha.max():  # uniform (often fully opaque): nothing to upscale
            out[:, :, idx] = alpha.flat[0]
            return
        if self.alpha == "model":
            self._run_planes(self._to_planes(a, slice(idx, idx + 1), maxval), self._writer(out, idx, maxval), on_tile)
            return
        # Bicubic through Pillow: float mode keeps 16-bit and float alphas exact enough.
        h, w = alpha.shape
        im = Image.fromarray(alpha.astype(np.float32), mode="F")
        big = np.asarray(im.resize((w * self.scale, h * self.scale), Image.Resampling.BICUBIC))
        big = np.clip(big, 0, maxval)
        out[:, :, idx] = big.round() if maxval != 1.0 else big

    # ---- other input kinds --------------------------------------------------------------------------------------

    def upscale(self, image: ImageT, on_tile: Callable[[], None] | None = None) -> ImageT:
        """Upscale a PIL image, a NumPy array or a tensor, returning the same kind (mode, dtype, layout)."""
        if isinstance(image, Image.Image):
            return self.upscale_pil(image, on_tile)
        if isinstance(image, np.ndarray):
            return self.upscale_array(image, on_tile)
        if isinstance(image, torch.Tensor):
            return self.upscale_tensor(image, on_tile)
        raise TypeError(f"expected a PIL image, numpy array or torch tensor, got {type(image).__name__}")

    def upscale_pil(self, image: Image.Image, on_tile: Callable[[], None] | None = None) -> Image.Image:
        """PIL in, PIL out: L stays L, LA stays LA, RGBA keeps its alpha, I;16 stays 16-bit."""
        pixels = pixels_of(image)
        big = self.upscale_array(pixels, on_tile)
        pic = Picture(big, image.info.get("icc_profile"))
        out = picture_to_pil(pic) if not (pic.bits == 16 and pic.channels > 1) else None
        if out is None:  # Pillow cannot hold 16-bit colour; give 8-bit RGB(A) as Pillow itself would
            out = picture_to_pil(Picture(to_8bit(big)))
        if pic.icc:
            out.info["icc_profile"] = pic.icc
        return out  # palette, CMYK and the like come back as their natural L/LA/RGB/RGBA/I;16 equivalent

    def upscale_tensor(self, x: torch.Tensor, on_tile: Callable[[], None] | None = None) -> torch.Tensor:
        """C×H×W or N×C×H×W (C = 1, 3 or 4), float in [0, 1] or uint8; same layout, dtype and device back."""
        if x.dim() not in (3, 4):
            raise ImageError(f"expected a C×H×W or N×C×H×W tensor, got shape {tuple(x.shape)}")
        batch = x if x.dim() == 4 else x[None]
        outs = []
        for img in batch:
            arr = img.detach().permute(1, 2, 0).cpu()
            arr = arr.numpy() if arr.dtype in (torch.uint8, torch.float32, torch.float64) else arr.float().numpy()
            big = self.upscale_array(arr, on_tile)
            outs.append(torch.from_numpy(big).permute(2, 0, 1))
        y = torch.stack(outs).to(device=x.device, dtype=x.dtype)
        return y if x.dim() == 4 else y[0]

    # ---- files -----------------------------------------------------------------------------------------------------

    def upscale_picture(self, pic: Picture, on_tile: Callable[[], None] | None = None,
                        size: OutputSize | None = None) -> Picture:
        """Upscale a picture, keeping its metadata; ``size`` asks for another output size than ×scale. An
        output that cannot fit in the memory left is an ImageError before any work."""
        out_size = size.for_input(*pic.size, self.scale) if size is not None else \
            (pic.size[0] * self.scale, pic.size[1] * self.scale)
        check_output_fits(pic.size, self.scale, out_size, pic.channels, pic.pixels.dtype.itemsize)
        big = self.upscale_array(pic.pixels, on_tile)
        if size is not None and not size.native:
            big = resize_pixels(big, size.for_input(*pic.size, self.scale))
        return Picture(big, pic.icc, pic.exif, pic.format, pic.dpi)

    def upscale_file(self, src: str | Path, dst: str | Path, fmt: str | None = None, *, quality: int = 95,
                     overwrite: bool = False, max_pixels: int | None = None,
                     on_tile: Callable[[], None] | None = None, size: OutputSize | None = None,
                     png_compression: int = PNG_COMPRESSION) -> Path:
        """Read ``src``, upscale, and write ``dst`` atomically (the format from ``fmt`` or ``dst``'s suffix)."""
        dst = Path(dst)
        refuse_existing(dst, overwrite)
        pic = load_picture(src, max_pixels=max_pixels)
        big = self.upscale_picture(pic, on_tile, size)
        del pic
        return save_picture(big, dst, fmt, quality=quality, overwrite=overwrite, warn=self._warn_fn,
                            png_compression=png_compression)



def upscale(image: ImageT, model: str | Path | SRModel | None = None, scale: int | None = None, **kw) -> ImageT:
    """One-off convenience: ``Upscaler(model, scale, **kw).upscale(image)``. Load an Upscaler for many images."""
    return Upscaler(model, scale, **kw).upscale(image)
