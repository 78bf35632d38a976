"""Issue 23, item 5, second route: int8 through PyTorch's PT2E quantization and oneDNN (AMX-INT8 / VNNI).

torchao's ``X86InductorQuantizer`` (static, per-channel int8 weights, uint8 activations) on the exported
network in [0, 1] units, calibrated on LR patches of the training photos (never a benchmark image, the same
patches as ``scripts/int8_probe.py``), then ``torch.compile`` (inductor with freezing, which lowers the
quantized convolutions to oneDNN's int8 kernels: AMX tiles where the CPU has them). Measured, in one run:

- fidelity: ``rlfn eval``'s protocol on Set5 and Set14, the compiled int8 network against the same weights in
  float32;
- speed: best of N on DIV2K LR images, compiled int8 against our fast path in float32 and bfloat16 (pause any
  training first). Compilation happens before timing and is reported apart.

Needs ``pip install torchao`` (not a dependency of rlfn) and a C++ compiler for inductor.

    python scripts/int8_pt2e_probe.py [--model rlfn_s_x4] [--calib 32] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

import rlfn
from rlfn.io.images import list_images, read_rgb
from rlfn.models.descriptor import UnitRange

sys.path.insert(0, str(Path(__file__).resolve().parent))
from int8_probe import Calibration, best_of, cpu_description, fidelity  # noqa: E402  (same patches, timing, protocol)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))


class Compiled:
    """The compiled network as a model for ``evaluate_folder`` and timing: [0, 1] N×3×H×W in and out."""

    def __init__(self, fn, scale: int):
        self.fn, self.scale = fn, scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        single = x.dim() == 3
        x = x[None] if single else x
        with torch.no_grad():
            y = self.fn(x.contiguous(memory_format=torch.channels_last)).clamp(0, 1)
        return y[0] if single else y


def quantized(model, calib: Calibration):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    net = UnitRange(model.module, model.pixel_range).eval()
    example = torch.from_numpy(calib.items[0]["input"])
    auto = torch.export.Dim.AUTO  # the ESA's pooling adds guards on the size; AUTO lets export state them
    exported = torch.export.export(net, (example,), dynamic_shapes=({2: auto, 3: auto},)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for item in calib.items:
            prepared(torch.from_numpy(item["input"]))
    return convert_pt2e(prepared)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rlfn_s_x4")
    ap.add_argument("--pretrained", default="auto")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--images", type=int, default=3, help="DIV2K LR images to time on")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True  # weights become constants: the int8 convolutions are prepacked for oneDNN
    model = rlfn.load_model(args.model, pretrained=args.pretrained)
    calib = Calibration(REPO / "data" / "photos_train", model.scale, args.calib)
    t0 = time.perf_counter()
    q = quantized(model, calib)
    t_quant = time.perf_counter() - t0
    int8 = Compiled(torch.compile(q, dynamic=True), model.scale)
    files = list_images(SHARED / "data" / "train" / "div2k-0901-1000-lr-x4")[: args.images]
    imgs = [read_rgb(f)[None] / 255 for f in files]
    t0 = time.perf_counter()
    int8(imgs[0])
    t_compile = time.perf_counter() - t0
    row = {"model": args.model, "route": "torchao PT2E X86InductorQuantizer + torch.compile (inductor, freezing)",
           "calibration_patches": args.calib, "quantize_s": t_quant, "first_call_s": t_compile, "cpu": cpu_description(),
           "torch": torch.__version__}
    print(f"quantized in {t_quant:.1f} s; first call (compilation) {t_compile:.1f} s", flush=True)
    fast32 = rlfn.Upscaler(model, precision="fp32")
    fast16 = rlfn.Upscaler(model, precision="bf16", warn=lambda m: None)
    arrs = [(x[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for x in imgs]
    t = {"fast_fp32": best_of(fast32.upscale_array, arrs, args.repeat),
         "fast_bf16": best_of(fast16.upscale_array, arrs, args.repeat),
         "pt2e_int8": best_of(int8, imgs, args.repeat)}
    row["seconds_per_image"] = t
    print("seconds per image: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
    print(f"int8 vs bf16: {t['fast_bf16'] / t['pt2e_int8']:.2f}x; int8 vs fp32: {t['fast_fp32'] / t['pt2e_int8']:.2f}x",
          flush=True)
    if not args.no_eval:
        row.update(fidelity(model, int8))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
