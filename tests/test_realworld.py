"""The real-world degradation pipeline: each degradation on its own, the whole pipeline's determinism, its
config's strictness, and the fixed degradations for evaluation."""
from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from _images import smooth_image
from rlfn.errors import ConfigError
from rlfn.quality.realworld import (
    RealWorldConfig, RealWorldDegradation, add_gaussian_noise, add_poisson_noise, degrade, degrade_for_eval,
    filter2d, gaussian_kernel, jpeg, jpeg_uint8, parse_eval_degradation, resize, sample_generator, sinc_kernel,
    to_uint8,
)


@pytest.fixture(autouse=True)
def one_thread():
    """The pipeline runs in loader workers, on one thread each; small tensors on two threads of a busy
    machine are several times slower (OpenMP waits for the descheduled thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """3×h×w uint8: smooth colours plus a little texture, like a photograph's patch."""
    x = smooth_image(h, w, seed)[0]
    g = torch.Generator().manual_seed(seed)
    return to_uint8((x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1))


def moments(k: torch.Tensor) -> tuple[float, float, float]:
    """E[x²], E[xy], E[y²] of a kernel centred on its middle (x: columns, y: rows)."""
    n = k.shape[-1]
    r = torch.arange(n, dtype=torch.float64) - n // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    k = k.double()
    return float((k * x * x).sum()), float((k * x * y).sum()), float((k * y * y).sum())


# ---------------------------------------------------------------- JPEG


@pytest.mark.parametrize("quality", [30, 50, 95])
def test_jpeg_round_trip_is_pillows(quality):
    img = photo()
    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy().copy()).save(buf, "JPEG", quality=quality)
    expected = torch.from_numpy(np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))).permute(2, 0, 1)
    out = jpeg_uint8(img, quality)
    assert out.dtype == torch.uint8 and torch.equal(out, expected)
    assert torch.equal(jpeg(img.float() / 255, quality), expected.float() / 255)  # the float path quantises first


def test_lower_jpeg_quality_loses_more():
    img = photo()
    err = [(jpeg_uint8(img, q).float() - img.float()).abs().mean() for q in (95, 60, 30, 10)]
    assert 0 < err[0] < err[1] < err[2] < err[3]


# ---------------------------------------------------------------- kernels


def test_isotropic_gaussian_kernel():
    k = gaussian_kernel(21, 2.0)
    assert k.shape == (21, 21) and k.dtype == torch.float32
    assert abs(float(k.sum()) - 1) < 1e-6
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0)) and torch.allclose(k, k.flip(1))
    assert int(k.argmax()) == 10 * 21 + 10
    xx, xy, yy = moments(k)
    assert xx == pytest.approx(4.0, rel=0.01) and yy == pytest.approx(4.0, rel=0.01) and abs(xy) < 1e-9
    r = torch.arange(21.0) - 10  # the exact shape: exp(-r²/2σ²), normalised
    ref = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 8)
    assert torch.allclose(k, ref / ref.sum(), atol=1e-7)


def test_anisotropic_gaussian_kernel_is_rotated():
    k0 = gaussian_kernel(41, 4.0, 1.0, theta=0.0)
    xx, xy, yy = moments(k0)
    assert xx == pytest.approx(16.0, rel=0.02) and yy == pytest.approx(1.0, rel=0.02) and abs(xy) < 1e-9
    assert torch.allclose(gaussian_kernel(41, 4.0, 1.0, theta=math.pi / 2), k0.T, atol=1e-7)
    # at 45° the long axis runs down the main diagonal: covariance R diag(16, 1) Rᵀ = [[8.5, 7.5], [7.5, 8.5]]
    k45 = gaussian_kernel(41, 4.0, 1.0, theta=math.pi / 4)
    xx, xy, yy = moments(k45)
    assert xx == pytest.approx(8.5, rel=0.02) and yy == pytest.approx(8.5, rel=0.02) and xy == pytest.approx(7.5, rel=0.02)
    assert k45[25, 25] > 10 * k45[25, 15]
    assert abs(float(k45.sum()) - 1) < 1e-6 and torch.allclose(k45, k45.flip(0, 1))  # point-symmetric


