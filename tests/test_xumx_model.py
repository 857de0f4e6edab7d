"""xumx-sliCQ v1 network: structure, counts, init, state-dict conversion, a numpy re-derivation of one
block, and the golden comparison with the original code (../shared/reference/xumx_slicq)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json

import numpy as np
import pytest

from xumx_slicq import model as xm
from xumx_slicq import weights as xw
from xumx_slicq.params import (BLOCKS, BN_EPSILON, MAX_BIN, PARAMS_TOTAL, PARAMS_WITHOUT_INPUT_STATS, TARGETS,
                               ola_frames)

#: design Appendix A: kernel (kf, kt) -> blocks, and the per-target parameter count of such a block
#: (without input mean/scale)
KERNEL_TABLE = {(1, 7): [0, *range(4, 23)], (5, 7): [1], (3, 7): [2, 3], (1, 13): list(range(23, 51))}
PARAMS_PER_KERNEL = {(1, 7): 20_178, (5, 7): 99_978, (3, 7): 60_078, (1, 13): 37_278}


@pytest.fixture(scope="module")
def fresh():
    """A new model as PyTorch would initialise it (seeded), before the vocals copy; eager forward."""
    model = xm.XUMXSliCQ(seed=0, use_function=False)
    model.build()
    return model


# --- structure and counts -------------------------------------------------------------------------

def test_parameter_counts(fresh):
    assert xm.count_trainable(fresh) == PARAMS_TOTAL == 6_671_856
    assert xm.count_trainable(fresh, include_input_stats=False) == PARAMS_WITHOUT_INPUT_STATS == 6_669_912
    xm.check_param_counts(fresh)
    # BN running statistics are the only non-trainable weights: 2 * (25 + 55 + 25 + 2) per block and target
    non_trainable = sum(int(np.prod(v.shape)) for v in fresh.non_trainable_weights)
    assert non_trainable == 4 * 51 * 2 * 107


def test_blocks_kernels_and_per_block_counts(fresh):
    assert fresh.trained_blocks == tuple(range(51))
    assert [b for b in range(70) if fresh.block_net(b) is None] == list(range(51, 70))
    assert BLOCKS[51][0] == MAX_BIN == 243 and BLOCKS[50][0] < MAX_BIN
    for kernel, blocks in KERNEL_TABLE.items():
        for b in blocks:
            assert fresh.block_net(b).kernel == kernel, b
    state = xw.export_state_dict(fresh)
    assert len(state) == 5712
    for t in TARGETS:
        for b in range(51):
            p = f"bucketed_unmixes_{t}.{b}."
            n = sum(v.size for k, v in state.items() if k.startswith(p) and "running" not in k
                    and "num_batches" not in k and "input_" not in k)
            assert n == PARAMS_PER_KERNEL[fresh.block_net(b).kernel], (t, b)
            assert state[p + "input_mean"].shape == (BLOCKS[b][1],)
        assert not any(k.startswith(f"bucketed_unmixes_{t}.51.") for k in state)


def test_pytorch_style_init(fresh):
    state = xw.export_state_dict(fresh)
    for key, w in state.items():
        field = key.rsplit(".", 1)[-1]
        if ".cdae.12." in key:
            bound = 1 / np.sqrt(6)  # growth ConvTranspose2d: fan_in = dim 1 (2) * 1 * 3, weight and bias
        elif field == "weight" and w.ndim == 4:
            bound = 1 / np.sqrt(w.shape[1] * w.shape[2] * w.shape[3])  # PyTorch: fan_in from dim 1
        else:
            expected = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0, "input_mean": 0.0,
                        "input_scale": 1.0, "num_batches_tracked": 0}[field]
            assert np.all(w == expected), key
            continue
        assert np.all(np.abs(w) <= bound * (1 + 1e-6)), key
        if w.size >= 1000:  # uniform over the whole interval, mean ~0
            assert np.abs(w).max() > 0.98 * bound and abs(w.mean()) < 0.05 * bound, key
    conv1 = state["bucketed_unmixes_vocals.1.cdae.0.weight"]
    assert np.isclose(np.abs(conv1).max(), 1 / np.sqrt(2 * 5 * 7), rtol=0.02)
    # targets start different here; the original (and build_model) copy vocals into the others
    assert not np.array_equal(conv1, state["bucketed_unmixes_drums.1.cdae.0.weight"])


def test_vocals_copy_and_input_statistics(fresh):
    before = xw.export_state_dict(fresh)
    try:
        xm.copy_target_weights(fresh, "vocals")
        shared = xw.export_state_dict(fresh)
        for k, v in shared.items():
            if k.startswith("bucketed_unmixes_vocals."):
                for t in ("drums", "bass", "other"):
                    assert np.array_equal(shared[k.replace("vocals", t, 1)], v), k
        rng = np.random.default_rng(1)
        means = [rng.random(nf) for _, nf, _ in BLOCKS]
        stds = [0.5 + rng.random(nf) for _, nf, _ in BLOCKS]
        xm.set_input_statistics(fresh, "bass", means, stds)
        for b in (0, 1, 50):
            np.testing.assert_allclose(xm.get_target_weight(fresh, "bass", b, "input_mean"), -means[b], rtol=1e-6)
            np.testing.assert_allclose(xm.get_target_weight(fresh, "bass", b, "input_scale"), 1 / stds[b], rtol=1e-6)
            assert np.all(xm.get_target_weight(fresh, "vocals", b, "input_scale") == 1.0)
        xm.set_input_statistics(fresh, "all", means[:51], stds[:51])  # 51 entries: trained blocks only
        assert np.allclose(xm.get_target_weight(fresh, "other", 7, "input_mean"), -means[7])
        with pytest.raises(ValueError, match="block 3"):
            xm.set_input_statistics(fresh, None, means[:3] + [means[4]] + means[4:], stds)
    finally:
        xw.load_state_dict(fresh, before)
    assert all(np.array_equal(v, before[k]) for k, v in xw.export_state_dict(fresh).items())


def test_outputs_masks_and_bypass_on_random_input(fresh):
    x = xm.random_blocks(3, batch=2, seed=3)
    out = fresh(x)
    assert list(out) == list(TARGETS)
    for t in TARGETS:
        assert len(out[t]) == 70
        for b, (xb, yb) in enumerate(zip(x, out[t])):
            yb = np.asarray(yb)
            assert yb.shape == xb.shape
            if b >= 51:
                assert np.array_equal(yb, xb)  # DummyTimeBucket: the mixture magnitude itself
            else:
                assert np.all(yb >= 0) and np.all(yb <= xb)  # sigmoid mask * mix
    act = xm.block_activations(fresh, "other", 1, x[1])
    assert act["sigmoid"].shape == (2, 2, 86, 2 * ola_frames(3, 16) + 1)
    assert 0 < act["sigmoid"].min() and act["sigmoid"].max() < 1
    assert not np.allclose(np.asarray(out["vocals"][1]), np.asarray(out["drums"][1]))  # independent targets


def test_too_few_slices_and_bad_shapes(fresh):
    with pytest.raises(ValueError, match="S = 2 slices is too short"):
        fresh(xm.random_blocks(2))
    blocks = xm.random_blocks(3)
    with pytest.raises(ValueError, match="block 5: expected shape"):
        fresh(blocks[:5] + [blocks[6]] + blocks[6:])
    with pytest.raises(ValueError, match="expected a list of 70"):
        fresh(blocks[:69])
    y64 = fresh([b.astype(np.float64) for b in blocks])  # cast, same numbers
    assert np.array_equal(np.asarray(y64["bass"][0]), np.asarray(fresh(blocks)["bass"][0]))


def test_batchnorm_training_uses_pytorch_statistics():
    net = xm.BlockNet(2, n_targets=1, seed=5)
    net.build()
    x = np.random.default_rng(0).random((2, 2, 14, 4, 20), dtype=np.float32)
    record: dict = {}
    net.forward(x, training=True, record=record)
    conv1 = np.asarray(record["conv1"], dtype=np.float64)  # (B, H, W, C)
    np.testing.assert_allclose(net.bn1_moving_mean.numpy(), 0.1 * conv1.mean(axis=(0, 1, 2)), rtol=1e-4,
                               atol=1e-7)
    unbiased = conv1.reshape(-1, conv1.shape[-1]).var(axis=0, ddof=1)
    np.testing.assert_allclose(net.bn1_moving_variance.numpy(), 0.9 + 0.1 * unbiased, rtol=1e-5)
    normalised = (conv1 - conv1.mean(axis=(0, 1, 2))) / np.sqrt(conv1.var(axis=(0, 1, 2)) + BN_EPSILON)
    np.testing.assert_allclose(np.asarray(record["bn1"]), normalised, atol=2e-5)  # gamma 1, beta 0


# --- state dict ---------------------------------------------------------------------------------

def _random_state(keys_shapes: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    state = {}
    for k, shape in keys_shapes.items():
        if k.endswith("num_batches_tracked"):
            state[k] = np.array(0, dtype=np.int64)
        elif k.endswith("running_var"):
            state[k] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            state[k] = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
    return state


def test_state_dict_round_trip_and_strict_errors(fresh, tmp_path):
    before = xw.export_state_dict(fresh)
    shapes = xw.expected_shapes()
    assert shapes == {k: v.shape for k, v in before.items()} and list(shapes) == list(before)
    state = _random_state(shapes, seed=2)
    try:
        xw.load_state_dict(fresh, state)
        back = xw.export_state_dict(fresh)
        assert list(back) == list(state)
        assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in state.items())
        path = xw.save_state_dict(fresh, tmp_path / "w.npz")
        assert sorted(np.load(path).files) == sorted(state)
        # one-line errors naming the key and the file
        bad = dict(state)
        del bad["bucketed_unmixes_bass.7.cdae.4.running_var"]
        np.savez(tmp_path / "bad.npz", **bad)
        missing = r"bad\.npz: missing key bucketed_unmixes_bass\.7\.cdae\.4\.running_var$"
        with pytest.raises(xw.StateDictError, match=missing):
            xw.load_state_dict(fresh, tmp_path / "bad.npz")
        bad = dict(state, **{"bucketed_unmixes_vocals.51.input_mean": np.zeros(1, np.float32)})
        with pytest.raises(xw.StateDictError, match=r"unexpected key bucketed_unmixes_vocals\.51\.input_mean"):
            xw.load_state_dict(fresh, bad)
        bad = dict(state, **{"bucketed_unmixes_other.1.cdae.6.weight": np.zeros((25, 55, 5, 7), np.float32)})
        misshaped = r"cdae\.6\.weight has shape \(25, 55, 5, 7\), expected \(55, 25, 5, 7\)"
        with pytest.raises(xw.StateDictError, match=misshaped):
            xw.load_state_dict(fresh, bad)
        with pytest.raises(xw.StateDictError, match="not found"):
            xw.load_state_dict(fresh, tmp_path / "absent.npz")
        # gradients (or any per-variable values) export under the original names
        grads = {v.path: np.ones(v.shape, np.float32) for v in fresh.trainable_variables}
        g = xw.export_state_dict(fresh, values=grads)
        assert len(g) == 4 * 51 * 16 and all(np.all(v == 1) for v in g.values())
    finally:
        xw.load_state_dict(fresh, before)


# --- one block re-derived in numpy from PyTorch's definitions -------------------------------------

def _np_conv(x, w, dil):  # Conv2d, padding 0: x (C, H, W), w (O, C, kh, kw)
    o, c, kh, kw = w.shape
    ho, wo = x.shape[1] - dil[0] * (kh - 1), x.shape[2] - dil[1] * (kw - 1)
    out = np.zeros((o, ho, wo))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("chw,oc->ohw", x[:, i * dil[0]:i * dil[0] + ho, j * dil[1]:j * dil[1] + wo], w[:, :, i, j])
    return out


def _np_conv_transpose(x, w, stride, dil):  # ConvTranspose2d, padding 0: x (C, H, W), w (C, O, kh, kw)
    c, o, kh, kw = w.shape
    h, wd = x.shape[1:]
    out = np.zeros((o, (h - 1) * stride[0] + dil[0] * (kh - 1) + 1, (wd - 1) * stride[1] + dil[1] * (kw - 1) + 1))
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dil[0], i * dil[0] + (h - 1) * stride[0] + 1, stride[0])
            cols = slice(j * dil[1], j * dil[1] + (wd - 1) * stride[1] + 1, stride[1])
            out[:, rows, cols] += np.einsum("chw,co->ohw", x, w[:, :, i, j])
    return out


def _np_block(x, p):
    """OpenUnmixTimeBucketCDAE.forward for one item, float64: x (2, nf, S, M), p = state-dict entries."""
    _, nf, s, m = x.shape
    ola = np.zeros((2, nf, (s + 1) * m // 2))
    for i in range(s):
        ola[:, :, i * m // 2:i * m // 2 + m] += x[:, :, i]
    h = (ola + p["input_mean"][:, None]) * p["input_scale"][:, None]

    def bn(h, j):
        g, b, rm, rv = (p[f"cdae.{j}.{f}"][:, None, None] for f in ("weight", "bias", "running_mean", "running_var"))
        return (h - rm) / np.sqrt(rv + BN_EPSILON) * g + b

    h = np.maximum(bn(_np_conv(h, p["cdae.0.weight"], (1, 2)), 1), 0)
    h = np.maximum(bn(_np_conv(h, p["cdae.3.weight"], (1, 2)), 4), 0)
    h = np.maximum(bn(_np_conv_transpose(h, p["cdae.6.weight"], (1, 1), (1, 2)), 7), 0)
    h = np.maximum(bn(_np_conv_transpose(h, p["cdae.9.weight"], (1, 1), (1, 2)), 10), 0)
    h = _np_conv_transpose(h, p["cdae.12.weight"], (1, 2), (1, 1)) + p["cdae.12.bias"][:, None, None]
    mask = 1 / (1 + np.exp(-h))
    return mask[:, :, :s * m].reshape(x.shape) * x, mask


@pytest.mark.parametrize("block,phases", [(0, True), (2, True), (23, True), (2, False)])
def test_block_matches_numpy_rederivation(fresh, block, phases, monkeypatch):
    """Our weight conversion (incl. the transposed-conv flip), phase split (or native dilation) and
    growth layer against a direct float64 transcription of PyTorch's layer definitions, with random BN
    statistics."""
    monkeypatch.setattr(xm, "USE_PHASES", phases)
    before = xw.export_state_dict(fresh)
    state = _random_state(xw.expected_shapes(), seed=10 + block)
    try:
        xw.load_state_dict(fresh, state)
        _, nf, m = BLOCKS[block]
        x = np.random.default_rng(block).random((2, 2, nf, 4, m), dtype=np.float32)
        act = xm.block_activations(fresh, "drums", block, x)
        prefix = f"bucketed_unmixes_drums.{block}."
        p = {k[len(prefix):]: v.astype(np.float64) for k, v in state.items() if k.startswith(prefix)}
        for item in range(2):
            est, mask = _np_block(x[item].astype(np.float64), p)
            assert np.max(np.abs(act["sigmoid"][item] - mask)) < 1e-5
            assert np.max(np.abs(act["estimate"][item] - est)) < 1e-5 * np.abs(est).max()
    finally:
        xw.load_state_dict(fresh, before)


# --- golden: the original code with the seeded weights of weights.npz -------------------------------

@pytest.fixture(scope="module")
def golden(xumx_reference_dir):
    model = xm.build_model()
    xw.load_state_dict(model, xumx_reference_dir / "weights.npz")
    mix = np.load(xumx_reference_dir / "slicqt_mixture.npz")
    blocks = [np.abs(mix[f"b{b:02d}"]) for b in range(70)]
    return model, blocks


def test_golden_blocks_json(xumx_reference_dir, golden):
    model, blocks = golden
    info = json.loads((xumx_reference_dir / "blocks.json").read_text())
    assert info["max_bin"] == MAX_BIN and len(info["blocks"]) == 70
    for entry, (first, nf, m) in zip(info["blocks"], BLOCKS):
        assert (entry["first_row"], entry["nf"], entry["M"]) == (first, nf, m)
        net = model.block_net(entry["block"])
        assert entry["network"] == (net is not None)
        assert entry["kernel"] == (list(net.kernel) if net else None)
        assert entry["T_ola"] == ola_frames(info["slices"], m)
    checks = json.loads((xumx_reference_dir / "checks.json").read_text())
    assert checks["param_count_total"] == xm.count_trainable(model)
    assert checks["param_count_without_input_mean_scale"] == xm.count_trainable(model, include_input_stats=False)


def test_golden_weights_round_trip(xumx_reference_dir, golden):
    model, _ = golden
    ref = np.load(xumx_reference_dir / "weights.npz")
    out = xw.export_state_dict(model)
    assert list(out) == list(ref.files)
    assert all(np.array_equal(out[k], ref[k]) for k in ref.files)


@pytest.mark.parametrize("block", [0, 1, 2, 23, 50])
def test_golden_layer_activations(xumx_reference_dir, golden, block):
    model, blocks = golden
    ref = np.load(xumx_reference_dir / "activations_vocals.npz")
    act = xm.block_activations(model, "vocals", block, blocks[block])
    peak = np.abs(ref[f"b{block:02d}_input"]).max()
    for name in xm.ACTIVATION_NAMES:
        r = ref[f"b{block:02d}_{name}"]
        assert act[name].shape == r.shape, name
        err = np.abs(act[name] - r).max()
        # README tolerance: 1e-5 absolute, or 1e-6 of the block's peak (np.abs vs torch.abs of the input)
        assert err <= 1e-5 or err <= 1e-6 * max(peak, np.abs(r).max()), (name, err)


def test_golden_network_outputs_all_targets(xumx_reference_dir, golden):
    model, blocks = golden
    ref = np.load(xumx_reference_dir / "network_outputs.npz")
    out = model(blocks)  # the default, tf.function path
    worst = 0.0
    for t in TARGETS:
        for b in range(70):
            r = ref[f"{t}_b{b:02d}"]
            err = np.abs(np.asarray(out[t][b]) - r).max() / np.abs(r).max()
            worst = max(worst, err)
            if b >= 51:
                assert np.array_equal(np.asarray(out[t][b]), blocks[b])
    assert worst < 1e-6, worst
    # the targets are told apart by name: another target's reference is far off
    for a, b in (("vocals", "drums"), ("bass", "other")):
        assert np.abs(np.asarray(out[a][1]) - ref[f"{b}_b01"]).max() > 1.0
    # output shapes for other S and batch 2 (same traced function: any batch and S)
    for s in (3, 6, 11):
        x = xm.random_blocks(s, batch=2, seed=s)
        y = model(x)
        assert all(tuple(y[t][b].shape) == x[b].shape for t in TARGETS for b in range(70))


def test_golden_target_swap_is_detected(xumx_reference_dir, golden):
    model, blocks = golden
    ref = np.load(xumx_reference_dir / "network_outputs.npz")
    state = dict(np.load(xumx_reference_dir / "weights.npz"))
    swapped = {}
    for k, v in state.items():
        t = k.split(".", 1)[0][len("bucketed_unmixes_"):]
        other = {"vocals": "drums", "drums": "vocals"}.get(t, t)
        swapped[k.replace(f"bucketed_unmixes_{t}.", f"bucketed_unmixes_{other}.", 1)] = v
    try:
        xw.load_state_dict(model, swapped)
        est = xm.block_activations(model, "vocals", 1, blocks[1])["estimate"]
        assert np.abs(est - ref["vocals_b01"]).max() > 1.0  # a swap fails the golden check ...
        assert np.abs(est - ref["drums_b01"]).max() < 1e-6 * np.abs(ref["drums_b01"]).max()  # ... by name
    finally:
        xw.load_state_dict(model, xumx_reference_dir / "weights.npz")


# --- the eval-mode inference plan (folded BatchNorm, phases on the channel axis) ------------------

def _block_errors(out, ref, x) -> list:
    """Per trained block: max |out - ref| over the targets / the block's peak (max |input|, max |ref|)."""
    errs = []
    for b in range(51):
        peak = max(np.abs(x[b]).max(), max(np.abs(np.asarray(ref[t][b])).max() for t in TARGETS))
        errs.append(max(np.abs(np.asarray(out[t][b]) - np.asarray(ref[t][b])).max() for t in TARGETS) / peak)
    return errs


