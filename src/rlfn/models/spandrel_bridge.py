"""rlfn and spandrel both ways: :func:`register_spandrel` (RLFN in spandrel) and :func:`load_foreign` (any
network spandrel knows, as an :class:`SRModel`). spandrel is an optional extra, imported only here and
only when one of these is called."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..errors import CheckpointMismatchError, RLFNError
from .descriptor import SRModel

INSTALL_HINT = 'pip install "rlfn[spandrel]"'


def _spandrel(why: str, error: type[RLFNError] = RLFNError):
    """The spandrel module, or one line saying what needs it and how to install it."""
    try:
        import spandrel
    except ImportError:
        raise error(f"{why} needs spandrel: {INSTALL_HINT}") from None
    return spandrel


def register_spandrel(pixel_range: float | None = None) -> bool:
    """Teach spandrel's ``MAIN_REGISTRY`` to load RLFN checkpoints; later calls change nothing.

    Then ``spandrel.ModelLoader().load_from_file("rlfn_x4.pth")`` gives an ``ImageModelDescriptor`` taking
    [0, 1] images like every spandrel model. ``pixel_range``: what the weights expect (255 for the official
    ones, 1 for this project's); by default it is found for each model (:mod:`rlfn.models.pixelrange`).
    Returns whether RLFN was added by this call.
    """
    spandrel = _spandrel("register_spandrel()")
    from .spandrel_arch import RLFNArch

    support = spandrel.ArchSupport.from_architecture(RLFNArch(pixel_range))
    return bool(spandrel.MAIN_REGISTRY.add(support, ignore_duplicates=True))


class DescriptorModule(nn.Module):
    """A spandrel ``ImageModelDescriptor`` as a module: calls go through the descriptor (its padding to the
    size requirements, its call function, its clamp to [0, 1]); its network is a submodule, so that ``to``,
    ``deepcopy`` and channels-last reach the weights."""

    def __init__(self, descriptor):
        super().__init__()
        self.net = descriptor.model
        self.descriptor = descriptor  # not a module: holds the same network, so it follows every move

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def _descriptor_for(spandrel, state: Mapping[str, torch.Tensor], source: str, not_rlfn: str):
    """The first architecture of spandrel's registry that detects ``state``, loaded, or one clear error."""
    state = spandrel.canonicalize_state_dict(dict(state))
    for support in spandrel.MAIN_REGISTRY.architectures("detection"):
        if support.detect(state):
            arch = support.architecture
            try:
                return arch.load(state)
            except Exception as e:  # a damaged or unusual file of that architecture: any error, one line
                raise CheckpointMismatchError(
                    f"{source}: looks like a {arch.name} checkpoint to spandrel, but it fails to load "
                    f"({_first_line(e)})") from None
    raise CheckpointMismatchError(f"{not_rlfn}, nor of any architecture spandrel {spandrel.__version__} knows")


def load_foreign(state: Mapping[str, torch.Tensor], source: str, not_rlfn: str,
                 metadata: Mapping[str, str] | None = None) -> SRModel:
    """An :class:`SRModel` for a checkpoint of another network, through spandrel.

    ``not_rlfn``: why RLFN's own detection refused it (the start of every error message). The model takes
    and gives [0, 1] RGB images (pixel range 1); it is tiled only where spandrel says tiling is supported.
    """
    spandrel = _spandrel(f"{not_rlfn}; loading other architectures", CheckpointMismatchError)
    d = _descriptor_for(spandrel, state, source, not_rlfn)
    arch = d.architecture
    if not isinstance(d, spandrel.ImageModelDescriptor):
        raise CheckpointMismatchError(f"{source}: a {arch.name} model ({d.purpose}), which needs more than an "
                                      "image; rlfn runs image-to-image models")
    if (d.input_channels, d.output_channels) != (3, 3):
        raise CheckpointMismatchError(
            f"{source}: a {arch.name} model with {d.input_channels} input and {d.output_channels} output "
            "channels; rlfn runs RGB models (3 in, 3 out)")
    module = DescriptorModule(d.eval())
    return SRModel(
        module=module.eval(),
        variant=str(arch.id),
        scale=int(d.scale),
        pixel_range=1.0,  # spandrel's call takes [0, 1], whatever the network does inside
        source=source,
        min_size=int(d.size_requirements.minimum),
        supports_half=bool(d.supports_half),
        supports_bfloat16=bool(d.supports_bfloat16),
        # DISCOURAGED (global context) and INTERNAL (tiles itself) run whole images.
        tileable=d.tiling == spandrel.ModelTiling.SUPPORTED,
        tile_align=1,
        metadata=dict(metadata or {}),
        architecture=arch.name,
    )
