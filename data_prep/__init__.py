"""Turning raw datasets into what training reads; synthetic music for tests and the demo.

``data_prep`` may use ``common``; it never imports a system package.

Synthetic music (``python -m data_prep.synth``):
    generate_track(seed, seconds, rate) -> {"drums", "bass", "rhythm_guitar", "lead_guitar",
        "keys", "vocals"}: float32 (2, samples)
    write_dataset(layout, out, tracks, seconds, seed, rate=None) -> list[Path]
        layouts "musdb", "mir1k", "stems"
"""
from .synth import SynthError, generate_track, track_seed, write_dataset
from .synth_music import plan_track

__all__ = ["SynthError", "generate_track", "plan_track", "track_seed", "write_dataset"]
