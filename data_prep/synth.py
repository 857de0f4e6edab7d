"""Deterministic synthetic multitrack music, written in the MUSDB18-HQ, MIR-1K or stems layout.

Usage::

    python -m data_prep.synth --layout musdb|mir1k|stems --out DIR --tracks N --seconds S \
        --seed K [--rate R] [--subtype PCM_16|FLOAT]

Each track has a drum kit (kick, snare, hi-hats), a bass line, a strummed rhythm part, keys, short
lead fills and a sung-like voice (see ``synth_music``, ``synth_instruments``, ``synth_voice``).
Tempo, key, progression, patterns, timbres and the voice are drawn from the seed of each track,
``track_seed(seed, index)``; the same arguments write the same files, bit for bit.

Layouts (``rate`` defaults to 44100 Hz, 16000 Hz for mir1k):

* ``musdb``: ``{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav``, stereo, as
  ``musdb.DB(root, is_wav=True)`` reads it; ``other`` = rhythm + lead + keys, ``mixture`` = the
  sum of the four stems (exactly, also after 16-bit quantisation). About a third of the tracks go
  to ``test``; when ``train`` has two or more tracks, the first ones take names from MUSDB's
  validation list so ``split="valid"`` / ``"train"`` both return tracks.
* ``mir1k``: ``{train,dev,test}/<singer>_<song>_<clip>.wav``, 16 kHz stereo, left = accompaniment,
  right = voice, both at the same RMS (as in every real MIR-1K clip). Train clips are sung by
  ``abjones`` (male voice) and ``amy`` (female), dev clips take Huang's dev names
  (``abjones_5_08``, ``amy_9_08``, ...), test clips the 17 other singers' names.
* ``stems``: ``<track>/{rhythm_guitar,lead_guitar,bass,keys,drums,vocals,mix}.wav`` (stereo), a
  Periphery-style stems folder; ``mix`` = the sum of the stems.

Every track is scaled by one factor so that each file peaks at 0.9 or below; with ``PCM_16`` the
stems are rounded to the 16-bit grid before they are summed, so the written mixture is exactly the
sum of the written stems. A ``synth.json`` at the root records the arguments and each track's
tempo, key, progression, timbres and voice.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from common.runs import write_text_atomic

from .synth_music import KEY_NAMES, PARTS, plan_track

LAYOUTS = ("musdb", "mir1k", "stems")
DEFAULT_RATES = {"musdb": 44100, "mir1k": 16000, "stems": 44100}
SUBTYPES = ("PCM_16", "FLOAT")
#: Peak every written file stays under.
PEAK = 0.9
MIN_SECONDS = 1.0
END_FADE_S = 0.01
MIN_RATE = 8000

#: MUSDB18's 14 validation tracks (musdb/configs/mus.yaml ``validation_tracks``; ecosystem.md §1.3).
MUSDB_VALIDATION_TRACKS = (
    "Actions - One Minute Smile", "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies", "Patrick Talbot - A Reason To Leave", "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero", "Fergessen - Nos Palpitants", "Leaf - Summerghost",
    "Skelpolu - Human Mistakes", "Young Griffo - Pennies", "ANiMAL - Rockshow",
    "James May - On The Line", "Meaxic - Take A Step", "Traffic Experiment - Sirens")
#: Huang's dev clips (drnn.md §1), interleaved so two dev clips cover both singers.
MIR1K_DEV_NAMES = ("abjones_5_08", "amy_9_08", "abjones_5_09", "amy_9_09")
MIR1K_TRAIN_SINGERS = {"abjones": "male", "amy": "female"}
#: The 17 test singers of MIR-1K (drnn.md §1).
MIR1K_TEST_SINGERS = ("Ani", "Kenshin", "annar", "ariel", "bobon", "bug", "davidson", "fdps",
                      "geniusturtle", "heycat", "jmzen", "khair", "leon", "stool", "tammy",
                      "titon", "yifen")
STEM_FILES = ("rhythm_guitar", "lead_guitar", "bass", "keys", "drums", "vocals")


class SynthError(ValueError):
    """Bad arguments for the generator; the message says what to change."""


def track_seed(seed: int, index: int) -> int:
    """The seed of track ``index`` of a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _check(seconds: float, rate: int, seed: int) -> None:
    if not np.isfinite(seconds) or seconds < MIN_SECONDS:
        raise SynthError(f"--seconds must be at least {MIN_SECONDS:g}, got {seconds}")
    if int(rate) < MIN_RATE:
        raise SynthError(f"--rate must be at least {MIN_RATE} Hz, got {rate}")
    if int(seed) < 0:
        raise SynthError(f"--seed must be a non-negative integer, got {seed}")


