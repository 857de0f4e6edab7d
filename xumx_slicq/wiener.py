"""Multichannel Wiener filtering by expectation-maximisation (EM), as xumx-sliCQ v1 runs it.

This is the Open-Unmix / norbert scheme of sevagh/xumx-sliCQ@v1-release:xumx_slicq/filtering.py
(``wiener``, ``expectation_maximization``; itself sigsep/open-unmix-pytorch:openunmix/filtering.py plus a
``slicq`` flag), written with numpy complex arrays instead of torch tensors with a trailing (re, im) axis.
norbert (the numpy original) is not used: it is unmaintained, fixes its own eps choices, and has no way
to share one mixture scale factor between the ragged sliCQT blocks (see :func:`wiener`).

Per call, with sources j, channels c, rows ("bins") f and frames t (design §6.2):

1. initial estimates: y_j = |Y_j| e^{i angle X} (``softmask=False``, the original's setting) or
   y_j = X |Y_j| / (eps + sum_k |Y_k|) (``softmask=True``); ``residual`` adds X - sum_j y_j as a source;
2. X and y are divided by max(1, max|X| / scale_factor) (filtering.py ``wiener``);
3. each EM iteration: v_j = mean_c |y_jc|^2; R_j(f) = sum_t y_j y_j^H / (eps + sum_t v_j);
   C_xx = sum_j v_j R_j + sqrt(eps) I; y_j = v_j R_j C_xx^-1 x (2x2 inverse in closed form, no eps in the
   determinant: filtering.py ``_invert``);
4. y is multiplied back by the scale factor.

The EM itself runs in float64 whatever the input's precision (the v2021 code did; v1-release ran it in
float32, which turns the nearly singular covariances of strongly correlated channels into NaN: a mono
file duplicated to stereo failed). Against the original's float32 outputs this is closer, not further:
110-113 dB SNR instead of 106-110 dB on the reference clip.

Shapes: a "segment" is the mixture x (channels, bins, frames) complex and the magnitudes v
(sources, channels, bins, frames). Rows never interact, so the ragged sliCQT blocks are filtered one by
one; the zero padding of the original's (263, S*292) matrix adds nothing to any sum (v = 0 and y = 0
there), so dropping it gives the same numbers with a quarter of the memory. The scale factor is the one
thing shared across blocks: it is computed over every segment of a call.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from .params import WIENER_EPS, WIENER_SCALE_FACTOR


def map_threads(fn: Callable, items: Sequence) -> list:
    """[fn(item) for item in items] on up to one thread per core: numpy releases the GIL in the EM's
    large array operations, so independent segments (Wiener windows, sliCQT blocks) run in parallel."""
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def mix_phase(x: np.ndarray) -> np.ndarray:
    """e^{i angle(x)} with angle(0) = 0 (filtering.py ``atan2``, without its in-place write): x / |x|, 1 at 0.

    Equal to cos/sin of the angle up to float rounding, without the three transcendental passes.
    """
    mag = np.abs(x)
    zero = mag == 0
    return np.where(zero, 1, x / np.where(zero, 1, mag)).astype(x.dtype, copy=False)


def initial_estimates(v: np.ndarray, x: np.ndarray, softmask: bool = False, residual: bool = False,
                      eps: float = WIENER_EPS) -> np.ndarray:
    """Complex first estimates from magnitudes: (J, C, F, T) float + (C, F, T) complex -> (J[+1], C, F, T)."""
    if softmask:
        total = eps + v.sum(axis=0, keepdims=True)
        y = x[None] * (v / total)
    else:
        y = v * mix_phase(x)
    y = y.astype(x.dtype, copy=False)
    if residual:
        y = np.concatenate((y, (x - y.sum(axis=0))[None]), axis=0)
    return y


def _invert(c: np.ndarray) -> np.ndarray:
    """Inverse of (..., C, C) complex matrices, C = 1 or 2, as filtering.py ``_invert`` (no regularisation)."""
    n = c.shape[-1]
    if n == 1:
        return np.conj(c) / (c.real ** 2 + c.imag ** 2)
    if n != 2:
        raise ValueError(f"Wiener filtering supports 1 or 2 channels, got {n}")
    a, b, cc, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 0], c[..., 1, 1]
    det = a * d - b * cc
    inv_det = np.conj(det) / (det.real ** 2 + det.imag ** 2)
    out = np.empty_like(c)
    out[..., 0, 0] = inv_det * d
    out[..., 1, 0] = -inv_det * cc
    out[..., 0, 1] = -inv_det * b
    out[..., 1, 1] = inv_det * a
    return out


def expectation_maximization(y: np.ndarray, x: np.ndarray, iterations: int = 1,
                             eps: float = WIENER_EPS) -> np.ndarray:
    """EM refinement of the source estimates (filtering.py ``expectation_maximization``).

    y: (J, C, F, T) complex initial estimates; x: (C, F, T) complex mixture (both already scaled).
    Returns the refined (J, C, F, T) estimates (same dtype).

    For stereo, the 2x2 Hermitian matrices are written out element by element (the same products as
    filtering.py's ``_covariance``, ``_invert`` and gain loops, whose imaginary parts on the diagonal
    and in the determinant are exactly zero), which is several times faster than general einsums.
    """
    if y.shape[1] != 2:
        return _em_general(y, x, iterations, eps)
    real = np.float32 if x.dtype == np.complex64 else np.float64
    reg, eps_r = real(np.sqrt(eps)), real(eps)
    x0, x1 = x[0], x[1]
    for _ in range(iterations):
        p0 = y[:, 0].real ** 2 + y[:, 0].imag ** 2                             # (J, F, T)
        p1 = y[:, 1].real ** 2 + y[:, 1].imag ** 2
        v = (p0 + p1) / real(2)                                                 # mean over channels
        weight = eps_r + v.sum(axis=-1, keepdims=True)                          # (J, F, 1)
        r00 = p0.sum(axis=-1, keepdims=True) / weight                           # R_j, real diagonal
        r11 = p1.sum(axis=-1, keepdims=True) / weight
        r01 = (y[:, 0] * np.conj(y[:, 1])).sum(axis=-1, keepdims=True) / weight
        c00 = reg + (v * r00).sum(axis=0)                                       # C_xx (F, T)
        c11 = reg + (v * r11).sum(axis=0)
        c01 = (v * r01).sum(axis=0)
        det = c00 * c11 - (c01.real ** 2 + c01.imag ** 2)
        # det >= reg * (reg + tr(sum_j v_j R_j)) since sum_j v_j R_j is positive semi-definite. With
        # identical channels (a mono file duplicated to stereo) that part is singular, and float32
        # cancellation in the line above can give 0 (then NaN: the original has the same flaw);
        # the bound is exact there and far below det everywhere else, so other bins keep their values.
        det = np.maximum(det, reg * (c00 + c11 - reg))
        # z = C_xx^-1 x, with C_xx^-1 = [[c11, -c01], [-conj(c01), c00]] / det; then y_j = v_j R_j z. The
        # original forms the gain v_j R_j C_xx^-1 first and applies it to x; the product is associative, so
        # only rounding differs (float64), and the (F, T) work per source halves.
        z0 = (c11 * x0 - c01 * x1) / det
        z1 = (c00 * x1 - np.conj(c01) * x0) / det
        y = np.empty_like(y)
        for j in range(y.shape[0]):
            y[j, 0] = v[j] * (r00[j] * z0 + r01[j] * z1)
            y[j, 1] = v[j] * (np.conj(r01[j]) * z0 + r11[j] * z1)
    return y


def _em_general(y: np.ndarray, x: np.ndarray, iterations: int, eps: float) -> np.ndarray:
    """:func:`expectation_maximization` for any channel count C (1 or 2) with einsums."""
    dtype = x.dtype
    real = np.float32 if dtype == np.complex64 else np.float64
    n_src, n_ch = y.shape[0], y.shape[1]
    reg, eps_r = real(np.sqrt(eps)), real(eps)
    for _ in range(iterations):
        v = (y.real ** 2 + y.imag ** 2).mean(axis=1)                             # (J, F, T)
        r = np.einsum("jcft,jdft->jfcd", y, np.conj(y)) / (eps_r + v.sum(axis=-1))[..., None, None]
        r = r.astype(dtype, copy=False)
        cxx = np.einsum("jft,jfcd->ftcd", v.astype(dtype), r)                  # (F, T, C, C)
        idx = np.arange(n_ch)
        cxx[..., idx, idx] += reg
        inv = _invert(cxx)
        y = np.empty_like(y)
        for j in range(n_src):
            gain = np.einsum("fcd,ftde->ftce", r[j], inv) * v[j][..., None, None]  # v_j R_j C_xx^-1
            y[j] = np.einsum("ftcd,dft->cft", gain, x)
    return y


def wiener(v: Sequence[np.ndarray] | np.ndarray, x: Sequence[np.ndarray] | np.ndarray, iterations: int = 1,
           softmask: bool = False, residual: bool = False, scale_factor: float = WIENER_SCALE_FACTOR,
           eps: float = WIENER_EPS) -> list[np.ndarray] | np.ndarray:
    """Wiener-EM separation of one or several segments sharing one scale factor (filtering.py ``wiener``).

    v: magnitudes (J, C, F, T) per segment; x: mixture (C, F, T) complex per segment (a single array or a
    list of them). Returns the complex estimates (J[+1 with residual], C, F, T) per segment, in the same
    form as the input (array or list). ``iterations=0`` returns the initial estimates unscaled.
    """
    single = isinstance(x, np.ndarray)
    xs = [x] if single else list(x)
    vs = [v] if single else list(v)
    ys = [initial_estimates(vi, xi, softmask, residual, eps) for vi, xi in zip(vs, xs)]
    if iterations > 0:
        peak = max(float(np.sqrt((xi.real ** 2 + xi.imag ** 2).max())) if xi.size else 0.0 for xi in xs)
        max_abs = max(1.0, peak / scale_factor)
        # The EM runs in float64, as the v2021 code and norbert advise (v1-release ran it in float32):
        # with strongly correlated channels (a mono file duplicated to stereo: identical ones) the 2x2
        # mixture covariance is nearly singular and float32 cancels it to nonsense or NaN.
        def refine(pair):
            yi, xi = pair
            return (expectation_maximization(yi.astype(np.complex128) / max_abs, xi.astype(np.complex128) / max_abs,
                                             iterations, eps) * max_abs).astype(yi.dtype)

        ys = map_threads(refine, list(zip(ys, xs)))
    return ys[0] if single else ys
