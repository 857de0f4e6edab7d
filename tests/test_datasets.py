"""Tests for common.datasets: MIR-1K layouts and Huang's split, MUSDB through musdb, stem folders.

Every test builds its own tiny audio files with soundfile; the real MIR-1K subset in ../shared is read
through the `mir1k_root` fixture (skipped with a reason when absent).
"""
from __future__ import annotations

import inspect
import os
import shutil

import numpy as np
import pytest
import soundfile

from common import datasets
from common.datasets import (MIR1K_DEV_CLIPS, DatasetError, StemTrack, Track, classify_stem,
                             find_stem_tracks, iter_mir1k, iter_musdb, iter_stem_tracks,
                             load_mir1k_clip, load_stem_track, mir1k_clips, mir1k_split_of,
                             musdb_tracks)

RNG = np.random.default_rng(0)


def write(path, audio, rate, subtype="PCM_16"):
    """Write float (channels, samples) audio with soundfile; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.asarray(audio, dtype=np.float64).T, rate, subtype=subtype)
    return path


def read(path):
    """The samples soundfile reads back, float32 (channels, samples)."""
    data, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data.T


# ------------------------------------------------------------------------------------------- MIR-1K

# 19 singers with real-looking clip counts: 43 abjones + 132 amy = 175 (171 train + 4 dev), and
# 825 clips over the 17 test singers.
TRAIN_COUNTS = {"abjones": 43, "amy": 132}
TEST_SINGERS = ["Ani", "Kenshin", "annar", "ariel", "bobon", "bug", "davidson", "fdps", "geniusturtle",
                "heycat", "jmzen", "khair", "leon", "stool", "tammy", "titon", "yifen"]
TEST_COUNTS = {s: 48 + (i < 9) for i, s in enumerate(TEST_SINGERS)}  # 9*49 + 8*48 = 825


def fake_mir1k_names() -> dict[str, list[str]]:
    """Huang's split of 1000 made-up MIR-1K clip names, decided here from how the names were built."""
    split = {"train": [], "dev": list(MIR1K_DEV_CLIPS), "test": []}
    for singer, count in {**TRAIN_COUNTS, **TEST_COUNTS}.items():
        names = [n for n in MIR1K_DEV_CLIPS if n.startswith(singer + "_")]
        song, clip = 1, 1
        while len(names) < count:
            name = f"{singer}_{song}_{clip:02d}"
            if name not in names:
                names.append(name)
                split["train" if singer in TRAIN_COUNTS else "test"].append(name)
            song, clip = (song + 1, 1) if clip == 10 else (song, clip + 1)
    return {k: sorted(v) for k, v in split.items()}


FAKE_SPLIT = fake_mir1k_names()


def tiny_clip(path):
    """A 300-sample 16 kHz stereo clip (.wav or .flac)."""
    write(path, RNG.uniform(-0.5, 0.5, size=(2, 300)), 16000)


@pytest.fixture(scope="module")
def fake_mir1k(tmp_path_factory):
    """The same 1000 clips in the three layouts: flat Wavfile/, Wavfile/{split}/, {split}/.
    Every third clip is FLAC, to check both extensions."""
    base = tmp_path_factory.mktemp("mir1k")
    roots = {k: base / k for k in ("flat", "posenhuang", "splitdirs")}
    for split, names in FAKE_SPLIT.items():
        for i, name in enumerate(names):
            ext = ".flac" if i % 3 == 0 else ".wav"
            flat = roots["flat"] / "Wavfile" / (name + ext)
            tiny_clip(flat)
            for key, folder in (("posenhuang", roots["posenhuang"] / "Wavfile" / split),
                                ("splitdirs", roots["splitdirs"] / split)):
                folder.mkdir(parents=True, exist_ok=True)
                os.link(flat, folder / flat.name)
    return roots


def test_fake_names_have_huang_counts():
    assert {k: len(v) for k, v in FAKE_SPLIT.items()} == {"train": 171, "dev": 4, "test": 825}
    assert len({n.split("_")[0] for v in FAKE_SPLIT.values() for n in v}) == 19


