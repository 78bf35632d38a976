"""``rlfn degrade IN_DIR OUT_DIR``: write degraded LR images (what a model is trained on, or a test set)."""
from __future__ import annotations

import argparse
import sys

from .common import MAX_SCALE, int_in, scale_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of HR images")
    p.add_argument("out_dir", metavar="OUT_DIR", help="where to write the LR images (<name>.png)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--config", metavar="CFG", default=None,
                   help="a training config: apply its data.degradation (and take its model.scale) "
                        "(default: the realworld pipeline with Real-ESRGAN's settings)")
    g.add_argument("--spec", metavar="SPEC", default=None,
                   help="a fixed degradation after the MATLAB bicubic instead, as rlfn eval --degrade: jpegQ, "
                        "noiseS or both, e.g. jpeg50, noise10+jpeg70, clean")
    p.add_argument("--stage", type=int_in(1), default=1, metavar="N",
                   help="with --config: the stage whose data.degradation to apply, from 1 (default: %(default)s)")
    p.add_argument("--scale", "-s", type=scale_type, default=None,
                   help=f"downscaling factor, 1 to {MAX_SCALE} (default: the config's, else 4)")
    p.add_argument("--seed", type=int_in(0), default=0,
                   help="with the image's name, decides the random draws (default: %(default)s; with --spec, "
                        "seed 0 gives exactly the LR of rlfn eval --degrade)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in OUT_DIR")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..quality.degrade_images import Bicubic, degrade_folder, describe
    from ..quality.realworld import RealWorldConfig, parse_eval_degradation

    scale = args.scale
    if args.stage != 1 and args.config is None:
        raise ConfigError("--stage: only with --config (it picks that config's stage)")
    if args.spec is not None:
        recipe = parse_eval_degradation(args.spec)
    elif args.config is not None:
        from ..train.config import load_config

        cfg = load_config(args.config)
        if not 1 <= args.stage <= len(cfg.stages):
            raise ConfigError(f"--stage {args.stage}: {args.config} has {len(cfg.stages)} stage(s)")
        d = cfg.stages[args.stage - 1].data.degradation
        recipe = d.realworld if d.kind == "realworld" else Bicubic()
        scale = cfg.model.scale if scale is None else scale
    else:
        recipe = RealWorldConfig()
    scale = 4 if scale is None else scale
    if not 1 <= scale <= 8:
        raise ConfigError(f"--scale: must be between 1 and 8, got {scale}")
    failed: list[str] = []

    def skip(msg: str) -> None:
        failed.append(msg)
        print(f"rlfn degrade: error: {msg}", file=sys.stderr, flush=True)

    written = degrade_folder(args.in_dir, args.out_dir, scale, recipe, args.seed, args.overwrite, args.quiet, skip)
    extra = f"; {len(failed)} skipped" if failed else ""
    print(f"{len(written)} LR images ({describe(recipe)}, x{scale}, seed {args.seed}) written to {args.out_dir}{extra}")
    return 1 if failed else 0
