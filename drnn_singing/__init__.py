"""Huang et al.'s deep recurrent networks for singing-voice separation on MIR-1K (Keras 3).

Public surface (TensorFlow is imported only by the functions that need it):
  build_model(arch)            drnn_singing.model
  load_separator(weights=None) drnn_singing.separate  (None -> the shipped drnn2 + discrim model)
  separate_signal(model, x)    drnn_singing.separate
"""
from .params import ARCHS  # noqa: F401
