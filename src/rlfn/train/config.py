"""Training configuration: frozen dataclasses loaded from YAML, strictly.

Unknown keys and wrong types are refused with a :class:`ConfigError` that names the key (``optim.lr``),
before any training starts. ``--set a.b=value`` overrides are applied to the raw mapping first (values
parsed as YAML, so ``--set train.ema=0.999`` is a float and ``--set data.hr_dirs=[a,b]`` a list).

A config may list ``stages``: each stage names its length and partial ``data``/``loss``/``optim``
sections that are merged over the top-level ones (``data.degradation`` too: a stage's settings are merged
over the top-level pipeline's, and a stage that names another ``kind`` replaces it). Every stage starts
from the previous stage's weights with a fresh optimiser and schedule (the paper's warm start). Without
``stages`` there is one stage of ``train.steps`` steps.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

import yaml

from .. import strict
from ..errors import ConfigError
from ..models.esa import MIN_SIZE
from ..quality.realworld import RealWorldConfig


@dataclass(frozen=True)
class ModelConfig:
    variant: str = "rlfn_s"
    scale: int = 4
    # Weights to start from (safetensors or a training checkpoint). At another scale (the classic ×2 → ×4
    # trick) everything but the upsampler is taken.
    init_from: Optional[str] = None


DEGRADATIONS = ("bicubic", "realworld")


@dataclass(frozen=True)
class DegradationConfig:
    """How training LR is made from HR. In YAML: ``bicubic`` (the default), ``realworld`` (Real-ESRGAN's
    defaults) or a mapping ``{kind: realworld, <any RealWorldConfig field>: ...}``."""

    kind: Literal["bicubic", "realworld"] = "bicubic"
    realworld: Optional[RealWorldConfig] = None  # the pipeline's settings, when kind is realworld


@dataclass(frozen=True)
class DataConfig:
    hr_dirs: list[str] = field(default_factory=list)
    # Paired LR folders, one per HR folder (LR files named like the HR ones, optionally with an xS suffix);
    # without them LR is made by the MATLAB-compatible bicubic.
    lr_dirs: Optional[list[str]] = None
    patch_size: int = 48  # LR patch side; the HR patch is patch_size × scale
    batch_size: int = 16  # per process; the effective batch is batch_size × world size
    workers: int = 0
    augment: bool = True  # random horizontal/vertical flips and 90° rotations
    # how a sample's image is drawn: "image" (each image equally often) or "area" (in proportion to its size,
    # so that 2K photos are not drawn as often as 481×321 ones)
    weighting: Literal["image", "area"] = "image"
    # each HR image is also used at these sizes (a MATLAB-bicubic downscale, its LR made from it, as
    # multi-scale copies of DIV2K are made): the same photo seen at several scales of detail. [1.0]: as they are;
    # a copy smaller than the HR patch is left out
    hr_scales: list[float] = field(default_factory=lambda: [1.0])
    # a drawn HR patch whose detail (rlfn.train.data.patch_detail: the mean absolute step between neighbouring
    # gray pixels, in 8-bit levels) is below this is drawn again, up to 8 times: fewer flat patches of sky and
    # bokeh, more edges and texture. 0: every patch as drawn
    min_detail: float = 0.0
    # "cached": LR of each whole image made once at start, patches cropped in pairs (faster, and the LR
    # border pixels see their real neighbours); "on_the_fly": bicubic of each HR patch.
    lr_mode: Literal["cached", "on_the_fly"] = "cached"
    # "bicubic" (above), or "realworld": each HR patch cropped, flipped/rotated, then degraded by
    # rlfn.quality.realworld (blur, resize, noise, JPEG, twice), seeded by (seed, stage, sample index)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)


@dataclass(frozen=True)
class LossConfig:
    l1: float = 1.0
    l2: float = 0.0
    contrastive: float = 0.0
    # λ per extractor layer: after the Tanh, after the second conv
    contrastive_layers: list[float] = field(default_factory=lambda: [1.0, 1.0])
    contrastive_channels: int = 16
    contrastive_seed: int = 0  # the frozen random extractor is the same in every run and process


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "adamw"] = "adam"
    lr: float = 5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr: float = 1e-7  # cosine floor
    milestones: list[int] = field(default_factory=list)  # step schedule: steps at which lr *= gamma
    gamma: float = 0.5
    grad_clip: float = 0.0  # max global gradient norm; 0 disables


@dataclass(frozen=True)
class ValConfig:
    hr_dirs: list[str] = field(default_factory=list)
    lr_dirs: Optional[list[str]] = None
    every: int = 500  # steps; validation also runs at the end of every stage
    images: int = 2  # SR images written to TensorBoard at each validation
    # LR conditions, as rlfn eval --degrade takes them (clean, jpeg50, noise10+jpeg70); every folder is scored
    # under each, and the first folder's first condition picks the best checkpoint
    degrade: list[str] = field(default_factory=lambda: ["clean"])


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # used when no stages are listed
    seed: int = 0
    ema: float = 0.0  # decay of the weights' moving average; 0 disables
    device: str = "auto"
    # auto: bf16 autocast where the CPU computes it natively (AMX, AVX512-BF16) or the GPU supports it, else
    # fp32; the weights, the optimiser, the EMA and the loss stay in float32 either way
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # the first global steps in float32 whatever the precision: from random weights, bf16 from the first step
    # ended 0.2 dB lower, and float32 for the first 1,000 of 2,000 steps closed the gap (docs/training.md, the
    # bf16 A/B). None: 1000 when the run starts from random weights, 0 with model.init_from
    fp32_steps: Optional[int] = None
    threads: int = 0  # torch CPU threads; 0 leaves PyTorch's default
    channels_last: bool = True  # much faster convolutions on CPUs (oneDNN) and tensor cores
    log_every: int = 20
    checkpoint_every: int = 200
    tensorboard: bool = True


@dataclass(frozen=True)
class StageConfig:
    name: str
    steps: int
    data: DataConfig
    loss: LossConfig
    optim: OptimConfig


@dataclass(frozen=True)
class Config:
    name: str = "run"
    out_dir: str = "runs/run"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    val: ValConfig = field(default_factory=ValConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: list[StageConfig] = field(default_factory=list)
    raw: dict = field(default_factory=dict, compare=False, repr=False)  # the resolved mapping, for checkpoints

    def to_dict(self) -> dict:
        return copy.deepcopy(self.raw)


# ---------------------------------------------------------------- strict construction


def _build(cls: type, data: Any, prefix: str) -> Any:
    return strict.build(cls, data, prefix, {DegradationConfig: _degradation}, internal=("raw",))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    return strict.coerce(value, tp, key, {DegradationConfig: _degradation})


def _degradation_mapping(value: Any) -> Any:
    """``data.degradation`` as a mapping with a kind (``realworld`` → ``{kind: realworld}``), so that a
    stage's partial settings merge over the top-level ones; anything else is left for :func:`_degradation`
    to refuse."""
    if isinstance(value, str):
        return {"kind": value}
    return value


def _degradation(value: Any, key: str) -> DegradationConfig:
    value = _degradation_mapping(value)
    if value is None:
        return DegradationConfig()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected one of {', '.join(DEGRADATIONS)} or a mapping with a kind, got {value!r}")
    kind = value.get("kind", "bicubic")
    if kind not in DEGRADATIONS:
        raise ConfigError(f"{key}.kind: {kind!r} is not one of {', '.join(DEGRADATIONS)}")
    settings = {k: v for k, v in value.items() if k != "kind"}
    if kind == "bicubic":
        if settings:
            raise ConfigError(f"{key}.{next(iter(settings))}: a setting of the realworld pipeline; "
                              f"add {key}.kind: realworld, or remove it")
        return DegradationConfig()
    return DegradationConfig("realworld", RealWorldConfig.from_dict(settings, prefix=key))


def _merge_data(base: Mapping, over: Mapping) -> dict:
    """A stage's ``data`` over the top-level one; ``degradation`` merges like a section unless the stage
    names another kind, which replaces the top-level degradation and its settings."""
    out = _merge(base, {k: v for k, v in over.items() if k != "degradation"})
    if "degradation" in over:
        b = _degradation_mapping(base.get("degradation"))
        o = _degradation_mapping(over["degradation"])
        if isinstance(b, Mapping) and isinstance(o, Mapping):
            kind = b.get("kind", "bicubic")
            if o.get("kind", kind) == kind:  # the same pipeline: its settings merge
                o = _merge(b, o)
        out["degradation"] = copy.deepcopy(o)
    return out


def _merge(base: Mapping, over: Mapping) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


_STAGE_KEYS = ("name", "steps", "data", "loss", "optim")


def _check_values(cfg: Config) -> None:
    def positive(key: str, v: float) -> None:
        if v <= 0:
            raise ConfigError(f"{key}: must be positive, got {v}")

    from ..models.registry import VARIANTS

    if cfg.model.variant.lower().replace("-", "_") not in VARIANTS:
        raise ConfigError(f"model.variant: unknown {cfg.model.variant!r}; known: {', '.join(sorted(VARIANTS))}")
    if not 1 <= cfg.model.scale <= 8:
        raise ConfigError(f"model.scale: must be between 1 and 8, got {cfg.model.scale}")
    if cfg.train.fp32_steps is not None and cfg.train.fp32_steps < 0:
        raise ConfigError(f"train.fp32_steps: must be >= 0, got {cfg.train.fp32_steps}")
    if not 0 <= cfg.train.ema < 1:
        raise ConfigError(f"train.ema: must be in [0, 1), got {cfg.train.ema}")
    positive("train.log_every", cfg.train.log_every)
    positive("train.checkpoint_every", cfg.train.checkpoint_every)
    positive("val.every", cfg.val.every)
    for i, st in enumerate(cfg.stages):
        p = f"stages[{i}]"
        positive(f"{p}.steps", st.steps)
        positive(f"{p}.data.batch_size", st.data.batch_size)
        positive(f"{p}.optim.lr", st.optim.lr)
        if st.data.patch_size < MIN_SIZE:  # the smallest input RLFN's ESA accepts
            raise ConfigError(f"{p}.data.patch_size: must be at least {MIN_SIZE} (LR pixels), got {st.data.patch_size}")
        if st.data.workers < 0:
            raise ConfigError(f"{p}.data.workers: must be >= 0, got {st.data.workers}")
        if not st.data.hr_dirs:
            raise ConfigError("data.hr_dirs: give at least one folder of training images")
        if st.data.lr_dirs is not None and len(st.data.lr_dirs) != len(st.data.hr_dirs):
            raise ConfigError(f"data.lr_dirs: {len(st.data.lr_dirs)} folders for {len(st.data.hr_dirs)} hr_dirs; give one per HR folder")
        if not st.data.hr_scales or any(not 0 < f <= 1 for f in st.data.hr_scales) \
                or len(set(st.data.hr_scales)) != len(st.data.hr_scales):
            raise ConfigError(f"{p}.data.hr_scales: give distinct factors in (0, 1], got {st.data.hr_scales}")
        if not 0 <= st.data.min_detail < 255:
            raise ConfigError(f"{p}.data.min_detail: give 8-bit levels in [0, 255), got {st.data.min_detail}")
        if st.data.lr_dirs is not None and st.data.hr_scales != [1.0]:
            raise ConfigError(f"{p}.data.hr_scales: paired LR folders (data.lr_dirs) have no downscaled copies; "
                              "use [1.0] or remove data.lr_dirs")
        if st.data.degradation.kind == "realworld" and st.data.lr_dirs is not None:
            raise ConfigError(f"{p}.data.lr_dirs: the realworld degradation makes its own LR from the HR; "
                              "remove data.lr_dirs (or use degradation: bicubic)")
        if len(st.optim.betas) != 2:
            raise ConfigError(f"{p}.optim.betas: expected two numbers, got {st.optim.betas}")
        if min(st.loss.l1, st.loss.l2, st.loss.contrastive) < 0 or st.loss.l1 + st.loss.l2 + st.loss.contrastive <= 0:
            raise ConfigError(f"{p}.loss: weights must be >= 0 and not all zero")
        if st.optim.warmup_steps < 0 or st.optim.warmup_steps >= st.steps and st.optim.warmup_steps > 0:
            raise ConfigError(f"{p}.optim.warmup_steps: must be in [0, steps), got {st.optim.warmup_steps}")
    if cfg.val.lr_dirs is not None and len(cfg.val.lr_dirs) != len(cfg.val.hr_dirs):
        raise ConfigError("val.lr_dirs: give one LR folder per val.hr_dirs entry")
    if not cfg.val.degrade:
        raise ConfigError("val.degrade: give at least one condition (clean, jpeg50, noise10+jpeg70, ...)")
    from ..quality.realworld import parse_eval_degradation

    for i, spec in enumerate(cfg.val.degrade):
        try:
            parse_eval_degradation(spec)
        except ConfigError as e:
            raise ConfigError(f"val.degrade[{i}]: {e}") from None


def build_config(raw: Mapping[str, Any]) -> Config:
    """A :class:`Config` from a plain mapping (as read from YAML), validated."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(raw).__name__}")
    raw = copy.deepcopy(dict(raw))
    stages_raw = raw.get("stages")
    base = {k: v for k, v in raw.items() if k != "stages"}
    cfg = _build(Config, base, "")
    if stages_raw is None or stages_raw == []:  # one stage of train.steps (raw keeps no stages, so that
        raw.pop("stages", None)                 # a saved config still follows --set train.steps)
        stages_raw = [{"name": "main", "steps": cfg.train.steps}]
    if not isinstance(stages_raw, list):
        raise ConfigError(f"stages: expected a list of stages, got {stages_raw!r}")
    stages = []
    for i, s in enumerate(stages_raw):
        p = f"stages[{i}]"
        if not isinstance(s, Mapping):
            raise ConfigError(f"{p}: expected a mapping, got {s!r}")
        unknown = [k for k in s if k not in _STAGE_KEYS]
        if unknown:
            raise ConfigError(f"{p}.{unknown[0]}: unknown key (known here: {', '.join(_STAGE_KEYS)})")
        if "steps" not in s:
            raise ConfigError(f"{p}.steps: required")
        stages.append(StageConfig(
            name=_coerce(s.get("name", f"stage{i + 1}"), str, f"{p}.name"),
            steps=_coerce(s["steps"], int, f"{p}.steps"),
            data=_build(DataConfig, _merge_data(base.get("data") or {}, s.get("data") or {}), f"{p}.data"),
            loss=_build(LossConfig, _merge(base.get("loss") or {}, s.get("loss") or {}), f"{p}.loss"),
            optim=_build(OptimConfig, _merge(base.get("optim") or {}, s.get("optim") or {}), f"{p}.optim"),
        ))
    cfg = dataclasses.replace(cfg, stages=stages, raw=raw)
    _check_values(cfg)
    return cfg


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` overrides (value parsed as YAML); ``stages.1.steps=500`` indexes lists."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.steps=100")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key}: cannot parse value {text!r} ({e})") from None
        parts = key.strip().split(".")
        node: Any = raw
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            where = ".".join(parts[: j + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {where}: no such list index (the list has {len(node)} items)")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {key}: {'.'.join(parts[:j])} is not a section")
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config file, apply ``--set`` overrides and validate."""
    from ..io.files import read_text

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    text = read_text(path, ConfigError, "YAML config file")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "parse error"
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return build_config(apply_overrides(raw, overrides or []))
