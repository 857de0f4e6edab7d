"""Dataset and stem loaders that stream one track at a time.

Three sources of multitrack audio, each turned into :class:`Track` objects:

* MIR-1K (Hsu & Jang 2010), Huang et al.'s split: :func:`mir1k_clips`, :func:`load_mir1k_clip`,
  :func:`iter_mir1k`.
* MUSDB18 (``.stem.mp4``) / MUSDB18-HQ (WAV folders) through the ``musdb`` package (imported lazily):
  :func:`musdb_tracks`, :func:`iter_musdb`; the release is told from the folder by
  :func:`detect_musdb_layout`, and every command offers ``--musdb-format`` (:func:`add_musdb_format_argument`).
* A folder of stems (Periphery-style, as MiXiN trains on): :func:`classify_stem`,
  :func:`find_stem_tracks`, :func:`load_stem_track`, :func:`iter_stem_tracks`.

Every iterator is a generator holding one track in memory at a time. All audio arrays are float32
``(channels, samples)``. Errors are :class:`DatasetError` with a one-line message that names the file
or folder and says what to do.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from common.audio import AudioError, audio_info, load_audio


class DatasetError(ValueError):
    """A dataset folder or one of its files is not what the loader expects (one-line message)."""


@dataclass
class Track:
    """One multitrack example.

    name: track name; rate: sample rate in Hz;
    sources: source name -> float32 (channels, samples); mixture: float32 (channels, samples);
    path: the file or folder it came from; missing: source names absent on disk (filled with zeros).
    """

    name: str
    rate: int
    sources: dict[str, np.ndarray]
    mixture: np.ndarray
    path: Path | None = None
    missing: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------------------------------
# MIR-1K
# --------------------------------------------------------------------------------------------------

MIR1K_URL = "http://mirlab.org/dataset/public/MIR-1K.zip"  # mir-dataset-loaders/mirdata:mirdata/datasets/mir_1k.py (REMOTES)
MIR1K_RATE = 16000  # 16 kHz clips: mir-dataset-loaders/mirdata:mirdata/datasets/mir_1k.py
MIR1K_SPLITS = ("train", "dev", "test")
MIR1K_EXTENSIONS = (".wav", ".flac")

# Huang's split, posenhuang/deeplearningsourceseparation:codes/mir1k/Wavfile/{train,dev}/ and TASLP 2015
# footnote 3: train = singers abjones and amy minus these four clips; dev = these four; test = the rest.
MIR1K_TRAIN_SINGERS = ("abjones", "amy")
MIR1K_DEV_CLIPS = ("abjones_5_08", "abjones_5_09", "amy_9_08", "amy_9_09")
# Clips per split of Huang's full partition (TASLP §IV-C: 175 train+dev clips, 825 test clips)
MIR1K_SPLIT_CLIPS = {"train": 171, "dev": 4, "test": 825}
# The 17 test singers (posenhuang/deeplearningsourceseparation:codes/mir1k/Wavfile/test/, 825 clips).
MIR1K_TEST_SINGERS = ("Ani", "Kenshin", "annar", "ariel", "bobon", "bug", "davidson", "fdps",
                      "geniusturtle", "heycat", "jmzen", "khair", "leon", "stool", "tammy", "titon",
                      "yifen")
_MIR1K_NAME = re.compile(r"^(?P<singer>[A-Za-z]+)_(?P<song>\d+)_(?P<clip>\d+)$")

_MIR1K_LAYOUTS = ("<root>/{train,dev,test}/*.wav|flac",
                  "<root>/Wavfile/{train,dev,test}/*.wav (posenhuang/deeplearningsourceseparation)",
                  "<root>/Wavfile/*.wav (the original MIR-1K.zip, 1000 clips; split from singer names)")


def _audio_files(folder: Path, extensions: Sequence[str]) -> list[Path]:
    """Sorted audio files directly inside `folder` (hidden files such as macOS '._x.wav' skipped)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."))


