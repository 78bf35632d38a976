"""ONNX export with dynamic height and width, and an ONNX Runtime backend with the SRModel calling convention;
TorchScript export (for libtorch) with the same graph.

The exported graph takes ``input``: N×3×H×W float32 in [0, 1] and returns ``output``: N×3×sH×sW in [0, 1]
(the pixel range of the weights and the final clamp are inside the graph); H and W are dynamic, N too.
Scale, variant and the minimum input size are stored in the model's metadata, so :func:`load_onnx` can
run a file on its own. onnx, onnxruntime and onnxscript are the ``rlfn[onnx]`` extra.
"""
from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path

import torch

from ..errors import ConfigError, RLFNError
from ..io.atomic import atomic_write, refuse_existing
from ..models import esa
from ..models.descriptor import SRModel, UnitRange, prepare_input

DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "output"


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise RLFNError(f"ONNX support needs {module}: pip install 'rlfn[onnx]'") from None


def _exportable(model: SRModel) -> UnitRange:
    """A CPU float32 copy of ``model`` in export form (``nn.Module.to`` moves in place: the caller's model,
    on a GPU perhaps, stays where it is)."""
    return UnitRange(copy.deepcopy(model.module), model.pixel_range).to("cpu", torch.float32).eval()


def _run_cropped(run, x: torch.Tensor, scale: int, min_size: int) -> torch.Tensor:
    """:class:`SRModel`'s convention around an exported graph: N×3×H×W or 3×H×W in [0, 1], tiny inputs padded
    to ``min_size`` and the output cropped back."""
    x, single, h, w = prepare_input(x.detach().to("cpu", torch.float32), min_size)
    out = run(x)[..., : h * scale, : w * scale]
    return out[0] if single else out


def _metadata(model: SRModel) -> dict[str, str]:
    return {"rlfn_variant": model.variant, "rlfn_scale": str(model.scale), "rlfn_min_size": str(model.min_size),
            "rlfn_source": Path(model.source).name if os.sep in model.source else model.source, "rlfn_input_range": "[0, 1]"}


def export_onnx(model: SRModel, path: str | Path | None = None, *, opset: int = DEFAULT_OPSET,
                example_size: tuple[int, int] = (64, 64), overwrite: bool = False) -> bytes:
    """Export ``model`` to ONNX (opset ≥ 17, dynamic N, H and W). Writes ``path`` atomically when given;
    returns the serialized model either way."""
    _need("onnx")
    import onnx

    if opset < 17:
        raise ConfigError(f"opset {opset} is too old; use 17 or newer")
    if path is not None:
        refuse_existing(path, overwrite)
    wrapper = _exportable(model)
    x = torch.rand(1, 3, *example_size)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporters' own notices (e.g. about TorchScript) are not the user's business
        # The TorchScript-based exporter gives a plain static graph with named dynamic axes; it handles the
        # ESA's input-sized interpolation without symbolic-shape guards.
        torch.onnx.export(
            wrapper, (x,), buf, opset_version=opset, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                          OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"}},
            dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(proto, _metadata(model))
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if path is not None:
        
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=overwrite)
    return data


class OnnxModel:
    """An ONNX Runtime session with :class:`SRModel`'s calling convention: N×3×H×W or 3×H×W float
    tensors in [0, 1] in, the same layout scaled by ``scale`` out (on the CPU)."""

    def __init__(self, onnx_bytes_or_path: bytes | str | Path, *, threads: int | None = None,
                 spinning: bool | None = None, scale: int | None = None, min_size: int | None = None):
        _need("onnxruntime")
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


def onnx_model_for(model: SRModel, *, opset: int = DEFAULT_OPSET, path: str | Path | None = None,
                   threads: int | None = None, spinning: bool | None = None) -> OnnxModel:
    """``model`` exported to ONNX (in memory, or to ``path``) and loaded into an ONNX Runtime session."""
    data = export_onnx(model, path, opset=opset, overwrite=True) if path is not None else export_onnx(model, opset=opset)
    return OnnxModel(data, threads=threads, spinning=spinning, scale=model.scale, min_size=model.min_size)


def load_onnx(path: str | Path, **kw) -> OnnxModel:
    """A model file written by :func:`export_onnx` (or ``rlfn export``), ready to run."""
    if not os.path.exists(path):
        raise RLFNError(f"{path}: no such file")
    return OnnxModel(path, **kw)


# --------------------------------------------------------------------------------------------------
# TorchScript (deprecated by PyTorch in favour of torch.export, but what libtorch C++ programs load)

TORCHSCRIPT_META = "rlfn.json"  # an extra file inside the archive


def export_torchscript(model: SRModel, path: str | Path, *, example_size: tuple[int, int] = (64, 64),
                       overwrite: bool = False) -> None:
    """Trace ``model`` (CPU, float32; [0, 1] in and out, the clamp included) and write a TorchScript archive
    with the metadata of :func:`export_onnx` as ``rlfn.json``. Height and width stay dynamic: the traced
    graph reads the ESA's resize target from the input's shape."""
    import json

    refuse_existing(path, overwrite)
    wrapper = _exportable(model)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        traced = torch.jit.trace(wrapper, torch.rand(1, 3, *example_size), check_trace=False)
    extra = {TORCHSCRIPT_META: json.dumps(_metadata(model))}
    
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        atomic_write(path, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra), overwrite=overwrite)


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
