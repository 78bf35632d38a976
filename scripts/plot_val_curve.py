"""Plot validation PSNR (Set5, Y) against training steps for chains of warm-started runs, from each run's
metrics.jsonl (the same records TensorBoard shows). A chain is runs given in order: later runs started from
the earlier one's final weights, so their steps are drawn after it.

    python scripts/plot_val_curve.py "x4=/work/runs/cpu_rlfn_s_x4,/work/runs/cpu_rlfn_s_x4_continue" \
        "x2=/work/runs/cpu_rlfn_s_x2,..." -o docs/training_curve.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def chain_points(run_dirs: list[str]) -> tuple[list[int], list[float], list[tuple[int, str]], float]:
    xs, ys, marks, offset, bicubic = [], [], [], 0, 0.0
    for run in run_dirs:
        recs = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines() if line.strip()]
        val = {}
        for r in recs:
            if r.get("kind") == "val":
                val[r["global_step"]] = r  # a resumed run repeats steps: keep the last record
                bicubic = r["bicubic_psnr"]
        stage_start = {}
        for r in recs:
            stage_start.setdefault((r["stage"], r["stage_name"]), r["global_step"] - r["step"])
        for (stage, name), start in sorted(stage_start.items()):
            marks.append((offset + start, name))
        for step in sorted(val):
            xs.append(offset + step)
            ys.append(val[step]["psnr"])
        offset = xs[-1] if xs else offset
    return xs, ys, marks, bicubic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chains", nargs="+", metavar="LABEL=RUN_DIR[,RUN_DIR...]")
    ap.add_argument("-o", "--output", default="docs/training_curve.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.chains), figsize=(6 * len(args.chains), 4), squeeze=False)
    for ax, chain in zip(axes[0], args.chains):
        label, _, dirs = chain.partition("=")
        xs, ys, marks, bicubic = chain_points(dirs.split(","))
        ax.plot(xs, ys, "o-", label=f"ours ({label})")
        ax.axhline(bicubic, color="gray", linestyle="--", label="bicubic")
        for x, name in marks:
            ax.axvline(x, color="lightgray", linewidth=0.8)
            ax.text(x, min(ys), f" {name}", rotation=90, fontsize=7, va="bottom", color="dimgray")
        ax.set_xlabel("training steps (batch 16, 32-px LR patches)")
        ax.set_ylabel("Set5 PSNR (dB, Y)")
        ax.set_title(f"RLFN-S {label}: validation during training")
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(args.output)


if __name__ == "__main__":
    main()
