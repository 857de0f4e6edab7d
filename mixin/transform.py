"""MiXiN's transform: a Bark-scale NSGT on non-overlapping 44032-sample chunks.

The transform is nsgt 0.19's non-sliced ``NSGT(BarkScale(0, 22050, 96), 44100, 44032, real=True,
matrixform=True)`` (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin). ``BarkScale`` is the scale of the
nsgt fork sevagh/nsgt:nsgt/fscale.py at fded8f4, rewritten as a subclass of ``nsgt.fscale.Scale`` in
common/nsgt_support.py (shared with xumx_slicq).

Besides the per-chunk calls of nsgt itself (``forward_chunk``/``backward_chunk``, what the original
does), ``BatchedNSGT`` applies the same frame (nsgt's own windows ``g``, dual windows ``gd`` and window
positions) to a batch of chunks at once with vectorised numpy, in the same order of operations as
nsgt's loops (nsgt/nsgtf_loop.py, nsgt/nsigtf_loop.py). Shapes: a chunk is (44032,) float64, its
coefficients (96, 1948) complex128; a batch adds a leading axis.
"""
from __future__ import annotations

import functools

import numpy as np

# The clip shim and the Bark scale are shared with xumx_slicq: common/nsgt_support.py (re-exported here;
# importing it first also silences nsgt's "falling back to numpy.fft" import warning).
from common import nsgt_support
from common.nsgt_support import BarkScale, bark2hz, hz2bark  # noqa: F401
from nsgt import NSGT
from nsgt.fscale import Scale

from .params import BARK_BANDS, BARK_FMAX, BARK_FMIN, CHUNK_SIZE, COEF_SHAPE, SAMPLE_RATE

nsgt_support.apply_clip_shim()


class _InteriorBands:
    """A scale callable that keeps only the centres strictly inside (0, fs/2).

    nsgt's ``nsgfwin`` drops centres <= 0 and >= fs/2 itself; doing it here makes the 94 interior Bark
    bands explicit, so that the top centre (22050.000000000007 Hz after rounding) can never survive as
    a 95th band (mixin.md §3.3, quirk 16).
    """

    def __init__(self, scale: Scale, fs: float):
        self.scale, self.fs = scale, fs

    def __call__(self):
        f, q = self.scale()
        keep = (f > 0) & (f < self.fs / 2)
        return f[keep], q[keep]


