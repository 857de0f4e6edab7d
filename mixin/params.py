"""Every constant of the original MiXiN, each with the place it comes from.

Sources: sevagh/MiXiN at fcf165e (last functional change 10d2012); the Bark scale from the nsgt fork
sevagh/nsgt at fded8f4 (nsgt/fscale.py). See ../shared/design/mixin.md.
"""
from __future__ import annotations

SAMPLE_RATE = 44100  # sevagh/MiXiN:mixin/params.py sample_rate
CHUNK_SIZE = 44032  # sevagh/MiXiN:mixin/params.py chunk_size (43 x 1024, ~1 s)

# NSGT: NSGT(BarkScale(0, 22050, 96), 44100, 44032, real=True, matrixform=True)
# sevagh/MiXiN:mixin/params.py nsgt_scale, sevagh/MiXiN:mixin/mixin_model.py xtract_mixin
BARK_FMIN = 0.0
BARK_FMAX = 22050.0
BARK_BANDS = 96

# Coefficient matrix per chunk: sevagh/MiXiN:mixin/params.py dim_1, dim_2
N_CHANNELS = 96  # DC + 94 interior Bark bands + Nyquist
N_FRAMES = 1948  # set by the Nyquist filter's length under matrixform
COEF_SHAPE = (N_CHANNELS, N_FRAMES)

# Final crop of the CDAE: sevagh/MiXiN:mixin/params.py conv_kernel_crop_dim_{1,2}
CROP_DIM_1 = 0
CROP_DIM_2 = 2

# Soft masks: power 2, epsilon = keras.backend.epsilon() (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin)
MASK_POWER = 2.0
MASK_EPSILON = 1e-7

# Training: sevagh/MiXiN:mixin/params.py batch_size, sevagh/MiXiN:mixin/mixin_model.py Model/_create_model,
# sevagh/MiXiN:train_util.py train_network
BATCH_SIZE = 64
EPOCHS = 100
LEARNING_RATE = 1e-3  # Adam defaults as saved in the .h5 training_config
EARLY_STOPPING_PATIENCE = 2  # EarlyStopping(monitor="val_loss", patience=2, min_delta=0)
LOSS = "mae"

# Split fractions: sevagh/MiXiN:mixin/dataprep/hdf5.py TRAIN/VALIDATION/TEST (80/10/10; README says 80/20/20)
TRAIN_FRACTION = 0.8
TEST_FRACTION = 0.1  # the code names this slice "test" and takes it right after train

# Stem preparation defaults: sevagh/MiXiN:train_util.py (--segment-duration 30.0)
SEGMENT_DURATION = 30.0

# Component order: training order and the order of the separate model files
# (sevagh/MiXiN:mixin/params.py components: percussive, harmonic, vocal)
COMPONENTS = ("percussive", "harmonic", "vocal")
# Order of the separation API's return value (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin)
OUTPUT_ORDER = ("harmonic", "percussive", "vocal")


def model_filename(component: str, ext: str = ".h5") -> str:
    """Model file name inside a model dir (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin)."""
    return f"model_{component}{ext}"
