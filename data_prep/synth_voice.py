"""A sung-like voice: Rosenberg glottal pulses through vowel formant resonators.

Source-filter synthesis, vectorised over the whole track:

1. Pitch: the melody's MIDI pitches held from one vowel onset to the next, smoothed by a one-pole
   low-pass (portamento, 30 ms), plus vibrato (5-6 Hz, depth 0.25-0.55 semitone, fading in
   150-400 ms after each onset, as trained singers' vibrato does) and a slow random drift.
2. Glottal source: the Rosenberg (1971) pulse, per period a raised-cosine opening over 40 % of the
   period and a quarter-cosine closing over 16 % (his preferred shape), evaluated on the running
   phase; its first difference is the excitation (flow derivative, which includes the +6 dB/octave
   lip radiation), plus pulse-synchronous aspiration noise (breathiness).
3. Vocal tract: five cascaded two-pole resonators (Klatt 1980's digital resonator, unity gain at
   DC) per vowel; vowels cross-fade over ~20 ms at syllable boundaries.
4. Syllables: raised-cosine attack (40 ms) and release (60 ms) envelopes, with unvoiced gaps
   between phrases and between some syllables; onset consonants are band-passed noise (/s/, /sh/),
   short bursts (/t/, /k/, followed by aspiration) or aspiration through the formants (/h/).

Formants F1-F3: Peterson & Barney (1952, JASA 24(2), Table II), averages for men and for women
(/i/ "heed", /e/ = /E/ "head", /a/ = /A/ "hod", /o/ = /O/ "hawed", /u/ "who'd"). F4 and F5 are
fixed at 3300 and 3750 Hz (men) and 15 % higher (women); bandwidths are typical values.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from .synth_instruments import midi_to_hz

#: (F1, F2, F3) in Hz, Peterson & Barney 1952 Table II.
FORMANTS = {
    "male": {"i": (270, 2290, 3010), "e": (530, 1840, 2480), "a": (730, 1090, 2440),
             "o": (570, 840, 2410), "u": (300, 870, 2240)},
    "female": {"i": (310, 2790, 3310), "e": (610, 2330, 2990), "a": (850, 1220, 2810),
               "o": (590, 920, 2710), "u": (370, 950, 2670)},
}
UPPER_FORMANTS = {"male": (3300.0, 3750.0), "female": (3800.0, 4300.0)}
BANDWIDTHS = (80.0, 100.0, 130.0, 250.0, 300.0)
#: Rosenberg pulse: opening and closing phases as fractions of the period.
ROSENBERG_OPEN, ROSENBERG_CLOSE = 0.40, 0.16
PORTAMENTO_S = 0.03
VIBRATO_DELAY_S, VIBRATO_RAMP_S = 0.15, 0.25
ATTACK_S, RELEASE_S = 0.04, 0.06
#: Onset consonants: (duration s, band Hz or None for aspiration, level vs the vowel RMS).
CONSONANTS = {"s": (0.09, (4000.0, 9000.0), 0.35), "sh": (0.10, (2000.0, 6000.0), 0.35),
              "t": (0.012, (2500.0, 8000.0), 0.8), "k": (0.018, (1500.0, 3500.0), 0.7),
              "h": (0.07, None, 0.5)}
ASPIRATION_AFTER_BURST_S = 0.03


def rosenberg_pulse(phase: np.ndarray) -> np.ndarray:
    """Glottal flow (0..1) at ``phase`` (fraction of the period, 0..1)."""
    opening = 0.5 * (1.0 - np.cos(np.pi * phase / ROSENBERG_OPEN))
    closing = np.cos(0.5 * np.pi * (phase - ROSENBERG_OPEN) / ROSENBERG_CLOSE)
    return np.where(phase < ROSENBERG_OPEN, opening,
                    np.where(phase < ROSENBERG_OPEN + ROSENBERG_CLOSE, closing, 0.0))


def resonator_sos(freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """Klatt's two-pole resonator as one second-order section (unity gain at DC)."""
    c = -np.exp(-2.0 * np.pi * bandwidth / rate)
    b = 2.0 * np.exp(-np.pi * bandwidth / rate) * np.cos(2.0 * np.pi * freq / rate)
    a = 1.0 - b - c
    return np.array([a, 0.0, 0.0, 1.0, -b, -c])


