"""Real-world degradations: Real-ESRGAN's second-order pipeline for training, and fixed ones for evaluation.

A model trained on clean bicubic LR sharpens whatever it is given, JPEG blocks and noise included. Training
on LR made by :func:`degrade` (after Real-ESRGAN, Wang et al. 2021, and BSRGAN, Zhang et al. 2021) teaches
it to remove them while it upscales. Each of two rounds applies

1. blur: an isotropic, anisotropic, generalized or plateau Gaussian kernel, or a sinc (ringing) kernel;
2. a resize, up, down or kept, by area, bilinear or bicubic (without antialiasing: aliasing is wanted), or
   by ``bicubic_aa``, the antialiased bicubic that benchmark LR is made with (MATLAB's ``imresize``);
3. Gaussian or Poisson noise, in colour or grey;
4. real JPEG compression (Pillow/libjpeg, not a differentiable imitation) at a random quality;

then the image is resized to the LR size and given a final sinc filter and JPEG, in random order (Real-ESRGAN's
trick: the sinc ringing then appears both under and over the JPEG blocks). With ``clean_prob`` a share of the
samples skips all this and is the plain ``bicubic_aa`` downscale, so that the model still sees clean LR.

Every probability and range is a field of :class:`RealWorldConfig`, with Real-ESRGAN's published defaults
(``options/train_realesrgan_x4plus.yml``). Where this differs from Real-ESRGAN, on purpose:

- kernels are applied at their own size (the same result as Real-ESRGAN's zero-padding to 21×21, faster);
- the JPEG is real, so its output is quantised to 8 bits (Real-ESRGAN's DiffJPEG keeps floats);
- the HR is not unsharp-masked before degradation (Real-ESRGAN's ``gt_usm``); that belongs to the loss target.

Randomness: everything random is drawn from one ``torch.Generator`` passed in (or made from a seed), in a fixed
order, and nothing else (no global torch, numpy or ``random`` state). A sample is therefore a pure function
of its seed, on any worker process and after a resume; :func:`sample_generator` makes the generator from
(seed, stage, sample index), as :class:`rlfn.train.data.PatchDataset` seeds its crops. Flip and crop the HR patch
first, then degrade it.

The fixed degradations that ``rlfn eval`` applies to the LR it makes are small spec strings, e.g. ``jpeg50``
or ``noise10+jpeg70``: see :func:`parse_eval_degradation`.
"""
from __future__ import annotations

import dataclasses
import io
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import strict
from ..errors import ConfigError

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
# bicubic_aa: PyTorch's antialiased bicubic (a = -0.5), equal to MATLAB's imresize away from the 2-pixel border
RESIZE_MODES = ("area", "bilinear", "bicubic", "bicubic_aa")
RESIZE_DIRECTIONS = ("up", "down", "keep")  # the order of resize_prob

# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class RealWorldConfig:
    """The pipeline's probabilities and ranges; defaults are Real-ESRGAN's (x4plus) published ones.

    Ranges are ``[low, high]``, drawn uniformly. Sigmas of blur are in pixels of the image being blurred;
    noise sigmas are in 8-bit levels (0–255); JPEG qualities are Pillow's (1–100).
    """

    # first round
    blur_prob: float = 1.0  # Real-ESRGAN always blurs in the first round
    kernel_size_range: list[int] = field(default_factory=lambda: [7, 21])  # odd sizes in this range
    kernel_list: list[str] = field(default_factory=lambda: list(KERNEL_TYPES))
    kernel_prob: list[float] = field(default_factory=lambda: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    sinc_prob: float = 0.1
    blur_sigma: list[float] = field(default_factory=lambda: [0.2, 3.0])
    betag_range: list[float] = field(default_factory=lambda: [0.5, 4.0])
    betap_range: list[float] = field(default_factory=lambda: [1.0, 2.0])
    resize_prob: list[float] = field(default_factory=lambda: [0.2, 0.7, 0.1])  # up, down, keep
    resize_range: list[float] = field(default_factory=lambda: [0.15, 1.5])
    noise_prob: float = 1.0  # Real-ESRGAN always adds noise; below 1 some samples have none
    gaussian_noise_prob: float = 0.5  # otherwise Poisson noise
    noise_range: list[float] = field(default_factory=lambda: [1.0, 30.0])
    poisson_scale_range: list[float] = field(default_factory=lambda: [0.05, 3.0])
    gray_noise_prob: float = 0.4
    jpeg_range: list[int] = field(default_factory=lambda: [30, 95])
    # second round
    second_blur_prob: float = 0.8
    kernel_list2: list[str] = field(default_factory=lambda: list(KERNEL_TYPES))
    kernel_prob2: list[float] = field(default_factory=lambda: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    sinc_prob2: float = 0.1
    blur_sigma2: list[float] = field(default_factory=lambda: [0.2, 1.5])
    betag_range2: list[float] = field(default_factory=lambda: [0.5, 4.0])
    betap_range2: list[float] = field(default_factory=lambda: [1.0, 2.0])
    resize_prob2: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.3])
    resize_range2: list[float] = field(default_factory=lambda: [0.3, 1.2])  # relative to the LR size
    noise_prob2: float = 1.0
    gaussian_noise_prob2: float = 0.5
    noise_range2: list[float] = field(default_factory=lambda: [1.0, 25.0])
    poisson_scale_range2: list[float] = field(default_factory=lambda: [0.05, 2.5])
    gray_noise_prob2: float = 0.4
    jpeg_range2: list[int] = field(default_factory=lambda: [30, 95])
    # final
    final_sinc_prob: float = 0.8
    final_sinc_first_prob: float = 0.5  # resize + sinc, then JPEG; otherwise JPEG, then resize + sinc
    resize_modes: list[str] = field(default_factory=lambda: ["area", "bilinear", "bicubic"])  # chosen uniformly
    # share of samples that are only the bicubic_aa downscale of the HR (0 in Real-ESRGAN; none drawn at 0)
    clean_prob: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, prefix: str = "data.degradation") -> "RealWorldConfig":
        """Build from a plain mapping (YAML), strictly: unknown keys, wrong types and bad values are refused
        with a :class:`~rlfn.errors.ConfigError` naming the key (``data.degradation.blur_prob: ...``)."""
        cfg = strict.build(cls, data, prefix)
        cfg.check(prefix)
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self, prefix: str = "data.degradation") -> None:
        """Refuse values the pipeline cannot use, naming the key."""
        def key(name: str) -> str:
            return f"{prefix}.{name}"

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if re.search(r"_prob2?$", f.name) and isinstance(v, float) and not 0.0 <= v <= 1.0:
                raise ConfigError(f"{key(f.name)}: must be a probability in [0, 1], got {v}")
        lo, hi = _pair(self.kernel_size_range, key("kernel_size_range"))
        if lo < 3 or lo % 2 == 0 or hi % 2 == 0:
            raise ConfigError(f"{key('kernel_size_range')}: expected two odd sizes >= 3, got {self.kernel_size_range}")
        for sfx in ("", "2"):
            names, probs = getattr(self, "kernel_list" + sfx), getattr(self, "kernel_prob" + sfx)
            for n in names:
                if n not in KERNEL_TYPES:
                    raise ConfigError(f"{key('kernel_list' + sfx)}: unknown kernel {n!r}; known: {', '.join(KERNEL_TYPES)}")
            if not names:
                raise ConfigError(f"{key('kernel_list' + sfx)}: give at least one kernel")
            _distribution(probs, key("kernel_prob" + sfx), len(names), f"one per kernel_list{sfx} entry")
            _distribution(getattr(self, "resize_prob" + sfx), key("resize_prob" + sfx), 3, "up, down, keep")
            for name, positive in (("blur_sigma", True), ("betag_range", True), ("betap_range", True),
                                   ("resize_range", True), ("poisson_scale_range", False), ("noise_range", False)):
                a, b = _pair(getattr(self, name + sfx), key(name + sfx))
                if a < 0 or (positive and a == 0):
                    raise ConfigError(f"{key(name + sfx)}: must be {'positive' if positive else 'non-negative'}, got {[a, b]}")
            a, b = _pair(getattr(self, "resize_range" + sfx), key("resize_range" + sfx))
            if a > 1 or b < 1:
                raise ConfigError(f"{key('resize_range' + sfx)}: must contain 1 (down below it, up above it), got {[a, b]}")
            a, b = _pair(getattr(self, "jpeg_range" + sfx), key("jpeg_range" + sfx))
            if a < 1 or b > 100:
                raise ConfigError(f"{key('jpeg_range' + sfx)}: JPEG qualities must be in [1, 100], got {[a, b]}")
        if not self.resize_modes:
            raise ConfigError(f"{key('resize_modes')}: give at least one of {', '.join(RESIZE_MODES)}")
        for m in self.resize_modes:
            if m not in RESIZE_MODES:
                raise ConfigError(f"{key('resize_modes')}: unknown mode {m!r}; known: {', '.join(RESIZE_MODES)}")