@pytest.mark.parametrize("layout", ["flat", "posenhuang", "splitdirs"])
def test_mir1k_split_counts_each_layout(fake_mir1k, layout):
    root = fake_mir1k[layout]
    counts = {}
    for split in ("train", "dev", "test"):
        clips = mir1k_clips(root, split)
        counts[split] = len(clips)
        assert [p.stem for p in clips] == FAKE_SPLIT[split]
        assert {p.suffix for p in clips} == {".wav", ".flac"} or split == "dev"
    assert counts == {"train": 171, "dev": 4, "test": 825}


def test_mir1k_flat_root_is_the_wavfile_folder_itself(fake_mir1k):
    assert len(mir1k_clips(fake_mir1k["flat"] / "Wavfile", "test")) == 825


def test_mir1k_split_of_names():
    assert mir1k_split_of("abjones_5_08.wav") == "dev"
    assert mir1k_split_of("amy_9_09.flac") == "dev"
    assert mir1k_split_of("amy_9_07.wav") == "train"
    assert mir1k_split_of("abjones_1_01") == "train"
    assert mir1k_split_of("Ani_1_01.wav") == "test"
    assert mir1k_split_of("/some/where/Kenshin_3_03.flac") == "test"
    with pytest.raises(DatasetError, match=r"nobody_1_01\.wav: not a MIR-1K clip name"):
        mir1k_split_of("nobody_1_01.wav")
    with pytest.raises(DatasetError, match="not a MIR-1K clip name"):
        mir1k_split_of("mixture.wav")


def test_mir1k_real_subset_counts(mir1k_root):
    counts = {s: len(mir1k_clips(mir1k_root, s)) for s in ("train", "dev", "test")}
    assert counts == {"train": 171, "dev": 4, "test": 165}
    assert tuple(p.stem for p in mir1k_clips(mir1k_root, "dev")) == MIR1K_DEV_CLIPS
    # every clip sits in the folder Huang's naming rule assigns it to
    for split in ("train", "dev", "test"):
        assert {mir1k_split_of(p.name) for p in mir1k_clips(mir1k_root, split)} == {split}


def test_mir1k_real_clip_loads(mir1k_root):
    track = next(iter_mir1k(mir1k_root, "dev"))
    assert track.name == "abjones_5_08" and track.rate == 16000
    raw = read(mir1k_clips(mir1k_root, "dev")[0])
    np.testing.assert_array_equal(track.sources["accompaniment"], raw[0:1])
    np.testing.assert_array_equal(track.sources["vocals"], raw[1:2])
    np.testing.assert_allclose(track.mixture, raw[0:1] + raw[1:2], atol=1e-7)
    zero_db = load_mir1k_clip(track.path, mix="0db")
    for name in ("accompaniment", "vocals"):
        energy = np.sum(zero_db.sources[name].astype(np.float64) ** 2)
        assert energy == pytest.approx(1.0, abs=1e-5)


def test_mir1k_channels_left_accompaniment_right_voice(tmp_path):
    t = np.arange(1600) / 16000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)  # "accompaniment": a sine
    right = 0.25 * RNG.standard_normal(1600).clip(-3, 3) / 3  # "voice": noise
    path = write(tmp_path / "train" / "amy_1_01.wav", np.stack([left, right]), 16000)
    for folder in ("dev", "test"):
        (tmp_path / folder).mkdir()
    track = next(iter_mir1k(tmp_path, "train"))
    assert isinstance(track, Track) and track.path == path and track.name == "amy_1_01"
    assert track.rate == 16000
    assert track.sources["accompaniment"].shape == (1, 1600) and track.sources["vocals"].shape == (1, 1600)
    assert track.sources["vocals"].dtype == np.float32 and track.mixture.dtype == np.float32
    np.testing.assert_allclose(track.sources["accompaniment"][0], left, atol=1 / 32768)
    np.testing.assert_allclose(track.sources["vocals"][0], right, atol=1 / 32768)
    np.testing.assert_allclose(track.mixture[0], left + right, atol=2 / 32768)


