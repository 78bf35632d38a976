"""``rlfn export --card`` (issue 25): the OpenModelDB card of a shipped model validates against OpenModelDB's own
rules, which are restated here from its src/lib/model-props.ts, src/lib/schema-util.ts and src/lib/util.ts
(OpenModelDB/open-model-database): required fields, their types and ranges, the id pattern."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from rlfn.cli import main
from rlfn.models.weights import find_weights

REPO = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((REPO / "src" / "rlfn" / "weights" / "MANIFEST.yaml").read_text())

MODEL_ID = re.compile(r"^\d+x-[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$")  # schema-util.ts ModelIdPattern
USER_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")  # UserIdPattern
ARCH_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+|[+])*$")  # ArchIdPattern
TAG_ID = re.compile(r"^(?:[a-z0-9]+:)?[a-z0-9]+(?:-[a-z0-9]+|[+])*$")  # TagIdPattern
DATE = re.compile(r"^\d{4}-(?:0[1-9]|1[012])-(?:0[1-9]|[12][0-9]|3[01])$")  # util.ts DATE_REGEX
SHA256 = re.compile(r"^[0-9a-f]{64}$", re.I)


def _int(lo=None, hi=None):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)


def _str(pattern=None, min_len=0):
    return lambda v: isinstance(v, str) and len(v) >= min_len and (pattern is None or bool(pattern.match(v)))


def _resource(r) -> bool:
    return (isinstance(r, dict) and r.get("type") in ("pth", "onnx", "safetensors") and _int(1)(r.get("size"))
            and _str(SHA256)(r.get("sha256")) and isinstance(r.get("urls"), list) and len(r["urls"]) > 0
            and all(isinstance(u, str) for u in r["urls"]) and r.get("platform") in ("pytorch", "onnx", "ncnn"))


# model-props.ts MODEL_PROPS: the required properties (optional: false) and what each must be
REQUIRED = {
    "name": _str(),
    "author": lambda v: (_str(USER_ID)(v) or (isinstance(v, list) and all(map(_str(USER_ID), v)))),
    "tags": lambda v: isinstance(v, list) and len(v) > 0 and all(map(_str(TAG_ID), v)),
    "description": lambda v: isinstance(v, str) and v == v.strip(),
    "date": _str(DATE),
    "architecture": _str(ARCH_ID),
    "scale": _int(1, 16),
    "inputChannels": _int(1, 4),
    "outputChannels": _int(1, 4),
    "resources": lambda v: isinstance(v, list) and len(v) > 0 and all(map(_resource, v)),
    "images": lambda v: isinstance(v, list),
}
OPTIONAL = {
    "license": _str(),
    "size": lambda v: isinstance(v, list) and all(map(_str(min_len=1), v)),
    "dataset": _str(),
    "datasetSize": _int(1),
    "trainingIterations": _int(1),
    "trainingEpochs": _int(1),
    "trainingBatchSize": _int(1),
    "trainingHRSize": _int(1),
    "trainingOTF": lambda v: isinstance(v, bool),
    "pretrainedModelG": _str(MODEL_ID),
    "pretrainedModelD": _str(MODEL_ID),
}


def validate(card: dict) -> list[str]:
    errors = [f"missing required property {k!r}" for k in REQUIRED if card.get(k) is None]
    errors += [f"bad {k!r}: {card[k]!r}" for k, ok in {**REQUIRED, **OPTIONAL}.items()
               if card.get(k) is not None and not ok(card[k])]
    errors += [f"unknown property {k!r}" for k in card if k not in REQUIRED and k not in OPTIONAL]
    return errors


def test_the_validator_catches_what_openmodeldb_refuses():
    good = {"name": "x", "author": "a", "tags": ["photo"], "description": "d", "date": "2026-11-27",
            "architecture": "rlfn", "scale": 4, "inputChannels": 3, "outputChannels": 3,
            "resources": [{"platform": "pytorch", "type": "safetensors", "size": 1, "sha256": "0" * 64,
                           "urls": ["https://example.org/x"]}], "images": []}
    assert validate(good) == []
    for key, bad in [("date", "2026-13-01"), ("scale", 0), ("tags", []), ("description", " d"),
                     ("resources", [{**good["resources"][0], "urls": []}]), ("trainingOTF", "no")]:
        assert validate({**good, key: bad}), key
    assert validate({k: v for k, v in good.items() if k != "author"})


@pytest.mark.parametrize("model, pretrained", [("rlfn_s_x2", "ours"), ("rlfn_s_x4", "ours"), ("rlfn_s_x4", "real")])
def test_card_of_each_shipped_model_validates(model, pretrained, tmp_path, capsys):
    if not (REPO / "training").is_dir():
        pytest.skip("training/ (the runs' records) is not in this checkout")
    url = "https://example.org/weights.safetensors"
    argv = ["export", model, "--pretrained", pretrained, "--card", "-o", str(tmp_path), "--url", url]
    assert main(argv) == 0
    cards = list(tmp_path.glob("*.json"))
    assert len(cards) == 1
    card = json.loads(cards[0].read_text())
    assert MODEL_ID.match(cards[0].stem) and cards[0].stem.startswith(f"{card['scale']}x-")
    assert validate(card) == []
    weights = find_weights("rlfn_s", card["scale"], pretrained)
    entry = MANIFEST["files"][weights.filename]
    res = card["resources"][0]
    assert res["sha256"] == entry["sha256"] == hashlib.sha256(Path(weights.path).read_bytes()).hexdigest()
    assert res["size"] == Path(weights.path).stat().st_size and res["urls"] == [url]
    assert card["license"] == MANIFEST["licence"] and card["dataset"] == entry["data"]
    assert card["trainingOTF"] == (pretrained == "real")
    # the sample pair, written beside the card: SR is the scale times LR
    pair = card["images"][0]
    lr, sr = Image.open(tmp_path / pair["LR"]), Image.open(tmp_path / pair["SR"])
    assert (sr.width, sr.height) == (lr.width * card["scale"], lr.height * card["scale"])
    # a parent that is itself shipped is named as the pretrained model, and is a card id of its own
    shipped_runs = {e["run"] for e in MANIFEST["files"].values()}
    if any(p in shipped_runs for p in entry["parents"]):
        assert MODEL_ID.match(card["pretrainedModelG"])
    else:
        assert "pretrainedModelG" not in card
    assert main(argv) == 2  # nothing replaced without --overwrite
    assert "exists" in capsys.readouterr().err


def test_card_refuses_what_it_cannot_describe(tmp_path, capsys):
    assert main(["export", "rlfn_s", "--card", "-o", str(tmp_path)]) == 2  # no --url
    assert "--url" in capsys.readouterr().err
    argv = ["export", "rlfn", "-s", "4", "--pretrained", "official", "--card", "-o", str(tmp_path), "--url", "u"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "ships" in err, err
    assert not list(tmp_path.iterdir())