def _pair(v: Sequence[float], key: str) -> tuple[float, float]:
    if len(v) != 2 or v[0] > v[1]:
        raise ConfigError(f"{key}: expected [low, high] with low <= high, got {list(v)}")
    return v[0], v[1]


def _distribution(p: Sequence[float], key: str, n: int, what: str) -> None:
    if len(p) != n:
        raise ConfigError(f"{key}: expected {n} probabilities ({what}), got {list(p)}")
    if min(p) < 0 or abs(sum(p) - 1) > 1e-6:
        raise ConfigError(f"{key}: probabilities must be >= 0 and sum to 1, got {list(p)}")


# ---------------------------------------------------------------- randomness


def sample_generator(*keys: int) -> torch.Generator:
    """A generator seeded by a tuple of integers, e.g. (seed, stage, sample index).

    numpy's SeedSequence mixes the keys (nearby tuples give unrelated streams); nothing global is touched.
    """
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed((int(state[0]) << 31) ^ int(state[1]))


def _generator(g: torch.Generator | int | Sequence[int]) -> torch.Generator:
    if isinstance(g, torch.Generator):
        return g
    if isinstance(g, int) and not isinstance(g, bool):
        return sample_generator(g)
    if isinstance(g, (list, tuple)):
        return sample_generator(*g)
    raise TypeError(f"expected a torch.Generator, an int seed or a sequence of ints, got {type(g).__name__}")


class _Draw:
    """Scalar draws from one generator, in call order (so the call order is part of the format)."""

    def __init__(self, g: torch.Generator):
        self.g = g

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=self.g, dtype=torch.float64))

    def chance(self, p: float) -> bool:
        return self.uniform(0.0, 1.0) < p

    def integer(self, lo: int, hi: int) -> int:  # inclusive
        return int(torch.randint(int(lo), int(hi) + 1, (), generator=self.g))

    def choice(self, items: Sequence[Any], probs: Sequence[float] | None = None) -> Any:
        if probs is None:
            return items[self.integer(0, len(items) - 1)]
        u, acc = self.uniform(0.0, 1.0) * sum(probs), 0.0
        for item, p in zip(items, probs):
            acc += p
            if u < acc:
                return item
        return next(i for i, p in zip(reversed(items), reversed(probs)) if p > 0)


# ---------------------------------------------------------------- kernels


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Column (x) and row (y) coordinates of a size×size kernel, centred on 0."""
    r = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    return x, y


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                    beta: float = 1.0, shape: str = "gaussian") -> torch.Tensor:
    """A normalised size×size blur kernel (float32, sums to 1).

    ``sigma_x`` is the spread along the direction at angle ``theta`` (radians, from the x axis, i.e. the
    columns, towards y, the rows, which point down), ``sigma_y`` across it (``None``: isotropic). With the
    quadratic form q = vᵀ Σ⁻¹ v, ``shape`` is ``"gaussian"`` exp(-q/2), ``"generalized"`` exp(-q^β/2)
    (β < 1 heavier tails, β > 1 flatter top) or ``"plateau"`` 1/(1 + q^β) (a flat top with long tails).
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    sy = sigma_x if sigma_y is None else sigma_y
    c, s = math.cos(theta), math.sin(theta)
    # Σ = R diag(σx², σy²) Rᵀ, so Σ⁻¹ = R diag(1/σx², 1/σy²) Rᵀ
    a = c * c / sigma_x ** 2 + s * s / sy ** 2
    b = c * s * (1 / sigma_x ** 2 - 1 / sy ** 2)
    d = s * s / sigma_x ** 2 + c * c / sy ** 2
    x, y = _grid(size)
    q = a * x * x + 2 * b * x * y + d * y * y
    if shape == "gaussian":
        k = torch.exp(-0.5 * q)
    elif shape == "generalized":
        k = torch.exp(-0.5 * q.pow(beta))
    elif shape == "plateau":
        k = 1.0 / (1.0 + q.pow(beta))
    else:
        raise ValueError(f"unknown kernel shape {shape!r}")
    return (k / k.sum()).float()


