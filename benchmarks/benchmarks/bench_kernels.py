"""NNGP kernels of a batch (sigprop.nngp_kernel): every activation, 200 inputs in
d = 10, depth 10, sigma_w = 1.3, sigma_b = 0.2 (the issue's comparison point)."""

import numpy as np

import sigprop

from ._common import ALL_ACTIVATIONS

X200 = np.random.default_rng(0).normal(size=(200, 10))


class NNGPKernel:
    """Wall time of nngp_kernel, all threads; the activation's tables are built in setup."""

    params = (ALL_ACTIVATIONS,)
    param_names = ("activation",)
    timeout = 300

    def setup(self, activation):
        sigprop.nngp_kernel(activation, X200, 1.3, 0.2, depth=10)

    def time_nngp_kernel(self, activation):
        sigprop.nngp_kernel(activation, X200, 1.3, 0.2, depth=10)