def test_mir1k_0db_mix_gives_unit_energies(tmp_path):
    acc = 0.6 * RNG.uniform(-1, 1, 4000)
    voc = 0.01 * RNG.uniform(-1, 1, 4000)  # voice much quieter: 0 dB mix must lift it
    path = write(tmp_path / "abjones_2_03.wav", np.stack([acc, voc]), 16000)
    track = load_mir1k_clip(path, mix="0db")
    energies = [float(np.sum(track.sources[k].astype(np.float64) ** 2)) for k in ("accompaniment", "vocals")]
    np.testing.assert_allclose(energies, [1.0, 1.0], rtol=1e-5)
    raw = read(path)
    np.testing.assert_allclose(track.sources["vocals"][0], raw[1] / np.linalg.norm(raw[1].astype(np.float64)),
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(track.mixture, track.sources["accompaniment"] + track.sources["vocals"], atol=1e-7)
    # the plain sum keeps the stored levels
    plain = load_mir1k_clip(path, mix="sum")
    assert float(np.sum(plain.sources["vocals"].astype(np.float64) ** 2)) == pytest.approx(
        float(np.sum(raw[1].astype(np.float64) ** 2)), rel=1e-6)


def test_mir1k_iter_is_a_generator_with_limit(fake_mir1k):
    tracks = iter_mir1k(fake_mir1k["flat"], "test", limit=3)
    assert inspect.isgenerator(tracks)
    names = [t.name for t in tracks]
    assert names == FAKE_SPLIT["test"][:3]


def test_mir1k_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match=r"does not exist.*MIR-1K\.zip"):
        mir1k_clips(tmp_path / "nowhere", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"matches no MIR-1K layout.*Wavfile.*mirlab\.org/dataset/public/MIR-1K\.zip"):
        mir1k_clips(tmp_path / "empty", "train")
    with pytest.raises(DatasetError, match="unknown MIR-1K split 'valid'"):
        mir1k_clips(tmp_path / "empty", "valid")
    # a split-folder layout missing one split
    (tmp_path / "partial" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"partial/test is missing"):
        mir1k_clips(tmp_path / "partial", "test")
    # a stray file in a flat folder is named
    flat = tmp_path / "flat" / "Wavfile"
    tiny_clip(flat / "abjones_1_01.wav")
    tiny_clip(flat / "notes_about_it.wav")
    with pytest.raises(DatasetError, match=r"notes_about_it\.wav: not a MIR-1K clip name"):
        mir1k_clips(tmp_path / "flat", "train")
    # the same clip as .wav and .flac
    dup = tmp_path / "dup" / "Wavfile"
    tiny_clip(dup / "amy_1_01.wav")
    tiny_clip(dup / "amy_1_01.flac")
    with pytest.raises(DatasetError, match="the same MIR-1K clip twice"):
        mir1k_clips(tmp_path / "dup", "train")
    # mono and 3-channel clips are named
    mono = write(tmp_path / "amy_1_02.wav", RNG.uniform(-0.5, 0.5, (1, 300)), 16000)
    with pytest.raises(DatasetError, match=r"amy_1_02\.wav: has 1 channel\(s\); a MIR-1K clip is stereo"):
        load_mir1k_clip(mono)
    three = write(tmp_path / "amy_1_03.wav", RNG.uniform(-0.5, 0.5, (3, 300)), 16000)
    with pytest.raises(DatasetError, match=r"amy_1_03\.wav: 3 channels"):
        load_mir1k_clip(three)
    # a silent source cannot be scaled to unit energy
    silent = write(tmp_path / "amy_1_04.wav", np.stack([RNG.uniform(-0.5, 0.5, 300), np.zeros(300)]), 16000)
    assert load_mir1k_clip(silent, mix="sum").sources["vocals"].max() == 0.0
    with pytest.raises(DatasetError, match=r"amy_1_04\.wav: the voice \(right channel\) is silent"):
        load_mir1k_clip(silent, mix="0db")
    with pytest.raises(DatasetError, match="unknown MIR-1K mix"):
        load_mir1k_clip(silent, mix="-6db")
    with pytest.raises(DatasetError, match=r"amy_9_99\.wav: file not found"):
        load_mir1k_clip(tmp_path / "amy_9_99.wav")


