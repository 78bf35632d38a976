"""Issue 23, item 5: post-training static int8 quantization of RLFN, measured against float32 and bfloat16.

ONNX Runtime's QDQ static quantization (per-channel int8 weights, uint8 activations), calibrated on LR
patches of the training photos (never a benchmark image), then:
- fidelity: ``rlfn eval``'s protocol (Y channel, MATLAB bicubic LR) on Set5 and Set14, int8 against the same
  export in float32;
- speed, in one run: best of N on DIV2K LR images, ORT int8 against ORT float32 and our fast path in float32
  and bfloat16 (pause any training first).

    python scripts/int8_probe.py [--model rlfn_s_x4] [--calib 32] [--method minmax|percentile|entropy]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import rlfn
from rlfn.inference.backends import OnnxModel
from rlfn.io.images import list_images, read_rgb
from rlfn.perf.export import export_onnx
from rlfn.quality.degradation import make_lr
from rlfn.quality.evaluate import evaluate_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))


class Calibration:
    """ORT's CalibrationDataReader: LR patches (MATLAB bicubic of random HR crops) of the training photos."""

    def __init__(self, folder: Path, scale: int, n: int, lr_size: int = 96, seed: int = 0):
        rng = random.Random(seed)
        files = list_images(folder)
        rng.shuffle(files)
        self.items = []
        for f in files[:n]:
            hr = read_rgb(f)
            hs = lr_size * scale
            h, w = hr.shape[-2:]
            y, x = rng.randrange(0, h - hs + 1), rng.randrange(0, w - hs + 1)
            lr = make_lr(hr[:, y:y + hs, x:x + hs].double(), scale).float() / 255
            self.items.append({"input": lr[None].numpy()})
        self._it = iter(self.items)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):
        self._it = iter(self.items)


ENDS = ["/module/conv_1/Conv", "/module/upsampler/upsampler.0/Conv"]  # the first and last convolutions


def quantize(fp32: bytes, calib: Calibration, method: str, tmp: Path, keep_ends: bool = False,
             ops: list[str] | None = None) -> bytes:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, pre, out = tmp / "fp32.onnx", tmp / "pre.onnx", tmp / "int8.onnx"
    src.write_bytes(fp32)
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    quantize_static(str(pre), str(out), calib, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=methods[method], nodes_to_exclude=ENDS if keep_ends else [],
                    op_types_to_quantize=ops)
    return out.read_bytes()


def fidelity(model, int8, names=("Set5", "Set14")) -> dict:
    """``rlfn eval``'s protocol on each benchmark: the float32 model against its int8 form, printed and returned."""
    out = {}
    for name in names:
        ref = evaluate_folder(model, SHARED / "data" / "benchmarks" / name, quiet=True)
        q = evaluate_folder(int8, SHARED / "data" / "benchmarks" / name, quiet=True)
        out[name] = {"fp32_psnr": ref.psnr, "int8_psnr": q.psnr, "fp32_ssim": ref.ssim, "int8_ssim": q.ssim}
        print(f"{name}: fp32 {ref.psnr:.3f} / {ref.ssim:.4f}, int8 {q.psnr:.3f} / {q.ssim:.4f} "
              f"({q.psnr - ref.psnr:+.3f} dB)", flush=True)
    return out


def best_of(fn, images, repeat: int) -> float:
    fn(images[0])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for im in images:
            fn(im)
        best = min(best, time.perf_counter() - t0)
    return best / len(images)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rlfn_s_x4")
    ap.add_argument("--pretrained", default="auto")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--method", default="minmax", choices=("minmax", "percentile", "entropy"))
    ap.add_argument("--keep-ends", action="store_true", help="first and last convolutions stay float32")
    ap.add_argument("--ops", default=None, help="comma-separated ONNX op types to quantize (default: ORT's)")
    ap.add_argument("--images", type=int, default=3, help="DIV2K LR images to time on")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    model = rlfn.load_model(args.model, pretrained=args.pretrained)
    calib = Calibration(REPO / "data" / "photos_train", model.scale, args.calib)
    with tempfile.TemporaryDirectory() as d:
        fp32 = export_onnx(model)
        int8 = quantize(fp32, calib, args.method, Path(d), args.keep_ends, args.ops.split(",") if args.ops else None)
    ort32 = OnnxModel(fp32, scale=model.scale)
    ort8 = OnnxModel(int8, scale=model.scale)
    row = {"model": f"{args.model} ({model.source if len(model.source) < 40 else Path(model.source).name})",
           "method": args.method, "calibration_patches": args.calib, "keep_ends": args.keep_ends,
           "ops": args.ops, "cpu": cpu_description()}
    if not args.no_eval:
        row.update(fidelity(model, ort8))
    if not args.no_speed:
        files = list_images(SHARED / "data" / "train" / "div2k-0901-1000-lr-x4")[: args.images]
        imgs = [read_rgb(f)[None] / 255 for f in files]
        fast32 = rlfn.Upscaler(model, precision="fp32")
        fast16 = rlfn.Upscaler(model, precision="bf16", warn=lambda m: None)
        arrs = [(x[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for x in imgs]
        t = {"ort_fp32": best_of(ort32, imgs, args.repeat), "ort_int8": best_of(ort8, imgs, args.repeat),
             "fast_fp32": best_of(fast32.upscale_array, arrs, args.repeat),
             "fast_bf16": best_of(fast16.upscale_array, arrs, args.repeat)}
        row["seconds_per_image"] = t
        print("seconds per image: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
        print(f"int8 vs bf16: {t['fast_bf16'] / t['ort_int8']:.2f}x; int8 vs ORT fp32: {t['ort_fp32'] / t['ort_int8']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0


def cpu_description() -> str:
    try:
        name = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        name = "unknown"
    flags = open("/proc/cpuinfo").read()
    feats = [f for f in ("amx_int8", "amx_bf16", "avx512_vnni", "avx512_bf16", "avx_vnni") if f in flags]
    return f"{name} ({', '.join(feats) or 'no VNNI/AMX'}), {torch.get_num_threads()} threads"


if __name__ == "__main__":
    sys.exit(main())
