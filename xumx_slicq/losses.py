"""The training loss of xumx-sliCQ v1: block MSE over 14 target combinations + 0.1 x negative SI-SDR.

Source: sevagh/xumx-sliCQ@v1-release:xumx_slicq/loss.py (LossCriterion, _custom_mse_loss) and
csteinmetz1/auraloss@53184ac:auraloss/time.py (SISDRLoss); design §4, quirks 1-2.

    loss = mcoef * sdr_term + mse_term,  mcoef = 0.1

* ``mse_term``: the mean of 14 combination terms (4C1 + 4C2 + 4C3). Each term is ``block_mse`` =
  (1/70) sum over blocks of mean((P_b - Y_b)^2). In the original the combinations are built with ``+``
  on Python *lists* of blocks, which concatenates them, so a 2-target term is the mean of the two
  single-target terms and the 14-term mean equals the mean of the four single-target terms (the
  default here, "faithful"). ``cl_sum=True`` gives what X-UMX's combination loss intended: magnitudes
  summed elementwise, mse(P_1 + P_2, Y_1 + Y_2).
* ``sdr_term``: the mean over the same 14 combinations of auraloss' SI-SDR loss between the summed
  predicted waveforms and the summed target waveforms; a predicted waveform is the inverse sliCQT of
  the predicted magnitude with the mixture's phase. The original computes it under ``torch.no_grad()``,
  so it adds nothing to the gradient: here it is computed in numpy after the step (the inverse sliCQT
  is numpy) and only enters the reported loss, the plateau schedule and the checkpoint choice.

Targets are named; the 14 combinations are listed in the original's order, whose target numbering is
the network's return order 1 = bass, 2 = vocals, 3 = other, 4 = drums (design §3.3).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .params import MCOEF, NETWORK_RETURN_ORDER

#: The 14 combinations in loss.py's order (sdr_loss_1 ... sdr_loss_14 / mse_loss_1 ... mse_loss_14).
COMBINATIONS: tuple[tuple[str, ...], ...] = tuple(
    tuple(NETWORK_RETURN_ORDER[i - 1] for i in idx) for idx in (
        (1,), (2,), (3,), (4,),
        (1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4),
        (1, 2, 3), (1, 2, 4), (1, 3, 4), (2, 3, 4)))

SISDR_EPS = 1e-8  # auraloss SISDRLoss default eps (time.py at 53184ac)


def _ops():
    from keras import ops

    return ops


def block_mse(pred_blocks: Sequence, target_blocks: Sequence):
    """_custom_mse_loss: (1/n) sum_b mean((P_b - Y_b)^2) over two equally long lists of blocks.

    Every block counts equally whatever its size (pass-through blocks included). Scalar tensor.
    """
    ops = _ops()
    if len(pred_blocks) != len(target_blocks):
        raise ValueError(f"{len(pred_blocks)} predicted blocks vs {len(target_blocks)} target blocks")
    total = 0.0
    for p, y in zip(pred_blocks, target_blocks):
        total = total + ops.mean(ops.square(p - y))
    return total / len(target_blocks)


def mse_terms(preds: Mapping[str, Sequence], targets: Mapping[str, Sequence], cl_sum: bool = False):
    """The 14 frequency-domain terms, (14,) tensor, in :data:`COMBINATIONS` order.

    preds, targets: {target name: 70 magnitude blocks (batch, 2, nf, S, M)}.
    cl_sum False (faithful, loss.py L93-107): a combination's term is block_mse over the
    *concatenated* block lists; True: block_mse of the elementwise sums (X-UMX's intent).
    """
    ops = _ops()
    single = {name: block_mse(preds[name], targets[name]) for name in NETWORK_RETURN_ORDER}
    terms = []
    for combo in COMBINATIONS:
        if len(combo) == 1:
            terms.append(single[combo[0]])
        elif not cl_sum:
            # mean over the concatenated list = the mean of the single-target sums of block means
            terms.append(sum(single[name] for name in combo) / len(combo))
        else:
            p = [sum(preds[name][b] for name in combo) for b in range(len(preds[combo[0]]))]
            y = [sum(targets[name][b] for name in combo) for b in range(len(targets[combo[0]]))]
            terms.append(block_mse(p, y))
    return ops.stack(terms)


def si_sdr_loss(estimate, reference, eps: float = SISDR_EPS, reduce: bool = True):
    """auraloss ``SISDRLoss()`` (zero_mean=True, eps=1e-8, reduction="mean"): minus the SI-SDR in dB.

    estimate, reference: (..., samples). Per leading index: both signals made zero-mean,
    alpha = <s_hat, s> / (||s||^2 + eps), SI-SDR = 10 log10(||alpha s||^2 / (||s_hat - alpha s||^2 + eps) + eps).
    Returns the negative mean over all leading indices (reduce) or the per-index values negated.
    """
    ops = _ops()
    est = ops.convert_to_tensor(estimate)
    ref = ops.convert_to_tensor(reference)
    est = est - ops.mean(est, axis=-1, keepdims=True)
    ref = ref - ops.mean(ref, axis=-1, keepdims=True)
    alpha = ops.sum(est * ref, axis=-1) / (ops.sum(ref ** 2, axis=-1) + eps)
    scaled = ref * ops.expand_dims(alpha, -1)
    res = est - scaled
    ratio = ops.sum(scaled ** 2, axis=-1) / (ops.sum(res ** 2, axis=-1) + eps) + eps
    values = 10.0 * ops.log10(ratio)
    return -ops.mean(values) if reduce else -values


def mix_phase_estimate(mix_blocks: Sequence[np.ndarray], mag_blocks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """transforms.phasemix_sep: |Y| e^{i angle X} per block (atan2(0, 0) = 0; numpy, mixture's precision)."""
    out = []
    for x, y in zip(mix_blocks, mag_blocks):
        x = np.asarray(x)
        rdt = np.float32 if x.dtype == np.complex64 else np.float64
        phase = np.arctan2(x.imag, x.real)
        y = np.asarray(y, dtype=rdt)
        blk = np.empty(x.shape, dtype=x.dtype)
        blk.real = y * np.cos(phase)
        blk.imag = y * np.sin(phase)
        out.append(blk)
    return out


def sdr_terms(pred_mags: Mapping[str, Sequence[np.ndarray]], mix_blocks: Sequence[np.ndarray],
              target_wavs: Mapping[str, np.ndarray], length: int, slicqt=None) -> np.ndarray:
    """The 14 time-domain terms (14,) float32 (no gradient: numpy in, numpy out).

    pred_mags: {target: 70 blocks (batch, 2, nf, S, M)} predicted magnitudes; mix_blocks: the mixture's
    complex sliCQT blocks; target_wavs: {target: (batch, 2, length)}; length: samples.
    """
    if slicqt is None:
        from .transform import get_slicqt

        slicqt = get_slicqt()
    wav = {name: slicqt.backward(mix_phase_estimate(mix_blocks, pred_mags[name]), length)
           for name in NETWORK_RETURN_ORDER}
    ops = _ops()
    terms = []
    for combo in COMBINATIONS:
        est = sum(wav[name] for name in combo)
        ref = sum(np.asarray(target_wavs[name], dtype=est.dtype) for name in combo)
        terms.append(ops.convert_to_numpy(si_sdr_loss(est, ref)))
    return np.asarray(terms, dtype=np.float32)


def combine(sdr: np.ndarray | float, mse: np.ndarray | float, mcoef: float = MCOEF) -> dict[str, float]:
    """{"loss", "sdr_term", "mse_term"} from the 14-term arrays (or already averaged terms), as loss.py:
    sdr_term = sum/14, mse_term = sum/14, loss = mcoef * sdr_term + mse_term (float32 arithmetic)."""
    sdr = np.asarray(sdr, dtype=np.float32)
    mse = np.asarray(mse, dtype=np.float32)
    sdr_term = np.float32(sdr.sum(dtype=np.float32) / np.float32(sdr.size)) if sdr.ndim else sdr
    mse_term = np.float32(mse.sum(dtype=np.float32) / np.float32(mse.size)) if mse.ndim else mse
    loss = np.float32(mcoef) * sdr_term + mse_term
    return {"loss": float(loss), "sdr_term": float(sdr_term), "mse_term": float(mse_term)}
