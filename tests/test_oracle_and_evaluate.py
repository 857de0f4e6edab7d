"""oracle.irm and common.evaluate / common.references, on signals built here."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from common.datasets import Track
from common.evaluate import evaluate_folders, parse_named_dirs, score_track, summary_rows
from common.references import reference_for
from oracle.irm import _stft, ideal_ratio_masks, irm_separate

RATE = 16000


def _tones(seconds=2.0, freqs=(220.0, 3000.0)):
    t = np.arange(int(RATE * seconds)) / RATE
    return [(0.3 * np.sin(2 * np.pi * f * t))[None].astype(np.float32) for f in freqs]


def test_masks_lie_in_unit_interval_and_sum_to_one():
    low, high = _tones()
    masks = ideal_ratio_masks({"a": low, "b": high}, alpha=2.0)
    total = masks["a"] + masks["b"]
    assert all(m.min() >= 0 and m.max() <= 1 for m in masks.values())
    power = sum(np.abs(_stft(x.astype(np.float64))) ** 2 for x in (low, high))
    active = power > 1e-8  # well above the mask's epsilon (2.2e-16)
    np.testing.assert_allclose(total[active], 1.0, atol=1e-6)


def test_irm_recovers_sources_disjoint_in_frequency():
    low, high = _tones()
    est = irm_separate(low + high, {"low": low, "high": high})
    for name, ref in (("low", low), ("high", high)):
        err = est[name][0, 2048:-2048] - ref[0, 2048:-2048]
        snr = 10 * np.log10(np.sum(ref[0, 2048:-2048] ** 2) / np.sum(err ** 2))
        assert snr > 40, (name, snr)
    assert est["low"].shape == low.shape and est["low"].dtype == np.float32


def test_reference_mapping_between_naming_conventions():
    s = {k: np.full((2, 4), v, np.float32) for k, v in
         (("drums", 1), ("bass", 2), ("other", 4), ("vocals", 8))}
    track = Track(name="t", rate=44100, sources=s, mixture=sum(s.values()))
    assert reference_for(track, "harmonic")[0, 0] == 6      # MiXiN: bass + other
    assert reference_for(track, "percussive")[0, 0] == 1    # MiXiN: drums
    assert reference_for(track, "vocal")[0, 0] == 8
    assert reference_for(track, "accompaniment")[0, 0] == 7
    assert reference_for(track, "guitar") is None


def test_score_track_gives_the_analytic_si_sdr():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 1, 20000)).astype(np.float32)
    a -= a.mean(); b -= b.mean()
    noise = rng.standard_normal(20000).astype(np.float32)
    noise -= noise.mean()
    # make the error orthogonal to a, b at 20 dB below a
    basis = np.stack([a[0], b[0]]).astype(np.float64)
    noise = noise - basis.T @ np.linalg.lstsq(basis.T, noise, rcond=None)[0]
    noise *= np.sqrt(np.sum(a[0].astype(np.float64) ** 2) / np.sum(noise ** 2) / 100)
    scores = score_track({"a": a, "b": b}, {"a": a + noise[None].astype(np.float32), "b": b + 0.5 * a})
    assert scores["a"]["SI-SDR"] == pytest.approx(20.0, abs=0.02)
    assert scores["a"]["SI-SAR"] == pytest.approx(20.0, abs=0.02)
    assert scores["a"]["SDR"] > 15
    assert scores["b"]["SI-SIR"] < 10


def _mir1k_like(root, names):
    rng = np.random.default_rng(2)
    (root / "test").mkdir(parents=True)
    for name in names:
        sf.write(root / "test" / f"{name}.wav", 0.2 * rng.standard_normal((RATE, 2)), RATE,
                 subtype="FLOAT")


def test_evaluate_folders_scores_only_tracks_present(tmp_path):
    _mir1k_like(tmp_path / "mir1k", ["Ani_1_01", "Ani_1_02"])
    out = tmp_path / "est"
    for name in ["Ani_1_01"]:
        stereo, _ = sf.read(tmp_path / "mir1k" / "test" / f"{name}.wav", dtype="float32")
        (out / name).mkdir(parents=True)
        sf.write(out / name / "vocals.wav", stereo[:, 1] + 0.1 * stereo[:, 0], RATE, subtype="FLOAT")
        sf.write(out / name / "accompaniment.wav", stereo[:, 0] + 0.1 * stereo[:, 1], RATE,
                 subtype="FLOAT")
        sf.write(out / name / "unrelated.wav", stereo[:, 0], RATE, subtype="FLOAT")
    result = evaluate_folders("mir1k", tmp_path / "mir1k", "test", {"sys": out}, progress=False)
    assert list(result["tracks"]["sys"]) == ["Ani_1_01"]
    per_target = result["tracks"]["sys"]["Ani_1_01"]
    assert sorted(per_target) == ["accompaniment", "vocals"]
    # 10 % leakage of an independent source of equal power: SIR = SI-SIR ~ 20 dB
    assert per_target["vocals"]["SI-SIR"] == pytest.approx(20.0, abs=0.3)
    rows = summary_rows(result["summary"])
    assert {r["target"] for r in rows} == {"vocals", "accompaniment"} and rows[0]["tracks"] == 1


def test_flac_estimates_are_scored_like_wav(tmp_path):
    """--format flac output (24-bit PCM) scores as its float WAV twin; a WAV wins over a FLAC of one name."""
    from common.references import estimate_files

    _mir1k_like(tmp_path / "mir1k", ["Ani_1_01"])
    stereo, _ = sf.read(tmp_path / "mir1k" / "test" / "Ani_1_01.wav", dtype="float32")
    voc, acc = 0.5 * (stereo[:, 1] + 0.1 * stereo[:, 0]), 0.5 * (stereo[:, 0] + 0.1 * stereo[:, 1])
    for kind, sub in (("wav", "FLOAT"), ("flac", "PCM_24")):
        (tmp_path / kind / "Ani_1_01").mkdir(parents=True)
        sf.write(tmp_path / kind / "Ani_1_01" / f"vocals.{kind}", voc, RATE, subtype=sub)
        sf.write(tmp_path / kind / "Ani_1_01" / f"accompaniment.{kind}", acc, RATE, subtype=sub)
    result = evaluate_folders("mir1k", tmp_path / "mir1k", "test",
                              {"wav": tmp_path / "wav", "flac": tmp_path / "flac"}, progress=False)
    a, b = result["tracks"]["wav"]["Ani_1_01"], result["tracks"]["flac"]["Ani_1_01"]
    assert sorted(b) == ["accompaniment", "vocals"]
    assert b["vocals"]["SI-SDR"] == pytest.approx(a["vocals"]["SI-SDR"], abs=0.01)
    sf.write(tmp_path / "flac" / "Ani_1_01" / "vocals.wav", voc, RATE, subtype="FLOAT")
    assert [p.name for p in estimate_files(tmp_path / "flac" / "Ani_1_01")] == ["accompaniment.flac",
                                                                              "vocals.wav"]


def test_parse_named_dirs():
    named = parse_named_dirs(["a=/x/y", "/p/q/deep"])
    assert str(named["a"]) == "/x/y" and str(named["deep"]) == "/p/q/deep"


def test_a_silent_estimate_scores_nan_and_the_others_are_still_scored():
    rng = np.random.default_rng(3)
    a, b, c = rng.standard_normal((3, 1, 16000)).astype(np.float32)
    scores = score_track({"a": a, "b": b, "c": c},
                         {"a": a + 0.1 * b, "b": b + 0.1 * a, "c": np.zeros_like(c)})
    assert np.isnan(scores["c"]["SDR"]) and np.isnan(scores["c"]["SI-SDR"])
    assert scores["a"]["SDR"] == pytest.approx(20.0, abs=0.5)
    assert scores["b"]["SIR"] == pytest.approx(20.0, abs=0.5)
