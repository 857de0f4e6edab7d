"""The original PyTorch state dict of xumx-sliCQ v1 <-> the Keras model of ``model.py``.

Key layout (sevagh/xumx-sliCQ@v1-release:xumx_slicq/model.py; design §3.3): for target in
{vocals, bass, drums, other} and each of the 51 trained blocks b (0-50; pass-through blocks have no keys):

    bucketed_unmixes_{target}.{b}.input_mean, .input_scale          (nf,)
    .cdae.0.weight  Conv2d(2->25)            (25, 2, kf, kt)   (out, in, kh, kw)
    .cdae.3.weight  Conv2d(25->55)           (55, 25, kf, kt)
    .cdae.6.weight  ConvTranspose2d(55->25)  (55, 25, kf, kt)  (in, out, kh, kw)
    .cdae.9.weight  ConvTranspose2d(25->2)   (25, 2, kf, kt)
    .cdae.12.weight, .bias  growth ConvTranspose2d(2->2, (1, 3), stride (1, 2))  (2, 2, 1, 3), (2,)
    .cdae.{1,4,7,10}.{weight, bias, running_mean, running_var} BatchNorm2d (C,) float32,
                    .num_batches_tracked () int64

28 keys per block, 5,712 in all. Conversions (model.BlockNet holds target g in channel chunk g):
Conv2d w (out, in, kh, kw) -> Keras kernel (kh, kw, in, out); ConvTranspose2d w (in, out, kh, kw) ->
correlation kernel k[i, j, in, out] = w[in, out, kh-1-i, kw-1-j] (a transposed convolution is a
correlation of the zero-padded input with the spatially flipped kernel; the golden test against the
original's activations confirms it); growth w (in, out, 1, 3) -> (3, in, out).

``num_batches_tracked`` has no Keras counterpart (it only matters for momentum=None, not used):
loading checks its shape and ignores the value, exporting writes 0 (or ``num_batches_tracked``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from .params import BLOCKS

#: BatchNorm2d modules of the Sequential ``cdae`` and their Keras weight prefixes.
BN_MODULES = {1: "bn1", 4: "bn2", 7: "bn3", 10: "bn4"}
BN_KEYS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


#: Order of the targets in the original state dict: OpenUnmix.__init__ attribute order (model.py L309-312).
STATE_DICT_TARGET_ORDER = ("vocals", "bass", "drums", "other")


class StateDictError(ValueError):
    """A state dict that does not fit the model (one-line message naming the key and the file)."""


def _conv_to_keras(w):  # (out, in, kh, kw) -> (kh, kw, in, out)
    return np.transpose(w, (2, 3, 1, 0))


def _conv_to_torch(k):
    return np.transpose(k, (3, 2, 0, 1))


def _deconv_to_keras(w):  # (in, out, kh, kw) -> flipped correlation kernel (kh, kw, in, out)
    return np.transpose(w, (2, 3, 0, 1))[::-1, ::-1]


def _deconv_to_torch(k):
    return np.transpose(k[::-1, ::-1], (2, 3, 0, 1))


def _growth_to_keras(w):  # (in, out, 1, 3) -> (3, in, out)
    return np.transpose(w[:, :, 0, :], (2, 0, 1))


def _growth_to_torch(k):
    return np.transpose(k, (1, 2, 0))[:, :, None, :]


def _identity(x):
    return x


def key_map(model) -> list:
    """[(torch key, block net, keras weight name, target index, to_keras, to_torch, torch shape)] for every
    parameter and running statistic (not num_batches_tracked), in the original's state_dict order."""
    from .params import CHANNELS, NB_CHANNELS

    c1, c2 = CHANNELS
    out = []
    for g, target in enumerate(model.target_names):
        for net in model.block_nets:
            b, nf = net.block, net.nf
            kf, kt = net.kernel
            prefix = f"bucketed_unmixes_{target}.{b}."
            out.append((prefix + "input_mean", net, "input_mean", g, _identity, _identity, (nf,)))
            out.append((prefix + "input_scale", net, "input_scale", g, _identity, _identity, (nf,)))
            convs = {0: ("conv1", (c1, NB_CHANNELS), _conv_to_keras, _conv_to_torch),
                     3: ("conv2", (c2, c1), _conv_to_keras, _conv_to_torch),
                     6: ("deconv1", (c2, c1), _deconv_to_keras, _deconv_to_torch),
                     9: ("deconv2", (c1, NB_CHANNELS), _deconv_to_keras, _deconv_to_torch)}
            bn_channels = {1: c1, 4: c2, 7: c1, 10: NB_CHANNELS}
            for j in (0, 1, 3, 4, 6, 7, 9, 10):
                if j in convs:
                    name, io, to_k, to_t = convs[j]
                    out.append((f"{prefix}cdae.{j}.weight", net, name, g, to_k, to_t, (*io, kf, kt)))
                else:
                    for torch_name, keras_part in BN_KEYS.items():
                        out.append((f"{prefix}cdae.{j}.{torch_name}", net, f"{BN_MODULES[j]}_{keras_part}", g,
                                    _identity, _identity, (bn_channels[j],)))
            out.append((prefix + "cdae.12.weight", net, "growth_kernel", g, _growth_to_keras, _growth_to_torch,
                        (NB_CHANNELS, NB_CHANNELS, 1, 3)))
            out.append((prefix + "cdae.12.bias", net, "growth_bias", g, _identity, _identity, (NB_CHANNELS,)))
    return out


