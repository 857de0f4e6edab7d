"""Every constant of Huang et al.'s DRNN singing-voice separation, with its source.

Short names of the sources (full references in README.md):
  MATLAB = posenhuang/deeplearningsourceseparation (codes/mir1k/...)
  TASLP  = Huang, Kim, Hasegawa-Johnson, Smaragdis, IEEE/ACM TASLP 23(12), 2015
  andabi = andabi/music-source-separation (commit 2a3e0ac)
  blog   = SubhasreeSengupta/jekyll-now:_posts/2017-11-26-source-separation.md
"""
from __future__ import annotations

# --- signal ---------------------------------------------------------------------------------
SAMPLE_RATE = 16000      # MIR-1K is 16 kHz (MATLAB codes/mir1k/Wavfile/*; TASLP §IV-C)
N_FFT = 1024             # posenhuang/deeplearningsourceseparation:codes/mir1k/train_mir1k_demo.m (framerate=64 -> winsize=nFFT=1024)
HOP = 512                # same file: 50% overlap; TASLP §IV-D "1024-point STFT with 50% overlap"
N_BINS = N_FFT // 2 + 1  # 513
# Window: sin(0:pi/N:pi-pi/N) = sqrt of a periodic Hann window, for analysis AND synthesis
# (posenhuang/deeplearningsourceseparation:codes/mir1k/train_mir1k_demo.m, labrosa stft.m/istft.m).
CONTEXT = 3              # frames [t-1, t, t+1], edges replicated (MATLAB context_win=3, im2col)
N_INPUTS = CONTEXT * N_BINS  # 1539
N_SOURCES = 2
# Output/target order: rows 1..513 = music ("noise"), rows 514..1026 = voice ("signal")
# (MATLAB formulate_data.m builds targets as [abs(spectrum.noise); abs(spectrum.signal)]).
SOURCE_ORDER = ("accompaniment", "vocals")
MASK_EPS = 1e-10         # denominator epsilon of the 'softabs' mask (MATLAB drdae_discrim_joint_kl_obj.m, opt=1)

# --- data -----------------------------------------------------------------------------------
CIRCULAR_STEP = 10000    # circular shift step in samples (MATLAB eI.circular_step=10000; TASLP §IV-D "10K")
SEQ_LENS = (100, 50, 25, 10, 1)  # greedy chunking of each mixture (MATLAB eI.seqLen=[1 10 25 50 100]);
                                 # TASLP §III-A "sequences of at most 100 time steps"
# The dev clips and the clips per split of Huang's partition: common.datasets (MIR1K_DEV_CLIPS, MIR1K_SPLIT_CLIPS)

# --- networks -------------------------------------------------------------------------------
HIDDEN = 1000            # "three hidden layers of 1000 hidden units" (TASLP §IV-D; MATLAB hiddenLayers=[1000 1000 1000])
N_HIDDEN_LAYERS = 3
GAMMA_HUANG = 0.05       # discriminative weight, MATLAB train_mir1k_demo.m eI.pos_neg_r=0.05
GAMMA_LSTM_BLOG = 0.5    # blog (Keen Quartet) "gamma = 0.5" for the 3 x LSTM(1000) variant: --gamma 0.5
# The lstm3x1000 default since 2026-12-02: with the blog's 0.5 the loss's optimum is 2*y1 - y2 (README,
# "3 x LSTM(1000)"); on dev, gamma 0.1 (the value dev chose for DRNN-2, in Huang's range) beat it by 1 dB
# within 12 epochs, everything else equal.
GAMMA_LSTM = 0.1
# The rest of the lstm3x1000 recipe since 2026-12-03 (train.py's defaults for that arch with Adam), each a change
# from the blog chosen on the 4 dev clips: the candidate run with all three led the blog-recipe run by +0.66 dB
# dev GNSDR after 7 epochs (README, "3 x LSTM(1000)").
LSTM_HEAD_ACTIVATION = "linear"  # Huang's linear output layer (the mask takes |.|) in place of the blog's ReLU heads
LSTM_DROPOUT = 0.4               # between the LSTM layers: sigsep/open-unmix-pytorch:openunmix/model.py (dropout=0.4)
LSTM_EMA = 0.999                 # Adam with a moving average of the weights, as the shipped DRNN-2 (README, row 1)
# New mixtures beyond Huang's shifts, the lstm3x1000 default since 2026-12-03 (evening): the run with both (work/lstm_aug)
# passed the recipe above's best dev GNSDR (9.75) at its epoch 19 with a lower dev loss (README, "Augmentation against
# the two training singers"). Open-Unmix mixes stems of different tracks the same way (sigsep/open-unmix-pytorch:
# openunmix/data.py, random_mix); the pitch shift is ours.
LSTM_REMIX = 0.5                 # probability that a mixture's music comes from another training clip
LSTM_PITCH_SHIFT = 2             # each mixture's voice shifted by a whole number of semitones in [-2, 2]
LSTM_UNITS = 1000        # blog: 3 LSTM layers of 1000 units
ANDABI_GRU_UNITS = 256   # andabi:config.py ModelConfig hidden_size=256, n_rnn_layer=3
ARCHS = ("lstm3x1000", "drnn1", "drnn2", "drnn3", "srnn", "dnn", "gru3x256")
DEFAULT_TRAIN_ARCH = "lstm3x1000"   # the project's users asked for it as the train default (issue 4)
RECURRENT_STACKS = ("lstm3x1000", "gru3x256")   # input: the mixture frame (blog, andabi), optionally standardised
# What a run's config.json must hold to rebuild its network, with the value meant when a key is missing
# (configs written before the option existed; not the defaults of a new run, which train.py sets per arch).
ARCHITECTURE_DEFAULTS = {"arch": None, "hidden": None, "layers": None, "input_norm": False, "recurrent_input": "frame",
                         "head_activation": "relu"}


