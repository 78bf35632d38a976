"""The training loop: stages with warm starts, validation, checkpoints, resume, logs, DDP, autocast.

One run writes into ``out_dir``::

    config.yaml             the resolved config
    train.log               plain-text log (what the terminal shows, without the bar)
    metrics.jsonl           one JSON record per log line and per validation (for tables and curves)
    checkpoints/last.pt     model, EMA, optimiser, scheduler, stage, step, config, RNG (resume from here)
    checkpoints/best.pt     the best validation PSNR so far (first validation folder)
    export/<stage>.safetensors   each stage's final weights (EMA if enabled), pixel range 1.0
    <variant>_x<scale>.safetensors   the final model, loadable by ``rlfn upscale`` / ``rlfn eval``
    tb/                     TensorBoard scalars and validation images

Every batch is a function of (seed, stage, step, rank) (see :mod:`rlfn.data`), so resuming from a
checkpoint follows the uninterrupted run's loss curve.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from torch import nn

from . import distributed as D
from ..models.checkpoint import read_checkpoint, save_safetensors
from .config import Config, OptimConfig, StageConfig
from .data import PatchDataset, check_patch, load_images, make_loader
from ..inference.devices import resolve_device
from ..models.descriptor import SRModel
from ..errors import CheckpointError, ConfigError, DeviceError
from ..quality.degradation import make_lr, modcrop
from ..quality.evaluate import evaluate_folder
from ..io.images import list_images, read_rgb
from ..quality.imresize import imresize
from .losses import SRLoss
from ..models.rlfn import RLFN
from ..models.registry import create_model, parse_name

PIXEL_RANGE = 1.0  # we train on [0, 1] inputs


# ---------------------------------------------------------------- pieces


class EMA:
    """Exponential moving average of a model's weights (buffers copied).

    The decay ramps up as min(decay, (1 + n) / (10 + n)) over the n updates since the last reset, so that a
    short stage's average is not dominated by the weights it started from.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        ema_p = list(self.module.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in model.parameters()], 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        self.module.load_state_dict(model.state_dict())
        self.updates = 0


def lr_factor(cfg: OptimConfig, total: int) -> Callable[[int], float]:
    """Multiplier of the base lr at step t: linear warm-up, then cosine (to min_lr), step or constant."""
    warm = cfg.warmup_steps
    floor = min(1.0, cfg.min_lr / cfg.lr)

    def f(t: int) -> float:
        if warm and t < warm:
            return (t + 1) / warm
        if cfg.schedule == "cosine":
            progress = min(1.0, (t - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if cfg.schedule == "step":
            return cfg.gamma ** sum(t >= m for m in cfg.milestones)
        return 1.0

    return f


def build_optimizer(params, cfg: OptimConfig, total: int):
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    opt = cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, total))
    return opt, sched


def init_from(model: RLFN, path: str) -> str:
    """Load weights from ``path``; at another scale keep everything but the upsampler. Says what it did."""
    state, _ = read_checkpoint(path)
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


def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


class _Log:
    """Plain-text log file plus stderr (when no bar owns the terminal)."""

    def __init__(self, path: Path | None, echo: bool):
        self.path, self.echo = path, echo
        self.fh = open(path, "a", buffering=1) if path else None

    def __call__(self, msg: str, bar=None) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        if self.fh:
            self.fh.write(line + "\n")
        if self.echo:
            if bar is not None:
                bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.fh:
            self.fh.close()


# ---------------------------------------------------------------- the trainer


