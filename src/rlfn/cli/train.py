"""``rlfn train CONFIG.yaml``: train an RLFN (see docs/training.md); works under ``torchrun`` too."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML training config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=100 --set stages.1.optim.lr=2e-4 "
                        "(repeatable; values are parsed as YAML)")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                   help="continue a run: from OUT_DIR/checkpoints/last.pt, or from the checkpoint given")
    p.add_argument("--device", default=None, help="cpu, cuda, mps or auto (default: the config's train.device)")
    p.add_argument("--check", action="store_true",
                   help="validate the config and the data folders, print the resolved config, and stop")
    p.add_argument("--quiet", "-q", action="store_true", help="log to OUT_DIR/train.log only")


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..train.config import load_config
    from ..train.trainer import Trainer

    cfg = load_config(args.config, args.overrides)
    trainer = Trainer(cfg, resume=args.resume, quiet=args.quiet, device=args.device)
    if args.check:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        print(f"# ok: {sum(len(d.images) for d in trainer.datasets[:1])} training images, "
              f"{len(cfg.stages)} stage(s), {sum(s.steps for s in cfg.stages)} steps")
        return 0
    final = trainer.fit()
    if trainer.dist.main:
        print(final)
    return 0
