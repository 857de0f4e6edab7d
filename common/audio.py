"""Audio I/O shared by every system: load as float32 ``(channels, samples)``, save atomically.

Reading and writing go through ``soundfile`` (libsndfile: WAV, FLAC, OGG, AIFF, ...), resampling
through ``librosa.resample`` with the soxr "HQ" filter. Every failure is an :class:`AudioError`
whose one-line message names the file and the problem, so command-line tools can print it as is.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from .runs import temporary_beside

#: Resampler used everywhere in the project (soxr, high quality, as librosa's default).
RESAMPLE_TYPE = "soxr_hq"

#: What :func:`save_audio` does with samples outside [-1, 1].
OVERFLOW_POLICIES = ("error", "clip", "normalize", "allow")

# Integer PCM subtypes cannot hold samples outside [-1, 1]; float subtypes can.
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


class AudioError(ValueError):
    """A problem with an audio file or array; the message names the file and the fix."""


def _describe(path) -> str:
    return str(path) if path is not None else "<array>"


def check_finite(audio: np.ndarray, path=None) -> None:
    """Raise :class:`AudioError` if ``audio`` holds NaN or Inf samples."""
    if not np.all(np.isfinite(audio)):
        bad = int(np.size(audio) - np.count_nonzero(np.isfinite(audio)))
        raise AudioError(f"{_describe(path)}: {bad} sample(s) are NaN or Inf; "
                         "re-export the audio or fix the step that produced it")


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels: ``(channels, samples)`` -> ``(1, samples)`` float32."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio[None, :]
    return audio.mean(axis=0, keepdims=True, dtype=np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample ``(channels, samples)`` (or ``(samples,)``) from ``rate_in`` to ``rate_out`` Hz.

    Uses ``librosa.resample`` with soxr HQ; returns float32 with the same number of dimensions.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if int(rate_in) == int(rate_out):
        return audio
    import librosa  # imported here: librosa's import costs about a second

    out = librosa.resample(audio, orig_sr=int(rate_in), target_sr=int(rate_out),
                           res_type=RESAMPLE_TYPE, axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def audio_info(path) -> sf._SoundFileInfo:
    """Header of an audio file (rate, channels, frames) without reading its samples."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found; check the path")
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({_short(err)}); "
                         "convert it to WAV or FLAC") from None


def _short(err: Exception) -> str:
    return str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__


