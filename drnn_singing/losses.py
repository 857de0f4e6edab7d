"""Huang's objectives on the masked outputs (TASLP eqs. 7 and 11).

y_true, y_pred: (B, T, 2*bins) = [music, voice]. Per frame:
  J = 1/2 (||y~1 - y1||^2 + ||y~2 - y2||^2 - gamma ||y~1 - y2||^2 - gamma ||y~2 - y1||^2)
gamma = 0 gives the plain MSE objective (eq. 7). MATLAB sums J over all frames; here the frames
of a batch are averaged (Keras' mean reduction), which only rescales the gradient (a first-order
optimiser needs it) and leaves gamma's relative weight unchanged.
"""
from __future__ import annotations

from keras import ops


def discriminative_loss(y_true, y_pred, gamma: float):
    """(B, T, 2*bins) x 2 -> per-frame loss (B, T)."""
    y1, y2 = ops.split(y_true, 2, axis=-1)
    e1, e2 = ops.split(y_pred, 2, axis=-1)
    own = ops.sum(ops.square(e1 - y1), axis=-1) + ops.sum(ops.square(e2 - y2), axis=-1)
    cross = ops.sum(ops.square(e1 - y2), axis=-1) + ops.sum(ops.square(e2 - y1), axis=-1)
    return 0.5 * (own - gamma * cross)


def make_loss(gamma: float):
    """A Keras loss function bound to gamma (named so that it shows in logs)."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1] (TASLP eq. 11), got {gamma}")

    def loss(y_true, y_pred):
        return discriminative_loss(y_true, y_pred, gamma)

    loss.__name__ = f"discriminative_gamma{gamma:g}" if gamma else "mse_huang"
    return loss
