"""common.audio: round trips, resampling, atomic writes, overflow policy, and every bad input."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from common.audio import AudioError, load_audio, resample, save_audio, to_mono


def _tone(rate=16000, seconds=0.5, freq=440.0, channels=2, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    mono = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([mono * (0.5 + 0.5 * c) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize("ext,subtype,tol", [("wav", "FLOAT", 0.0), ("wav", "PCM_16", 1 / 32768),
                                             ("flac", "PCM_16", 1 / 32768), ("flac", "PCM_24", 2**-23)])
def test_round_trip_shapes_and_precision(tmp_path, ext, subtype, tol):
    x = _tone(channels=2)
    path = save_audio(tmp_path / f"x.{ext}", x, 16000, subtype=subtype)
    y, rate = load_audio(path)
    assert rate == 16000 and y.dtype == np.float32 and y.shape == (2, 8000)
    assert np.max(np.abs(y - x)) <= tol


def test_mono_file_is_one_channel_and_downmix_is_channel_mean(tmp_path):
    x = _tone(channels=2)
    save_audio(tmp_path / "s.wav", x, 16000)
    save_audio(tmp_path / "m.wav", x[0], 16000)
    y, _ = load_audio(tmp_path / "m.wav")
    assert y.shape == (1, 8000)
    down, _ = load_audio(tmp_path / "s.wav", mono=True)
    np.testing.assert_allclose(down[0], x.mean(axis=0), atol=1e-7)
    np.testing.assert_array_equal(to_mono(x), down)


def test_resampling_keeps_a_tone_and_its_level(tmp_path):
    x = _tone(rate=44100, seconds=1.0, freq=1000.0, channels=1)
    save_audio(tmp_path / "t.wav", x, 44100)
    y, rate = load_audio(tmp_path / "t.wav", sr=16000)
    assert rate == 16000 and y.shape == (1, 16000)
    spectrum = np.abs(np.fft.rfft(y[0, 2000:-2000]))
    peak_hz = np.argmax(spectrum) * 16000 / (y.shape[1] - 4000)
    assert abs(peak_hz - 1000.0) < 2.0
    core_rms = np.sqrt(np.mean(y[0, 2000:-2000] ** 2))
    source_rms = np.sqrt(np.mean(x[0] ** 2))  # 0.25 / sqrt(2)
    assert abs(core_rms - source_rms) < 0.002
    assert resample(x, 44100, 44100) is not None and resample(x, 44100, 44100).shape == x.shape


def test_sample_range_reads_only_that_part(tmp_path):
    x = np.arange(1000, dtype=np.float32)[None] / 1000
    save_audio(tmp_path / "r.wav", x, 8000)
    y, _ = load_audio(tmp_path / "r.wav", start=100, stop=250)
    np.testing.assert_array_equal(y, x[:, 100:250])


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    target = tmp_path / "deep" / "out.wav"
    save_audio(target, _tone(), 16000)
    before = target.read_bytes()

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", broken_write)
    with pytest.raises(OSError):
        save_audio(target, _tone(amp=0.1), 16000)
    assert target.read_bytes() == before
    assert sorted(os.listdir(target.parent)) == ["out.wav"]


def test_overflow_policies(tmp_path):
    loud = np.array([[0.5, -2.0, 1.5, 0.25]], dtype=np.float32)
    with pytest.raises(AudioError, match="exceeds 1.0"):
        save_audio(tmp_path / "e.wav", loud, 8000, overflow="error")
    save_audio(tmp_path / "a.wav", loud, 8000)  # float WAV keeps them by default
    np.testing.assert_array_equal(load_audio(tmp_path / "a.wav")[0], loud)
    with pytest.warns(UserWarning, match="clipping 2 sample"):
        save_audio(tmp_path / "c.wav", loud, 8000, subtype="PCM_16")
    clipped, _ = load_audio(tmp_path / "c.wav")
    np.testing.assert_allclose(clipped, np.clip(loud, -1, 1), atol=1 / 32768)
    save_audio(tmp_path / "n.wav", loud, 8000, overflow="normalize")
    np.testing.assert_allclose(load_audio(tmp_path / "n.wav")[0], loud / 2.0, atol=1e-7)


def _message(path, **kwargs) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_inputs_name_the_file_and_the_problem(tmp_path):
    assert "file not found" in _message(tmp_path / "missing.wav")

    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    assert "not a readable audio file" in _message(junk)

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), dtype=np.float32), 16000)
    assert "zero-length" in _message(empty)

    nan = tmp_path / "nan.wav"
    x = _tone()
    x[1, 10] = np.nan
    x[0, 20] = np.inf
    sf.write(nan, x.T, 16000, subtype="FLOAT")
    assert "2 sample(s) are NaN or Inf" in _message(nan)

    six = tmp_path / "six.wav"
    sf.write(six, np.zeros((100, 6), dtype=np.float32) + 0.1, 16000)
    assert "6 channels, at most 2" in _message(six)
    assert load_audio(six, max_channels=None)[0].shape == (6, 100)

    for ext, subtype in (("wav", "PCM_16"), ("flac", "PCM_16")):
        cut = tmp_path / f"cut.{ext}"
        save_audio(cut, _tone(seconds=1.0), 16000, subtype=subtype)
        data = cut.read_bytes()
        cut.write_bytes(data[: len(data) // 2])
        assert any(word in _message(cut) for word in ("truncated", "could not read"))


def test_bad_arrays_and_formats_on_save(tmp_path):
    with pytest.raises(AudioError, match="NaN or Inf"):
        save_audio(tmp_path / "x.wav", np.array([0.0, np.nan]), 8000)
    with pytest.raises(AudioError, match="unknown audio file extension"):
        save_audio(tmp_path / "x.xyz", np.zeros(10), 8000)
    with pytest.raises(AudioError, match="cannot store subtype FLOAT"):
        save_audio(tmp_path / "x.flac", np.zeros(10), 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match="samples > 0"):
        save_audio(tmp_path / "x.wav", np.zeros((2, 0)), 8000)
