"""Ideal ratio masks from the true sources, as sigsep's oracle baselines compute them.

``mask_j = |S_j|^alpha / sum_k |S_k|^alpha`` on the STFT of each source, applied to the mixture STFT
(sigsep/sigsep-mus-oracle:IRM.py; alpha = 2 is "IRM2", the SiSEC 2018 oracle row, alpha = 1 "IRM1").
STFT: 2048-point Hann window (sigsep/sigsep-mus-oracle:IRM.py, nfft=2048) with hop 512, through
scipy.signal so that an all-ones mask reconstructs the mixture exactly.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

N_FFT = 2048
HOP = 512
EPS = np.finfo(np.float64).eps  # bins where every source is silent get mask 0, not NaN (as sigsep)


def _stft(x: np.ndarray) -> np.ndarray:
    """(channels, samples) -> complex (channels, bins, frames)."""
    return signal.stft(x, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann", axis=-1)[2]


def _istft(spec: np.ndarray, length: int) -> np.ndarray:
    out = signal.istft(spec, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")[1]
    out = out[..., :length]
    if out.shape[-1] < length:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
    return out.astype(np.float32)


def ideal_ratio_masks(sources: dict[str, np.ndarray], alpha: float = 2.0) -> dict[str, np.ndarray]:
    """Masks in [0, 1] of shape (channels, bins, frames) per source; they sum to 1 wherever any
    source has energy."""
    powers = {name: np.abs(_stft(np.asarray(x, dtype=np.float64))) ** alpha
              for name, x in sources.items()}
    total = sum(powers.values()) + EPS
    return {name: p / total for name, p in powers.items()}


def irm_separate(mixture: np.ndarray, sources: dict[str, np.ndarray],
                 alpha: float = 2.0) -> dict[str, np.ndarray]:
    """Apply the ideal ratio masks of ``sources`` to ``mixture`` (channels, samples).

    Returns source name -> float32 (channels, samples) estimates of the mixture's length.
    """
    mix_spec = _stft(np.asarray(mixture, dtype=np.float64))
    masks = ideal_ratio_masks(sources, alpha)
    return {name: _istft(mask * mix_spec, mixture.shape[-1]) for name, mask in masks.items()}
