"""One command-line surface for every system's ``separate`` (common/cli.py), and no TensorFlow log.

The shared flags are listed by every ``python -m <system>.separate --help`` with one help text; a
normal run prints nothing from TensorFlow on stderr; a batch goes on past a bad input; REPET's
too-short message gives the real requirement.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.cli import (CLIError, _QuietImport, add_separate_arguments, output_names, parse_separate_args,
                        run_batch)

REPO = Path(__file__).resolve().parents[1]
# every top-level package with a separate.py is a system (the oracle included)
SYSTEMS = sorted(p.parent.name for p in REPO.glob("*/separate.py") if (p.parent / "__init__.py").exists())
WITH_INPUTS = [s for s in SYSTEMS if s != "oracle"]  # the oracle separates dataset tracks, not files
SHARED_FLAGS = ("--outdir", "--format", "--subtype", "--plots", "--quiet")
INPUT_FLAGS = ("--weights", "--name-from-folder")
# What TensorFlow writes on its own: absl's banner and records (I0000 00:00:...), TSL's dated
# records, the CPU-feature notice's second line, and anything naming oneDNN or CUDA.
TF_LOG = re.compile(r"absl::|^[IWEF]\d{4} \d\d:\d\d:\d\d|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |"
                    r"oneDNN|TF_ENABLE_ONEDNN_OPTS|cpu_feature_guard|To enable the following instructions|"
                    r"cuda|tensorflow/", re.IGNORECASE)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "COLUMNS"))}
    env.update(COLUMNS="250", PYTHONPATH=str(REPO), **extra)
    return env


def _options(help_text: str) -> dict[str, str]:
    """argparse --help -> {each option string: its help text, whitespace-normalised}."""
    options, current = {}, None
    for line in help_text.splitlines():
        head = re.match(r"^  (-[^ ].*?)(?:\s{2,}(.*))?$", line)
        if head:
            names = re.findall(r"(--?[\w-]+)", head.group(1).split("  ")[0])
            current = [n for n in names if n.startswith("-")]
            for name in current:
                options[name] = head.group(2) or ""
        elif current and line.startswith("      ") and line.strip():
            for name in current:
                options[name] = (options[name] + " " + line.strip()).strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in options.items()}


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """``python -m <system>.separate --help`` of every system, run in parallel."""
    procs = {s: subprocess.Popen([sys.executable, "-m", f"{s}.separate", "--help"], cwd=REPO, env=_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in SYSTEMS}
    out = {}
    for system, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{system}.separate --help failed: {stderr[-500:]}"
        out[system] = stdout
    return out


def test_every_separate_help_lists_the_shared_flags_with_one_meaning(helps):
    assert {"mixin", "drnn_singing", "mask_inference", "oracle"} <= set(SYSTEMS)
    parsed = {s: _options(text) for s, text in helps.items()}
    for system, options in parsed.items():
        wanted = SHARED_FLAGS + (INPUT_FLAGS if system in WITH_INPUTS else ())
        assert set(wanted) <= set(options), f"{system}: missing {sorted(set(wanted) - set(options))}"
        if system in WITH_INPUTS:
            assert re.search(r"INPUT \[INPUT \.\.\.\]", helps[system]), system
        assert re.search(r"--format \{wav,flac\}", helps[system]) and "{FLOAT,PCM_16,PCM_24}" in helps[system]
    # one help text per shared flag across systems; --outdir and --weights differ only in what they name
    for flag in ("--format", "--subtype", "--plots", "--quiet", "--name-from-folder"):
        texts = {parsed[s][flag] for s in SYSTEMS if flag in parsed[s]}
        assert len(texts) == 1, (flag, texts)
    outdir = {re.sub(r"\{[\w,]+\}|<source>", "<sources>", parsed[s]["--outdir"]) for s in SYSTEMS}
    assert outdir == {"output folder: writes OUTDIR/<name>/<sources>.wav (or .flac with --format flac)"}
    # MiXiN's old --model-dir is an alias of --weights
    assert parsed["mixin"]["--model-dir"] == parsed["mixin"]["--weights"]


def test_format_subtype_and_the_old_model_dir_name():
    import argparse

    from mixin.separate import build_parser as mixin_parser

    parser = argparse.ArgumentParser()
    add_separate_arguments(parser, weights="model")
    args = parse_separate_args(parser, ["a.wav", "--outdir", "o"])
    assert (args.suffix, args.subtype, args.weights, args.quiet, args.plots) == (".wav", "FLOAT", None, False, False)
    args = parse_separate_args(parser, ["a.wav", "--outdir", "o", "--format", "flac"])
    assert (args.suffix, args.subtype) == (".flac", "PCM_24")
    with pytest.raises(SystemExit) as exit_:
        parse_separate_args(parser, ["a.wav", "--outdir", "o", "--format", "flac", "--subtype", "FLOAT"])
    assert exit_.value.code == 2
    assert mixin_parser().parse_args(["a.wav", "--model-dir", "m", "--outdir", "o"]).weights == "m"
    assert mixin_parser().parse_args(["a.wav", "--weights", "m", "--outdir", "o"]).weights == "m"


def test_output_names_refuse_two_inputs_with_one_name(tmp_path):
    assert output_names(["x/a.wav", "y/b.flac"]) == ["a", "b"]
    assert output_names([tmp_path / "t1" / "mixture.wav", tmp_path / "t2" / "mixture.wav"],
                        name_from_folder=True) == ["t1", "t2"]
    assert output_names(["song_a.wav", "take_a.wav"], rename=lambda n: n.split("_")[0]) == ["song", "take"]
    with pytest.raises(CLIError, match=r"x/mixture.wav and y/mixture.wav would both write to <outdir>/mixture/"):
        output_names(["x/mixture.wav", "y/mixture.wav"])


def test_run_batch_goes_on_past_a_failing_input(capsys):
    from common.audio import AudioError

    def process(path, name):
        if "bad" in path:
            raise AudioError("not a readable audio file; convert it")
        return f"{path} -> out/{name}"

    inputs = ["a.wav", "bad1.wav", "c.wav", "bad2.wav"]
    assert run_batch(inputs, ["a", "b1", "c", "b2"], process, outdir="out") == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == ["a.wav -> out/a", "c.wav -> out/c"]
    assert [line for line in err.splitlines() if line.startswith("error")] == ["error: bad1.wav: not a readable audio file; convert it",
                                "error: bad2.wav: not a readable audio file; convert it",
                                "error: 2 of 4 inputs failed (bad1.wav, bad2.wav); 2 separated in out"]
    assert run_batch(["a.wav", "c.wav"], ["a", "c"], process, quiet=True) == 0
    assert capsys.readouterr() == ("", "")
    assert run_batch(["bad.wav"], ["bad"], process) == 2  # one input: its error line only
    assert capsys.readouterr().err == "error: bad.wav: not a readable audio file; convert it\n"
    with pytest.raises(ZeroDivisionError):  # a bug is not a known error: it stops the batch
        run_batch(["a.wav"], ["a"], lambda p, n: 1 / 0)


def _tone(path: Path, seconds: float, rate: int = 16000, seed: int = 0) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    sf.write(path, np.stack([x, 0.5 * x], 1).astype(np.float32), rate)
    return path


def test_a_batch_with_a_bad_input_writes_the_others_and_fails(tmp_path, capsys):
    from mask_inference.separate import main

    good = [_tone(tmp_path / f"good{i}.wav", 1.0, seed=i) for i in range(2)]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEnot audio")
    out = tmp_path / "out"
    assert main([str(good[0]), str(bad), str(good[1]), "--method", "hpss", "--outdir", str(out),
                 "--format", "flac", "--subtype", "PCM_16"]) == 2
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.*")) == [
        "good0/accompaniment.flac", "good0/vocals.flac", "good1/accompaniment.flac", "good1/vocals.flac"]
    assert sf.info(out / "good1" / "vocals.flac").subtype == "PCM_16"
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "bad.wav" in errors[0]
    assert errors[1] == f"error: 1 of 3 inputs failed ({bad}); 2 separated in {out}"


def test_repet_says_how_long_a_clip_it_needs():
    from mask_inference.repet import separate_repet

    rng = np.random.default_rng(0)
    # 44.1 kHz: window 2048, hop 512; the search runs from ceil(0.8 s / hop) = 69 frames up to a third
    # of the clip: 2 s -> ceil(0.667 s / hop) = 58 frames. It needs 3 * 68 * 512 / 44100 = 2.368 s.
    with pytest.raises(ValueError) as err:
        separate_repet(rng.normal(size=(1, 2 * 44100)).astype("f"), 44100)
    assert str(err.value) == ("REPET: the clip is too short (2.00 s): the repeating period is searched from 0.8 s "
                              "(69 frames) up to a third of the clip (0.67 s, 58 frames), so REPET needs more "
                              "than 2.368 s of audio (a third of it must reach 69 frames)")
    # 16 kHz, hop 128: more than 3 * 99 * 128 = 38016 samples; the bound is exact
    with pytest.raises(ValueError, match=r"too short \(2.38 s\).*99 frames.*more than 2.376 s"):
        separate_repet(rng.normal(size=(1, 38016)).astype("f"), 16000)
    vocals, backing = separate_repet(rng.normal(size=(1, 38017)).astype("f"), 16000)
    assert vocals.shape == backing.shape == (1, 38017)


def test_quiet_import_drops_the_start_up_log_and_replays_it_on_failure(tmp_path, monkeypatch, capfd):
    (tmp_path / "noisy_ok.py").write_text("import os\nos.write(2, b'I0000 start-up chatter\\n')\n")
    (tmp_path / "noisy_fail.py").write_text("import os\nos.write(2, b'why it failed\\n')\n"
                                            "raise ImportError('no library')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("noisy_ok", "noisy_fail"):
        monkeypatch.setattr(sys, "meta_path", [_QuietImport(name), *sys.meta_path])
    import noisy_ok  # noqa: F401

    assert capfd.readouterr().err == ""
    with pytest.raises(ImportError, match="no library"):
        import noisy_fail  # noqa: F401
    assert capfd.readouterr().err == "why it failed\n"
    sys.modules.pop("noisy_ok", None)


def _run(args, **env):
    return subprocess.run([sys.executable, *args], cwd=REPO, env=_env(**env), capture_output=True, text=True,
                          timeout=300)


def test_no_tensorflow_log_reaches_stderr(tmp_path):
    # control: what an import of TensorFlow writes on this machine, even with TF_CPP_MIN_LOG_LEVEL=2
    bare = _run(["-c", "import tensorflow"], TF_CPP_MIN_LOG_LEVEL="2")
    assert bare.returncode == 0, bare.stderr[-500:]
    clips = [str(_tone(tmp_path / f"clip{i}.wav", 1.5, seed=i)) for i in range(2)]
    # a normal run (progress bar and all) of the shipped DRNN model: nothing from TensorFlow
    normal = _run(["-m", "drnn_singing.separate", *clips, "--outdir", str(tmp_path / "drnn"), "--format", "flac"])
    assert normal.returncode == 0, normal.stderr[-1000:]
    assert [line for line in normal.stderr.splitlines() if TF_LOG.search(line)] == []
    assert normal.stdout.splitlines()[-1] == f"separated 2 inputs in {tmp_path / 'drnn'}"
    info = sf.info(tmp_path / "drnn" / "clip1" / "vocals.flac")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 24000, "PCM_24")
    # the shipped deep mask-inference model with --quiet: nothing at all
    silent = _run(["-m", "mask_inference.separate", clips[0], "--method", "deep", "--outdir",
                   str(tmp_path / "deep"), "--quiet"])
    assert (silent.returncode, silent.stdout, silent.stderr) == (0, "", "")
    assert sf.info(tmp_path / "deep" / "clip0" / "vocals.wav").frames == 24000
    if not [line for line in bare.stderr.splitlines() if TF_LOG.search(line)]:
        pytest.skip("TensorFlow wrote no start-up log on this machine, so the runs above could not show "
                    "that it is hidden (they did show that nothing reaches stderr)")


LEAN_IMPORT = """
import sys
from common.cli import import_tensorflow_without_keras
tf = import_tensorflow_without_keras()
print('keras' in sys.modules, float(tf.reduce_sum(tf.nn.conv2d(tf.ones((1, 4, 4, 1)), tf.ones((3, 3, 1, 1)), 1, 'SAME'))))
import keras
print(keras.layers.Dense(3)(tf.ones((2, 5))).shape, tf.keras.layers.Dense is keras.layers.Dense)
"""


def test_tensorflow_imported_without_keras_still_lets_keras_load_later():
    run = _run(["-c", LEAN_IMPORT])
    assert run.returncode == 0, run.stderr[-1000:]
    # Keras was not imported with TensorFlow, the ops work (a 3x3 box sum over a 4x4 field of ones: 4 corners
    # x 4 + 8 edge cells x 6 + 4 inner cells x 9 = 100), and Keras (plain and as tf.keras) loads when asked for
    assert run.stdout.splitlines() == ["False 100.0", "(2, 3) True"]
