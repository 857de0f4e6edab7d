"""drnn_singing: parameter counts, exact framing, mask, loss, training, evaluation, CLIs, bad inputs."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from drnn_singing import features as F  # noqa: E402
from drnn_singing import params as P  # noqa: E402


# ---------------------------------------------------------------------------------------------
# architectures


@pytest.mark.parametrize("arch, expected", [
    ("drnn2", 5_569_026),    # drnn.md §2.2: 1539*1000+1000 + 1000*1000+1000 + 1000*1000 + 1000*1000+1000 + 1000*1026+1026
    ("drnn1", 5_569_026), ("drnn3", 5_569_026),
    ("dnn", 4_569_026),      # no recurrent matrix
    ("srnn", 7_569_026),     # three recurrent matrices
    ("lstm3x1000", 4 * (513 * 1000 + 1000 * 1000 + 1000) + 2 * 4 * (2000 * 1000 + 1000) + 2 * (1000 * 513 + 513)),
    ("gru3x256", 3 * (513 * 256 + 256 * 256 + 512) + 2 * 3 * (2 * 256 * 256 + 512) + 2 * (256 * 513 + 513)),
])
def test_parameter_counts(arch, expected):
    from drnn_singing.model import build_model
    assert build_model(arch).count_params() == expected


def test_recurrence_sits_at_the_named_layer():
    from drnn_singing.model import build_model
    names = {layer.name for layer in build_model("drnn3", hidden=8).layers}
    assert {"hidden1", "hidden2", "hidden3_input", "hidden3"} <= names and "hidden2_input" not in names
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("drnn7")


def test_initialisation_limits():
    """Glorot-uniform ranges of MATLAB initialize_weights.m, zero biases."""
    from drnn_singing.model import build_model
    model = build_model("drnn2")
    w1 = model.get_layer("hidden1").kernel.numpy()
    w2 = model.get_layer("hidden2_input").kernel.numpy()
    u = model.get_layer("hidden2").cell.recurrent_kernel.numpy()
    for weights, limit in ((w1, np.sqrt(6 / 2539)), (w2, np.sqrt(6 / 3000)), (u, np.sqrt(6 / 3000))):
        assert np.abs(weights).max() <= limit and np.abs(weights).max() > 0.98 * limit
    assert not np.any(model.get_layer("output").bias.numpy())


# ---------------------------------------------------------------------------------------------
# features


def test_window_is_sqrt_periodic_hann():
    import scipy.signal
    np.testing.assert_allclose(F.sqrt_hann(), np.sqrt(scipy.signal.get_window("hann", 1024, fftbins=True)), atol=1e-12)


def test_stft_framing_and_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000 * 3 + 77).astype(np.float32)
    spec = F.stft(x)
    frames = 1 + (x.size - 1024) // 512           # labrosa stft.m: no padding, tail dropped
    assert spec.shape == (frames, 513) == (F.n_frames(x.size), P.N_BINS)
    t = 17                                        # frame t covers samples [512 t, 512 t + 1024)
    np.testing.assert_allclose(spec[t], np.fft.rfft(x[512 * t:512 * t + 1024] * F.sqrt_hann()), rtol=1e-4, atol=1e-4)
    feats = F.add_context(np.abs(spec))
    assert feats.shape == (frames, 1539)
    mag = np.abs(spec)
    np.testing.assert_array_equal(feats[5], np.concatenate([mag[4], mag[5], mag[6]]))
    np.testing.assert_array_equal(feats[0, :513], mag[0])            # edges replicated
    np.testing.assert_array_equal(feats[-1, 1026:], mag[-1])


def test_istft_reconstructs_away_from_the_edges():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(20000).astype(np.float32)
    y = F.istft(F.stft(x))
    assert y.size == 1024 + (F.n_frames(x.size) - 1) * 512
    inner = slice(512, y.size - 512)
    assert np.max(np.abs(y[inner] - x[inner])) < 1e-5
    assert np.max(np.abs(y[:512] - x[:512])) > 1e-3                  # first half-frame attenuated by sin^2


def test_too_short_and_silent_signals():
    with pytest.raises(F.FeatureError, match="shorter than one 1024-sample frame"):
        F.stft(np.zeros(1000))
    with pytest.raises(F.FeatureError, match="silent"):
        F.unit_energy(np.zeros(5000), "voice")


def test_circular_shift_grid_and_chunking():
    # MATLAB: for ioffset = 1:10000:N-10000, shifted = [x(ioffset:end); x(1:ioffset-1)]
    assert F.shift_offsets(49000) == [0, 10000, 20000, 30000]
    assert F.shift_offsets(40001) == [0, 10000, 20000, 30000]
    assert F.shift_offsets(40000) == [0, 10000, 20000]
    x = np.arange(10)
    np.testing.assert_array_equal(F.circular_shift(x, 3), [3, 4, 5, 6, 7, 8, 9, 0, 1, 2])
    assert F.chunk_lengths(357) == [100, 100, 100, 50] + [1] * 7
    assert F.chunk_lengths(85) == [50, 25, 10]
    pieces = list(F.chunks(np.arange(357)))
    np.testing.assert_array_equal(np.concatenate(pieces), np.arange(357))


def test_augmented_training_set_size(mir1k_root):
    """Huang's 171 training clips give 2133 shifted mixtures and 565,822 frames (drnn.md §2.1)."""
    from drnn_singing.data import count_frames, load_split
    clips = load_split(mir1k_root, "train")
    assert len(clips) == 171
    assert count_frames(clips) == (2133, 565_822)


# ---------------------------------------------------------------------------------------------
# mask and loss


def test_mask_outputs_sum_to_the_mixture():
    from drnn_singing.model import SoftMask
    rng = np.random.default_rng(2)
    raw = rng.standard_normal((2, 7, 2 * 513)).astype(np.float32)        # linear outputs, any sign
    z = np.abs(rng.standard_normal((2, 7, 513))).astype(np.float32)
    out = np.asarray(SoftMask()([raw, z]))
    np.testing.assert_allclose(out[..., :513] + out[..., 513:], z, rtol=1e-5, atol=1e-6)
    a1, a2 = np.abs(raw[..., :513]), np.abs(raw[..., 513:])
    np.testing.assert_allclose(out[..., 513:], a2 / (a1 + a2 + 1e-10) * z, rtol=1e-5)


def test_loss_against_hand_computation():
    from drnn_singing.losses import discriminative_loss, make_loss
    y = np.array([[[1.0, 2.0, 3.0, 4.0]]], np.float32)          # 1 frame, bins 2: y1 = [1,2], y2 = [3,4]
    e = np.array([[[1.5, 1.0, 2.0, 5.0]]], np.float32)          # e1 = [1.5,1], e2 = [2,5]
    # own = (0.25 + 1) + (1 + 1) = 3.25; cross = |e1-y2|^2 + |e2-y1|^2 = (2.25 + 9) + (1 + 9) = 21.25
    assert float(np.asarray(discriminative_loss(y, e, 0.05))[0, 0]) == pytest.approx(0.5 * (3.25 - 0.05 * 21.25))
    assert float(np.asarray(make_loss(0.0)(y, e))[0, 0]) == pytest.approx(0.5 * 3.25)
    with pytest.raises(ValueError, match="gamma"):
        make_loss(1.5)


# ---------------------------------------------------------------------------------------------
# training on synthetic data


def _synthetic_clip(seed: int, seconds: float = 2.0):
    """Harmonic 'music' (low tones) and a vibrato 'voice' (higher tones), unit energy each."""
    from drnn_singing.data import Clip
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    music = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(80, 300, 3)) + 0.05 * rng.standard_normal(t.size)
    voice = sum(np.sin(2 * np.pi * f * k * t + 3 * np.sin(2 * np.pi * 5 * t)) / k
                for f in rng.uniform(400, 800, 1) for k in (1, 2, 3)) * (np.sin(2 * np.pi * 0.7 * t) > -0.3)
    return Clip(f"synthetic{seed}", F.unit_energy(music), F.unit_energy(voice))


