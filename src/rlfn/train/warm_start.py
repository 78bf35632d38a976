"""Warm starts: a run's first weights from another run's (``model.init_from``), at its scale or another."""
from __future__ import annotations

from ..errors import CheckpointError
from ..models.checkpoint import read_checkpoint
from ..models.rlfn import RLFN


def init_from(model: RLFN, path: str) -> str:
    """Load weights from ``path``; at another scale keep everything but the upsampler. Says what it did."""
    try:
        state, _ = read_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"model.init_from: {e}") from None
    own = model.state_dict()
    skipped = [k for k in state if k.startswith("upsampler.") and k in own and state[k].shape != own[k].shape]
    state = {k: v for k, v in state.items() if k not in skipped}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in state if k in own and state[k].shape != own[k].shape]
    if unexpected or bad or any(not k.startswith("upsampler.") for k in missing):
        what = (bad or unexpected or [k for k in missing if not k.startswith("upsampler.")])[0]
        raise CheckpointError(f"model.init_from: {path} does not fit this model (first mismatch: {what!r})")
    model.load_state_dict(state, strict=False)
    return "all weights" if not skipped else "all weights but the upsampler (other scale)"
