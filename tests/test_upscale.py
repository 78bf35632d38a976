"""The Python upscaling API: every input kind returns the same kind, correctly scaled and quantised."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import rlfn
from rlfn.models.descriptor import SRModel
from rlfn.errors import RLFNError
from rlfn.inference.upscaler import Upscaler, upscale

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def model() -> SRModel:
    torch.manual_seed(0)
    return SRModel(rlfn.create_model("rlfn_s", 2).eval(), "rlfn_s", 2, pixel_range=1.0)


@pytest.fixture(scope="module")
def up(model) -> Upscaler:
    return Upscaler(model, device="cpu")


def img(h=20, w=24, c=3, dtype=np.uint8) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    return RNG.integers(0, top + 1, size=(h, w, c)).astype(dtype)


def reference(model: SRModel, rgb: np.ndarray) -> np.ndarray:
    """The plain SRModel call on H×W×3 floats in [0, 1]."""
    x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)
    return model(x).permute(1, 2, 0).numpy()


def test_uint8_matches_the_model(model, up):
    a = img()
    out = up.upscale(a)
    assert out.dtype == np.uint8 and out.shape == (40, 48, 3)
    want = np.round(reference(model, a / 255.0) * 255)
    assert np.abs(out.astype(int) - want).max() <= 1


def test_float_and_uint16_keep_their_precision(model, up):
    a = img(dtype=np.uint16)
    out16 = up.upscale(a)
    assert out16.dtype == np.uint16 and out16.shape == (40, 48, 3)
    ref = reference(model, a / 65535.0)
    assert np.abs(out16 / 65535.0 - ref).max() < 2e-4  # 16-bit quantisation, not 8-bit
    assert np.any(out16 % 257 != 0)
    f = (a / 65535.0).astype(np.float32)
    outf = up.upscale(f)
    assert outf.dtype == np.float32 and np.abs(outf - ref).max() < 2e-4
    assert up.upscale(f.astype(np.float64)).dtype == np.float64


def test_grey_stays_grey(up):
    a = img(c=1)[:, :, 0]
    out = up.upscale(a)
    assert out.shape == (40, 48) and out.dtype == np.uint8
    rgb = up.upscale(np.repeat(a[:, :, None], 3, axis=2)).astype(float)
    assert np.abs(out - rgb.mean(2)).max() <= 1
    pil = up.upscale(Image.fromarray(a, "L"))
    assert pil.mode == "L" and pil.size == (48, 40)


def test_alpha_is_upscaled_separately(up):
    rgba = img(c=4)
    rgba[:, :, 3] = 0
    rgba[:, 12:, 3] = 255  # left half transparent
    out = up.upscale(rgba)
    assert out.shape == (40, 48, 4)
    np.testing.assert_array_equal(out[:, :, :3], up.upscale(rgba[:, :, :3]))
    np.testing.assert_array_equal(out[:, :, 3], up.upscale(rgba[:, :, 3]))  # the model, as a grey image
    bicubic = Upscaler(up.model, alpha="bicubic").upscale(rgba)
    want = np.asarray(Image.fromarray(rgba[:, :, 3]).resize((48, 40), Image.Resampling.BICUBIC))
    assert np.abs(bicubic[:, :, 3].astype(int) - want).max() <= 1
    opaque = rgba.copy()
    opaque[:, :, 3] = 255
    assert np.all(up.upscale(opaque)[:, :, 3] == 255)
    pil = up.upscale(Image.fromarray(rgba, "RGBA"))
    assert pil.mode == "RGBA" and pil.size == (48, 40)
    la = up.upscale(Image.fromarray(rgba[:, :, [0, 3]], "LA"))
    assert la.mode == "LA"


def test_pil_modes(up):
    a = img(c=1)[:, :, 0].astype(np.uint16) * 250
    im = Image.frombytes("I;16", (24, 20), a.astype("<u2").tobytes())
    out = up.upscale(im)
    assert out.mode == "I;16" and out.size == (48, 40)
    assert up.upscale(Image.fromarray(img())).mode == "RGB"
    assert up.upscale(Image.fromarray(img()).convert("P")).mode == "RGB"


def test_tensors(model, up):
    x = torch.rand(3, 20, 24)
    y = up.upscale(x)
    assert y.shape == (3, 40, 48) and y.dtype == torch.float32
    torch.testing.assert_close(y, model(x), atol=2e-4, rtol=0)
    batch = up.upscale(torch.rand(2, 3, 20, 24, dtype=torch.float64))
    assert batch.shape == (2, 3, 40, 48) and batch.dtype == torch.float64
    u8 = up.upscale((x * 255).round().to(torch.uint8))
    assert u8.dtype == torch.uint8 and u8.shape == (3, 40, 48)


def test_model_like_objects(model):
    """Anything with scale and __call__ (the ONNX backend, for instance) runs as it is."""

    class Wrapped:
        scale = 2

        def __call__(self, x):
            return model(x)

    a = img()
    np.testing.assert_array_equal(Upscaler(Wrapped(), tile=None).upscale(a), Upscaler(model, tile=None, fast=False).upscale(a))


def test_fast_path_matches_plain(model):
    a = img(40, 44)
    fast = Upscaler(model, fast=True).upscale(a)
    plain = Upscaler(model, fast=False).upscale(a)
    assert np.abs(fast.astype(int) - plain).max() <= 1


def test_half_precision_falls_back_when_not_finite(model, monkeypatch):
    """fp16 overflow (the 'black frame') is caught and the tile redone in float32, here forced on the CPU."""
    if not _cpu_half_conv_works():
        pytest.skip("this PyTorch has no float16 convolution on the CPU")
    big = SRModel(rlfn.create_model("rlfn_s", 2).eval(), "rlfn_s", 2, pixel_range=1.0)
    with torch.no_grad():  # weights that overflow float16 (max 65504) but not float32
        big.module.conv_1.weight.mul_(1e5)
        big.module.conv_1.bias.mul_(1e5)
    monkeypatch.setattr(Upscaler, "_resolve_precision", lambda self, asked, dev, m: ("fp16", "test"))
    notes = []
    u = Upscaler(big, fast=False, warn=notes.append)
    assert u.precision == "fp16"
    a = img()
    out = u.upscale(a)
    assert u.stats.fell_back and u.precision == "fp32" and any("float32" in n for n in notes)
    monkeypatch.undo()
    np.testing.assert_array_equal(out, Upscaler(big, fast=False).upscale(a))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_float32_output_is_refused(model, bad):
    """NaN or ±inf in one pixel (damaged weights) is an error, not a black or speckled image on disk."""

    class Broken:
        scale = 2

        def __call__(self, x):
            y = model(x)
            y[..., 3, 5] = bad
            return y

    with pytest.raises(RLFNError, match="not finite"):
        Upscaler(Broken(), tile=None).upscale(img())


def _cpu_half_conv_works() -> bool:
    try:
        torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.float16), torch.ones(1, 1, 1, 1, dtype=torch.float16))
        return True
    except RuntimeError:
        return False


def test_cpu_is_always_float32(model):
    notes = []
    u = Upscaler(model, device="cpu", precision="fp16", warn=notes.append)
    assert u.precision == "fp32" and notes


def test_scale_mismatch_and_bad_inputs(model, up):
    with pytest.raises(RLFNError, match="x2"):
        Upscaler(model, scale=4)
    with pytest.raises(RLFNError):
        up.upscale(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(RLFNError):
        up.upscale(np.zeros((4, 4, 3), np.int64))
    with pytest.raises(TypeError):
        up.upscale([1, 2, 3])


def test_unknown_model_name():
    with pytest.raises(rlfn.UnknownModelError, match="known models"):
        Upscaler("esrgan", 4)


def test_no_cuda_is_one_clear_error(model):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from rlfn.errors import DeviceError

    with pytest.raises(DeviceError, match="CUDA"):
        Upscaler(model, device="cuda")


def test_one_off_function(model):
    assert upscale(img(), model).shape == (40, 48, 3)


def test_tiny_images(up):
    assert up.upscale(img(1, 1)).shape == (2, 2, 3)
    assert up.upscale(img(3, 40)).shape == (6, 80, 3)
