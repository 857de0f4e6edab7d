"""Stems folders -> (mixture magnitude, target magnitude) training examples, streamed through tf.data.

The original (sevagh/MiXiN:mixin/dataprep/stems.py, hdf5.py) wrote segment WAVs, then one HDF5 file of
NSGT magnitudes per component. Here nothing is materialised: a generator loads one track at a time,
builds the two mixes of §5.1 (instrumental = harmonic + percussive, "nov"; full = harmonic + percussive
+ vocal, "v"), cuts segments, and computes |NSGT| chunk by chunk (batched per segment). Memory is
bounded by one track, whatever the size of the stems folder.

Examples per component: percussive and harmonic see both mixes, vocal only the full mixes. Each example
is (|NSGT(mix chunk)|, |NSGT(target chunk)|), both (96, 1948, 1) float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .params import (CHUNK_SIZE, COEF_SHAPE, SAMPLE_RATE, SEGMENT_DURATION, TEST_FRACTION,
                     TRAIN_FRACTION)

SPLITS = ("train", "validation", "test")


@dataclass
class Testcase:
    """One (segment, mix kind) pair of one track: the original's data/<track><segment>{v,nov}/ folder."""

    track_index: int
    segment: int  # segment index within the track
    start: int  # first sample of the segment
    length: int  # samples of the segment
    kind: str  # "nov" (instrumental mix) or "v" (full mix)
    n_chunks: int  # 44032-sample chunks taken from it


@dataclass
class DataConfig:
    segment_duration: float = SEGMENT_DURATION
    segment_offset: int = 0
    segment_limit: int | None = None
    track_limit: int | None = None
    legacy: bool = False  # drop the last full segment and the last chunk of each segment (quirks 1, 8)
    legacy_stems: bool = False  # the original's whole-path stem rules and index -1 fallback (quirk 7)


def segment_chunks(length: int, legacy: bool) -> int:
    """Chunks of a segment of ``length`` samples: ceil(length/44032), minus the padded last one if legacy."""
    n = int(math.ceil(length / CHUNK_SIZE))
    return max(0, n - 1) if legacy else n


def segments_of(n_samples: int, cfg: DataConfig) -> list[tuple[int, int, int]]:
    """(segment index, start, length) of one track.

    Segments are floor(duration * 44100) samples (sevagh/MiXiN:mixin/dataprep/stems.py). legacy: the
    indices range(min(total_segs - 1, limit)), so the last full segment and any partial tail are
    dropped; default: every full segment plus the partial tail. Indices below segment_offset are skipped.
    """
    seg = int(math.floor(cfg.segment_duration * SAMPLE_RATE))
    if seg <= 0:
        raise ValueError("--segment-duration must be positive")
    total = n_samples // seg
    if cfg.legacy:
        count = total - 1
    else:
        count = total + (1 if n_samples % seg else 0)
    if cfg.segment_limit is not None:
        count = min(count, cfg.segment_limit)
    return [(s, s * seg, min(seg, n_samples - s * seg)) for s in range(max(0, count)) if s >= cfg.segment_offset]


@dataclass
class StemIndex:
    """The tracks of the stems folders, their lengths and their testcases (light: no audio kept)."""

    tracks: list  # common.datasets.StemTrack
    lengths: list[int]
    testcases: list[Testcase] = field(default_factory=list)


def index_stems(stem_dirs, cfg: DataConfig) -> StemIndex:
    """Find the tracks (common.datasets), measure them (one load each), list their testcases in the
    order of the original's sorted segment folders: track, segment, then "nov" before "v"."""
    from common.datasets import find_stem_tracks, load_stem_track

    tracks = find_stem_tracks(stem_dirs, legacy=cfg.legacy_stems)
    if cfg.track_limit is not None and cfg.track_limit >= 0:
        tracks = tracks[: cfg.track_limit]
    lengths = []
    testcases = []
    for ti, st in enumerate(tracks):
        n = load_stem_track(st, rate=SAMPLE_RATE, mono=True).mixture.shape[1]
        lengths.append(n)
        for s, start, length in segments_of(n, cfg):
            for kind in ("nov", "v"):
                testcases.append(Testcase(ti, s, start, length, kind, segment_chunks(length, cfg.legacy)))
    return StemIndex(tracks, lengths, testcases)


def component_testcases(index: StemIndex, component: str) -> list[Testcase]:
    """Vocal trains on full mixes only; percussive and harmonic on both (sevagh/MiXiN:mixin/dataprep/hdf5.py)."""
    return [t for t in index.testcases if component != "vocal" or t.kind == "v"]


def _fractions(n: int) -> tuple[int, int]:
    """(n_train, n_test) of n items: int(0.8 n), int(0.1 n); the rest is validation (hdf5.py)."""
    return int(TRAIN_FRACTION * n), int(TEST_FRACTION * n)


