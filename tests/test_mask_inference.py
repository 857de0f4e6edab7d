"""mask_inference on data the tests make themselves: model, STFT, mixer, baselines, metrics, CLIs."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mask_inference import data, harmonic, hpss, params, repet, stft  # noqa: E402

RATE = 16000


# ---------------------------------------------------------------------------------------------- model

@pytest.fixture(scope="module")
def model():
    from mask_inference.model import build_model
    return build_model(seed=0)


def test_parameter_count_matches_the_original(model):
    from mask_inference.model import build_model, torch_equivalent_param_count

    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert model.count_params() == params.KERAS_PARAMS_1_LAYER == 150_185
    assert trainable == params.KERAS_TRAINABLE_1_LAYER == 149_671
    assert torch_equivalent_param_count(model) == params.TORCH_PARAMS_1_LAYER == 150_071
    report = build_model(num_layers=2, dropout=0.3)
    assert report.count_params() == params.KERAS_PARAMS_2_LAYERS
    assert torch_equivalent_param_count(report) == params.TORCH_PARAMS_2_LAYERS == 210_871
    assert [layer.name for layer in report.layers if "dropout" in layer.name] == ["dropout_1"]


def test_nussl_initialisation(model):
    layer = model.get_layer("blstm_0")
    for direction in (layer.forward_layer, layer.backward_layer):
        bias = direction.cell.bias.numpy()
        np.testing.assert_array_equal(bias[50:100], 2.0)            # forget slice: 1 + 1 in nussl
        np.testing.assert_array_equal(np.delete(bias, np.s_[50:100]), 0.0)
        kernel = direction.cell.kernel.numpy()                      # xavier normal, fan_in 257, fan_out 200
        assert abs(kernel.std() / math.sqrt(2 / (257 + 200)) - 1) < 0.05
    assert not np.allclose(layer.forward_layer.cell.kernel.numpy(), layer.backward_layer.cell.kernel.numpy())
    bn = model.get_layer("batch_norm")
    assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5)
    np.testing.assert_array_equal(model.get_layer("mask").bias.numpy(), 0.0)


def test_mask_in_unit_interval_and_estimate_is_mask_times_magnitude(model):
    rng = np.random.default_rng(0)
    magnitude = (np.abs(rng.normal(size=(3, 40, 257))) * 10 ** rng.uniform(-6, 1, size=(3, 40, 257))).astype("f")
    magnitude[0, :5] = 0.0
    out = model.predict_on_batch(magnitude)
    mask, estimates = np.asarray(out["mask"]), np.asarray(out["estimates"])
    assert mask.shape == magnitude.shape
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    np.testing.assert_allclose(estimates, mask * magnitude, rtol=1e-6, atol=1e-12)


def test_amplitude_to_db_floor():
    from mask_inference.model import AmplitudeToDB

    db = np.asarray(AmplitudeToDB()(np.array([[0.0, 1e-6, 1e-4, 0.1, 1.0]], dtype="f")))
    np.testing.assert_allclose(db, [[-80, -80, -80, -20, 0]], atol=1e-4)


# ----------------------------------------------------------------------------------------------- STFT

def test_stft_round_trip_and_framing():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 80_001))
    spec = stft.stft(x)
    assert spec.shape == (2, 257, stft.num_frames(80_001)) == (2, 257, 627)
    y = stft.istft(spec, 80_001)
    assert np.max(np.abs(y - x)) < 1e-5
    assert stft.num_frames(5 * 44100) == 1724 == stft.stft(np.zeros(5 * 44100) + 1e-3).shape[-1]
    assert stft.sqrt_hann(512).sum() == pytest.approx(325.948, abs=1e-3)
    assert stft.default_window(44100) == (2048, 512) and stft.default_window(16000) == (512, 128)
    t = np.arange(RATE) / RATE                                       # a unit sine on bin 10 -> |X| = 0.5
    assert np.median(np.abs(stft.stft(np.sin(2 * np.pi * 10 * RATE / 512 * t)))[10]) == pytest.approx(0.5, abs=1e-3)


# ---------------------------------------------------------------------------------------------- mixer

def _harmonic_voice(f0: float, seconds: float, rate: int = RATE, harmonics: int = 12) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, harmonics + 1) if h * f0 < rate / 2)


def _songs(count: int = 3, seconds: float = 3.0) -> list[data.StemPair]:
    rng = np.random.default_rng(2)
    songs = []
    for i in range(count):
        voice = 0.1 * _harmonic_voice(180 + 40 * i, seconds) * (np.arange(int(seconds * RATE)) % 8000 < 5000)
        backing = 0.1 * rng.normal(size=int(seconds * RATE))
        songs.append(data.StemPair(f"song{i}", backing.astype("f"), voice.astype("f"), RATE))
    return songs


def test_bs1770_loudness_of_a_full_scale_sine():
    t = np.arange(48000 * 3) / 48000
    assert data.integrated_loudness(np.sin(2 * np.pi * 997 * t), 48000) == pytest.approx(-3.01, abs=0.1)
    assert data.integrated_loudness(0.1 * np.sin(2 * np.pi * 997 * t[:3 * RATE] * 3), RATE) == \
        pytest.approx(-23.01, abs=0.15)
    assert data.integrated_loudness(np.zeros(RATE), RATE) == float("-inf")


def test_mixer_is_deterministic_and_sets_loudness():
    mixer = data.Mixer(_songs(), data.MixerConfig(duration=1.0, augment_prob=0.0, ref_db=(-20, -20), snr=(0, 0)))
    mix_a, voc_a = mixer.mix(7)
    mix_b, voc_b = mixer.mix(7)
    np.testing.assert_array_equal(mix_a, mix_b)
    assert mix_a.shape == voc_a.shape == (RATE,)
    assert data.integrated_loudness(voc_a, RATE) == pytest.approx(-20, abs=0.5)
    assert data.integrated_loudness(mix_a - voc_a, RATE) == pytest.approx(-20, abs=0.5)
    mag_mix, mag_voc = mixer.example(7)
    assert mag_mix.shape == mag_voc.shape == (mixer.frames, 257) == (126, 257)
    augmented = data.Mixer(_songs(), data.MixerConfig(duration=1.0, augment_prob=1.0))
    assert augmented.mix(3)[0].shape == (RATE,)


def test_a_few_training_steps_lower_the_loss():
    import keras

    from mask_inference.model import build_model

    mixer = data.Mixer(_songs(), data.MixerConfig(duration=1.0, augment_prob=0.0))
    x, y = data.validation_arrays(mixer, 8)
    keras.utils.set_random_seed(0)
    full = build_model(seed=0)
    net = keras.Model(full.input, full.output["estimates"])
    net.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-8), loss="mae")
    before = float(net.evaluate(x, y, verbose=0))
    ds = data.make_dataset(mixer, batch_size=4, start=100)
    net.fit(ds, steps_per_epoch=40, epochs=1, verbose=0)
    after = float(net.evaluate(x, y, verbose=0))
    assert after < 0.8 * before


# ------------------------------------------------------------------------------------------- baselines

def test_repet_finds_a_known_period():
    rng = np.random.default_rng(3)
    period_s = 1.28                                                   # 160 hops of 128 at 16 kHz
    n = int(period_s * RATE)
    pattern = np.zeros(n)                                             # irregular noise bursts in one period
    for onset in rng.choice(n - 4000, size=6, replace=False):
        pattern[onset:onset + 4000] += rng.normal(size=4000) * np.exp(-np.arange(4000) / 800)
    backing = np.tile(pattern, 5)                                     # 6.4 s: search 0.8 .. 2.13 s
    t = np.arange(backing.size) / RATE
    voice = 0.3 * np.sin(2 * np.pi * 440 * t) * (t > 3.0) * (t < 4.0)  # a non-repeating event
    spec = stft.stft((backing + voice)[None])
    _, foreground, period = repet.repet_masks(spec, RATE, 512, 128, backing.size / RATE)
    assert period == 160
    assert repet.seconds_to_frames(0.8, 128, RATE) == 100
    k = repet.high_pass_bin(RATE, 512)
    assert k == 3 and np.all(foreground[:, :k] == 0)
    bin_440 = int(round(440 / (RATE / 512)))
    frames = slice(int(3.2 * RATE / 128), int(3.8 * RATE / 128))
    assert foreground[0, bin_440, frames].mean() > 0.9               # the event is foreground
    vocals, accompaniment = repet.separate_repet((backing + voice)[None].astype("f"), RATE)
    np.testing.assert_allclose(vocals + accompaniment, (backing + voice)[None], atol=1e-4)
    assert repet.repet_masks(spec, RATE, 512, 128, backing.size / RATE, period=1.28)[2] == 160


def test_repet_rejects_a_clip_too_short():
    with pytest.raises(ValueError, match="too short"):
        repet.separate_repet(np.random.default_rng(0).normal(size=(1, RATE)).astype("f"), RATE)


def test_hpss_equals_a_direct_librosa_call():
    import librosa

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 2 * RATE)).astype("f")
    spec = stft.stft(x, 512, 128)
    harmonic_mask, percussive_mask = hpss.hpss_masks(spec)
    for ch in range(2):
        h, p = librosa.decompose.hpss(spec[ch], kernel_size=31, mask=True)
        np.testing.assert_array_equal(harmonic_mask[ch], h)
        np.testing.assert_array_equal(percussive_mask[ch], p)
    vocals, accompaniment = hpss.separate_hpss(x, RATE)
    np.testing.assert_allclose(vocals, stft.istft(spec * harmonic_mask, x.shape[-1]), atol=1e-6)
    swapped = hpss.separate_hpss(x, RATE, vocals_from="percussive")
    np.testing.assert_array_equal(swapped[0], accompaniment)


def test_harmonic_model_on_a_synthetic_voice_with_known_f0():
    from common.bsseval import si_bss_eval

    rng = np.random.default_rng(5)
    voice = 0.3 * _harmonic_voice(220.0, 2.0)
    backing = 0.1 * rng.normal(size=voice.size)                        # about 9 dB below the voice
    mixture = (voice + backing)[None].astype("f")
    window, hop = harmonic.harmonic_window(RATE)
    assert (window, hop) == (1024, 256)
    f0, probability = harmonic.track_f0(mixture[0], RATE, hop)
    voiced = harmonic.voicing_weight(probability) == 1.0
    assert voiced.mean() > 0.8
    assert np.median(f0[voiced]) == pytest.approx(220.0, rel=0.02)
    vocals, accompaniment = harmonic.separate_harmonic(mixture, RATE)
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-6)
    refs = np.stack([voice[None], backing[None]])
    before = si_bss_eval(refs, np.stack([mixture, mixture]))["SI-SDR"][0, 0]
    after = si_bss_eval(refs, np.stack([vocals, accompaniment]))["SI-SDR"][0, 0]
    assert after > before + 3.0                                      # 8.5 -> 12.4 dB when written


# --------------------------------------------------------------------------------------------- metrics

def test_si_sdr_values_on_constructed_signals():
    from mask_inference.evaluate import aggregate, score, truncate

    rng = np.random.default_rng(6)
    s = rng.normal(size=RATE)
    other = rng.normal(size=RATE)
    noise = rng.normal(size=RATE)
    # make the error orthogonal to both references, with ||s||^2 / ||e||^2 = 100 -> SI-SDR = 20 dB
    basis = np.linalg.qr(np.stack([s, other], axis=1))[0]
    noise -= basis @ (basis.T @ noise)
    noise -= noise.mean()
    s -= s.mean()
    noise *= np.linalg.norm(s) / np.linalg.norm(noise) / 10
    refs = {"vocals": s[None], "accompaniment": other[None]}
    scores = score(refs, (3.0 * (s + noise))[None], (other + 0.5 * s)[None])
    assert scores["vocals"]["SI-SDR"] == pytest.approx(20.0, abs=0.05)    # scale invariant
    assert scores["vocals"]["SI-SAR"] == pytest.approx(20.0, abs=0.05)    # the error is all artefact
    assert scores["vocals"]["SI-SIR"] > 60
    acc = scores["accompaniment"]
    assert 10 ** (-acc["SI-SDR"] / 10) == pytest.approx(10 ** (-acc["SI-SIR"] / 10) + 10 ** (-acc["SI-SAR"] / 10),
                                                         rel=1e-6)
    summary = aggregate({"a": scores, "b": scores})
    assert summary["vocals"]["SI-SDR"] == pytest.approx(scores["vocals"]["SI-SDR"])
    assert truncate(-4.519) == "-4.51" and truncate(0.289) == "0.28"


# ------------------------------------------------------------------------------------ CLIs, bad inputs

def _write_mir1k_layout(root, clips=(("abjones_1_01", 6.0), ("amy_1_01", 5.5)), dev=(("abjones_5_08", 5.2),),
                        test=(("Ani_1_01", 4.5),)):
    rng = np.random.default_rng(7)
    for split, items in (("train", clips), ("dev", dev), ("test", test)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i, (name, seconds) in enumerate(items):
            voice = 0.2 * _harmonic_voice(200 + 20 * i, seconds)
            backing = 0.1 * rng.normal(size=voice.size)
            sf.write(root / split / f"{name}.wav", np.stack([backing, voice], axis=1), RATE, subtype="PCM_16")
    return root


def test_train_cli_checkpoints_resumes_and_separates(tmp_path, capsys):
    from mask_inference import separate, train

    root = _write_mir1k_layout(tmp_path / "mir1k")
    out = tmp_path / "run"
    argv = ["--dataset", "mir1k", "--root", str(root), "--out", str(out), "--recipe", "original",
            "--steps-per-epoch", "2", "--epochs", "1", "--batch-size", "2", "--val-mixtures", "2",
            "--verbose", "0", "--seed", "1"]
    assert train.main(argv) == 0
    for name in ("args.json", "config.json", "history.csv", "loss_curve.png", "model.weights.h5",
                 "checkpoints/last.keras", "checkpoints/state.json"):
        assert (out / name).exists(), name
    assert train.main(argv) == 2                                      # refuses to overwrite a run
    assert "--resume" in capsys.readouterr().err
    assert train.main(argv[:-6] + ["--epochs", "2", "--verbose", "0", "--seed", "1", "--resume"]) == 0
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert json.loads((out / "summary.json").read_text())["iterations"] == 4

    stereo = tmp_path / "song.wav"
    rng = np.random.default_rng(8)
    sf.write(stereo, 0.1 * rng.normal(size=(int(2.5 * 22050), 2)), 22050)   # other rate, stereo
    assert separate.main([str(stereo), "--method", "deep", "--weights", str(out), "--outdir",
                          str(tmp_path / "sep")]) == 0
    vocals, rate = sf.read(tmp_path / "sep" / "song" / "vocals.wav")
    backing, _ = sf.read(tmp_path / "sep" / "song" / "accompaniment.wav")
    mixture, _ = sf.read(stereo)
    assert rate == 22050 and vocals.shape == mixture.shape
    np.testing.assert_allclose(vocals + backing, mixture, atol=1e-5)   # accompaniment = mixture - vocals


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    from mask_inference import separate, train
    from mask_inference.separate import SeparationError, Separator

    assert separate.main([str(tmp_path / "missing.wav"), "--method", "repet", "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing.wav" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEnot audio")
    assert separate.main([str(broken), "--method", "hpss", "--outdir", str(tmp_path)]) == 2
    assert "broken.wav" in capsys.readouterr().err
    with pytest.raises(SeparationError, match="does not exist"):
        Separator("deep", weights=tmp_path / "nothing")
    with pytest.raises(SeparationError, match="unknown method"):
        Separator("nmf")
    with pytest.raises(SeparationError, match="NaN"):
        Separator("repet")(np.full((1, RATE * 3), np.nan, dtype="f"), RATE)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "dev").mkdir()
    (tmp_path / "empty" / "test").mkdir()
    assert train.main(["--dataset", "mir1k", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "r"),
                       "--verbose", "0"]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.parse_args(["--dataset", "mir1k", "--root", "x", "--out", "y", "--epochs", "0"])


def test_weight_average_is_validated_kept_and_resumed(tmp_path, capsys):
    """--ema: best.weights.h5 is the moving average (what validation scored), last.keras keeps the training weights
    with the average in the optimizer, and a resumed run ends exactly where an uninterrupted one does."""
    import keras
    from mask_inference import train

    root = _write_mir1k_layout(tmp_path / "mir1k")
    argv = ["--dataset", "mir1k", "--root", str(root), "--recipe", "converge", "--steps-per-epoch", "3",
            "--batch-size", "2", "--val-mixtures", "2", "--verbose", "0", "--seed", "3",
            "--ema", "0.5"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train.main(argv + ["--out", str(whole), "--epochs", "2"]) == 0
    assert train.main(argv + ["--out", str(split), "--epochs", "1"]) == 0
    trained = keras.models.load_model(split / "checkpoints" / "last.keras")
    raw = [np.array(v) for v in trained.trainable_weights]
    average = [np.array(v) for v in trained.optimizer._model_variables_moving_average]
    best = keras.models.load_model(split / "checkpoints" / "last.keras")
    best.load_weights(split / "best.weights.h5")                    # chunk 1 is always the best so far
    for kept, avg in zip(best.trainable_weights, average):
        np.testing.assert_allclose(np.array(kept), avg, rtol=0, atol=0)
    assert not np.allclose(raw[0], average[0])                      # the average, not the training weights

    assert train.main(argv + ["--out", str(split), "--epochs", "2", "--resume"]) == 0
    ends = [keras.models.load_model(run / "checkpoints" / "last.keras") for run in (whole, split)]
    for a, b in zip(ends[0].trainable_weights, ends[1].trainable_weights):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)
    for a, b in zip(*(e.optimizer._model_variables_moving_average for e in ends)):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)
    losses = [json.loads((run / "checkpoints" / "state.json").read_text())["history"] for run in (whole, split)]
    assert [h["val_loss"] for h in losses[0]] == pytest.approx([h["val_loss"] for h in losses[1]], rel=1e-5)

    with pytest.raises(SystemExit) as stop:
        train.main(argv + ["--out", str(tmp_path / "x"), "--ema", "1"])
    assert stop.value.code == 2 and "--ema must be in [0, 1)" in capsys.readouterr().err


def test_deep_lead_over_repet_is_the_difference_of_medians_with_a_bootstrap_error():
    from common.bsseval import median_difference_stderr
    from mask_inference.evaluate import deep_lead

    rng = np.random.default_rng(2)
    deep, repet = rng.normal(4.0, 3.0, size=165), rng.normal(2.0, 3.0, size=165)
    per_track = {m: {f"clip{i:03d}": {"vocals": {"SI-SDR": float(v)}} for i, v in enumerate(values)}
                 for m, values in (("deep", deep), ("repet", repet))}
    lead = deep_lead(per_track, "mir1k", "test")
    assert lead["vocals_si_sdr_median_difference"] == pytest.approx(np.median(deep) - np.median(repet))
    assert lead["clips"] == 165 and lead["population"] == 825
    # the paired bootstrap over the clips in name order, finite-population corrected for 165 of 825
    assert lead["bootstrap_standard_error"] == median_difference_stderr(deep, repet, population=825)
    assert 0.2 < lead["bootstrap_standard_error"] < 0.6    # about sqrt(pi * 9 / 165 * 0.8) = 0.37
    assert deep_lead(per_track, "musdb", "test")["population"] is None


def _model_folder(folder, seed, hidden_size=params.HIDDEN_SIZE):
    from mask_inference.model import build_model

    folder.mkdir(parents=True)
    model = build_model(hidden_size=hidden_size, seed=seed)
    model.save_weights(folder / "model.weights.h5")
    (folder / "config.json").write_text(json.dumps(
        {"num_layers": 1, "dropout": 0.0, "hidden_size": hidden_size, "num_bins": params.NUM_BINS,
         "window": params.DEEP_WINDOW, "hop": params.DEEP_HOP, "rate": RATE}))
    return model


def test_bag_averages_member_masks_and_scores_members_and_bag_on_dev(tmp_path, capsys):
    from mask_inference import bag
    from mask_inference.separate import SeparationError, Separator

    root = _write_mir1k_layout(tmp_path / "mir1k")
    members = [_model_folder(tmp_path / f"run{seed}", seed) for seed in (1, 2)]
    out = tmp_path / "bag"
    assert bag.main([str(tmp_path / "run1"), str(tmp_path / "run2"), "--out", str(out), "--dataset", "mir1k",
                     "--root", str(root), "--val-mixtures", "3"]) == 0
    report = json.loads((out / "bag.json").read_text())
    assert json.loads((out / "config.json").read_text())["members"] == ["member0.weights.h5", "member1.weights.h5"]

    # the same fixed dev mixtures as training validates on, scored with the training loss
    x, y = data.validation_arrays(data.Mixer(data.mir1k_songs(root, "dev"), data.MixerConfig()), 3)
    masks = [np.asarray(m.predict_on_batch(x)["mask"]) for m in members]
    direct = [float(np.mean(np.abs(mask * x - y))) for mask in masks]
    assert report["member_l1"] == pytest.approx(direct, rel=1e-5)
    assert report["bag_l1"] == pytest.approx(float(np.mean(np.abs((masks[0] + masks[1]) / 2 * x - y))), rel=1e-5)
    assert report["bag_l1"] <= np.mean(direct) + 1e-12          # |.| is convex: the mean mask never loses on average

    audio = 0.1 * np.random.default_rng(5).normal(size=(1, 2 * RATE)).astype(np.float32)
    spec = stft.stft(audio, params.DEEP_WINDOW, params.DEEP_HOP)
    magnitude = np.abs(spec).swapaxes(-1, -2).astype(np.float32)
    mean_mask = np.mean([np.asarray(m.predict_on_batch(magnitude)["mask"]) for m in members], axis=0)
    expected = stft.istft(spec * mean_mask.swapaxes(-1, -2), audio.shape[-1], params.DEEP_WINDOW, params.DEEP_HOP)
    vocals, backing = Separator("deep", weights=out)(audio, RATE)
    np.testing.assert_allclose(vocals, expected, atol=1e-5)
    np.testing.assert_allclose(vocals + backing, audio, atol=1e-6)

    # one member file of a bag is a run too (the shipped bag's member0.weights.h5 can be re-bagged)
    assert bag.main([str(out / "member1.weights.h5"), str(tmp_path / "run1"), "--out", str(tmp_path / "again"),
                     "--dataset", "mir1k", "--root", str(root), "--val-mixtures", "3"]) == 0
    again = json.loads((tmp_path / "again" / "bag.json").read_text())
    assert again["member_l1"] == pytest.approx(report["member_l1"][::-1], rel=1e-6)
    assert again["bag_l1"] == pytest.approx(report["bag_l1"], rel=1e-5)

    _model_folder(tmp_path / "wide", 3, hidden_size=8)
    capsys.readouterr()
    assert bag.main([str(tmp_path / "run1"), str(tmp_path / "wide"), "--out", str(tmp_path / "b2"),
                     "--dataset", "mir1k", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "hidden_size" in err and len(err.strip().splitlines()) == 1
    (out / "member1.weights.h5").unlink()
    with pytest.raises(SeparationError, match="member1.weights.h5 does not exist"):
        Separator("deep", weights=out)