def render_track(plan, rate: int) -> dict[str, np.ndarray]:
    """Render a ``TrackPlan`` into its six parts, float32 ``(2, samples)`` each.

    Each part is set to its planned RMS level, then all are scaled by one factor so that the
    parts and their sum peak at ``PEAK``.
    """
    # the renderers pull in scipy.signal: imported here so that ``--help`` answers at once
    from .synth_instruments import drum_kit, render_drums, render_part, to_stereo
    from .synth_voice import render_voice

    n = int(round(plan.seconds * rate))
    rng_drums = np.random.default_rng(np.random.SeedSequence([plan.seed, 1]))
    rng_voice = np.random.default_rng(np.random.SeedSequence([plan.seed, 2]))
    parts = {"drums": render_drums(plan.drums, drum_kit(rate, rng_drums), n, rate)}
    for part in ("bass", "rhythm_guitar", "lead_guitar", "keys"):
        mono = render_part(plan.notes[part], plan.timbres[part], n, rate)
        parts[part] = to_stereo(mono, plan.pans[part])
    parts["vocals"] = to_stereo(render_voice(plan, n, rate, rng_voice), plan.pans["vocals"])
    fade = min(n, int(END_FADE_S * rate))  # no click where the excerpt is cut
    ramp = np.linspace(1.0, 0.0, fade)
    for audio in parts.values():
        audio[:, n - fade:] *= ramp
    for part, audio in parts.items():
        rms = float(np.sqrt(np.mean(audio ** 2)))
        if rms > 0:
            audio *= 10.0 ** (plan.levels_db[part] / 20.0) / rms
    total = sum(parts.values())
    peak = max([float(np.abs(total).max())] + [float(np.abs(a).max()) for a in parts.values()])
    gain = PEAK / peak if peak > 0 else 1.0
    return {part: (parts[part] * gain).astype(np.float32) for part in PARTS}


def generate_track(seed: int, seconds: float, rate: int = 44100, voice: str | None = None
                   ) -> dict[str, np.ndarray]:
    """Synthesise one track.

    Args:
        seed: non-negative integer; the same seed gives the same audio.
        seconds: length in seconds (at least 1).
        rate: sample rate in Hz; the music (not the noise) is the same at every rate.
        voice: ``"male"`` or ``"female"`` to force the singer's register (else drawn).

    Returns:
        ``{"drums", "bass", "rhythm_guitar", "lead_guitar", "keys", "vocals"}`` -> float32
        ``(2, round(seconds * rate))``; the parts and their sum peak at 0.9 or below.
    """
    _check(seconds, rate, seed)
    return render_track(plan_track(seed, seconds, voice=voice), int(rate))


# --------------------------------------------------------------------------- layouts

