"""Training on several devices or machines with ``tf.distribute``: one mechanism for every training CLI.

``--distribute none | mirrored | multiworker``:

- ``none``: TensorFlow's default strategy (one device).
- ``mirrored``: ``tf.distribute.MirroredStrategy``, every GPU of this machine (one replica on a CPU).
- ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy``: one process per machine, the cluster
  described by the ``TF_CONFIG`` environment variable (validated here: a one-line error names what is
  wrong), gradients all-reduced over gRPC (CPUs) or NCCL (GPUs).

The rules every CLI follows (a new one, e.g. ``xumx_slicq.train``, adopts them in a few lines)::

    from common import distribute
    distribute.add_option(parser)                                   # --distribute none|mirrored|multiworker
    ...
    strategy = distribute.make_strategy(args.distribute)            # FIRST TensorFlow call of the program
                                                                    # (after tf.config.threading settings)
    distribute.refuse(args.distribute, "--optimizer lbfgs")         # options that cannot run distributed
    distribute.check_global_batch(args.batch_size, strategy)        # the global batch splits evenly
    out = distribute.output_folder(args.out, strategy, args.resume) # where THIS worker writes
    with strategy.scope():                                          # model, optimiser, metrics, compile,
        model = build(); model.compile(...)                         # and keras.models.load_model on resume
    distribute.sync_batch_norm(model, strategy)                     # BatchNorm statistics of the global batch
    model.fit(distribute.shard_by_data(train_ds), ...)              # global batches, split by data

- **Global batch.** The pipelines yield *global* batches; Keras hands each replica its slice
  (``experimental_distribute_dataset``), so the per-replica batch is global / replicas and one step of N
  workers equals one step of a single process on the same batch (gradients are all-reduced: sum of
  per-replica means / replicas).
- **Batch normalisation** (``sync_batch_norm``): statistics over the global batch, not each replica's
  slice; otherwise each worker's moving statistics drift apart and the step differs from one process.
  Dropout masks come from each worker's own random stream (a distributed run with dropout is not
  bit-comparable with a single process; the trainable weights still stay identical across workers).
- **Sharding by data.** Our pipelines are Python generators (``from_generator``, ``numpy_function``), not
  files, so tf.data's FILE auto-sharding cannot apply: ``shard_by_data`` sets the DATA policy, under which
  every worker runs the same (deterministic) pipeline and keeps its slice of every global batch. The
  data work is repeated on every worker; the model's work is split.
- **Outputs.** Only the chief (task ``chief``, or ``worker`` 0 when there is no chief) writes into
  ``--out``: checkpoints, plots, the final model. Every other worker runs the same code on a temporary
  folder (``output_folder``), removed when the process ends. ``--resume``: the other workers start
  from a copy of the chief's ``--out``, so ``--out`` must be readable by every worker (a shared
  filesystem, or the chief's folder copied to the same path) when resuming.
- **A worker that stops** (an error, Ctrl-C, a lost machine) makes TensorFlow abort the others'
  collectives; they report it in one ``error:`` line and exit with status 2 (``_report_lost_peers``).
- **Program start.** ``MultiWorkerMirroredStrategy`` configures TensorFlow's collective ops, which is
  only possible before TensorFlow runs its first op; ``make_strategy`` says so if it is called too late.

Keras 3.15 needs three corrections, made by ``make_strategy`` and active only with several replicas:
it cannot ``fit`` under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585, open: its symbolic build
reduces a whole (x, y) structure with one ``strategy.reduce`` call, and its per-step log reduction asks
for ``axis=0`` on scalar metrics; ``_patch_keras_multiworker``), and it clips gradients (``clipnorm``,
``clipvalue``, ``global_clipnorm``) per replica *before* summing them, which is not the clipping of one
process on the global batch (``_patch_keras_clipping``).

For tests and local trials: ``free_ports``, ``local_tf_config`` and ``LocalCluster`` (N worker processes
on 127.0.0.1, killed on failure or timeout).
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KINDS = ("none", "mirrored", "multiworker")
KEEP_ENV = "MSS_KEEP_WORKER_OUTPUT"   # set to 1: a non-chief worker keeps its temporary folder (tests)
TASK_TYPES = ("chief", "worker")      # what MultiWorkerMirroredStrategy takes (no ps, no evaluator)


class DistributeError(ValueError):
    """A distribution setting that cannot work; the message says what to change."""


def add_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--distribute none|mirrored|multiworker`` (default none)."""
    parser.add_argument("--distribute", choices=KINDS, default="none",
                        help="none: one device; mirrored: every GPU of this machine (tf.distribute."
                             "MirroredStrategy); multiworker: several machines, one process each, the cluster "
                             "in $TF_CONFIG (MultiWorkerMirroredStrategy; see README 'Training on several "
                             "machines'). Batch sizes are global: split across replicas")


