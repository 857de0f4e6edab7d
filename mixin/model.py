"""The CDAE of MiXiN: 13 Keras layers, 37,005 parameters (sevagh/MiXiN:mixin/mixin_model.py _create_model).

Input and output: NSGT magnitudes (batch, 96, 1948, 1) float32, frequency on the height axis and time
on the width axis (the transpose of Grais & Plumbley's layout). Shapes per layer are in the comments.
"""
from __future__ import annotations

from pathlib import Path

from .params import COEF_SHAPE, CROP_DIM_1, CROP_DIM_2, LEARNING_RATE, LOSS, N_CHANNELS, N_FRAMES

N_PARAMS = 37005


class ModelFileError(FileNotFoundError):
    """A model file is missing or unreadable (one-line message naming the file and the fix)."""


def build_cdae(name: str | None = None):
    """A fresh, uncompiled CDAE (GlorotUniform kernels, zero biases, as in the original)."""
    import keras
    from keras import layers

    conv = dict(kernel_size=3, activation="relu", padding="same")
    return keras.Sequential(
        [
            keras.Input(shape=(N_CHANNELS, N_FRAMES, 1)),  # (96, 1948, 1)
            layers.Conv2D(12, **conv),  # (96, 1948, 12)
            layers.MaxPooling2D(pool_size=(3, 5), padding="same"),  # (32, 390, 12)
            layers.Conv2D(20, **conv),  # (32, 390, 20)
            layers.MaxPooling2D(pool_size=(1, 5), padding="same"),  # (32, 78, 20)
            layers.Conv2D(30, **conv),  # (32, 78, 30)
            layers.Conv2D(40, **conv),  # (32, 78, 40)
            layers.Conv2D(30, **conv),  # (32, 78, 30)
            layers.Conv2D(20, **conv),  # (32, 78, 20)
            layers.UpSampling2D(size=(1, 5), interpolation="nearest"),  # (32, 390, 20)
            layers.Conv2D(12, **conv),  # (32, 390, 12)
            layers.UpSampling2D(size=(3, 5), interpolation="nearest"),  # (96, 1950, 12)
            layers.Conv2D(1, kernel_size=1, activation="relu", padding="same"),  # (96, 1950, 1)
            layers.Cropping2D(cropping=((CROP_DIM_1, CROP_DIM_1), (0, CROP_DIM_2))),  # (96, 1948, 1)
        ],
        name=name,
    )


def compile_cdae(model, learning_rate: float = LEARNING_RATE):
    """MAE loss, Adam(1e-3, 0.9, 0.999, 1e-7), MAE metric (sevagh/MiXiN:mixin/mixin_model.py)."""
    import keras

    model.compile(loss=LOSS, optimizer=keras.optimizers.Adam(learning_rate=learning_rate), metrics=["mae"])
    return model


def load_cdae(path: str | Path, name: str | None = None):
    """Build the CDAE and load weights from ``path``.

    Accepts the original Keras-2 ``model_<c>.h5`` full-model files, Keras 3 ``.keras`` files and
    ``.weights.h5`` files. A missing file raises ``ModelFileError`` (the original silently trained a new,
    untrained model instead: quirk 11).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; pass --model-dir with model_{{harmonic,"
                             "percussive,vocal}.h5 (or .keras) files, e.g. from `python -m mixin.train`")
    model = build_cdae(name=name or path.stem)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # keras raises many types for a bad file
        raise ModelFileError(f"{path}: cannot load CDAE weights ({type(exc).__name__}: {exc}); "
                             "is it a MiXiN model file?") from exc
    assert model.count_params() == N_PARAMS and tuple(model.output_shape[1:3]) == COEF_SHAPE
    return model


def find_model_file(model_dir: str | Path, component: str) -> Path:
    """``model_<component>.keras`` if present, else ``model_<component>.h5`` (the original's name)."""
    model_dir = Path(model_dir)
    for ext in (".keras", ".h5"):
        candidate = model_dir / f"model_{component}{ext}"
        if candidate.is_file():
            return candidate
    raise ModelFileError(f"{model_dir / f'model_{component}.h5'}: model file not found (also looked for "
                         f"model_{component}.keras); train one with `python -m mixin.train` or point "
                         "--model-dir at the pretrained MiXiN models")


# --------------------------------------------------------------------------------------------------
# Inference: the CDAEs of a model dir in one graph
# --------------------------------------------------------------------------------------------------

POOLED_SHAPE = (N_CHANNELS // 3, -(-N_FRAMES // 25))  # (32, 390): the grid of layers 3-10 in build_cdae

_LAYER_KINDS = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Conv2D", "Conv2D", "Conv2D",
                "UpSampling2D", "Conv2D", "UpSampling2D", "Conv2D", "Cropping2D"]


def upsample_to_coefs(small):
    """The CDAE's UpSampling2D((3, 5), nearest) and Cropping2D((0, 0), (0, 2)) in numpy.

    small: (..., 32, 390) -> (..., 96, 1948), same dtype.
    """
    import numpy as np

    full = np.repeat(np.repeat(np.asarray(small), 3, axis=-2), 5, axis=-1)
    return full[..., : full.shape[-1] - CROP_DIM_2]


def fused_inference(models: list):
    """One compiled graph running several CDAEs on the same magnitudes, up to their (32, 390) grid.

    Returns ``run(x (n, 96, 1948, 1) float32) -> (n, 32, 390, len(models)) float32``; channel ``i``
    followed by :func:`upsample_to_coefs` equals ``models[i](x)``. Two rearrangements, neither of which
    changes a number:
    * the last 1x1 conv + ReLU acts on each pixel alone, so it commutes with the nearest-neighbour
      UpSampling2D((3, 5)) before it: it runs on the (32, 390) grid, and the upsampling is left to the
      caller (the soft masks are per pixel too, so separate.py takes them on this grid);
    * the first Conv2D of every model reads the same input: one Conv2D holds all their filters
      (12 per model, side by side), then one MaxPooling2D; the rest is each model's own layers.
    About 40 % less CPU than calling the three Keras models (measured on 2 cores): no (96, 1950, 12)
    tensors, and one pass over the input instead of three.
    """
    import tensorflow as tf

    for model in models:
        kinds = [type(layer).__name__ for layer in model.layers]
        if kinds != _LAYER_KINDS:
            raise ValueError(f"{model.name}: not a MiXiN CDAE (layers {kinds})")
    first = [m.layers[0] for m in models]
    pool = models[0].layers[1]  # MaxPooling2D((3, 5), "same"), identical in every model
    width = first[0].filters

    @tf.function(input_signature=[tf.TensorSpec([None, N_CHANNELS, N_FRAMES, 1], tf.float32)])
    def run(x):
        kernel = tf.concat([layer.kernel for layer in first], axis=-1)  # (3, 3, 1, 12 * len(models))
        bias = tf.concat([layer.bias for layer in first], axis=-1)
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=1, padding="SAME"), bias))
        h = pool(h)  # (n, 32, 390, 12 * len(models))
        outs = []
        for i, model in enumerate(models):
            y = h[..., i * width: (i + 1) * width]
            for layer in model.layers[2:10]:  # Conv2D(20) ... Conv2D(12): (n, 32, 390, 12)
                y = layer(y, training=False)
            outs.append(model.layers[11](y))  # Conv2D(1, 1x1) + ReLU: (n, 32, 390, 1)
        return tf.concat(outs, axis=-1)

    return run
