"""MiXiN (sevagh/MiXiN) reproduced: a Bark-scale NSGT, three CDAEs and Wiener soft masks.

Public API (TensorFlow is imported only when a model is needed):
    separate(x, model_dir=..., instrumental=False, single_model=False, legacy=False)
        -> (harmonic, percussive, vocal) float32 arrays, each as long as x
    build_cdae(), load_cdae(path)      the 37,005-parameter CDAE
    BarkScale, make_nsgt()             the transform
"""
from __future__ import annotations



def build_cdae(name=None):
    from .model import build_cdae as _build

    return _build(name)


def load_cdae(path, name=None):
    from .model import load_cdae as _load

    return _load(path, name)


def __getattr__(name):
    if name == "separate":
        # The submodule mixin/separate.py is a callable module: mixin.separate(x, ...) separates,
        # and `python -m mixin.separate` is its CLI. Imported lazily so that -m runs it only once.
        import importlib

        return importlib.import_module(".separate", __name__)
    if name in ("BarkScale", "make_nsgt"):
        from . import transform

        return getattr(transform, name)
    raise AttributeError(f"module 'mixin' has no attribute {name!r}")