class Trainer:
    def __init__(self, cfg: Config, resume: str | None = None, quiet: bool = False,
                 device: str | None = None):
        self.cfg = cfg
        self.quiet = quiet
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.dist = D.setup(resolve_device(device or cfg.train.device))
        self.device = self.dist.device
        if cfg.train.precision == "fp16" and self.device.type != "cuda":
            raise DeviceError("train.precision fp16 needs a CUDA GPU (use bf16 or fp32 here)")
        self.out = Path(cfg.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.resume_path = self._resume_path(resume)
        variant, _ = parse_name(cfg.model.variant)
        self.variant = variant.name
        self.scale = cfg.model.scale
        self._prepare_data()  # bad folders and too-small images fail here, before anything is written
        self._check_val()

        torch.manual_seed(cfg.train.seed + self.dist.rank * 0)  # identical init on every rank
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
        self.stage = 0
        self.step = 0
        self.best = -math.inf
        self.opt = self.sched = None
        amp = self.device.type == "cuda" and cfg.train.precision == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.writer = None
        self.log = _Log(None, False)

    # ------------------------------------------------------------ setup

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

    def _prepare_data(self) -> None:
        cache: dict[tuple, list] = {}
        self.datasets: list[PatchDataset] = []
        for i, st in enumerate(self.cfg.stages):
            d = st.data
            key = (tuple(d.hr_dirs), tuple(d.lr_dirs or ()), d.lr_mode)
            if key not in cache:
                cache[key] = load_images(d.hr_dirs, d.lr_dirs, self.scale, d.lr_mode, key="data")
            check_patch(cache[key], self.scale, d.patch_size, key=f"stages[{i}].data.patch_size")
            self.datasets.append(PatchDataset(cache[key], self.scale, d.patch_size, d.augment, self.cfg.train.seed, i))

    def _check_val(self) -> None:
        for i, d in enumerate(self.cfg.val.hr_dirs):
            if not Path(d).is_dir():
                raise ConfigError(f"val.hr_dirs: {d}: no such folder")
            try:
                list_images(d)
            except Exception as e:  # ImageError: empty folder
                raise ConfigError(f"val.hr_dirs: {e}") from None

    def _open_outputs(self) -> None:
        if not self.dist.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir.mkdir(exist_ok=True)
        (self.out / "export").mkdir(exist_ok=True)
        cfg_path = self.out / "config.yaml"
        tmp = cfg_path.with_name(".config.yaml.tmp")
        tmp.write_text(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        tmp.replace(cfg_path)
        self.bar_mode = sys.stderr.isatty() and not self.quiet
        self.log = _Log(self.out / "train.log", echo=not self.quiet)
        self.metrics = open(self.out / "metrics.jsonl", "a", buffering=1)
        if self.cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.out / "tb"))
            except ImportError:
                self.log("tensorboard is not installed: no TensorBoard logs (pip install rlfn[tensorboard])")

    # ------------------------------------------------------------ checkpoints

    @property
    def eval_module(self) -> RLFN:
        return self.ema.module if self.ema is not None else self.model

    def _meta(self, stage: int, step: int) -> dict:
        return {"variant": self.variant, "scale": self.scale, "pixel_range": PIXEL_RANGE, "run": self.cfg.name,
                "stage": stage, "stage_name": self.cfg.stages[min(stage, len(self.cfg.stages) - 1)].name,
                "step": step, "trained_with": "rlfn train"}

    def _state(self) -> dict[str, Any]:
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
            "rlfn_meta": {k: str(v) for k, v in self._meta(self.stage, self.step).items()},
        }
        if self.ema is not None:
            st["params_ema"] = self.ema.module.state_dict()  # read_checkpoint prefers it, like the export
            st["ema_updates"] = self.ema.updates
        return st

    def save(self, name: str = "last.pt") -> Path:
        path = self.ckpt_dir / name
        if self.dist.main:
            tmp = path.with_name(f".{name}.tmp")
            torch.save(self._state(), tmp)
            tmp.replace(path)
        return path

    def load(self, path: Path) -> None:
        try:
            st = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise CheckpointError(f"--resume: {path}: not a readable training checkpoint ({str(e)[:160]})") from None
        if not isinstance(st, dict) or "params" not in st or "stage" not in st:
            raise CheckpointError(f"--resume: {path}: not a checkpoint written by rlfn train")
        if st["stage"] > len(self.cfg.stages) or (st["stage"] < len(self.cfg.stages) and st["step"] > self.cfg.stages[st["stage"]].steps):
            raise ConfigError(f"--resume: {path} is at stage {st['stage']} step {st['step']}, beyond this config's stages")
        self.model.load_state_dict(st["params"])
        if self.ema is not None:
            self.ema.module.load_state_dict(st.get("params_ema") or st["params"])
            self.ema.updates = int(st.get("ema_updates", 0))
        self.stage, self.step, self.best = int(st["stage"]), int(st["step"]), float(st["best_psnr"])
        if st["optimizer"] is not None and self.stage < len(self.cfg.stages):
            self._new_optimizer(self.cfg.stages[self.stage])
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])
        if st.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(st["scaler"])
        _set_rng_state(st["rng"])

    def export(self, path: Path, stage: int, step: int) -> Path:
        if self.dist.main:
            save_safetensors(self.eval_module, path, self._meta(stage, step))
        return path

    # ------------------------------------------------------------ validation

    def validate(self, global_step: int) -> float | None:
        if not self.cfg.val.hr_dirs:
            return None
        psnr_first = None
        if self.dist.main:
            module = self.eval_module
            was_training = module.training
            module.eval()
            sr_model = SRModel(module, self.variant, self.scale, PIXEL_RANGE, module.channels, module.mid_channels,
                               module.num_blocks, source="training")
            lr_dirs = self.cfg.val.lr_dirs or [None] * len(self.cfg.val.hr_dirs)
            for d, lr_d in zip(self.cfg.val.hr_dirs, lr_dirs):
                r = evaluate_folder(sr_model, d, lr_d, "y", quiet=True)
                psnr_first = r.psnr if psnr_first is None else psnr_first
                st = self.cfg.stages[self.stage]
                self.log(f"val {r.dataset}: PSNR {r.psnr:.3f} dB  SSIM {r.ssim:.4f}  (bicubic {r.bicubic_psnr:.3f} / "
                         f"{r.bicubic_ssim:.4f})  stage {self.stage + 1} [{st.name}] step {self.step}", self._bar)
                self._record({"kind": "val", "dataset": r.dataset, "psnr": r.psnr, "ssim": r.ssim,
                              "bicubic_psnr": r.bicubic_psnr, "bicubic_ssim": r.bicubic_ssim}, global_step)
                if self.writer:
                    self.writer.add_scalar(f"val/{r.dataset}/psnr", r.psnr, global_step)
                    self.writer.add_scalar(f"val/{r.dataset}/ssim", r.ssim, global_step)
            if self.writer and self.cfg.val.images > 0:
                self._val_images(sr_model, global_step)
            module.train(was_training)
            if psnr_first is not None and psnr_first > self.best:
                self.best = psnr_first
                self.save("best.pt")
        D.barrier(self.dist)
        return psnr_first

    def _val_images(self, sr_model: SRModel, global_step: int) -> None:
        for path in list_images(self.cfg.val.hr_dirs[0])[: self.cfg.val.images]:
            hr = modcrop(read_rgb(path), self.scale)
            lr = make_lr(hr, self.scale).float() / 255
            sr = sr_model(lr).cpu()
            self.writer.add_image(f"val_images/{path.stem}", sr, global_step)

    def _record(self, rec: dict, global_step: int) -> None:
        st = self.cfg.stages[min(self.stage, len(self.cfg.stages) - 1)]
        rec = {"time": time.time(), "stage": self.stage + 1, "stage_name": st.name, "step": self.step,
               "global_step": global_step, **rec}
        self.metrics.write(json.dumps(rec) + "\n")

    # ------------------------------------------------------------ training

    def _new_optimizer(self, st: StageConfig) -> None:
        self.opt, self.sched = build_optimizer(self.model.parameters(), st.optim, st.steps)

    def _global_step(self) -> int:
        return sum(s.steps for s in self.cfg.stages[: self.stage]) + self.step

    def fit(self) -> Path:
        """Train every remaining stage; returns the path of the final safetensors export."""
        cfg = self.cfg
        self._bar = None
        self._open_outputs()
        if self.resume_path is not None:
            self.load(self.resume_path)
            self.log(f"resumed from {self.resume_path}: stage {self.stage + 1}, step {self.step}")
        else:
            self.log(f"run {cfg.name}: {self.variant} x{self.scale}, init {self.init_note}, device {self.device}, "
                     f"{self.dist.world} process(es), {torch.get_num_threads()} threads")
        final = self.out / f"{self.variant}_x{self.scale}.safetensors"
        try:
            while self.stage < len(cfg.stages):
                self._run_stage()
            self.export(final, len(cfg.stages) - 1, cfg.stages[-1].steps)
            self.log(f"done: {final} (best val PSNR {self.best:.3f} dB)")
        finally:
            if self.writer:
                self.writer.close()
            self.log.close()
            D.cleanup(self.dist)
        return final

    def _run_stage(self) -> None:
        cfg, st, si = self.cfg, self.cfg.stages[self.stage], self.stage
        if self.opt is None:  # a fresh stage: new optimiser and schedule (the warm start keeps the weights)
            self._new_optimizer(st)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
        autocast = (torch.autocast(self.device.type, dtype=amp_dtype) if amp_dtype is not None
                    else contextlib.nullcontext())
        criterion = SRLoss(st.loss).to(self.device)
        loader = make_loader(self.datasets[si], st.data.batch_size, self.step, st.steps, self.dist.rank,
                             self.dist.world, st.data.workers, pin_memory=self.device.type == "cuda")
        eff = st.data.batch_size * self.dist.world
        self.log(f"stage {si + 1}/{len(cfg.stages)} [{st.name}]: steps {self.step}→{st.steps}, batch {st.data.batch_size}"
                 f"×{self.dist.world}={eff}, LR patch {st.data.patch_size}, lr {st.optim.lr:g} {st.optim.schedule}, "
                 f"loss l1={st.loss.l1:g} l2={st.loss.l2:g} contrastive={st.loss.contrastive:g}")
        bar = None
        if self.dist.main and getattr(self, "bar_mode", False):
            from tqdm import tqdm

            bar = tqdm(total=st.steps, initial=self.step, desc=f"stage {si + 1} {st.name}", unit="it",
                       dynamic_ncols=True, leave=True)
        self._bar = bar
        self.model.train()
        t0, n0 = time.perf_counter(), self.step
        run_sum: dict[str, torch.Tensor] = {}
        run_n = 0
        for lr_u8, hr_u8 in loader:
            lr = lr_u8.to(self.device, non_blocking=True).float().div_(255)
            hr = hr_u8.to(self.device, non_blocking=True).float().div_(255)
            if cfg.train.channels_last:
                lr = lr.contiguous(memory_format=torch.channels_last)
            neg = None
            if criterion.contrastive is not None:
                with torch.no_grad():  # the negative: bicubic-upsampled LR
                    neg = imresize(lr, scale=float(self.scale)).clamp_(0, 1)
            with autocast:
                sr = self.ddp(lr)
            loss, parts = criterion(sr, hr, neg)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at stage {si + 1} step {self.step}; "
                                         "lower optim.lr or enable optim.grad_clip")
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
            run_n += 1
            for k, v in {"loss": loss, **parts}.items():
                run_sum[k] = run_sum[k] + v.detach() if k in run_sum else v.detach().float()  # no sync per step
            if bar is not None:
                bar.update(1)
            if self.step % cfg.train.log_every == 0 or self.step == st.steps:
                self._log_train(run_sum, run_n, t0, n0, st, bar)
                run_sum, run_n = {}, 0
            if self.step % cfg.val.every == 0 and self.step < st.steps:
                self.validate(self._global_step())
            if self.step % cfg.train.checkpoint_every == 0 and self.step < st.steps:
                self.save()
        if bar is not None:
            bar.close()
        self._bar = None
        # End of stage: validate, export this stage's weights, then warm-start the next stage from them.
        self.validate(self._global_step())
        self.export(self.out / "export" / f"{cfg.name}_stage{si + 1}_{st.name}.safetensors", si, self.step)
        if self.ema is not None:
            with torch.no_grad():
                self.model.load_state_dict(self.ema.module.state_dict())
            self.ema.reset(self.model)
        self.stage += 1
        self.step = 0
        self.opt = self.sched = None
        self.save()
        self.log(f"stage {si + 1} [{st.name}] done; exported {self.out / 'export'}")

    def _log_train(self, run_sum: dict, run_n: int, t0: float, n0: int, st: StageConfig, bar) -> None:
        if not self.dist.main or run_n == 0:
            return
        avg = {k: float(v) / run_n for k, v in run_sum.items()}
        elapsed = time.perf_counter() - t0
        its = (self.step - n0) / elapsed if elapsed > 0 else 0.0
        patches = its * st.data.batch_size * self.dist.world
        lr = self.opt.param_groups[0]["lr"]
        gs = self._global_step()
        if bar is not None:
            bar.set_postfix(loss=f"{avg['loss']:.4f}", lr=f"{lr:.2e}", patches_s=f"{patches:.1f}")
        eta = (st.steps - self.step) / its if its > 0 else 0
        terms = " ".join(f"{k} {v:.5f}" for k, v in avg.items() if k != "loss")
        line = (f"stage {self.stage + 1} [{st.name}] step {self.step}/{st.steps} loss {avg['loss']:.5f} ({terms}) "
                f"lr {lr:.3e} {its:.2f} it/s {patches:.1f} patches/s eta {eta / 60:.1f} min")
        if bar is None:
            self.log(line)
        elif self.log.fh:
            self.log.fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        self._record({"kind": "train", "lr": lr, "its": its, **avg}, gs)
        if self.writer:
            for k, v in avg.items():
                self.writer.add_scalar(f"train/{k}", v, gs)
            self.writer.add_scalar("train/lr", lr, gs)
            self.writer.add_scalar("train/patches_per_s", patches, gs)


def train(cfg: Config, resume: str | None = None, quiet: bool = False, device: str | None = None) -> Path:
    return Trainer(cfg, resume=resume, quiet=quiet, device=device).fit()
