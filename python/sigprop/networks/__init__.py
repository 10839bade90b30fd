"""Finite random networks in NumPy (forward and backward), their simulation over seeds
against the theory, and initialisers (EOC, He, Kumar; NumPy and PyTorch).

Conventions: ``sigma_w`` and ``sigma_b`` are standard deviations; weights are
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from .initializers import (
    SCHEMES,
    TORCH_GAINS,
    GainRow,
    UnstableEOCWarning,
    delta_orthogonal,
    eoc_sigma_w,
    gain_table,
    he_gain,
    init_sigma_w,
    initialize,
    kumar_gain,
)
from .random_networks import NetworkRun, RandomNetwork, correlated_inputs, random_network
from .simulation import plot_simulation, simulate

__all__ = [
    "SCHEMES",
    "TORCH_GAINS",
    "GainRow",
    "NetworkRun",
    "RandomNetwork",
    "UnstableEOCWarning",
    "correlated_inputs",
    "delta_orthogonal",
    "eoc_sigma_w",
    "gain_table",
    "he_gain",
    "init_sigma_w",
    "initialize",
    "kumar_gain",
    "plot_simulation",
    "random_network",
    "simulate",
]