# -------------------------------------------------------------------------------------------- MUSDB

MUSDB_STEMS = ("drums", "bass", "other", "vocals")
MUSDB_TRACKS = {"train": ["Actions - One Minute Smile", "Alpha - First Song", "Beta - Second Song"],
                "test": ["Gamma - Third Song"]}
MUSDB_SAMPLES = 11025  # 0.25 s at 44.1 kHz


def needs_ffmpeg():
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"musdb needs {' and '.join(missing)} on PATH (apt-get install -y ffmpeg)")


@pytest.fixture(scope="module")
def fake_musdb(tmp_path_factory):
    """A tiny MUSDB18-HQ folder (recipe of ecosystem.md 1.6): 3 train tracks (one of them a validation
    track) and 1 test track, 44.1 kHz stereo PCM_16, mixture = sum of the four stems."""
    root = tmp_path_factory.mktemp("musdb")
    for subset, names in MUSDB_TRACKS.items():
        for name in names:
            stems = {s: RNG.uniform(-0.2, 0.2, (2, MUSDB_SAMPLES)) for s in MUSDB_STEMS}
            for stem, audio in stems.items():
                write(root / subset / name / f"{stem}.wav", audio, 44100)
            write(root / subset / name / "mixture.wav", sum(stems.values()), 44100)
    return root


def test_musdb_subsets_and_valid_split(fake_musdb):
    needs_ffmpeg()
    names = lambda **kw: [t.name for t in musdb_tracks(fake_musdb, **kw)]  # listed, not decoded
    assert names(subsets="test") == ["Gamma - Third Song"]
    assert names(subsets="train") == MUSDB_TRACKS["train"]
    assert names(subsets="train", split="valid") == ["Actions - One Minute Smile"]
    assert names(subsets="train", split="train") == ["Alpha - First Song", "Beta - Second Song"]
    assert len(names(subsets=["train", "test"])) == 4
    # iter_musdb streams the same tracks, decoded
    assert [t.name for t in iter_musdb(fake_musdb, subsets="train", split="valid")] == ["Actions - One Minute Smile"]


def test_musdb_track_contents(fake_musdb):
    needs_ffmpeg()
    tracks = iter_musdb(fake_musdb, subsets="test")
    assert inspect.isgenerator(tracks)
    track = next(tracks)
    folder = fake_musdb / "test" / "Gamma - Third Song"
    assert track.rate == 44100 and track.path == folder
    assert sorted(track.sources) == sorted(MUSDB_STEMS)
    for stem in MUSDB_STEMS:
        assert track.sources[stem].shape == (2, MUSDB_SAMPLES) and track.sources[stem].dtype == np.float32
        np.testing.assert_allclose(track.sources[stem], read(folder / f"{stem}.wav"), atol=1e-6)
    np.testing.assert_allclose(track.mixture, read(folder / "mixture.wav"), atol=1e-6)
    np.testing.assert_allclose(track.mixture, sum(track.sources.values()), atol=4 / 32768)


