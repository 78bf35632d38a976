"""Running an ncnn model (``NAME.param`` + ``NAME.bin``: what ``rlfn export`` writes, or any graph with one input and
one output that upscales RGB in [0, 1]) on the CPU through the ncnn Python binding, with :class:`SRModel`'s calling
convention, so that ``Upscaler`` tiles, pads and writes it like any model. Writing the files is
:mod:`rlfn.perf.ncnn_export`'s job; the ``ncnn`` package is the ``rlfn[ncnn]`` extra.

Tiles come out as the whole image would. RLFN's ESA resizes its pooled map back to the input's size, and a tile's
own size gives other sampling positions than the whole image's (:mod:`rlfn.models.esa`). In a graph, that resize
is an ``Interp`` layer with two inputs (the map and a blob of the target size); inside :meth:`NcnnModel.in_window`,
each such map is read out of ncnn, resized at the whole image's positions by :func:`rlfn.models.esa.upsample`
(the PyTorch path's own function) and handed back as the layer's output, so ncnn skips that layer and goes on.
"""
from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import RLFNError
from ..models import esa
from ..models.descriptor import prepare_input

_in_window: contextvars.ContextVar[bool] = contextvars.ContextVar("rlfn_ncnn_window", default=False)


def need_ncnn():
    try:
        import ncnn
    except ImportError:
        raise RLFNError("the ncnn backend needs the ncnn package: pip install 'rlfn[ncnn]'") from None
    return ncnn


class NcnnModel:
    """An ncnn network with :class:`SRModel`'s calling convention: N×3×H×W or 3×H×W float tensors in [0, 1] in,
    the same layout scaled by :attr:`scale` out (on the CPU, float32 storage and arithmetic throughout, so that
    it can be compared with PyTorch; GPU programs may choose float16 storage)."""

    def __init__(self, param: str | Path, weights: str | Path | None = None, *, threads: int | None = None,
                 name: str | None = None, about: str | None = None):
        ncnn = need_ncnn()
        self._ncnn = ncnn
        param = Path(param)
        weights = Path(weights) if weights is not None else param.with_suffix(".bin")
        for f in (param, weights):
            if not f.is_file():
                raise RLFNError(f"{f}: no such file" + (" (an ncnn model is NAME.param and NAME.bin)" if f == weights else ""))
        net = ncnn.Net()
        opt = net.opt
        opt.use_vulkan_compute = False
        # float32 throughout: ncnn's CPU kernels would otherwise store in bf16/fp16 where the processor has them
        opt.use_fp16_storage = opt.use_fp16_arithmetic = opt.use_fp16_packed = False
        opt.use_bf16_storage = opt.use_bf16_packed = False
        opt.num_threads = threads or torch.get_num_threads()
        if net.load_param(str(param)) != 0:
            raise RLFNError(f"{param}: not an ncnn .param file that ncnn can read")
        if net.load_model(str(weights)) != 0:
            raise RLFNError(f"{weights}: ncnn cannot read these weights (truncated, or another model's .bin)")
        inputs, outputs = list(net.input_names()), list(net.output_names())
        if len(inputs) != 1 or len(outputs) != 1:
            raise RLFNError(f"{param}: expected one input and one output blob, found {inputs} and {outputs}")
        self.net, self.input_name, self.output_name = net, inputs[0], outputs[0]
        blobs = net.blobs()
        # (map, reference, output) blob names of every resize to a blob's size: RLFN's ESAs, in graph order
        self._resizes = [tuple(blobs[i].name for i in (*layer.bottoms, *layer.tops))
                         for layer in net.layers() if layer.type == "Interp" and len(layer.bottoms) == 2]
        self.min_size = esa.MIN_SIZE if self._resizes else 1
        self.tile_align = esa.GRID if self._resizes else 1
        self.tileable = True
        self.variant = name or param.stem
        self.about = about  # what the file was made from, when known (an export on the fly)
        self.path = param
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.scale = self._probe_scale()

    def _probe_scale(self) -> int:
        """The scale, from one small run: ncnn files carry no metadata."""
        n = max(self.min_size, 16)
        out = self._run(torch.full((3, n, n + 1), 0.5), windowed=False)
        s = out.shape[-2] // n
        if s < 1 or out.shape[-2:] != (s * n, s * (n + 1)) or out.shape[0] != 3:
            raise RLFNError(f"{self.path}: not an RGB upscaling model (a {n}×{n + 1} input gave {tuple(out.shape)})")
        return s

    @property
    def name(self) -> str:
        return f"{self.variant} (ncnn)"

    def describe(self) -> str:
        return f"{self.about}, through ncnn" if self.about else f"{self.variant} x{self.scale} (ncnn, {self.path.name})"

    @contextlib.contextmanager
    def in_window(self, win: esa.Placement) -> Iterator[None]:
        """Run the calls inside as for the part ``win`` of a larger image (tiling; as :meth:`SRModel.in_window`)."""
        with esa.image_window(win):
            token = _in_window.set(True)
            try:
                yield
            finally:
                _in_window.reset(token)

    def _run(self, img: torch.Tensor, windowed: bool) -> torch.Tensor:
        """One 3×H×W image through the network."""
        ncnn = self._ncnn
        with self.net.create_extractor() as ex:
            ex.input(self.input_name, _mat(ncnn, img))
            if windowed:
                for src, ref, top in self._resizes:
                    _, pooled = ex.extract(src)
                    _, target = ex.extract(ref)
                    c = torch.from_numpy(np.array(pooled))[None]
                    up = esa.upsample(c, target.h, target.w)[0]  # at the whole image's positions (esa.image_window)
                    ex.input(top, _mat(ncnn, up))
            rc, out = ex.extract(self.output_name)
            if rc != 0:
                raise RLFNError(f"{self.path}: ncnn could not run the model (status {rc})")
            return torch.from_numpy(np.array(out))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x, single, h, w = prepare_input(x.detach().to("cpu", torch.float32), self.min_size)
        windowed = _in_window.get() and bool(self._resizes)
        out = torch.stack([self._run(img, windowed) for img in x])[..., : h * self.scale, : w * self.scale]
        return out[0] if single else out


def _mat(ncnn, t: torch.Tensor):
    """A C×H×W tensor as an ncnn Mat of its own. ``ncnn.Mat(array)`` only points at the array's memory and does
    not keep the array alive, so the array is held in a name until the copy is made (a temporary, freed first,
    gave garbage: differences of 1.0 from PyTorch)."""
    arr = np.ascontiguousarray(t.numpy(), dtype=np.float32)
    return ncnn.Mat(arr).clone()


def load_ncnn(param: str | Path, **kw) -> NcnnModel:
    """An ncnn model (NAME.param, with NAME.bin beside it), ready to run."""
    return NcnnModel(param, **kw)
