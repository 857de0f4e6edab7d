"""Every constant of the original, each with the source it comes from.

Sources are named ``owner/repo:path``. The student project is
ZeroAda/EIE3510-Music-Separation (notebook ``Test_and_Deep_Learning_Method.ipynb``), which copies the
nussl tutorial (source-separation/tutorial) and runs nussl 1.1.9 (nussl/nussl).
"""
from __future__ import annotations

# --- STFT of the deep model -------------------------------------------------------------
# STFTParams(window_length=512, hop_length=128), window_type None -> 'sqrt_hann'
# (ZeroAda/EIE3510-Music-Separation:Test_and_Deep_Learning_Method.ipynb cell 28;
#  nussl/nussl:nussl/core/constants.py WINDOW_DEFAULT = 'sqrt_hann')
DEEP_WINDOW = 512
DEEP_HOP = 128
NUM_BINS = DEEP_WINDOW // 2 + 1  # 257 (the report's "256" is wrong, design §9.4)

# nussl's default STFT when no STFTParams are given: window = next power of two of 32 ms,
# hop = window / 4 (nussl/nussl:nussl/core/constants.py DEFAULT_WIN_LEN_PARAM = 0.032;
# nussl/nussl:nussl/core/audio_signal.py). 2048/512 at 44.1 kHz, 512/128 at 16 kHz.
DEFAULT_WIN_LEN_SECONDS = 0.032
DEFAULT_HOP_DIVISOR = 4

# --- Model (source-separation/tutorial:common/models.py MaskInference.build, cell 28) -----
HIDDEN_SIZE = 50
NUM_LAYERS = 1          # what was trained (cell 28); the report describes 2 (cells 23/24)
DROPOUT = 0.0           # what was trained; the report describes 0.3
BIDIRECTIONAL = True
REPORT_NUM_LAYERS = 2
REPORT_DROPOUT = 0.3
# AmplitudeToDB(ref=1.0, amin=1e-4) -> floor at -80 dB (nussl/nussl:nussl/ml/networks/modules/blocks.py)
DB_AMIN = 1e-4
DB_REF = 1.0
# nn.BatchNorm1d defaults (eps 1e-5, momentum 0.1); Keras momentum is the decay: 1 - 0.1 = 0.9
BN_EPSILON = 1e-5
BN_MOMENTUM_TORCH = 0.1
BN_MOMENTUM = 1.0 - BN_MOMENTUM_TORCH
# RecurrentStack(init_forget=True): forget slice of bias_ih and bias_hh set to 1 each -> 2 in
# Keras' single bias (nussl/nussl:nussl/ml/networks/modules/blocks.py)
FORGET_BIAS = 2.0
# Parameter counts (design §1.3, §6): PyTorch 150,071 (two LSTM biases, no BN running stats);
# Keras 150,185 = 149,671 trainable + 514 BatchNorm moving statistics. 2 layers: 210,585 / 210,071.
KERAS_PARAMS_1_LAYER = 150_185
KERAS_TRAINABLE_1_LAYER = 149_671
TORCH_PARAMS_1_LAYER = 150_071
KERAS_PARAMS_2_LAYERS = 210_585
KERAS_TRAINABLE_2_LAYERS = 210_071
TORCH_PARAMS_2_LAYERS = 210_871

# --- Training recipe (cell 28; source-separation/tutorial:common/data.py::mixer) -----------
LEARNING_RATE = 1e-3     # torch.optim.Adam(lr=1e-3)
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8      # torch default (Keras' default is 1e-7)
BATCH_SIZE = 10          # DataLoader(batch_size=10)
ORIGINAL_ITERATIONS = 300  # trainer.run(epoch_length=300, max_epochs=1)
EXCERPT_SECONDS = 5.0    # mixer duration
REF_DB_RANGE = (-30.0, -10.0)   # ref_db ~ U[-30, -10] LUFS
SNR_RANGE = (-5.0, 5.0)         # per-stem snr ~ U[-5, 5] dB
PITCH_SHIFT_RANGE = (-2.0, 2.0)  # semitones
TIME_STRETCH_RANGE = (0.9, 1.1)
AUGMENT_PROB = 0.5
NUM_VALIDATION_MIXTURES = 10    # val data: 10 coherent mixtures, one batch
FADE_SECONDS = 0.01             # scaper's 10 ms fades (justinsalamon/scaper:scaper/core.py @v1.6.4)

# --- REPET (nussl/nussl:nussl/separation/primitive/repet.py) --------------------------------
REPET_MIN_PERIOD = 0.8   # seconds
REPET_MAX_PERIOD = 8.0   # seconds, capped at duration / 3
REPET_HIGH_PASS = 100.0  # Hz (HighLowPassFilter)
REPET_EPS = 1e-16

# --- HPSS (nussl/nussl:nussl/separation/primitive/hpss.py; librosa.decompose.hpss) ----------
HPSS_KERNEL = 31
HPSS_POWER = 2.0
HPSS_MARGIN = 1.0

# --- Published medians (ZeroAda/ZeroAda.github.io:static/img/music_sep/result.png), dB ---------
# 50 MUSDB18 7-s test excerpts; "Overall Deep SI-SAR 3.08" is inconsistent (design §9.6).
PUBLISHED = {
    "repet": {"vocals": {"SI-SDR": 0.28, "SI-SIR": 4.90, "SI-SAR": 2.05},
              "accompaniment": {"SI-SDR": 6.36, "SI-SIR": 11.30, "SI-SAR": 8.61},
              "overall": {"SI-SDR": 4.21, "SI-SIR": 8.31, "SI-SAR": 5.98}},
    "hpss": {"vocals": {"SI-SDR": -4.51, "SI-SIR": -3.96, "SI-SAR": 4.75},
             "accompaniment": {"SI-SDR": -0.72, "SI-SIR": 5.81, "SI-SAR": 0.89},
             "overall": {"SI-SDR": -2.77, "SI-SIR": 1.44, "SI-SAR": 2.27}},
    "deep": {"vocals": {"SI-SDR": 1.15, "SI-SIR": 6.93, "SI-SAR": 6.63},
             "accompaniment": {"SI-SDR": 7.26, "SI-SIR": 9.72, "SI-SAR": 11.27},
             "overall": {"SI-SDR": 4.43, "SI-SIR": 8.33, "SI-SAR": 3.08}},
}
METHODS = ("deep", "repet", "hpss", "harmonic")
SOURCES = ("vocals", "accompaniment")
METRICS = ("SI-SDR", "SI-SIR", "SI-SAR")
