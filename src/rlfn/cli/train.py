"""``rlfn train CONFIG.yaml``: train an RLFN (see docs/training.md); works under ``torchrun`` too."""
from __future__ import annotations

import argparse

from .common import DEVICE_HELP, add_quiet_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML training config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=100 --set stages.1.optim.lr=2e-4 "
                        "(repeatable; values are parsed as YAML)")
    # --resume takes no value: an optional one would swallow the config that follows it
    # ("rlfn train --resume cfg.yaml"); a checkpoint elsewhere is named with --resume-from.
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_const", const="auto", default=None,
                   help="continue the run from OUT_DIR/checkpoints/last.pt")
    g.add_argument("--resume-from", dest="resume", metavar="CHECKPOINT",
                   help="continue the run from this checkpoint (e.g. one copied from another machine)")
    p.add_argument("--device", default=None, help=f"{DEVICE_HELP} (default: the config's train.device, auto unless "
                                                   "the config says otherwise)")
    p.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                   help="pause at this global step (counted over all stages): validate, write last.pt and exit, "
                        "to go on later with --resume")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the config and the data folders, print the resolved config, and stop")
    add_quiet_argument(p, "log to OUT_DIR/train.log only")


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..errors import ConfigError
    from ..train.config import load_config
    from ..train.trainer import Trainer

    cfg = load_config(args.config, args.overrides)
    if args.stop_after is not None and args.stop_after < 1:
        raise ConfigError(f"--stop-after: must be a positive step, got {args.stop_after}")
    trainer = Trainer(cfg, resume=args.resume, quiet=args.quiet, device=args.device, stop_after=args.stop_after)
    if args.dry_run:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        print(f"# ok: {sum(len(d.images) for d in trainer.datasets[:1])} training images, "
              f"{len(cfg.stages)} stage(s), {sum(s.steps for s in cfg.stages)} steps")
        return 0
    final = trainer.fit()
    if trainer.dist.main:
        print(final)
    return 0