def _quantize(audio: np.ndarray, subtype: str) -> np.ndarray:
    """Round to the 16-bit grid (for PCM_16) so sums of written stems are exact."""
    audio = np.asarray(audio, dtype=np.float32)
    if subtype != "PCM_16":
        return audio
    return (np.clip(np.round(audio * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def _peak_scale(arrays) -> float:
    peak = max(float(np.abs(a).max()) for a in arrays)
    return PEAK / peak if peak > 0 else 1.0


def _musdb_assignment(tracks: int) -> list[tuple[str, str | None]]:
    """(subset, validation name or None) per track index."""
    n_test = 1 if tracks == 1 else max(1, tracks // 3)
    n_train = tracks - n_test
    n_valid = 0 if n_train < 2 else min(len(MUSDB_VALIDATION_TRACKS), max(1, round(n_train * 0.14)))
    out = []
    for i in range(tracks):
        if i >= n_train:
            out.append(("test", None))
        else:
            out.append(("train", MUSDB_VALIDATION_TRACKS[i] if i < n_valid else None))
    return out


def _write_musdb(out, index, seed, plan, parts, rate, subtype, save_audio, subset, name):
    name = name or f"Synth {index:03d} - {KEY_NAMES[plan.key]} {plan.mode} at {int(plan.tempo)} bpm"
    stems = {"drums": parts["drums"], "bass": parts["bass"],
             "other": parts["rhythm_guitar"] + parts["lead_guitar"] + parts["keys"],
             "vocals": parts["vocals"]}
    mixture = sum(stems.values())
    gain = min(1.0, _peak_scale(list(stems.values()) + [mixture]))
    stems = {k: _quantize(v * gain, subtype) for k, v in stems.items()}
    mixture = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]
    folder = Path(out) / subset / name
    for stem, audio in stems.items():
        save_audio(folder / f"{stem}.wav", audio, rate, subtype=subtype, overflow="error")
    save_audio(folder / "mixture.wav", mixture, rate, subtype=subtype, overflow="error")
    return folder


def _mir1k_names(tracks: int) -> list[tuple[str, str, str | None]]:
    """(split, clip name, forced voice) per track index."""
    n_test = 0 if tracks == 1 else max(1, tracks // 3)
    n_dev = 0 if tracks < 3 else min(len(MIR1K_DEV_NAMES), max(1, tracks // 5))
    n_train = tracks - n_test - n_dev
    names = []
    song, clip, j = 1, 1, 0
    while len(names) < n_train:
        singer = ("abjones", "amy")[j % 2]
        name = f"{singer}_{song}_{clip:02d}"
        j += 1
        if j % 2 == 0:
            clip += 1
            if clip > 20:
                song, clip = song + 1, 1
        if name in MIR1K_DEV_NAMES:
            continue
        names.append(("train", name, MIR1K_TRAIN_SINGERS[singer]))
    for name in MIR1K_DEV_NAMES[:n_dev]:
        names.append(("dev", name, MIR1K_TRAIN_SINGERS[name.split("_")[0]]))
    for t in range(n_test):
        singer = MIR1K_TEST_SINGERS[t % len(MIR1K_TEST_SINGERS)]
        names.append(("test", f"{singer}_1_{t // len(MIR1K_TEST_SINGERS) + 1:02d}", None))
    return names


def _write_mir1k(out, parts, rate, subtype, save_audio, split, name):
    accompaniment = sum(parts[p] for p in PARTS if p != "vocals").mean(axis=0)
    voice = parts["vocals"].mean(axis=0)
    voice = voice * (_rms(accompaniment) / _rms(voice))  # equal channel RMS, as in MIR-1K
    gain = _peak_scale([accompaniment, voice, accompaniment + voice])
    clip = np.stack([_quantize(accompaniment * gain, subtype), _quantize(voice * gain, subtype)])
    path = Path(out) / split / f"{name}.wav"
    save_audio(path, clip, rate, subtype=subtype, overflow="error")
    return path


def _write_stems(out, index, parts, rate, subtype, save_audio):
    folder = Path(out) / f"synth_{index:03d}"
    gain = min(1.0, _peak_scale(list(parts.values()) + [sum(parts.values())]))
    stems = {name: _quantize(parts[name] * gain, subtype) for name in STEM_FILES}
    mix = np.zeros_like(stems["drums"])
    for name in STEM_FILES:
        mix = mix + stems[name]
    for name in STEM_FILES:
        save_audio(folder / f"{name}.wav", stems[name], rate, subtype=subtype, overflow="error")
    save_audio(folder / "mix.wav", mix, rate, subtype=subtype, overflow="error")
    return folder


def _write_json(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1))


def write_dataset(layout: str, out, tracks: int, seconds: float, seed: int,
                  rate: int | None = None, subtype: str = "PCM_16", progress=None) -> list[Path]:
    """Generate ``tracks`` tracks and write them in ``layout`` under ``out``.

    Returns one path per track: the track folder (musdb, stems) or the clip file (mir1k).
    ``progress``, if given, is called with each path as it is written.
    """
    from common.audio import save_audio

    if layout not in LAYOUTS:
        raise SynthError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if subtype not in SUBTYPES:
        raise SynthError(f"--subtype must be one of {', '.join(SUBTYPES)}, got {subtype!r}")
    if int(tracks) < 1:
        raise SynthError(f"--tracks must be at least 1, got {tracks}")
    rate = int(rate or DEFAULT_RATES[layout])
    _check(seconds, rate, seed)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out}: exists and is not a folder; choose another --out")
    musdb_plan = _musdb_assignment(tracks) if layout == "musdb" else None
    mir1k_plan = _mir1k_names(tracks) if layout == "mir1k" else None
    written, manifest = [], []
    for index in range(int(tracks)):
        s = track_seed(seed, index)
        voice = mir1k_plan[index][2] if mir1k_plan else None
        plan = plan_track(s, seconds, voice=voice)
        parts = render_track(plan, rate)
        if layout == "musdb":
            subset, name = musdb_plan[index]
            path = _write_musdb(out, index, s, plan, parts, rate, subtype, save_audio, subset, name)
        elif layout == "mir1k":
            split, name, _ = mir1k_plan[index]
            path = _write_mir1k(out, parts, rate, subtype, save_audio, split, name)
        else:
            path = _write_stems(out, index, parts, rate, subtype, save_audio)
        written.append(path)
        manifest.append({"path": str(path.relative_to(out)), "index": index, **plan.describe()})
        if progress is not None:
            progress(path)
    _write_json(out / "synth.json", {
        "generator": "data_prep.synth", "layout": layout, "tracks": int(tracks),
        "seconds": float(seconds), "seed": int(seed), "rate": rate, "subtype": subtype,
        "items": manifest})
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.synth",
        description="Write deterministic synthetic multitrack music (drums, bass, guitars, keys, "
                    "a sung-like voice) in the MUSDB18-HQ, MIR-1K or stems layout.")
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--out", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--tracks", type=int, default=4, help="number of tracks/clips (default 4)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--rate", type=int, default=None,
                        help="sample rate in Hz (default 44100; 16000 for mir1k)")
    parser.add_argument("--subtype", default="PCM_16", choices=SUBTYPES,
                        help="WAV sample format (default PCM_16, as the real datasets)")
    args = parser.parse_args(argv)
    from common.audio import AudioError

    began = time.perf_counter()
    try:
        paths = write_dataset(args.layout, args.out, args.tracks, args.seconds, args.seed,
                              rate=args.rate, subtype=args.subtype, progress=print)
    except (SynthError, AudioError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} {args.layout} track(s) of {args.seconds:g} s to {args.out} "
          f"in {time.perf_counter() - began:.1f} s (manifest: {args.out / 'synth.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
