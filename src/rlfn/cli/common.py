"""Arguments shared by several subcommands: choosing a model."""
from __future__ import annotations

import argparse

import torch

from ..models.descriptor import SRModel
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


def load_from_args(args: argparse.Namespace, device: torch.device | str = "cpu") -> SRModel:
    from ..models.loader import load_model

    if args.weights is not None and args.model is None:
        # A checkpoint alone: take whatever it holds (a --scale, if given, must agree).
        return load_model(args.weights, scale=args.scale, device=device)
    return load_model(args.model or DEFAULT_MODEL, args.scale, weights=args.weights, pretrained=args.pretrained,
                      device=device)
