"""BSS evaluation shared by every system: BSS Eval v3, BSSv4, scale-invariant metrics, result files.

* :func:`bss_eval_sources`: BSS Eval v3 SDR/SIR/SAR with a 512-tap time-invariant distortion
  filter, either through ``mir_eval.separation.bss_eval_sources`` (``backend="mir_eval"``, the
  paper-faithful figure) or through the vectorised re-implementation in
  :mod:`common.bsseval_fast` (``backend="fast"``, the default; agrees with mir_eval to well
  under 0.01 dB and is more than 10x faster, see ``python -m benchmarks.bsseval``).
* :func:`nsdr` and :func:`global_weighted`: Huang et al.'s NSDR and the clip-length-weighted
  GNSDR/GSIR/GSAR (posenhuang/deeplearningsourceseparation: codes/mir1k/test_mir1k_general_kl_bss3.m);
  :func:`global_weighted_stderr`: their sampling standard error when the clips are a subset.
* :func:`bss_eval_v4`: BSSv4 (``museval.evaluate``: time-invariant filters over the whole track,
  metrics on 1 s windows with 1 s hops), with :func:`framewise_median` and :func:`sisec_median`
  for the SiSEC18 / MiXiN aggregation (median over windows, NaN skipped, then over tracks/segments).
* :func:`si_bss_eval`: SI-SDR / SI-SIR / SI-SAR (Le Roux et al. 2019) computed as nussl's
  ``BSSEvalScale`` does (nussl/nussl: nussl/evaluation/bss_eval.py).
* :func:`write_json`, :func:`markdown_table`, :func:`write_csv`: per-track results and tables.

Deviations from the originals (all on inputs where the original fails or is undefined):

=============================  ============================================  =====================================
case                           original                                      here
=============================  ============================================  =====================================
silent reference/estimate, v3  mir_eval raises a generic ValueError          :class:`BSSEvalError` naming the source
silent reference, SI metrics   nussl: NaN SI-SDR, SNR = -inf, and            every metric of that source/channel is
                               ``np.linalg.solve`` raises on the singular    NaN; the other sources project on the
                               reference Gram matrix (no scores at all)      non-silent references (least squares)
whole-track silence, BSSv4     museval raises a generic ValueError           :class:`BSSEvalError` naming the source
one source, BSSv4              museval's track API warns, returns nothing    :class:`BSSEvalError` (needs >= 2)
v3 denominator at rounding     mir_eval: +inf only for an exact 0            fast path: +inf for a value <= 0
=============================  ============================================  =====================================
"""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np

from common.bsseval_fast import FILTER_LENGTH, bss_eval_sources_fast
from common.runs import write_text_atomic

BACKENDS = ("fast", "mir_eval")

# craffel/mir_eval:mir_eval/separation.py MAX_SOURCES (prevents an absurd permutation search)
MAX_SOURCES = 100


class BSSEvalError(ValueError):
    """Inputs that BSS evaluation cannot score; the message says which source and what to do."""


# ----------------------------------------------------------------------------------------------
# input checks


def _prefix(label: str | None) -> str:
    return f"{label}: " if label else ""


