"""A vectorised BSS Eval v3 ``bss_eval_sources`` that reproduces mir_eval's numbers, faster.

Why this exists: ``mir_eval.separation.bss_eval_sources`` (craffel/mir_eval:mir_eval/separation.py)
recomputes the FFTs of every reference for each (estimate, target) pair, builds its Gram matrices
with a power-of-two FFT of the whole signal per source pair, and filters the references in the time
domain to measure energies.  The obvious replacement, fast-bss-eval 0.1.4, fails under numpy 2
(its numpy backend calls ``np.linalg.solve`` with a right-hand side whose core dimensions numpy 2
no longer broadcasts), and patching a third-party package from the project side is more fragile
than the ~100 lines below, so the computation is written here.

What is computed is mir_eval's decomposition, step for step (flen = 512 taps):

* ``_project(refs, est, flen)``: least-squares projection of the estimate ``e`` on the span of the
  delayed references ``x_i(t - a)``, ``0 <= a < flen``: solve ``G c = d`` with the Gram matrix
  ``G[i*flen + a, j*flen + b] = <x_i(. - a), x_j(. - b)>`` and ``d[i*flen + a] = <x_i(. - a), e>``
  by ``np.linalg.solve`` (``np.linalg.lstsq`` when it reports a singular matrix, as mir_eval does).
* ``_bss_decomp_mtifilt``: ``P_j`` = projection on the target's delays only, ``P`` = projection on
  all references' delays; ``e_spat = P_j - s``, ``e_interf = P - P_j``, ``e_artif = e - P``.
* ``_bss_source_crit``: SDR = |P_j|^2 / |e - P_j|^2, SIR = |P_j|^2 / |P - P_j|^2,
  SAR = |P|^2 / |e - P|^2 (10 log10 of each; a zero denominator gives +inf).

What differs is only how the numbers are obtained:

* The correlations for lags ``-(flen-1) .. flen-1`` come from block-wise real FFTs: one pass over
  each signal, the cross-spectra summed over blocks, then one short inverse FFT.  Each block of
  the second signal is correlated with the matching block of the first one extended by
  ``flen - 1`` samples on both sides, so the result is the exact linear correlation
  (no wrap-around), as mir_eval's zero-padded full-length FFT gives.
* Every reference's and every estimate's spectrum is computed once and shared by all pairs; the
  Gram matrices are factorised once and solved for all estimates at the same time, by Cholesky
  (the Gram matrix is symmetric positive definite; ~3x fewer operations than mir_eval's LU),
  falling back to mir_eval's LU / least-squares path when Cholesky fails.  BLAS runs one thread
  in the solves (see BLAS_THREADS).
* Energies of the projections are evaluated as quadratic forms in the Gram matrix
  (``|sum_i x_i * c_i|^2 = c^T G c``) instead of filtering the signals, e.g.
  ``|e - P|^2 = |e|^2 - 2 c.d + c^T G c`` and ``|P - P_j|^2 = (c - c_j)^T G (c - c_j)``, which are
  the same quantities for the same filters ``c``.  A denominator that rounds to <= 0 (an
  estimate equal to its projection to machine precision) is reported as +inf, mir_eval's value for
  an exactly zero denominator.

Where the references' Gram matrix is numerically singular (e.g. references low-passed with no
noise floor at all, as pure synthetic signals can be), the filters are undetermined at rounding
level and mir_eval's own SDR moves by dBs when its inputs change by 1e-13 (measured); such a
case emits a RuntimeWarning, and agreement within 0.01 dB is only meaningful elsewhere.  Real
recordings (MIR-1K clips measured) are far from that regime.

Agreement with mir_eval is checked in tests/test_bsseval.py (synthetic and real MIR-1K clips) and
timed by ``python -m benchmarks.bsseval``.
"""
from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np
import scipy.fft
import scipy.linalg

# craffel/mir_eval:mir_eval/separation.py -- bss_eval_sources passes flen=512 to _bss_decomp_mtifilt
FILTER_LENGTH = 512

# Real-FFT size of one correlation block; each block advances by BLOCK_FFT - 2 * (flen - 1) samples.
BLOCK_FFT = 16384
# Blocks transformed at once: bounds the memory of the spectra (~ 16 MB per signal in flight).
BLOCKS_PER_BATCH = 64


def _segment(signals: np.ndarray, begin: int, end: int) -> np.ndarray:
    """signals[:, begin:end] with zeros where the range leaves [0, samples)."""
    out = np.zeros((signals.shape[0], end - begin))
    lo, hi = max(begin, 0), min(end, signals.shape[1])
    if hi > lo:
        out[:, lo - begin:hi - begin] = signals[:, lo:hi]
    return out


