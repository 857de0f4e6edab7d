"""Files of a training run, written atomically: an interrupted save never leaves a broken file behind."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def save_weights_atomic(model, path) -> Path:
    """``model.save_weights`` to ``<name>.tmp.weights.h5`` beside ``path``, then rename over ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    model.save_weights(str(tmp))
    os.replace(tmp, path)
    return path


def write_text_atomic(path, text: str) -> Path:
    """Write text to a temporary file beside ``path`` (parents created), then rename it over ``path``."""
    return _write_atomic(path, text, binary=False)


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write bytes to a temporary file beside ``path`` (parents created), then rename it over ``path``."""
    return _write_atomic(path, data, binary=True)


def write_npz_atomic(path, arrays: dict) -> Path:
    """``np.savez(path, **arrays)``, built in memory and written atomically (parents created)."""
    import io

    import numpy as np
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


def copy_file_atomic(source, path) -> Path:
    """Copy ``source`` to ``path`` through a temporary file beside it."""
    return write_bytes_atomic(path, Path(source).read_bytes())


def temporary_beside(path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (``.<name>.XXXX<suffix>``) -> (open descriptor, its path), with the
    mode a plain ``open`` would give it (mkstemp makes it private, 0600, which the rename would keep)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


def _write_atomic(path, data, binary: bool) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path, obj) -> Path:
    """``obj`` as indented JSON (paths and other objects as strings), written atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")
