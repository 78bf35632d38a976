"""Learning curves of training runs: validation PSNR (Y) against training steps and against training hours,
one line per run, one row of plots per validation set (`--dataset`, repeatable; default Set5), from each
run's metrics.jsonl (the records TensorBoard also shows).

A run is LABEL=DIR[,DIR...]: several folders are a chain of runs, each started from the one before it, so
their steps and hours are drawn one after another. Hours are the compute the steps took (each logged
interval's steps divided by its measured rate), so pauses and restarts do not count, and steps repeated
after a resume count once.

    python scripts/plot_val_curve.py x2=runs/campaign_rlfn_s_x2 x4=runs/campaign_rlfn_s_x4 \
        -o docs/campaign_curve.png [--reference x2=38.06 --reference x4=32.25]
    python scripts/plot_val_curve.py x4=runs/photos_x4_from_x4 --dataset photos_val --dataset Set5 \
        --dataset Set14 --reference x4/Set5=32.25 --reference x4/Set14=28.62 \
        --minimum x4/Set5=31.8 --minimum x4/Set14=28.35 -o docs/photos_curve.png

A reference (or --minimum) is LABEL=PSNR (the first --dataset) or LABEL/DATASET=PSNR.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Curve:
    steps: list[int] = field(default_factory=list)
    hours: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    bicubic: float = 0.0
    stages: list[tuple[int, float, str]] = field(default_factory=list)  # (step, hour, name) of each start


def read_records(run_dir: str) -> list[dict]:
    text = (Path(run_dir) / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def hours_at(records: list[dict]) -> dict[int, float]:
    """Cumulative training hours at each logged global step (later records of a repeated step win).

    An interval's time is the wall time between its two records (validation included), unless that is
    over twice what the logged rate implies: then the run was paused or restarted in between, and the
    rate (the process's average since it started) gives the time instead."""
    last: dict[int, dict] = {}
    for r in records:
        if r.get("kind") == "train" and r.get("its", 0) > 0:
            last[r["global_step"]] = r
    out, total, prev = {0: 0.0}, 0.0, None
    for step in sorted(last):
        r = last[step]
        from_rate = (step - (prev["global_step"] if prev else 0)) / r["its"]
        wall = r["time"] - prev["time"] if prev else from_rate
        total += (wall if 0 < wall < 2 * from_rate else from_rate) / 3600
        out[step], prev = total, r
    return out


def interpolate(table: dict[int, float], step: int) -> float:
    keys = sorted(table)
    lo = max((k for k in keys if k <= step), default=keys[0])
    hi = min((k for k in keys if k >= step), default=keys[-1])
    if hi == lo:
        return table[lo]
    return table[lo] + (table[hi] - table[lo]) * (step - lo) / (hi - lo)


def chain_curve(run_dirs: list[str], dataset: str = "Set5") -> Curve:
    c = Curve()
    step0, hour0 = 0, 0.0
    for run in run_dirs:
        recs = read_records(run)
        hours = hours_at(recs)
        val: dict[int, dict] = {}
        starts: dict[tuple[int, str], int] = {}
        for r in recs:
            starts.setdefault((r["stage"], r["stage_name"]), r["global_step"] - r["step"])
            # the clean LR's curve on this dataset (records before datasets were named are Set5's)
            if r.get("kind") == "val" and "degrade" not in r and r.get("dataset", "Set5") == dataset:
                val[r["global_step"]] = r  # a resumed run repeats steps: keep the last record
                c.bicubic = r["bicubic_psnr"]
        for (_, name), start in sorted(starts.items()):
            c.stages.append((step0 + start, hour0 + interpolate(hours, start), name))
        for step in sorted(val):
            c.steps.append(step0 + step)
            c.hours.append(hour0 + interpolate(hours, step))
            c.psnr.append(val[step]["psnr"])
        if c.steps:
            step0, hour0 = c.steps[-1], c.hours[-1]
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR[,RUN_DIR...]")
    ap.add_argument("--dataset", action="append", default=[],
                    help="a validation set to draw (repeatable; default Set5)")
    ap.add_argument("--reference", action="append", default=[], metavar="LABEL[/DATASET]=PSNR",
                    help="a published PSNR to draw as a line (repeatable)")
    ap.add_argument("--minimum", action="append", default=[], metavar="LABEL[/DATASET]=PSNR",
                    help="an issue's minimum to draw as a line (repeatable)")
    ap.add_argument("--title", default="RLFN-S trained on this project's 2-core CPU")
    ap.add_argument("-o", "--output", default="docs/campaign_curve.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = args.dataset or ["Set5"]
    refs = dict(r.split("=", 1) for r in args.reference)
    minima = dict(r.split("=", 1) for r in args.minimum)
    # one row per validation set (their bicubic levels differ by dB), steps on the left, hours on the right
    fig, grid = plt.subplots(len(datasets), 2, figsize=(12, 4.5 * len(datasets)), squeeze=False)
    for row, dataset in zip(grid, datasets):
        for i, spec in enumerate(args.runs):
            label, _, dirs = spec.partition("=")
            c = chain_curve(dirs.split(","), dataset)
            if not c.steps:
                raise SystemExit(f"plot_val_curve: {dirs}: no validation records of {dataset}")
            ref = refs.get(f"{label}/{dataset}", refs.get(label) if dataset == datasets[0] else None)
            low = minima.get(f"{label}/{dataset}", minima.get(label) if dataset == datasets[0] else None)
            colour = f"C{i}"
            for ax, xs in ((row[0], c.steps), (row[1], c.hours)):
                ax.plot(xs, c.psnr, "-", color=colour, label=f"ours {label} (best {max(c.psnr):.2f} dB)")
                ax.axhline(c.bicubic, color=colour, linestyle=":", linewidth=1, label=f"bicubic {label}")
                if ref is not None:
                    ax.axhline(float(ref), color=colour, linestyle="--", linewidth=1,
                               label=f"official {label} ({float(ref):.2f})")
                if low is not None:
                    ax.axhline(float(low), color=colour, linestyle="-.", linewidth=1,
                               label=f"minimum asked {label} ({float(low):.2f})")
            for step, hour, stage in c.stages:
                for ax, x in ((row[0], step), (row[1], hour)):
                    ax.axvline(x, color=colour, alpha=0.25, linewidth=0.8)
                    ax.text(x, c.bicubic, f" {label} {stage}", rotation=90, fontsize=7, va="bottom", color=colour)
        row[0].set_xlabel("training steps (batch 16)")
        row[1].set_xlabel("training hours (wall clock, 2 CPU cores)")
        for ax in row:
            ax.set_ylabel(f"{dataset} PSNR (dB, Y channel)")
            ax.grid(alpha=0.3)
        row[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(args.output)


if __name__ == "__main__":
    main()
