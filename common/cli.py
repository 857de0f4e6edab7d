"""The project's command-line convention, in one place.

A known problem (a bad file, a missing model, a dataset that is not where it should be) is printed
as one line, ``error: <message>``, on stderr with exit status 2, never as a traceback; Ctrl-C says
how to continue (status 130).
"""
from __future__ import annotations

import sys
from typing import Callable


def known_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of ``common`` whose messages are written for users."""
    from common.audio import AudioError
    from common.bsseval import BSSEvalError
    from common.datasets import DatasetError

    return AudioError, DatasetError, BSSEvalError


def run_cli(action: Callable[[], int | None], errors: tuple[type[BaseException], ...] = (),
            on_interrupt: str | None = None) -> int:
    """Run ``action()`` and turn known errors into ``error: ...`` lines.

    errors: the caller's own exception types, added to :func:`known_errors`.
    on_interrupt: what to tell the user after Ctrl-C (e.g. how to resume).
    Returns the exit status: ``action``'s return value if it is an int, else 0; 2 on a known error;
    130 on Ctrl-C.
    """
    try:
        status = action()
    except (*known_errors(), *errors) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted{': ' + on_interrupt if on_interrupt else ''}", file=sys.stderr)
        return 130
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def exit_now(status: int) -> None:
    """End a command-line run with ``status`` at once, skipping the interpreter's teardown.

    After TensorFlow is imported, Python's normal exit (unloading ~4,000 modules, TensorFlow's atexit
    handlers) takes 1-1.5 s on these 2 cores, a tenth of a short separation as the user waits for it. The
    separate commands have written (atomically) and closed every output by then, so only the standard
    streams are flushed. For ``if __name__ == "__main__"`` only: tests and library callers use main().
    """
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status if isinstance(status, int) else 1)


def keep_freed_memory(mmap_threshold: int = 32 * 1024 * 1024) -> bool:
    """Ask glibc's allocator to reuse freed memory instead of returning it to the system at once.

    A separation allocates and frees many arrays of 1-30 MB (spectrogram windows, EM temporaries); by
    default glibc serves each from fresh zeroed pages (mmap), so every pass page-faults them in again,
    which on a cold start costs as much as the arithmetic (measured: a first Wiener-EM pass 1.1-1.3 s
    against 0.5 s). Below ``mmap_threshold`` (glibc's maximum, 32 MB) blocks come from the heap and the
    heap is not trimmed. Peak memory is unchanged; freed memory is kept for reuse until the process
    ends. Returns False (nothing changed) where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3        # glibc's <malloc.h> parameter numbers
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(mallopt(m_trim_threshold, 2 ** 31 - 1))


# --------------------------------------------------------------------------------------------------
# The `separate` command line shared by every system
# --------------------------------------------------------------------------------------------------

class CLIError(ValueError):
    """A bad combination of command-line values, found after parsing; the message says the fix."""


# Container and sample format of the estimates. Spleeter calls the container --codec and Demucs has
# --flac / --float32 / --int24; here one --format (the container) and one --subtype (libsndfile's
# name for the sample format). FLAC cannot hold float samples, so its default is 24-bit PCM.
OUTPUT_FORMATS = ("wav", "flac")
SUBTYPES = ("FLOAT", "PCM_16", "PCM_24")
DEFAULT_SUBTYPE = {"wav": "FLOAT", "flac": "PCM_24"}


def add_separate_arguments(parser, *, inputs: str | None = "audio files", weights: str | None = None,
                           weights_required: bool = False, weights_aliases: tuple[str, ...] = (),
                           sources: tuple[str, ...] = ("<source>",), name_from_folder: bool = True) -> None:
    """Add the flags every ``python -m <system>.separate`` shares, with one meaning everywhere.

    INPUT ... (when ``inputs`` is a help text; None for dataset-driven tools such as the oracle),
    --outdir, --weights (when ``weights`` is a help text; ``weights_aliases`` keep old names working,
    e.g. ``("--model-dir",)``), --format, --subtype, --name-from-folder, --plots, --quiet.
    ``sources`` only shapes the help text: OUTDIR/<name>/{vocals,accompaniment}.wav.
    Parse with :func:`parse_separate_args`, which checks --format/--subtype.
    """
    names = sources[0] if len(sources) == 1 else "{" + ",".join(sources) + "}"
    if inputs is not None:
        parser.add_argument("inputs", nargs="+", metavar="INPUT", help=inputs)
    parser.add_argument("--outdir", required=True,
                        help=f"output folder: writes OUTDIR/<name>/{names}.wav (or .flac with --format flac)")
    if weights is not None:
        parser.add_argument("--weights", *weights_aliases, dest="weights", metavar="PATH",
                            required=weights_required, help=weights)
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="wav",
                        help="container of the estimates (default: wav; common.evaluate and "
                             "common.listening read both)")
    parser.add_argument("--subtype", choices=SUBTYPES, default=None,
                        help="sample format (default: FLOAT for wav, PCM_24 for flac, which has no float)")
    if inputs is not None and name_from_folder:
        parser.add_argument("--name-from-folder", action="store_true",
                            help="name each output folder after the input's folder, not the file "
                                 "(for <track>/mixture.wav layouts such as MUSDB18)")
    parser.add_argument("--plots", action="store_true",
                        help="also write OUTDIR/<name>/spectrograms.png (input and estimates on one "
                             "colour range)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only errors: no progress bars, no line per output")