def _as_sources(array, what: str, label: str | None, max_ndim: int) -> np.ndarray:
    """float64 copy with a leading source axis; 1-D input is one source (as mir_eval does)."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim > max_ndim or array.ndim == 0:
        raise BSSEvalError(f"{_prefix(label)}{what} have shape {array.shape}; expected "
                           f"{'(n_src, samples)' if max_ndim == 2 else '(n_src, samples, channels)'}")
    return array


def _check_pair(references, estimates, label: str | None, max_ndim: int = 2,
                what: str = "BSS Eval") -> tuple[np.ndarray, np.ndarray]:
    """Validate as mir_eval.separation.validate does, with errors that say what to fix."""
    refs = _as_sources(references, "references", label, max_ndim)
    ests = _as_sources(estimates, "estimates", label, max_ndim)
    p = _prefix(label)
    if refs.shape != ests.shape:
        raise BSSEvalError(f"{p}references have shape {refs.shape} but estimates {ests.shape}; "
                           "give one estimate per reference, cropped to the same length")
    if refs.shape[1] == 0:
        raise BSSEvalError(f"{p}references and estimates hold no samples")
    if refs.shape[0] > MAX_SOURCES:
        raise BSSEvalError(f"{p}{refs.shape[0]} sources (more than {MAX_SOURCES}); "
                           "is the array transposed? expected (n_src, samples)")
    for array, kind in ((refs, "reference"), (ests, "estimate")):
        finite = np.isfinite(array).reshape(array.shape[0], -1).all(axis=1)
        if not finite.all():
            raise BSSEvalError(f"{p}{kind} source {int(np.argmin(finite))} holds NaN or Inf samples")
        silent = np.all(array.reshape(array.shape[0], -1) == 0, axis=1)
        if silent.any():
            fix = ("leave this source out of the evaluation (or use si_bss_eval, which gives NaN)"
                   if kind == "reference" else "a silent estimate cannot be scored; check the separator")
            raise BSSEvalError(f"{p}{kind} source {int(np.argmax(silent))} is silent (all zeros), "
                               f"so {what} is undefined; {fix}")
    return refs, ests


# ----------------------------------------------------------------------------------------------
# BSS Eval v3


def bss_eval_sources(references, estimates, backend: str = "fast", compute_permutation: bool = False,
                     label: str | None = None) -> dict[str, np.ndarray]:
    """BSS Eval v3 ``bss_eval_sources`` (512-tap time-invariant distortion filter).

    references, estimates: (n_src, samples) (or (samples,) for one source), any float dtype;
    computed in float64. backend: "fast" (default, :mod:`common.bsseval_fast`) or "mir_eval"
    (the reference implementation, for paper figures). compute_permutation: search the estimate
    order with the best mean SIR, as mir_eval/MATLAB do (False keeps estimate j for reference j,
    as in Huang's and andabi's evaluations). label: a track/file name put in error messages.

    Returns {"SDR", "SIR", "SAR": float64 (n_src,), "perm": int (n_src,)}, indexed by reference;
    estimate ``perm[j]`` is the one scored against reference ``j``.
    Raises :class:`BSSEvalError` for mismatched shapes, NaN/Inf, or a silent source.
    """
    if backend not in BACKENDS:
        raise BSSEvalError(f"unknown BSS Eval backend {backend!r}; choose one of {BACKENDS}")
    refs, ests = _check_pair(references, estimates, label)
    if backend == "mir_eval":
        import mir_eval.separation

        with warnings.catch_warnings():
            # mir_eval 0.8 marks bss_eval_sources deprecated for removal in 0.9 (requirements
            # bound mir_eval < 0.9); the warning would repeat for every track.
            warnings.simplefilter("ignore", FutureWarning)
            sdr, sir, sar, perm = mir_eval.separation.bss_eval_sources(
                refs, ests, compute_permutation=compute_permutation)
    else:
        sdr, sir, sar, perm = bss_eval_sources_fast(refs, ests, compute_permutation, FILTER_LENGTH)
    return {"SDR": np.asarray(sdr, dtype=np.float64), "SIR": np.asarray(sir, dtype=np.float64),
            "SAR": np.asarray(sar, dtype=np.float64), "perm": np.asarray(perm, dtype=np.int64)}


def nsdr(sdr_estimate, sdr_mixture):
    """Normalised SDR = SDR(estimate, reference) - SDR(mixture, reference), in dB.

    Huang et al. TASLP 2015 eq. 12 (after Ozerov et al. 2007). Works on scalars or arrays.
    Huang's code scores the mixture against the voice reference alone (drnn.md §2.5).
    """
    return np.asarray(sdr_estimate, dtype=np.float64) - np.asarray(sdr_mixture, dtype=np.float64)


def global_weighted(values, lengths) -> float:
    """Huang's global metric: sum_i len_i * value_i / sum_i len_i (GNSDR, GSIR, GSAR).

    values: per-clip metric (n_clips,); lengths: samples of each original clip (n_clips,)
    (posenhuang/deeplearningsourceseparation: codes/mir1k/test_mir1k_general_kl_bss3.m weights
    by clip length). A NaN value makes the result NaN, as in the original MATLAB.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    lengths = np.asarray(lengths, dtype=np.float64).reshape(-1)
    if values.shape != lengths.shape or values.size == 0:
        raise BSSEvalError(f"global_weighted needs one length per value; got {values.size} "
                           f"values and {lengths.size} lengths")
    if np.any(lengths <= 0):
        raise BSSEvalError("global_weighted: clip lengths must be positive sample counts")
    return float(np.sum(lengths * values) / np.sum(lengths))


