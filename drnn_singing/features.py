"""Huang's signal pipeline: STFT framing, 3-frame context, 0 dB mixing, circular shifts, chunking.

All arrays are float32 numpy; time runs along axis 0 of spectrograms: (frames, bins).
"""
from __future__ import annotations

import numpy as np

from . import params as P


class FeatureError(ValueError):
    """A signal that cannot be turned into features (too short, silent, wrong shape)."""


def sqrt_hann(n_fft: int = P.N_FFT) -> np.ndarray:
    """sin(pi n / N), n = 0..N-1: the square root of a periodic Hann window (MATLAB sin(0:pi/N:pi-pi/N))."""
    return np.sin(np.pi * np.arange(n_fft) / n_fft).astype(np.float64)


def n_frames(n_samples: int, n_fft: int = P.N_FFT, hop: int = P.HOP) -> int:
    """labrosa stft.m framing: 1 + fix((len - N) / hop) frames, no padding, trailing samples dropped."""
    if n_samples < n_fft:
        return 0
    return 1 + (n_samples - n_fft) // hop


def stft(signal: np.ndarray, n_fft: int = P.N_FFT, hop: int = P.HOP) -> np.ndarray:
    """(samples,) -> complex64 (frames, n_fft//2+1), uncentred, sqrt-Hann analysis window."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise FeatureError(f"stft expects a mono signal (samples,), got shape {x.shape}")
    count = n_frames(x.size, n_fft, hop)
    if count == 0:
        raise FeatureError(f"signal of {x.size} samples is shorter than one {n_fft}-sample frame")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:count]
    return np.fft.rfft(frames * sqrt_hann(n_fft), axis=1).astype(np.complex64)


def istft(spec: np.ndarray, n_fft: int = P.N_FFT, hop: int = P.HOP) -> np.ndarray:
    """complex (frames, bins) -> float32 (n_fft + (frames-1)*hop,), overlap-add with the same window.

    sin^2 windows at 50% overlap sum to one, so istft(stft(x)) == x except in the first and
    last half-frame (labrosa istft.m with the window passed as a vector: no extra scaling).
    """
    spec = np.asarray(spec)
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * sqrt_hann(n_fft)
    out = np.zeros(n_fft + (spec.shape[0] - 1) * hop, dtype=np.float64)
    for t in range(spec.shape[0]):
        out[t * hop:t * hop + n_fft] += frames[t]
    return out.astype(np.float32)


def add_context(mag: np.ndarray, context: int = P.CONTEXT) -> np.ndarray:
    """(frames, bins) -> (frames, context*bins): frames [t-k..t+k] side by side, edges replicated."""
    half = context // 2
    padded = np.concatenate([np.repeat(mag[:1], half, 0), mag, np.repeat(mag[-1:], half, 0)], axis=0)
    count = mag.shape[0]
    return np.concatenate([padded[i:i + count] for i in range(context)], axis=1).astype(np.float32)


def unit_energy(signal: np.ndarray, name: str = "signal") -> np.ndarray:
    """Scale to unit L2 energy (MATLAB formulate_data.m: x ./ sqrt(sum(x.^2)))."""
    energy = float(np.sqrt(np.sum(np.asarray(signal, np.float64) ** 2)))
    if not np.isfinite(energy) or energy == 0.0:
        raise FeatureError(f"{name} is silent (zero energy): a 0 dB mix needs both sources non-silent")
    return (np.asarray(signal, np.float64) / energy).astype(np.float32)


def shift_offsets(n_samples: int, step: int = P.CIRCULAR_STEP) -> list[int]:
    """0-based circular shifts of MATLAB's `for ioffset = 1:step:N-step` (offset 0 included)."""
    if step <= 0:
        return [0]
    return list(range(0, max(n_samples - step, 1), step))


def circular_shift(signal: np.ndarray, offset: int) -> np.ndarray:
    """[x(offset:end); x(1:offset-1)] in MATLAB terms: np.roll left by `offset` samples."""
    return np.roll(signal, -int(offset))


def mixture_features(music: np.ndarray, voice: np.ndarray, context: int = P.CONTEXT):
    """Unit-energy-scaled sources (samples,) -> (inputs (T, context*513), targets (T, 1026)).

    The mixture is music + voice; targets are [|STFT(music)|, |STFT(voice)|] (Huang's order).
    """
    mix_mag = np.abs(stft(music + voice))
    targets = np.concatenate([np.abs(stft(music)), np.abs(stft(voice))], axis=1)
    return add_context(mix_mag, context), targets.astype(np.float32)


def chunk_lengths(n: int, seq_lens=P.SEQ_LENS) -> list[int]:
    """Greedy split of n frames into chunks of 100, then 50/25/10/1 (MATLAB eI.seqLen)."""
    out = []
    for length in seq_lens:
        count, n = divmod(n, length)
        out += [length] * count
    return out


def chunks(array: np.ndarray, seq_lens=P.SEQ_LENS):
    """Yield consecutive slices of `array` (frames, ...) with the lengths of chunk_lengths()."""
    start = 0
    for length in chunk_lengths(array.shape[0], seq_lens):
        yield array[start:start + length]
        start += length


def resynthesize(mag: np.ndarray, mixture_spec: np.ndarray) -> np.ndarray:
    """Estimated magnitude (T, 513) with the mixture phase -> waveform (1024 + (T-1)*512,)."""
    phase = np.exp(1j * np.angle(mixture_spec))
    return istft(mag * phase)