def vowel_sos(vowel: str, voice: str, rate: int) -> np.ndarray:
    """Cascade of formant resonators for ``vowel``, shape ``(sections, 6)``."""
    freqs = tuple(FORMANTS[voice][vowel]) + UPPER_FORMANTS[voice]
    sections = [resonator_sos(f, bw, rate) for f, bw in zip(freqs, BANDWIDTHS) if f < 0.45 * rate]
    return np.stack(sections)


def _one_pole(x: np.ndarray, tau: float, rate: int) -> np.ndarray:
    """Causal one-pole low-pass with time constant ``tau``, starting settled at ``x[0]``."""
    a = float(np.exp(-1.0 / (tau * rate)))
    y, _ = signal.lfilter([1.0 - a], [1.0, -a], x, zi=[a * x[0]])
    return y


def _raised_cosine_segment(n_total: int, n_attack: int, n_release: int) -> np.ndarray:
    env = np.ones(n_total)
    n_attack = min(n_attack, n_total)
    env[:n_attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_attack) / max(n_attack, 1))
    n_release = min(n_release, n_total - n_attack)
    if n_release > 0:
        env[n_total - n_release:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(n_release) / n_release)
    return env


def _band_sos(band, rate):
    nyq = rate / 2.0
    low, high = band
    high = min(high, 0.45 * rate)
    low = min(low, 0.6 * high)
    return signal.butter(2, [low / nyq, high / nyq], btype="bandpass", output="sos"), (high - low) / nyq


