"""mask_inference on real MIR-1K clips (skipped when ../shared is absent)."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_evaluation_on_two_real_clips(mir1k_root):
    from common.bsseval import si_bss_eval
    from common.datasets import iter_mir1k

    from mask_inference import evaluate, params
    from mask_inference.repet import separate_repet
    from mask_inference.separate import PRETRAINED_DIR

    methods = ["repet", "hpss", "harmonic"] + (["deep"] if (PRETRAINED_DIR / "config.json").exists() else [])
    result = evaluate.evaluate("mir1k", mir1k_root, "test", methods, limit=2, progress=False)
    assert result["count"] == 2
    tracks = list(iter_mir1k(mir1k_root, "test", limit=2))
    assert sorted(result["tracks"]["repet"]) == sorted(t.name for t in tracks) == ["Ani_1_01", "Ani_1_06"]
    # the protocol's REPET scores equal a direct computation on the first clip
    track = tracks[0]
    vocals, backing = separate_repet(track.mixture, track.rate)
    direct = si_bss_eval(np.stack([track.sources["vocals"], track.sources["accompaniment"]]),
                         np.stack([vocals, backing]))
    assert result["tracks"]["repet"][track.name]["vocals"]["SI-SDR"] == pytest.approx(direct["SI-SDR"][0, 0])
    mixture_si_sdr = si_bss_eval(np.stack([track.sources["vocals"]]), np.stack([track.mixture]))["SI-SDR"][0, 0]
    for method in methods:
        summary = result["summary"][method]
        for metric in params.METRICS:
            values = [summary[s][metric] for s in params.SOURCES]
            assert np.all(np.isfinite(values))
            assert min(values) - 1e-9 <= summary["overall"][metric] <= max(values) + 1e-9
        for scores in result["tracks"][method].values():
            for source in params.SOURCES:       # SI-SDR <= min(SI-SIR, SI-SAR) per item (design §4)
                assert scores[source]["SI-SDR"] <= min(scores[source]["SI-SIR"], scores[source]["SI-SAR"]) + 1e-6
    # every method improves the vocals of the first clip over the unprocessed mixture (about 0 dB)
    assert abs(mixture_si_sdr) < 1.0
    for method in methods:
        assert result["tracks"][method][track.name]["vocals"]["SI-SDR"] > mixture_si_sdr + 1.0, method
    if "deep" in methods:
        lead = result["deep_minus_repet"]
        assert lead["vocals_si_sdr_median_difference"] == pytest.approx(
            np.median([t["vocals"]["SI-SDR"] for t in result["tracks"]["deep"].values()])
            - np.median([t["vocals"]["SI-SDR"] for t in result["tracks"]["repet"].values()]))
        assert lead["clips"] == 2 and lead["population"] == 825
    table = evaluate.format_table(result["summary"], 2, "mir1k test")
    assert "| repet | SI-SDR |" in table and "(0.28)" in table


def test_shipped_model_manifest_and_separation(mir1k_root, tmp_path):
    import json

    from mask_inference import separate
    from mask_inference.separate import PRETRAINED_DIR

    if not (PRETRAINED_DIR / "config.json").exists():
        pytest.skip("no shipped model in mask_inference/pretrained/")
    import hashlib

    manifest = json.loads((PRETRAINED_DIR / "manifest.json").read_text())
    assert manifest["data"]["train"] == 171 and "test" in manifest["results"]
    for name, digest in manifest["files"].items():            # the manifest describes the files shipped
        assert hashlib.sha256((PRETRAINED_DIR / name).read_bytes()).hexdigest() == digest, name
    clip = mir1k_root / "test" / "Ani_1_01.flac"
    assert separate.main([str(clip), "--method", "deep", "--outdir", str(tmp_path)]) == 0
    import soundfile as sf

    vocals, rate = sf.read(tmp_path / "Ani_1_01" / "vocals.wav")
    mixture, _ = sf.read(clip)
    assert rate == 16000 and vocals.shape == mixture.shape   # stereo file in, stereo out
