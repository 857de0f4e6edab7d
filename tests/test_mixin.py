"""MiXiN: transform, CDAE, masks, golden comparison with the original, training, resume, evaluation."""
from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import soundfile as sf

from mixin import masks, transform
from mixin.params import CHUNK_SIZE, COEF_SHAPE

RATE = 44100


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref.astype(np.float64), est.astype(np.float64)
    err = np.sum((ref - est) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(np.sum(ref ** 2) / err)


# --- transform -----------------------------------------------------------------------------------

def test_bark_scale_formula():
    scale = transform.BarkScale(0, 22050, 96)
    f, q = scale()
    assert len(f) == 96 and f[0] == 0.0 and abs(f[-1] - 22050) < 1e-6
    b = transform.hz2bark(f)
    assert np.allclose(np.diff(b), b[-1] / 95)  # equal Bark steps
    assert np.allclose(transform.bark2hz(transform.hz2bark(1234.5)), 1234.5)
    assert np.isclose(transform.hz2bark(600.0), 6 * np.arcsinh(1.0))


def test_nsgt_shape_and_perfect_reconstruction():
    from common import nsgt_support

    nsgt = transform.make_nsgt()
    assert nsgt_support.clip_shim_applied()
    assert len(nsgt.frqs) == 94 and 27.1 < nsgt.frqs[0] < 27.2 and 21074 < nsgt.frqs[-1] < 21075
    x = np.random.default_rng(0).standard_normal(CHUNK_SIZE)
    c = transform.forward_chunk(x)
    assert c.shape == COEF_SHAPE == (96, 1948) and c.dtype == np.complex128
    assert np.max(np.abs(transform.backward_chunk(c) - x)) < 1e-10
    # the batched frame gives the same numbers as nsgt's own loops
    bat = transform.batched_nsgt()
    xs = np.stack([x, np.random.default_rng(1).standard_normal(CHUNK_SIZE)])
    cb = bat.forward(xs)
    assert cb.shape == (2, 96, 1948)
    assert np.max(np.abs(cb[0] - c)) < 1e-12
    assert np.max(np.abs(bat.backward(cb) - xs)) < 1e-10
    assert np.max(np.abs(bat.backward(0.5 * cb)[0] - 0.5 * x)) < 1e-10


def test_chunking_pads_with_zeros():
    x = np.arange(CHUNK_SIZE + 10, dtype=np.float32)
    chunks = transform.chunk_signal(x, 0, 2)
    assert chunks.shape == (2, CHUNK_SIZE) and chunks.dtype == np.float64
    assert chunks[1, 9] == CHUNK_SIZE + 9 and np.all(chunks[1, 10:] == 0)


# --- model ---------------------------------------------------------------------------------------

def test_cdae_architecture_and_parameter_count():
    from mixin.model import N_PARAMS, build_cdae

    model = build_cdae()
    assert model.count_params() == N_PARAMS == 37005
    assert len(model.layers) == 13
    out = model(np.ones((2, 96, 1948, 1), np.float32))
    assert tuple(out.shape) == (2, 96, 1948, 1)
    assert float(np.min(out)) >= 0.0  # ReLU on the output layer


def test_missing_model_file_is_an_error(tmp_path):
    from mixin.model import ModelFileError, find_model_file, load_cdae

    with pytest.raises(ModelFileError, match="model_vocal"):
        find_model_file(tmp_path, "vocal")
    with pytest.raises(ModelFileError, match="not found"):
        load_cdae(tmp_path / "model_harmonic.h5")


def test_loads_original_h5(mixin_pretrained_dir):
    import keras

    from mixin.model import load_cdae

    path = mixin_pretrained_dir / "model_percussive.h5"
    ours = load_cdae(path)
    theirs = keras.models.load_model(path, compile=False)
    assert theirs.count_params() == ours.count_params() == 37005
    x = np.abs(np.random.default_rng(2).standard_normal((1, 96, 1948, 1))).astype(np.float32)
    assert np.array_equal(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


# --- masks ---------------------------------------------------------------------------------------

def test_soft_masks_formula():
    p = np.array([[1.0, 0.0, 3.0]], np.float32)
    h = np.array([[2.0, 0.0, 0.0]], np.float32)
    v = np.array([[0.0, 0.0, 4.0]], np.float32)
    mp, mh, mv = masks.soft_masks(p, h, v)
    assert mp.dtype == np.float32
    np.testing.assert_allclose(mp[0], [1 / (5 + 1e-7), 0, 9 / (25 + 1e-7)], rtol=1e-6)
    np.testing.assert_allclose(mh[0], [4 / (5 + 1e-7), 0, 0], rtol=1e-6)
    np.testing.assert_allclose(mv[0], [0, 0, 16 / (25 + 1e-7)], rtol=1e-6)
    assert np.all(mp + mh + mv <= 1)  # all-zero outputs give all-zero masks (energy dropped)
    assert mp[0, 1] == mh[0, 1] == mv[0, 1] == 0


def test_single_model_phase():
    c = np.array([3 + 4j, -2j, 0j])
    mag = np.array([10.0, 1.0, 2.0], np.float32)
    fixed = masks.single_model_coefs(mag, c)
    np.testing.assert_allclose(fixed, [6 + 8j, -1j, 2 + 0j], atol=1e-6)
    legacy = masks.single_model_coefs(mag, c, legacy=True)  # cos/sin of a complex phasor
    np.testing.assert_allclose(legacy, mag * np.cos(fixed / mag) + 1j * mag * np.sin(fixed / mag), rtol=1e-6)
    assert np.max(np.abs(legacy - fixed)) > 1


# --- separation with the original models ---------------------------------------------------------

@pytest.fixture(scope="module")
def pretrained_bank(mixin_pretrained_dir):
    from mixin.separate import CDAEBank

    return CDAEBank(model_dir=mixin_pretrained_dir)


@pytest.fixture(scope="module")
def gspi(mixin_reference_dir):
    x, rate = sf.read(mixin_reference_dir / "gspi.wav", dtype="float32")
    assert rate == RATE
    return x


def test_golden_default_mode(pretrained_bank, gspi, mixin_reference_dir):
    import mixin

    h, p, v = mixin.separate(gspi, bank=pretrained_bank, legacy=True)
    for name, est in zip(("harmonic", "percussive", "vocal"), (h, p, v)):
        ref, _ = sf.read(mixin_reference_dir / f"gspi_{name}.wav", dtype="float32")
        assert est.dtype == np.float32 and est.shape == ref.shape
        assert snr_db(ref, est) >= 60, name


def test_golden_instrumental_mode(mixin_pretrained_dir, gspi, mixin_reference_dir):
    from mixin.separate import CDAEBank, separate

    bank = CDAEBank(model_dir=mixin_pretrained_dir, instrumental=True)
    h, p, v = separate(gspi, bank=bank, legacy=True)
    for name, est in (("harmonic", h), ("percussive", p)):
        ref, _ = sf.read(mixin_reference_dir / f"gspi_instrumental_{name}.wav", dtype="float32")
        assert snr_db(ref, est) >= 60, name
    assert np.all(v == 0)


def test_golden_chunk0_intermediates(pretrained_bank, mixin_reference_dir):
    ref = np.load(mixin_reference_dir / "gspi_intermediates.npz")
    coefs = transform.batched_nsgt().forward(ref["chunk0_input"][None])
    assert np.max(np.abs(coefs[0] - ref["nsgt_coefs"])) < 1e-12
    outs = pretrained_bank(np.abs(coefs))
    for comp in ("percussive", "harmonic", "vocal"):
        np.testing.assert_allclose(outs[comp][0], ref[f"cdae_{comp}"], atol=1e-6)  # float32 CNN noise
    mp, mh, mv = masks.soft_masks(outs["percussive"], outs["harmonic"], outs["vocal"])
    for comp, m in (("percussive", mp), ("harmonic", mh), ("vocal", mv)):
        np.testing.assert_allclose(m[0], ref[f"mask_{comp}"], atol=1e-4)
        out = transform.batched_nsgt().backward(ref[f"mask_{comp}"] * ref["nsgt_coefs"])[0]
        assert np.max(np.abs(out - ref[f"out_{comp}_chunk0"])) < 1e-12


def test_default_equals_legacy_except_last_chunk(pretrained_bank, gspi):
    from mixin.separate import separate

    last = (int(np.ceil(len(gspi) / CHUNK_SIZE)) - 1) * CHUNK_SIZE  # 220160 for gspi
    # same CNN batches (one chunk each): bit-identical except the last chunk
    legacy = separate(gspi, bank=pretrained_bank, legacy=True, block_chunks=1)
    default = separate(gspi, bank=pretrained_bank, block_chunks=1)
    for a, b in zip(legacy, default):
        assert np.array_equal(a[:last], b[:last])
        assert np.all(a[last:] == 0)
    tail = sum(b[last:] for b in default)  # the last chunk is now separated: outputs ~ sum to the input
    assert snr_db(gspi[last:], tail) > 10  # masks drop energy where all CDAEs output 0 (quirk 13)
    # default blocks: equal up to the float32 CNN noise of a different batch size (oneDNN)
    blocked = separate(gspi, bank=pretrained_bank)
    assert all(np.max(np.abs(a[:last] - b[:last])) < 1e-5 for a, b in zip(default, blocked))


def test_edge_cases(pretrained_bank):
    from mixin.separate import separate, separate_per_chunk

    rng = np.random.default_rng(3)
    short = (0.1 * rng.standard_normal(1000)).astype(np.float32)
    legacy = separate(short, bank=pretrained_bank, legacy=True)
    default = separate(short, bank=pretrained_bank)
    assert all(o.shape == (1000,) and o.dtype == np.float32 for o in legacy + default)
    assert all(np.all(o == 0) for o in legacy)  # the original returns silence for < 1 chunk
    assert sum(np.abs(o).sum() for o in default) > 0
    exact = (0.1 * rng.standard_normal(2 * CHUNK_SIZE)).astype(np.float32)
    legacy = separate(exact, bank=pretrained_bank, legacy=True, block_chunks=1)
    default = separate(exact, bank=pretrained_bank, block_chunks=3)
    for a, b in zip(legacy, default):
        assert a.shape == (2 * CHUNK_SIZE,) and np.all(a[CHUNK_SIZE:] == 0)
        assert np.allclose(a[:CHUNK_SIZE], b[:CHUNK_SIZE], atol=1e-5)
    loop = separate_per_chunk(exact, pretrained_bank)  # the original's batch-1 loop
    assert all(np.max(np.abs(a - b)) < 1e-5 for a, b in zip(loop, default))
    stereo = (0.1 * rng.standard_normal((2, 5000))).astype(np.float32)
    downmixed = stereo.mean(axis=0, dtype=np.float32)  # librosa.to_mono: channel mean
    for a, b in zip(separate(stereo, bank=pretrained_bank), separate(downmixed, bank=pretrained_bank)):
        assert np.array_equal(a, b)


# --- stems, training, resume, separation with trained models --------------------------------------

def _tone(rng, n, f0):
    t = np.arange(n) / RATE
    return (0.2 * np.sin(2 * np.pi * f0 * t) * (1 + 0.1 * rng.standard_normal())).astype(np.float32)


def _clicks(rng, n):
    x = np.zeros(n, np.float32)
    x[:: RATE // 4] = 0.8
    return np.convolve(x, np.exp(-np.arange(400) / 40.0).astype(np.float32) * rng.standard_normal(400).astype(np.float32) * 0.3)[:n]


@pytest.fixture(scope="module")
def stems_dir(tmp_path_factory):
    """Two tracks: several drum stems in one, no vocal stem in the other, a mix file to be ignored."""
    root = tmp_path_factory.mktemp("stems")
    rng = np.random.default_rng(4)
    n = int(2.2 * RATE)
    for name, files in {
        "song_a": {"drums_kick.wav": _clicks(rng, n), "drums_snare.wav": _clicks(rng, n),
                   "bass.wav": _tone(rng, n, 55), "guitar.wav": _tone(rng, n, 330),
                   "vocals.wav": _tone(rng, n, 440) * 0.5, "mix.wav": np.ones(n, np.float32) * 0.5},
        "song_b": {"drums.wav": _clicks(rng, n), "keys.wav": _tone(rng, n, 262)},
    }.items():
        (root / name).mkdir()
        for fname, audio in files.items():
            sf.write(root / name / fname, audio, RATE, subtype="FLOAT")
    return root


def test_stem_rules(stems_dir):
    from common.datasets import find_stem_tracks, load_stem_track

    from mixin.data import DataConfig, component_testcases, index_stems

    tracks = {t.name: t for t in find_stem_tracks([stems_dir])}
    a = load_stem_track(tracks["song_a"])
    kick, _ = sf.read(stems_dir / "song_a" / "drums_kick.wav", dtype="float32")
    snare, _ = sf.read(stems_dir / "song_a" / "drums_snare.wav", dtype="float32")
    np.testing.assert_allclose(a.sources["percussive"][0], kick + snare, atol=1e-6)  # both drum stems
    bass, _ = sf.read(stems_dir / "song_a" / "bass.wav", dtype="float32")
    guitar, _ = sf.read(stems_dir / "song_a" / "guitar.wav", dtype="float32")
    np.testing.assert_allclose(a.sources["harmonic"][0], bass + guitar, atol=1e-6)  # mix.wav ignored
    b = load_stem_track(tracks["song_b"])
    assert np.all(b.sources["vocal"] == 0)  # missing vocal stem -> silence, not the last file
    index = index_stems([stems_dir], DataConfig())
    assert len(index.testcases) == 4 and all(t.n_chunks == 3 for t in index.testcases)  # 2.2 s -> 3 chunks
    assert [t.kind for t in component_testcases(index, "vocal")] == ["v", "v"]
    legacy = index_stems([stems_dir], DataConfig(legacy=True))
    assert legacy.testcases == []  # the original drops the last (here: only) segment


def test_splits(stems_dir):
    from mixin.data import DataConfig, count_examples, index_stems, plan_examples, track_split

    assert track_split(2) == {"train": [0], "test": [], "validation": [1]}
    assert track_split(10)["validation"] == [9] and track_split(10)["test"] == [8]
    with pytest.raises(ValueError, match="at least 2 tracks"):
        track_split(1)
    index = index_stems([stems_dir], DataConfig())
    # legacy pool split: 4 testcases x 3 chunks = 12 rows -> 9 / 1 / 2
    counts = {s: count_examples(plan_examples(index, "harmonic", s, mode="legacy-pool", n_pool=8))
              for s in ("train", "test", "validation")}
    assert counts == {"train": 9, "test": 1, "validation": 2}


def _train_args(stems, workdir, **over):
    from mixin.train import build_parser

    argv = ["--stems", str(stems), "--workdir", str(workdir), "--epochs", "1", "--batch-size", "2", "--quiet"]
    for k, v in over.items():
        argv += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)] if not isinstance(v, list) else v)
    return build_parser().parse_args(argv)


