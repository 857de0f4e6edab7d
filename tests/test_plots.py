"""common.plots: the spectrogram grid, and that figures are written (atomically) with content."""
from __future__ import annotations

import numpy as np

from common.plots import LOW_HZ, ROWS, log_spectrogram, save_loss_curve, save_separation_figure


def test_log_spectrogram_puts_a_tone_on_its_row():
    rate = 16000
    t = np.arange(rate) / rate
    spec = log_spectrogram(np.sin(2 * np.pi * 1000 * t)[None], rate)
    assert spec.shape[0] == ROWS
    row = int(np.argmax(spec[:, spec.shape[1] // 2]))
    expected = np.log(1000 / LOW_HZ) / np.log(rate / 2 / LOW_HZ) * (ROWS - 1)
    assert abs(row - expected) <= 1


def test_figures_are_written_whole(tmp_path):
    import matplotlib.image as mpimg

    rate = 8000
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((1, rate)).astype(np.float32)
    save_separation_figure(tmp_path / "sep.png", mix, {"a": mix * 0.5, "b": mix * 0.5}, rate,
                           masks={"a": np.full((5, 7), 0.5), "b": np.full((5, 7), 0.5)})
    save_loss_curve(tmp_path / "loss.png", [1, 2, 3], {"train": [3, 2, 1], "val": [3, 2.5, 2]},
                    "t", "epoch", "loss", log_y=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "sep.png"]
    figure = mpimg.imread(tmp_path / "sep.png")
    assert figure.shape[0] > 400 and figure.shape[1] > 1000  # 3 rows x 2 columns
    assert figure[..., :3].std() > 0.05  # not a blank image


def test_drnn_separate_writes_its_figure_with_masks(tmp_path):
    import matplotlib.image as mpimg
    import soundfile as sf

    from drnn_singing.separate import main

    rate = 16000
    t = np.arange(2 * rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(1).standard_normal(t.size)
    sf.write(tmp_path / "song.wav", x, rate)
    assert main([str(tmp_path / "song.wav"), "--outdir", str(tmp_path / "out"), "--plots"]) == 0
    figure = mpimg.imread(tmp_path / "out" / "song" / "spectrograms.png")
    assert figure.shape[1] > 1000  # spectrograms and masks side by side
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == [
        "accompaniment.wav", "spectrograms.png", "vocals.wav"]


def test_mask_inference_separate_writes_its_figure(tmp_path):
    import soundfile as sf

    from mask_inference.separate import main

    rate = 16000
    t = np.arange(3 * rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(2).standard_normal(t.size)
    sf.write(tmp_path / "clip.wav", x, rate)
    assert main([str(tmp_path / "clip.wav"), "--method", "hpss", "--outdir", str(tmp_path / "o"),
                 "--plots"]) == 0
    assert (tmp_path / "o" / "clip" / "spectrograms.png").stat().st_size > 10_000
