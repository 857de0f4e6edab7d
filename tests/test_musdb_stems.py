"""Both MUSDB releases through common.datasets: MUSDB18-HQ WAV folders and MUSDB18 ``.stem.mp4`` files.

Layout detection (both, neither, mixed) on folders the tests make; decoding on a ``.stem.mp4`` the tests
encode with ffmpeg and on the real excerpt in ../shared/data/musdb_sample (``stems/`` against the WAVs
of ``test/``); ``oracle.separate`` then ``common.evaluate`` on ``stems/``; truncated or corrupt files.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from common.datasets import (MUSDB_SOURCES, DatasetError, add_musdb_format_argument, detect_musdb_layout,
                             iter_musdb, resolve_musdb_layout)

TRACK = "Music Delta - 80s Rock"  # the real MUSDB18 excerpt of ../shared/data/musdb_sample
STREAMS = ("mixture",) + MUSDB_SOURCES  # the stream order of a MUSDB18 .stem.mp4


def needs_ffmpeg():
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"decoding .stem.mp4 needs {' and '.join(missing)} on PATH (apt-get install -y ffmpeg)")


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2)
                               / np.sum((reference.astype(np.float64) - estimate) ** 2)))


def error_lines(stderr: str) -> list[str]:
    """What the user reads on stderr, less the tqdm progress bar (which redraws with carriage returns)."""
    return [line for line in stderr.splitlines() if line.strip() and "oracle IRM" not in line]


def wav_track(folder, samples=441):
    folder.mkdir(parents=True)
    for name in STREAMS:
        sf.write(folder / f"{name}.wav", np.zeros((samples, 2), np.float32), 44100)


# ------------------------------------------------------------------------------ layout detection

def test_detect_layout_wav_stems_neither_mixed(tmp_path):
    wav = tmp_path / "hq"
    wav_track(wav / "test" / "A - One")
    (wav / "test" / "._A - Two.stem.mp4").write_bytes(b"")  # a macOS resource file is not a track
    assert detect_musdb_layout(wav) == "wav" == detect_musdb_layout(wav, "test")

    stems = tmp_path / "aac"
    (stems / "train").mkdir(parents=True)
    (stems / "train" / "A - One.stem.mp4").write_bytes(b"")  # detection reads names only
    (stems / "train" / "empty folder").mkdir()
    assert detect_musdb_layout(stems) == "stems"

    neither = tmp_path / "neither"
    (neither / "test" / "no wav inside").mkdir(parents=True)
    (neither / "test" / "plain.mp4").write_bytes(b"")  # only <track>.stem.mp4 is a MUSDB18 file
    with pytest.raises(DatasetError, match=r"neither.* holds no MUSDB tracks: no track folder of \.wav files "
                                           r"and no \.stem\.mp4 file in .*neither/test") as err:
        detect_musdb_layout(neither)
    assert "\n" not in str(err.value)

    mixed = tmp_path / "mixed"
    wav_track(mixed / "train" / "A - One")
    wav_track(mixed / "train" / "B - Two")
    (mixed / "test").mkdir()
    (mixed / "test" / "C - Three.stem.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"mixes both MUSDB releases: 2 WAV track folder\(s\) .* 1 \.stem\.mp4 "
                                           r"file\(s\) .*C - Three\.stem\.mp4.*--musdb-format wav\|stems") as err:
        detect_musdb_layout(mixed)
    assert "\n" not in str(err.value)
    # each subset alone is one release; forcing a format skips detection
    assert detect_musdb_layout(mixed, "train") == "wav" and detect_musdb_layout(mixed, "test") == "stems"
    assert resolve_musdb_layout(mixed, "stems") == "stems" and resolve_musdb_layout(neither, "wav") == "wav"
    with pytest.raises(DatasetError, match="unknown MUSDB format 'mp4'; choose one of auto, wav, stems"):
        resolve_musdb_layout(wav, "mp4")
    # the subset folder passed instead of the root
    with pytest.raises(DatasetError, match=r"none of train, test is in it .*pass its parent"):
        detect_musdb_layout(wav / "test")


def test_mixed_root_is_one_error_line_from_every_reader(tmp_path, capsys):
    """iter_musdb (so every command) refuses a mixed root before musdb or ffmpeg is involved."""
    from oracle.separate import main

    wav_track(tmp_path / "test" / "A - One")
    (tmp_path / "test" / "B - Two.stem.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match="mixes both MUSDB releases"):
        next(iter_musdb(tmp_path))
    assert main(["--dataset", "musdb", "--root", str(tmp_path), "--outdir", str(tmp_path / "out")]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "mixes both MUSDB releases" in lines[0]


def test_musdb_format_option():
    parser = argparse.ArgumentParser()
    add_musdb_format_argument(parser)
    assert parser.parse_args([]).musdb_format == "auto"
    assert parser.parse_args(["--musdb-format", "stems"]).musdb_format == "stems"
    with pytest.raises(SystemExit):
        parser.parse_args(["--musdb-format", "aac"])


@pytest.mark.parametrize("module", ["oracle.separate", "common.evaluate", "common.listening", "data_prep.mixtures",
                                    "mixin.evaluate", "mask_inference.train", "mask_inference.evaluate"])
def test_every_musdb_command_has_the_option(module, capsys):
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "--musdb-format {auto,wav,stems}" in capsys.readouterr().out


# ------------------------------------------------------------------------- a self-made .stem.mp4

def encode_stem_file(path, streams: dict[str, np.ndarray], rate=44100):
    """Write `streams` (name -> (S, 2), in order) as one AAC stream each into an MP4, as MUSDB18 is stored."""
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error"]
    for name, audio in streams.items():
        sf.write(path.parent / f"{name}.wav", audio, rate, subtype="FLOAT")
        cmd += ["-i", str(path.parent / f"{name}.wav")]
    for i in range(len(streams)):
        cmd += ["-map", f"{i}:a"]
    subprocess.run(cmd + ["-c:a", "aac", "-b:a", "256k", str(path)], check=True)
    for name in streams:
        (path.parent / f"{name}.wav").unlink()


def test_self_made_stem_file_stream_order(tmp_path):
    """Five tones, one per stream: each source comes back from its own stream, at 44.1 kHz stereo float32."""
    needs_ffmpeg()
    t = np.arange(44100) / 44100
    freqs = {"drums": 220.0, "bass": 440.0, "other": 880.0, "vocals": 1760.0}
    sources = {k: 0.2 * np.stack([np.sin(2 * np.pi * f * t), np.sin(2 * np.pi * f * t + 0.5)], 1)
               for k, f in freqs.items()}
    (tmp_path / "test").mkdir()
    encode_stem_file(tmp_path / "test" / "Self - Made.stem.mp4",
                     {"mixture": sum(sources.values()), **sources})
    assert detect_musdb_layout(tmp_path) == "stems"
    track = next(iter_musdb(tmp_path))
    assert track.name == "Self - Made" and track.rate == 44100
    assert track.path == tmp_path / "test" / "Self - Made.stem.mp4"
    assert track.mixture.dtype == np.float32 and track.mixture.shape[0] == 2
    assert 44100 <= track.mixture.shape[1] <= 44100 + 2048  # AAC pads to whole 1024-sample frames
    for name, freq in freqs.items():
        audio = track.sources[name]
        assert audio.shape == track.mixture.shape and audio.dtype == np.float32
        peak = np.argmax(np.abs(np.fft.rfft(audio[0, :44100])))  # a 1-s window: bin k is k Hz
        assert peak == pytest.approx(freq, abs=1.0), name
        assert snr_db(sources[name].T, audio[:, :44100]) > 30  # AAC at 256 kb/s: 37 to 43 dB measured
    assert snr_db(track.mixture, sum(track.sources.values())) > 30  # each stream coded on its own


def test_stem_file_without_five_streams(tmp_path):
    needs_ffmpeg()
    (tmp_path / "test").mkdir()
    encode_stem_file(tmp_path / "test" / "Two - Streams.stem.mp4",
                     {"mixture": np.zeros((4410, 2)), "drums": np.zeros((4410, 2))})
    with pytest.raises(DatasetError, match=r"Two - Streams\.stem\.mp4: 2 audio stream\(s\); a MUSDB18 \.stem\.mp4 "
                                           r"holds 5 \(mixture, drums, bass, other, vocals\)"):
        next(iter_musdb(tmp_path))


# ------------------------------------------------------------------ the real MUSDB18 excerpt

def test_real_stems_match_hq_wavs(musdb_sample_dir):
    """The same track from stems/ (.stem.mp4) and from test/ (float WAVs decoded from that file): same
    length and stream order. Both go through musdb's 16-bit ffmpeg decode, which makes them bit-identical
    here (infinite SNR; up to 2 LSB allowed for another ffmpeg); against the float WAVs as soundfile reads
    them the AAC read is that 16-bit rounding away: 77.0 to 85.5 dB SNR per stream."""
    needs_ffmpeg()
    stems_root = musdb_sample_dir / "stems"
    assert detect_musdb_layout(stems_root) == "stems" and detect_musdb_layout(musdb_sample_dir) == "wav"
    aac = next(iter_musdb(stems_root))
    hq = next(t for t in iter_musdb(musdb_sample_dir) if t.name == TRACK)
    assert aac.name == TRACK and aac.rate == hq.rate == 44100
    assert aac.path == stems_root / "test" / f"{TRACK}.stem.mp4"
    measured = {"mixture": 85.5, "drums": 79.9, "bass": 77.9, "other": 77.0, "vocals": 81.6}
    for name in STREAMS:
        a = aac.mixture if name == "mixture" else aac.sources[name]
        w = hq.mixture if name == "mixture" else hq.sources[name]
        assert a.shape == w.shape == (2, 300032) and a.dtype == np.float32
        assert np.max(np.abs(a - w)) <= 2 / 32768, name
        float_wav, _ = sf.read(musdb_sample_dir / "test" / TRACK / f"{name}.wav", dtype="float32")
        assert snr_db(float_wav.T, a) == pytest.approx(measured[name], abs=0.5), name
    # the file's mixture stream is not exactly the sum of its stems (codec noise), as its README measures
    assert snr_db(aac.mixture, sum(aac.sources.values())) == pytest.approx(31.6, abs=0.1)


def test_oracle_then_evaluate_on_real_stems(musdb_sample_dir, tmp_path):
    """The issue's command lines, end to end on stems/; the references agree with those of test/."""
    needs_ffmpeg()
    from common.evaluate import evaluate_folders
    from common.evaluate import main as evaluate_main
    from oracle.separate import main as separate_main

    stems_root, out = musdb_sample_dir / "stems", tmp_path / "est"
    assert separate_main(["--dataset", "musdb", "--root", str(stems_root), "--outdir", str(out)]) == 0
    for name in MUSDB_SOURCES:
        audio, rate = sf.read(out / TRACK / f"{name}.wav")
        assert audio.shape == (300032, 2) and rate == 44100
    scores = tmp_path / "scores.json"
    assert evaluate_main(["--dataset", "musdb", "--root", str(stems_root), "--musdb-format", "stems",
                          "--estimates", f"oracle={out}", "--json", str(scores)]) == 0
    summary = json.loads(scores.read_text())["summary"]["oracle"]
    assert sorted(summary) == sorted(MUSDB_SOURCES) and all(m["tracks"] == 1 for m in summary.values())
    # IRM2 on this excerpt, BSS Eval v3 SDR in dB (measured)
    for name, sdr in {"drums": 11.54, "bass": 9.16, "other": 9.69, "vocals": 14.88}.items():
        assert summary[name]["SDR"] == pytest.approx(sdr, abs=0.05), name
    # the WAV references of test/ give the same scores to within the 16-bit decoding
    hq = evaluate_folders("musdb", musdb_sample_dir, "test", {"oracle": out}, progress=False)["summary"]["oracle"]
    for name in MUSDB_SOURCES:
        assert hq[name]["SDR"] == pytest.approx(summary[name]["SDR"], abs=0.01), name