def sinc_kernel(size: int, omega_c: float) -> torch.Tensor:
    """The ideal circular low-pass filter with cutoff ``omega_c`` (radians/pixel), cut to size×size and
    normalised: 2-D sinc, ω J₁(ω r) / (2π r). Its truncation rings (overshoot near edges), which is the
    artefact it stands for: sharpening and over-shoot of cameras and of earlier lossy resizes."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    x, y = _grid(size)
    r = torch.sqrt(x * x + y * y)
    safe = torch.where(r == 0, torch.ones_like(r), r)
    k = omega_c * torch.special.bessel_j1(omega_c * safe) / (2 * math.pi * safe)
    k = torch.where(r == 0, torch.full_like(r, omega_c ** 2 / (4 * math.pi)), k)  # the limit at r = 0
    return (k / k.sum()).float()


def _beta(d: _Draw, rng: Sequence[float]) -> float:
    """Real-ESRGAN's rule: half the draws at or below 1 (longer tails), half above (flatter tops)."""
    lo, hi = rng
    if d.chance(0.5):
        return d.uniform(lo, min(1.0, hi)) if lo < 1 else lo
    return d.uniform(max(1.0, lo), hi) if hi > 1 else hi


def random_kernel(d: _Draw, cfg: RealWorldConfig, second: bool = False) -> torch.Tensor:
    """One blur kernel of a round, drawn as Real-ESRGAN does (sinc with probability sinc_prob)."""
    sfx = "2" if second else ""
    lo, hi = cfg.kernel_size_range
    size = lo + 2 * d.integer(0, (hi - lo) // 2)
    if d.chance(getattr(cfg, "sinc_prob" + sfx)):
        # small kernels cannot hold a low cutoff's wide lobes
        return sinc_kernel(size, d.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi))
    kind = d.choice(getattr(cfg, "kernel_list" + sfx), getattr(cfg, "kernel_prob" + sfx))
    s_lo, s_hi = getattr(cfg, "blur_sigma" + sfx)
    sx = d.uniform(s_lo, s_hi)
    if kind.endswith("aniso"):
        sy, theta = d.uniform(s_lo, s_hi), d.uniform(-math.pi, math.pi)
    else:
        sy, theta = sx, 0.0
    if kind.startswith("generalized"):
        return gaussian_kernel(size, sx, sy, theta, _beta(d, getattr(cfg, "betag_range" + sfx)), "generalized")
    if kind.startswith("plateau"):
        return gaussian_kernel(size, sx, sy, theta, _beta(d, getattr(cfg, "betap_range" + sfx)), "plateau")
    return gaussian_kernel(size, sx, sy, theta)


# ---------------------------------------------------------------- single degradations (3×H×W float in [0, 1])


