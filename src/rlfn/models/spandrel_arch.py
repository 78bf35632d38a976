# SPDX-License-Identifier: Apache-2.0
# Copyright the rlfn authors. RLFN itself: Kong et al., "Residual Local Feature Network for Efficient
# Super-Resolution" (CVPR 2022 workshops), official code and weights bytedance/RLFN (Apache-2.0).
"""RLFN as a spandrel architecture: :class:`RLFNArch`, written so that it could be offered to spandrel.

Imports spandrel at once; :func:`rlfn.register_spandrel` is the entry point that checks it is installed.

- Detection: RLFN's tensor names, then :func:`rlfn.models.checkpoint.inspect_state_dict`, which reads the
  hyper-parameters (trunk and block widths, RLFB count, ESA width, scale) from the shapes and refuses what
  is no RGB RLFN. RLFN, RLFN-S, the NTIRE 2022 pruned model and custom widths and depths all load.
- Pixel range: spandrel models take [0, 1]. The official weights expect [0, 255] and this project's [0, 1],
  which a state dict does not say; :func:`rlfn.models.pixelrange.probe_pixel_range` finds it, and the
  network is wrapped in :class:`rlfn.models.descriptor.UnitRange` (its state dict keys gain ``module.``).
- Sizes: the ESA needs inputs of at least ``esa.MIN_SIZE`` (15) pixels; any size above works.
- Tiling is supported: everything but the ESA is local, and the ESA's attention map is smooth.
"""
from __future__ import annotations

from spandrel import Architecture, ImageModelDescriptor, ModelTiling, SizeRequirements, StateDict
from spandrel.util import KeyCondition

from ..errors import CheckpointMismatchError
from . import esa
from .checkpoint import build_from_state_dict, inspect_state_dict
from .descriptor import UnitRange
from .pixelrange import probe_pixel_range

ARCH_ID = "RLFN"

_has_rlfn_names = KeyCondition.has_all(
    "conv_1.weight",
    "conv_1.bias",
    "block_1.c1_r.weight",
    "block_1.c2_r.weight",
    "block_1.c3_r.weight",
    "block_1.c5.weight",
    "block_1.esa.conv1.weight",
    "block_1.esa.conv_f.weight",
    "block_1.esa.conv2.weight",
    "block_1.esa.conv3.weight",
    "block_1.esa.conv4.weight",
    "conv_2.weight",
    "upsampler.0.weight",
)


def detect(state_dict: StateDict) -> bool:
    """RLFN's tensor names, with shapes that make an RGB RLFN."""
    if not _has_rlfn_names(state_dict):
        return False
    try:
        inspect_state_dict(state_dict)
    except CheckpointMismatchError:
        return False
    return True


class RLFNArch(Architecture[UnitRange]):
    def __init__(self, pixel_range: float | None = None) -> None:
        """``pixel_range``: what the weights expect (255 for the official ones); ``None``: found per model."""
        super().__init__(id=ARCH_ID, name="RLFN", detect=detect)
        self.pixel_range = pixel_range

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[UnitRange]:
        net, info = build_from_state_dict(state_dict, "RLFN state dict")
        net.eval()
        pixel_range = self.pixel_range if self.pixel_range is not None else probe_pixel_range(net)
        model = UnitRange(net, pixel_range)
        tags = [info.variant, f"{info.channels}nf", f"{info.mid_channels}mid", f"{info.blocks}rlfb"]
        return ImageModelDescriptor(
            model,
            model.state_dict(),  # the wrapper's names (module.conv_1.weight, ...)
            architecture=self,
            purpose="SR" if info.scale > 1 else "Restoration",
            tags=tags,
            # Measured on the CPU with the official x4 weights on Set14 against float32: see the tests.
            supports_half=True,
            supports_bfloat16=True,
            scale=info.scale,
            input_channels=3,
            output_channels=3,
            size_requirements=SizeRequirements(minimum=esa.MIN_SIZE),
            tiling=ModelTiling.SUPPORTED,
        )