def test_generalized_and_plateau_kernels():
    g = gaussian_kernel(21, 2.0)
    assert torch.allclose(gaussian_kernel(21, 2.0, beta=1.0, shape="generalized"), g)
    flat = gaussian_kernel(21, 2.0, beta=4.0, shape="generalized")
    peaky = gaussian_kernel(21, 2.0, beta=0.5, shape="generalized")
    # β > 1: flatter top (the neighbour is nearly as bright as the centre); β < 1: sharper peak, longer tails
    ratio = lambda k: float(k[10, 11] / k[10, 10])  # noqa: E731
    assert ratio(flat) > ratio(g) > ratio(peaky)
    assert float(peaky[10, 0]) > float(g[10, 0])
    plateau = gaussian_kernel(21, 2.0, beta=2.0, shape="plateau")
    assert abs(float(plateau.sum()) - 1) < 1e-6 and ratio(plateau) > ratio(g)
    assert float(plateau[10, 0]) > float(g[10, 0])  # heavy tails: 1/(1 + q^β) decays polynomially
    with pytest.raises(ValueError):
        gaussian_kernel(20, 1.0)


def test_sinc_kernel_is_a_circular_low_pass():
    k = sinc_kernel(21, math.pi / 3)
    assert abs(float(k.sum()) - 1) < 1e-6
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0)) and torch.allclose(k, k.flip(1))
    assert float(k.min()) < 0  # ringing lobes
    assert int(k.argmax()) == 10 * 21 + 10
    resp = torch.fft.fft2(k.double(), s=(256, 256)).abs()  # frequency f = 2π·i/256 rad/px
    assert float(resp[0, 0]) == pytest.approx(1.0)
    assert float(resp[0, 13]) > 0.9 and float(resp[9, 9]) > 0.9  # ≈ 0.1π: passed
    assert float(resp[0, 102]) < 0.1 and float(resp[72, 72]) < 0.1  # ≈ 0.8π: stopped, in any direction
    wide = torch.fft.fft2(sinc_kernel(21, 2 * math.pi / 3).double(), s=(256, 256)).abs()
    assert float(wide[0, 64]) > 0.8 and float(resp[0, 64]) < 0.1  # 0.5π: inside the wider cutoff only


# ---------------------------------------------------------------- filtering and resizing


def test_filter2d_is_reflect_padded_correlation():
    img = smooth_image(30, 37)[0]
    g = torch.Generator().manual_seed(1)
    kernel = torch.rand(9, 9, generator=g)  # asymmetric: catches a flipped kernel
    kernel /= kernel.sum()
    ref = F.conv2d(F.pad(img[:, None], (4, 4, 4, 4), mode="reflect"), kernel[None, None])[:, 0]
    assert torch.allclose(filter2d(img, kernel), ref, atol=1e-5)
    delta = torch.zeros(7, 7)
    delta[3, 3] = 1
    assert torch.allclose(filter2d(img, delta), img, atol=1e-6)
    const = torch.full((3, 5, 4), 0.3)  # smaller than the kernel's half-width: replicate padding
    assert torch.allclose(filter2d(const, sinc_kernel(21, 1.0)), const, atol=1e-5)


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic", "bicubic_aa"])
def test_resize_modes(mode):
    img = smooth_image(40, 48)[0]
    for size in [(10, 12), (40, 48), (61, 77), (1, 1)]:
        assert resize(img, size, mode).shape == (3, *size)
    const = torch.full((3, 40, 48), 0.6)
    assert torch.allclose(resize(const, (13, 29), mode), const[:, :13, :29], atol=1e-6)
    down = resize(img, (20, 24), mode)
    if mode == "area":  # area = the mean of each 2×2 block
        assert torch.allclose(down, F.avg_pool2d(img[None], 2)[0], atol=1e-6)


