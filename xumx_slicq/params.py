"""Every constant of xumx-sliCQ v1, each with the place in the original it comes from.

Sources: sevagh/xumx-sliCQ@v1-release (78848a0) unless noted; the facts are collected, with line
numbers, in ../shared/design/xumx_slicq.md (cited below as "design §n").
"""
from __future__ import annotations

# --- transform (design §2; sevagh/xumx-sliCQ:xumx_slicq/transforms.py NSGTBase, pretrained-model/xumx_slicq.json)
SAMPLE_RATE = 44100            # the only rate the original supports (transforms.py make_filterbanks)
FSCALE = "bark"                # --fscale bark
FBINS = 262                    # --fbins 262: scale bins; the transform has 263 rows (DC + 261 Bark + Nyquist)
FMIN = 32.9                    # --fmin 32.9 Hz
FMAX = SAMPLE_RATE / 2         # fixed to fs/2 by NSGTBase
SLLEN = 18060                  # slice length (fscale.py suggested_sllen_trlen; --sllen 18060)
TRLEN = 4516                   # transition length = sllen//4 rounded up to even (README's 4514 is a typo, 0a2141a)
N_ROWS = 263                   # NSGT_sliced.fbins_actual
COEFS_PER_SLICE = 18640        # sum over blocks of nf * M, per channel
MAX_M = 292                    # largest M (the Nyquist row); width of the zero-padded Wiener matrix (design §2.8)

#: The 70 blocks of equal M (design Appendix A; docs/slicq_shape.md): (first transform row, nf, M).
BLOCKS = (
    (0, 1, 28), (1, 86, 16), (87, 14, 20), (101, 11, 24), (112, 9, 28), (121, 8, 32), (129, 7, 36),
    (136, 6, 40), (142, 6, 44), (148, 5, 48), (153, 5, 52), (158, 4, 56), (162, 5, 60), (167, 3, 64),
    (170, 4, 68), (174, 4, 72), (178, 3, 76), (181, 3, 80), (184, 3, 84), (187, 3, 88), (190, 2, 92),
    (192, 3, 96), (195, 2, 100), (197, 3, 104), (200, 2, 108), (202, 2, 112), (204, 2, 116),
    (206, 2, 120), (208, 2, 124), (210, 2, 128), (212, 2, 132), (214, 2, 136), (216, 2, 140),
    (218, 1, 144), (219, 2, 148), (221, 2, 152), (223, 1, 156), (224, 2, 160), (226, 1, 164),
    (227, 2, 168), (229, 1, 172), (230, 2, 176), (232, 1, 180), (233, 1, 184), (234, 2, 188),
    (236, 1, 192), (237, 1, 196), (238, 1, 200), (239, 2, 204), (241, 1, 208), (242, 1, 212),
    (243, 1, 216), (244, 1, 220), (245, 1, 224), (246, 1, 228), (247, 2, 232), (249, 1, 236),
    (250, 1, 240), (251, 1, 244), (252, 1, 248), (253, 1, 252), (254, 1, 256), (255, 1, 264),
    (256, 1, 268), (257, 1, 272), (258, 1, 276), (259, 1, 280), (260, 1, 284), (261, 1, 288),
    (262, 1, 292),
)
N_BLOCKS = len(BLOCKS)

# --- network (design §3; xumx_slicq/model.py OpenUnmixTimeBucketCDAE, OpenUnmix)
BANDWIDTH_HZ = 16000.0         # --bandwidth 16000: blocks starting at or above max_bin pass the mixture through
MAX_BIN = 243                  # transforms.py max_bins: argmax(F > 16000) + 1; first bypassed row (16188.5 Hz)
CHANNELS = (25, 55)            # hidden channels of the CDAE encoder (model.py L165-200)
DILATION = (1, 2)              # dilation of all four CDAE convolutions: time only
GROWTH_KERNEL = (1, 3)         # the "growth" ConvTranspose2d(2->2, (1,3), stride (1,2), bias) (model.py L230-240)
GROWTH_STRIDE = (1, 2)
BN_EPSILON = 1e-5              # torch.nn.BatchNorm2d defaults
BN_MOMENTUM = 0.1              # torch's momentum (Keras: 1 - 0.1 = 0.9)
NB_CHANNELS = 2                # stereo; mono input is duplicated (utils.preprocess)

#: Targets in the order the Separator writes them (model.py L393) and musdb's source order.
TARGETS = ("vocals", "drums", "bass", "other")
#: The order OpenUnmix.forward returns them in (model.py L337): never rely on it, use names.
NETWORK_RETURN_ORDER = ("bass", "vocals", "other", "drums")

#: Trainable parameters: with the per-block input mean/scale, and torchinfo's figure without them
#: (design §3.4; the README quotes the second).
PARAMS_TOTAL = 6_671_856
PARAMS_WITHOUT_INPUT_STATS = 6_669_912

# --- inference (design §6; model.py Separator, filtering.py, utils.py load_separator)
NITER = 1                      # load_separator drops its niter argument: EM always ran 1 iteration
WIENER_EPS = 1e-10             # Separator eps
WIENER_SCALE_FACTOR = 10.0     # mixture divided by max(1, max|X| / 10) before the EM (filtering.py wiener)
WIENER_WIN_LEN = 300           # STFT-mode EM runs on windows of 300 frames
STFT_N_FFT = 4096              # Separator STFT-mode transform (model.py L457)
STFT_HOP = 1024
CHUNK_SAMPLES = 2_621_440      # v1-release Separator.forward chunk (59.44 s), no overlap
MIN_SAMPLES = 9031             # inputs <= 9030 samples (S = 2) crash the original (design §3.1)

# --- training (design §5; scripts/train.py at 5d0e2ae, pretrained-model/xumx_slicq.json)
SEQ_DUR = 1.0
BATCH_SIZE = 32
SAMPLES_PER_TRACK = 64
LR = 1e-3
WEIGHT_DECAY = 1e-5            # coupled L2 (torch.optim.Adam weight_decay)
LR_DECAY_PATIENCE = 80
LR_DECAY_GAMMA = 0.3
LR_DECAY_COOLDOWN = 10
MCOEF = 0.1                    # weight of the (gradient-free) SI-SDR term of the loss
SEED = 42


def kernel_size(nf: int, m: int) -> tuple[int, int]:
    """(kf, kt) of all four CDAE convolutions of a block (model.py L160-175; design §3.1).

    kf = 1 if nf < 10, 3 if nf < 20, else 5; kt = 7 if M <= 100, else 13.
    """
    kf = 1 if nf < 10 else (3 if nf < 20 else 5)
    kt = 7 if m <= 100 else 13
    return kf, kt


def has_network(block: int) -> bool:
    """True for the 51 blocks below the 16 kHz bandwidth (model.py L284-287: first row < max_bin)."""
    return BLOCKS[block][0] < MAX_BIN


def n_slices(length: int) -> int:
    """Slices S of the sliCQT for ``length`` samples (design §2.4): floor((ceil(L/4515) + 1)/2) + 1."""
    hhop = SLLEN // 4
    return ((-(-length // hhop)) + 1) // 2 + 1


def ola_frames(n_slice: int, m: int) -> int:
    """Frames after the 50% overlap-add of S slices of M coefficients: S*M/2 + M/2 (design §2.7)."""
    return n_slice * m // 2 + m // 2
