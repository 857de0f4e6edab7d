"""The STFT of the Separator's STFT-mode Wiener-EM (n_fft 4096, hop 1024, centred, reflect padding).

The original calls ``torch.stft(audio, 4096, hop_length=1024)`` and ``torch.istft(..., length=L)``
without a ``window`` argument (sevagh/xumx-sliCQ@v1-release:xumx_slicq/model.py Separator.forward),
i.e. with a rectangular window; ``window="boxcar"`` reproduces it (``--legacy``). The default here is a
periodic Hann window, as Open-Unmix's own Wiener step uses (sigsep/open-unmix-pytorch:openunmix/
transforms.py): a rectangular analysis window leaks every partial across the whole spectrum, which
blurs the Wiener masks.

Framing is torch's (and librosa's): the signal is reflect-padded by n_fft/2 on both sides, frames start
every hop, the inverse overlap-adds the windowed frames and divides by the summed squared window. It is
written here with numpy and scipy.fft because librosa's first ``stft`` call spends ~2 s importing its
submodules, a large part of a command-line run on a short song; the tests check it against librosa.

Shapes: ``stft`` (..., samples) float -> (..., 2049, frames) complex, frames = 1 + samples // 1024;
``istft`` back to (..., length).
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from .params import STFT_HOP, STFT_N_FFT

WINDOWS = ("hann", "boxcar")
_QUARTERS = STFT_N_FFT // STFT_HOP     # 4 frames overlap every sample


def window(name: str, dtype=np.float32) -> np.ndarray:
    """The analysis/synthesis window: periodic Hann (torch.hann_window's default) or rectangular."""
    if name not in WINDOWS:
        raise ValueError(f"STFT window must be one of {WINDOWS}, got {name!r}")
    if name == "boxcar":
        return np.ones(STFT_N_FFT, dtype=dtype)
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(STFT_N_FFT) / STFT_N_FFT)).astype(dtype)


def stft(x: np.ndarray, window_name: str = "hann") -> np.ndarray:
    """Centred STFT with reflect padding (torch.stft's defaults): (..., n) -> (..., 2049, 1 + n // 1024)."""
    x = np.asarray(x)
    pad = [(0, 0)] * (x.ndim - 1) + [(STFT_N_FFT // 2, STFT_N_FFT // 2)]
    padded = np.pad(x, pad, mode="reflect")
    n_frames = 1 + x.shape[-1] // STFT_HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, STFT_N_FFT, axis=-1)[..., ::STFT_HOP, :]
    frames = frames[..., :n_frames, :] * window(window_name, x.dtype)
    return np.swapaxes(scipy.fft.rfft(frames, axis=-1, workers=-1), -1, -2)


def istft(spec: np.ndarray, length: int, window_name: str = "hann") -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add divided by the squared-window sum): (..., 2049, T) -> (..., length)."""
    spec = np.swapaxes(np.asarray(spec), -1, -2)                     # (..., T, 2049)
    real = np.float32 if spec.dtype == np.complex64 else np.float64
    win = window(window_name, real)
    frames = scipy.fft.irfft(spec, n=STFT_N_FFT, axis=-1, workers=-1).astype(real, copy=False) * win
    n_frames = frames.shape[-2]
    lead = frames.shape[:-2]
    # overlap-add by quarters: output block k collects quarter q of frame k - q (hop = n_fft / 4)
    quarters = frames.reshape(*lead, n_frames, _QUARTERS, STFT_HOP)
    out = np.zeros((*lead, n_frames + _QUARTERS - 1, STFT_HOP), dtype=real)
    env = np.zeros((n_frames + _QUARTERS - 1, STFT_HOP), dtype=real)
    win_sq = (win ** 2).reshape(_QUARTERS, STFT_HOP)
    for q in range(_QUARTERS):
        out[..., q:q + n_frames, :] += quarters[..., q, :]
        env[q:q + n_frames] += win_sq[q]
    out = out.reshape(*lead, -1)
    env = env.reshape(-1)
    nonzero = env > np.finfo(real).tiny
    out[..., nonzero] /= env[nonzero]
    start = STFT_N_FFT // 2
    out = out[..., start:start + int(length)]
    if out.shape[-1] < length:
        out = np.concatenate([out, np.zeros((*lead, int(length) - out.shape[-1]), real)], axis=-1)
    return out
