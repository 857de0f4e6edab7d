"""MiXiN's Wiener-style soft masks and the single-model reconstruction.

sevagh/MiXiN:mixin/mixin_model.py xtract_mixin: with the CDAE outputs P, H, V (float32, (..., 96, 1948)),
``tot = P^2 + H^2 + V^2 + keras.backend.epsilon()`` and ``M_j = j^2 / tot``, all in float32; each mask
multiplies the complex mixture coefficients (the mixture phase is kept).
"""
from __future__ import annotations

import numpy as np

from .params import MASK_EPSILON, MASK_POWER


def soft_masks(p: np.ndarray, h: np.ndarray, v: np.ndarray, power: float = MASK_POWER,
               eps: float = MASK_EPSILON) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M_p, M_h, M_v) = (P^2, H^2, V^2) / (P^2 + H^2 + V^2 + eps), float32, same shape as the inputs.

    The sum is taken left to right as in the original. Where all three outputs are 0 every mask is 0,
    so that mixture energy is dropped (quirk 13, matched).
    """
    p, h, v = (np.asarray(a, dtype=np.float32) for a in (p, h, v))
    pp, hh, vv = np.power(p, power), np.power(h, power), np.power(v, power)
    tot = pp + hh + vv + np.float32(eps)
    return pp / tot, hh / tot, vv / tot


def apply_mask(mask: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """mask (float32) * complex128 coefficients -> complex128 (float32 is promoted exactly)."""
    return np.multiply(mask, coefs)


def unit_phasor(coefs: np.ndarray) -> np.ndarray:
    """exp(1j * angle(C)), 1 where C == 0 (what librosa.magphase returns as the phase)."""
    mag = np.abs(coefs)
    zero = mag == 0
    phasor = coefs / (mag + zero)
    phasor.real[zero] = 1.0
    return phasor


def single_model_coefs(magnitude: np.ndarray, coefs: np.ndarray, legacy: bool = False) -> np.ndarray:
    """--single-model: one network's magnitude with the mixture phase.

    legacy=False: ``|X_j| * exp(1j angle(C))``, what the original meant.
    legacy=True: the original's computation ``_pol2cart(|X_j|, phasor)``, i.e.
    ``rho cos(phasor) + 1j rho sin(phasor)`` of the *complex* unit phasor taken as an angle
    (sevagh/MiXiN:mixin/mixin_model.py _pol2cart; quirk 2).
    """
    phasor = unit_phasor(coefs)
    if legacy:
        return magnitude * np.cos(phasor) + 1j * (magnitude * np.sin(phasor))
    return magnitude * phasor
