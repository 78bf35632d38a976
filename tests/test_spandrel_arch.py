"""RLFN in spandrel (``rlfn.register_spandrel``): the official checkpoints and ours load through
``spandrel.ModelLoader`` and give rlfn's own output; detection claims no other architecture's checkpoint."""
from __future__ import annotations

import pytest
import torch
from conftest import BENCHMARKS, OFFICIAL, REPO, need

spandrel = pytest.importorskip(
    "spandrel", reason='spandrel is not installed (pip install "rlfn[spandrel]"; CI runs these tests in .venv-spandrel)')

import rlfn  # noqa: E402
from rlfn.io.images import read_rgb  # noqa: E402
from rlfn.models import esa  # noqa: E402
from rlfn.models.spandrel_arch import RLFNArch  # noqa: E402

CHECKPOINTS = ["rlfn_x2", "rlfn_x4", "rlfn_s_x2", "rlfn_s_x4", "rlfn_ntire_x4"]
OURS = sorted((REPO / "src" / "rlfn" / "weights").glob("*.safetensors"))


@pytest.fixture(scope="module", autouse=True)
def registered():
    rlfn.register_spandrel()


@pytest.fixture(scope="module")
def comic() -> torch.Tensor:
    """A whole Set14 image as a 1×3×H×W LR input in [0, 1]."""
    return (read_rgb(need(BENCHMARKS / "Set14" / "comic.png")) / 255.0).unsqueeze(0)


def test_registration_is_idempotent():
    assert "RLFN" in spandrel.MAIN_REGISTRY
    n = len(spandrel.MAIN_REGISTRY)
    assert rlfn.register_spandrel() is False
    assert len(spandrel.MAIN_REGISTRY) == n


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_official_checkpoint_through_spandrel_matches_rlfn(name, comic):
    path = need(OFFICIAL / f"{name}.pth")
    d = spandrel.ModelLoader().load_from_file(path)
    ours = rlfn.load_model(path)
    assert isinstance(d, spandrel.ImageModelDescriptor)
    assert d.architecture.id == "RLFN" and d.purpose == "SR"
    assert d.scale == ours.scale == int(name[-1])
    assert (d.input_channels, d.output_channels) == (3, 3)
    assert d.model.pixel_range == 255.0  # found by the grey probe: the official weights work on [0, 255]
    assert ours.variant in d.tags
    y_spandrel, y_rlfn = d(comic), ours(comic)
    assert y_spandrel.shape == y_rlfn.shape == (1, 3, comic.shape[2] * d.scale, comic.shape[3] * d.scale)
    diff = (y_spandrel - y_rlfn).abs().max().item()
    print(f"{name}: max |spandrel - rlfn| = {diff:.2e}")
    assert diff <= 1e-5


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.name)
def test_our_weights_through_spandrel_match_rlfn(path, comic):
    d = spandrel.ModelLoader().load_from_file(path)
    ours = rlfn.load_model(path)
    assert d.model.pixel_range == ours.pixel_range == 1.0  # our metadata says so; spandrel finds it too
    assert (d(comic) - ours(comic)).abs().max().item() <= 1e-5


def test_descriptor_flags(official_dir):
    d = spandrel.ModelLoader().load_from_file(need(official_dir / "rlfn_s_x4.pth"))
    assert d.size_requirements.minimum == esa.MIN_SIZE == 15
    assert d.size_requirements.multiple_of == 1 and not d.size_requirements.square
    assert d.tiling == spandrel.ModelTiling.SUPPORTED
    assert d.supports_half and d.supports_bfloat16
    tiny = torch.rand(1, 3, 9, 12)  # below the ESA's minimum: spandrel pads and crops
    assert d(tiny).shape == (1, 3, 36, 48)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_half_precision_is_usable(dtype, comic):
    """The flags are honest: the official weights (on [0, 255]) stay finite and close in half precision."""
    path = need(OFFICIAL / "rlfn_x4.pth")
    d = spandrel.ModelLoader().load_from_file(path)
    x = comic[..., :64, :64]
    ref = d(x)
    try:
        y = d.to(dtype)(x.to(dtype)).float()
    except (RuntimeError, NotImplementedError) as e:  # a CPU build without these kernels
        pytest.skip(f"{dtype} convolutions unavailable on this CPU build ({e})")
    assert torch.isfinite(y).all()
    psnr = rlfn.psnr(y * 255, ref * 255)
    print(f"{dtype}: {psnr:.1f} dB against float32")
    assert psnr >= 40


def test_fixed_pixel_range(official_dir):
    """``register_spandrel(pixel_range=...)`` style: an architecture with a fixed range skips the probe."""
    state = spandrel.ModelLoader().load_state_dict_from_file(need(official_dir / "rlfn_s_x2.pth"))
    assert RLFNArch(pixel_range=1.0).load(state).model.pixel_range == 1.0


# ---- detection: no other architecture's checkpoint is claimed, and spandrel still knows its own -------------


def _others():
    """Small instances of other architectures spandrel supports, built with spandrel's own classes."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DCTLSA import DCTLSA
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.OmniSR import OmniSR
    from spandrel.architectures.PLKSR import PLKSR, RealPLKSR
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SeemoRe import SeemoRe
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR

    return {
        "ESRGAN": lambda: ESRGAN(num_filters=16, num_blocks=2, scale=4),
        "Compact": lambda: Compact(num_feat=16, num_conv=2, upscale=2),
        "SPAN": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2),
        "OmniSR": lambda: OmniSR(num_feat=16, up_scale=2),
        "SeemoRe": lambda: SeemoRe(scale=2),
        "SAFMN": lambda: SAFMN(dim=16, n_blocks=2, upscaling_factor=2),
        "PLKSR": lambda: PLKSR(dim=16, n_blocks=2, upscaling_factor=2),
        "RealPLKSR": lambda: RealPLKSR(dim=16, n_blocks=2, upscaling_factor=2),
        "DCTLSA": lambda: DCTLSA(),
        "SwinIR": lambda: SwinIR(embed_dim=12, depths=[1], num_heads=[1], window_size=4, upscale=2,
                                 img_size=16, upsampler="pixelshuffle"),
    }


OTHERS = ["ESRGAN", "Compact", "SPAN", "OmniSR", "SeemoRe", "SAFMN", "PLKSR", "RealPLKSR", "DCTLSA", "SwinIR"]


@pytest.mark.parametrize("arch_id", OTHERS)
def test_other_architectures_are_not_claimed(arch_id):
    torch.manual_seed(0)
    state = _others()[arch_id]().state_dict()
    assert not RLFNArch().detect(state)
    d = spandrel.MAIN_REGISTRY.load(dict(state))
    assert d.architecture.id == ("PLKSR" if arch_id == "RealPLKSR" else arch_id)  # one spandrel arch for both


def test_rlfn_is_claimed_by_rlfn_only(official_dir):
    state = spandrel.ModelLoader().load_state_dict_from_file(need(official_dir / "rlfn_ntire_x4.pth"))
    claimed = [a.architecture.id for a in spandrel.MAIN_REGISTRY.architectures("detection") if a.detect(state)]
    assert claimed == ["RLFN"]


def test_rlfn_names_with_wrong_shapes_are_not_claimed():
    state = rlfn.create_model("rlfn_s", 2).state_dict()
    state["upsampler.0.weight"] = torch.zeros(10, 48, 3, 3)  # 10 outputs: no RGB pixel shuffle
    assert not RLFNArch().detect(state)
    state = rlfn.create_model("rlfn_s", 2).state_dict()
    state["conv_1.weight"] = "not a tensor"
    assert not RLFNArch().detect(state)
