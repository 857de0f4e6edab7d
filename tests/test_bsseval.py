"""common.bsseval: the fast BSS Eval v3 against mir_eval, analytic SI metrics, GNSDR, BSSv4, files."""
from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from common.bsseval import (BSSEvalError, bss_eval_sources, bss_eval_v4, framewise_median,
                            global_weighted, global_weighted_stderr, markdown_table, median_difference_stderr, nsdr,
                            si_bss_eval, sisec_median,
                            write_csv, write_json)

TOLERANCE_DB = 0.01
METRICS_V3 = ("SDR", "SIR", "SAR")


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas():
    """One BLAS thread: on a small shared machine, OpenBLAS threads oversubscribe the cores and
    mir_eval's 1024x1024 solves become ~4x slower (measured: this file 55 s -> 14 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # librosa -> scikit-learn normally brings it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _both_backends(references, estimates, compute_permutation=False):
    fast = bss_eval_sources(references, estimates, compute_permutation=compute_permutation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the mir_eval backend must silence its deprecation itself
        slow = bss_eval_sources(references, estimates, backend="mir_eval",
                                compute_permutation=compute_permutation)
    return fast, slow


def _max_difference(fast, slow) -> float:
    """Largest |fast - slow| over SDR/SIR/SAR; equal infinities (one source: SIR) count as 0."""
    worst = 0.0
    for key in METRICS_V3:
        both_inf = np.isinf(fast[key]) & (fast[key] == slow[key])
        with np.errstate(invalid="ignore"):                  # inf - inf
            difference = np.where(both_inf, 0.0, np.abs(fast[key] - slow[key]))
        worst = max(worst, float(np.max(difference)))
    return worst


def _imperfect_estimates(references: np.ndarray, rng, leak=0.3, noise=0.05) -> np.ndarray:
    """Each estimate = its reference, filtered, + some of the other sources + white noise."""
    n_src = references.shape[0]
    estimates = np.empty_like(references)
    for j in range(n_src):
        others = references.sum(axis=0) - references[j]
        filtered = lfilter([1.0, -0.4, 0.1], [1.0], references[j])
        scale = np.sqrt(np.mean(references[j] ** 2))
        estimates[j] = (filtered + leak * lfilter([0.5, 0.5], [1.0], others)
                        + noise * scale * rng.standard_normal(references.shape[1]))
    return estimates


# ---------------------------------------------------------------- BSS Eval v3: fast vs mir_eval

def _synthetic_sources(rng, n_src, n_samples):
    """Coloured noises with different spectra, as stand-ins for instruments."""
    sources = rng.standard_normal((n_src, n_samples))
    for j in range(n_src):
        sources[j] = lfilter([1.0], [1.0, -0.9 + 0.5 * j], sources[j])
    return sources


@pytest.mark.parametrize("n_samples, batch", [(300, 64), (40000, 64), (40000, 1)])
def test_block_correlations_equal_direct_correlations(n_samples, batch, monkeypatch):
    """The block-wise FFT correlations of the fast path are the exact linear correlations."""
    from common import bsseval_fast

    monkeypatch.setattr(bsseval_fast, "BLOCKS_PER_BATCH", batch)
    rng = np.random.default_rng(n_samples)
    x, y = rng.standard_normal((2, n_samples)), rng.standard_normal((3, n_samples))
    lags = bsseval_fast.lagged_correlations(x, y, 511)                 # (2, 3, 1023)
    assert lags.shape == (2, 3, 1023)
    for i in range(2):
        for k in range(3):
            full = np.correlate(x[i], y[k], mode="full")             # lag l at n_samples - 1 + l
            padded = np.concatenate([np.zeros(511), full, np.zeros(511)])
            expected = padded[n_samples - 1:n_samples - 1 + 1023]
            np.testing.assert_allclose(lags[i, k], expected, atol=1e-9 * np.sqrt(n_samples))


@pytest.mark.parametrize("n_src, permute", [(2, False), (2, True), (3, True), (1, False)])
def test_fast_matches_mir_eval_on_synthetic_signals(n_src, permute):
    rng = np.random.default_rng(10 + n_src)
    references = _synthetic_sources(rng, n_src, 16000 * 2)
    estimates = _imperfect_estimates(references, rng)
    if permute:  # estimates in reverse order: the permutation search must undo it
        estimates = estimates[::-1].copy()
    fast, slow = _both_backends(references, estimates, compute_permutation=permute)
    assert _max_difference(fast, slow) < TOLERANCE_DB
    np.testing.assert_array_equal(fast["perm"], slow["perm"])
    expected_perm = np.arange(n_src)[::-1] if permute else np.arange(n_src)
    np.testing.assert_array_equal(fast["perm"], expected_perm)
    if n_src == 1:
        assert np.isinf(fast["SIR"][0]) and np.isinf(slow["SIR"][0])


def test_v3_known_value_for_filtered_target_plus_noise():
    """estimate = FIR-filtered reference + white noise: SDR = filtered energy / noise energy.

    The 512-tap projection fits a fraction ~n_src*512/samples of the noise, so the analytic
    value holds to ~0.1 dB here; the filter itself costs nothing (SDR allows a distortion filter).
    """
    rng = np.random.default_rng(2)
    n = 16000 * 4
    references = _synthetic_sources(rng, 2, n)
    target = lfilter([1.0, 0.5, -0.25], [1.0], references[0])
    noise = rng.standard_normal(n)
    noise *= np.sqrt(np.sum(target ** 2) / np.sum(noise ** 2) / 10.0)  # exactly 10 dB
    estimates = np.stack([target + noise, references[1] + 0.01 * rng.standard_normal(n)])
    scores = bss_eval_sources(references, estimates)
    assert scores["SDR"][0] == pytest.approx(10.0, abs=0.1)
    assert scores["SAR"][0] == pytest.approx(10.0, abs=0.1)
    assert scores["SIR"][0] > 30.0  # no interference was added


def test_fast_matches_mir_eval_on_mir1k_clips(mir1k_root):
    clips = sorted((mir1k_root / "test").glob("*.flac"))[::16][:9]
    clips += sorted((mir1k_root / "dev").glob("*.flac"))[:1]
    assert len(clips) == 10
    rng = np.random.default_rng(0)
    worst = 0.0
    for index, clip in enumerate(clips):
        audio, rate = sf.read(clip, dtype="float64")
        assert rate == 16000 and audio.shape[1] == 2
        references = audio[: 3 * rate].T.copy()          # (2, 3 s): left accompaniment, right voice
        estimates = _imperfect_estimates(references, rng, leak=0.1 + 0.05 * (index % 4))
        permute = index % 5 == 0                          # 2 clips: with the permutation search
        if permute:
            estimates = estimates[::-1].copy()
        fast, slow = _both_backends(references, estimates, compute_permutation=permute)
        np.testing.assert_array_equal(fast["perm"], slow["perm"])
        worst = max(worst, _max_difference(fast, slow))
        assert np.all(np.isfinite(fast["SDR"]))
    assert worst < TOLERANCE_DB


def test_v3_rejects_bad_input_with_clear_messages():
    rng = np.random.default_rng(0)
    references = rng.standard_normal((2, 1000))
    estimates = references + 0.1 * rng.standard_normal((2, 1000))
    silent = references.copy()
    silent[1] = 0.0
    for backend in ("fast", "mir_eval"):
        with pytest.raises(BSSEvalError, match=r"song\.wav: reference source 1 is silent"):
            bss_eval_sources(silent, estimates, backend=backend, label="song.wav")
    with pytest.raises(BSSEvalError, match="estimate source 1 is silent"):
        bss_eval_sources(references, silent)
    with pytest.raises(BSSEvalError, match=r"shape \(2, 1000\) but estimates \(2, 999\)"):
        bss_eval_sources(references, estimates[:, :999])
    with pytest.raises(BSSEvalError, match="NaN or Inf"):
        bss_eval_sources(references, np.where(estimates > 2.5, np.nan, estimates))
    with pytest.raises(BSSEvalError, match="unknown BSS Eval backend"):
        bss_eval_sources(references, estimates, backend="museval")


# ---------------------------------------------------------------- NSDR and Huang's global means

def test_nsdr_and_length_weighted_gnsdr_on_two_clips():
    # clip A: 16000 samples, SDR 8 dB for the estimate, 2 dB for the mixture -> NSDR 6
    # clip B: 48000 samples, SDR 5 dB for the estimate, 4 dB for the mixture -> NSDR 1
    nsdr_values = nsdr([8.0, 5.0], [2.0, 4.0])
    np.testing.assert_allclose(nsdr_values, [6.0, 1.0])
    # weighted by length: (16000 * 6 + 48000 * 1) / 64000 = 2.25 (the plain mean would be 3.5)
    assert global_weighted(nsdr_values, [16000, 48000]) == pytest.approx(2.25, abs=1e-12)
    assert global_weighted([10.0, 20.0], [1, 1]) == pytest.approx(15.0)
    with pytest.raises(BSSEvalError, match="one length per value"):
        global_weighted([1.0, 2.0], [100])


def test_standard_error_of_the_length_weighted_mean_by_hand():
    # G = 2.25; z = len * (x - G) / mean(len) = [16000 * 3.75, 48000 * -1.25] / 32000 = [1.875, -1.875]
    # var(z, ddof=1) = 2 * 1.875^2 = 7.03125; SE = sqrt(7.03125 / 2) = 1.875
    assert global_weighted_stderr([6.0, 1.0], [16000, 48000]) == pytest.approx(1.875, abs=1e-12)
    # 2 of 4 clips: finite-population factor 1 - 2/4
    assert global_weighted_stderr([6.0, 1.0], [16000, 48000], population=4) == pytest.approx(
        np.sqrt(0.5 * 7.03125 / 2), abs=1e-12)
    assert global_weighted_stderr([6.0, 1.0], [16000, 48000], population=2) == 0.0   # the whole set
    # equal lengths: the textbook standard error of a mean
    values = [3.0, 7.0, 8.0, 10.0, 2.0]
    assert global_weighted_stderr(values, [5] * 5) == pytest.approx(np.std(values, ddof=1) / np.sqrt(5))
    assert np.isnan(global_weighted_stderr([4.0], [100]))
    with pytest.raises(BSSEvalError, match="population 1 is smaller"):
        global_weighted_stderr([6.0, 1.0], [10, 20], population=1)


def test_bootstrap_standard_error_of_a_difference_of_medians():
    rng = np.random.default_rng(5)
    a = rng.normal(size=400)
    # a constant offset between the pairs: every resample gives the same difference
    assert median_difference_stderr(a + 2.0, a) == pytest.approx(0.0, abs=1e-12)
    # against zeros: the standard error of a normal sample's median, sqrt(pi / 2) / sqrt(n) = 0.0627
    assert median_difference_stderr(a, np.zeros(400)) == pytest.approx(np.sqrt(np.pi / 2 / 400), rel=0.15)
    # n of N = 2n clips: the same draws scaled by sqrt(1 - 1/2); the whole set: 0
    assert median_difference_stderr(a, np.zeros(400), population=800) == pytest.approx(
        np.sqrt(0.5) * median_difference_stderr(a, np.zeros(400)), rel=1e-12)
    assert median_difference_stderr(a, np.zeros(400), population=400) == 0.0
    b = a.copy()
    b[0] = np.nan                                                  # NaN rows dropped, not propagated
    assert np.isfinite(median_difference_stderr(a, b))
    assert np.isnan(median_difference_stderr([1.0], [0.0]))
    with pytest.raises(BSSEvalError, match="paired"):
        median_difference_stderr([1.0, 2.0], [1.0])


def test_standard_error_matches_the_spread_of_random_subsets():
    """165 clips drawn from 825 without replacement, 4000 times: the spread of the subset's
    length-weighted mean equals the formula's standard error (within 8 %)."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(64000, 200000, 825)
    values = 12.0 + 5.0 * rng.standard_normal(825) + 2e-5 * lengths   # metric correlated with length
    draws = [rng.choice(825, 165, replace=False) for _ in range(4000)]
    spread = np.std([global_weighted(values[i], lengths[i]) for i in draws])
    predicted = np.mean([global_weighted_stderr(values[i], lengths[i], population=825) for i in draws[:200]])
    assert predicted == pytest.approx(spread, rel=0.08)
    uncorrected = np.mean([global_weighted_stderr(values[i], lengths[i]) for i in draws[:200]])
    assert uncorrected > 1.05 * spread        # the finite-population factor sqrt(1 - 165/825) matters


