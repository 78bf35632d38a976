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


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a checkpoint file as (state dict on the CPU, metadata strings)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
        return _unwrap(state, path)[0], meta
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unpickling failed"
        raise CheckpointError(f"{path}: refused, it is not a plain tensor checkpoint ({first[:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first[:160]})") from None
    return _unwrap(obj, path)


_BLOCK_RE = re.compile(r"^block_(\d+)\.c1_r\.weight$")
_REQUIRED = ("conv_1.weight", "conv_2.weight", "upsampler.0.weight", "block_1.c1_r.weight", "block_1.esa.conv1.weight")


def inspect_state_dict(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> ArchInfo:
    """Read the architecture from tensor shapes; refuse anything that is not an RLFN."""
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
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
    except (IndexError, AttributeError) as e:
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


def save_safetensors(model: RLFN, path: str | Path, metadata: Mapping[str, object]) -> Path:
    """Write weights plus metadata (variant, scale, pixel range, ...) to a safetensors file, atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta), overwrite=True)