def render_voice(plan, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The sung part of ``plan`` (a ``TrackPlan``) as mono float64 ``(n,)``."""
    syllables = plan.syllables
    out = np.zeros(n)
    if not syllables:
        return out
    # vowel onsets: after the unvoiced part of an onset consonant
    onsets, ends = [], []
    for syl in syllables:
        lead_in = 0.6 * CONSONANTS[syl.consonant][0] if syl.consonant else 0.0
        if syl.consonant in ("t", "k"):
            lead_in = CONSONANTS[syl.consonant][0] + ASPIRATION_AFTER_BURST_S
        onsets.append(int(round((syl.start + lead_in) * rate)))
        ends.append(int(round((syl.start + syl.duration) * rate)))
    onsets = np.minimum(np.array(onsets), n - 1)
    ends = np.maximum(np.minimum(np.array(ends), n), onsets + 1)
    starts = np.minimum(np.array([int(round(s.start * rate)) for s in syllables]), n - 1)

    # 1. pitch contour (MIDI), held between vowel onsets, then portamento, vibrato, drift
    samples = np.arange(n)
    current = np.maximum(np.searchsorted(onsets, samples, side="right") - 1, 0)  # syllable sung
    pitches = np.array([syl.midi for syl in syllables])
    midi = _one_pole(pitches[current], PORTAMENTO_S, rate)
    since_onset = (samples - onsets[current]) / rate
    depth = plan.vibrato_depth * np.clip((since_onset - VIBRATO_DELAY_S) / VIBRATO_RAMP_S, 0.0, 1.0)
    # slow random contours, drawn at a 100 Hz control rate and interpolated
    n_ctrl = int(np.ceil(n / rate * 100.0)) + 2
    ctrl_t = np.arange(n_ctrl) / 100.0
    wobble = _one_pole(rng.standard_normal(n_ctrl), 0.3, 100)
    drift = _one_pole(rng.standard_normal(n_ctrl), 0.15, 100)
    vib_rate = plan.vibrato_rate + 0.15 * np.interp(samples / rate, ctrl_t,
                                                    wobble / (np.std(wobble) + 1e-12))
    midi += depth * np.sin(2.0 * np.pi * np.cumsum(vib_rate) / rate)
    midi += 0.08 * np.interp(samples / rate, ctrl_t, drift / (np.std(drift) + 1e-12))
    f0 = midi_to_hz(midi)

    # 2. glottal source
    flow = rosenberg_pulse(np.mod(np.cumsum(f0) / rate, 1.0))
    excitation = np.diff(flow, prepend=0.0)
    amp = np.zeros(n)
    n_att, n_rel = int(ATTACK_S * rate), int(RELEASE_S * rate)
    for i, syl in enumerate(syllables):
        stop = min(n, ends[i] + n_rel)
        seg = _raised_cosine_segment(stop - onsets[i], n_att, n_rel) * syl.velocity
        amp[onsets[i]:stop] = np.maximum(amp[onsets[i]:stop], seg)
    voiced_level = np.sqrt(np.mean(excitation[amp > 0.5] ** 2)) if np.any(amp > 0.5) else 1.0
    breath = float(rng.uniform(0.03, 0.08))
    source = excitation * amp
    noise = rng.standard_normal(n)
    source += breath * voiced_level * noise * (0.4 + 0.6 * flow) * amp
    aspiration = np.zeros(n)
    for i, syl in enumerate(syllables):
        if syl.consonant == "h":
            a0 = starts[i]
        elif syl.consonant in ("t", "k"):
            a0 = min(n, starts[i] + int(CONSONANTS[syl.consonant][0] * rate))
        else:
            continue
        a1 = min(n, onsets[i] + n_att)
        if a1 > a0:
            level = CONSONANTS["h"][2] if syl.consonant == "h" else 0.3
            aspiration[a0:a1] = np.maximum(aspiration[a0:a1],
                                           level * _raised_cosine_segment(a1 - a0, (a1 - a0) // 3,
                                                                          (a1 - a0) // 3))
    source += voiced_level * noise * aspiration

    # 3. vocal tract: vowel filters, cross-faded by smoothed one-hot weights
    used = sorted({s.vowel for s in syllables})
    vowel_of = np.array([used.index(syl.vowel) for syl in syllables])
    index = vowel_of[np.maximum(np.searchsorted(starts, samples, side="right") - 1, 0)]
    for v, vowel in enumerate(used):
        weight = _one_pole((index == v).astype(np.float64), 0.02, rate)
        out += weight * signal.sosfilt(vowel_sos(vowel, plan.voice, rate), source)
    active = amp > 0.5
    vowel_rms = np.sqrt(np.mean(out[active] ** 2)) if np.any(active) else 1.0

    # 4. unvoiced consonants: band-passed noise bursts at the syllable starts (filtered one by
    # one, with a 20 ms tail for the filter's ringing)
    tail = int(0.02 * rate)
    filters = {}
    for i, syl in enumerate(syllables):
        if syl.consonant not in ("s", "sh", "t", "k"):
            continue
        duration, band, level = CONSONANTS[syl.consonant]
        if syl.consonant not in filters:
            filters[syl.consonant] = _band_sos(band, rate)
        sos, width = filters[syl.consonant]
        m = min(int(duration * rate), n - starts[i])
        if syl.consonant in ("t", "k"):  # burst: sharp onset, fast decay
            env = np.exp(-np.arange(m) / (0.3 * duration * rate))
        else:
            env = _raised_cosine_segment(m, m // 3, m // 2)
        burst = np.zeros(min(m + tail, n - starts[i]))
        burst[:m] = rng.standard_normal(m) * env
        out[starts[i]:starts[i] + burst.size] += \
            level * vowel_rms / np.sqrt(width) * signal.sosfilt(sos, burst)
    return out