def test_inference_plan_equals_training_graph_in_eval_mode(fresh):
    """Random weights and BN statistics; batch 2 and two S (one trace per batch, any S): the plan within
    1e-6 of each block's peak of the training-graph forward in eval mode; pass-through blocks untouched."""
    before = xw.export_state_dict(fresh)
    state = _random_state(xw.expected_shapes(), seed=7)
    for k in state:  # activations of a realistic size: smaller kernels than _random_state's +-0.5
        if k.endswith(".weight") and ".cdae." in k and not k.split(".cdae.")[1].startswith(("1.", "4.", "7.", "10.")):
            state[k] = state[k] * 0.3
    try:
        xw.load_state_dict(fresh, state)
        plan = xm.inference_plan(fresh)
        for s in (3, 7):
            x = xm.random_blocks(s, batch=2, seed=s)
            ref = fresh.forward([np.asarray(b) for b in x], training=False)
            out = plan(x)
            assert list(out) == list(TARGETS) and all(len(out[t]) == 70 for t in TARGETS)
            assert all(tuple(out[t][b].shape) == x[b].shape for t in TARGETS for b in range(70))
            errs = _block_errors(out, ref, x)
            assert max(errs) <= 1e-6, (int(np.argmax(errs)), max(errs))
            assert all(out[t][b] is x[b] for t in TARGETS for b in range(51, 70))
        assert set(plan._functions) == {2}
    finally:
        xw.load_state_dict(fresh, before)


