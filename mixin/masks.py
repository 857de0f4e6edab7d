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


def apply_grid_masks(masks, coefs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Masks given on the CDAE's (32, 390) grid, applied to the (96, 1948) coefficients.

    masks: sequence of J (n, 32, 390) float32 masks; coefs: (n, 96, 1948) complex128 or complex64.
    Returns (J, n, 96, 1948) of coefs' dtype, ``apply_mask(upsample_to_coefs(M_j), coefs)`` for each mask
    (model.upsample_to_coefs: each grid cell covers 3 rows x 5 columns, the last 2 columns cropped),
    computed as real and imaginary products without building the upsampled masks or complex copies of
    them. The values are those of the complex product ``M * C`` (its cross terms are 0 * C); only the
    sign of an exact zero can differ. out: an optional buffer of coefs' dtype, J * n * 96 * 1948 elements
    or more (its start is used), so that a loop over blocks does not page in fresh memory each time.
    """
    coefs = np.ascontiguousarray(coefs)
    n, rows, cols = coefs.shape
    up_r, up_c = rows // masks[0].shape[-2], -(-cols // masks[0].shape[-1])  # 3, 5
    column = np.arange(cols) // up_c  # the grid column of every coefficient column
    grid = coefs.reshape(n, rows // up_r, up_r, cols)  # (n, 32, 3, 1948): rows of one grid row together
    size = len(masks) * coefs.size
    if out is None:
        out = np.empty(size, dtype=coefs.dtype)
    elif out.dtype != coefs.dtype or out.size < size or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {coefs.dtype} array of at least J * n * 96 * 1948 elements")
    out = out.reshape(-1)[:size].reshape(len(masks), *grid.shape)
    for j, mask in enumerate(masks):
        wide = np.asarray(mask, dtype=np.float32)[:, :, None, column]  # (n, 32, 1, 1948)
        np.multiply(grid.real, wide, out=out[j].real)
        np.multiply(grid.imag, wide, out=out[j].imag)
    return out.reshape(len(masks), n, rows, cols)