def test_gnsdr_from_scored_clips():
    """The whole chain on two synthetic clips of different lengths (v3 SDR of voice and mix)."""
    rng = np.random.default_rng(5)
    gnsdr_terms, lengths = [], []
    for n in (8000, 24000):
        references = _synthetic_sources(rng, 2, n)           # [music, voice]
        mixture = references.sum(axis=0)
        voice_estimate = references[1] + 0.1 * references[0] + 0.01 * rng.standard_normal(n)
        sdr_estimate = bss_eval_sources(references[1:], voice_estimate[None])["SDR"][0]
        sdr_mixture = bss_eval_sources(references[1:], mixture[None])["SDR"][0]
        gnsdr_terms.append(float(nsdr(sdr_estimate, sdr_mixture)))
        lengths.append(n)
    expected = (gnsdr_terms[0] * 8000 + gnsdr_terms[1] * 24000) / 32000
    assert global_weighted(gnsdr_terms, lengths) == pytest.approx(expected, abs=1e-12)
    assert all(term > 10 for term in gnsdr_terms)  # 20 dB better than the ~0 dB mixture


# ---------------------------------------------------------------- SI-SDR / SI-SIR / SI-SAR

def _orthonormal_zero_mean(rng, count, n):
    """`count` orthonormal, zero-mean vectors of length n."""
    basis = rng.standard_normal((n, count + 1))
    basis[:, 0] = 1.0                                      # the constant vector, projected out
    q, _ = np.linalg.qr(basis)
    return q[:, 1:].T