def test_musdb_bad_inputs(fake_musdb, tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="use it with subsets='train'"):
        next(iter_musdb(fake_musdb, subsets="test", split="valid"))
    with pytest.raises(DatasetError, match="unknown MUSDB subset 'dev'"):
        next(iter_musdb(fake_musdb, subsets="dev"))
    with pytest.raises(DatasetError, match=r"does not exist; get MUSDB18-HQ from https://zenodo"):
        next(iter_musdb(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"is not a MUSDB18 folder: .*test is missing"):
        next(iter_musdb(tmp_path))
    monkeypatch.setattr(datasets.shutil, "which", lambda tool: None if tool == "ffprobe" else "/usr/bin/" + tool)
    with pytest.raises(DatasetError, match=r"musdb needs ffprobe on PATH .*apt-get install -y ffmpeg"):
        next(iter_musdb(fake_musdb))
    monkeypatch.undo()
    needs_ffmpeg()
    broken = tmp_path / "broken"
    shutil.copytree(fake_musdb / "test", broken / "test")
    (broken / "test" / "Gamma - Third Song" / "bass.wav").unlink()
    with pytest.raises(DatasetError, match=r"Gamma - Third Song/bass\.wav is missing"):
        next(iter_musdb(broken))
    (broken / "train").mkdir()
    with pytest.raises(DatasetError, match="holds no MUSDB tracks"):
        next(iter_musdb(broken, subsets="train"))


# ------------------------------------------------------------------------------------------- stems

@pytest.mark.parametrize("path, fixed, legacy", [
    ("song/drums.wav", "percussive", "percussive"),
    ("song/Drum Kit 2.flac", "percussive", "percussive"),
    ("song/Lead_Vocals.wav", "vocal", "vocal"),
    ("song/vocal_drum_bleed.wav", "percussive", "percussive"),  # "drum" is checked first
    ("song/mixture.wav", "mix", "mix"),
    ("song/Full Mix.wav", "mix", "mix"),
    ("song/bass.wav", "harmonic", "harmonic"),
    ("song/rhythm guitar.wav", "harmonic", "harmonic"),
    ("Drum Covers/song/bass.wav", "harmonic", "percussive"),  # the original matched the whole path
    ("vocal takes/guitar.wav", "harmonic", "vocal"),
    ("remixes/song/keys.wav", "harmonic", "mix"),
])
def test_classify_stem(path, fixed, legacy):
    assert classify_stem(path) == fixed
    assert classify_stem(path, legacy=True) == legacy


def sine(freq, n=2000, rate=44100, amp=0.1):
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)[None, :]


@pytest.fixture
def stem_root(tmp_path):
    """Two tracks: a folder whose name contains "drum" (two drum stems, no vocal, a mix file), and a
    nested folder (drums, vocals, keys) beside a text file."""
    root = tmp_path / "stems"
    a = root / "Drum Covers - Song A"
    parts_a = {"bass.wav": sine(55), "drums_kick.wav": sine(60), "drums_snare.wav": sine(200),
               "guitar.wav": sine(330), "mix.wav": sine(1000, amp=0.5)}
    for name, audio in parts_a.items():
        write(a / name, audio, 44100, subtype="FLOAT")
    b = root / "Song B" / "multitrack"
    parts_b = {"drums.wav": sine(80), "vocals.flac": sine(440), "keys.wav": sine(262)}
    for name, audio in parts_b.items():
        write(b / name, audio, 44100, subtype="FLOAT" if name.endswith(".wav") else "PCM_24")
    (root / "Song B" / "notes.txt").write_text("not audio")
    return root, {**{f"A/{k}": v for k, v in parts_a.items()}, **{f"B/{k}": v for k, v in parts_b.items()}}


def test_find_stem_tracks_fixed_rules(stem_root):
    root, _ = stem_root
    tracks = find_stem_tracks([root])
    assert [t.name for t in tracks] == ["Drum Covers - Song A", "multitrack"]
    a, b = tracks
    names = lambda paths: [p.name for p in paths]
    assert names(a.stems["percussive"]) == ["drums_kick.wav", "drums_snare.wav"]
    assert names(a.stems["harmonic"]) == ["bass.wav", "guitar.wav"]  # folder name "Drum ..." ignored
    assert names(a.stems["mix"]) == ["mix.wav"] and "vocal" not in a.stems
    assert {k: names(v) for k, v in b.stems.items()} == {
        "percussive": ["drums.wav"], "harmonic": ["keys.wav"], "vocal": ["vocals.flac"]}
    assert find_stem_tracks(root) == tracks  # a single folder is accepted too