def refuse(kind: str, what: str) -> None:
    """One-line error for an option that runs on one device only, e.g. ``refuse(kind, "--optimizer lbfgs")``."""
    if kind != "none":
        raise DistributeError(f"{what} runs on one device only and cannot be distributed; drop --distribute {kind}")


# ---------------------------------------------------------------------------------------------- TF_CONFIG

@dataclass
class Cluster:
    """TF_CONFIG, checked: the cluster's tasks ({type: [host:port, ...]}) and this process's task."""
    tasks: dict
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return sum(len(v) for v in self.tasks.values())

    @property
    def is_chief(self) -> bool:
        """The chief task, or worker 0 when the cluster has no chief (TensorFlow's rule)."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0
                                             and "chief" not in self.tasks)


def cluster_from_env(environ=None) -> Cluster:
    """Parse and check ``TF_CONFIG``; a :class:`DistributeError` says what is missing or malformed."""
    environ = os.environ if environ is None else environ
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    raw = environ.get("TF_CONFIG", "")
    if not raw.strip():
        raise DistributeError(f"--distribute multiworker needs the TF_CONFIG environment variable on every worker, "
                              f"e.g. {example} (index 1 on the second machine)")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({err}); expected e.g. {example}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or not config["cluster"]:
        raise DistributeError(f'TF_CONFIG has no "cluster" object listing the workers; expected e.g. {example}')
    tasks = {}
    for kind, addresses in config["cluster"].items():
        if kind not in TASK_TYPES:
            raise DistributeError(f'TF_CONFIG: cluster task type "{kind}" is not used by MultiWorkerMirroredStrategy '
                                  f'(only {" and ".join(TASK_TYPES)}); remove it')
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and _is_address(a) for a in addresses)):
            raise DistributeError(f'TF_CONFIG: cluster "{kind}" must be a non-empty list of "host:port" strings, '
                                  f"got {addresses!r}")
        tasks[kind] = addresses
    if len(tasks.get("chief", [])) > 1:
        raise DistributeError("TF_CONFIG: a cluster has at most one chief")
    everyone = [a for v in tasks.values() for a in v]
    if len(set(everyone)) != len(everyone):
        raise DistributeError(f"TF_CONFIG: an address appears twice in the cluster ({everyone}); each task needs its "
                              "own host:port")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise DistributeError('TF_CONFIG has no "task": {"type": ..., "index": ...} saying which worker this '
                              f"process is; expected e.g. {example}")
    kind, index = task["type"], task["index"]
    if kind not in tasks:
        raise DistributeError(f'TF_CONFIG: task type "{kind}" is not in the cluster ({sorted(tasks)})')
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(tasks[kind]):
        raise DistributeError(f'TF_CONFIG: task index {index!r} is not one of the {len(tasks[kind])} "{kind}" '
                              f"addresses (0 to {len(tasks[kind]) - 1})")
    return Cluster(tasks, kind, index)


def _is_address(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


# ----------------------------------------------------------------------------------------------- strategy

def make_strategy(kind: str, environ=None):
    """The ``tf.distribute`` strategy of ``--distribute kind``; call it before any other TensorFlow op.

    none: the default strategy; mirrored: ``MirroredStrategy()``; multiworker: TF_CONFIG checked, then
    ``MultiWorkerMirroredStrategy()`` with Keras corrected for it (see the module docstring).
    """
    if kind not in KINDS:
        raise DistributeError(f"--distribute {kind}: expected one of {', '.join(KINDS)}")
    cluster = cluster_from_env(environ) if kind == "multiworker" else None
    import tensorflow as tf
    if kind == "none":
        return tf.distribute.get_strategy()
    _patch_keras_clipping()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as err:
        if "program startup" in str(err):
            raise DistributeError("--distribute multiworker: TensorFlow already ran an op before the strategy was "
                                  "created; common.distribute.make_strategy must be the program's first TensorFlow "
                                  "call") from None
        raise
    _patch_keras_multiworker()
    _report_lost_peers(cluster)
    print(f"multiworker: task {cluster.task_type} {cluster.task_index} of {cluster.num_workers} workers, "
          f"{strategy.num_replicas_in_sync} replicas in sync", flush=True)
    return strategy


def start(kind: str, out, resume: bool, batch_size: int, threads: int | None = None):
    """What every training CLI does first: the CPU thread count (``threads``, optional), the strategy of
    ``--distribute kind`` (the program's first TensorFlow op), the global-batch check, and the folder this
    worker writes to (``out`` on the chief, a temporary folder on the others). Returns (strategy, folder).
    """
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    strategy = make_strategy(kind)
    check_global_batch(batch_size, strategy)
    return strategy, output_folder(out, strategy, resume)


def _report_lost_peers(cluster: Cluster) -> None:
    """When another worker stops (an error, Ctrl-C, a lost machine), TensorFlow aborts this worker's
    collectives with UnavailableError (seen here within seconds); report that as one line, exit status 2."""
    import tensorflow as tf
    lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)
    previous = sys.excepthook

    def hook(kind, value, traceback):
        if not issubclass(kind, lost):
            return previous(kind, value, traceback)
        lines = [line.strip() for line in str(value).splitlines() if line.strip()] or [kind.__name__]
        cause = next((line.split("aborted by:", 1)[1].strip() for line in lines if "aborted by:" in line), lines[0])
        print(f"error: {cluster.task_type} {cluster.task_index}: another worker of the cluster stopped or cannot be "
              f"reached ({cause[:160]}); see its output, then start every worker again (with --resume to continue)",
              file=sys.stderr, flush=True)
        atexit._run_exitfuncs()    # the temporary folder of a non-chief worker
        os._exit(2)                # the collective runtime is unusable: no ordinary interpreter shutdown

    sys.excepthook = hook


def is_chief(strategy) -> bool:
    """Whether this process writes the run's outputs (True except on non-chief multiworker tasks)."""
    return bool(strategy.extended.should_checkpoint)


def check_global_batch(batch_size: int, strategy, option: str = "--batch-size") -> None:
    """The global batch must split evenly over the replicas (else one step is not one global-batch step)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise DistributeError(f"{option} {batch_size} (the global batch) does not split evenly over {replicas} "
                              f"replicas; pass a multiple of {replicas}")


def sync_batch_norm(model, strategy) -> int:
    """Make every BatchNormalization layer of ``model`` compute its batch statistics over the global
    batch (all replicas, Keras' ``synchronized=True``) when there is more than one replica, so that
    training, and the moving statistics every worker keeps, are those of one process on the global
    batch. Call it after building (or loading) the model. Returns the number of layers changed."""
    import keras
    if strategy.num_replicas_in_sync <= 1:
        return 0
    layers = model._flatten_layers(include_self=False, recursive=True)
    changed = 0
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            changed += 1
    return changed


def shard_by_data(dataset):
    """``dataset`` with tf.data's DATA auto-shard policy: every worker runs the same pipeline of global
    batches and keeps its slice of each (FILE sharding cannot apply to generators). A no-op on one worker."""
    import tensorflow as tf
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def output_folder(out, strategy, resume: bool = False) -> Path:
    """Where this process writes: ``out`` for the chief, a temporary folder for any other worker.

    The temporary folder is removed when the process exits (kept, and its path printed, when the
    environment variable MSS_KEEP_WORKER_OUTPUT is 1). With ``resume`` it starts as a copy of ``out``,
    so every worker resumes from the chief's checkpoint; ``out`` must then be readable here.
    """
    out = Path(out)
    if is_chief(strategy):
        return out
    task = strategy.cluster_resolver.task_id
    if resume and not out.is_dir():
        raise DistributeError(f"--resume: worker {task} cannot read the chief's run folder {out}; put --out on a "
                              "filesystem every worker sees, or copy the chief's folder to the same path here")
    folder = Path(tempfile.mkdtemp(prefix=f"{out.name}-worker{task}-"))
    if resume:
        shutil.copytree(out, folder, dirs_exist_ok=True)
    if os.environ.get(KEEP_ENV) == "1":
        print(f"worker {task}: writes to {folder} (kept: {KEEP_ENV}=1)", flush=True)
    else:
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        print(f"worker {task}: writes to {folder}, removed at exit; the chief writes {out}", flush=True)
    return folder


# ----------------------------------------------------------------------- Keras 3 under MultiWorkerMirrored

def _patch_keras_multiworker() -> None:
    """Correct Keras 3's TensorFlow trainer for MultiWorkerMirroredStrategy (keras-team/keras#20585).

    1. ``_maybe_symbolic_build`` reduces the first (x, y) batch with one ``strategy.reduce`` call, which
       multi-worker collectives reject for a nested structure; the batch only gives shapes, so each
       element's local value is used instead.
    2. ``reduce_per_replica(..., "auto")`` reduces each scalar log with ``strategy.reduce("MEAN", v,
       axis=0)``, which fails on scalars; the mean over replicas (``axis=None``) is what it computes on
       one machine (``tf.reduce_mean`` of the local results), so that is used, all-reduced across
       workers: every worker logs the same loss and takes the same early-stopping decisions.
    Other strategies go through Keras' own code. Idempotent; skipped if Keras' internals have moved.
    """
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
        from keras.src import tree
        original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
        original_reduce = tf_trainer.reduce_per_replica
        multi_worker = tf_trainer._collective_all_reduce_multi_worker
    except (ImportError, AttributeError):
        return
    if getattr(original_reduce, "_mss_multiworker", False):
        return
    import tensorflow as tf

    def local_value(strategy, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None or not multi_worker(self._distribute_strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        strategy = self._distribute_strategy
        for _, _, batches in iterator:
            data_batch = tree.map_structure(lambda v: local_value(strategy, v), next(batches))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    reduce_per_replica._mss_multiworker = True
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica


def _patch_keras_clipping() -> None:
    """Clip the summed gradient, as one process on the global batch would (Keras 3 clips each replica's).

    Keras' ``BaseOptimizer._backend_apply_gradients`` calls ``_clip_gradients`` on the replica's own
    gradients and only then all-reduces them (``TFOptimizer._backend_update_step``). With several replicas
    and clipping configured, the corrected ``_clip_gradients`` first all-reduces (sums) the gradients,
    clips that global gradient with Keras' own rule, and returns 1/N of it on each of the N replicas, so
    that the all-reduce that follows gives back the clipped global gradient (exactly, for N a power of
    two). One extra all-reduce per step, only when clipping is on. Idempotent.
    """
    try:
        from keras.src.optimizers import base_optimizer
        original = base_optimizer.BaseOptimizer._clip_gradients
    except (ImportError, AttributeError):
        return
    if getattr(original, "_mss_distribute", False):
        return
    import tensorflow as tf

    def _clip_gradients(self, grads):
        context = tf.distribute.get_replica_context()
        clipping = any(x and x > 0 for x in (self.clipnorm, self.clipvalue, self.global_clipnorm))
        if (not clipping or context is None or context.num_replicas_in_sync <= 1
                or self.gradient_accumulation_steps):
            return original(self, grads)
        present = [i for i, g in enumerate(grads) if g is not None]
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
        clipped = original(self, list(total))
        share = 1.0 / context.num_replicas_in_sync
        out = list(grads)
        for i, g in zip(present, clipped):
            out[i] = g * share
        return out

    _clip_gradients._mss_distribute = True
    base_optimizer.BaseOptimizer._clip_gradients = _clip_gradients


# -------------------------------------------------------------------------- local clusters (tests, trials)

def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now (held together while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_tf_config(ports: list[int], index: int) -> str:
    """TF_CONFIG of worker ``index`` in a cluster of workers on 127.0.0.1 at ``ports``."""
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


class LocalCluster:
    """N copies of a command on 127.0.0.1, each with its TF_CONFIG (free ports), stdout+stderr to files.

    ``with LocalCluster([sys.executable, "-m", "mixin.train", ...], workers=2, log_dir=d) as c:
    codes = c.wait(timeout=300)``: every process still running when the block ends (a timeout, an
    exception, or one worker failing: its peers would wait for it) is killed with its process group.
    ``env`` (optional) is a function of the worker index giving extra environment variables.
    """

    def __init__(self, argv: list[str], workers: int, log_dir, env=None, cwd=None):
        self.argv, self.workers, self.cwd = list(argv), workers, cwd
        self.log_dir = Path(log_dir)
        self.env = env or (lambda index: {})
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "LocalCluster":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(self.workers)
        for index in range(self.workers):
            env = {**os.environ, "TF_CONFIG": local_tf_config(ports, index), **self.env(index)}
            with open(self.log(index), "w") as log:
                self.procs.append(subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                                   cwd=self.cwd, start_new_session=True))
        return self

    def log(self, index: int) -> Path:
        return self.log_dir / f"worker{index}.log"

    def wait(self, timeout: float) -> list[int]:
        """Exit codes of all workers; stops early (killing the rest) when one fails; None = killed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [p.poll() for p in self.procs]
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                break
            time.sleep(0.5)
        self.kill()
        return [p.returncode if p.returncode is not None and p.returncode >= 0 else None for p in self.procs]

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            p.wait()

    def __exit__(self, *exc) -> None:
        self.kill()


if __name__ == "__main__":   # `python -m common.distribute`: check this process's TF_CONFIG
    try:
        c = cluster_from_env()
    except DistributeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"TF_CONFIG: task {c.task_type} {c.task_index} of {c.num_workers} workers "
          f"({'chief' if c.is_chief else 'not the chief'})")
