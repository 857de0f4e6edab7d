"""xumx-sliCQ: Wiener-EM, the Separator (both modes) against the original's outputs, edge cases, the CLI."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SHARED, _need
from xumx_slicq import params, wiener

RATE = params.SAMPLE_RATE
MUSDB_SAMPLE = SHARED / "data" / "musdb_sample" / "test"


@pytest.fixture(scope="module")
def musdb_sample_wav_tracks():
    """The two real MUSDB18-HQ test tracks of ../shared (6.8 s each)."""
    return sorted(p for p in _need(MUSDB_SAMPLE, "MUSDB sample tracks").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def musdb_wav_track(musdb_sample_wav_tracks):
    """'Music Delta - 80s Rock', the track of the reference clips."""
    return next(t for t in musdb_sample_wav_tracks if t.name == "Music Delta - 80s Rock")


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    err = np.sum((ref - est) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(np.sum(ref ** 2) / err))


# --- Wiener-EM on self-made data -----------------------------------------------------------------

def _em_by_hand(y: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """One EM iteration written bin by bin with numpy.linalg (an independent check of wiener.py)."""
    n_src, n_ch, n_f, n_t = y.shape
    out = np.zeros_like(y, dtype=np.complex128)
    v = np.mean(np.abs(y) ** 2, axis=1)                                     # (J, F, T)
    for f in range(n_f):
        r = [sum(np.outer(y[j, :, f, t], np.conj(y[j, :, f, t])) for t in range(n_t)) / (eps + v[j, f].sum())
             for j in range(n_src)]
        for t in range(n_t):
            cxx = np.sqrt(eps) * np.eye(n_ch) + sum(v[j, f, t] * r[j] for j in range(n_src))
            inv = np.linalg.inv(cxx)
            for j in range(n_src):
                out[j, :, f, t] = v[j, f, t] * r[j] @ inv @ x[:, f, t]
    return out


def _random_case(rng, n_src=4, n_ch=2, n_f=5, n_t=7, scale=1.0):
    x = (rng.standard_normal((n_ch, n_f, n_t)) + 1j * rng.standard_normal((n_ch, n_f, n_t))) * scale
    v = rng.uniform(0.1, 1.0, (n_src, n_ch, n_f, n_t)) * np.abs(x)[None]
    return v, x


def test_em_equals_a_bin_by_bin_computation():
    rng = np.random.default_rng(0)
    v, x = _random_case(rng)
    y0 = wiener.initial_estimates(v, x)
    # mixture phase, given magnitudes
    assert np.allclose(np.abs(y0), v) and np.allclose(np.angle(y0), np.angle(x)[None])
    ours = wiener.expectation_maximization(y0, x, 1, eps=1e-10)
    assert np.max(np.abs(ours - _em_by_hand(y0, x, 1e-10))) < 1e-9 * np.max(np.abs(x))
    # mono: the 1x1 case
    v1, x1 = _random_case(rng, n_ch=1)
    y1 = wiener.initial_estimates(v1, x1)
    assert np.max(np.abs(wiener.expectation_maximization(y1, x1, 1) - _em_by_hand(y1, x1, 1e-10))) < 1e-9


def test_wiener_scale_factor_and_sum_of_sources():
    rng = np.random.default_rng(1)
    v, x = _random_case(rng, n_f=6, n_t=40, scale=300.0)       # loud: max|X| / 10 > 1, so it is rescaled
    y = wiener.wiener(v, x, iterations=1)
    scale = max(1.0, np.abs(x).max() / 10)
    by_hand = _em_by_hand(wiener.initial_estimates(v, x) / scale, x / scale, 1e-10) * scale
    assert np.max(np.abs(y - by_hand)) < 1e-8 * np.abs(x).max()
    # the four Wiener outputs add up to the mixture (up to the sqrt(eps) regularisation)
    assert snr_db(np.abs(x), np.abs(y.sum(axis=0) - x) + np.abs(x)) > 0  # sanity of the helper
    assert 10 * np.log10(np.sum(np.abs(x) ** 2) / np.sum(np.abs(y.sum(axis=0) - x) ** 2)) > 100
    # residual adds a fifth source; iterations=0 returns the initial estimates
    assert wiener.wiener(v, x, iterations=1, residual=True).shape[0] == 5
    assert np.allclose(wiener.wiener(v, x, iterations=0), wiener.initial_estimates(v, x))
    # softmask initial estimates are ratio masks on the mixture
    ys = wiener.initial_estimates(v, x, softmask=True)
    assert np.allclose(ys.sum(axis=0), x, atol=1e-8)
    # one scale factor shared by segments: filtering two halves together equals the original's one matrix
    # only when both use the global peak, which wiener() takes over all segments
    v2, x2 = _random_case(rng, n_f=3, n_t=10, scale=3.0)
    joint = wiener.wiener([v, v2], [x, x2])
    glob = max(1.0, max(np.abs(x).max(), np.abs(x2).max()) / 10)
    alone = _em_by_hand(wiener.initial_estimates(v2, x2) / glob, x2 / glob, 1e-10) * glob
    assert np.max(np.abs(joint[1] - alone)) < 1e-9 * np.abs(x2).max()


def test_identical_channels_stay_finite():
    """A mono file duplicated to stereo makes every covariance singular; float32 cancellation must not
    turn the regularised determinant into 0 (NaN)."""
    rng = np.random.default_rng(7)
    v, x = _random_case(rng, n_ch=1, n_f=50, n_t=60, scale=50.0)
    x2, v2 = np.repeat(x, 2, axis=0).astype(np.complex64), np.repeat(v, 2, axis=1).astype(np.float32)
    y = wiener.wiener(v2, x2)
    assert np.all(np.isfinite(y)) and np.allclose(y[:, 0], y[:, 1], rtol=1e-4, atol=1e-4)
    assert 10 * np.log10(np.sum(np.abs(x2) ** 2) / np.sum(np.abs(y.sum(axis=0) - x2) ** 2)) > 60


def test_wiener_float32_stays_float32():
    rng = np.random.default_rng(2)
    v, x = _random_case(rng)
    y = wiener.wiener(v.astype(np.float32), x.astype(np.complex64))
    assert y.dtype == np.complex64
    ref = wiener.wiener(v, x)
    assert np.max(np.abs(y - ref)) < 1e-5 * np.abs(x).max()


# --- the Separator with a small random model ------------------------------------------------------

@pytest.fixture(scope="module")
def random_separator():
    from xumx_slicq.model import build_model
    from xumx_slicq.separate import Separator

    return Separator(build_model())


def test_separator_shapes_channels_and_short_inputs(random_separator):
    from xumx_slicq.separate import Separator

    rng = np.random.default_rng(3)
    stereo = (0.1 * rng.standard_normal((2, 20000))).astype(np.float32)
    out = random_separator(stereo)
    assert list(out) == list(params.TARGETS)
    assert all(o.shape == (2, 20000) and o.dtype == np.float32 and np.all(np.isfinite(o)) for o in out.values())
    # mono is duplicated to stereo (the networks mix the channels, so the two outputs differ)
    mono = random_separator(stereo[:1])
    dup = random_separator(np.repeat(stereo[:1], 2, axis=0))
    assert all(np.array_equal(mono[t], dup[t]) and mono[t].shape == (2, 20000) for t in params.TARGETS)
    # more than two channels: the first two are separated
    three = random_separator(np.concatenate([stereo, stereo[:1]]))
    assert all(np.array_equal(three[t], out[t]) for t in params.TARGETS)
    # shorter than the original can handle (<= 9030 samples crash it): padded, cropped back
    for n in (1, 500, 9030):
        short = random_separator(stereo[:, :n])
        assert all(o.shape == (2, n) and np.all(np.isfinite(o)) for o in short.values())
    # sliCQT mode and residual
    sl = Separator(random_separator.model, wiener="slicq", residual=True)(stereo)
    assert list(sl) == [*params.TARGETS, "residual"] and sl["vocals"].shape == (2, 20000)


def test_separator_sum_reconstructs_the_mixture(random_separator):
    from xumx_slicq.separate import Separator

    rng = np.random.default_rng(4)
    x = (0.1 * rng.standard_normal((2, 30000))).astype(np.float32)
    for sep in (random_separator, Separator(random_separator.model, wiener="slicq")):
        out = sep(x)
        assert snr_db(x, sum(out.values())) > 35, sep.wiener


def test_chunks_are_independent(random_separator):
    from xumx_slicq.separate import Separator

    rng = np.random.default_rng(5)
    x = (0.1 * rng.standard_normal((2, 25000))).astype(np.float32)
    chunked = Separator(random_separator.model, chunk_samples=15000)(x)
    first = random_separator(x[:, :15000])
    second = random_separator(x[:, 15000:])
    for t in params.TARGETS:
        assert np.allclose(chunked[t], np.concatenate([first[t], second[t]], axis=-1), atol=1e-6)


def test_cli_without_weights_is_one_line(tmp_path, capsys):
    from xumx_slicq.separate import main

    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros((20000, 2), np.float32), RATE)
    assert main([str(wav), "--outdir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "xumx_slicq.train" in err[0] and "--weights" in err[0]
    assert not (tmp_path / "out").exists()
    assert main([str(wav), "--outdir", str(tmp_path / "out"), "--weights", str(tmp_path / "nope.npz")]) == 2
    assert "nope.npz" in capsys.readouterr().err


def test_load_network_equals_the_keras_model(random_separator, tmp_path):
    """load_network (the separate command's loader: no Keras model) gives the same outputs as the Keras
    model, bit for bit, from a state dict .npz, from a run folder's model.weights.h5 and from the h5 file;
    an .h5 of another layout is not misread (read_keras_weights -> None) but loaded through Keras."""
    import h5py

    from xumx_slicq.model import random_blocks
    from xumx_slicq.separate import WeightsError, load_network
    from xumx_slicq.weights import export_state_dict, read_keras_weights

    model = random_separator.model
    for net in model.block_nets:  # non-trivial BatchNorm statistics, so the folding is exercised
        rng = np.random.default_rng(net.block)
        net.bn2_moving_mean.assign(rng.normal(0, 0.1, net.bn2_moving_mean.shape).astype(np.float32))
        net.bn3_moving_variance.assign(rng.uniform(0.5, 2, net.bn3_moving_variance.shape).astype(np.float32))
    np.savez(tmp_path / "state.npz", **export_state_dict(model))
    (tmp_path / "run").mkdir()
    model.save_weights(str(tmp_path / "run" / "model.weights.h5"))
    x = random_blocks(5, seed=9)
    expected = model(x)
    for source in (tmp_path / "state.npz", tmp_path / "run", tmp_path / "run" / "model.weights.h5"):
        out = load_network(source)(x)
        assert list(out) == list(params.TARGETS)
        assert all(np.array_equal(np.asarray(out[t][b]), np.asarray(expected[t][b]))
                   for t in params.TARGETS for b in range(70)), source
    with h5py.File(tmp_path / "other.weights.h5", "w") as f:
        f.create_dataset("vars/0", data=np.zeros(3))
    assert read_keras_weights(tmp_path / "other.weights.h5") is None
    with pytest.raises(WeightsError, match="other.weights.h5: not xumx-sliCQ weights"):
        load_network(tmp_path / "other.weights.h5")


# --- against the original code (seeded weights) --------------------------------------------------

@pytest.fixture(scope="module")
def reference_model(xumx_reference_dir):
    """The seeded weights as the separate command loads them (no Keras model; equal to it: test above)."""
    from xumx_slicq.separate import load_network

    return load_network(xumx_reference_dir / "weights.npz")


@pytest.mark.parametrize("mode,key", [("stft", "stft"), ("slicq", "slicqt")])
def test_golden_separator(reference_model, xumx_reference_dir, mode, key):
    from xumx_slicq.separate import Separator

    mix, rate = sf.read(xumx_reference_dir / "mixture.wav", dtype="float32", always_2d=True)
    assert rate == RATE
    ref = np.load(xumx_reference_dir / "separator.npz")
    out = Separator(reference_model, wiener=mode, stft_window="boxcar")(mix.T)
    for target in params.TARGETS:                      # by name: the original returns another order
        snr = snr_db(ref[f"{key}_{target}"], out[target])
        assert snr >= 80, (mode, target, snr)


def test_golden_long_input_chunks_and_wiener_windows(reference_model, xumx_reference_dir, musdb_wav_track):
    """65 s: two independent chunks and nine 300-frame STFT Wiener windows (separator_long.npz)."""
    from xumx_slicq.separate import Separator

    m, _ = sf.read(musdb_wav_track / "mixture.wav", dtype="float32", always_2d=True)
    x = np.tile(m.T, (1, 10))[:, :2_866_500]
    ref = np.load(xumx_reference_dir / "separator_long.npz")
    for mode, key in (("stft", "stft"), ("slicq", "slicqt")):
        out = Separator(reference_model, wiener=mode, stft_window="boxcar")(x)
        snr = snr_db(ref[f"{key}_vocals"], out["vocals"])
        assert snr >= 80, (mode, snr)


def test_real_tracks_cli(xumx_reference_dir, musdb_sample_wav_tracks, tmp_path):
    """Both real MUSDB sample tracks through the CLI: four finite stereo stems as long as the input."""
    from xumx_slicq.separate import main

    inputs = [str(t / "mixture.wav") for t in musdb_sample_wav_tracks]
    assert main([*inputs, "--weights", str(xumx_reference_dir / "weights.npz"), "--outdir", str(tmp_path),
                 "--name-from-folder", "--quiet"]) == 0
    for track in musdb_sample_wav_tracks:
        n = sf.info(track / "mixture.wav").frames
        for target in params.TARGETS:
            audio, rate = sf.read(tmp_path / track.name / f"{target}.wav", always_2d=True)
            assert rate == RATE and audio.shape == (n, 2) and np.all(np.isfinite(audio))
            assert np.sqrt(np.mean(audio ** 2)) > 1e-4


# --- the STFT of the STFT-mode Wiener step ----------------------------------------------------------

@pytest.mark.parametrize("window", ["hann", "boxcar"])
def test_stft_equals_librosa_and_inverts(window):
    import librosa

    from xumx_slicq import stft

    x = np.random.default_rng(6).standard_normal((2, 30001)).astype(np.float32)
    win = np.ones(4096, np.float32) if window == "boxcar" else "hann"
    ours = stft.stft(x, window)
    ref = librosa.stft(x, n_fft=4096, hop_length=1024, window=win, center=True, pad_mode="reflect")
    assert ours.shape == ref.shape == (2, 2049, 1 + 30001 // 1024)
    assert np.max(np.abs(ours - ref)) < 1e-5 * np.max(np.abs(ref))
    back = stft.istft(ours, 30001, window)
    assert back.dtype == np.float32 and back.shape == (2, 30001)
    assert np.max(np.abs(back - librosa.istft(ref, n_fft=4096, hop_length=1024, window=win, length=30001))) < 1e-5
    assert snr_db(x, back) > 120
