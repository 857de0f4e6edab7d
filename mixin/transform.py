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
import scipy.fft

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

    forward: (n, 44032) real -> (n, 96, 1948) complex128 (complex64 with precision="single")
    backward: (n, 96, 1948) complex -> (n, 44032) float64 (float32 with precision="single")

    precision="double" (the default) is bit-identical to nsgt's own loops (nsgt/nsgtf_loop.py, nsgt/nsigtf_loop.py): the same products and
    the same order of additions; only the bookkeeping is precomputed. The per-window loops become
    gathers/scatters through index maps built once from nsgt's windows, and the 1948-point FFTs go
    through scipy.fft (the same pocketfft as numpy.fft, giving the same numbers, but vectorised over
    rows: about 2x faster here). The 44032-point FFTs stay numpy's.

    precision="single" does the same steps in float32/complex64 (windows rounded to float32, scipy.fft
    in single precision): about half the time and memory traffic, with errors of float32 rounding
    (coefficients and reconstruction within 1e-5 of the peak, tests/test_mixin.py), the size of the
    CDAEs' own float32 noise. The original's transform was float64 (nsgt's default ``dtype=float``).
    """

    def __init__(self, nsgt: NSGT | None = None, precision: str = "double"):
        if precision not in ("double", "single"):
            raise ValueError(f"precision must be 'double' or 'single', not {precision!r}")
        self.precision = precision
        self.real_dtype = np.float64 if precision == "double" else np.float32
        self.complex_dtype = np.complex128 if precision == "double" else np.complex64
        nsgt = nsgt or make_nsgt()
        self.Ls, self.nn = nsgt.Ls, nsgt.nn
        n_rows = len(nsgt.g) // 2 + 1  # real=True, reducedform=0
        m = self.n_frames = int(nsgt.M[:n_rows].max())
        self.n_rows = n_rows
        # Forward (nsgt/nsgtf_loop.py), for each row k with window g of length lg centred on bins win:
        # buffer[:ceil(lg/2)] = g[:ceil(lg/2)] * ft[win][lg//2:], buffer[-(lg//2):] = g[-(lg//2):] *
        # ft[win][:lg//2], the gap is zero; then ifft over M. Flattened: buffer_flat[dst] = g_cat * ft[src].
        dst, src, gw = [], [], []
        for k, (g, win, mk) in enumerate(zip(nsgt.g[:n_rows], nsgt.wins[:n_rows], nsgt.M[:n_rows])):
            win, lg = np.asarray(win), len(g)
            assert mk == m and lg <= m
            h1, h2 = (lg + 1) // 2, lg // 2
            dst += [k * m + np.arange(h1), k * m + np.arange(m - h2, m)]
            src += [win[h2:], win[:h2]]
            gw += [g[:h1], g[lg - h2:]]
        self._fwd_dst, self._fwd_src = np.concatenate(dst), np.concatenate(src)
        self._fwd_g = np.concatenate(gw).astype(self.real_dtype)
        # Backward (nsgt/nsigtf.py, nsigtf_loop.py): fft of every row; element e of window k (bin win[e])
        # receives (fc[k, t] * gd[j]) * M with (t, j) = (M - h2 + e, lg - h2 + e) for e < lg//2, else
        # (e - h2, e - h2), overlap-added in window order; rows 94..1 mirrored as conj(hstack(c[0],
        # c[:0:-1])) follow. Only bins 0..nn/2 reach the irfft. None of the mirrored windows touches
        # them (checked below), so they are skipped; a bin gets at most a few windows, so the
        # overlap-add is a few "slots", slot s holding every bin's (s+1)-th window in window order.
        half = self.nn // 2
        contrib: dict[int, list[tuple[int, float]]] = {}
        for k, (gd, win) in enumerate(zip(nsgt.gd, nsgt.wins)):
            win, lg = np.asarray(win), len(gd)
            h2 = lg // 2
            e = np.arange(lg)
            t = np.where(e < h2, m - h2 + e, e - h2)
            j = np.where(e < h2, lg - h2 + e, e - h2)
            keep = win <= half
            if k >= n_rows:
                if keep.any():
                    raise AssertionError("a mirrored NSGT window reaches the kept half of the spectrum")
                continue
            for b, ti, ji in zip(win[keep], t[keep], j[keep]):
                contrib.setdefault(int(b), []).append((k * m + int(ti), float(gd[ji])))
        if len(contrib) != half + 1:
            raise AssertionError("the NSGT windows do not cover every bin of the spectrum")
        self._bwd_slots = []
        for s in range(max(len(v) for v in contrib.values())):
            bins = np.array([b for b, v in contrib.items() if len(v) > s])
            self._bwd_slots.append((bins, np.array([contrib[b][s][0] for b in bins]),
                                    np.array([contrib[b][s][1] for b in bins], dtype=self.real_dtype)))

    def forward(self, chunks: np.ndarray) -> np.ndarray:
        chunks = np.atleast_2d(np.asarray(chunks, dtype=self.real_dtype))
        n, m = chunks.shape[0], self.n_frames
        if self.precision == "double":
            ft = np.fft.fft(chunks, axis=-1)  # nsgt.fft.fftp with numpy: complex fft of the real chunk
        else:
            ft = scipy.fft.fft(chunks, axis=-1)  # complex64
        buf = np.zeros((n, self.n_rows * m), dtype=self.complex_dtype)
        buf[:, self._fwd_dst] = self._fwd_g * ft[:, self._fwd_src]
        return scipy.fft.ifft(buf.reshape(n, self.n_rows, m), axis=-1, overwrite_x=True)

    def backward(self, coefs: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """overwrite=True lets the FFT work in place in ``coefs``, which is then garbage."""
        coefs = np.asarray(coefs, dtype=self.complex_dtype)
        if coefs.ndim == 2:
            coefs = coefs[None]
        n, n_rows, m = coefs.shape
        assert n_rows == self.n_rows and m == self.n_frames, coefs.shape
        fc = scipy.fft.fft(coefs, axis=-1, overwrite_x=overwrite).reshape(n, n_rows * m)
        fr = np.zeros((n, self.nn // 2 + 1), dtype=self.complex_dtype)
        for bins, src, gd in self._bwd_slots:
            temp = fc[:, src] * gd
            temp *= m
            fr[:, bins] += temp
        irfft = np.fft.irfft if self.precision == "double" else scipy.fft.irfft
        return irfft(fr, n=self.nn, axis=-1)[:, : self.Ls]


@functools.lru_cache(maxsize=2)
def batched_nsgt(precision: str = "double") -> BatchedNSGT:
    return BatchedNSGT(make_nsgt(), precision=precision)


def n_chunks_for(n_samples: int) -> int:
    """ceil(N / 44032) (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin); at least 1."""
    return max(1, int(np.ceil(n_samples / CHUNK_SIZE)))


def chunk_signal(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Chunks ``start..stop-1`` of ``x`` zero-padded to a multiple of 44032: (stop-start, 44032) float64."""
    out = np.zeros((stop - start, CHUNK_SIZE), dtype=np.float64)
    seg = np.asarray(x[start * CHUNK_SIZE: stop * CHUNK_SIZE], dtype=np.float64)
    out.reshape(-1)[: len(seg)] = seg
    return out