def global_weighted_stderr(values, lengths, population: int | None = None) -> float:
    """Sampling standard error of :func:`global_weighted` when the clips are a sample of a larger set.

    values, lengths: (n_clips,). The length-weighted mean is a ratio estimator; its standard error
    under simple random sampling of clips is sqrt((1 - n/N) * var(z) / n) with the linearised terms
    z_i = len_i * (value_i - G) / mean(len) (Cochran, Sampling Techniques, 1977, §6.4), G the global
    value and N = ``population`` (None: an unlimited population, no finite-population correction).
    It says how far a figure on a test subset may sit from the same model's figure on the full set
    (e.g. 165 of MIR-1K's 825 test clips). NaN for a single clip; a NaN value gives NaN.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    lengths = np.asarray(lengths, dtype=np.float64).reshape(-1)
    centre = global_weighted(values, lengths)       # also checks the shapes and lengths
    n = values.size
    if population is not None and population < n:
        raise BSSEvalError(f"global_weighted_stderr: population {population} is smaller than the {n} clips given")
    if n < 2:
        return float("nan")
    linearised = lengths * (values - centre) / lengths.mean()
    kept = 1.0 - (n / population if population else 0.0)
    return float(np.sqrt(kept * np.var(linearised, ddof=1) / n))


def median_difference_stderr(a, b, population: int | None = None, resamples: int = 4000, seed: int = 0) -> float:
    """Bootstrap standard error of median(a) - median(b) for paired per-clip scores a, b (n_clips,).

    Clips are resampled with replacement (the pair kept together) ``resamples`` times; the spread of the
    difference of medians is scaled by sqrt(1 - n/N) when the clips are n of a finite set of N = ``population``
    (e.g. 165 of MIR-1K's 825 test clips), as in :func:`global_weighted_stderr`. A median has no simple
    variance formula, hence the bootstrap. NaN rows are dropped; NaN for fewer than 2 clips.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise BSSEvalError(f"median_difference_stderr needs paired scores; got {a.size} and {b.size}")
    kept = np.isfinite(a) & np.isfinite(b)
    a, b = a[kept], b[kept]
    n = a.size
    if population is not None and population < n:
        raise BSSEvalError(f"median_difference_stderr: population {population} is smaller than the {n} clips given")
    if n < 2:
        return float("nan")
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    spread = np.std(np.median(a[draws], axis=1) - np.median(b[draws], axis=1), ddof=1)
    return float(spread * np.sqrt(1.0 - (n / population if population else 0.0)))


# ----------------------------------------------------------------------------------------------
# BSSv4 (museval)


def _import_museval():
    try:
        import museval  # imports musdb, which needs ffmpeg/ffprobe on PATH even for WAV data
    except Exception as err:  # ImportError, or musdb's own complaint about ffmpeg
        raise BSSEvalError(f"museval could not be imported ({type(err).__name__}: {err}); "
                           "BSSv4 needs `pip install museval` and ffmpeg "
                           "(`apt-get install ffmpeg`)") from None
    return museval


def bss_eval_v4(references, estimates, rate: int, window: float = 1.0, hop: float = 1.0,
                label: str | None = None) -> dict[str, np.ndarray]:
    """BSSv4 framewise metrics through ``museval.evaluate`` (mode "v4", SiSEC18).

    references, estimates: (n_src, samples, channels) or (n_src, samples) for mono; n_src >= 2
    (BSS Eval needs an interferer: pass e.g. vocals AND accompaniment). rate: sample rate in Hz;
    window, hop: seconds (sigsep/sigsep-mus-eval: museval/__init__.py eval_mus_track win=1.0,
    hop=1.0). Distortion filters are estimated once on the whole signals; metrics per window.
    The last partial window is dropped (museval's Framing); a window where any reference or
    estimate is silent is NaN for every source; a perfect estimate gives +inf.

    Returns {"SDR", "ISR", "SIR", "SAR": float64 (n_src, n_frames)}.
    """
    refs, ests = _check_pair(references, estimates, label, max_ndim=3, what="BSSv4")
    if refs.ndim == 2:
        refs, ests = refs[..., np.newaxis], ests[..., np.newaxis]
    if refs.shape[0] < 2:
        raise BSSEvalError(f"{_prefix(label)}BSSv4 needs at least two sources (a target and an "
                           "interferer); add the complement, e.g. accompaniment = mixture - vocals")
    win = int(round(window * rate))
    hop_samples = int(round(hop * rate))
    if win <= 0 or hop_samples <= 0:
        raise BSSEvalError(f"{_prefix(label)}BSSv4 window and hop must be positive (got "
                           f"{window} s and {hop} s at {rate} Hz)")
    museval = _import_museval()
    with np.errstate(divide="ignore", invalid="ignore"):
        sdr, isr, sir, sar = museval.evaluate(refs, ests, win=win, hop=hop_samples, mode="v4",
                                              padding=True)
    return {"SDR": np.asarray(sdr, dtype=np.float64), "ISR": np.asarray(isr, dtype=np.float64),
            "SIR": np.asarray(sir, dtype=np.float64), "SAR": np.asarray(sar, dtype=np.float64)}


def _nanmedian(values: np.ndarray, axis, inf_as_nan: bool = True) -> np.ndarray:
    """np.nanmedian without the all-NaN warning; +-inf count as NaN when ``inf_as_nan``."""
    if inf_as_nan:
        values = np.where(np.isinf(values), np.nan, values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def framewise_median(scores, inf_as_nan: bool = True):
    """Median over windows, NaN windows skipped (SiSEC18: museval EvalStore frames_agg="median").

    scores: one array (..., n_frames) or a dict of them (e.g. :func:`bss_eval_v4`'s result).
    Returns the same structure without the frame axis; all-NaN rows give NaN.
    inf_as_nan: infinite values (a window with a perfect estimate) count as NaN, as in museval's
    stored JSON (TrackStore writes inf as NaN, so SiSEC's figures skip them); False keeps them,
    as MiXiN's np.nanmedian over museval's raw arrays does (evaluation/bssv4_eval.py).
    """
    if isinstance(scores, dict):
        return {key: framewise_median(value, inf_as_nan) for key, value in scores.items()}
    return _nanmedian(np.asarray(scores, dtype=np.float64), axis=-1, inf_as_nan=inf_as_nan)


def sisec_median(per_track: list, inf_as_nan: bool = True) -> dict[str, np.ndarray]:
    """SiSEC18 / MiXiN aggregate: median over windows per track, then median over tracks.

    per_track: list of :func:`bss_eval_v4` results (metric -> (n_src, n_frames)), one per track
    or segment (MiXiN: per 15 s segment, evaluation/bssv4_eval.py). NaN skipped at both levels.
    inf_as_nan: as in :func:`framewise_median`. Returns metric -> (n_src,).
    """
    if not per_track:
        raise BSSEvalError("sisec_median needs at least one track")
    track_medians = [framewise_median(scores, inf_as_nan) for scores in per_track]
    return {key: _nanmedian(np.stack([m[key] for m in track_medians]), axis=0,
                            inf_as_nan=inf_as_nan)
            for key in track_medians[0]}


# ----------------------------------------------------------------------------------------------
# scale-invariant metrics (nussl BSSEvalScale)

SI_KEYS = ("SI-SDR", "SI-SIR", "SI-SAR", "SD-SDR", "SNR", "SRR",
           "SI-SDRi", "SD-SDRi", "SNRi", "MIX-SI-SDR", "MIX-SD-SDR", "MIX-SNR")


def _scale_metrics(refs: np.ndarray, estimate: np.ndarray, idx: int, sir_sar: bool) -> tuple:
    """nussl _scale_bss_eval for one channel: refs (n_samples, n_src), estimate (n_samples,)."""
    source = refs[:, idx]
    source_energy = np.sum(source ** 2)
    alpha = source @ estimate / source_energy

    snr = 10 * np.log10(source_energy / np.sum((estimate - source) ** 2))
    e_true = source * alpha
    e_res = estimate - e_true
    signal = np.sum(e_true ** 2)
    si_sdr = 10 * np.log10(signal / np.sum(e_res ** 2))
    srr = -10 * np.log10((1 - (1 / alpha)) ** 2)
    sd_sdr = snr + 10 * np.log10(alpha ** 2)

    si_sir = si_sar = np.nan
    if sir_sar:
        # project the residual on the span of all references (target included)
        gram = refs.T @ refs
        onto_residual = refs.T @ e_res
        try:
            b = np.linalg.solve(gram, onto_residual)
        except np.linalg.LinAlgError:  # a silent reference elsewhere: nussl fails here
            b = np.linalg.lstsq(gram, onto_residual)[0]
        e_interf = refs @ b
        e_artif = e_res - e_interf
        si_sir = 10 * np.log10(signal / np.sum(e_interf ** 2))
        si_sar = 10 * np.log10(signal / np.sum(e_artif ** 2))
    return si_sdr, si_sir, si_sar, sd_sdr, snr, srr


def si_bss_eval(references, estimates, compute_sir_sar: bool = True) -> dict[str, np.ndarray]:
    """SI-SDR, SI-SIR, SI-SAR (+ SD-SDR, SNR, SRR and mixture baselines) as nussl's BSSEvalScale.

    references, estimates: (n_src, samples) or (n_src, channels, samples), any float dtype.
    As nussl (nussl/nussl: nussl/evaluation/bss_eval.py, BSSEvalScale.preprocess and
    _scale_bss_eval): float64, each signal zero-meaned over time, per channel, no epsilon;
    the "MIX-*" baseline scores the sum of the references; no permutation search.
    A silent reference gives NaN for every metric of that source and channel (see the module
    docstring for how this differs from nussl). Silent estimates give -inf.

    Returns key -> float64 (n_src, channels) for the keys in :data:`SI_KEYS`.
    """
    refs = np.array(references, dtype=np.float64)
    ests = np.array(estimates, dtype=np.float64)
    if refs.ndim == 2:
        refs, ests = refs[:, np.newaxis], ests[:, np.newaxis]
    if refs.ndim != 3 or refs.shape != ests.shape:
        raise BSSEvalError(f"si_bss_eval: references {refs.shape} and estimates {ests.shape} "
                           "must both be (n_src, samples) or (n_src, channels, samples)")
    if refs.shape[-1] == 0:
        raise BSSEvalError("si_bss_eval: references and estimates hold no samples")
    if not (np.all(np.isfinite(refs)) and np.all(np.isfinite(ests))):
        raise BSSEvalError("si_bss_eval: references or estimates hold NaN or Inf samples")
    n_src, n_chan, _ = refs.shape
    mixture = refs.sum(axis=0)                                 # nussl: sum of the references
    mixture -= mixture.mean(axis=-1, keepdims=True)
    refs -= refs.mean(axis=-1, keepdims=True)
    ests -= ests.mean(axis=-1, keepdims=True)

    out = {key: np.full((n_src, n_chan), np.nan) for key in SI_KEYS}
    with np.errstate(divide="ignore", invalid="ignore"):
        for ch in range(n_chan):
            channel_refs = refs[:, ch].T                       # (samples, n_src)
            silent = np.all(channel_refs == 0, axis=0)
            for j in range(n_src):
                if silent[j]:
                    continue                                   # all NaN (module docstring)
                values = _scale_metrics(channel_refs, ests[j, ch], j, compute_sir_sar)
                mix = _scale_metrics(channel_refs, mixture[ch], j, False)
                for key, value in zip(SI_KEYS[:6], values):
                    out[key][j, ch] = value
                out["MIX-SI-SDR"][j, ch], out["MIX-SD-SDR"][j, ch], out["MIX-SNR"][j, ch] = \
                    mix[0], mix[3], mix[4]
                out["SI-SDRi"][j, ch] = values[0] - mix[0]
                out["SD-SDRi"][j, ch] = values[3] - mix[3]
                out["SNRi"][j, ch] = values[4] - mix[4]
    return out


# ----------------------------------------------------------------------------------------------
# result files


def _jsonable(obj):
    """numpy -> Python; NaN and +-inf -> None (strict JSON, as museval's NaN-for-inf rule)."""
    if isinstance(obj, dict):
        return {str(key): _jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path, obj) -> Path:
    """Write per-track results as JSON, atomically; numpy arrays become lists, NaN/inf null."""
    return write_text_atomic(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def _cell(value, precision: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{float(value):.{precision}f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str], precision: int = 2) -> str:
    """A GitHub Markdown table: one row per dict, values of ``columns`` in order.

    Floats are rounded to ``precision`` decimals (NaN prints "nan"); a missing key is blank.
    """
    lines = ["| " + " | ".join(columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        cells = [_cell(row.get(column), precision).replace("|", "\\|") for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path, rows: list[dict], columns: list[str], precision: int = 4) -> Path:
    """Write the table as CSV (header = columns), atomically; floats to ``precision`` decimals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column), precision) for column in columns])
    return write_text_atomic(path, buffer.getvalue())
