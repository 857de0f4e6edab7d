"""Figures every system draws the same way: spectrograms, separation overviews, loss curves.

All writers are atomic (temporary file, then rename) and use matplotlib's Agg backend, so they work
without a display. Spectrograms share one log-frequency scale and, within a figure, one colour range.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

N_FFT, HOP = 2048, 512
LOW_HZ, ROWS = 40.0, 160
DB_RANGE = 80.0


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: Path, dpi: int = 100) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi)
    _pyplot().close(fig)
    os.replace(tmp, path)


def log_spectrogram(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono magnitude spectrogram in dB on a log-frequency grid (LOW_HZ to Nyquist).

    audio: (channels, samples) or (samples,). Returns (ROWS, frames), lowest frequency first.
    """
    from scipy import signal

    mono = np.asarray(audio, dtype=np.float64)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    freqs, _, spec = signal.stft(mono, fs=rate, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")
    grid = np.geomspace(LOW_HZ, rate / 2, ROWS)
    mag = np.abs(spec)
    rows = np.stack([np.interp(grid, freqs, mag[:, j]) for j in range(mag.shape[1])], axis=1)
    return 20 * np.log10(rows + 1e-10)


def save_spectrogram_image(path: Path, spec_db: np.ndarray, top_db: float, width: int = 360) -> None:
    """A bare spectrogram PNG (no axes), colour range [top_db - DB_RANGE, top_db]."""
    from scipy.ndimage import zoom

    width = min(width, max(spec_db.shape[1], 1))
    image = zoom(spec_db, (1, width / spec_db.shape[1]), order=1) if spec_db.shape[1] != width else spec_db
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    _pyplot().imsave(tmp, image[::-1], cmap="magma", vmin=top_db - DB_RANGE, vmax=top_db, format="png")
    os.replace(tmp, path)


def save_separation_figure(path: Path, mixture: np.ndarray, estimates: dict[str, np.ndarray],
                           rate: int, masks: dict[str, np.ndarray] | None = None,
                           title: str = "") -> None:
    """One PNG: the mixture's spectrogram, then each estimate's (and its mask, if given).

    mixture, estimates: (channels, samples) or (samples,); masks: name -> (bins, frames) in [0, 1]
    on the system's own time-frequency grid (drawn as is, lowest frequency at the bottom).
    """
    plt = _pyplot()
    specs = {"mixture": log_spectrogram(mixture, rate)}
    specs.update({name: log_spectrogram(x, rate) for name, x in estimates.items()})
    top = float(specs["mixture"].max())
    columns = 2 if masks else 1
    fig, axes = plt.subplots(len(specs), columns, figsize=(6 * columns, 1.9 * len(specs)),
                             squeeze=False)
    seconds = specs["mixture"].shape[1] * HOP / rate
    ticks = [f for f in (100, 1000, 10000) if LOW_HZ < f < rate / 2]
    tick_rows = [np.log(f / LOW_HZ) / np.log(rate / 2 / LOW_HZ) * (ROWS - 1) for f in ticks]
    for row, (name, spec) in enumerate(specs.items()):
        ax = axes[row, 0]
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=top - DB_RANGE, vmax=top,
                  extent=(0, seconds, 0, ROWS - 1))
        ax.set_yticks(tick_rows, [f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
        ax.set_ylabel(f"{name}\nHz")
        if masks:
            mask_ax = axes[row, 1]
            if name in masks:
                mask_ax.imshow(masks[name], origin="lower", aspect="auto", cmap="gray", vmin=0, vmax=1)
                mask_ax.set_title(f"mask: {name}", fontsize=8)
            mask_ax.set_axis_off()
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title or f"spectrograms, {DB_RANGE:.0f} dB below the mixture's peak", fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)


def save_loss_curve(path: Path, x: list, curves: dict[str, list], title: str, xlabel: str,
                    ylabel: str, log_y: bool = False) -> None:
    """Training curves: label -> values over ``x`` (epochs or iterations)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for (label, values), marker in zip(curves.items(), "os^vD"):
        ax.plot(x[:len(values)], values, marker=marker, markersize=3, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, path)
