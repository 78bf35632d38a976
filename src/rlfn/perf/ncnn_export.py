"""ncnn export (``.param`` + ``.bin``) through pnnx, for realesrgan-ncnn-vulkan and the programs built on its code
(Upscayl, Video2X); see docs/deploy.md.

The graph is the ONNX export's (:func:`rlfn.perf.export.export_form`: [0, 1] RGB in, [0, 1] out, the weights'
pixel range and the final clamp inside), with dynamic height and width, and with the blob names those programs
use (:data:`rlfn.models.interchange.NCNN_INPUT`, ``NCNN_OUTPUT``). pnnx stores weights in float16 unless told
otherwise; that alone put ncnn 5e-4 (our weights) to 4.6e-3 (the official ones) away from PyTorch, so they are
written in float32 (GPU programs still compute in float16 storage if they choose: docs/deploy.md). pnnx is the
``rlfn[ncnn]`` extra.
"""
from __future__ import annotations

import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import ConfigError, RLFNError
from ..inference.ncnn_backend import NcnnModel
from ..io.atomic import atomic_write, refuse_existing
from ..models.descriptor import SRModel
from ..models.interchange import NCNN_INPUT, NCNN_OUTPUT
from .export import export_form

# Two different sizes (one odd) tell pnnx that height and width are dynamic; the ESA's resize then follows
# the input's size in the graph (ncnn's Interp with a size expression) instead of a frozen one.
TRACE_SIZES = ((64, 80), (77, 131))
# pnnx names the graph's input and output blobs in0 and out0.
_PNNX_NAMES = {"in0": NCNN_INPUT, "out0": NCNN_OUTPUT}


def need_pnnx():
    try:
        import pnnx
    except ImportError:
        raise RLFNError("ncnn export needs pnnx: pip install 'rlfn[ncnn]'") from None
    return pnnx


def bin_path_for(param: str | Path) -> Path:
    """The weights file beside a ``.param`` file (ncnn programs look for NAME.param and NAME.bin)."""
    return Path(param).with_suffix(".bin")


def export_ncnn(model: SRModel, param: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``model`` as ncnn ``param`` (which must end in ``.param``) and the ``.bin`` beside it, both atomically.
    Returns the two paths."""
    param = Path(param)
    if param.suffix != ".param":
        raise ConfigError(f"{param}: an ncnn model is NAME.param (and NAME.bin beside it); end the name in .param")
    if not model.is_rlfn:
        raise RLFNError(f"ncnn export handles RLFN models only; this is a {model.architecture} model (through spandrel)")
    weights = bin_path_for(param)
    for f in (param, weights):
        refuse_existing(f, overwrite)
    pnnx = need_pnnx()
    with tempfile.TemporaryDirectory(prefix="rlfn-pnnx-") as tmp:
        text, data = _convert(model, Path(tmp), pnnx.EXEC_PATH)
    # The weights first: a .param without its .bin is what a reader of the folder would trip over.
    atomic_write(weights, lambda t: Path(t).write_bytes(data), overwrite=overwrite)
    atomic_write(param, lambda t: Path(t).write_text(text), overwrite=overwrite)
    return param, weights


def _convert(model: SRModel, tmp: Path, pnnx_exe: str) -> tuple[str, bytes]:
    """(the .param text with our blob names, the .bin bytes), converted by pnnx in ``tmp``."""
    wrapper = export_form(model)
    (h, w), (h2, w2) = TRACE_SIZES
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation and tracer notices
        traced = torch.jit.trace(wrapper, torch.rand(1, 3, h, w), check_trace=False)
        traced.save(str(tmp / "model.pt"))
    out = {k: str(tmp / f"model.{k}") for k in ("ncnnparam", "ncnnbin", "pnnxparam", "pnnxbin", "pnnxpy", "pnnxonnx",
                                                "ncnnpy")}
    cmd = [pnnx_exe, str(tmp / "model.pt"), f"inputshape=[1,3,{h},{w}]f32", f"inputshape2=[1,3,{h2},{w2}]f32",
           "device=cpu", "fp16=0", *(f"{k}={v}" for k, v in out.items())]
    try:
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    except OSError as e:
        raise RLFNError(f"cannot run pnnx ({e.strerror or e}); reinstall it: pip install 'rlfn[ncnn]'") from None
    param, weights = Path(out["ncnnparam"]), Path(out["ncnnbin"])
    if done.returncode != 0 or not param.is_file() or not weights.is_file():
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise RLFNError(f"pnnx could not convert the model (exit status {done.returncode}"
                        + (f": {said[-1][:200]})" if said else ")"))
    return rename_blobs(param.read_text(), _PNNX_NAMES), weights.read_bytes()


def rename_blobs(text: str, names: dict[str, str]) -> str:
    """An ncnn ``.param`` text with blobs (and the layers of the same name) renamed by ``names``.

    Each layer line reads ``type name n_bottoms n_tops bottoms... tops... key=value...``; only the blob fields
    and the name are touched."""
    lines = text.splitlines()
    if len(lines) < 3 or lines[0].strip() != "7767517":
        raise RLFNError("pnnx wrote no ncnn .param file that rlfn can read")
    seen: set[str] = set()
    out = lines[:2]
    for line in lines[2:]:
        f = line.split()
        if len(f) < 4:
            out.append(line)
            continue
        ends = 4 + int(f[2]) + int(f[3])
        for i in (1, *range(4, ends)):
            if f[i] in names:
                seen.add(f[i])
                f[i] = names[f[i]]
        out.append(" ".join(f))
    missing = set(names) - seen
    if missing:
        raise RLFNError(f"pnnx's graph has no blob {', '.join(sorted(missing))}: a pnnx version rlfn does not know")
    return "\n".join(out) + "\n"


def ncnn_model_for(model: SRModel, *, threads: int | None = None) -> NcnnModel:
    """``model`` exported to ncnn in a temporary folder and loaded by the ncnn runner
    (:class:`rlfn.inference.ncnn_backend.NcnnModel`; ncnn reads both files at once, so the folder can go)."""
    with tempfile.TemporaryDirectory(prefix="rlfn-ncnn-") as tmp:
        param, weights = export_ncnn(model, Path(tmp) / f"{model.name}.param")
        return NcnnModel(param, weights, threads=threads, name=model.name, about=model.describe())