def num_batches_tracked_keys(model) -> list:
    return [f"bucketed_unmixes_{t}.{net.block}.cdae.{j}.num_batches_tracked"
            for t in model.target_names for net in model.block_nets for j in BN_MODULES]


def read_state_dict(path) -> dict:
    """{key: numpy array} from an ``.npz`` (e.g. ../shared/reference/xumx_slicq/weights.npz) or, where
    PyTorch is installed, a ``.pth`` state dict such as the original's pretrained-model/xumx_slicq.pth."""
    path = Path(path)
    if not path.is_file():
        raise StateDictError(f"{path}: state-dict file not found")
    if path.suffix in (".pth", ".pt", ".chkpnt"):
        try:
            import torch
        except ImportError as exc:
            raise StateDictError(f"{path}: reading a PyTorch file needs torch; convert it once elsewhere with "
                                 "np.savez(out, **{k: v.numpy() for k, v in torch.load(path).items()})") from exc
        state = torch.load(str(path), map_location="cpu")
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        return {k: v.detach().cpu().numpy() for k, v in state.items()}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile/numpy raise several types
        raise StateDictError(f"{path}: not a readable .npz state dict ({type(exc).__name__}: {exc})") from exc


def load_state_dict(model, source, strict: bool = True) -> None:
    """Load an original-layout state dict (a path or a {key: array} mapping) into ``model``.

    strict: every expected key present with its shape, no other key (else one-line StateDictError).
    """
    label = str(source) if isinstance(source, (str, os.PathLike)) else "<state dict>"
    state = read_state_dict(source) if isinstance(source, (str, os.PathLike)) else dict(source)
    entries = key_map(model)
    expected = {e[0] for e in entries} | set(num_batches_tracked_keys(model))
    if strict:
        extra = sorted(set(state) - expected)
        if extra:
            raise StateDictError(f"{label}: unexpected key {extra[0]} ({len(extra)} unexpected keys; "
                                 f"expected {len(expected)} keys for targets {', '.join(model.target_names)})")
        for key in num_batches_tracked_keys(model):
            if key not in state:
                raise StateDictError(f"{label}: missing key {key}")
            if np.shape(state[key]) != ():
                raise StateDictError(f"{label}: key {key} has shape {np.shape(state[key])}, expected ()")
    parts: dict = {}  # (net, name) -> [per-target arrays]
    for key, net, name, g, to_keras, _, shape in entries:
        if key not in state:
            if strict:
                raise StateDictError(f"{label}: missing key {key}")
            continue
        value = np.asarray(state[key])
        if value.shape != shape:
            raise StateDictError(f"{label}: key {key} has shape {value.shape}, expected {shape}")
        slot = parts.setdefault((id(net), name), [net, name, [None] * net.n_targets])
        slot[2][g] = to_keras(value.astype(np.float32))
    for net, name, values in parts.values():
        if any(v is None for v in values):  # some targets absent (strict=False): keep their current values
            current = net.split_targets(name, net.variable(name).numpy())
            values = [c if v is None else v for v, c in zip(values, current)]
        net.variable(name).assign(net.join_targets(name, values))


