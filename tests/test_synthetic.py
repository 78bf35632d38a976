"""The synthetic graphics training set (rlfn.train.synthetic): reproducible, detailed, and kept on a rerun."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlfn.train.data import patch_detail
from rlfn.train.synthetic import find_fonts, render_graphic, write_graphics


def _pixels(im) -> np.ndarray:
    return np.array(im.convert("RGB"))  # a copy: torch.from_numpy wants it writable


@pytest.mark.parametrize("fonts", ["installed", "none"])
def test_same_seed_same_image_and_others_differ(fonts):
    f = find_fonts() if fonts == "installed" else []
    a = render_graphic(np.random.default_rng([3, 0]), 128, f)
    b = render_graphic(np.random.default_rng([3, 0]), 128, f)
    c = render_graphic(np.random.default_rng([3, 1]), 128, f)
    assert a.size == (128, 128) and a.mode == "RGB"
    assert np.array_equal(_pixels(a), _pixels(b))
    assert not np.array_equal(_pixels(a), _pixels(c))


def test_graphics_hold_more_detail_than_the_training_median():
    # the point of the set: sharp content. The campaign's patches have a median detail of 3.5 levels
    # (scripts/patch_detail.py); most of these images are above it as a whole
    f = find_fonts()
    details = [patch_detail(torch.from_numpy(_pixels(render_graphic(np.random.default_rng([0, i]), 192, f)))
                            .permute(2, 0, 1).contiguous()) for i in range(8)]
    assert np.median(details) > 3.5, details


def test_write_graphics_keeps_existing_images_and_records_its_fonts(tmp_path):
    paths = write_graphics(tmp_path, 3, size=64, seed=1, fonts=[])
    assert [p.name for p in paths] == ["graphic_0000.png", "graphic_0001.png", "graphic_0002.png"]
    first = paths[0].read_bytes()
    paths[1].write_bytes(b"kept")  # an existing file is not drawn again
    write_graphics(tmp_path, 4, size=64, seed=1, fonts=[])
    assert paths[0].read_bytes() == first and paths[1].read_bytes() == b"kept"
    assert (tmp_path / "graphic_0003.png").exists()
    info = json.loads((tmp_path / "graphics.json").read_text())
    assert info == {"seed": 1, "size": 64, "count": 4, "fonts": []}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
