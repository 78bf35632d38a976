"""Running exported models: ONNX Runtime sessions and TorchScript archives, with :class:`SRModel`'s calling
convention (N×3×H×W or 3×H×W float tensors in [0, 1] in, the same layout scaled out, on the CPU), so that
``Upscaler`` tiles, pads and writes them like any model. Writing them is :mod:`rlfn.perf.export`'s job. The
ncnn runner, which also makes tiles exact, is its sibling :mod:`rlfn.inference.ncnn_backend`.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from ..errors import RLFNError
from ..models import esa
from ..models.descriptor import prepare_input
from ..models.interchange import INPUT_NAME, OUTPUT_NAME, TORCHSCRIPT_META


def need_onnx(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise RLFNError(f"ONNX support needs {module}: pip install 'rlfn[onnx]'") from None


def _run_cropped(run, x: torch.Tensor, scale: int, min_size: int) -> torch.Tensor:
    """:class:`SRModel`'s convention around an exported graph: N×3×H×W or 3×H×W in [0, 1], tiny inputs padded
    to ``min_size`` and the output cropped back."""
    x, single, h, w = prepare_input(x.detach().to("cpu", torch.float32), min_size)
    out = run(x)[..., : h * scale, : w * scale]
    return out[0] if single else out


class OnnxModel:
    """An ONNX Runtime session with :class:`SRModel`'s calling convention: N×3×H×W or 3×H×W float
    tensors in [0, 1] in, the same layout scaled by ``scale`` out (on the CPU)."""

    def __init__(self, onnx_bytes_or_path: bytes | str | Path, *, threads: int | None = None,
                 spinning: bool | None = None, scale: int | None = None, min_size: int | None = None):
        need_onnx("onnxruntime")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Same thread count as PyTorch unless told otherwise, so the two backends compare on equal terms.
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        if spinning is not None:  # busy-waiting worker threads hurt on a CPU shared with other work
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        src = onnx_bytes_or_path if isinstance(onnx_bytes_or_path, bytes) else str(onnx_bytes_or_path)
        try:
            self.session = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise RLFNError(f"onnxruntime cannot load the model ({str(e).splitlines()[0][:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        found = scale or int(meta.get("rlfn_scale", 0))
        if not found:
            raise RLFNError("the ONNX model has no rlfn_scale metadata; pass scale=")
        self.scale = found
        self.min_size = min_size or int(meta.get("rlfn_min_size", esa.MIN_SIZE))
        self.variant = meta.get("rlfn_variant", "onnx")
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    @property
    def name(self) -> str:
        return f"{self.variant}_x{self.scale} (onnxruntime)"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        def run(batch: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(self.session.run([OUTPUT_NAME], {INPUT_NAME: batch.contiguous().numpy()})[0])

        return _run_cropped(run, x, self.scale, self.min_size)


def load_onnx(path: str | Path, **kw) -> OnnxModel:
    """A model file written by :func:`export_onnx` (or ``rlfn export``), ready to run."""
    if not os.path.exists(path):
        raise RLFNError(f"{path}: no such file")
    return OnnxModel(path, **kw)


# TorchScript (deprecated by PyTorch in favour of torch.export, but what libtorch C++ programs load)


class TorchScriptModel:
    """A TorchScript archive written by :func:`export_torchscript`, with :class:`SRModel`'s calling convention."""

    def __init__(self, path: str | Path):
        import json

        if not os.path.exists(path):
            raise RLFNError(f"{path}: no such file")
        extra = {TORCHSCRIPT_META: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as e:  # torch.jit raises RuntimeError subclasses for files it cannot read
            raise RLFNError(f"{path}: not a TorchScript archive ({str(e).splitlines()[0].split('. ')[0][:160]})") from None
        try:
            meta = json.loads(extra[TORCHSCRIPT_META] or "{}")
        except ValueError:
            meta = {}
        if "rlfn_scale" not in meta:
            raise RLFNError(f"{path}: has no rlfn metadata (not written by rlfn export)")
        self.scale = int(meta["rlfn_scale"])
        self.min_size = int(meta.get("rlfn_min_size", esa.MIN_SIZE))
        self.variant = meta.get("rlfn_variant", "torchscript")
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return _run_cropped(self.module, x, self.scale, self.min_size)


def load_torchscript(path: str | Path) -> TorchScriptModel:
    return TorchScriptModel(path)
