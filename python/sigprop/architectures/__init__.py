"""Beyond the plain fully connected chain: dropout, residual, convolutional and
layer-normalised networks, and finite-width corrections.

Each module holds the mean-field maps of one architecture (built on the exact
Gaussian expectations of :mod:`sigprop.theory`) and a NumPy simulation of finite
random networks of that architecture that checks them:

- :mod:`~sigprop.architectures.dropout` (Schoenholz et al. 2017);
- :mod:`~sigprop.architectures.residual` (Yang & Schoenholz 2017; Hayou et al. 2021);
- :mod:`~sigprop.architectures.convolutional` (Xiao et al. 2018);
- :mod:`~sigprop.architectures.layer_norm` (Ba, Kiros & Hinton 2016);
- :mod:`~sigprop.architectures.finite_width`: the 1/width corrections (Roberts, Yaida
  & Hanin 2022; Hanin & Nica 2020).

Conventions as everywhere in sigprop: ``sigma_w`` and ``sigma_b`` are standard
deviations, weights are N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2).
"""

from . import convolutional, dropout, finite_width, layer_norm, residual
from .convolutional import CNNModes, CNNSimulation, cnn_modes, cnn_propagate, simulate_cnn
from .dropout import DropoutPropagation, DropoutSimulation, dropout_propagate, simulate_dropout
from .finite_width import (
    FiniteWidthBand,
    FiniteWidthKernel,
    ReluLogMoments,
    finite_width_band,
    finite_width_kernel,
    relu_log_variance,
)
from .layer_norm import (
    LayerNormFixedPoint,
    LayerNormMaps,
    LayerNormPropagation,
    layer_norm_fixed_point,
    layer_norm_maps,
    layer_norm_propagate,
    simulate_layer_norm,
)
from .residual import (
    ResidualAsymptotics,
    ResidualExponents,
    ResidualPropagation,
    residual_asymptotics,
    residual_exponents,
    residual_propagate,
    simulate_residual,
)

__all__ = [
    "CNNModes",
    "CNNSimulation",
    "DropoutPropagation",
    "DropoutSimulation",
    "FiniteWidthBand",
    "FiniteWidthKernel",
    "LayerNormFixedPoint",
    "LayerNormMaps",
    "LayerNormPropagation",
    "ReluLogMoments",
    "ResidualAsymptotics",
    "ResidualExponents",
    "ResidualPropagation",
    "cnn_modes",
    "cnn_propagate",
    "convolutional",
    "dropout",
    "dropout_propagate",
    "finite_width",
    "finite_width_band",
    "finite_width_kernel",
    "layer_norm",
    "layer_norm_fixed_point",
    "layer_norm_maps",
    "layer_norm_propagate",
    "relu_log_variance",
    "residual",
    "residual_asymptotics",
    "residual_exponents",
    "residual_propagate",
    "simulate_cnn",
    "simulate_dropout",
    "simulate_layer_norm",
    "simulate_residual",
]
