"""nussl-style deep mask inference (the EIE3510 project's model) and its REPET / HPSS / harmonic baselines.

Public API (imported lazily, so ``python -m mask_inference.<cli> --help`` stays fast; TensorFlow
is imported only when a deep model is built or loaded)::

    from mask_inference import Separator, build_model
    vocals, accompaniment = Separator("deep")(audio, rate)      # audio (channels, samples)
    Separator("repet" | "hpss" | "harmonic")(audio, rate)
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Separator": "separate", "SeparationError": "separate", "load_deep_model": "separate",
    "build_model": "model", "separate_repet": "repet", "separate_hpss": "hpss",
    "separate_harmonic": "harmonic",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'mask_inference' has no attribute {name!r}")