def mir1k_split_of(name: str) -> str:
    """Huang's split ("train" | "dev" | "test") of a MIR-1K clip from its name ``<singer>_<song>_<clip>``."""
    stem = Path(name).name.split(".")[0]  # the name, or a path to the clip
    match = _MIR1K_NAME.match(stem)
    singers = {s.lower() for s in MIR1K_TRAIN_SINGERS + MIR1K_TEST_SINGERS}
    if match is None or match["singer"].lower() not in singers:
        raise DatasetError(f"{name}: not a MIR-1K clip name (expected <singer>_<song>_<clip> with one of "
                           f"the 19 MIR-1K singers, e.g. abjones_1_01.wav)")
    if stem.lower() in MIR1K_DEV_CLIPS:
        return "dev"
    if match["singer"].lower() in MIR1K_TRAIN_SINGERS:
        return "train"
    return "test"


def _no_duplicates(files: list[Path]) -> list[Path]:
    """Refuse a clip present twice (e.g. as both .wav and .flac), which would be counted twice."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise DatasetError(f"{path} and {seen[path.stem]}: the same MIR-1K clip twice; keep one of them")
        seen[path.stem] = path
    return files


def mir1k_clips(root: str | os.PathLike, split: str) -> list[Path]:
    """Sorted paths of the MIR-1K clips of Huang's `split` ("train" | "dev" | "test") under `root`.

    Layouts accepted (checked in this order): ``root/{train,dev,test}/``, ``root/Wavfile/{train,dev,test}/``,
    and the flat ``root/Wavfile/`` (or `root` itself holding the clips) of the original archive, whose split
    comes from the singer names. Clips may be ``.wav`` or ``.flac``.
    """
    if split not in MIR1K_SPLITS:
        raise DatasetError(f"unknown MIR-1K split {split!r}; choose one of {', '.join(MIR1K_SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"MIR-1K root {root} does not exist; download {MIR1K_URL}, unzip it and pass the "
                           f"MIR-1K folder (the one holding Wavfile/)")
    for base in (root, root / "Wavfile"):
        if any((base / s).is_dir() for s in MIR1K_SPLITS):
            folder = base / split
            if not folder.is_dir():
                raise DatasetError(f"{folder} is missing: a split-folder MIR-1K layout needs train/, dev/ "
                                   f"and test/ under {base}")
            files = _no_duplicates(_audio_files(folder, MIR1K_EXTENSIONS))
            if not files:
                raise DatasetError(f"{folder} holds no .wav or .flac clips")
            return files
    for base in (root / "Wavfile", root):
        if base.is_dir():
            files = _audio_files(base, MIR1K_EXTENSIONS)
            if files:
                return _no_duplicates([p for p in files if mir1k_split_of(str(p)) == split])
    raise DatasetError(f"{root} matches no MIR-1K layout (accepted: {'; '.join(_MIR1K_LAYOUTS)}); "
                       f"get MIR-1K from {MIR1K_URL}")


def unit_energy(x: np.ndarray, what: str = "signal") -> np.ndarray:
    """`x` divided by its L2 norm sqrt(sum(x**2)), so that sum(y**2) == 1 (float32, same shape).

    Huang's 0 dB mix: posenhuang/deeplearningsourceseparation:codes/mir1k/formulate_data.m
    (``train1./sqrt(sum(train1.^2))``). A silent signal (norm 0; NaN in the original) is an error.
    """
    norm = float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))
    if not np.isfinite(norm) or norm == 0.0:
        raise DatasetError(f"{what} is silent (zero energy), so it cannot be scaled to unit energy for a "
                           f"0 dB mix; use mix='sum' or remove the clip")
    return (x / norm).astype(np.float32)


def load_mir1k_clip(path: str | os.PathLike, mix: str = "sum", sr: int | None = MIR1K_RATE) -> Track:
    """One MIR-1K clip as a Track.

    sources: {"accompaniment": (1, S) left channel, "vocals": (1, S) right channel}
    (mir-dataset-loaders/mirdata:mirdata/datasets/mir_1k.py; posenhuang/deeplearningsourceseparation:
    codes/mir1k/formulate_data.m takes ``train_wav(:,2)`` as singing and ``train_wav(:,1)`` as music).
    mix: "sum" keeps the stored levels (already energy-matched in MIR-1K); "0db" first scales each source
    to unit energy (Huang). mixture = accompaniment + vocals, (1, S). sr: resample to this rate
    (default 16000, a no-op for MIR-1K); None keeps the file's rate.
    """
    if mix not in ("sum", "0db"):
        raise DatasetError(f"unknown MIR-1K mix {mix!r}; choose 'sum' (plain sum) or '0db' (unit-energy sources)")
    path = Path(path)
    try:
        audio, rate = load_audio(path, sr=sr, mono=False, max_channels=2)
    except AudioError as err:
        raise DatasetError(str(err)) from err
    if audio.shape[0] != 2:
        raise DatasetError(f"{path}: has {audio.shape[0]} channel(s); a MIR-1K clip is stereo with the "
                           f"accompaniment on the left and the voice on the right")
    accompaniment, vocals = audio[0:1], audio[1:2]
    if mix == "0db":
        accompaniment = unit_energy(accompaniment, f"{path}: the accompaniment (left channel)")
        vocals = unit_energy(vocals, f"{path}: the voice (right channel)")
    return Track(name=path.stem, rate=int(rate),
                 sources={"accompaniment": accompaniment, "vocals": vocals},
                 mixture=(accompaniment + vocals).astype(np.float32), path=path)


def iter_mir1k(root: str | os.PathLike, split: str, mix: str = "sum", limit: int | None = None,
               sr: int | None = MIR1K_RATE) -> Iterator[Track]:
    """Yield the clips of `split` one at a time (sorted by name), at most `limit` of them."""
    clips = mir1k_clips(root, split)
    for path in clips[:limit] if limit is not None else clips:
        yield load_mir1k_clip(path, mix=mix, sr=sr)


# --------------------------------------------------------------------------------------------------
# MUSDB18 / MUSDB18-HQ (through the musdb package)
# --------------------------------------------------------------------------------------------------

MUSDB_SOURCES = ("drums", "bass", "other", "vocals")  # sigsep/sigsep-mus-db:musdb/configs/mus.yaml (sources)
MUSDB_HQ_URL = "https://zenodo.org/record/3338373"  # MUSDB18-HQ, sevagh/xumx-sliCQ:README.md
MUSDB_URL = "https://zenodo.org/record/1117372"  # MUSDB18 (.stem.mp4), sigsep/sigsep-mus-db:README.md
MUSDB_RATE = 44100  # sigsep/sigsep-mus-db:musdb/configs/mus.yaml (sample_rate)
# The two releases: "wav" = MUSDB18-HQ folders (musdb is_wav=True), "stems" = MUSDB18 .stem.mp4 (is_wav=False).
MUSDB_LAYOUTS = ("wav", "stems")
MUSDB_FORMATS = ("auto",) + MUSDB_LAYOUTS
MUSDB_STEM_SUFFIX = ".stem.mp4"  # the only files musdb lists with is_wav=False (musdb/__init__.py load_mus_tracks)
# Stream order of a .stem.mp4: mixture, drums, bass, other, vocals (mus.yaml stem_ids 0..4).
_MUSDB_STREAMS = ("mixture",) + MUSDB_SOURCES
_AAC_FRAME = 1024  # samples per AAC-LC frame: the decoded length may differ from the header's by padding
_MUSDB_LAYOUT = ("<root>/{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav for MUSDB18-HQ "
                 "or <root>/{train,test}/<Artist - Title>.stem.mp4 for MUSDB18")


def add_musdb_format_argument(parser) -> None:
    """Add ``--musdb-format auto|wav|stems`` (default auto) to an argparse parser: the one MUSDB option
    every command shares; pass ``args.musdb_format`` on to :func:`iter_musdb` / :func:`musdb_tracks`."""
    parser.add_argument("--musdb-format", choices=MUSDB_FORMATS, default="auto",
                        help="MUSDB release under --root: wav = MUSDB18-HQ track folders, stems = MUSDB18 "
                             ".stem.mp4 files, auto = detect from the folder (default)")


def _musdb_contents(folder: Path) -> tuple[list[Path], list[Path]]:
    """(track folders holding .wav files, .stem.mp4 files) directly inside a subset folder; hidden entries
    (e.g. macOS '._x') skipped."""
    wav_tracks, stem_files = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.name.lower().endswith(MUSDB_STEM_SUFFIX):
            stem_files.append(entry)
        elif entry.is_dir() and any(p.suffix.lower() == ".wav" and not p.name.startswith(".")
                                    for p in entry.iterdir()):
            wav_tracks.append(entry)
    return wav_tracks, stem_files


def detect_musdb_layout(root: str | os.PathLike, subsets: str | Sequence[str] = ("train", "test")) -> str:
    """Which MUSDB release `root` holds: "wav" (MUSDB18-HQ: ``<subset>/<track>/*.wav``) or "stems" (MUSDB18:
    ``<subset>/<track>.stem.mp4``), looking at the `subsets` folders that exist.

    Raises DatasetError (one line) when the folders hold both kinds or neither.
    """
    root = Path(root)
    subsets = [subsets] if isinstance(subsets, str) else list(subsets)
    folders = [root / s for s in subsets if (root / s).is_dir()]
    if not folders:
        hint = f"; {root} looks like a subset folder itself: pass its parent" if root.name in ("train", "test") else ""
        raise DatasetError(f"{root} is not a MUSDB18 folder: none of {', '.join(subsets)} is in it "
                           f"(expected {_MUSDB_LAYOUT}){hint}")
    wav_tracks, stem_files = [], []
    for folder in folders:
        wavs, stems = _musdb_contents(folder)
        wav_tracks += wavs
        stem_files += stems
    if wav_tracks and stem_files:
        raise DatasetError(f"{root} mixes both MUSDB releases: {len(wav_tracks)} WAV track folder(s) (e.g. "
                           f"{wav_tracks[0]}) and {len(stem_files)} .stem.mp4 file(s) (e.g. {stem_files[0]}); "
                           f"keep one release per root, or choose one with --musdb-format wav|stems")
    if wav_tracks:
        return "wav"
    if stem_files:
        return "stems"
    where = ", ".join(str(f) for f in folders)
    raise DatasetError(f"{root} holds no MUSDB tracks: no track folder of .wav files and no .stem.mp4 file in "
                       f"{where} (expected {_MUSDB_LAYOUT})")


def resolve_musdb_layout(root: str | os.PathLike, musdb_format: str = "auto",
                         subsets: str | Sequence[str] = ("train", "test")) -> str:
    """"wav" or "stems": `musdb_format` itself, or with "auto" what :func:`detect_musdb_layout` finds."""
    if musdb_format not in MUSDB_FORMATS:
        raise DatasetError(f"unknown MUSDB format {musdb_format!r}; choose one of {', '.join(MUSDB_FORMATS)}")
    return detect_musdb_layout(root, subsets) if musdb_format == "auto" else musdb_format


def _import_musdb():
    """Import musdb, which (through stempeg) needs ffmpeg and ffprobe on PATH even for WAV files."""
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        raise DatasetError(f"musdb needs {' and '.join(missing)} on PATH (even for MUSDB18-HQ WAVs); install "
                           f"them, e.g. `apt-get install -y ffmpeg`")
    try:
        import musdb
    except ImportError as err:
        raise DatasetError(f"the musdb package is not installed ({err}); `pip install musdb`") from err
    except RuntimeError as err:  # stempeg's "ffmpeg or ffprobe could not be found!"
        raise DatasetError(f"musdb could not start ({err}); install ffmpeg, e.g. `apt-get install -y ffmpeg`") from err
    return musdb


def _unreadable_stem_file(root: Path, subsets: Sequence[str]) -> tuple[Path, str] | None:
    """(the first .stem.mp4 under root/<subsets> whose header ffprobe cannot read, why), or None."""
    import stempeg

    for subset in subsets:  # hidden files too: musdb lists e.g. macOS '._x.stem.mp4' as tracks
        for path in sorted(p for p in (root / subset).iterdir() if p.name.lower().endswith(MUSDB_STEM_SUFFIX)):
            try:
                info = stempeg.Info(str(path))
            except Exception:  # ffmpeg.Error: ffprobe's message is on its captured stderr
                return path, "ffprobe cannot parse it"
            if not info.audio_streams:
                return path, "ffprobe finds no audio stream in it"
    return None


def musdb_tracks(root: str | os.PathLike, subsets: str | Sequence[str] = "test", split: str | None = None,
                 is_wav: bool | None = None, musdb_format: str = "auto") -> list:
    """The musdb ``MultiTrack`` objects of `subsets`/`split`, listed but not decoded.

    subsets: "train", "test" or both; split: None, "train" (the training tracks minus the 14 validation
    tracks of sigsep/sigsep-mus-db:musdb/configs/mus.yaml) or "valid" (those 14), only with subsets="train".
    musdb_format: "auto" (detect the release from the folder, :func:`detect_musdb_layout`), "wav"
    (MUSDB18-HQ) or "stems" (MUSDB18 .stem.mp4). is_wav: the older spelling; True = "wav", False = "stems".
    """
    subsets = [subsets] if isinstance(subsets, str) else list(subsets)
    for subset in subsets:
        if subset not in ("train", "test"):
            raise DatasetError(f"unknown MUSDB subset {subset!r}; choose 'train' and/or 'test'")
    if split not in (None, "train", "valid"):
        raise DatasetError(f"unknown MUSDB split {split!r}; choose None, 'train' or 'valid'")
    if split is not None and subsets != ["train"]:
        # the same rule musdb enforces: sigsep/sigsep-mus-db:musdb/__init__.py (load_mus_tracks)
        raise DatasetError(f"split={split!r} selects part of the MUSDB training set; use it with subsets='train'")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"MUSDB root {root} does not exist; get MUSDB18-HQ from {MUSDB_HQ_URL} or MUSDB18 "
                           f"from {MUSDB_URL} and pass the folder holding train/ and test/")
    for subset in subsets:
        if not (root / subset).is_dir():
            hint = f"; {root} looks like a subset folder itself: pass its parent" if root.name in ("train", "test") else ""
            raise DatasetError(f"{root} is not a MUSDB18 folder: {root / subset} is missing "
                               f"(expected {_MUSDB_LAYOUT}){hint}")
    if is_wav is not None:
        musdb_format = "wav" if is_wav else "stems"
    layout = resolve_musdb_layout(root, musdb_format, subsets)
    musdb = _import_musdb()
    try:
        # stems: ffmpeg resamples to 44.1 kHz should a file differ (a no-op for MUSDB18, which is 44.1 kHz)
        db = musdb.DB(root=str(root), subsets=subsets, split=split, is_wav=layout == "wav",
                      sample_rate=MUSDB_RATE if layout == "stems" else None)
    except Exception as err:  # musdb raises RuntimeError/OSError/ffmpeg.Error with no file name
        bad = _unreadable_stem_file(root, subsets) if layout == "stems" else None
        if bad is not None:
            raise DatasetError(f"{bad[0]}: not a readable .stem.mp4 ({bad[1]}: truncated or corrupt); "
                               f"download it again from {MUSDB_URL}") from err
        raise DatasetError(f"{root}: musdb could not list the tracks ({err}); expected {_MUSDB_LAYOUT}") from err
    if len(db.tracks) == 0:
        forced = f"; read as --musdb-format {layout}: try --musdb-format auto" if musdb_format != "auto" else ""
        raise DatasetError(f"{root} holds no MUSDB tracks of the {layout!r} release for subsets={subsets} "
                           f"split={split} (expected {_MUSDB_LAYOUT}){forced}")
    return list(db.tracks)


def iter_musdb(root: str | os.PathLike, subsets: str | Sequence[str] = "test", split: str | None = None,
               is_wav: bool | None = None, musdb_format: str = "auto") -> Iterator[Track]:
    """Yield MUSDB18(-HQ) tracks one at a time, in musdb's order (subset, then track name).

    subsets/split/musdb_format/is_wav as in :func:`musdb_tracks` (the release is detected from the folder
    by default). sources: {"drums","bass","other","vocals"} (2, S) float32; mixture: the supplied mixture
    (2, S); rate: the WAVs' rate (44100 Hz for MUSDB18-HQ), or 44100 for .stem.mp4 files (decoded by
    ffmpeg through musdb/stempeg, via 16-bit PCM as musdb does); path: the track folder or the .stem.mp4 file.
    """
    for mtrack in musdb_tracks(root, subsets=subsets, split=split, is_wav=is_wav, musdb_format=musdb_format):
        yield _musdb_track(mtrack, mtrack.is_wav)


def _musdb_track(mtrack, is_wav: bool) -> Track:
    """Read one musdb MultiTrack (mixture + 4 sources) into a Track."""
    folder = Path(mtrack.path).parent if is_wav else Path(mtrack.path)
    if is_wav:
        # musdb silently drops a missing source file; refuse it instead, naming the file
        for name in ("mixture",) + MUSDB_SOURCES:
            if not (folder / f"{name}.wav").is_file():
                raise DatasetError(f"{folder / (name + '.wav')} is missing: a MUSDB18-HQ track folder holds "
                                   f"mixture.wav, drums.wav, bass.wav, other.wav and vocals.wav")
    else:
        _check_stem_streams(mtrack)
    try:
        mixture = np.ascontiguousarray(mtrack.audio.T, dtype=np.float32)
        sources = {name: np.ascontiguousarray(mtrack.sources[name].audio.T, dtype=np.float32)
                   for name in MUSDB_SOURCES}
    except KeyError as err:
        raise DatasetError(f"{mtrack.path}: MUSDB track without the {err} source") from err
    except Exception as err:  # ffmpeg decoding errors carry no file name
        raise DatasetError(f"{mtrack.path}: could not be decoded by musdb/ffmpeg ({err})") from err
    if not is_wav:
        _check_stem_decoded(mtrack, {"mixture": mixture, **sources})
    return Track(name=mtrack.name, rate=MUSDB_RATE if not is_wav else int(mtrack.rate), sources=sources,
                 mixture=mixture, path=folder)


def _check_stem_streams(mtrack) -> None:
    """Refuse a .stem.mp4 without the five audio streams of MUSDB18 (read from its header)."""
    streams = mtrack.info.audio_streams
    if len(streams) < len(_MUSDB_STREAMS):
        raise DatasetError(f"{mtrack.path}: {len(streams)} audio stream(s); a MUSDB18 .stem.mp4 holds "
                           f"{len(_MUSDB_STREAMS)} ({', '.join(_MUSDB_STREAMS)})")


def _check_stem_decoded(mtrack, decoded: dict[str, np.ndarray]) -> None:
    """Refuse what ffmpeg decoded from a truncated or corrupt .stem.mp4: stempeg ignores ffmpeg's exit
    status, so a file cut short decodes to fewer samples than its header announces (or to none).

    decoded: stream name -> (C, S) as decoded; each must be stereo and at least the header's length
    (rescaled to 44.1 kHz) minus one AAC frame of padding.
    """
    expected = int(mtrack.info.samples(0) * MUSDB_RATE / mtrack.info.rate(0))
    for name, audio in decoded.items():
        if audio.shape[1] < expected - _AAC_FRAME:
            raise DatasetError(f"{mtrack.path}: truncated or corrupt: the {name} stream decodes to "
                               f"{audio.shape[1]} samples but the file announces {expected}; download it "
                               f"again from {MUSDB_URL}")
        if audio.shape[0] != 2:
            raise DatasetError(f"{mtrack.path}: the {name} stream has {audio.shape[0]} channel(s); MUSDB18 "
                               f"stems are stereo")
    lengths = {a.shape[1] for a in decoded.values()}
    if len(lengths) > 1:
        raise DatasetError(f"{mtrack.path}: streams of unequal lengths {sorted(lengths)} samples (truncated "
                           f"or corrupt); download it again from {MUSDB_URL}")


# --------------------------------------------------------------------------------------------------
# Stems folders (Periphery-style, as MiXiN's stem preparation reads them)
# --------------------------------------------------------------------------------------------------

STEM_CLASSES = ("harmonic", "percussive", "vocal")
# The original reads only .wav (sevagh/MiXiN:mixin/dataprep/stems.py); here anything soundfile reads.
STEM_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")


def classify_stem(path: str | os.PathLike, legacy: bool = False) -> str:
    """The class of a stem file: "percussive" | "vocal" | "mix" | "harmonic".

    Rules of sevagh/MiXiN:mixin/dataprep/stems.py, checked in order on the lower-cased name: contains
    "drum" -> percussive, else "vocal" -> vocal, else "mix" -> the supplied mix (ignored), else harmonic.
    legacy=False (default) looks at the file name only; legacy=True at the whole path, as the original
    did (so a folder named e.g. "Drum Covers" made every stem in it percussive).
    """
    path = Path(path)
    text = str(path).lower() if legacy else path.name.lower()
    for needle, cls in (("drum", "percussive"), ("vocal", "vocal"), ("mix", "mix")):
        if needle in text:
            return cls
    return "harmonic"


@dataclass
class StemTrack:
    """A folder of stems: name (the folder name), folder, stems: class -> sorted files of that class
    (classes "harmonic", "percussive", "vocal", "mix"; only classes with files are present),
    files: every audio file of the folder, sorted (what legacy loading indexes into)."""

    name: str
    folder: Path
    stems: dict[str, list[Path]]
    files: list[Path] = field(default_factory=list)
    legacy: bool = False


def find_stem_tracks(dirs: str | os.PathLike | Iterable[str | os.PathLike], legacy: bool = False) -> list[StemTrack]:
    """Every folder under `dirs` (each dir included) that holds audio files is one track; sorted by path.

    The original walked each entry of each dir (sevagh/MiXiN:mixin/dataprep/stems.py, ``os.scandir`` +
    ``os.walk``, unsorted); here the walk is sorted, so the order is the same on every filesystem.
    legacy: classify with the original's whole-path rules (see :func:`classify_stem`).
    """
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise DatasetError("no stem folders given; pass one or more folders holding <track>/<stem>.wav")
    tracks = []
    for top in dirs:
        if not top.is_dir():
            raise DatasetError(f"stem folder {top} does not exist (or is not a folder)")
        for folder, subfolders, _ in os.walk(top):
            subfolders.sort()
            folder = Path(folder)
            files = _audio_files(folder, STEM_EXTENSIONS)
            if not files:
                continue
            stems: dict[str, list[Path]] = {}
            for path in files:
                stems.setdefault(classify_stem(path, legacy=legacy), []).append(path)
            tracks.append(StemTrack(name=folder.name, folder=folder, stems=stems, files=files, legacy=legacy))
    if not tracks:
        raise DatasetError(f"no audio files ({', '.join(STEM_EXTENSIONS)}) found under "
                           f"{', '.join(str(d) for d in dirs)}; expected <dir>/<track>/<stem>.wav")
    return sorted(tracks, key=lambda t: str(t.folder))


def _check_stems_match(files: Sequence[Path]) -> None:
    """Refuse stems whose sample rates or lengths differ (the original's length assert never fired,
    sevagh/MiXiN:mixin/dataprep/stems.py ``assert (generator)``). Reads headers only."""
    infos = {}
    for path in files:
        try:
            infos[path] = audio_info(path)
        except AudioError as err:
            raise DatasetError(str(err)) from err
    for attr, what in (("samplerate", "sample rates"), ("frames", "lengths")):
        values = {p: getattr(i, attr) for p, i in infos.items()}
        if len(set(values.values())) > 1:
            listing = ", ".join(f"{p.name}={v}" for p, v in values.items())
            unit = " Hz" if attr == "samplerate" else " samples"
            raise DatasetError(f"{files[0].parent}: stems of unequal {what} ({listing}{unit}); "
                               f"every stem of a track must have the same rate and length")


def load_stem_track(track: StemTrack, rate: int = 44100, mono: bool = True) -> Track:
    """Load a stem folder: each class summed over its files, resampled to `rate`.

    sources: {"harmonic", "percussive", "vocal"} float32 (C, S), C = 1 when mono (channel mean, as
    essentia's MonoLoader) else the largest channel count (mono stems are spread over both channels);
    a class with no file is zeros and listed in Track.missing. The supplied "mix" file is ignored and
    mixture = harmonic + percussive + vocal (sevagh/MiXiN:mixin/dataprep/stems.py, "make our own").
    With track.legacy the original's file selection is reproduced: the LAST file matching "drum" is the
    percussive stem and other drum files go to harmonic; a missing drum or vocal stem takes the last
    file of the folder (index -1, listed in Track.missing), which also stays in harmonic.
    """
    if track.legacy:
        selection, missing = _legacy_selection(track)
    else:
        selection = {cls: list(track.stems.get(cls, [])) for cls in STEM_CLASSES}
        missing = frozenset(cls for cls in STEM_CLASSES if not selection[cls])
    used = sorted({p for paths in selection.values() for p in paths})
    if not used:
        raise DatasetError(f"{track.folder}: no stems besides a mix file; add the stem files "
                           f"(drums/vocals/other instruments) to build sources from")
    _check_stems_match(used)
    loaded: dict[Path, np.ndarray] = {}
    for path in used:
        try:
            loaded[path], _ = load_audio(path, sr=rate, mono=mono, max_channels=2)
        except AudioError as err:
            raise DatasetError(str(err)) from err
    channels = max(a.shape[0] for a in loaded.values())
    samples = loaded[used[0]].shape[1]
    sources = {}
    for cls in STEM_CLASSES:
        total = np.zeros((channels, samples), dtype=np.float32)
        for path in selection[cls]:
            total += loaded[path]  # a mono (1, S) stem broadcasts over (2, S)
        sources[cls] = total
    mixture = sources["harmonic"] + sources["percussive"] + sources["vocal"]
    return Track(name=track.name, rate=rate, sources=sources, mixture=mixture, path=track.folder,
                 missing=missing)


def _legacy_selection(track: StemTrack) -> tuple[dict[str, list[Path]], frozenset[str]]:
    """The original's index bookkeeping (sevagh/MiXiN:mixin/dataprep/stems.py): one index per class, the
    last matching file wins, -1 (the last file) when none matched; harmonic = every other file.
    Returns (class -> files, classes that fell back to index -1 or, for harmonic, got no file)."""
    files = track.files or sorted(p for paths in track.stems.values() for p in paths)
    if not files:
        raise DatasetError(f"{track.folder}: no stem files")
    index = {"percussive": -1, "vocal": -1, "mix": -1}
    for i, path in enumerate(files):
        cls = classify_stem(path, legacy=True)
        if cls in index:
            index[cls] = i
    # the original compared enumerate() indices (never -1) with these, so a missing class excludes nothing
    excluded = {i for i in index.values() if i >= 0}
    selection = {"harmonic": [p for i, p in enumerate(files) if i not in excluded],
                 "percussive": [files[index["percussive"]]],
                 "vocal": [files[index["vocal"]]]}
    missing = {cls for cls in ("percussive", "vocal") if index[cls] < 0}
    if not selection["harmonic"]:
        missing.add("harmonic")
    return selection, frozenset(missing)


def iter_stem_tracks(dirs: str | os.PathLike | Iterable[str | os.PathLike], rate: int = 44100,
                     mono: bool = True, legacy: bool = False) -> Iterator[Track]:
    """Yield every stem folder under `dirs` as a Track, one at a time (see :func:`load_stem_track`)."""
    for track in find_stem_tracks(dirs, legacy=legacy):
        yield load_stem_track(track, rate=rate, mono=mono)


__all__ = [
    "DatasetError", "Track", "MIR1K_DEV_CLIPS", "MIR1K_SPLIT_CLIPS", "MIR1K_TRAIN_SINGERS", "MIR1K_TEST_SINGERS", "MIR1K_URL",
    "mir1k_split_of", "mir1k_clips", "load_mir1k_clip", "iter_mir1k", "unit_energy",
    "MUSDB_SOURCES", "MUSDB_FORMATS", "MUSDB_LAYOUTS", "MUSDB_RATE", "add_musdb_format_argument",
    "detect_musdb_layout", "resolve_musdb_layout", "musdb_tracks", "iter_musdb",
    "STEM_CLASSES", "STEM_EXTENSIONS", "classify_stem", "StemTrack", "find_stem_tracks", "load_stem_track",
    "iter_stem_tracks",
]
