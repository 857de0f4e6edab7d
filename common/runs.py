"""Files of a training run, written atomically: an interrupted save never leaves a broken checkpoint."""
from __future__ import annotations

import os
from pathlib import Path


def save_weights_atomic(model, path) -> Path:
    """``model.save_weights`` to ``<name>.tmp.weights.h5`` beside ``path``, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    model.save_weights(str(tmp))
    os.replace(tmp, path)
    return path
