"""Beyond the plain fully connected chain: dropout, residual, convolutional and
layer-normalised networks, and finite-width corrections.

Each module holds the mean-field maps of one architecture (built on the exact
Gaussian expectations of :mod:`sigprop.theory`) and a NumPy simulation of finite
random networks of that architecture that checks them. Conventions as everywhere in
sigprop: ``sigma_w`` and ``sigma_b`` are standard deviations, weights are
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from . import dropout
from .dropout import DropoutPropagation, DropoutSimulation, dropout_propagate, simulate_dropout

__all__ = [
    "DropoutPropagation",
    "DropoutSimulation",
    "dropout",
    "dropout_propagate",
    "simulate_dropout",
]
