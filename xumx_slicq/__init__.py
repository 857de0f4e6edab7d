"""xumx-sliCQ v1 (sevagh/xumx-sliCQ, Hanssian 2021) reproduced: a Bark-scale sliCQ transform in 70 blocks,
per-block convolutional denoising autoencoders for the four MUSDB18 targets, and Wiener-EM.

Public API (TensorFlow is imported only when a model is needed):
    separate(audio, rate=44100, weights=...) -> {"vocals"|"drums"|"bass"|"other": (2, samples) float32}
    Separator(network, wiener="stft"|"slicq", ...) reusable separator (one network, many songs)
    load_network(weights)                          the networks for separation (eval mode, fast to load)
    load_model(weights), build_model()             the 6,671,856-parameter Keras network (trainable)
    get_slicqt()                                   the transform (forward / backward)
"""
from __future__ import annotations


def __getattr__(name):
    if name in ("separate", "Separator", "load_model", "load_network"):
        from . import separate as _separate

        return getattr(_separate, name)
    if name == "build_model":
        from .model import build_model

        return build_model
    if name == "get_slicqt":
        from .transform import get_slicqt

        return get_slicqt
    raise AttributeError(f"module 'xumx_slicq' has no attribute {name!r}")