def test_si_metrics_equal_analytic_values():
    rng = np.random.default_rng(7)
    n = 4000
    s1, s2, artefact = _orthonormal_zero_mean(rng, 3, n) * np.sqrt(n)   # unit power each
    # estimate of source 0 = 2 s1 (scaled target) + interference 0.1 s2 + artefact 0.2 a + DC
    estimate0 = 2.0 * s1 + 0.1 * s2 + 0.2 * artefact + 0.7
    estimate1 = 0.5 * s2 + 0.05 * artefact                              # pure artefact, no interferer
    scores = si_bss_eval(np.stack([s1, s2]), np.stack([estimate0, estimate1]))
    assert scores["SI-SDR"].shape == (2, 1)
    target, interference, artefacts = 4.0 * n, 0.01 * n, 0.04 * n        # energies
    assert scores["SI-SDR"][0, 0] == pytest.approx(10 * np.log10(target / (interference + artefacts)))
    assert scores["SI-SIR"][0, 0] == pytest.approx(10 * np.log10(target / interference))
    assert scores["SI-SAR"][0, 0] == pytest.approx(10 * np.log10(target / artefacts))
    # scale-dependent: error = s1 + 0.1 s2 + 0.2 a (the DC is removed first)
    snr = 10 * np.log10(1.0 / (1.0 + 0.01 + 0.04))
    assert scores["SNR"][0, 0] == pytest.approx(snr)
    assert scores["SD-SDR"][0, 0] == pytest.approx(snr + 20 * np.log10(2.0))
    assert scores["SI-SDR"][1, 0] == pytest.approx(10 * np.log10(0.25 / 0.0025))  # 20 dB
    assert scores["SI-SAR"][1, 0] == pytest.approx(20.0)
    assert scores["SI-SIR"][1, 0] > 200                   # no interference at all
    # identity: 10^(-SDR/10) = 10^(-SIR/10) + 10^(-SAR/10)
    lhs = 10 ** (-scores["SI-SDR"][0, 0] / 10)
    rhs = 10 ** (-scores["SI-SIR"][0, 0] / 10) + 10 ** (-scores["SI-SAR"][0, 0] / 10)
    assert lhs == pytest.approx(rhs)
    # mixture baseline = sum of references; its SI-SDR against s1 is 0 dB (equal powers)
    assert scores["MIX-SI-SDR"][0, 0] == pytest.approx(0.0, abs=1e-9)
    assert scores["SI-SDRi"][0, 0] == pytest.approx(scores["SI-SDR"][0, 0])