def test_load_stem_track_sums_classes_and_fills_missing(stem_root):
    root, parts = stem_root
    a, b = find_stem_tracks([root])
    track = load_stem_track(a)
    assert track.rate == 44100 and track.path == a.folder and track.missing == {"vocal"}
    assert {k: v.shape for k, v in track.sources.items()} == {k: (1, 2000) for k in ("harmonic", "percussive", "vocal")}
    np.testing.assert_allclose(track.sources["percussive"], parts["A/drums_kick.wav"] + parts["A/drums_snare.wav"], atol=1e-6)
    np.testing.assert_allclose(track.sources["harmonic"], parts["A/bass.wav"] + parts["A/guitar.wav"], atol=1e-6)
    assert not track.sources["vocal"].any()
    # the supplied mix (a loud 1 kHz tone here) is ignored: the mixture is the sum of the stems
    np.testing.assert_allclose(track.mixture, track.sources["harmonic"] + track.sources["percussive"], atol=1e-7)
    assert np.abs(track.mixture - parts["A/mix.wav"]).max() > 0.3
    track_b = load_stem_track(b)
    assert track_b.missing == frozenset()
    np.testing.assert_allclose(track_b.sources["vocal"], parts["B/vocals.flac"], atol=1e-6)
    names = [t.name for t in iter_stem_tracks(root)]
    assert names == ["Drum Covers - Song A", "multitrack"]


def test_load_stem_track_stereo_and_resampled(tmp_path):
    folder = tmp_path / "song"
    write(folder / "guitar.wav", np.stack([sine(300)[0], sine(500)[0]]), 22050, subtype="FLOAT")
    write(folder / "bass.wav", sine(50), 22050, subtype="FLOAT")
    (track_info,) = find_stem_tracks(tmp_path)
    stereo = load_stem_track(track_info, rate=22050, mono=False)
    assert stereo.sources["harmonic"].shape == (2, 2000) and stereo.missing == {"percussive", "vocal"}
    np.testing.assert_allclose(stereo.sources["harmonic"][1], sine(500)[0] + sine(50)[0], atol=1e-6)
    resampled = load_stem_track(track_info)  # 22050 -> 44100 Hz, mono
    assert resampled.rate == 44100 and resampled.sources["harmonic"].shape == (1, 4000)


def test_stems_legacy_rules_reproduce_the_original(stem_root):
    root, parts = stem_root
    a, _ = find_stem_tracks([root], legacy=True)
    # the whole path contains "drum": every file is "percussive", the last one (mix.wav) wins, the
    # missing vocal index -1 is the last file too, and the other four files go to harmonic
    assert list(a.stems) == ["percussive"]
    track = load_stem_track(a)
    assert track.missing == {"vocal"}
    np.testing.assert_allclose(track.sources["percussive"], parts["A/mix.wav"], atol=1e-6)
    np.testing.assert_allclose(track.sources["vocal"], parts["A/mix.wav"], atol=1e-6)
    expected = sum(parts[f"A/{n}"] for n in ("bass.wav", "drums_kick.wav", "drums_snare.wav", "guitar.wav"))
    np.testing.assert_allclose(track.sources["harmonic"], expected, atol=1e-6)