def test_a_few_training_steps_lower_the_loss():
    import keras
    from drnn_singing.data import training_dataset
    from drnn_singing.losses import make_loss
    from drnn_singing.model import build_model
    keras.utils.set_random_seed(0)
    clips = [_synthetic_clip(i) for i in range(3)]
    model = build_model("drnn2", hidden=32)
    model.compile(keras.optimizers.Adam(1e-3), make_loss(0.05))
    ds = training_dataset(clips, shifts_per_clip=1, step=4000, frames_per_batch=200)
    first = model.evaluate(ds, verbose=0)
    model.fit(ds.repeat(), steps_per_epoch=40, epochs=1, verbose=0)
    assert model.evaluate(ds, verbose=0) < 0.7 * first


# ---------------------------------------------------------------------------------------------
# evaluation


def test_evaluation_matches_mir_eval_on_two_real_clips(mir1k_root):
    import keras
    import mir_eval
    from drnn_singing.data import load_split
    from drnn_singing.evaluate import clip_metrics, summarize
    from drnn_singing.model import build_model
    from drnn_singing.separate import Separator
    keras.utils.set_random_seed(0)
    separator = Separator(build_model("drnn2", hidden=16), {"arch": "drnn2"})
    clips = load_split(mir1k_root, "test", limit=2)
    per_clip = [clip_metrics(separator, clip) for clip in clips]
    for clip, got in zip(clips, per_clip):
        mixture = clip.music + clip.voice
        spec = F.stft(mixture)
        out = np.asarray(separator.model(F.add_context(np.abs(spec))[None]))[0]
        est = np.stack([F.resynthesize(out[:, :513], spec), F.resynthesize(out[:, 513:], spec)])
        n = est.shape[1]
        ref = np.stack([clip.music[:n], clip.voice[:n]])
        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(ref, est, compute_permutation=False)
        sdr_mix = mir_eval.separation.bss_eval_sources(ref[1:], mixture[None, :n])[0][0]
        assert got["voice"]["SDR"] == pytest.approx(sdr[1], abs=0.02)
        assert got["voice"]["SIR"] == pytest.approx(sir[1], abs=0.02)
        assert got["voice"]["SAR"] == pytest.approx(sar[1], abs=0.02)
        assert got["voice"]["NSDR"] == pytest.approx(sdr[1] - sdr_mix, abs=0.02)
        assert got["length"] == clip.music.size
    summary = summarize(per_clip)
    lengths = np.array([c["length"] for c in per_clip])
    expected = np.sum(lengths * [c["voice"]["NSDR"] for c in per_clip]) / lengths.sum()
    assert summary["clips"] == 2 and summary["voice"]["GNSDR"] == pytest.approx(expected)
    assert "stderr" not in summary
    with_se = summarize(per_clip, population=825)
    z = lengths * (np.array([c["voice"]["SIR"] for c in per_clip]) - with_se["voice"]["GSIR"]) / lengths.mean()
    assert with_se["stderr"]["population"] == 825
    assert with_se["stderr"]["voice"]["GSIR"] == pytest.approx(np.sqrt((1 - 2 / 825) * np.var(z, ddof=1) / 2))


# ---------------------------------------------------------------------------------------------
# CLIs end to end on a synthetic MIR-1K layout, resume, bad inputs


@pytest.fixture(scope="module")
def synthetic_mir1k(tmp_path_factory):
    import soundfile as sf
    root = tmp_path_factory.mktemp("mir1k")
    names = {"train": ["abjones_1_01", "amy_1_01"], "dev": ["abjones_5_08"], "test": ["Ani_1_01"]}
    seed = 0
    for split, clips in names.items():
        (root / split).mkdir()
        for name in clips:
            clip = _synthetic_clip(seed, seconds=1.5)
            seed += 1
            sf.write(root / split / f"{name}.wav", 0.3 * np.stack([clip.music, clip.voice], 1) * 60, 16000,
                     subtype="PCM_16")
    return root