def track_split(n_tracks: int) -> dict[str, list[int]]:
    """Split by track (default): sorted tracks, the first 80 % train, the next 10 % test, the rest
    validation, so no chunk of a validation or test track is ever trained on."""
    n_train, n_test = _fractions(n_tracks)
    ids = list(range(n_tracks))
    split = {"train": ids[:n_train], "test": ids[n_train:n_train + n_test],
             "validation": ids[n_train + n_test:]}
    if not split["train"] or not split["validation"]:
        raise ValueError(f"{n_tracks} track(s) cannot be split by track into train and validation; "
                         "give at least 2 tracks or use --split legacy-pool")
    return split


def plan_examples(index: StemIndex, component: str, split: str, mode: str = "track",
                  n_pool: int = 8) -> list[tuple[Testcase, list[int]]]:
    """The (testcase, chunk indices) pairs of one component and split, in stream order.

    mode "track": whole tracks per split (see :func:`track_split`).
    mode "legacy-pool": the original's split (sevagh/MiXiN:mixin/dataprep/hdf5.py): testcases in batches
    of n_pool; each batch's chunk rows, unshuffled, go int(0.8 N) to train, the next int(0.1 N) to test
    and the rest to validation, so validation/test chunks come from the tail of each batch, often from
    the same song as training chunks (quirk 3). Its range bug that skipped a last testcase (quirk 5) and
    the all-zero first row of every split (quirk 4) are not reproduced.
    """
    cases = component_testcases(index, component)
    if mode == "track":
        keep = set(track_split(len(index.tracks))[split])
        return [(t, list(range(t.n_chunks))) for t in cases if t.track_index in keep and t.n_chunks]
    if mode != "legacy-pool":
        raise ValueError(f"unknown split mode {mode!r} (track | legacy-pool)")
    plan = []
    for b in range(0, len(cases), n_pool):
        batch = cases[b:b + n_pool]
        rows = [(t, k) for t in batch for k in range(t.n_chunks)]
        n_train, n_test = _fractions(len(rows))
        bounds = {"train": (0, n_train), "test": (n_train, n_train + n_test),
                  "validation": (n_train + n_test, len(rows))}[split]
        chosen: dict[int, tuple[Testcase, list[int]]] = {}
        for t, k in rows[bounds[0]:bounds[1]]:
            chosen.setdefault(id(t), (t, []))[1].append(k)
        plan.extend(chosen.values())
    return plan


def count_examples(plan) -> int:
    return sum(len(ks) for _, ks in plan)


def iter_examples(index: StemIndex, component: str, plan, cfg: DataConfig):
    """Yield (mix_mag, target_mag), each (96, 1948, 1) float32, one chunk at a time, loading one track
    at a time (consecutive testcases of the same track reuse it)."""
    from common.datasets import load_stem_track

    from .transform import batched_nsgt, chunk_signal

    nsgt = batched_nsgt()
    loaded_index, sources = None, None
    for case, chunk_ids in plan:
        if case.track_index != loaded_index:
            track = load_stem_track(index.tracks[case.track_index], rate=SAMPLE_RATE, mono=True)
            sources = {c: track.sources[c][0] for c in ("harmonic", "percussive", "vocal")}
            loaded_index = case.track_index
        sl = slice(case.start, case.start + case.length)
        mix = sources["harmonic"][sl] + sources["percussive"][sl]  # instrumental mix, "nov"
        if case.kind == "v":
            mix = mix + sources["vocal"][sl]  # full mix
        target = sources[component][sl]
        for b0 in range(0, len(chunk_ids), 8):
            ids = chunk_ids[b0:b0 + 8]
            # contiguous run of chunk ids -> batched NSGT of those chunks of the segment
            mix_mag = np.abs(nsgt.forward(np.stack([chunk_signal(mix, k, k + 1)[0] for k in ids])))
            tgt_mag = np.abs(nsgt.forward(np.stack([chunk_signal(target, k, k + 1)[0] for k in ids])))
            for a, b in zip(mix_mag, tgt_mag):
                yield a.astype(np.float32)[..., None], b.astype(np.float32)[..., None]


def make_dataset(index: StemIndex, component: str, plan, cfg: DataConfig, batch_size: int):
    """tf.data pipeline: generator -> batch -> prefetch. No shuffle, as the original (hdf5 rows in order)."""
    import tensorflow as tf

    spec = tf.TensorSpec((*COEF_SHAPE, 1), tf.float32)
    ds = tf.data.Dataset.from_generator(lambda: iter_examples(index, component, plan, cfg),
                                        output_signature=(spec, spec))
    n = count_examples(plan)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n)) if n else ds
    return ds.batch(batch_size).prefetch(2)
