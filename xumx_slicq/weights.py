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
from pathlib import Path
from typing import Mapping

import numpy as np

from common.runs import write_npz_atomic

from .params import BLOCKS, TARGETS

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


def layout(targets=TARGETS) -> list:
    """[(torch key, block, keras weight name, target index, to_keras, to_torch, torch shape)] for every
    parameter and running statistic (not num_batches_tracked) of the 51 trained blocks, target by target
    in the order of ``targets`` (the index is into it), in the original's state_dict order within a target."""
    from .params import CHANNELS, NB_CHANNELS, has_network, kernel_size

    c1, c2 = CHANNELS
    convs = {0: ("conv1", (c1, NB_CHANNELS), _conv_to_keras, _conv_to_torch),
             3: ("conv2", (c2, c1), _conv_to_keras, _conv_to_torch),
             6: ("deconv1", (c2, c1), _deconv_to_keras, _deconv_to_torch),
             9: ("deconv2", (c1, NB_CHANNELS), _deconv_to_keras, _deconv_to_torch)}
    bn_channels = {1: c1, 4: c2, 7: c1, 10: NB_CHANNELS}
    out = []
    for g, target in enumerate(targets):
        for b, (_, nf, m) in enumerate(BLOCKS):
            if not has_network(b):
                continue
            kf, kt = kernel_size(nf, m)
            prefix = f"bucketed_unmixes_{target}.{b}."
            out.append((prefix + "input_mean", b, "input_mean", g, _identity, _identity, (nf,)))
            out.append((prefix + "input_scale", b, "input_scale", g, _identity, _identity, (nf,)))
            for j in (0, 1, 3, 4, 6, 7, 9, 10):
                if j in convs:
                    name, io, to_k, to_t = convs[j]
                    out.append((f"{prefix}cdae.{j}.weight", b, name, g, to_k, to_t, (*io, kf, kt)))
                else:
                    for torch_name, keras_part in BN_KEYS.items():
                        out.append((f"{prefix}cdae.{j}.{torch_name}", b, f"{BN_MODULES[j]}_{keras_part}", g,
                                    _identity, _identity, (bn_channels[j],)))
            out.append((prefix + "cdae.12.weight", b, "growth_kernel", g, _growth_to_keras, _growth_to_torch,
                        (NB_CHANNELS, NB_CHANNELS, 1, 3)))
            out.append((prefix + "cdae.12.bias", b, "growth_bias", g, _identity, _identity, (NB_CHANNELS,)))
    return out


def key_map(model) -> list:
    """:func:`layout` for ``model``'s targets with each block's :class:`~.model.BlockNet` in place of its index."""
    return [(key, model.block_net(b), *rest) for key, b, *rest in layout(model.target_names)]


def num_batches_tracked_keys(model=None, targets=TARGETS) -> list:
    from .params import has_network

    targets = model.target_names if model is not None else targets
    return [f"bucketed_unmixes_{t}.{b}.cdae.{j}.num_batches_tracked"
            for t in targets for b in range(len(BLOCKS)) if has_network(b) for j in BN_MODULES]


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


def stacked_from_state_dict(source, targets=TARGETS, strict: bool = True) -> dict:
    """An original-layout state dict (a path or a {key: array} mapping) -> {block: {keras weight name:
    [per-target float32 array or None (absent, strict=False)]}} in the Keras layout, targets in ``targets``
    order. strict: every expected key present with its shape, no other key (else one-line StateDictError).
    """
    label = str(source) if isinstance(source, (str, os.PathLike)) else "<state dict>"
    state = read_state_dict(source) if isinstance(source, (str, os.PathLike)) else dict(source)
    entries = layout(targets)
    counters = num_batches_tracked_keys(targets=targets)
    expected = {e[0] for e in entries} | set(counters)
    if strict:
        extra = sorted(set(state) - expected)
        if extra:
            raise StateDictError(f"{label}: unexpected key {extra[0]} ({len(extra)} unexpected keys; "
                                 f"expected {len(expected)} keys for targets {', '.join(targets)})")
        for key in counters:
            if key not in state:
                raise StateDictError(f"{label}: missing key {key}")
            if np.shape(state[key]) != ():
                raise StateDictError(f"{label}: key {key} has shape {np.shape(state[key])}, expected ()")
    out: dict = {}
    for key, b, name, g, to_keras, _, shape in entries:
        slot = out.setdefault(b, {}).setdefault(name, [None] * len(targets))
        if key not in state:
            if strict:
                raise StateDictError(f"{label}: missing key {key}")
            continue
        value = np.asarray(state[key])
        if value.shape != shape:
            raise StateDictError(f"{label}: key {key} has shape {value.shape}, expected {shape}")
        slot[g] = to_keras(value.astype(np.float32))
    return out