def test_train_resume_separate_evaluate_clis(synthetic_mir1k, tmp_path, capsys, monkeypatch):
    import keras
    import soundfile as sf
    from drnn_singing import evaluate, separate, train
    out = tmp_path / "run"
    common = ["--root", str(synthetic_mir1k), "--arch", "drnn2", "--hidden", "16", "--shifts-per-clip", "1",
              "--circular-step", "4000", "--frames-per-batch", "100", "--out", str(out)]

    class Interrupt(keras.callbacks.Callback):                             # Ctrl-C during epoch 2
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    make_callbacks = train.make_callbacks
    monkeypatch.setattr(train, "make_callbacks", lambda *a, **k: (make_callbacks(*a, **k)[0] + [Interrupt()], None))
    assert train.main(common + ["--epochs", "3"]) == 2
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(train, "make_callbacks", make_callbacks)
    assert train.main(common + ["--epochs", "3"]) == 2                      # folder taken, no --resume
    assert "pass --resume" in capsys.readouterr().err
    from drnn_singing import data
    first_epochs = []
    training_dataset = data.training_dataset
    monkeypatch.setattr(data, "training_dataset",
                        lambda *a, **k: first_epochs.append(k.get("first_epoch")) or training_dataset(*a, **k))
    assert train.main(common + ["--epochs", "2", "--resume"]) == 0          # runs epoch 2 only
    assert first_epochs == [1]                                              # with epoch 2's mixtures (seed + 1)
    history = (out / "history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]
    assert not (out / "backup").exists()                                    # finished: resume state removed
    assert json.loads((out / "args.json").read_text())["arch"] == "drnn2"
    assert (out / "loss_curve.png").stat().st_size > 1000

    # separation: 44.1 kHz stereo in -> 16 kHz mono files out, the input length kept
    stereo = np.random.default_rng(3).standard_normal((44100, 2)).astype(np.float32) * 0.1
    sf.write(tmp_path / "song.wav", stereo, 44100)
    assert separate.main([str(tmp_path / "song.wav"), "--weights", str(out), "--outdir", str(tmp_path / "sep")]) == 0
    for name in ("vocals", "accompaniment"):
        audio, rate = sf.read(tmp_path / "sep" / "song" / f"{name}.wav")
        assert rate == 16000 and audio.ndim == 1 and audio.size == 16000

    assert evaluate.main(["--root", str(synthetic_mir1k), "--split", "test", "--weights", str(out),
                          "--json", str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["clips"] == 1 and set(result["voice"]) == {"GNSDR", "GSIR", "GSAR"} and "music" in result
    assert result["stderr"]["population"] == 825 and result["stderr"]["voice"]["GSIR"] is None  # 1 clip: undefined

    # shipping drops the optimizer state (Keras 3 keeps Adam's moments in weight checkpoints)
    from drnn_singing import ship
    assert ship.main([str(out), str(tmp_path / "eval.json"), "--dest", str(tmp_path / "shipped")]) == 0
    manifest = json.loads((tmp_path / "shipped" / "manifest.json").read_text())
    assert manifest["test"]["clips"] == 1 and f"--out {out}" in manifest["command"]
    assert manifest["test"]["stderr"]["population"] == 825
    assert (tmp_path / "shipped" / "model.weights.h5").stat().st_size < (out / "model.weights.h5").stat().st_size / 2
    assert separate.main([str(tmp_path / "song.wav"), "--weights", str(tmp_path / "shipped"),
                          "--outdir", str(tmp_path / "sep2")]) == 0
    np.testing.assert_allclose(sf.read(tmp_path / "sep2" / "song" / "vocals.wav")[0],
                               sf.read(tmp_path / "sep" / "song" / "vocals.wav")[0], atol=1e-6)


def test_bad_inputs(tmp_path, capsys):
    import soundfile as sf
    from drnn_singing import separate, train
    assert separate.main([str(tmp_path / "missing.wav"), "--weights", str(tmp_path), "--outdir", str(tmp_path)]) == 2
    assert "model.weights.h5" in capsys.readouterr().err                     # no model in that folder
    (tmp_path / "model.weights.h5").write_bytes(b"not hdf5")
    (tmp_path / "config.json").write_text(json.dumps({"arch": "drnn2", "hidden": 8}))
    sf.write(tmp_path / "short.wav", np.zeros(500, np.float32) + 0.1, 16000)
    assert separate.main([str(tmp_path / "short.wav"), "--weights", str(tmp_path), "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "cannot be loaded" in err and "Traceback" not in err
    assert train.main(["--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "MIR-1K.zip" in capsys.readouterr().err
    assert train.main(["--root", str(tmp_path), "--gamma", "2", "--out", str(tmp_path / "r2")]) == 2
    assert "gamma" in capsys.readouterr().err
    assert train.main(["--root", str(tmp_path), "--resume", "--out", str(tmp_path / "r3")]) == 2
    assert "no training run to resume" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# L-BFGS (Huang's optimiser, through tensorflow-probability) and warm starts


def _tiny_lbfgs_setup(batch: int):
    import keras
    import tensorflow as tf
    from drnn_singing import lbfgs
    from drnn_singing.losses import discriminative_loss
    from drnn_singing.model import build_model
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((6, 10, 24))).astype(np.float32)
    y = np.abs(rng.standard_normal((6, 10, 16))).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = build_model("drnn2", bins=8, context=3, hidden=12)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
    objective = lbfgs.FullBatchObjective(model, lambda t, e: discriminative_loss(t, e, 0.05), dataset)
    return model, objective, x, y


def test_lbfgs_full_batch_objective_and_segments():
    import tensorflow as tf
    from drnn_singing import lbfgs
    from drnn_singing.losses import discriminative_loss
    model, objective, x, y = _tiny_lbfgs_setup(batch=2)
    start = lbfgs.flat_weights(model)
    value, gradient = objective(start)
    with tf.GradientTape() as tape:                        # the same mean over all 60 frames in one batch
        direct = tf.reduce_mean(discriminative_loss(y, model(x), 0.05))
    expected = tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(direct, model.trainable_weights)], 0)
    scale = np.abs(expected.numpy()).sum()                 # minFunc's first step 1/sum|g| (see FullBatchObjective)
    assert objective.scale == pytest.approx(scale, rel=1e-4) and scale > 1
    assert float(value) * objective.scale == pytest.approx(float(direct), rel=1e-5)
    np.testing.assert_allclose(gradient.numpy() * objective.scale, expected.numpy(), rtol=1e-4, atol=1e-6)
    assert gradient.shape == (model.count_params(),)

    # 12 iterations in one call == three segments of 4 (the curvature history is carried over)
    whole = lbfgs.minimize(model, objective, iterations=12, eval_every=12)
    after_whole = lbfgs.flat_weights(model).numpy()
    model2, objective2, _, _ = _tiny_lbfgs_setup(batch=2)
    seen = []
    parts = lbfgs.minimize(model2, objective2, iterations=12, eval_every=4, on_segment=lambda s: seen.append(s.iteration))
    assert seen == [4, 8, 12] and whole.iteration == parts.iteration == 12
    np.testing.assert_allclose(lbfgs.flat_weights(model2).numpy(), after_whole, atol=1e-5)
    assert whole.loss < 0.95 * float(direct)


def test_train_cli_lbfgs_with_resume(synthetic_mir1k, tmp_path, capsys, monkeypatch):
    from drnn_singing import train
    out = tmp_path / "lbfgs"
    common = ["--root", str(synthetic_mir1k), "--arch", "drnn2", "--hidden", "8", "--optimizer", "lbfgs",
              "--lbfgs-iterations", "4", "--eval-every", "2", "--shifts-per-clip", "1", "--circular-step", "4000",
              "--frames-per-batch", "100", "--out", str(out)]
    from drnn_singing import lbfgs

    def missing():
        raise ImportError("No module named 'tensorflow_probability'")
    monkeypatch.setattr(lbfgs, "check_available", missing)              # no tfp: one error line, exit 2
    assert train.main(common) == 2
    assert capsys.readouterr().err.startswith("error: No module named 'tensorflow_probability'")
    monkeypatch.undo()
    dev_scores, calls = train.dev_scores, []

    def interrupt_second(*a):                              # Ctrl-C while scoring the second segment
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return dev_scores(*a)

    monkeypatch.setattr(train, "dev_scores", interrupt_second)
    assert train.main(common) == 2
    assert json.loads((out / "backup" / "state.json").read_text()) == {"iteration": 2}
    monkeypatch.setattr(train, "dev_scores", dev_scores)
    assert train.main(common + ["--resume"]) == 0
    assert "resuming L-BFGS at iteration 2" in capsys.readouterr().out
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,loss,evaluations,val_gnsdr") and [r.split(",")[0] for r in rows[1:]] == ["1", "3"]
    assert (out / "model.weights.h5").exists() and (out / "loss_curve.png").exists() and not (out / "backup").exists()


def test_init_weights_warm_start(tmp_path):
    import keras
    from drnn_singing.model import build_model
    from drnn_singing.train import TrainingError, init_from
    keras.utils.set_random_seed(1)
    source = build_model("drnn2", hidden=8)
    source.save_weights(str(tmp_path / "model.weights.h5"))
    (tmp_path / "config.json").write_text(json.dumps({"arch": "drnn2", "hidden": 8, "layers": 3, "gamma": 0.05}))
    target = build_model("drnn2", hidden=8, seed=5)
    assert not np.allclose(target.get_weights()[0], source.get_weights()[0])
    init_from(target, "drnn2", 8, 3, tmp_path)
    for a, b in zip(target.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TrainingError, match="holds"):
        init_from(build_model("dnn", hidden=8), "dnn", 8, 3, tmp_path)


def test_separate_silent_and_shorter_than_one_frame(tmp_path, capsys):
    """A silent input gives silent outputs (exit 0); an input shorter than one 1024-sample frame is
    padded and its outputs have its length. With a 'network' that gives all of the mixture to the
    accompaniment, the short input comes back whole (the padding keeps it off the attenuated edges)."""
    import soundfile as sf
    from drnn_singing import separate
    from drnn_singing.model import build_model

    class AllToMusic:  # __call__(features (T, 3*513), block) -> (T, 1026) = [mixture magnitude, 0]
        def __call__(self, feats, block_frames=0):
            centre = feats[:, 513:1026]
            return np.concatenate([centre, np.zeros_like(centre)], axis=1)

    rng = np.random.default_rng(3)
    for length in (1, 300, 512, 1023):
        short = (0.1 * rng.standard_normal(length)).astype(np.float32)
        out = separate.separate_signal(AllToMusic(), short)
        assert out["accompaniment"].shape == out["vocals"].shape == (length,)
        np.testing.assert_allclose(out["accompaniment"], short, atol=2e-6)
        assert not np.any(out["vocals"])
    out = separate.separate_signal(AllToMusic(), np.zeros(5000, np.float32))
    assert out["vocals"].shape == (5000,) and not np.any(out["vocals"]) and not np.any(out["accompaniment"])

    model = build_model("drnn2", hidden=8)
    model.save_weights(str(tmp_path / "model.weights.h5"))
    (tmp_path / "config.json").write_text(json.dumps({"arch": "drnn2", "hidden": 8}))
    sf.write(tmp_path / "silent.wav", np.zeros((24000, 2), np.float32), 44100)
    sf.write(tmp_path / "short.wav", (0.1 * rng.standard_normal(700)).astype(np.float32), 16000)
    assert separate.main([str(tmp_path / "silent.wav"), str(tmp_path / "short.wav"), "--weights", str(tmp_path),
                          "--outdir", str(tmp_path / "sep")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    silent_vocals, rate = sf.read(tmp_path / "sep" / "silent" / "vocals.wav")
    assert rate == 16000 and silent_vocals.shape == (8708,) and not np.any(silent_vocals)  # 24000 at 44.1 kHz -> ceil(24000 * 160 / 441)
    for source in ("vocals", "accompaniment"):
        wave, _ = sf.read(tmp_path / "sep" / "short" / f"{source}.wav")
        assert wave.shape == (700,) and np.all(np.isfinite(wave))


def test_weight_average_is_what_dev_scores_and_checkpoints_see(synthetic_mir1k, tmp_path, capsys, monkeypatch):
    """--ema m: the weights checkpointed at the end of an epoch are the moving average of the training weights
    after each step (a_1 = w_1, a_t = m a_(t-1) + (1 - m) w_t, computed here by hand), the dev figures in the
    history are those of the averaged weights, and training continues from the raw weights."""
    import keras
    from drnn_singing import data, separate, train

    steps = []                                                     # the raw weights after every step

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append([np.array(v) for v in self.model.trainable_weights])

    make_callbacks = train.make_callbacks
    monkeypatch.setattr(train, "make_callbacks", lambda *a, **k: (make_callbacks(*a, **k)[0] + [Record()], None))
    out, m = tmp_path / "ema", 0.5
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "drnn2", "--hidden", "8", "--shifts-per-clip", "1",
                       "--circular-step", "4000", "--frames-per-batch", "100", "--epochs", "2", "--ema", str(m),
                       "--out", str(out)]) == 0
    assert len(steps) % 2 == 0 and len(steps) >= 4
    average = steps[0]
    for w in steps[1:len(steps) // 2]:                              # epoch 1
        average = [m * a + (1 - m) * x for a, x in zip(average, w)]
    for w in steps[len(steps) // 2:]:                               # epoch 2: from the raw weights, not the average
        average = [m * a + (1 - m) * x for a, x in zip(average, w)]
    model = separate.load_separator(out / "last.weights.h5").model
    for saved, expected in zip(model.trainable_weights, average):
        np.testing.assert_allclose(np.array(saved), expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(np.array(model.trainable_weights[0]), steps[-1][0])   # the average, not the last step
    config = json.loads((out / "config.json").read_text())
    dev = train.dev_scores(model, config, data.load_split(synthetic_mir1k, "dev"))
    last = (out / "history.csv").read_text().strip().splitlines()
    header, row = last[0].split(","), last[-1].split(",")
    assert float(row[header.index("val_gnsdr")]) == pytest.approx(dev["val_gnsdr"], abs=1e-4)
    assert train.main(["--root", str(synthetic_mir1k), "--ema", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert "--ema must be in [0, 1)" in capsys.readouterr().err


def test_input_standardisation_for_the_recurrent_stacks(synthetic_mir1k, tmp_path, capsys):
    """--input-norm standardize: the per-bin statistics of the training mixtures are in the weights (equal
    to a hand computation), the run folder says so, separate rebuilds the same model; Huang's networks
    refuse it."""
    from drnn_singing import data, features as F, separate, train

    out = tmp_path / "lstm"
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "lstm3x1000", "--hidden", "8", "--layers", "1",
                       "--input-norm", "standardize", "--shifts-per-clip", "1", "--circular-step", "4000",
                       "--frames-per-batch", "100", "--epochs", "1", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["input_norm"] is True
    clips = data.load_split(synthetic_mir1k, "train")
    mags = np.concatenate([np.abs(F.stft(c.music + c.voice)) for c in clips]).astype(np.float64)
    loaded = separate.load_separator(out)
    mean, scale = (np.asarray(w) for w in loaded.model.get_layer("input_norm").weights)
    np.testing.assert_allclose(mean, mags.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(scale, 1 / mags.std(axis=0), rtol=1e-4)
    feats = F.add_context(mags[:50].astype(np.float32))
    normalised = loaded(feats)
    loaded.model.get_layer("input_norm").set_weights([np.zeros_like(mean), np.ones_like(scale)])
    assert not np.allclose(normalised, loaded(feats))   # the layer is applied
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "drnn2", "--input-norm", "standardize",
                       "--out", str(tmp_path / "x")]) == 2
    assert "--input-norm applies to lstm3x1000" in capsys.readouterr().err


def test_recurrent_stack_reading_huangs_context(synthetic_mir1k, tmp_path, capsys):
    """--recurrent-input context: the LSTM reads the 3-frame features (513 * 3 inputs: +4.1 M parameters at full
    size), so its output at frame t depends on frame t+1, which the frame-input LSTM never sees; the run folder
    says so and separate rebuilds it; Huang's networks and the standardised input refuse it."""
    from drnn_singing import features as F, separate, train
    from drnn_singing.model import build_model

    assert build_model("lstm3x1000", recurrent_input="context").count_params() == \
        build_model("lstm3x1000").count_params() + 2 * 513 * 4 * 1000
    rng = np.random.default_rng(0)
    mags = rng.uniform(0.1, 1.0, (12, 8)).astype(np.float32)
    later = mags.copy()
    later[6] += 1.0                                              # change frame 6 only
    for recurrent_input, looks_ahead in (("frame", False), ("context", True)):
        model = build_model("lstm3x1000", bins=8, hidden=4, n_layers=1, recurrent_input=recurrent_input)
        a, b = (model.predict(F.add_context(m)[None], verbose=0)[0] for m in (mags, later))
        np.testing.assert_array_equal(a[:5], b[:5])              # no network sees two frames ahead
        assert (not np.allclose(a[5], b[5])) == looks_ahead      # frame 5 sees frame 6 only through the context

    out = tmp_path / "lstm"
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "lstm3x1000", "--hidden", "8", "--layers", "1",
                       "--recurrent-input", "context", "--shifts-per-clip", "1", "--circular-step", "4000",
                       "--frames-per-batch", "100", "--epochs", "1", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["recurrent_input"] == "context"
    loaded = separate.load_separator(out)
    assert loaded.model.get_layer("lstm1_input").kernel.shape == (3 * 513, 4 * 8)
    for argv in (["--arch", "drnn2"], ["--input-norm", "standardize"]):
        assert train.main(["--root", str(synthetic_mir1k), *argv, "--recurrent-input", "context",
                           "--out", str(tmp_path / "x")]) == 2
        assert "--recurrent-input context applies to" in capsys.readouterr().err


def test_relu_heads_at_zero_stop_the_gradient_linear_heads_do_not(synthetic_mir1k, tmp_path, capsys):
    """Under the mask, a ReLU head at 0 gives its source a 0 mask and the other a mask of 1 whatever its value:
    no head parameter gets a gradient from that point. --head-activation linear (Huang's output, the mask
    taking |.|) keeps one; the run folder records the choice and separate rebuilds it; Huang's networks refuse it."""
    import tensorflow as tf
    from drnn_singing import features as F, separate, train
    from drnn_singing.losses import discriminative_loss
    from drnn_singing.model import build_model

    rng = np.random.default_rng(1)
    mags = rng.uniform(0.1, 1.0, (6, 8)).astype(np.float32)
    target = np.concatenate([0.5 * mags, 0.5 * mags], axis=-1)[None]
    norms = {}
    for activation in ("relu", "linear"):
        model = build_model("lstm3x1000", bins=8, hidden=4, n_layers=1, head_activation=activation)
        head = model.get_layer("head_vocals")
        head.bias.assign(np.full(8, -100.0, np.float32))             # the voice head's pre-activation < 0 everywhere
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(discriminative_loss(target, model(F.add_context(mags)[None]), 0.1))
        variables = [v.value for name in ("head_vocals", "head_accompaniment") for v in model.get_layer(name).weights]
        norms[activation] = float(tf.linalg.global_norm(tape.gradient(loss, variables)))
    assert norms["relu"] < 1e-4 * norms["linear"]      # what is left comes from the mask's eps

    out = tmp_path / "lstm"
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "lstm3x1000", "--hidden", "8", "--layers", "1",
                       "--head-activation", "linear", "--shifts-per-clip", "1", "--circular-step", "4000",
                       "--frames-per-batch", "100", "--epochs", "1", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["head_activation"] == "linear"
    assert separate.load_separator(out).model.get_layer("head_vocals").activation.__name__ == "linear"
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "drnn2", "--head-activation", "linear",
                       "--out", str(tmp_path / "x")]) == 2
    assert "--head-activation applies to" in capsys.readouterr().err


def test_dropout_between_recurrent_layers_in_training_only(synthetic_mir1k, tmp_path, capsys):
    """--dropout (Open-Unmix's placement: between the recurrent layers, not after the last) changes the training
    outputs only: same weights and parameter count, inference equal to the dropout-0 network's; the run folder
    records it, a resume keeps it, Huang's networks refuse it."""
    from drnn_singing import features as F, train
    from drnn_singing.model import build_model

    plain = build_model("lstm3x1000", bins=8, hidden=6, n_layers=3, seed=3)
    dropped = build_model("lstm3x1000", bins=8, hidden=6, n_layers=3, seed=3, dropout=0.5)
    assert [layer.name for layer in dropped.layers if "dropout" in layer.name] == ["dropout1", "dropout2"]
    assert dropped.count_params() == plain.count_params()
    dropped.set_weights(plain.get_weights())
    x = F.add_context(np.random.default_rng(0).uniform(0.1, 1.0, (20, 8)).astype(np.float32))[None]
    np.testing.assert_allclose(dropped(x, training=False), plain(x, training=False), rtol=1e-6)
    assert np.abs(np.asarray(dropped(x, training=True)) - np.asarray(plain(x, training=True))).max() > 1e-3
    with pytest.raises(ValueError, match="--dropout must be in"):
        build_model("lstm3x1000", bins=8, hidden=6, n_layers=2, dropout=1.0)

    out = tmp_path / "lstm"
    common = ["--root", str(synthetic_mir1k), "--arch", "lstm3x1000", "--hidden", "8", "--layers", "2",
              "--shifts-per-clip", "1", "--circular-step", "4000", "--frames-per-batch", "100", "--out", str(out)]
    assert train.main([*common, "--dropout", "0.4", "--epochs", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["dropout"] == 0.4
    args = train.parse_args([*common, "--resume"])
    train.resolve_defaults(args, out)
    assert args.dropout == 0.4
    assert train.main(["--root", str(synthetic_mir1k), "--arch", "drnn2", "--dropout", "0.2",
                       "--out", str(tmp_path / "x")]) == 2
    assert "--dropout applies to" in capsys.readouterr().err
    assert train.main([*common[:-2], "--optimizer", "lbfgs", "--dropout", "0.4", "--out", str(tmp_path / "y")]) == 2
    assert "--dropout applies to Adam" in capsys.readouterr().err


def test_defaults_by_architecture_and_kept_on_resume(tmp_path):
    """A new LSTM run takes the dev-chosen recipe (gamma 0.1, linear heads, dropout 0.4, weight average 0.999, remix
    0.5, pitch shift 2; no dropout, average or new mixtures under L-BFGS), Huang's networks gamma 0.05 and nothing
    else, all on raw frames; a resumed run keeps what it started with even where the defaults have changed since, a
    missing key meaning the old value."""
    from drnn_singing.train import parse_args, resolve_defaults

    def resolved(*argv):
        args = parse_args([*argv, "--out", str(tmp_path)])
        resolve_defaults(args, tmp_path)
        return args.gamma, args.input_norm, args.recurrent_input, args.head_activation, args.dropout, args.ema

    def mixtures(*argv):
        args = parse_args([*argv, "--out", str(tmp_path)])
        resolve_defaults(args, tmp_path)
        return args.remix, args.pitch_shift

    assert resolved() == (0.1, "none", "frame", "linear", 0.4, 0.999)                  # the default arch: lstm3x1000
    assert mixtures() == (0.5, 2) and mixtures("--remix", "0", "--pitch-shift", "0") == (0.0, 0)
    assert mixtures("--optimizer", "lbfgs") == (0.0, 0) and mixtures("--arch", "drnn2") == (0.0, 0)
    assert resolved("--optimizer", "lbfgs") == (0.1, "none", "frame", "linear", 0.0, 0.0)
    assert resolved("--arch", "drnn2") == (0.05, "none", "frame", "relu", 0.0, 0.0)
    assert resolved("--arch", "gru3x256") == (0.05, "none", "frame", "relu", 0.0, 0.0)  # andabi's
    assert resolved("--input-norm", "standardize", "--gamma", "0.5", "--head-activation", "relu", "--dropout", "0",
                    "--ema", "0") == (0.5, "standardize", "frame", "relu", 0.0, 0.0)
    # a run started before these options existed: ReLU heads, no dropout, no average (no args.json)
    (tmp_path / "config.json").write_text(json.dumps({"arch": "lstm3x1000", "gamma": 0.5, "input_norm": True}))
    assert resolved("--resume") == (0.5, "standardize", "frame", "relu", 0.0, 0.0)     # what the run started with
    assert mixtures("--resume") == (0.0, 0)                                             # Huang's shifts only
    assert resolved("--resume", "--gamma", "0.2") == (0.2, "standardize", "frame", "relu", 0.0, 0.0)   # the command wins
    assert resolved() == (0.1, "none", "frame", "linear", 0.4, 0.999)                  # a new run ignores the folder
    (tmp_path / "config.json").write_text(json.dumps({"arch": "lstm3x1000", "gamma": 0.1, "recurrent_input": "context"}))
    (tmp_path / "args.json").write_text(json.dumps({"ema": 0.0}))
    assert resolved("--resume") == (0.1, "none", "context", "relu", 0.0, 0.0)
    (tmp_path / "config.json").write_text(json.dumps({"arch": "lstm3x1000", "gamma": 0.1, "head_activation": "linear",
                                                      "dropout": 0.4}))
    (tmp_path / "args.json").write_text(json.dumps({"ema": 0.999}))
    assert resolved("--resume") == (0.1, "none", "frame", "linear", 0.4, 0.999)


@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5])
def test_discriminative_optimum_is_biased_by_gamma(gamma):
    """Under the mask (estimates summing to z = y1 + y2), the loss's best music estimate is
    y1 + gamma / (1 - gamma) * (y1 - y2), clipped to [0, z]: 2*y1 - y2 for the blog's gamma 0.5 (README,
    "3 x LSTM(1000)"), 1.11*y1 - 0.11*y2 for 0.1. Checked by a grid search over the mask with the loss itself."""
    from drnn_singing.losses import discriminative_loss
    from drnn_singing.train import default_gamma
    assert default_gamma("lstm3x1000") == 0.1 and default_gamma("drnn2") == 0.05
    rng = np.random.default_rng(1)
    y1, y2 = rng.uniform(0.1, 1.0, 64), rng.uniform(0.1, 1.0, 64)
    z = y1 + y2
    masks = np.linspace(0, 1, 20001)[:, None]                                 # (grid, bins)
    est1, est2 = masks * z, (1 - masks) * z
    per_bin = 0.5 * ((est1 - y1) ** 2 + (est2 - y2) ** 2 - gamma * (est1 - y2) ** 2 - gamma * (est2 - y1) ** 2)
    # the same numbers as the library function on a few grid points
    pick = [0, 7000, 20000]
    lib = np.asarray(discriminative_loss(np.concatenate([y1, y2])[None, None].repeat(3, 1),
                                         np.concatenate([est1[pick], est2[pick]], axis=1)[None], gamma))[0]
    np.testing.assert_allclose(lib, per_bin[pick].sum(axis=1), rtol=1e-5)
    best = est1[np.argmin(per_bin, axis=0), np.arange(64)]
    expected = np.clip(y1 + gamma / (1 - gamma) * (y1 - y2), 0, z)
    np.testing.assert_allclose(best, expected, atol=2e-4 * z.max())


def _drnn_folder(folder, seed, hidden=8):
    from drnn_singing.model import build_model
    folder.mkdir(parents=True)
    model = build_model("drnn2", hidden=hidden, seed=seed)
    model.save_weights(str(folder / "model.weights.h5"))
    (folder / "config.json").write_text(json.dumps({"arch": "drnn2", "hidden": hidden, "layers": 3, "gamma": 0.1,
                                                    "label": "tiny drnn2"}))
    return model


def test_backup_every_steps_resumes_a_run_stopped_mid_epoch(synthetic_mir1k, tmp_path, capsys, monkeypatch):
    """--backup-every N: a run stopped in the middle of an epoch resumes from the weights of its last step backup
    (not from the previous epoch's end) and restarts that epoch; the history has each epoch once."""
    import keras
    from drnn_singing import train
    out = tmp_path / "run"
    common = ["--root", str(synthetic_mir1k), "--arch", "drnn2", "--hidden", "16", "--shifts-per-clip", "1",
              "--circular-step", "4000", "--frames-per-batch", "100", "--out", str(out), "--backup-every", "1"]
    seen = {}

    class StopInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.setdefault("epoch_end", [np.array(w) for w in self.model.get_weights()])

        def on_train_batch_end(self, batch, logs=None):
            if len(seen) == 1 and batch == 1:
                seen["stopped"] = [np.array(w) for w in self.model.get_weights()]
                raise KeyboardInterrupt

    make_callbacks = train.make_callbacks
    monkeypatch.setattr(train, "make_callbacks",
                        lambda *a, **k: (make_callbacks(*a, **k)[0] + [StopInSecondEpoch()], None))
    assert train.main(common + ["--epochs", "2"]) == 2
    assert json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"] == 1

    class CheckStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):          # after BackupAndRestore (earlier in the list) restored
            seen.setdefault("resumed", [np.array(w) for w in self.model.get_weights()])

    class StopAgain(CheckStart):                      # the resumed run is stopped mid-epoch too
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                seen["stopped_again"] = [np.array(w) for w in self.model.get_weights()]
                raise KeyboardInterrupt

    monkeypatch.setattr(train, "make_callbacks", lambda *a, **k: (make_callbacks(*a, **k)[0] + [StopAgain()], None))
    assert train.main(common + ["--epochs", "2", "--resume"]) == 2
    for resumed, stopped in zip(seen["resumed"], seen["stopped"]):
        np.testing.assert_array_equal(resumed, stopped)            # the step backup, two steps into epoch 2
    # its step backups still belong to epoch 2 (Keras alone would write epoch 0 here and restart the count)
    assert json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    del seen["resumed"]
    monkeypatch.setattr(train, "make_callbacks", lambda *a, **k: (make_callbacks(*a, **k)[0] + [CheckStart()], None))
    assert train.main(common + ["--epochs", "2", "--resume"]) == 0
    for resumed, stopped in zip(seen["resumed"], seen["stopped_again"]):
        np.testing.assert_array_equal(resumed, stopped)
    assert any(not np.array_equal(a, b) for a, b in zip(seen["stopped"], seen["epoch_end"]))
    history = (out / "history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]
    capsys.readouterr()
    assert train.main(common[:-2] + ["--out", str(tmp_path / "bad"), "--backup-every", "-1"]) == 2
    assert "--backup-every" in capsys.readouterr().err


def test_resume_replays_early_stopping_and_the_learning_rate_schedule(tmp_path):
    """On --resume, early stopping and the learning-rate halving continue from history.csv as if the run had
    never stopped (Keras alone restarts both counts at 0, so each resume postponed the next halving by up to
    --lr-patience epochs), and the halving due at the end of the last logged epoch is applied once: an
    epoch-end backup is saved before it, a step backup after it."""
    import keras
    from drnn_singing import train
    from drnn_singing.model import build_model

    gnsdr = [1.0, 2.0, 2.5, 2.4, 2.3, 2.2, 2.45]
    rate = [3e-4] * 5 + [1.5e-4] * 2          # halved after epoch 4 (two epochs without a gain)

    def resumed(rows, restored_rate):
        folder = tmp_path / f"run{rows}_{restored_rate}"
        folder.mkdir()
        if rows:
            (folder / "history.csv").write_text("epoch,learning_rate,loss,val_gnsdr\n" + "".join(
                f"{i},{rate[i]},0.1,{gnsdr[i]}\n" for i in range(rows)))
        callbacks, _ = train.make_callbacks(folder, ["dev"], 5, {}, lr_patience=2)
        model = build_model("drnn2", hidden=4)
        model.compile(optimizer=keras.optimizers.Adam(restored_rate), loss="mse")
        stopping, plateau = (next(c for c in callbacks if isinstance(c, kind)) for kind in
                             (keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau))
        for callback in (stopping, plateau):
            callback.set_model(model)
            callback.on_train_begin()
        return stopping.best, stopping.wait, plateau.best, plateau.wait, float(model.optimizer.learning_rate)

    assert resumed(0, 3e-4) == (None, 0, None, 0, pytest.approx(3e-4))                # a fresh run
    assert resumed(6, 1.5e-4) == (2.5, 3, 2.5, 1, pytest.approx(1.5e-4))             # nothing due yet
    assert resumed(7, 1.5e-4) == (2.5, 4, 2.5, 0, pytest.approx(7.5e-5))             # due: epoch-end backup
    assert resumed(7, 7.5e-5) == (2.5, 4, 2.5, 0, pytest.approx(7.5e-5))             # step backup: done once


def test_bag_averages_members_and_scores_each_on_dev(synthetic_mir1k, tmp_path, capsys):
    """A bag's output is the mean of its members' masked magnitudes; bag.json holds each member's and the bag's dev
    scores, equal to evaluating them one by one; one member file still runs alone; mismatched runs are refused."""
    from drnn_singing import bag, data, evaluate, separate
    from drnn_singing.train import TrainingError, init_from

    members = [_drnn_folder(tmp_path / f"run{seed}", seed) for seed in (1, 2)]
    out = tmp_path / "bag"
    assert bag.main([str(tmp_path / "run1"), str(tmp_path / "run2"), "--out", str(out),
                     "--root", str(synthetic_mir1k)]) == 0
    report = json.loads((out / "bag.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["members"] == ["member0.weights.h5", "member1.weights.h5"] and config["arch"] == "drnn2"

    loaded = separate.load_separator(out)
    assert len(loaded.models) == 2
    clip = data.load_split(synthetic_mir1k, "dev")[0]
    feats = F.add_context(np.abs(F.stft(clip.music + clip.voice)))
    expected = np.mean([np.asarray(m(feats[None]))[0] for m in members], axis=0)
    np.testing.assert_allclose(loaded(feats), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loaded(feats, block_frames=10), np.concatenate(
        [np.mean([np.asarray(m(feats[None, s:s + 10]))[0] for m in members], axis=0)
         for s in range(0, len(feats), 10)]), rtol=1e-5, atol=1e-7)

    dev = data.load_split(synthetic_mir1k, "dev")
    for key, separator in ((str(tmp_path / "run1"), separate.load_separator(tmp_path / "run1")),
                           ("bag", loaded)):
        summary, _ = evaluate.evaluate_clips(separator, dev)
        for metric in ("GNSDR", "GSIR", "GSAR"):
            assert report["voice"][key][metric] == pytest.approx(summary["voice"][metric], abs=1e-6)
    alone = separate.load_separator(out / "member1.weights.h5")          # one member of the bag, alone
    assert len(alone.models) == 1 and "members" not in alone.config
    assert alone.config["label"] == "tiny drnn2, bag of 2: member1.weights.h5 alone"
    np.testing.assert_allclose(alone(feats), np.asarray(members[1](feats[None]))[0], rtol=1e-5, atol=1e-7)

    # shipping the bag: members described from a run's args.json + history.csv or a shipped model's manifest
    from drnn_singing import ship
    (tmp_path / "run1" / "args.json").write_text(json.dumps({"arch": "drnn2", "gamma": 0.1, "seed": 1,
                                                             "command": "python -m drnn_singing.train --seed 1"}))
    (tmp_path / "run1" / "history.csv").write_text("epoch,val_gnsdr,val_gsir,val_gsar\n0,5.0,9,8\n1,6.5,10,9\n2,6.0,9,9\n")
    (tmp_path / "run2" / "manifest.json").write_text(json.dumps({"command": "python -m drnn_singing.train --seed 2",
                                                                 "best_epoch": 7, "test": {"clips": 165}}))
    (tmp_path / "eval.json").write_text(json.dumps({"clips": 1, "voice": {"GNSDR": 1.0}, "music": {"GNSDR": 2.0}}))
    dest = tmp_path / "shipped"
    dest.mkdir()
    for stale in ("model.weights.h5", "history.csv"):                     # the single model the bag replaces
        (dest / stale).write_text("old")
    assert ship.main([str(out), str(tmp_path / "eval.json"), "--dest", str(dest)]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert not (dest / "model.weights.h5").exists() and not (dest / "history.csv").exists()
    assert sorted(manifest["files"]) == sorted(p.name for p in dest.iterdir() if p.name != "manifest.json") == [
        "bag.json", "config.json", "history_member0.csv", "member0.weights.h5", "member1.weights.h5"]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == digest
    first, second = manifest["members"]
    assert first["best_epoch"] == 2 and first["dev_at_best"]["val_gnsdr"] == 6.5 and first["epochs_run"] == 3
    assert first["dev"] == report["voice"][str(tmp_path / "run1")] and second["best_epoch"] == 7
    assert manifest["command"][:2] == ["python -m drnn_singing.train --seed 1", "python -m drnn_singing.train --seed 2"]
    assert manifest["command"][2].startswith("python -m drnn_singing.bag ")
    assert manifest["bag_dev"]["voice"] == report["voice"]["bag"] and manifest["test"]["clips"] == 1
    np.testing.assert_allclose(separate.load_separator(dest)(feats), loaded(feats), rtol=1e-6, atol=1e-8)
    (tmp_path / "run2" / "manifest.json").unlink()
    capsys.readouterr()
    assert ship.main([str(out), str(tmp_path / "eval.json"), "--dest", str(tmp_path / "s2")]) == 2
    err = capsys.readouterr().err
    assert "run2: neither args.json" in err and len(err.strip().splitlines()) == 1

    with pytest.raises(TrainingError, match="bag of 2"):
        init_from(members[0], "drnn2", 8, 3, out)
    _drnn_folder(tmp_path / "wide", 3, hidden=12)
    capsys.readouterr()
    assert bag.main([str(tmp_path / "run1"), str(tmp_path / "wide"), "--out", str(tmp_path / "b2"),
                     "--root", str(synthetic_mir1k)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "hidden" in err and len(err.strip().splitlines()) == 1
    (out / "member0.weights.h5").unlink()
    with pytest.raises(separate.ModelFileError, match="bag member"):
        separate.load_separator(out)


def test_int8_weights_quantize_ship_and_separate(tmp_path, capsys):
    """quantize.py: int8 codes with a scale per output column (every weight within scale / 2), about a quarter of
    the float32 file; a quantised run folder separates as the float model within the quantisation error, ships
    as it is, and refuses another architecture naming its file."""
    from drnn_singing import quantize, ship
    from drnn_singing.model import build_model
    from drnn_singing.separate import ModelFileError, load_separator

    w = np.random.default_rng(0).normal(size=(30, 12)).astype(np.float32)
    w[:, 3] = 0.0
    codes, scales = quantize.quantize_matrix(w)
    assert codes.dtype == np.int8 and scales.shape == (12,) and np.abs(codes).max() == 127
    assert np.all(np.abs(codes * scales - w) <= scales / 2 + 1e-7) and not codes[:, 3].any()

    run = tmp_path / "run"
    run.mkdir()
    import keras
    keras.utils.set_random_seed(0)
    model = build_model("lstm3x1000", hidden=24, n_layers=2, seed=0, head_activation="linear")
    model.save_weights(str(run / "model.weights.h5"))
    config = {"arch": "lstm3x1000", "hidden": 24, "layers": 2, "gamma": 0.1, "label": "tiny",
              "head_activation": "linear", "dropout": 0.4}
    (run / "config.json").write_text(json.dumps(config))
    (run / "args.json").write_text(json.dumps({"arch": "lstm3x1000", "gamma": 0.1, "command": "python -m x"}))
    (run / "history.csv").write_text("epoch,val_gnsdr,val_gsir,val_gsar\n0,1.0,2.0,3.0\n")
    out = tmp_path / "int8"
    assert quantize.main([str(run), str(out)]) == 0
    assert (out / "model.int8.npz").stat().st_size < (run / "model.weights.h5").stat().st_size / 3
    assert not (out / "model.weights.h5").exists() and (out / "config.json").is_file()

    # the heads before the mask (at a random initialisation the mask divides near-zeros): within 3 % of their peak
    # (measured 0.6-1.6 % over 12 initialisations: each weight is off by up to 1/254 of its column's peak)
    feats = F.add_context(np.random.default_rng(1).uniform(0.0, 0.5, (40, P.N_BINS)).astype(np.float32))
    float_separator, int8_separator = load_separator(run), load_separator(out)
    heads = [np.asarray(keras.Model(s.model.inputs, s.model.get_layer("heads").output)(feats[None]))
             for s in (float_separator, int8_separator)]
    assert 0 < np.abs(heads[1] - heads[0]).max() < 0.03 * np.abs(heads[0]).max()     # quantised, not equal; close
    approx = int8_separator(feats)

    eval_json = tmp_path / "eval.json"
    eval_json.write_text(json.dumps({"clips": 1, "voice": {"GNSDR": 1.0, "GSIR": 2.0, "GSAR": 3.0},
                                     "music": {"GNSDR": 1.0, "GSIR": 2.0, "GSAR": 3.0}}))
    dest = tmp_path / "shipped"
    assert ship.main([str(out), str(eval_json), "--dest", str(dest)]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["weights_file"]["name"] == "model.int8.npz" and manifest["weights_file"]["dtype"].startswith("int8")
    assert (dest / "model.int8.npz").read_bytes() == (out / "model.int8.npz").read_bytes()
    np.testing.assert_array_equal(load_separator(dest)(feats), approx)
    capsys.readouterr()
    assert ship.main([str(out), str(eval_json), "--dest", str(dest), "--extra", '{"a": 1}']) == 2   # a path is meant
    assert "--extra" in (err := capsys.readouterr().err) and "not a readable JSON file" in err and err.count("\n") == 1

    (out / "config.json").write_text(json.dumps({**config, "hidden": 16}))
    with pytest.raises(ModelFileError, match="model.int8.npz"):
        load_separator(out)
    assert quantize.main([str(run), str(run)]) == 2 and "another folder" in capsys.readouterr().err


def test_weight_decay_is_decoupled_and_kept_on_resume(synthetic_mir1k, tmp_path, capsys, monkeypatch):
    """--weight-decay d: AdamW's first step differs from Adam's by exactly -lr * d * w0 (the decay does not pass
    through Adam's moments); recorded in args.json and kept on --resume; refused with L-BFGS."""
    import keras
    from drnn_singing import train

    weights = {}

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0 and "start" not in weights.setdefault(self.run, {}):
                weights[self.run]["start"] = [np.array(v) for v in self.model.trainable_weights]

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0 and "step1" not in weights[self.run]:
                weights[self.run]["step1"] = [np.array(v) for v in self.model.trainable_weights]

    make_callbacks = train.make_callbacks
    lr, decay = 1e-3, 0.5
    common = ["--root", str(synthetic_mir1k), "--arch", "drnn2", "--hidden", "8", "--shifts-per-clip", "1",
              "--circular-step", "4000", "--frames-per-batch", "100", "--epochs", "1", "--lr", str(lr)]
    for run, extra in (("adam", []), ("adamw", ["--weight-decay", str(decay)])):
        recorder = Record()
        recorder.run = run
        monkeypatch.setattr(train, "make_callbacks",
                            lambda *a, _r=recorder, **k: (make_callbacks(*a, **k)[0] + [_r], None))
        assert train.main([*common, *extra, "--out", str(tmp_path / run)]) == 0
    for w0, plain, decayed, w0b in zip(weights["adam"]["start"], weights["adam"]["step1"], weights["adamw"]["step1"],
                                       weights["adamw"]["start"]):
        np.testing.assert_array_equal(w0, w0b)
        np.testing.assert_allclose(decayed - plain, -lr * decay * w0, atol=1e-6)
    assert np.abs(weights["adamw"]["start"][0]).max() > 0.01                    # a visible decay
    assert json.loads((tmp_path / "adamw" / "args.json").read_text())["weight_decay"] == decay
    (tmp_path / "adamw" / "backup").mkdir()
    args = train.parse_args([*common, "--out", str(tmp_path / "adamw"), "--resume"])
    train.resolve_defaults(args, tmp_path / "adamw")
    assert args.weight_decay == decay
    assert train.main([*common, "--optimizer", "lbfgs", "--weight-decay", "0.1", "--out", str(tmp_path / "y")]) == 2
    assert "--weight-decay applies to Adam" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# augmentation beyond Huang's shifts (--remix, --pitch-shift)


def _tone_clip(name: str, music_hz: float, voice_hz: float, seconds: float):
    from drnn_singing import features as F
    from drnn_singing.data import Clip
    t = np.arange(int(16000 * seconds)) / 16000
    return Clip(name, F.unit_energy(np.sin(2 * np.pi * music_hz * t)), F.unit_energy(np.sin(2 * np.pi * voice_hz * t)))


def _peak_hz(magnitudes: np.ndarray) -> float:
    """Frequency of the largest bin of the summed (frames, 513) magnitudes (1024-point FFT at 16 kHz)."""
    return float(np.argmax(magnitudes.sum(axis=0))) * 16000 / 1024


def test_remix_pairs_each_voice_with_another_clips_music_at_0db():
    """remix 1: every mixture's music comes from the other clip (two clips with their own tones), is cut or
    repeated to the voice's length and has unit energy; remix 0 keeps each clip's own music."""
    from drnn_singing.data import Augmentation, borrowed_music, training_chunks
    clips = [_tone_clip("a", 250, 1000, 1.0), _tone_clip("b", 2000, 3000, 2.5)]
    own_music = {1000: 250, 3000: 2000}
    other_music = {1000: 2000, 3000: 250}
    for remix, expected in ((1.0, other_music), (0.0, own_music)):
        pairs = 0
        for _, targets in training_chunks(clips, step=4000, seed=3, augment=Augmentation(remix=remix))():
            if targets.shape[0] < 10:
                continue
            voice_hz, music_hz = _peak_hz(targets[:, 513:]), _peak_hz(targets[:, :513])
            nearest = min(expected, key=lambda hz: abs(hz - voice_hz))
            assert abs(voice_hz - nearest) < 20 and abs(music_hz - expected[nearest]) < 20, (remix, voice_hz, music_hz)
            pairs += 1
        assert pairs > 10
    rng = np.random.default_rng(0)
    for own, n in ((0, 40000), (1, 9000)):                # longer than b's music (repeated), shorter than a's (cut)
        music = borrowed_music(clips, own, n, rng)
        assert music.shape == (n,) and music.dtype == np.float32
        assert abs(float(np.sum(music.astype(np.float64) ** 2)) - 1) < 1e-5
    assert borrowed_music(clips[:1], 0, 100, rng).shape == (100,)        # one clip: its own music


def test_pitch_shift_moves_the_voice_by_whole_semitones_at_unit_energy():
    from drnn_singing.data import Augmentation, pitch_shifted_voices, training_chunks
    from drnn_singing.features import stft
    clip = _tone_clip("a", 200, 440, 1.0)
    versions = pitch_shifted_voices([clip], 2)[0]
    assert sorted(versions) == [-2, -1, 0, 1, 2]
    assert versions[0] is clip.voice
    for k, voice in versions.items():
        assert voice.shape == clip.voice.shape
        assert abs(float(np.sum(voice.astype(np.float64) ** 2)) - 1) < 1e-4
        assert abs(_peak_hz(np.abs(stft(voice))) - 440 * 2 ** (k / 12)) < 16000 / 1024, k
    seen = set()
    for _, targets in training_chunks([clip], step=2000, seed=0, augment=Augmentation(pitch=2))():
        if targets.shape[0] >= 10:
            seen.add(round(_peak_hz(targets[:, 513:])))
    assert len(seen) >= 3                                  # several semitones drawn over one epoch's mixtures
    with pytest.raises(ValueError, match="probability"):
        Augmentation(remix=1.5)
    with pytest.raises(ValueError, match="fixed full batch"):
        training_chunks([clip], fixed=True, augment=Augmentation(remix=0.5))


def test_augmentation_options_are_recorded_kept_on_resume_and_refused_with_lbfgs(synthetic_mir1k, tmp_path, capsys):
    from drnn_singing import train
    common = ["--root", str(synthetic_mir1k), "--arch", "drnn2", "--hidden", "8", "--shifts-per-clip", "1",
              "--circular-step", "4000", "--frames-per-batch", "100", "--epochs", "1"]
    out = tmp_path / "aug"
    assert train.main([*common, "--remix", "0.5", "--pitch-shift", "1", "--out", str(out)]) == 0
    record = json.loads((out / "args.json").read_text())
    assert (record["remix"], record["pitch_shift"]) == (0.5, 1)
    args = train.parse_args([*common, "--out", str(out), "--resume"])
    train.resolve_defaults(args, out)
    assert (args.remix, args.pitch_shift) == (0.5, 1)
    fresh = train.parse_args([*common, "--out", str(tmp_path / "new")])
    train.resolve_defaults(fresh, tmp_path / "new")
    assert (fresh.remix, fresh.pitch_shift) == (0.0, 0)
    assert train.main([*common, "--remix", "2", "--out", str(tmp_path / "x")]) == 2
    assert "--remix / --pitch-shift" in capsys.readouterr().err
    assert train.main([*common, "--optimizer", "lbfgs", "--remix", "0.5", "--out", str(tmp_path / "y")]) == 2
    assert "fixed full batch" in capsys.readouterr().err


def test_a_resumed_epoch_draws_the_mixtures_of_an_uninterrupted_run():
    """training_chunks(first_epoch=e) yields, on its first call, what an uninterrupted run yields in epoch e
    (augmented or not), and differs from epoch 0's draw."""
    from drnn_singing.data import Augmentation, training_chunks
    clips = [_tone_clip("a", 250, 1000, 1.0), _tone_clip("b", 2000, 3000, 1.5)]
    for augment in (Augmentation(), Augmentation(remix=0.5)):
        uninterrupted = training_chunks(clips, shifts_per_clip=1, step=2000, seed=7, augment=augment)
        epochs = [[y for _, y in uninterrupted()] for _ in range(3)]
        resumed = [y for _, y in training_chunks(clips, shifts_per_clip=1, step=2000, seed=7, augment=augment,
                                                 first_epoch=2)()]
        assert len(resumed) == len(epochs[2])
        for a, b in zip(resumed, epochs[2]):
            np.testing.assert_array_equal(a, b)
        assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(epochs[0], epochs[2]))
