"""An OpenModelDB card (``data/models/<id>.json`` in OpenModelDB/open-model-database, whose ``src/lib/schema.ts``
and ``src/lib/model-props.ts`` define the fields) for a weight file this project ships, with a sample LR/SR pair.

The facts come from where they are kept: the licence and sha256 from ``rlfn/weights/MANIFEST.yaml``; the steps,
batch, patch size, degradation and date from the runs in ``training/<run>/`` (each run's resolved config and the
step recorded in its weights). Iterations count the run and its parents back to the nearest parent that is
itself a shipped file, which becomes ``pretrainedModelG``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import RLFNError
from ..models.descriptor import SRModel
from ..models.hub import sha256_of
from ..models.weights import Weights, manifest, soups

SHIPPED_TAGS = ("ours", "real")
# OpenModelDB tag ids (its data/tags.json) that say what the weights do
TAGS = {"ours": ["general-upscaler", "photo"],
        "real": ["general-upscaler", "photo", "restoration", "compression-removal", "jpeg", "denoise", "deblur"]}
_NAMES = {"ours": "", "real": "-RealWorld"}
_VARIANT_NAMES = {"rlfn": "RLFN", "rlfn_s": "RLFN-S", "rlfn_ntire": "RLFN-NTIRE"}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}) ")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass
class Card:
    id: str  # OpenModelDB's model id, the card's file name: <scale>x-<Name>
    data: dict

    @property
    def json(self) -> str:
        return json.dumps(self.data, indent=4, ensure_ascii=False) + "\n"


def card_id(variant: str, scale: int, tag: str) -> str:
    return f"{scale}x-{_VARIANT_NAMES.get(variant, variant)}{_NAMES[tag]}"


def _file_for(weights_file: str) -> tuple[str, dict]:
    doc = manifest()
    entry = (doc.get("files") or {}).get(weights_file)
    if entry is None:
        raise RLFNError(f"{weights_file} is not in the package's MANIFEST.yaml")
    return doc.get("licence"), entry


def _run_facts(training_dir: Path, run: str) -> dict:
    """A run's resolved config, the steps its weights were saved at (earlier stages included) and its last date."""
    from safetensors import safe_open

    folder = training_dir / run
    try:
        config = yaml.safe_load((folder / "config.resolved.yaml").read_text(encoding="utf-8"))
        with safe_open(str(folder / "weights.safetensors"), "pt") as f:
            meta = f.metadata() or {}
        log = (folder / "train.log").read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise RLFNError(f"{folder}: the run's files are needed for its card ({e.strerror or e}); run this in a "
                        "checkout of the project or pass --training-dir") from None
    stages = config.get("stages") or [{"steps": (config.get("train") or {}).get("steps", 0)}]
    stage = int(meta.get("stage", 0))
    steps = sum(int(s["steps"]) for s in stages[:stage]) + int(meta.get("step", 0))
    dates = [m.group(1) for m in map(_DATE.match, log) if m]
    return {"config": config, "steps": steps, "date": dates[-1] if dates else None}


