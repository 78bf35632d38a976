"""Arguments shared by several subcommands: choosing a model and a device."""
from __future__ import annotations

import argparse

import torch

from ..models.descriptor import SRModel
from ..errors import DeviceError
from ..models.loader import DEFAULT_MODEL


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", default=None,
                   help="model name (rlfn, rlfn_s, rlfn_ntire; 'rlfn_s_x4' also works) or a checkpoint path "
                        f"(default: {DEFAULT_MODEL}, or whatever --weights holds)")
    g.add_argument("--scale", "-s", type=int, default=None, help="upscaling factor (default: 4, or the checkpoint's)")
    g.add_argument("--weights", "-w", default=None,
                   help="checkpoint file (.pth or .safetensors); variant and scale are read from it")
    g.add_argument("--pretrained", default="ours", choices=("ours", "official"),
                   help="published weights to use without --weights: 'ours' (shipped in the package) or "
                        "'official' (bytedance/RLFN, downloaded once and cached) (default: %(default)s)")


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA GPU is available to this PyTorch (use --device cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise DeviceError("--device mps: Apple's Metal backend is not available here (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps") from None


def load_from_args(args: argparse.Namespace, device: torch.device | str = "cpu") -> SRModel:
    from ..models.loader import load_model

    if args.weights is not None and args.model is None:
        # A checkpoint alone: take whatever it holds (a --scale, if given, must agree).
        return load_model(args.weights, scale=args.scale, device=device)
    return load_model(args.model or DEFAULT_MODEL, args.scale, weights=args.weights, pretrained=args.pretrained,
                      device=device)
