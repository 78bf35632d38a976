"""The published numbers, read from ../shared/reference.md (the ground truth no one here wrote)."""
from __future__ import annotations

import re
from pathlib import Path


def _table_after(text: str, heading: str) -> list[list[str]]:
    start = text.index(heading)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header


def official_scores(reference: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """{(checkpoint, dataset): (psnr, ssim)} from the 'official checkpoints' table."""
    rows = _table_after(reference.read_text(), "## What the official checkpoints score")
    out = {}
    for name, set5, set14 in rows:
        for ds, cell in (("Set5", set5), ("Set14", set14)):
            p, s = (float(x) for x in cell.split("/"))
            out[(name, ds)] = (p, s)
    return out


def parameter_counts(reference: Path) -> dict[tuple[str, int], int]:
    """{(variant, scale): parameters} from the architecture table."""
    names = {"RLFN": "rlfn", "RLFN-S": "rlfn_s", "RLFN-ntire": "rlfn_ntire"}
    rows = _table_after(reference.read_text(), "## RLFN architecture")
    out = {}
    for row in rows:
        for scale, cell in zip((2, 3, 4), row[4:7]):
            if re.fullmatch(r"[\d,]+", cell):
                out[(names[row[0]], scale)] = int(cell.replace(",", ""))
    return out


def ntire_counts(reference: Path) -> dict[str, float]:
    rows = _table_after(reference.read_text(), "## NTIRE 2022 efficient SR challenge")
    row = next(r for r in rows if r[0].startswith("RLFN-ntire"))
    return {"params_m": float(row[3]), "flops_g": float(row[4]), "activations_m": float(row[5]), "convs": int(row[7])}
