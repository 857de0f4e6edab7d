"""The sliCQ transform of xumx-sliCQ v1: nsgt 0.19's ``NSGT_sliced`` on a 262-bin Bark scale, in 70 blocks.

What v1 computes (sevagh/xumx-sliCQ@v1-release:xumx_slicq/transforms.py NSGT_SL / INSGT_SL, a torch port
of nsgt; design §2): ``NSGT_sliced(BarkScale(32.9, 22050, 262), sl_len=18060, tr_area=4516, fs=44100,
real=True, matrixform=False)`` applied to every channel, its 263 rows (DC, 261 Bark bins, Nyquist)
regrouped into the 70 maximal runs of equal M (coefficients per slice), ``params.BLOCKS``.

Shapes: ``forward`` maps x (..., L) real to a list of 70 blocks, block b (..., nf_b, S, M_b) complex
(complex64 for float32 input, else complex128), S = ``n_slices(L)``; ``backward`` maps such a list and a
length back to (..., length) real (float32 for complex64 blocks, else float64).

Two paths over the same frame (nsgt's own windows ``g``, duals ``gd``, index ranges ``wins``):

* ``SliCQT``: ours, vectorised numpy, batched over all leading axes and all slices. nsgt loops in Python
  over slices and rows (grrrr/nsgt:nsgt/nsgtf_loop.py, nsigtf_loop.py; its compiled loops are never
  built, design §2.11): 3.7 s for forward + backward of 30 s of stereo, against 0.1-0.15 s here in
  float32 (0.45 s in float64), so the arithmetic is rewritten; why each step equals nsgt's is said at
  the step. float32 input is computed in float32 throughout (scipy.fft on every core: ``workers=-1``).
* ``reference_forward`` / ``reference_backward``: nsgt's own generators, regrouped into the same
  layout; slow, used by tests to prove the fast path.

Only 44100 Hz: the original raises for any other rate (transforms.py make_filterbanks); callers
resample first.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import scipy.sparse

from common import nsgt_support
from common.nsgt_support import BarkScale
from nsgt import NSGT_sliced
from nsgt.slicing import makewnd

from . import params

nsgt_support.apply_clip_shim()  # nsgt 0.19's np.clip under numpy >= 1.25 (design §2.11)


class SliCQTError(ValueError):
    """A user-facing problem with the transform's input (one line, names the fix)."""


def make_nsgt(multichannel: bool = True) -> NSGT_sliced:
    """nsgt 0.19's object with v1's settings (transforms.py NSGTBase / NSGT_SL; design §2.1-2.3).

    min_win=16 and Qvar=1 are NSGT_sliced's defaults, which v1 keeps; recwnd=False (no synthesis
    window in unslicing), reducedform=0 (DC and Nyquist rows kept), matrixform=False (ragged M).
    """
    scale = BarkScale(params.FMIN, params.FMAX, params.FBINS)
    return NSGT_sliced(scale, params.SLLEN, params.TRLEN, params.SAMPLE_RATE, real=True,
                       recwnd=False, matrixform=False, reducedform=0, multichannel=multichannel)


