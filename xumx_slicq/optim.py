"""PyTorch's Adam (coupled L2 weight decay) and ReduceLROnPlateau, with PyTorch's exact semantics.

The original trains with ``torch.optim.Adam(params, lr=1e-3, weight_decay=1e-5)`` and
``ReduceLROnPlateau(optimizer, factor=0.3, patience=80, cooldown=10)`` on the validation loss
(sevagh/xumx-sliCQ@5d0e2ae:scripts/train.py L355-366; design §5, quirk 13). Keras' own versions differ:

* ``keras.optimizers.Adam(weight_decay=...)`` is decoupled (AdamW) and adds epsilon to sqrt(v) before
  the bias correction of v; torch adds wd * theta to the gradient and epsilon after it:
  g' = g + wd*theta; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
  theta -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)   (torch/optim/adam.py _single_tensor_adam).
* ``keras.callbacks.ReduceLROnPlateau`` compares with an absolute ``min_delta`` and reduces after
  ``patience`` bad epochs; torch (mode "min", threshold 1e-4 "rel") calls an epoch better when
  value < best * (1 - 1e-4) and reduces after *more than* ``patience`` bad epochs, then waits ``cooldown``
  epochs in which bad epochs are not counted (torch/optim/lr_scheduler.py ReduceLROnPlateau).
"""
from __future__ import annotations

import math

import keras
from keras import ops

from .params import LR, LR_DECAY_COOLDOWN, LR_DECAY_GAMMA, LR_DECAY_PATIENCE, WEIGHT_DECAY


class TorchAdam(keras.optimizers.Optimizer):
    """``torch.optim.Adam`` (amsgrad off, maximize off): coupled L2 ``weight_decay`` on every variable
    it updates, betas (0.9, 0.999), eps 1e-8 added after the bias correction of v."""

    def __init__(self, learning_rate=LR, beta_1=0.9, beta_2=0.999, epsilon=1e-8, l2=WEIGHT_DECAY,
                 name="torch_adam", **kwargs):
        kwargs.pop("weight_decay", None)  # Keras' decoupled decay stays off: ``l2`` is torch's weight_decay
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.l2 = beta_1, beta_2, epsilon, l2

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._v = [], []
        for var in var_list:
            self._m.append(self.add_variable_from_reference(var, "m"))
            self._v.append(self.add_variable_from_reference(var, "v"))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)
        if self.l2:
            g = ops.add(g, ops.multiply(ops.cast(self.l2, dtype), variable))
        step = ops.cast(self.iterations + 1, dtype)
        bc1 = 1.0 - ops.power(ops.cast(self.beta_1, dtype), step)
        bc2 = 1.0 - ops.power(ops.cast(self.beta_2, dtype), step)
        m = self._m[self._get_variable_index(variable)]
        v = self._v[self._get_variable_index(variable)]
        # torch: exp_avg.lerp_(g, 1 - b1); exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
        self.assign(m, ops.add(m, ops.multiply(ops.subtract(g, m), 1.0 - self.beta_1)))
        self.assign(v, ops.add(ops.multiply(v, self.beta_2), ops.multiply(ops.square(g), 1.0 - self.beta_2)))
        denom = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bc2)), ops.cast(self.epsilon, dtype))
        self.assign_sub(variable, ops.multiply(ops.divide(lr, bc1), ops.divide(m, denom)))

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, l2=self.l2)
        return config


class TorchPlateau:
    """``ReduceLROnPlateau(mode="min", factor, patience, threshold=1e-4, threshold_mode="rel",
    cooldown, min_lr=0, eps=1e-8)``. ``step(value)`` returns the learning rate to use next; the state
    (``state_dict``/``load_state_dict``) is JSON-serialisable, for resuming."""

    def __init__(self, lr: float = LR, factor: float = LR_DECAY_GAMMA, patience: int = LR_DECAY_PATIENCE,
                 cooldown: int = LR_DECAY_COOLDOWN, threshold: float = 1e-4, min_lr: float = 0.0,
                 eps: float = 1e-8):
        if factor >= 1.0:
            raise ValueError("factor should be < 1.0")
        self.lr, self.factor, self.patience, self.cooldown = float(lr), float(factor), int(patience), int(cooldown)
        self.threshold, self.min_lr, self.eps = float(threshold), float(min_lr), float(eps)
        self.best = math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, value: float) -> bool:
        return value < self.best * (1.0 - self.threshold)   # mode min, threshold_mode rel

    def step(self, value: float) -> float:
        value = float(value)
        self.last_epoch += 1
        if self.is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0   # ignore any bad epochs in cooldown
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.lr

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("lr", "factor", "patience", "cooldown", "threshold", "min_lr",
                                               "eps", "best", "num_bad_epochs", "cooldown_counter",
                                               "last_epoch")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
