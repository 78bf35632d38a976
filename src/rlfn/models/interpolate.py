"""Network interpolation: weights between two trainings of one network (``--denoise S``).

``(1 - S) · bicubic-trained + S · real-world-trained``, parameter by parameter, as Real-ESRGAN's ``-dn`` does:
0 keeps every detail and every artefact of the input, 1 cleans JPEG blocks and noise hardest, and the values
between trade one for the other smoothly, because both trainings start from the same weights and stay close.
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
    sa, sb = a.module.state_dict(), b.module.state_dict()
    if (a.variant, a.scale, a.pixel_range) != (b.variant, b.scale, b.pixel_range) or sa.keys() != sb.keys() or any(
            sa[k].shape != sb[k].shape for k in sa):
        raise CheckpointMismatchError(f"cannot interpolate {a.describe()} with {b.describe()}: not the same network")
    mixed = {k: torch.lerp(sa[k].float(), sb[k].float(), t).to(sa[k].dtype) if sa[k].is_floating_point() else sa[k]
             for k in sa}
    out = copy.copy(a)
    out.module = copy.deepcopy(a.module)
    out.module.load_state_dict(mixed)
    out.source = f"{a.source}+{b.source} denoise {t:g}"
    return out
