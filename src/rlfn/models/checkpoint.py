"""Reading and writing RLFN checkpoints without unpickling arbitrary objects.

Accepted: official ``.pth`` state dicts, the usual wrappers (``params_ema``, ``params``, ``state_dict``,
``model``), a ``module.`` (DDP) or ``_orig_mod.`` (torch.compile) prefix, and safetensors files. The
architecture (width, depth, scale) is read from tensor shapes.
"""
from __future__ import annotations

import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from ..errors import CheckpointError, CheckpointMismatchError
from ..io.atomic import atomic_write
from .registry import identify
from .rlfn import RLFN

# Keys under which training frameworks nest the weights, best first (an EMA beats the raw weights).
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")
_PREFIXES = ("module.", "_orig_mod.")
META_KEY = "rlfn_meta"  # our own training checkpoints keep the metadata here


@dataclass(frozen=True)
class ArchInfo:
    """What a state dict says about the network that produced it."""

    channels: int
    mid_channels: int
    blocks: int
    scale: int
    esa_channels: int

    @property
    def variant(self) -> str:
        return identify(self.channels, self.mid_channels, self.blocks) or "rlfn_custom"

    def describe(self) -> str:
        if self.variant != "rlfn_custom":
            return f"{self.variant} x{self.scale}"
        return f"RLFN ({self.channels}/{self.mid_channels} channels, {self.blocks} blocks) x{self.scale}"

    def build(self) -> RLFN:
        return RLFN(self.scale, self.channels, self.mid_channels, self.blocks, self.esa_channels)


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _unwrap(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    meta: dict[str, str] = {}
    if isinstance(obj, Mapping) and isinstance(obj.get(META_KEY), Mapping):
        meta = {str(k): str(v) for k, v in obj[META_KEY].items()}
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        for key in _WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                obj = obj[key]
                break
    if not _is_state_dict(obj):
        kind = type(obj).__name__
        keys = ", ".join(map(repr, list(obj)[:5])) if isinstance(obj, Mapping) else ""
        raise CheckpointMismatchError(f"{path}: holds no state dict of tensors (found a {kind}{': ' + keys if keys else ''})")
    state = {}
    for k, v in obj.items():
        for p in _PREFIXES:
            while k.startswith(p):
                k = k[len(p):]
        state[k] = v
    return state, meta


def _sniff(path: Path) -> str:
    """What the first bytes say: "zip" (PyTorch ≥ 1.6), "pickle" (older PyTorch), "safetensors" or "unknown"."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    return "unknown"


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a checkpoint file as (state dict on the CPU, metadata strings).

    Whatever the file is, the outcome is a state dict of finite tensors or one :class:`CheckpointError` (or
    :class:`CheckpointMismatchError`) naming the file; pickles are loaded with ``weights_only`` and never run.
    """
    from ..io.files import check_input, reading

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    check_input(path, CheckpointError, "a checkpoint")
    with reading(path, CheckpointError, "cannot read it"):
        kind = _sniff(path)
    if kind == "safetensors" or (kind == "unknown" and path.suffix == ".safetensors"):
        from safetensors import safe_open
        from safetensors.torch import load_file

        with reading(path, CheckpointError, "not a readable safetensors file"):
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
            state = load_file(str(path), device="cpu")
        state = _unwrap(state, path)[0]
    elif kind == "unknown":
        raise CheckpointError(f"{path}: not a checkpoint (neither a PyTorch .pth/.pt file nor safetensors)")
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise CheckpointError(
                f"{path}: refused, it holds Python objects besides tensors, and rlfn never unpickles those "
                f"({_first_line(e)})") from e
        except (CheckpointError, MemoryError):
            raise
        except Exception as e:  # torch.load raises many types for damaged files (RuntimeError, KeyError, ...)
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, damaged or cut short "
                                  f"({_first_line(e)})") from e
        state, meta = _unwrap(obj, path)
    _check_finite(state, path)
    return state, meta


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    if not text:
        return type(e).__name__
    line = text.splitlines()[0]
    if "Weights only load failed" in line:  # PyTorch's long explanation; its useful part comes later
        why = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("WeightsUnpickler error", "Unsupported"))]
        line = why[0] if why else "not a plain tensor file"
    return f"{type(e).__name__}: {line[:160]}" if not isinstance(e, (OSError, pickle.UnpicklingError)) else line[:160]


def _check_finite(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Weights with NaN or infinite values give black or garbage images: refuse them here, by name."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} of its {len(state)} tensors hold NaN or infinite values "
                              f"(e.g. {bad[0]!r}); the file is damaged or comes from a diverged training run")


_BLOCK_RE = re.compile(r"^block_(\d+)\.c1_r\.weight$")
_REQUIRED = ("conv_1.weight", "conv_2.weight", "upsampler.0.weight", "block_1.c1_r.weight", "block_1.esa.conv1.weight")


def is_rlfn_state_dict(state: Mapping[str, object]) -> bool:
    """Whether the tensor names are an RLFN's (its shapes may still not fit: :func:`inspect_state_dict` says)."""
    return all(k in state for k in _REQUIRED)


def inspect_state_dict(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> ArchInfo:
    """Read the architecture from tensor shapes; refuse anything that is not an RLFN."""
    if not is_rlfn_state_dict(state):
        sample = ", ".join(repr(k) for k in list(state)[:3])
        raise CheckpointMismatchError(
            f"{source}: not an RLFN checkpoint (its {len(state)} tensors are named like {sample}; "
            f"an RLFN has 'conv_1.weight', 'block_1.c1_r.weight', ..., 'upsampler.0.weight')"
        )
    try:
        channels = state["conv_1.weight"].shape[0]
        mid = state["block_1.c1_r.weight"].shape[0]
        esa = state["block_1.esa.conv1.weight"].shape[0]
        blocks = max(int(m.group(1)) for k in state if (m := _BLOCK_RE.match(k)))
        up_out, in_ch = state["upsampler.0.weight"].shape[:2]
    except (IndexError, AttributeError, ValueError) as e:  # a missing axis, a non-tensor, too few axes to unpack
        raise CheckpointMismatchError(f"{source}: RLFN-like names but unexpected tensor shapes ({e})") from None
    scale = math.isqrt(up_out // 3)
    if scale * scale * 3 != up_out or in_ch != channels:
        raise CheckpointMismatchError(
            f"{source}: its upsampler has {up_out} outputs, which is no RGB pixel shuffle (3·s² for a scale s)"
        )
    return ArchInfo(channels, mid, blocks, scale, esa)


def build_from_state_dict(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> tuple[RLFN, ArchInfo]:
    info = inspect_state_dict(state, source)
    model = info.build()
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        parts = []
        if result.missing_keys:
            parts.append(f"missing {len(result.missing_keys)} (e.g. {result.missing_keys[0]!r})")
        if result.unexpected_keys:
            parts.append(f"unexpected {len(result.unexpected_keys)} (e.g. {result.unexpected_keys[0]!r})")
        raise CheckpointMismatchError(f"{source}: looks like {info.describe()} but its tensors do not fit: {'; '.join(parts)}")
    return model, info


def save_safetensors(model: RLFN, path: str | Path, metadata: Mapping[str, object], *,
                     overwrite: bool = True) -> Path:
    """Write weights plus metadata (variant, scale, pixel range, ...) to a safetensors file, atomically."""
    from safetensors.torch import save

    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    # Serialised here and written by us: safetensors' save_file leaves the file private (0600), and weights
    # are files people share.
    data = save(state, metadata=meta)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=overwrite)
