"""`python -m drnn_singing.quantize RUN_DIR OUT_DIR`: a run's best weights stored in 8 bits, to fit the 25 MB budget.

lstm3x1000 has 23.1 M parameters: 92 MB in float32 and 46 MB in float16, over the repository's 25 MB per file.
Each weight matrix is stored as int8 with one float32 scale per output column (symmetric: w ~ scale * q,
scale = max|w_col| / 127, so every weight is off by at most scale / 2); biases and the other 1-D weights stay
float32. That is 23.2 MB for lstm3x1000. On the 4 dev clips the candidate LSTM's epoch-7 weights score 9.4601 dB
GNSDR after quantisation against 9.4609 before (2026-12-03). Keras has no 8-bit weight file for a float
model (Keras 3's `quantize("int8")` rewrites Dense, EinsumDense and Embedding layers only, not LSTM), so the file is an .npz of the model's
weights in `model.weights` order; their number and shapes are checked against the architecture in config.json.

OUT_DIR gets model.int8.npz and copies of config.json, args.json, history.csv and loss_curve.png, so that
`evaluate --weights OUT_DIR`, `separate --weights OUT_DIR` and `ship OUT_DIR EVAL_JSON` take it as a run folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common.runs import copy_file_atomic, write_npz_atomic

INT8_NAME = "model.int8.npz"


def quantize_matrix(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., out) float -> (int8 codes of the same shape, float32 scales (out,)); w ~ codes * scales."""
    flat = w.reshape(-1, w.shape[-1])
    scales = (np.abs(flat).max(axis=0) / 127.0).astype(np.float32)
    scales[scales == 0] = 1.0                                  # an all-zero column: codes 0, any scale
    codes = np.clip(np.rint(w / scales), -127, 127).astype(np.int8)
    return codes, scales


def int8_arrays(model) -> dict[str, np.ndarray]:
    """The arrays of model.int8.npz: w<i> (int8 codes or float32), s<i> (scales of the int8 ones), count."""
    arrays = {"count": np.array(len(model.weights))}
    for i, variable in enumerate(model.weights):
        w = np.asarray(variable.numpy(), dtype=np.float32)
        if w.ndim >= 2:
            arrays[f"w{i}"], arrays[f"s{i}"] = quantize_matrix(w)
        else:
            arrays[f"w{i}"] = w
    return arrays


def save_int8(model, path: Path) -> int:
    """Write the model's weights to ``path`` (atomically) in 8 bits; returns the file size in bytes."""
    return write_npz_atomic(path, int8_arrays(model)).stat().st_size


def load_int8(model, path: Path) -> None:
    """Set the model's weights from a model.int8.npz (ValueError naming the file when it does not fit)."""
    with np.load(path, allow_pickle=False) as stored:
        count = int(stored["count"])
        if count != len(model.weights):
            raise ValueError(f"{path}: holds {count} weights, this architecture {len(model.weights)}")
        values = []
        for i, variable in enumerate(model.weights):
            w = stored[f"w{i}"]
            if f"s{i}" in stored:
                w = w.astype(np.float32) * stored[f"s{i}"]
            if tuple(w.shape) != tuple(variable.shape):
                raise ValueError(f"{path}: weight {variable.path} has shape {w.shape}, the model {tuple(variable.shape)}")
            values.append(w)
    for variable, value in zip(model.weights, values):
        variable.assign(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drnn_singing.quantize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training run folder (config.json, model.weights.h5)")
    parser.add_argument("out", type=Path, help="folder for model.int8.npz and the run's records")
    args = parser.parse_args(argv)
    from .separate import ModelFileError, load_separator
    if args.out.resolve() == args.run.resolve():
        print(f"error: {args.out}: write the 8-bit model to another folder than the run", file=sys.stderr)
        return 2
    try:
        separator = load_separator(args.run)
    except ModelFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if len(separator.models) != 1:
        print(f"error: {args.run} is a bag; quantise its members' run folders one by one", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    size = save_int8(separator.model, args.out / INT8_NAME)
    for name in ("config.json", "args.json", "history.csv", "loss_curve.png"):
        if (args.run / name).is_file():
            copy_file_atomic(args.run / name, args.out / name)
    print(f"{args.run} -> {args.out / INT8_NAME} ({size / 1e6:.1f} MB, {separator.model.count_params():,} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
