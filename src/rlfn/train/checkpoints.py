"""Training checkpoints: what ``last.pt`` and ``best.pt`` hold, writing and reading them, and ``init_from``.

A checkpoint is a plain dict read with ``torch.load(weights_only=True)``::

    params, params_ema (with EMA), ema_updates   the weights
    optimizer, scheduler, scaler                 None at a stage boundary (the next stage starts afresh)
    stage, step, best_psnr, config, rng          where the run is, the resolved config, the RNG states
    rlfn_meta                                    variant, scale, pixel range... (as in the exports)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import CheckpointError, ConfigError
from ..io.atomic import atomic_write
from ..models.checkpoint import read_checkpoint
from ..models.rlfn import RLFN
from .config import StageConfig

if TYPE_CHECKING:
    from .trainer import Trainer


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


def rng_state() -> dict:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_state(state: dict[str, Any], path: Path) -> Path:
    return atomic_write(path, lambda tmp: torch.save(state, tmp), overwrite=True)


def load_state(path: Path, stages: list[StageConfig]) -> dict[str, Any]:
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


def training_state(trainer: "Trainer") -> dict[str, Any]:
    """Everything ``last.pt`` holds (the format above)."""
    t = trainer
    st = {
        "params": t.model.state_dict(),
        "optimizer": t.opt.state_dict() if t.opt is not None else None,
        "scheduler": t.sched.state_dict() if t.sched is not None else None,
        "scaler": t.scaler.state_dict() if t.scaler.is_enabled() else None,
        "stage": t.stage,
        "step": t.step,
        "best_psnr": t.best,
        "config": t.cfg.to_dict(),
        "rng": rng_state(),
        "rlfn_meta": {k: str(v) for k, v in t.export_metadata(t.stage, t.step).items()},
    }
    if t.ema is not None:
        st["params_ema"] = t.ema.module.state_dict()  # read_checkpoint prefers it, like the export
        st["ema_updates"] = t.ema.updates
    return st


def restore(trainer: "Trainer", st: dict[str, Any]) -> None:
    """Put ``trainer``'s weights, EMA, position, scaler and RNG where the checkpoint ``st`` left off (the
    optimiser and schedule are the trainer's to rebuild)."""
    t = trainer
    t.model.load_state_dict(st["params"])
    if t.ema is not None:
        t.ema.module.load_state_dict(st.get("params_ema") or st["params"])
        t.ema.updates = int(st.get("ema_updates", 0))
    t.stage, t.step, t.best = int(st["stage"]), int(st["step"]), float(st["best_psnr"])
    if st.get("scaler") and t.scaler.is_enabled():
        t.scaler.load_state_dict(st["scaler"])
    set_rng_state(st["rng"])
