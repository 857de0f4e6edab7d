"""``--distribute multiworker`` (common/distribute.py): two workers on 127.0.0.1 against one process.

For each training CLI (mixin, drnn_singing, mask_inference), the same tiny run on synthetic data is
started as two worker processes (TF_CONFIG, free ports, MultiWorkerMirroredStrategy over gRPC) and,
meanwhile, as one process in this one (same seed, same global batch). Both workers must end with
bit-identical weights (gradients are all-reduced, BatchNorm statistics synchronised), the chief's
weights must equal the single process's within float tolerance (the per-replica partial sums are
added in another order), and only the chief writes into the run folder.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from common import distribute

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 420        # seconds per two-worker run (a run takes ~30-70 s on 2 busy cores)
# workers vs one process: float32 sums in another order over a few Adam steps (measured: trainable
# weights within 6e-7; synchronised BatchNorm's moving variance, E[x^2] - E[x]^2, within 1.2e-5 relative)
RTOL, ATOL = 1e-4, 2e-6


# ------------------------------------------------------------------------------ TF_CONFIG and the rules

def _env(config) -> dict:
    return {"TF_CONFIG": config if isinstance(config, str) else json.dumps(config)}


CLUSTER = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}


@pytest.mark.parametrize("config, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "not valid JSON"),
    ({"task": {"type": "worker", "index": 0}}, 'no "cluster"'),
    ({"cluster": {"worker": ["10.0.0.1"]}, "task": {"type": "worker", "index": 0}}, '"host:port"'),
    ({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}, "appears twice"),
    ({"cluster": {**CLUSTER, "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}}, '"ps" is not used'),
    ({"cluster": CLUSTER}, 'no "task"'),
    ({"cluster": CLUSTER, "task": {"type": "chief", "index": 0}}, '"chief" is not in the cluster'),
    ({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}, "index 2 is not one of the 2"),
    ({"cluster": CLUSTER, "task": {"type": "worker", "index": "1"}}, "index '1'"),
])
def test_tf_config_errors_are_one_line(config, message):
    with pytest.raises(distribute.DistributeError, match=message) as err:
        distribute.cluster_from_env({} if config is None else _env(config))
    assert "\n" not in str(err.value)


def test_tf_config_chief_rule():
    worker = lambda i, c=CLUSTER: distribute.cluster_from_env(_env({"cluster": c, "task": {"type": "worker", "index": i}}))
    assert [worker(i).is_chief for i in (0, 1)] == [True, False] and worker(1).num_workers == 2
    with_chief = {"chief": ["c:1"], **CLUSTER}
    assert not worker(0, with_chief).is_chief and worker(0, with_chief).num_workers == 3
    chief = distribute.cluster_from_env(_env({"cluster": with_chief, "task": {"type": "chief", "index": 0}}))
    assert chief.is_chief
    ports = distribute.free_ports(3)
    assert len(set(ports)) == 3
    local = distribute.cluster_from_env({"TF_CONFIG": distribute.local_tf_config(ports, 2)})
    assert local.tasks == {"worker": [f"127.0.0.1:{p}" for p in ports]} and local.task_index == 2


def test_strategy_errors_and_batch_rule(tmp_path):
    with pytest.raises(distribute.DistributeError, match="TF_CONFIG"):
        distribute.make_strategy("multiworker", environ={})
    with pytest.raises(distribute.DistributeError, match="drop --distribute mirrored"):
        distribute.refuse("mirrored", "--optimizer lbfgs")
    distribute.refuse("none", "--optimizer lbfgs")
    four = SimpleNamespace(num_replicas_in_sync=4)
    distribute.check_global_batch(8, four)
    with pytest.raises(distribute.DistributeError, match="--batch-size 10 .* multiple of 4"):
        distribute.check_global_batch(10, four)
    chief = SimpleNamespace(extended=SimpleNamespace(should_checkpoint=True))
    assert distribute.output_folder(tmp_path / "run", chief) == tmp_path / "run"


def test_non_chief_folder_is_temporary_and_resumes_from_a_copy(tmp_path):
    """A non-chief worker writes to a temporary folder, removed at exit; on --resume it starts as a copy
    of the chief's folder. Run in a child process so that its exit (and the removal) can be observed."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "state.json").write_text('{"epoch": 3}')
    code = ("import sys; from types import SimpleNamespace as S; from pathlib import Path; "
            "from common.distribute import output_folder; "
            "w = S(extended=S(should_checkpoint=False), cluster_resolver=S(task_id=1)); "
            f"f = output_folder(Path({str(out)!r}), w, resume=sys.argv[1] == 'resume'); "
            "print('FOLDER', f, sorted(p.name for p in f.rglob('*')))")
    for mode, content in (("new", "[]"), ("resume", "['checkpoints', 'state.json']")):
        run = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, cwd=REPO,
                             env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=60)
        line = [x for x in run.stdout.splitlines() if x.startswith("FOLDER")][0]
        folder = Path(line.split()[1])
        assert folder.parent == tmp_path and folder.name.startswith("run-worker1-") and line.endswith(content)
        assert not folder.exists()                                   # removed when the worker exited
    assert (out / "checkpoints" / "state.json").read_text() == '{"epoch": 3}'   # the chief's folder untouched


