"""Issue 23's fidelity table: the bfloat16 fast path against plain float32 on Set5 and Set14.

For the five official checkpoints and the project's three bundled weights, ``rlfn eval``'s protocol (Y
channel, MATLAB bicubic LR) in float32 (the plain forward) and through ``optimize(model, dtype=bfloat16)``,
the path ``rlfn upscale`` runs on a CPU with native bf16; then the PSNR of every Set14 output against the
float32 one, and of a tiled bf16 upscale against the untiled one. Bars: |ΔPSNR| ≤ 0.01 dB, |ΔSSIM| ≤ 0.0005,
every output ≥ 50 dB from float32, tiled ≥ 50 dB from untiled.

    python scripts/bf16_fidelity.py [--json docs/bf16_fidelity.json]
    python scripts/bf16_fidelity.py --only "rlfn_s_x4 (ours)" --json docs/bf16_fidelity.json   # new weights:
        measure those rows only and replace them in the JSON, keeping the others
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

import rlfn
from rlfn.inference.fastpath import optimize
from rlfn.io.images import list_images
from rlfn.quality.degradation import read_pair
from rlfn.quality.evaluate import evaluate_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))
OFFICIAL = ["rlfn_x2", "rlfn_x4", "rlfn_s_x2", "rlfn_s_x4", "rlfn_ntire_x4"]
OURS = [("rlfn_s", 2, "ours"), ("rlfn_s", 4, "ours"), ("rlfn_s", 4, "real")]
LABELS = [f"{n} (official)" for n in OFFICIAL] + [f"{v}_x{s} ({w})" for v, s, w in OURS]  # the table's order


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def models(only: list[str] | None):
    for name in OFFICIAL:
        if only is None or f"{name} (official)" in only:
            yield f"{name} (official)", rlfn.load_file(SHARED / "weights" / "official" / f"{name}.pth")
    for variant, scale, which in OURS:
        if only is None or f"{variant}_x{scale} ({which})" in only:
            yield f"{variant}_x{scale} ({which})", rlfn.load_model(variant, scale, pretrained=which)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", nargs="+", default=None, metavar="LABEL",
                    help='measure these rows only, e.g. "rlfn_s_x4 (real)"; with --json, replace them in the file')
    args = ap.parse_args()
    bench = SHARED / "data" / "benchmarks"
    rows = []
    for label, model in models(args.only):
        fast = optimize(model, dtype=torch.bfloat16)
        row = {"model": label}
        for name in ("Set5", "Set14"):
            ref = evaluate_folder(model, bench / name, quiet=True)
            got = evaluate_folder(fast, bench / name, quiet=True)
            row[name] = {"fp32_psnr": ref.psnr, "bf16_psnr": got.psnr, "fp32_ssim": ref.ssim, "bf16_ssim": got.ssim}
        worst, worst_tiled = math.inf, math.inf
        whole = rlfn.Upscaler(model, tile=None, precision="bf16", warn=lambda m: None)
        tiled = rlfn.Upscaler(model, tile=96, precision="bf16", warn=lambda m: None)
        for path in list_images(bench / "Set14"):
            _, lr = read_pair(path, None, model.scale)
            x = lr[None].float() / 255
            worst = min(worst, _psnr(fast(x), model(x)))
            img = lr.permute(1, 2, 0).round().to(torch.uint8).numpy()
            a, b = whole.upscale(img), tiled.upscale(img)
            worst_tiled = min(worst_tiled, _psnr(torch.from_numpy(a) / 255.0, torch.from_numpy(b) / 255.0))
        row["set14_worst_db_vs_fp32"] = worst
        row["set14_worst_db_tiled_vs_untiled"] = worst_tiled
        rows.append(row)
        d5, d14 = (row[n]["bf16_psnr"] - row[n]["fp32_psnr"] for n in ("Set5", "Set14"))
        s5, s14 = (row[n]["bf16_ssim"] - row[n]["fp32_ssim"] for n in ("Set5", "Set14"))
        print(f"{label:<26} Set5 {row['Set5']['fp32_psnr']:.3f} → {row['Set5']['bf16_psnr']:.3f} ({d5:+.4f} dB, "
              f"SSIM {s5:+.5f})  Set14 {row['Set14']['fp32_psnr']:.3f} → {row['Set14']['bf16_psnr']:.3f} "
              f"({d14:+.4f} dB, SSIM {s14:+.5f})  worst Set14 image vs fp32 {worst:.1f} dB, tiled vs untiled "
              f"{worst_tiled:.1f} dB", flush=True)
    if args.only and args.json and args.json.is_file():  # keep the rows not measured now
        new = {r["model"] for r in rows}
        rows = [r for r in json.loads(args.json.read_text())["rows"] if r["model"] not in new] + rows
        rows.sort(key=lambda r: LABELS.index(r["model"]))
    ok = all(abs(r[n]["bf16_psnr"] - r[n]["fp32_psnr"]) <= 0.01 and abs(r[n]["bf16_ssim"] - r[n]["fp32_ssim"]) <= 5e-4
             for r in rows for n in ("Set5", "Set14"))
    ok &= all(r["set14_worst_db_vs_fp32"] >= 50 and r["set14_worst_db_tiled_vs_untiled"] >= 50 for r in rows)
    print(f"all bars met: {ok}")
    if args.json:
        from rlfn.inference.devices import cpu_bf16

        info = cpu_bf16()
        args.json.write_text(json.dumps({"cpu_bf16": {"native": info.native, "reason": info.reason},
                                         "torch": torch.__version__, "rows": rows, "all_bars_met": ok},
                                        indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