def _wav_truncation(path: Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file whose ``data`` chunk runs past the end of the file, return
    ``(declared_bytes, present_bytes)``; otherwise ``None``.

    libsndfile quietly shortens such files to the bytes present, so a download cut short would
    load without complaint; this reads the chunk headers (not the samples) to catch it.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            handle.seek(pos)
            chunk = handle.read(8)
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                present = size - pos - 8
                if declared not in (0, 0xFFFFFFFF) and declared > present:
                    return declared, present
                return None
            pos += 8 + declared + (declared & 1)
    return None


def load_audio(path, sr: int | None = None, mono: bool = False, max_channels: int = 2,
               start: int = 0, stop: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 ``(channels, samples)``.

    Args:
        path: any file libsndfile reads (WAV, FLAC, OGG, AIFF, ...).
        sr: target rate in Hz; ``None`` keeps the file's rate.
        mono: average the channels into ``(1, samples)``.
        max_channels: files with more channels are an error (``None``: no limit).
        start, stop: sample range to read, in the file's own rate (``stop=None``: to the end).

    Returns:
        ``(audio, rate)`` with ``audio`` float32 of shape ``(channels, samples)``.

    Raises:
        AudioError: missing, unreadable or truncated file, no samples, NaN/Inf samples,
            too many channels.
    """
    path = Path(path)
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(f"{path}: the file holds no samples (zero-length audio); "
                         "replace it with a non-empty recording")
    if max_channels is not None and info.channels > max_channels:
        raise AudioError(f"{path}: {info.channels} channels, at most {max_channels} supported; "
                         "downmix it to mono or stereo first")
    if info.format in ("WAV", "WAVEX") and (cut := _wav_truncation(path)) is not None:
        raise AudioError(f"{path}: truncated, the header announces {cut[0]} bytes of samples but "
                         f"only {cut[1]} are present; re-export or re-download it")
    stop = info.frames if stop is None else min(int(stop), info.frames)
    if not 0 <= start < stop:
        raise AudioError(f"{path}: sample range [{start}, {stop}) is empty or outside the file "
                         f"({info.frames} samples)")
    try:
        with sf.SoundFile(str(path)) as handle:
            handle.seek(start)
            data = handle.read(frames=stop - start, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: could not read samples ({_short(err)}); the file may be "
                         "damaged, re-export or re-download it") from None
    if data.shape[0] < stop - start:
        raise AudioError(f"{path}: truncated, the header announces {info.frames} samples but only "
                         f"{start + data.shape[0]} could be read; re-export or re-download it")
    audio = np.ascontiguousarray(data.T)
    check_finite(audio, path)
    rate = int(info.samplerate)
    if mono:
        audio = to_mono(audio)
    if sr is not None and int(sr) != rate:
        audio = resample(audio, rate, int(sr))
        rate = int(sr)
    return audio, rate


def _format_for(path: Path) -> str:
    fmt = path.suffix.lstrip(".").upper()
    aliases = {"AIF": "AIFF", "OGA": "OGG"}
    fmt = aliases.get(fmt, fmt)
    if fmt not in sf.available_formats():
        raise AudioError(f"{path}: unknown audio file extension '{path.suffix}'; use .wav or .flac")
    return fmt


def save_audio(path, audio: np.ndarray, rate: int, subtype: str | None = None,
               overflow: str | None = None) -> Path:
    """Write ``audio`` to ``path`` atomically (temporary file in the same folder, then rename).

    Args:
        path: destination; the format follows the extension (.wav, .flac, ...). Parent folders
            are created.
        audio: ``(channels, samples)`` or ``(samples,)``, float.
        rate: sample rate in Hz.
        subtype: libsndfile subtype; default ``"FLOAT"`` for WAV and ``"PCM_16"`` otherwise.
        overflow: policy for samples outside [-1, 1]: ``"error"`` raises, ``"clip"`` clips (with a
            warning), ``"normalize"`` scales the whole signal to a peak of 1, ``"allow"`` writes them
            unchanged (float subtypes only). Default: ``"allow"`` for float subtypes, ``"clip"``
            for integer ones.

    Returns:
        The path written.
    """
    path = Path(path)
    fmt = _format_for(path)
    if subtype is None:
        subtype = "FLOAT" if fmt in ("WAV", "WAVEX", "RF64", "W64") else "PCM_16"
    subtype = subtype.upper()
    if not sf.check_format(fmt, subtype):
        raise AudioError(f"{path}: format {fmt} cannot store subtype {subtype}; "
                         "use .wav for float output or PCM_16/PCM_24")
    is_float = subtype in _FLOAT_SUBTYPES
    if overflow is None:
        overflow = "allow" if is_float else "clip"
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}, got {overflow!r}")

    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.shape[1] == 0:
        raise AudioError(f"{path}: expected audio of shape (channels, samples) with samples > 0, "
                         f"got {np.shape(audio)}")
    check_finite(data, path)
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak > 1.0:
        if overflow == "error":
            raise AudioError(f"{path}: peak {peak:.3f} exceeds 1.0; scale the signal down or "
                             "save with overflow='clip' or 'normalize'")
        if overflow == "clip":
            warnings.warn(f"{path}: peak {peak:.3f} exceeds 1.0, clipping "
                          f"{int(np.count_nonzero(np.abs(data) > 1))} sample(s)", stacklevel=2)
            data = np.clip(data, -1.0, 1.0)
        elif overflow == "normalize":
            data = data / peak
        elif not is_float:
            raise AudioError(f"{path}: peak {peak:.3f} exceeds 1.0 and {subtype} cannot store it; "
                             "use overflow='clip' or 'normalize', or a float subtype")

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path, suffix=".part")   # read by soundfile by name, below
    os.close(fd)
    try:
        sf.write(tmp, data.T, int(rate), subtype=subtype, format=fmt)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