# ------------------------------------------------------------------------------ two workers vs one process

def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a Keras .weights.h5 file, or of the weights inside a .keras archive."""
    import h5py
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as z:
            source = io.BytesIO(z.read("model.weights.h5"))
    else:
        source = path
    arrays = {}
    with h5py.File(source, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _two_workers_and_one_process(tmp_path, module: str, main, argv: list[str], out_flag: str, multi: Path,
                                 single: Path | None, single_argv: list[str] | None = None) -> Path:
    """Start `module` as two workers writing `multi` (worker 1 into tmp_path/tmp1/), and run `main` in this
    process into `single` meanwhile (with `single_argv`, default `argv`; None: no single run); returns
    worker 1's folder."""
    tmpdirs = [tmp_path / "tmp0", tmp_path / "tmp1"]
    for d in tmpdirs:
        d.mkdir(parents=True)
    env = lambda i: {"TMPDIR": str(tmpdirs[i]), distribute.KEEP_ENV: "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                     "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", module, *argv, "--distribute", "multiworker", out_flag, str(multi)]
    with distribute.LocalCluster(command, 2, tmp_path / "logs", env=env, cwd=REPO) as cluster:
        if single is not None:
            assert main((argv if single_argv is None else single_argv) + [out_flag, str(single)]) == 0
        codes = cluster.wait(TIMEOUT)
    logs = [cluster.log(i).read_text() for i in range(2)]
    assert codes == [0, 0], "\n".join(f"--- worker {i} (exit {c}):\n{log[-3000:]}" for i, (c, log) in
                                      enumerate(zip(codes, logs)))
    assert "task worker 0 of 2 workers, 2 replicas in sync" in logs[0]
    kept = list(tmpdirs[1].iterdir())
    assert len(kept) == 1 and not any(tmpdirs[0].iterdir())        # only worker 1 used a temporary folder
    return kept[0]


def _compare(chief: Path, worker: Path, single: Path, atol: float = None) -> tuple[float, float]:
    """Worker 1 == chief exactly; chief ~ single process. Returns (max |worker - chief|, max |chief - single|
    relative to RTOL*|single| + ATOL, i.e. <= 1 passes)."""
    a, b, s = _arrays(chief), _arrays(worker), _arrays(single)
    atol = ATOL if atol is None else atol
    assert a.keys() == b.keys() == s.keys() and len(a) > 2
    exact = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)
    assert exact == 0.0, f"{chief.name}: workers differ by {exact}"
    ratio = max(float(np.max(np.abs(a[k].astype(np.float64) - s[k]) / (atol + RTOL * np.abs(s[k])), initial=0))
                for k in a)
    moved = max(float(np.max(np.abs(a[k]))) for k in a)
    largest = max(float(np.max(np.abs(a[k].astype(np.float64) - s[k]), initial=0)) for k in a)
    print(f"{chief}: worker 1 == chief; chief vs one process: max |diff| {largest:.2g}, {ratio:.2g} x tolerance")
    assert ratio <= 1.0 and moved > 0, f"{chief.name}: multiworker vs one process {ratio:.3g} x tolerance"
    return exact, ratio


