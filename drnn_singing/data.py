"""MIR-1K clips -> tf.data pipelines of Huang's training chunks (memory bounded).

The raw audio of a split (unit-energy sources, 16 kHz) is held once in memory (the 171 training
clips are about 180 MB as float32); features are computed per mixture on the fly, so the
~3.5 GB feature matrix of the augmented set (566k frames x 1539) never exists at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import features as F
from . import params as P


@dataclass
class Clip:
    """One clip as Huang prepares it: unit-energy music and voice, (samples,) float32 each."""
    name: str
    music: np.ndarray
    voice: np.ndarray


def load_clip(path) -> Clip:
    """A MIR-1K file -> Clip (left = music, right = voice, each scaled to unit energy)."""
    from common.datasets import load_mir1k_clip
    track = load_mir1k_clip(path, mix="0db")
    return Clip(track.name, track.sources["accompaniment"][0], track.sources["vocals"][0])


def load_split(root, split: str, limit: int | None = None) -> list[Clip]:
    """All clips of a split ("train" | "dev" | "test"), sorted by name; at most `limit`."""
    from common.datasets import mir1k_clips
    paths = mir1k_clips(root, split)
    return [load_clip(p) for p in (paths[:limit] if limit else paths)]


def mixture_plan(clips: list[Clip], shifts_per_clip: int, step: int, rng: np.random.Generator):
    """(clip index, offset) pairs of one epoch, shuffled.

    shifts_per_clip = 0: every offset of Huang's grid (0, step, 2*step, ...; 2133 mixtures for the
    171 training clips); k > 0: k offsets of that grid drawn at random per clip and epoch.
    step = 0 disables the augmentation (offset 0 only).
    """
    plan = []
    for index, clip in enumerate(clips):
        offsets = F.shift_offsets(clip.music.size, step)
        if shifts_per_clip > 0 and len(offsets) > shifts_per_clip:
            offsets = list(rng.choice(offsets, size=shifts_per_clip, replace=False))
        plan += [(index, int(o)) for o in offsets]
    rng.shuffle(plan)
    return plan


@dataclass(frozen=True)
class Augmentation:
    """Augmentations beyond Huang's circular shifts (both off by default, which is Huang's recipe).

    remix: probability that a mixture's music comes from another training clip (drawn at random, cut
    from a random circular offset of that clip, repeated if shorter than the voice) instead of the
    clip's own shifted music: new voice/accompaniment pairs, as Open-Unmix's random track mixing
    (sigsep/open-unmix-pytorch:openunmix/data.py, ``random_track_mix``) and Uhlich et al. 2017 do.
    pitch: the voice is pitch-shifted by a whole number of semitones drawn uniformly from
    [-pitch, pitch] (librosa's phase-vocoder shift, computed once per clip and semitone): other
    apparent singers, as the training set holds only two (abjones, amy).
    Every source is rescaled to unit energy afterwards, so the mixtures stay at 0 dB as Huang's.
    """
    remix: float = 0.0
    pitch: int = 0

    def __post_init__(self):
        if not 0.0 <= self.remix <= 1.0:
            raise ValueError(f"remix must be a probability in [0, 1], got {self.remix}")
        if self.pitch < 0 or self.pitch > 12:
            raise ValueError(f"pitch must be 0 (off) to 12 semitones, got {self.pitch}")

    @property
    def active(self) -> bool:
        return self.remix > 0 or self.pitch > 0


def pitch_shifted_voices(clips: list[Clip], semitones: int) -> list[dict[int, np.ndarray]]:
    """Per clip, {k: its voice shifted by k semitones, unit energy} for k in [-semitones, semitones]
    (k = 0 is the voice itself). About 0.1 s per clip and semitone on one CPU core."""
    import librosa
    out = []
    for clip in clips:
        versions = {0: clip.voice}
        for k in range(-semitones, semitones + 1):
            if k:
                shifted = librosa.effects.pitch_shift(clip.voice, sr=P.SAMPLE_RATE, n_steps=k)
                versions[k] = F.unit_energy(shifted, f"{clip.name}: the voice shifted by {k} semitones")
        out.append(versions)
    return out


def borrowed_music(clips: list[Clip], own: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Music of another training clip than `own`, from a random circular offset, repeated or cut to
    `n_samples`, unit energy: (n_samples,) float32. With one clip, that clip's own music."""
    others = [i for i in range(len(clips)) if i != own] or [own]
    music = clips[others[int(rng.integers(len(others)))]].music
    start = int(rng.integers(music.size))
    segment = np.resize(F.circular_shift(music, start), n_samples)   # np.resize repeats the signal
    try:
        return F.unit_energy(segment)
    except F.FeatureError:   # a silent stretch: keep the clip's own music
        return np.resize(clips[own].music, n_samples)


def training_chunks(clips: list[Clip], shifts_per_clip: int = 0, step: int = P.CIRCULAR_STEP,
                    context: int = P.CONTEXT, seed: int = 0, fixed: bool = False,
                    augment: Augmentation = Augmentation(), first_epoch: int = 0):
    """Generator factory: each call yields one epoch of (features (L, context*513), targets (L, 1026)).

    The music is shifted circularly against the voice (MATLAB shifts the music channel), the
    mixture is their sum, and each mixture is cut into chunks of 100/50/25/10/1 frames.
    fixed: every call yields the same mixtures in the same order (a full batch for L-BFGS).
    augment: see Augmentation; the epoch keeps its mixtures (one per planned shift), each then
    possibly with borrowed music and a shifted voice. Off, the draws are Huang's exactly.
    first_epoch: the epoch the first call yields (epoch e draws from seed + e), so that a resumed run
    sees the mixtures and order an uninterrupted run would have seen from that epoch on.
    """
    if fixed and augment.active:
        raise ValueError("augmentation draws new mixtures each epoch; a fixed full batch (L-BFGS) cannot use it")
    epoch = [first_epoch]
    voices = pitch_shifted_voices(clips, augment.pitch) if augment.pitch else None

    def generate():
        rng = np.random.default_rng(seed + epoch[0])
        epoch[0] += 0 if fixed else 1
        for index, offset in mixture_plan(clips, shifts_per_clip, step, rng):
            clip = clips[index]
            voice = clip.voice
            if voices is not None:
                voice = voices[index][int(rng.integers(-augment.pitch, augment.pitch + 1))]
            if augment.remix and rng.random() < augment.remix:
                music = borrowed_music(clips, index, voice.size, rng)
            else:
                music = F.circular_shift(clip.music, offset)
            inputs, targets = F.mixture_features(music, voice, context)
            for x, y in zip(F.chunks(inputs), F.chunks(targets)):
                yield x, y

    return generate


def count_frames(clips: list[Clip], shifts_per_clip: int = 0, step: int = P.CIRCULAR_STEP) -> tuple[int, int]:
    """(mixtures, frames) of one epoch (exact for shifts_per_clip = 0, the expectation otherwise)."""
    mixtures = frames = 0
    for clip in clips:
        n = len(F.shift_offsets(clip.music.size, step))
        if shifts_per_clip > 0:
            n = min(n, shifts_per_clip)
        mixtures += n
        frames += n * F.n_frames(clip.music.size)
    return mixtures, frames


def training_dataset(clips: list[Clip], shifts_per_clip: int = 0, step: int = P.CIRCULAR_STEP,
                     frames_per_batch: int = P.FRAMES_PER_BATCH, shuffle_chunks: int = 256,
                     context: int = P.CONTEXT, seed: int = 0, fixed: bool = False,
                     augment: Augmentation = Augmentation(), first_epoch: int = 0):
    """tf.data.Dataset of ((B, L, context*513), (B, L, 1026)) batches.

    Chunks of equal length are batched together (B = frames_per_batch // L), so nothing is
    padded and every chunk starts from a zero recurrent state, as in Huang's code.
    fixed: the same batches in the same order on every pass (no reshuffling; L-BFGS's full batch).
    first_epoch: the epoch whose mixtures the first pass yields (training_chunks); the local shuffle of
    chunks (a 256-chunk buffer, tf.data's own sequence of seeds) is not replayed on a resume.
    """
    import tensorflow as tf
    bins = P.N_BINS
    signature = (tf.TensorSpec((None, context * bins), tf.float32), tf.TensorSpec((None, 2 * bins), tf.float32))
    chunks = training_chunks(clips, shifts_per_clip, step, context, seed, fixed, augment, first_epoch)
    ds = tf.data.Dataset.from_generator(chunks, output_signature=signature)
    if not fixed:
        ds = ds.shuffle(shuffle_chunks, seed=seed, reshuffle_each_iteration=True)
    lengths = sorted(P.SEQ_LENS)                          # 1, 10, 25, 50, 100
    ds = ds.bucket_by_sequence_length(
        lambda x, y: tf.shape(x)[0], bucket_boundaries=[n + 1 for n in lengths[:-1]],
        bucket_batch_sizes=[max(1, frames_per_batch // n) for n in lengths])
    return ds.prefetch(2)


def clip_arrays(clip: Clip, context: int = P.CONTEXT):
    """Whole clip (Huang's test-time sequence): (features (1, T, context*513), targets (1, T, 1026))."""
    inputs, targets = F.mixture_features(clip.music, clip.voice, context)
    return inputs[None], targets[None]


def input_statistics(clips: list[Clip]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and 1/std of the mixture magnitudes over every frame of the unshifted training
    mixtures (what model.Standardize subtracts and multiplies by): two (513,) float32 arrays."""
    total = np.zeros(P.N_BINS)
    square = np.zeros(P.N_BINS)
    count = 0
    for clip in clips:
        mag = np.abs(F.stft(clip.music + clip.voice)).astype(np.float64)
        total += mag.sum(axis=0)
        square += (mag ** 2).sum(axis=0)
        count += mag.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean ** 2, 0.0))
    return mean.astype(np.float32), (1.0 / np.maximum(std, 1e-8)).astype(np.float32)


def validation_dataset(clips: list[Clip], context: int = P.CONTEXT):
    """Dev clips, each one whole sequence (batch of 1), for Keras' val_loss."""
    import tensorflow as tf
    bins = P.N_BINS

    def generate():
        for clip in clips:
            x, y = clip_arrays(clip, context)
            yield x, y

    signature = (tf.TensorSpec((1, None, context * bins), tf.float32),
                 tf.TensorSpec((1, None, 2 * bins), tf.float32))
    return tf.data.Dataset.from_generator(generate, output_signature=signature)
