"""Turning raw datasets into what training reads; synthetic music for tests and the demo.

``data_prep`` may use ``common``; it never imports a system package.

Synthetic music (``python -m data_prep.synth``, see ``data_prep/synth.py``):
    generate_track(seed, seconds, rate) -> {"drums", "bass", "rhythm_guitar", "lead_guitar",
        "keys", "vocals"}: float32 (2, samples)
    write_dataset(layout, out, tracks, seconds, seed, rate=None) -> list[Path]
        layouts "musdb", "mir1k", "stems"
    plan_track(seed, seconds) -> TrackPlan (the score: tempo, key, chords, notes, melody)
"""
from __future__ import annotations

import importlib

# Loaded on first use, so that ``python -m data_prep.synth`` does not import its module twice.
_EXPORTS = {"SynthError": "synth", "generate_track": "synth", "track_seed": "synth",
            "write_dataset": "synth", "render_track": "synth", "plan_track": "synth_music"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