def test_si_metrics_per_channel_and_silent_reference():
    rng = np.random.default_rng(8)
    n = 3000
    left = _orthonormal_zero_mean(rng, 3, n)
    right = _orthonormal_zero_mean(rng, 3, n)
    references = np.stack([np.stack([left[0], right[0]]), np.stack([left[1], np.zeros(n)])])
    estimates = references + 0.1 * np.stack([np.stack([left[2], right[2]])] * 2)
    scores = si_bss_eval(references.astype(np.float32), estimates.astype(np.float32))
    assert scores["SI-SDR"].shape == (2, 2)
    # |e_target|^2 = 1, |artefact|^2 = 0.01 -> 20 dB, channel by channel (float32 input)
    np.testing.assert_allclose(scores["SI-SDR"][0], [20.0, 20.0], atol=1e-4)
    assert scores["SI-SDR"][1, 0] == pytest.approx(20.0, abs=1e-4)
    # source 1 is silent in the right channel: every metric there is NaN, nothing raises
    assert all(np.isnan(scores[key][1, 1]) for key in scores)
    assert np.isfinite(scores["SI-SIR"][0, 1])


# ---------------------------------------------------------------- BSSv4 (museval)

def test_bss_eval_v4_framewise_shape_and_known_sdr():
    pytest.importorskip("museval")
    rng = np.random.default_rng(9)
    rate, n = 8000, 36000                                   # 4.5 s -> 4 full 1 s windows
    references = rng.standard_normal((2, n, 2))
    references[1] = lfilter([1.0], [1.0, -0.8], references[1], axis=0)
    noise = rng.standard_normal((2, n, 2))
    # scale the noise window by window so each 1 s window has exactly SNR = 12 dB per source;
    # BSSv4 (images) SDR = |s|^2 / |estimate - s|^2 in each window whatever the filters are
    for start in range(0, n, rate):
        window = slice(start, start + rate)
        for j in range(2):
            gain = np.sqrt(np.sum(references[j, window] ** 2) / np.sum(noise[j, window] ** 2)
                           / 10 ** 1.2)
            noise[j, window] *= gain
    scores = bss_eval_v4(references, references + noise, rate)
    assert set(scores) == {"SDR", "ISR", "SIR", "SAR"}
    for key in scores:
        assert scores[key].shape == (2, 4)
    np.testing.assert_allclose(scores["SDR"], 12.0, atol=1e-6)
    assert np.all(scores["SIR"] > 20)                        # independent noise, no leakage
    medians = framewise_median(scores)
    np.testing.assert_allclose(medians["SDR"], [12.0, 12.0], atol=1e-6)


