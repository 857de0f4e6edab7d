"""Full-batch L-BFGS, Huang's optimiser (TASLP §IV; MATLAB `train_mir1k_demo.m`: minFunc, history
`Corr = 50`, `MaxIter = 400`, every chunk of every training mixture in each function evaluation).

The minimiser is tensorflow-probability's `tfp.optimizer.lbfgs_minimize` (Wolfe line search, as
minFunc's default); this module only supplies what it needs: the network's weights as one flat
vector and a full-batch objective. The objective streams the fixed training set through the
network batch by batch and sums the loss and its gradient (MATLAB's GPU variant also splits the
batch into pieces and sums), so memory stays bounded; it is the mean per frame (Huang's sum divided
by the number of frames: the same minimiser path up to the gradient tolerance).

Training runs in segments of `eval_every` iterations (MATLAB evaluates dev every 20); each
segment continues the previous one's state (`previous_optimizer_results`), so the curvature
history is kept across segments. A resumed run restarts the history from the saved weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LBFGS_HISTORY = 50        # MATLAB train_mir1k_demo.m: options.Corr = 50
LBFGS_ITERATIONS = 400    # MATLAB train_mir1k_demo.m: options.MaxIter = 400
LBFGS_EVAL_EVERY = 20     # MATLAB save_callback_mir1k_general.m: dev every 20 iterations


def flat_weights(model):
    """All trainable weights as one float32 vector (n_parameters,)."""
    import tensorflow as tf
    return tf.concat([tf.reshape(w, [-1]) for w in model.trainable_weights], axis=0)


def set_flat_weights(model, flat) -> None:
    """Write a vector from `flat_weights` back into the model's weights (in place)."""
    flat = np.asarray(flat)
    start = 0
    for w in model.trainable_weights:
        size = int(np.prod(w.shape))
        w.assign(flat[start:start + size].reshape(w.shape))
        start += size
    if start != flat.size:
        raise ValueError(f"weight vector has {flat.size} values, the model {start}")


class FullBatchObjective:
    """flat weights (n,) -> (mean loss per frame, gradient (n,)) / scale over every batch of `dataset`.

    dataset: a finite tf.data.Dataset yielding the same (x (B, L, F), y (B, L, 2*bins)) batches on
    every pass; per_frame_loss(y, y_pred) -> (B, L).
    scale = max(1, ||g0||_1) at the first point evaluated: L-BFGS's first step, -g with a unit
    trial length in tfp, then becomes minFunc's first step t = min(1, 1/sum|g|) (minFunc.m); later
    steps are scale-free (the curvature pairs set the step). Without it the first trial step of a
    ReLU network overshoots into a region where every unit is dead and the line search fails.
    """

    def __init__(self, model, per_frame_loss: Callable, dataset):
        import tensorflow as tf
        self.model, self.dataset, self.evaluations, self.scale = model, dataset, 0, None

        @tf.function(reduce_retracing=True)
        def batch_sum(x, y):
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(per_frame_loss(y, model(x, training=True)))
            grads = tape.gradient(total, model.trainable_weights)
            frames = tf.cast(tf.shape(x)[0] * tf.shape(x)[1], tf.float64)
            return tf.cast(total, tf.float64), [tf.cast(g, tf.float64) for g in grads], frames

        self._batch_sum = batch_sum

    def __call__(self, flat):
        import tensorflow as tf
        set_flat_weights(self.model, flat.numpy() if hasattr(flat, "numpy") else flat)
        total, frames, grads = 0.0, 0.0, None
        for x, y in self.dataset:
            value, batch_grads, n = self._batch_sum(x, y)
            total += float(value)
            frames += float(n)
            grads = batch_grads if grads is None else [a + b for a, b in zip(grads, batch_grads)]
        if not frames:
            raise ValueError("the training set yielded no frames")
        self.evaluations += 1
        gradient = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0) / frames
        if self.scale is None:
            self.scale = max(1.0, float(tf.reduce_sum(tf.abs(gradient))))
        return (tf.constant(total / frames / self.scale, tf.float32),
                tf.cast(gradient / self.scale, tf.float32))


@dataclass
class Segment:
    """State after one segment of iterations (what the on_segment hook receives)."""
    iteration: int          # iterations done in this run, counting those before a resume
    loss: float             # full-batch mean loss per frame at the current weights
    evaluations: int        # function evaluations so far (this process)
    converged: bool
    failed: bool            # the line search could not make progress


def minimize(model, objective: FullBatchObjective, iterations: int = LBFGS_ITERATIONS,
             history: int = LBFGS_HISTORY, eval_every: int = LBFGS_EVAL_EVERY, start_iteration: int = 0,
             on_segment: Callable[[Segment], bool] | None = None) -> Segment:
    """Run L-BFGS from the model's current weights up to `iterations` in total.

    After every `eval_every` iterations the weights are written into the model and
    `on_segment(segment)` is called; it returns True to stop early. Returns the last segment.
    """
    import tensorflow_probability as tfp
    results, done = None, start_iteration
    segment = Segment(done, float("nan"), 0, False, False)
    while done < iterations:
        target = min(iterations, done + eval_every) - start_iteration
        results = tfp.optimizer.lbfgs_minimize(
            objective, initial_position=None if results is not None else flat_weights(model),
            previous_optimizer_results=results, num_correction_pairs=history, max_iterations=target,
            tolerance=0.0)
        set_flat_weights(model, results.position.numpy())
        previous, done = done, start_iteration + int(results.num_iterations)
        segment = Segment(done, float(results.objective_value) * objective.scale, objective.evaluations,
                          bool(results.converged), bool(results.failed))
        stop = on_segment(segment) if on_segment else False
        if stop or segment.converged or segment.failed or done == previous:
            break
    return segment


def check_available() -> None:
    """A one-line ImportError when tensorflow-probability (or its tf_keras import) is missing."""
    try:
        import tensorflow_probability  # noqa: F401
    except ImportError as err:
        raise ImportError(f"--optimizer lbfgs needs tensorflow-probability and tf-keras ({err}); "
                          "install them with `make setup` (requirements.txt, requirements-nodeps.txt)") from None

