"""HPSS as the student ran it: nussl's HPSS = librosa.decompose.hpss masks on the mixture STFT.

nussl/nussl:nussl/separation/primitive/hpss.py (and the tutorial's "Build your own HPSS" copied in
ZeroAda/EIE3510-Music-Separation cells 11-17): per channel ``librosa.decompose.hpss(stft, kernel_size=31,
mask=True)`` (power 2, margin 1: soft masks that sum to 1), applied to the mixture STFT (nussl's
default window for the rate, sqrt Hann), inverted with the mixture phase. The student assigned
vocals := harmonic and accompaniment := percussive (cell 13), kept here as the default.
"""
from __future__ import annotations

import numpy as np

from . import params, stft


def hpss_masks(spec: np.ndarray, kernel_size: int = params.HPSS_KERNEL, power: float = params.HPSS_POWER,
               margin: float = params.HPSS_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """librosa's soft HPSS masks for a complex STFT (channels, bins, frames) -> (harmonic, percussive)."""
    import librosa

    pairs = [librosa.decompose.hpss(channel, kernel_size=kernel_size, power=power, mask=True, margin=margin)
             for channel in spec]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def separate_hpss(audio: np.ndarray, rate: int, window: int | None = None, hop: int | None = None,
                  vocals_from: str = "harmonic", **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """HPSS on (channels, samples) -> (vocals, accompaniment), each (channels, samples) float32.

    vocals_from="harmonic" is the student's assignment; "percussive" swaps the two outputs.
    """
    if vocals_from not in ("harmonic", "percussive"):
        raise ValueError(f"vocals_from must be 'harmonic' or 'percussive', got {vocals_from!r}")
    if window is None:
        window, hop = stft.default_window(rate)
    elif hop is None:
        hop = window // params.DEFAULT_HOP_DIVISOR
    spec = stft.stft(audio, window, hop)
    harmonic, percussive = hpss_masks(spec, **kwargs)
    n = audio.shape[-1]
    harmonic_audio = stft.istft(spec * harmonic, n, window, hop)
    percussive_audio = stft.istft(spec * percussive, n, window, hop)
    if vocals_from == "harmonic":
        return harmonic_audio, percussive_audio
    return percussive_audio, harmonic_audio
