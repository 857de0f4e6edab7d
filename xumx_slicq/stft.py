"""The STFT of the Separator's STFT-mode Wiener-EM (n_fft 4096, hop 1024, centred, reflect padding).

The original calls ``torch.stft(audio, 4096, hop_length=1024)`` and ``torch.istft(..., length=L)``
without a ``window`` argument (sevagh/xumx-sliCQ@v1-release:xumx_slicq/model.py Separator.forward),
i.e. with a rectangular window; ``window="boxcar"`` reproduces it (``--legacy``). The default here is a
periodic Hann window, as Open-Unmix's own Wiener step uses (sigsep/open-unmix-pytorch:openunmix/
transforms.py): a rectangular analysis window leaks every partial across the whole spectrum, which
blurs the Wiener masks. librosa's ``stft``/``istft`` compute the same framing, window and
squared-window normalisation as torch's (centre padding of n_fft/2, reflect mode).

Shapes: ``stft`` (..., samples) float -> (..., 2049, frames) complex, frames = 1 + samples // 1024;
``istft`` back to (..., length).
"""
from __future__ import annotations

import numpy as np

from .params import STFT_HOP, STFT_N_FFT

WINDOWS = ("hann", "boxcar")


def _window(name: str) -> np.ndarray | str:
    if name not in WINDOWS:
        raise ValueError(f"STFT window must be one of {WINDOWS}, got {name!r}")
    return np.ones(STFT_N_FFT, dtype=np.float32) if name == "boxcar" else "hann"


def stft(x: np.ndarray, window: str = "hann") -> np.ndarray:
    """Centred STFT with reflect padding (torch.stft's defaults): (..., n) -> (..., 2049, 1 + n // 1024)."""
    import librosa

    return librosa.stft(np.asarray(x), n_fft=STFT_N_FFT, hop_length=STFT_HOP, window=_window(window),
                        center=True, pad_mode="reflect")


def istft(spec: np.ndarray, length: int, window: str = "hann") -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add divided by the squared-window sum): (..., 2049, T) -> (..., length)."""
    import librosa

    return librosa.istft(spec, n_fft=STFT_N_FFT, hop_length=STFT_HOP, window=_window(window), center=True,
                         length=int(length))
