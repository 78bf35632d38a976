"""``load_model``: one call from a name or a file to a ready :class:`SRModel`."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from .checkpoint import build_from_state_dict, read_checkpoint
from .descriptor import SRModel
from ..errors import CheckpointMismatchError, UnknownModelError
from .registry import OFFICIAL_WEIGHTS, Weights, parse_name

DEFAULT_MODEL = "rlfn_s"
DEFAULT_SCALE = 4


def bundled_weights_path(variant: str, scale: int) -> Path | None:
    """The weights this project trained and ships inside the package, if any for (variant, scale)."""
    ref = resources.files("rlfn") / "weights" / f"{variant}_x{scale}.safetensors"
    return Path(str(ref)) if ref.is_file() else None


def available_weights() -> list[Weights]:
    out = list(OFFICIAL_WEIGHTS.values())
    for variant in ("rlfn", "rlfn_s", "rlfn_ntire"):
        for scale in (2, 3, 4):
            p = bundled_weights_path(variant, scale)
            if p is not None:
                out.append(Weights(variant, scale, "ours", 1.0, filename=p.name))
    return sorted(out, key=lambda w: (w.variant, w.scale, w.tag))


def _looks_like_path(spec: str) -> bool:
    """Model names have no suffix and no separator, so anything with either is a file path."""
    p = Path(spec)
    return p.suffix.lower() in (".pth", ".pt", ".ckpt", ".safetensors", ".bin") or len(p.parts) > 1 or p.is_file()


def load_file(path: str | Path, pixel_range: float | None = None, source: str | None = None) -> SRModel:
    """An :class:`SRModel` from any checkpoint file the loader accepts.

    The pixel range comes from the file's metadata; plain state dicts without it are taken to follow the
    official convention, [0, 255], unless ``pixel_range`` says otherwise.
    """
    state, meta = read_checkpoint(path)
    module, info = build_from_state_dict(state, str(path))
    if pixel_range is None:
        pixel_range = float(meta.get("pixel_range", 255.0))
    return SRModel(
        module=module.eval(),
        variant=info.variant,
        scale=info.scale,
        pixel_range=pixel_range,
        channels=info.channels,
        mid_channels=info.mid_channels,
        blocks=info.blocks,
        source=source or str(path),
        metadata=meta,
    )


def load_model(
    model: str | Path = DEFAULT_MODEL,
    scale: int | None = None,
    *,
    weights: str | Path | None = None,
    pretrained: str = "ours",
    device: str | torch.device = "cpu",
    pixel_range: float | None = None,
    progress: bool = True,
) -> SRModel:
    """Load an RLFN ready for inference.

    ``model`` is a name (``"rlfn_s"``, ``"rlfn_s_x4"``) or a checkpoint path. ``weights`` is a checkpoint
    path that must match the named model. Without it, ``pretrained`` picks published weights:
    ``"ours"`` (trained by this project, shipped in the package) or ``"official"`` (bytedance/RLFN,
    downloaded once and cached, SHA-256 verified).
    """
    spec = str(model)
    if weights is None and _looks_like_path(spec):
        loaded = load_file(spec, pixel_range)
        if scale is not None and loaded.scale != scale:
            raise CheckpointMismatchError(f"{spec}: is {loaded.variant} x{loaded.scale}, but scale {scale} was asked")
        return loaded.to(device)
    variant, scale = parse_name(spec, scale)
    scale = DEFAULT_SCALE if scale is None else scale
    if weights is not None:
        loaded = load_file(weights, pixel_range)
        if (loaded.variant, loaded.scale) != (variant.name, scale):
            raise CheckpointMismatchError(
                f"{weights}: is {loaded.variant} x{loaded.scale}, but {variant.name} x{scale} was asked"
            )
        return loaded.to(device)
    tag = pretrained.lower()
    if tag == "ours":
        path = bundled_weights_path(variant.name, scale)
        if path is None:
            have = [f"{w.variant} x{w.scale} ({w.tag})" for w in available_weights()]
            raise UnknownModelError(
                f"no weights of ours for {variant.name} x{scale}; available: {', '.join(have)}; "
                "or pass --weights PATH"
            )
        loaded = load_file(path, pixel_range, source="ours")
    elif tag == "official":
        record = OFFICIAL_WEIGHTS.get((variant.name, scale))
        if record is None:
            have = ", ".join(f"{v} x{s}" for v, s in sorted(OFFICIAL_WEIGHTS))
            raise UnknownModelError(f"no official weights for {variant.name} x{scale}; official ones exist for {have}")
        from .hub import fetch  # only needed for remote weights

        loaded = load_file(fetch(record, progress=progress), record.pixel_range if pixel_range is None else pixel_range, source="official")
    else:
        raise UnknownModelError(f"unknown pretrained weights {pretrained!r}; choose 'ours' or 'official'")
    return loaded.to(device)
