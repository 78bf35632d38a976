"""ONNX export with dynamic height and width, and an ONNX Runtime backend with the SRModel calling convention;
TorchScript export (for libtorch) with the same graph; the weights alone as safetensors.

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

from ..errors import ConfigError
from ..io.atomic import atomic_write, refuse_existing
from ..inference.backends import OnnxModel, need_onnx
from ..models.descriptor import SRModel, UnitRange
from ..models.interchange import INPUT_NAME, OUTPUT_NAME, TORCHSCRIPT_META

DEFAULT_OPSET = 17


def export_form(model: SRModel) -> UnitRange:
    """A CPU float32 copy of ``model`` in export form (``nn.Module.to`` moves in place: the caller's model,
    on a GPU perhaps, stays where it is)."""
    return UnitRange(copy.deepcopy(model.module), model.pixel_range).to("cpu", torch.float32).eval()


def _metadata(model: SRModel) -> dict[str, str]:
    return {"rlfn_variant": model.variant, "rlfn_scale": str(model.scale), "rlfn_min_size": str(model.min_size),
            "rlfn_source": Path(model.source).name if os.sep in model.source else model.source, "rlfn_input_range": "[0, 1]"}


def export_onnx(model: SRModel, path: str | Path | None = None, *, opset: int = DEFAULT_OPSET,
                example_size: tuple[int, int] = (64, 64), overwrite: bool = False) -> bytes:
    """Export ``model`` to ONNX (opset ≥ 17, dynamic N, H and W). Writes ``path`` atomically when given;
    returns the serialized model either way."""
    need_onnx("onnx")
    import onnx

    if opset < 17:
        raise ConfigError(f"opset {opset} is too old; use 17 or newer")
    if path is not None:
        refuse_existing(path, overwrite)
    wrapper = export_form(model)
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


def onnx_model_for(model: SRModel, *, opset: int = DEFAULT_OPSET, path: str | Path | None = None,
                   threads: int | None = None, spinning: bool | None = None) -> OnnxModel:
    """``model`` exported to ONNX (in memory, or to ``path``) and handed to an ONNX Runtime runner
    (:class:`rlfn.inference.backends.OnnxModel`)."""
    data = export_onnx(model, path, opset=opset, overwrite=True) if path is not None else export_onnx(model, opset=opset)
    return OnnxModel(data, threads=threads, spinning=spinning, scale=model.scale, min_size=model.min_size)


# --------------------------------------------------------------------------------------------------
# TorchScript (deprecated by PyTorch in favour of torch.export, but what libtorch C++ programs load)


def export_torchscript(model: SRModel, path: str | Path, *, example_size: tuple[int, int] = (64, 64),
                       overwrite: bool = False) -> None:
    """Trace ``model`` (CPU, float32; [0, 1] in and out, the clamp included) and write a TorchScript archive
    with the metadata of :func:`export_onnx` as ``rlfn.json``. Height and width stay dynamic: the traced
    graph reads the ESA's resize target from the input's shape."""
    import json

    refuse_existing(path, overwrite)
    wrapper = export_form(model)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        traced = torch.jit.trace(wrapper, torch.rand(1, 3, *example_size), check_trace=False)
    extra = {TORCHSCRIPT_META: json.dumps(_metadata(model))}
    
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        atomic_write(path, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra), overwrite=overwrite)


def export_safetensors(model: SRModel, path: str | Path, *, overwrite: bool = False) -> None:
    """Write the weights of ``model`` alone (float32) as safetensors, with what loading them needs in the
    metadata: variant, scale and pixel range (so official [0, 255] weights stay [0, 255]), plus what the source
    said of itself (a training checkpoint: its run, stage and step).

    The loader reads a training checkpoint's EMA weights, so this turns a run's ``best.pt`` (1.9 MB of RLFN-S
    weights among 7.7 MB of optimiser and resume state) into the file that ``--weights`` takes and the package
    ships; and an official pickled ``.pth`` into a file that loads without unpickling anything."""
    from ..models.checkpoint import save_safetensors
    from ..models.rlfn import RLFN

    if not isinstance(model.module, RLFN):
        raise ConfigError(f"safetensors export handles RLFN models only; this is a {model.architecture} model")
    refuse_existing(path, overwrite)
    meta: dict[str, object] = dict(model.metadata)
    meta.update(variant=model.variant, scale=model.scale, pixel_range=model.pixel_range)
    if model.source and "exported_from" not in meta:
        meta["exported_from"] = Path(model.source).name
    save_safetensors(model.module, path, meta, overwrite=overwrite)