@pytest.mark.parametrize("cut, message", [
    (560_000, r"truncated or corrupt: the mixture stream decodes to \d+ samples but the file announces 299880"),
    (10_000, r"truncated or corrupt: the mixture stream decodes to 0 samples but the file announces 299880"),
    (200, r"not a readable \.stem\.mp4 \(ffprobe finds no audio stream in it: truncated or corrupt\)"),
    (0, r"not a readable \.stem\.mp4 \(ffprobe cannot parse it: truncated or corrupt\)"),
])
def test_truncated_stem_file_is_one_line_naming_it(musdb_sample_dir, tmp_path, capfd, cut, message):
    """A copy cut after `cut` bytes (of 1121359; the header sits in the first 25254): one error line naming
    the file, and no ffmpeg output on the terminal."""
    needs_ffmpeg()
    from oracle.separate import main

    data = (musdb_sample_dir / "stems" / "test" / f"{TRACK}.stem.mp4").read_bytes()
    bad = tmp_path / "test" / f"{TRACK}.stem.mp4"
    bad.parent.mkdir()
    bad.write_bytes(data[:cut])
    with pytest.raises(DatasetError, match=message):
        next(iter_musdb(tmp_path))
    capfd.readouterr()
    assert main(["--dataset", "musdb", "--root", str(tmp_path), "--outdir", str(tmp_path / "out")]) == 2
    captured = capfd.readouterr()
    lines = error_lines(captured.err)
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: "), captured.err
    assert not (tmp_path / "out").exists()