def parse_separate_args(parser, argv=None):
    """``parser.parse_args(argv)``, then check --format/--subtype and fill in the default subtype.

    Adds ``args.suffix`` (".wav" or ".flac"). A subtype the format cannot hold is a usage error.
    """
    args = parser.parse_args(argv)
    if args.subtype is None:
        args.subtype = DEFAULT_SUBTYPE[args.format]
    elif args.format == "flac" and args.subtype == "FLOAT":
        parser.error("--format flac cannot hold --subtype FLOAT; use PCM_16 or PCM_24, or --format wav")
    args.suffix = "." + args.format
    return args


def output_names(inputs, name_from_folder: bool = False,
                 rename: Callable[[str], str] | None = None) -> list[str]:
    """The output folder name of each input: its file name without extension, or its folder's name,
    then ``rename(name)`` if given (e.g. MiXiN's --first-prefix).

    Two inputs with one name would overwrite each other: that is a :class:`CLIError` naming them.
    """
    from pathlib import Path

    names = [Path(p).resolve().parent.name if name_from_folder else Path(p).stem for p in inputs]
    if rename is not None:
        names = [rename(name) for name in names]
    seen: dict[str, str] = {}
    for path, name in zip(inputs, names):
        if name in seen:
            fix = ("" if name_from_folder else "; use --name-from-folder if they sit in per-track folders")
            raise CLIError(f"{seen[name]} and {path} would both write to <outdir>/{name}/; rename one{fix}")
        seen[name] = str(path)
    return names


def run_batch(inputs, names, process: Callable[[str, str], str | None], *, quiet: bool = False,
              errors: tuple[type[BaseException], ...] = (), outdir=None, desc: str = "separating") -> int:
    """Run ``process(input, name)`` on every input; a failing input does not stop the others.

    process returns a line to print (unless ``quiet``) or None. A known error of one input (see
    :func:`known_errors`, plus ``errors``) is printed as ``error: <input>: <message>`` and the batch
    goes on; anything else is a bug and propagates. At the end, if any input failed, status 2 and
    (for more than one input) one summary line ``error: k of n inputs failed (...); m separated in
    OUTDIR``; else status 0 (and, unless quiet, where the outputs are).
    """
    from tqdm import tqdm

    inputs = [str(p) for p in inputs]
    failed: list[str] = []
    for path, name in tqdm(list(zip(inputs, names)), desc=desc, unit="file", leave=False,
                           disable=quiet or len(inputs) < 2):
        try:
            line = process(path, name)
        except (*known_errors(), *errors) as err:
            message = str(err)
            tqdm.write(f"error: {message if path in message else f'{path}: {message}'}", file=sys.stderr)
            failed.append(path)
            continue
        if line and not quiet:
            tqdm.write(line)
    where = f" in {outdir}" if outdir is not None else ""
    if failed and len(inputs) == 1:
        return 2  # its error line says it all
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        done = len(inputs) - len(failed)
        print(f"error: {len(failed)} of {len(inputs)} inputs failed ({shown}); "
              f"{done} separated{where if done else ''}", file=sys.stderr)
        return 2
    if not quiet and len(inputs) > 1:
        print(f"separated {len(inputs)} inputs{where}")
    return 0


