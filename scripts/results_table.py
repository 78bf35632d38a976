"""Print the README's results table (Markdown): bicubic, each training stage, the shipped weights and
the official weights on Set5 and Set14 (PSNR/SSIM, Y channel), all by the code behind `rlfn eval`.

    python scripts/results_table.py --data ../shared/data/benchmarks \
        "stage 1 (L1)=runs/x4/stage1.safetensors" "shipped=src/rlfn/weights/rlfn_s_x4.safetensors" \
        "official=../shared/weights/official/rlfn_s_x4.pth" --json docs/results_x4.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import rlfn
from rlfn.quality.evaluate import evaluate_folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("entries", nargs="+", metavar="LABEL=CHECKPOINT")
    ap.add_argument("--data", required=True, help="folder holding Set5/ and Set14/")
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    rows, raw = [], {}
    bicubic = None
    for entry in args.entries:
        label, _, path = entry.partition("=")
        model = rlfn.load_file(path)
        results = [evaluate_folder(model, Path(args.data) / d, quiet=True) for d in args.datasets]
        if bicubic is None:
            bicubic = [f"{r.bicubic_psnr:.2f} / {r.bicubic_ssim:.4f}" for r in results]
            rows.append((f"bicubic x{model.scale}", bicubic))
        rows.append((label, [f"{r.psnr:.2f} / {r.ssim:.4f}" for r in results]))
        beats = {r.dataset: sum(s.psnr > s.bicubic_psnr for s in r.per_image) for r in results}
        raw[label] = {"checkpoint": path, "scale": model.scale,
                      "results": [r.as_dict() for r in results], "images_beating_bicubic": beats}
        print(f"# {label}: beats bicubic on " + ", ".join(f"{b}/{r.images} {r.dataset}" for b, r in zip(beats.values(), results)))
    print("| weights | " + " | ".join(args.datasets) + " |")
    print("| --- | " + " | ".join("---" for _ in args.datasets) + " |")
    for label, cells in rows:
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2) + "\n")


if __name__ == "__main__":
    main()