def architecture_of(config: dict) -> dict:
    """The ARCHITECTURE_DEFAULTS keys of a run's config.json, the defaults filling those it lacks."""
    return {key: config.get(key, default) for key, default in ARCHITECTURE_DEFAULTS.items()}


def check_architecture(arch: str, input_norm: bool, recurrent_input: str, head_activation: str,
                       dropout: float = 0.0) -> None:
    """ValueError (naming the train.py option) for a combination build_model cannot make."""
    if recurrent_input not in ("frame", "context") or head_activation not in ("relu", "linear"):
        raise ValueError(f"--recurrent-input must be frame or context and --head-activation relu or linear, got "
                         f"{recurrent_input!r} and {head_activation!r}")
    if input_norm and arch not in RECURRENT_STACKS:
        raise ValueError(f"--input-norm applies to lstm3x1000 and gru3x256; {arch} takes Huang's raw magnitudes "
                         "(drop --input-norm)")
    if head_activation != "relu" and arch not in RECURRENT_STACKS:
        raise ValueError(f"--head-activation applies to lstm3x1000 and gru3x256; {arch}'s output layer is already "
                         "linear (drop --head-activation)")
    if recurrent_input != "frame" and (arch not in RECURRENT_STACKS or input_norm):
        raise ValueError(f"--recurrent-input context applies to lstm3x1000 and gru3x256 without --input-norm (got "
                         f"{arch}{' with --input-norm' if input_norm else ''}); Huang's networks always read the context")
    if not 0 <= dropout < 1:
        raise ValueError(f"--dropout must be in [0, 1), got {dropout}")
    if dropout and arch not in RECURRENT_STACKS:
        raise ValueError(f"--dropout applies to lstm3x1000 and gru3x256 (between their recurrent layers); {arch} is "
                         "Huang's network, trained without dropout (drop --dropout)")


# Initialisation (MATLAB initialize_weights.m): Glorot-uniform limits sqrt(6/(fan_in+fan_out)),
# sqrt(6/(fan_in+2*fan_out)) for the input weights of the recurrent layer,
# sqrt(6/(3*hidden)) for the recurrent matrix ("Ilya's modification"); biases 0.

# --- optimisation (here; Huang used full-batch L-BFGS, 400 iterations, history 50) ----------
LBFGS_MAX_ITER = 400     # MATLAB train_mir1k_demo.m options.MaxIter=400 (not used by default here)
# Here: andabi:config.py used LR=0.0001 for its GRU; for drnn2 on MIR-1K a probe here (3 epochs of
# one random shift per clip) diverged at 1e-3 (Inf on the whole dev clips in epoch 1) and reached dev
# GNSDR 6.9 -> 7.9 dB in two epochs at 3e-4, so 3e-4 is the default, halved when dev GNSDR stalls.
ADAM_LEARNING_RATE = 3e-4
LR_PATIENCE = 4          # epochs without a dev-GNSDR gain before the learning rate is halved
FRAMES_PER_BATCH = 1600  # here: 16 x 100-frame sequences per Adam step (chunks of 50/25/10/1 frames batched to the same frame count)
DEV_EVERY_EPOCHS = 1

# --- evaluation -----------------------------------------------------------------------------
# Paper's Table II (TASLP), MIR-1K test set (825 clips), voice GNSDR/GSIR/GSAR in dB.
PAPER_TABLE = {
    "DNN": (6.93, 10.99, 10.15),
    "DRNN-1": (7.11, 11.74, 9.93),
    "DRNN-2": (7.27, 11.98, 9.99),
    "DRNN-3": (7.14, 11.48, 10.15),
    "sRNN": (7.09, 11.72, 9.88),
    "DNN + discrim": (7.09, 12.11, 9.67),
    "DRNN-1 + discrim": (7.21, 12.76, 9.56),
    "DRNN-2 + discrim": (7.45, 13.08, 9.68),
    "DRNN-3 + discrim": (7.09, 11.69, 10.00),
    "sRNN + discrim": (7.15, 12.79, 9.39),
}

MIR1K_URL = "http://mirlab.org/dataset/public/MIR-1K.zip"  # mirdata mir_1k.py REMOTES
