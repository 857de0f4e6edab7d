"""nussl's STFT: scipy.signal.stft / istft with a square-root periodic Hann window.

nussl/nussl:nussl/core/audio_signal.py calls ``scipy.signal.stft(x, fs, window, nperseg=L,
noverlap=L - hop)`` with scipy's defaults: L/2 zeros on both ends (boundary='zeros'), end-padding
to whole hops (padded=True), one-sided, and "spectrum" scaling (divided by the window sum, 325.948
for L = 512). The inverse undoes the scaling, divides by the overlapped squared window and is
truncated to the original length. Frame count = ceil(N / hop) + 1 (626 for 5 s at 16 kHz, hop 128;
1724 for 5 s at 44.1 kHz).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.signal

from . import params


def sqrt_hann(window_length: int) -> np.ndarray:
    """Square root of scipy's periodic Hann window (nussl 'sqrt_hann'), shape (window_length,)."""
    return np.sqrt(scipy.signal.get_window("hann", window_length))


def default_window(rate: int) -> tuple[int, int]:
    """nussl's default (window, hop) for a rate: next power of two of 32 ms, hop = window / 4.

    nussl/nussl:nussl/core/audio_signal.py (DEFAULT_WIN_LEN_PARAM = 0.032): 2048/512 at 44.1 kHz,
    512/128 at 16 kHz.
    """
    window = 2 ** int(math.ceil(math.log2(params.DEFAULT_WIN_LEN_SECONDS * rate)))
    return window, window // params.DEFAULT_HOP_DIVISOR


def num_frames(num_samples: int, hop: int = params.DEEP_HOP) -> int:
    """Frames scipy's padded, zero-boundary STFT yields: ceil(N / hop) + 1."""
    return int(math.ceil(num_samples / hop)) + 1


def stft(audio: np.ndarray, window: int = params.DEEP_WINDOW, hop: int = params.DEEP_HOP) -> np.ndarray:
    """Complex STFT of ``audio`` (..., samples) -> (..., bins, frames), scipy-scaled as nussl."""
    audio = np.asarray(audio)
    if audio.shape[-1] == 0:
        raise ValueError("stft: the signal is empty (0 samples)")
    _, _, spec = scipy.signal.stft(audio, window=sqrt_hann(window), nperseg=window,
                                   noverlap=window - hop, boundary="zeros", padded=True,
                                   axis=-1)
    return spec


def istft(spec: np.ndarray, length: int, window: int = params.DEEP_WINDOW,
          hop: int = params.DEEP_HOP) -> np.ndarray:
    """Inverse of :func:`stft`: (..., bins, frames) -> real (..., length), truncated as nussl."""
    _, audio = scipy.signal.istft(spec, window=sqrt_hann(window), nperseg=window,
                                  noverlap=window - hop, boundary=True, input_onesided=True,
                                  time_axis=-1, freq_axis=-2)
    audio = audio[..., :length]
    if audio.shape[-1] < length:  # cannot happen with padded=True, but keep the contract
        pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])]
        audio = np.pad(audio, pad)
    return audio.astype(np.float32)


def magnitude_frames(audio: np.ndarray, window: int = params.DEEP_WINDOW,
                     hop: int = params.DEEP_HOP) -> np.ndarray:
    """|STFT| in the model's layout: (..., samples) -> float32 (..., frames, bins)."""
    return np.abs(stft(audio, window, hop)).swapaxes(-1, -2).astype(np.float32)