def test_xumx_slicq_two_workers_match_one_process(tmp_path):
    """xumx-sliCQ: two workers on a global batch of 2 (one excerpt each) against one process on both."""
    from data_prep.synth import write_dataset
    from xumx_slicq.train import main
    root = tmp_path / "musdb"
    write_dataset("musdb", root, tracks=5, seconds=2.0, seed=0)
    argv = ["--root", str(root), "--batch-size", "2", "--samples-per-track", "1", "--max-batches", "1",
            "--valid-tracks", "1", "--epochs", "1", "--quiet"]
    multi, single = tmp_path / "multi", tmp_path / "single"
    worker = _two_workers_and_one_process(tmp_path, "xumx_slicq.train", main, argv, "--out", multi, single)
    # One step of torch's Adam from a fresh state moves every weight by ~lr * g / (|g| + eps): where |g| is
    # near eps, the all-reduce's float32 summation order (~1e-7 relative in g) shows as a few 1e-5 of the
    # 1e-3 step (measured 2.1e-5), so this comparison allows 5e-5 absolute.
    _compare(multi / "model.weights.h5", worker / "model.weights.h5", single / "model.weights.h5", atol=5e-5)
    assert _files(multi) == _files(single)


@pytest.fixture(scope="module")
def mir1k_tiny(tmp_path_factory):
    """4 synthetic MIR-1K clips (2 train, 1 dev, 1 test) of exactly 100 STFT frames (3.232 s at 16 kHz),
    so that Huang's chunking gives one 100-frame chunk per clip and every batch splits evenly."""
    from data_prep.synth import write_dataset
    root = tmp_path_factory.mktemp("mir1k")
    write_dataset("mir1k", root, tracks=4, seconds=(1024 + 99 * 512) / 16000, seed=3)
    return root


def test_mixin_two_workers_match_one_process(tmp_path):
    from data_prep.synth import write_dataset
    from mixin.train import main
    stems = tmp_path / "stems"
    write_dataset("stems", stems, tracks=2, seconds=1.0, seed=5)   # 2 tracks: 1 train, 1 validation
    argv = ["--stems", str(stems), "--components", "percussive", "--epochs", "2", "--batch-size", "4",
            "--patience", "5", "--seed", "7", "--quiet"]
    multi, single = tmp_path / "multi", tmp_path / "single"
    worker = _two_workers_and_one_process(tmp_path, "mixin.train", main, argv, "--workdir", multi, single)
    for name in ("checkpoints/percussive/last.keras", "models/model_percussive.keras"):
        _compare(multi / name, worker / name, single / name)
    assert _files(multi) == _files(single)
    assert len(json.loads((multi / "models" / "history_percussive.json").read_text())) == 2


def test_drnn_two_workers_match_one_process(tmp_path, mir1k_tiny):
    from drnn_singing.train import main
    argv = ["--root", str(mir1k_tiny), "--arch", "drnn2", "--hidden", "8", "--epochs", "3",
            "--circular-step", "0", "--frames-per-batch", "200", "--seed", "4"]
    multi, single = tmp_path / "multi", tmp_path / "single"
    worker = _two_workers_and_one_process(tmp_path, "drnn_singing.train", main, argv, "--out", multi, single)
    _compare(multi / "last.weights.h5", worker / "last.weights.h5", single / "last.weights.h5")
    assert _files(multi) == _files(single)
    rows = (multi / "history.csv").read_text().splitlines()
    assert len(rows) == 4 and "val_gnsdr" in rows[0]        # dev GNSDR scored on every worker alike