def test_bss_eval_v4_errors():
    rng = np.random.default_rng(1)
    references = rng.standard_normal((2, 8000, 1))
    with pytest.raises(BSSEvalError, match="at least two sources"):
        bss_eval_v4(references[:1], references[:1] + 0.1, 8000)
    silent = references.copy()
    silent[0] = 0
    with pytest.raises(BSSEvalError, match=r"t\.wav: reference source 0 is silent"):
        bss_eval_v4(silent, references, 8000, label="t.wav")


def test_sisec_median_skips_nan_and_inf_windows():
    track_a = {"SDR": np.array([[1.0, np.nan, 3.0, 5.0], [np.inf, 2.0, 2.0, 4.0]])}
    track_b = {"SDR": np.array([[7.0, 9.0, np.nan], [np.nan, np.nan, np.nan]])}
    np.testing.assert_allclose(framewise_median(track_a)["SDR"], [3.0, 2.0])
    # per-track medians: a -> [3, 2], b -> [8, NaN]; over tracks: [5.5, 2]
    np.testing.assert_allclose(sisec_median([track_a, track_b])["SDR"], [5.5, 2.0])
    # MiXiN's raw nanmedian keeps the infinite window: source 1 of track a -> median(inf,2,2,4) = 3
    np.testing.assert_allclose(framewise_median(track_a, inf_as_nan=False)["SDR"], [3.0, 3.0])


# ---------------------------------------------------------------- result files

def test_json_markdown_and_csv_outputs(tmp_path):
    result = {"track": "a", "SDR": np.array([1.23456, np.nan]), "perm": np.arange(2),
              "SIR": np.float32(np.inf), "nested": {"n": np.int64(3)}}
    path = write_json(tmp_path / "deep" / "a.json", result)
    assert json.loads(path.read_text()) == {"track": "a", "SDR": [1.23456, None], "perm": [0, 1],
                                            "SIR": None, "nested": {"n": 3}}
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]    # no temporary file left

    rows = [{"system": "oracle", "SDR": 10.456, "SIR": float("nan")},
            {"system": "mix|x", "SDR": -1.0}]
    table = markdown_table(rows, ["system", "SDR", "SIR"])
    assert table == ("| system | SDR | SIR |\n| --- | --- | --- |\n"
                     "| oracle | 10.46 | nan |\n| mix\\|x | -1.00 |  |\n")
    csv_path = write_csv(tmp_path / "t.csv", rows, ["system", "SDR", "SIR"])
    with open(csv_path, newline="") as handle:
        assert list(csv.reader(handle)) == [["system", "SDR", "SIR"], ["oracle", "10.4560", "nan"],
                                            ["mix|x", "-1.0000", ""]]
