"""Weight arithmetic on trainings of one network, parameter by parameter.

``interpolate`` (``--denoise S``): ``(1 - S) · bicubic-trained + S · real-world-trained``, as Real-ESRGAN's ``-dn``
does: 0 keeps every detail and every artefact of the input, 1 cleans JPEG blocks and noise hardest, and the
values between trade one for the other smoothly, because both trainings start from the same weights and stay
close. ``combine``: any linear combination, for the scripts that average runs (a weight soup) or carry a
fine-tune over to another base (a task vector).
"""
from __future__ import annotations

import copy

import torch

from ..errors import CheckpointMismatchError, ConfigError
from .descriptor import SRModel


def interpolate(a: SRModel, b: SRModel, t: float) -> SRModel:
    """A new model with weights ``(1 - t) · a + t · b``; ``a`` and ``b`` must be the same network."""
    if not 0.0 <= t <= 1.0:
        raise ConfigError(f"denoise strength {t}: give a number between 0 and 1")
    _check_same_network(a, b, "interpolate")
    sa, sb = a.module.state_dict(), b.module.state_dict()
    mixed = {k: torch.lerp(sa[k].float(), sb[k].float(), t).to(sa[k].dtype) if sa[k].is_floating_point() else sa[k]
             for k in sa}
    out = copy.copy(a)
    out.module = copy.deepcopy(a.module)
    out.module.load_state_dict(mixed)
    out.source = f"{a.source}+{b.source} denoise {t:g}"
    return out


def combine(models: list[SRModel], coefficients: list[float]) -> SRModel:
    """A new model with weights ``sum(c_i · model_i)``, summed in float64; integer buffers are the first model's."""
    if not models or len(models) != len(coefficients):
        raise ConfigError("combine: give one coefficient per model, and at least one model")
    for m in models[1:]:
        _check_same_network(models[0], m, "combine")
    states = [m.module.state_dict() for m in models]
    first = states[0]
    mixed = {k: sum(c * s[k].double() for c, s in zip(coefficients, states)).to(first[k].dtype)
             if first[k].is_floating_point() else first[k] for k in first}
    out = copy.copy(models[0])
    out.module = copy.deepcopy(models[0].module)
    out.module.load_state_dict(mixed)
    out.source = " + ".join(f"{c:g}·{m.source}" for c, m in zip(coefficients, models))
    return out


def _check_same_network(a: SRModel, b: SRModel, what: str) -> None:
    sa, sb = a.module.state_dict(), b.module.state_dict()
    if (a.variant, a.scale, a.pixel_range) != (b.variant, b.scale, b.pixel_range) or sa.keys() != sb.keys() or any(
            sa[k].shape != sb[k].shape for k in sa):
        raise CheckpointMismatchError(f"cannot {what} {a.describe()} with {b.describe()}: not the same network")
