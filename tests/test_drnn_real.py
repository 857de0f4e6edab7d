"""The shipped DRNN-2 bag (drnn_singing/pretrained) on real MIR-1K clips (skipped without ../shared)."""
import hashlib
import json

import pytest


def test_shipped_bag_files_and_its_scores_on_two_test_clips(mir1k_root):
    from drnn_singing.data import load_split
    from drnn_singing.evaluate import evaluate_clips
    from drnn_singing.separate import PRETRAINED_DIR, load_separator

    if not (PRETRAINED_DIR / "manifest.json").exists():
        pytest.skip("no shipped model in drnn_singing/pretrained/")
    manifest = json.loads((PRETRAINED_DIR / "manifest.json").read_text())
    for name, digest in manifest.get("files", {}).items():     # the manifest describes the files shipped
        assert hashlib.sha256((PRETRAINED_DIR / name).read_bytes()).hexdigest() == digest, name
    separator = load_separator()                               # the default weights
    assert len(separator.models) == manifest.get("bag_of", 1)
    for weights in PRETRAINED_DIR.glob("*.weights.h5"):
        assert weights.stat().st_size <= 25 * 1000 * 1000, weights   # the repository's per-file budget
    _, per_clip = evaluate_clips(separator, load_split(mir1k_root, "test", limit=2))
    # voice NSDR of the shipped bag, as `drnn_singing.evaluate --split test` reported it when the bag was shipped
    assert [c["name"] for c in per_clip] == ["Ani_1_01", "Ani_1_06"]
    assert [c["voice"]["NSDR"] for c in per_clip] == pytest.approx([12.776, 10.582], abs=0.01)


def test_shipped_lstm_files_and_its_scores_on_two_test_clips(mir1k_root):
    """drnn_singing/pretrained_lstm: the default command's lstm3x1000 in 8 bits, within the per-file budget, its
    manifest's digest matching, and the voice NSDR that `evaluate --split test` reported when it was shipped."""
    from pathlib import Path

    from drnn_singing.data import load_split
    from drnn_singing.evaluate import evaluate_clips
    from drnn_singing.separate import PRETRAINED_DIR, load_separator

    shipped = Path(PRETRAINED_DIR).parent / "pretrained_lstm"
    if not (shipped / "manifest.json").exists():
        pytest.skip("no shipped LSTM in drnn_singing/pretrained_lstm/")
    manifest = json.loads((shipped / "manifest.json").read_text())
    weights = shipped / manifest["weights_file"]["name"]
    assert weights.stat().st_size <= 25 * 1000 * 1000
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == manifest["weights_file"]["sha256"]
    assert manifest["hyperparameters"]["remix"] == 0.5 and manifest["hyperparameters"]["pitch_shift"] == 2
    separator = load_separator(shipped)
    _, per_clip = evaluate_clips(separator, load_split(mir1k_root, "test", limit=2))
    assert [c["name"] for c in per_clip] == ["Ani_1_01", "Ani_1_06"]
    assert [c["voice"]["NSDR"] for c in per_clip] == pytest.approx([12.926, 10.791], abs=0.01)
