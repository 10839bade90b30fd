"""NNGP kernels of a batch (sigprop.nngp_kernel): every activation, 200 inputs in
d = 10, depth 10, sigma_w = 1.3, sigma_b = 0.2 (the issue's comparison point); and 300
inputs of unequal norms deep in the ordered phase (sigma_w = 1, sigma_b = 3, 5 and 12)."""

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


# Deep in the ordered phase (sigma_w = 1, sigma_b = 3, 5 and 12): inputs of unequal
# norms, so that every pair goes to c = 1 while the variances settle at q* (~10 at
# sigma_b = 3, ~26-50 at 5, ~150-300 at 12, past the near-diagonal table of the
# saturating kinds: the layer table) -- the kernel's slow path (pairs next to c = 1
# with unequal variances).
_rng = np.random.default_rng(1)
X300_UNEQUAL = _rng.normal(size=(300, 10)) * np.exp(0.5 * _rng.normal(size=(300, 1)))


class NNGPKernelOrdered:
    """Wall time of nngp_kernel in the ordered phase, all threads; tables built in setup."""

    params = (ALL_ACTIVATIONS, [3.0, 5.0, 12.0])
    param_names = ("activation", "sigma_b")
    timeout = 300

    def setup(self, activation, sigma_b):
        sigprop.nngp_kernel(activation, X300_UNEQUAL, 1.0, sigma_b, depth=10)

    def time_nngp_kernel_ordered(self, activation, sigma_b):
        sigprop.nngp_kernel(activation, X300_UNEQUAL, 1.0, sigma_b, depth=10)
