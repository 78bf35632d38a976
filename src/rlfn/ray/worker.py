"""The callable class Ray Data runs in each actor: the model is loaded (fast path, precision chosen for the
actor's device) once, in the constructor, then each batch of (input, output) rows becomes manifest rows.

Images of a batch are run one by one, at their own size, exactly as ``rlfn upscale`` runs them, which is what
makes the outputs the same bytes; grouping same-size images into one model call is measured in
docs/scale.md (``benchmarks/ray_speed.py``).
"""
from __future__ import annotations

import time
from pathlib import PurePosixPath

from ..errors import RLFNError
from ..inference.batch import BatchOptions, upscale_still
from ..io.files import describe
from ..io.images import encode_picture, format_for, load_picture
from .manifest import row, schema
from .storage import existing, read_bytes, write_bytes


class UpscaleWorker:
    """``model``: an SRModel (loaded once by the driver, shipped to each actor) or a name; ``settings``: the
    keyword arguments of :class:`rlfn.Upscaler` (device, precision, tile...); ``opts``: the batch options
    (names are already made; size, format, quality, overwrite and the pixel limit apply here)."""

    def __init__(self, model, settings: dict, opts: BatchOptions):
        from ..inference.upscaler import Upscaler

        self.up = Upscaler(model, **settings)
        self.opts = opts

    def __call__(self, batch):
        import pyarrow as pa

        rows = [self.one(src, dst) for src, dst in zip(batch.column("input").to_pylist(),
                                                        batch.column("output").to_pylist())]
        return pa.Table.from_pylist(rows, schema=schema())

    def one(self, src: str, dst: str) -> dict:
        """Read, upscale, encode and write one image; every failure is the row's error, never an exception:
        one bad file must not stop a job of millions (a retried batch would fail again on it)."""
        opts, start = self.opts, time.perf_counter()
        try:
            # A retried batch (its actor died) finds what its first attempt wrote; nothing is written twice.
            if not opts.overwrite and existing([dst]):
                return row(src, dst, "skipped")
            pic = load_picture(src, opts.max_pixels, data=read_bytes(src))
            big = upscale_still(self.up, src, dst, pic, opts)
            notes: list[str] = []
            data = encode_picture(big, format_for(dst, opts.ext), quality=opts.quality, warn=notes.append,
                                  png_compression=opts.png_compression, name=PurePosixPath(dst).name)
            write_bytes(dst, data, overwrite=opts.overwrite)
        except MemoryError:
            return row(src, dst, error=f"{src}: out of memory (try a smaller --tile)")
        except RLFNError as e:
            return row(src, dst, error=str(e))
        except Exception as e:  # a decoder's or a filesystem's own failure that no layer below named
            return row(src, dst, error=f"{src}: {describe(e)}")
        r = row(src, dst, "done", width_in=pic.size[0], height_in=pic.size[1], width_out=big.size[0],
                         height_out=big.size[1], warning="; ".join(notes) or None)
        r["seconds"] = round(time.perf_counter() - start, 4)
        return r