def test_bicubic_aa_is_matlabs_imresize_away_from_the_border():
    """The LR of benchmarks (and of ``rlfn eval``) is MATLAB's antialiased bicubic; bicubic_aa is the same
    downscale inside the image, where plain bicubic (aliasing, a = -0.75) is not."""
    from rlfn.quality.imresize import imresize

    hr = torch.rand(3, 64, 48, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = imresize(hr * 255, scale=0.25) / 255
    inner = (slice(None), slice(2, -2), slice(2, -2))
    aa = resize(hr.float(), (16, 12), "bicubic_aa").double()
    plain = resize(hr.float(), (16, 12), "bicubic").double()
    assert (aa - ref)[inner].abs().max() < 1e-5
    assert (plain - ref)[inner].abs().max() > 0.05


# ---------------------------------------------------------------- noise


def test_gaussian_noise_has_the_requested_std():
    img = torch.full((3, 100, 100), 0.5)
    out = add_gaussian_noise(img, 10.0, gray=False, generator=torch.Generator().manual_seed(0))
    noise = (out - img) * 255
    assert float(noise.std()) == pytest.approx(10.0, rel=0.03) and abs(float(noise.mean())) < 0.3
    c = torch.corrcoef(noise.reshape(3, -1))
    assert float(c[0, 1].abs()) < 0.05 and float(c[1, 2].abs()) < 0.05  # colour noise: independent channels
    grey = add_gaussian_noise(img, 10.0, gray=True, generator=torch.Generator().manual_seed(0)) - img
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert float(grey.std() * 255) == pytest.approx(10.0, rel=0.05)
    clipped = add_gaussian_noise(torch.ones(3, 20, 20), 30.0, False, torch.Generator().manual_seed(0))
    assert float(clipped.max()) <= 1.0 and float(clipped.min()) < 1.0


def test_poisson_noise_grows_with_intensity():
    img = torch.full((3, 100, 200), 0.2)
    img[..., 100:] = 0.8
    scale = 2.0
    out = add_poisson_noise(img, scale, gray=False, generator=torch.Generator().manual_seed(0), levels=256)
    noise = out - img
    for v, half in ((0.2, noise[..., :100]), (0.8, noise[..., 100:])):
        assert float(half.std()) == pytest.approx(scale * math.sqrt(v / 256), rel=0.04)  # Var = λ, λ = v·levels
        assert abs(float(half.mean())) < 0.003
    grey = add_poisson_noise(img, scale, gray=True, generator=torch.Generator().manual_seed(0), levels=256) - img
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    # Real-ESRGAN's default levels: 2^ceil(log2(distinct values)); 3 values here → 4 levels
    three = torch.tensor([0.25, 0.5, 0.75]).repeat_interleave(12).reshape(3, 3, 4)
    a = add_poisson_noise(three, 1.0, False, torch.Generator().manual_seed(3))
    b = add_poisson_noise(three, 1.0, False, torch.Generator().manual_seed(3), levels=4)
    assert torch.equal(a, b)


# ---------------------------------------------------------------- the pipeline


@pytest.mark.parametrize("scale,size", [(4, 192), (4, 64), (2, 96), (2, 48), (4, 32)])
def test_degrade_gives_the_lr_patch(scale, size):
    hr = photo(size, size, seed=size)
    for i in range(2):
        lr = degrade(hr, scale, generator=(0, 0, i))
        assert lr.shape == (3, size // scale, size // scale) and lr.dtype == torch.uint8


def test_degrade_accepts_uint8_and_unit_floats_alike_and_refuses_bad_input():
    hr = photo(64, 64)
    assert torch.equal(degrade(hr, 4, generator=5), degrade(hr.float() / 255, 4, generator=5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        degrade(hr.float(), 4, generator=5)
    with pytest.raises(ValueError, match="divisible"):
        degrade(hr[:, :62], 4, generator=5)
    with pytest.raises(ValueError, match="3×H×W"):
        degrade(hr[None], 4, generator=5)


def test_same_seed_same_sample_different_seeds_differ():
    hr = photo(64, 64)
    a = degrade(hr, 4, generator=(1, 0, 7))
    assert torch.equal(a, degrade(hr, 4, generator=(1, 0, 7)))
    assert torch.equal(a, degrade(hr, 4, generator=sample_generator(1, 0, 7)))
    others = [degrade(hr, 4, generator=k) for k in [(1, 0, 8), (2, 0, 7), (1, 1, 7)]]
    assert all(not torch.equal(a, o) for o in others)
    # resume: sample 7 does not depend on which samples were drawn before it, nor on the global RNG
    torch.manual_seed(123)
    np.random.seed(123)
    for i in range(3):
        degrade(hr, 4, generator=(1, 0, i))
    assert torch.equal(a, degrade(hr, 4, generator=(1, 0, 7)))


class _Degraded(torch.utils.data.Dataset):
    def __init__(self, hr: torch.Tensor):
        self.hr, self.deg = hr, RealWorldDegradation(4)

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.deg(self.hr, (0, 0, i))


def test_same_sample_in_a_loader_worker_as_in_the_main_process():
    hr = photo(64, 64)
    ds = _Degraded(hr)
    main = [ds[i] for i in range(len(ds))]  # one thread here (the fixture), as in the worker
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1)
    worker = list(loader)
    assert all(torch.equal(a, b) for a, b in zip(main, worker))
    torch.set_num_threads(2)  # the trainer's main process (workers: 0) runs on its training threads
    assert all(torch.equal(a, ds[i]) for i, a in enumerate(main[:2]))  # on two threads: the same result
    assert torch.get_num_threads() == 2  # and the process-wide thread count is left alone


def test_with_everything_off_the_pipeline_is_a_plain_resize_and_two_jpegs():
    off = RealWorldConfig(blur_prob=0.0, resize_prob=[0.0, 0.0, 1.0], gaussian_noise_prob=1.0, noise_range=[0, 0],
                          jpeg_range=[90, 90], second_blur_prob=0.0, resize_prob2=[0.0, 0.0, 1.0],
                          gaussian_noise_prob2=1.0, noise_range2=[0, 0], jpeg_range2=[80, 80], final_sinc_prob=0.0,
                          final_sinc_first_prob=1.0, resize_modes=["area"])
    off.check()
    hr = photo(64, 64)
    trace: list = []
    lr = degrade(hr, 4, off, generator=3, trace=trace)
    expected = jpeg_uint8(to_uint8(resize(jpeg(hr.float() / 255, 90), (16, 16), "area")), 80)
    assert torch.equal(lr, expected)
    assert [s for s, _ in trace] == ["resize", "gaussian_noise", "jpeg", "resize", "gaussian_noise", "final_resize", "jpeg"]


def test_final_sinc_and_jpeg_in_either_order():
    hr = photo(64, 64)
    steps = {}
    for first in (0.0, 1.0):
        cfg = dataclasses.replace(RealWorldConfig(), final_sinc_prob=1.0, final_sinc_first_prob=first)
        trace: list = []
        degrade(hr, 4, cfg, generator=0, trace=trace)
        steps[first] = [s for s, _ in trace][-3:]
    assert steps[1.0] == ["final_resize", "final_sinc", "jpeg"]
    assert steps[0.0] == ["jpeg", "final_resize", "final_sinc"]


def test_degradations_lose_detail():
    """Over a few samples, the degraded LR is further from the clean bicubic LR than a re-encode would be."""
    hr = photo(96, 96)
    clean = F.interpolate(hr[None].float(), size=(24, 24), mode="area")[0]
    errs = [float((degrade(hr, 4, generator=i).float() - clean).abs().mean()) for i in range(4)]
    assert min(errs) > 0.5 and max(errs) < 60


# ---------------------------------------------------------------- config


def test_clean_prob_gives_that_share_of_plain_downscales_and_draws_nothing_at_zero():
    hr = (smooth_image(64, 64)[0] * 255).round().to(torch.uint8)
    plain = to_uint8(resize(hr.float() / 255, (16, 16), "bicubic_aa"))
    cfg = RealWorldConfig(clean_prob=0.25)
    clean = [torch.equal(degrade(hr, 4, cfg, i), plain) for i in range(200)]
    assert 30 <= sum(clean) <= 70  # 50 expected
    always = RealWorldConfig(clean_prob=1.0)
    trace: list = []
    assert torch.equal(degrade(hr, 4, always, 3, trace=trace), plain) and [s for s, _ in trace] == ["clean"]
    # clean_prob 0 draws nothing: the samples of Real-ESRGAN's settings are unchanged by the option
    a, b = [], []
    degrade(hr, 4, RealWorldConfig(), 5, trace=a)
    degrade(hr, 4, RealWorldConfig(clean_prob=0.0), 5, trace=b)
    assert a == b


def test_noise_prob_leaves_that_share_without_noise_and_draws_nothing_at_one():
    hr = (smooth_image(64, 64)[0] * 255).round().to(torch.uint8)

    def noisy_rounds(cfg, i):
        trace: list = []
        degrade(hr, 4, cfg, i, trace=trace)
        return sum(step.endswith("_noise") for step, _ in trace)

    half = RealWorldConfig(noise_prob=0.0, noise_prob2=0.5)
    counts = [noisy_rounds(half, i) for i in range(100)]
    assert set(counts) == {0, 1} and 25 <= sum(counts) <= 75
    a, b = [], []
    degrade(hr, 4, RealWorldConfig(), 7, trace=a)
    degrade(hr, 4, RealWorldConfig(noise_prob=1.0, noise_prob2=1.0), 7, trace=b)
    assert a == b


def test_config_defaults_are_real_esrgans():
    cfg = RealWorldConfig.from_dict({})
    assert cfg == RealWorldConfig()
    assert cfg.noise_prob == cfg.noise_prob2 == 1.0 and cfg.clean_prob == 0.0 and cfg.resize_modes == ["area", "bilinear", "bicubic"]
    assert cfg.kernel_prob == [0.45, 0.25, 0.12, 0.03, 0.12, 0.03] and cfg.sinc_prob == 0.1
    assert cfg.blur_sigma == [0.2, 3.0] and cfg.blur_sigma2 == [0.2, 1.5] and cfg.kernel_size_range == [7, 21]
    assert cfg.resize_prob == [0.2, 0.7, 0.1] and cfg.resize_range == [0.15, 1.5] and cfg.resize_range2 == [0.3, 1.2]
    assert cfg.noise_range == [1, 30] and cfg.noise_range2 == [1, 25] and cfg.poisson_scale_range2 == [0.05, 2.5]
    assert cfg.jpeg_range == [30, 95] and cfg.second_blur_prob == 0.8 and cfg.final_sinc_prob == 0.8
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sinc_prob = 0.5  # type: ignore[misc]


def test_config_from_yaml():
    cfg = RealWorldConfig.from_dict(yaml.safe_load("sinc_prob: 0\nnoise_range: [2, 20]\njpeg_range2: [50, 90]\n"))
    assert cfg.sinc_prob == 0.0 and isinstance(cfg.sinc_prob, float) and cfg.noise_range == [2.0, 20.0]
    assert RealWorldConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("raw,message", [
    ({"blurr_prob": 0.5}, "data.degradation.blurr_prob: unknown key"),
    ({"blur_prob": "high"}, "data.degradation.blur_prob: expected float"),
    ({"blur_prob": True}, "data.degradation.blur_prob: expected float"),
    ({"blur_prob": 1.5}, "data.degradation.blur_prob: must be a probability"),
    ({"sinc_prob2": -0.1}, "data.degradation.sinc_prob2: must be a probability"),
    ({"noise_range": 5}, "data.degradation.noise_range: expected a list of float"),
    ({"noise_range": [1, "x"]}, r"data.degradation.noise_range\[1\]: expected float"),
    ({"noise_range": [30, 1]}, "data.degradation.noise_range: expected \\[low, high\\]"),
    ({"blur_sigma2": [0, 1]}, "data.degradation.blur_sigma2: must be positive"),
    ({"jpeg_range": [30.5, 95]}, r"data.degradation.jpeg_range\[0\]: expected int"),
    ({"jpeg_range2": [0, 95]}, "data.degradation.jpeg_range2: JPEG qualities"),
    ({"kernel_prob": [0.5, 0.5]}, "data.degradation.kernel_prob: expected 6 probabilities"),
    ({"kernel_prob2": [0.5, 0.25, 0.12, 0.03, 0.12, 0.03]}, "data.degradation.kernel_prob2: .*sum to 1"),
    ({"kernel_list": ["iso", "box"], "kernel_prob": [0.5, 0.5]}, "data.degradation.kernel_list: unknown kernel 'box'"),
    ({"kernel_size_range": [8, 21]}, "data.degradation.kernel_size_range: expected two odd sizes"),
    ({"resize_prob": [0.2, 0.7]}, "data.degradation.resize_prob: expected 3 probabilities"),
    ({"resize_range2": [1.1, 1.2]}, "data.degradation.resize_range2: must contain 1"),
    ({"resize_modes": ["nearest"]}, "data.degradation.resize_modes: unknown mode 'nearest'"),
    ({"clean_prob": 1.5}, "data.degradation.clean_prob: must be a probability in"),
    ([0.1], "data.degradation: expected a mapping"),
])
def test_bad_config_is_refused_naming_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        RealWorldConfig.from_dict(raw)


def test_config_prefix_follows_the_caller():
    with pytest.raises(ConfigError, match=r"^stages\[1\]\.data\.degradation\.sinc_prob: "):
        RealWorldConfig.from_dict({"sinc_prob": 2}, prefix="stages[1].data.degradation")
    with pytest.raises(ConfigError, match=r"data\.degradation\.final_sinc_prob: "):  # built directly: checked once
        RealWorldDegradation(4, RealWorldConfig(final_sinc_prob=-1.0))


# ---------------------------------------------------------------- fixed degradations for evaluation


def test_eval_degradation_specs_parse():
    assert str(parse_eval_degradation("jpeg50")) == "jpeg50"
    d = parse_eval_degradation(" Noise10 + JPEG70 ")
    assert d.steps == (("noise", 10.0), ("jpeg", 70.0)) and str(d) == "noise10+jpeg70"
    assert str(parse_eval_degradation("noise2.5")) == "noise2.5"
    assert parse_eval_degradation("clean").steps == ()


@pytest.mark.parametrize("spec,message", [
    ("", "empty"), ("jpeg", "cannot read 'jpeg'"), ("blur2", "cannot read 'blur2'"), ("jpeg50+", "cannot read ''"),
    ("jpeg0", "quality must be an integer in \\[1, 100\\]"), ("jpeg101", "in \\[1, 100\\]"),
    ("jpeg50.5", "integer"), ("noise0", "sigma must be in"), ("jpeg50+jpeg60", "jpeg given twice"),
    ("jpeg-5", "cannot read"),
])
def test_bad_eval_degradation_specs_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_eval_degradation(spec)


def test_eval_degradations_apply():
    lr = photo(40, 40)
    assert torch.equal(parse_eval_degradation("jpeg50").apply(lr), jpeg_uint8(lr, 50))
    assert torch.equal(parse_eval_degradation("clean").apply(lr), lr)
    grey = torch.full((3, 100, 100), 128, dtype=torch.uint8)
    noisy = parse_eval_degradation("noise10").apply(grey, seed=1)
    assert float((noisy.float() - 128).std()) == pytest.approx(10.0, rel=0.03)
    both = parse_eval_degradation("noise10+jpeg70")
    assert torch.equal(both.apply(lr, seed=2), both.apply(lr, seed=2))
    assert not torch.equal(both.apply(lr, seed=2), both.apply(lr, seed=3))
    assert torch.equal(both.apply(lr, seed=2), jpeg_uint8(parse_eval_degradation("noise10").apply(lr, seed=2), 70))


def test_degrade_for_eval_starts_from_evals_bicubic_lr():
    from rlfn.quality.degradation import make_lr

    hr = photo(64, 48)
    assert torch.equal(degrade_for_eval(hr, 4, "clean"), make_lr(hr, 4).to(torch.uint8))
    assert torch.equal(degrade_for_eval(hr, 4, "jpeg50"), jpeg_uint8(make_lr(hr, 4).to(torch.uint8), 50))