def test_stems_legacy_several_percussion_files(tmp_path):
    folder = tmp_path / "song"
    parts = {"bass.wav": sine(55), "drums_a.wav": sine(70), "drums_b.wav": sine(90), "lead vocals.wav": sine(440)}
    for name, audio in parts.items():
        write(folder / name, audio, 44100, subtype="FLOAT")
    fixed = load_stem_track(find_stem_tracks(tmp_path)[0])
    legacy = load_stem_track(find_stem_tracks(tmp_path, legacy=True)[0])
    np.testing.assert_allclose(fixed.sources["percussive"], parts["drums_a.wav"] + parts["drums_b.wav"], atol=1e-6)
    np.testing.assert_allclose(fixed.sources["harmonic"], parts["bass.wav"], atol=1e-6)
    # original: only the last drum file is percussive, the earlier one is summed into harmonic
    np.testing.assert_allclose(legacy.sources["percussive"], parts["drums_b.wav"], atol=1e-6)
    np.testing.assert_allclose(legacy.sources["harmonic"], parts["bass.wav"] + parts["drums_a.wav"], atol=1e-6)
    for track in (fixed, legacy):
        np.testing.assert_allclose(track.sources["vocal"], parts["lead vocals.wav"], atol=1e-6)
        np.testing.assert_allclose(track.mixture, sum(parts.values()), atol=1e-6)


def test_stems_legacy_missing_voice_takes_the_last_file(tmp_path):
    folder = tmp_path / "song"
    parts = {"bass.wav": sine(55), "drums.wav": sine(70), "guitar.wav": sine(330)}
    for name, audio in parts.items():
        write(folder / name, audio, 44100, subtype="FLOAT")
    legacy = load_stem_track(find_stem_tracks(tmp_path, legacy=True)[0])
    # index -1 picks guitar.wav as the voice, and (-1 never equals an enumerate index) guitar also stays
    # in harmonic, so the original's mixture holds the guitar twice
    assert legacy.missing == {"vocal"}
    np.testing.assert_allclose(legacy.sources["vocal"], parts["guitar.wav"], atol=1e-6)
    np.testing.assert_allclose(legacy.sources["harmonic"], parts["bass.wav"] + parts["guitar.wav"], atol=1e-6)
    np.testing.assert_allclose(legacy.mixture, sum(parts.values()) + parts["guitar.wav"], atol=1e-6)
    fixed = load_stem_track(find_stem_tracks(tmp_path)[0])
    assert fixed.missing == {"vocal"} and not fixed.sources["vocal"].any()
    np.testing.assert_allclose(fixed.mixture, sum(parts.values()), atol=1e-6)


def test_stems_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match=r"stem folder .*nowhere does not exist"):
        find_stem_tracks([tmp_path / "nowhere"])
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no audio files \(\.wav.*found under .*empty"):
        find_stem_tracks(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no stem folders given"):
        find_stem_tracks([])
    lengths = tmp_path / "lengths"
    write(lengths / "bass.wav", sine(50, n=1000), 44100)
    write(lengths / "drums.wav", sine(50, n=900), 44100)
    with pytest.raises(DatasetError, match=r"lengths: stems of unequal lengths \(bass\.wav=1000, drums\.wav=900 samples\)"):
        load_stem_track(find_stem_tracks(lengths)[0])
    rates = tmp_path / "rates"
    write(rates / "guitar.wav", sine(50, n=1000), 44100)
    write(rates / "vocals.wav", sine(50, n=1000), 22050)
    with pytest.raises(DatasetError, match=r"stems of unequal sample rates \(guitar\.wav=44100, vocals\.wav=22050 Hz\)"):
        load_stem_track(find_stem_tracks(rates)[0])
    only_mix = tmp_path / "onlymix"
    write(only_mix / "mixture.wav", sine(50), 44100)
    with pytest.raises(DatasetError, match=r"onlymix: no stems besides a mix file"):
        load_stem_track(find_stem_tracks(only_mix)[0])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bass.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(DatasetError, match=r"broken/bass\.wav: not a readable audio file"):
        load_stem_track(find_stem_tracks(broken)[0])
    # a hand-made StemTrack works too
    write(tmp_path / "hand" / "x.wav", sine(50), 44100)
    hand = StemTrack(name="hand", folder=tmp_path / "hand", stems={"harmonic": [tmp_path / "hand" / "x.wav"]})
    assert load_stem_track(hand).missing == {"percussive", "vocal"}
