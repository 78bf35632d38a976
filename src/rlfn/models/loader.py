"""``load_model``: one call from a name or a file to a ready :class:`SRModel`."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointMismatchError, ConfigError, UnknownModelError
from .checkpoint import build_from_state_dict, is_rlfn_state_dict, read_checkpoint
from .descriptor import SRModel
from .registry import DEFAULT_MODEL, DEFAULT_SCALE, parse_name
from .weights import OFFICIAL_PIXEL_RANGE, find_weights



def looks_like_path(spec: str) -> bool:
    """Model names have no suffix and no separator, so anything with either is a file path."""
    p = Path(spec)
    return p.suffix.lower() in (".pth", ".pt", ".ckpt", ".safetensors", ".bin") or len(p.parts) > 1 or p.is_file()


def load_file(path: str | Path, pixel_range: float | None = None, source: str | None = None) -> SRModel:
    """An :class:`SRModel` from any checkpoint file the loader accepts.

    The pixel range of RLFN weights is ``pixel_range`` if given, else the file's metadata; plain state dicts
    without it are taken to follow the official convention, [0, 255]. A checkpoint of another network is
    loaded through spandrel (the ``rlfn[spandrel]`` extra); such models take [0, 1] and ``pixel_range``
    does not apply to them.
    """
    state, meta = read_checkpoint(path)
    try:
        module, info = build_from_state_dict(state, str(path))
    except CheckpointMismatchError as e:
        if is_rlfn_state_dict(state):  # RLFN's names with tensors that do not fit: no other network's
            raise
        from .spandrel_bridge import load_foreign  # imports spandrel, only for other networks

        other = load_foreign(state, source or str(path), str(e), meta)
        if pixel_range not in (None, 1.0):
            raise CheckpointMismatchError(f"{path}: is a {other.architecture} model; a pixel range applies to "
                                          "RLFN weights only (other networks take [0, 1] through spandrel)")
        return other
    if pixel_range is None:
        pixel_range = float(meta.get("pixel_range", OFFICIAL_PIXEL_RANGE))
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
    pretrained: str = "auto",
    device: str | torch.device = "cpu",
    pixel_range: float | None = None,
    progress: bool = True,
    denoise: float | None = None,
) -> SRModel:
    """Load an RLFN ready for inference.

    ``model`` is a name (``"rlfn_s"``, ``"rlfn_s_x4"``) or a checkpoint path. ``weights`` is a checkpoint
    path that must match the named model. Without it, ``pretrained`` picks published weights:
    ``"ours"`` (trained by this project, shipped in the package) or ``"official"`` (bytedance/RLFN,
    downloaded once and cached, SHA-256 verified), ``"real"`` (ours, trained on real-world degradations: JPEG,
    noise, blur) or ``"auto"`` (ours where shipped, else official). ``denoise`` (0 to 1) mixes our
    bicubic-trained weights (0) with the real-world ones (1), whatever ``pretrained`` says.
    """
    spec = str(model)
    if denoise is not None and (weights is not None or looks_like_path(spec)):
        raise ConfigError("--denoise mixes the shipped bicubic and real-world weights; it does not apply to a "
                          "checkpoint file")
    if weights is None and looks_like_path(spec):
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
    if denoise is not None:
        from .interpolate import interpolate
        from .weights import our_weights

        if pretrained == "official":
            raise ConfigError("--denoise mixes our bicubic-trained and real-world weights; it cannot use "
                              "--pretrained official (drop one of the two)")
        have = sorted(set(our_weights("ours")) & set(our_weights("real")))
        if (variant.name, scale) not in have:
            names = ", ".join(f"{v} x{s}" for v, s in have) or "no model"
            raise UnknownModelError(f"--denoise needs our bicubic and real-world weights, which exist for {names}; "
                                    f"not for {variant.name} x{scale} (drop --denoise, or choose one of those)")
        clean = load_model(variant.name, scale, pretrained="ours", pixel_range=pixel_range)
        real = load_model(variant.name, scale, pretrained="real", pixel_range=pixel_range)
        return interpolate(clean, real, denoise).to(device)
    record = find_weights(variant.name, scale, pretrained)
    if record.path is not None:
        path = record.path
    else:
        from .hub import fetch  # only needed for remote weights

        path = fetch(record, progress=progress)
    loaded = load_file(path, record.pixel_range if pixel_range is None else pixel_range, source=record.tag)
    return loaded.to(device)