def test_mask_inference_two_workers_match_one_process_and_resume(tmp_path, mir1k_tiny):
    """One chunk on two workers, then --resume for a second: equal to one process's uninterrupted two
    chunks; worker 1 resumes from a copy of the chief's checkpoint."""
    from mask_inference.train import main
    argv = ["--dataset", "mir1k", "--root", str(mir1k_tiny), "--recipe", "original", "--steps-per-epoch", "2",
            "--batch-size", "2", "--val-mixtures", "2", "--hidden-size", "8", "--num-layers", "1",
            "--augment-prob", "0", "--excerpt-seconds", "1", "--seed", "1", "--verbose", "0"]
    multi = tmp_path / "multi"
    _two_workers_and_one_process(tmp_path / "a", "mask_inference.train", main, argv + ["--epochs", "1"], "--out",
                                 multi, None)
    single = tmp_path / "single2"
    worker = _two_workers_and_one_process(tmp_path / "b", "mask_inference.train", main,
                                          argv + ["--epochs", "2", "--resume"], "--out", multi, single,
                                          single_argv=argv + ["--epochs", "2"])
    for name in ("checkpoints/last.keras", "model.weights.h5"):
        _compare(multi / name, worker / name, single / name)
    assert json.loads((multi / "summary.json").read_text())["iterations"] == 4
    assert _files(multi) == _files(single)


# ------------------------------------------------------------------------------ failures

@pytest.mark.parametrize("module, argv", [
    ("mixin.train", ["--stems", "nowhere", "--workdir"]),
    ("drnn_singing.train", ["--root", "ROOT", "--arch", "drnn2", "--hidden", "8", "--out"]),
    ("mask_inference.train", ["--dataset", "mir1k", "--root", "ROOT", "--out"]),
])
def test_cli_without_tf_config_is_a_one_line_error(module, argv, mir1k_tiny, tmp_path, capsys, monkeypatch):
    import importlib
    monkeypatch.delenv("TF_CONFIG", raising=False)
    argv = [str(mir1k_tiny) if a == "ROOT" else a for a in argv] + [str(tmp_path / "run"), "--distribute", "multiworker"]
    assert importlib.import_module(module).main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --distribute multiworker needs the TF_CONFIG environment")


def test_drnn_lbfgs_refuses_to_distribute(mir1k_tiny, tmp_path, capsys):
    pytest.importorskip("tensorflow_probability")
    from drnn_singing.train import main
    assert main(["--root", str(mir1k_tiny), "--optimizer", "lbfgs", "--distribute", "mirrored",
                 "--out", str(tmp_path / "run")]) == 2
    assert "error: --optimizer lbfgs runs on one device only and cannot be distributed; drop --distribute mirrored" \
        in capsys.readouterr().err


def test_a_failing_worker_stops_the_other_with_one_line(tmp_path, mir1k_tiny):
    """The chief refuses a folder that holds a run; worker 1, waiting for it, reports the lost peer in one
    line (status 2) within seconds instead of hanging, and leaves no temporary folder."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.keras").write_bytes(b"")
    tmp1 = tmp_path / "tmp1"
    tmp1.mkdir()
    command = [sys.executable, "-m", "mask_inference.train", "--dataset", "mir1k", "--root", str(mir1k_tiny),
               "--out", str(out), "--distribute", "multiworker"]
    with distribute.LocalCluster(command, 2, tmp_path / "logs", cwd=REPO,
                                 env=lambda i: {"TMPDIR": str(tmp1), "TF_CPP_MIN_LOG_LEVEL": "3"}) as cluster:
        codes = [p.wait(TIMEOUT) for p in cluster.procs]
    logs = [cluster.log(i).read_text() for i in range(2)]
    assert codes == [2, 2], logs
    assert f"error: {out} already holds a run" in logs[0]
    errors = [line for line in logs[1].splitlines() if line.startswith("error:")]   # the cause (TF's words) varies
    assert len(errors) == 1 and errors[0].startswith("error: worker 1: another worker of the cluster stopped or "
                                                     "cannot be reached (")
    assert errors[0].endswith("); see its output, then start every worker again (with --resume to continue)")
    assert not any(tmp1.iterdir())