def load_state_dict(model, source, strict: bool = True) -> None:
    """Load an original-layout state dict (a path or a {key: array} mapping) into ``model``
    (checks: :func:`stacked_from_state_dict`)."""
    for b, names in stacked_from_state_dict(source, model.target_names, strict).items():
        net = model.block_net(b)
        for name, values in names.items():
            if all(v is None for v in values):
                continue
            if any(v is None for v in values):  # some targets absent (strict=False): keep their current values
                current = net.split_targets(name, net.variable(name).numpy())
                values = [c if v is None else v for v, c in zip(values, current)]
            net.variable(name).assign(net.join_targets(name, values))


def frozen_from_state_dict(source, targets=TARGETS):
    """A :class:`~.model.FrozenNetwork` (eval mode, no Keras model) from a complete original-layout state dict."""
    from .frozen import FrozenNetwork, join_targets

    per_block = stacked_from_state_dict(source, targets)
    return FrozenNetwork({b: {name: join_targets(name, parts) for name, parts in weights.items()}
                          for b, weights in per_block.items()}, targets)


def read_keras_weights(path) -> dict | None:
    """{block: {weight name: stacked array}} straight from a ``model.weights.h5`` that ``XUMXSliCQ.save_weights``
    wrote (Keras 3 stores each BlockNet's variables as ``block_nets/block_net[_i]/vars/<n>``, trainable then
    non-trainable, in creation order), without building the model. None when the file does not have exactly
    that layout and shapes (another Keras version, another model): the caller then loads it through Keras.
    """
    import h5py

    from .frozen import target_axes
    from .params import has_network

    trained = [b for b in range(len(BLOCKS)) if has_network(b)]
    axes = list(target_axes())
    order = [n for n in axes if "moving" not in n] + [n for n in axes if "moving" in n]
    expected = expected_stacked_shapes(len(TARGETS))
    out = {}
    try:
        with h5py.File(path, "r") as f:
            nets = f["block_nets"]
            if len(nets) != len(trained) or set(f.get("vars", {})):
                return None
            for i, b in enumerate(trained):
                group = nets["block_net" if i == 0 else f"block_net_{i}"]["vars"]
                if len(group) != len(order):
                    return None
                weights = {name: group[str(k)][()] for k, name in enumerate(order)}
                if any(weights[n].shape != expected[b][n] for n in order):
                    return None
                out[b] = weights
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return out


def expected_stacked_shapes(n_targets: int) -> dict:
    """{block: {weight name: shape}} of the stacked Keras weights (``BlockNet.build``)."""
    from .params import CHANNELS, NB_CHANNELS, has_network, kernel_size

    c1, c2 = CHANNELS
    g, c0 = n_targets, NB_CHANNELS
    out = {}
    for b, (_, nf, m) in enumerate(BLOCKS):
        if not has_network(b):
            continue
        kf, kt = kernel_size(nf, m)
        shapes = {"input_mean": (g, nf), "input_scale": (g, nf), "conv1": (kf, kt, c0, g * c1),
                  "conv2": (kf, kt, c1, g * c2), "deconv1": (kf, kt, c2, g * c1), "deconv2": (kf, kt, c1, g * c0),
                  "growth_kernel": (g, 3, c0, c0), "growth_bias": (g * c0,)}
        for bn, c in (("bn1", c1), ("bn2", c2), ("bn3", c1), ("bn4", c0)):
            for part in ("gamma", "beta", "moving_mean", "moving_variance"):
                shapes[f"{bn}_{part}"] = (g * c,)
        out[b] = shapes
    return out


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
    return write_npz_atomic(path, export_state_dict(model))


def expected_shapes(model=None) -> dict:
    """{key: shape} of the original state dict (from :func:`layout`, without building anything if ``model`` is None)."""
    targets = model.target_names if model is not None else STATE_DICT_TARGET_ORDER
    shapes = {e[0]: e[6] for e in layout(targets)}
    shapes.update({k: () for k in num_batches_tracked_keys(targets=targets)})
    return dict(sorted(shapes.items(), key=lambda kv: _order(kv[0], targets)))
