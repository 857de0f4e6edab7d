"""Shared support for nsgt 0.19 (PyPI): the numpy >= 1.25 ``np.clip`` shim and the Bark frequency scale.

Used by MiXiN (``mixin/transform.py``) and xumx-sliCQ (``xumx_slicq/transform.py``); one copy here.

* Clip shim. nsgt 0.19 (grrrr/nsgt:nsgt/nsgfwin_sl.py, twice) calls ``np.clip(M, min_win, np.inf,
  out=M)`` on an integer array; numpy >= 1.25 refuses to cast the float64 result back into the integer
  ``out`` (UFuncTypeError). ``np.clip(M, min_win, None, out=M)`` computes the same numbers. ``apply_clip_shim``
  gives the module ``nsgt.nsgfwin_sl`` its own ``np``: a thin proxy of numpy whose ``clip`` maps an
  infinite upper bound to ``None``. Nothing else in numpy or nsgt changes, and nsgt is not vendored.
  See shared/design/dependencies.md (trap 2).
* Bark scale. PyPI nsgt 0.19 has no Bark scale; the one both systems used lives in the fork
  sevagh/nsgt:nsgt/fscale.py (``BarkScale``, asinh form ``6 asinh(f / 600)``). ``BarkScale`` below is
  our subclass of ``nsgt.fscale.Scale`` with that formula.
"""
from __future__ import annotations

import types
import warnings

import numpy as np

# nsgt warns at import that it uses numpy.fft (no fftw3/pyfftw); numpy.fft is what the originals used too.
warnings.filterwarnings("ignore", message="nsgt.fft falling back to numpy.fft")
from nsgt.fscale import Scale  # noqa: E402

_PATCH_MARK = "_nsgt_support_clip_shim"


def _clip_inf_as_none(a, a_min=None, a_max=None, out=None, **kwargs):
    """``np.clip`` where an infinite upper bound means "no upper bound" (keeps an integer ``out`` valid)."""
    if a_max is not None and np.isscalar(a_max) and np.isposinf(a_max):
        a_max = None
    return np.clip(a, a_min, a_max, out=out, **kwargs)


class _NumpyWithClipShim(types.ModuleType):
    """Every attribute is numpy's, except ``clip``."""

    def __init__(self):
        super().__init__("numpy_clip_shim")
        setattr(self, _PATCH_MARK, True)

    def __getattr__(self, name):
        return getattr(np, name)

    clip = staticmethod(_clip_inf_as_none)


def apply_clip_shim() -> None:
    """Install the clip shim into ``nsgt.nsgfwin_sl`` (idempotent)."""
    import nsgt.nsgfwin_sl as nsgfwin_sl

    if not getattr(nsgfwin_sl.np, _PATCH_MARK, False):
        nsgfwin_sl.np = _NumpyWithClipShim()


def clip_shim_applied() -> bool:
    """True once ``apply_clip_shim`` has run in this process."""
    import nsgt.nsgfwin_sl as nsgfwin_sl

    return bool(getattr(nsgfwin_sl.np, _PATCH_MARK, False))


# Names kept from the former mixin/nsgt_compat.py.
apply = apply_clip_shim
is_applied = clip_shim_applied


def hz2bark(f):
    """Bark from Hz, asinh ("Schroeder") form: 6 asinh(f / 600) (sevagh/nsgt:nsgt/fscale.py @fded8f4)."""
    return 6.0 * np.arcsinh(f / 600.0)


def bark2hz(b):
    """Inverse of ``hz2bark``: 600 sinh(b / 6) (sevagh/nsgt:nsgt/fscale.py @fded8f4)."""
    return 600.0 * np.sinh(b / 6.0)


class BarkScale(Scale):
    """``bnds`` centres equally spaced in Bark between ``fmin`` and ``fmax`` (both included).

    No ``Q`` override: nsgt's numerical-derivative ``Scale.Q`` is used, as in the fork.
    """

    def __init__(self, fmin: float, fmax: float, bnds: int, beyond: int = 0):
        bmin = hz2bark(fmin)
        bmax = hz2bark(fmax)
        Scale.__init__(self, bnds + beyond * 2)
        self.fmin = float(fmin)
        self.fmax = float(fmax)
        self.bbnd = (bmax - bmin) / (bnds - 1)  # Bark per band
        self.bmin = bmin - self.bbnd * beyond
        self.bmax = bmax + self.bbnd * beyond

    def F(self, bnd=None):
        if bnd is None:
            bnd = np.arange(self.bnds)
        return bark2hz(bnd * self.bbnd + self.bmin)