def test_inference_plan_folds_the_current_weights_and_restores_grappler(fresh):
    """The plan re-folds at every call (a weight change is seen at once); the default eager eval call
    of a function model goes through it; Grappler's global setting is left as it was."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    model = xm.build_model(seed=3)
    x = xm.random_blocks(4, batch=1, seed=1)
    options, call_options = tf.config.optimizer.get_experimental_options(), context.context().function_call_options
    first = model(x)
    assert model._plan is not None and set(model._plan._functions) == {1}
    # Grappler is switched off for the plan's call only (other tf.functions keep their instantiation)
    assert tf.config.optimizer.get_experimental_options() == options
    assert context.context().function_call_options is call_options
    state = _random_state(xw.expected_shapes(), seed=11)
    for k in state:
        if k.endswith("running_mean"):
            state[k] = state[k] * 0.1
    xw.load_state_dict(model, state)
    second = model(x)
    ref = model.forward([np.asarray(b) for b in x], training=False)
    assert np.abs(np.asarray(first["vocals"][0]) - np.asarray(second["vocals"][0])).max() > 1e-3
    assert max(_block_errors(second, ref, x)) <= 1e-6
    # a fold by hand: BN(conv(x, k)) = conv(x, k*s) + t with s = gamma / sqrt(var + eps)
    net = model.block_net(0)
    folded = xm.fold_block(net)
    g = lambda n: net.variable(n).numpy().astype(np.float64)  # noqa: E731
    s = g("bn1_gamma") / np.sqrt(g("bn1_moving_variance") + BN_EPSILON)
    np.testing.assert_allclose(folded[2][..., :100], g("conv1") * s, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(folded[2][..., 100:], folded[2][..., :100])  # the odd phase's copy
    np.testing.assert_allclose(folded[3][:100], g("bn1_beta") - g("bn1_moving_mean") * s, rtol=1e-6, atol=1e-7)


def test_build_without_init_then_load_equals_initialised_model(tmp_path):
    """build_model(init=False) (separate.load_model): same variables and counts, kernels zero; after
    loading a state dict it is indistinguishable from an initialised model with the same state."""
    a, b = xm.build_model(seed=5), xm.build_model(init=False)
    assert [v.path for v in a.weights] == [v.path for v in b.weights]
    assert xm.count_trainable(b) == PARAMS_TOTAL
    assert not np.any(b.block_net(2).conv2.numpy()) and np.all(b.block_net(2).bn2_moving_variance.numpy() == 1)
    state = xw.export_state_dict(a)
    xw.load_state_dict(b, state)
    assert all(np.array_equal(v, state[k]) for k, v in xw.export_state_dict(b).items())
    # a partial (strict=False) load keeps the other targets' current values
    c = xm.build_model(init=False)
    xw.load_state_dict(c, {k: v for k, v in state.items() if "_drums." in k}, strict=False)
    out = xw.export_state_dict(c)
    assert np.array_equal(out["bucketed_unmixes_drums.1.cdae.3.weight"], state["bucketed_unmixes_drums.1.cdae.3.weight"])
    assert not np.any(out["bucketed_unmixes_vocals.1.cdae.3.weight"])
