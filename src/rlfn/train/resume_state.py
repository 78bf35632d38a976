"""Resume state on disk: writing ``last.pt`` / ``best.pt`` atomically and reading them back, checked.

What the state holds is the trainer's (:meth:`rlfn.train.trainer.Trainer.state_dict`); this module only moves
it to and from files. A file is a plain dict read with ``torch.load(weights_only=True)``::

    params, params_ema (with EMA), ema_updates   the weights
    optimizer, scheduler, scaler                 None at a stage boundary (the next stage starts afresh)
    stage, step, best_psnr, config, rng          where the run is, the resolved config, the RNG states
    rlfn_meta                                    variant, scale, pixel range... (as in the exports)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..io.atomic import atomic_write
from .config import StageConfig


def save_resume_state(state: dict[str, Any], path: Path) -> Path:
    return atomic_write(path, lambda tmp: torch.save(state, tmp), overwrite=True)


def load_resume_state(path: Path, stages: list[StageConfig]) -> dict[str, Any]:
    """A checkpoint written by ``rlfn train``, checked against the config's stages."""
    from ..io.files import check_input

    check_input(path, CheckpointError, "a training checkpoint")
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise CheckpointError(f"--resume: {path}: not a readable training checkpoint ({str(e)[:160]})") from None
    if not isinstance(st, dict) or "params" not in st or "stage" not in st:
        raise CheckpointError(f"--resume: {path}: not a checkpoint written by rlfn train")
    if st["stage"] > len(stages) or (st["stage"] < len(stages) and st["step"] > stages[st["stage"]].steps):
        raise ConfigError(f"--resume: {path} is at stage {st['stage']} step {st['step']}, beyond this config's stages")
    return st