@functools.lru_cache(maxsize=2)
def make_nsgt(length: int = CHUNK_SIZE, rate: int = SAMPLE_RATE) -> NSGT:
    """The original's NSGT object for one chunk; asserts the (96, 1948) coefficient shape."""
    scale = _InteriorBands(BarkScale(BARK_FMIN, BARK_FMAX, BARK_BANDS), rate)
    n_interior = len(scale()[0])
    if n_interior != BARK_BANDS - 2:
        raise AssertionError(f"expected {BARK_BANDS - 2} interior Bark bands, got {n_interior}")
    nsgt = NSGT(scale, rate, length, real=True, matrixform=True)
    shape = (len(nsgt.g) // 2 + 1, int(nsgt.M.max()))
    if (length, rate) == (CHUNK_SIZE, SAMPLE_RATE) and shape != COEF_SHAPE:
        raise AssertionError(f"NSGT coefficient shape {shape} != {COEF_SHAPE}")
    return nsgt


def forward_chunk(chunk: np.ndarray) -> np.ndarray:
    """nsgt's own forward transform of one chunk: (44032,) -> (96, 1948) complex128."""
    coefs = np.asarray(make_nsgt().forward(chunk))
    assert coefs.shape == COEF_SHAPE, coefs.shape
    return coefs


def backward_chunk(coefs: np.ndarray) -> np.ndarray:
    """nsgt's own inverse transform of one chunk: (96, 1948) complex -> (44032,) float64."""
    return np.asarray(make_nsgt().backward(coefs))


class BatchedNSGT:
    """nsgt's frame applied to many chunks at once (same windows, same arithmetic, vectorised).

    forward: (n, 44032) real -> (n, 96, 1948) complex128
    backward: (n, 96, 1948) complex -> (n, 44032) float64
    """

    def __init__(self, nsgt: NSGT | None = None):
        nsgt = nsgt or make_nsgt()
        self.Ls, self.nn = nsgt.Ls, nsgt.nn
        n_rows = len(nsgt.g) // 2 + 1  # real=True, reducedform=0
        self.n_frames = int(nsgt.M[:n_rows].max())
        # Forward (nsgt/nsgtf_loop.py): buffer[:ceil(Lg/2)] = g[:ceil(Lg/2)] * ft[win][Lg//2:],
        # buffer[-(Lg//2):] = g[-(Lg//2):] * ft[win][:Lg//2], the gap is zero; then ifft over M.
        self._fwd = []
        for g, win, m in zip(nsgt.g[:n_rows], nsgt.wins[:n_rows], nsgt.M[:n_rows]):
            lg = len(g)
            assert m == self.n_frames and lg <= m
            self._fwd.append((np.asarray(win), g, lg))
        # Backward (nsgt/nsigtf.py, nsigtf_loop.py): fft of every row, rows 94..1 mirrored as
        # conj(hstack(c[0], c[:0:-1])), each multiplied by gd * M and overlap-added into the spectrum.
        self._bwd = []
        for gd, win in zip(nsgt.gd, nsgt.wins):
            lg = len(gd)
            self._bwd.append((np.asarray(win[: lg // 2]), np.asarray(win[-((lg + 1) // 2):]), gd, lg))
        self.n_rows = n_rows

    def forward(self, chunks: np.ndarray) -> np.ndarray:
        chunks = np.atleast_2d(np.asarray(chunks, dtype=np.float64))
        n, m = chunks.shape[0], self.n_frames
        ft = np.fft.fft(chunks, axis=-1)  # nsgt.fft.fftp with numpy: complex fft of the real chunk
        buf = np.zeros((n, self.n_rows, m), dtype=np.complex128)
        for k, (win, g, lg) in enumerate(self._fwd):
            ftw = ft[:, win]
            h1, h2 = (lg + 1) // 2, lg // 2
            buf[:, k, :h1] = g[:h1] * ftw[:, h2:]
            if h2:
                buf[:, k, m - h2:] = g[lg - h2:] * ftw[:, :h2]
        return np.fft.ifft(buf, axis=-1)

    def backward(self, coefs: np.ndarray) -> np.ndarray:
        coefs = np.asarray(coefs)
        if coefs.ndim == 2:
            coefs = coefs[None]
        n, n_rows, m = coefs.shape
        assert n_rows == self.n_rows and m == self.n_frames, coefs.shape
        fc = np.fft.fft(coefs, axis=-1)
        mirrored = np.concatenate((fc[:, :, :1], fc[:, :, :0:-1]), axis=-1).conj()
        rows = [fc[:, k] for k in range(n_rows)] + [mirrored[:, k] for k in range(n_rows - 2, 0, -1)]
        fr = np.zeros((n, self.nn), dtype=np.complex128)
        for t, (wr1, wr2, gd, lg) in zip(rows, self._bwd):
            temp = np.empty((n, lg), dtype=np.complex128)
            h1, h2 = (lg + 1) // 2, lg // 2
            temp[:, :h1] = t[:, :h1]
            if h2:
                temp[:, lg - h2:] = t[:, m - h2:]
            temp *= gd
            temp *= m
            fr[:, wr1] += temp[:, lg - h2:]
            fr[:, wr2] += temp[:, :h1]
        return np.fft.irfft(fr[:, : self.nn // 2 + 1], n=self.nn, axis=-1)[:, : self.Ls]


@functools.lru_cache(maxsize=1)
def batched_nsgt() -> BatchedNSGT:
    return BatchedNSGT(make_nsgt())


def n_chunks_for(n_samples: int) -> int:
    """ceil(N / 44032) (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin); at least 1."""
    return max(1, int(np.ceil(n_samples / CHUNK_SIZE)))


def chunk_signal(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Chunks ``start..stop-1`` of ``x`` zero-padded to a multiple of 44032: (stop-start, 44032) float64."""
    out = np.zeros((stop - start, CHUNK_SIZE), dtype=np.float64)
    seg = np.asarray(x[start * CHUNK_SIZE: stop * CHUNK_SIZE], dtype=np.float64)
    out.reshape(-1)[: len(seg)] = seg
    return out