def _dataset_size(config: dict, root: Path) -> int | None:
    """Images in the run's HR folders, where they are (they are not part of the project's repository)."""
    total = 0
    for d in (config.get("data") or {}).get("hr_dirs") or []:
        folder = (root / d) if not Path(d).is_absolute() else Path(d)
        if not folder.is_dir():
            return None
        total += sum(1 for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    return total or None


def build_card(model: SRModel, weights: Weights, training_dir: Path, *, urls: list[str], author: str,
               sample: tuple[str, str] | None = None) -> Card:
    """The card of ``weights`` (ours or the real-world ones; ``model`` loaded from them); ``sample``: the file names
    of the LR/SR pair, as the card will refer to them."""
    if weights.tag not in SHIPPED_TAGS or weights.path is None:
        raise RLFNError(f"--card is for the weights this project ships ({', '.join(SHIPPED_TAGS)}); "
                        f"{weights.variant} x{weights.scale} {weights.tag} are not")
    licence, entry = _file_for(weights.filename)
    digest = sha256_of(Path(weights.path))
    if digest != entry["sha256"]:
        raise RLFNError(f"{weights.path}: sha256 {digest} differs from MANIFEST.yaml's; the package is damaged")
    shipped_runs = {e["run"]: name for name, e in (manifest().get("files") or {}).items()}
    # a weight soup (MANIFEST's mean_of, or its soups: for a parent no longer shipped) has no run of its own: its
    # members' runs hold the facts, and its iterations are all the steps that went into it
    mixed = soups()
    members = [_run_facts(training_dir, r) for r in mixed.get(entry["run"], [entry["run"]])]
    facts = {"config": members[0]["config"], "date": max((m["date"] for m in members if m["date"]), default=None)}
    iterations, parent_id = sum(m["steps"] for m in members), None
    for parent in entry.get("parents") or []:
        if parent in shipped_runs:  # a published model of its own: named, not counted
            parent_id = _id_of_file(shipped_runs[parent])
            break
        iterations += sum(_run_facts(training_dir, r)["steps"] for r in mixed.get(parent, [parent]))
    config = facts["config"]
    data = config.get("data") or {}
    name = card_id(weights.variant, weights.scale, weights.tag)
    card: dict = {
        "name": _VARIANT_NAMES.get(weights.variant, weights.variant) + (" RealWorld" if weights.tag == "real" else ""),
        "author": author,
        "license": licence,
        "tags": TAGS[weights.tag],
        "description": _description(model, weights, entry),
        "date": facts["date"],
        "architecture": "rlfn",
        "size": [f"{model.channels}nf", f"{model.blocks}nb"],
        "scale": model.scale,
        "inputChannels": 3,
        "outputChannels": 3,
        "resources": [{"platform": "pytorch", "type": "safetensors", "size": Path(weights.path).stat().st_size,
                       "sha256": digest, "urls": list(urls)}],
        "trainingIterations": iterations,
        "trainingBatchSize": int(data["batch_size"]),
        "trainingHRSize": int(data["patch_size"]) * model.scale,  # rlfn train's patch_size is the LR patch
        "trainingOTF": (data.get("degradation") or {}).get("kind") == "realworld",
        "dataset": entry.get("data"),
        "images": [] if sample is None else [{"type": "paired", "caption": "the model in float32, whole image",
                                              "LR": sample[0], "SR": sample[1]}],
    }
    size = _dataset_size(config, training_dir.parent)
    if size:
        card["datasetSize"] = size
    if parent_id:
        card["pretrainedModelG"] = parent_id
    return Card(name, {k: v for k, v in card.items() if v is not None})


def _id_of_file(filename: str) -> str:
    """The card id of a shipped file, from its name (rlfn_s_x4.safetensors, rlfn_s_x4_real.safetensors)."""
    m = re.fullmatch(r"(.+)_x(\d+)(_real)?\.safetensors", filename)
    if not m:
        raise RLFNError(f"{filename}: not a shipped weights file name")
    return card_id(m.group(1), int(m.group(2)), "real" if m.group(3) else "ours")


def _description(model: SRModel, weights: Weights, entry: dict) -> str:
    kind = ("trained to undo JPEG, noise, blur and resizing while it upscales (the real-world degradations)"
            if weights.tag == "real" else "trained on bicubic downscaling, for clean images")
    return (f"{_VARIANT_NAMES.get(model.variant, model.variant)} ×{model.scale}: the Residual Local Feature Network "
            f"(Kong et al., CVPR Workshops 2022; NTIRE 2022 efficient super-resolution), {kind}. "
            f"{model.num_parameters:,} parameters; RGB in [0, 1] in and out.\n\n"
            f"Trained by the rlfn project ({_made_by(entry)}); steps: {entry.get('steps')}. "
            f"Data: {entry.get('data')}.\n\n"
            "Runs with `pip install rlfn` (`rlfn upscale`); `rlfn export` writes ONNX and ncnn files "
            "(Upscayl, realesrgan-ncnn-vulkan, Video2X).").strip()


def _made_by(entry: dict) -> str:
    if entry.get("mean_of"):
        runs = " and ".join(f"`{r}`" for r in entry["mean_of"])
        return f"the mean of runs {runs} of `rlfn train`, a weight soup"
    return f"`rlfn train`, run `{entry['run']}`"


def write_sample(model: SRModel, image: str | Path, lr_path: Path, sr_path: Path, *, overwrite: bool = False) -> None:
    """The card's sample pair: ``image`` as the LR input (8-bit RGB PNG) and what ``model`` makes of it."""
    from ..io.images import read_rgb, save_rgb

    lr = read_rgb(image) / 255.0
    sr = model(lr)
    save_rgb(lr, lr_path, overwrite=overwrite)
    save_rgb(sr, sr_path, overwrite=overwrite)
