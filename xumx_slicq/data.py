"""MUSDB data for training xumx-sliCQ v1: random-track-mix excerpts, full validation tracks, input statistics.

Source: sevagh/xumx-sliCQ@5d0e2ae:openunmix/data.py (MUSDBDataset.__getitem__, _augment_gain,
_augment_channelswap) and scripts/train.py (get_statistics); design §5.

* Training sample (random_track_mix is always on in the recipe): for each source in musdb's order
  (vocals, drums, bass, other) independently: a random track, a random start U[0, duration - 1 s], a
  1 s excerpt, gain U[0.25, 1.25], then a channel swap with p = 0.5. The mixture is the sum of the
  four augmented excerpts; the targets are the augmented excerpts. 64 samples per training track per
  epoch; batches of 32, the last one partial (DataLoader's drop_last=False).
* Validation: the 14 tracks of musdb's ``split="valid"``, full length, the supplied mixture.
* Statistics: the full training mixtures (no augmentation); per block the 50% overlap-added
  magnitude averaged over the two channels; per row mean and population std over all frames of all
  tracks (sklearn StandardScaler.partial_fit, as the original); std floored at 1e-4 x its maximum.

Both MUSDB releases: the tracks are listed by ``common.datasets.musdb_tracks`` (layout detected
from the folder, or ``--musdb-format``). Excerpts of MUSDB18-HQ WAVs are read with soundfile from
the excerpt's first sample (musdb 0.4 would start one ffmpeg process per excerpt and source, which
makes the data loader the bottleneck); excerpts of MUSDB18 .stem.mp4 files go through musdb's own
chunked reader (``chunk_start``/``chunk_duration``, decoded by ffmpeg), as in the original.

Randomness: one ``random.Random`` (tracks, starts, as the original's ``random``) and one numpy
Generator (gains, swaps) per epoch, both seeded from (seed, epoch), so a resumed run replays the
same excerpts for the same epoch.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .params import SAMPLE_RATE, SAMPLES_PER_TRACK, SEED, SEQ_DUR

#: musdb's source order (musdb/configs/mus.yaml ``sources``): the mixture is summed in this order.
SOURCES = ("vocals", "drums", "bass", "other")
GAIN_RANGE = (0.25, 1.25)      # data.py _augment_gain
SWAP_PROBABILITY = 0.5         # data.py _augment_channelswap
STD_FLOOR = 1e-4               # train.py get_statistics: max(std, 1e-4 * max(std))


class DataError(ValueError):
    """A problem with the training data (one line, names the file and the fix)."""


def list_tracks(root, subsets: str, split: str | None, musdb_format: str = "auto") -> list:
    """musdb MultiTrack objects (not decoded): subsets "train" with split "train"/"valid", or "test"."""
    from common.datasets import musdb_tracks

    return musdb_tracks(root, subsets=subsets, split=split, musdb_format=musdb_format)


def _to_stereo(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) -> (2, samples) float32 (data.py _augment_force_stereo)."""
    audio = np.asarray(audio, dtype=np.float32).T
    if audio.ndim == 1:
        audio = audio[None]
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    return np.ascontiguousarray(audio[:2])


class ExcerptReader:
    """Reads ``seq`` seconds of one source of a musdb track from a start time (seconds)."""

    def __init__(self, rate: int = SAMPLE_RATE):
        self.rate = rate
        self._frames: dict[str, int] = {}

    def duration(self, track) -> float:
        """Seconds of the track (the shortest of its source files for WAVs)."""
        if track.is_wav:
            key = str(track.path)
            if key not in self._frames:
                import soundfile as sf

                self._frames[key] = min(sf.info(str(track.sources[s].path)).frames for s in SOURCES)
            return self._frames[key] / self.rate
        return float(track.duration)

    def read(self, track, source: str, start: float, seconds: float) -> np.ndarray:
        """(2, round(seconds * rate)) float32, zero-padded where the file ends early."""
        n = int(round(seconds * self.rate))
        if track.is_wav:
            import soundfile as sf

            first = int(start * self.rate)
            audio, rate = sf.read(str(track.sources[source].path), start=first, frames=n, dtype="float32",
                                  always_2d=True)
            if rate != self.rate:
                raise DataError(f"{track.sources[source].path}: {rate} Hz; MUSDB is {self.rate} Hz")
        else:
            track.chunk_start, track.chunk_duration = start, seconds
            try:
                audio = track.sources[source].audio
            finally:
                track.chunk_start, track.chunk_duration = 0, None
        audio = _to_stereo(audio)
        if audio.shape[1] < n:
            audio = np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
        return audio[:, :n]


