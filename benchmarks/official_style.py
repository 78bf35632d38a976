"""What the official RLFN test script does, as a plain script: the baseline ``benchmarks/pipeline_speed.py``
times as a whole process against ``rlfn upscale``.

For each image, one after the other: OpenCV reads it (BGR → RGB), a float32 N×C×H×W tensor in [0, 255]
goes through the model under ``torch.no_grad()``, the output is clamped, rounded to uint8 and written by
``cv2.imwrite`` with OpenCV's default PNG compression. The model is ``rlfn``'s RLFN class, which has the
official architecture and parameter names, so the official ``.pth`` loads into it unchanged; nothing of
rlfn's inference path (fast path, tiling, I/O) is used.

    python benchmarks/official_style.py --model rlfn_s --weights rlfn_s_x4.pth INPUT_DIR OUTPUT_DIR
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from rlfn.models.registry import create_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--model", default="rlfn_s", help="rlfn, rlfn_s or rlfn_ntire")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--weights", required=True, type=Path, help="an official .pth (a plain state dict)")
    args = p.parse_args()

    model = create_model(args.model, args.scale)
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    for v in model.parameters():
        v.requires_grad = False

    args.output.mkdir(parents=True, exist_ok=True)
    for name in sorted(os.listdir(args.input)):
        if not name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")):
            continue
        img = cv2.cvtColor(cv2.imread(str(args.input / name), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().unsqueeze(0)
        with torch.no_grad():
            y = model(x)
        out = y.squeeze(0).clamp(0, 255).round().byte().permute(1, 2, 0).numpy()
        cv2.imwrite(str(args.output / f"{Path(name).stem}_x{args.scale}.png"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