def blocks_of(m_rows: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    """Maximal runs of equal M over the rows: ((first_row, nf, M), ...) (transforms.py NSGT_SL, design §2.6)."""
    out, start = [], 0
    for k in range(1, len(m_rows) + 1):
        if k == len(m_rows) or m_rows[k] != m_rows[start]:
            out.append((start, k - start, int(m_rows[start])))
            start = k
    return tuple(out)


def _check_rate(sample_rate: int) -> None:
    if int(sample_rate) != params.SAMPLE_RATE:
        raise SliCQTError(
            f"xumx_slicq/transform.py: the sliCQT of xumx-sliCQ v1 is defined at {params.SAMPLE_RATE} Hz "
            f"only, got {sample_rate} Hz; resample the audio to {params.SAMPLE_RATE} Hz first")


class SliCQT:
    """v1's sliCQT, vectorised. Build once (``get_slicqt``); ``forward``/``backward``/``n_slices``."""

    def __init__(self, sample_rate: int = params.SAMPLE_RATE):
        _check_rate(sample_rate)
        nsgt = make_nsgt()
        self.sllen, self.trlen = nsgt.sl_len, nsgt.tr_area
        self.hhop = self.sllen // 4                        # quarter-block (slicing.py hhop)
        self.nn = int(nsgt.nn)                              # FFT length of a slice (== sllen)
        n_rows = len(nsgt.g) // 2 + 1                       # real=True, reducedform=0: 263 rows
        m_rows = np.asarray(nsgt.M[:n_rows], dtype=np.int64)
        self.m_rows = m_rows
        # Row centre frequencies: DC, the scale frequencies nsgfwin keeps (0 < f < fs/2), Nyquist.
        frqs = np.asarray(nsgt.frqs, dtype=np.float64)
        nyq = params.SAMPLE_RATE / 2
        self.row_freqs_hz = np.concatenate(([0.0], frqs[(frqs > 0) & (frqs < nyq)], [nyq]))
        self.blocks = blocks_of(m_rows)
        if n_rows != params.N_ROWS or self.blocks != params.BLOCKS or self.nn != self.sllen:
            raise AssertionError("nsgt's frame does not give v1's 263 rows / 70 blocks (params.BLOCKS)")
        half = self.nn // 2
        self.n_bins = half + 1                              # rfft bins of a slice

        # --- per-coefficient tables in the concatenated layout: block b's nf*M values at offset[b].
        # nsgtf_loop (Lg == M for every row here, so col == 1 and there is no gap): the buffer is
        # buf[:ceil(M/2)] = g[:ceil(M/2)] * ft[win[M//2:]], buf[ceil(M/2):] = g[ceil(M/2):] * ft[win[:M//2]],
        # i.e. buf[p] = g[p] * ft[win[(p + M//2) % M]]. nsigtf_loop scatters the same positions back:
        # fr[win[(p + M//2) % M]] += gd[p] * M * fft(c)[p].
        idx, g_w, gd_w = [], [], []
        for k in range(n_rows):
            g, gd, win, m = nsgt.g[k], nsgt.gd[k], np.asarray(nsgt.wins[k]), int(m_rows[k])
            if len(g) != m or len(gd) != m:
                raise AssertionError(f"row {k}: window length {len(g)} != M {m}")
            p = np.arange(m)
            idx.append(win[(p + m // 2) % m])
            g_w.append(g)
            gd_w.append(gd * m)
        idx = np.concatenate(idx)
        g_w = np.concatenate(g_w)
        gd_w = np.concatenate(gd_w)
        self.n_coefs = len(idx)
        if self.n_coefs != params.COEFS_PER_SLICE:
            raise AssertionError(f"{self.n_coefs} coefficients per slice, expected {params.COEFS_PER_SLICE}")
        self.offsets = np.concatenate(([0], np.cumsum([nf * m for _, nf, m in self.blocks])))

        # Forward gather from the rfft: nsgt uses the full complex FFT of the real slice; an index
        # i > nn/2 there is conj(rfft[nn - i]) (only the DC and Nyquist windows reach there).
        neg = idx > half
        self._f_idx = np.where(neg, self.nn - idx, idx)
        w2 = np.stack([g_w, np.where(neg, -g_w, g_w)], axis=-1)   # multiplies (re, im); im sign = conj
        self._f_w = {np.float64: w2, np.float32: w2.astype(np.float32)}

        # Backward scatter: irfft reads fr[0..nn/2] only (nsigtf.py ``fr[:nn//2+1]``), so keep the
        # positions landing there. nsgt also overlap-adds the 261 mirrored windows (``symm``/
        # ``fftsymm``, rows 263..523); none of them reaches [0, nn/2] for this frame (design §2.11:
        # "no mirrored window reaches into (0, fs/2)"), checked here, so they contribute nothing.
        for k in range(n_rows, len(nsgt.wins)):
            if np.any(np.asarray(nsgt.wins[k]) <= half):
                raise AssertionError(f"mirrored window {k} reaches the positive spectrum; not supported")
        # The scatter-add is a sparse (18640 x 9031) matrix with one weight gd[p] * M per kept position
        # (rows overlap their neighbours in fr, so fr is a sum; a sparse product does it in one call).
        pos = np.flatnonzero(~neg & (idx <= half))
        self._b_mat = {
            cdt: scipy.sparse.csr_matrix((gd_w[pos].astype(cdt), (pos, idx[pos])),
                                         shape=(self.n_coefs, self.n_bins))
            for cdt in (np.complex64, np.complex128)}

        # Slicing window (slicing.py makewnd), split in its 4 quarters.
        self._tw = {np.float64: makewnd(self.sllen, self.trlen).reshape(4, self.hhop)}
        self._tw[np.float32] = self._tw[np.float64].astype(np.float32)

    # --- shapes -----------------------------------------------------------------------------------

    def n_slices(self, length: int) -> int:
        """S for ``length`` samples: 2 leading + ceil(L/hhop) + 3 trailing quarter-blocks, a slice every 2."""
        if length < 1:
            raise SliCQTError(f"xumx_slicq/transform.py: the signal must have at least 1 sample, got {length}")
        n_q = -(-int(length) // self.hhop)
        return (n_q + 1) // 2 + 1

    def block_shapes(self, length: int) -> list[tuple[int, int, int]]:
        """[(nf_b, S, M_b)] for a signal of ``length`` samples."""
        s = self.n_slices(length)
        return [(nf, s, m) for _, nf, m in self.blocks]

    # --- forward ----------------------------------------------------------------------------------

    def _slices(self, x: np.ndarray) -> np.ndarray:
        """(P, L) real -> (P, S, sllen) windowed and rotated slices (grrrr/nsgt:nsgt/slicing.py)."""
        n_p, length = x.shape
        s = self.n_slices(length)
        n_q = -(-length // self.hhop)
        # reblock(fulllast=True, padding=0) + 2 zero quarter-blocks in front and 3 behind
        q = np.zeros((n_p, n_q + 5, self.hhop), dtype=x.dtype)
        q.reshape(n_p, -1)[:, 2 * self.hhop: 2 * self.hhop + length] = x
        # Slice j holds quarter-blocks 2j..2j+3, each times its quarter of the window, written at
        # quarter (i + 3 - 2*(j % 2)) % 4: rotated left by one quarter (even j) or right by one (odd j).
        j = np.arange(s)[:, None]
        src = np.where(j % 2 == 0, [1, 2, 3, 0], [3, 0, 1, 2])   # which block i lands in quarter 0..3
        tw = self._tw[x.dtype.type]
        out = q[:, 2 * j + src]                                  # (P, S, 4, hhop)
        out *= tw[src]
        return out.reshape(n_p, s, self.sllen)

    def forward(self, x) -> list[np.ndarray]:
        """x (..., L) real -> 70 blocks (..., nf_b, S, M_b), complex64 for float32 x, else complex128."""
        x = np.asarray(x)
        if np.iscomplexobj(x):
            raise SliCQTError("xumx_slicq/transform.py: the sliCQT takes a real signal; pass the real audio")
        rdt = np.float32 if x.dtype == np.float32 else np.float64
        x = x.astype(rdt, copy=False)
        if x.ndim == 0 or x.shape[-1] < 1:
            raise SliCQTError(f"xumx_slicq/transform.py: expected audio shaped (..., samples), got {x.shape}")
        lead = x.shape[:-1]
        xs = self._slices(x.reshape(-1, x.shape[-1]))            # (P, S, sllen)
        n_p, s = xs.shape[:2]
        spec = scipy.fft.rfft(xs, axis=-1, workers=-1)           # (P, S, nn/2+1)
        coef = np.take(spec, self._f_idx, axis=-1)               # (P, S, 18640)
        coef.view(rdt).reshape(n_p, s, self.n_coefs, 2)[...] *= self._f_w[rdt]
        out = []
        for b, (_, nf, m) in enumerate(self.blocks):
            buf = coef[..., self.offsets[b]: self.offsets[b + 1]].reshape(n_p, s, nf, m)
            # 1/M normalisation, as numpy's ifft
            y = scipy.fft.ifft(buf, axis=-1, overwrite_x=True, workers=-1)
            # arrange (nsgt/slicq.py, fwd=True): even slices rolled left by 3M/4, odd ones by M/4
            blk = np.empty((n_p, nf, s, m), dtype=y.dtype)
            bt = blk.swapaxes(1, 2)
            for par, r in ((0, 3 * m // 4), (1, m // 4)):
                bt[:, par::2, :, : m - r] = y[:, par::2, :, r:]
                bt[:, par::2, :, m - r:] = y[:, par::2, :, :r]
            out.append(blk.reshape(lead + (nf, s, m)))
        return out

    # --- backward ---------------------------------------------------------------------------------

    def backward(self, blocks, length: int) -> np.ndarray:
        """70 blocks (..., nf_b, S, M_b) complex -> (..., length) real (nsgt 0.19's inverse, design §2.10)."""
        blocks = [np.asarray(b) for b in blocks]
        if len(blocks) != len(self.blocks):
            raise SliCQTError(f"xumx_slicq/transform.py: expected {len(self.blocks)} blocks, got {len(blocks)}")
        single = all(b.dtype in (np.complex64, np.float32) for b in blocks)
        cdt, rdt = (np.complex64, np.float32) if single else (np.complex128, np.float64)
        lead = blocks[0].shape[:-3]
        s = blocks[0].shape[-2]
        for b, (blk, (_, nf, m)) in enumerate(zip(blocks, self.blocks)):
            if blk.shape != lead + (nf, s, m):
                raise SliCQTError(f"xumx_slicq/transform.py: block {b} has shape {blk.shape}, expected "
                                  f"{lead + (nf, s, m)}; pass the 70 blocks of forward() unchanged in shape")
        length = int(length)
        if not 1 <= length <= 2 * s * self.hhop:
            raise SliCQTError(f"xumx_slicq/transform.py: length {length} does not fit {s} slices "
                              f"(at most {2 * s * self.hhop} samples); pass the forward input's length")
        n_p = int(np.prod(lead, dtype=np.int64))
        coef = np.empty((n_p, s, self.n_coefs), dtype=cdt)
        for b, (blk, (_, nf, m)) in enumerate(zip(blocks, self.blocks)):
            src = blk.astype(cdt, copy=False).reshape(n_p, nf, s, m).swapaxes(1, 2)
            dst = coef[..., self.offsets[b]: self.offsets[b + 1]].reshape(n_p, s, nf, m)
            # arrange (fwd=False) undoes the forward rolls: even slices rolled left by M/4, odd by 3M/4
            for par, r in ((0, m // 4), (1, 3 * m // 4)):
                dst[:, par::2, :, : m - r] = src[:, par::2, :, r:]
                dst[:, par::2, :, m - r:] = src[:, par::2, :, :r]
            dst[...] = scipy.fft.fft(dst, axis=-1, workers=-1)
        fr = coef.reshape(n_p * s, self.n_coefs) @ self._b_mat[cdt]   # (P*S, nn/2+1): nsigtf_loop
        sl = scipy.fft.irfft(fr, n=self.nn, axis=-1, workers=-1).reshape(n_p, s, 4, self.hhop)
        # unslicing (recwnd=False): slice j's quarter holding quarter-block 2j+i is (i+3)%4 (even j)
        # or (i+1)%4 (odd j); quarter-blocks are summed, the first two (front padding) are dropped.
        j = np.arange(s)[:, None]
        quad = np.where(j % 2 == 0, [3, 0, 1, 2], [1, 2, 3, 0])
        q = sl[:, j, quad]                                      # (P, S, 4, hhop): block 2j+i at [:, j, i]
        out = q[:, :, 2:].copy()                                 # blocks 2j+2, 2j+3
        out[:, :-1] += q[:, 1:, :2]
        out = out.reshape(n_p, -1)[:, :length]
        return np.ascontiguousarray(out, dtype=rdt).reshape(lead + (length,))


@functools.lru_cache(maxsize=1)
def get_slicqt() -> SliCQT:
    """The one ``SliCQT`` of the process (its tables take ~0.1 s to build)."""
    return SliCQT()


# --- nsgt 0.19's own loops, regrouped (tests only) --------------------------------------------------

@functools.lru_cache(maxsize=1)
def _reference_nsgt() -> NSGT_sliced:
    return make_nsgt(multichannel=True)


def reference_forward(x) -> list[np.ndarray]:
    """nsgt 0.19's ``NSGT_sliced.forward`` of x (..., L), regrouped: 70 blocks (..., nf, S, M) complex128."""
    x = np.asarray(x, dtype=np.float64)
    lead = x.shape[:-1]
    nsgt = _reference_nsgt()
    slices = list(nsgt.forward([x.reshape(-1, x.shape[-1])]))  # S x [channel][row] -> (M,) arrays
    out = []
    for first, nf, m in blocks_of(np.asarray(nsgt.M[: len(nsgt.g) // 2 + 1])):
        blk = np.array([[[sl[c][first + f] for sl in slices] for f in range(nf)]
                        for c in range(len(slices[0]))], dtype=np.complex128)
        out.append(blk.reshape(lead + blk.shape[1:]))
    return out


def reference_backward(blocks, length: int) -> np.ndarray:
    """nsgt 0.19's ``NSGT_sliced.backward`` of 70 blocks (..., nf, S, M): (..., length) float64.

    nsgt yields quarter-blocks (channels, sllen/4) after dropping the first two; they are concatenated
    and cropped to ``length`` (what v1's INSGT_SL does).
    """
    blocks = [np.asarray(b, dtype=np.complex128) for b in blocks]
    lead, s = blocks[0].shape[:-3], blocks[0].shape[-2]
    flat = [b.reshape((-1,) + b.shape[-3:]) for b in blocks]
    n_ch = flat[0].shape[0]
    cseq = [[[row for blk in flat for row in blk[c, :, j]] for c in range(n_ch)] for j in range(s)]
    pieces = list(_reference_nsgt().backward(cseq))
    sig = np.concatenate(pieces, axis=-1)[:, :length]
    return sig.reshape(lead + (length,))