@pytest.fixture(scope="module")
def trained_models(stems_dir, tmp_path_factory):
    from mixin.train import run

    workdir = tmp_path_factory.mktemp("mixin_run")
    states = run(_train_args(stems_dir, workdir))
    assert list(states) == ["percussive", "harmonic", "vocal"]
    return workdir


def test_train_end_to_end_then_separate(trained_models, stems_dir, tmp_path):
    from mixin.separate import main

    models = trained_models / "models"
    for comp in ("percussive", "harmonic", "vocal"):
        assert (models / f"model_{comp}.keras").is_file() and (models / f"loss_{comp}.png").is_file()
        hist = json.loads((models / f"history_{comp}.json").read_text())
        assert len(hist) == 1 and np.isfinite(hist[0]["val_loss"])
    args = json.loads((models / "args.json").read_text())
    assert args["batch_size"] == 2 and len(args["tracks"]) == 2
    mix = stems_dir / "song_b" / "keys.wav"
    assert main([str(mix), "--model-dir", str(models), "--outdir", str(tmp_path), "--quiet"]) == 0
    x, _ = sf.read(mix, dtype="float32")
    for source in ("harmonic", "percussive", "vocal"):
        y, rate = sf.read(tmp_path / "keys" / f"{source}.wav", dtype="float32")
        info = sf.info(tmp_path / "keys" / f"{source}.wav")
        assert rate == RATE and info.channels == 1 and info.subtype == "FLOAT" and y.shape == x.shape
    assert main([str(mix), "--model-dir", str(models), "--outdir", str(tmp_path / "i"), "--instrumental",
                 "--quiet"]) == 0
    assert not (tmp_path / "i" / "keys" / "vocal.wav").exists()


