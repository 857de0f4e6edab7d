"""Reference sources for evaluation: one dataset interface, and system target names mapped onto it.

Systems name their outputs differently (MiXiN: harmonic/percussive/vocal; the singing-voice systems:
vocals/accompaniment; MUSDB: drums/bass/other/vocals). :func:`reference_for` builds the reference of
any of these names from a dataset track, e.g. MiXiN's ``harmonic`` on MUSDB is bass + other, as in
MiXiN's own evaluation (sevagh/MiXiN README; ../shared/design/mixin.md §7.2).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from common.datasets import Track, find_stem_tracks, iter_mir1k, iter_musdb, load_stem_track

DATASETS = ("musdb", "mir1k", "stems")

# target name -> the track sources it sums, tried in order (the first whose parts all exist wins).
_TARGET_PARTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "vocals": (("vocals",), ("vocal",)),
    "vocal": (("vocal",), ("vocals",)),
    "voice": (("vocals",), ("vocal",)),
    "drums": (("drums",), ("percussive",)),
    "percussive": (("percussive",), ("drums",)),
    "bass": (("bass",),),
    "other": (("other",),),
    "harmonic": (("harmonic",), ("bass", "other")),
    "accompaniment": (("accompaniment",), ("drums", "bass", "other"), ("harmonic", "percussive")),
    "music": (("accompaniment",), ("drums", "bass", "other"), ("harmonic", "percussive")),
}


#: Extensions of estimate files, in order of preference (the separate commands' --format wav|flac).
ESTIMATE_EXTENSIONS = (".wav", ".flac")


def estimate_files(track_dir) -> list:
    """The estimates in a system's ``<track>`` folder: ``<target>.wav`` or ``<target>.flac``, one per target
    (a WAV wins over a FLAC of the same name), sorted by target name."""
    from pathlib import Path

    found: dict = {}
    for ext in ESTIMATE_EXTENSIONS:
        for path in Path(track_dir).glob(f"*{ext}"):
            found.setdefault(path.stem, path)
    return [found[k] for k in sorted(found)]


def reference_for(track: Track, target: str) -> np.ndarray | None:
    """The reference signal (channels, samples) of ``target`` in ``track``, or None if the track
    has no such source."""
    for parts in _TARGET_PARTS.get(target, ((target,),)):
        if all(p in track.sources for p in parts):
            return np.sum([track.sources[p] for p in parts], axis=0).astype(np.float32)
    return None


def iter_tracks(dataset: str, root, split: str = "test", mir1k_mix: str = "sum",
                musdb_format: str = "auto") -> Iterator[Track]:
    """Tracks of a dataset, one at a time.

    dataset: ``musdb`` (split ``test``, ``train`` or ``valid``), ``mir1k`` (``train``, ``dev``,
    ``test``) or ``stems`` (a stems folder; the split is ignored). musdb_format: ``auto`` | ``wav`` |
    ``stems``, the MUSDB release (see common.datasets.detect_musdb_layout).
    """
    if dataset == "musdb":
        if split == "test":
            yield from iter_musdb(root, subsets="test", musdb_format=musdb_format)
        else:
            yield from iter_musdb(root, subsets="train", split=split, musdb_format=musdb_format)
    elif dataset == "mir1k":
        yield from iter_mir1k(root, split, mix=mir1k_mix)
    elif dataset == "stems":
        for stem_track in find_stem_tracks([root]):
            yield load_stem_track(stem_track)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