class TrainSampler:
    """The training samples of one epoch: ``len(tracks) * samples_per_track`` random-track mixes.

    ``epoch(e)`` yields (mixture (2, L), stems (4, 2, L) in ``SOURCES`` order) float32, L = seq_dur * 44100.
    """

    def __init__(self, tracks: Sequence, seq_dur: float = SEQ_DUR, samples_per_track: int = SAMPLES_PER_TRACK,
                 seed: int = SEED, augment: bool = True, reader: ExcerptReader | None = None):
        if not tracks:
            raise DataError("no training tracks")
        self.tracks, self.seq_dur = list(tracks), float(seq_dur)
        self.samples_per_track, self.seed, self.augment = int(samples_per_track), int(seed), augment
        self.reader = reader or ExcerptReader()
        self.length = int(round(self.seq_dur * self.reader.rate))

    def __len__(self) -> int:
        return len(self.tracks) * self.samples_per_track

    def rngs(self, epoch: int) -> tuple[random.Random, np.random.Generator]:
        return random.Random(self.seed * 1_000_003 + epoch), np.random.default_rng([self.seed, epoch])

    def sample(self, pick: random.Random, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        stems = []
        for source in SOURCES:
            track = pick.choice(self.tracks)                         # random_track_mix
            total = self.reader.duration(track)
            dur = min(total, self.seq_dur)
            start = pick.uniform(0, total - dur)
            audio = self.reader.read(track, source, start, dur)
            if audio.shape[1] < self.length:                          # a track shorter than seq_dur
                audio = np.pad(audio, ((0, 0), (0, self.length - audio.shape[1])))
            if self.augment:
                audio = audio * np.float32(rng.uniform(*GAIN_RANGE))  # _augment_gain
                if rng.random() < SWAP_PROBABILITY:                    # _augment_channelswap
                    audio = audio[::-1]
            stems.append(np.ascontiguousarray(audio, dtype=np.float32))
        stems = np.stack(stems)
        return stems.sum(0), stems                                    # x = stems.sum(0)

    def epoch(self, epoch: int, limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pick, rng = self.rngs(epoch)
        n = len(self) if limit is None else min(len(self), int(limit))
        for _ in range(n):
            yield self.sample(pick, rng)


def batched_transform(mix: np.ndarray, stems: np.ndarray, slicqt=None) -> tuple[list, list, dict]:
    """One batch through the sliCQT.

    mix (B, 2, L), stems (B, 4, 2, L) in SOURCES order -> (mixture blocks complex64 (B, 2, nf, S, M),
    mixture magnitudes float32, {target: 70 magnitude blocks}).
    """
    if slicqt is None:
        from .transform import get_slicqt

        slicqt = get_slicqt()
    mix_blocks = slicqt.forward(np.asarray(mix, dtype=np.float32))
    stem_blocks = slicqt.forward(np.asarray(stems, dtype=np.float32))   # (B, 4, 2, nf, S, M)
    xmag = [np.abs(b) for b in mix_blocks]
    ymag = {name: [np.abs(b[:, i]) for b in stem_blocks] for i, name in enumerate(SOURCES)}
    return mix_blocks, xmag, ymag


def train_dataset(sampler: TrainSampler, epoch: int, batch_size: int, limit: int | None = None):
    """tf.data pipeline of one epoch: batches of (mixture (B, 2, L), stems (B, 4, 2, L)) float32.

    Samples are drawn by a generator in tf.data's background thread and batched; at most two batches
    wait in the prefetch buffer, so memory is bounded by the batch, not the dataset.
    """
    import tensorflow as tf

    n = sampler.length
    ds = tf.data.Dataset.from_generator(
        lambda: sampler.epoch(epoch, limit),
        output_signature=(tf.TensorSpec((2, n), tf.float32), tf.TensorSpec((len(SOURCES), 2, n), tf.float32)))
    return ds.batch(batch_size).prefetch(2)


def ola(block: np.ndarray) -> np.ndarray:
    """50% overlap-add of the slices (transforms.py overlap_add_slicq): (..., nf, S, M) -> (..., nf, (S+1)M/2)."""
    *lead, nf, s, m = block.shape
    half = m // 2
    out = np.zeros((*lead, nf, s + 1, half), dtype=block.dtype)
    out[..., :s, :] += block[..., :half]
    out[..., 1:, :] += block[..., half:]
    return out.reshape(*lead, nf, (s + 1) * half)


def input_statistics(mixtures, slicqt=None, progress=None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-block input statistics of the original's ``get_statistics``.

    mixtures: iterable of (2, samples) float32 full-track mixtures. Returns (means, stds): 70 arrays
    (nf_b,) float64 each; stds floored at 1e-4 x their maximum.
    """
    from sklearn.preprocessing import StandardScaler

    if slicqt is None:
        from .transform import get_slicqt

        slicqt = get_slicqt()
    scalers = None
    for mix in mixtures:
        blocks = slicqt.forward(np.asarray(mix, dtype=np.float32)[None])   # (1, 2, nf, S, M)
        if scalers is None:
            scalers = [StandardScaler() for _ in blocks]
        for scaler, blk in zip(scalers, blocks):
            frames = ola(np.abs(blk)).mean(axis=1)[0]          # channel mean -> (nf, T)
            scaler.partial_fit(frames.T)                        # rows = frames, columns = frequency rows
        if progress is not None:
            progress()
    if scalers is None:
        raise DataError("no training mixtures for the input statistics")
    means = [np.asarray(s.mean_, dtype=np.float64) for s in scalers]
    stds = [np.maximum(s.scale_, STD_FLOOR * np.max(s.scale_)) for s in scalers]
    return means, stds


def save_statistics(path: Path, means: Sequence[np.ndarray], stds: Sequence[np.ndarray]) -> None:
    """stats.npz: ``mean_bNN``/``std_bNN`` float64 per block (written atomically)."""
    from common.runs import write_npz_atomic

    arrays = {f"mean_b{b:02d}": m for b, m in enumerate(means)}
    arrays.update({f"std_b{b:02d}": s for b, s in enumerate(stds)})
    write_npz_atomic(path, arrays)


def load_statistics(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    with np.load(path) as z:
        n = len([k for k in z.files if k.startswith("mean_b")])
        return [z[f"mean_b{b:02d}"] for b in range(n)], [z[f"std_b{b:02d}"] for b in range(n)]