# --------------------------------------------------------------------------------------------------
# TensorFlow's start-up log
# --------------------------------------------------------------------------------------------------

def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up log off the terminal; call before TensorFlow is imported.

    TF_CPP_MIN_LOG_LEVEL=3 (unless set) hides TensorFlow's C++ info, warning and non-fatal error lines
    (e.g. oneDNN's "supports DT_INT32 only on platforms with AVX-512" during training; real failures
    still reach the user as Python exceptions), but since
    TF 2.17 the lines written while its libraries load (absl's "All log messages before
    absl::InitializeLog() ..." banner, the oneDNN notice, the CPU-feature notice, CUDA factory
    registration) ignore it (tensorflow/tensorflow#100442). So the import of ``tensorflow``, whenever
    it happens, runs with file descriptor 2 sent to a temporary file, which is dropped if the import
    succeeds and replayed if it fails. Python warnings raised from TensorFlow, Keras and absl code
    are ignored and their Python loggers set to ERROR. Nothing changes numerically (the oneDNN
    optimisations stay on). ``TF_CPP_MIN_LOG_LEVEL=0`` in the environment asks for everything:
    then this does nothing.
    """
    import logging
    import os
    import warnings

    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|tf_keras|keras|absl|google\.protobuf)(\.|$)")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def import_tensorflow_without_keras():
    """Import and return TensorFlow without the Keras import that TensorFlow's ``__init__`` does eagerly.

    For commands that run TensorFlow ops but no Keras model (``xumx_slicq.separate``'s frozen networks).
    TensorFlow imports ``keras.src.optimizers`` at the end of its ``__init__`` only to register Keras'
    optimizers for SavedModel loading, inside ``try: ... except ImportError: pass``; Keras in turn imports
    scikit-learn (for its wrappers). That is 1.3-1.7 s of a 3.5-4.4 s import on these 2 cores. While TensorFlow
    is imported, ``sys.modules["keras"]`` is None, which Python turns into that ImportError; afterwards the
    entry is removed, so ``import keras`` and ``tf.keras`` still work, importing Keras when first used.
    Does nothing special when TensorFlow or Keras is already imported. Not for use while another thread
    may import Keras.
    """
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import tensorflow

        return tensorflow
    sys.modules["keras"] = None
    try:
        import tensorflow
    finally:
        if sys.modules.get("keras", 0) is None:
            del sys.modules["keras"]
    return tensorflow


class _QuietImport:
    """A one-shot import hook: module ``name``'s code runs with fd 2 captured (see above)."""

    def __init__(self, name: str = "tensorflow"):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _CapturingLoader(spec.loader)
        return spec


class _CapturingLoader:
    """Wraps a loader: exec_module runs with stderr (fd 2) captured; the rest is the real loader's."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        import logging
        import os
        import tempfile

        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                self._loader.exec_module(module)
            except BaseException:
                sys.stderr.flush()
                os.dup2(saved, 2)
                sink.seek(0)
                os.write(2, sink.read())  # the start-up log may say why the import failed
                raise
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
        module.__loader__ = module.__spec__.loader = self._loader  # the wrapper's job is done
        try:  # absl's Python logger exists once TensorFlow is loaded
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:
            pass
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