def export_state_dict(model, values: Mapping | None = None, num_batches_tracked: int = 0) -> dict:
    """The model's weights as the original's state dict {key: numpy array} (5,712 keys for 4 targets).

    values: optional {variable.path: array} to export instead of the variables' values, e.g. gradients
    (``dict(zip((v.path for v in model.trainable_variables), grads))``); keys of variables not in it
    are left out, and so are the num_batches_tracked entries.
    """
    from keras import ops

    out = {}
    split_cache: dict = {}
    for key, net, name, g, _, to_torch, _ in key_map(model):
        var = net.variable(name)
        if values is not None:
            if var.path not in values:
                continue
            stacked = values[var.path]
        else:
            stacked = var.numpy()
        cache_key = (id(net), name)
        if cache_key not in split_cache:
            split_cache[cache_key] = net.split_targets(name, ops.convert_to_numpy(stacked))
        out[key] = np.ascontiguousarray(to_torch(split_cache[cache_key][g])).astype(np.float32)
    if values is None:
        for key in num_batches_tracked_keys(model):
            out[key] = np.array(num_batches_tracked, dtype=np.int64)
    return dict(sorted(out.items(), key=lambda kv: _order(kv[0], model.target_names)))


def _order(key: str, target_names):
    """Sort key reproducing the original state_dict order: target attribute order (vocals, bass,
    drums, other: OpenUnmix.__init__ L309-312), block, then module index and field order."""
    attr_order = STATE_DICT_TARGET_ORDER
    head, block, rest = key.split(".", 2)
    target = head[len("bucketed_unmixes_"):]
    t = attr_order.index(target) if target in attr_order else len(attr_order) + list(target_names).index(target)
    if rest in ("input_mean", "input_scale"):
        sub = (-1, ("input_mean", "input_scale").index(rest))
    else:
        _, j, field = rest.split(".")
        fields = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
        sub = (int(j), fields.index(field))
    return (t, int(block), sub)


def save_state_dict(model, path) -> Path:
    """Write :func:`export_state_dict` to ``path`` (.npz), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **export_state_dict(model))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def expected_shapes(model=None) -> dict:
    """{key: shape} of the original state dict (without building anything if ``model`` is None)."""
    from .params import CHANNELS, NB_CHANNELS, has_network, kernel_size

    if model is not None:
        shapes = {e[0]: e[6] for e in key_map(model)}
        shapes.update({k: () for k in num_batches_tracked_keys(model)})
        return dict(sorted(shapes.items(), key=lambda kv: _order(kv[0], model.target_names)))
    c1, c2 = CHANNELS
    shapes = {}
    for t in STATE_DICT_TARGET_ORDER:
        for b, (_, nf, m) in enumerate(BLOCKS):
            if not has_network(b):
                continue
            kf, kt = kernel_size(nf, m)
            p = f"bucketed_unmixes_{t}.{b}."
            shapes[p + "input_mean"] = shapes[p + "input_scale"] = (nf,)
            for j, io in ((0, (c1, NB_CHANNELS)), (3, (c2, c1)), (6, (c2, c1)), (9, (c1, NB_CHANNELS))):
                shapes[f"{p}cdae.{j}.weight"] = (*io, kf, kt)
            for j, c in ((1, c1), (4, c2), (7, c1), (10, NB_CHANNELS)):
                for f in BN_KEYS:
                    shapes[f"{p}cdae.{j}.{f}"] = (c,)
                shapes[f"{p}cdae.{j}.num_batches_tracked"] = ()
            shapes[p + "cdae.12.weight"] = (NB_CHANNELS, NB_CHANNELS, 1, 3)
            shapes[p + "cdae.12.bias"] = (NB_CHANNELS,)
    return dict(sorted(shapes.items(), key=lambda kv: _order(kv[0], STATE_DICT_TARGET_ORDER)))
