"""The score of a synthetic track: tempo, key, chords, bass line, parts, drum groove, sung melody.

:func:`plan_track` turns a seed into a :class:`TrackPlan` (pure data, no audio). Times are in
seconds, pitches in MIDI note numbers (69 = A4 = 440 Hz). The renderers in
``synth_instruments`` and ``synth_voice`` turn a plan into audio at any sample rate, so the same
seed gives the same music at 44.1 kHz and at 16 kHz.

Musical choices (all drawn from the seed): tempo 80-140 BPM in 4/4; a major or natural-minor key;
a common four-chord progression of diatonic triads; a bass pattern; a strum pattern for the rhythm
part; sustained, arpeggiated or stabbed keys; a drum groove; a male or female voice singing a
stepwise melody in the key, in call-and-response with short lead fills.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
#: Semitone offsets of the seven scale degrees.
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
#: Four-chord progressions as 0-based scale degrees (I-V-vi-IV, vi-IV-I-V, ...).
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 0, 0)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4)),
}
#: Pentatonic subsets (scale degrees) the lead fills use.
PENTATONIC = {"major": (0, 1, 2, 4, 5), "minor": (0, 2, 3, 4, 6)}

BASS_PATTERNS = ("quarters", "halves", "eighths", "root_fifth")
STRUM_PATTERNS = ("quarters", "folk", "whole", "offbeat")
KEYS_PATTERNS = ("sustain", "arpeggio", "stabs")
#: Drum grooves on a 16-step bar: drum -> ((step, velocity), ...).
GROOVES = {
    "rock": {"kick": ((0, 1.0), (8, 0.95)), "snare": ((4, 0.9), (12, 0.9)),
             "hat": tuple((s, 0.55 if s % 4 == 0 else 0.4) for s in range(0, 16, 2))},
    "pop": {"kick": ((0, 1.0), (6, 0.8), (8, 0.95)), "snare": ((4, 0.9), (12, 0.9)),
            "hat": tuple((s, 0.5 if s % 4 == 0 else 0.38) for s in range(0, 16, 2))},
    "four_on_floor": {"kick": ((0, 1.0), (4, 0.95), (8, 1.0), (12, 0.95)),
                      "snare": ((4, 0.85), (12, 0.85)),
                      "open_hat": ((2, 0.45), (6, 0.45), (10, 0.45), (14, 0.45))},
    "sixteenths": {"kick": ((0, 1.0), (8, 0.95), (11, 0.7)),
                   "snare": ((4, 0.9), (12, 0.9), (15, 0.25)),
                   "hat": tuple((s, 0.5 if s % 4 == 0 else (0.38 if s % 2 == 0 else 0.25))
                                for s in range(16))},
}
TIMBRES = {
    "bass": ("pluck_bass", "saw_bass", "round_bass"),
    "rhythm_guitar": ("pluck", "saw"),
    "keys": ("epiano", "organ", "pad"),
    "lead_guitar": ("pluck_bright", "saw_lead"),
}
#: Vowels the voice sings (formants in ``synth_voice.FORMANTS``) and onset consonants ("" = none).
VOWELS = ("a", "e", "i", "o", "u")
CONSONANTS = ("", "s", "sh", "t", "k", "h")
CONSONANT_WEIGHTS = (0.35, 0.15, 0.1, 0.15, 0.12, 0.13)
#: Target RMS level (dBFS) of each part before the final peak normalisation.
LEVELS_DB = {"drums": -17.0, "bass": -19.0, "rhythm_guitar": -22.0, "keys": -25.0,
             "lead_guitar": -23.0, "vocals": -17.0}
PARTS = ("drums", "bass", "rhythm_guitar", "lead_guitar", "keys", "vocals")


@dataclass(frozen=True)
class Note:
    """A pitched note: onset and held duration in seconds (a release tail follows), MIDI pitch."""
    start: float
    duration: float
    midi: float
    velocity: float


@dataclass(frozen=True)
class DrumHit:
    time: float
    drum: str  # "kick" | "snare" | "hat" | "open_hat"
    velocity: float


@dataclass(frozen=True)
class Syllable:
    """One sung syllable: optional onset consonant, then a vowel held on one pitch."""
    start: float
    duration: float
    midi: float
    vowel: str
    consonant: str
    velocity: float


@dataclass
class TrackPlan:
    """Everything needed to render a track; ``describe()`` gives a JSON-able summary."""
    seed: int
    seconds: float
    tempo: float
    key: int  # pitch class of the tonic, 0 = C
    mode: str
    progression: tuple
    chord_beats: int
    chords: list  # (start_s, duration_s, degree)
    timbres: dict
    patterns: dict
    notes: dict  # part -> list[Note]
    drums: list  # list[DrumHit]
    voice: str  # "male" | "female"
    syllables: list  # list[Syllable]
    vibrato_rate: float  # Hz
    vibrato_depth: float  # semitones (peak deviation)
    pans: dict = field(default_factory=dict)  # part -> -1 (left) .. 1 (right)
    levels_db: dict = field(default_factory=dict)

    @property
    def beat(self) -> float:
        """Seconds per beat."""
        return 60.0 / self.tempo

    @property
    def key_name(self) -> str:
        return f"{KEY_NAMES[self.key]} {self.mode}"

    def describe(self) -> dict:
        voiced = [s.midi for s in self.syllables]
        return {
            "seed": int(self.seed), "seconds": float(self.seconds), "tempo_bpm": float(self.tempo),
            "key": self.key_name, "progression": [int(d) + 1 for d in self.progression],
            "chord_beats": int(self.chord_beats), "timbres": dict(self.timbres),
            "patterns": dict(self.patterns), "voice": self.voice,
            "melody_midi_range": [float(min(voiced)), float(max(voiced))] if voiced else None,
            "syllables": len(self.syllables),
            "vibrato_hz": round(float(self.vibrato_rate), 3),
        }


def degree_to_midi(key: int, mode: str, degree: int, tonic_midi: int) -> int:
    """MIDI pitch of a scale ``degree`` (any integer, 0 = the tonic at ``tonic_midi``)."""
    octave, step = divmod(int(degree), 7)
    return tonic_midi + 12 * octave + SCALES[mode][step]


def place_pitch_class(pitch_class: int, low: int) -> int:
    """The MIDI pitch of ``pitch_class`` in the octave ``[low, low + 12)``."""
    return low + (pitch_class - low) % 12


def chord_pitch_classes(key: int, mode: str, degree: int, seventh: bool = False) -> list[int]:
    """Pitch classes of the diatonic triad (or seventh chord) on ``degree``: root first."""
    steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
    return [(key + SCALES[mode][(degree + s) % 7]) % 12 for s in steps]


def _humanize(rng: np.random.Generator, t: float, ms: float = 4.0) -> float:
    return max(0.0, t + float(rng.normal(0.0, ms * 1e-3)))


def _plan_chords(rng, n_beats, chord_beats, progression):
    chords = []
    for i, start in enumerate(range(0, n_beats, chord_beats)):
        chords.append((start, chord_beats, progression[i % len(progression)]))
    return chords  # in beats


def _plan_bass(rng, key, mode, chords_b, beat, pattern):
    notes = []
    for start_b, length_b, degree in chords_b:
        pcs = chord_pitch_classes(key, mode, degree)
        root = place_pitch_class(pcs[0], 36)  # C2..B2
        fifth = root + (pcs[2] - pcs[0]) % 12
        if pattern == "quarters":
            events = [(b, 0.85, root, 0.9 if b % 2 == 0 else 0.75) for b in range(length_b)]
        elif pattern == "halves":
            events = [(b, 1.8, root, 0.9) for b in range(0, length_b, 2)]
        elif pattern == "eighths":
            events = [(h / 2, 0.42, root, 0.9 if h % 2 == 0 else 0.65) for h in range(2 * length_b)]
        else:  # root_fifth: root, fifth, octave, fifth
            cycle = (root, fifth, root + 12, fifth)
            events = [(b, 0.85, cycle[b % 4], 0.9 if b % 4 == 0 else 0.75) for b in range(length_b)]
        for off_b, dur_b, midi, vel in events:
            notes.append(Note(_humanize(rng, (start_b + off_b) * beat), dur_b * beat, float(midi),
                              vel * float(rng.uniform(0.92, 1.0))))
    return notes


def _guitar_voicing(key, mode, degree):
    pcs = chord_pitch_classes(key, mode, degree)
    root = place_pitch_class(pcs[0], 40)  # E2..D#3, like a guitar's low strings
    third = (pcs[1] - pcs[0]) % 12
    fifth = (pcs[2] - pcs[0]) % 12
    return [root, root + fifth, root + 12, root + 12 + third, root + 12 + fifth]


def _plan_rhythm(rng, key, mode, chords_b, beat, pattern):
    # strums per bar in eighth positions: (position, direction, held eighths)
    strums = {
        "quarters": [(0, "D", 2), (2, "D", 2), (4, "D", 2), (6, "D", 2)],
        "folk": [(0, "D", 2), (2, "D", 1), (3, "U", 2), (5, "U", 1), (6, "D", 1), (7, "U", 1)],
        "whole": [(0, "D", 8)],
        "offbeat": [(1, "U", 0.6), (3, "U", 0.6), (5, "U", 0.6), (7, "U", 0.6)],
    }[pattern]
    notes = []
    for start_b, length_b, degree in chords_b:
        voicing = _guitar_voicing(key, mode, degree)
        for bar_b in range(0, length_b, 4):
            for pos, direction, held in strums:
                t0 = _humanize(rng, (start_b + bar_b + pos / 2) * beat)
                order = voicing if direction == "D" else voicing[::-1][:4]
                vel = (0.9 if direction == "D" else 0.6) * float(rng.uniform(0.9, 1.0))
                spread = 0.012 if direction == "D" else 0.008  # seconds between strings
                for j, midi in enumerate(order):
                    notes.append(Note(t0 + j * spread, held * beat / 2, float(midi),
                                      vel * (1.0 - 0.04 * j)))
    return notes


def _plan_keys(rng, key, mode, chords_b, beat, pattern):
    seventh = bool(rng.random() < 0.5)
    notes = []
    for start_b, length_b, degree in chords_b:
        pcs = chord_pitch_classes(key, mode, degree, seventh=seventh)
        voicing = sorted(place_pitch_class(pc, 55) for pc in pcs)  # around middle C
        if pattern == "sustain":
            for midi in voicing:
                notes.append(Note(start_b * beat, length_b * beat * 0.97, float(midi), 0.7))
        elif pattern == "arpeggio":
            cycle = voicing + [voicing[0] + 12] + voicing[1:-1][::-1]
            for h in range(2 * length_b):
                notes.append(Note(_humanize(rng, (start_b + h / 2) * beat), 0.45 * beat,
                                  float(cycle[h % len(cycle)] + 12),
                                  (0.75 if h % 2 == 0 else 0.6) * float(rng.uniform(0.9, 1.0))))
        else:  # stabs on beat 1 and the "and" of 2 in every bar
            for bar_b in range(0, length_b, 4):
                for off_b in (0.0, 1.5, 3.0):
                    t0 = _humanize(rng, (start_b + bar_b + off_b) * beat)
                    for midi in voicing:
                        notes.append(Note(t0, 0.35 * beat, float(midi), 0.75))
    return notes


def _phrase_windows(n_beats, phrase_beats):
    """Split the song into phrases: (start_beat, sung_beats, fill_beats)."""
    sung = 3 if phrase_beats == 4 else 6
    return [(p, sung, phrase_beats - sung) for p in range(0, n_beats, phrase_beats)]


def _chord_at(chords_b, beat_pos):
    for start_b, length_b, degree in chords_b:
        if start_b <= beat_pos < start_b + length_b:
            return degree
    return chords_b[-1][2]


def _nearest_chord_degree(degree, chord_degree):
    tones = [chord_degree + s for s in (0, 2, 4)]
    candidates = [t + 7 * o for t in tones for o in (-2, -1, 0, 1)]
    return min(candidates, key=lambda c: (abs(c - degree), c))


def _plan_melody(rng, key, mode, chords_b, windows, beat, voice):
    # the tonic an octave or so below middle C for a male voice, an octave higher for a female one
    tonic = place_pitch_class(key, 45) + (12 if voice == "female" else 0)
    lo, hi = -2, 7  # scale-degree range of the melody around the tonic
    durations = np.array([0.5, 1.0, 1.5, 2.0])
    weights = np.array([0.35, 0.35, 0.1, 0.2])
    degree = int(rng.integers(0, 5))
    syllables = []
    for start_b, sung_b, _fill in windows:
        pos = 0.0
        while pos < sung_b - 0.25:
            dur = float(rng.choice(durations, p=weights))
            dur = min(dur, sung_b - pos)
            if pos > 0 and rng.random() < 0.12:  # an unvoiced gap inside the phrase
                pos += 0.5
                continue
            at = start_b + pos
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
            degree = int(np.clip(degree + step, lo, hi))
            if float(at).is_integer():  # on the beat: land on a chord tone
                degree = int(np.clip(_nearest_chord_degree(degree, _chord_at(chords_b, at)), lo, hi))
            midi = degree_to_midi(key, mode, degree, tonic)
            consonant = str(rng.choice(CONSONANTS, p=CONSONANT_WEIGHTS))
            vowel = str(rng.choice(VOWELS))
            gap = 0.12 if dur >= 1.0 else 0.08  # short breath before the next syllable
            syllables.append(Syllable(at * beat, (dur - gap) * beat, float(midi), vowel, consonant,
                                      float(rng.uniform(0.85, 1.0))))
            pos += dur
    return syllables


def _plan_lead(rng, key, mode, chords_b, windows, beat, n_beats):
    tonic = place_pitch_class(key, 60)  # C4..B4
    penta = PENTATONIC[mode]
    index = int(rng.integers(0, len(penta)))
    notes = []
    for start_b, sung_b, fill_b in windows:
        pos = start_b + sung_b
        end = min(start_b + sung_b + fill_b, n_beats)
        while pos < end - 0.25:
            dur = 0.5 if rng.random() < 0.7 else 1.0
            index = int(np.clip(index + rng.choice([-2, -1, 1, 1, 2]), 0, len(penta) + 2))
            octave, i = divmod(index, len(penta))
            midi = degree_to_midi(key, mode, penta[i], tonic) + 12 * octave
            notes.append(Note(_humanize(rng, pos * beat), 0.9 * dur * beat, float(midi),
                              float(rng.uniform(0.7, 0.9))))
            pos += dur
    return notes


def _plan_drums(rng, groove, n_bars, beat):
    hits = []
    sixteenth = beat / 4
    for bar in range(n_bars):
        for drum, steps in GROOVES[groove].items():
            for step, vel in steps:
                t = _humanize(rng, (bar * 16 + step) * sixteenth, ms=2.0)
                hits.append(DrumHit(t, drum, vel * float(rng.uniform(0.93, 1.0))))
    return hits


def plan_track(seed: int, seconds: float, voice: str | None = None) -> TrackPlan:
    """Draw the whole score of a track from ``seed`` (deterministic).

    ``voice`` (``"male"``/``"female"``) forces the singer's register; the rest of the score is
    the same as with the drawn one.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0]))
    tempo = float(rng.integers(80, 141))
    beat = 60.0 / tempo
    mode = "minor" if rng.random() < 0.4 else "major"
    key = int(rng.integers(0, 12))
    prog_options = PROGRESSIONS[mode]
    progression = tuple(prog_options[int(rng.integers(0, len(prog_options)))])
    chord_beats = 8 if (tempo > 125 and rng.random() < 0.5) else 4
    n_beats = int(np.ceil(seconds / beat)) + 1
    n_beats += (-n_beats) % 4  # whole bars
    n_bars = n_beats // 4
    chords_b = _plan_chords(rng, n_beats, chord_beats, progression)

    timbres = {part: str(rng.choice(options)) for part, options in TIMBRES.items()}
    patterns = {"bass": str(rng.choice(BASS_PATTERNS)), "rhythm_guitar": str(rng.choice(STRUM_PATTERNS)),
                "keys": str(rng.choice(KEYS_PATTERNS)), "drums": str(rng.choice(list(GROOVES)))}
    drawn_voice = "female" if rng.random() < 0.5 else "male"
    if voice not in (None, "male", "female"):
        raise ValueError(f"voice must be 'male', 'female' or None, got {voice!r}")
    voice = voice or drawn_voice
    phrase_beats = 4 if (n_beats <= 8 or rng.random() < 0.5) else 8
    patterns["phrase_beats"] = phrase_beats
    windows = _phrase_windows(n_beats, phrase_beats)

    notes = {
        "bass": _plan_bass(rng, key, mode, chords_b, beat, patterns["bass"]),
        "rhythm_guitar": _plan_rhythm(rng, key, mode, chords_b, beat, patterns["rhythm_guitar"]),
        "keys": _plan_keys(rng, key, mode, chords_b, beat, patterns["keys"]),
        "lead_guitar": _plan_lead(rng, key, mode, chords_b, windows, beat, n_beats),
    }
    syllables = _plan_melody(rng, key, mode, chords_b, windows, beat, voice)
    drums = _plan_drums(rng, patterns["drums"], n_bars, beat)
    side = 1.0 if rng.random() < 0.5 else -1.0
    pans = {"drums": 0.0, "bass": 0.0, "vocals": 0.0, "rhythm_guitar": 0.45 * side,
            "keys": -0.3 * side, "lead_guitar": 0.2 * side}
    levels = {part: LEVELS_DB[part] + float(rng.uniform(-1.5, 1.5)) for part in PARTS}
    return TrackPlan(
        seed=int(seed), seconds=float(seconds), tempo=tempo, key=key, mode=mode,
        progression=progression, chord_beats=chord_beats,
        chords=[(s * beat, n * beat, d) for s, n, d in chords_b], timbres=timbres,
        patterns=patterns, notes=notes, drums=drums, voice=voice, syllables=syllables,
        vibrato_rate=float(rng.uniform(5.0, 6.0)), vibrato_depth=float(rng.uniform(0.25, 0.55)),
        pans=pans, levels_db=levels)
