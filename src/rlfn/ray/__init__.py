"""Upscale a dataset on a Ray cluster (``pip install "rlfn[ray]"``): :func:`upscale_dataset`, and
``rlfn upscale INPUT... -o OUT --ray``.

Ray Data shards the inputs over a pool of actors, each of which loads the model once; the images are read as
bytes from any filesystem pyarrow knows (a local folder, ``file://``, ``s3://``, ``gs://``) and decoded,
upscaled, encoded and written by the same code as ``rlfn upscale``'s, so the pixels are the same. One row per
input goes to a manifest (JSONL); a bad image is a row with its error, and a re-run skips what is done.

Only :mod:`rlfn.ray.job` and :mod:`rlfn.ray.worker` import Ray, and only when they run: this package
imports without it.
"""
from __future__ import annotations

from .job import INSTALL, Result, connect, upscale_dataset
from .worker import UpscaleWorker

__all__ = ["INSTALL", "Result", "UpscaleWorker", "connect", "upscale_dataset"]
