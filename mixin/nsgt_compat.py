"""numpy >= 1.25 compatibility for nsgt 0.19 (PyPI), applied at import time without vendoring nsgt.

nsgt 0.19 (grrrr/nsgt:nsgt/nsgfwin_sl.py, twice) calls ``np.clip(M, min_win, np.inf, out=M)`` on an
integer array; numpy >= 1.25 refuses to cast the float64 result back into ``out`` (UFuncTypeError).
The numerically identical call is ``np.clip(M, min_win, None, out=M)``. We give the module
``nsgt.nsgfwin_sl`` its own ``np``: a thin proxy of numpy whose ``clip`` maps an ``np.inf`` upper bound
to ``None``. Nothing else in numpy or nsgt changes. See ../shared/design/dependencies.md (trap 2).
"""
from __future__ import annotations

import types

import numpy as np

_PATCH_MARK = "_mixin_clip_shim"


def _clip_inf_as_none(a, a_min=None, a_max=None, out=None, **kwargs):
    """``np.clip`` where an infinite upper bound means "no upper bound" (keeps integer ``out`` valid)."""
    if a_max is not None and np.isscalar(a_max) and np.isposinf(a_max):
        a_max = None
    return np.clip(a, a_min, a_max, out=out, **kwargs)


class _NumpyWithClipShim(types.ModuleType):
    """Attribute access falls through to numpy, except ``clip``."""

    def __init__(self):
        super().__init__("numpy_clip_shim")
        setattr(self, _PATCH_MARK, True)

    def __getattr__(self, name):
        return getattr(np, name)

    clip = staticmethod(_clip_inf_as_none)


def apply() -> None:
    """Install the shim into ``nsgt.nsgfwin_sl`` (idempotent)."""
    import nsgt.nsgfwin_sl as nsgfwin_sl

    if not getattr(nsgfwin_sl.np, _PATCH_MARK, False):
        nsgfwin_sl.np = _NumpyWithClipShim()


def is_applied() -> bool:
    import nsgt.nsgfwin_sl as nsgfwin_sl

    return bool(getattr(nsgfwin_sl.np, _PATCH_MARK, False))
