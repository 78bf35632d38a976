"""The models a server offers: each loaded once, at start-up, into an :class:`rlfn.Upscaler`."""
from __future__ import annotations

import re
from dataclasses import dataclass

import rlfn
from rlfn.errors import RLFNError


class OptionError(RLFNError):
    """A request option that the server cannot honour (answered with 422)."""


@dataclass
class Entry:
    name: str  # "rlfn_s_x4"
    variant: str
    scale: int
    source: str  # "ours", "official" or a checkpoint file name
    parameters: int
    upscaler: rlfn.Upscaler

    def describe(self) -> dict:
        return {"id": self.name, "variant": self.variant, "scale": self.scale, "weights": self.source,
                "parameters": self.parameters, "precision": self.upscaler.precision}


class Catalogue:
    """Models by name; the first one is the default."""

    def __init__(self, entries: list[Entry]):
        if not entries:
            raise RLFNError("no model to serve")
        self.entries: dict[str, Entry] = {}
        for e in entries:
            if e.name in self.entries:
                raise RLFNError(f"two models are both called {e.name}; serve one of them")
            self.entries[e.name] = e
        self.default = entries[0]

    @classmethod
    def from_models(cls, models: list, **upscaler_options) -> "Catalogue":
        """``models``: :class:`rlfn.SRModel` objects (from :func:`rlfn.load_model`), each wrapped in an
        :class:`rlfn.Upscaler` built with ``upscaler_options`` (device, tile, threads...)."""
        entries = []
        for m in models:
            source = m.source if m.source in ("ours", "official", "") else re.split(r"[\\/]", m.source)[-1]
            entries.append(Entry(m.name, m.variant, m.scale, source or "random", m.num_parameters,
                                 rlfn.Upscaler(m, **upscaler_options)))
        return cls(entries)

    def warm_up(self) -> None:
        """One tiny upscale per model, so that the first request does not pay for start-up work."""
        from PIL import Image

        for e in self.entries.values():
            e.upscaler.upscale(Image.new("RGB", (16, 16), (128, 96, 64)))

    def resolve(self, model: str | None, scale: int | None) -> Entry:
        """The entry for a request's ``model`` (``rlfn_s`` or ``rlfn_s_x4``) and ``scale``; both optional."""
        if model is None:
            if scale is None or scale == self.default.scale:
                return self.default
            same_variant = [e for e in self.entries.values() if e.variant == self.default.variant and e.scale == scale]
            found = same_variant or [e for e in self.entries.values() if e.scale == scale]
            if not found:
                raise OptionError(f"scale {scale}: not served here; scales served: {self._scales()}")
            return found[0]
        key = model.strip().lower().replace("-", "_")
        if key in self.entries:
            e = self.entries[key]
            if scale is not None and scale != e.scale:
                raise OptionError(f"model {model!r} is x{e.scale}, but scale {scale} was asked")
            return e
        matches = [e for e in self.entries.values() if e.variant == key]
        if not matches:
            raise OptionError(f"model {model!r}: not served here; models served: {', '.join(self.entries)}")
        if scale is None:
            return next((e for e in matches if e.scale == self.default.scale), matches[0])
        for e in matches:
            if e.scale == scale:
                return e
        raise OptionError(f"model {model!r} is served at {', '.join(f'x{e.scale}' for e in matches)}, not x{scale}")

    def _scales(self) -> str:
        return ", ".join(sorted({f"x{e.scale}" for e in self.entries.values()}))

    def describe(self) -> list[dict]:
        return [dict(e.describe(), default=e is self.default) for e in self.entries.values()]