def test_cli_errors(tmp_path, capsys):
    from mixin.separate import main
    from mixin.train import main as train_main

    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros(100, np.float32), RATE)
    assert main([str(wav), "--model-dir", str(tmp_path / "none"), "--outdir", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.wav"), "--model-dir", str(tmp_path), "--outdir", str(tmp_path)]) == 2
    assert train_main(["--stems", str(tmp_path / "nothing"), "--workdir", str(tmp_path / "w")]) == 2
    assert "error:" in capsys.readouterr().err


def test_resume_after_interruption(stems_dir, tmp_path):
    import keras

    from mixin.train import TrainingError, run

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt("simulated interruption after one epoch")

    args = _train_args(stems_dir, tmp_path, epochs=2, components=["percussive"])
    with pytest.raises(KeyboardInterrupt):
        run(args, extra_callbacks=[Interrupt()])
    state = json.loads((tmp_path / "checkpoints" / "percussive" / "state.json").read_text())
    assert state["epoch"] == 0 and not state["done"] and len(state["history"]) == 1
    with pytest.raises(TrainingError, match="--resume"):
        run(args)
    states = run(_train_args(stems_dir, tmp_path, epochs=2, components=["percussive"], resume=True))
    hist = states["percussive"]["history"]
    assert [h["epoch"] for h in hist] == [0, 1] and states["percussive"]["done"]
    assert (tmp_path / "models" / "model_percussive.keras").is_file()


# --- evaluation on a tiny MUSDB-layout folder ------------------------------------------------------

def test_evaluate_on_synthetic_musdb(mixin_pretrained_dir, tmp_path):
    pytest.importorskip("museval", reason="museval (and ffmpeg for musdb) needed for BSSv4")
    from mixin.evaluate import evaluate, segment_indices

    assert segment_indices(200 * RATE, 15 * RATE, 2, 6) == [2, 3, 4, 5]  # MSTF: 4 segments of 15 s
    assert segment_indices(60 * RATE, 15 * RATE, 2, 6) == [2]  # the last full segment never taken
    rng = np.random.default_rng(5)
    n = 3 * RATE
    track = tmp_path / "test" / "Tiny - Song"
    track.mkdir(parents=True)
    sources = {"drums": _clicks(rng, n), "bass": _tone(rng, n, 55), "other": _tone(rng, n, 330),
               "vocals": _tone(rng, n, 440) + 0.01 * rng.standard_normal(n).astype(np.float32)}
    for name, audio in sources.items():
        sf.write(track / f"{name}.wav", np.stack([audio, audio], 1), RATE, subtype="FLOAT")
    sf.write(track / "mixture.wav", np.stack([sum(sources.values())] * 2, 1), RATE, subtype="FLOAT")
    result = evaluate(tmp_path, mixin_pretrained_dir, n_tracks=1, segment_seconds=1.0,
                      segment_offset=0, segment_limit=6, progress=False)
    assert len(result["per_segment"]) == 2  # 3 segments, the last never taken
    assert result["targets"] == ["harmonic", "percussive", "vocal"]
    assert all(np.isfinite(result["summary"][t]["SDR"]) for t in result["targets"])


# --- the fast separation path (issue 14): same numbers as the straightforward one ------------------

def test_batched_nsgt_is_bit_identical_to_nsgt():
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((3, CHUNK_SIZE))
    bat = transform.batched_nsgt()
    cb = bat.forward(xs)
    weights = rng.random(cb.shape).astype(np.float32)  # a mask-like product, as separation feeds it
    for k in range(3):
        assert np.array_equal(cb[k], transform.forward_chunk(xs[k]))
        assert np.array_equal(bat.backward(cb * weights)[k], transform.backward_chunk(cb[k] * weights[k]))


def test_fused_cdae_graph_and_grid_masks_equal_the_models():
    import keras

    from mixin.model import build_cdae, fused_inference, upsample_to_coefs
    from mixin.separate import CDAEBank

    keras.utils.set_random_seed(7)
    models = {c: build_cdae(name=f"m_{c}") for c in ("percussive", "harmonic", "vocal")}
    mags = np.abs(np.random.default_rng(6).standard_normal((2, *COEF_SHAPE))).astype(np.float32)
    small = fused_inference(list(models.values()))(mags[..., None]).numpy()
    assert small.shape == (2, 32, 390, 3)
    for i, (c, m) in enumerate(models.items()):
        full = m(mags[..., None]).numpy()[..., 0]
        assert np.max(np.abs(upsample_to_coefs(small[..., i]) - full)) <= 1e-6 * max(1.0, np.max(full))
    bank = CDAEBank(models=models)
    grid = bank.grid(mags)
    assert all(grid[c].shape == (2, 32, 390) for c in models)
    # masks taken on the grid and applied without upsampling == the full-size masks applied
    coefs = transform.batched_nsgt().forward(np.random.default_rng(8).standard_normal((2, CHUNK_SIZE)))
    mg = masks.soft_masks(grid["percussive"], grid["harmonic"], grid["vocal"])
    mf = masks.soft_masks(*(upsample_to_coefs(grid[c]) for c in ("percussive", "harmonic", "vocal")))
    fast = masks.apply_grid_masks(mg, coefs)
    assert fast.shape == (3, 2, *COEF_SHAPE)
    for j in range(3):
        assert np.array_equal(fast[j], masks.apply_mask(mf[j], coefs))


def test_overlapped_separation_equals_serial():
    import keras

    from mixin.model import build_cdae
    from mixin.separate import CDAEBank, separate

    keras.utils.set_random_seed(9)
    bank = CDAEBank(models={c: build_cdae() for c in ("percussive", "harmonic", "vocal")})
    x = (0.1 * np.random.default_rng(10).standard_normal(3 * CHUNK_SIZE + 500)).astype(np.float32)
    serial = separate(x, bank=bank, block_chunks=1, overlap=False)
    overlapped = separate(x, bank=bank, block_chunks=1, overlap=True)
    assert all(o.shape == x.shape for o in overlapped)
    assert all(np.array_equal(a, b) for a, b in zip(serial, overlapped))
    assert sum(float(np.abs(o).sum()) for o in overlapped) > 0


def test_single_precision_nsgt_is_float32_close():
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((2, CHUNK_SIZE))
    double, single = transform.batched_nsgt("double"), transform.batched_nsgt("single")
    cd, cs = double.forward(xs), single.forward(xs)
    assert cs.dtype == np.complex64 and cs.shape == cd.shape
    assert np.max(np.abs(cs - cd)) < 1e-5 * np.max(np.abs(cd))
    rec = single.backward(cs)
    assert rec.dtype == np.float32 and rec.shape == xs.shape
    assert np.max(np.abs(rec - xs)) < 1e-5 * np.max(np.abs(xs))