def lagged_correlations(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """Linear cross-correlations of every row of ``x`` with every row of ``y`` at small lags.

    x: (n, samples), y: (m, samples), float64.
    Returns r: (n, m, 2 * max_lag + 1) with ``r[i, k, max_lag + l] = sum_t x[i, t + l] * y[k, t]``
    for ``-max_lag <= l <= max_lag`` (samples outside the signals count as zero).
    Memory beyond the inputs is bounded by BLOCKS_PER_BATCH blocks, whatever the length.
    """
    n, n_samples = x.shape
    m = y.shape[0]
    fft_size = scipy.fft.next_fast_len(min(n_samples, BLOCK_FFT) + 2 * max_lag, real=True)
    hop = fft_size - 2 * max_lag
    n_blocks = -(-n_samples // hop)

    spectrum = np.zeros((n, m, fft_size // 2 + 1), dtype=np.complex128)
    for first in range(0, n_blocks, BLOCKS_PER_BATCH):
        count = min(BLOCKS_PER_BATCH, n_blocks - first)
        begin, end = first * hop, (first + count) * hop
        # block b of y: y[bh, (b+1)h); matching block of x extended by max_lag on both sides
        x_part = _segment(x, begin - max_lag, end + max_lag)
        x_blocks = np.lib.stride_tricks.sliding_window_view(x_part, fft_size, axis=1)[:, ::hop]
        y_blocks = _segment(y, begin, end).reshape(m, count, hop)
        x_spec = scipy.fft.rfft(x_blocks, n=fft_size, axis=-1)
        y_spec = np.conj(scipy.fft.rfft(y_blocks, n=fft_size, axis=-1))
        for i in range(n):
            # sum over blocks of X_i(f) conj(Y_k(f)), for all k at once
            spectrum[i] += np.einsum("bf,kbf->kf", x_spec[i], y_spec)
    # circular correlation index l (0..2*max_lag) holds linear lag l - max_lag: no wrap-around,
    # since a y block (hop samples) shifted by up to 2*max_lag stays inside fft_size
    return scipy.fft.irfft(spectrum, n=fft_size, axis=-1)[..., :2 * max_lag + 1]


def _gram_matrix(ref_corr: np.ndarray, flen: int) -> np.ndarray:
    """Gram matrix of the delayed references from their correlations.

    ref_corr: (n_src, n_src, 2 flen - 1) from lagged_correlations (lag l at index flen - 1 + l).
    Returns G: (n_src flen, n_src flen), G[i flen + a, j flen + b] = <x_i(. - a), x_j(. - b)>
    = r_ij[b - a]; block (i, j) is the Toeplitz matrix whose row a is r_ij[-a .. flen - 1 - a].
    """
    n_src = ref_corr.shape[0]
    gram = np.empty((n_src * flen, n_src * flen))
    for i in range(n_src):
        for j in range(n_src):
            # window s of the sliding view is r_ij[s - (flen-1) ...]; row a needs window flen-1-a
            windows = np.lib.stride_tricks.sliding_window_view(ref_corr[i, j], flen)
            gram[i * flen:(i + 1) * flen, j * flen:(j + 1) * flen] = windows[::-1]
    return gram


# BLAS threads used by the solves. The matrices are small (n_src * 512), so extra threads gain
# little on an idle machine, while on a busy one (or with several evaluations in parallel
# processes) OpenBLAS threads oversubscribe the cores: measured here on 2 shared cores, a
# 1024x1024 Cholesky took 0.02-0.05 s single-threaded and 0.09-3.6 s with 2 threads.
# None leaves the library default.
BLAS_THREADS: int | None = 1


_controller = None


def _blas_limit():
    """Context manager limiting BLAS threads to BLAS_THREADS (no-op without threadpoolctl)."""
    global _controller
    if BLAS_THREADS is None:
        return contextlib.nullcontext()
    if _controller is None:
        try:  # librosa -> scikit-learn brings threadpoolctl; scanning the libraries costs ~1 ms,
            from threadpoolctl import ThreadpoolController  # so it is done once
        except ImportError:
            return contextlib.nullcontext()
        _controller = ThreadpoolController()
    return _controller.limit(limits=BLAS_THREADS, user_api="blas")


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``gram @ c = rhs`` for the distortion filters.

    The Gram matrix is symmetric positive semi-definite, so a Cholesky factorisation (about 3x
    cheaper than the LU factorisation mir_eval's ``np.linalg.solve`` does, here the largest
    single cost) gives the same least-squares filters when it exists.  When it does not (a
    numerically rank-deficient Gram matrix), mir_eval's own path is taken: LU solve, then
    least squares if LAPACK reports a singular matrix.
    """
    try:
        factor = scipy.linalg.cho_factor(gram, check_finite=False)
        solution = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        if np.all(np.isfinite(solution)):
            return solution
    except np.linalg.LinAlgError:
        pass
    warnings.warn(
        "BSS Eval: the references' Gram matrix is numerically singular (band-limited references "
        "with no noise floor?); SDR/SIR/SAR then depend on rounding, in mir_eval as well, and two "
        "implementations may differ by more than 0.01 dB", RuntimeWarning, stacklevel=5)
    try:
        return np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(gram, rhs)[0]


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """10 log10(num / den), +inf where den <= 0 (mir_eval's _safe_db, see module docstring)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.inf)
    ok = den > 0
    with np.errstate(divide="ignore"):
        out[ok] = 10.0 * np.log10(np.broadcast_to(num, out.shape)[ok] / den[ok])
    return out


def pairwise_criteria(references: np.ndarray, estimates: np.ndarray,
                      flen: int = FILTER_LENGTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SDR, SIR, SAR of every estimate against every reference (mir_eval's pair loop).

    references, estimates: (n_src, samples) float64, already validated.
    Returns sdr, sir, sar: (n_est, n_ref), entry [k, j] = estimate k scored against reference j.
    """
    n_src = references.shape[0]
    n_est = estimates.shape[0]
    lag = flen - 1
    corr = lagged_correlations(references, np.concatenate([references, estimates]), lag)
    ref_corr = corr[:, :n_src]              # (n_src, n_src, 2 lag + 1)
    est_corr = corr[:, n_src:]              # (n_src, n_est, 2 lag + 1)

    gram = _gram_matrix(ref_corr, flen)
    # d_i[a] = <x_i(. - a), e_k> = r_{i,e_k}[-a]  -> (n_src flen, n_est)
    rhs_all = est_corr[:, :, lag - np.arange(flen)].transpose(0, 2, 1).reshape(n_src * flen, n_est)
    est_energy = np.sum(estimates ** 2, axis=1)                # (n_est,)

    def quadratic(u, g_u):                                     # column-wise u^T G u
        return np.einsum("ak,ak->k", u, g_u)

    with _blas_limit():
        # filters projecting every estimate on all references' delays ...
        c_all = _solve(gram, rhs_all)                          # (n_src flen, n_est)
        # ... and on the delays of reference j alone; and the interference filters
        # P - P_j = sum_i x_i * (c_all_i - [i == j] c_j)
        c_single, deltas = [], []
        for j in range(n_src):
            rows = slice(j * flen, (j + 1) * flen)
            c_j = _solve(gram[rows, rows], rhs_all[rows])      # (flen, n_est)
            delta = c_all.copy()
            delta[rows] -= c_j
            c_single.append(c_j)
            deltas.append(delta)
        # one pass over G for every quadratic form of the big system
        g_products = gram @ np.concatenate([c_all] + deltas, axis=1)

    p_all = quadratic(c_all, g_products[:, :n_est])            # |P|^2
    resid_all = est_energy - 2.0 * quadratic(c_all, rhs_all) + p_all      # |e - P|^2
    sdr = np.empty((n_est, n_src))
    sir = np.empty((n_est, n_src))
    sar = np.empty((n_est, n_src))
    for j in range(n_src):
        rows = slice(j * flen, (j + 1) * flen)
        c_j = c_single[j]
        p_j = quadratic(c_j, gram[rows, rows] @ c_j)           # |P_j|^2
        resid_j = est_energy - 2.0 * quadratic(c_j, rhs_all[rows]) + p_j  # |e - P_j|^2
        interf = quadratic(deltas[j], g_products[:, (j + 1) * n_est:(j + 2) * n_est])
        sdr[:, j] = _db(p_j, resid_j)
        sir[:, j] = _db(p_j, interf)
        sar[:, j] = _db(p_all, resid_all)
    return sdr, sir, sar


def bss_eval_sources_fast(references: np.ndarray, estimates: np.ndarray,
                          compute_permutation: bool = False, flen: int = FILTER_LENGTH):
    """mir_eval.separation.bss_eval_sources on validated float64 (n_src, samples) arrays.

    Returns (sdr, sir, sar, perm), each (n_src,), indexed by reference; estimate ``perm[j]``
    is matched with reference ``j``.
    """
    n_src = references.shape[0]
    if not compute_permutation:
        # only the diagonal pairs (estimate j vs reference j) are kept, as in mir_eval; the
        # off-diagonal ones cost little here (factorisations and spectra are shared)
        all_sdr, all_sir, all_sar = pairwise_criteria(references, estimates, flen)
        diag = np.arange(n_src)
        return all_sdr[diag, diag], all_sir[diag, diag], all_sar[diag, diag], diag
    all_sdr, all_sir, all_sar = pairwise_criteria(references, estimates, flen)
    # craffel/mir_eval:mir_eval/separation.py -- best ordering in the mean-SIR sense, first
    # permutation (itertools order) among ties; entry [perm[j], j] is kept for reference j
    perms = list(itertools.permutations(range(n_src)))
    targets = np.arange(n_src)
    mean_sir = np.array([np.mean(all_sir[list(p), targets]) for p in perms])
    best = perms[int(np.argmax(mean_sir))]
    idx = (list(best), targets)
    return all_sdr[idx], all_sir[idx], all_sar[idx], np.asarray(best)
