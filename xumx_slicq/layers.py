"""Batch statistics for xumx-sliCQ's PyTorch-semantics BatchNorm (model.batch_norm), global when distributed.

PyTorch's BatchNorm2d normalises a training batch with its biased variance and updates the running
variance with the unbiased one (n / (n - 1)), n = the number of values per channel (design §3.6,
quirk 14). On one device that is ``ops.moments`` and the local count. Under ``tf.distribute`` with
several replicas (``python -m xumx_slicq.train --distribute ...``) each replica holds a slice of the
global batch: the statistics are then summed over the replicas (sum, sum of squares, count) so that
every replica normalises with, and keeps, the statistics of the global batch, as one process on the
whole batch would (SyncBatchNorm; common/distribute.py "Batch normalisation").
"""
from __future__ import annotations

from keras import ops


def batch_moments(x):
    """(mean, biased variance, count) over every axis but the last of ``x`` (B, ..., C).

    One replica: ``ops.moments`` and the local number of values per channel. Several replicas (inside
    ``strategy.run``): all-reduced sums over the global batch.
    """
    axes = list(range(len(x.shape) - 1))
    context = _replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        mean, variance = ops.moments(x, axes=axes)
        count = ops.cast(ops.prod(ops.shape(x)[:-1]), variance.dtype)
        return mean, variance, count
    import tensorflow as tf

    count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
    total, squares, count = context.all_reduce(
        tf.distribute.ReduceOp.SUM, [tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes), count])
    mean = total / count
    variance = tf.maximum(squares / count - tf.square(mean), 0.0)
    return mean, variance, count


def _replica_context():
    try:
        import tensorflow as tf
    except ImportError:  # another Keras backend: no tf.distribute
        return None
    if tf.distribute.in_cross_replica_context():
        return None
    return tf.distribute.get_replica_context()