def _fast_len(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5 (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def filter2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate each channel of ``img`` (C×H×W float) with ``kernel`` (k×k), reflect-padded, same size.

    Computed by FFT: on one core it costs about the same for every kernel size, where a direct convolution
    with a 21×21 kernel is several times slower. Images smaller than the kernel's half-width (tiny resizes)
    are padded by replication instead, as reflection needs more pixels than that.
    """
    k = kernel.shape[-1]
    p = k // 2
    h, w = img.shape[-2:]
    if k == 1:
        return img * kernel.reshape(())
    mode = "reflect" if p < min(h, w) else "replicate"
    x = F.pad(img[None], (p, p, p, p), mode=mode)[0]
    ph, pw = _fast_len(h + 2 * p), _fast_len(w + 2 * p)
    # circular convolution with the flipped kernel = correlation; the valid outputs start at (k-1, k-1)
    # and never wrap around, since the padded image already holds their whole neighbourhood
    spec = torch.fft.rfft2(x, s=(ph, pw)) * torch.fft.rfft2(kernel.flip(-1, -2).to(x.dtype), s=(ph, pw))
    out = torch.fft.irfft2(spec, s=(ph, pw))
    return out[..., k - 1: k - 1 + h, k - 1: k - 1 + w].contiguous()


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to (H, W) by "area", "bilinear" or "bicubic", without antialiasing (as Real-ESRGAN does:
    the aliasing of a careless downscale is one of the degradations), or by "bicubic_aa", with it."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; known: {', '.join(RESIZE_MODES)}")
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if tuple(img.shape[-2:]) == size:  # every mode is the identity then
        return img
    if mode == "bicubic_aa":
        return F.interpolate(img[None], size=size, mode="bicubic", align_corners=False, antialias=True)[0]
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(img[None], size=size, mode=mode, **kw)[0]


def add_gaussian_noise(img: torch.Tensor, sigma: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """Add N(0, (sigma/255)²) noise, the same in all channels when ``gray`` (luminance noise), and clip."""
    c, h, w = img.shape
    noise = torch.randn((1 if gray else c, h, w), generator=generator, dtype=img.dtype) * (sigma / 255.0)
    return (img + noise).clamp_(0.0, 1.0)


def _luma(img: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype).reshape(3, 1, 1)  # ITU-R BT.601
    return (img * w).sum(0, keepdim=True)


def add_poisson_noise(img: torch.Tensor, scale: float, gray: bool, generator: torch.Generator,
                      levels: int | None = None) -> torch.Tensor:
    """Add shot noise (variance proportional to intensity), times ``scale``, and clip.

    The image is treated as photon counts: x·levels ~ Poisson. ``levels`` defaults to Real-ESRGAN's rule
    (2 to the power ceil(log2(number of distinct values))), which keeps poisson_scale_range's published
    meaning. ``gray``: the noise of the luminance, added to every channel.
    """
    img = img.clamp(0.0, 1.0)
    src = _luma(img) if gray else img
    if levels is None:
        distinct = np.unique(src.numpy()).size  # numpy's sort is several times faster than torch.unique's
        levels = 2 ** math.ceil(math.log2(max(2, distinct)))
    noisy = torch.poisson(src * levels, generator=generator) / levels
    return (img + (noisy - src) * scale).clamp_(0.0, 1.0)


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] float → uint8 (rounded, clipped)."""
    return (img * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def jpeg_uint8(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Real JPEG round trip of a 3×H×W uint8 image through Pillow (libjpeg, default 4:2:0 chroma)."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    arr = np.ascontiguousarray(img.permute(1, 2, 0).numpy())
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"))
    return torch.from_numpy(out.copy()).permute(2, 0, 1).contiguous()


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG of a [0, 1] float image (quantised to 8 bits first, as a real file is), back to [0, 1] float."""
    return jpeg_uint8(to_uint8(img), quality).to(img.dtype) / 255.0


# ---------------------------------------------------------------- the pipeline


def _to_unit_float(hr: torch.Tensor) -> torch.Tensor:
    if hr.dim() != 3 or hr.shape[0] != 3:
        raise ValueError(f"expected a 3×H×W RGB patch, got shape {tuple(hr.shape)}")
    if hr.dtype == torch.uint8:
        return hr.float() / 255.0
    if not hr.is_floating_point():
        raise ValueError(f"expected a uint8 or float patch, got {hr.dtype}")
    if float(hr.max()) > 1.5:  # cheap guard against 0–255 floats, which would clip to white
        raise ValueError("float patches must be in [0, 1] (uint8 patches in 0–255)")
    return hr.float().clamp(0.0, 1.0)


def _noise(d: _Draw, x: torch.Tensor, cfg: RealWorldConfig, sfx: str, trace: list | None) -> torch.Tensor:
    p = getattr(cfg, "noise_prob" + sfx)
    if p < 1.0 and not d.chance(p):  # at 1 (Real-ESRGAN: always noise) nothing is drawn
        return x
    gray = d.chance(getattr(cfg, "gray_noise_prob" + sfx))
    if d.chance(getattr(cfg, "gaussian_noise_prob" + sfx)):
        sigma = d.uniform(*getattr(cfg, "noise_range" + sfx))
        _note(trace, "gaussian_noise", sigma=sigma, gray=gray)
        return add_gaussian_noise(x, sigma, gray, d.g)
    scale = d.uniform(*getattr(cfg, "poisson_scale_range" + sfx))
    _note(trace, "poisson_noise", scale=scale, gray=gray)
    return add_poisson_noise(x, scale, gray, d.g)


def _random_resize(d: _Draw, x: torch.Tensor, cfg: RealWorldConfig, sfx: str, base: tuple[int, int],
                   trace: list | None) -> torch.Tensor:
    lo, hi = getattr(cfg, "resize_range" + sfx)
    direction = d.choice(RESIZE_DIRECTIONS, getattr(cfg, "resize_prob" + sfx))
    factor = d.uniform(1.0, hi) if direction == "up" else d.uniform(lo, 1.0) if direction == "down" else 1.0
    mode = d.choice(cfg.resize_modes)
    size = (int(base[0] * factor), int(base[1] * factor))
    _note(trace, "resize", direction=direction, factor=factor, mode=mode, size=size)
    return resize(x, size, mode)


def _note(trace: list | None, step: str, **params: Any) -> None:
    if trace is not None:
        trace.append((step, params))


def degrade(hr: torch.Tensor, scale: int, cfg: RealWorldConfig | None = None,
            generator: torch.Generator | int | Sequence[int] = 0, trace: list | None = None) -> torch.Tensor:
    """Degrade one HR patch (3×H×W, uint8 or float in [0, 1]) into its LR (3×H/scale×W/scale uint8).

    ``generator``: a ``torch.Generator``, an int seed or a tuple of ints (e.g. (seed, stage, index)); it is
    the only source of randomness. ``trace``, if a list, receives the steps taken and their parameters.
    """
    cfg = RealWorldConfig() if cfg is None else cfg
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"patch {h}×{w} is not divisible by the scale {scale}")
    d = _Draw(_generator(generator))
    lr_size = (h // scale, w // scale)
    x = _to_unit_float(hr)
    if cfg.clean_prob > 0 and d.chance(cfg.clean_prob):  # at 0 nothing is drawn: other configs' samples stay
        _note(trace, "clean", mode="bicubic_aa", size=lr_size)
        return to_uint8(resize(x, lr_size, "bicubic_aa"))

    # first round, at the HR size
    if d.chance(cfg.blur_prob):
        kernel = random_kernel(d, cfg)
        _note(trace, "blur", size=kernel.shape[-1])
        x = filter2d(x, kernel)
    x = _random_resize(d, x, cfg, "", (h, w), trace)
    x = _noise(d, x, cfg, "", trace)
    q = d.integer(*cfg.jpeg_range)
    _note(trace, "jpeg", quality=q)
    x = jpeg(x, q)

    # second round, sizes relative to the LR size
    if d.chance(cfg.second_blur_prob):
        kernel = random_kernel(d, cfg, second=True)
        _note(trace, "blur", size=kernel.shape[-1])
        x = filter2d(x, kernel)
    x = _random_resize(d, x, cfg, "2", lr_size, trace)
    x = _noise(d, x, cfg, "2", trace)

    # final: resize to the LR size with a sinc filter, and JPEG, in random order
    sinc = None
    if d.chance(cfg.final_sinc_prob):
        lo, hi = cfg.kernel_size_range
        size = lo + 2 * d.integer(0, (hi - lo) // 2)
        sinc = sinc_kernel(size, d.uniform(math.pi / 3, math.pi))
    mode = d.choice(cfg.resize_modes)
    q = d.integer(*cfg.jpeg_range2)
    sinc_first = d.chance(cfg.final_sinc_first_prob)

    def resize_and_sinc(x: torch.Tensor) -> torch.Tensor:
        _note(trace, "final_resize", mode=mode, size=lr_size)
        x = resize(x, lr_size, mode)
        if sinc is not None:
            _note(trace, "final_sinc", size=sinc.shape[-1])
            x = filter2d(x, sinc)
        return x

    if sinc_first:
        x = resize_and_sinc(x)
        _note(trace, "jpeg", quality=q)
        return jpeg_uint8(to_uint8(x), q)
    _note(trace, "jpeg", quality=q)
    x = jpeg(x, q)
    return to_uint8(resize_and_sinc(x))


class RealWorldDegradation:
    """``degrade`` bound to a scale and a config, callable per sample: ``lr = deg(hr, (seed, stage, i))``.

    Holds no state between calls, so it pickles into loader workers and gives the same sample everywhere.
    It leaves torch's thread count alone. The pipeline works on small tensors, which on two threads of a
    busy CPU ran 5–10× slower than on one (each OpenMP region waits for the descheduled thread): train with
    ``data.workers: 1`` or more, since a DataLoader worker runs on one thread of its own, whatever the
    trainer's ``train.threads``.
    """

    def __init__(self, scale: int, cfg: RealWorldConfig | None = None):
        self.scale, self.cfg = scale, RealWorldConfig() if cfg is None else cfg
        self.cfg.check()  # a config built directly, not by from_dict, is checked here, once

    def __call__(self, hr: torch.Tensor, generator: torch.Generator | int | Sequence[int]) -> torch.Tensor:
        return degrade(hr, self.scale, self.cfg, generator)


# ---------------------------------------------------------------- fixed degradations for evaluation

_STEP = re.compile(r"(jpeg|noise)(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class EvalDegradation:
    """A fixed degradation of the LR, applied in order: ("noise", σ in 8-bit levels) and ("jpeg", quality).

    Written as a spec such as ``jpeg50``, ``noise10+jpeg70`` or ``clean`` (nothing); ``str()`` gives it back.
    """

    steps: tuple[tuple[str, float], ...] = ()

    def __str__(self) -> str:
        if not self.steps:
            return "clean"
        return "+".join(f"{k}{int(v) if float(v).is_integer() else v}" for k, v in self.steps)

    def apply(self, lr: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """Degrade a 3×H×W uint8 LR (as ``rlfn eval`` makes it); the noise comes from ``seed`` (give each
        image its own, e.g. its index, for a reproducible test set)."""
        if lr.dtype != torch.uint8 or lr.dim() != 3 or lr.shape[0] != 3:
            raise ValueError(f"expected a 3×H×W uint8 image, got {tuple(lr.shape)} {lr.dtype}")
        g = sample_generator(seed)
        for kind, value in self.steps:
            if kind == "noise":
                noise = torch.randn(lr.shape, generator=g, dtype=torch.float64) * value
                lr = (lr.double() + noise).round_().clamp_(0, 255).to(torch.uint8)
            else:
                lr = jpeg_uint8(lr, int(value))
        return lr


def parse_eval_degradation(spec: str) -> EvalDegradation:
    """Parse ``clean`` or steps joined by ``+``: ``jpegQ`` (quality 1–100) and ``noiseS`` (Gaussian σ in
    8-bit levels, colour, rounded to 8 bits), e.g. ``jpeg50`` or ``noise10+jpeg70``. Refuses anything else
    with a :class:`~rlfn.errors.ConfigError` that says what is wrong."""
    text = spec.strip().lower() if isinstance(spec, str) else spec
    if not isinstance(text, str) or not text:
        raise ConfigError(f"degradation {spec!r}: empty; give e.g. jpeg50, noise10+jpeg70 or clean")
    if text in ("clean", "none"):
        return EvalDegradation()
    steps = []
    for part in text.split("+"):
        m = _STEP.fullmatch(part.strip())
        if m is None:
            raise ConfigError(f"degradation {spec!r}: cannot read {part!r}; expected jpegQ (quality 1-100) or "
                              "noiseS (sigma in 0-255 levels) joined by +, e.g. noise10+jpeg70")
        kind, value = m.group(1), float(m.group(2))
        if kind == "jpeg" and not (value.is_integer() and 1 <= value <= 100):
            raise ConfigError(f"degradation {spec!r}: JPEG quality must be an integer in [1, 100], got {m.group(2)}")
        if kind == "noise" and not 0 < value <= 255:
            raise ConfigError(f"degradation {spec!r}: noise sigma must be in (0, 255], got {m.group(2)}")
        if any(k == kind for k, _ in steps):
            raise ConfigError(f"degradation {spec!r}: {kind} given twice")
        steps.append((kind, value))
    return EvalDegradation(tuple(steps))


def image_seed(name: str, seed: int = 0) -> int:
    """The noise seed of one test image, from its name (file stem) and a run seed: the same image gets the
    same noise in every run, whatever else its folder holds or in what order it is read."""
    return (int(seed) << 32) + zlib.crc32(name.encode("utf-8"))


def degrade_for_eval(hr255: torch.Tensor, scale: int, spec: str | EvalDegradation, seed: int = 0) -> torch.Tensor:
    """The LR of a test image as users meet it: MATLAB bicubic ×1/scale (as ``rlfn eval`` makes its LR),
    rounded to 8 bits, then the spec's degradation. ``hr255``: 3×H×W, uint8 or 0–255 float, modcropped."""
    from .imresize import imresize

    deg = parse_eval_degradation(spec) if isinstance(spec, str) else spec
    lr = imresize(hr255.to(torch.float64), scale=1.0 / scale).round().clamp(0, 255).to(torch.uint8)
    return deg.apply(lr, seed)
