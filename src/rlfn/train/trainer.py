"""The training loop: stages with warm starts, validation, checkpoints, resume, logs, DDP, autocast.

One run writes into ``out_dir``::

    config.yaml             the resolved config
    train.log               plain-text log (what the terminal shows, without the bar)
    metrics.jsonl           one JSON record per log line and per validation (for tables and curves)
    checkpoints/last.pt     model, EMA, optimiser, scheduler, stage, step, config, RNG (resume from here)
    checkpoints/best.pt     the best validation PSNR so far (first validation folder, first val.degrade condition)
    export/<name>_stage<i>_<stage name>.safetensors   each stage's final weights (EMA if enabled), pixel range 1.0
    <variant>_x<scale>.safetensors   the final model, loadable by ``rlfn upscale`` / ``rlfn eval``
    tb/                     TensorBoard scalars and validation images

Every batch is a function of (seed, stage, step, rank) (see :mod:`rlfn.train.data`), so resuming from a
checkpoint follows the uninterrupted run's loss curve.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from torch import nn

from ..errors import CheckpointError, ConfigError, DeviceError, TrainingDivergedError, WriteError
from ..inference.devices import auto_precision, cpu_bf16, resolve_device
from ..io.atomic import atomic_write
from ..models.checkpoint import save_safetensors
from ..models.registry import create_model, parse_name
from ..models.rlfn import RLFN
from ..models.weights import OURS_PIXEL_RANGE
from ..quality.imresize import imresize
from ..signals import STOP_SIGNALS, Stopped, handled
from . import distributed as D
from .resume_state import load_resume_state, save_resume_state
from .warm_start import init_from
from .config import Config, StageConfig
from .data import check_val_dirs, make_loader, stage_datasets
from .losses import SRLoss
from .optim import EMA, build_optimizer
from .runlog import RunLog
from .validation import validate

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Trainer:
    """One run of a :class:`Config`: set up in ``__init__`` (data read and checked before anything is
    written), trained by :meth:`fit`."""

    def __init__(self, cfg: Config, resume: str | None = None, quiet: bool = False,
                 device: str | None = None, stop_after: int | None = None):
        self.cfg = cfg
        self.quiet = quiet
        # pause at this global step (validate, write last.pt, return): fits a run to a time budget, or runs
        # the first steps of several configs to compare them before one goes on (--resume)
        self.stop_after = stop_after
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.dist = D.setup(resolve_device(device or cfg.train.device))
        self.device = self.dist.device
        if cfg.train.precision == "fp16" and self.device.type != "cuda":
            raise DeviceError("train.precision fp16 needs a CUDA GPU (use bf16 or fp32 here)")
        self.precision, self.precision_why = (
            auto_precision(self.device) if cfg.train.precision == "auto" else (cfg.train.precision, "asked"))
        self.fp32_steps = cfg.train.fp32_steps if cfg.train.fp32_steps is not None else \
            (0 if cfg.model.init_from else 1000)
        if self.precision == "bf16" and self.device.type == "cpu" and not cpu_bf16().native:
            print(f"rlfn train: warning: bf16 on this CPU is emulated ({cpu_bf16().reason}): slower than fp32",
                  file=sys.stderr)
        self.out = Path(cfg.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        if self.dist.main:
            self._check_out_dir()
        self.resume_path = self._resume_path(resume)
        self.variant = parse_name(cfg.model.variant)[0].name
        self.scale = cfg.model.scale
        # Bad folders and too-small images fail here, before anything is written.
        self.datasets = stage_datasets(cfg, self.scale)
        check_val_dirs(cfg.val)
        self._build_model()
        self.stage = 0
        self.step = 0
        self.best = -math.inf
        self.opt = self.sched = None
        amp = self.device.type == "cuda" and self.precision == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.log = RunLog()

    # ------------------------------------------------------------ setup

    def _build_model(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)  # the same seed on every rank: identical initial weights
        self.model = create_model(self.variant, self.scale)
        self.init_note = init_from(self.model, cfg.model.init_from) if cfg.model.init_from else "random"
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.to(self.device)
        self.ema = EMA(self.model, cfg.train.ema) if cfg.train.ema > 0 else None
        self.ddp: nn.Module = self.model
        if self.dist.enabled:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _resume_path(self, resume: str | None) -> Path | None:
        last = self.ckpt_dir / "last.pt"
        if resume is None:
            if last.exists():
                raise ConfigError(f"out_dir: {self.out} already holds a run ({last}); pass --resume to continue it "
                                  "or choose another out_dir (--set out_dir=...)")
            return None
        path = last if resume == "auto" else Path(resume)
        if not path.exists():
            raise CheckpointError(f"--resume: {path}: no such checkpoint")
        return path

    def _check_out_dir(self) -> None:
        """Fail before any work if out_dir cannot be a folder this process writes to."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise WriteError(f"out_dir: {out} is a file, not a folder")
        probe = out
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise WriteError(f"out_dir: {out}: cannot create it ({probe} is a file, not a folder)")
        try:  # a real try (os.access says yes to root, and knows nothing of read-only file systems)
            os.rmdir(tempfile.mkdtemp(prefix=".rlfn-probe-", dir=probe))
        except OSError as e:
            raise WriteError(f"out_dir: {out}: cannot write there ({probe}: {e.strerror or e})") from None

    def _open_outputs(self) -> None:
        if not self.dist.main:
            return
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.ckpt_dir.mkdir(exist_ok=True)
            (self.out / "export").mkdir(exist_ok=True)
            text = yaml.safe_dump(self.cfg.to_dict(), sort_keys=False)
            atomic_write(self.out / "config.yaml", lambda tmp: tmp.write_text(text), overwrite=True)
            self.bar_mode = sys.stderr.isatty() and not self.quiet
            self.log.open(self.out, echo=not self.quiet, tensorboard=self.cfg.train.tensorboard)
        except OSError as e:
            where = e.filename or self.out
            raise WriteError(f"out_dir: {where}: cannot write there ({e.strerror or e})") from None

    def _precision_note(self) -> str:
        what = "bf16 autocast" if self.precision == "bf16" else "fp16 autocast" if self.precision == "fp16" else "fp32"
        if self.cfg.train.precision == "auto":
            what += f" ({self.precision_why})"
        if self.precision != "fp32" and self._global_step() < self.fp32_steps:
            what += f" after {self.fp32_steps} float32 steps"
        return what

    # ------------------------------------------------------------ checkpoints

    @property
    def eval_module(self) -> RLFN:
        return self.ema.module if self.ema is not None else self.model

    def export_metadata(self, stage: int, step: int) -> dict:
        return {"variant": self.variant, "scale": self.scale, "pixel_range": OURS_PIXEL_RANGE, "run": self.cfg.name,
                "stage": stage, "stage_name": self.cfg.stages[min(stage, len(self.cfg.stages) - 1)].name,
                "step": step, "trained_with": "rlfn train"}

    def state_dict(self) -> dict:
        """Everything a resume needs (``last.pt``; the keys are listed in :mod:`rlfn.train.resume_state`):
        weights, EMA, optimiser, schedule, loss scaler, position, best PSNR, config and RNG states."""
        st = {
            "params": self.model.state_dict(),
            "optimizer": self.opt.state_dict() if self.opt is not None else None,
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "stage": self.stage,
            "step": self.step,
            "best_psnr": self.best,
            "config": self.cfg.to_dict(),
            "rng": _rng_state(),
            "rlfn_meta": {k: str(v) for k, v in self.export_metadata(self.stage, self.step).items()},
        }
        if self.ema is not None:
            st["params_ema"] = self.ema.module.state_dict()  # read_checkpoint prefers it, like the export
            st["ema_updates"] = self.ema.updates
        return st

    def load_state_dict(self, st: dict) -> None:
        """Continue where :meth:`state_dict` left off: weights, EMA, position, scaler, RNG and, mid-stage, the
        optimiser and schedule (at a stage boundary the next stage starts them afresh)."""
        self.model.load_state_dict(st["params"])
        if self.ema is not None:
            self.ema.module.load_state_dict(st.get("params_ema") or st["params"])
            self.ema.updates = int(st.get("ema_updates", 0))
        self.stage, self.step, self.best = int(st["stage"]), int(st["step"]), float(st["best_psnr"])
        if st.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(st["scaler"])
        _set_rng_state(st["rng"])
        if st["optimizer"] is not None and self.stage < len(self.cfg.stages):  # resuming mid-stage
            self._new_optimizer(self.cfg.stages[self.stage])
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])

    def save(self, name: str = "last.pt") -> Path:
        path = self.ckpt_dir / name
        if self.dist.main:
            save_resume_state(self.state_dict(), path)
        return path

    def load(self, path: Path) -> None:
        self.load_state_dict(load_resume_state(path, self.cfg.stages))

    def export(self, path: Path, stage: int, step: int) -> Path:
        if self.dist.main:
            save_safetensors(self.eval_module, path, self.export_metadata(stage, step))
        return path

    # ------------------------------------------------------------ validation

    def validate(self, global_step: int) -> float | None:
        """Score every validation folder (main process); a new best on the first one, under the first
        ``val.degrade`` condition, saves ``best.pt``."""
        if not self.cfg.val.hr_dirs:
            return None
        psnr = None
        if self.dist.main:
            st = self.cfg.stages[self.stage]
            where = f"stage {self.stage + 1} [{st.name}] step {self.step}"
            psnr = validate(self.eval_module, self.cfg.val, self.variant, self.scale, self.log, where,
                            lambda rec: self._record(rec, global_step), global_step)
            if psnr is not None and psnr > self.best:
                self.best = psnr
                self.save("best.pt")
        D.barrier(self.dist)
        return psnr

    def _record(self, rec: dict, global_step: int) -> None:
        st = self.cfg.stages[min(self.stage, len(self.cfg.stages) - 1)]
        self.log.record({"time": time.time(), "stage": self.stage + 1, "stage_name": st.name, "step": self.step,
                         "global_step": global_step, **rec})

    # ------------------------------------------------------------ training

    def _new_optimizer(self, st: StageConfig) -> None:
        self.opt, self.sched = build_optimizer(self.model.parameters(), st.optim, st.steps)

    def _global_step(self) -> int:
        return sum(s.steps for s in self.cfg.stages[: self.stage]) + self.step

    def fit(self) -> Path:
        """Train every remaining stage; returns the path of the final safetensors export."""
        cfg = self.cfg
        self._open_outputs()
        if self.resume_path is not None:
            self.load(self.resume_path)
            self.log(f"resumed from {self.resume_path}: stage {self.stage + 1}, step {self.step}; "
                     f"{self._precision_note()}")
        else:
            self.log(f"run {cfg.name}: {self.variant} x{self.scale}, init {self.init_note}, device {self.device}, "
                     f"{self._precision_note()}, {self.dist.world} process(es), {torch.get_num_threads()} threads")
        for i, st in enumerate(cfg.stages):
            if st.data.degradation.kind == "realworld" and st.data.workers == 0:
                self.log(f"note: stage {i + 1} ({st.name}) runs the realworld degradation in the training process; "
                         "data.workers: 1 or more keeps it off the training threads and is faster")
        final = self.out / f"{self.variant}_x{self.scale}.safetensors"
        try:
            with self._stop_between_steps():
                while self.stage < len(cfg.stages):
                    if self._run_stage() == "paused":
                        return self.ckpt_dir / "last.pt"
            self.export(final, len(cfg.stages) - 1, cfg.stages[-1].steps)
            self.log(f"done: {final} (best val PSNR {self.best:.3f} dB)")
        finally:
            self.log.close()
            D.cleanup(self.dist)
        return final

    def _run_stage(self) -> str:
        """Train the current stage from its current step to its end, then warm-start the next one; returns
        "paused" when ``stop_after`` is reached first."""
        st, si = self.cfg.stages[self.stage], self.stage
        if self.opt is None:  # a fresh stage: new optimiser and schedule (the warm start keeps the weights)
            self._new_optimizer(st)
        criterion = SRLoss(st.loss).to(self.device)
        loader = make_loader(self.datasets[si], st.data.batch_size, self.step, st.steps, self.dist.rank,
                             self.dist.world, st.data.workers, pin_memory=self.device.type == "cuda")
        self._announce_stage(st)
        self.log.bar = self._stage_bar(st)
        self.model.train()
        meter = _Meter(self.step)
        for lr_u8, hr_u8 in loader:
            loss, parts = self._train_step(lr_u8, hr_u8, criterion, st)
            meter.add({"loss": loss, **parts})
            if self.log.bar is not None:
                self.log.bar.update(1)
            self._after_step(meter, st)
            if self._stop_signal is not None:
                self._stop_now()
            if self.stop_after is not None and self._global_step() >= self.stop_after and self.step < st.steps:
                self._close_bar()
                self.validate(self._global_step())
                self.save()
                self.log(f"paused at stage {self.stage + 1} step {self.step} (--stop-after {self.stop_after}); "
                         f"{self.ckpt_dir / 'last.pt'} written (continue with --resume)")
                return "paused"
        self._close_bar()
        self._end_stage(st)
        return "done"

    def _close_bar(self) -> None:
        if self.log.bar is not None:
            self.log.bar.close()
        self.log.bar = None

    @contextlib.contextmanager
    def _stop_between_steps(self):
        """SIGINT, SIGTERM and SIGHUP while training finish the current step, write last.pt and then stop, so
        a resumed run loses no step (stopped mid-step, the optimiser's update could be half applied).
        Handlers are set only in the main thread; a signal the process ignores (nohup's SIGHUP) stays ignored."""
        self._stop_signal = None

        def request(signum: int, _frame) -> None:
            self._stop_signal = signum

        with handled(STOP_SIGNALS, request):
            yield

    def _stop_now(self) -> None:
        self.save()
        name = signal.Signals(self._stop_signal).name
        self.log(f"{name}: stopped after stage {self.stage + 1} step {self.step}; {self.ckpt_dir / 'last.pt'} "
                 "written (continue with --resume)")
        raise Stopped(self._stop_signal)

    def _announce_stage(self, st: StageConfig) -> None:
        b, world = st.data.batch_size, self.dist.world
        self.log(f"stage {self.stage + 1}/{len(self.cfg.stages)} [{st.name}]: steps {self.step}→{st.steps}, batch {b}"
                 f"×{world}={b * world}, LR patch {st.data.patch_size}, lr {st.optim.lr:g} {st.optim.schedule}, "
                 f"loss l1={st.loss.l1:g} l2={st.loss.l2:g} contrastive={st.loss.contrastive:g}")

    def _stage_bar(self, st: StageConfig):
        if not (self.dist.main and getattr(self, "bar_mode", False)):
            return None
        from tqdm import tqdm

        return tqdm(total=st.steps, initial=self.step, desc=f"stage {self.stage + 1} {st.name}", unit="it",
                    dynamic_ncols=True, leave=True)

    def _train_step(self, lr_u8: torch.Tensor, hr_u8: torch.Tensor, criterion: SRLoss, st: StageConfig
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimiser step on a batch of uint8 patches; returns the loss and its terms."""
        lr = lr_u8.to(self.device, non_blocking=True).float().div_(255)
        hr = hr_u8.to(self.device, non_blocking=True).float().div_(255)
        if self.cfg.train.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        neg = None
        if criterion.contrastive is not None:
            with torch.no_grad():  # the negative: bicubic-upsampled LR
                neg = imresize(lr, scale=float(self.scale)).clamp_(0, 1)
        amp_dtype = AMP_DTYPES.get(self.precision)
        if amp_dtype is not None and self._global_step() < self.fp32_steps:
            amp_dtype = None  # the float32 start of a run from random weights (TrainConfig.fp32_steps)
        with torch.autocast(self.device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext():
            sr = self.ddp(lr)
        loss, parts = criterion(sr.float(), hr, neg)  # the loss in float32 whatever the autocast
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"the loss became {loss.item()} at stage {self.stage + 1} step {self.step}; "
                                        "lower optim.lr or enable optim.grad_clip, then --resume")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if st.optim.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), st.optim.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        return loss, parts

    def _after_step(self, meter: "_Meter", st: StageConfig) -> None:
        """Log, validate and checkpoint at their intervals (the end of the stage does its own)."""
        train = self.cfg.train
        if self.step % train.log_every == 0 or self.step == st.steps:
            self._log_train(meter, st)
            meter.clear()
        if self.step % self.cfg.val.every == 0 and self.step < st.steps:
            self.validate(self._global_step())
        if self.step % train.checkpoint_every == 0 and self.step < st.steps:
            self.save()

    def _end_stage(self, st: StageConfig) -> None:
        """Validate, export this stage's weights, then warm-start the next stage from them."""
        si = self.stage
        self.validate(self._global_step())
        self.export(self.out / "export" / f"{self.cfg.name}_stage{si + 1}_{st.name}.safetensors", si, self.step)
        if self.ema is not None:
            with torch.no_grad():
                self.model.load_state_dict(self.ema.module.state_dict())
            self.ema.reset(self.model)
        self.stage += 1
        self.step = 0
        self.opt = self.sched = None
        self.save()
        self.log(f"stage {si + 1} [{st.name}] done; exported {self.out / 'export'}")

    def _log_train(self, meter: "_Meter", st: StageConfig) -> None:
        if not self.dist.main or meter.n == 0:
            return
        avg = meter.averages()
        its = meter.rate(self.step)
        patches = its * st.data.batch_size * self.dist.world
        lr = self.opt.param_groups[0]["lr"]
        gs = self._global_step()
        bar = self.log.bar
        if bar is not None:
            bar.set_postfix(loss=f"{avg['loss']:.4f}", lr=f"{lr:.2e}", patches_s=f"{patches:.1f}")
        eta = (st.steps - self.step) / its if its > 0 else 0
        terms = " ".join(f"{k} {v:.5f}" for k, v in avg.items() if k != "loss")
        self.log(f"stage {self.stage + 1} [{st.name}] step {self.step}/{st.steps} loss {avg['loss']:.5f} ({terms}) "
                 f"lr {lr:.3e} {its:.2f} it/s {patches:.1f} patches/s eta {eta / 60:.1f} min",
                 to_terminal=bar is None)  # the bar shows it
        self._record({"kind": "train", "lr": lr, "its": its, **avg}, gs)
        self.log.scalars({**{f"train/{k}": v for k, v in avg.items()}, "train/lr": lr,
                          "train/patches_per_s": patches}, gs)


def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


class _Meter:
    """Running sums of the loss terms between two log lines (kept as tensors: no device sync per step)."""

    def __init__(self, step: int):
        self.t0, self.step0 = time.perf_counter(), step  # for the rate since the start of the stage
        self.clear()

    def clear(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.n = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums[k] + v.detach() if k in self.sums else v.detach().float()
        self.n += 1

    def averages(self) -> dict[str, float]:
        return {k: float(v) / self.n for k, v in self.sums.items()}

    def rate(self, step: int) -> float:
        """Steps per second since the start of the stage."""
        elapsed = time.perf_counter() - self.t0
        return (step - self.step0) / elapsed if elapsed > 0 else 0.0
